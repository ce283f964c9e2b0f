//! The state dir on disk: one folder per runbook, one per run, atomic writes,
//! the lock, retention, and the shell state kept for `--resume`.
//!
//! Layout: `<state>/<runbook-key>/lock`, `<state>/<runbook-key>/<run-id>/run.json`,
//! `.../<run-id>/<NN>-<step-id>.log`, `.../<run-id>/state.json` (mode 0600).

use std::path::{Path, PathBuf};

use crate::exec::ShellState;

use super::RunRecord;

/// Runs kept per runbook unless told otherwise.
pub const KEEP_RUNS: usize = 20;

/// A state dir (`.runsheet/` by default).
#[derive(Debug, Clone)]
pub struct Store {
    pub dir: PathBuf,
}

/// Another live process holds the runbook's lock.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{} is already being run by process {pid} (lock {})", runbook.display(), lock.display())]
    Held {
        runbook: PathBuf,
        pid: u32,
        lock: PathBuf,
    },
    #[error("cannot take the lock {}: {source}", lock.display())]
    Io {
        lock: PathBuf,
        source: std::io::Error,
    },
}

/// Held while a run writes its record; released on drop.
#[derive(Debug)]
pub struct RunLock {
    pub path: PathBuf,
}

/// One run's folder.
#[derive(Debug, Clone)]
pub struct RunDir {
    pub path: PathBuf,
}

impl Store {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Store { dir: dir.into() }
    }

    /// Takes the lock for `runbook_abs`; a lock left by a dead process is taken over.
    pub fn lock(&self, runbook_abs: &Path) -> Result<RunLock, LockError> {
        let _ = runbook_abs;
        unimplemented!("record store lands on main soon")
    }

    /// Creates the run's folder and writes its first `run.json`.
    pub fn begin(&self, record: &RunRecord) -> std::io::Result<RunDir> {
        let _ = record;
        unimplemented!("record store lands on main soon")
    }

    /// The latest run of a runbook (by absolute path), with its folder.
    pub fn latest(&self, runbook_abs: &Path) -> std::io::Result<Option<(RunRecord, RunDir)>> {
        let _ = runbook_abs;
        Ok(None)
    }

    /// Deletes all but the newest `keep` runs of a runbook.
    pub fn retain(&self, runbook_abs: &Path, keep: usize) -> std::io::Result<()> {
        let _ = (runbook_abs, keep);
        Ok(())
    }
}

impl RunDir {
    /// Atomically replaces `run.json`; `durable` adds an fsync (at the end of a
    /// run and on failure, not after every step).
    pub fn save(&self, record: &RunRecord, durable: bool) -> std::io::Result<()> {
        let _ = (record, durable);
        unimplemented!("record store lands on main soon")
    }

    /// File name (for `StepRecord::log`) and path of step `index`'s log.
    pub fn log_path(&self, index: usize, step_id: &str) -> (String, PathBuf) {
        let name = format!("{:03}-{step_id}.log", index + 1);
        let path = self.path.join(&name);
        (name, path)
    }

    /// Reads a step's log (masked at write time).
    pub fn read_log(&self, name: &str) -> std::io::Result<Vec<u8>> {
        std::fs::read(self.path.join(name))
    }

    /// Saves the shell state after the last passed step (mode 0600, never shown).
    pub fn save_state(&self, state: &ShellState) -> std::io::Result<()> {
        let _ = state;
        unimplemented!("record store lands on main soon")
    }

    pub fn load_state(&self) -> std::io::Result<Option<ShellState>> {
        Ok(None)
    }
}
