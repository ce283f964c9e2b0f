//! The JSON report of `check --json FILE`: a versioned, documented schema
//! (book/src/check.md) kept apart from the run record's internals so CI
//! scripts can rely on it.

use serde::Serialize;

use crate::record::{CheckRecord, StepRecord};

use super::drift::{step_failed, Checked, Tally};

/// Bumped when a field changes meaning; fields may be added without a bump.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Serialize)]
struct Report<'a> {
    schema: u32,
    tool: &'static str,
    version: &'static str,
    /// `passed`, `failed`, `todos` (only TODOs stood in the way, `--strict`)
    /// or `interrupted`.
    result: &'static str,
    exit_code: i32,
    strict: bool,
    totals: Counts,
    runbooks: Vec<Runbook<'a>>,
}

#[derive(Debug, Serialize)]
struct Counts {
    /// In `totals` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    runbooks: Option<usize>,
    passed: usize,
    failed: usize,
    not_run: usize,
    todos: usize,
}

#[derive(Debug, Serialize)]
struct Runbook<'a> {
    path: String,
    title: &'a str,
    /// `passed`, `failed`, or `error` when it could not be run at all.
    result: &'static str,
    /// Why it could not be run (`result: error`).
    error: Option<&'a str>,
    run_id: &'a str,
    duration_ms: u64,
    counts: Counts,
    steps: Vec<Step<'a>>,
    todos: Vec<Todo<'a>>,
}

#[derive(Debug, Serialize)]
struct Step<'a> {
    id: &'a str,
    line: usize,
    section: Option<&'a str>,
    status: &'static str,
    exit_code: Option<i32>,
    duration_ms: u64,
    reason: Option<&'a str>,
    /// The runbook line of what failed: under bash the command that failed,
    /// for a failed check its line, else the step's fence. Null unless the
    /// step failed.
    failed_line: Option<usize>,
    /// That line's text when it is one of the step's commands (masked).
    failed_command: Option<&'a str>,
    /// Bytes of output its log left out (`--max-log`).
    log_dropped: u64,
    checks: Vec<Check<'a>>,
}

#[derive(Debug, Serialize)]
struct Check<'a> {
    kind: &'a str,
    line: usize,
    passed: bool,
    message: &'a str,
    diff: Option<&'a str>,
    /// Only for failed checks: what the command printed, normalised and masked.
    actual: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct Todo<'a> {
    section: Option<&'a str>,
    line: usize,
    text: &'a str,
}

/// The report as pretty-printed JSON.
pub fn render(results: &[Checked], strict: bool, exit_code: i32) -> String {
    let mut totals = Counts::from(Tally::default());
    totals.runbooks = Some(results.len());
    let runbooks: Vec<Runbook> = results.iter().map(runbook).collect();
    for r in &runbooks {
        totals.passed += r.counts.passed;
        totals.failed += r.counts.failed;
        totals.not_run += r.counts.not_run;
        totals.todos += r.counts.todos;
    }
    let result = match exit_code {
        0 => "passed",
        3 => "todos",
        130 => "interrupted",
        _ => "failed",
    };
    let report = Report {
        schema: SCHEMA_VERSION,
        tool: "runsheet",
        version: env!("CARGO_PKG_VERSION"),
        result,
        exit_code,
        strict,
        totals,
        runbooks,
    };
    let mut text = serde_json::to_string_pretty(&report).expect("plain data serialises");
    text.push('\n');
    text
}

impl From<Tally> for Counts {
    fn from(t: Tally) -> Self {
        Counts {
            runbooks: None,
            passed: t.passed,
            failed: t.failed,
            not_run: t.not_run,
            todos: t.todos,
        }
    }
}

fn runbook(checked: &Checked) -> Runbook<'_> {
    let record = &checked.record;
    let failed = record.steps.iter().any(|s| step_failed(s.status));
    let result = match (&checked.error, failed) {
        (Some(_), _) => "error",
        (None, true) => "failed",
        (None, false) => "passed",
    };
    Runbook {
        path: checked.path.display().to_string(),
        title: &record.title,
        result,
        error: checked.error.as_deref(),
        run_id: &record.run_id,
        duration_ms: checked.duration.as_millis() as u64,
        counts: Counts::from(Tally::of(record)),
        steps: record.steps.iter().map(step).collect(),
        todos: record
            .todos
            .iter()
            .map(|t| Todo {
                section: t.section.as_deref(),
                line: t.line,
                text: &t.text,
            })
            .collect(),
    }
}

fn step(s: &StepRecord) -> Step<'_> {
    Step {
        id: &s.id,
        line: s.line,
        section: s.section.as_deref(),
        status: s.status.as_str(),
        exit_code: s.exit_code,
        duration_ms: s.duration_ms,
        reason: s.reason.as_deref(),
        failed_line: s.failed_line.filter(|_| s.failed()),
        failed_command: s.failed_command.as_deref().filter(|_| s.failed()),
        log_dropped: s.log_dropped,
        checks: s.checks.iter().map(check).collect(),
    }
}

fn check(c: &CheckRecord) -> Check<'_> {
    Check {
        kind: &c.kind,
        line: c.line,
        passed: c.passed,
        message: &c.message,
        diff: c.diff.as_deref(),
        actual: if c.passed { None } else { c.actual.as_deref() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::drift::tests::sample;

    #[test]
    fn schema_fields() {
        let v: serde_json::Value = serde_json::from_str(&render(&[sample()], false, 1)).unwrap();
        assert_eq!(v["schema"], 1);
        assert_eq!(v["result"], "failed");
        assert_eq!(v["exit_code"], 1);
        assert_eq!(v["totals"]["runbooks"], 1);
        assert_eq!(v["totals"]["failed"], 1);
        let rb = &v["runbooks"][0];
        assert_eq!(rb["path"], "runbooks/app.md");
        assert_eq!(rb["result"], "failed");
        assert_eq!(rb["duration_ms"], 1234);
        assert_eq!(rb["counts"]["not_run"], 1);
        assert!(rb["counts"].get("runbooks").is_none());
        assert_eq!(rb["steps"][1]["status"], "failed");
        assert_eq!(rb["steps"][1]["checks"][0]["line"], 16);
        assert_eq!(rb["steps"][1]["checks"][0]["actual"], "count: 4\n");
        assert_eq!(rb["steps"][2]["status"], "manual");
        assert!(rb["steps"][0]["failed_line"].is_null());
        assert_eq!(rb["todos"][0]["text"], "Add a smoke test");
    }

    #[test]
    fn a_failed_step_names_the_line_and_command_that_failed() {
        let mut checked = sample();
        let step = &mut checked.record.steps[1];
        step.failed_line = Some(14);
        step.failed_command = Some("grep -H retention conf".into());
        let v: serde_json::Value = serde_json::from_str(&render(&[checked], false, 1)).unwrap();
        let step = &v["runbooks"][0]["steps"][1];
        assert_eq!(step["failed_line"], 14);
        assert_eq!(step["failed_command"], "grep -H retention conf");
    }
}
