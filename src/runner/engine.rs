//! The run loop: requires, lock, the record written as steps go, prompts,
//! retries, background steps, stopping on failure or interrupt.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use super::remote::{place, Place, Setup};
use super::step::{self, Attempt, Context, Tee};
use super::{
    fresh_state, Mode, Question, Reporter, RunError, RunOptions, RunStart, StepEnd, StepStart,
};
use crate::exec::ShellState;
use crate::exec::{spawn_background, stop_left_behind, Background, Footprint, Tracker, GRACE};
use crate::model::{Runbook, Step};
use crate::plan::{Entry, Plan, Resume, Why};
use crate::record::{
    new_run_id, HostRecord, RunDir, RunLock, RunRecord, RunStatus, RunWriter, StepRecord,
    StepStatus, Store, TodoRecord, SCHEMA_VERSION,
};
use crate::secrets::Redactor;

/// A routine save of `run.json` is skipped when less time than this many times
/// the last save's cost has passed since it: writing the record then takes at
/// most about 1/20 of the run. A small record is saved at every step; a
/// thousand quick steps do not rewrite a thousand-step record two thousand
/// times. The end of a run and every failure always save, durably.
const SAVE_SPACING: u32 = 20;

const NOT_REACHED: &str = "not reached";

/// The reason a step has while it runs: a runsheet killed outright leaves it.
const IN_PROGRESS: &str = "runsheet stopped while this step ran";

pub(super) fn run(
    runbook: &Runbook,
    plan: &Plan,
    opts: &RunOptions,
    store: &Store,
    reporter: &mut dyn Reporter,
) -> anyhow::Result<RunRecord> {
    let base_env = base_env(runbook, opts);
    let planned: Vec<usize> = plan.step_indices().collect();
    let mut remote = Setup::new(runbook, opts, &base_env, &store.dir);
    let hosts = super::remote::hosts_of(runbook, &planned, opts);
    let all_remote = !planned.is_empty()
        && planned
            .iter()
            .all(|&i| place(runbook, &runbook.steps[i], opts) != Place::Here);
    if !all_remote {
        check_requires(runbook, &base_env)?;
    }
    super::remote::check_requires(runbook, &hosts, &remote.ssh)?;
    remote.hosts = hosts;
    let resumed_state = plan.resume.as_ref().and_then(|r| r.state.clone());
    let (state, why) = match resumed_state.clone() {
        Some(state) => (state, "where the resumed run stood"),
        None => (
            fresh_state(step::first_cwd(runbook, opts)),
            "front matter `cwd`",
        ),
    };
    if !state.cwd.is_dir() {
        return Err(RunError::NoCwd {
            path: state.cwd,
            why,
        }
        .into());
    }
    let runbook_abs = absolute(&opts.start_dir.join(&runbook.path));
    let mut lock = store.lock(&runbook_abs).map_err(RunError::from)?;
    // The run resumed, for the hosts of a fanned-out step that passed there.
    let previous = plan.resume.as_ref().and_then(|r| {
        let dir = RunDir {
            path: store.runbook_dir(&runbook_abs).join(&r.run_id),
        };
        dir.load().ok().map(|record| (record, dir))
    });
    let left_behind = lock.left_behind.take();
    let mut record = first_record(runbook, plan, opts, runbook_abs);
    let writer = store
        .start(&mut record, resumed_state.as_ref())
        .map_err(|e| RunError::Record {
            dir: store.runbook_dir(&record.runbook_abs),
            source: e,
        })?;
    let mut redactor = redactor(runbook, opts);
    // A resumed run masks what the earlier run's steps set, as that run did.
    redactor.learn(
        state
            .variables()
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str())),
    );

    let mut engine = Engine {
        runbook,
        opts,
        reporter,
        writer,
        record,
        redactor,
        base_env,
        // Written with the first save, then only when a step changes it.
        state_dirty: true,
        state,
        backgrounds: Vec::new(),
        tracker: Tracker::new(),
        last_save: Instant::now(),
        save_cost: Duration::ZERO,
        carried: plan.carried.len(),
        current: None,
        started_any: false,
        fault: None,
        remote,
        previous,
    };
    if let Some(resume) = &plan.resume {
        engine.carry_logs(store, resume);
    }
    // Runs killed outright never reach their end, where runs are pruned:
    // what they left is pruned here, past the kept runs and this one.
    let pruned = engine.retain(store, opts.keep_runs.max(1) + 1);
    engine.reporter.run_started(&RunStart {
        runbook,
        plan,
        record: &engine.record,
        run_dir: &engine.writer.dir.path,
        total: plan.step_count(),
    });
    if let Err(e) = pruned {
        engine.prune_failed(&e);
    }
    for w in &plan.warnings {
        engine.reporter.warning(w);
    }
    let result = engine
        .take_over(left_behind.as_ref(), &lock)
        .map_err(anyhow::Error::from)
        .and_then(|()| engine.walk(plan));
    // Background steps end with the run, whatever ended it; then what the
    // steps left behind.
    engine.backgrounds.clear();
    // Before the sweep, which would otherwise stop the connections' masters
    // as processes left behind.
    for host in std::mem::take(&mut engine.remote.hosts) {
        engine.remote.ssh.close(&host);
    }
    engine.stop_leftovers();
    if let Err(e) = result {
        engine.fail(&format!("{e:#}"));
    }
    let saved = engine.finish();
    if let Err(e) = saved {
        let message = format!(
            "cannot write the record {}: {e}",
            engine.writer.dir.record_path().display()
        );
        if engine.record.error.is_none() {
            engine.record.error = Some(message);
        }
        engine.record.status = RunStatus::Failed;
    }
    engine.writer.close();
    engine.prune(store);
    if engine.record.error.is_some() && !engine.started_any {
        // Nothing ran: a refusal (exit 2), not a failed run.
        let error = engine.record.error.take().unwrap_or_default();
        return Err(anyhow::anyhow!("{error}; nothing was run"));
    }
    engine.reporter.run_finished(&engine.record);
    Ok(engine.record)
}

struct Engine<'a> {
    runbook: &'a Runbook,
    opts: &'a RunOptions,
    reporter: &'a mut dyn Reporter,
    writer: RunWriter,
    record: RunRecord,
    redactor: Redactor,
    base_env: BTreeMap<String, String>,
    /// Shell state after the last passed step.
    state: ShellState,
    /// `state` changed since `state.json` was written.
    state_dirty: bool,
    backgrounds: Vec<Background>,
    /// The run's processes: what steps leave behind is stopped at the end.
    tracker: Tracker,
    last_save: Instant,
    /// How long the last routine (not fsynced) save took.
    save_cost: Duration,
    /// Carried records at the head of `record.steps`.
    carried: usize,
    /// The slot of the step being run, while it runs.
    current: Option<usize>,
    /// A step's process was started: a fault from now on fails the run
    /// (exit 1) rather than refusing it (exit 2).
    started_any: bool,
    /// A fault of runsheet's own met while a step ran (its log could not be
    /// written): the step is recorded, then the run stops.
    fault: Option<String>,
    /// ssh and the environment remote steps get.
    remote: Setup,
    /// The run `--resume` goes on from, and its folder.
    previous: Option<(RunRecord, RunDir)>,
}

/// How the walk through the plan ended.
#[derive(PartialEq, Eq)]
enum Flow {
    Go,
    Stop,
}

impl Engine<'_> {
    /// Stops what a run of this runbook that died left running (SPEC §3),
    /// then records this run's processes beside the lock.
    fn take_over(&mut self, left: Option<&Footprint>, lock: &RunLock) -> std::io::Result<()> {
        for stopped in left.map(|f| stop_left_behind(f, GRACE)).unwrap_or_default() {
            self.reporter.warning(&stopped.to_string());
        }
        if let Some(run) = Footprint::current() {
            let mut pids = lock.record_pids(&run)?;
            self.tracker.on_start(Box::new(move |group| {
                // Only a safety net for a crash: a failed write must not
                // stop the step.
                let _ = pids.add(group);
            }));
        }
        Ok(())
    }

    /// Stops and names what the steps left running (GitHub Actions' orphan
    /// clean-up).
    fn stop_leftovers(&mut self) {
        for stopped in self.tracker.sweep(GRACE) {
            self.reporter.warning(&stopped.to_string());
        }
    }

    fn walk(&mut self, plan: &Plan) -> anyhow::Result<()> {
        let total = plan.step_count();
        let mut position = 0;
        for entry in &plan.entries {
            match *entry {
                Entry::Todo { index } => {
                    self.reporter.todo(self.runbook, &self.runbook.todos[index]);
                }
                Entry::Step { index, why } => {
                    position += 1;
                    if self.opts.interrupt.is_set() {
                        self.record.status = RunStatus::Interrupted;
                        self.mark_rest("not run: the run was interrupted");
                        return Ok(());
                    }
                    let flow = self.step(index, why, position, total)?;
                    if flow == Flow::Stop {
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    }

    fn slot(&self, position: usize) -> usize {
        self.carried + position - 1
    }

    fn step(
        &mut self,
        index: usize,
        why: Why,
        position: usize,
        total: usize,
    ) -> anyhow::Result<Flow> {
        let runbook = self.runbook;
        let step = &runbook.steps[index];
        let slot = self.slot(position);
        let started = SystemTime::now();
        let clock = Instant::now();
        self.current = Some(slot);
        let mut result = match self.gate(step) {
            // Ctrl-C at a prompt is an interrupt, not an answer.
            Some(done) if self.opts.interrupt.is_set() => StepRecord {
                status: StepStatus::Interrupted,
                reason: Some("interrupted at the prompt".into()),
                ..done
            },
            Some(done) => done,
            None => self.execute(step, slot, why, position, total)?,
        };
        result.duration_ms = clock.elapsed().as_millis() as u64;
        if result.status != StepStatus::Skipped {
            result.started = Some(rfc3339(started));
        }
        if result.failed() && result.failed_line.is_none() {
            result.failed_line = Some(step.line);
        }
        let failed = result.failed();
        // A `confirm` step not run in `run` (declined, or no one to ask)
        // stops the run as a failure does: what follows may depend on it.
        let unconfirmed = self.opts.mode == Mode::Run
            && step.options.confirm
            && result.status == StepStatus::NotRun;
        self.record.steps[slot] = result;
        self.reporter.step_finished(&StepEnd {
            runbook,
            step,
            position,
            total,
            record: &self.record.steps[slot],
        });
        self.save(failed || unconfirmed)?;
        self.current = None;
        let status = self.record.steps[slot].status;
        if status == StepStatus::Interrupted || self.opts.interrupt.is_set() {
            self.record.status = RunStatus::Interrupted;
            self.mark_rest("not run: the run was interrupted");
            return Ok(Flow::Stop);
        }
        if let Some(fault) = self.fault.take() {
            self.fail(&fault);
            return Ok(Flow::Stop);
        }
        if failed || unconfirmed {
            self.record.status = RunStatus::Failed;
            if !self.opts.keep_going {
                let what = if failed {
                    "failed"
                } else {
                    "was not confirmed"
                };
                let why = format!("not run: step `{}` {what}", step.id);
                self.mark_rest(&why);
                return Ok(Flow::Stop);
            }
        }
        Ok(Flow::Go)
    }

    /// Steps that do not run a process here: `skip`, `manual`, and in check
    /// mode `interactive` and unconfirmed `confirm`; in run mode a `confirm`
    /// step declined, or with no terminal to ask (not run, and the run
    /// fails). `None`: run it.
    fn gate(&mut self, step: &Step) -> Option<StepRecord> {
        let o = &step.options;
        let mode = self.opts.mode;
        let unconfirmed = o.confirm && !self.opts.yes;
        let (status, reason) = if o.skip {
            (StepStatus::Skipped, "skipped (skip)")
        } else if o.manual && mode == Mode::Check {
            (StepStatus::Manual, "manual step: a person does this")
        } else if o.manual {
            if self.reporter.ask(Question::Manual(step)) {
                (StepStatus::Passed, "done by hand")
            } else {
                (StepStatus::Failed, "manual step not done")
            }
        } else if o.interactive && mode == Mode::Check {
            (StepStatus::NotRun, "interactive step: not run by check")
        } else if unconfirmed && mode == Mode::Check {
            (StepStatus::NotRun, "confirm step: not run without --yes")
        } else if unconfirmed && !self.opts.can_ask {
            (
                StepStatus::NotRun,
                "confirm step not run: no terminal to ask; run with --yes to confirm it",
            )
        } else if unconfirmed && !self.reporter.ask(Question::Confirm(step)) {
            (
                StepStatus::NotRun,
                "declined at the prompt; --resume asks again",
            )
        } else {
            return None;
        };
        Some(StepRecord {
            status,
            reason: Some(reason.to_string()),
            ..self.blank(step)
        })
    }

    fn blank(&self, step: &Step) -> StepRecord {
        StepRecord::not_run(step, None)
    }

    /// Runs a step's process(es), with retries, logging to its log file.
    fn execute(
        &mut self,
        step: &Step,
        slot: usize,
        why: Why,
        position: usize,
        total: usize,
    ) -> anyhow::Result<StepRecord> {
        let (log_name, log) = self
            .writer
            .log(slot, &step.id, self.opts.max_log)
            .map_err(|e| {
                let (_, path) = self.writer.dir.log_path(slot, &step.id);
                anyhow::anyhow!("cannot write {}: {e}", path.display())
            })?;
        let mut record = StepRecord {
            log: Some(log_name),
            ..self.blank(step)
        };
        // Mark the step as the one in progress, so a runsheet killed outright
        // leaves a record that points here.
        self.record.steps[slot].status = StepStatus::Interrupted;
        self.record.steps[slot].reason = Some(IN_PROGRESS.into());
        self.save(false)?;
        let runbook = self.runbook;
        let place = place(runbook, step, self.opts);
        if let Place::Hosts { hosts, serial } = &place {
            return self.fan_out(step, slot, why, position, total, hosts, *serial, record);
        }
        let host = match &place {
            Place::Host(h) => Some(h.as_str()),
            _ => None,
        };
        record.host = host.map(str::to_string);
        let cx = Context {
            runbook,
            step,
            opts: self.opts,
            base_env: &self.base_env,
            redactor: &self.redactor,
            interrupt: &self.opts.interrupt,
            tracker: &self.tracker,
            host,
            remote: &self.remote,
        };
        let cwd = match host {
            Some(h) => remote_cwd(step, &self.state, h),
            None => step::cwd_override(runbook, step, self.opts)
                .unwrap_or_else(|| self.state.cwd.clone()),
        };
        if host.is_some() && step.options.background {
            record.status = StepStatus::Failed;
            record.reason = Some("a background step runs here only, not on a host".into());
            return Ok(record);
        }
        let missing_cwd = host.is_none() && !cwd.is_dir();
        if missing_cwd || step.options.background {
            self.reporter.step_started(&StepStart {
                runbook,
                step,
                position,
                total,
                cwd: &cwd,
                why,
                attempt: 1,
            });
        }
        if missing_cwd {
            record.status = StepStatus::Failed;
            record.reason = Some(format!(
                "working directory {} does not exist",
                cwd.display()
            ));
            return Ok(record);
        }
        self.started_any = true;
        if step.options.background {
            record.background = true;
            record.attempts = 1;
            match spawn_background(&cx.request(step.script(), &self.state), log) {
                Ok(bg) => {
                    self.backgrounds.push(bg);
                    record.status = StepStatus::Passed;
                    record.reason =
                        Some("started in the background; stopped when the run ends".into());
                }
                Err(e) => {
                    record.status = StepStatus::Failed;
                    record.reason = Some(format!(
                        "could not run `{}`: {e}",
                        step::program(runbook, step)
                    ));
                }
            }
            return Ok(record);
        }
        let mut tee = Tee {
            log,
            reporter: &mut *self.reporter,
            error: None,
            masks: Vec::new(),
        };
        let mut last: Option<Attempt> = None;
        for attempt in 1..=step.options.retry + 1 {
            if attempt > 1 {
                if !pause(step.options.retry_delay(), &self.opts.interrupt) {
                    break;
                }
                let _ = writeln!(tee.log, "--- attempt {attempt} ---");
            }
            tee.reporter.step_started(&StepStart {
                runbook,
                step,
                position,
                total,
                cwd: &cwd,
                why,
                attempt,
            });
            let tried = step::attempt(&cx, &self.state, &mut tee).unwrap_or_else(|e| Attempt {
                status: StepStatus::Failed,
                exit_code: None,
                reason: Some(match host {
                    // The message names the host and quotes ssh.
                    Some(_) => e.to_string(),
                    None => format!("could not run `{}`: {e}", step::program(runbook, step)),
                }),
                checks: Vec::new(),
                state: self.state.clone(),
                failed_at: None,
            });
            record.attempts = attempt;
            let again = tried.status == StepStatus::Failed || tried.status == StepStatus::TimedOut;
            last = Some(tried);
            if !again {
                break;
            }
        }
        let finished = tee.log.finish();
        let (_, log_path) = self.writer.dir.log_path(slot, &step.id);
        match (tee.error.take(), finished) {
            (Some(e), _) | (None, Err(e)) => {
                self.fault = Some(format!("cannot write {}: {e}", log_path.display()));
            }
            (None, Ok(dropped)) => record.log_dropped = dropped,
        }
        let tried = last.expect("at least one attempt ran");
        let masks = std::mem::take(&mut tee.masks);
        drop(tee);
        if self.learn_secrets(&tried.state, &masks) {
            step::remask_log(&log_path, &self.redactor)
                .map_err(|e| anyhow::anyhow!("cannot mask {}: {e}", log_path.display()))?;
            self.remask_earlier(slot)?;
        }
        if tried.status == StepStatus::Passed && tried.state != self.state {
            // Most steps change nothing: no state.json to rewrite for them.
            self.state = tried.state;
            self.state_dirty = true;
        }
        record.status = tried.status;
        record.exit_code = tried.exit_code;
        record.reason = tried.reason;
        record.checks = tried.checks;
        if let Some((line, command)) = tried.failed_at {
            record.failed_line = Some(line);
            record.failed_command = command;
        }
        remask_record(&mut record, &self.redactor);
        Ok(record)
    }

    /// A fanned-out step (`hosts=`): every host that has not passed it in
    /// the run resumed, `--forks` at once (one at a time when `serial`).
    #[allow(clippy::too_many_arguments)]
    fn fan_out(
        &mut self,
        step: &Step,
        slot: usize,
        why: Why,
        position: usize,
        total: usize,
        hosts: &[String],
        serial: bool,
        mut record: StepRecord,
    ) -> anyhow::Result<StepRecord> {
        let runbook = self.runbook;
        self.started_any = true;
        let carried = self.carried_hosts(step, slot);
        let mut runs = Vec::new();
        for host in hosts
            .iter()
            .filter(|h| !carried.iter().any(|c| &c.host == *h))
        {
            let (log_name, log) = self
                .writer
                .log(slot, &format!("{}@{host}", step.id), self.opts.max_log)
                .map_err(|e| anyhow::anyhow!("cannot write the log of {host}: {e}"))?;
            runs.push(super::remote::HostRun {
                host: host.clone(),
                log,
                log_name,
            });
        }
        let (_, log) = self
            .writer
            .log(slot, &step.id, self.opts.max_log)
            .map_err(|e| anyhow::anyhow!("cannot write the log of `{}`: {e}", step.id))?;
        let start_cwd = PathBuf::new();
        self.reporter.step_started(&StepStart {
            runbook,
            step,
            position,
            total,
            cwd: &start_cwd,
            why,
            attempt: 1,
        });
        let cx = Context {
            runbook,
            step,
            opts: self.opts,
            base_env: &self.base_env,
            redactor: &self.redactor,
            interrupt: &self.opts.interrupt,
            tracker: &self.tracker,
            host: None,
            remote: &self.remote,
        };
        let mut tee = Tee {
            log,
            reporter: &mut *self.reporter,
            error: None,
            masks: Vec::new(),
        };
        let forks = if serial { 1 } else { self.opts.remote.forks };
        let done = super::remote::fan_out(&cx, &self.state, runs, forks, &mut tee);
        let finished = tee.log.finish();
        let log_error = tee.error.take();
        drop(tee);
        if let Some(e) = log_error
            .or(finished.err())
            .or(done.log_errors.into_iter().next())
        {
            self.fault = Some(format!("cannot write the log of `{}`: {e}", step.id));
        }
        // Each host's state is its own: a host that passed keeps what it
        // left, whatever the other hosts did.
        let mut learnt = ShellState::default();
        for (host, state) in done.states {
            if let Some(own) = state.remote.get(&host) {
                self.state.remote.insert(host.clone(), own.clone());
                learnt.remote.insert(host, own.clone());
                self.state_dirty = true;
            }
        }
        if self.learn_secrets(&learnt, &done.masks) {
            let (_, log_path) = self.writer.dir.log_path(slot, &step.id);
            step::remask_log(&log_path, &self.redactor)
                .map_err(|e| anyhow::anyhow!("cannot mask {}: {e}", log_path.display()))?;
        }
        let mut records: Vec<HostRecord> = Vec::new();
        for host in hosts {
            let found = carried
                .iter()
                .chain(done.records.iter())
                .find(|r| &r.host == host);
            records.extend(found.cloned());
        }
        let (status, reason) = super::remote::overall(&records);
        record.status = status;
        record.reason = reason;
        record.exit_code = records
            .iter()
            .find(|r| r.status != StepStatus::Passed)
            .or(records.first())
            .and_then(|r| r.exit_code);
        record.attempts = 1;
        record.hosts = records;
        remask_record(&mut record, &self.redactor);
        Ok(record)
    }

    /// The hosts of `step` that passed it in the run `--resume` goes on
    /// from, their logs brought into this run's folder.
    fn carried_hosts(&mut self, step: &Step, slot: usize) -> Vec<HostRecord> {
        let Some((previous, dir)) = &self.previous else {
            return Vec::new();
        };
        let Some(before) = previous
            .steps
            .iter()
            .find(|s| s.id == step.id && s.command_hash == step.hash)
        else {
            return Vec::new();
        };
        let mut carried = Vec::new();
        for host in before
            .hosts
            .iter()
            .filter(|h| h.status == StepStatus::Passed)
        {
            let mut host = host.clone();
            host.carried_from = Some(host.carried_from.clone().unwrap_or(previous.run_id.clone()));
            host.log = host.log.as_ref().and_then(|name| {
                let from = dir.path.join(name);
                self.writer
                    .carry_log(&from, slot, &format!("{}@{}", step.id, host.host))
                    .ok()
            });
            carried.push(host);
        }
        carried
    }

    /// Brings the logs of the results carried forward into this run's
    /// folder, so that deleting old runs never takes a log a record needs.
    fn carry_logs(&mut self, store: &Store, resume: &Resume) {
        let previous = RunDir {
            path: store
                .runbook_dir(&self.record.runbook_abs)
                .join(&resume.run_id),
        };
        for slot in 0..self.carried {
            let step = &self.record.steps[slot];
            let Some(from) = previous.find_log(step) else {
                continue;
            };
            if let Ok(name) = self.writer.carry_log(&from, slot, &step.id) {
                self.record.steps[slot].log = Some(name);
            }
        }
        let _ = self.save(false);
    }

    /// A fault of runsheet's own (a full disk, a state dir gone) ends the
    /// run: `failed`, with the reason, the step it met marked failed and the
    /// rest not run.
    fn fail(&mut self, message: &str) {
        self.record.status = RunStatus::Failed;
        if self.record.error.is_none() {
            self.record.error = Some(message.to_string());
        }
        if let Some(slot) = self.current.take() {
            let s = &mut self.record.steps[slot];
            if s.status == StepStatus::Interrupted && s.reason.as_deref() == Some(IN_PROGRESS) {
                // Its process ran; how it ended was lost with the fault.
                s.status = StepStatus::Failed;
                s.reason = Some(format!("runsheet stopped: {message}"));
            } else if s.status == StepStatus::NotRun {
                s.reason = Some(format!("not run: runsheet stopped: {message}"));
            }
        }
        self.mark_rest(&format!("not run: runsheet stopped: {message}"));
    }

    /// Secrets a step set (secret-named variables, exported or not) or
    /// announced (`::add-mask::`): masked from now on. True when any is new,
    /// and so the step's own log needs masking again.
    fn learn_secrets(&mut self, state: &ShellState, masks: &[String]) -> bool {
        let vars = state.variables();
        let mut grew = self
            .redactor
            .learn(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        for value in masks {
            grew |= self.redactor.add(value);
        }
        grew
    }

    /// A secret learnt now may have been printed by an earlier step of this
    /// run (fetched there, named here): their logs and results are masked
    /// again too. A background step's log is left alone: its step still
    /// writes to it.
    fn remask_earlier(&mut self, slot: usize) -> anyhow::Result<()> {
        for earlier in &mut self.record.steps[self.carried..slot] {
            remask_record(earlier, &self.redactor);
            let background = self
                .runbook
                .steps
                .iter()
                .any(|s| s.id == earlier.id && s.options.background);
            let Some(name) = earlier.log.as_ref().filter(|_| !background) else {
                continue;
            };
            let path = self.writer.dir.path.join(name);
            if path.exists() {
                step::remask_log(&path, &self.redactor)
                    .map_err(|e| anyhow::anyhow!("cannot mask {}: {e}", path.display()))?;
            }
        }
        Ok(())
    }

    fn mark_rest(&mut self, reason: &str) {
        for s in &mut self.record.steps[self.carried..] {
            if s.status == StepStatus::NotRun && s.reason.as_deref() == Some(NOT_REACHED) {
                s.reason = Some(reason.to_string());
            }
        }
    }

    /// Writes `run.json`, and `state.json` with it when the state changed
    /// (see [`RunWriter::save`]: the two always agree), when forced or when
    /// the last write is old enough.
    fn save(&mut self, force: bool) -> anyhow::Result<()> {
        if !force && self.last_save.elapsed() < self.save_cost * SAVE_SPACING {
            return Ok(());
        }
        let start = Instant::now();
        let state = self.state_dirty.then_some(&self.state);
        self.writer
            .save(&mut self.record, state, force)
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot write the record {}: {e}",
                    self.writer.dir.record_path().display()
                )
            })?;
        self.state_dirty = false;
        self.last_save = Instant::now();
        if !force {
            self.save_cost = self.last_save - start;
        }
        Ok(())
    }

    /// Deletes the runs past the number kept, once this one is over. Not at
    /// its start: on ext4 without a journal every file created scans past
    /// each inode deleted in the last half-minute, so a thousand logs
    /// deleted first made each of this run's thousand new files cost
    /// hundreds of microseconds.
    fn prune(&mut self, store: &Store) {
        if let Err(e) = self.retain(store, self.opts.keep_runs.max(1)) {
            self.prune_failed(&e);
        }
    }

    fn retain(&self, store: &Store, keep: usize) -> std::io::Result<usize> {
        let ids: Vec<&str> = self.runbook.steps.iter().map(|s| s.id.as_str()).collect();
        store.retain(&self.record.runbook_abs, keep, &ids)
    }

    fn prune_failed(&mut self, e: &std::io::Error) {
        self.reporter.warning(&format!(
            "could not delete old runs of {}: {e}",
            self.runbook.path.display()
        ));
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        if self.record.status == RunStatus::Running {
            self.record.status = RunStatus::Passed;
        }
        self.record.finished = Some(rfc3339(SystemTime::now()));
        let state = self.state_dirty.then_some(&self.state);
        self.writer
            .save_last(&mut self.record, state)
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot write the record {}: {e}",
                    self.writer.dir.record_path().display()
                )
            })?;
        self.state_dirty = false;
        Ok(())
    }
}

/// Where a step on `host` starts: its `cwd=`, else where the host's
/// carried state stands (empty: the login folder).
fn remote_cwd(step: &Step, state: &ShellState, host: &str) -> PathBuf {
    match &step.options.cwd {
        Some(cwd) => PathBuf::from(cwd),
        None => state
            .remote
            .get(host)
            .map(|s| s.cwd.clone())
            .unwrap_or_default(),
    }
}

/// Masks the texts of a step's result that may quote its output, its
/// command or a check's text (which may equal a secret).
fn remask_record(record: &mut StepRecord, redactor: &Redactor) {
    if redactor.is_empty() {
        return;
    }
    let mask = |text: &mut String| *text = redactor.redact(text);
    let mask_some = |text: &mut Option<String>| {
        if let Some(text) = text {
            mask(text);
        }
    };
    mask_some(&mut record.reason);
    mask_some(&mut record.failed_command);
    for check in &mut record.checks {
        mask(&mut check.message);
        mask_some(&mut check.diff);
        mask_some(&mut check.actual);
    }
}

/// Waits `delay` between retries; false when interrupted meanwhile.
pub(super) fn pause(delay: Duration, interrupt: &super::Interrupt) -> bool {
    let until = Instant::now() + delay;
    while Instant::now() < until {
        if interrupt.is_set() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20).min(until - Instant::now()));
    }
    !interrupt.is_set()
}

fn first_record(
    runbook: &Runbook,
    plan: &Plan,
    opts: &RunOptions,
    runbook_abs: PathBuf,
) -> RunRecord {
    let planned = plan
        .step_indices()
        .map(|i| StepRecord::not_run(&runbook.steps[i], Some(NOT_REACHED.to_string())));
    RunRecord {
        schema: SCHEMA_VERSION,
        run_id: new_run_id(),
        runbook: runbook.path.clone(),
        runbook_abs,
        runbook_hash: runbook.hash.clone(),
        title: runbook.title.clone(),
        started: rfc3339(SystemTime::now()),
        finished: None,
        status: RunStatus::Running,
        mode: opts.mode.as_str().to_string(),
        steps: plan.carried.iter().cloned().chain(planned).collect(),
        selection: Some(plan.selection.to_record()),
        // Every missing step in the selection, met or not: a run that stops
        // early still has them to do.
        todos: plan
            .entries
            .iter()
            .filter_map(|e| match e {
                Entry::Todo { index } => Some(&runbook.todos[*index]),
                Entry::Step { .. } => None,
            })
            .map(|todo| TodoRecord {
                section: todo.section.clone(),
                line: todo.line,
                text: todo.text.clone(),
            })
            .collect(),
        ..RunRecord::default()
    }
}

/// Names whose values are masked besides the secret-looking ones.
fn redact_names(runbook: &Runbook, opts: &RunOptions) -> Vec<String> {
    let mut names = runbook.front.redact.clone();
    names.extend(opts.redact.iter().cloned());
    names
}

/// The masker of a run: secret values of the environment steps start from.
pub(super) fn redactor(runbook: &Runbook, opts: &RunOptions) -> Redactor {
    let env = base_env(runbook, opts);
    Redactor::new(
        env.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        &redact_names(runbook, opts),
    )
}

/// The environment every step starts from: the process's, then the front
/// matter's `env`, then `--env`.
fn base_env(runbook: &Runbook, opts: &RunOptions) -> BTreeMap<String, String> {
    let mut env = opts.base_env.clone();
    env.extend(
        runbook
            .front
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    env.extend(opts.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    env
}

fn check_requires(runbook: &Runbook, env: &BTreeMap<String, String>) -> Result<(), RunError> {
    let path = env.get("PATH").map(String::as_str).unwrap_or("");
    let missing: Vec<String> = runbook
        .front
        .requires
        .iter()
        .filter(|program| !on_path(program, path))
        .cloned()
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(RunError::Requires {
            runbook: runbook.path.display().to_string(),
            missing,
        })
    }
}

fn on_path(program: &str, path: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        return executable(Path::new(program));
    }
    std::env::split_paths(path).any(|dir| executable(&dir.join(program)))
}

fn absolute(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::StepOptions;
    use crate::plan::{plan, tests::book, Selection};
    use crate::runner::Silent;

    #[test]
    fn requires_names_every_missing_program() {
        let mut rb = book(&[], &[], &[]);
        rb.front.requires = vec!["sh".into(), "no-such-a".into(), "no-such-b".into()];
        let env = BTreeMap::from([("PATH".to_string(), "/usr/bin:/bin".to_string())]);
        let err = check_requires(&rb, &env).unwrap_err().to_string();
        assert_eq!(
            err,
            "book.md requires programs `no-such-a`, `no-such-b` not found on PATH"
        );
    }

    #[test]
    fn runs_steps_in_order_and_records_them() {
        let tmp = tempfile::tempdir().unwrap();
        let mut rb = book(
            &[("s", None, "S")],
            &[
                ("one", "s", StepOptions::default()),
                ("two", "s", StepOptions::default()),
            ],
            &[],
        );
        rb.steps[1].code = "echo two; exit 3\n".into();
        let mut opts = RunOptions::new(Mode::Run);
        opts.start_dir = tmp.path().to_path_buf();
        let store = Store::new(tmp.path().join(".runsheet"));
        let p = plan(&rb, &Selection::default()).unwrap();
        let record = run(&rb, &p, &opts, &store, &mut super::super::Silent).unwrap();
        assert_eq!(record.status, RunStatus::Failed);
        assert_eq!(record.steps[0].status, StepStatus::Passed);
        assert_eq!(record.steps[1].status, StepStatus::Failed);
        assert_eq!(
            record.steps[1].reason.as_deref(),
            Some("exit status 3, expected 0")
        );
        let (latest, dir) = store.latest(&tmp.path().join("book.md")).unwrap().unwrap();
        assert_eq!(latest.status, RunStatus::Failed);
        let log = dir
            .read_log(record.steps[0].log.as_deref().unwrap())
            .unwrap();
        assert_eq!(log, b"one\n");
    }

    /// Answers prompts from a list, and remembers what was asked.
    #[derive(Default)]
    struct Answers {
        answers: Vec<bool>,
        asked: Vec<String>,
    }

    impl Reporter for Answers {
        fn ask(&mut self, question: Question<'_>) -> bool {
            let (what, step) = match question {
                Question::Confirm(step) => ("confirm", step),
                Question::Manual(step) => ("manual", step),
            };
            self.asked.push(format!("{what} {}", step.id));
            !self.answers.is_empty() && self.answers.remove(0)
        }
    }

    fn with(f: impl FnOnce(&mut StepOptions)) -> StepOptions {
        let mut o = StepOptions::default();
        f(&mut o);
        o
    }

    /// Runs `rb` in a scratch dir; returns the record and the dir.
    fn go(
        rb: &Runbook,
        mode: Mode,
        tune: impl FnOnce(&mut RunOptions),
        reporter: &mut dyn Reporter,
    ) -> (RunRecord, tempfile::TempDir) {
        let tmp = tempfile::tempdir().unwrap();
        let mut opts = RunOptions::new(mode);
        opts.start_dir = tmp.path().to_path_buf();
        tune(&mut opts);
        let store = Store::new(tmp.path().join(".runsheet"));
        let p = plan(rb, &Selection::default()).unwrap();
        let record = run(rb, &p, &opts, &store, reporter).unwrap();
        (record, tmp)
    }

    fn statuses(record: &RunRecord) -> Vec<(String, StepStatus, String)> {
        record
            .steps
            .iter()
            .map(|s| (s.id.clone(), s.status, s.reason.clone().unwrap_or_default()))
            .collect()
    }

    fn gated_book() -> Runbook {
        book(
            &[("s", None, "S")],
            &[
                ("manual", "s", with(|o| o.manual = true)),
                ("tty", "s", with(|o| o.interactive = true)),
                ("ask", "s", with(|o| o.confirm = true)),
                ("never", "s", with(|o| o.skip = true)),
            ],
            &[],
        )
    }

    #[test]
    fn check_mode_never_prompts() {
        let rb = gated_book();
        let mut answers = Answers::default();
        let (record, _tmp) = go(&rb, Mode::Check, |_| {}, &mut answers);
        assert!(answers.asked.is_empty());
        let got = statuses(&record);
        assert_eq!(got[0].1, StepStatus::Manual);
        assert_eq!(
            got[1],
            (
                "tty".into(),
                StepStatus::NotRun,
                "interactive step: not run by check".into()
            )
        );
        assert_eq!(
            got[2],
            (
                "ask".into(),
                StepStatus::NotRun,
                "confirm step: not run without --yes".into()
            )
        );
        assert_eq!(got[3].1, StepStatus::Skipped);
        assert_eq!(record.status, RunStatus::Passed);

        let (record, _tmp) = go(&rb, Mode::Check, |o| o.yes = true, &mut Answers::default());
        assert_eq!(record.steps[2].status, StepStatus::Passed);
    }

    #[test]
    fn run_mode_asks_and_a_manual_step_not_done_fails() {
        let rb = gated_book();
        let mut answers = Answers {
            answers: vec![true, false],
            ..Answers::default()
        };
        let (record, _tmp) = go(
            &rb,
            Mode::Run,
            |o| {
                o.keep_going = true;
                o.can_ask = true;
            },
            &mut answers,
        );
        assert_eq!(answers.asked, ["manual manual", "confirm ask"]);
        let got = statuses(&record);
        assert_eq!(
            got[0],
            ("manual".into(), StepStatus::Passed, "done by hand".into())
        );
        assert_eq!(
            got[2],
            (
                "ask".into(),
                StepStatus::NotRun,
                "declined at the prompt; --resume asks again".into()
            )
        );
        assert_eq!(
            record.status,
            RunStatus::Failed,
            "a declined step fails the run"
        );

        let mut answers = Answers::default();
        let (record, _tmp) = go(&rb, Mode::Run, |_| {}, &mut answers);
        assert_eq!(record.status, RunStatus::Failed);
        assert_eq!(
            record.steps[0].reason.as_deref(),
            Some("manual step not done")
        );
        assert_eq!(
            record.steps[1].reason.as_deref(),
            Some("not run: step `manual` failed")
        );
    }

    #[test]
    fn retry_runs_again_until_the_step_passes() {
        let mut rb = book(
            &[("s", None, "S")],
            &[(
                "flaky",
                "s",
                with(|o| {
                    o.retry = 3;
                    o.delay = Some(Duration::from_millis(10));
                }),
            )],
            &[],
        );
        rb.steps[0].code =
            "n=$(cat count 2>/dev/null || echo 0)\necho $((n+1)) > count\necho try $n\ntest $n -ge 2\n"
                .into();
        let (record, tmp) = go(&rb, Mode::Run, |_| {}, &mut Silent);
        assert_eq!(record.steps[0].status, StepStatus::Passed);
        assert_eq!(record.steps[0].attempts, 3);
        let store = Store::new(tmp.path().join(".runsheet"));
        let (_, dir) = store.latest(&tmp.path().join("book.md")).unwrap().unwrap();
        let log = dir
            .read_log(record.steps[0].log.as_deref().unwrap())
            .unwrap();
        assert_eq!(
            String::from_utf8(log).unwrap(),
            "try 0\n--- attempt 2 ---\ntry 1\n--- attempt 3 ---\ntry 2\n"
        );
    }

    #[test]
    fn a_console_step_stops_at_its_first_failing_command() {
        use crate::model::{ConsoleCommand, StepKind};
        let mut rb = book(
            &[("s", None, "S")],
            &[("demo", "s", StepOptions::default())],
            &[],
        );
        let cmd = |c: &str| ConsoleCommand {
            command: c.into(),
            line: 1,
            expected: None,
            exit: None,
            output_span: Default::default(),
        };
        rb.steps[0].kind = StepKind::Console {
            program: "bash".into(),
            commands: vec![cmd("echo a"), cmd("false"), cmd("echo never")],
        };
        let (record, tmp) = go(&rb, Mode::Run, |_| {}, &mut Silent);
        assert_eq!(record.steps[0].status, StepStatus::Failed);
        assert_eq!(
            record.steps[0].reason.as_deref(),
            Some("`$ false` exit status 1, expected 0")
        );
        let store = Store::new(tmp.path().join(".runsheet"));
        let (_, dir) = store.latest(&tmp.path().join("book.md")).unwrap().unwrap();
        let log = dir
            .read_log(record.steps[0].log.as_deref().unwrap())
            .unwrap();
        assert_eq!(String::from_utf8(log).unwrap(), "$ echo a\na\n$ false\n");
    }

    #[test]
    fn background_steps_are_stopped_when_the_run_ends() {
        let mut rb = book(
            &[("s", None, "S")],
            &[
                ("server", "s", with(|o| o.background = true)),
                ("client", "s", StepOptions::default()),
            ],
            &[],
        );
        rb.steps[0].code = "echo $$ > server.pid\nexec sleep 60\n".into();
        rb.steps[1].code =
            "for i in $(seq 100); do test -s server.pid && break; sleep 0.05; done\n".into();
        let (record, tmp) = go(&rb, Mode::Run, |_| {}, &mut Silent);
        assert_eq!(record.status, RunStatus::Passed);
        let pid = std::fs::read_to_string(tmp.path().join("server.pid")).unwrap();
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()));
        assert!(
            stat.is_err() || stat.unwrap().contains(") Z "),
            "background step {pid} still runs"
        );
    }

    #[test]
    fn a_step_that_cannot_start_fails_with_the_reason() {
        use crate::model::StepKind;
        let mut rb = book(
            &[("s", None, "S")],
            &[
                ("nowhere", "s", with(|o| o.cwd = Some("nope".into()))),
                ("no-program", "s", StepOptions::default()),
            ],
            &[],
        );
        rb.steps[1].kind = StepKind::Interpreter {
            program: "no-such-interpreter-xyz".into(),
        };
        let (record, tmp) = go(&rb, Mode::Run, |o| o.keep_going = true, &mut Silent);
        assert_eq!(
            record.steps[0].reason,
            Some(format!(
                "working directory {} does not exist",
                tmp.path().join("nope").display()
            ))
        );
        assert_eq!(record.steps[1].status, StepStatus::Failed);
        let reason = record.steps[1].reason.clone().unwrap();
        assert!(
            reason.starts_with("could not run `no-such-interpreter-xyz`"),
            "{reason}"
        );
        assert_eq!(record.status, RunStatus::Failed);
    }
}
