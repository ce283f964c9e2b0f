//! The state dir on disk: one folder per runbook, one per run, atomic writes,
//! the lock, retention, and the shell state kept for `--resume`.
//!
//! Layout: `<state>/<runbook-key>/lock` (and `pids` beside it while a run
//! runs, see `pids`), `<state>/<runbook-key>/<run-id>/run.json`,
//! `.../<run-id>/<NNN>-<step-id>.log`, `.../<run-id>/state.json` (mode 0600).
//! The runbook key is the file's stem plus a hash of its absolute path, so two
//! `deploy.md` in different folders never share records.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::pids::{self, PidsFile};
use super::{RunRecord, SCHEMA_VERSION};
use crate::exec::{Footprint, ShellState};

/// Runs kept per runbook unless told otherwise.
pub const KEEP_RUNS: usize = 20;

const RECORD_FILE: &str = "run.json";
const STATE_FILE: &str = "state.json";
const LOCK_FILE: &str = "lock";
const PIDS_FILE: &str = "pids";

/// A state dir (`.runsheet/` by default).
#[derive(Debug, Clone)]
pub struct Store {
    pub dir: PathBuf,
}

/// Another live process holds the runbook's lock.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "{} is already being run by process {pid} (lock {}); wait for it to finish or stop it",
        runbook.display(),
        lock.display()
    )]
    Held {
        runbook: PathBuf,
        pid: u32,
        lock: PathBuf,
    },
    #[error("cannot take the lock {}: {source}", lock.display())]
    Io { lock: PathBuf, source: io::Error },
}

/// Held while a run writes its record. The lock is an `flock` on the lock file,
/// so the kernel drops it when the process dies, however it dies: a lock left by
/// a dead process is simply free.
#[derive(Debug)]
pub struct RunLock {
    pub path: PathBuf,
    /// What the previous holder, which died without finishing, recorded as
    /// running: for the new holder to stop.
    pub left_behind: Option<Footprint>,
    _file: File,
}

impl RunLock {
    /// Starts recording this run's processes beside the lock (replacing
    /// what `left_behind` was read from); the file goes when dropped.
    pub fn record_pids(&self, run: &Footprint) -> io::Result<PidsFile> {
        PidsFile::create(&self.path.with_file_name(PIDS_FILE), run)
    }
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

    /// The folder holding every run of the runbook at `runbook_abs`.
    pub fn runbook_dir(&self, runbook_abs: &Path) -> PathBuf {
        self.dir.join(runbook_key(runbook_abs))
    }

    /// Takes the lock for `runbook_abs`.
    pub fn lock(&self, runbook_abs: &Path) -> Result<RunLock, LockError> {
        let dir = self.runbook_dir(runbook_abs);
        let path = dir.join(LOCK_FILE);
        let io_err = |source| LockError::Io {
            lock: path.clone(),
            source,
        };
        fs::create_dir_all(&dir).map_err(io_err)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(LockError::Held {
                    runbook: runbook_abs.to_path_buf(),
                    pid: text.trim().parse().unwrap_or(0),
                    lock: path,
                });
            }
            Err(TryLockError::Error(e)) => return Err(io_err(e)),
        }
        // The pid is only for the message a second run prints.
        file.set_len(0).map_err(io_err)?;
        write!(file, "{}", std::process::id()).map_err(io_err)?;
        // A run that ended normally removed its file: one still here was
        // left by a runsheet that died.
        let left_behind = pids::read(&dir.join(PIDS_FILE));
        Ok(RunLock {
            path,
            left_behind,
            _file: file,
        })
    }

    /// True when a live process holds the runbook's lock (its latest record may
    /// still say `running` without being a crash).
    pub fn is_locked(&self, runbook_abs: &Path) -> bool {
        let path = self.runbook_dir(runbook_abs).join(LOCK_FILE);
        let Ok(file) = File::open(path) else {
            return false;
        };
        matches!(file.try_lock_shared(), Err(TryLockError::WouldBlock))
    }

    /// Creates the run's folder and writes its first `run.json`. The caller holds
    /// the runbook's lock; `record.run_id` comes from [`new_run_id`].
    pub fn begin(&self, record: &RunRecord) -> io::Result<RunDir> {
        let path = self.runbook_dir(&record.runbook_abs).join(&record.run_id);
        fs::create_dir_all(&path)?;
        let run = RunDir { path };
        run.save(record, false)?;
        Ok(run)
    }

    /// Run folders of a runbook, oldest first (run ids sort by start time).
    pub fn runs(&self, runbook_abs: &Path) -> io::Result<Vec<RunDir>> {
        let dir = self.runbook_dir(runbook_abs);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut runs: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
            .collect();
        runs.sort();
        Ok(runs.into_iter().map(|path| RunDir { path }).collect())
    }

    /// The latest run of a runbook that has a readable record, with its folder.
    pub fn latest(&self, runbook_abs: &Path) -> io::Result<Option<(RunRecord, RunDir)>> {
        for run in self.runs(runbook_abs)?.into_iter().rev() {
            match run.load() {
                Ok(record) => return Ok(Some((record, run))),
                // A folder whose first write never landed: skip to the one before.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    /// Deletes all but the newest `keep` runs of a runbook.
    pub fn retain(&self, runbook_abs: &Path, keep: usize) -> io::Result<()> {
        let runs = self.runs(runbook_abs)?;
        let excess = runs.len().saturating_sub(keep);
        for run in &runs[..excess] {
            fs::remove_dir_all(&run.path)?;
        }
        Ok(())
    }
}

impl RunDir {
    /// Reads `run.json`; a newer schema than this runsheet knows is an error.
    pub fn load(&self) -> io::Result<RunRecord> {
        let text = fs::read_to_string(self.path.join(RECORD_FILE))?;
        let record: RunRecord = serde_json::from_str(&text).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", self.path.join(RECORD_FILE).display()),
            )
        })?;
        if record.schema > SCHEMA_VERSION {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} has record schema {}; this runsheet reads up to {SCHEMA_VERSION}",
                    self.path.display(),
                    record.schema
                ),
            ));
        }
        Ok(record)
    }

    /// Atomically replaces `run.json`; `durable` adds an fsync (at the end of a
    /// run and on failure, not after every step, where it would cost more than
    /// the step).
    pub fn save(&self, record: &RunRecord, durable: bool) -> io::Result<()> {
        let json = serde_json::to_vec_pretty(record).map_err(io::Error::other)?;
        write_atomic(&self.path.join(RECORD_FILE), &json, durable)
    }

    /// File name (for `StepRecord::log`) and path of step `index`'s log.
    pub fn log_path(&self, index: usize, step_id: &str) -> (String, PathBuf) {
        let name = format!("{:03}-{step_id}.log", index + 1);
        let path = self.path.join(&name);
        (name, path)
    }

    /// Reads a step's log (masked at write time).
    pub fn read_log(&self, name: &str) -> io::Result<Vec<u8>> {
        fs::read(self.path.join(name))
    }

    /// Saves the shell state after the last passed step. Mode 0600 (it holds the
    /// environment), never shown in a report or the book.
    pub fn save_state(&self, state: &ShellState) -> io::Result<()> {
        let json = serde_json::to_vec(state).map_err(io::Error::other)?;
        write_atomic(&self.path.join(STATE_FILE), &json, false)
    }

    pub fn load_state(&self) -> io::Result<Option<ShellState>> {
        match fs::read(self.path.join(STATE_FILE)) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// A run id: the UTC start time to the millisecond plus the pid, so ids sort
/// by start and two processes never collide.
pub fn new_run_id() -> String {
    let now = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
    let compact: String = now.chars().filter(|c| !matches!(c, '-' | ':')).collect();
    format!("{compact}-{}", std::process::id())
}

/// Writes through a temporary file in the same folder and renames it over the
/// target: a crash leaves the old file or the new one, never a torn one. The
/// temporary file is created 0600 and keeps that mode.
fn write_atomic(path: &Path, bytes: &[u8], durable: bool) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    if durable {
        tmp.as_file().sync_all()?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    if durable {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

fn runbook_key(runbook_abs: &Path) -> String {
    let stem: String = runbook_abs
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    let hash = Sha256::digest(runbook_abs.as_os_str().as_encoded_bytes());
    let hex: String = hash.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("{stem}-{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{RunRecord, RunStatus};
    use std::os::unix::fs::PermissionsExt;

    fn record(abs: &Path, run_id: String) -> RunRecord {
        RunRecord {
            schema: SCHEMA_VERSION,
            run_id,
            runbook: abs.to_path_buf(),
            runbook_abs: abs.to_path_buf(),
            runbook_hash: "h".into(),
            title: "t".into(),
            started: "2026-01-01T00:00:00Z".into(),
            finished: None,
            status: RunStatus::Running,
            mode: "run".into(),
            steps: Vec::new(),
            todos: Vec::new(),
        }
    }

    #[test]
    fn lock_is_exclusive_and_released_on_drop() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path());
        let book = Path::new("/srv/runbooks/deploy.md");
        let held = store.lock(book).unwrap();
        assert!(store.is_locked(book));
        let err = store.lock(book).unwrap_err();
        assert!(
            matches!(err, LockError::Held { pid, .. } if pid == std::process::id()),
            "{err}"
        );
        drop(held);
        assert!(!store.is_locked(book));
        store.lock(book).unwrap();
    }

    #[test]
    fn records_round_trip_latest_and_retention() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path());
        let book = Path::new("/srv/runbooks/deploy.md");
        for i in 0..5 {
            let mut rec = record(book, format!("2026010{i}T000000.000Z-1"));
            let run = store.begin(&rec).unwrap();
            rec.status = RunStatus::Passed;
            run.save(&rec, i == 4).unwrap();
        }
        let (latest, dir) = store.latest(book).unwrap().unwrap();
        assert_eq!(latest.run_id, "20260104T000000.000Z-1");
        assert_eq!(latest.status, RunStatus::Passed);
        store.retain(book, 2).unwrap();
        let left: Vec<_> = store.runs(book).unwrap();
        assert_eq!(left.len(), 2);
        assert_eq!(left[1].path, dir.path);
        assert!(store.latest(Path::new("/other.md")).unwrap().is_none());
    }

    #[test]
    fn state_file_is_private() {
        let tmp = tempfile::tempdir().unwrap();
        let run = RunDir {
            path: tmp.path().to_path_buf(),
        };
        assert_eq!(run.load_state().unwrap(), None);
        let state = ShellState {
            cwd: "/tmp".into(),
            ..ShellState::default()
        };
        run.save_state(&state).unwrap();
        let mode = fs::metadata(tmp.path().join(STATE_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(run.load_state().unwrap(), Some(state));
    }

    #[test]
    fn newer_schema_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let run = RunDir {
            path: tmp.path().to_path_buf(),
        };
        let mut rec = record(Path::new("/a.md"), "x".into());
        rec.schema = SCHEMA_VERSION + 1;
        run.save(&rec, false).unwrap();
        let err = run.load().unwrap_err();
        assert!(err.to_string().contains("schema"), "{err}");
    }

    #[test]
    fn run_ids_sort_by_time() {
        let a = new_run_id();
        std::thread::sleep(std::time::Duration::from_millis(3));
        let b = new_run_id();
        assert!(a < b, "{a} {b}");
        assert!(!a.contains(':'));
    }
}
