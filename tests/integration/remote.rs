//! Remote steps against a real `sshd` on a loopback port: state per host,
//! timeouts and Ctrl-C that leave nothing running on the host, secrets kept
//! off the host's command lines, fan-out with one host failing and
//! `--resume` re-running that host only, an unreachable host.
//!
//! Skipped (loudly) when `sshd` or `ssh` is missing, unless
//! `RUNSHEET_REQUIRE_SSHD=1`.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::sheet::{eventually, fixture, Ran, Sheet};

const SSHD: &str = "/usr/sbin/sshd";

/// A private sshd for one test, with aliases `alpha`, `beta`, `gamma` (on
/// 127.0.0.1, .2 and .3, so each has its own connection; each sets
/// `RS_ALIAS` to its name) and `closed` (a port nobody listens on).
struct Sshd {
    child: Child,
    dir: tempfile::TempDir,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

fn keygen(path: &Path) {
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-N", "", "-t", "ed25519", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen runs")
        .success();
    assert!(ok, "ssh-keygen failed");
}

impl Sshd {
    /// `None` (after saying so) when there is no sshd to test with.
    fn start() -> Option<Sshd> {
        let found = Path::new(SSHD).exists() && have("ssh") && have("ssh-keygen");
        if !found {
            if std::env::var_os("RUNSHEET_REQUIRE_SSHD").is_some_and(|v| v == "1") {
                panic!("sshd not found, and RUNSHEET_REQUIRE_SSHD=1");
            }
            eprintln!("\n*** skipped: sshd not found (install openssh-server) ***\n");
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        keygen(&d.join("host_key"));
        keygen(&d.join("user_key"));
        fs::copy(d.join("user_key.pub"), d.join("authorized_keys")).expect("authorized_keys");
        // Privilege separation wants it; root may create it.
        let _ = fs::create_dir_all("/run/sshd");
        let port = free_port();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nListenAddress 127.0.0.2\nListenAddress 127.0.0.3\n\
             HostKey {d}/host_key\nPidFile {d}/sshd.pid\nAuthorizedKeysFile {d}/authorized_keys\n\
             StrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             PermitRootLogin prohibit-password\nAcceptEnv RS_ALIAS\nMaxSessions 50\n",
            d = d.display()
        );
        fs::write(d.join("sshd_config"), config).expect("sshd_config");
        let mut client = String::new();
        for (alias, addr) in [
            ("alpha", "127.0.0.1"),
            ("beta", "127.0.0.2"),
            ("gamma", "127.0.0.3"),
        ] {
            client.push_str(&format!(
                "Host {alias}\n  HostName {addr}\n  Port {port}\n  SetEnv RS_ALIAS={alias}\n"
            ));
        }
        client.push_str(&format!(
            "Host closed\n  HostName 127.0.0.1\n  Port {}\n",
            free_port()
        ));
        client.push_str(&format!(
            "Host *\n  User root\n  IdentityFile {d}/user_key\n  IdentitiesOnly yes\n  \
             UserKnownHostsFile {d}/known_hosts\n  StrictHostKeyChecking accept-new\n",
            d = d.display()
        ));
        fs::write(d.join("ssh_config"), client).expect("ssh_config");
        let log = fs::File::create(d.join("sshd.log")).expect("sshd log");
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(d.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start sshd");
        let sshd = Sshd { child, dir };
        let up = eventually(Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(up, "sshd did not listen: {}", sshd.log());
        Some(sshd)
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("ssh_config")
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// `runsheet ARGS` with this sshd's ssh config and a fresh marker.
    fn sheet(&self, mark: &str) -> Sheet {
        Sheet::new()
            .env("RUNSHEET_SSH_CONFIG", &self.config().to_string_lossy())
            .env("MARK", mark)
    }
}

/// A name no other test or run uses.
fn mark(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{test}-{}-{nanos}", std::process::id())
}

/// Every process's command line, arguments joined by spaces.
fn command_lines() -> Vec<String> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| fs::read(e.path().join("cmdline")).ok())
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .collect()
}

/// Step folders on the host that hold `needle` (a step's payload names
/// its environment, the test's marker among it).
fn folders_left(needle: &str) -> Vec<PathBuf> {
    fs::read_dir("/tmp")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("runsheet-"))
        })
        .filter(|p| fs::read_to_string(p.join("run")).is_ok_and(|t| t.contains(needle)))
        .collect()
}

fn running(needle: &str) -> Vec<String> {
    command_lines()
        .into_iter()
        .filter(|c| c.contains(needle))
        .collect()
}

fn record(ran: &Ran) -> serde_json::Value {
    record_in(&ran.dir, &ran.stdout)
}

fn record_in(run_dir: &Path, stdout: &str) -> serde_json::Value {
    let dir = run_dir.join(".runsheet");
    let mut records: Vec<PathBuf> = walk(&dir)
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "run.json"))
        .collect();
    records.sort();
    let last = records.last().unwrap_or_else(|| {
        panic!(
            "no run record under {}: {:?}\n{}",
            dir.display(),
            walk(run_dir),
            stdout
        )
    });
    serde_json::from_str(&fs::read_to_string(last).expect("read run.json")).expect("JSON")
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn each_host_carries_its_own_state_apart_from_the_local_one() {
    let Some(sshd) = Sshd::start() else { return };
    let sheet = sshd.sheet(&mark("carry"));
    let book = sheet.copy_fixture("remote/carry.md");
    let ran = sheet.args(["run"]).arg(&book).run().code(0);
    let rec = record(&ran);
    assert_eq!(rec["steps"][1]["host"], "alpha");
    assert_eq!(rec["steps"][0].get("host"), None);
    let state = walk(&ran.dir.join(".runsheet"))
        .into_iter()
        .find(|p| p.file_name().is_some_and(|n| n == "state.json"))
        .expect("state.json");
    let state: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(state).unwrap()).unwrap();
    let state = &state["state"];
    assert_eq!(state["remote"]["alpha"]["cwd"], "/tmp", "{state:#}");
    assert_eq!(state["remote"]["alpha"]["env"]["GREETING"], "hello");
    assert_eq!(state["env"]["WHERE"], "local");
    assert_eq!(state["env"].get("GREETING"), None);
}

#[test]
fn a_remote_timeout_leaves_nothing_running_on_the_host() {
    let Some(sshd) = Sshd::start() else { return };
    let mark = mark("timeout");
    let sheet = sshd.sheet(&mark);
    let book = sheet.copy_fixture("remote/stop.md");
    let started = Instant::now();
    let (child, sheet) = start_and_wait(sheet, &book, &mark);
    let dir = sheet.dir().to_path_buf();
    let out = child.wait_with_output().expect("runsheet ends");
    assert_eq!(out.status.code(), Some(1));
    assert!(started.elapsed() < Duration::from_secs(15));
    let ran = Ran::from_output(out, dir);
    assert_eq!(record(&ran)["steps"][0]["status"], "timed-out");
    let gone = eventually(Duration::from_secs(3), || {
        running(&format!("rs-marker-{mark}")).is_empty()
    });
    assert!(gone, "left on the host: {:?}", running(&mark));
    let clean = eventually(Duration::from_secs(3), || folders_left(&mark).is_empty());
    assert!(clean, "folders left on the host: {:?}", folders_left(&mark));
}

/// Starts `runsheet run BOOK` and waits until the step's remote process runs.
/// The sheet comes back with it: its folder lives as long as it does.
fn start_and_wait(sheet: Sheet, book: &Path, mark: &str) -> (Child, Sheet) {
    let sheet = sheet.args(["run"]).arg(book);
    let child = sheet
        .command()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start runsheet");
    let mut child = child;
    let up = eventually(Duration::from_secs(15), || {
        !running(&format!("rs-marker-{mark}")).is_empty()
            || child.try_wait().ok().flatten().is_some()
    });
    if !up || child.try_wait().ok().flatten().is_some() {
        let _ = child.kill();
        let out = child.wait_with_output().expect("runsheet ends");
        panic!(
            "the remote step never started\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    (child, sheet)
}

#[test]
fn ctrl_c_during_a_remote_step_stops_it_on_the_host() {
    let Some(sshd) = Sshd::start() else { return };
    let mark = mark("ctrlc");
    let sheet = sshd.sheet(&mark);
    let book = sheet.copy_fixture("remote/wait.md");
    let (child, _sheet) = start_and_wait(sheet, &book, &mark);
    // SAFETY: signalling the runsheet we started.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().expect("runsheet ends");
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let gone = eventually(Duration::from_secs(3), || {
        running(&format!("rs-marker-{mark}")).is_empty()
    });
    assert!(gone, "left on the host: {:?}", running(&mark));
    let clean = eventually(Duration::from_secs(3), || folders_left(&mark).is_empty());
    assert!(clean, "folders left on the host: {:?}", folders_left(&mark));
}

#[test]
fn a_secret_never_shows_on_a_command_line_of_the_host() {
    let Some(sshd) = Sshd::start() else { return };
    let mark = mark("secret");
    let secret = format!("s3cret-{mark}-value");
    let sheet = sshd.sheet(&mark).env("API_TOKEN", &secret);
    let book = sheet.copy_fixture("remote/secret.md");
    let (child, _sheet) = start_and_wait(sheet, &book, &mark);
    // The step runs on the host now: its shell, its ssh, sshd's session.
    let seen = running(&secret);
    let out = child.wait_with_output().expect("runsheet ends");
    assert!(seen.is_empty(), "the secret is on a command line: {seen:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("token is ***"), "{stdout}");
    assert!(!stdout.contains(&secret), "{stdout}");
}

#[test]
fn fan_out_fails_on_one_host_and_resume_reruns_only_that_host() {
    let Some(sshd) = Sshd::start() else { return };
    let mark = mark("fanout");
    let runs = PathBuf::from(format!("/tmp/rs-runs-{mark}"));
    let ok = PathBuf::from(format!("/tmp/rs-ok-{mark}"));
    let sheet = sshd.sheet(&mark);
    let dir = sheet.dir().to_path_buf();
    let book = sheet.copy_fixture("remote/fanout.md");
    let ran = sheet
        .args(["run"])
        .arg(&book)
        .run()
        .code(1)
        .stdout_has("[alpha] restarted alpha")
        .stdout_has("[beta] restarted beta")
        .stdout_has("[gamma] restarted gamma")
        .stdout_has("failed on 1 of 3 hosts (beta: exit status 1, expected 0)");
    let rec = record(&ran);
    let hosts = &rec["steps"][2]["hosts"];
    let status = |i: usize| (hosts[i]["host"].clone(), hosts[i]["status"].clone());
    assert_eq!(status(0), ("alpha".into(), "passed".into()));
    assert_eq!(status(1), ("beta".into(), "failed".into()));
    assert_eq!(status(2), ("gamma".into(), "passed".into()));
    assert_eq!(rec["steps"][3]["status"], "not-run");

    fs::write(&ok, "").unwrap();
    let again = sshd
        .sheet(&mark)
        .current_dir(&dir)
        .args(["run", "fanout.md", "--resume"])
        .run();
    let _ = fs::remove_file(&ok);
    let lines = fs::read_to_string(&runs).unwrap_or_default();
    let _ = fs::remove_file(&runs);
    let again = again.code(0).stdout_has("verified here");
    let mut first: Vec<&str> = lines.lines().take(3).collect();
    first.sort();
    assert_eq!(first, ["alpha", "beta", "gamma"]);
    assert_eq!(
        lines.lines().skip(3).collect::<Vec<_>>(),
        ["beta"],
        "{lines}"
    );
    let rec = record_in(&dir, &again.stdout);
    let hosts = &rec["steps"][2]["hosts"];
    assert_eq!(rec["steps"][2]["status"], "passed");
    assert!(hosts[0]["carried_from"].is_string(), "{hosts:#}");
    assert_eq!(hosts[1]["status"], "passed");
    assert!(hosts[1].get("carried_from").is_none(), "{hosts:#}");

    // The book has a panel per host, each with its own output.
    sshd.sheet(&mark)
        .current_dir(&dir)
        .args(["book", "fanout.md", "--src-only", "-o", "bk"])
        .run()
        .code(0);
    let chapter: String = walk(&dir.join("bk"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .filter_map(|p| fs::read_to_string(p).ok())
        .collect();
    for host in ["alpha", "beta", "gamma"] {
        assert!(
            chapter.contains(&format!("On <code>{host}</code>: passed")),
            "{host}: {chapter}"
        );
        assert!(chapter.contains(&format!("restarted {host}")), "{chapter}");
    }
    assert!(chapter.contains("Ran on <code>alpha</code>"), "{chapter}");

    // JUnit: one testcase per host, beta's failing.
    sshd.sheet(&mark)
        .current_dir(&dir)
        .args(["check", "fanout.md", "--junit", "j.xml"])
        .run()
        .code(1);
    let _ = fs::remove_file(&runs);
    let xml = fs::read_to_string(dir.join("j.xml")).expect("JUnit report");
    for host in ["alpha", "beta", "gamma"] {
        assert!(
            xml.contains(&format!("<testcase name=\"restart ({host})\"")),
            "{xml}"
        );
    }
    let beta = xml.split("restart (beta)").nth(1).expect("beta's testcase");
    let beta = beta.split("</testcase>").next().unwrap_or_default();
    assert!(beta.contains("<failure"), "{beta}");
    let alpha = xml.split("restart (alpha)").nth(1).unwrap_or_default();
    assert!(!alpha
        .split("</testcase>")
        .next()
        .unwrap_or_default()
        .contains("<failure"));
}

#[test]
fn an_unreachable_host_fails_its_step_fast_and_names_the_host() {
    let Some(sshd) = Sshd::start() else { return };
    let sheet = sshd.sheet(&mark("unreachable"));
    let book = sheet.copy_fixture("remote/unreachable.md");
    let started = Instant::now();
    sheet
        .args(["run"])
        .arg(&book)
        .run()
        .code(1)
        .stdout_has("ssh to `closed` failed: ssh: connect to host 127.0.0.1 port")
        .stdout_has("Connection refused");
    assert!(started.elapsed() < Duration::from_secs(10));
    let _ = fixture("remote");
}

#[test]
fn requires_is_checked_on_the_host_before_anything_runs() {
    let Some(sshd) = Sshd::start() else { return };
    let sheet = sshd.sheet(&mark("requires"));
    let book = sheet.copy_fixture("remote/requires.md");
    sheet
        .args(["run"])
        .arg(&book)
        .run()
        .code(2)
        .stderr_has("on `alpha` requires a program `no-such-program-rs` not found on PATH")
        .stdout_lacks("never ran");
}

#[test]
fn killing_runsheet_outright_stops_the_remote_step_too() {
    let Some(sshd) = Sshd::start() else { return };
    let mark = mark("kill9");
    let sheet = sshd.sheet(&mark);
    let book = sheet.copy_fixture("remote/wait.md");
    let (mut child, _sheet) = start_and_wait(sheet, &book, &mark);
    child.kill().expect("SIGKILL runsheet");
    let _ = child.wait();
    // ssh dies with runsheet; the host's watcher sees its stdin close.
    let gone = eventually(Duration::from_secs(10), || {
        running(&format!("rs-marker-{mark}")).is_empty()
    });
    assert!(gone, "left on the host: {:?}", running(&mark));
    let clean = eventually(Duration::from_secs(3), || folders_left(&mark).is_empty());
    assert!(clean, "folders left on the host: {:?}", folders_left(&mark));
}

/// Needs no sshd: a dry run connects to nothing.
#[test]
fn a_dry_run_says_on_which_host_and_in_which_folder_each_step_would_run() {
    let sheet = Sheet::new();
    let book = sheet.copy_fixture("remote/dry.md");
    let here = book.parent().unwrap().display().to_string();
    sheet
        .args(["run", "--dry-run"])
        .arg(&book)
        .run()
        .code(0)
        .stdout_has("on db-1 · in the login directory · bash")
        .stdout_has("on cache-1 · in /srv/cache · bash")
        .stdout_has("on web-1, web-2 (one at a time) · in the login directory")
        .stdout_lacks(&format!("in {here}"));
}

/// When the system starts no thread, a remote step writes its payload
/// before reading, and a fan-out runs its hosts one by one: no panic, and
/// every host's output is shown.
#[test]
fn with_no_thread_to_spare_remote_steps_and_fan_out_still_run() {
    let Some(sshd) = Sshd::start() else { return };
    let mark = mark("nothread");
    let ok = PathBuf::from(format!("/tmp/rs-ok-{mark}"));
    fs::write(&ok, "").unwrap();
    let sheet = sshd
        .sheet(&mark)
        .env("RUST_MIN_STACK", crate::sheet::NO_THREADS);
    let book = sheet.copy_fixture("remote/fanout.md");
    let ran = sheet.args(["run"]).arg(&book).run();
    let _ = fs::remove_file(&ok);
    let _ = fs::remove_file(format!("/tmp/rs-runs-{mark}"));
    ran.code(0)
        .stdout_has("primary is alpha")
        .stdout_has("[alpha] restarted alpha")
        .stdout_has("[beta] restarted beta")
        .stdout_has("[gamma] restarted gamma")
        .stdout_has("verified here");
}
