//! Hidden checks (SPEC §1.4.3): `<!-- check: contains "TEXT" -->` and friends,
//! invisible on GitHub and in the book.

use std::ops::Range;

use super::attrs::{did_you_mean, Problem};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Hidden {
    Contains(String),
    NotContains(String),
    Matches(String),
}

const KINDS: &[&str] = &["contains", "not-contains", "matches"];

/// Every `<!-- check: ... -->` comment in an HTML fragment, with its range in
/// `html`. Other comments are none of runsheet's business.
pub(crate) fn find_checks(html: &str) -> Vec<(Range<usize>, Result<Hidden, Problem>)> {
    comments(html)
        .into_iter()
        .filter_map(|(span, body)| {
            let rest = body.strip_prefix("check:")?;
            Some((span.clone(), parse_check(rest.trim(), span)))
        })
        .collect()
}

/// Every `<!-- ... -->` comment in an HTML fragment: its range and its
/// trimmed body. A comment left open ends the search.
pub(crate) fn comments(html: &str) -> Vec<(Range<usize>, &str)> {
    let mut out = Vec::new();
    let mut from = 0;
    // memchr's search: `str::find` sets up a two-way searcher per call,
    // three calls per comment of a runbook, which showed in `list`'s profile.
    let find = |from: usize, needle: &str| {
        memchr::memmem::find(&html.as_bytes()[from..], needle.as_bytes()).map(|i| i + from)
    };
    while let Some(open) = find(from, "<!--") {
        let body_start = open + 4;
        let Some(close) = find(body_start, "-->") else {
            break;
        };
        out.push((open..close + 3, html[body_start..close].trim()));
        from = close + 3;
    }
    out
}

fn parse_check(rest: &str, span: Range<usize>) -> Result<Hidden, Problem> {
    let kind_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let kind = &rest[..kind_end];
    let arg = rest[kind_end..].trim();
    let problem = |code, message: String, help: String| Problem {
        span: span.clone(),
        code,
        message,
        help: Some(help),
    };
    if !KINDS.contains(&kind) {
        let help = match did_you_mean(kind, KINDS) {
            Some(k) => format!("did you mean `{k}`?"),
            None => "write `contains`, `not-contains` or `matches`".into(),
        };
        return Err(problem(
            "bad-check",
            format!("unknown check `{kind}`"),
            help,
        ));
    }
    let Some(text) = unquote(arg) else {
        return Err(problem(
            "bad-check",
            format!("the text of a `{kind}` check must be in double quotes"),
            format!("write it like `<!-- check: {kind} \"ready\" -->`"),
        ));
    };
    match kind {
        "contains" => Ok(Hidden::Contains(text)),
        "not-contains" => Ok(Hidden::NotContains(text)),
        _ => match regex::Regex::new(&text) {
            Ok(_) => Ok(Hidden::Matches(text)),
            Err(e) => Err(problem(
                "bad-check",
                format!("`{text}` is not a valid regex"),
                e.to_string()
                    .lines()
                    .last()
                    .unwrap_or("")
                    .trim()
                    .to_string(),
            )),
        },
    }
}

/// `"..."` with `\"` and `\\` escapes; nothing may follow the closing quote.
fn unquote(arg: &str) -> Option<String> {
    let inner = arg.strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return chars.as_str().trim().is_empty().then_some(out),
            '\\' => match chars.next()? {
                c @ ('"' | '\\') => out.push(c),
                c => {
                    out.push('\\');
                    out.push(c);
                }
            },
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_three_kinds() {
        let html = r#"<!-- check: contains "ready" -->
<!-- ordinary comment -->
<!--check: not-contains "ERROR"-->
<!-- check: matches "v\d+\.\d+" -->"#;
        let found = find_checks(html);
        assert_eq!(found.len(), 3);
        assert_eq!(found[0].1, Ok(Hidden::Contains("ready".into())));
        assert_eq!(
            &html[found[0].0.clone()],
            r#"<!-- check: contains "ready" -->"#
        );
        assert_eq!(found[1].1, Ok(Hidden::NotContains("ERROR".into())));
        assert_eq!(found[2].1, Ok(Hidden::Matches(r"v\d+\.\d+".into())));
    }

    #[test]
    fn escaped_quotes() {
        let found = find_checks(r#"<!-- check: contains "say \"hi\"" -->"#);
        assert_eq!(found[0].1, Ok(Hidden::Contains(r#"say "hi""#.into())));
    }

    #[test]
    fn bad_comments_are_problems() {
        let bad = |html: &str| find_checks(html)[0].1.clone().unwrap_err();
        let p = bad(r#"<!-- check: contain "x" -->"#);
        assert_eq!(p.message, "unknown check `contain`");
        assert_eq!(p.help.as_deref(), Some("did you mean `contains`?"));
        let p = bad("<!-- check: contains x -->");
        assert!(p.message.contains("double quotes"), "{}", p.message);
        let p = bad(r#"<!-- check: contains "x" trailing -->"#);
        assert!(p.message.contains("double quotes"));
        let p = bad(r#"<!-- check: matches "(" -->"#);
        assert!(p.message.contains("not a valid regex"));
    }
}
