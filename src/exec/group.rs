//! A step's process group: signalling it and telling whether anything in it is
//! still alive.

/// Sends `sig` to every process in group `pgid`; a group already gone is fine.
pub(crate) fn signal(pgid: i32, sig: i32) {
    // SAFETY: kill(2) has no memory-safety preconditions. A negative pid names
    // the group; pgid > 1 is checked so we can never signal "every process".
    if pgid > 1 {
        unsafe {
            libc::kill(-pgid, sig);
        }
    }
}

/// True while a process other than a zombie is in group `pgid`.
///
/// Zombies count for kill(2), and where PID 1 does not reap orphans (some
/// containers) they stay forever; on Linux /proc tells them apart.
pub(crate) fn alive(pgid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence and permission.
    let exists = pgid > 1 && unsafe { libc::kill(-pgid, 0) } == 0;
    if !exists {
        return false;
    }
    if cfg!(target_os = "linux") {
        return live_members(pgid).is_none_or(|n| n > 0);
    }
    true
}

/// Number of non-zombie processes in group `pgid`, from /proc; `None` when
/// /proc cannot be read.
pub(crate) fn live_members(pgid: i32) -> Option<usize> {
    let mut n = 0;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // The command name may hold spaces and parentheses: fields start after
        // the last ')'. Then: state, ppid, pgrp.
        let Some((_, fields)) = stat.rsplit_once(')') else {
            continue;
        };
        let mut fields = fields.split_whitespace();
        let state = fields.next();
        let pgrp = fields.nth(1).and_then(|f| f.parse::<i32>().ok());
        if pgrp == Some(pgid) && state != Some("Z") && state != Some("X") {
            n += 1;
        }
    }
    Some(n)
}
