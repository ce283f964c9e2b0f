//! `runsheet status`: the last run of a runbook step by step, and where
//! `--resume` would start. Reads the record only; the resume state is never shown.

use std::fmt::Write as _;

use serde::Serialize;

use super::terminal::{duration, resume_command, summary_line};
use super::Palette;
use crate::model::Runbook;
use crate::record::{RunRecord, RunStatus, StepStatus};
use crate::runner::{resume_point, Summary};

/// What `status` knows about a runbook.
#[derive(Debug, Serialize)]
pub struct Status<'a> {
    pub runbook: String,
    /// `never-run`, or the last run's status, `died` for a run whose process
    /// ended without finishing its record (killed outright).
    pub state: &'static str,
    pub run: Option<&'a RunRecord>,
    /// The step `--resume` would start at.
    pub resume_from: Option<String>,
    /// Ids of recorded steps whose text changed since the run.
    pub stale: Vec<String>,
}

impl<'a> Status<'a> {
    /// `live`: a process holds the runbook's lock right now.
    pub fn new(
        runbook_path: &str,
        runbook: Option<&Runbook>,
        run: Option<&'a RunRecord>,
        live: bool,
    ) -> Self {
        let state = match run.map(|r| r.status) {
            None => "never-run",
            Some(RunStatus::Running) if live => "running",
            Some(RunStatus::Running) => "died",
            Some(RunStatus::Passed) => "passed",
            Some(RunStatus::Failed) => "failed",
            Some(RunStatus::Interrupted) => "interrupted",
        };
        let stale = match (runbook, run) {
            (Some(book), Some(run)) => run
                .steps
                .iter()
                .filter(|s| {
                    book.step(&s.id)
                        .is_none_or(|step| step.hash != s.command_hash)
                })
                .map(|s| s.id.clone())
                .collect(),
            _ => Vec::new(),
        };
        Status {
            runbook: runbook_path.to_string(),
            state,
            run,
            resume_from: run.and_then(resume_point).map(|s| s.id.clone()),
            stale,
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
        for step in &run.steps {
            let (mark, status) = match step.status {
                StepStatus::Passed => (p.success(super::PASS_MARK), p.success("passed")),
                StepStatus::Failed | StepStatus::TimedOut | StepStatus::Interrupted => {
                    (p.error(super::FAIL_MARK), p.error(step.status.as_str()))
                }
                _ => (p.warning("-"), p.warning(step.status.as_str())),
            };
            let mut line = format!(
                "{mark} {:<28} {status:<12} {:>8}",
                step.id,
                if step.started.is_some() {
                    duration(step.duration_ms)
                } else {
                    String::new()
                }
            );
            if let Some(reason) = &step.reason {
                line.push_str(&format!("  {}", p.dim(reason)));
            }
            if let Some(from) = &step.carried_from {
                line.push_str(&format!("  {}", p.dim(&format!("(carried from {from})"))));
            }
            if self.stale.contains(&step.id) {
                line.push_str(&format!("  {}", p.warning("(changed since)")));
            }
            let _ = writeln!(out, "{}", line.trim_end());
        }
        let _ = writeln!(out, "{}", summary_line(&Summary::of(run)));
        match &self.resume_from {
            Some(id) => {
                let _ = writeln!(out, "`{}` starts at step `{id}`", resume_command(run));
            }
            None => {
                let _ = writeln!(out, "nothing to resume: every step passed");
            }
        }
        out
    }
}
