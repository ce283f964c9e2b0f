//! Steps on other hosts: where each step runs (`--host`, `host=`, `hosts=`,
//! front matter `host:` and groups), `requires:` on every host, and
//! fan-out: one step on many hosts at once, each with its own log, its
//! lines prefixed with its host on the terminal and in the step's log.

use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::Instant;

use super::step::{self, Attempt, Context, Tee};
use super::{Reporter, RunError, RunOptions};
use crate::exec::{ShellState, Ssh, StreamKind};
use crate::model::{Runbook, Step};
use crate::record::{HostRecord, LogWriter, StepStatus};

/// What every remote step of a run shares.
pub(crate) struct Setup {
    pub(crate) ssh: Ssh,
    /// What steps on a host get besides the host's own environment.
    pub(crate) env: BTreeMap<String, String>,
    /// The hosts the planned steps run on.
    pub(crate) hosts: Vec<String>,
}

impl Drop for Setup {
    fn drop(&mut self) {
        for host in &self.hosts {
            self.ssh.close(host);
        }
        self.ssh.remove_sockets();
    }
}

impl Setup {
    pub(crate) fn new(
        runbook: &Runbook,
        opts: &RunOptions,
        base_env: &BTreeMap<String, String>,
        state_dir: &std::path::Path,
    ) -> Self {
        let mut env: BTreeMap<String, String> = runbook.front.env.clone().into_iter().collect();
        env.extend(opts.env.clone());
        // Inputs supplied through runsheet's own environment go along.
        for input in &runbook.front.inputs {
            if let Some(v) = base_env.get(&input.name) {
                env.entry(input.name.clone()).or_insert_with(|| v.clone());
            }
        }
        Setup {
            ssh: Ssh::new(opts.remote.ssh_config.clone(), state_dir),
            env,
            hosts: Vec::new(),
        }
    }
}

/// Where a step runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Place {
    Here,
    Host(String),
    /// `hosts=`: each of these, `serial` or up to `--forks` at once.
    Hosts {
        hosts: Vec<String>,
        serial: bool,
    },
}

/// `--host` wins, then the step's `hosts=` (groups expanded), its `host=`,
/// then the front matter's `host:`.
pub(crate) fn place(runbook: &Runbook, step: &Step, opts: &RunOptions) -> Place {
    if let Some(host) = &opts.remote.host {
        return Place::Host(host.clone());
    }
    let o = &step.options;
    if !o.hosts.is_empty() {
        let mut hosts: Vec<String> = Vec::new();
        for name in &o.hosts {
            let members = runbook
                .front
                .hosts
                .get(name)
                .cloned()
                .unwrap_or_else(|| vec![name.clone()]);
            for m in members {
                if !hosts.contains(&m) {
                    hosts.push(m);
                }
            }
        }
        return Place::Hosts {
            hosts,
            serial: o.serial,
        };
    }
    match o.host.as_ref().or(runbook.front.host.as_ref()) {
        Some(host) => Place::Host(host.clone()),
        None => Place::Here,
    }
}

/// Every host the planned steps run on, in order of first use.
pub(crate) fn hosts_of(runbook: &Runbook, steps: &[usize], opts: &RunOptions) -> Vec<String> {
    let mut all: Vec<String> = Vec::new();
    for &i in steps {
        let hosts = match place(runbook, &runbook.steps[i], opts) {
            Place::Here => Vec::new(),
            Place::Host(h) => vec![h],
            Place::Hosts { hosts, .. } => hosts,
        };
        for h in hosts {
            if !all.contains(&h) {
                all.push(h);
            }
        }
    }
    all
}

/// `requires:` on each host before anything runs; an unreachable host is
/// refused here too, naming the host and quoting ssh.
pub(crate) fn check_requires(
    runbook: &Runbook,
    hosts: &[String],
    ssh: &Ssh,
) -> Result<(), RunError> {
    if runbook.front.requires.is_empty() {
        return Ok(());
    }
    for host in hosts {
        let missing = crate::exec::missing_on(ssh, host, &runbook.front.requires).map_err(|e| {
            RunError::RemoteRequires {
                runbook: runbook.path.display().to_string(),
                host: host.clone(),
                problem: e.to_string(),
            }
        })?;
        if !missing.is_empty() {
            return Err(RunError::Requires {
                runbook: format!("{} on `{host}`", runbook.path.display()),
                missing,
            });
        }
    }
    Ok(())
}

/// One host's part of a fanned-out step.
pub(crate) struct HostRun {
    pub(crate) host: String,
    pub(crate) log: LogWriter,
    pub(crate) log_name: String,
}

/// What a fan-out gives back: each host's record (in `hosts` order) and the
/// attempt of each host that ran (for its state and masks).
pub(crate) struct FanOut {
    pub(crate) records: Vec<HostRecord>,
    pub(crate) states: Vec<(String, ShellState)>,
    pub(crate) masks: Vec<String>,
    pub(crate) log_errors: Vec<std::io::Error>,
}

/// Output of one host, sent to the thread that owns the terminal and the
/// step's log.
enum Event {
    Output(usize, Vec<u8>),
    Done(usize),
}

/// Forwards a host's output to the owner of the terminal.
struct Forward {
    index: usize,
    tx: mpsc::Sender<Event>,
}

impl Reporter for Forward {
    fn output(&mut self, _stream: StreamKind, bytes: &[u8]) {
        let _ = self.tx.send(Event::Output(self.index, bytes.to_vec()));
    }
}

/// Runs the step on `runs`' hosts, `forks` at once, every host from
/// `state`; its output goes to `tee` with each line prefixed `[host] `.
pub(crate) fn fan_out(
    cx: &Context<'_>,
    state: &ShellState,
    runs: Vec<HostRun>,
    forks: usize,
    tee: &mut Tee<'_>,
) -> FanOut {
    let names: Vec<String> = runs.iter().map(|r| r.host.clone()).collect();
    let count = runs.len();
    let queue: Mutex<VecDeque<(usize, HostRun)>> =
        Mutex::new(runs.into_iter().enumerate().collect());
    let results: Mutex<Vec<Option<HostDone>>> = Mutex::new((0..count).map(|_| None).collect());
    let (tx, rx) = mpsc::channel();
    let workers = forks.clamp(1, count.max(1));
    // One host off the queue; false when none is left.
    let one = |tx: &mpsc::Sender<Event>| {
        let Some((index, run)) = queue.lock().expect("queue").pop_front() else {
            return false;
        };
        let done = one_host(cx, state, run, index, tx.clone());
        results.lock().expect("results")[index] = Some(done);
        let _ = tx.send(Event::Done(index));
        true
    };
    std::thread::scope(|scope| {
        let started = (0..workers)
            .filter(|_| {
                let (tx, one) = (tx.clone(), &one);
                std::thread::Builder::new()
                    .spawn_scoped(scope, move || while one(&tx) {})
                    .is_ok()
            })
            .count();
        let mut lines = Prefixer::new(&names);
        let mut show = |event| match event {
            Event::Output(i, bytes) => lines.push(i, &bytes, tee),
            Event::Done(i) => lines.flush(i, tee),
        };
        if started == 0 {
            // No worker could be started: the hosts run here, one by one.
            while one(&tx) {
                rx.try_iter().for_each(&mut show);
            }
        }
        drop(tx);
        rx.into_iter().for_each(show);
    });
    let mut out = FanOut {
        records: Vec::new(),
        states: Vec::new(),
        masks: Vec::new(),
        log_errors: Vec::new(),
    };
    for (record, tried, masks, error) in
        results.into_inner().expect("results").into_iter().flatten()
    {
        if tried.status == StepStatus::Passed {
            out.states.push((record.host.clone(), tried.state));
        }
        out.masks.extend(masks);
        out.log_errors.extend(error);
        out.records.push(record);
    }
    out
}

/// One host's result, its last attempt, what it asked to mask, and the
/// error writing its log, if any.
type HostDone = (HostRecord, Attempt, Vec<String>, Option<std::io::Error>);

/// One host, with the step's retries.
fn one_host(
    cx: &Context<'_>,
    state: &ShellState,
    run: HostRun,
    index: usize,
    tx: mpsc::Sender<Event>,
) -> HostDone {
    let HostRun {
        host,
        log,
        log_name,
    } = run;
    let started = Instant::now();
    let cx = Context {
        host: Some(&host),
        ..*cx
    };
    let mut forward = Forward { index, tx };
    let mut tee = Tee {
        log,
        reporter: &mut forward,
        error: None,
        masks: Vec::new(),
    };
    let mut last = None;
    for attempt in 1..=cx.step.options.retry + 1 {
        if attempt > 1 {
            if !super::engine::pause(cx.step.options.retry_delay(), cx.interrupt) {
                break;
            }
            let _ = writeln!(tee.log, "--- attempt {attempt} ---");
        }
        let tried = step::attempt(&cx, state, &mut tee).unwrap_or_else(|e| Attempt {
            status: StepStatus::Failed,
            exit_code: None,
            reason: Some(e.to_string()),
            checks: Vec::new(),
            state: state.clone(),
            failed_at: None,
        });
        let again = matches!(tried.status, StepStatus::Failed | StepStatus::TimedOut);
        last = Some(tried);
        if !again {
            break;
        }
    }
    let tried = last.unwrap_or_else(|| Attempt {
        status: StepStatus::Interrupted,
        exit_code: None,
        reason: Some("interrupted".into()),
        checks: Vec::new(),
        state: state.clone(),
        failed_at: None,
    });
    let error = tee.error.take().or_else(|| tee.log.finish().err());
    let record = HostRecord {
        host: host.clone(),
        status: tried.status,
        exit_code: tried.exit_code,
        duration_ms: started.elapsed().as_millis() as u64,
        reason: tried.reason.clone(),
        log: Some(log_name),
        carried_from: None,
    };
    let masks = std::mem::take(&mut tee.masks);
    (record, tried, masks, error)
}

/// Cuts each host's output into lines, each written whole as `[host] line`.
struct Prefixer {
    prefixes: Vec<Vec<u8>>,
    partial: Vec<Vec<u8>>,
}

impl Prefixer {
    fn new(hosts: &[String]) -> Self {
        Prefixer {
            prefixes: hosts
                .iter()
                .map(|h| format!("[{h}] ").into_bytes())
                .collect(),
            partial: hosts.iter().map(|_| Vec::new()).collect(),
        }
    }

    fn push(&mut self, i: usize, bytes: &[u8], tee: &mut Tee<'_>) {
        use crate::exec::OutputSink;
        self.partial[i].extend_from_slice(bytes);
        let Some(last) = self.partial[i].iter().rposition(|&b| b == b'\n') else {
            return;
        };
        let whole: Vec<u8> = self.partial[i].drain(..=last).collect();
        let mut out = Vec::with_capacity(whole.len() + 16);
        for line in whole.split_inclusive(|&b| b == b'\n') {
            out.extend_from_slice(&self.prefixes[i]);
            out.extend_from_slice(line);
        }
        tee.output(StreamKind::Combined, &out);
    }

    fn flush(&mut self, i: usize, tee: &mut Tee<'_>) {
        if !self.partial[i].is_empty() {
            self.partial[i].push(b'\n');
            let rest = std::mem::take(&mut self.partial[i]);
            self.push(i, &rest, tee);
        }
    }
}

/// The step's status from its hosts': passed when all passed, else the
/// first of interrupted, timed out, failed.
pub(crate) fn overall(records: &[HostRecord]) -> (StepStatus, Option<String>) {
    let bad: Vec<&HostRecord> = records
        .iter()
        .filter(|r| r.status != StepStatus::Passed)
        .collect();
    if bad.is_empty() {
        return (StepStatus::Passed, None);
    }
    let status = [
        StepStatus::Interrupted,
        StepStatus::TimedOut,
        StepStatus::Failed,
    ]
    .into_iter()
    .find(|s| bad.iter().any(|r| r.status == *s))
    .unwrap_or(StepStatus::Failed);
    let each: Vec<String> = bad
        .iter()
        .map(|r| {
            let why = r.reason.as_deref().unwrap_or(r.status.as_str());
            format!("{}: {why}", r.host)
        })
        .collect();
    let noun = if records.len() == 1 { "host" } else { "hosts" };
    let reason = format!(
        "failed on {} of {} {noun} ({})",
        bad.len(),
        records.len(),
        each.join("; ")
    );
    (status, Some(reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str, status: StepStatus, reason: Option<&str>) -> HostRecord {
        HostRecord {
            host: name.into(),
            status,
            exit_code: None,
            duration_ms: 0,
            reason: reason.map(str::to_string),
            log: None,
            carried_from: None,
        }
    }

    #[test]
    fn a_fan_out_passes_only_when_every_host_passes() {
        let all = [
            host("a", StepStatus::Passed, None),
            host("b", StepStatus::Passed, None),
        ];
        assert_eq!(overall(&all), (StepStatus::Passed, None));
        let one = [
            host("a", StepStatus::Passed, None),
            host("b", StepStatus::Failed, Some("exit status 1, expected 0")),
            host("c", StepStatus::TimedOut, Some("timed out after 2s")),
        ];
        let (status, reason) = overall(&one);
        assert_eq!(status, StepStatus::TimedOut);
        assert_eq!(
            reason.as_deref(),
            Some("failed on 2 of 3 hosts (b: exit status 1, expected 0; c: timed out after 2s)")
        );
    }

    #[test]
    fn groups_expand_and_the_command_line_host_wins() {
        let mut rb = crate::plan::tests::book(&[], &[], &[]);
        rb.front
            .hosts
            .insert("web".into(), vec!["w1".into(), "w2".into()]);
        rb.front.host = Some("db".into());
        let mut step = crate::plan::tests::book(
            &[("s", None, "S")],
            &[("x", "s", crate::model::StepOptions::default())],
            &[],
        )
        .steps
        .remove(0);
        let mut opts = RunOptions::new(super::super::Mode::Run);
        assert_eq!(place(&rb, &step, &opts), Place::Host("db".into()));
        std::sync::Arc::make_mut(&mut step.options).hosts =
            vec!["web".into(), "w3".into(), "w1".into()];
        assert_eq!(
            place(&rb, &step, &opts),
            Place::Hosts {
                hosts: vec!["w1".into(), "w2".into(), "w3".into()],
                serial: false
            }
        );
        opts.remote.host = Some("only".into());
        assert_eq!(place(&rb, &step, &opts), Place::Host("only".into()));
    }
}
