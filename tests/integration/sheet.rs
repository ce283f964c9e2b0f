#![allow(dead_code)]
//! A small builder around the built binary: `Sheet::new().args([..]).run()`
//! then assertions on the exit code, stdout, stderr and files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// Path of a fixture directory or file under `tests/fixtures/`.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// Where every scratch dir of this test process is made. Tests read a run's
/// files after the run, often from another `Sheet` in the same dir, so the
/// dirs cannot go when a `Sheet` or `Ran` is dropped; the whole folder goes
/// when the process exits instead of piling up in the system's temp dir.
fn scratch_root() -> &'static Path {
    ROOT.get_or_init(|| {
        let root = tempfile::Builder::new()
            .prefix("runsheet-tests-")
            .tempdir()
            .expect("temp dir")
            .keep();
        // SAFETY: registers a function without arguments that only reads a
        // static and removes files.
        unsafe { libc::atexit(remove_scratch_root) };
        root
    })
}

static ROOT: OnceLock<PathBuf> = OnceLock::new();

extern "C" fn remove_scratch_root() {
    if let Some(root) = ROOT.get() {
        let _ = std::fs::remove_dir_all(root);
    }
}

/// One invocation of `runsheet`, run in its own temporary directory (so the
/// state dir and any files it writes never touch the repository) unless
/// `current_dir` says otherwise.
pub struct Sheet {
    args: Vec<String>,
    env: BTreeMap<String, String>,
    env_remove: Vec<String>,
    dir: tempfile::TempDir,
    cwd: Option<PathBuf>,
    stdin: Option<Vec<u8>>,
}

/// The finished run.
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// The temporary directory the command ran in.
    pub dir: PathBuf,
}

impl Sheet {
    pub fn new() -> Self {
        Sheet {
            args: Vec::new(),
            env: BTreeMap::new(),
            env_remove: vec!["GITHUB_ACTIONS".into(), "RUNSHEET_STATE_DIR".into()],
            dir: tempfile::tempdir_in(scratch_root()).expect("temp dir"),
            cwd: None,
            stdin: None,
        }
    }

    /// The scratch directory the command runs in (state dir `.runsheet` lands here).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn arg(mut self, a: impl AsRef<std::ffi::OsStr>) -> Self {
        self.args.push(a.as_ref().to_string_lossy().into_owned());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        for a in args {
            self = self.arg(a);
        }
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.insert(k.into(), v.into());
        self
    }

    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    pub fn stdin(mut self, input: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(input.into());
        self
    }

    /// Copies a fixture file or directory into the scratch dir and returns
    /// the copy's path, for commands that write next to the runbook.
    pub fn copy_fixture(&self, rel: &str) -> PathBuf {
        let from = fixture(rel);
        let to = self.dir().join(from.file_name().expect("fixture name"));
        copy_tree(&from, &to);
        to
    }

    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_runsheet"));
        cmd.args(&self.args)
            .current_dir(self.cwd.as_deref().unwrap_or(self.dir.path()))
            .env("NO_COLOR", "1")
            .env("COLUMNS", "100");
        for k in &self.env_remove {
            cmd.env_remove(k);
        }
        cmd.envs(&self.env);
        cmd
    }

    pub fn run(self) -> Ran {
        use std::io::Write;
        let mut cmd = self.command();
        cmd.stdin(if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn runsheet");
        if let Some(input) = &self.stdin {
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(input)
                .expect("write stdin");
        }
        let out: Output = child.wait_with_output().expect("wait runsheet");
        // The scratch dir stays until the test process exits (see
        // `scratch_root`): the test may read files in it after this.
        Ran::from_output(out, self.dir.keep())
    }
}

impl Ran {
    /// A run the test started itself, in `dir`, which the test keeps.
    pub fn from_output(out: Output, dir: PathBuf) -> Ran {
        Ran {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            dir,
        }
    }

    #[track_caller]
    pub fn code(self, expected: i32) -> Self {
        assert_eq!(
            self.code,
            Some(expected),
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stdout_has(self, needle: &str) -> Self {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stderr_has(self, needle: &str) -> Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn stdout_lacks(self, needle: &str) -> Self {
        assert!(
            !self.stdout.contains(needle),
            "stdout has {needle:?}\n{}",
            self.stdout
        );
        self
    }

    /// The JSON printed on stdout.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

/// Compares `actual` with the golden file at `path`; with `RUNSHEET_BLESS=1` the
/// golden file is rewritten instead.
#[track_caller]
pub fn assert_golden(path: &Path, actual: &str) {
    if std::env::var_os("RUNSHEET_BLESS").is_some() {
        std::fs::write(path, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read {}: {e} (RUNSHEET_BLESS=1 writes it)", path.display()));
    if expected != actual {
        let diff = similar::TextDiff::from_lines(expected.as_str(), actual)
            .unified_diff()
            .header("expected", "actual")
            .to_string();
        panic!(
            "{} differs (RUNSHEET_BLESS=1 to accept):\n{diff}",
            path.display()
        );
    }
}

fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).expect("mkdir");
        for entry in std::fs::read_dir(from).expect("read fixture dir") {
            let entry = entry.expect("dir entry");
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::copy(from, to).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
    }
}

/// Waits up to `within` for `done`; false if it never came.
pub fn eventually(within: std::time::Duration, mut done: impl FnMut() -> bool) -> bool {
    let until = std::time::Instant::now() + within;
    loop {
        if done() {
            return true;
        }
        if std::time::Instant::now() >= until {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// For `RUST_MIN_STACK`: a stack no system grants, so runsheet can start no
/// thread at all (every `std` thread asks for at least this much).
pub const NO_THREADS: &str = "1099511627776";
