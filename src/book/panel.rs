//! The HTML runsheet adds to a chapter: the panel under each step (status
//! badge, duration, time, output, failed checks), the "Missing step" callout
//! and the run banner at the top. Every piece is one or more lines of raw HTML
//! with no blank line inside, so Markdown treats it as a single HTML block, and
//! newlines inside `<pre>` are written as `&#10;` for the same reason.
//!
//! Each piece carries the `tex2jax_ignore mathjax_ignore` classes: a book with
//! MathJax on must not typeset a `$…$` or `\(…\)` that a command printed.

use std::fmt::Write;
use std::time::Duration;

use crate::model::{Runbook, Step, Todo};
use crate::record::{CheckRecord, RunRecord, RunStatus, StepRecord, StepStatus};
use crate::secrets::Redactor;

use super::ansi::{escape, inline_code, to_html, visible_line};
use super::{Log, Options, Recorded};

/// Classes that keep MathJax (mdBook's `mathjax-support`) off runsheet's HTML.
const NO_MATH: &str = "tex2jax_ignore mathjax_ignore";

/// A failed check's diff shows its first and last lines, as the terminal
/// shows its first: a check on a huge output must not make a huge page.
const DIFF_HEAD_LINES: usize = 80;
const DIFF_TAIL_LINES: usize = 20;
/// Characters of one diff line shown; the rest is cut with a note.
const DIFF_LINE_CHARS: usize = 2000;

/// What the book says about a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Badge {
    Passed,
    Failed,
    TimedOut,
    Interrupted,
    Skipped,
    Manual,
    NotRun,
    /// No record of this step at all.
    NeverRun,
    /// Recorded, but the step's text changed since.
    Stale,
}

impl Badge {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Badge::Passed => "passed",
            Badge::Failed => "failed",
            Badge::TimedOut => "timed out",
            Badge::Interrupted => "interrupted",
            Badge::Skipped => "skipped",
            Badge::Manual => "manual",
            Badge::NotRun => "not run",
            Badge::NeverRun => "never run",
            Badge::Stale => "stale",
        }
    }

    fn class(self) -> &'static str {
        match self {
            Badge::Passed => "passed",
            Badge::Failed | Badge::TimedOut | Badge::Interrupted => "failed",
            Badge::Stale => "stale",
            Badge::Skipped | Badge::Manual | Badge::NotRun | Badge::NeverRun => "idle",
        }
    }

    fn icon(self) -> &'static str {
        match self {
            Badge::Passed => "✔",
            Badge::Failed | Badge::TimedOut | Badge::Interrupted => "✘",
            Badge::Stale => "↻",
            Badge::Skipped | Badge::NotRun | Badge::NeverRun => "○",
            Badge::Manual => "☐",
        }
    }

    fn of(status: StepStatus) -> Badge {
        match status {
            StepStatus::Passed => Badge::Passed,
            StepStatus::Failed => Badge::Failed,
            StepStatus::TimedOut => Badge::TimedOut,
            StepStatus::Interrupted => Badge::Interrupted,
            StepStatus::Skipped => Badge::Skipped,
            StepStatus::Manual => Badge::Manual,
            StepStatus::NotRun => Badge::NotRun,
        }
    }

    pub(crate) fn html(self) -> String {
        format!(
            "<span class=\"runsheet-badge runsheet-badge-{}\">{} {}</span>",
            self.class(),
            self.icon(),
            self.label()
        )
    }
}

/// A step joined to its record by id (never by line).
pub(crate) fn step_record<'a>(
    step: &Step,
    recorded: Option<&'a Recorded>,
) -> Option<&'a StepRecord> {
    recorded?.record.steps.iter().find(|r| r.id == step.id)
}

pub(crate) fn badge(step: &Step, record: Option<&StepRecord>) -> Badge {
    match record {
        None => Badge::NeverRun,
        Some(r) if r.command_hash != step.hash => Badge::Stale,
        Some(r) => Badge::of(r.status),
    }
}

/// The panel under a step.
pub(crate) fn step_panel(
    step: &Step,
    recorded: Option<&Recorded>,
    redactor: &Redactor,
    opts: &Options,
) -> String {
    let record = step_record(step, recorded);
    let badge = badge(step, record);
    let id = escape(&step.id);
    let mut html = format!(
        "<div class=\"runsheet-step runsheet-step-{} {NO_MATH}\" id=\"runsheet-{id}\">\n",
        badge.class()
    );
    html.push_str("<div class=\"runsheet-step-head\">");
    html.push_str(&badge.html());
    let _ = write!(html, "<code class=\"runsheet-step-id\">{id}</code>");
    if let Some(r) = record.filter(|r| badge != Badge::Stale && !r.checks.is_empty()) {
        let passed = r.checks.iter().filter(|c| c.passed).count();
        if passed == r.checks.len() {
            let _ = write!(
                html,
                "<span class=\"runsheet-step-checks\">✔ {passed} check{} passed</span>",
                if passed == 1 { "" } else { "s" }
            );
        }
    }
    if let Some(r) = record.filter(|r| r.started.is_some()) {
        let mut when = Vec::new();
        if badge != Badge::Stale {
            when.push(format_duration(Duration::from_millis(r.duration_ms)));
        }
        if let Some(started) = &r.started {
            when.push(format_time(started));
        }
        let _ = write!(
            html,
            "<span class=\"runsheet-step-when\">{}</span>",
            escape(&when.join(" · "))
        );
    }
    html.push_str("</div>\n");
    match (badge, record) {
        (Badge::Stale, Some(_)) => html.push_str(
            "<div class=\"runsheet-note\">This step changed after its last run, so the output \
             recorded then is not shown. Run the runbook again to see what it prints now.</div>\n",
        ),
        (Badge::NeverRun, _) => {}
        (Badge::Manual, Some(r)) if r.reason.is_none() => html.push_str(
            "<div class=\"runsheet-note\">A person does this step by hand; runsheet does not run it.</div>\n",
        ),
        (_, Some(r)) => {
            recorded_details(&mut html, r, recorded, badge, redactor, opts);
            if badge.class() == "failed" {
                failed_line(&mut html, step, r, redactor);
            }
        }
        (_, None) => {}
    }
    html.push_str("</div>\n");
    html
}

fn recorded_details(
    html: &mut String,
    r: &StepRecord,
    recorded: Option<&Recorded>,
    badge: Badge,
    redactor: &Redactor,
    opts: &Options,
) {
    if let Some(reason) = &r.reason {
        let _ = writeln!(
            html,
            "<div class=\"runsheet-note\">{}</div>",
            inline_code(&redactor.redact(reason))
        );
    }
    if let Some(started) = recorded.and_then(|rec| rec.earlier.get(&r.id)) {
        // Not the latest run's own result: a later run left this step alone
        // (a run of another section, a resume that started after it).
        let _ = writeln!(
            html,
            "<div class=\"runsheet-note runsheet-earlier\">From the run of {}.</div>",
            escape(&format_time(started))
        );
    }
    if r.attempts > 1 {
        let _ = writeln!(
            html,
            "<div class=\"runsheet-note\">Took {} attempts.</div>",
            r.attempts
        );
    }
    for check in r.checks.iter().filter(|c| !c.passed) {
        failed_check(html, check, redactor);
    }
    if let Some(host) = &r.host {
        let _ = writeln!(
            html,
            "<div class=\"runsheet-note runsheet-host\">Ran on <code>{}</code>.</div>",
            escape(host)
        );
    }
    if !r.hosts.is_empty() {
        hosts_output(html, r, recorded, badge, redactor, opts);
        return;
    }
    let log = r
        .log
        .as_ref()
        .and_then(|name| recorded.and_then(|rec| rec.logs.get(name)));
    match log {
        Some(log) => output(html, log, badge, redactor, opts),
        None if r.started.is_some() && r.log.is_some() => {
            html.push_str("<div class=\"runsheet-note\">The log of this step is missing.</div>\n")
        }
        None => {}
    }
}

/// A fanned-out step: one panel per host, its result and its own output.
fn hosts_output(
    html: &mut String,
    r: &StepRecord,
    recorded: Option<&Recorded>,
    badge: Badge,
    redactor: &Redactor,
    opts: &Options,
) {
    for host in &r.hosts {
        let status = host.status.as_str();
        let why = host
            .reason
            .as_deref()
            .map(|why| format!(": {}", inline_code(&redactor.redact(why))))
            .unwrap_or_default();
        let _ = writeln!(
            html,
            "<div class=\"runsheet-host runsheet-host-{status}\"><div class=\"runsheet-note\">On <code>{}</code>: {status}{why}</div>",
            escape(&host.host)
        );
        let log = host
            .log
            .as_ref()
            .and_then(|name| recorded.and_then(|rec| rec.logs.get(name)));
        if let Some(log) = log {
            output(html, log, badge, redactor, opts);
        }
        html.push_str("</div>\n");
    }
}

/// Lines of the step shown around the line that failed.
const FAILED_CONTEXT: usize = 1;

/// The step's lines around the one that failed (under bash, the command that
/// failed), that line highlighted, each with its line number in the runbook.
fn failed_line(html: &mut String, step: &Step, r: &StepRecord, redactor: &Redactor) {
    let Some(line) = r.failed_line else {
        return;
    };
    let lines: Vec<&str> = step.code.lines().collect();
    let Some(at) = line.checked_sub(step.line + 1).filter(|&i| i < lines.len()) else {
        return;
    };
    let from = at.saturating_sub(FAILED_CONTEXT);
    let to = (at + FAILED_CONTEXT + 1).min(lines.len());
    let shown: Vec<String> = (from..to)
        .map(|i| {
            let text = format!(
                "<span class=\"runsheet-lineno\">{}</span> {}",
                step.line + 1 + i,
                escape(&redactor.redact(lines[i]))
            );
            if i == at {
                format!("<mark class=\"runsheet-failed-line\">{text}</mark>")
            } else {
                text
            }
        })
        .collect();
    let _ = writeln!(
        html,
        "<div class=\"runsheet-failed-at\">Failed at line {line}:</div><pre class=\"runsheet-failed-code\">{}</pre>",
        shown.join("&#10;")
    );
}

fn failed_check(html: &mut String, check: &CheckRecord, redactor: &Redactor) {
    let title = format!(
        "Check failed (line {}): {}",
        check.line,
        inline_code(&redactor.redact(&check.message))
    );
    match &check.diff {
        Some(diff) => {
            let _ = writeln!(
                html,
                "<details class=\"runsheet-check\" open><summary>{title}</summary><pre class=\"runsheet-diff\">{}</pre></details>",
                diff_html(&redactor.redact(diff))
            );
        }
        None => {
            let _ = writeln!(html, "<div class=\"runsheet-check\">{title}</div>");
        }
    }
}

/// The diff as coloured, escaped lines: its first [`DIFF_HEAD_LINES`] and
/// last [`DIFF_TAIL_LINES`], with a note of how many stand between, and no
/// line longer than [`DIFF_LINE_CHARS`].
fn diff_html(diff: &str) -> String {
    let total = diff.lines().count();
    let cut = total.saturating_sub(DIFF_HEAD_LINES + DIFF_TAIL_LINES);
    let mut lines: Vec<String> =
        Vec::with_capacity(total.min(DIFF_HEAD_LINES + DIFF_TAIL_LINES + 1));
    for (i, line) in diff.lines().enumerate() {
        if cut > 0 && i == DIFF_HEAD_LINES {
            lines.push(format!(
                "<span class=\"runsheet-cut\">… {cut} more line{} of the diff not shown \
                 (they are in the run record, run.json)</span>",
                if cut == 1 { "" } else { "s" }
            ));
        }
        if cut > 0 && (DIFF_HEAD_LINES..DIFF_HEAD_LINES + cut).contains(&i) {
            continue;
        }
        lines.push(diff_line(line));
    }
    lines.join("&#10;")
}

fn diff_line(line: &str) -> String {
    let class = if line.starts_with("+++") || line.starts_with("---") {
        Some("runsheet-diff-file")
    } else if line.starts_with('+') {
        Some("runsheet-diff-add")
    } else if line.starts_with('-') {
        Some("runsheet-diff-del")
    } else if line.starts_with("@@") {
        Some("runsheet-diff-hunk")
    } else {
        None
    };
    let mut text = match line.char_indices().nth(DIFF_LINE_CHARS) {
        Some((at, _)) => {
            let more = line[at..].chars().count();
            format!(
                "{}<span class=\"runsheet-cut\"> … {more} more characters</span>",
                to_html(&line[..at])
            )
        }
        None => to_html(line),
    };
    if let Some(c) = class {
        text = format!("<span class=\"{c}\">{text}</span>");
    }
    text
}

/// The recorded output: the last `opts.tail_lines` lines, a note of how many
/// were cut, collapsed when long.
fn output(html: &mut String, log: &Log, badge: Badge, redactor: &Redactor, opts: &Options) {
    let text = redactor.redact(&String::from_utf8_lossy(&log.tail));
    let mut lines: Vec<&str> = text.split('\n').map(visible_line).collect();
    if lines.last() == Some(&"") {
        lines.pop();
    }
    if lines.is_empty() {
        html.push_str("<div class=\"runsheet-note\">No output.</div>\n");
        return;
    }
    let dropped = lines.len().saturating_sub(opts.tail_lines);
    let shown = &lines[dropped..];
    let cut = log.lines_before + dropped;
    let total = log.lines_before + lines.len();
    let open = badge.class() == "failed" || shown.len() <= opts.open_lines;
    let summary = match (total, cut) {
        (1, _) => "Output of the last run · 1 line".to_string(),
        (n, 0) => format!("Output of the last run · {n} lines"),
        (n, _) => format!("Output of the last run · last {} of {n} lines", shown.len()),
    };
    let _ = write!(
        html,
        "<details class=\"runsheet-output\"{}><summary>{summary}</summary>",
        if open { " open" } else { "" }
    );
    if cut > 0 {
        let _ = write!(
            html,
            "<div class=\"runsheet-cut\">… {cut} earlier line{} not shown</div>",
            if cut == 1 { "" } else { "s" }
        );
    }
    let body = to_html(&shown.join("\n")).replace('\n', "&#10;");
    let _ = writeln!(html, "<pre class=\"runsheet-log\">{body}</pre></details>");
}

/// The callout standing where a TODO or an empty step is.
pub(crate) fn missing_callout(todo: &Todo, file: &str) -> String {
    let what = if todo.text == "empty step" {
        "This code block is empty: nothing runs here yet."
    } else {
        "This part of the runbook is not written yet: nothing runs here."
    };
    format!(
        "<div class=\"runsheet-missing {NO_MATH}\"><span class=\"runsheet-missing-title\">⚠ Missing step</span> {what} <span class=\"runsheet-where\">{}:{}</span></div>\n",
        escape(file),
        todo.line
    )
}

/// The small inline marker for a TODO inside a line (a table cell).
pub(crate) fn missing_inline() -> &'static str {
    "<span class=\"runsheet-missing-inline\">⚠ Missing step</span>"
}

/// Counts over a runbook's steps as the book shows them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) passed: usize,
    pub(crate) failed: usize,
    /// Skipped, manual, not run and never run steps.
    pub(crate) not_run: usize,
    /// Recorded, but changed since: neither passed nor failed as written now.
    pub(crate) stale: usize,
    pub(crate) missing: usize,
}

pub(crate) fn counts(runbook: &Runbook, recorded: Option<&Recorded>) -> Counts {
    let mut c = Counts {
        missing: runbook.todos.len(),
        ..Counts::default()
    };
    for step in runbook.steps.iter().filter(|s| !is_empty(s)) {
        match badge(step, step_record(step, recorded)) {
            Badge::Passed => c.passed += 1,
            Badge::Failed | Badge::TimedOut | Badge::Interrupted => c.failed += 1,
            Badge::Stale => c.stale += 1,
            _ => c.not_run += 1,
        }
    }
    c
}

/// An empty block is a missing step, not a step to show a result for.
pub(crate) fn is_empty(step: &Step) -> bool {
    step.code.trim().is_empty()
}

pub(crate) fn run_badge(record: Option<&RunRecord>) -> String {
    let (class, text) = match record.map(|r| r.status) {
        None => ("idle", "○ never run"),
        Some(RunStatus::Passed) => ("passed", "✔ passed"),
        Some(RunStatus::Failed) => ("failed", "✘ failed"),
        Some(RunStatus::Interrupted) => ("failed", "✘ interrupted"),
        Some(RunStatus::Running) => ("stale", "… running or crashed"),
    };
    format!("<span class=\"runsheet-badge runsheet-badge-{class}\">{text}</span>")
}

/// The box at the top of a chapter: the last run at a glance.
pub(crate) fn run_banner(runbook: &Runbook, recorded: Option<&Recorded>) -> String {
    let counts = counts(runbook, recorded);
    let path = escape(&runbook.path.display().to_string());
    let Some(rec) = recorded.map(|r| &r.record) else {
        return format!(
            "<div class=\"runsheet-run {NO_MATH}\">{} This runbook has no recorded run. Run it with \
             <code>runsheet run {path}</code> and rebuild the book to see every command's output here.</div>\n",
            run_badge(None)
        );
    };
    let mut parts = vec![format!("Last run {}", escape(&format_time(&rec.started)))];
    parts.push(format!("{} passed", counts.passed));
    if counts.failed > 0 {
        parts.push(format!("{} failed", counts.failed));
    }
    if counts.not_run > 0 {
        parts.push(format!("{} not run", counts.not_run));
    }
    if counts.stale > 0 {
        parts.push(format!("{} stale", counts.stale));
    }
    if counts.missing > 0 {
        parts.push(format!(
            "{} missing step{}",
            counts.missing,
            if counts.missing == 1 { "" } else { "s" }
        ));
    }
    let mut html = format!(
        "<div class=\"runsheet-run {NO_MATH}\">{} {}",
        run_badge(Some(rec)),
        parts.join(" · ")
    );
    if counts.stale > 0 {
        let _ = write!(
            html,
            "<br><span class=\"runsheet-note\">{} step{} changed since this run and {} marked stale.</span>",
            counts.stale,
            if counts.stale == 1 { "" } else { "s" },
            if counts.stale == 1 { "is" } else { "are" }
        );
    }
    html.push_str("</div>\n");
    html
}

/// `350 ms`, `4.2 s`, `3 min 5 s`, `1 h 2 min`.
pub(crate) fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    let s = d.as_secs();
    if ms < 1000 {
        format!("{ms} ms")
    } else if s < 60 {
        format!("{:.1} s", d.as_secs_f64())
    } else if s < 3600 {
        format!("{} min {} s", s / 60, s % 60)
    } else {
        format!("{} h {} min", s / 3600, (s % 3600) / 60)
    }
}

/// `2026-11-25T09:22:10.123Z` → `2026-11-25 09:22 UTC`; anything else as is.
pub(crate) fn format_time(rfc3339: &str) -> String {
    match humantime::parse_rfc3339_weak(rfc3339) {
        Ok(t) => {
            let s = humantime::format_rfc3339_seconds(t).to_string();
            format!("{} {} UTC", &s[..10], &s[11..16])
        }
        Err(_) => rfc3339.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_times_read_well() {
        assert_eq!(format_duration(Duration::from_millis(350)), "350 ms");
        assert_eq!(format_duration(Duration::from_millis(4210)), "4.2 s");
        assert_eq!(format_duration(Duration::from_secs(185)), "3 min 5 s");
        assert_eq!(format_duration(Duration::from_secs(3720)), "1 h 2 min");
        assert_eq!(
            format_time("2026-11-25T09:22:10.5Z"),
            "2026-11-25 09:22 UTC"
        );
        assert_eq!(format_time("yesterday"), "yesterday");
    }

    #[test]
    fn diff_lines_are_coloured_and_escaped() {
        let html = diff_html("--- expected\n+++ actual\n@@ -1 +1 @@\n-<a>\n+<b>\n same");
        assert_eq!(
            html,
            "<span class=\"runsheet-diff-file\">--- expected</span>&#10;\
             <span class=\"runsheet-diff-file\">+++ actual</span>&#10;\
             <span class=\"runsheet-diff-hunk\">&#64;&#64; -1 +1 &#64;&#64;</span>&#10;\
             <span class=\"runsheet-diff-del\">-&lt;a&gt;</span>&#10;\
             <span class=\"runsheet-diff-add\">+&lt;b&gt;</span>&#10; same"
        );
    }
}
