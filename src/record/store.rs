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

use std::collections::BTreeSet;

use super::log::LogWriter;
use super::pids::{self, PidsFile};
use super::state::{Generation, StateError, StateFile};
use super::{History, RunRecord, StepRecord, StepStatus, SCHEMA_VERSION};
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
    #[error(
        "cannot make the state dir {}: {source}; choose another with --state-dir or RUNSHEET_STATE_DIR",
        dir.display()
    )]
    StateDir { dir: PathBuf, source: io::Error },
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
        fs::create_dir_all(&dir).map_err(|source| LockError::StateDir {
            dir: self.dir.clone(),
            source,
        })?;
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

    /// Creates the run's folder and writes its first `run.json` (a record
    /// with no shell state; a run uses [`Store::start`]).
    pub fn begin(&self, record: &RunRecord) -> io::Result<RunDir> {
        let mut record = record.clone();
        Ok(self.start(&mut record, None)?.dir.clone())
    }

    /// Creates the run's folder and writes its first `run.json`, and first
    /// `state.json` when the run starts from a saved state (`--resume`). The
    /// caller holds the runbook's lock; `record.run_id` comes from
    /// [`new_run_id`].
    pub fn start(
        &self,
        record: &mut RunRecord,
        state: Option<&ShellState>,
    ) -> io::Result<RunWriter> {
        let path = self.runbook_dir(&record.runbook_abs).join(&record.run_id);
        fs::create_dir_all(&path)?;
        let mut writer = RunWriter {
            dir: RunDir { path },
            committed: None,
            next_seq: 1,
            reserve: None,
        };
        writer.save(record, state, false)?;
        writer.reserve = make_reserve(&writer.dir.path);
        Ok(writer)
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

    /// The latest run of a runbook, with its folder. A folder whose first
    /// write never landed is passed over; a record that cannot be read is an
    /// error naming it (`--resume` must not quietly go on from an older run).
    pub fn latest(&self, runbook_abs: &Path) -> io::Result<Option<(RunRecord, RunDir)>> {
        for run in self.runs(runbook_abs)?.into_iter().rev() {
            match run.load() {
                Ok(record) => return Ok(Some((record, run))),
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    /// Every run of a runbook with a readable record, newest first; records
    /// that cannot be read are skipped and named in `unreadable`.
    pub fn history(&self, runbook_abs: &Path) -> io::Result<History> {
        let mut history = History::default();
        for run in self.runs(runbook_abs)?.into_iter().rev() {
            match run.load() {
                Ok(record) => history.runs.push((record, run)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => history.unreadable.push(format!(
                    "skipped the unreadable record {}: {e}",
                    run.path.join(RECORD_FILE).display()
                )),
            }
        }
        history.last = history.runs.first().cloned();
        Ok(history)
    }

    /// Deletes all but the newest `keep` runs of a runbook, except older runs
    /// that still hold what a kept record or a step's latest result needs:
    /// a run a kept record carried results from, and the run holding the
    /// latest result (and log) of any of the steps `ids`. Returns how many
    /// runs it deleted.
    pub fn retain(&self, runbook_abs: &Path, keep: usize, ids: &[&str]) -> io::Result<usize> {
        let runs = self.runs(runbook_abs)?;
        let excess = runs.len().saturating_sub(keep.max(1));
        if excess == 0 {
            return Ok(0);
        }
        let loaded: Vec<(RunRecord, RunDir)> = runs
            .iter()
            .rev()
            .filter_map(|run| run.load().ok().map(|r| (r, run.clone())))
            .collect();
        let mut needed: BTreeSet<PathBuf> = BTreeSet::new();
        let kept = |d: &RunDir| runs[excess..].iter().any(|k| k.path == d.path);
        for (record, dir) in loaded.iter().filter(|(_, d)| kept(d)) {
            // Records from before runs carried their logs along point into
            // the folder of the run they carried a result from.
            for step in record.steps.iter().filter(|s| s.carried_from.is_some()) {
                if let Some(folder) = dir.find_log(step).as_deref().and_then(Path::parent) {
                    needed.insert(folder.to_path_buf());
                }
            }
        }
        let latest = super::fold_latest(loaded.iter().map(|(r, d)| (r, d)));
        for id in ids {
            let Some(l) = latest
                .get(*id)
                .filter(|l| l.step.status != StepStatus::NotRun)
            else {
                continue;
            };
            needed.insert(l.record_dir.clone());
            if let Some(folder) = l.log.as_deref().and_then(Path::parent) {
                needed.insert(folder.to_path_buf());
            }
        }
        let mut deleted = 0;
        for run in &runs[..excess] {
            if !needed.contains(&run.path) {
                fs::remove_dir_all(&run.path)?;
                deleted += 1;
            }
        }
        Ok(deleted)
    }
}

/// Writes one run's `run.json`, `state.json` and logs.
#[derive(Debug)]
pub struct RunWriter {
    pub dir: RunDir,
    /// The state the record on disk names.
    committed: Option<Generation>,
    next_seq: u64,
    /// Space set aside when the run began, given back when the disk is full
    /// so that the record can still say how the run ended.
    reserve: Option<PathBuf>,
}

/// Bytes set aside for the last writes of a run on a full disk.
const RESERVE: usize = 128 * 1024;

fn make_reserve(dir: &Path) -> Option<PathBuf> {
    let path = dir.join(".reserve");
    fs::write(&path, vec![0u8; RESERVE]).ok()?;
    Some(path)
}

impl RunWriter {
    /// Writes `run.json`, and first `state.json` when `state` is given (the
    /// state changed since the last save): the record then names the new
    /// state (`state_seq`), and a crash between the two writes leaves a
    /// record and a state file that still agree (see `state`). `durable`
    /// adds fsyncs (at the end of a run and on failure, not after every
    /// step, where it would cost more than the step).
    ///
    /// A full disk gives back the space set aside when the run began and
    /// tries again; a folder that can no longer take new files gets the
    /// record written in place.
    pub fn save(
        &mut self,
        record: &mut RunRecord,
        state: Option<&ShellState>,
        durable: bool,
    ) -> io::Result<()> {
        let first = self.try_save(record, state, durable, false);
        let Err(e) = first else {
            return Ok(());
        };
        if full_disk(&e) && self.give_back_reserve() {
            return self.try_save(record, state, durable, false);
        }
        if e.kind() == io::ErrorKind::PermissionDenied {
            return self.try_save(record, state, durable, true).map_err(|_| e);
        }
        Err(e)
    }

    /// The last save of a run ([`RunWriter::save`], durable): a run folder
    /// that vanished meanwhile is made again, so the record still says how
    /// the run ended.
    pub fn save_last(
        &mut self,
        record: &mut RunRecord,
        state: Option<&ShellState>,
    ) -> io::Result<()> {
        match self.save(record, state, true) {
            Err(e) if e.kind() == io::ErrorKind::NotFound && !self.dir.path.exists() => {
                fs::create_dir_all(&self.dir.path).map_err(|_| e)?;
                self.save(record, state, true)
            }
            other => other,
        }
    }

    fn try_save(
        &mut self,
        record: &mut RunRecord,
        state: Option<&ShellState>,
        durable: bool,
        in_place: bool,
    ) -> io::Result<()> {
        let Some(state) = state else {
            return self.dir.write_record(record, durable, in_place);
        };
        let current = Generation {
            seq: self.next_seq,
            state: state.clone(),
        };
        let file = StateFile {
            current,
            previous: self.committed.clone(),
        };
        let json = serde_json::to_vec(&file).map_err(io::Error::other)?;
        let path = self.dir.path.join(STATE_FILE);
        if in_place {
            write_in_place(&path, &json)?;
        } else {
            write_atomic(&path, &json, durable)?;
        }
        self.next_seq += 1;
        let named = record.state_seq;
        record.state_seq = file.current.seq;
        if let Err(e) = self.dir.write_record(record, durable, in_place) {
            record.state_seq = named;
            return Err(e);
        }
        self.committed = Some(file.current);
        Ok(())
    }

    fn give_back_reserve(&mut self) -> bool {
        self.reserve
            .take()
            .is_some_and(|path| fs::remove_file(path).is_ok())
    }

    /// Creates the log of step `index` (see [`LogWriter`]); returns its name
    /// for `StepRecord::log`.
    pub fn log(&self, index: usize, step_id: &str, cap: u64) -> io::Result<(String, LogWriter)> {
        let (name, path) = self.dir.log_path(index, step_id);
        let log = LogWriter::create(&path, cap).map_err(|e| folder_gone(e, &self.dir.path))?;
        Ok((name, log))
    }

    /// Brings the log at `from` (a result carried forward by `--resume`)
    /// into this run's folder as step `index`'s log, so that no record ever
    /// needs another run's folder. A hard link where the file system allows.
    pub fn carry_log(&self, from: &Path, index: usize, step_id: &str) -> io::Result<String> {
        let (name, to) = self.dir.log_path(index, step_id);
        if fs::hard_link(from, &to).is_err() {
            fs::copy(from, &to)?;
        }
        Ok(name)
    }

    /// The run is over: the space set aside is given back.
    pub fn close(&mut self) {
        self.give_back_reserve();
    }
}

impl Drop for RunWriter {
    fn drop(&mut self) {
        self.close();
    }
}

/// A "not found" whose cause is the folder itself being gone says so.
fn folder_gone(e: io::Error, dir: &Path) -> io::Error {
    if e.kind() == io::ErrorKind::NotFound && !dir.exists() {
        io::Error::new(e.kind(), format!("its folder {} is gone", dir.display()))
    } else {
        e
    }
}

fn full_disk(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::StorageFull
        || e.kind() == io::ErrorKind::QuotaExceeded
        || e.raw_os_error() == Some(libc::ENOSPC)
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

    /// Atomically replaces `run.json` (no state: use [`RunWriter::save`]
    /// while a run writes its record).
    pub fn save(&self, record: &RunRecord, durable: bool) -> io::Result<()> {
        self.write_record(record, durable, false)
    }

    fn write_record(&self, record: &RunRecord, durable: bool, in_place: bool) -> io::Result<()> {
        let json = serde_json::to_vec_pretty(record).map_err(io::Error::other)?;
        let path = self.path.join(RECORD_FILE);
        if in_place {
            write_in_place(&path, &json)
        } else {
            write_atomic(&path, &json, durable)
        }
    }

    /// File name (for `StepRecord::log`) and path of step `index`'s log. The
    /// name stays short whatever the step id (a long heading makes a long
    /// id): a long id is cut and a short hash of it added.
    pub fn log_path(&self, index: usize, step_id: &str) -> (String, PathBuf) {
        let name = format!("{:03}-{}.log", index + 1, file_stem(step_id));
        let path = self.path.join(&name);
        (name, path)
    }

    /// Reads a step's log (masked at write time).
    pub fn read_log(&self, name: &str) -> io::Result<Vec<u8>> {
        fs::read(self.path.join(name))
    }

    /// The log of `step`, a result recorded in this run: in this folder, or
    /// for a result carried forward before runs carried their logs along,
    /// in the folder of the run it came from. `None` when it has none or the
    /// file is gone.
    pub fn find_log(&self, step: &StepRecord) -> Option<PathBuf> {
        let name = step.log.as_deref()?;
        let own = self.path.join(name);
        if own.exists() {
            return Some(own);
        }
        let from = step.carried_from.as_deref()?;
        let carried = self.path.parent()?.join(from).join(name);
        carried.exists().then_some(carried)
    }

    /// The shell state that goes with `record` (this run's), for `--resume`;
    /// `None` when the run saved none (its first working directory, nothing
    /// changed).
    pub fn load_state(&self, record: &RunRecord) -> Result<Option<ShellState>, StateError> {
        super::state::read(&self.path.join(STATE_FILE), record.state_seq)
    }

    /// `state.json`'s path, for messages.
    pub fn state_path(&self) -> PathBuf {
        self.path.join(STATE_FILE)
    }

    /// `run.json`'s path, for messages.
    pub fn record_path(&self) -> PathBuf {
        self.path.join(RECORD_FILE)
    }
}

/// Longest step id kept whole in a log's file name (bytes); file systems
/// refuse names over 255 bytes.
const MAX_ID_IN_NAME: usize = 64;

/// A step id as a file name part: at most [`MAX_ID_IN_NAME`] bytes, cut at a
/// character boundary with a short hash of the whole id added when longer,
/// and nothing a file system could take for a path or refuse.
fn file_stem(id: &str) -> String {
    let clean: String = id
        .chars()
        .map(|c| {
            // Path separators, and what some file systems (FAT, SMB) refuse.
            if c.is_control() || "/\\<>:\"|?*".contains(c) {
                '_'
            } else {
                c
            }
        })
        .collect();
    if clean.len() <= MAX_ID_IN_NAME {
        return clean;
    }
    let mut cut = MAX_ID_IN_NAME - 9;
    while !clean.is_char_boundary(cut) {
        cut -= 1;
    }
    let hash = Sha256::digest(id.as_bytes());
    let hex: String = hash.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("{}-{hex}", &clean[..cut])
}

/// Overwrites a file in place: the last resort when its folder takes no new
/// file (the temporary file of an atomic write); the record would rather be
/// finished than left saying `running`.
fn write_in_place(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).open(path)?;
    file.write_all(bytes)?;
    file.set_len(bytes.len() as u64)?;
    file.sync_all()
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
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| {
        // The temporary file's random name says nothing to a reader.
        let message = e.to_string();
        let message = message.split(" at path ").next().unwrap_or(&message);
        folder_gone(io::Error::new(e.kind(), message.to_string()), dir)
    })?;
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
    use crate::record::{RunRecord, RunStatus, StepRecord};
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
            mode: "run".into(),
            ..RunRecord::default()
        }
    }

    fn state(cwd: &str) -> ShellState {
        ShellState {
            cwd: cwd.into(),
            ..ShellState::default()
        }
    }

    fn step(id: &str, status: StepStatus) -> StepRecord {
        StepRecord {
            id: id.into(),
            status,
            ..StepRecord::default()
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
            let mut run = store.start(&mut rec, None).unwrap();
            rec.status = RunStatus::Passed;
            run.save(&mut rec, None, i == 4).unwrap();
        }
        let (latest, dir) = store.latest(book).unwrap().unwrap();
        assert_eq!(latest.run_id, "20260104T000000.000Z-1");
        assert_eq!(latest.status, RunStatus::Passed);
        assert_eq!(store.retain(book, 2, &[]).unwrap(), 3);
        let left: Vec<_> = store.runs(book).unwrap();
        assert_eq!(left.len(), 2);
        assert_eq!(left[1].path, dir.path);
        assert!(store.latest(Path::new("/other.md")).unwrap().is_none());
    }

    #[test]
    fn retention_keeps_what_kept_records_and_latest_results_need() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path());
        let book = Path::new("/srv/runbooks/deploy.md");
        let ids = ["a", "b", "c"];
        // Run 0 ran `a` (its only result); run 1 ran `b` and was carried
        // from by run 4 (a record of the old kind, pointing at run 1's log);
        // runs 2..5 ran `c` alone.
        for i in 0..6 {
            let mut rec = record(book, format!("2026010{i}T000000.000Z-1"));
            rec.steps = match i {
                0 => vec![step("a", StepStatus::Passed)],
                1 => vec![StepRecord {
                    log: Some("b.log".into()),
                    ..step("b", StepStatus::Passed)
                }],
                4 => vec![
                    StepRecord {
                        carried_from: Some("20260101T000000.000Z-1".into()),
                        log: Some("b.log".into()),
                        ..step("b", StepStatus::Passed)
                    },
                    step("c", StepStatus::Failed),
                ],
                _ => vec![step("c", StepStatus::Passed), step("a", StepStatus::NotRun)],
            };
            let run = store.start(&mut rec, None).unwrap();
            if i == 1 {
                fs::write(run.dir.path.join("b.log"), "b\n").unwrap();
            }
        }
        assert_eq!(store.retain(book, 2, &ids).unwrap(), 2);
        let left: Vec<String> = store
            .runs(book)
            .unwrap()
            .iter()
            .map(|r| r.path.file_name().unwrap().to_string_lossy()[7..8].to_string())
            .collect();
        assert_eq!(left, ["0", "1", "4", "5"]);
    }

    #[test]
    fn record_and_state_agree_whenever_a_crash_comes() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path());
        let book = Path::new("/srv/runbooks/deploy.md");
        let mut rec = record(book, new_run_id());
        let mut run = store.start(&mut rec, Some(&state("/one"))).unwrap();
        assert_eq!(
            run.dir.load_state(&run.dir.load().unwrap()).unwrap(),
            Some(state("/one"))
        );
        rec.steps = vec![step("a", StepStatus::Passed)];
        run.save(&mut rec, Some(&state("/two")), false).unwrap();
        let before = fs::read(run.dir.record_path()).unwrap();
        rec.steps.push(step("b", StepStatus::Passed));
        run.save(&mut rec, Some(&state("/three")), false).unwrap();
        let on_disk = run.dir.load().unwrap();
        assert_eq!(on_disk.steps.len(), 2);
        assert_eq!(run.dir.load_state(&on_disk).unwrap(), Some(state("/three")));
        // SIGKILL after the state's rename, before the record's: the record
        // on disk is the one before, and it still gets its own state.
        fs::write(run.dir.record_path(), before).unwrap();
        let on_disk = run.dir.load().unwrap();
        assert_eq!(on_disk.steps.len(), 1);
        assert_eq!(run.dir.load_state(&on_disk).unwrap(), Some(state("/two")));
        let mode = fs::metadata(run.dir.state_path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_state_that_does_not_fit_its_record_is_an_error_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = RunDir {
            path: tmp.path().to_path_buf(),
        };
        let mut rec = record(Path::new("/a.md"), "x".into());
        assert_eq!(
            dir.load_state(&rec).unwrap(),
            None,
            "nothing saved: start afresh"
        );
        rec.state_seq = 3;
        let err = dir.load_state(&rec).unwrap_err().to_string();
        assert!(err.contains("state.json is missing"), "{err}");
        fs::write(
            dir.state_path(),
            "{\"seq\": 7, \"state\": {\"cwd\": \"/\", \"env\": {}}}",
        )
        .unwrap();
        let err = dir.load_state(&rec).unwrap_err().to_string();
        assert!(err.contains("(state 7, the record names 3)"), "{err}");
        fs::write(dir.state_path(), "garbage").unwrap();
        let err = dir.load_state(&rec).unwrap_err().to_string();
        assert!(
            err.contains("state.json is not a shell state runsheet wrote"),
            "{err}"
        );
        // A state file from before sequence numbers is read as it is.
        fs::write(dir.state_path(), "{\"cwd\": \"/srv\", \"env\": {}}").unwrap();
        rec.state_seq = 0;
        assert_eq!(dir.load_state(&rec).unwrap(), Some(state("/srv")));
    }

    #[test]
    fn a_long_step_id_gets_a_short_file_name() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path());
        let mut rec = record(Path::new("/a.md"), new_run_id());
        let run = store.start(&mut rec, None).unwrap();
        let id = "ü".repeat(200);
        let (name, mut log) = run.log(0, &id, 1024).unwrap();
        log.write_all(b"ok\n").unwrap();
        log.finish().unwrap();
        assert!(name.len() <= 80, "{name}");
        assert!(name.starts_with("001-üü"), "{name}");
        assert_eq!(run.dir.read_log(&name).unwrap(), b"ok\n");
        let (other, _) = run.dir.log_path(0, &format!("{id}x"));
        assert_ne!(name, other, "ids that share a start keep apart");
        assert_eq!(run.dir.log_path(1, "a/b:c?").0, "002-a_b_c_.log");
    }

    #[test]
    fn history_skips_an_unreadable_record_and_names_it() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path());
        let book = Path::new("/srv/runbooks/deploy.md");
        for i in 0..3 {
            let mut rec = record(book, format!("2026010{i}T000000.000Z-1"));
            rec.steps = vec![step(&format!("s{i}"), StepStatus::Passed)];
            store.start(&mut rec, None).unwrap();
        }
        let bad = store.runs(book).unwrap()[1].record_path();
        fs::write(&bad, "{ not json").unwrap();
        let history = store.history(book).unwrap();
        assert_eq!(history.runs.len(), 2);
        assert_eq!(history.unreadable.len(), 1);
        assert!(history.unreadable[0].contains(&bad.display().to_string()));
        let latest = history.latest();
        assert!(latest.contains_key("s0") && latest.contains_key("s2"));
        assert!(store.latest(book).unwrap().is_some(), "the newest is fine");
        fs::write(store.runs(book).unwrap()[2].record_path(), "{").unwrap();
        let err = store.latest(book).unwrap_err();
        assert!(err.to_string().contains("run.json"), "{err}");
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
    fn a_record_of_schema_1_without_the_new_fields_still_reads() {
        let tmp = tempfile::tempdir().unwrap();
        let run = RunDir {
            path: tmp.path().to_path_buf(),
        };
        let old = r#"{"schema":1,"run_id":"r","runbook":"a.md","runbook_abs":"/a.md",
            "runbook_hash":"h","title":"A","started":"2026-01-01T00:00:00Z","finished":null,
            "status":"failed","mode":"run","todos":[],
            "steps":[{"id":"s","line":3,"section":null,"command_hash":"c","status":"failed",
              "exit_code":1,"duration_ms":5,"started":null,"reason":"exit status 1, expected 0",
              "checks":[],"log":"001-s.log","carried_from":null,"attempts":1}]}"#;
        fs::write(run.record_path(), old).unwrap();
        let rec = run.load().unwrap();
        assert_eq!(rec.steps[0].failed_line, None);
        assert_eq!(rec.selection, None);
        assert_eq!(rec.state_seq, 0);
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
