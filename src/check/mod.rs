//! (check, output) → verdict: the matcher with trycmd's `...` and `[..]`
//! wildcards, the normalisation of SPEC §1.4, and the unified diffs. Pure.
//!
//! Actual output is normalised toward the expected pattern before it is diffed
//! (see [`pattern`]), so a diff shows only real mismatches and the `actual`
//! kept in each [`CheckRecord`] is what `check --update` writes back.

mod normalize;
mod pattern;
mod resemble;

pub use normalize::{normalise, normalise_bytes};
pub use pattern::{align, line_matches, Aligned};
pub use resemble::{expand, similarity, KIND_REGEX, KIND_SCORE};

use crate::exec::{Capture, Ending, Outcome};
use crate::model::{Check, ConsoleCommand, ExitExpect, MatchMode, Step, StepKind, Stream};
use crate::record::CheckRecord;

/// Lines of context around each change in a diff.
const DIFF_CONTEXT: usize = 3;
/// A diff keeps this many lines, then says how many more differ: the record,
/// the terminal and the book all carry it, and a check on a 200,000-line
/// output must not make a 20 MB record.
pub const MAX_DIFF_LINES: usize = 1000;
/// How long the diff algorithm may look for the smallest diff before it
/// settles for a coarser one (Myers is quadratic on very different texts).
const DIFF_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);
/// Outputs up to this many lines get a diff even for `contains`/`regex`.
const SHORT_OUTPUT: usize = 40;

/// Verdicts of every check attached to `step` (output blocks and hidden
/// comments) against the step's captured output. An empty list when the step
/// has no checks. Exit status is judged by the run engine, not here.
pub fn step_checks(step: &Step, outcome: &Outcome) -> Vec<CheckRecord> {
    step.checks
        .iter()
        .map(|check| judge(check, outcome))
        .collect()
}

/// Verdict of one console command's expected output (and `? CODE` exit) against
/// what it printed; `None` when the command's output is unchecked and its exit
/// expectation is the default that passed.
pub fn console_check(command: &ConsoleCommand, outcome: &Outcome) -> Option<CheckRecord> {
    let default_exit = ExitExpect::default();
    let exit = command.exit.as_ref().unwrap_or(&default_exit);
    let exit_problem = exit_problem(exit, outcome);
    if command.expected.is_none() && command.exit.is_none() && exit_problem.is_none() {
        return None;
    }
    let mut record = CheckRecord {
        kind: "console".into(),
        line: command.line,
        passed: true,
        message: format!(
            "`{}` printed what the transcript shows",
            first_line(&command.command)
        ),
        diff: None,
        actual: None,
    };
    let mut problems = Vec::new();
    if let Some(expected) = &command.expected {
        let verdict = exact(expected, &normalise_bytes(&outcome.combined));
        if !verdict.matched {
            problems.push(truncation_note(
                "output differs from the transcript",
                outcome,
            ));
            record.diff = Some(verdict.diff);
        }
        record.actual = Some(verdict.actual);
    } else {
        record.message = format!("`{}` exited as expected", first_line(&command.command));
    }
    if let Some(problem) = exit_problem {
        problems.push(problem);
    }
    if !problems.is_empty() {
        record.passed = false;
        record.message = format!(
            "`{}`: {}",
            first_line(&command.command),
            problems.join("; ")
        );
    }
    Some(record)
}

/// What `Capture` a step needs for its checks.
pub fn capture_for(step: &Step) -> Capture {
    let split = step
        .checks
        .iter()
        .any(|c| matches!(c, Check::Output { stream, .. } if *stream != Stream::Both));
    let console_checked = match &step.kind {
        StepKind::Console { commands, .. } => commands.iter().any(|c| c.expected.is_some()),
        _ => false,
    };
    if split {
        Capture::Split
    } else if console_checked || !step.checks.is_empty() {
        Capture::Combined
    } else {
        Capture::None
    }
}

/// A unified diff of normalised texts, `expected` against `actual`, or `None`
/// when they are equal. Plain text; `report::drift` colours it.
pub fn unified_diff(expected: &str, actual: &str) -> Option<String> {
    if expected == actual {
        return None;
    }
    let text = bounded_diff(expected, actual, ("expected", "actual"));
    if text.is_empty() {
        // Equal lines, different bytes (only possible for unnormalised input).
        return Some("--- expected\n+++ actual\n(the texts differ only in line endings)\n".into());
    }
    Some(text)
}

/// A unified diff with the given headers, found within [`DIFF_TIMEOUT`] and
/// cut after [`MAX_DIFF_LINES`] lines with a last line `... N more lines
/// differ`; empty when the lines are equal.
pub(crate) fn bounded_diff(expected: &str, actual: &str, headers: (&str, &str)) -> String {
    let diff = similar::TextDiff::configure()
        .algorithm(similar::Algorithm::Patience)
        .timeout(DIFF_TIMEOUT)
        .diff_lines(expected, actual);
    let text = diff
        .unified_diff()
        .context_radius(DIFF_CONTEXT)
        .missing_newline_hint(false)
        .header(headers.0, headers.1)
        .to_string();
    cap_lines(text, MAX_DIFF_LINES)
}

/// The first `max` lines of a diff and, when there were more, a line saying
/// how many more differ (lines that are `+` or `-`, context not counted).
fn cap_lines(mut text: String, max: usize) -> String {
    let Some((cut, _)) = text.match_indices('\n').nth(max.saturating_sub(1)) else {
        return text;
    };
    let rest = &text[cut + 1..];
    if rest.is_empty() {
        return text;
    }
    let more = rest
        .lines()
        .filter(|l| l.starts_with(['+', '-']) && !l.starts_with("+++") && !l.starts_with("---"))
        .count();
    text.truncate(cut + 1);
    text.push_str(&format!("... {more} more lines differ\n"));
    text
}

/// A diff for a `contains` or `regex` block only when the output is short:
/// against a long output every line would differ, and the drift report shows
/// the output's last lines instead.
fn short_diff(expected: &str, actual: &str) -> Option<String> {
    if actual.lines().count() <= SHORT_OUTPUT {
        unified_diff(expected, actual)
    } else {
        None
    }
}

/// An exact match's verdict: the diff and the actual text normalised toward
/// the pattern.
struct Exact {
    matched: bool,
    diff: String,
    actual: String,
}

fn exact(expected: &str, actual: &str) -> Exact {
    let expected = normalise(expected);
    let aligned = align(&expected, actual);
    let diff = if aligned.matched {
        String::new()
    } else {
        unified_diff(&expected, &aligned.actual).unwrap_or_default()
    };
    Exact {
        matched: aligned.matched,
        diff,
        actual: aligned.actual,
    }
}

fn judge(check: &Check, outcome: &Outcome) -> CheckRecord {
    match check {
        Check::Output {
            line,
            expected,
            mode,
            stream,
            ..
        } => judge_output(*line, expected, *mode, *stream, outcome),
        Check::Contains { line, text } => {
            let out = normalise_bytes(&outcome.combined);
            let passed = out.contains(text.as_str());
            hidden(*line, "contains", passed, &out, || {
                if passed {
                    format!("output contains {text:?}")
                } else {
                    format!("output does not contain {text:?}")
                }
            })
        }
        Check::NotContains { line, text } => {
            let out = normalise_bytes(&outcome.combined);
            let passed = !out.contains(text.as_str());
            hidden(*line, "not-contains", passed, &out, || {
                if passed {
                    format!("output does not contain {text:?}")
                } else {
                    format!("output contains {text:?}, which it must not")
                }
            })
        }
        Check::Similar {
            line,
            expected,
            want,
            json,
            ..
        } => resemble::judge(*line, expected, want, *json, outcome),
        Check::Matches { line, regex } => {
            let out = normalise_bytes(&outcome.combined);
            match compile(regex) {
                Ok(re) => {
                    let passed = re.is_match(&out);
                    hidden(*line, "matches", passed, &out, || {
                        if passed {
                            format!("output matches /{regex}/")
                        } else {
                            format!("output does not match /{regex}/")
                        }
                    })
                }
                Err(e) => hidden(*line, "matches", false, &out, || {
                    format!("invalid regex /{regex}/: {e}")
                }),
            }
        }
    }
}

fn judge_output(
    line: usize,
    expected: &str,
    mode: MatchMode,
    stream: Stream,
    outcome: &Outcome,
) -> CheckRecord {
    let (bytes, what) = match stream {
        Stream::Both => (&outcome.combined, "output"),
        Stream::Stdout => (&outcome.stdout, "stdout"),
        Stream::Stderr => (&outcome.stderr, "stderr"),
    };
    let actual = normalise_bytes(bytes);
    let (passed, message, diff, actual) = match mode {
        MatchMode::Exact => {
            let v = exact(expected, &actual);
            let message = if v.matched {
                format!("{what} matches the expected block")
            } else {
                format!("{what} differs from the expected block")
            };
            (v.matched, message, Some(v.diff), v.actual)
        }
        MatchMode::Contains => {
            let wanted = normalise(expected);
            let passed = actual.contains(wanted.trim_end_matches('\n'));
            let message = if passed {
                format!("{what} contains the expected block")
            } else {
                format!("{what} does not contain the expected block")
            };
            (passed, message, short_diff(&wanted, &actual), actual)
        }
        MatchMode::Regex => {
            let source = normalise(expected);
            let source = source.trim_end_matches('\n');
            match compile(source) {
                Ok(re) if re.is_match(&actual) => (
                    true,
                    format!("{what} matches the expected regex"),
                    None,
                    actual,
                ),
                Ok(_) => (
                    false,
                    format!("{what} does not match the expected regex"),
                    short_diff(&normalise(expected), &actual),
                    actual,
                ),
                Err(e) => (
                    false,
                    format!("invalid regex in the expected block: {e}"),
                    None,
                    actual,
                ),
            }
        }
    };
    let message = if passed {
        message
    } else {
        truncation_note(&message, outcome)
    };
    CheckRecord {
        kind: "output".into(),
        line,
        passed,
        message,
        diff: if passed {
            None
        } else {
            diff.filter(|d| !d.is_empty())
        },
        actual: Some(actual),
    }
}

/// A hidden check's record; the output is kept only on failure, where the
/// drift report shows it.
fn hidden(
    line: usize,
    kind: &str,
    passed: bool,
    output: &str,
    message: impl FnOnce() -> String,
) -> CheckRecord {
    CheckRecord {
        kind: kind.into(),
        line,
        passed,
        message: message(),
        diff: None,
        actual: (!passed).then(|| output.to_string()),
    }
}

/// Regexes match across the normalised output with `^`/`$` at line ends.
fn compile(source: &str) -> Result<regex::Regex, regex::Error> {
    regex::RegexBuilder::new(source).multi_line(true).build()
}

fn exit_problem(expected: &ExitExpect, outcome: &Outcome) -> Option<String> {
    match (outcome.ending, outcome.exit_code) {
        (Ending::TimedOut, _) => Some("timed out".into()),
        (Ending::Interrupted, _) => Some("interrupted".into()),
        (_, Some(code)) if expected.accepts(code) => None,
        (_, Some(code)) => Some(format!("exit status {code}, expected {expected}")),
        (_, None) => Some(format!("no exit status, expected {expected}")),
    }
}

fn truncation_note(message: &str, outcome: &Outcome) -> String {
    if outcome.truncated {
        format!("{message} (only the end of a long output was kept)")
    } else {
        message.to_string()
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

#[cfg(test)]
mod tests;
