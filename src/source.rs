//! The runbook's text and the map from byte offsets to lines: every position
//! runsheet reports (diagnostics, `list`, records, the book) goes through here.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// A byte range into a [`Source`]'s text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    pub fn range(self) -> Range<usize> {
        self.start..self.end
    }
}

impl From<Range<usize>> for Span {
    fn from(r: Range<usize>) -> Self {
        Span::new(r.start, r.end)
    }
}

/// How a file ends its lines, so that a rewrite (`lint --fix`,
/// `check --update`) writes the lines it adds the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineEnding {
    Lf,
    CrLf,
    /// Old Mac files: read with each `\r` as a `\n` (the text has no `\r`),
    /// written back with `\r`.
    Cr,
}

/// A runbook file as read from disk, with its line starts found on the first
/// question about lines (or ahead, see `index_lines`) so that offset → line
/// is a binary search. A question about the first few lines is answered by
/// counting, without them.
#[derive(Debug, Clone)]
pub struct Source {
    /// The path as the user gave it (shown in messages).
    pub path: PathBuf,
    pub text: String,
    line_starts: OnceLock<LineStarts>,
    /// (byte offset, chars before it) every [`CHECKPOINT`] bytes, built on the
    /// first column asked for: a column is then counted over at most that
    /// many bytes, however long its line (a 100,000-cell table row).
    checkpoints: OnceLock<Vec<(usize, usize)>>,
    line_ending: LineEnding,
}

const CHECKPOINT: usize = 4096;

impl Source {
    /// A text with `\r` line breaks and no `\n` (CR-only) is read with
    /// `\n` in their place: pulldown-cmark accepts lone `\r`, but spans, lines
    /// and fences here are counted by `\n`.
    pub fn new(path: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        let mut text = text.into();
        let line_ending = if memchr::memmem::find(text.as_bytes(), b"\r\n").is_some() {
            LineEnding::CrLf
        } else if text.contains('\r') && !text.contains('\n') {
            text = text.replace('\r', "\n");
            LineEnding::Cr
        } else {
            LineEnding::Lf
        };
        Source {
            path: path.into(),
            text,
            line_starts: OnceLock::new(),
            checkpoints: OnceLock::new(),
            line_ending,
        }
    }

    /// Reads a file; invalid UTF-8 is an error rather than a lossy conversion,
    /// because `--fix` and `--update` write the text back.
    pub fn read(path: &Path) -> std::io::Result<Self> {
        let bytes = read_bytes(path)?;
        let text = String::from_utf8(bytes).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("not valid UTF-8 (byte {})", e.utf8_error().valid_up_to()),
            )
        })?;
        Ok(Source::new(path, text))
    }

    /// The file's own line ending (CRLF when any line ends so).
    pub fn line_ending(&self) -> LineEnding {
        self.line_ending
    }

    /// `text` (lines ending in `\n`, as runsheet writes them) as this file
    /// writes it: for a rewrite to add lines that look like the file's own.
    pub fn with_own_line_endings(&self, text: &str) -> String {
        match self.line_ending {
            LineEnding::Lf => text.to_string(),
            LineEnding::Cr => text.replace('\n', "\r"),
            LineEnding::CrLf => {
                let mut out = String::with_capacity(text.len() + text.len() / 16);
                let mut prev = '\0';
                for c in text.chars() {
                    if c == '\n' && prev != '\r' {
                        out.push('\r');
                    }
                    out.push(c);
                    prev = c;
                }
                out
            }
        }
    }

    fn line_starts(&self) -> &LineStarts {
        self.line_starts.get_or_init(|| LineStarts::of(&self.text))
    }

    /// Finds the line starts now, for a caller with a core to spare before
    /// the questions come.
    pub fn index_lines(&self) {
        self.line_starts();
    }

    /// 1-based line of a byte offset.
    pub fn line(&self, offset: usize) -> usize {
        match self.line_starts.get() {
            Some(starts) => starts.lines_to(offset).max(1),
            // Counted: the front matter asks about its own first lines, and
            // the index of a large file may be on its way (`index_lines`).
            None if offset < NEAR => {
                1 + newlines(&self.text.as_bytes()[..offset.min(self.text.len())])
            }
            None => self.line_starts().lines_to(offset).max(1),
        }
    }

    /// 1-based line and 1-based column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let line = self.line(offset);
        let end = offset.min(self.text.len());
        // Editors hide a BOM: the first visible character is column 1.
        let bom = if line == 1 && self.text.starts_with('\u{feff}') {
            '\u{feff}'.len_utf8()
        } else {
            0
        };
        let start = (self.line_starts().get(line - 1).unwrap_or(0) + bom).min(end);
        if !self.text.is_char_boundary(end) {
            return (line, 1);
        }
        (line, self.chars_before(end) - self.chars_before(start) + 1)
    }

    /// Characters in the text before a byte offset on a char boundary.
    fn chars_before(&self, offset: usize) -> usize {
        let checkpoints = self.checkpoints.get_or_init(|| {
            let mut points = vec![(0, 0)];
            let mut at = 0;
            while at < self.text.len() {
                let mut next = (at + CHECKPOINT).min(self.text.len());
                while !self.text.is_char_boundary(next) {
                    next += 1;
                }
                let chars = points.last().map_or(0, |p| p.1) + self.text[at..next].chars().count();
                points.push((next, chars));
                at = next;
            }
            points
        });
        let k = checkpoints.partition_point(|p| p.0 <= offset) - 1;
        let (at, chars) = checkpoints[k];
        chars + self.text[at..offset].chars().count()
    }

    /// Byte offset where a 1-based line starts.
    pub fn line_start(&self, line: usize) -> usize {
        if self.line_starts.get().is_none() {
            let near = &self.text.as_bytes()[..NEAR.min(self.text.len())];
            match line.checked_sub(2) {
                None => return 0,
                Some(k) => {
                    if let Some(nl) = memchr::memchr_iter(b'\n', near).nth(k) {
                        return nl + 1;
                    }
                }
            }
        }
        self.line_starts()
            .get(line.saturating_sub(1))
            .unwrap_or(self.text.len())
    }

    /// Byte offset where a 1-based line ends, its `\n` left out (a `\r`
    /// before it kept).
    pub fn line_end(&self, line: usize) -> usize {
        match self.line_starts().get(line) {
            Some(next) => next - 1,
            None => self.text.len(),
        }
    }

    pub fn line_count(&self) -> usize {
        match self.line_starts.get() {
            Some(starts) => starts.len(),
            None => 1 + newlines(self.text.as_bytes()),
        }
    }
}

/// `fs::read`, into a buffer of huge pages when the file is large.
fn read_bytes(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let size = file.metadata().map_or(0, |m| m.len());
    let mut bytes = Vec::new();
    // One more byte, as `fs::read` asks, to see the end without growing.
    let room = usize::try_from(size)
        .unwrap_or(usize::MAX)
        .saturating_add(1);
    bytes
        .try_reserve_exact(room)
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::OutOfMemory))?;
    crate::heap::huge_capacity(&bytes);
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Offsets and lines within this many bytes of the start are found by
/// counting when the index is not built (yet).
const NEAR: usize = 64 * 1024;

fn newlines(bytes: &[u8]) -> usize {
    memchr::memchr_iter(b'\n', bytes).count()
}

/// Where each line starts, in 4 bytes an offset when the text allows: a
/// 10 MB runbook has a million lines.
#[derive(Debug, Clone)]
enum LineStarts {
    Short(Vec<u32>),
    Long(Vec<usize>),
}

impl LineStarts {
    fn of(text: &str) -> LineStarts {
        // memchr's searches: `str`'s showed in the profile of `list`.
        let starts =
            std::iter::once(0).chain(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i + 1));
        match u32::try_from(text.len()) {
            Ok(_) => LineStarts::Short(starts.map(|s| s as u32).collect()),
            Err(_) => LineStarts::Long(starts.collect()),
        }
    }

    fn get(&self, k: usize) -> Option<usize> {
        match self {
            LineStarts::Short(v) => v.get(k).map(|&s| s as usize),
            LineStarts::Long(v) => v.get(k).copied(),
        }
    }

    fn len(&self) -> usize {
        match self {
            LineStarts::Short(v) => v.len(),
            LineStarts::Long(v) => v.len(),
        }
    }

    /// How many lines start at or before `offset`.
    fn lines_to(&self, offset: usize) -> usize {
        match self {
            LineStarts::Short(v) => v.partition_point(|&s| s as usize <= offset),
            LineStarts::Long(v) => v.partition_point(|&s| s <= offset),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_map_to_lines_and_columns() {
        let src = Source::new("x.md", "ab\nçd\n\nx");
        assert_eq!(src.line_col(0), (1, 1));
        assert_eq!(src.line_col(2), (1, 3));
        assert_eq!(src.line_col(3), (2, 1));
        assert_eq!(src.line_col(5), (2, 2));
        assert_eq!(src.line(7), 3);
        assert_eq!(src.line(8), 4);
        assert_eq!(src.line_start(4), 8);
        let bom = Source::new("x.md", "\u{feff}# T\n");
        assert_eq!(bom.line_col(3), (1, 1), "a BOM takes no column");
    }

    /// Lines near the start are counted before the index is built; the
    /// answers are the index's, for offsets and lines on both sides of
    /// `NEAR` and past the end. Each question goes to a source of its own,
    /// whose index no earlier one built.
    #[test]
    fn lines_counted_without_the_index_are_the_index_s() {
        let mut text = String::new();
        for n in 0..(NEAR / 4) {
            text.push_str(&"x".repeat(n % 13));
            text.push('\n');
        }
        assert!(text.len() > NEAR);
        let fresh = || Source::new("x.md", text.as_str());
        let indexed = fresh();
        indexed.index_lines();
        let offsets = (0..200).chain((NEAR - 300..NEAR + 300).step_by(7));
        for offset in offsets.chain([text.len() - 1, text.len(), text.len() + 5]) {
            assert_eq!(
                fresh().line(offset),
                indexed.line(offset),
                "offset {offset}"
            );
        }
        let last = indexed.line_count();
        for line in (0..60).chain(last - 3..last + 3) {
            assert_eq!(
                fresh().line_start(line),
                indexed.line_start(line),
                "line {line}"
            );
        }
        assert_eq!(fresh().line_count(), last);
        let near = fresh();
        near.line(NEAR - 1);
        near.line_start(3);
        assert!(
            near.line_starts.get().is_none(),
            "nothing near asks for the index"
        );
        near.line(NEAR);
        assert!(near.line_starts.get().is_some(), "a far offset builds it");
    }

    #[test]
    fn cr_only_text_is_read_by_lines_and_written_back_with_cr() {
        let src = Source::new("x.md", "# T\r\r```sh\recho\r```\r");
        assert_eq!(src.line_ending(), LineEnding::Cr);
        assert_eq!(src.text, "# T\n\n```sh\necho\n```\n");
        assert_eq!(src.line_count(), 6);
        assert_eq!(
            src.with_own_line_endings(&src.text),
            "# T\r\r```sh\recho\r```\r"
        );
        let crlf = Source::new("x.md", "a\r\nb\n");
        assert_eq!(crlf.line_ending(), LineEnding::CrLf);
        assert_eq!(crlf.with_own_line_endings("x\ny\r\n"), "x\r\ny\r\n");
        let lf = Source::new("x.md", "a\nb\r\tc\n");
        assert_eq!(lf.line_ending(), LineEnding::Lf);
        assert_eq!(lf.text, "a\nb\r\tc\n", "a stray CR in an LF file stays");
    }

    #[test]
    fn columns_count_characters_across_checkpoints() {
        let line = "é".repeat(3 * CHECKPOINT);
        let text = format!("ab\n{line}x\ny");
        let src = Source::new("x.md", text.clone());
        let x = text.find('x').unwrap();
        assert_eq!(src.line_col(x), (2, 3 * CHECKPOINT + 1));
        assert_eq!(src.line_col(x + 2), (3, 1));
        assert_eq!(src.line_col(text.len()), (3, 2));
        assert_eq!(src.line_col(4), (2, 1), "inside a char: the line's start");
    }
}
