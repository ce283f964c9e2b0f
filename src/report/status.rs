//! `runsheet status`: the last run of a runbook, each step's latest result
//! across runs (a run of one section leaves the others' results standing),
//! and where `--resume` would start. Reads the records only; the resume state
//! is never shown.

use std::fmt::Write as _;

use serde::Serialize;

use super::terminal::{duration, resume_command, summary_line};
use super::Palette;
use crate::model::Runbook;
use crate::record::{History, Latest, RunRecord, RunStatus, StepRecord};
use crate::runner::{resume_point, Summary};

/// What `status` knows about a runbook.
#[derive(Debug, Serialize)]
pub struct Status<'a> {
    pub runbook: String,
    /// `never-run`, or the last run's status, `died` for a run whose process
    /// ended without finishing its record (killed outright).
    pub state: &'static str,
    /// The last run's record, as written.
    pub run: Option<&'a RunRecord>,
    /// Each step's latest result across runs, in the runbook's order (steps
    /// of today's runbook never run anywhere are `never-run`).
    pub steps: Vec<StepLine>,
    /// The step `--resume` would start at.
    pub resume_from: Option<String>,
    /// Ids of recorded steps whose text changed since the run.
    pub stale: Vec<String>,
    /// Records that could not be read and were skipped.
    pub warnings: Vec<String>,
}

/// One step's latest result.
#[derive(Debug, Serialize)]
pub struct StepLine {
    pub id: String,
    /// A step status, or `never-run`.
    pub status: &'static str,
    pub reason: Option<String>,
    pub duration_ms: u64,
    /// When the step started (RFC 3339).
    pub started: Option<String>,
    /// The run that ran it.
    pub run_id: Option<String>,
    /// It comes from a run before the last one (or was carried forward).
    pub earlier: bool,
    /// When that run started.
    pub run_started: Option<String>,
    /// Where it failed (see `StepRecord::failed_line`).
    pub failed_line: Option<usize>,
    pub failed_command: Option<String>,
    /// Its text changed since that result.
    pub stale: bool,
    /// The host it ran on over ssh; absent: here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// A fanned-out step's result on each host.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<crate::record::HostRecord>,
}

impl<'a> Status<'a> {
    /// `live`: a process holds the runbook's lock right now. `runbook` is
    /// `None` when today's file does not parse (the records still show).
    pub fn new(
        runbook_path: &str,
        runbook: Option<&Runbook>,
        history: &'a History,
        live: bool,
    ) -> Self {
        let run = history.last.as_ref().map(|(r, _)| r);
        let state = match run.map(|r| r.status) {
            None => "never-run",
            Some(RunStatus::Running) if live => "running",
            Some(RunStatus::Running) => "died",
            Some(RunStatus::Passed) => "passed",
            Some(RunStatus::Failed) => "failed",
            Some(RunStatus::Interrupted) => "interrupted",
        };
        let mut latest = history.latest();
        let ids: Vec<String> = match runbook {
            Some(book) => book.steps.iter().map(|s| s.id.clone()).collect(),
            None => run
                .map(|r| r.steps.iter().map(|s| s.id.clone()).collect())
                .unwrap_or_default(),
        };
        let changed = |r: &StepRecord| {
            runbook.is_some_and(|book| {
                book.step(&r.id)
                    .is_none_or(|step| step.hash != r.command_hash)
            })
        };
        let steps: Vec<StepLine> = ids
            .iter()
            .map(|id| match latest.remove(id) {
                Some(l) => line(l, changed),
                None => never_run(id),
            })
            .collect();
        let stale = match run {
            Some(run) => run
                .steps
                .iter()
                .filter(|s| changed(s))
                .map(|s| s.id.clone())
                .collect(),
            None => Vec::new(),
        };
        Status {
            runbook: runbook_path.to_string(),
            state,
            run,
            steps,
            resume_from: run.and_then(resume_point).map(|s| s.id.clone()),
            stale,
            warnings: history.unreadable.clone(),
        }
    }

    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).expect("status serialises") + "\n"
    }

    pub fn text(&self, p: &Palette) -> String {
        let mut out = String::new();
        let Some(run) = self.run else {
            let _ = writeln!(out, "{}: never run", self.runbook);
            return out;
        };
        let word = match self.state {
            "passed" => p.success("passed"),
            "running" => p.accent("running now"),
            "died" => p.error("interrupted (runsheet stopped without finishing the record)"),
            other => p.error(other),
        };
        let _ = writeln!(
            out,
            "{} — {}: last run {} started {}{}",
            p.strong(&run.title),
            self.runbook,
            p.dim(&run.run_id),
            run.started,
            run.finished
                .as_deref()
                .map(|f| format!(", finished {f}"))
                .unwrap_or_default()
        );
        let _ = writeln!(out, "result: {word}");
        if let Some(error) = &run.error {
            let _ = writeln!(out, "{} {error}", p.error("error:"));
        }
        let _ = writeln!(out, "last run: {}", summary_line(&Summary::of(run)));
        let _ = writeln!(out, "latest result of each step:");
        for step in &self.steps {
            out.push_str(&self.step_text(p, step));
        }
        match &self.resume_from {
            Some(id) => {
                let _ = writeln!(out, "`{}` starts at step `{id}`", resume_command(run));
            }
            None => {
                let _ = writeln!(out, "nothing to resume: every step of the last run passed");
            }
        }
        out
    }

    fn step_text(&self, p: &Palette, step: &StepLine) -> String {
        let (mark, status) = match step.status {
            "passed" => (p.success(super::PASS_MARK), p.success("passed")),
            "failed" | "timed-out" | "interrupted" => {
                (p.error(super::FAIL_MARK), p.error(step.status))
            }
            other => (p.warning("-"), p.warning(other)),
        };
        let id = match (&step.host, step.hosts.len()) {
            (Some(host), _) => format!("{} (on {host})", step.id),
            (None, 0) => step.id.clone(),
            (None, n) => format!("{} (on {n} hosts)", step.id),
        };
        let mut line = format!(
            "{mark} {:<28} {status:<12} {:>8}",
            id,
            if step.started.is_some() {
                duration(step.duration_ms)
            } else {
                String::new()
            }
        );
        if let Some(reason) = &step.reason {
            line.push_str(&format!("  {}", p.dim(reason)));
        }
        if step.earlier {
            let when = step.run_started.as_deref().map_or_else(String::new, when);
            line.push_str(&format!(
                "  {}",
                p.dim(&format!("(from the run of {when})"))
            ));
        }
        if step.stale {
            line.push_str(&format!("  {}", p.warning("(changed since)")));
        }
        let mut text = format!("{}\n", line.trim_end());
        for host in &step.hosts {
            let why = host.reason.as_deref().unwrap_or("");
            let _ = writeln!(
                text,
                "    {:<26} {:<12} {why}",
                host.host,
                host.status.as_str()
            );
        }
        if let (Some(n), Some(command)) = (step.failed_line, &step.failed_command) {
            let _ = writeln!(text, "    failed at {}:{n}: {command}", self.runbook);
        }
        text
    }
}

fn line(l: Latest, changed: impl Fn(&StepRecord) -> bool) -> StepLine {
    let stale = changed(&l.step);
    let failed = l.step.failed();
    let s = l.step;
    StepLine {
        status: s.status.as_str(),
        stale,
        earlier: l.earlier,
        run_id: Some(l.run_id),
        run_started: l.run_started,
        failed_line: s.failed_line.filter(|_| failed),
        failed_command: s.failed_command.filter(|_| failed),
        id: s.id,
        reason: s.reason,
        duration_ms: s.duration_ms,
        started: s.started,
        host: s.host,
        hosts: s.hosts,
    }
}

fn never_run(id: &str) -> StepLine {
    StepLine {
        id: id.to_string(),
        status: "never-run",
        reason: None,
        duration_ms: 0,
        started: None,
        run_id: None,
        earlier: false,
        run_started: None,
        failed_line: None,
        failed_command: None,
        stale: false,
        host: None,
        hosts: Vec::new(),
    }
}

/// `2026-11-25T09:22:10Z` → `2026-11-25 09:22 UTC`; anything else as is.
fn when(rfc3339: &str) -> String {
    match humantime::parse_rfc3339_weak(rfc3339) {
        Ok(t) => {
            let s = humantime::format_rfc3339_seconds(t).to_string();
            format!("{} {} UTC", &s[..10], &s[11..16])
        }
        Err(_) => rfc3339.to_string(),
    }
}
