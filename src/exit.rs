//! The exit codes of SPEC §2.2: shared by every layer (the commands return
//! them, `report` maps a fatal error to one), so they live at the bottom.

use std::process::ExitCode;

/// Exit codes (SPEC §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything selected passed.
    Ok = 0,
    /// A step or a check failed (or timed out); `lint` found errors.
    Failed = 1,
    /// Bad usage or an invalid runbook: nothing was run.
    Usage = 2,
    /// Only TODOs stood in the way, under `--strict`.
    Todos = 3,
    /// Interrupted by Ctrl-C or SIGTERM.
    Interrupted = 130,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}
