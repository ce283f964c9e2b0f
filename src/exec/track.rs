//! Which run, and which step, a process belongs to, so that what steps leave
//! behind can be stopped and named when the run ends, and what a killed run
//! left running can be stopped by the next run that takes over its lock.
//!
//! Every step's processes carry a token in their environment
//! ([`TRACKING_VAR`], as GitHub Actions' runner tags its jobs'): runsheet's own
//! pid and start time plus a serial number, so a token names one step of one
//! runsheet process, never a process that reused a pid. A process keeps it
//! when it leaves the step's process group or its parent exits.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::procs::{self, Proc, ProcessId, TRACKING_VAR};
use super::{family, reap, watchdog};

/// Most processes named in one message; the rest are counted.
const LIST_AT_MOST: usize = 10;

/// What a run has running, recorded beside the runbook's lock so that the
/// run that takes the lock over after a crash can stop it (SPEC §3).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Footprint {
    /// The runsheet process that ran.
    pub runsheet: ProcessId,
    /// The kernel's boot id: start times only compare within one boot.
    pub boot_id: String,
    /// Each process group a step started, in order.
    pub groups: Vec<TrackedGroup>,
}

/// A step's process group as it started.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TrackedGroup {
    /// The step's shell, whose pid is the group's id.
    pub leader: ProcessId,
    /// The tracking token its processes carry.
    pub token: String,
    pub step: String,
}

impl Footprint {
    /// This process, with no group yet; `None` without /proc, where nothing
    /// could be checked later.
    pub fn current() -> Option<Footprint> {
        Some(Footprint {
            runsheet: procs::me()?,
            boot_id: procs::boot_id()?,
            groups: Vec::new(),
        })
    }

    /// Tokens this runsheet process hands out all start so.
    fn token_prefix(&self) -> String {
        prefix(self.runsheet)
    }
}

fn prefix(id: ProcessId) -> String {
    format!("{}.{}.", id.pid, id.start)
}

/// Processes that a step left behind, stopped by runsheet.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Leftover {
    /// The step that started them, when known (a process that cleared its
    /// environment carries no token).
    pub step: Option<String>,
    /// Name and pid of each, by pid.
    pub processes: Vec<(String, i32)>,
    /// Set when an earlier run that did not finish left them: its pid.
    pub earlier_run: Option<i32>,
}

impl fmt::Display for Leftover {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.processes.len();
        let noun = if n == 1 { "process" } else { "processes" };
        let by = match &self.step {
            Some(step) => format!("step `{step}`"),
            None => "an unknown step".to_string(),
        };
        match self.earlier_run {
            Some(pid) => write!(
                f,
                "stopped {n} {noun} left running by {by} of an earlier run that did not finish (runsheet pid {pid}): "
            )?,
            None => write!(f, "stopped {n} {noun} left behind by {by}: ")?,
        }
        let named: Vec<String> = self
            .processes
            .iter()
            .take(LIST_AT_MOST)
            .map(|(name, pid)| format!("{name} (pid {pid})"))
            .collect();
        write!(f, "{}", named.join(", "))?;
        if n > LIST_AT_MOST {
            write!(f, ", and {} more", n - LIST_AT_MOST)?;
        }
        Ok(())
    }
}

/// This runsheet process, for tokens. A process that started before it
/// cannot carry one of its tokens: its environment need not be read.
pub(crate) fn me() -> ProcessId {
    static ME: OnceLock<ProcessId> = OnceLock::new();
    *ME.get_or_init(|| {
        procs::me().unwrap_or(ProcessId {
            pid: std::process::id() as i32,
            start: 0,
        })
    })
}

/// A token no other step of any runsheet process has.
pub(crate) fn new_token() -> String {
    static SERIAL: AtomicU64 = AtomicU64::new(1);
    format!("{}{}", prefix(me()), SERIAL.fetch_add(1, Ordering::Relaxed))
}

/// The value of [`TRACKING_VAR`] for a step: the tokens of the steps
/// runsheet itself runs in (`inherited`), then `token`.
pub(crate) fn chain(inherited: Option<&String>, token: &str) -> String {
    match inherited.map(|s| s.trim()).filter(|s| !s.is_empty()) {
        Some(outer) => format!("{outer} {token}"),
        None => token.to_string(),
    }
}

/// Number of live [`Tracker`]s: only the last one may stop orphans that carry
/// no token (`check --jobs` runs several at once).
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// One run's steps and what they start. Hand it to each [`StepRun`] through
/// [`Owner`]; [`Tracker::sweep`] when the run ends stops and lists what they
/// left behind (it also runs, silently, on drop).
///
/// [`StepRun`]: super::StepRun
pub struct Tracker {
    inner: Mutex<Inner>,
}

/// Called with each process group a step of the run starts.
pub type OnStart = Box<dyn FnMut(&TrackedGroup) + Send>;

struct Inner {
    /// Every token handed out, with its step.
    steps: Vec<(String, String)>,
    on_start: Option<OnStart>,
    swept: bool,
}

/// Whose step a [`StepRun`](super::StepRun) is.
#[derive(Clone, Copy)]
pub struct Owner<'a> {
    pub tracker: &'a Tracker,
    /// The step's id, for naming what it leaves behind.
    pub step: &'a str,
}

impl Default for Tracker {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Tracker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tracker").finish_non_exhaustive()
    }
}

impl Tracker {
    pub fn new() -> Self {
        LIVE.fetch_add(1, Ordering::SeqCst);
        Tracker {
            inner: Mutex::new(Inner {
                steps: Vec::new(),
                on_start: None,
                swept: false,
            }),
        }
    }

    /// `f` is told of every process group a step starts from now on (to
    /// record it beside the lock).
    pub fn on_start(&self, f: OnStart) {
        self.lock().on_start = Some(f);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new token for a process of `step`.
    pub(crate) fn issue(&self, step: &str) -> String {
        let token = new_token();
        self.lock().steps.push((token.clone(), step.to_string()));
        token
    }

    pub(crate) fn started(&self, group: &TrackedGroup) {
        if let Some(f) = self.lock().on_start.as_mut() {
            f(group);
        }
    }

    /// Stops every process the run's steps left behind (SIGTERM, up to
    /// `grace`, SIGKILL) and says which: processes carrying one of its tokens,
    /// and — when runsheet is the subreaper and no other run is going on in
    /// this process — every other orphan re-parented to runsheet. Call it
    /// once the run's steps are over, background steps included.
    pub fn sweep(&self, grace: Duration) -> Vec<Leftover> {
        let (steps, order): (HashMap<String, String>, Vec<String>) = {
            let mut inner = self.lock();
            inner.swept = true;
            let order = inner.steps.iter().map(|(_, step)| step.clone()).collect();
            (inner.steps.iter().cloned().collect(), order)
        };
        let all = procs::all();
        let orphans: HashSet<i32> = if reap::contained() && LIVE.load(Ordering::SeqCst) == 1 {
            reap::orphans(&all).into_iter().collect()
        } else {
            HashSet::new()
        };
        let mut roots = HashMap::new();
        let since = me().start;
        for p in all.iter().filter(|p| !p.zombie && !reap::registered(p.pid)) {
            if p.start < since && !orphans.contains(&p.pid) {
                continue;
            }
            let step = procs::tokens(p.pid)
                .iter()
                .rev()
                .find_map(|t| steps.get(t).cloned());
            if step.is_some() || orphans.contains(&p.pid) {
                roots.insert(p.pid, step);
            }
        }
        stop_and_list(&all, roots, &order, None, grace)
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        if !self.lock().swept {
            self.sweep(super::GRACE);
        }
        LIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Stops what a run that died left running, as its [`Footprint`] records it:
/// each recorded step shell still running with its recorded start time, and
/// its process group; every process carrying one of that runsheet's tokens;
/// and their descendants. Nothing else is touched: not a process that reused
/// a recorded pid, nor anything after a reboot, nor anything while that
/// runsheet still runs.
pub fn stop_left_behind(left: &Footprint, grace: Duration) -> Vec<Leftover> {
    if procs::boot_id().as_deref() != Some(left.boot_id.as_str()) || procs::running(left.runsheet) {
        return Vec::new();
    }
    let all = procs::all();
    let mut roots: HashMap<i32, Option<String>> = HashMap::new();
    for g in &left.groups {
        if !procs::running(g.leader) {
            continue;
        }
        for p in all.iter().filter(|p| !p.zombie && p.pgid == g.leader.pid) {
            roots.insert(p.pid, Some(g.step.clone()));
        }
    }
    let steps: HashMap<&str, &str> = left
        .groups
        .iter()
        .map(|g| (g.token.as_str(), g.step.as_str()))
        .collect();
    let dead = left.token_prefix();
    for p in all.iter().filter(|p| !p.zombie) {
        if roots.contains_key(&p.pid) || p.start < left.runsheet.start {
            continue;
        }
        let tokens = procs::tokens(p.pid);
        let Some(token) = tokens.iter().rev().find(|t| t.starts_with(&dead)) else {
            continue;
        };
        roots.insert(p.pid, steps.get(token.as_str()).map(|s| s.to_string()));
    }
    let order: Vec<String> = left.groups.iter().map(|g| g.step.clone()).collect();
    stop_and_list(&all, roots, &order, Some(left.runsheet.pid), grace)
}

/// Stops `roots` (pid → step) and their descendants, and lists them by step,
/// in the order the steps ran (`order`), unknown last.
fn stop_and_list(
    all: &[Proc],
    roots: HashMap<i32, Option<String>>,
    order: &[String],
    earlier_run: Option<i32>,
    grace: Duration,
) -> Vec<Leftover> {
    let me = std::process::id() as i32;
    let owners = inherit_owners(all, roots);
    let mut by_step: Vec<Leftover> = Vec::new();
    let mut ids = Vec::new();
    for p in all {
        let Some(step) = owners.get(&p.pid) else {
            continue;
        };
        if p.zombie || p.pid == me || p.pid <= 1 || reap::registered(p.pid) {
            continue;
        }
        ids.push(p.id());
        match by_step.iter_mut().find(|l| &l.step == step) {
            Some(l) => l.processes.push((p.name.clone(), p.pid)),
            None => by_step.push(Leftover {
                step: step.clone(),
                processes: vec![(p.name.clone(), p.pid)],
                earlier_run,
            }),
        }
    }
    let stopped = stop_processes(&ids, grace);
    for l in &mut by_step {
        l.processes
            .retain(|(_, pid)| stopped.iter().any(|id| id.pid == *pid));
        l.processes.sort_by_key(|(_, pid)| *pid);
    }
    by_step.retain(|l| !l.processes.is_empty());
    let rank = |l: &Leftover| match &l.step {
        Some(step) => order.iter().position(|s| s == step).unwrap_or(order.len()),
        None => usize::MAX,
    };
    by_step.sort_by_key(rank);
    by_step
}

/// Each root's step, handed down to its descendants that have none of their own.
fn inherit_owners(
    all: &[Proc],
    roots: HashMap<i32, Option<String>>,
) -> HashMap<i32, Option<String>> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for p in all {
        children.entry(p.ppid).or_default().push(p.pid);
    }
    let mut owners = roots;
    let mut queue: Vec<i32> = owners.keys().copied().collect();
    while let Some(pid) = queue.pop() {
        let step = owners.get(&pid).cloned().flatten();
        for &child in children.get(&pid).into_iter().flatten() {
            if let std::collections::hash_map::Entry::Vacant(e) = owners.entry(child) {
                e.insert(step.clone());
                queue.push(child);
            }
        }
    }
    owners
}

/// SIGTERM to each, up to `grace` for them to go, SIGKILL to the rest,
/// and up to `family::KILLED` for that to take. Returns those that were
/// running when signalled.
fn stop_processes(ids: &[ProcessId], grace: Duration) -> Vec<ProcessId> {
    let stopped: Vec<ProcessId> = ids
        .iter()
        .copied()
        .filter(|&id| family::signal_exact(id, libc::SIGTERM))
        .collect();
    let mut deadline = Instant::now() + grace;
    let mut killed = false;
    let mut pause = Duration::from_millis(1);
    loop {
        reap::reap_all_orphans();
        let left: Vec<ProcessId> = stopped
            .iter()
            .copied()
            .filter(|&id| procs::running(id))
            .collect();
        if left.is_empty() {
            break;
        }
        if Instant::now() >= deadline {
            if killed {
                break;
            }
            for id in left {
                family::signal_exact(id, libc::SIGKILL);
            }
            killed = true;
            deadline = Instant::now() + family::KILLED;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
    reap::reap_all_orphans();
    stopped
}

/// Registers a step's leader with the watchdog for as long as it lives.
#[derive(Debug)]
pub(crate) struct Watched(Option<ProcessId>);

impl Watched {
    /// Tells the tracker (if any) and the watchdog about a step's new group.
    pub(crate) fn start(leader: i32, token: &str, owner: Option<Owner<'_>>) -> Watched {
        let Some(id) = procs::read(leader).map(|p| p.id()) else {
            return Watched(None);
        };
        if let Some(owner) = owner {
            owner.tracker.started(&TrackedGroup {
                leader: id,
                token: token.to_string(),
                step: owner.step.to_string(),
            });
        }
        watchdog::add(id);
        Watched(Some(id))
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        if let Some(id) = self.0 {
            watchdog::remove(id);
        }
    }
}

/// The token of `owner`'s step, or one that belongs to no run.
pub(crate) fn token_for(owner: Option<Owner<'_>>) -> String {
    match owner {
        Some(o) => o.tracker.issue(o.step),
        None => new_token(),
    }
}

/// Sets the step's tracking variable in `env`.
pub(crate) fn mark(env: &mut std::collections::BTreeMap<String, String>, token: &str) {
    let value = chain(env.get(TRACKING_VAR), token);
    env.insert(TRACKING_VAR.to_string(), value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_chain_and_never_repeat() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a, b);
        assert!(a.starts_with(&prefix(me())));
        assert_eq!(chain(None, &a), a);
        assert_eq!(chain(Some(&"outer".to_string()), &a), format!("outer {a}"));
        assert_eq!(chain(Some(&" ".to_string()), &a), a);
    }

    #[test]
    fn leftovers_read_as_a_person_expects() {
        let one = Leftover {
            step: Some("agent".into()),
            processes: vec![("ssh-agent".into(), 42)],
            earlier_run: None,
        };
        assert_eq!(
            one.to_string(),
            "stopped 1 process left behind by step `agent`: ssh-agent (pid 42)"
        );
        let many = Leftover {
            step: None,
            processes: (1..=12).map(|i| ("sleep".to_string(), 100 + i)).collect(),
            earlier_run: Some(7),
        };
        assert_eq!(
            many.to_string(),
            "stopped 12 processes left running by an unknown step of an earlier run that did not finish (runsheet pid 7): sleep (pid 101), sleep (pid 102), \
             sleep (pid 103), sleep (pid 104), sleep (pid 105), sleep (pid 106), sleep (pid 107), \
             sleep (pid 108), sleep (pid 109), sleep (pid 110), and 2 more"
        );
    }
}
