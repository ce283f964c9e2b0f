//! Interactive steps and the terminal. Such a step runs in its own process
//! group like any other (so a timeout still stops everything it started), and
//! that group is made the terminal's foreground group while it runs: it can
//! read the terminal without SIGTTIN, and Ctrl-C goes to it, as in a shell.
//! runsheet takes the terminal back when the step ends.

use std::io;
use std::os::fd::RawFd;

const TTY: RawFd = libc::STDIN_FILENO;

/// The terminal on stdin, when runsheet is in its foreground group: only then
/// is it runsheet's to hand over. (Run in the background, or with stdin not
/// a terminal, the step just inherits stdin.)
pub(crate) fn owned_terminal() -> Option<RawFd> {
    // SAFETY: plain queries on a file descriptor number; no memory involved.
    unsafe {
        if libc::isatty(TTY) == 1 && libc::tcgetpgrp(TTY) == libc::getpgrp() {
            Some(TTY)
        } else {
            None
        }
    }
}

/// Runs `f` with SIGTTOU blocked in this thread: a process outside the
/// foreground group may then still call tcsetpgrp, and write to the terminal
/// under `stty tostop`, instead of being stopped.
fn without_sigttou<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: sigset_t is plain data initialised by sigemptyset; the masks
    // are restored before returning.
    unsafe {
        let mut block: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut block);
        libc::sigaddset(&mut block, libc::SIGTTOU);
        libc::pthread_sigmask(libc::SIG_BLOCK, &block, &mut old);
        let out = f();
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        out
    }
}

/// In the child, between fork and exec: take the terminal for the new group.
/// Only async-signal-safe calls.
pub(crate) fn take_in_child(tty: RawFd) -> io::Result<()> {
    // SAFETY: sigprocmask, getpid and tcsetpgrp are async-signal-safe; the
    // mask is restored before exec so the step starts with the usual one.
    unsafe {
        let mut block: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut block);
        libc::sigaddset(&mut block, libc::SIGTTOU);
        libc::sigprocmask(libc::SIG_BLOCK, &block, &mut old);
        let rc = libc::tcsetpgrp(tty, libc::getpid());
        libc::sigprocmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The terminal lent to a step's group; given back to runsheet's group on drop.
pub(crate) struct Lent {
    tty: RawFd,
    home: libc::pid_t,
}

impl Lent {
    /// Also done by the parent, so that whichever of parent and child runs
    /// first, the group has the terminal before the step reads from it.
    pub(crate) fn give(tty: RawFd, pgid: i32) -> Lent {
        // SAFETY: getpgrp and tcsetpgrp take plain integers.
        let home = unsafe { libc::getpgrp() };
        without_sigttou(|| unsafe { libc::tcsetpgrp(tty, pgid) });
        Lent { tty, home }
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        // SAFETY: as in `give`. runsheet is in the background here, hence
        // SIGTTOU blocked.
        without_sigttou(|| unsafe { libc::tcsetpgrp(self.tty, self.home) });
    }
}
