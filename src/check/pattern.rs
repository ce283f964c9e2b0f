//! trycmd's wildcards over normalised text: a line holding only `...` matches
//! any number of lines, `[..]` inside a line any run of characters on it.
//!
//! Matching is a line glob (`...` is the star). When it fails, the actual text
//! is aligned with the pattern and every actual line a pattern line accounts
//! for is replaced by that pattern line: the diff then shows only real
//! mismatches, and `check --update` keeps the author's wildcards.

/// A line that stands for any number of lines.
const ANY_LINES: &str = "...";
/// Inside a line: any run of characters.
const ANY_CHARS: &str = "[..]";
/// Alignment tables beyond this many cells fall back to a plain diff, so a
/// huge output cannot eat the machine's memory.
const MAX_CELLS: usize = 4_000_000;

/// The verdict of an exact match, with the actual text normalised toward the
/// pattern (equal to the pattern when `matched`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aligned {
    pub matched: bool,
    pub actual: String,
}

fn is_any_lines(line: &str) -> bool {
    line.trim() == ANY_LINES
}

/// Does one actual line match one pattern line (with `[..]`)?
pub fn line_matches(pattern: &str, actual: &str) -> bool {
    if !pattern.contains(ANY_CHARS) {
        return pattern == actual;
    }
    let parts: Vec<&str> = pattern.split(ANY_CHARS).collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    let Some(mut rest) = actual.strip_prefix(first) else {
        return false;
    };
    // Leftmost placement of each middle part is optimal for a `*`-only glob.
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

/// Matches normalised `actual` against normalised `expected` (both empty or
/// ending in `\n`).
pub fn align(expected: &str, actual: &str) -> Aligned {
    let pat: Vec<&str> = expected.lines().collect();
    let act: Vec<&str> = actual.lines().collect();
    if glob(&pat, &act) {
        return Aligned {
            matched: true,
            actual: expected.to_string(),
        };
    }
    let lines = if (pat.len() + 1).saturating_mul(act.len() + 1) <= MAX_CELLS {
        closest(&pat, &act)
    } else {
        act.iter().map(|l| l.to_string()).collect()
    };
    Aligned {
        matched: false,
        actual: join_lines(&lines),
    }
}

fn join_lines(lines: &[String]) -> String {
    let mut out = String::new();
    for l in lines {
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// The classic star-glob with one backtrack point, over lines.
fn glob(pat: &[&str], act: &[&str]) -> bool {
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < act.len() {
        if i < pat.len() && is_any_lines(pat[i]) {
            star = Some((i, j));
            i += 1;
        } else if i < pat.len() && line_matches(pat[i], act[j]) {
            i += 1;
            j += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    pat[i..].iter().all(|l| is_any_lines(l))
}

/// Least-edit alignment of pattern and actual lines, then the actual lines
/// rewritten through it. A pattern line matching an actual line costs nothing;
/// a changed, missing or extra line costs two; `...` costs one per line it
/// absorbs, so it takes only what no pattern line can account for, and a
/// changed line shows as changed rather than swallowed.
fn closest(pat: &[&str], act: &[&str]) -> Vec<String> {
    const EDIT: u32 = 2;
    const ABSORB: u32 = 1;
    let (n, m) = (pat.len(), act.len());
    let width = m + 1;
    let mut cost = vec![0u32; (n + 1) * width];
    let at = |i: usize, j: usize| i * width + j;
    for j in 0..=m {
        cost[at(n, j)] = EDIT * (m - j) as u32;
    }
    for i in (0..n).rev() {
        let wild = is_any_lines(pat[i]);
        for j in (0..=m).rev() {
            let c = if wild {
                let mut c = cost[at(i + 1, j)];
                if j < m {
                    c = c.min(cost[at(i, j + 1)] + ABSORB);
                }
                c
            } else {
                let mut c = cost[at(i + 1, j)] + EDIT;
                if j < m {
                    let step = if line_matches(pat[i], act[j]) {
                        0
                    } else {
                        EDIT
                    };
                    c = c
                        .min(cost[at(i, j + 1)] + EDIT)
                        .min(cost[at(i + 1, j + 1)] + step);
                }
                c
            };
            cost[at(i, j)] = c;
        }
    }

    let mut out = Vec::with_capacity(m);
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        let here = cost[at(i, j)];
        if i == n {
            out.push(act[j].to_string());
            j += 1;
        } else if is_any_lines(pat[i]) {
            if here == cost[at(i + 1, j)] {
                out.push(pat[i].to_string());
                i += 1;
            } else {
                j += 1;
            }
        } else if j < m && line_matches(pat[i], act[j]) && here == cost[at(i + 1, j + 1)] {
            out.push(pat[i].to_string());
            i += 1;
            j += 1;
        } else if j < m && here == cost[at(i + 1, j + 1)] + EDIT {
            out.push(act[j].to_string());
            i += 1;
            j += 1;
        } else if j < m && here == cost[at(i, j + 1)] + EDIT {
            out.push(act[j].to_string());
            j += 1;
        } else {
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_line_wildcard() {
        assert!(line_matches("took [..]s", "took 12.5s"));
        assert!(line_matches("took [..]s", "took s"));
        assert!(line_matches("[..]", ""));
        assert!(line_matches("a[..]b[..]c", "a-x-b-y-c"));
        assert!(line_matches("a[..]b[..]c", "abc"));
        assert!(!line_matches("a[..]b[..]c", "a-x-c"));
        assert!(
            !line_matches("ab[..]ba", "aba"),
            "prefix and suffix may not overlap"
        );
        assert!(!line_matches("took [..]s", "took 12.5ms and more"));
        assert!(!line_matches("plain", "plain "));
    }

    #[test]
    fn any_lines_matches_zero_or_more_lines() {
        assert!(align("a\n...\nz\n", "a\nz\n").matched);
        assert!(align("a\n...\nz\n", "a\nb\nc\nz\n").matched);
        assert!(align("...\n", "").matched);
        assert!(align("...\nz\n", "z\nz\n").matched);
        assert!(align("...\n", "anything\nat all\n").matched);
        assert!(!align("a\n...\nz\n", "a\nb\n").matched);
        assert!(!align("a\n", "a\nb\n").matched);
        assert!(!align("a\nb\n", "a\n").matched);
        assert!(align("", "").matched);
    }

    #[test]
    fn both_wildcards_together() {
        let pattern = "Building [..]\n...\nFinished in [..]s\n";
        assert!(
            align(
                pattern,
                "Building app v1\nstep 1\nstep 2\nFinished in 3.2s\n"
            )
            .matched
        );
        assert!(!align(pattern, "Building app v1\nstep 1\nFailed\n").matched);
    }

    #[test]
    fn mismatch_keeps_the_wildcards_that_still_match() {
        let pattern = "start [..]\n...\nresult: 42\nend\n";
        let got = align(pattern, "start 10:02\nnoise\nmore noise\nresult: 41\nend\n");
        assert!(!got.matched);
        assert_eq!(got.actual, "start [..]\n...\nresult: 41\nend\n");
    }

    #[test]
    fn mismatch_of_a_wildcard_line_shows_the_actual_line() {
        let got = align("took [..]s\nok\n", "took forever\nok\n");
        assert_eq!(got.actual, "took forever\nok\n");
    }

    #[test]
    fn extra_and_missing_lines() {
        assert_eq!(align("a\nb\nc\n", "a\nc\n").actual, "a\nc\n");
        assert_eq!(align("a\nc\n", "a\nb\nc\n").actual, "a\nb\nc\n");
        assert_eq!(align("a\n", "").actual, "");
    }

    #[test]
    fn trailing_any_lines_swallows_the_tail() {
        let got = align("x\n...\n", "y\nmore\nlines\n");
        assert!(!got.matched);
        assert_eq!(got.actual, "y\n...\n");
    }

    proptest::proptest! {
        /// What `check --update` writes back always matches the output it came from.
        #[test]
        fn the_rewritten_pattern_matches_its_output(
            pattern in proptest::collection::vec("(a|b|\\.\\.\\.|a\\[\\.\\.\\]|c)", 0..8),
            actual in proptest::collection::vec("(a|b|ab|c|x)", 0..10),
        ) {
            let pattern = join_lines(&pattern);
            let actual = join_lines(&actual);
            let got = align(&pattern, &actual);
            proptest::prop_assert!(align(&got.actual, &actual).matched, "{got:?}");
            if got.matched {
                proptest::prop_assert_eq!(&got.actual, &pattern);
            }
        }
    }
}
