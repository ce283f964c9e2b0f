//! Reading processes from /proc (Linux): who is whose child, which group and
//! session, when it started, and the tracking tokens in its environment.
//! Elsewhere every reader returns nothing and runsheet falls back to process
//! groups alone.
//!
//! A pid alone does not name a process for long (pids are reused, quickly
//! where `pid_max` is 32768): runsheet names one by pid *and* start time, as
//! [`ProcessId`].

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

/// The environment variable every step's processes carry: the tokens of the
/// runsheet steps they descend from, space-separated, innermost last (a step
/// running runsheet adds its own token to its parent's).
pub(crate) const TRACKING_VAR: &str = "RUNSHEET_TRACKING_ID";

/// A process that outlives pid reuse: its pid and its start time (clock ticks
/// after boot, field 22 of /proc/PID/stat).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProcessId {
    pub pid: i32,
    pub start: u64,
}

/// One process as /proc/PID/stat shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Proc {
    pub(crate) pid: i32,
    pub(crate) ppid: i32,
    pub(crate) pgid: i32,
    pub(crate) sid: i32,
    /// Exited, waiting for its parent to reap it.
    pub(crate) zombie: bool,
    pub(crate) start: u64,
    /// The kernel's short command name (15 bytes at most).
    pub(crate) name: String,
}

impl Proc {
    pub(crate) fn id(&self) -> ProcessId {
        ProcessId {
            pid: self.pid,
            start: self.start,
        }
    }
}

/// Parses the text of /proc/PID/stat.
pub(crate) fn parse_stat(text: &str) -> Option<Proc> {
    // The name may hold spaces and parentheses: it ends at the last ')'.
    let (head, fields) = text.rsplit_once(')')?;
    let (pid, name) = head.split_once(" (")?;
    let fields: Vec<&str> = fields.split_whitespace().collect();
    let num = |i: usize| fields.get(i).and_then(|f| f.parse::<i64>().ok());
    let state = *fields.first()?;
    Some(Proc {
        pid: pid.trim().parse().ok()?,
        ppid: i32::try_from(num(1)?).ok()?,
        pgid: i32::try_from(num(2)?).ok()?,
        sid: i32::try_from(num(3)?).ok()?,
        zombie: state == "Z" || state == "X",
        start: u64::try_from(num(19)?).ok()?,
        name: name.to_string(),
    })
}

/// Process `pid` now, if it exists.
pub(crate) fn read(pid: i32) -> Option<Proc> {
    if !cfg!(target_os = "linux") || pid <= 0 {
        return None;
    }
    // One read: /proc builds the line anew on every read(2), and a stat
    // line is far shorter than the buffer (the name is 64 bytes at most).
    use std::io::Read;
    let mut file = std::fs::File::open(format!("/proc/{pid}/stat")).ok()?;
    let mut buf = [0u8; 1024];
    let n = file.read(&mut buf).ok()?;
    parse_stat(&String::from_utf8_lossy(buf.get(..n)?))
}

/// Every process, from /proc; empty where there is no /proc.
pub(crate) fn all() -> Vec<Proc> {
    if !cfg!(target_os = "linux") {
        return Vec::new();
    }
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(read)
        .collect()
}

/// True while `id` is running: the same pid with the same start time, and
/// not a zombie.
pub(crate) fn running(id: ProcessId) -> bool {
    read(id.pid).is_some_and(|p| p.start == id.start && !p.zombie)
}

/// The tracking tokens in the environment process `pid` started with (or
/// exec'd with last); empty when it has none or cannot be read (another
/// user's process, a zombie).
pub(crate) fn tokens(pid: i32) -> Vec<String> {
    if !cfg!(target_os = "linux") {
        return Vec::new();
    }
    let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
        return Vec::new();
    };
    tokens_in(&environ)
}

/// The tokens of [`TRACKING_VAR`] in a NUL-separated environment block.
pub(crate) fn tokens_in(environ: &[u8]) -> Vec<String> {
    let key = format!("{TRACKING_VAR}=");
    environ
        .split(|&b| b == 0)
        .find_map(|entry| entry.strip_prefix(key.as_bytes()))
        .map(|value| {
            String::from_utf8_lossy(value)
                .split_whitespace()
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The kernel's boot id: start times only compare within one boot.
pub(crate) fn boot_id() -> Option<String> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    Some(id.trim().to_string())
}

/// This process.
pub(crate) fn me() -> Option<ProcessId> {
    read(std::process::id() as i32).map(|p| p.id())
}

/// `roots` and everything descending from them in `procs`, by parent pid.
pub(crate) fn with_descendants(procs: &[Proc], roots: HashSet<i32>) -> HashSet<i32> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for p in procs {
        children.entry(p.ppid).or_default().push(p.pid);
    }
    let mut found = roots;
    let mut queue: Vec<i32> = found.iter().copied().collect();
    while let Some(pid) = queue.pop() {
        for &child in children.get(&pid).into_iter().flatten() {
            if found.insert(child) {
                queue.push(child);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_an_awkward_name() {
        let text = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 987654 1000 100 18446744073709551615";
        let p = parse_stat(text).unwrap();
        assert_eq!(
            (p.pid, p.ppid, p.pgid, p.sid, p.zombie, p.start),
            (4242, 1, 4242, 4242, false, 987654)
        );
        assert_eq!(p.name, "my (odd) name");
        assert!(parse_stat("12 (x) Z 1 2").is_none(), "too short");
        assert!(
            parse_stat("12 (x) Z 1 2 3 0 -1 0 0 0 0 0 0 0 0 0 0 0 1 0 77")
                .unwrap()
                .zombie
        );
    }

    #[test]
    fn tokens_from_an_environment_block() {
        let env = b"A=1\0RUNSHEET_TRACKING_ID=1.2.3 4.5.6\0XRUNSHEET_TRACKING_ID=no\0";
        assert_eq!(tokens_in(env), ["1.2.3", "4.5.6"]);
        assert!(tokens_in(b"A=1\0").is_empty());
    }

    #[test]
    fn descendants_follow_parent_pids() {
        let p = |pid, ppid| Proc {
            pid,
            ppid,
            pgid: pid,
            sid: pid,
            zombie: false,
            start: 0,
            name: String::new(),
        };
        let procs = [p(10, 1), p(11, 10), p(12, 11), p(20, 1), p(21, 20)];
        let got = with_descendants(&procs, HashSet::from([10]));
        assert_eq!(got, HashSet::from([10, 11, 12]));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_reads_back() {
        let me = me().unwrap();
        assert!(running(me));
        assert!(!running(ProcessId {
            start: me.start + 1,
            ..me
        }));
        assert!(all().iter().any(|p| p.pid == me.pid));
        assert!(boot_id().is_some_and(|id| !id.is_empty()));
    }
}
