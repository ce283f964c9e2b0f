//! The links and images a runbook points at, each with the place of its
//! destination as written, so that the book can carry the files a runbook
//! references and turn links between runbooks into links between chapters.
//! Markdown links, images and link reference definitions come from
//! pulldown-cmark's events; `src` and `href` attributes from its HTML events.
//! The destination is located inside the element's own range (the text after
//! `](` or `]:`, or the attribute's value) and checked against what CommonMark
//! read there; where the two disagree the link gets no span and is never
//! rewritten.

use std::ops::Range;
use std::sync::OnceLock;

use pulldown_cmark::{Event, LinkType, Parser, Tag, TagEnd};
use regex::Regex;

use crate::source::{Source, Span};

use super::front;
use super::walk::options;

/// What kind of reference a [`LinkRef`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkKind {
    /// `[text](dest)` or a `[label]: dest` definition.
    Link,
    /// `![alt](dest)`.
    Image,
    /// `src="…"` or `href="…"` of an HTML tag.
    Html,
}

/// One reference to another file or page.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LinkRef {
    pub kind: LinkKind,
    /// The destination as CommonMark (or HTML) reads it: escapes and
    /// character references resolved, percent-encoding kept.
    pub dest: String,
    /// The destination as written in the file: `dest`, `<dest>` (angle
    /// brackets included) or an attribute's value (quotes excluded). `None`
    /// when it cannot be pinned down exactly.
    pub span: Option<Span>,
    /// 1-based line of the element.
    pub line: usize,
}

/// Every link, image and `src`/`href` attribute of the runbook, in file
/// order. Autolinks (`<https://…>`) are absolute by definition and left out;
/// so are links inside code.
pub fn links(source: &Source) -> Vec<LinkRef> {
    let base = front::front_matter(source).body_start;
    let body = &source.text[base..];
    let mut out = Vec::new();
    // Open inline links and images (`None`: reference-style, reported with
    // its definition).
    let mut open: Vec<Option<Open>> = Vec::new();
    let mut html = HtmlRun::default();
    let mut iter = Parser::new_ext(body, options()).into_offset_iter();
    for (event, range) in iter.by_ref() {
        let range = range.start + base..range.end + base;
        if let Some(Some((_, _, _, text_end))) = open.last_mut() {
            if !matches!(event, Event::End(TagEnd::Link | TagEnd::Image)) {
                *text_end = (*text_end).max(range.end);
            }
        }
        match event {
            Event::Html(text) | Event::InlineHtml(text) => {
                html.push(source, &text, range, &mut out);
                continue;
            }
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                ..
            }) => open.push(inline(LinkKind::Link, link_type, &dest_url, range, 1)),
            Event::Start(Tag::Image {
                link_type,
                dest_url,
                ..
            }) => open.push(inline(LinkKind::Image, link_type, &dest_url, range, 2)),
            Event::End(TagEnd::Link | TagEnd::Image) => {
                if let Some(Some((kind, dest, range, text_end))) = open.pop() {
                    let span = inline_dest(&source.text, &range, text_end)
                        .filter(|s| same_dest(&source.text[s.range()], &dest));
                    out.push(LinkRef {
                        kind,
                        dest,
                        span,
                        line: source.line(range.start),
                    });
                }
            }
            _ => {}
        }
        html.flush(source, &mut out);
    }
    html.flush(source, &mut out);
    for (_, def) in iter.reference_definitions().iter() {
        let range = def.span.start + base..def.span.end + base;
        let span = definition_dest(&source.text, &range)
            .filter(|s| same_dest(&source.text[s.range()], &def.dest));
        out.push(LinkRef {
            kind: LinkKind::Link,
            dest: def.dest.to_string(),
            span,
            line: source.line(range.start),
        });
    }
    // Stable: within a line, the order the elements close in.
    out.sort_by_key(|l| l.line);
    out
}

/// An inline link or image being read: kind, destination, range, and the end
/// of its text so far.
type Open = (LinkKind, String, Range<usize>, usize);

/// An inline link or image worth following: reference-style ones point at a
/// definition (reported on its own), autolinks and e-mail links are absolute.
fn inline(
    kind: LinkKind,
    link_type: LinkType,
    dest: &str,
    range: Range<usize>,
    opener: usize,
) -> Option<Open> {
    matches!(link_type, LinkType::Inline).then(|| {
        let text_start = range.start + opener;
        (kind, dest.to_string(), range, text_start)
    })
}

/// The destination token of `[text](dest "title")`: after the `](` that
/// follows the link text.
fn inline_dest(text: &str, range: &Range<usize>, text_end: usize) -> Option<Span> {
    let from = text_end.min(range.end);
    let open = text.get(from..range.end)?.find("](")? + from + 2;
    dest_token(text, open, range.end)
}

/// The destination token of `[label]: dest "title"`.
fn definition_dest(text: &str, range: &Range<usize>) -> Option<Span> {
    let def = text.get(range.clone())?;
    let bytes = def.as_bytes();
    let mut i = def.find('[')? + 1;
    while i + 1 < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b']' if bytes[i + 1] == b':' => {
                return dest_token(text, range.start + i + 2, range.end)
            }
            _ => i += 1,
        }
    }
    None
}

/// A link destination starting at `from` (after optional blanks and one line
/// break): `<…>` or a run without blanks whose parentheses balance.
fn dest_token(text: &str, from: usize, end: usize) -> Option<Span> {
    let bytes = text.as_bytes();
    let mut i = from;
    while i < end && matches!(bytes[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    let start = i;
    if bytes.get(i) == Some(&b'<') {
        i += 1;
        while i < end {
            match bytes[i] {
                b'\\' => i += 2,
                b'>' => return Some(Span::new(start, i + 1)),
                b'\n' | b'<' => return None,
                _ => i += 1,
            }
        }
        return None;
    }
    let mut depth = 0usize;
    while i < end {
        match bytes[i] {
            b'\\' => i += 2,
            b'(' => {
                depth += 1;
                i += 1;
            }
            b')' if depth == 0 => break,
            b')' => {
                depth -= 1;
                i += 1;
            }
            b if b <= b' ' => break,
            _ => i += 1,
        }
    }
    let i = i.min(end);
    (i > start).then(|| Span::new(start, i))
}

/// Whether the token as written reads as `dest`: backslash escapes removed,
/// angle brackets dropped. A token with character references is not
/// compared, and so never rewritten.
fn same_dest(token: &str, dest: &str) -> bool {
    let inner = token
        .strip_prefix('<')
        .and_then(|t| t.strip_suffix('>'))
        .unwrap_or(token);
    if inner.contains('&') {
        return false;
    }
    let mut read = String::with_capacity(inner.len());
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('\\', Some(n)) if n.is_ascii_punctuation() => {
                read.push(*n);
                chars.next();
            }
            _ => read.push(c),
        }
    }
    read == dest
}

/// Consecutive HTML events that stand next to each other in the file, read
/// as one piece so that a tag written over several lines is seen whole.
#[derive(Debug, Default)]
struct HtmlRun {
    start: usize,
    end: usize,
}

impl HtmlRun {
    fn push(&mut self, source: &Source, text: &str, range: Range<usize>, out: &mut Vec<LinkRef>) {
        // Inside a block quote or list the event's text is not the file's:
        // such HTML is read on its own, without spans.
        if source.text.get(range.clone()) != Some(text) {
            self.flush(source, out);
            attributes(source, text, None, range.start, out);
            return;
        }
        if self.end != range.start || self.start == self.end {
            self.flush(source, out);
            self.start = range.start;
        }
        self.end = range.end;
    }

    fn flush(&mut self, source: &Source, out: &mut Vec<LinkRef>) {
        if self.start < self.end {
            let text = &source.text[self.start..self.end];
            attributes(source, text, Some(self.start), self.start, out);
        }
        self.start = 0;
        self.end = 0;
    }
}

fn tag_regex() -> &'static Regex {
    static TAG: OnceLock<Regex> = OnceLock::new();
    TAG.get_or_init(|| {
        Regex::new(r"(?s)<!--.*?-->|<[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?>").expect("tag regex")
    })
}

fn attr_regex() -> &'static Regex {
    static ATTR: OnceLock<Regex> = OnceLock::new();
    ATTR.get_or_init(|| {
        Regex::new(r#"(?i)\s(?:src|href)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+))"#)
            .expect("attribute regex")
    })
}

/// `src` and `href` values of the tags in `html` (comments skipped). `at` is
/// where `html` stands in the file when it is the file's own text.
fn attributes(
    source: &Source,
    html: &str,
    at: Option<usize>,
    line_at: usize,
    out: &mut Vec<LinkRef>,
) {
    for tag in tag_regex().find_iter(html) {
        if tag.as_str().starts_with("<!--") {
            continue;
        }
        for cap in attr_regex().captures_iter(tag.as_str()) {
            let Some(value) = cap.get(1).or(cap.get(2)).or(cap.get(3)) else {
                continue;
            };
            let offset = tag.start() + value.start();
            out.push(LinkRef {
                kind: LinkKind::Html,
                dest: decode_entities(value.as_str()),
                span: at.map(|a| Span::new(a + offset, a + tag.start() + value.end())),
                line: source.line(at.map_or(line_at, |a| a + offset)),
            });
        }
    }
}

/// The character references a URL in an attribute is likely to hold.
fn decode_entities(value: &str) -> String {
    if !value.contains('&') {
        return value.to_string();
    }
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let Some(semi) = rest.find(';').filter(|&s| s <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let name = &rest[1..semi];
        let decoded = match name {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => name
                .strip_prefix("#x")
                .or_else(|| name.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<(LinkKind, String, Option<String>, usize)> {
        let source = Source::new("x.md", text);
        links(&source)
            .into_iter()
            .map(|l| {
                let written = l.span.map(|s| text[s.range()].to_string());
                (l.kind, l.dest, written, l.line)
            })
            .collect()
    }

    #[test]
    fn markdown_links_images_and_definitions() {
        let text = "---\ntitle: x\n---\n# T\n\nSee ![diagram](img/arch.png \"Arch\") and [config](<files/my app.yaml>).\n\
                    Next: [db **restore**](../db/restore.md#verify), [ref][r], <https://example.com>.\n\n\
                    [![badge](img/b.svg)](deploy.md)\n\n[r]: ref/target.md 'T'\n\n```sh\necho '[no](link.md)'\n```\n";
        let got = found(text);
        let want = [
            (LinkKind::Image, "img/arch.png", Some("img/arch.png"), 6),
            (
                LinkKind::Link,
                "files/my app.yaml",
                Some("<files/my app.yaml>"),
                6,
            ),
            (
                LinkKind::Link,
                "../db/restore.md#verify",
                Some("../db/restore.md#verify"),
                7,
            ),
            (LinkKind::Image, "img/b.svg", Some("img/b.svg"), 9),
            (LinkKind::Link, "deploy.md", Some("deploy.md"), 9),
            (LinkKind::Link, "ref/target.md", Some("ref/target.md"), 11),
        ];
        let got: Vec<_> = got
            .iter()
            .map(|(k, d, w, l)| (*k, d.as_str(), w.as_deref(), *l))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn tricky_destinations() {
        let text = "[a](x(1).md) [b](a\\)b.md) [c [d]](y.md) [e](z.md#s\n\"t\") [f](q%20r.png) [g](&amp;.md)\n";
        let got = found(text);
        let written: Vec<_> = got.iter().map(|g| (g.1.as_str(), g.2.as_deref())).collect();
        assert_eq!(
            written,
            [
                ("x(1).md", Some("x(1).md")),
                ("a)b.md", Some("a\\)b.md")),
                ("y.md", Some("y.md")),
                ("z.md#s", Some("z.md#s")),
                ("q%20r.png", Some("q%20r.png")),
                ("&.md", None),
            ]
        );
    }

    #[test]
    fn html_src_and_href() {
        let text = "# T\n\n<p align=\"center\">\n  <img width=300\n       src=\"img/a&amp;b.png\" alt=x>\n</p>\n\n\
                    Inline <a href='other.md#x'>other</a>.\n\n<!-- <img src=\"hidden.png\"> -->\n\n\
                    > <img src=quoted.png>\n";
        let got = found(text);
        let got: Vec<_> = got
            .iter()
            .map(|(k, d, w, l)| (*k, d.as_str(), w.as_deref(), *l))
            .collect();
        assert_eq!(
            got,
            [
                (LinkKind::Html, "img/a&b.png", Some("img/a&amp;b.png"), 5),
                (LinkKind::Html, "other.md#x", Some("other.md#x"), 8),
                (LinkKind::Html, "quoted.png", Some("quoted.png"), 12),
            ]
        );
    }

    #[test]
    fn hostile_text_never_panics() {
        for text in [
            "[a](",
            "[a](<b",
            "![](",
            "[x]: <",
            "<img src=",
            "<a href=\"é",
            "[é](é \"é\")",
            "> [a](b\n> c)",
            "- [a]:\n  b",
        ] {
            let _ = found(text);
        }
    }
}
