//! The run record (SPEC §3): what a run did, step by step, written under the state
//! dir as `<run-id>/run.json` plus one log per step. Written by the run engine,
//! read by `status`, `--resume`, `check` reports and the book.

use std::path::PathBuf;

mod history;
mod log;
mod pids;
mod state;
mod store;
pub use history::{fold_latest, History, Latest};
pub use log::{parse_size, LogWriter, MAX_LOG};
pub use pids::PidsFile;
pub use state::StateError;
pub use store::{new_run_id, LockError, RunDir, RunLock, RunWriter, Store, KEEP_RUNS};

use serde::{Deserialize, Serialize};

/// Bumped when a field changes meaning; readers refuse newer versions.
pub const SCHEMA_VERSION: u32 = 1;

/// `run.json`.
///
/// Fields added after schema 1 have serde defaults, so older records read as
/// before; `Default` is for building records in tests.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunRecord {
    pub schema: u32,
    /// Folder name under the state dir; sortable by start time.
    pub run_id: String,
    /// The runbook path as given, and made absolute (the lock key).
    pub runbook: PathBuf,
    pub runbook_abs: PathBuf,
    /// `Runbook::hash` of the text that ran.
    pub runbook_hash: String,
    pub title: String,
    /// RFC 3339, UTC.
    pub started: String,
    pub finished: Option<String>,
    pub status: RunStatus,
    /// `run` or `check`.
    pub mode: String,
    pub steps: Vec<StepRecord>,
    pub todos: Vec<TodoRecord>,
    /// What the run was asked to run (`--section`, `--step`, `--from`,
    /// `--tag`, `--skip-tag`); `--resume` replays it against the runbook as it
    /// is then. A resumed run keeps the selection of the run it resumed.
    /// `None` in records written before runs kept it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection: Option<SelectionRecord>,
    /// Which saved shell state goes with this record (see `state.json`):
    /// 0 for none (the run's first working directory, nothing changed).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub state_seq: u64,
    /// A fault of runsheet's own that ended the run (a full disk, a state
    /// dir that vanished), in words; the run is `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The selection a run was started with; empty fields select everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectionRecord {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sections: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skip_tags: Vec<String>,
}

impl SelectionRecord {
    pub fn is_everything(&self) -> bool {
        *self == SelectionRecord::default()
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunStatus {
    /// Still running, or the process died (the lock tells which).
    #[default]
    Running,
    Passed,
    Failed,
    Interrupted,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepStatus {
    Passed,
    Failed,
    TimedOut,
    Interrupted,
    Skipped,
    Manual,
    #[default]
    NotRun,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Passed => "passed",
            StepStatus::Failed => "failed",
            StepStatus::TimedOut => "timed-out",
            StepStatus::Interrupted => "interrupted",
            StepStatus::Skipped => "skipped",
            StepStatus::Manual => "manual",
            StepStatus::NotRun => "not-run",
        }
    }
}

/// One step's result.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StepRecord {
    pub id: String,
    pub line: usize,
    pub section: Option<String>,
    /// `Step::hash` of the step that ran: a different hash today means stale.
    pub command_hash: String,
    pub status: StepStatus,
    pub exit_code: Option<i32>,
    pub duration_ms: u64,
    /// RFC 3339, UTC; `None` for steps that never started.
    pub started: Option<String>,
    /// Why it did not pass or was not run, in words ("exit status 2, expected 0").
    pub reason: Option<String>,
    pub checks: Vec<CheckRecord>,
    /// Log file name inside the run folder (combined stdout and stderr, masked).
    pub log: Option<String>,
    /// Set when the result was carried forward from an earlier run by `--resume`.
    pub carried_from: Option<String>,
    /// How many attempts `retry` took.
    pub attempts: u32,
    /// The runbook line of what failed: under bash the line of the command
    /// that failed, for a failed check the check's line, else the step's
    /// opening fence. `None` unless the step failed, timed out or was
    /// interrupted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_line: Option<usize>,
    /// The text of `failed_line` when it is a command of the step (trimmed,
    /// masked), for messages: `failed at deploy.md:53: grep -H retention …`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_command: Option<String>,
    /// Bytes of output the log left out between its head and its tail
    /// (`--max-log`); the log marks the place.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub log_dropped: u64,
    /// Started as a `background` step (`--resume` starts it again when the
    /// steps it resumes stand after it).
    #[serde(default, skip_serializing_if = "is_false")]
    pub background: bool,
    /// The host it ran on over ssh (`host=`); `None`: here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// A fanned-out step (`hosts=`): each host's result, in the order
    /// written. The step passed only when every host passed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<HostRecord>,
}

/// One host's result of a fanned-out step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HostRecord {
    pub host: String,
    pub status: StepStatus,
    pub exit_code: Option<i32>,
    pub duration_ms: u64,
    pub reason: Option<String>,
    /// This host's output alone (the step's `log` has every host's lines,
    /// prefixed with the host).
    pub log: Option<String>,
    /// Carried forward from an earlier run by `--resume` (it passed there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carried_from: Option<String>,
}

impl StepRecord {
    /// A step that has not run (yet), for `reason`.
    pub fn not_run(step: &crate::model::Step, reason: Option<String>) -> Self {
        StepRecord {
            id: step.id.clone(),
            line: step.line,
            section: step.section.clone(),
            command_hash: step.hash.clone(),
            status: StepStatus::NotRun,
            exit_code: None,
            duration_ms: 0,
            started: None,
            reason,
            checks: Vec::new(),
            log: None,
            carried_from: None,
            attempts: 0,
            ..StepRecord::default()
        }
    }

    /// Failed, timed out or interrupted: a result that did not pass.
    pub fn failed(&self) -> bool {
        matches!(
            self.status,
            StepStatus::Failed | StepStatus::TimedOut | StepStatus::Interrupted
        )
    }

    /// `deploy.md:53: grep -H retention …`, or `deploy.md:50` without a
    /// command, for the runbook at `path`; `None` when nothing failed.
    pub fn failed_at(&self, path: &std::path::Path) -> Option<String> {
        let line = self.failed_line?;
        Some(match &self.failed_command {
            Some(command) => format!("{}:{line}: {command}", path.display()),
            None => format!("{}:{line}", path.display()),
        })
    }
}

/// One check's verdict.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckRecord {
    /// `output`, `console`, `contains`, `not-contains`, `matches`, `exit`.
    pub kind: String,
    /// Line of the check in the runbook (the output block's fence, the comment,
    /// the `$` line of a console command).
    pub line: usize,
    pub passed: bool,
    /// One line saying what was checked or what went wrong.
    pub message: String,
    /// Unified diff, expected against actual, when an output did not match.
    pub diff: Option<String>,
    /// What the command printed, normalised and masked, for output checks
    /// (what `check --update` writes into the runbook).
    pub actual: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TodoRecord {
    pub section: Option<String>,
    pub line: usize,
    pub text: String,
}
