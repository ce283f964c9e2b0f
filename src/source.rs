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

/// A runbook file as read from disk, with its line starts precomputed so that
/// offset → line is a binary search.
#[derive(Debug, Clone)]
pub struct Source {
    /// The path as the user gave it (shown in messages).
    pub path: PathBuf,
    pub text: String,
    line_starts: Vec<usize>,
    /// (byte offset, chars before it) every [`CHECKPOINT`] bytes, built on the
    /// first column asked for: a column is then counted over at most that
    /// many bytes, however long its line (a 100,000-cell table row).
    checkpoints: OnceLock<Vec<(usize, usize)>>,
}

const CHECKPOINT: usize = 4096;

impl Source {
    pub fn new(path: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        let text = text.into();
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Source {
            path: path.into(),
            text,
            line_starts,
            checkpoints: OnceLock::new(),
        }
    }

    /// Reads a file; invalid UTF-8 is an error rather than a lossy conversion,
    /// because `--fix` and `--update` write the text back.
    pub fn read(path: &Path) -> std::io::Result<Self> {
        let bytes = std::fs::read(path)?;
        let text = String::from_utf8(bytes).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("not valid UTF-8 (byte {})", e.utf8_error().valid_up_to()),
            )
        })?;
        Ok(Source::new(path, text))
    }

    /// 1-based line of a byte offset.
    pub fn line(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&s| s <= offset).max(1)
    }

    /// 1-based line and 1-based column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let line = self.line(offset);
        let start = self.line_starts[line - 1];
        let end = offset.min(self.text.len());
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
        self.line_starts
            .get(line.saturating_sub(1))
            .copied()
            .unwrap_or(self.text.len())
    }

    /// Byte offset where a 1-based line ends, its `\n` left out (a `\r`
    /// before it kept).
    pub fn line_end(&self, line: usize) -> usize {
        match self.line_starts.get(line) {
            Some(&next) => next - 1,
            None => self.text.len(),
        }
    }

    pub fn line_count(&self) -> usize {
        self.line_starts.len()
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
