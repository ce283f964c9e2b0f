//! Terminal output → HTML: ANSI colours become `<span>`s with CSS classes (or an
//! inline colour for 256-colour and true-colour codes), every other escape
//! sequence and control character is dropped, and every byte of text is
//! HTML-escaped. Nothing from the log reaches the page unescaped.
//!
//! Escaping goes further than HTML needs: the characters that open a
//! preprocessor's syntax (`{{#include …}}` of mdBook's links preprocessor,
//! `{% … %}`, `[[#…]]`, `$…$`, `\(…\)`, `@@cite`, backticks) are written as
//! numeric character references too. A preprocessor reads the Markdown text,
//! where `&#123;&#123;#include` is no directive; the browser shows `{{#include`.
//! This holds wherever runsheet's output sits in a book's preprocessor order.

use std::fmt::Write;

/// Escapes text for HTML element content and attribute values, leaving no
/// character a preprocessor could read as the start of a directive.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        push_escaped(&mut out, c);
    }
    out
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '"' => out.push_str("&quot;"),
        '\'' => out.push_str("&#39;"),
        '{' => out.push_str("&#123;"),
        '}' => out.push_str("&#125;"),
        '[' => out.push_str("&#91;"),
        ']' => out.push_str("&#93;"),
        '$' => out.push_str("&#36;"),
        '\\' => out.push_str("&#92;"),
        '`' => out.push_str("&#96;"),
        '@' => out.push_str("&#64;"),
        _ => out.push(c),
    }
}

/// Plain text for a place Markdown reads (a heading, a link label, a table
/// cell): on one line, every ASCII punctuation character written as a
/// character reference, so nothing in it is markup, a table column, a link or
/// a preprocessor directive. A title with a newline or `](x)` stays a title.
pub(crate) fn markdown_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split(|c: char| c.is_whitespace() || c.is_control()) {
        if word.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        for c in word.chars() {
            if c.is_ascii_punctuation() {
                out.push_str(&format!("&#{};", c as u32));
            } else {
                out.push(c);
            }
        }
    }
    out
}

/// Text with `` `code` `` spans (runsheet's reasons and check messages) as
/// escaped HTML with `<code>` elements; a backtick without a partner is text.
pub(crate) fn inline_code(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('`') {
        let run = rest[open..].len() - rest[open..].trim_start_matches('`').len();
        let after = &rest[open + run..];
        match find_run(after, run) {
            Some(end) => {
                out.push_str(&escape(&rest[..open]));
                let code = &after[..end];
                let code = match code.strip_prefix(' ').and_then(|c| c.strip_suffix(' ')) {
                    Some(inner) if !inner.trim().is_empty() => inner,
                    _ => code,
                };
                out.push_str("<code>");
                out.push_str(&escape(code));
                out.push_str("</code>");
                rest = &after[end + run..];
            }
            None => {
                out.push_str(&escape(&rest[..open + run]));
                rest = after;
            }
        }
    }
    out.push_str(&escape(rest));
    out
}

/// The offset of the next run of exactly `len` backticks in `text`.
fn find_run(text: &str, len: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'`' {
            let run = bytes[i..].iter().take_while(|&&b| b == b'`').count();
            if run == len {
                return Some(i);
            }
            i += run;
        } else {
            i += 1;
        }
    }
    None
}

/// What a terminal shows of a line that rewrites itself with `\r` (progress
/// bars): the text after the last carriage return. A CRLF ending is just an
/// ending.
pub(crate) fn visible_line(line: &str) -> &str {
    let line = line.strip_suffix('\r').unwrap_or(line);
    match line.rfind('\r') {
        Some(i) => &line[i + 1..],
        None => line,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Color {
    /// The 16 standard colours: 0–7 normal, 8–15 bright.
    Named(u8),
    Rgb(u8, u8, u8),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Style {
    fg: Option<Color>,
    bg: Option<Color>,
    bold: bool,
    dim: bool,
    italic: bool,
    underline: bool,
}

impl Style {
    fn is_plain(&self) -> bool {
        *self == Style::default()
    }

    fn open_tag(&self) -> String {
        let mut classes = Vec::new();
        let mut css = String::new();
        for (color, kind) in [(self.fg, "fg"), (self.bg, "bg")] {
            match color {
                Some(Color::Named(n)) => classes.push(format!("rs-{kind}-{n}")),
                Some(Color::Rgb(r, g, b)) => {
                    let prop = if kind == "fg" {
                        "color"
                    } else {
                        "background-color"
                    };
                    let _ = write!(css, "{prop}:#{r:02x}{g:02x}{b:02x};");
                }
                None => {}
            }
        }
        for (on, class) in [
            (self.bold, "rs-bold"),
            (self.dim, "rs-dim"),
            (self.italic, "rs-italic"),
            (self.underline, "rs-underline"),
        ] {
            if on {
                classes.push(class.to_string());
            }
        }
        let mut tag = String::from("<span");
        if !classes.is_empty() {
            let _ = write!(tag, " class=\"{}\"", classes.join(" "));
        }
        if !css.is_empty() {
            let _ = write!(tag, " style=\"{css}\"");
        }
        tag.push('>');
        tag
    }

    /// Applies one SGR sequence's parameters (`1;31`, `38;5;208`, ...).
    fn apply(&mut self, params: &str) {
        let codes: Vec<u16> = params
            .split([';', ':'])
            .map(|p| p.parse().unwrap_or(0))
            .collect();
        let mut i = 0;
        while i < codes.len() {
            let code = codes[i];
            i += 1;
            match code {
                0 => *self = Style::default(),
                1 => self.bold = true,
                2 => self.dim = true,
                3 => self.italic = true,
                4 => self.underline = true,
                22 => {
                    self.bold = false;
                    self.dim = false;
                }
                23 => self.italic = false,
                24 => self.underline = false,
                30..=37 => self.fg = Some(Color::Named((code - 30) as u8)),
                39 => self.fg = None,
                40..=47 => self.bg = Some(Color::Named((code - 40) as u8)),
                49 => self.bg = None,
                90..=97 => self.fg = Some(Color::Named((code - 90 + 8) as u8)),
                100..=107 => self.bg = Some(Color::Named((code - 100 + 8) as u8)),
                38 | 48 => {
                    let (color, used) = extended_color(&codes[i..]);
                    i += used;
                    if code == 38 {
                        self.fg = color;
                    } else {
                        self.bg = color;
                    }
                }
                _ => {}
            }
        }
    }
}

/// `5;N` (256 colours) or `2;R;G;B` after a 38/48; returns the colour and how
/// many parameters it used.
fn extended_color(rest: &[u16]) -> (Option<Color>, usize) {
    match rest {
        [5, n, ..] => (Some(color_256(*n)), 2),
        [2, r, g, b, ..] => (Some(Color::Rgb(clamp(*r), clamp(*g), clamp(*b))), 4),
        _ => (None, rest.len()),
    }
}

fn clamp(v: u16) -> u8 {
    v.min(255) as u8
}

fn color_256(n: u16) -> Color {
    let n = clamp(n);
    match n {
        0..=15 => Color::Named(n),
        16..=231 => {
            let i = n - 16;
            let level = |v: u8| if v == 0 { 0 } else { 55 + v * 40 };
            Color::Rgb(level(i / 36), level((i / 6) % 6), level(i % 6))
        }
        _ => {
            let gray = 8 + (n - 232) * 10;
            Color::Rgb(gray, gray, gray)
        }
    }
}

/// Converts terminal text (newlines kept) to escaped HTML with colour spans.
pub(crate) fn to_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let mut style = Style::default();
    let mut open = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if let Some(params) = escape_sequence(&mut chars) {
                let mut next = style;
                next.apply(&params);
                if next != style && open {
                    out.push_str("</span>");
                    open = false;
                }
                style = next;
            }
            continue;
        }
        if c.is_control() && c != '\n' && c != '\t' {
            continue;
        }
        if !open && !style.is_plain() && c != '\n' {
            out.push_str(&style.open_tag());
            open = true;
        }
        push_escaped(&mut out, c);
    }
    if open {
        out.push_str("</span>");
    }
    out
}

/// Consumes one escape sequence after ESC; returns the parameters of an SGR
/// (`ESC [ ... m`) and `None` for every other sequence, which is dropped.
fn escape_sequence(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<String> {
    match chars.next()? {
        '[' => {
            let mut params = String::new();
            for c in chars.by_ref() {
                if ('\u{40}'..='\u{7e}').contains(&c) {
                    return (c == 'm').then_some(params);
                }
                params.push(c);
            }
            None
        }
        // OSC (titles, hyperlinks): up to BEL or ESC \.
        ']' => {
            while let Some(c) = chars.next() {
                if c == '\u{7}' {
                    break;
                }
                if c == '\u{1b}' {
                    chars.next_if_eq(&'\\');
                    break;
                }
            }
            None
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_every_markup_character() {
        assert_eq!(
            escape(r#"<script>alert("x" & 'y')</script>"#),
            "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;"
        );
    }

    #[test]
    fn no_preprocessor_directive_survives_escaping() {
        let text =
            r"{{#include /etc/passwd}} {{#title x}} {% raw %} [[#arg]] $x$ \(y\) @@key `c` \{{#x}}";
        let html = escape(text);
        for opener in ["{", "}", "[", "]", "$", "\\", "`", "@"] {
            assert!(!html.contains(opener), "{opener} left in {html}");
        }
        assert!(html.starts_with("&#123;&#123;#include /etc/passwd&#125;&#125;"));
        assert!(!to_html(text).contains("{{"));
    }

    #[test]
    fn markdown_text_is_one_line_of_plain_text() {
        assert_eq!(
            markdown_text("Evil\n- [evil](y) | {{#title x}}\r\t<b>"),
            "Evil &#45; &#91;evil&#93;&#40;y&#41; &#124; &#123;&#123;&#35;title x&#125;&#125; &#60;b&#62;"
        );
        assert_eq!(
            markdown_text("  Déploiement  du\u{0}site "),
            "Déploiement du site"
        );
    }

    #[test]
    fn code_spans_in_reasons_become_code_elements() {
        assert_eq!(
            inline_code("`confirm` step: pass `--yes` <now>"),
            "<code>confirm</code> step: pass <code>--yes</code> &lt;now&gt;"
        );
        assert_eq!(
            inline_code("``a ` b`` and ` lone"),
            "<code>a &#96; b</code> and &#96; lone"
        );
        assert_eq!(
            inline_code("`{{#include x}}`"),
            "<code>&#123;&#123;#include x&#125;&#125;</code>"
        );
        assert_eq!(inline_code("no code"), "no code");
        assert_eq!(inline_code("```"), "&#96;&#96;&#96;");
    }

    #[test]
    fn colours_become_spans_and_reset_closes_them() {
        assert_eq!(
            to_html("\x1b[1;31merror\x1b[0m: <b>"),
            "<span class=\"rs-fg-1 rs-bold\">error</span>: &lt;b&gt;"
        );
        assert_eq!(
            to_html("\x1b[38;5;208mo\x1b[48;2;1;2;3mx\x1b[39;49m."),
            "<span style=\"color:#ff8700;\">o</span><span style=\"color:#ff8700;background-color:#010203;\">x</span>."
        );
        assert_eq!(to_html("\x1b[92mok"), "<span class=\"rs-fg-10\">ok</span>");
    }

    #[test]
    fn other_sequences_and_controls_are_dropped() {
        let text = "a\x1b[2K\x1b[1Gb\x1b]8;;http://x\x1b\\link\x1b]8;;\x07\x08c\x1b";
        assert_eq!(to_html(text), "ablinkc");
    }

    #[test]
    fn a_line_rewritten_with_carriage_returns_shows_its_last_state() {
        assert_eq!(visible_line("10%\r50%\r100%\r"), "100%");
        assert_eq!(visible_line("done\r"), "done");
        assert_eq!(visible_line("plain"), "plain");
    }

    #[test]
    fn malformed_input_never_panics() {
        for s in [
            "\x1b",
            "\x1b[",
            "\x1b[38;5m",
            "\x1b[38;2;1m",
            "\x1b]",
            "\x1b[99999999m",
        ] {
            let _ = to_html(s);
        }
    }

    proptest::proptest! {
        /// Whatever a command printed, the only markup in the result is
        /// runsheet's own colour spans, no control character survives, and no
        /// character that opens a preprocessor directive is left.
        #[test]
        fn output_can_never_inject_markup(text in "(\\PC|[\u{1b}\r\t\n<>&\"';\\[\\]m0-9{}$`@#%])*") {
            let html = to_html(&text);
            let tags = regex::Regex::new(r#"<span( class="[a-z0-9 -]+")?( style="[a-z:#0-9;-]+")?>|</span>"#)
                .expect("regex");
            let rest = tags.replace_all(&html, "");
            proptest::prop_assert!(!rest.contains('<') && !rest.contains('>'), "{}", html);
            let directive = rest.contains(['{', '}', '[', ']', '$', '`', '@', '\\']);
            proptest::prop_assert!(!directive, "preprocessor syntax left in {:?}", html);
            let clean = !rest.contains('\u{1b}') && !rest.contains('\r');
            proptest::prop_assert!(clean, "control characters left in {:?}", html);
            proptest::prop_assert_eq!(html.matches("<span").count(), html.matches("</span>").count());
        }
    }
}
