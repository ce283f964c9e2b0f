//! Markdown → [`Runbook`]: the only user of pulldown-cmark.
//!
//! Front matter first ([`front`]), then one walk over the events ([`walk`]) that
//! opens sections at headings, turns fenced blocks into steps and checks, and
//! notes TODOs and commands left outside fences. Nothing is fatal here: every
//! problem becomes a [`Diagnostic`], and `load` refuses a runbook with errors.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::diag::{Diagnostic, Severity};
use crate::model::Runbook;
use crate::source::{Source, Span};

mod attrs;
mod console;
mod dialect;
mod front;
mod hidden;
mod links;
pub(crate) mod mkdocs;
mod pieces;
pub(crate) mod placeholder;
mod slug;
mod tabs;
mod todo;
mod walk;

#[cfg(test)]
mod conformance;
#[cfg(test)]
mod grammar;
#[cfg(test)]
mod tests;

pub(crate) use front::is_variable_name;
pub use links::{links, LinkKind, LinkRef};
pub use slug::slugify;

/// A runbook and every problem found in it, errors and warnings alike.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub runbook: Runbook,
    /// Sorted by position.
    pub diagnostics: Vec<Diagnostic>,
    /// Paragraphs that are a single inline code span (SPEC §1.6), for `lint --fix`.
    pub unfenced: Vec<UnfencedCommand>,
    /// Front matter keys and the span of each one's line, for messages about
    /// their values (`lint`: a `requires` program is missing).
    pub front_keys: Vec<(String, Span)>,
}

/// A command written as inline code in a paragraph of its own: it will not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnfencedCommand {
    /// The paragraph, from its first character to its last (no line break).
    pub span: Span,
    pub line: usize,
    /// The code span's content.
    pub command: String,
}

/// Parses a runbook. Never panics; every problem becomes a diagnostic.
pub fn parse(source: &Source) -> Parsed {
    parse_keeping(source, true, true, pieces::PIECE)
}

/// `parse` without the step and runbook hashes (left empty): for `lint`,
/// which never shows or records them, and reads thousands of files.
pub fn parse_unhashed(source: &Source) -> Parsed {
    parse_keeping(source, true, false, pieces::PIECE)
}

/// `parse`, cutting a body longer than `piece` bytes into pieces of at least
/// that size (see `pieces`): the tests cut at every place allowed.
#[cfg(test)]
pub(crate) fn parse_in_pieces(source: &Source, piece: usize) -> Parsed {
    parse_keeping(source, true, true, piece)
}

/// `parse`, leaving warnings out when `warnings` is false: `load` drops them,
/// and on a large runbook they held a fifth of the memory.
fn parse_keeping(source: &Source, warnings: bool, hashes: bool, piece: usize) -> Parsed {
    // A large file's line starts and hash are found beside the rest, which
    // leaves a core idle until the walk and then half idle while it parses
    // in pieces. Its model gets a heap of huge pages (`heap`).
    let (walked, front, hash) = std::thread::scope(|scope| {
        let text = &source.text;
        let large = text.len() > pieces::PIECE;
        if large {
            crate::heap::room_for(text.len() * 3);
        }
        let aside = large
            .then(|| {
                std::thread::Builder::new()
                    .spawn_scoped(scope, || {
                        source.index_lines();
                        hashes.then(|| file_hash(text))
                    })
                    .ok()
            })
            .flatten();
        let (walked, front) = walk_body(source, warnings, hashes, piece);
        let hash = aside.and_then(|thread| thread.join().ok()).flatten();
        let hash = match hash {
            Some(hash) => hash,
            None if hashes => file_hash(text),
            None => String::new(),
        };
        (walked, front, hash)
    });
    let title = walked
        .front
        .title
        .clone()
        .or_else(|| walked.sections.first().map(|s| s.title.clone()))
        .unwrap_or_else(|| {
            source
                .path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
    let mut diagnostics = walked.diagnostics;
    diagnostics.sort_by_key(|d| (d.span.start, d.span.end));
    Parsed {
        runbook: Runbook {
            path: source.path.clone(),
            title,
            front: walked.front,
            sections: walked.sections,
            steps: walked.steps,
            todos: walked.todos,
            blocks: walked.blocks,
            hash,
        },
        diagnostics,
        unfenced: walked.unfenced,
        front_keys: front
            .keys
            .into_iter()
            .map(|(k, span)| (k, span.into()))
            .collect(),
    }
}

/// The front matter, and the walk of the body after it.
fn walk_body(
    source: &Source,
    warnings: bool,
    hashes: bool,
    piece: usize,
) -> (walk::Walked, front::Front) {
    let front = front::front_matter(source);
    let body = &source.text[front.body_start..];
    let dialect = dialect::Dialect::detect(body, front.runme, front.skip_prompts);
    let mut walker = walk::Walker::new(source, front.front.clone(), front.body_start, dialect);
    walker.keep_warnings = warnings;
    walker.hashes = hashes;
    walker.piece = piece;
    walker.parse_body = mkdocs::containers(body);
    walker.unshown_tabs = tabs::unshown_items(body)
        .into_iter()
        .map(|r| r.start + front.body_start..r.end + front.body_start)
        .collect();
    for p in front.problems.clone() {
        walker.diag(Severity::Error, p);
    }
    (walker.walk(), front)
}

fn file_hash(text: &str) -> String {
    walk::hex(&Sha256::digest(text.as_bytes()))
}

/// What a line added inside the same container as `offset` must start with:
/// the text before `offset` on its line, list markers turned into spaces and
/// block quote `>` kept. For `   ```sh` in a list item that is three spaces; for
/// `> - x` it is `>   `. `lint --fix` and `check --update` prefix the lines they
/// write inside a list item or a quote with it.
pub fn continuation_prefix(source: &Source, offset: usize) -> String {
    let offset = offset.min(source.text.len());
    let line_start = source.line_start(source.line(offset));
    source.text[line_start..offset]
        .chars()
        .map(|c| {
            if c == '>' || c.is_whitespace() {
                c
            } else {
                ' '
            }
        })
        .collect()
}

/// Why a runbook could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{}", unreadable(path, source))]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The runbook has errors; `diagnostics` holds them (warnings left out).
    #[error("{} is not a valid runbook: {}", file.path.display(), errors(diagnostics.len()))]
    Invalid {
        file: Box<Source>,
        diagnostics: Vec<Diagnostic>,
    },
}

fn unreadable(path: &std::path::Path, source: &std::io::Error) -> String {
    let hint = if source.kind() == std::io::ErrorKind::IsADirectory {
        "; give one runbook file (`check`, `lint` and `book` take folders)"
    } else {
        ""
    };
    format!("cannot read {}: {source}{hint}", path.display())
}

fn errors(n: usize) -> String {
    if n == 1 {
        "1 error".into()
    } else {
        format!("{n} errors")
    }
}

/// Reads and parses a runbook; any error-severity diagnostic refuses it.
pub fn load(path: &Path) -> Result<Runbook, LoadError> {
    let source = Source::read(path).map_err(|source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let parsed = parse_keeping(&source, false, true, pieces::PIECE);
    let errors: Vec<Diagnostic> = parsed
        .diagnostics
        .into_iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    if errors.is_empty() {
        Ok(parsed.runbook)
    } else {
        Err(LoadError::Invalid {
            file: Box::new(source),
            diagnostics: errors,
        })
    }
}
