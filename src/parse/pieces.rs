//! A large body parsed in pieces, on a thread of its own.
//!
//! pulldown-cmark builds its tree for the whole input before the first event:
//! for a 10 MB runbook that tree was 55 MB, alive while the walk built the
//! model beside it. Cut at headings that no open block can swallow, each
//! piece parses exactly as it does inside the whole body, so the walk sees the
//! same events while only one piece's tree is alive at a time. A second
//! thread parses the next piece while the walk reads this one.
//!
//! A cut is only tried at an ATX heading at column 0 after a blank line.
//! Such a line ends every paragraph, list, quote, table and HTML block of
//! kinds 6 and 7 before it; what can still be open is a fenced code block or
//! an HTML block of kinds 1 to 5 at the top level. So after parsing a piece
//! its last top-level block is checked: if it is one of those and did not
//! close, the rest of the body is parsed as one piece. Link reference and
//! footnote definitions reach across the whole document, so a body that may
//! hold one (any `]:`) is never cut.
//!
//! The parsing thread finishes waiting for the walk, so it also does what
//! the walk would do for each fenced code block from the block alone: it
//! reads the info string, joins the text, and reads what a step would need
//! (see [`Fenced`] and [`Ahead`]).

use std::ops::Range;
use std::sync::mpsc::{Receiver, SyncSender};

use pulldown_cmark::{CodeBlockKind, Event, Parser, Tag, TagEnd};

use super::attrs::{self, Info};
use super::placeholder::{self, Placeholder};
use super::walk::{is_shell_lang, is_transcript, options, Fence};

/// Bytes of body per piece, at least: small enough that a piece's tree is a
/// few megabytes, large enough that a runbook of ordinary size is one piece
/// and never starts a thread.
pub(crate) const PIECE: usize = 128 * 1024;

/// A piece's events, their ranges in the body.
pub(crate) type Events<'b> = Vec<(Event<'b>, Range<usize>)>;

/// A piece as the walk reads it: its events, and each fenced code block's
/// info string read and text joined, in the order the blocks start.
#[derive(Default)]
pub(crate) struct Piece<'b> {
    pub(crate) events: Events<'b>,
    pub(crate) fenced: Vec<Fenced>,
}

/// What the walk needs of a fenced code block that depends on nothing
/// else: `attrs::parse_info` of its info string and its text.
pub(crate) struct Fenced {
    pub(crate) info: Info,
    pub(crate) text: String,
    pub(crate) ahead: Ahead,
}

/// What the walk reads of a block only once it is a step, read ahead from
/// the block alone. The walk uses it only where its own reading would be
/// the same.
///
/// Only the placeholders: reading the step's attributes here too made this
/// thread the slower of the two on a large runbook (and a `Fenced` three
/// times the size to move), so the walk reads those.
#[derive(Debug, Default)]
pub(crate) struct Ahead {
    /// `placeholder::find` of the text, and whether it was read as a
    /// transcript (by its language: the walk may read it otherwise).
    pub(crate) placeholders: Option<(bool, Vec<Placeholder>)>,
}

impl Ahead {
    fn read(info: &Info, text: &str) -> Ahead {
        // Read for the blocks that are likely steps: on any other block
        // (an `output {match=...}`) the work would be wasted.
        let likely = is_shell_lang(&info.lang) || info.attrs.iter().any(|a| a.key == "run");
        if info.lang.is_empty() || !likely {
            return Ahead::default();
        }
        let transcript = is_transcript(&info.lang);
        Ahead {
            placeholders: Some((transcript, placeholder::find(text, transcript))),
        }
    }
}

/// Where pieces start, besides 0: the first cut `min_piece` bytes or more
/// after the last. Empty when the body is read whole.
pub(crate) fn cuts(body: &str, min_piece: usize) -> Vec<usize> {
    let bytes = body.as_bytes();
    if body.len() <= min_piece || memchr::memmem::find(bytes, b"]:").is_some() {
        return Vec::new();
    }
    let mut cuts = Vec::new();
    let mut last = 0;
    for nl in memchr::memmem::find_iter(bytes, b"\n#") {
        let at = nl + 1;
        if at - last >= min_piece.max(1) && after_blank_line(bytes, nl) && atx_heading(&bytes[at..])
        {
            cuts.push(at);
            last = at;
        }
    }
    cuts
}

/// The line ending at the line break `nl` is empty (`\n` or `\r\n` only).
fn after_blank_line(bytes: &[u8], nl: usize) -> bool {
    let before = &bytes[..nl];
    before.ends_with(b"\n") || before.ends_with(b"\n\r")
}

/// `line` opens with an ATX heading: one to six `#`, then a space, a tab or
/// the line's end.
fn atx_heading(line: &[u8]) -> bool {
    let hashes = line.iter().take_while(|&&b| b == b'#').count();
    (1..=6).contains(&hashes)
        && line
            .get(hashes)
            .is_none_or(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}

/// Parses the pieces of `body` in order and sends each one's events, in
/// lists taken from `spare` when one came back. Stops early when the receiver
/// is gone.
pub(crate) fn parse<'b>(
    body: &'b str,
    cuts: &[usize],
    to: &SyncSender<Piece<'b>>,
    spare: &Receiver<Piece<'b>>,
) {
    let mut start = 0;
    let mut text = String::new();
    for (k, &end) in cuts.iter().chain([&body.len()]).enumerate() {
        let mut piece = spare.try_recv().unwrap_or_default();
        let clean = parse_piece(body, start..end, &mut piece.events);
        if clean || k == cuts.len() {
            prepare_fenced(&piece.events, &mut piece.fenced, &mut text);
            if to.send(piece).is_err() {
                return;
            }
            start = end;
            continue;
        }
        // An open block runs past the cut: the rest goes as one piece.
        piece.events.clear();
        parse_piece(body, start..body.len(), &mut piece.events);
        prepare_fenced(&piece.events, &mut piece.fenced, &mut text);
        let _ = to.send(piece);
        return;
    }
}

/// Each fenced code block of `events`, read as the walk would read it, into
/// `fenced`; `text` is the buffer the texts grow in.
fn prepare_fenced(events: &Events<'_>, fenced: &mut Vec<Fenced>, text: &mut String) {
    let mut info = None;
    for (event, _) in events {
        match event {
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(i))) => {
                info = Some(attrs::parse_info(i));
                text.clear();
            }
            Event::Text(t) if info.is_some() => text.push_str(t),
            Event::End(TagEnd::CodeBlock) => {
                if let Some(info) = info.take() {
                    // Exactly its size, as the walk keeps it.
                    let text = text.as_str().to_owned();
                    let ahead = Ahead::read(&info, &text);
                    fenced.push(Fenced { info, text, ahead });
                }
            }
            _ => {}
        }
    }
}

/// The last block at the top level of a piece, as far as the cut cares.
enum Top {
    Fenced(Range<usize>),
    Html(Range<usize>),
    Other,
}

/// Adds a piece's events to `events`; whether the piece ends with every
/// block closed.
fn parse_piece<'b>(body: &'b str, piece: Range<usize>, events: &mut Events<'b>) -> bool {
    let shift = piece.start;
    let mut depth = 0usize;
    let mut top = Top::Other;
    for (event, range) in Parser::new_ext(&body[piece], options()).into_offset_iter() {
        let range = range.start + shift..range.end + shift;
        match &event {
            Event::Start(tag) => {
                if depth == 0 {
                    top = match tag {
                        Tag::CodeBlock(CodeBlockKind::Fenced(_)) => Top::Fenced(range.clone()),
                        Tag::HtmlBlock => Top::Html(range.clone()),
                        _ => Top::Other,
                    };
                }
                depth += 1;
            }
            Event::End(_) => depth = depth.saturating_sub(1),
            _ if depth == 0 => top = Top::Other,
            _ => {}
        }
        events.push((event, range));
    }
    match top {
        Top::Other => true,
        Top::Fenced(range) => Fence::read(body, range).closed,
        Top::Html(range) => html_closed(&body[range]),
    }
}

/// An HTML block closed before the blank line that follows it. Kinds 6 and 7
/// end at a blank line; kinds 1 to 5 end on the first line holding their end
/// mark, so one that closed holds it on its last line.
fn html_closed(block: &str) -> bool {
    let Some(mark) = end_mark(block.lines().next().unwrap_or("")) else {
        return true;
    };
    let last = block.trim_end_matches(['\n', '\r']).lines().last();
    last.is_some_and(|line| line.contains(mark))
}

/// What ends an HTML block of kinds 1 to 5 that opens on `line`, read as
/// pulldown-cmark reads it (its reading, not the spec's, decides where its
/// blocks end): an element's own end tag in lower case only, the
/// element's name in any case. `None` for kinds 6 and 7.
fn end_mark(line: &str) -> Option<&'static str> {
    let rest = line.trim_start().strip_prefix('<')?;
    let bytes = rest.as_bytes();
    for (name, end) in [
        ("pre", "</pre>"),
        ("style", "</style>"),
        ("script", "</script>"),
        ("textarea", "</textarea>"),
    ] {
        let named = bytes
            .get(..name.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(name.as_bytes()));
        let after = bytes.get(name.len());
        if named && after.is_none_or(|&b| b.is_ascii_whitespace() || b == 0x0b || b == b'>') {
            return Some(end);
        }
    }
    for (start, end) in [("!--", "-->"), ("?", "?>"), ("![CDATA[", "]]>")] {
        if rest.starts_with(start) {
            return Some(end);
        }
    }
    let declaration =
        bytes.first() == Some(&b'!') && bytes.get(1).is_some_and(u8::is_ascii_alphabetic);
    declaration.then_some(">")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{parse_in_pieces, Parsed};
    use crate::source::Source;
    use std::path::{Path, PathBuf};

    /// Everything the parse tells, as one comparable text.
    fn told(parsed: &Parsed) -> String {
        format!(
            "{:#?}\n{:#?}\n{:#?}",
            parsed.runbook, parsed.diagnostics, parsed.unfenced
        )
    }

    /// Parsed whole, and cut at every heading a cut may fall on: the same.
    fn same_in_pieces(name: &str, text: &str) {
        let source = Source::new(name, text);
        let whole = parse_in_pieces(&source, usize::MAX);
        let cut = parse_in_pieces(&source, 0);
        let (whole, cut) = (told(&whole), told(&cut));
        if whole != cut {
            let diff = similar::TextDiff::from_lines(&whole, &cut);
            panic!(
                "{name} parses differently in pieces:\n{}",
                diff.unified_diff().context_radius(4)
            );
        }
    }

    #[test]
    fn every_runbook_we_hold_parses_the_same_in_pieces() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let dirs: Vec<PathBuf> = [
            "runbooks",
            "tests/fixtures",
            "book/src",
            "../shared/corpus/real-docs",
        ]
        .iter()
        .map(|dir| root.join(dir))
        .filter(|dir| dir.is_dir())
        .collect();
        let files = crate::discover::markdown_files(&dirs).expect("runbooks found");
        assert!(files.len() > 50, "only {} runbooks found", files.len());
        let mut cut = 0;
        for path in &files {
            let Ok(text) = std::fs::read_to_string(path) else {
                continue;
            };
            cut += usize::from(!cuts(&text, 0).is_empty());
            same_in_pieces(&path.display().to_string(), &text);
        }
        // Guards against a test that passes by cutting nothing.
        assert!(cut > 20, "only {cut} of {} runbooks were cut", files.len());
    }

    /// The CommonMark spec's examples, each followed by headings a cut may
    /// fall on: an example that leaves a fence, an HTML block or a list open
    /// must not be cut where the whole document would not end it.
    #[test]
    fn the_commonmark_examples_parse_the_same_in_pieces() {
        let Some(examples) = crate::parse::conformance::spec_examples("parsing in pieces") else {
            return;
        };
        let after = "\n\n# Cut here\n\n```sh\necho after\n```\n\n## And here\n\nTODO: more\n";
        let mut all = String::new();
        for (n, md) in examples.iter().map(|ex| &ex.markdown).enumerate() {
            same_in_pieces(&format!("example {}", n + 1), &format!("{md}{after}"));
            if !md.contains("]:") {
                all.push_str(&format!("# Example {}\n\n{md}\n\n", n + 1));
            }
        }
        same_in_pieces("all examples", &all);
    }

    /// What `Ahead` reads before the walk knows what a block is: the
    /// placeholders of steps, of a `bash` block written as a transcript, of
    /// Runme's cells and of blocks that are not steps, among steps with bad
    /// attributes.
    #[test]
    fn what_is_read_ahead_is_what_the_walk_would_read() {
        let blocks = [
            "```bash {#a bogus=1 timeout=never}\ncp <src> /tmp\n```",
            "```bash\n$ cat <file>\nout\n```",
            "```console\n$ rm <dir>\n? 1\n```",
            "```sh {\"name\":\"cell\",\"interactive\":\"false\",\"cwd\":\"sub\"}\necho <x>\n```",
            "```python {run timeout=5s}\nprint('<y>')\n```",
            "```output {match=contains}\n<z>\n```",
            "```text {#not-a-step}\n<w>\n```",
            "```zsh {#a}\necho same id <v>\n```",
            "```bash {#b =x}\necho\n```",
        ];
        let mut text = String::from("---\ncwd: /srv\n---\n\n");
        for n in 0..3 {
            for (k, block) in blocks.iter().enumerate() {
                text.push_str(&format!("## Part {n} {k}\n\n{block}\n\n"));
            }
        }
        same_in_pieces("ahead.md", &text);
        let cut = parse_in_pieces(&Source::new("ahead.md", text.as_str()), 0);
        let codes: Vec<&str> = cut.diagnostics.iter().map(|d| d.code).collect();
        for code in [
            "placeholder",
            "unknown-attribute",
            "duplicate-id",
            "invalid-attribute",
        ] {
            assert!(codes.contains(&code), "no {code} in {codes:?}");
        }
    }

    #[test]
    fn a_fence_left_open_keeps_the_headings_after_it() {
        let text = "# a\n\n```sh\necho one\n\n# not a heading\n\necho two\n";
        assert_eq!(cuts(text, 0).len(), 1);
        let parsed = parse_in_pieces(&Source::new("t.md", text), 0);
        assert_eq!(parsed.runbook.sections.len(), 1);
        assert_eq!(
            parsed.runbook.steps[0].code,
            "echo one\n\n# not a heading\n\necho two\n"
        );
        same_in_pieces("open fence", text);
        same_in_pieces("open comment", "<!--\n\n# inside\n\n```sh\necho no\n```\n");
        same_in_pieces("open pre", "<pre>\n\n# inside\n\n```sh\necho no\n```\n");
    }

    /// Documents of the lines that open and close blocks, in any order.
    #[test]
    fn any_mix_of_openers_and_closers_parses_the_same_in_pieces() {
        use proptest::prelude::*;
        const LINES: &[&str] = &[
            "``` ",
            "    ```",
            "\t```",
            "`````",
            "~~~ x",
            "> > ```",
            "1. ```sh",
            "<PRE>",
            "</PRE>",
            "<pre>x</pre>",
            "<!-- x -->",
            "x -->",
            "<?x ?>",
            "<Script type=x>",
            "  <style>",
            "<div>x</div>",
            "   ```",
            "> ```",
            "- ```",
            "<custom-tag>",
            "<textarea>",
            "</textarea>",
            "<style>",
            "</style>",
            "<script>",
            "</script>",
            "---",
            "===",
            "* * *",
            "~~~~",
            "````sh {#a}",
            "  - nested",
            "[^1]: note",
            "text[^1]",
            "# h",
            "## h2",
            "",
            "",
            "```",
            "````",
            "~~~",
            "```sh",
            "```output",
            "  ```",
            "<!--",
            "-->",
            "<div>",
            "</div>",
            "<pre>",
            "</pre>",
            "<?x",
            "?>",
            "<!X",
            "<![CDATA[",
            "]]>",
            "- item",
            "1. item",
            "> quote",
            "    indented",
            "text",
            "echo x",
            "| a | b |",
            "|---|---|",
            "TODO: x",
            "<!-- check: contains \"x\" -->",
            "$ echo 1",
            "1",
            "\t# tab",
            "#",
            "###### six",
            "\r",
        ];
        proptest!(|(lines in proptest::collection::vec(proptest::sample::select(LINES), 0..60))| {
            let text = lines.join("\n");
            same_in_pieces("mix", &text);
        });
    }

    #[test]
    fn a_definition_reaches_across_headings() {
        let text = "# a\n\nTODO: read [the guide]\n\n# b\n\n[the guide]: https://example.org\n";
        same_in_pieces("definition", text);
        let parsed = parse_in_pieces(&Source::new("t.md", text), 0);
        assert_eq!(parsed.runbook.todos[0].text, "read the guide");
    }

    #[test]
    fn cuts_fall_on_headings_after_a_blank_line_only() {
        let body = "# a\n\ntext\n# b\n\n#c\n\n####### d\n\n## e\n\n### f\n";
        let at: Vec<&str> = cuts(body, 1).iter().map(|&c| &body[c..]).collect();
        assert_eq!(at, ["## e\n\n### f\n", "### f\n"]);
        assert_eq!(cuts(body, body.len()), Vec::<usize>::new());
    }

    #[test]
    fn a_body_with_a_definition_is_never_cut() {
        let body = "# a\n\n[x]: /url\n\n# b\n\n[x]\n";
        assert!(cuts(body, 1).is_empty());
    }

    #[test]
    fn html_blocks_that_run_to_the_end_are_open() {
        assert!(html_closed("<div>\nx\n"));
        assert!(html_closed("<!-- a\nb -->\n"));
        assert!(!html_closed("<!-- a\nb\n\n"));
        assert!(!html_closed("<PRE>\nx\n"));
        assert!(html_closed("<PRE>\nx</pre>\n"));
        // pulldown-cmark ends these only at their own end tag, in lower case.
        assert!(!html_closed("<pre>\nx</PRE>\n"));
        assert!(!html_closed("<textarea>\n</pre>\n"));
        assert!(!html_closed("<pre\r\nx\r\n"));
        assert!(!html_closed("<?php\nx\n"));
        assert!(!html_closed("<![CDATA[\nx\n"));
        assert!(!html_closed("<!DOCTYPE\nx\n"));
        assert!(html_closed("<!DOCTYPE html>\n"));
        assert!(html_closed("<preamble>\nx\n"));
    }
}
