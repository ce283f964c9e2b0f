//! One runbook → one chapter: the prose as written, front matter removed,
//! runsheet's `{...}` attributes stripped from fences, and the HTML of
//! [`panel`](super::panel) spliced in at byte offsets taken from the parse model
//! (a step's span end, a TODO's span). The text is never searched for what to
//! replace, so nothing else in the file can change. The same goes for link
//! destinations the book rewrites (their spans come from `parse::links`), and
//! for the label over each expected-output block.

use crate::model::{BlockRole, Runbook};
use crate::secrets::Redactor;
use crate::source::{Source, Span};

use super::ansi::markdown_text;
use super::panel;
use super::{Options, Recorded};

/// A replacement of `span` by `text`; an insertion when the span is empty.
#[derive(Debug)]
struct Edit {
    span: Span,
    text: String,
}

/// A link destination the book writes instead of the one in the file.
pub(crate) type Rewrite = (Span, String);

/// The chapter's Markdown, with `rewrites` applied to the link destinations
/// they name.
pub(crate) fn render(
    runbook: &Runbook,
    text: &str,
    recorded: Option<&Recorded>,
    redactor: &Redactor,
    opts: &Options,
    rewrites: &[Rewrite],
) -> String {
    let source = Source::new(&runbook.path, text);
    let label = runbook.path.display().to_string();
    let body_start = front_matter_end(text, runbook).unwrap_or(0);
    let mut edits = Vec::new();
    if body_start > 0 {
        edits.push(Edit {
            span: Span::new(0, body_start),
            text: String::new(),
        });
    }
    let title = redactor.redact(&runbook.title);
    head(
        &mut edits, runbook, &title, &source, body_start, recorded, opts,
    );
    let fences = runbook
        .blocks
        .iter()
        .map(|b| (b.span, b.lang.as_str()))
        .chain(runbook.steps.iter().map(|s| (s.span, s.lang.as_str())));
    let mut seen = std::collections::HashSet::new();
    for (span, lang) in fences {
        if seen.insert(span.start) {
            edits.extend(info_edit(text, span, lang));
        }
    }
    // MkDocs containers: the marker line becomes a list item titled as MkDocs
    // titles the box, so the indented content (and the panels in it) render
    // inside it instead of as code.
    let body = &text[body_start..];
    for (range, title) in crate::parse::mkdocs::titles(body) {
        edits.push(Edit {
            span: Span::new(body_start + range.start, body_start + range.end),
            text: format!("- <strong>{}</strong>", super::ansi::escape(&title)),
        });
    }
    edits.extend(rewrites.iter().map(|(span, text)| Edit {
        span: *span,
        text: text.clone(),
    }));
    for step in runbook.steps.iter().filter(|s| !panel::is_empty(s)) {
        let html = panel::step_panel(step, recorded, redactor, opts);
        edits.push(block_after(&source, step.span, &html));
    }
    for todo in &runbook.todos {
        let html = panel::missing_callout(todo, &label);
        match line_rest_blank(text, todo.span.end) {
            Some(_) => edits.push(block_after(&source, todo.span, &html)),
            // Inside a line (a table cell): a block would break the table.
            None => edits.push(Edit {
                span: Span::new(todo.span.end, todo.span.end),
                text: format!(" {}", panel::missing_inline()),
            }),
        }
    }
    // After the panels: a panel and a label at one place read panel, then label.
    for block in runbook
        .blocks
        .iter()
        .filter(|b| b.role == BlockRole::Output)
    {
        edits.extend(expected_label(&source, block.span));
    }
    redactor.redact(&apply(text, edits))
}

/// The run banner, and a title heading when the runbook has no `#` heading
/// (every chapter needs one).
fn head(
    edits: &mut Vec<Edit>,
    runbook: &Runbook,
    title: &str,
    source: &Source,
    body_start: usize,
    recorded: Option<&Recorded>,
    opts: &Options,
) {
    if !opts.banner {
        return;
    }
    let banner = panel::run_banner(runbook, recorded);
    let first_h1 = runbook
        .sections
        .first()
        .filter(|s| s.level == 1 && is_atx(source, s.line));
    match first_h1 {
        Some(h1) => {
            let at = source.line_start(h1.line + 1).max(body_start);
            edits.push(insertion(source, at, at, &banner));
        }
        None => {
            let title = if runbook.sections.iter().any(|s| s.level == 1) {
                String::new()
            } else {
                format!("# {}\n\n", markdown_text(title))
            };
            edits.push(Edit {
                span: Span::new(body_start, body_start),
                text: format!("{title}{banner}\n"),
            });
        }
    }
}

/// "Expected output (from the runbook)" over an `output` block, so a reader
/// tells it from the recorded output in the panel above. Only where the fence
/// starts its line (after quote markers and indentation): a label before a
/// list marker would leave the list item.
fn expected_label(source: &Source, fence: Span) -> Option<Edit> {
    let at = source.line_start(source.line(fence.start));
    let lead = source.text.get(at..fence.start)?;
    if !lead.chars().all(|c| matches!(c, ' ' | '\t' | '>')) {
        return None;
    }
    let html = "<div class=\"runsheet-label\">Expected output (from the runbook)</div>\n";
    Some(insertion(source, fence.start, at, html))
}

fn is_atx(source: &Source, line: usize) -> bool {
    let start = source.line_start(line);
    source.text[start..]
        .trim_start_matches(' ')
        .starts_with('#')
}

/// The end of a YAML front matter block, closing line included. Front matter
/// is there when the first line is `---`, a later line closes it, and what
/// stands between is a YAML mapping (SPEC §1.1).
fn front_matter_end(text: &str, runbook: &Runbook) -> Option<usize> {
    // Where the parser started reading Markdown (after TOML `+++` front
    // matter, or a byte-order mark, too).
    if runbook.front.body_start > 0 {
        return Some(runbook.front.body_start.min(text.len()));
    }
    let first_end = text.find('\n')?;
    if text[..first_end].trim_end() != "---" {
        return None;
    }
    let mut pos = first_end + 1;
    while pos < text.len() {
        let end = text[pos..].find('\n').map_or(text.len(), |i| pos + i + 1);
        if text[pos..end].trim_end() == "---" {
            let yaml = &text[first_end + 1..pos];
            let is_mapping = yaml.trim().is_empty()
                || serde_saphyr::from_str::<
                    std::collections::BTreeMap<String, serde::de::IgnoredAny>,
                >(yaml)
                .is_ok();
            let heading_inside = runbook.sections.iter().any(|s| s.span.start < end);
            return (is_mapping && !heading_inside).then_some(end);
        }
        pos = end;
    }
    None
}

/// Rewrites a fence's info string to the words outside `{...}`: mdBook would
/// turn each attribute into a CSS class. A language written inside braces
/// (Quarto's `{bash}`) is kept, for the highlighting.
fn info_edit(text: &str, span: Span, lang: &str) -> Option<Edit> {
    let block = text.get(span.range())?;
    let line = &block[..block.find('\n').unwrap_or(block.len())];
    let indent = line.len() - line.trim_start().len();
    let fence = line[indent..].chars().next()?;
    if fence != '`' && fence != '~' {
        return None;
    }
    let run = line[indent..].len() - line[indent..].trim_start_matches(fence).len();
    let info = line[indent + run..].trim_end_matches('\r');
    if !info.contains('{') {
        return None;
    }
    let start = span.start + indent + run;
    let mut words = strip_braces(info);
    if !lang.is_empty() && words.split_whitespace().next() != Some(lang) {
        words = format!("{lang} {words}").trim_end().to_string();
    }
    Some(Edit {
        span: Span::new(start, start + info.len()),
        text: words,
    })
}

fn strip_braces(info: &str) -> String {
    let mut out = String::new();
    let mut depth = 0usize;
    for c in info.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `Some(next line start)` when only blanks follow `pos` on its line (or `pos`
/// already starts a line); `None` when text follows on the same line.
fn line_rest_blank(text: &str, pos: usize) -> Option<usize> {
    let pos = pos.min(text.len());
    if pos == 0 || text.as_bytes()[pos - 1] == b'\n' {
        return Some(pos);
    }
    let rest = &text[pos..];
    let end = rest.find('\n').map_or(text.len(), |i| pos + i + 1);
    text[pos..end].trim().is_empty().then_some(end)
}

/// Inserts an HTML block after the element at `span`, indented like the
/// element so that it stays inside the same list item or block quote.
fn block_after(source: &Source, span: Span, html: &str) -> Edit {
    let at = line_rest_blank(&source.text, span.end).unwrap_or(source.text.len());
    insertion(source, span.start, at, html)
}

fn insertion(source: &Source, element: usize, at: usize, html: &str) -> Edit {
    let prefix = container_prefix(source, element);
    let blank = prefix.trim_end();
    let mut text = String::new();
    if at > 0 && !source.text[..at].ends_with('\n') {
        text.push('\n');
    }
    // A blank line before, so the HTML starts a block of its own.
    if !source.text[..at].trim_end_matches('\n').is_empty() && !source.text[..at].ends_with("\n\n")
    {
        text.push_str(blank);
        text.push('\n');
    }
    for line in html.lines() {
        text.push_str(&prefix);
        text.push_str(line);
        text.push('\n');
    }
    // One blank line ends the HTML block, unless the text already has one.
    let rest = &source.text[at..];
    let next_line = &rest[..rest.find('\n').unwrap_or(rest.len())];
    if !next_line.trim_start_matches('>').trim().is_empty() || rest.is_empty() {
        text.push_str(blank);
        text.push('\n');
    }
    Edit {
        span: Span::new(at, at),
        text,
    }
}

/// The block-quote markers and list indentation that lead the line holding
/// `pos`, with list markers turned into spaces: what a line needs in front to
/// continue the same container.
fn container_prefix(source: &Source, pos: usize) -> String {
    let start = source.line_start(source.line(pos));
    let line = &source.text[start..];
    let line = &line[..line.find('\n').unwrap_or(line.len())];
    let bytes = line.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'>' => out.push('>'),
            b' ' => out.push(' '),
            b'\t' => out.push_str("    "),
            b'-' | b'*' | b'+' if matches!(bytes.get(i + 1), Some(b' ' | b'\t')) => out.push(' '),
            b'0'..=b'9' => {
                let digits = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
                let marker = bytes.get(i + digits);
                let after = bytes.get(i + digits + 1);
                if matches!(marker, Some(b'.' | b')')) && matches!(after, Some(b' ' | b'\t')) {
                    out.push_str(&" ".repeat(digits + 1));
                    i += digits + 1;
                    continue;
                }
                break;
            }
            _ => break,
        }
        i += 1;
    }
    out
}

/// Applies non-overlapping edits in one pass; an edit overlapping an earlier
/// one is dropped rather than allowed to garble the text.
fn apply(text: &str, mut edits: Vec<Edit>) -> String {
    edits.sort_by_key(|e| (e.span.start, e.span.end));
    let mut out = String::with_capacity(text.len() * 2);
    let mut pos = 0;
    for e in edits {
        if e.span.start < pos || e.span.end > text.len() {
            continue;
        }
        out.push_str(&text[pos..e.span.start]);
        out.push_str(&e.text);
        pos = e.span.end;
    }
    out.push_str(&text[pos..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_leave_the_info_string() {
        assert_eq!(strip_braces("bash {#id cwd=\"a b\" skip}"), "bash");
        assert_eq!(strip_braces("output {match=contains}"), "output");
        assert_eq!(strip_braces("python{run}"), "python");
        let text = "- ```bash {#x}\n  echo\n  ```\n";
        let e = info_edit(text, Span::new(2, text.len()), "bash").expect("edit");
        assert_eq!(&text[e.span.range()], "bash {#x}");
        assert_eq!(e.text, "bash");
    }

    #[test]
    fn a_language_written_in_braces_stays_for_highlighting() {
        let text = "```{bash, echo=FALSE}
echo
```
";
        let e = info_edit(text, Span::new(0, text.len()), "bash").expect("edit");
        assert_eq!(e.text, "bash");
        let text = "```{code-block} bash
echo
```
";
        let e = info_edit(text, Span::new(0, text.len()), "bash").expect("edit");
        assert_eq!(e.text, "bash");
    }

    #[test]
    fn prefixes_continue_lists_and_quotes() {
        let src = Source::new("x.md", "> - item\n12. ```sh\n\tx\n");
        assert_eq!(container_prefix(&src, 3), ">   ");
        assert_eq!(container_prefix(&src, 12), "    ");
        assert_eq!(container_prefix(&src, 20), "    ");
    }

    #[test]
    fn edits_apply_in_order_and_overlaps_are_dropped() {
        let edits = vec![
            Edit {
                span: Span::new(4, 4),
                text: "B".into(),
            },
            Edit {
                span: Span::new(0, 2),
                text: "A".into(),
            },
            Edit {
                span: Span::new(1, 3),
                text: "X".into(),
            },
        ];
        assert_eq!(apply("abcdef", edits), "AcdBef");
    }

    #[test]
    fn line_rest() {
        assert_eq!(line_rest_blank("ab\ncd", 3), Some(3));
        assert_eq!(line_rest_blank("ab  \ncd", 2), Some(5));
        assert_eq!(line_rest_blank("a | b |", 3), None);
        assert_eq!(line_rest_blank("ab", 2), Some(2));
    }
}
