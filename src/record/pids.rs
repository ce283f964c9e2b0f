//! The `pids` file beside a runbook's lock: which runsheet process holds the
//! run, and each process group its steps started, so that a run taking over
//! the lock after a crash can stop what the dead run left running (SPEC §3).
//!
//! Written while the lock is held: created (truncating an older one) once
//! the left-behind processes it names are dealt with, one line appended per
//! group as steps start, removed when the run ends. Appending costs one small
//! write per step; a line torn by a crash is skipped on reading, and groups
//! long over are harmless, as every entry is checked against the process's
//! start time before anything is signalled.
//!
//! ```text
//! runsheet-pids 1
//! runsheet <pid> <start> <boot-id>
//! group <pid> <start> <token> <step-id>
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::exec::{Footprint, ProcessId, TrackedGroup};

const MAGIC: &str = "runsheet-pids 1";

/// The open `pids` file of the running run; removed on drop.
#[derive(Debug)]
pub struct PidsFile {
    path: PathBuf,
    file: File,
}

impl PidsFile {
    /// Replaces the file at `path` with one naming this run's runsheet.
    pub(super) fn create(path: &Path, run: &Footprint) -> io::Result<Self> {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        let ProcessId { pid, start } = run.runsheet;
        let header = format!("{MAGIC}\nrunsheet {pid} {start} {}\n", run.boot_id);
        file.write_all(header.as_bytes())?;
        Ok(PidsFile {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Records a group a step started.
    pub fn add(&mut self, group: &TrackedGroup) -> io::Result<()> {
        let ProcessId { pid, start } = group.leader;
        let line = format!("group {pid} {start} {} {}\n", group.token, group.step);
        self.file.write_all(line.as_bytes())
    }
}

impl Drop for PidsFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// What the file at `path` records; `None` when there is none or it is not
/// one runsheet wrote.
pub(super) fn read(path: &Path) -> Option<Footprint> {
    parse(&fs::read_to_string(path).ok()?)
}

fn parse(text: &str) -> Option<Footprint> {
    let mut lines = text.lines();
    if lines.next()? != MAGIC {
        return None;
    }
    let head: Vec<&str> = lines.next()?.split(' ').collect();
    let [kind, pid, start, boot_id] = head[..] else {
        return None;
    };
    if kind != "runsheet" {
        return None;
    }
    let runsheet = ProcessId {
        pid: pid.parse().ok()?,
        start: start.parse().ok()?,
    };
    let groups = lines.filter_map(group).collect();
    Some(Footprint {
        runsheet,
        boot_id: boot_id.to_string(),
        groups,
    })
}

fn group(line: &str) -> Option<TrackedGroup> {
    let fields: Vec<&str> = line.split(' ').collect();
    let ["group", pid, start, token, step] = fields[..] else {
        return None;
    };
    Some(TrackedGroup {
        leader: ProcessId {
            pid: pid.parse().ok()?,
            start: start.parse().ok()?,
        },
        token: token.to_string(),
        step: step.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_skips_a_torn_line_and_removes_on_drop() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("pids");
        let run = Footprint {
            runsheet: ProcessId { pid: 42, start: 7 },
            boot_id: "b00t".into(),
            groups: Vec::new(),
        };
        let group = TrackedGroup {
            leader: ProcessId { pid: 43, start: 9 },
            token: "42.7.1".into(),
            step: "build".into(),
        };
        let mut file = PidsFile::create(&path, &run).unwrap();
        file.add(&group).unwrap();
        fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"group 44 1")
            .unwrap();
        let read_back = read(&path).unwrap();
        assert_eq!(read_back.runsheet, run.runsheet);
        assert_eq!(read_back.boot_id, "b00t");
        assert_eq!(read_back.groups, [group]);
        drop(file);
        assert!(!path.exists());
        assert!(read(&path).is_none());
    }

    #[test]
    fn a_file_runsheet_did_not_write_is_ignored() {
        assert!(parse("").is_none());
        assert!(parse("hello\nrunsheet 1 2 b\n").is_none());
        assert!(parse("runsheet-pids 1\nrunsheet x 2 b\n").is_none());
    }
}
