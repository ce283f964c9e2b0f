//! MkDocs containers. Python-Markdown's admonitions (`!!! note`), collapsible
//! blocks (`??? note`, `???+ note`) and content tabs (`=== "Linux"`) hold
//! their content indented by four spaces, which CommonMark reads as an
//! indented code block: the commands in them would never be steps, and
//! nothing would say so. MkDocs sites put many of their commands there.
//!
//! For parsing only, each such marker line is rewritten, to exactly as many
//! bytes, into an ordered list item whose content starts four columns in:
//! the indented lines below become its content, as MkDocs reads them. Offsets,
//! lines and columns stay those of the file, so diagnostics, `--fix` and
//! `--update` work on the file as written.
//!
//! Content tabs are alternatives ("Linux" or "macOS"): only the tab a reader
//! sees first (`===+`, else the first of the group) is read; the others stay
//! indented code, listed as blocks but never run.

/// The body to hand the CommonMark parser, or `None` when it has no MkDocs
/// container (the common case, decided by one scan).
pub(crate) fn containers(body: &str) -> Option<String> {
    if !has_marker(body) {
        return None;
    }
    let lines = split_lines(body);
    let markers = find(&lines);
    if markers.is_empty() {
        return None;
    }
    let mut out = body.as_bytes().to_vec();
    for m in markers.iter().filter(|m| m.read) {
        let at = lines[m.line].0 + m.indent;
        let new = rewrite(&body.as_bytes()[at..at + m.width + 1]);
        out[at..at + new.len()].copy_from_slice(&new);
    }
    // Only ASCII bytes were replaced by ASCII bytes.
    String::from_utf8(out).ok()
}

/// Each container's marker line, for the book: its span in `body` (from the
/// marker to the end of the line) and the title MkDocs shows over it (the
/// quoted title, else the type, capitalised). Tabs not read are included:
/// a reader of the book sees every alternative.
pub(crate) fn titles(body: &str) -> Vec<(std::ops::Range<usize>, String)> {
    if !has_marker(body) {
        return Vec::new();
    }
    let lines = split_lines(body);
    find(&lines)
        .iter()
        .map(|m| {
            let (start, text) = lines[m.line];
            let rest = text[m.indent + m.width..].trim();
            let (kind, quoted) = match rest.find('"') {
                Some(q) => (rest[..q].trim(), rest[q..].trim_matches('"')),
                None => (rest, ""),
            };
            let title = if quoted.is_empty() {
                let mut chars = kind.chars();
                chars
                    .next()
                    .map_or(String::new(), |c| c.to_uppercase().chain(chars).collect())
            } else {
                quoted.to_string()
            };
            (start + m.indent..start + text.len(), title)
        })
        .collect()
}

/// Whether a marker line may be present: a SIMD search for each marker's
/// first three bytes, then a look at the line around each find, since most
/// runbooks have none and this runs on every parse.
fn has_marker(body: &str) -> bool {
    static MARKERS: std::sync::LazyLock<[memchr::memmem::Finder<'static>; 3]> =
        std::sync::LazyLock::new(|| [&b"!!!"[..], b"???", b"==="].map(memchr::memmem::Finder::new));
    MARKERS.iter().any(|finder| {
        finder.find_iter(body.as_bytes()).any(|at| {
            // Only spaces back to the line's start: looked at byte by byte,
            // so a long line of `===` stays linear.
            let before = body.as_bytes()[..at].iter().rev().find(|&&b| b != b' ');
            if !matches!(before, None | Some(b'\n')) {
                return false;
            }
            let line_end =
                memchr::memchr(b'\n', &body.as_bytes()[at..]).map_or(body.len(), |i| at + i);
            marker(body[at..line_end].trim_end_matches('\r')).is_some()
        })
    })
}

/// (start offset, text without its line break) of every line.
fn split_lines(body: &str) -> Vec<(usize, &str)> {
    let mut lines = Vec::new();
    let mut start = 0;
    for line in body.split_inclusive('\n') {
        let text = line.trim_end_matches('\n').trim_end_matches('\r');
        lines.push((start, text));
        start += line.len();
    }
    lines
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Admonition,
    /// A content tab; `selected`: `===+`; `new_group`: `===!`.
    Tab {
        selected: bool,
        new_group: bool,
    },
}

#[derive(Debug)]
struct Marker {
    line: usize,
    indent: usize,
    /// Bytes of the marker itself (`!!!`: 3, `???+`: 4).
    width: usize,
    kind: Kind,
    /// The container it stands in.
    parent: Option<usize>,
    /// Read as a container (false: a tab not shown first, or inside one).
    read: bool,
}

/// The marker of a container at the start of `rest` (a line after its
/// indentation): its width and kind. Titles are quoted, types are words.
fn marker(rest: &str) -> Option<(usize, Kind)> {
    let (width, kind) = if let Some(tail) = rest.strip_prefix("===") {
        let (width, selected, new_group) = match tail.as_bytes().first() {
            Some(b'+') => (4, true, false),
            Some(b'!') => (4, false, true),
            _ => (3, false, false),
        };
        let title = rest[width..].strip_prefix(' ')?.trim_end();
        let quoted = title.len() >= 2 && title.starts_with('"') && title.ends_with('"');
        if !quoted {
            return None;
        }
        (
            width,
            Kind::Tab {
                selected,
                new_group,
            },
        )
    } else {
        let width = if rest.starts_with("???+") {
            4
        } else if rest.starts_with("!!!") || rest.starts_with("???") {
            3
        } else {
            return None;
        };
        let after = rest[width..].strip_prefix(' ')?;
        let (kind, title) = after.split_once(' ').unwrap_or((after, ""));
        let word = kind.starts_with(|c: char| c.is_ascii_alphabetic())
            && kind
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        let title = title.trim();
        let titled = title.is_empty()
            || (title.len() >= 2 && title.starts_with('"') && title.ends_with('"'));
        if !word || !titled {
            return None;
        }
        (width, Kind::Admonition)
    };
    Some((width, kind))
}

/// `!!! ` / `=== ` become `1.  `; `???+ x` becomes `1.  +x`: a list item
/// whose content starts at the fifth byte, whatever the marker's width.
fn rewrite(marker_and_space: &[u8]) -> Vec<u8> {
    let mut new = b"1.  ".to_vec();
    if marker_and_space.len() == 5 {
        new.push(marker_and_space[3]);
    }
    new
}

/// Every container marker outside fenced code, with the tabs that are read.
fn find(lines: &[(usize, &str)]) -> Vec<Marker> {
    let mut markers: Vec<Marker> = Vec::new();
    // The open containers: content indent and marker index.
    let mut open: Vec<(usize, usize)> = Vec::new();
    let mut fence: Option<Fence> = None;
    // Open tab groups, innermost last: their indent and markers.
    let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
    for (i, (_, text)) in lines.iter().enumerate() {
        if text.trim().is_empty() {
            continue;
        }
        let indent = text.len() - text.trim_start_matches(' ').len();
        if let Some(f) = &fence {
            if f.closed_by(text) {
                fence = None;
            }
            continue;
        }
        while open.last().is_some_and(|&(at, _)| indent < at) {
            open.pop();
        }
        let rest = &text[indent..];
        let found = (indent == 4 * open.len()).then(|| marker(rest)).flatten();
        // A tab joins the group of the tab just before it at its level;
        // anything else at that level or above ends the group.
        let joins = matches!(
            found,
            Some((
                _,
                Kind::Tab {
                    new_group: false,
                    ..
                }
            ))
        );
        while let Some((at, group)) = groups.last() {
            if *at < indent || (*at == indent && joins) {
                break;
            }
            settle(&mut markers, group);
            groups.pop();
        }
        let Some((width, kind)) = found else {
            fence = Fence::opened_by(rest);
            continue;
        };
        if matches!(kind, Kind::Tab { .. }) {
            match groups.last_mut() {
                Some((at, group)) if *at == indent => group.push(markers.len()),
                _ => groups.push((indent, vec![markers.len()])),
            }
        }
        markers.push(Marker {
            line: i,
            indent,
            width,
            kind,
            parent: open.last().map(|&(_, m)| m),
            read: true,
        });
        open.push((indent + 4, markers.len() - 1));
    }
    for (_, group) in groups.iter().rev() {
        settle(&mut markers, group);
    }
    // Inside a tab that is not read, CommonMark sees code: nothing in it is
    // a container. Parents come before their children.
    for i in 0..markers.len() {
        if let Some(p) = markers[i].parent {
            markers[i].read &= markers[p].read;
        }
    }
    markers
}

/// Of a tab group, only the tab shown first is read.
fn settle(markers: &mut [Marker], group: &[usize]) {
    let selected = group
        .iter()
        .copied()
        .find(|&i| matches!(markers[i].kind, Kind::Tab { selected: true, .. }))
        .or_else(|| group.first().copied());
    for &i in group {
        markers[i].read = Some(i) == selected;
    }
}

/// An open fenced code block: its character and length. A line scanner's
/// view, for telling markers from text quoted in code.
pub(crate) struct Fence {
    ch: u8,
    len: usize,
}

impl Fence {
    pub(crate) fn opened_by(rest: &str) -> Option<Fence> {
        let ch = *rest.as_bytes().first()?;
        if ch != b'`' && ch != b'~' {
            return None;
        }
        let len = rest.bytes().take_while(|&b| b == ch).count();
        let info = &rest[len..];
        (len >= 3 && !(ch == b'`' && info.contains('`'))).then_some(Fence { ch, len })
    }

    pub(crate) fn closed_by(&self, text: &str) -> bool {
        let rest = text.trim_start_matches(' ');
        let len = rest.bytes().take_while(|&b| b == self.ch).count();
        len >= self.len && rest[len..].trim().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(body: &str) -> String {
        containers(body).unwrap_or_else(|| body.to_string())
    }

    #[test]
    fn admonitions_become_list_items_of_the_same_length() {
        let body = "!!! warning \"Careful\"\n    Run this:\n\n    ```bash\n    echo hi\n    ```\n";
        let out = read(body);
        assert_eq!(out.len(), body.len());
        assert!(out.starts_with("1.  warning \"Careful\"\n"), "{out}");
        assert_eq!(out[21..], body[21..]);
        assert!(read("???+ tip\n    x\n").starts_with("1.  +tip\n"));
        assert!(read("??? tip \"More\"\n    x\n").starts_with("1.  tip \"More\"\n"));
    }

    #[test]
    fn nested_containers_are_read_at_their_depth() {
        let out = read("!!! note\n    !!! tip\n        ```sh\n        ls\n        ```\n");
        assert!(out.starts_with("1.  note\n    1.  tip\n"), "{out}");
    }

    #[test]
    fn only_the_tab_shown_first_is_read() {
        let body = "=== \"Linux\"\n\n    ```bash\n    apt install x\n    ```\n\n=== \"macOS\"\n\n    ```bash\n    brew install x\n    ```\n";
        let out = read(body);
        assert!(out.starts_with("1.  \"Linux\""), "{out}");
        assert!(out.contains("\n=== \"macOS\""), "{out}");
        let chosen = body.replace("=== \"macOS\"", "===+ \"macOS\"");
        let out = read(&chosen);
        assert!(out.starts_with("=== \"Linux\""), "{out}");
        assert!(out.contains("\n1.  +\"macOS\""), "{out}");
    }

    #[test]
    fn a_new_group_starts_after_other_content_or_with_a_bang() {
        let body = "=== \"A\"\n    a\n\nText.\n\n=== \"B\"\n    b\n\n===! \"C\"\n    c\n";
        let out = read(body);
        assert!(out.starts_with("1.  \"A\""), "{out}");
        assert!(out.contains("\n1.  \"B\""), "{out}");
        assert!(out.contains("\n1.  !\"C\""), "{out}");
    }

    #[test]
    fn markers_in_code_and_look_alikes_are_left_alone() {
        for body in [
            "```text\n!!! note\n    x\n```\n",
            "!!!note\n    x\n",
            "!!! 3 \"x\"\n",
            "=== heading underline? no: unquoted\n",
            "Title\n===\n",
            "    !!! note\n        x\n",
        ] {
            assert_eq!(read(body), body);
        }
    }

    #[test]
    fn titles_are_what_mkdocs_shows() {
        let body = "!!! warning \"Careful\"\n    x\n\n!!! note\n    y\n\n=== \"Linux\"\n    a\n=== \"macOS\"\n    b\n";
        let shown: Vec<String> = titles(body).into_iter().map(|(_, t)| t).collect();
        assert_eq!(shown, ["Careful", "Note", "Linux", "macOS"]);
        let body = "  \n!!! tip\n    z\n";
        let (span, _) = &titles(body)[0];
        assert_eq!(&body[span.clone()], "!!! tip");
    }

    #[test]
    fn crlf_line_ends_are_kept() {
        let body = "!!! note\r\n    ```sh\r\n    ls\r\n    ```\r\n";
        let out = read(body);
        assert_eq!(out, body.replacen("!!! ", "1.  ", 1));
    }
}
