//! The run record (SPEC §3): what a run did, step by step, written under the state
//! dir as `<run-id>/run.json` plus one log per step. Written by the run engine,
//! read by `status`, `--resume`, `check` reports and the book.

use std::path::PathBuf;

mod pids;
mod store;
pub use pids::PidsFile;
pub use store::{new_run_id, LockError, RunDir, RunLock, Store, KEEP_RUNS};

use serde::{Deserialize, Serialize};

/// Bumped when a field changes meaning; readers refuse newer versions.
pub const SCHEMA_VERSION: u32 = 1;

/// `run.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunStatus {
    /// Still running, or the process died (the lock tells which).
    Running,
    Passed,
    Failed,
    Interrupted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepStatus {
    Passed,
    Failed,
    TimedOut,
    Interrupted,
    Skipped,
    Manual,
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
#[derive(Debug, Clone, Serialize, Deserialize)]
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
        }
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
