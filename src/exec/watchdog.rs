//! The watchdog: a small child of runsheet (Linux) that stops every step's
//! process group at once if runsheet is killed outright (`kill -9`, the OOM
//! killer, a CI runner killing runsheet's process group).
//!
//! A step's shell gets `PR_SET_PDEATHSIG` and dies with runsheet, but what it
//! started does not. So runsheet lists each group it starts, until it ends,
//! in a table in memory it shares with the watchdog (no system call per
//! step). The watchdog sleeps on a pipe whose only writer is runsheet: when it
//! reaches end of file — runsheet exited, however — it sends SIGTERM to the
//! groups still listed, waits up to [`GRACE`](super::GRACE), sends SIGKILL,
//! and exits. After a normal end the table is empty and it just exits. What
//! escaped the groups (`setsid`) is left to the next run's takeover of the
//! lock (see `track`).
//!
//! It is forked, not executed: between `fork` and `_exit` the child makes
//! only raw system calls on stack and shared memory (the parent has other
//! threads; their locks would never be released in the child). It runs in its
//! own process group and ignores terminal and termination signals, so what
//! kills runsheet's group does not kill it; it holds no descriptor but its
//! pipe, so it keeps no lock, terminal or output pipe open.

use super::procs::ProcessId;

#[cfg(target_os = "linux")]
use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicU64, Ordering};

/// Most groups listed at once; more are not watched (a run has one step
/// running plus its background steps; `check --jobs` a few runs).
#[cfg(target_os = "linux")]
const SLOTS: usize = 1024;

/// One listed group. `pid` 0: free; -1: being filled in.
#[cfg(target_os = "linux")]
#[repr(C)]
struct Slot {
    pid: AtomicI32,
    start: AtomicU64,
}

/// The table shared with the watchdog, once started.
#[cfg(target_os = "linux")]
static TABLE: AtomicPtr<Slot> = AtomicPtr::new(std::ptr::null_mut());

#[cfg(target_os = "linux")]
fn table() -> Option<&'static [Slot]> {
    let ptr = TABLE.load(Ordering::Acquire);
    // SAFETY: a non-null pointer is the start of SLOTS slots mapped once and
    // never unmapped; the slots are atomics, shared between threads safely.
    (!ptr.is_null()).then(|| unsafe { std::slice::from_raw_parts(ptr, SLOTS) })
}

/// Forks the watchdog; returns its pid. The caller registers it as a child
/// std does not own (it is never reaped: it outlives runsheet).
#[cfg(target_os = "linux")]
pub(crate) fn start() -> std::io::Result<Option<i32>> {
    if table().is_some() {
        return Ok(None);
    }
    let size = SLOTS * std::mem::size_of::<Slot>();
    // SAFETY: a fresh anonymous shared mapping, zero-filled: every slot free.
    let shared = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if shared == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error());
    }
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills the two-element array. Close-on-exec: no step may
    // inherit the write end, or the watchdog would wait for it too.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let [read_end, write_end] = fds;
    // SAFETY: the child runs `watch`, which never returns and makes only
    // async-signal-safe system calls on its own stack and the shared table.
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
        0 => watch(read_end, write_end, shared.cast()),
        pid => {
            // SAFETY: our copy of the read end. The write end stays open,
            // unwritten, until runsheet exits.
            unsafe { libc::close(read_end) };
            TABLE.store(shared.cast(), Ordering::Release);
            Ok(Some(pid))
        }
    }
}

/// Lists a step's new group (led by `leader`) for the watchdog.
pub(crate) fn add(leader: ProcessId) {
    #[cfg(target_os = "linux")]
    if let Some(slots) = table() {
        let free = slots.iter().find(|slot| {
            slot.pid
                .compare_exchange(0, -1, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        });
        if let Some(slot) = free {
            slot.start.store(leader.start, Ordering::Relaxed);
            slot.pid.store(leader.pid, Ordering::Release);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = leader;
}

/// The group led by `leader` is over.
pub(crate) fn remove(leader: ProcessId) {
    #[cfg(target_os = "linux")]
    if let Some(slots) = table() {
        let listed = slots.iter().find(|slot| {
            slot.pid.load(Ordering::Acquire) == leader.pid
                && slot.start.load(Ordering::Relaxed) == leader.start
        });
        if let Some(slot) = listed {
            slot.pid.store(0, Ordering::Release);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = leader;
}

/// The watchdog's life, in the forked child. Never returns.
#[cfg(target_os = "linux")]
fn watch(read_end: i32, write_end: i32, shared: *const Slot) -> ! {
    // SAFETY (whole function): raw system calls on stack memory and the
    // shared table, which stays mapped in this process.
    unsafe {
        libc::close(write_end);
        libc::setpgid(0, 0);
        // What `ps` shows: `runsheet-watch`.
        libc::prctl(libc::PR_SET_NAME, c"runsheet-watch".as_ptr(), 0, 0, 0);
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
        wait_for_end(fd);
        // runsheet is gone: nobody writes the table any more.
        let mut groups = [(0i32, 0u64); SLOTS];
        let slots = std::slice::from_raw_parts(shared, SLOTS);
        for (group, slot) in groups.iter_mut().zip(slots) {
            *group = (
                slot.pid.load(Ordering::Acquire),
                slot.start.load(Ordering::Relaxed),
            );
        }
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

/// Blocks until the pipe's write end is closed: runsheet exited.
#[cfg(target_os = "linux")]
unsafe fn wait_for_end(fd: i32) {
    let mut buf = [0u8; 64];
    loop {
        let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
        if n == 0 || (n < 0 && *libc::__errno_location() != libc::EINTR) {
            return;
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
