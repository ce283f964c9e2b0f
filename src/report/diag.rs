//! Diagnostics as a person reads them: `path:line:col`, the offending line with
//! a caret under the spot, and the help ("did you mean `timeout`?").

use annotate_snippets::{AnnotationKind, Level, Renderer, Snippet};

use crate::diag::{Diagnostic, Severity};
use crate::source::Source;

use super::Palette;

/// How many source lines a long span (a whole code block) shows at most.
const MAX_LINES: usize = 4;

/// A span whose lines are longer than this (in bytes) is shown as a window
/// around its start: a runbook may hold a 50 MB line, or a table row with
/// 100,000 TODO cells.
const LONG_LINE: usize = 400;

/// Bytes shown either side of the spot in such a window.
const CONTEXT: usize = 120;

/// Renders every diagnostic, each followed by a blank line.
pub fn render(palette: &Palette, source: &Source, diagnostics: &[Diagnostic]) -> String {
    let renderer = if palette.enabled {
        Renderer::styled()
    } else {
        Renderer::plain()
    };
    let mut out = String::new();
    for d in diagnostics {
        let (group, place) = group(source, d);
        let mut text = renderer.render(&[group]);
        if let Some((counted, real)) = place {
            text = text.replacen(&counted, &real, 1);
        }
        out.push_str(&text);
        out.push_str("\n\n");
    }
    out
}

/// The group to render and, when only a window of a long line is shown, the
/// `path:line:col` annotate-snippets will count from the window and the real
/// one to put in its place.
fn group<'a>(
    source: &'a Source,
    d: &'a Diagnostic,
) -> (annotate_snippets::Group<'a>, Option<(String, String)>) {
    let level = match d.severity {
        Severity::Error => Level::ERROR,
        Severity::Warning => Level::WARNING,
    };
    let text = source.text.as_str();
    // A span off a char boundary would panic in annotate-snippets: a bug
    // upstream must cost a caret's place, never the message.
    let start = floor_boundary(text, d.span.start);
    let end = ceil_boundary(text, d.span.end.max(start));
    let first = source.line(start);
    let last = source
        .line(
            end.max(start + 1)
                .min(text.len())
                .saturating_sub(1)
                .max(start),
        )
        .min(first + MAX_LINES - 1);
    let mut from = source.line_start(first);
    let mut to = source.line_end(last).max(from);
    let path = source.path.to_string_lossy().into_owned();
    let mut place = None;
    if to - from > LONG_LINE {
        // Rendering costs the width of what is shown, for every diagnostic.
        let line_to = source.line_end(first);
        from = floor_boundary(text, start.saturating_sub(CONTEXT).max(from));
        to = ceil_boundary(text, (start + CONTEXT).min(line_to)).max(start);
        let counted = text[from..start].chars().count() + 1;
        place = Some((
            format!("{path}:{first}:{counted}"),
            format!("{path}:{first}:{}", d.column),
        ));
    }
    let end = end.clamp(start, to);
    let snippet = Snippet::source(&text[from..to])
        .path(path)
        .line_start(first)
        .fold(false)
        .annotation(AnnotationKind::Primary.span(start - from..end - from));
    let mut group = level
        .primary_title(d.message.as_str())
        .id(d.code)
        .element(snippet);
    if let Some(help) = &d.help {
        group = group.element(Level::HELP.message(help.as_str()));
    }
    (group, place)
}

fn floor_boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn ceil_boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at += 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse;

    #[test]
    fn shows_place_line_caret_and_help() {
        let source = Source::new("rb.md", "# A\n\n```sh {#ok timout=5m}\ntrue\n```\n");
        let parsed = parse(&source);
        let out = render(&Palette::plain(), &source, &parsed.diagnostics);
        assert!(
            out.contains("error[unknown-attribute]: unknown attribute `timout`"),
            "{out}"
        );
        assert!(out.contains("rb.md:3:12"), "{out}");
        assert!(out.contains("3 | ```sh {#ok timout=5m}"), "{out}");
        assert!(out.contains("^^^^^^^^^"), "{out}");
        assert!(out.contains("help: did you mean `timeout`?"), "{out}");
    }

    #[test]
    fn a_span_inside_a_character_renders_around_it() {
        let source = Source::new("rb.md", "> 😀 x\n");
        let d = Diagnostic {
            severity: Severity::Warning,
            path: "rb.md".into(),
            span: crate::source::Span::new(3, 4),
            line: 1,
            column: 3,
            code: "test",
            message: "inside".into(),
            help: None,
        };
        let out = render(&Palette::plain(), &source, &[d]);
        assert!(out.contains("1 | > 😀 x"), "{out}");
    }

    #[test]
    fn a_long_line_shows_a_window_and_the_real_column() {
        let line = format!("{}{{timout=1}}", "é".repeat(5000));
        let text = format!("```sh {line}\ntrue\n```\n");
        let source = Source::new("rb.md", text.as_str());
        let parsed = parse(&source);
        let out = render(&Palette::plain(), &source, &parsed.diagnostics);
        assert!(out.contains("rb.md:1:5008"), "{out}");
        assert!(out.len() < 2000, "{out}");
    }

    #[test]
    fn a_span_at_the_end_of_the_file_renders() {
        let source = Source::new("rb.md", "```sh\necho");
        let parsed = parse(&source);
        let out = render(&Palette::plain(), &source, &parsed.diagnostics);
        assert!(out.contains("rb.md:1:1"), "{out}");
    }
}

#[cfg(test)]
mod fatal_tests {

    use crate::report::{fatal_message, Palette};

    #[test]
    fn an_invalid_runbook_shows_its_errors_even_when_wrapped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.md");
        std::fs::write(&path, "```sh {timout}\ntrue\n```\n").unwrap();
        let err = crate::parse::load(&path).unwrap_err();
        let err = anyhow::Error::new(err).context("while checking");
        let out = fatal_message(&Palette::plain(), &err);
        assert!(
            out.contains("error[unknown-attribute]: unknown attribute `timout`"),
            "{out}"
        );
        assert!(out.contains("bad.md:1:8"), "{out}");
        assert!(out.ends_with("is not a valid runbook: 1 error\n"), "{out}");
        assert!(out.contains("error: while checking: "), "{out}");
    }

    #[test]
    fn other_errors_are_one_line() {
        let err = anyhow::anyhow!("no such section `x`");
        assert_eq!(
            fatal_message(&Palette::plain(), &err),
            "error: no such section `x`\n"
        );
    }
}
