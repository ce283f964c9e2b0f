//! runsheet as a child subreaper (Linux): a process a step leaves behind is
//! re-parented to runsheet instead of init, so it can still be found, and
//! stopped, when the run ends; runsheet reaps it once it exits.
//!
//! Reaping must never take the exit status of a step's own shell: duct (std)
//! waits for that one by its pid. So every child this module starts is
//! registered here, under one lock held from before the fork until its pid is
//! recorded, and an orphan is only ever reaped with `waitpid` on its own pid,
//! under that lock, when it is not registered. Never `waitpid(-1)`.

use std::collections::HashSet;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Set by [`contain`]: runsheet is a subreaper, and every child of this
/// process that is not registered is a step's orphan.
static CONTAINED: AtomicBool = AtomicBool::new(false);

/// Children started here that std will wait for, by pid.
static CHILDREN: Mutex<Registry> = Mutex::new(Registry {
    pids: None,
    scanned: None,
    watchdog: None,
});

struct Registry {
    pids: Option<HashSet<i32>>,
    /// The watchdog: registered, but ours to reap should it die.
    watchdog: Option<i32>,
    /// When /proc was last searched for zombie orphans.
    scanned: Option<Instant>,
}

impl Registry {
    fn pids(&mut self) -> &mut HashSet<i32> {
        self.pids.get_or_insert_with(HashSet::new)
    }
}

fn registry() -> MutexGuard<'static, Registry> {
    // A panic while holding the lock leaves the set as it was: still usable.
    CHILDREN.lock().unwrap_or_else(|e| e.into_inner())
}

/// Makes this process the keeper of everything its steps start: a child
/// subreaper on Linux, with the watchdog that stops the steps if runsheet is
/// killed outright (see `watchdog`). For `runsheet run` and `check` only: from
/// now on every child of this process not started through `exec` counts as an
/// orphan of a step, to be reaped, and stopped when the run ends.
pub fn contain() -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes an integer flag.
        if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
            return Err(io::Error::last_os_error());
        }
        CONTAINED.store(true, Ordering::SeqCst);
        let mut children = registry();
        if let Some(pid) = super::watchdog::start()? {
            children.pids().insert(pid);
            children.watchdog = Some(pid);
        }
    }
    Ok(())
}

/// True after [`contain`].
pub(crate) fn contained() -> bool {
    CONTAINED.load(Ordering::SeqCst)
}

/// A child started through [`spawn`]; unregistered on drop, which must come
/// only after std has waited for it (or given up on it).
#[derive(Debug)]
pub(crate) struct Registered(i32);

impl Drop for Registered {
    fn drop(&mut self) {
        registry().pids().remove(&self.0);
    }
}

/// Starts a child with `start` and registers its pid (`pid_of`) before any
/// reaper can look.
pub(crate) fn spawn<T>(
    start: impl FnOnce() -> io::Result<T>,
    pid_of: impl FnOnce(&T) -> i32,
) -> io::Result<(T, Registered)> {
    let mut children = registry();
    let child = start()?;
    let pid = pid_of(&child);
    children.pids().insert(pid);
    Ok((child, Registered(pid)))
}

/// Holds off every reaper until [`register`]: for a child that becomes
/// runsheet's only later (re-parented to it), whose pid is learnt after the
/// fork.
pub(crate) fn lock() -> RegistryLock {
    RegistryLock(registry())
}

pub(crate) struct RegistryLock(MutexGuard<'static, Registry>);

/// Registers `pid` and lets the reapers go on.
pub(crate) fn register(mut lock: RegistryLock, pid: i32) -> Registered {
    lock.0.pids().insert(pid);
    Registered(pid)
}

/// True when `pid` is a child std will wait for.
pub(crate) fn registered(pid: i32) -> bool {
    registry().pids().contains(&pid)
}

/// How often /proc is searched for exited orphans when the cheap look finds
/// only a registered child waiting.
const SCAN_EVERY: Duration = Duration::from_secs(1);

/// Reaps orphans that have exited, cheaply: one `waitid` peek (which reaps
/// nothing) tells whether any child is waiting to be reaped; an orphan found
/// that way is reaped at once, and /proc is searched at most once a second for
/// the case where a registered child stands first in line. Does nothing before
/// [`contain`].
pub(crate) fn reap_orphans() {
    if !contained() {
        return;
    }
    let mut children = registry();
    for _ in 0..64 {
        let Some(pid) = waiting_child() else {
            return;
        };
        if children.watchdog == Some(pid) {
            // Killed: std does not own it, and nothing else watches now.
            children.watchdog = None;
            children.pids().remove(&pid);
        } else if children.pids().contains(&pid) {
            break;
        }
        reap(pid);
    }
    let due = children.scanned.is_none_or(|t| t.elapsed() >= SCAN_EVERY);
    if due {
        children.scanned = Some(Instant::now());
        reap_zombies(&mut children);
    }
}

/// Reaps every exited orphan now (after stopping some).
pub(crate) fn reap_all_orphans() {
    if contained() {
        reap_zombies(&mut registry());
    }
}

fn reap_zombies(children: &mut Registry) {
    let me = std::process::id() as i32;
    for p in super::procs::all() {
        if p.ppid == me && p.zombie && !children.pids().contains(&p.pid) {
            reap(p.pid);
        }
    }
}

/// A child that has exited and waits to be reaped, without reaping it.
fn waiting_child() -> Option<i32> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: waitid fills the zeroed siginfo_t it is given; WNOWAIT
        // leaves the child waitable, so std can still wait for its own.
        unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
            if libc::waitid(libc::P_ALL, 0, &mut info, flags) != 0 {
                return None;
            }
            let pid = info.si_pid();
            (pid > 0).then_some(pid)
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// Reaps orphan `pid`, which is not registered (the caller holds the lock).
fn reap(pid: i32) {
    let mut status = 0;
    // SAFETY: waitpid on one pid that std does not own; WNOHANG never blocks.
    unsafe {
        libc::waitpid(pid, &mut status, libc::WNOHANG);
    }
}

/// Children of this process that were not started through [`spawn`]: after
/// [`contain`], orphans of steps, re-parented to runsheet.
pub(crate) fn orphans(procs: &[super::procs::Proc]) -> Vec<i32> {
    let me = std::process::id() as i32;
    let children = registry();
    let Some(pids) = children.pids.as_ref() else {
        return procs
            .iter()
            .filter(|p| p.ppid == me && !p.zombie)
            .map(|p| p.pid)
            .collect();
    };
    procs
        .iter()
        .filter(|p| p.ppid == me && !p.zombie && !pids.contains(&p.pid))
        .map(|p| p.pid)
        .collect()
}
