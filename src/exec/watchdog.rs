//! The watchdog: a small child of runsheet (Linux) that stops every step's
//! process group at once if runsheet is killed outright (`kill -9`, the OOM
//! killer, a CI runner killing runsheet's process group).
//!
//! A step's shell gets `PR_SET_PDEATHSIG` and dies with runsheet, but what it
//! started does not. So runsheet tells the watchdog, over a pipe, each group it
//! starts and ends; when the pipe reaches end of file — runsheet exited,
//! however — the watchdog sends SIGTERM to the groups still listed, waits up
//! to [`GRACE`](super::GRACE), sends SIGKILL, and exits. After a normal end
//! the list is empty and it just exits. What escaped the groups (`setsid`) is
//! left to the next run's takeover of the lock (see `track`).
//!
//! It is forked, not executed: between `fork` and `_exit` the child makes
//! only raw system calls on stack memory (the parent has other threads; their
//! locks would never be released in the child). It runs in its own process
//! group and ignores terminal and termination signals, so what kills
//! runsheet's group does not kill it; it holds no descriptor but its pipe,
//! so it keeps no lock, terminal or output pipe open.

use super::procs::ProcessId;

/// Most groups listed at once; more are not watched (a run has one step
/// running plus its background steps).
#[cfg(target_os = "linux")]
const SLOTS: usize = 1024;

/// One message: operation, pid, start time.
#[cfg(target_os = "linux")]
const MESSAGE: usize = 16;
#[cfg(target_os = "linux")]
const ADD: u8 = 1;
#[cfg(target_os = "linux")]
const REMOVE: u8 = 2;

/// The pipe's write end, once started; -1 before.
#[cfg(target_os = "linux")]
static PIPE: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

/// Forks the watchdog; returns its pid. The caller registers it as a child
/// std does not own (it is never reaped: it outlives runsheet).
#[cfg(target_os = "linux")]
pub(crate) fn start() -> std::io::Result<Option<i32>> {
    use std::sync::atomic::Ordering;
    if PIPE.load(Ordering::SeqCst) >= 0 {
        return Ok(None);
    }
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills the two-element array. Close-on-exec: no step may
    // inherit the write end, or the watchdog would wait for it too.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let [read_end, write_end] = fds;
    // SAFETY: the child runs `watch`, which never returns and makes only
    // async-signal-safe system calls on its own stack.
    match unsafe { libc::fork() } {
        -1 => {
            let e = std::io::Error::last_os_error();
            // SAFETY: closing the two descriptors just opened.
            unsafe {
                libc::close(read_end);
                libc::close(write_end);
            }
            Err(e)
        }
        0 => watch(read_end, write_end),
        pid => {
            // SAFETY: our copy of the read end; the write end never blocks
            // runsheet (a full pipe drops the message instead).
            unsafe {
                libc::close(read_end);
                let flags = libc::fcntl(write_end, libc::F_GETFL);
                libc::fcntl(write_end, libc::F_SETFL, flags | libc::O_NONBLOCK);
            }
            PIPE.store(write_end, Ordering::SeqCst);
            Ok(Some(pid))
        }
    }
}

/// Tells the watchdog about a step's new group (led by `leader`).
pub(crate) fn add(leader: ProcessId) {
    #[cfg(target_os = "linux")]
    send(ADD, leader);
    #[cfg(not(target_os = "linux"))]
    let _ = leader;
}

/// The group led by `leader` is over.
pub(crate) fn remove(leader: ProcessId) {
    #[cfg(target_os = "linux")]
    send(REMOVE, leader);
    #[cfg(not(target_os = "linux"))]
    let _ = leader;
}

#[cfg(target_os = "linux")]
fn send(op: u8, id: ProcessId) {
    let fd = PIPE.load(std::sync::atomic::Ordering::SeqCst);
    if fd < 0 {
        return;
    }
    let mut msg = [0u8; MESSAGE];
    msg[0] = op;
    msg[4..8].copy_from_slice(&id.pid.to_ne_bytes());
    msg[8..16].copy_from_slice(&id.start.to_ne_bytes());
    // SAFETY: writing a 16-byte buffer; a write this small to a pipe is
    // atomic, so messages from several threads never interleave. A watchdog
    // that died (EPIPE) or stalls (EAGAIN) only costs its service.
    unsafe {
        libc::write(fd, msg.as_ptr().cast(), MESSAGE);
    }
}

/// The watchdog's life, in the forked child. Never returns.
#[cfg(target_os = "linux")]
fn watch(read_end: i32, write_end: i32) -> ! {
    // SAFETY (whole function): raw system calls on stack memory only.
    unsafe {
        libc::close(write_end);
        libc::setpgid(0, 0);
        for sig in [
            libc::SIGINT,
            libc::SIGTERM,
            libc::SIGHUP,
            libc::SIGQUIT,
            libc::SIGPIPE,
            libc::SIGTSTP,
            libc::SIGTTIN,
            libc::SIGTTOU,
        ] {
            libc::signal(sig, libc::SIG_IGN);
        }
        let fd = keep_only(read_end);
        libc::chdir(c"/".as_ptr());
        let mut groups = [(0i32, 0u64); SLOTS];
        listen(fd, &mut groups);
        stop(&groups);
        libc::_exit(0)
    }
}

/// Closes every descriptor but the pipe (moved to 3), with /dev/null on 0-2.
#[cfg(target_os = "linux")]
unsafe fn keep_only(read_end: i32) -> i32 {
    const FD: i32 = 3;
    if read_end != FD {
        libc::dup2(read_end, FD);
    }
    let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
    for std_fd in 0..3 {
        libc::dup2(null, std_fd);
    }
    if libc::syscall(libc::SYS_close_range, FD + 1, u32::MAX, 0) != 0 {
        for fd in FD + 1..4096 {
            libc::close(fd);
        }
    }
    FD
}

/// Keeps the list of groups until end of file.
#[cfg(target_os = "linux")]
unsafe fn listen(fd: i32, groups: &mut [(i32, u64); SLOTS]) {
    let mut msg = [0u8; MESSAGE];
    loop {
        let mut got = 0;
        while got < MESSAGE {
            let rest = msg.as_mut_ptr().add(got);
            let n = libc::read(fd, rest.cast(), MESSAGE - got);
            if n > 0 {
                got += n as usize;
            } else if n < 0 && *libc::__errno_location() == libc::EINTR {
                continue;
            } else {
                return; // end of file: runsheet is gone
            }
        }
        let pid = i32::from_ne_bytes([msg[4], msg[5], msg[6], msg[7]]);
        let start = u64::from_ne_bytes([
            msg[8], msg[9], msg[10], msg[11], msg[12], msg[13], msg[14], msg[15],
        ]);
        let slot = match msg[0] {
            ADD => groups.iter_mut().find(|g| g.0 == 0),
            REMOVE => groups.iter_mut().find(|g| **g == (pid, start)),
            _ => None,
        };
        if let Some(slot) = slot {
            *slot = if msg[0] == ADD { (pid, start) } else { (0, 0) };
        }
    }
}

/// SIGTERM to every listed group whose leader is gone or is still the same
/// process (not one that reused its pid), up to the grace period, then
/// SIGKILL to those still there.
#[cfg(target_os = "linux")]
unsafe fn stop(groups: &[(i32, u64); SLOTS]) {
    let mut targets = [0i32; SLOTS];
    let mut any = false;
    for (target, &(pid, start)) in targets.iter_mut().zip(groups.iter()) {
        if pid > 1 && leader_start(pid).is_none_or(|now| now == start) {
            libc::kill(-pid, libc::SIGTERM);
            *target = pid;
            any = true;
        }
    }
    if !any {
        return;
    }
    let pause = libc::timespec {
        tv_sec: 0,
        tv_nsec: 50_000_000,
    };
    for _ in 0..super::GRACE.as_millis() / 50 {
        if !targets.iter().any(|&pg| pg > 1 && libc::kill(-pg, 0) == 0) {
            return;
        }
        libc::nanosleep(&pause, std::ptr::null_mut());
    }
    for &pg in targets.iter().filter(|&&pg| pg > 1) {
        libc::kill(-pg, libc::SIGKILL);
    }
}

/// Start time of process `pid` (field 22 of /proc/PID/stat), read without
/// allocating; `None` when there is no such process.
#[cfg(target_os = "linux")]
unsafe fn leader_start(pid: i32) -> Option<u64> {
    let mut path = [0u8; 32];
    let mut len = 0;
    for &b in b"/proc/" {
        path[len] = b;
        len += 1;
    }
    let mut digits = [0u8; 12];
    let mut n = 0;
    let mut rest = pid;
    while rest > 0 && n < digits.len() {
        digits[n] = b'0' + (rest % 10) as u8;
        rest /= 10;
        n += 1;
    }
    while n > 0 {
        n -= 1;
        path[len] = digits[n];
        len += 1;
    }
    for &b in b"/stat" {
        path[len] = b;
        len += 1;
    }
    let fd = libc::open(path.as_ptr().cast(), libc::O_RDONLY);
    if fd < 0 {
        return None;
    }
    let mut buf = [0u8; 1024];
    let got = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
    libc::close(fd);
    let text = buf.get(..usize::try_from(got).ok()?)?;
    start_field(text)
}

/// Field 22 of a stat line: the 20th field after the name's closing ')'.
#[cfg(target_os = "linux")]
fn start_field(stat: &[u8]) -> Option<u64> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    let field = stat
        .get(close + 1..)?
        .split(|&b| b == b' ')
        .filter(|f| !f.is_empty())
        .nth(19)?;
    let mut value: u64 = 0;
    for &b in field {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(value)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn start_field_matches_the_proc_reader() {
        let me = std::process::id() as i32;
        // SAFETY: plain system calls on stack buffers.
        let start = unsafe { leader_start(me) };
        assert_eq!(start, super::super::procs::me().map(|p| p.start));
        assert_eq!(
            start_field(b"1 (a) b) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 55 0"),
            Some(55)
        );
        // SAFETY: as above.
        assert_eq!(unsafe { leader_start(i32::MAX) }, None);
    }
}
