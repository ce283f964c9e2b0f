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
use std::path::{Path, PathBuf};

use crate::model::Runbook;
use crate::record::{RunRecord, Store};
use crate::secrets::Redactor;

mod ansi;
mod chapter;
mod links;
mod names;
mod panel;
mod preprocess;
mod site;

pub use names::{chapter_path, chapter_paths};
pub use preprocess::{preprocess, PreprocessConfig, RunsheetPreprocessor};
pub use site::{build_html, overview, summary, write_source, BookError, MARKER};

/// The stylesheet for badges, panels and callouts (light and dark themes).
pub const CSS: &str = include_str!("runsheet.css");

/// What the book shows of a runbook's runs: the latest run's record, whose
/// `steps` hold each step's latest result across runs (a run of one section
/// leaves the other steps' results standing), and the logs those results
/// name, keyed by `StepRecord::log`.
#[derive(Debug, Clone, Default)]
pub struct Recorded {
    pub record: RunRecord,
    pub logs: BTreeMap<String, Log>,
    /// Steps whose result comes from a run before the latest one (or was
    /// carried forward by `--resume`): step id → when that run started.
    pub earlier: BTreeMap<String, String>,
}

/// Bytes of a log the book reads at most: it shows the last lines only, and
/// a 20-minute build log should not be held in memory 200 times over.
pub const LOG_TAIL_BYTES: usize = 256 * 1024;

/// The end of a step's log: what the book can show of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Log {
    /// The last bytes of the log, starting at a line start.
    pub tail: Vec<u8>,
    /// How many lines came before `tail`.
    pub lines_before: usize,
}

impl Log {
    /// A whole log held in memory.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Log {
            tail: bytes.into(),
            lines_before: 0,
        }
    }

    /// Reads the last [`LOG_TAIL_BYTES`] of a log file, counting the lines
    /// before them without keeping them.
    pub fn read(path: &Path) -> std::io::Result<Self> {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = std::fs::File::open(path)?;
        let len = file.metadata()?.len() as usize;
        if len <= LOG_TAIL_BYTES {
            let mut tail = Vec::with_capacity(len);
            file.read_to_end(&mut tail)?;
            return Ok(Log::new(tail));
        }
        let start = len - LOG_TAIL_BYTES;
        let mut lines_before = 0;
        let mut chunk = vec![0u8; 64 * 1024];
        let mut read = 0;
        while read < start {
            let want = chunk.len().min(start - read);
            file.read_exact(&mut chunk[..want])?;
            lines_before += chunk[..want].iter().filter(|&&b| b == b'\n').count();
            read += want;
        }
        file.seek(SeekFrom::Start(start as u64))?;
        let mut tail = Vec::with_capacity(LOG_TAIL_BYTES);
        file.read_to_end(&mut tail)?;
        // Drop the partial line the cut fell into; it counts as cut.
        if let Some(nl) = tail.iter().position(|&b| b == b'\n') {
            tail.drain(..=nl);
            lines_before += 1;
        }
        Ok(Log { tail, lines_before })
    }
}

impl Recorded {
    /// The runs of a runbook in `store`, folded into each step's latest
    /// result, with the logs of those results. A log that cannot be read is
    /// left out (the page says so); a record that cannot be read is skipped
    /// (see [`Recorded::load_with_warnings`]) rather than failing the book.
    pub fn load(store: &Store, runbook_abs: &Path) -> std::io::Result<Option<Recorded>> {
        Ok(Self::load_with_warnings(store, runbook_abs)?.0)
    }

    /// [`Recorded::load`], and a warning for each record it skipped.
    pub fn load_with_warnings(
        store: &Store,
        runbook_abs: &Path,
    ) -> std::io::Result<(Option<Recorded>, Vec<String>)> {
        let history = store.history(runbook_abs)?;
        let warnings = history.unreadable.clone();
        let Some((mut record, _)) = history.last.clone() else {
            return Ok((None, warnings));
        };
        let mut latest = history.latest();
        // The latest run's order first, then steps only earlier runs ran.
        let order: Vec<String> = record
            .steps
            .iter()
            .map(|s| s.id.clone())
            .chain(latest.keys().cloned())
            .collect();
        let mut steps = Vec::with_capacity(latest.len());
        let mut logs = BTreeMap::new();
        let mut earlier = BTreeMap::new();
        for id in order {
            let Some(l) = latest.remove(&id) else {
                continue;
            };
            let mut step = l.step;
            if let Some(path) = &l.log {
                // Keyed by path: two runs' logs may share a file name.
                let key = path.display().to_string();
                if let Ok(log) = Log::read(path) {
                    logs.insert(key.clone(), log);
                }
                step.log = Some(key);
                // A fanned-out step's hosts: their logs sit beside its own.
                for host in &mut step.hosts {
                    let Some(name) = &host.log else { continue };
                    let path = path.with_file_name(name);
                    let key = path.display().to_string();
                    if let Ok(log) = Log::read(&path) {
                        logs.insert(key.clone(), log);
                    }
                    host.log = Some(key);
                }
            }
            if l.earlier {
                earlier.insert(id, l.run_started.unwrap_or_default());
            }
            steps.push(step);
        }
        record.steps = steps;
        let recorded = Recorded {
            record,
            logs,
            earlier,
        };
        Ok((Some(recorded), warnings))
    }
}

/// Something in a runbook the book could not carry (a broken relative link, a
/// file outside the folders given), with its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub path: PathBuf,
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.path.display(), self.line, self.message)
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
    chapter::render(runbook, text, recorded, redactor, opts, &[])
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

#[cfg(test)]
mod tests;
