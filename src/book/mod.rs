//! (Runbook, RunRecord) → mdBook source; building it; the mdBook preprocessor.
//! Never runs a step: the book is a pure function of the runbooks, their last
//! records and those records' logs.
//!
//! - [`chapter`] splices each step's result into the runbook's own Markdown;
//! - [`overview`] and [`summary`] make the first page and `SUMMARY.md`;
//! - [`write_source`] and [`build_html`] write the mdBook tree and build it
//!   in-process with mdbook-driver;
//! - [`preprocess`] is the same embedding for a team's own `book.toml`.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use crate::model::Runbook;
use crate::record::{RunRecord, Store};
use crate::secrets::Redactor;

mod ansi;
mod chapter;
mod panel;
mod preprocess;
mod site;

pub use preprocess::{preprocess, PreprocessConfig, RunsheetPreprocessor};
pub use site::{build_html, overview, summary, write_source, BookError, MARKER};

/// The stylesheet for badges, panels and callouts (light and dark themes).
pub const CSS: &str = include_str!("runsheet.css");

/// A run record and the logs its steps wrote, keyed by `StepRecord::log`.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub record: RunRecord,
    pub logs: BTreeMap<String, Vec<u8>>,
}

impl Recorded {
    /// The latest run of a runbook in `store`, with the logs of its steps. A log
    /// that cannot be read is left out (the page says so) rather than failing
    /// the whole book.
    pub fn load(store: &Store, runbook_abs: &Path) -> std::io::Result<Option<Recorded>> {
        let Some((record, dir)) = store.latest(runbook_abs)? else {
            return Ok(None);
        };
        let logs = record
            .steps
            .iter()
            .filter_map(|s| s.log.as_ref())
            .filter_map(|name| dir.read_log(name).ok().map(|bytes| (name.clone(), bytes)))
            .collect();
        Ok(Some(Recorded { record, logs }))
    }
}

/// How much of each output to show, and what to add around the prose.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// Lines of output shown under a step; earlier ones are cut with a note.
    pub tail_lines: usize,
    /// Outputs up to this many lines start expanded (failures always do).
    pub open_lines: usize,
    /// Add the "last run" banner under the first heading.
    pub banner: bool,
    /// Add a `# title` heading to a runbook that has no level-1 heading.
    pub title: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            tail_lines: 40,
            open_lines: 25,
            banner: true,
            title: true,
        }
    }
}

/// One runbook of a book, with its text as parsed and its last run.
#[derive(Debug, Clone)]
pub struct Entry {
    pub runbook: Runbook,
    pub text: String,
    pub recorded: Option<Recorded>,
    /// Where its chapter goes, relative to the book's `src/`.
    pub chapter: PathBuf,
}

/// The chapter Markdown for one runbook (see the module docs).
pub fn chapter(
    runbook: &Runbook,
    text: &str,
    recorded: Option<&Recorded>,
    redactor: &Redactor,
    opts: &Options,
) -> String {
    chapter::render(runbook, text, recorded, redactor, opts)
}

/// Masks the secrets of the current environment plus the runbook's own
/// `redact:` names and secret-named `env:` values. The logs were masked when
/// written; this is the second line of defence.
pub fn redactor_for(runbook: &Runbook, env: &[(String, String)]) -> Redactor {
    let vars = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).chain(
        runbook
            .front
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str())),
    );
    Redactor::new(vars, &runbook.front.redact)
}

/// The chapter file for a runbook path: the path itself when it is relative
/// and stays below the current directory (so links between runbooks keep
/// working), else `external/<file name>`.
pub fn chapter_path(runbook: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in runbook.components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            _ => {
                let name = runbook.file_name().unwrap_or(runbook.as_os_str());
                return Path::new("external").join(name).with_extension("md");
            }
        }
    }
    out.with_extension("md")
}

#[cfg(test)]
mod tests;
