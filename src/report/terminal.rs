//! The live run on the terminal: a header, one `[i/n] Section › step (file:line)`
//! line per step, the step's output set off by a dim `│ `, a result line with
//! its duration, missing steps where they stand, and a summary that says how to
//! go on. A [`Reporter`] of the run engine's events.

use std::io::{self, IsTerminal};
use std::time::{Duration, Instant};

use super::sanitize::Sanitizer;
use super::screen::{Fd, Screen};
use super::Palette;
use crate::exec::StreamKind;
use crate::model::{ConsoleCommand, Runbook, Step, Todo};
use crate::record::{CheckRecord, RunRecord, RunStatus, StepStatus};
use crate::runner::{DryStep, Question, Reporter, RunStart, StepEnd, StepStart, Summary};

/// Set before a step's output lines, so they never pass for runsheet's own.
const GUTTER: &str = "  │ ";

/// Most bytes of a step's output queued for the screen at once.
const PIECE: usize = 64 * 1024;

/// At exit, how long to wait for a terminal that does not read once the run
/// was interrupted; otherwise runsheet waits until its last line is shown.
const LAST_WORDS: Duration = Duration::from_secs(2);

/// Shows the run on stdout (warnings on stderr), through a [`Screen`] that
/// never lets a blocked terminal hold the run up; asks on stdin.
pub struct Terminal {
    palette: Palette,
    screen: Screen,
    /// The next output byte starts a line (and gets the gutter).
    line_start: bool,
    /// Draw a spinner while a step is quiet: stdout is a terminal.
    animate: bool,
    started: Instant,
    gutter: String,
    /// Takes what would take the terminal over out of a step's output.
    sanitizer: Sanitizer,
    /// stdout is `/dev/null`: formatting step output for nobody is skipped.
    discard: bool,
    interrupt: Option<crate::runner::Interrupt>,
    labels: SectionLabels,
}

impl Terminal {
    pub fn new(palette: Palette) -> Self {
        let animate =
            io::stdout().is_terminal() && std::env::var("TERM").map_or(true, |t| t != "dumb");
        let gutter = palette.dim(GUTTER);
        Terminal {
            sanitizer: Sanitizer::new(palette.enabled),
            palette,
            screen: Screen::new(animate),
            line_start: true,
            animate,
            started: Instant::now(),
            gutter,
            discard: stdout_is_dev_null(),
            interrupt: None,
            labels: SectionLabels::default(),
        }
    }

    /// Writes runsheet's own lines, after the step's output line is closed.
    fn say(&mut self, text: &str) {
        self.end_output_line();
        let mut bytes = Vec::with_capacity(text.len() + 1);
        bytes.extend_from_slice(text.as_bytes());
        bytes.push(b'\n');
        self.screen.text(Fd::Out, bytes);
    }

    /// A step's output that did not end in a newline is closed, and colours
    /// it left on are reset, before runsheet writes its own line.
    fn end_output_line(&mut self) {
        let mut close = Vec::new();
        if self.sanitizer.reset() {
            close.extend_from_slice(b"\x1b[0m");
        }
        if !self.line_start {
            close.push(b'\n');
            self.line_start = true;
        }
        if !close.is_empty() {
            self.screen.text(Fd::Out, close);
        }
    }

    fn start_spinner(&mut self, label: &str) {
        if self.animate {
            self.screen.spinner(Some(label.to_string()));
        }
    }

    fn stop_spinner(&mut self) {
        if self.animate {
            self.screen.spinner(None);
        }
    }

    /// A step's output, filtered for the terminal, with the gutter at the
    /// start of each line and after each carriage return (a `\r` progress
    /// bar redraws its line, gutter and all).
    fn write_output(&mut self, bytes: &[u8]) {
        if self.discard {
            return;
        }
        // Output arrives in reads of up to a MiB, as large as the screen's
        // whole budget: queued in smaller pieces, as much of it is shown as
        // a slow terminal takes, and only the rest is left out.
        for out in self.pieces(bytes) {
            self.screen.output(out);
        }
    }

    fn pieces(&mut self, bytes: &[u8]) -> Vec<Vec<u8>> {
        bytes
            .chunks(PIECE)
            .map(|piece| self.format_output(piece))
            .filter(|out| !out.is_empty())
            .collect()
    }

    /// `bytes` as the terminal shows them: sanitized, with the gutters.
    fn format_output(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut clean = Vec::with_capacity(bytes.len());
        self.sanitizer.push(bytes, &mut clean);
        let mut out = Vec::with_capacity(clean.len() + 64);
        let mut rest = &clean[..];
        while !rest.is_empty() {
            if self.line_start {
                out.extend_from_slice(self.gutter.as_bytes());
                out.extend_from_slice(self.sanitizer.active());
                self.line_start = false;
            }
            match rest.iter().position(|b| *b == b'\n' || *b == b'\r') {
                Some(end) => {
                    out.extend_from_slice(&rest[..=end]);
                    if rest[end] == b'\n' {
                        self.line_start = true;
                    } else if rest.get(end + 1) != Some(&b'\n') {
                        out.extend_from_slice(self.gutter.as_bytes());
                        out.extend_from_slice(self.sanitizer.active());
                    }
                    rest = &rest[end + 1..];
                }
                None => {
                    out.extend_from_slice(rest);
                    rest = &[];
                }
            }
        }
        out
    }

    fn check_lines(&mut self, checks: &[CheckRecord]) {
        for check in checks.iter().filter(|c| !c.passed) {
            let line = format!(
                "  {} {} check, line {}: {}",
                self.palette.error(super::FAIL_MARK),
                check.kind,
                check.line,
                check.message
            );
            self.say(&line);
            if let Some(diff) = &check.diff {
                for l in diff.lines() {
                    let painted = if l.starts_with('+') && !l.starts_with("+++") {
                        self.palette.added(l)
                    } else if l.starts_with('-') && !l.starts_with("---") {
                        self.palette.removed(l)
                    } else {
                        self.palette.dim(l)
                    };
                    self.say(&format!("    {painted}"));
                }
            }
        }
    }

    /// Lets a prompt give up when Ctrl-C is pressed while it waits.
    pub fn watch(&mut self, interrupt: crate::runner::Interrupt) {
        self.interrupt = Some(interrupt);
    }

    /// Reads one answer; end of input or Ctrl-C counts as no.
    fn read_answer(&mut self, prompt: &str) -> bool {
        self.stop_spinner();
        self.end_output_line();
        self.screen.text(Fd::Out, prompt.as_bytes().to_vec());
        let answer = read_line_unless(self.interrupt.as_ref());
        if answer.is_some() && io::stdin().is_terminal() {
            // The terminal echoed the answer and its newline.
            self.screen.line_start();
        } else {
            self.screen.text(Fd::Out, b"\n".to_vec());
        }
        if answer.is_none() {
            // Standard input ended (not a terminal, or Ctrl-D): say why the
            // step counts as not done, and what to do instead.
            let hint = "no answer: standard input is closed; answer in a terminal, \
                        or use `runsheet check`, which reports manual steps without asking";
            let line = self.palette.dim(hint);
            self.say(&line);
        }
        answer.is_some_and(|line| {
            matches!(
                line.trim().to_lowercase().as_str(),
                "y" | "yes" | "done" | "d"
            )
        })
    }

    /// The `--dry-run` listing.
    pub fn dry_run(&mut self, runbook: &Runbook, steps: &[DryStep]) {
        let head = format!(
            "{} {} ({}, {}; dry run: nothing runs)",
            self.palette.strong("▶"),
            self.palette.strong(&runbook.title),
            runbook.path.display(),
            count(steps.len(), "step", "steps")
        );
        self.say(&head);
        let total = steps.len();
        for (i, dry) in steps.iter().enumerate() {
            let step = &runbook.steps[dry.index];
            let labels = SectionLabels::for_runbook(&mut self.labels, runbook);
            let title = step_title(&self.palette, labels, runbook, step, i + 1, total);
            self.say(&title);
            let mut facts = Vec::new();
            match dry.hosts.as_slice() {
                [] => {}
                [host] => facts.push(format!("on {host}")),
                hosts if dry.serial => {
                    facts.push(format!("on {} (one at a time)", hosts.join(", ")))
                }
                hosts => facts.push(format!("on {}", hosts.join(", "))),
            }
            facts.push(if dry.cwd.as_os_str().is_empty() {
                "in the login directory".to_string()
            } else {
                format!("in {}", dry.cwd.display())
            });
            facts.push(dry.program.clone());
            if dry.why == crate::plan::Why::Setup {
                facts.push("setup".into());
            }
            if let Some(note) = dry.note {
                facts.push(note.into());
            }
            let line = format!("  {}", self.palette.dim(&facts.join(" · ")));
            self.say(&line);
            for l in dry.code.lines() {
                let line = format!("{}{l}", self.gutter);
                self.say(&line);
            }
        }
    }
}

impl Drop for Terminal {
    /// Waits until the terminal has shown everything, unless the run was
    /// interrupted and it does not read for [`LAST_WORDS`].
    fn drop(&mut self) {
        self.stop_spinner();
        self.end_output_line();
        let interrupt = self.interrupt.clone();
        let mut since: Option<Instant> = None;
        self.screen.close(move || {
            if !interrupt.as_ref().is_some_and(|i| i.is_set()) {
                return false;
            }
            since.get_or_insert_with(Instant::now).elapsed() >= LAST_WORDS
        });
    }
}

/// A line from stdin, or `None` at end of input or once `interrupt` is set.
/// Polls instead of blocking, because a blocked read is restarted after the
/// signal and would leave Ctrl-C waiting for Enter.
fn read_line_unless(interrupt: Option<&crate::runner::Interrupt>) -> Option<String> {
    let mut line = Vec::new();
    loop {
        if interrupt.is_some_and(|i| i.is_set()) {
            return None;
        }
        let mut fds = libc::pollfd {
            fd: 0,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, for the duration of the call.
        let ready = unsafe { libc::poll(&mut fds, 1, 100) };
        if ready <= 0 {
            continue;
        }
        let mut byte = 0u8;
        // SAFETY: reads at most one byte into a live local.
        let n = unsafe { libc::read(0, (&mut byte as *mut u8).cast(), 1) };
        match n {
            1 if byte == b'\n' => return Some(String::from_utf8_lossy(&line).into_owned()),
            1 => line.push(byte),
            0 if line.is_empty() => return None,
            0 => return Some(String::from_utf8_lossy(&line).into_owned()),
            _ if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => {}
            _ => return None,
        }
    }
}

/// True when fd 1 is the null device (a benchmark, `> /dev/null` in a script).
fn stdout_is_dev_null() -> bool {
    use std::os::unix::fs::MetadataExt;
    let (Ok(null), Ok(out)) = (
        std::fs::metadata("/dev/null"),
        std::fs::metadata("/proc/self/fd/1"),
    ) else {
        return false;
    };
    out.rdev() == null.rdev() && out.dev() == null.dev() && out.ino() == null.ino()
}

fn step_title(
    p: &Palette,
    labels: &SectionLabels,
    runbook: &Runbook,
    step: &Step,
    position: usize,
    total: usize,
) -> String {
    let mut label = step
        .section
        .as_deref()
        .and_then(|s| labels.by_id.get(s))
        .cloned()
        .unwrap_or_default();
    if !label.is_empty() {
        label.push_str(" › ");
    }
    format!(
        "{} {label}{} {}",
        p.dim(&format!("[{position}/{total}]")),
        p.strong(&step.id),
        p.dim(&format!("({}:{})", runbook.path.display(), step.line))
    )
}

/// Each section's `Section › Sub` label, built once per runbook: walking a
/// step's section chain through the list of sections for every step is
/// quadratic, and a runbook may have 200,000 sections.
#[derive(Default)]
struct SectionLabels {
    /// The runbook's path and hash.
    key: Option<(std::path::PathBuf, String)>,
    by_id: std::collections::HashMap<String, String>,
}

impl SectionLabels {
    fn for_runbook<'a>(cache: &'a mut SectionLabels, runbook: &Runbook) -> &'a SectionLabels {
        let key = (runbook.path.clone(), runbook.hash.clone());
        if cache.key.as_ref() != Some(&key) {
            *cache = SectionLabels::new(runbook);
            cache.key = Some(key);
        }
        cache
    }

    fn new(runbook: &Runbook) -> SectionLabels {
        // A lone top heading is the document's title: it adds nothing to
        // every line.
        let lone_top = runbook.sections.iter().filter(|s| s.level == 1).count() == 1;
        let mut by_id: std::collections::HashMap<String, String> = Default::default();
        // A parent comes before its sections, so its label is known.
        for s in &runbook.sections {
            let parent = s.parent.as_deref().and_then(|p| by_id.get(p));
            let label = match parent {
                _ if s.level == 1 && lone_top => parent.cloned().unwrap_or_default(),
                Some(parent) if !parent.is_empty() => format!("{parent} › {}", s.title),
                _ => s.title.clone(),
            };
            by_id.entry(s.id.clone()).or_insert(label);
        }
        SectionLabels { key: None, by_id }
    }
}

fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `1.2s`, `3m 4s`: short enough for a result line.
pub fn duration(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else {
        let s = ms / 1000;
        if s < 3600 {
            format!("{}m {}s", s / 60, s % 60)
        } else {
            format!("{}h {}m", s / 3600, (s % 3600) / 60)
        }
    }
}

/// The command that picks a failed run up again, quoted for a POSIX shell.
pub fn resume_command(record: &RunRecord) -> String {
    format!(
        "runsheet run {} --resume",
        shell_quote(&record.runbook.display().to_string())
    )
}

fn shell_quote(text: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+,:@=".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// `3 passed, 1 failed, ...`, leaving out zeros.
pub fn summary_line(s: &Summary) -> String {
    let parts = [
        (s.passed, "passed"),
        (s.failed, "failed"),
        (s.timed_out, "timed out"),
        (s.interrupted, "interrupted"),
        (s.skipped, "skipped"),
        (s.manual, "manual"),
        (s.not_run, "not run"),
    ];
    let mut out: Vec<String> = parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
    if s.missing > 0 {
        let noun = if s.missing == 1 {
            "missing step"
        } else {
            "missing steps"
        };
        out.push(format!("{} {noun}", s.missing));
    }
    if out.is_empty() {
        out.push("nothing to run".into());
    }
    out.join(", ")
}

impl Reporter for Terminal {
    fn run_started(&mut self, run: &RunStart<'_>) {
        self.started = Instant::now();
        let mut head = format!(
            "{} {} ({}, {})",
            self.palette.strong("▶"),
            self.palette.strong(&run.runbook.title),
            run.runbook.path.display(),
            count(run.total, "step", "steps")
        );
        if let Some(r) = &run.plan.resume {
            let carried = run.plan.carried.len();
            head.push_str(&format!(
                "\n  resuming run {} at `{}` ({carried} earlier result(s) carried forward)",
                r.run_id, r.step_id
            ));
        }
        self.say(&head);
    }

    fn warning(&mut self, message: &str) {
        self.end_output_line();
        let line = format!("{} {message}\n", self.palette.warning("warning:"));
        self.screen.text(Fd::Err, line.into_bytes());
    }

    fn todo(&mut self, runbook: &Runbook, todo: &Todo) {
        let section = todo
            .section
            .as_deref()
            .and_then(|s| runbook.section(s))
            .map(|s| format!(", in {}", s.title))
            .unwrap_or_default();
        let line = format!(
            "{} {} {}",
            self.palette.warning("⚠ missing step:"),
            todo.text,
            self.palette.dim(&format!(
                "({}:{}{section})",
                runbook.path.display(),
                todo.line
            )),
        );
        self.say(&line);
    }

    fn step_started(&mut self, s: &StepStart<'_>) {
        self.stop_spinner();
        if s.attempt > 1 {
            let retry = s.step.options.retry + 1;
            let line = format!(
                "  {} attempt {}/{retry}",
                self.palette.warning("↻"),
                s.attempt
            );
            self.say(&line);
        } else {
            let labels = SectionLabels::for_runbook(&mut self.labels, s.runbook);
            let mut title = step_title(
                &self.palette,
                labels,
                s.runbook,
                s.step,
                s.position,
                s.total,
            );
            if s.why == crate::plan::Why::Setup {
                title.push_str(&self.palette.dim(" (setup)"));
            }
            self.say(&title);
        }
        self.start_spinner(&s.step.id);
    }

    fn command_started(&mut self, _command: &ConsoleCommand, masked: &str) {
        let mut lines = masked.lines();
        let first = lines.next().unwrap_or("");
        let mut text = format!("  {} {first}", self.palette.accent("$"));
        for more in lines {
            text.push_str(&format!("\n  {} {more}", self.palette.accent(">")));
        }
        self.say(&text);
    }

    fn output(&mut self, _stream: StreamKind, bytes: &[u8]) {
        self.write_output(bytes);
    }

    fn step_finished(&mut self, e: &StepEnd<'_>) {
        self.stop_spinner();
        self.end_output_line();
        let r = e.record;
        let took = self.palette.dim(&duration(r.duration_ms));
        // A failed check is shown in full below; its summary would repeat it.
        let check_failed = r.checks.iter().any(|c| !c.passed);
        let reason = match r.reason.as_deref() {
            Some(_) if check_failed => "",
            other => other.unwrap_or(""),
        };
        // Where it ran, when not here.
        let id = match (&r.host, r.hosts.len()) {
            (Some(host), _) => format!("{} {}", r.id, self.palette.dim(&format!("on {host}"))),
            (None, 0) => r.id.clone(),
            (None, n) => format!("{} {}", r.id, self.palette.dim(&format!("on {n} hosts"))),
        };
        let line = match r.status {
            StepStatus::Passed if reason.is_empty() => {
                format!("{} {} {took}", self.palette.success(super::PASS_MARK), id)
            }
            StepStatus::Passed => format!(
                "{} {} {took} {}",
                self.palette.success(super::PASS_MARK),
                id,
                self.palette.dim(reason)
            ),
            StepStatus::Failed | StepStatus::TimedOut | StepStatus::Interrupted
                if reason.is_empty() =>
            {
                format!("{} {} {took}", self.palette.error(super::FAIL_MARK), id)
            }
            StepStatus::Failed | StepStatus::TimedOut | StepStatus::Interrupted => format!(
                "{} {} {took} {}",
                self.palette.error(super::FAIL_MARK),
                id,
                self.palette.error(reason)
            ),
            StepStatus::Skipped | StepStatus::Manual | StepStatus::NotRun => format!(
                "{} {} {}",
                self.palette.warning("-"),
                id,
                self.palette.dim(reason)
            ),
        };
        self.say(&line);
        for host in &r.hosts {
            let mark = if host.status == StepStatus::Passed {
                self.palette.success(super::PASS_MARK)
            } else {
                self.palette.error(super::FAIL_MARK)
            };
            let carried = if host.carried_from.is_some() {
                " (passed before, carried forward)"
            } else {
                ""
            };
            let why = host.reason.as_deref().unwrap_or("");
            let line = format!(
                "  {mark} {} {}{}",
                host.host,
                self.palette.dim(&duration(host.duration_ms)),
                self.palette.dim(format!("{carried} {why}").trim_end())
            );
            self.say(line.trim_end());
        }
        if let Some(at) = r.failed_command.as_ref().and(r.failed_at(&e.runbook.path)) {
            let line = format!("  {} {at}", self.palette.error("failed at"));
            self.say(&line);
        }
        if r.status == StepStatus::Failed {
            // A syntax error fires no ERR trap: say what most likely caused it.
            for (n, word) in crate::parse::placeholder::in_step(e.step) {
                let line = format!(
                    "  {} {}:{n}: `{word}` looks like a placeholder to fill in; \
                     the shell read `<` and `>` as redirections",
                    self.palette.warning("hint:"),
                    e.runbook.path.display()
                );
                self.say(&line);
            }
        }
        let checks = r.checks.clone();
        self.check_lines(&checks);
    }

    fn run_finished(&mut self, record: &RunRecord) {
        self.stop_spinner();
        let summary = Summary::of(record);
        let took = duration(self.started.elapsed().as_millis() as u64);
        let (mark, word) = match record.status {
            RunStatus::Passed => (
                self.palette.success(super::PASS_MARK),
                self.palette.success("passed"),
            ),
            RunStatus::Interrupted => (
                self.palette.error(super::FAIL_MARK),
                self.palette.error("interrupted"),
            ),
            _ => (
                self.palette.error(super::FAIL_MARK),
                self.palette.error("failed"),
            ),
        };
        let line = format!(
            "\n{mark} {word}: {} {}",
            summary_line(&summary),
            self.palette.dim(&format!("in {took}"))
        );
        self.say(&line);
        if record.status != RunStatus::Passed {
            let hint = match record.status {
                RunStatus::Interrupted => "To go on from where it stopped:",
                _ => "Fix it, then go on from the failed step:",
            };
            let line = format!("{hint} {}", self.palette.strong(&resume_command(record)));
            self.say(&line);
        }
    }

    fn ask(&mut self, question: Question<'_>) -> bool {
        match question {
            Question::Confirm(step) => {
                let prompt = format!("{} Run `{}`? [y/N] ", self.palette.accent("?"), step.id);
                self.read_answer(&prompt)
            }
            Question::Manual(step) => {
                let line = format!(
                    "{} manual step `{}`: do this by hand:",
                    self.palette.accent("✋"),
                    step.id
                );
                self.say(&line);
                for l in step.code.lines() {
                    let line = format!("{}{l}", self.gutter);
                    self.say(&line);
                }
                let prompt = format!("{} Done? [y/N] ", self.palette.accent("?"));
                self.read_answer(&prompt)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_labels_leave_out_a_lone_title_and_chain_the_rest() {
        let text = "# Title\n\n## Build\n\n### Tests\n\n```sh\ntrue\n```\n";
        let parsed = crate::parse::parse(&crate::source::Source::new("r.md", text));
        let labels = SectionLabels::new(&parsed.runbook);
        assert_eq!(labels.by_id["title"], "");
        assert_eq!(labels.by_id["build"], "Build");
        assert_eq!(labels.by_id["tests"], "Build › Tests");
        let two = "# One\n\n## Sub\n\n# Two\n";
        let parsed = crate::parse::parse(&crate::source::Source::new("r.md", two));
        let labels = SectionLabels::new(&parsed.runbook);
        assert_eq!(labels.by_id["sub"], "One › Sub");
        assert_eq!(labels.by_id["two"], "Two");
    }

    /// One read of a step's output (up to a MiB) is as large as what the
    /// screen holds for a terminal at most: queued whole, it would be left
    /// out of the live view even with a terminal that reads.
    #[test]
    fn a_large_read_is_queued_in_pieces_the_screen_can_hold() {
        let mut t = Terminal::new(Palette::plain());
        t.discard = false;
        let mut chunk = vec![b'x'; 1024 * 1024 - 1];
        chunk.push(b'\n');
        let pieces = t.pieces(&chunk);
        assert_eq!(pieces.len(), 16);
        assert!(pieces.iter().all(|p| p.len() <= PIECE + GUTTER.len()));
        let shown = pieces.concat();
        assert_eq!(shown.len(), GUTTER.len() + chunk.len());
        assert!(shown.starts_with(GUTTER.as_bytes()) && shown.ends_with(b"x\n"));
        assert!(t.line_start);
    }

    #[test]
    fn durations_and_quoting() {
        assert_eq!(duration(12), "12ms");
        assert_eq!(duration(1500), "1.5s");
        assert_eq!(duration(125_000), "2m 5s");
        assert_eq!(shell_quote("runbooks/a.md"), "runbooks/a.md");
        assert_eq!(shell_quote("my book.md"), "'my book.md'");
        assert_eq!(shell_quote("it's.md"), r"'it'\''s.md'");
    }

    #[test]
    fn summary_leaves_out_zeros() {
        let s = Summary {
            passed: 3,
            failed: 1,
            not_run: 2,
            missing: 1,
            ..Summary::default()
        };
        assert_eq!(
            summary_line(&s),
            "3 passed, 1 failed, 2 not run, 1 missing step"
        );
    }
}
