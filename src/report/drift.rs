//! The drift report of `runsheet check` (every failed check with its place,
//! step and diff), the summary table, and the coloured unified diff that the
//! live run terminal uses too.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use crate::exec::StreamKind;
use crate::model::{Runbook, Todo};
use crate::record::{CheckRecord, RunRecord, StepRecord, StepStatus};
use crate::runner::{Reporter, RunStart, StepEnd, StepStart};

use super::Palette;

/// Lines of a failed hidden check's output shown under it.
const OUTPUT_TAIL: usize = 10;
/// Lines of one diff shown on the terminal; a diff of a huge output would
/// bury everything else.
const DIFF_LINES_SHOWN: usize = 120;

/// One runbook's result under `check`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Checked {
    /// The runbook's path as shown (relative to where runsheet was started).
    pub path: PathBuf,
    pub record: RunRecord,
    /// Wall time of the whole runbook.
    pub duration: Duration,
    /// The last lines a failed step printed, by step id, for steps that
    /// failed without a failed check to show (masked, normalised).
    pub failure_output: BTreeMap<String, String>,
    /// Why the runbook could not be run at all (a missing required program,
    /// a held lock); its record then has no steps run.
    pub error: Option<String>,
}

impl Checked {
    /// Did anything in this runbook fail?
    pub fn failed(&self) -> bool {
        self.error.is_some() || self.record.steps.iter().any(|s| step_failed(s.status))
    }
}

/// Step and TODO counts of one runbook (or of all of them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub passed: usize,
    pub failed: usize,
    pub not_run: usize,
    pub todos: usize,
}

impl Tally {
    pub fn of(record: &RunRecord) -> Self {
        let mut t = Tally {
            todos: record.todos.len(),
            ..Tally::default()
        };
        for step in &record.steps {
            if step_failed(step.status) {
                t.failed += 1;
            } else if step.status == StepStatus::Passed {
                t.passed += 1;
            } else {
                t.not_run += 1;
            }
        }
        t
    }

    fn add(&mut self, other: Tally) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.not_run += other.not_run;
        self.todos += other.todos;
    }
}

pub fn step_failed(status: StepStatus) -> bool {
    matches!(
        status,
        StepStatus::Failed | StepStatus::TimedOut | StepStatus::Interrupted
    )
}

/// The failed checks of a step; empty when it failed for another reason (its
/// exit status, a timeout).
pub fn failed_checks(step: &StepRecord) -> Vec<&CheckRecord> {
    step.checks.iter().filter(|c| !c.passed).collect()
}

/// Why a failed step failed, in words.
pub fn step_reason(step: &StepRecord) -> String {
    match (&step.reason, step.status) {
        (Some(r), _) => r.clone(),
        (None, StepStatus::TimedOut) => "timed out".into(),
        (None, StepStatus::Interrupted) => "interrupted".into(),
        (None, _) => match step.exit_code {
            Some(code) => format!("exit status {code}"),
            None => "failed".into(),
        },
    }
}

/// A unified diff (as `check::unified_diff` writes it) with removed lines in
/// the `removed` colour, added in `added`, hunk headers as accents; each line
/// prefixed with `indent`.
pub fn render_diff(palette: &Palette, diff: &str, indent: &str) -> String {
    let mut out = String::new();
    let total = diff.lines().count();
    for line in diff.lines().take(DIFF_LINES_SHOWN) {
        let painted = if line.starts_with("---") || line.starts_with("+++") {
            palette.strong(line)
        } else if line.starts_with("@@") {
            palette.accent(line)
        } else if line.starts_with('-') {
            palette.removed(line)
        } else if line.starts_with('+') {
            palette.added(line)
        } else {
            line.to_string()
        };
        let _ = writeln!(out, "{indent}{painted}");
    }
    if total > DIFF_LINES_SHOWN {
        let more = total - DIFF_LINES_SHOWN;
        let note = format!("... {more} more lines of diff (they are in the run record and --json)");
        let _ = writeln!(out, "{indent}{}", palette.dim(&note));
    }
    out
}

/// Every failed step and check (file:line, step, diff) under "Drift", and
/// every TODO under "Missing steps"; an empty string when there is neither.
pub fn drift_report(palette: &Palette, results: &[Checked], strict: bool) -> String {
    let mut drift = String::new();
    let mut todos = String::new();
    for checked in results {
        failures(palette, checked, &mut drift);
        let path = checked.path.display().to_string();
        for todo in &checked.record.todos {
            let label = if strict {
                palette.error("TODO")
            } else {
                palette.warning("TODO")
            };
            let section = todo
                .section
                .as_deref()
                .map(|s| format!(" (section `{s}`)"))
                .unwrap_or_default();
            let _ = writeln!(
                todos,
                "{label} {path}:{}{section}: {}",
                todo.line, todo.text
            );
        }
    }
    let mut out = String::new();
    for (title, body) in [("Drift", drift), ("Missing steps", todos)] {
        if !body.is_empty() {
            let _ = writeln!(out, "\n{}", palette.strong(title));
            out.push_str(&body);
        }
    }
    out
}

fn failures(palette: &Palette, checked: &Checked, out: &mut String) {
    let path = checked.path.display().to_string();
    if let Some(error) = &checked.error {
        let _ = writeln!(out, "{} {path}: not run: {error}", palette.error("✗"));
    }
    for step in checked
        .record
        .steps
        .iter()
        .filter(|s| step_failed(s.status))
    {
        let _ = writeln!(
            out,
            "{} {}:{} step `{}`{}: {}",
            palette.error("✗"),
            path,
            step.line,
            step.id,
            section_label(step),
            step_reason(step)
        );
        if let Some(at) = step
            .failed_command
            .as_ref()
            .and(step.failed_at(&checked.path))
        {
            let _ = writeln!(out, "  failed at {at}");
        }
        let checks = failed_checks(step);
        if checks.is_empty() {
            if let Some(output) = checked.failure_output.get(&step.id) {
                out.push_str(&output_tail(palette, output));
            }
        }
        for check in checks {
            let _ = writeln!(out, "  {}:{} {}", path, check.line, check.message);
            if let Some(diff) = &check.diff {
                out.push_str(&render_diff(palette, diff, "    "));
            } else if let Some(actual) = &check.actual {
                out.push_str(&output_tail(palette, actual));
            }
        }
    }
}

fn section_label(step: &StepRecord) -> String {
    step.section
        .as_deref()
        .map(|s| format!(" in `{s}`"))
        .unwrap_or_default()
}

/// The last lines of an output, dimmed and indented under the failure.
pub fn output_tail(palette: &Palette, actual: &str) -> String {
    let lines: Vec<&str> = actual.lines().collect();
    let mut out = String::new();
    if lines.is_empty() {
        let _ = writeln!(out, "    {}", palette.dim("(no output)"));
        return out;
    }
    let start = lines.len().saturating_sub(OUTPUT_TAIL);
    let head = if start > 0 {
        format!("output (last {OUTPUT_TAIL} of {} lines):", lines.len())
    } else {
        "output:".to_string()
    };
    let _ = writeln!(out, "    {}", palette.dim(&head));
    for line in &lines[start..] {
        let _ = writeln!(out, "    {} {line}", palette.dim("|"));
    }
    out
}

/// Bytes of a running step's output kept to show when it fails.
const TAIL_BYTES: usize = 16 * 1024;

/// The live view of one runbook under `check`: a line per step, TODO and
/// warning. Printed as it happens when `live`, else kept for the caller to
/// print when the runbook is done (so parallel runbooks never interleave).
#[derive(Debug)]
pub struct Progress {
    palette: Palette,
    path: String,
    live: bool,
    /// Live on a terminal: a spinner with the elapsed time while a step runs.
    animate: bool,
    spinner: Option<indicatif::ProgressBar>,
    text: String,
    tail: Vec<u8>,
    /// See [`Checked::failure_output`].
    pub failure_output: BTreeMap<String, String>,
}

impl Progress {
    pub fn new(palette: Palette, path: &std::path::Path, live: bool) -> Self {
        Progress {
            palette,
            path: path.display().to_string(),
            live,
            animate: live && std::io::IsTerminal::is_terminal(&std::io::stdout()),
            spinner: None,
            text: String::new(),
            tail: Vec::new(),
            failure_output: BTreeMap::new(),
        }
    }

    /// What was kept since the last call (nothing when `live`).
    pub fn take(&mut self) -> String {
        std::mem::take(&mut self.text)
    }

    fn line(&mut self, line: String) {
        if let Some(pb) = self.spinner.take() {
            pb.finish_and_clear();
        }
        if self.live {
            say(&format!("{line}\n"));
        } else {
            let _ = writeln!(self.text, "{line}");
        }
    }
}

impl Reporter for Progress {
    fn run_started(&mut self, run: &RunStart<'_>) {
        let steps = match run.total {
            1 => "1 step".to_string(),
            n => format!("{n} steps"),
        };
        self.line(format!(
            "{} {} {}",
            self.palette.strong("check"),
            self.path,
            self.palette.dim(&format!("({steps})"))
        ));
    }

    fn warning(&mut self, message: &str) {
        self.line(format!("  {} {message}", self.palette.warning("warning:")));
    }

    fn todo(&mut self, _runbook: &Runbook, todo: &Todo) {
        self.line(format!(
            "  {} {}:{} {}",
            self.palette.warning("TODO"),
            self.path,
            todo.line,
            todo.text
        ));
    }

    fn step_started(&mut self, step: &StepStart<'_>) {
        self.tail.clear();
        if self.animate && self.spinner.is_none() {
            let pb = indicatif::ProgressBar::with_draw_target(
                None,
                indicatif::ProgressDrawTarget::stdout(),
            );
            pb.set_style(
                indicatif::ProgressStyle::with_template("  {spinner} {msg} {elapsed}")
                    .expect("static template is valid"),
            );
            pb.set_message(step.step.id.clone());
            pb.enable_steady_tick(Duration::from_millis(120));
            self.spinner = Some(pb);
        }
    }

    fn output(&mut self, _stream: StreamKind, bytes: &[u8]) {
        self.tail.extend_from_slice(bytes);
        if self.tail.len() > 2 * TAIL_BYTES {
            self.tail.drain(..self.tail.len() - TAIL_BYTES);
        }
    }

    fn step_finished(&mut self, end: &StepEnd<'_>) {
        let step = end.record;
        let time = self
            .palette
            .dim(&format_duration(Duration::from_millis(step.duration_ms)));
        let line = match step.status {
            StepStatus::Passed => format!("{} {} {time}", self.palette.success("✓"), step.id),
            s if step_failed(s) => {
                if step.checks.iter().all(|c| c.passed) {
                    let output = crate::check::normalise_bytes(&self.tail);
                    self.failure_output.insert(step.id.clone(), output);
                }
                format!(
                    "{} {} {time} {}",
                    self.palette.error("✗"),
                    step.id,
                    step_reason(step)
                )
            }
            s => {
                let why = step
                    .reason
                    .clone()
                    .unwrap_or_else(|| s.as_str().to_string());
                format!(
                    "{} {} {}",
                    self.palette.dim("-"),
                    step.id,
                    self.palette.dim(&why)
                )
            }
        };
        self.line(format!("  {line}"));
    }
}

/// Writes to stdout and flushes. A closed stdout (`runsheet check | head`)
/// is not an error worth a panic: the rest of the text is dropped.
pub fn say(text: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// The summary table: runbook, passed, failed, not run, TODOs, duration; with a
/// total row when more than one runbook was checked.
pub fn summary_table(palette: &Palette, results: &[Checked]) -> String {
    let header = [
        "runbook", "passed", "failed", "not run", "TODOs", "duration",
    ];
    let mut rows: Vec<[String; 6]> = Vec::new();
    let mut total = Tally::default();
    let mut total_time = Duration::ZERO;
    for checked in results {
        let t = Tally::of(&checked.record);
        total.add(t);
        total_time += checked.duration;
        rows.push(row(checked.path.display().to_string(), t, checked.duration));
    }
    if results.len() > 1 {
        rows.push(row("total".into(), total, total_time));
    }
    let mut widths = header.map(|h| h.chars().count());
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let head: Vec<String> = header
        .iter()
        .enumerate()
        .map(|(i, h)| pad(h, widths[i], i == 0))
        .collect();
    let _ = writeln!(out, "{}", palette.strong(head.join("  ").trim_end()));
    for (n, r) in rows.iter().enumerate() {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let text = pad(c, widths[i], i == 0);
                match i {
                    2 if c != "0" => palette.error(&text),
                    4 if c != "0" => palette.warning(&text),
                    _ => text,
                }
            })
            .collect();
        let line = cells.join("  ");
        if results.len() > 1 && n == rows.len() - 1 {
            let _ = writeln!(out, "{}", palette.strong(line.trim_end()));
        } else {
            let _ = writeln!(out, "{}", line.trim_end());
        }
    }
    out
}

fn row(name: String, t: Tally, d: Duration) -> [String; 6] {
    [
        name,
        t.passed.to_string(),
        t.failed.to_string(),
        t.not_run.to_string(),
        t.todos.to_string(),
        format_duration(d),
    ]
}

fn pad(text: &str, width: usize, left: bool) -> String {
    let fill = width.saturating_sub(text.chars().count());
    if left {
        format!("{text}{}", " ".repeat(fill))
    } else {
        format!("{}{text}", " ".repeat(fill))
    }
}

/// `340ms`, `1.2s`, `2m05s`: short and stable enough for a table.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        let s = d.as_secs();
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::record::{RunStatus, TodoRecord};

    pub(crate) fn step(id: &str, line: usize, status: StepStatus) -> StepRecord {
        StepRecord {
            id: id.into(),
            line,
            section: Some("install".into()),
            command_hash: String::new(),
            status,
            exit_code: Some(0),
            duration_ms: 12,
            started: None,
            reason: None,
            checks: Vec::new(),
            log: None,
            carried_from: None,
            attempts: 1,
            ..StepRecord::default()
        }
    }

    /// A record with a passed step, a step failing an output check, a manual
    /// step and a TODO.
    pub(crate) fn sample() -> Checked {
        let mut failed = step("build", 12, StepStatus::Failed);
        failed.reason = Some("1 check failed".into());
        failed.checks = vec![
            CheckRecord {
                kind: "output".into(),
                line: 16,
                passed: false,
                message: "output differs from the expected block".into(),
                diff: Some("--- expected\n+++ actual\n@@ -1 +1 @@\n-count: 3\n+count: 4\n".into()),
                actual: Some("count: 4\n".into()),
            },
            CheckRecord {
                kind: "contains".into(),
                line: 20,
                passed: false,
                message: "output does not contain \"done\"".into(),
                diff: None,
                actual: Some("count: 4\n".into()),
            },
        ];
        let mut manual = step("deploy", 30, StepStatus::Manual);
        manual.reason = Some("manual step".into());
        manual.exit_code = None;
        Checked {
            path: PathBuf::from("runbooks/app.md"),
            duration: Duration::from_millis(1234),
            failure_output: BTreeMap::new(),
            error: None,
            record: RunRecord {
                schema: 1,
                run_id: "r1".into(),
                runbook: "runbooks/app.md".into(),
                runbook_abs: "/x/runbooks/app.md".into(),
                runbook_hash: String::new(),
                title: "App".into(),
                started: "2026-01-01T00:00:00Z".into(),
                finished: None,
                status: RunStatus::Failed,
                mode: "check".into(),
                steps: vec![step("fetch", 5, StepStatus::Passed), failed, manual],
                todos: vec![TodoRecord {
                    section: Some("deploy".into()),
                    line: 40,
                    text: "Add a smoke test".into(),
                }],
                ..RunRecord::default()
            },
        }
    }

    #[test]
    fn drift_report_names_each_failed_check_with_its_place_and_diff() {
        let text = drift_report(&Palette::plain(), &[sample()], false);
        assert_eq!(
            text,
            "\nDrift\n\
             ✗ runbooks/app.md:12 step `build` in `install`: 1 check failed\n\
             \x20 runbooks/app.md:16 output differs from the expected block\n\
             \x20   --- expected\n\
             \x20   +++ actual\n\
             \x20   @@ -1 +1 @@\n\
             \x20   -count: 3\n\
             \x20   +count: 4\n\
             \x20 runbooks/app.md:20 output does not contain \"done\"\n\
             \x20   output:\n\
             \x20   | count: 4\n\
             \n\
             Missing steps\n\
             TODO runbooks/app.md:40 (section `deploy`): Add a smoke test\n"
        );
    }

    #[test]
    fn summary_table_counts_steps() {
        let mut second = sample();
        second.path = "runbooks/b.md".into();
        second.record.steps.truncate(1);
        second.record.todos.clear();
        let text = summary_table(&Palette::plain(), &[sample(), second]);
        assert_eq!(
            text,
            "runbook          passed  failed  not run  TODOs  duration\n\
             runbooks/app.md       1       1        1      1      1.2s\n\
             runbooks/b.md         1       0        0      0      1.2s\n\
             total                 2       1        1      1      2.5s\n"
        );
    }

    #[test]
    fn diff_colours_follow_the_palette() {
        let diff = "--- expected\n+++ actual\n@@ -1 +1 @@\n-a\n+b\n c\n";
        assert_eq!(render_diff(&Palette::plain(), diff, ""), diff);
        let coloured = render_diff(&Palette { enabled: true }, diff, "");
        assert!(coloured.contains("\x1b[31m-a\x1b[0m"), "{coloured:?}");
        assert!(coloured.contains("\x1b[32m+b\x1b[0m"), "{coloured:?}");
    }

    #[test]
    fn long_diffs_are_cut_on_the_terminal() {
        let diff: String = (0..200).map(|i| format!("+{i}\n")).collect();
        let shown = render_diff(&Palette::plain(), &diff, "");
        assert_eq!(shown.lines().count(), DIFF_LINES_SHOWN + 1);
        assert!(
            shown.ends_with("... 80 more lines of diff (they are in the run record and --json)\n")
        );
    }

    #[test]
    fn durations() {
        assert_eq!(format_duration(Duration::from_millis(340)), "340ms");
        assert_eq!(format_duration(Duration::from_millis(1250)), "1.2s");
        assert_eq!(format_duration(Duration::from_secs(125)), "2m05s");
    }
}
