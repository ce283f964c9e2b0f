//! The JSON report of `check --json FILE` (and `report merge --json FILE`): a
//! versioned, documented schema (book/src/check.md) kept apart from the run
//! record's internals so CI scripts can rely on it. It is also read back:
//! `report merge` rebuilds the results of shard reports from it, and
//! `check --timings` takes the runbooks' durations from it, so it carries
//! everything the summary, the drift report and JUnit show.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::record::{CheckRecord, RunRecord, RunStatus, StepRecord, StepStatus, TodoRecord};

use super::drift::{step_failed, Checked, Tally};

/// Bumped when a field changes meaning; fields may be added without a bump.
pub const SCHEMA_VERSION: u32 = 1;

/// The whole report.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Report {
    pub schema: u32,
    pub tool: String,
    pub version: String,
    /// `passed`, `failed`, `todos` (only TODOs stood in the way, `--strict`)
    /// or `interrupted`.
    pub result: String,
    pub exit_code: i32,
    pub strict: bool,
    /// Only in the report of `check --shard K/N`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardInfo>,
    pub totals: Counts,
    pub runbooks: Vec<Runbook>,
}

/// Which share of a sharded check a report holds, and of what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ShardInfo {
    /// K of `--shard K/N`, counted from 1.
    pub index: usize,
    /// N of `--shard K/N`.
    pub total: usize,
    /// `durations` (balanced by a timings file) or `count`.
    pub balanced_by: String,
    /// Every runbook the check found, in the order an unsharded check
    /// reports them: the set all N shards were cut from.
    pub runbooks: Vec<String>,
}

impl ShardInfo {
    pub fn new(index: usize, total: usize, balanced_by: &str, runbooks: Vec<String>) -> Self {
        ShardInfo {
            index,
            total,
            balanced_by: balanced_by.into(),
            runbooks,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Counts {
    /// In `totals` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runbooks: Option<usize>,
    pub passed: usize,
    pub failed: usize,
    pub not_run: usize,
    pub todos: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Runbook {
    pub path: String,
    pub title: String,
    /// `passed`, `failed`, or `error` when it could not be run at all.
    pub result: String,
    /// Why it could not be run (`result: error`).
    pub error: Option<String>,
    /// The run was stopped by Ctrl-C or SIGTERM.
    #[serde(default)]
    pub interrupted: bool,
    pub run_id: String,
    pub duration_ms: u64,
    pub counts: Counts,
    pub steps: Vec<Step>,
    pub todos: Vec<Todo>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Step {
    pub id: String,
    pub line: usize,
    pub section: Option<String>,
    pub status: StepStatus,
    pub exit_code: Option<i32>,
    pub duration_ms: u64,
    pub reason: Option<String>,
    /// A failed step with no failed check to show: the last lines it
    /// printed (normalised, masked), as the drift report shows them.
    #[serde(default)]
    pub output: Option<String>,
    /// The runbook line of what failed: under bash the command that failed,
    /// for a failed check its line, else the step's fence. Null unless the
    /// step failed.
    #[serde(default)]
    pub failed_line: Option<usize>,
    /// That line's text when it is one of the step's commands (masked).
    #[serde(default)]
    pub failed_command: Option<String>,
    /// Bytes of output its log left out (`--max-log`).
    #[serde(default)]
    pub log_dropped: u64,
    pub checks: Vec<Check>,
    /// The host it ran on over ssh (`host=`); absent: here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// A fanned-out step's result on each host (`hosts=`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<crate::record::HostRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Check {
    pub kind: String,
    pub line: usize,
    pub passed: bool,
    pub message: String,
    pub diff: Option<String>,
    /// Only for failed checks: what the command printed, normalised and masked.
    pub actual: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Todo {
    pub section: Option<String>,
    pub line: usize,
    pub text: String,
}

/// The report as pretty-printed JSON; `shard` when it is one shard's.
pub fn render(
    results: &[Checked],
    strict: bool,
    exit_code: i32,
    shard: Option<&ShardInfo>,
) -> String {
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
        tool: "runsheet".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        result: result.into(),
        exit_code,
        strict,
        shard: shard.cloned(),
        totals,
        runbooks,
    };
    let mut text = serde_json::to_string_pretty(&report).expect("plain data serialises");
    text.push('\n');
    text
}

/// Why a file could not be read as a report.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("not valid JSON ({0})")]
    Json(serde_json::Error),
    #[error("not a report of `runsheet check --json` (no `\"tool\": \"runsheet\"` and `schema`)")]
    Foreign,
    #[error(
        "a report of schema {found}, which this runsheet ({}) cannot read: it reads schema {SCHEMA_VERSION}; \
         use the runsheet version that wrote it",
        env!("CARGO_PKG_VERSION")
    )]
    Schema { found: u64 },
    #[error("not a valid runsheet report: {0}")]
    Shape(serde_json::Error),
}

/// Reads a report written by `check --json` or `report merge --json`.
/// Fields added by later versions of the same schema are ignored.
pub fn read(text: &str) -> Result<Report, ReadError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(ReadError::Json)?;
    let schema = value.get("schema").and_then(serde_json::Value::as_u64);
    let ours = value.get("tool").and_then(serde_json::Value::as_str) == Some("runsheet");
    match schema {
        Some(found) if ours && found != u64::from(SCHEMA_VERSION) => {
            Err(ReadError::Schema { found })
        }
        Some(_) if ours => serde_json::from_value(value).map_err(ReadError::Shape),
        _ => Err(ReadError::Foreign),
    }
}

impl Runbook {
    /// The result this entry was written from, as far as reports need it:
    /// what the summary, the drift report, JUnit and this report show.
    /// What no report shows (hashes, start times, logs) is left empty.
    pub fn into_checked(self) -> Checked {
        let failed = self.error.is_some() || self.steps.iter().any(|s| step_failed(s.status));
        let status = match (self.interrupted, failed) {
            (true, _) => RunStatus::Interrupted,
            (false, true) => RunStatus::Failed,
            (false, false) => RunStatus::Passed,
        };
        let mut failure_output = BTreeMap::new();
        let steps = self
            .steps
            .into_iter()
            .map(|s| {
                if let Some(output) = s.output {
                    failure_output.insert(s.id.clone(), output);
                }
                StepRecord {
                    id: s.id,
                    line: s.line,
                    section: s.section,
                    command_hash: String::new(),
                    status: s.status,
                    exit_code: s.exit_code,
                    duration_ms: s.duration_ms,
                    started: None,
                    reason: s.reason,
                    checks: s.checks.into_iter().map(check_record).collect(),
                    failed_line: s.failed_line,
                    failed_command: s.failed_command,
                    log_dropped: s.log_dropped,
                    host: s.host,
                    hosts: s.hosts,
                    ..StepRecord::default()
                }
            })
            .collect();
        let path = PathBuf::from(&self.path);
        Checked {
            record: RunRecord {
                schema: crate::record::SCHEMA_VERSION,
                run_id: self.run_id,
                runbook: path.clone(),
                runbook_abs: path.clone(),
                runbook_hash: String::new(),
                title: self.title,
                started: String::new(),
                finished: None,
                status,
                mode: "check".into(),
                steps,
                todos: self
                    .todos
                    .into_iter()
                    .map(|t| TodoRecord {
                        section: t.section,
                        line: t.line,
                        text: t.text,
                    })
                    .collect(),
                ..RunRecord::default()
            },
            path,
            duration: Duration::from_millis(self.duration_ms),
            failure_output,
            error: self.error,
        }
    }
}

fn check_record(c: Check) -> CheckRecord {
    CheckRecord {
        kind: c.kind,
        line: c.line,
        passed: c.passed,
        message: c.message,
        diff: c.diff,
        actual: c.actual,
    }
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

fn runbook(checked: &Checked) -> Runbook {
    let record = &checked.record;
    let failed = record.steps.iter().any(|s| step_failed(s.status));
    let result = match (&checked.error, failed) {
        (Some(_), _) => "error",
        (None, true) => "failed",
        (None, false) => "passed",
    };
    Runbook {
        path: checked.path.display().to_string(),
        title: record.title.clone(),
        result: result.into(),
        error: checked.error.clone(),
        interrupted: record.status == RunStatus::Interrupted,
        run_id: record.run_id.clone(),
        duration_ms: checked.duration.as_millis() as u64,
        counts: Counts::from(Tally::of(record)),
        steps: record
            .steps
            .iter()
            .map(|s| step(s, checked.failure_output.get(&s.id)))
            .collect(),
        todos: record
            .todos
            .iter()
            .map(|t| Todo {
                section: t.section.clone(),
                line: t.line,
                text: t.text.clone(),
            })
            .collect(),
    }
}

fn step(s: &StepRecord, output: Option<&String>) -> Step {
    // Only what the drift report would show: a failed step's output when no
    // failed check stands in for it.
    let shown = step_failed(s.status) && s.checks.iter().all(|c| c.passed);
    Step {
        id: s.id.clone(),
        line: s.line,
        section: s.section.clone(),
        status: s.status,
        exit_code: s.exit_code,
        duration_ms: s.duration_ms,
        reason: s.reason.clone(),
        output: output.filter(|_| shown).cloned(),
        failed_line: s.failed_line.filter(|_| s.failed()),
        failed_command: s.failed_command.clone().filter(|_| s.failed()),
        log_dropped: s.log_dropped,
        checks: s.checks.iter().map(check).collect(),
        host: s.host.clone(),
        hosts: s.hosts.clone(),
    }
}

fn check(c: &CheckRecord) -> Check {
    Check {
        kind: c.kind.clone(),
        line: c.line,
        passed: c.passed,
        message: c.message.clone(),
        diff: c.diff.clone(),
        actual: if c.passed { None } else { c.actual.clone() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::drift::tests::sample;

    #[test]
    fn schema_fields() {
        let v: serde_json::Value =
            serde_json::from_str(&render(&[sample()], false, 1, None)).unwrap();
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
        assert_eq!(rb["interrupted"], false);
        assert!(v.get("shard").is_none(), "only a shard's report says so");
    }

    /// A failed step without a failed check, an error, an interrupted run:
    /// everything the reports show survives the trip through JSON.
    fn varied() -> Vec<Checked> {
        let mut a = sample();
        a.record.steps[0].status = StepStatus::TimedOut;
        a.record.steps[0].reason = None;
        a.failure_output
            .insert("fetch".into(), "line 1\nline 2\n".into());
        // Output kept for a step whose failed check stands in for it is
        // not shown, so not written.
        a.failure_output.insert("build".into(), "hidden\n".into());
        let mut b = sample();
        b.path = "runbooks/b.md".into();
        b.error = Some("`x` is not installed".into());
        b.record.status = RunStatus::Interrupted;
        vec![a, b]
    }

    #[test]
    fn reads_back_what_it_wrote() {
        let results = varied();
        let shard = ShardInfo::new(2, 4, "count", vec!["runbooks/app.md".into()]);
        let text = render(&results, true, 130, Some(&shard));
        let report = read(&text).expect("reads back");
        assert_eq!(report.shard, Some(shard.clone()));
        assert!(report.strict);
        let again: Vec<Checked> = report
            .runbooks
            .into_iter()
            .map(Runbook::into_checked)
            .collect();
        assert_eq!(again[0].failure_output.len(), 1);
        assert_eq!(again[0].failure_output["fetch"], "line 1\nline 2\n");
        assert_eq!(again[1].record.status, RunStatus::Interrupted);
        assert_eq!(render(&again, true, 130, Some(&shard)), text);
        let plain = crate::report::Palette::plain();
        assert_eq!(
            crate::report::drift::drift_report(&plain, &again, true),
            crate::report::drift::drift_report(&plain, &results, true)
        );
        assert_eq!(
            crate::report::junit::render(&again, true),
            crate::report::junit::render(&results, true)
        );
    }

    #[test]
    fn reading_names_what_is_wrong() {
        let msg = |text: &str| read(text).unwrap_err().to_string();
        assert!(
            msg("{").starts_with("not valid JSON (EOF while parsing"),
            "{}",
            msg("{")
        );
        assert_eq!(
            msg(r#"{"runbook": "a.md", "steps": []}"#),
            "not a report of `runsheet check --json` (no `\"tool\": \"runsheet\"` and `schema`)"
        );
        assert!(msg(r#"{"tool": "runsheet", "schema": 2}"#)
            .starts_with("a report of schema 2, which this runsheet"));
        assert!(msg(r#"{"tool": "runsheet", "schema": 1}"#)
            .starts_with("not a valid runsheet report: missing field"));
        let mut v: serde_json::Value =
            serde_json::from_str(&render(&[sample()], false, 1, None)).unwrap();
        v["runbooks"][0]["steps"][0]["status"] = "exploded".into();
        assert!(msg(&v.to_string()).contains("unknown variant `exploded`"));
    }

    #[test]
    fn reports_of_older_runsheets_read_without_the_added_fields() {
        let mut v: serde_json::Value =
            serde_json::from_str(&render(&varied(), false, 1, None)).unwrap();
        for rb in v["runbooks"].as_array_mut().unwrap() {
            rb.as_object_mut().unwrap().remove("interrupted");
            for s in rb["steps"].as_array_mut().unwrap() {
                s.as_object_mut().unwrap().remove("output");
            }
        }
        let report = read(&v.to_string()).expect("an older report reads");
        assert!(!report.runbooks[1].interrupted);
        assert!(report.runbooks[0].steps[0].output.is_none());
    }

    #[test]
    fn a_failed_step_names_the_line_and_command_that_failed() {
        let mut checked = sample();
        let step = &mut checked.record.steps[1];
        step.failed_line = Some(14);
        step.failed_command = Some("grep -H retention conf".into());
        let v: serde_json::Value =
            serde_json::from_str(&render(&[checked], false, 1, None)).unwrap();
        let step = &v["runbooks"][0]["steps"][1];
        assert_eq!(step["failed_line"], 14);
        assert_eq!(step["failed_command"], "grep -H retention conf");
    }
}
