//! The only place that spawns processes: one step's script in its shell, in its
//! own process group, with the shell state carried from the step before, output
//! streamed (masked) to a sink, timeouts and interrupts stopping the whole group.
//!
//! This file fixes the interface the run engine (`crate::runner`) codes against.
//!
//! - [`run_step`] runs one step to the end; [`spawn_background`] starts a
//!   `background` step, stopped by [`Background::stop`] or on drop.
//! - [`Interrupt`] is the Ctrl-C / SIGTERM / SIGHUP / SIGQUIT flag a running
//!   step polls.
//! - [`contain`] makes runsheet the keeper of every process its steps start
//!   (`reap`: a subreaper; `watchdog`: stops the steps if runsheet is killed);
//!   a [`Tracker`] per run names and stops what its steps leave behind
//!   (`track`), and [`stop_left_behind`] what a killed run left running.
//! - `shell`: how each shell starts and how its state is saved and restored
//!   (user guide: "What carries between steps"); `inert`: bash scripts that
//!   cannot change the state skip saving it; `words`: reading `export -p`.
//! - `step`: the supervising loop (pipes polled, timeout, interrupt, stopping
//!   the group); `output`: streaming masking and the capped capture;
//!   `group`: signalling a process group; `family`: everything a step
//!   started, in its group or not; `procs`: reading /proc; `terminal`:
//!   interactive steps.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Shell state carried from step to step (SPEC §2), and recorded for `--resume`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShellState {
    /// Working directory after the step.
    pub cwd: PathBuf,
    /// Exported variables the steps changed, relative to the environment the run
    /// started with: `Some(value)` set, `None` unset. Only the delta is kept, so
    /// resuming applies it over *today's* environment.
    pub env: BTreeMap<String, Option<String>>,
    /// Under bash: a script restoring shell variables, functions, aliases and
    /// options, sourced at the next step's start. `None` for other shells.
    pub shell_script: Option<String>,
    /// The state of each host remote steps ran on (`host=`), by host name,
    /// carried apart from the local one. Its `cwd` is on that host; empty
    /// until a step there saved one (the login directory).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub remote: BTreeMap<String, ShellState>,
}

/// What to capture in memory besides streaming to the sink (for checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Capture {
    /// Nothing: the step has no checks.
    #[default]
    None,
    /// stdout and stderr interleaved in arrival order (one pipe).
    Combined,
    /// Combined plus stdout and stderr apart (two pipes; order between them is
    /// arrival order as read).
    Split,
}

/// Receives a step's output as it arrives, already masked.
pub trait OutputSink {
    fn output(&mut self, stream: StreamKind, bytes: &[u8]);
    /// The step printed `::add-mask::VALUE`: VALUE is masked in its output
    /// from then on (the line itself is never output), and the run should
    /// mask it everywhere too.
    fn mask(&mut self, _value: &str) {}
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    Stdout,
    Stderr,
    /// Both on one pipe.
    Combined,
}

/// One process to run.
pub struct StepRun<'a> {
    /// The shell or interpreter (`bash`, `sh`, `zsh`, `python3`, ...).
    pub program: &'a str,
    /// The script text (for a console step: one `$` command).
    pub script: &'a str,
    /// Shell state to start from (cwd, env delta, bash state).
    pub state: &'a ShellState,
    /// Environment the run started with, plus front matter `env` and `--env`.
    pub base_env: &'a BTreeMap<String, String>,
    /// Overrides `state.cwd` for this step only (`cwd=` attribute), absolute.
    pub cwd_override: Option<PathBuf>,
    pub timeout: Option<Duration>,
    /// Attach the terminal's stdin (and keep the step in the foreground).
    pub interactive: bool,
    pub capture: Capture,
    /// Masks secrets in everything sent to the sink and captured.
    pub redactor: &'a crate::secrets::Redactor,
    /// The run and step it belongs to, so that what it leaves behind is
    /// stopped and named when the run ends. `None`: it is still contained
    /// (timeouts and interrupts stop all it started), but named by nobody.
    pub owner: Option<Owner<'a>>,
}

/// How the process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ending {
    Exited,
    TimedOut,
    Interrupted,
    /// Killed by a signal runsheet did not send.
    Signaled,
}

/// What one process did.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub ending: Ending,
    /// Exit status; for a signal, 128 + the signal number as a shell reports it.
    pub exit_code: Option<i32>,
    pub duration: Duration,
    /// Captured output (masked), per `Capture`; each capped in memory, with
    /// `truncated` set when the cap cut the start off.
    pub combined: Vec<u8>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub truncated: bool,
    /// State after the step; equal to the input state when the step did not
    /// finish normally.
    pub state: ShellState,
    /// Under bash, the line of the script (1-based, as `LINENO` counts it)
    /// whose failing command ended the step; `None` for other shells, and
    /// when the step passed or ended otherwise (`exit 3`, a signal).
    pub failed_line: Option<usize>,
}

mod background;
mod bash;
mod family;
mod group;
mod inert;
mod interrupt;
mod output;
mod procs;
mod reap;
mod remote;
mod shell;
mod step;
mod terminal;
mod track;
mod watchdog;
mod words;
mod zygote;

pub use background::{spawn_background, Background};
pub use interrupt::Interrupt;
pub use procs::ProcessId;
pub use reap::contain;
pub use remote::{missing_on, run_remote, Remote, Ssh};
pub use step::run_step;
pub use track::{stop_left_behind, Footprint, Leftover, OnStart, Owner, TrackedGroup, Tracker};

/// How long stopped processes get between SIGTERM and SIGKILL.
pub const GRACE: Duration = Duration::from_secs(5);

/// Most bytes kept in memory for each of `Outcome`'s captured buffers; the
/// start is cut off past this (and `truncated` set), so memory stays bounded
/// whatever a step prints.
pub const CAPTURE_CAP: usize = 16 * 1024 * 1024;

#[cfg(test)]
mod tests;
