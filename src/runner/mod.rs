//! The run engine: a [`Plan`] of a [`Runbook`] → one process per step through
//! `exec`, verdicts through `check` → a [`RunRecord`] kept on disk after every
//! step, with progress sent as events to a [`Reporter`] (STYLE rule 9).
//! Used by `runsheet run` and `runsheet check`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::exec::{ShellState, StreamKind};
use crate::model::{ConsoleCommand, Runbook, Step, Todo};
use crate::plan::{Plan, Why};
use crate::record::{RunRecord, Store, KEEP_RUNS, MAX_LOG};

mod engine;
mod remote;
mod step;

pub use crate::exec::Interrupt;

/// `run` asks a person; `check` never does (SPEC §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `manual` steps wait for "done", `confirm` steps ask (unless `yes`),
    /// `interactive` steps get the terminal.
    Run,
    /// Never prompts: `manual` → [`StepStatus::Manual`](crate::record::StepStatus),
    /// `interactive` → `NotRun`, `confirm` → `NotRun` unless `yes`.
    Check,
}

impl Mode {
    /// The record's `mode` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Run => "run",
            Mode::Check => "check",
        }
    }
}

/// How to run. Build with [`RunOptions::new`] and set fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RunOptions {
    pub mode: Mode,
    /// Answer yes to `confirm` steps.
    pub yes: bool,
    /// Run on past failed steps (a step that was interrupted still ends the run).
    pub keep_going: bool,
    /// Default per-step timeout (`--timeout`); a step's `timeout=` wins, and this
    /// wins over the front matter's `timeout`.
    pub timeout: Option<Duration>,
    /// `--env K=V`, added over the front matter's `env`.
    pub env: BTreeMap<String, String>,
    /// `--redact NAME`, added to the front matter's `redact`.
    pub redact: Vec<String>,
    /// The directory runsheet was started in: the default first cwd, and the
    /// base of a relative runbook path.
    pub start_dir: PathBuf,
    /// The process environment the run starts from (front matter `env` and
    /// `env` above go over it). Default: this process's environment.
    pub base_env: BTreeMap<String, String>,
    /// Set by Ctrl-C / SIGTERM: the current step is stopped, the run ends
    /// `interrupted`.
    pub interrupt: Interrupt,
    /// Runs kept per runbook after this one ([`KEEP_RUNS`]).
    pub keep_runs: usize,
    /// Most bytes of one step's log (`--max-log`, [`MAX_LOG`]): past it
    /// the log keeps its head and tail.
    pub max_log: u64,
    /// A person can answer prompts: `run` asks before a `confirm` step only
    /// then, and otherwise leaves it not run and fails (`--yes` runs it).
    /// Default: standard input is a terminal.
    pub can_ask: bool,
    /// `--host`, `--forks`, `--ssh-config`.
    pub remote: RemoteOptions,
}

/// How remote steps (`host=`, `hosts=`) reach their hosts.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RemoteOptions {
    /// `--host`: every step runs there, fan-out steps included.
    pub host: Option<String>,
    /// Hosts of a fanned-out step run at once (`--forks`, default 5).
    pub forks: usize,
    /// `-F FILE` for every ssh call.
    pub ssh_config: Option<PathBuf>,
}

impl Default for RemoteOptions {
    fn default() -> Self {
        RemoteOptions {
            host: None,
            forks: 5,
            ssh_config: None,
        }
    }
}

impl RunOptions {
    /// Defaults: no timeout, stop at the first failure, this process's cwd and
    /// environment, an interrupt flag nobody sets (call `Interrupt::install()`
    /// in a command to wire it to signals).
    pub fn new(mode: Mode) -> Self {
        RunOptions {
            mode,
            yes: false,
            keep_going: false,
            timeout: None,
            env: BTreeMap::new(),
            redact: Vec::new(),
            start_dir: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
            base_env: std::env::vars().collect(),
            interrupt: Interrupt::new(),
            keep_runs: KEEP_RUNS,
            max_log: MAX_LOG,
            can_ask: std::io::IsTerminal::is_terminal(&std::io::stdin()),
            remote: RemoteOptions::default(),
        }
    }
}

/// Sent when the run begins, after the lock is taken and before any step.
#[non_exhaustive]
pub struct RunStart<'a> {
    pub runbook: &'a Runbook,
    pub plan: &'a Plan,
    /// The record as first written: carried steps, then every planned step as
    /// `not-run`.
    pub record: &'a RunRecord,
    /// The folder of this run's record and logs.
    pub run_dir: &'a Path,
    /// Number of planned steps.
    pub total: usize,
}

/// Sent when a step starts (again for each retry attempt).
#[non_exhaustive]
pub struct StepStart<'a> {
    pub runbook: &'a Runbook,
    pub step: &'a Step,
    /// 1-based position among the planned steps, and their number.
    pub position: usize,
    pub total: usize,
    /// Where it runs (its `cwd=`, else the carried working directory).
    pub cwd: &'a Path,
    pub why: Why,
    /// 1 for the first try; more under `retry=`.
    pub attempt: u32,
}

/// Sent when a step is over, however it went.
#[non_exhaustive]
pub struct StepEnd<'a> {
    pub runbook: &'a Runbook,
    pub step: &'a Step,
    pub position: usize,
    pub total: usize,
    /// Its result as recorded (status, reason, checks with diffs, log name).
    pub record: &'a crate::record::StepRecord,
}

/// A question only [`Mode::Run`] asks. Answer `true` for yes / done.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub enum Question<'a> {
    /// A `confirm` step: run it?
    Confirm(&'a Step),
    /// A `manual` step: show it, wait until the person says it is done.
    Manual(&'a Step),
}

/// Receives the run's progress. Every method has a do-nothing default so a
/// reporter implements only what it shows. Text and bytes handed over are
/// already masked (SPEC §5); the recorded shell state is never handed over.
pub trait Reporter {
    fn run_started(&mut self, _run: &RunStart<'_>) {}
    /// Something to know before steps run (e.g. a step changed since it passed).
    fn warning(&mut self, _message: &str) {}
    /// A missing step, where it stands among the planned steps.
    fn todo(&mut self, _runbook: &Runbook, _todo: &Todo) {}
    fn step_started(&mut self, _step: &StepStart<'_>) {}
    /// A console step's `$` command is about to run (text masked).
    fn command_started(&mut self, _command: &ConsoleCommand, _masked: &str) {}
    /// Output of the running step as it arrives, masked.
    fn output(&mut self, _stream: StreamKind, _bytes: &[u8]) {}
    fn step_finished(&mut self, _step: &StepEnd<'_>) {}
    /// The final record, already saved durably.
    fn run_finished(&mut self, _record: &RunRecord) {}
    /// Only called in [`Mode::Run`]. The default answers no.
    fn ask(&mut self, _question: Question<'_>) -> bool {
        false
    }
}

/// A reporter that shows nothing.
#[derive(Debug, Default)]
pub struct Silent;

impl Reporter for Silent {}

/// Refusals before any step runs (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{runbook} requires {} not found on PATH", list_programs(.missing))]
    Requires {
        runbook: String,
        missing: Vec<String>,
    },
    #[error("{runbook}: cannot check `requires` on `{host}`: {problem}")]
    RemoteRequires {
        runbook: String,
        host: String,
        problem: String,
    },
    #[error(transparent)]
    Locked(#[from] crate::record::LockError),
    #[error("working directory {} ({why}) does not exist", path.display())]
    NoCwd { path: PathBuf, why: &'static str },
    #[error("cannot write the run record under {}: {source}", dir.display())]
    Record {
        dir: PathBuf,
        source: std::io::Error,
    },
}

fn list_programs(missing: &[String]) -> String {
    let names: Vec<String> = missing.iter().map(|m| format!("`{m}`")).collect();
    let noun = if missing.len() == 1 {
        "a program"
    } else {
        "programs"
    };
    format!("{noun} {}", names.join(", "))
}

/// Runs the plan: checks `requires`, takes the runbook's lock in `store`, writes
/// the record after every step (atomically; durably at the end and on failure),
/// stops at the first failure unless `keep_going`, stops background steps when
/// the run ends however it ends, and returns the final record. Its `status` maps
/// to the exit code: `passed` 0, `failed` 1, `interrupted` 130.
///
/// Errors (nothing was run; exit 2): a missing required program
/// ([`RunError::Requires`]), the lock held by a live run ([`RunError::Locked`]),
/// a state dir that cannot be written.
pub fn run(
    runbook: &Runbook,
    plan: &Plan,
    opts: &RunOptions,
    store: &Store,
    reporter: &mut dyn Reporter,
) -> anyhow::Result<RunRecord> {
    engine::run(runbook, plan, opts, store, reporter)
}

/// One line of `--dry-run`: a planned step and where it would run.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DryStep {
    /// Index into `Runbook::steps`.
    pub index: usize,
    pub why: Why,
    /// The program that would run it.
    pub program: String,
    /// Its `cwd=` resolved, else the run's first working directory (a `cd` in
    /// an earlier step is not followed: nothing runs). Empty for a step on a
    /// host that starts in the login directory.
    pub cwd: PathBuf,
    /// The hosts it would run on over ssh; empty: here.
    pub hosts: Vec<String>,
    /// `serial`: one host after another.
    pub serial: bool,
    /// What `run` would do short of running it ("skipped", "manual", ...).
    pub note: Option<&'static str>,
    /// The step's text, secrets masked.
    pub code: String,
}

/// What `--dry-run` shows, computed without running anything or touching
/// the state dir.
pub fn dry_run(runbook: &Runbook, plan: &Plan, opts: &RunOptions) -> Vec<DryStep> {
    let first = plan
        .resume
        .as_ref()
        .and_then(|r| r.state.as_ref().map(|s| s.cwd.clone()))
        .unwrap_or_else(|| step::first_cwd(runbook, opts));
    let mut redactor = engine::redactor(runbook, opts);
    if let Some(state) = plan.resume.as_ref().and_then(|r| r.state.as_ref()) {
        redactor.learn(
            state
                .variables()
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
    }
    plan.entries
        .iter()
        .filter_map(|e| match e {
            crate::plan::Entry::Step { index, why } => Some((*index, *why)),
            crate::plan::Entry::Todo { .. } => None,
        })
        .map(|(index, why)| {
            let step = &runbook.steps[index];
            let (hosts, serial) = match remote::place(runbook, step, opts) {
                remote::Place::Here => (Vec::new(), false),
                remote::Place::Host(host) => (vec![host], false),
                remote::Place::Hosts { hosts, serial } => (hosts, serial),
            };
            let cwd = match hosts.as_slice() {
                [] => step::cwd_override(runbook, step, opts).unwrap_or_else(|| first.clone()),
                // On a host, `cwd=` is a path there, taken as written.
                [host] => step
                    .options
                    .cwd
                    .as_ref()
                    .map_or_else(|| remote_state_cwd(plan, host), PathBuf::from),
                _ => step
                    .options
                    .cwd
                    .as_ref()
                    .map(PathBuf::from)
                    .unwrap_or_default(),
            };
            DryStep {
                index,
                why,
                program: step::program(runbook, step).to_string(),
                cwd,
                hosts,
                serial,
                note: step::dry_note(step, opts),
                code: redactor.redact(&step.code),
            }
        })
        .collect()
}

/// Where `--resume` left `host`'s shell; empty: its login directory.
fn remote_state_cwd(plan: &Plan, host: &str) -> PathBuf {
    plan.resume
        .as_ref()
        .and_then(|r| r.state.as_ref())
        .and_then(|s| s.remote.get(host))
        .map(|s| s.cwd.clone())
        .unwrap_or_default()
}

/// Counts for a summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    pub timed_out: usize,
    pub interrupted: usize,
    pub skipped: usize,
    pub manual: usize,
    pub not_run: usize,
    /// TODOs within the selection, met or not.
    pub missing: usize,
    /// Results carried forward by `--resume` (also counted under their status).
    pub carried: usize,
}

impl Summary {
    pub fn of(record: &RunRecord) -> Self {
        use crate::record::StepStatus as S;
        let mut s = Summary {
            missing: record.todos.len(),
            ..Summary::default()
        };
        for step in &record.steps {
            match step.status {
                S::Passed => s.passed += 1,
                S::Failed => s.failed += 1,
                S::TimedOut => s.timed_out += 1,
                S::Interrupted => s.interrupted += 1,
                S::Skipped => s.skipped += 1,
                S::Manual => s.manual += 1,
                S::NotRun => s.not_run += 1,
            }
            if step.carried_from.is_some() {
                s.carried += 1;
            }
        }
        s
    }
}

/// The first step of `record` that did not pass: where `--resume` starts.
pub fn resume_point(record: &RunRecord) -> Option<&crate::record::StepRecord> {
    use crate::record::StepStatus as S;
    record
        .steps
        .iter()
        .find(|s| !matches!(s.status, S::Passed | S::Skipped | S::Manual))
}

/// A fresh shell state in `cwd` with nothing changed.
fn fresh_state(cwd: PathBuf) -> ShellState {
    ShellState {
        cwd,
        env: BTreeMap::new(),
        shell_script: None,
        remote: BTreeMap::new(),
    }
}
