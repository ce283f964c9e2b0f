//! (check, output) → verdict: the matcher with trycmd's `...` and `[..]`
//! wildcards, the normalisation of SPEC §1.4, and the unified diffs. Pure.

use crate::exec::Outcome;
use crate::model::{ConsoleCommand, Step};
use crate::record::CheckRecord;

/// Verdicts of every check attached to `step` (output blocks and hidden
/// comments) against the step's captured output. An empty list when the step
/// has no checks. Exit status is judged by the run engine, not here.
pub fn step_checks(step: &Step, outcome: &Outcome) -> Vec<CheckRecord> {
    let _ = (step, outcome);
    Vec::new()
}

/// Verdict of one console command's expected output (and `? CODE` exit) against
/// what it printed; `None` when the command's output is unchecked and its exit
/// expectation is the default that passed.
pub fn console_check(command: &ConsoleCommand, outcome: &Outcome) -> Option<CheckRecord> {
    let _ = (command, outcome);
    None
}

/// What `Capture` a step needs for its checks.
pub fn capture_for(step: &Step) -> crate::exec::Capture {
    let _ = step;
    crate::exec::Capture::Combined
}
