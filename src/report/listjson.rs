//! `list --json` (SPEC §6) written by hand, byte for byte what serde_json's
//! pretty printer made of the same fields: the output of a 10 MB runbook is
//! 56 MB, and going through serde (a `Value` per check, a `write` per token,
//! an escape table lookup per byte) was a quarter of `list`'s time (issue 11).
//! The small, rarely repeated parts (front matter, step options, similarity
//! checks) still go through serde, re-indented, so that a field added to them
//! shows up here without anyone remembering this file.

use std::io::{self, Write};
use std::sync::Arc;

use crate::model::{
    Block, BlockRole, Check, MatchMode, Runbook, Section, Step, StepKind, StepOptions, Stream, Todo,
};

/// Output is gathered here and handed to the writer in pieces of about this
/// size, at element boundaries.
const CHUNK: usize = 1 << 16;

struct Out<W: Write> {
    buf: Vec<u8>,
    out: W,
    /// Hand `buf` to `out` as it fills; false: it holds one run whole.
    chunked: bool,
    /// For the parts serialised by serde before they are re-indented.
    scratch: Vec<u8>,
    /// The last two step options written, and how: most steps of a runbook
    /// share their options with another (defaults, or the same few
    /// attributes), and serde took a third of the writing time.
    options: [Option<(Arc<StepOptions>, Vec<u8>)>; 2],
}

impl<W: Write> Out<W> {
    fn flush_if_full(&mut self) -> io::Result<()> {
        if self.chunked && self.buf.len() >= CHUNK {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    fn raw(&mut self, s: &str) {
        self.buf.extend_from_slice(s.as_bytes());
    }

    /// `,` unless first, a line break and `indent` spaces.
    fn next_line(&mut self, first: bool, indent: usize) {
        if !first {
            self.buf.push(b',');
        }
        self.buf.push(b'\n');
        self.spaces(indent);
    }

    fn spaces(&mut self, n: usize) {
        self.buf.resize(self.buf.len() + n, b' ');
    }

    /// `"key": ` on a line of its own.
    fn key(&mut self, first: bool, indent: usize, key: &str) {
        self.next_line(first, indent);
        self.buf.push(b'"');
        self.raw(key);
        self.buf.extend_from_slice(b"\": ");
    }

    fn str_field(&mut self, first: bool, indent: usize, key: &str, value: &str) {
        self.key(first, indent, key);
        string(&mut self.buf, value);
    }

    fn opt_str_field(&mut self, first: bool, indent: usize, key: &str, value: Option<&str>) {
        self.key(first, indent, key);
        match value {
            Some(v) => string(&mut self.buf, v),
            None => self.raw("null"),
        }
    }

    fn num_field(&mut self, first: bool, indent: usize, key: &str, value: usize) {
        self.key(first, indent, key);
        number(&mut self.buf, value);
    }

    /// A value serde writes, pretty-printed and shifted right by `indent`.
    fn serde_value<T: serde::Serialize + ?Sized>(
        &mut self,
        value: &T,
        indent: usize,
    ) -> io::Result<()> {
        self.scratch.clear();
        serde_json::to_writer_pretty(&mut self.scratch, value)?;
        // A line break in pretty JSON is always between tokens: strings
        // escape theirs.
        let mut rest = &self.scratch[..];
        while let Some(i) = memchr::memchr(b'\n', rest) {
            self.buf.extend_from_slice(&rest[..=i]);
            self.buf.resize(self.buf.len() + indent, b' ');
            rest = &rest[i + 1..];
        }
        self.buf.extend_from_slice(rest);
        Ok(())
    }

    /// A JSON array of `items` whose elements open at `indent`.
    fn array<T>(
        &mut self,
        items: &[T],
        indent: usize,
        mut each: impl FnMut(&mut Self, &T) -> io::Result<()>,
    ) -> io::Result<()> {
        if items.is_empty() {
            self.raw("[]");
            return Ok(());
        }
        self.buf.push(b'[');
        for (i, item) in items.iter().enumerate() {
            self.next_line(i == 0, indent);
            each(self, item)?;
            self.flush_if_full()?;
        }
        self.buf.push(b'\n');
        self.spaces(indent - 2);
        self.buf.push(b']');
        Ok(())
    }

    /// Closes an object whose fields stood at `indent`.
    fn close(&mut self, indent: usize) {
        self.buf.push(b'\n');
        self.spaces(indent - 2);
        self.buf.push(b'}');
    }
}

impl Out<io::Sink> {
    /// Output gathered whole, for someone else to write.
    fn gathered(capacity: usize) -> Self {
        Out {
            buf: Vec::with_capacity(capacity),
            out: io::sink(),
            chunked: false,
            scratch: Vec::new(),
            options: [None, None],
        }
    }
}

/// Items of an array are written a run at a time: on a large runbook two
/// threads share the runs (56 MB of JSON from a 10 MB runbook: about 50 ms
/// of `list` on one thread, 30 ms on two).
const RUN: usize = 1024;

#[derive(Clone, Copy)]
enum Array {
    Sections,
    Steps,
    Todos,
    Blocks,
}

/// The document in order: text between the arrays' items, and runs of items.
enum Part {
    Text(Vec<u8>),
    Items(Array, std::ops::Range<usize>),
}

fn parts(rb: &Runbook) -> io::Result<Vec<Part>> {
    let mut parts = Vec::new();
    let mut glue = Out::gathered(256);
    glue.buf.push(b'{');
    glue.str_field(true, 2, "runbook", &rb.path.to_string_lossy());
    glue.str_field(false, 2, "title", &rb.title);
    for (name, array, len) in [
        ("sections", Array::Sections, rb.sections.len()),
        ("steps", Array::Steps, rb.steps.len()),
        ("todos", Array::Todos, rb.todos.len()),
        ("blocks", Array::Blocks, rb.blocks.len()),
    ] {
        glue.key(false, 2, name);
        if len == 0 {
            glue.raw("[]");
            continue;
        }
        glue.buf.push(b'[');
        parts.push(Part::Text(std::mem::take(&mut glue.buf)));
        for start in (0..len).step_by(RUN) {
            parts.push(Part::Items(array, start..len.min(start + RUN)));
        }
        glue.buf.push(b'\n');
        glue.spaces(2);
        glue.buf.push(b']');
    }
    glue.key(false, 2, "front_matter");
    glue.serde_value(&rb.front, 2)?;
    glue.str_field(false, 2, "hash", &rb.hash);
    glue.raw("\n}\n");
    parts.push(Part::Text(glue.buf));
    Ok(parts)
}

/// Appends a run of items, or a text, to `o`.
fn part<W: Write>(o: &mut Out<W>, rb: &Runbook, part: &Part) -> io::Result<()> {
    let (array, range) = match part {
        Part::Text(text) => {
            o.buf.extend_from_slice(text);
            return o.flush_if_full();
        }
        Part::Items(array, range) => (*array, range.clone()),
    };
    for i in range {
        o.next_line(i == 0, 4);
        match array {
            Array::Sections => section(o, &rb.sections[i]),
            Array::Steps => step(o, &rb.steps[i])?,
            Array::Todos => todo(o, &rb.todos[i]),
            Array::Blocks => block(o, &rb.blocks[i]),
        }
        o.flush_if_full()?;
    }
    Ok(())
}

/// Writes the pretty-printed JSON document and a final newline to `out`.
pub fn write_json(rb: &Runbook, out: impl Write) -> io::Result<()> {
    write_shared_from(rb, out, 4)
}

/// `write_json`, sharing the work with a second thread from `runs` runs of
/// items up: a thread costs more than a few runs take to write.
fn write_shared_from(rb: &Runbook, out: impl Write, share_from: usize) -> io::Result<()> {
    let parts = parts(rb)?;
    let mut o = Out {
        buf: Vec::with_capacity(CHUNK + CHUNK / 4),
        out,
        chunked: true,
        scratch: Vec::new(),
        options: [None, None],
    };
    let runs = parts
        .iter()
        .filter(|p| matches!(p, Part::Items(..)))
        .count();
    if runs < share_from {
        for p in &parts {
            part(&mut o, rb, p)?;
        }
    } else {
        shared(&mut o, rb, &parts)?;
    }
    o.out.write_all(&o.buf)?;
    Ok(())
}

/// Every other run written by a second thread, in order: one run ahead at
/// most, so memory stays at a few runs. Written alone when no thread could
/// be started.
fn shared<W: Write>(o: &mut Out<W>, rb: &Runbook, parts: &[Part]) -> io::Result<()> {
    let theirs = |k: usize| k % 2 == 1 && matches!(parts[k], Part::Items(..));
    let (to, from) = std::sync::mpsc::sync_channel::<io::Result<Vec<u8>>>(1);
    // Written runs go back to be filled again: memory is freed by the thread
    // that took it (glibc's arenas lock for a stranger's free).
    let (back, spare) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::scope(|scope| {
        // Dropped when this closure returns, even on an error, so that a
        // helper waiting to hand over a run is let go.
        let from = from;
        let helper = std::thread::Builder::new().spawn_scoped(scope, move || {
            let mut helper = Out::gathered(0);
            for k in (0..parts.len()).filter(|&k| theirs(k)) {
                helper.buf = spare.try_recv().unwrap_or_default();
                let done =
                    part(&mut helper, rb, &parts[k]).map(|()| std::mem::take(&mut helper.buf));
                if to.send(done).is_err() {
                    return;
                }
            }
        });
        let alone = helper.is_err();
        for (k, p) in parts.iter().enumerate() {
            if theirs(k) && !alone {
                let mut text = from
                    .recv()
                    .map_err(|_| io::Error::other("the writing thread stopped"))??;
                o.buf.extend_from_slice(&text);
                o.flush_if_full()?;
                text.clear();
                let _ = back.send(text);
            } else {
                part(o, rb, p)?;
            }
        }
        Ok(())
    })
}

fn section<W: Write>(o: &mut Out<W>, s: &Section) {
    o.buf.push(b'{');
    o.str_field(true, 6, "id", &s.id);
    o.str_field(false, 6, "title", &s.title);
    o.num_field(false, 6, "level", usize::from(s.level));
    o.num_field(false, 6, "line", s.line);
    o.opt_str_field(false, 6, "parent", s.parent.as_deref());
    o.close(6);
}

fn todo<W: Write>(o: &mut Out<W>, t: &Todo) {
    o.buf.push(b'{');
    o.opt_str_field(true, 6, "section", t.section.as_deref());
    o.num_field(false, 6, "line", t.line);
    o.str_field(false, 6, "text", &t.text);
    o.close(6);
}

fn block<W: Write>(o: &mut Out<W>, b: &Block) {
    o.buf.push(b'{');
    o.num_field(true, 6, "line", b.line);
    o.str_field(false, 6, "info", &b.info);
    o.str_field(false, 6, "lang", &b.lang);
    o.str_field(false, 6, "code", &b.code);
    let role = match b.role {
        BlockRole::Step => "step",
        BlockRole::Output => "output",
        BlockRole::Other => "other",
    };
    o.str_field(false, 6, "role", role);
    o.close(6);
}

fn step<W: Write>(o: &mut Out<W>, s: &Step) -> io::Result<()> {
    o.buf.push(b'{');
    o.str_field(true, 6, "id", &s.id);
    o.opt_str_field(false, 6, "section", s.section.as_deref());
    o.num_field(false, 6, "line", s.line);
    o.str_field(false, 6, "lang", &s.lang);
    o.str_field(false, 6, "code", &s.code);
    o.key(false, 6, "attrs");
    if s.attrs.is_empty() {
        o.raw("{}");
    } else {
        o.buf.push(b'{');
        for (i, (k, v)) in s.attrs.iter().enumerate() {
            o.next_line(i == 0, 8);
            string(&mut o.buf, k);
            o.raw(": ");
            string(&mut o.buf, v);
        }
        o.close(8);
    }
    o.key(false, 6, "checks");
    o.array(&s.checks, 8, check)?;
    let (kind, program) = match &s.kind {
        StepKind::Shell { program } => ("shell", program),
        StepKind::Console { program, .. } => ("console", program),
        StepKind::Interpreter { program } => ("interpreter", program),
    };
    o.str_field(false, 6, "kind", kind);
    o.str_field(false, 6, "program", program);
    if let StepKind::Console { commands, .. } = &s.kind {
        o.key(false, 6, "commands");
        o.array(commands, 8, |o, c| {
            o.buf.push(b'{');
            o.str_field(true, 10, "command", &c.command);
            o.num_field(false, 10, "line", c.line);
            o.opt_str_field(false, 10, "expected", c.expected.as_deref());
            o.key(false, 10, "exit");
            match &c.exit {
                Some(e) => string(&mut o.buf, &e.to_string()),
                None => o.raw("null"),
            }
            o.close(10);
            Ok(())
        })?;
    }
    o.key(false, 6, "options");
    match o.options.iter().position(|c| {
        c.as_ref()
            .is_some_and(|(opts, _)| Arc::ptr_eq(opts, &s.options) || *opts == s.options)
    }) {
        Some(i) => {
            let (_, text) = o.options[i].as_ref().expect("found");
            o.buf.extend_from_slice(text);
            o.options.swap(0, i);
        }
        None => {
            let at = o.buf.len();
            o.serde_value(&s.options, 6)?;
            o.options.swap(0, 1);
            o.options[0] = Some((s.options.clone(), o.buf[at..].to_vec()));
        }
    }
    o.str_field(false, 6, "hash", &s.hash);
    o.close(6);
    Ok(())
}

/// A check without its byte spans, which only `--update` needs. Its keys
/// come sorted, as they did when each check went through a `serde_json::Value`.
fn check<W: Write>(o: &mut Out<W>, c: &Check) -> io::Result<()> {
    o.buf.push(b'{');
    match c {
        Check::Output {
            line,
            expected,
            mode,
            stream,
            ..
        } => {
            o.str_field(true, 10, "expected", expected);
            o.str_field(false, 10, "kind", "output");
            o.num_field(false, 10, "line", *line);
            let mode = match mode {
                MatchMode::Exact => "exact",
                MatchMode::Contains => "contains",
                MatchMode::Regex => "regex",
            };
            o.str_field(false, 10, "match", mode);
            let stream = match stream {
                Stream::Both => "both",
                Stream::Stdout => "stdout",
                Stream::Stderr => "stderr",
            };
            o.str_field(false, 10, "stream", stream);
        }
        Check::Contains { line, text } => {
            o.str_field(true, 10, "kind", "contains");
            o.num_field(false, 10, "line", *line);
            o.str_field(false, 10, "text", text);
        }
        Check::NotContains { line, text } => {
            o.str_field(true, 10, "kind", "not-contains");
            o.num_field(false, 10, "line", *line);
            o.str_field(false, 10, "text", text);
        }
        Check::Matches { line, regex } => {
            o.str_field(true, 10, "kind", "matches");
            o.num_field(false, 10, "line", *line);
            o.str_field(false, 10, "regex", regex);
        }
        Check::Similar { .. } => {
            // Rare: through a `Value`, as before, for its sorted keys and
            // its number.
            let mut v = serde_json::to_value(c).unwrap_or(serde_json::Value::Null);
            if let Some(map) = v.as_object_mut() {
                map.remove("content_span");
            }
            o.buf.pop();
            o.serde_value(&v, 8)?;
            return Ok(());
        }
    }
    o.close(10);
    Ok(())
}

fn number(buf: &mut Vec<u8>, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[at..]);
}

/// A JSON string as serde_json writes it: `"` and `\` escaped, control
/// characters as `\n`-style or `\u00XX` escapes, everything else as is.
fn string(buf: &mut Vec<u8>, s: &str) {
    const LOW: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let bytes = s.as_bytes();
    buf.reserve(bytes.len() + 2);
    buf.push(b'"');
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Eight bytes at a time while none needs escaping: a byte below
        // 0x20, a `"` or a `\` (the usual zero-byte tests on the word). The
        // last word of a string is padded with bytes that never are: most
        // strings are shorter than eight bytes.
        let mut word = [b'a'; 8];
        let end = bytes.len().min(i + 8);
        word[..end - i].copy_from_slice(&bytes[i..end]);
        let w = u64::from_le_bytes(word);
        let quote = w ^ (LOW * u64::from(b'"'));
        let slash = w ^ (LOW * u64::from(b'\\'));
        let hit = (w.wrapping_sub(LOW * 0x20)
            | quote.wrapping_sub(LOW) & !quote
            | slash.wrapping_sub(LOW) & !slash)
            & !w
            & HIGH;
        // `& !w` drops bytes of 0x80 and up, none of which is escaped;
        // for the quote and backslash tests it is implied by `& !x`.
        if hit == 0 {
            i = end;
            continue;
        }
        // The lowest flagged byte is always a true one (no borrow reaches
        // it from below): the bytes before it are plain.
        i += (hit.trailing_zeros() / 8) as usize;
        let b = bytes[i];
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\t' => b"\\t",
            b'\r' => b"\\r",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => {
                buf.extend_from_slice(&bytes[start..i]);
                const HEX: &[u8; 16] = b"0123456789abcdef";
                buf.extend_from_slice(b"\\u00");
                buf.push(HEX[usize::from(b >> 4)]);
                buf.push(HEX[usize::from(b & 15)]);
                i += 1;
                start = i;
                continue;
            }
            _ => {
                i += 1;
                continue;
            }
        };
        buf.extend_from_slice(&bytes[start..i]);
        buf.extend_from_slice(escape);
        i += 1;
        start = i;
    }
    buf.extend_from_slice(&bytes[start..]);
    buf.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let mut every = String::new();
        for c in (0u8..0x80)
            .map(char::from)
            .chain(['é', '€', '𝄞', '\u{2028}'])
        {
            every.push(c);
            every.push_str("abcdefghij");
            every.push(c);
        }
        for s in [
            "",
            "plain",
            "exactly8",
            "\n",
            "ab\"",
            "seven\\",
            "nine_byt\u{1}",
            "é\t",
            "a\"b\\c\nd\te\u{1}f\u{7f}",
            "\"\"\"\"\"\"\"\"\\",
            &every,
        ] {
            let mut ours = Vec::new();
            string(&mut ours, s);
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                serde_json::to_string(s).unwrap(),
                "{s:?}"
            );
        }
    }

    #[test]
    fn runs_shared_with_a_second_thread_write_the_same_document() {
        let mut text = String::from("---\ntitle: Many\n---\n\nTODO: first\n\n");
        for i in 0..2500 {
            text.push_str(&format!(
                "## Part {i}\n\n```sh {{#s{i} timeout=5s}}\necho \"{i}\"\n```\n\n\
                 <!-- check: contains \"{i}\" -->\n\n```console\n$ echo x\nx\n```\n\nTODO: {i}\n\n"
            ));
        }
        let rb = crate::parse::parse(&crate::source::Source::new("many.md", text)).runbook;
        let (mut alone, mut shared) = (Vec::new(), Vec::new());
        write_shared_from(&rb, &mut alone, usize::MAX).expect("written");
        write_shared_from(&rb, &mut shared, 0).expect("written");
        assert!(alone.len() > 2_000_000, "{} bytes", alone.len());
        assert!(alone == shared, "the shared writing differs");
        // And both are the model as serde reads it back.
        let v: serde_json::Value = serde_json::from_slice(&shared).expect("valid JSON");
        assert_eq!(v["steps"].as_array().map(Vec::len), Some(5000));
        assert_eq!(v["steps"][4998]["id"], "s2499");
        assert_eq!(v["steps"][4999]["id"], "part-2499-2");
        assert_eq!(v["todos"].as_array().map(Vec::len), Some(2501));
    }

    #[test]
    fn numbers_are_written_in_decimal() {
        for n in [0, 7, 10, 99, 1234567, usize::MAX] {
            let mut ours = Vec::new();
            number(&mut ours, n);
            assert_eq!(String::from_utf8(ours).unwrap(), n.to_string());
        }
    }
}
