//! One step: how it runs (program, cwd, timeout), and running it — a shell or
//! interpreter block as one process, a console block as one process per `$`
//! command — into an [`Attempt`] the engine records.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Interrupt;
use super::{Mode, Reporter, RunOptions};
use crate::exec::run_step;
use crate::exec::{Ending, Outcome, OutputSink, ShellState, StepRun, StreamKind};
use crate::model::{ExitExpect, Runbook, Step, StepKind};
use crate::record::{CheckRecord, LogWriter, StepStatus};
use crate::secrets::Redactor;

/// Languages the front matter's `shell` takes over (SPEC §1.1).
const SHELL_LANGS: &[&str] = &["sh", "bash", "shell"];

/// The program that runs `step`.
pub(super) fn program<'a>(runbook: &'a Runbook, step: &'a Step) -> &'a str {
    match &step.kind {
        StepKind::Shell { program } | StepKind::Console { program, .. } => {
            match &runbook.front.shell {
                Some(shell) if SHELL_LANGS.contains(&step.lang.as_str()) => shell,
                _ => program,
            }
        }
        StepKind::Interpreter { program } => program,
    }
}

/// The folder paths in the runbook are relative to.
pub(super) fn runbook_dir(runbook: &Runbook, opts: &RunOptions) -> PathBuf {
    let path = opts.start_dir.join(&runbook.path);
    path.parent()
        .map_or(opts.start_dir.clone(), Path::to_path_buf)
}

/// The run's first working directory: front matter `cwd` (relative to the
/// runbook's folder), else where runsheet started.
pub(super) fn first_cwd(runbook: &Runbook, opts: &RunOptions) -> PathBuf {
    match &runbook.front.cwd {
        Some(cwd) => normalize(&runbook_dir(runbook, opts).join(cwd)),
        None => opts.start_dir.clone(),
    }
}

/// The step's own `cwd=`, made absolute against the runbook's folder.
pub(super) fn cwd_override(runbook: &Runbook, step: &Step, opts: &RunOptions) -> Option<PathBuf> {
    step.options
        .cwd
        .as_ref()
        .map(|cwd| normalize(&runbook_dir(runbook, opts).join(cwd)))
}

/// `a/b/../c` → `a/c` without touching the disk (the folder may not exist yet
/// in a dry run), so messages show the path a person expects.
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

pub(super) fn timeout(runbook: &Runbook, step: &Step, opts: &RunOptions) -> Option<Duration> {
    step.options
        .timeout
        .or(opts.timeout)
        .or(runbook.front.timeout)
}

/// What a dry run says instead of "would run".
pub(super) fn dry_note(step: &Step, opts: &RunOptions) -> Option<&'static str> {
    let o = &step.options;
    if o.skip {
        Some("skipped (skip)")
    } else if o.manual {
        Some("manual: a person does this")
    } else if o.interactive && opts.mode == Mode::Check {
        Some("interactive: not run by check")
    } else if o.confirm && !opts.yes {
        Some("asks before running (confirm)")
    } else if o.background {
        Some("starts in the background")
    } else {
        None
    }
}

/// One try at a step.
#[derive(Debug)]
pub(super) struct Attempt {
    pub status: StepStatus,
    pub exit_code: Option<i32>,
    pub reason: Option<String>,
    pub checks: Vec<CheckRecord>,
    /// Shell state after it; only kept by the engine when the step passed.
    pub state: ShellState,
    /// The runbook line of what failed, with its text when it is a line of
    /// the step's commands (see `StepRecord::failed_line`).
    pub failed_at: Option<(usize, Option<String>)>,
}

/// Everything a step run needs that outlives the step.
pub(super) struct Context<'a> {
    pub runbook: &'a Runbook,
    pub step: &'a Step,
    pub opts: &'a RunOptions,
    pub base_env: &'a std::collections::BTreeMap<String, String>,
    pub redactor: &'a Redactor,
    pub interrupt: &'a Interrupt,
    /// The run's tracker, naming what the step leaves behind.
    pub tracker: &'a crate::exec::Tracker,
    /// The host it runs on over ssh; `None`: here.
    pub host: Option<&'a str>,
    pub remote: &'a super::remote::Setup,
}

impl Context<'_> {
    pub(super) fn request<'b>(&'b self, script: &'b str, state: &'b ShellState) -> StepRun<'b> {
        StepRun {
            cwd_override: self.step_cwd(),
            ..self.request_in(script, state)
        }
    }

    /// The step's `cwd=`: on a host, as written (relative to where the
    /// host's state stands is the user's business); here, made absolute.
    fn step_cwd(&self) -> Option<PathBuf> {
        match self.host {
            Some(_) => self.step.options.cwd.as_ref().map(PathBuf::from),
            None => cwd_override(self.runbook, self.step, self.opts),
        }
    }

    /// Runs one process of the step, here or on its host.
    fn exec(&self, req: &StepRun<'_>, tee: &mut Tee<'_>) -> std::io::Result<Outcome> {
        match self.host {
            None => run_step(req, tee, self.interrupt),
            Some(host) => {
                let remote = crate::exec::Remote {
                    host,
                    ssh: &self.remote.ssh,
                    env: &self.remote.env,
                };
                crate::exec::run_remote(req, &remote, tee, self.interrupt)
            }
        }
    }

    /// A request that starts in `state.cwd` and reports where it ended.
    fn request_in<'b>(&'b self, script: &'b str, state: &'b ShellState) -> StepRun<'b> {
        StepRun {
            program: program(self.runbook, self.step),
            script,
            state,
            base_env: self.base_env,
            cwd_override: None,
            timeout: timeout(self.runbook, self.step, self.opts),
            // A remote step gets no terminal: ssh runs it without one.
            interactive: (self.step.options.interactive || self.step.options.stdin)
                && self.opts.mode == Mode::Run
                && self.host.is_none(),
            capture: crate::check::capture_for(self.step),
            redactor: self.redactor,
            owner: self.host.is_none().then_some(crate::exec::Owner {
                tracker: self.tracker,
                step: &self.step.id,
            }),
        }
    }
}

/// Streams a step's output to the reporter and its log at once; never keeps it.
pub(super) struct Tee<'r> {
    pub log: LogWriter,
    pub reporter: &'r mut dyn Reporter,
    /// The first write error on the log, reported once the step ends.
    pub error: Option<std::io::Error>,
    /// Values the step asked to mask (`::add-mask::`), for the engine to
    /// mask everywhere from now on.
    pub masks: Vec<String>,
}

impl OutputSink for Tee<'_> {
    fn output(&mut self, stream: StreamKind, bytes: &[u8]) {
        if self.error.is_none() {
            if let Err(e) = self.log.write_all(bytes) {
                self.error = Some(e);
            }
        }
        self.reporter.output(stream, bytes);
    }

    fn mask(&mut self, value: &str) {
        self.masks.push(value.to_string());
    }
}

/// Masks a finished step's log again with secrets learnt while it ran (a
/// variable it set, an `::add-mask::`), through a temporary file renamed
/// over it, so the log never holds them once the step is over.
pub(super) fn remask_log(path: &Path, redactor: &Redactor) -> std::io::Result<()> {
    use std::io::Read;
    let mut from = File::open(path)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut to = BufWriter::new(tempfile::NamedTempFile::new_in(dir)?);
    let mut stream = redactor.stream();
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::new();
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        out.clear();
        stream.push(&buf[..n], &mut out);
        to.write_all(&out)?;
    }
    out.clear();
    stream.finish(&mut out);
    to.write_all(&out)?;
    let to = to.into_inner().map_err(|e| e.into_error())?;
    to.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Runs the step once, from `state` (the whole state: on a host, the
/// host's own part of it is used, and updated in the attempt's state).
pub(super) fn attempt(
    cx: &Context<'_>,
    state: &ShellState,
    tee: &mut Tee<'_>,
) -> std::io::Result<Attempt> {
    let Some(host) = cx.host else {
        let mut tried = attempt_from(cx, state, tee)?;
        // A step here leaves the hosts' states as they were.
        tried.state.remote = state.remote.clone();
        return Ok(tried);
    };
    let own = state.remote.get(host).cloned().unwrap_or_default();
    let mut tried = attempt_from(cx, &own, tee)?;
    let mut whole = state.clone();
    whole.remote.insert(host.to_string(), tried.state);
    tried.state = whole;
    Ok(tried)
}

fn attempt_from(
    cx: &Context<'_>,
    state: &ShellState,
    tee: &mut Tee<'_>,
) -> std::io::Result<Attempt> {
    match &cx.step.kind {
        StepKind::Console { commands, .. } => console(cx, commands, state, tee),
        StepKind::Shell { .. } | StepKind::Interpreter { .. } => {
            let outcome = cx.exec(&cx.request(cx.step.script(), state), tee)?;
            let lines = Lines {
                script: cx.step.script(),
                first: cx.step.line + 1,
                fence: cx.step.line,
            };
            Ok(judge(cx, &outcome, &cx.step.options.exit, None, &lines))
        }
    }
}

fn console(
    cx: &Context<'_>,
    commands: &[crate::model::ConsoleCommand],
    state: &ShellState,
    tee: &mut Tee<'_>,
) -> std::io::Result<Attempt> {
    // A `cwd=` holds for the whole transcript, and a `$ cd` in it holds for the
    // commands after it; only the step after the transcript starts back where
    // the transcript started.
    let started_in = state.cwd.clone();
    let step_cwd = cx.step_cwd();
    let mut state = state.clone();
    if let Some(dir) = &step_cwd {
        state.cwd = dir.clone();
    }
    // A secret one command sets (or `::add-mask::`s) is masked in the next.
    let mut redactor = cx.redactor.clone();
    let mut checks = Vec::new();
    let mut all = Vec::new();
    let mut last = None;
    for cmd in commands {
        let cx = &Context {
            redactor: &redactor,
            ..*cx
        };
        let masked = cx.redactor.redact(&cmd.command);
        tee.reporter.command_started(cmd, &masked);
        if tee.error.is_none() {
            if let Err(e) = writeln!(tee.log, "$ {masked}") {
                tee.error = Some(e);
            }
        }
        let outcome = cx.exec(&cx.request_in(&cmd.command, &state), tee)?;
        all.extend_from_slice(&outcome.combined);
        let expect = cmd.exit.clone().unwrap_or_default();
        let check = crate::check::console_check(cmd, &outcome);
        let lines = Lines {
            script: &cmd.command,
            first: cmd.line,
            fence: cmd.line,
        };
        let verdict = judge(cx, &outcome, &expect, Some(&cmd.command), &lines);
        let failed =
            verdict.status != StepStatus::Passed || check.as_ref().is_some_and(|c| !c.passed);
        checks.extend(check);
        state = outcome.state.clone();
        redactor.learn(
            state
                .variables()
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
        for value in &tee.masks {
            redactor.add(value);
        }
        last = Some((outcome, verdict));
        if failed {
            break;
        }
    }
    if step_cwd.is_some() {
        state.cwd = started_in;
    }
    let Some((mut outcome, verdict)) = last else {
        return Ok(Attempt {
            status: StepStatus::Passed,
            exit_code: None,
            reason: None,
            checks,
            state,
            failed_at: None,
        });
    };
    if verdict.status != StepStatus::Passed {
        return Ok(Attempt { checks, ..verdict });
    }
    // Hidden checks see the whole transcript's output.
    outcome.combined = all;
    checks.extend(crate::check::step_checks(cx.step, &outcome));
    Ok(finish(verdict, checks, state))
}

/// Where a script stands in the runbook: the file line of its first line,
/// and the line named when no better one is known (the step's fence, a
/// console command's `$` line).
struct Lines<'a> {
    script: &'a str,
    first: usize,
    fence: usize,
}

/// Longest command text quoted in a failure line.
const QUOTE_MAX: usize = 80;

impl Lines<'_> {
    /// The runbook line of what failed, and its text (masked, shortened)
    /// when the shell named a line of the script.
    fn failed_at(&self, outcome: &Outcome, redactor: &Redactor) -> (usize, Option<String>) {
        let named = outcome
            .failed_line
            .and_then(|n| Some((n, self.script.lines().nth(n.checked_sub(1)?)?)));
        match named {
            Some((n, text)) => (
                self.first + n - 1,
                Some(shorten(&redactor.redact(text.trim()))),
            ),
            None => (self.fence, None),
        }
    }
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(QUOTE_MAX) {
        Some((cut, _)) => format!("{} …", text[..cut].trim_end()),
        None => text.to_string(),
    }
}

/// Exit status, timeout and (for a whole step) its checks → a verdict.
fn judge(
    cx: &Context<'_>,
    outcome: &Outcome,
    expect: &ExitExpect,
    command: Option<&str>,
    lines: &Lines<'_>,
) -> Attempt {
    let what = match command {
        Some(c) => format!("`$ {}` ", first_line(&cx.redactor.redact(c))),
        None => String::new(),
    };
    let failed = |status, reason: String| Attempt {
        status,
        exit_code: outcome.exit_code,
        reason: Some(reason),
        checks: Vec::new(),
        state: outcome.state.clone(),
        failed_at: Some(lines.failed_at(outcome, cx.redactor)),
    };
    match outcome.ending {
        Ending::TimedOut => {
            let limit = timeout(cx.runbook, cx.step, cx.opts)
                .map(|d| format!(" after {}", humantime::format_duration(d)))
                .unwrap_or_default();
            return failed(StepStatus::TimedOut, format!("{what}timed out{limit}"));
        }
        Ending::Interrupted => {
            return failed(StepStatus::Interrupted, format!("{what}interrupted"))
        }
        Ending::Signaled | Ending::Exited => {}
    }
    let code = outcome.exit_code.unwrap_or(-1);
    if outcome.ending == Ending::Signaled {
        let sig = code - 128;
        return failed(StepStatus::Failed, format!("{what}killed by signal {sig}"));
    }
    if !expect.accepts(code) {
        return failed(
            StepStatus::Failed,
            format!("{what}exit status {code}, expected {expect}"),
        );
    }
    let verdict = Attempt {
        status: StepStatus::Passed,
        exit_code: outcome.exit_code,
        reason: None,
        checks: Vec::new(),
        state: outcome.state.clone(),
        failed_at: None,
    };
    if command.is_some() {
        return verdict;
    }
    let checks = crate::check::step_checks(cx.step, outcome);
    let state = outcome.state.clone();
    finish(verdict, checks, state)
}

/// A passed exit status with its checks: failed when any check failed, at
/// the first failed check's line.
fn finish(verdict: Attempt, checks: Vec<CheckRecord>, state: ShellState) -> Attempt {
    match checks.iter().find(|c| !c.passed) {
        Some(bad) => Attempt {
            status: StepStatus::Failed,
            reason: Some(format!(
                "{} check (line {}) failed: {}",
                bad.kind, bad.line, bad.message
            )),
            failed_at: Some((bad.line, None)),
            checks,
            state,
            ..verdict
        },
        None => Attempt {
            checks,
            state,
            ..verdict
        },
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}
