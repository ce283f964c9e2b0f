//! A grammar-aware property test: runbooks built from what authors write
//! (headings, fences with info strings and attributes, `output` blocks,
//! hidden checks, TODOs, front matter, nested lists and quotes, multi-byte
//! text), written with LF, CRLF or CR line ends and with or without a BOM.
//!
//! The parser must never panic, every diagnostic must point at a real line on
//! char boundaries and render, the steps and sections must be exactly what
//! pulldown-cmark itself finds, and the way the file ends its lines or
//! whether it starts with a BOM must change nothing.

use proptest::prelude::*;
use pulldown_cmark::{CodeBlockKind, Event, Parser, Tag, TagEnd};

use super::walk::{options, SHELL_LANGS};
use super::{parse, Parsed};
use crate::report::Palette;
use crate::source::Source;

#[derive(Debug, Clone)]
enum Block {
    Heading(u8, String),
    Paragraph(String),
    Fence {
        info: String,
        body: Vec<String>,
        marker: &'static str,
        closed: bool,
    },
    Hidden(&'static str),
    List {
        ordered: bool,
        items: Vec<Vec<Block>>,
    },
    Quote(Vec<Block>),
    Table(Vec<String>),
}

const WORDS: &[&str] = &[
    "deploy",
    "the",
    "app",
    "é",
    "日本",
    "😀",
    "`make`",
    "**bold**",
    "x",
    "TODO:",
    "FIXME",
    "$",
    "|",
    "{#id}",
    "<b>",
    "[link](y)",
    "\\",
    "ß",
];

const LANGS: &[&str] = &[
    "sh", "bash", "console", "zsh", "text", "output", "json", "python", "yaml", "",
];

const ATTRS: &[&str] = &[
    "",
    " {#first}",
    " {#same}",
    " {timeout=5s}",
    " {retry=2 delay=1s}",
    " {run}",
    " {#x confirm}",
    " {cwd=/tmp}",
    " {timout=5m}",
    " {.class}",
    " {match=contains}",
    " {stream=stderr}",
    " {",
];

const BODY: &[&str] = &[
    "echo hi",
    "$ echo hi",
    "hi",
    "? 0",
    "? x",
    "😀",
    "é ü",
    "",
    "> more",
    "print('x')",
    "{\"a\": 1}",
    "...",
    "[..]",
    "  indented",
];

const HIDDEN: &[&str] = &[
    "<!-- check: contains \"hi\" -->",
    "<!-- check: not-contains \"é\" -->",
    "<!-- check: matches \"h.\" -->",
    "<!-- check: matches \"(\" -->",
    "<!-- check: nonsense -->",
];

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(WORDS), 1..6).prop_map(|w| w.join(" "))
}

fn leaf() -> impl Strategy<Value = Block> {
    prop_oneof![
        (1u8..4, text()).prop_map(|(l, t)| Block::Heading(l, t)),
        text().prop_map(Block::Paragraph),
        text().prop_map(|t| Block::Paragraph(format!("TODO: {t}"))),
        (
            prop::sample::select(LANGS),
            prop::sample::select(ATTRS),
            prop::collection::vec(prop::sample::select(BODY), 0..5),
            prop::sample::select(&["```", "~~~", "````"][..]),
            prop::bool::weighted(0.95),
        )
            .prop_map(|(lang, attrs, body, marker, closed)| Block::Fence {
                info: format!("{lang}{attrs}"),
                body: body.into_iter().map(str::to_string).collect(),
                marker,
                closed,
            }),
        prop::sample::select(HIDDEN).prop_map(Block::Hidden),
        prop::collection::vec(text(), 1..4).prop_map(Block::Table),
    ]
}

fn block() -> impl Strategy<Value = Block> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            (
                any::<bool>(),
                prop::collection::vec(prop::collection::vec(inner.clone(), 1..3), 1..3)
            )
                .prop_map(|(ordered, items)| Block::List { ordered, items }),
            prop::collection::vec(inner, 1..3).prop_map(Block::Quote),
        ]
    })
}

fn front() -> impl Strategy<Value = &'static str> {
    prop::sample::select(
        &[
            "",
            "---\ntitle: Déploiement\ntimeout: 5s\nenv:\n  A: b\n---\n",
            "---\nredact: [TOKEN]\nrequires: [sh]\n---\n",
            "+++\ntitle = \"T\"\n+++\n",
            "---\ntimout: 5s\n---\n",
        ][..],
    )
}

/// The blocks as Markdown lines (no line ends), blank lines between.
fn render(blocks: &[Block]) -> Vec<String> {
    let mut lines = Vec::new();
    for (i, b) in blocks.iter().enumerate() {
        if i > 0 {
            lines.push(String::new());
        }
        match b {
            Block::Heading(level, t) => lines.push(format!("{} {t}", "#".repeat(*level as usize))),
            Block::Paragraph(t) => lines.push(t.clone()),
            Block::Fence {
                info,
                body,
                marker,
                closed,
            } => {
                lines.push(format!("{marker}{info}"));
                lines.extend(body.iter().cloned());
                if *closed {
                    lines.push(marker.to_string());
                }
            }
            Block::Hidden(h) => lines.push(h.to_string()),
            Block::List { ordered, items } => {
                for (n, item) in items.iter().enumerate() {
                    let marker = if *ordered {
                        format!("{}. ", n + 1)
                    } else {
                        "- ".to_string()
                    };
                    let pad = " ".repeat(marker.chars().count());
                    for (k, line) in render(item).into_iter().enumerate() {
                        lines.push(match (k, line.is_empty()) {
                            (0, _) => format!("{marker}{line}"),
                            (_, true) => String::new(),
                            _ => format!("{pad}{line}"),
                        });
                    }
                }
            }
            Block::Quote(inner) => {
                for line in render(inner) {
                    lines.push(if line.is_empty() {
                        ">".into()
                    } else {
                        format!("> {line}")
                    });
                }
            }
            Block::Table(cells) => {
                lines.push(format!("| {} |", cells.join(" | ")));
                lines.push(format!("|{}", "---|".repeat(cells.len())));
                lines.push(format!("| {} |", cells.join(" | ")));
            }
        }
    }
    lines
}

/// What pulldown-cmark alone finds: runnable fences with something in them,
/// and headings.
fn oracle(body: &str) -> (usize, usize) {
    let (mut steps, mut headings) = (0, 0);
    let mut fence: Option<(bool, String)> = None;
    for event in Parser::new_ext(body, options()) {
        match event {
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))) => {
                let lang = info
                    .split(|c: char| c.is_whitespace() || c == '{')
                    .next()
                    .unwrap_or("");
                let run = info.contains("{run}");
                let runnable = !lang.is_empty() && (SHELL_LANGS.contains(&lang) || run);
                fence = Some((runnable, String::new()));
            }
            Event::Text(t) => {
                if let Some((_, code)) = &mut fence {
                    code.push_str(&t);
                }
            }
            Event::End(TagEnd::CodeBlock) => {
                if let Some((true, code)) = fence.take() {
                    steps += usize::from(!code.trim().is_empty());
                }
            }
            Event::Start(Tag::Heading { .. }) => headings += 1,
            _ => {}
        }
    }
    (steps, headings)
}

/// Everything a runbook's reader sees, line ends and a BOM aside.
fn shape(p: &Parsed) -> Vec<String> {
    let mut out = Vec::new();
    for s in &p.runbook.steps {
        out.push(format!(
            "step {} {} {} {:?} {}",
            s.id,
            s.line,
            s.lang,
            s.code.replace('\r', ""),
            s.checks.len()
        ));
    }
    for s in &p.runbook.sections {
        out.push(format!("section {} {} {}", s.id, s.line, s.title));
    }
    for t in &p.runbook.todos {
        out.push(format!("todo {} {}", t.line, t.text));
    }
    // Diagnostics at one place may sort either way: a span's end can
    // include a `\r`.
    let mut diags: Vec<String> = p
        .diagnostics
        .iter()
        .map(|d| format!("{}:{} {}", d.line, d.column, d.code))
        .collect();
    diags.sort();
    out.extend(diags);
    out
}

fn sound(source: &Source) -> Parsed {
    let parsed = parse(source);
    let text = &source.text;
    for d in &parsed.diagnostics {
        assert!(
            d.span.start <= d.span.end && d.span.end <= text.len(),
            "{d:?}"
        );
        assert!(
            text.is_char_boundary(d.span.start) && text.is_char_boundary(d.span.end),
            "{d:?}"
        );
        assert!(d.line >= 1 && d.line <= source.line_count(), "{d:?}");
        assert_eq!(d.line, source.line(d.span.start), "{d:?}");
    }
    for s in &parsed.runbook.steps {
        assert!(s.line >= 1 && s.line <= source.line_count(), "{s:?}");
    }
    crate::report::diag::render(&Palette::plain(), source, &parsed.diagnostics);
    parsed
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn generated_runbooks_parse_as_pulldown_cmark_reads_them(
        front in front(),
        blocks in prop::collection::vec(block(), 0..8),
    ) {
        let body = render(&blocks).join("\n") + "\n";
        let lf = format!("{front}{body}");
        let parsed = sound(&Source::new("g.md", lf.as_str()));
        let (steps, headings) = oracle(&body);
        prop_assert_eq!(parsed.runbook.steps.len(), steps, "{}", lf);
        prop_assert_eq!(parsed.runbook.sections.len(), headings, "{}", lf);

        let want = shape(&parsed);
        let variants = [
            lf.replace('\n', "\r\n"),
            lf.replace('\n', "\r"),
            format!("\u{feff}{lf}"),
            format!("\u{feff}{}", lf.replace('\n', "\r\n")),
        ];
        for text in variants {
            let other = sound(&Source::new("g.md", text.as_str()));
            prop_assert_eq!(&shape(&other), &want, "{:?}", text);
        }
    }
}
