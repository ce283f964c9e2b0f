//! What a person sees: `runsheet run` in a real pseudo-terminal, the bytes it
//! wrote rendered by a terminal emulator (vt100), and the screen compared
//! with what the steps printed. Also a stdout nobody reads: the run must go
//! on (timeouts, signals) while its display waits.

use std::fs::File;
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::sheet::Sheet;

const ROWS: u16 = 60;
const COLS: u16 = 80;

/// Records what the output asked of the terminal beyond drawing text.
#[derive(Default)]
struct Asked {
    title: Vec<u8>,
    clipboard: Vec<u8>,
}

impl vt100::Callbacks for Asked {
    fn set_window_title(&mut self, _: &mut vt100::Screen, title: &[u8]) {
        self.title.extend_from_slice(title);
    }
    fn copy_to_clipboard(&mut self, _: &mut vt100::Screen, _ty: &[u8], data: &[u8]) {
        self.clipboard.extend_from_slice(data);
    }
}

/// A finished run in a pty: its exit code, the raw bytes, the rendered screen.
struct Shown {
    code: Option<i32>,
    raw: Vec<u8>,
    parser: vt100::Parser<Asked>,
}

impl Shown {
    /// The screen's rows, trailing blanks and blank rows at the end dropped,
    /// durations replaced by `T`.
    fn rows(&self) -> Vec<String> {
        let screen = self.parser.screen();
        let mut rows: Vec<String> = screen
            .rows(0, COLS)
            .map(|r| redact_durations(r.trim_end()))
            .collect();
        while rows.last().is_some_and(String::is_empty) {
            rows.pop();
        }
        rows
    }
}

fn redact_durations(row: &str) -> String {
    let re = regex::Regex::new(r"\b\d+(\.\d+)?(ms|s)\b").unwrap();
    re.replace_all(row, "T").into_owned()
}

/// Runs `runsheet ARGS` in `dir` on a new pty of ROWS×COLS and reads all it
/// writes until it exits.
fn run_in_pty(dir: &Path, args: &[&str]) -> Shown {
    let mut master: libc::c_int = -1;
    let mut slave: libc::c_int = -1;
    let size = libc::winsize {
        ws_row: ROWS,
        ws_col: COLS,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty fills two descriptors we then own.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both were just opened and are owned by nobody else.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_runsheet"));
    cmd.args(args)
        .current_dir(dir)
        .env("TERM", "xterm-256color")
        .env_remove("NO_COLOR")
        .env_remove("COLUMNS")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("RUNSHEET_STATE_DIR")
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave));
    // SAFETY: setsid and ioctl are async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("spawn runsheet in a pty");
    drop(cmd); // our copies of the slave end
    let mut master = File::from(master);
    let reader = std::thread::spawn(move || {
        let mut raw = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match master.read(&mut buf) {
                Ok(0) | Err(_) => break, // EIO once the last slave end closes
                Ok(n) => raw.extend_from_slice(&buf[..n]),
            }
        }
        raw
    });
    let status = child.wait().expect("wait runsheet");
    let raw = reader.join().expect("pty reader");
    let mut parser = vt100::Parser::new_with_callbacks(
        std::num::NonZeroU16::new(ROWS).unwrap(),
        std::num::NonZeroU16::new(COLS).unwrap(),
        0,
        Asked::default(),
    );
    parser.process(&raw);
    Shown {
        code: status.code(),
        raw,
        parser,
    }
}

fn write_runbook(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

const OUTPUTS: &str = r#"# Outputs

```sh {#partial}
printf 'Downloading... '; sleep 1; printf 'done\n'
```

```sh {#no-newline}
echo first; printf 'no newline at end'; sleep 0.5
```

```sh {#progress}
for i in 10 50 100; do printf '\rprogress %s%%' "$i"; sleep 0.3; done; echo
```

```sh {#long}
printf 'x%.0s' $(seq 1 150); echo
```

```sh {#wide}
echo '日本語のテキスト ✓ done'; sleep 0.3
```

```sh {#quiet}
sleep 0.6
```

```sh {#curl}
echo 'curl: (7) Failed to connect to localhost port 9 after 0 ms: Connection refused' >&2
sleep 0.3
exit 7
```
"#;

#[test]
fn step_output_is_never_lost_or_garbled_by_the_live_display() {
    let sheet = Sheet::new();
    write_runbook(sheet.dir(), "out.md", OUTPUTS);
    let shown = run_in_pty(sheet.dir(), &["run", "out.md", "--color", "never"]);
    assert_eq!(shown.code, Some(1));
    let xs = "x".repeat(150);
    let expected = vec![
        "▶ Outputs (out.md, 7 steps)".to_string(),
        "[1/7] partial (out.md:3)".into(),
        "  │ Downloading... done".into(),
        "✓ partial T".into(),
        "[2/7] no-newline (out.md:7)".into(),
        "  │ first".into(),
        "  │ no newline at end".into(),
        "✓ no-newline T".into(),
        "[3/7] progress (out.md:11)".into(),
        "  │ progress 100%".into(),
        "✓ progress T".into(),
        "[4/7] long (out.md:15)".into(),
        format!("  │ {}", &xs[..76]),
        xs[76..].to_string(),
        "✓ long T".into(),
        "[5/7] wide (out.md:19)".into(),
        "  │ 日本語のテキスト ✓ done".into(),
        "✓ wide T".into(),
        "[6/7] quiet (out.md:23)".into(),
        "✓ quiet T".into(),
        "[7/7] curl (out.md:27)".into(),
        "  │ curl: (7) Failed to connect to localhost port 9 after 0 ms: Connection refused".into(),
        "✗ curl T exit status 7, expected 0".into(),
        String::new(),
        "✗ failed: 6 passed, 1 failed in T".into(),
        "Fix it, then go on from the failed step: runsheet run out.md --resume".into(),
    ];
    let rows = shown.rows();
    // The curl line is wider than the screen: it wraps onto the next row.
    let joined: Vec<String> = join_wrapped(&rows, &expected);
    assert_eq!(
        joined,
        expected,
        "screen:\n{}\n--- raw:\n{:?}",
        rows.join("\n"),
        String::from_utf8_lossy(&shown.raw)
    );
    // The spinner did run (it is just never in the way).
    let raw = String::from_utf8_lossy(&shown.raw);
    assert!(raw.contains(" quiet "), "no spinner drawn:\n{raw:?}");
}

/// `rows` with each row that continues a line too wide for the screen joined
/// to the row before (where `expected` has one line).
fn join_wrapped(rows: &[String], expected: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for row in rows {
        let at = out.len().saturating_sub(1).min(expected.len() - 1);
        if let Some(last) = out.last_mut() {
            let whole = &expected[at];
            let cut_short = last.chars().count() % COLS as usize == 0;
            if cut_short && whole.len() > last.len() && whole.starts_with(last.as_str()) {
                last.push_str(row);
                continue;
            }
        }
        out.push(row.clone());
    }
    out
}

#[test]
fn colours_stay_and_terminal_takeovers_are_dropped_from_the_live_view() {
    let sheet = Sheet::new();
    write_runbook(
        sheet.dir(),
        "hostile.md",
        "# Hostile\n\n```sh\nprintf '\\033[31mred\\033[0m plain\\n'\nprintf '\\033[2J\\033[H\\033[?1049h\\033]0;pwned\\007\\033]52;c;cHduZWQ=\\007kept\\n'\n```\n",
    );
    let shown = run_in_pty(sheet.dir(), &["run", "hostile.md", "--color", "always"]);
    assert_eq!(shown.code, Some(0));
    let rows = shown.rows();
    assert_eq!(rows[0], "▶ Hostile (hostile.md, 1 step)", "{rows:?}");
    assert_eq!(rows[2], "  │ red plain", "{rows:?}");
    assert_eq!(rows[3], "  │ kept", "{rows:?}");
    let screen = shown.parser.screen();
    let red = screen.cell(2, 4).unwrap();
    assert_eq!(red.contents(), "r");
    assert_eq!(red.fgcolor(), vt100::Color::Idx(1), "colour kept");
    assert_eq!(screen.cell(2, 8).unwrap().fgcolor(), vt100::Color::Default);
    assert!(!screen.alternate_screen());
    let asked = shown.parser.callbacks();
    assert!(asked.title.is_empty(), "title set to {:?}", asked.title);
    assert!(asked.clipboard.is_empty(), "clipboard written");
    // The log keeps the bytes as printed.
    let logs: Vec<Vec<u8>> = files(&sheet.dir().join(".runsheet"), "log")
        .into_iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    assert!(logs.iter().any(|l| l.windows(4).any(|w| w == b"\x1b[2J")));
}

/// Every file under `dir` with extension `ext`.
fn files(dir: &Path, ext: &str) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p, ext));
        } else if p.extension().is_some_and(|e| e == ext) {
            out.push(p);
        }
    }
    out
}

/// Waits for `check` (polling), giving up after a minute: a liveness guard,
/// not a timing assertion.
fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(60);
    while !check() {
        assert!(Instant::now() < until, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn latest_record(state: &Path) -> Option<serde_json::Value> {
    let mut found: Vec<_> = files(state, "json")
        .into_iter()
        .filter(|p| p.ends_with("run.json"))
        .collect();
    found.sort();
    let text = std::fs::read_to_string(found.last()?).ok()?;
    serde_json::from_str(&text).ok()
}

const FLOOD: &str = "# Flood\n\n```sh {#flood timeout=2s}\ntouch started\nwhile :; do echo 'a line of output that nobody reads, over and over'; done\n```\n\n```sh {#after}\ntouch after\n```\n";

/// Kills the child if the test fails half-way, so no runsheet is left
/// blocked on a pipe.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `runsheet run flood.md | sleep 1000`: stdout is a pipe nobody reads.
fn run_into_unread_pipe(dir: &Path) -> (Reaped, std::io::PipeReader) {
    write_runbook(dir, "flood.md", FLOOD);
    let (reader, writer) = std::io::pipe().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_runsheet"))
        .args(["run", "flood.md", "--keep-going"])
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("RUNSHEET_STATE_DIR")
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    (Reaped(child), reader)
}

#[test]
fn a_blocked_stdout_never_holds_up_a_timeout() {
    let sheet = Sheet::new();
    let dir = sheet.dir().to_path_buf();
    let (child, reader) = run_into_unread_pipe(&dir);
    let mut child = child;
    // The run goes on to its end although nobody has read a byte of it.
    wait_for("the run to finish with stdout unread", || {
        latest_record(&dir.join(".runsheet"))
            .is_some_and(|r| r["finished"].is_string() && r["status"] == "failed")
    });
    let record = latest_record(&dir.join(".runsheet")).unwrap();
    assert_eq!(record["steps"][0]["status"], "timed-out", "{record:#}");
    assert_eq!(record["steps"][1]["status"], "passed", "{record:#}");
    assert!(dir.join("after").exists());
    // Its display waited for a reader: reading now shows the lines of the
    // run, and says how much output was left out.
    let mut reader = reader;
    let shown = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = reader.read_to_string(&mut text);
        text
    });
    wait_for("runsheet to exit", || child.0.try_wait().unwrap().is_some());
    assert_eq!(child.0.wait().unwrap().code(), Some(1));
    let shown = shown.join().unwrap();
    assert!(
        shown.contains("of output not shown: the terminal was not reading"),
        "{shown}"
    );
    assert!(shown.contains("✗ flood"), "{shown}");
    assert!(shown.contains("✗ failed: 1 passed, 1 timed out"), "{shown}");
}

#[test]
fn a_blocked_stdout_never_holds_up_sigterm() {
    let sheet = Sheet::new();
    let dir = sheet.dir().to_path_buf();
    std::fs::write(
        dir.join("flood.md"),
        FLOOD.replace("timeout=2s", "timeout=10m"),
    )
    .unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    let mut child = Reaped(
        Command::new(env!("CARGO_BIN_EXE_runsheet"))
            .args(["run", "flood.md"])
            .current_dir(&dir)
            .env("NO_COLOR", "1")
            .env_remove("RUNSHEET_STATE_DIR")
            .stdin(Stdio::null())
            .stdout(writer)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("the step to start", || dir.join("started").exists());
    // Let the pipe fill and stay full.
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: signalling our own child by its pid.
    unsafe {
        libc::kill(child.0.id() as i32, libc::SIGTERM);
    }
    wait_for("runsheet to stop on SIGTERM with stdout unread", || {
        child.0.try_wait().unwrap().is_some()
    });
    assert_eq!(child.0.wait().unwrap().code(), Some(130));
    drop(reader);
    let record = latest_record(&dir.join(".runsheet")).unwrap();
    assert_eq!(record["status"], "interrupted", "{record:#}");
    assert!(!dir.join("after").exists());
}

/// The arguments of the README's first command (`cargo run --release -- ARGS`).
fn readme_first_command() -> Vec<String> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let line = readme
        .lines()
        .find(|l| l.starts_with("cargo run"))
        .expect("a `cargo run` line in the README");
    let command = line.split('#').next().unwrap();
    let args = command
        .split_once(" -- ")
        .expect("cargo run --release -- ARGS")
        .1;
    args.split_whitespace().map(str::to_string).collect()
}

#[test]
fn the_readme_first_command_passes_in_a_terminal_and_with_stdin_closed() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let state = tempfile::tempdir().unwrap();
    let mut args = readme_first_command();
    assert_eq!(args[0], "run", "{args:?}");
    args.push("--state-dir".into());
    args.push(state.path().display().to_string());
    let ran = Command::new(env!("CARGO_BIN_EXE_runsheet"))
        .args(&args)
        .current_dir(repo)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        ran.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&ran.stdout),
        String::from_utf8_lossy(&ran.stderr)
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let shown = run_in_pty(repo, &args);
    assert_eq!(shown.code, Some(0), "{}", shown.rows().join("\n"));
    let rows = shown.rows();
    assert!(
        rows.iter().any(|r| r.starts_with("✓ passed:")),
        "{}",
        rows.join("\n")
    );
}
