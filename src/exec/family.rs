//! Everything a step started, whether or not it stayed in the step's process
//! group: the group, every descendant of the step's shell, and every process
//! carrying the step's tracking token (a `setsid` daemon whose parent already
//! exited). Stopping a step on a timeout or an interrupt stops all of it.
//!
//! Without /proc (macOS) the family is the process group, as it always was.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use super::group;
use super::procs::{self, Proc, ProcessId};

/// How long to wait for processes sent SIGKILL: only one stuck in the
/// kernel (uninterruptible I/O) takes longer, and runsheet does not hang on it.
pub(crate) const KILLED: Duration = Duration::from_secs(1);

/// A step's processes, and those already signalled.
#[derive(Debug)]
pub(crate) struct Family {
    /// The step's shell: its pid is its group's id.
    leader: i32,
    token: String,
    signalled: HashSet<ProcessId>,
}

impl Family {
    pub(crate) fn new(leader: i32, token: &str) -> Self {
        Family {
            leader,
            token: token.to_string(),
            signalled: HashSet::new(),
        }
    }

    /// Sends `sig` to the group and to every member of the family outside it.
    pub(crate) fn signal(&mut self, sig: i32) {
        group::signal(self.leader, sig);
        for p in self.members() {
            if p.pgid != self.leader && signal_exact(p.id(), sig) {
                self.signalled.insert(p.id());
            }
        }
    }

    /// True while anything of the family still runs. When everything
    /// signalled so far is gone, looks once more for members (something
    /// forked meanwhile) and signals them with `sig`.
    pub(crate) fn alive(&mut self, sig: i32) -> bool {
        if group::alive(self.leader) {
            return true;
        }
        self.signalled.retain(|&id| procs::running(id));
        if !self.signalled.is_empty() {
            return true;
        }
        let late = self.members();
        if late.is_empty() {
            return false;
        }
        for p in late {
            if signal_exact(p.id(), sig) {
                self.signalled.insert(p.id());
            }
        }
        true
    }

    /// The running members, from one look at /proc.
    fn members(&self) -> Vec<Proc> {
        let all = procs::all();
        members(&all, self.leader, &self.token)
    }

    /// SIGTERM to all, up to `grace` for them to go, then SIGKILL, and up
    /// to [`KILLED`] for that to take. `leader_done` reaps the leader when
    /// it exits (it is our child).
    pub(crate) fn stop(&mut self, grace: Duration, mut leader_done: impl FnMut() -> bool) {
        if leader_done() && !self.alive(libc::SIGTERM) {
            return;
        }
        self.signal(libc::SIGTERM);
        if self.wait(grace, libc::SIGTERM, &mut leader_done) {
            return;
        }
        self.signal(libc::SIGKILL);
        self.wait(KILLED, libc::SIGKILL, &mut leader_done);
    }

    /// Waits up to `within` for the whole family to be gone.
    fn wait(&mut self, within: Duration, sig: i32, leader_done: &mut impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + within;
        let mut pause = Duration::from_millis(1);
        while Instant::now() < deadline {
            super::reap::reap_orphans();
            if leader_done() && !self.alive(sig) {
                return true;
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(50));
        }
        false
    }
}

/// The members of the family of the step whose shell is `leader`, carrying
/// `token`: its group, its descendants, token carriers and theirs. Never
/// runsheet itself, nor a zombie. Only processes younger than runsheet can
/// carry its token: older ones' environments are not read.
pub(crate) fn members(all: &[Proc], leader: i32, token: &str) -> Vec<Proc> {
    let since = super::track::me().start;
    let roots = all
        .iter()
        .filter(|p| !p.zombie)
        .filter(|p| {
            p.pid == leader || p.pgid == leader || (p.start >= since && carries(p.pid, token))
        })
        .map(|p| p.pid)
        .collect();
    let found = procs::with_descendants(all, roots);
    let me = std::process::id() as i32;
    all.iter()
        .filter(|p| found.contains(&p.pid) && !p.zombie && p.pid != me && p.pid > 1)
        .cloned()
        .collect()
}

/// True when process `pid` carries `token` among its tracking tokens.
pub(crate) fn carries(pid: i32, token: &str) -> bool {
    !token.is_empty() && procs::tokens(pid).iter().any(|t| t == token)
}

/// Sends `sig` to exactly process `id`: not to another that took its pid
/// since. On Linux a pidfd pins the process while its start time is checked;
/// false when it is gone.
pub(crate) fn signal_exact(id: ProcessId, sig: i32) -> bool {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
        // SAFETY: pidfd_open returns a new descriptor we own, or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, id.pid, 0) };
        if let Ok(fd) = i32::try_from(fd) {
            if fd >= 0 {
                // SAFETY: `fd` was just opened and is owned by nobody else.
                let fd = unsafe { OwnedFd::from_raw_fd(fd) };
                if !procs::running(id) {
                    return false;
                }
                // SAFETY: pidfd_send_signal with a valid pidfd, no siginfo.
                let rc = unsafe {
                    libc::syscall(
                        libc::SYS_pidfd_send_signal,
                        fd.as_raw_fd(),
                        sig,
                        std::ptr::null::<libc::siginfo_t>(),
                        0,
                    )
                };
                return rc == 0;
            }
        }
        // No pidfd (a kernel before 5.3): check, then signal by pid.
        if !procs::running(id) {
            return false;
        }
    }
    // SAFETY: kill(2) has no memory-safety preconditions; pid > 1 is
    // checked so we never signal a group or every process.
    id.pid > 1 && unsafe { libc::kill(id.pid, sig) } == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pid: i32, ppid: i32, pgid: i32) -> Proc {
        Proc {
            pid,
            ppid,
            pgid,
            sid: 1,
            zombie: false,
            start: 1,
            name: "x".into(),
        }
    }

    #[test]
    fn members_are_the_group_and_the_descendants() {
        let mut zombie = p(14, 100, 100);
        zombie.zombie = true;
        let all = [
            p(100, 1, 100), // the leader
            p(101, 100, 100),
            p(102, 100, 102), // left the group (setsid), still a child
            p(103, 102, 102), // its child
            p(104, 1, 100),   // in the group, re-parented
            zombie,
            p(200, 1, 200), // unrelated
        ];
        let mut got: Vec<i32> = members(&all, 100, "").iter().map(|p| p.pid).collect();
        got.sort();
        assert_eq!(got, [100, 101, 102, 103, 104]);
    }
}
