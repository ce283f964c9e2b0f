//! No process outlives its run: escaped daemons, what steps leave behind,
//! SIGQUIT, runsheet killed outright, and the run that takes over its lock.
//! Every check looks at /proc: a pid file a step wrote, then whether that
//! process still runs.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use crate::sheet::{eventually, Ran, Sheet};

/// True while process `pid` runs (a zombie has ended: only its parent has not
/// reaped it yet).
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start());
        !state.is_some_and(|s| s.starts_with('Z') || s.starts_with('X'))
    })
}

fn pid_in(dir: &Path, file: &str) -> i32 {
    let text = std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    text.trim()
        .parse()
        .unwrap_or_else(|e| panic!("{file}: {text:?}: {e}"))
}

/// The processes named by pid files in `dir` that still run.
fn running(dir: &Path, files: &[&str]) -> Vec<String> {
    files
        .iter()
        .map(|f| (f, pid_in(dir, f)))
        .filter(|&(_, pid)| alive(pid))
        .map(|(f, pid)| format!("{f}: {pid}"))
        .collect()
}

/// Kills what a failed test leaves, so a failure does not pile up sleeps.
struct Cleanup(PathBuf, &'static [&'static str]);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for f in self.1 {
            if let Ok(pid) = std::fs::read_to_string(self.0.join(f)) {
                if let Ok(pid) = pid.trim().parse::<i32>() {
                    if pid > 1 && alive(pid) {
                        // SAFETY: kill(2) on a pid a test step wrote.
                        unsafe { libc::kill(pid, libc::SIGKILL) };
                    }
                }
            }
        }
    }
}

/// `runsheet ARGS` started in `dir`, once its step has written `started`.
fn start_run(dir: &Path, args: &[&str]) -> Child {
    let _ = std::fs::remove_file(dir.join("started"));
    let child = Sheet::new()
        .current_dir(dir)
        .args(args)
        .command()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn runsheet");
    assert!(
        eventually(Duration::from_secs(30), || dir.join("started").exists()),
        "the step never started"
    );
    child
}

fn finish(child: Child) -> Ran {
    Ran::from_output(child.wait_with_output().unwrap(), PathBuf::new())
}

#[test]
fn a_timeout_stops_daemons_that_left_the_steps_process_group() {
    let sheet = Sheet::new();
    let dir = sheet.copy_fixture("contain");
    let _cleanup = Cleanup(dir.clone(), &["daemon.pid", "double.pid"]);
    sheet
        .current_dir(&dir)
        .args(["run", "escape.md", "--keep-going"])
        .run()
        .code(1)
        .stdout_has("timed out after 1s")
        .stdout_has("all gone");
    assert_eq!(
        running(&dir, &["daemon.pid", "double.pid"]),
        Vec::<String>::new()
    );
}

#[test]
fn what_steps_leave_behind_is_stopped_and_listed_when_the_run_ends() {
    let sheet = Sheet::new();
    let dir = sheet.copy_fixture("contain");
    let _cleanup = Cleanup(dir.clone(), &["agent.pid", "cleared.pid"]);
    let ran = sheet
        .current_dir(&dir)
        .args(["run", "leftover.md"])
        .run()
        .code(0);
    let agent = pid_in(&dir, "agent.pid");
    let cleared = pid_in(&dir, "cleared.pid");
    let ran = ran
        .stderr_has(&format!(
            "warning: stopped 1 process left behind by step `agent`: sleep (pid {agent})"
        ))
        .stderr_has(&format!(
            "warning: stopped 1 process left behind by an unknown step: sleep (pid {cleared})"
        ));
    // Listed before the summary, as part of the run.
    let warned = ran.stderr.find("stopped 1 process").unwrap();
    assert!(warned > 0);
    assert_eq!(
        running(&dir, &["agent.pid", "cleared.pid"]),
        Vec::<String>::new()
    );
}

const KILLED: &[&str] = &[
    "server.pid",
    "server-child.pid",
    "shell.pid",
    "child.pid",
    "daemon.pid",
];

#[test]
fn sigquit_interrupts_like_sigterm_and_leaves_nothing_running() {
    let sheet = Sheet::new();
    let dir = sheet.copy_fixture("contain");
    let _cleanup = Cleanup(dir.clone(), KILLED);
    let child = start_run(&dir, &["run", "killed.md"]);
    // SAFETY: kill(2) on the runsheet this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGQUIT) };
    finish(child).code(130).stdout_has("interrupted");
    assert_eq!(running(&dir, KILLED), Vec::<String>::new());
}

/// The watchdog that `runsheet` (pid) forked to watch over its steps.
fn watchdog_of(runsheet: i32) -> Option<i32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: i32 = e.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
        let (name, rest) = stat.rsplit_once(')')?;
        let ppid: i32 = rest.split_whitespace().nth(1)?.parse().ok()?;
        (ppid == runsheet && name.ends_with("(runsheet-watch")).then_some(pid)
    })
}

#[test]
fn kill_9_stops_the_step_and_the_background_step_at_once() {
    let sheet = Sheet::new();
    let dir = sheet.copy_fixture("contain");
    let _cleanup = Cleanup(dir.clone(), KILLED);
    let mut child = start_run(&dir, &["run", "killed.md"]);
    child.kill().unwrap();
    child.wait().unwrap();
    // Each shell dies with runsheet (parent-death signal), the watchdog stops
    // the rest of their process groups.
    let groups = ["server.pid", "server-child.pid", "shell.pid", "child.pid"];
    assert!(
        eventually(Duration::from_secs(20), || running(&dir, &groups)
            .is_empty()),
        "still running after runsheet was killed: {:?}",
        running(&dir, &groups)
    );
    // The daemon that left the group is stopped when the next run takes the
    // lock over, and named.
    let daemon = pid_in(&dir, "daemon.pid");
    Sheet::new()
        .current_dir(&dir)
        .args(["run", "killed.md", "--step", "quick"])
        .run()
        .code(0)
        .stderr_has(&format!(
            "left running by step `work` of an earlier run that did not finish (runsheet pid {}): sleep (pid {daemon})",
            child.id()
        ));
    assert_eq!(running(&dir, KILLED), Vec::<String>::new());
}

#[test]
fn the_run_that_takes_over_the_lock_stops_what_a_killed_run_left() {
    let sheet = Sheet::new();
    let dir = sheet.copy_fixture("contain");
    let _cleanup = Cleanup(dir.clone(), KILLED);
    let mut child = start_run(&dir, &["run", "killed.md"]);
    // Its watchdog dies first: only the shells' parent-death signal and the
    // next run are left to stop the steps.
    let runsheet = child.id() as i32;
    let watchdog = watchdog_of(runsheet).expect("runsheet has a watchdog");
    // SAFETY: kill(2) on the watchdog of the runsheet this test started.
    unsafe { libc::kill(watchdog, libc::SIGKILL) };
    // runsheet reaps it: no zombie is left for the length of the run.
    assert!(
        eventually(Duration::from_secs(20), || !Path::new(&format!(
            "/proc/{watchdog}"
        ))
        .exists()),
        "runsheet did not reap its dead watchdog"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let shells = ["server.pid", "shell.pid"];
    assert!(
        eventually(Duration::from_secs(20), || running(&dir, &shells)
            .is_empty()),
        "the shells outlived runsheet: {:?}",
        running(&dir, &shells)
    );
    let left = ["server-child.pid", "child.pid", "daemon.pid"];
    assert_eq!(running(&dir, &left).len(), 3, "nothing else stopped them");
    let [server_child, child_pid, daemon] = left.map(|f| pid_in(&dir, f));
    let ran = Sheet::new()
        .current_dir(&dir)
        .args(["run", "killed.md", "--step", "quick"])
        .run()
        .code(0)
        .stdout_has("quick");
    let earlier = format!("of an earlier run that did not finish (runsheet pid {runsheet})");
    let mut work = [child_pid, daemon];
    work.sort();
    ran.stderr_has(&format!(
        "stopped 1 process left running by step `server` {earlier}: sleep (pid {server_child})"
    ))
    .stderr_has(&format!(
        "stopped 2 processes left running by step `work` {earlier}: sleep (pid {}), sleep (pid {})",
        work[0], work[1]
    ));
    assert_eq!(running(&dir, KILLED), Vec::<String>::new());
}

/// The `pids` file of the only runbook run in `dir`.
fn pids_file(dir: &Path) -> PathBuf {
    let state = dir.join(".runsheet");
    let runbook = std::fs::read_dir(&state)
        .unwrap()
        .flatten()
        .find(|e| e.path().is_dir())
        .expect("a runbook folder");
    runbook.path().join("pids")
}

fn start_time(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let (_, rest) = stat.rsplit_once(')').unwrap();
    rest.split_whitespace().nth(19).unwrap().parse().unwrap()
}

#[test]
fn a_takeover_touches_no_process_that_merely_reused_a_recorded_pid() {
    let sheet = Sheet::new();
    let dir = sheet.copy_fixture("contain");
    let quick = ["run", "killed.md", "--step", "quick"];
    Sheet::new().current_dir(&dir).args(quick).run().code(0);
    let pids = pids_file(&dir);
    assert!(!pids.exists(), "a run that ended removes its pids file");

    // An unrelated process, in a group of its own, and a "dead runsheet"
    // (a process that has exited).
    use std::os::unix::process::CommandExt;
    let mut bystander = std::process::Command::new("sleep")
        .arg("810")
        .process_group(0)
        .spawn()
        .unwrap();
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let gone_pid = gone.id() as i32;
    let gone_start = start_time(gone_pid);
    gone.wait().unwrap();
    let pid = bystander.id() as i32;
    let start = start_time(pid);
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    let write = |start: u64| {
        std::fs::write(
            &pids,
            format!(
                "runsheet-pids 1\nrunsheet {gone_pid} {gone_start} {}\ngroup {pid} {start} {gone_pid}.{gone_start}.1 work\n",
                boot.trim()
            ),
        )
        .unwrap();
    };

    // The recorded pid, started at another time: another process.
    write(start + 1);
    let ran = Sheet::new().current_dir(&dir).args(quick).run().code(0);
    assert!(!ran.stderr.contains("stopped"), "{}", ran.stderr);
    assert!(alive(pid), "an unrelated process was stopped");

    // The same pid and start time: what the dead run left.
    write(start);
    Sheet::new()
        .current_dir(&dir)
        .args(quick)
        .run()
        .code(0)
        .stderr_has(&format!(
            "stopped 1 process left running by step `work` of an earlier run that did not finish (runsheet pid {gone_pid}): sleep (pid {pid})"
        ));
    let status = bystander.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGTERM));
}

/// A runbook of `n` quick steps, each leaving orphans that exit while later
/// steps run, each exiting with its own expected status, plus a background
/// step making orphans all the time.
fn orphan_storm(n: usize) -> String {
    let mut text = String::from("# Storm\n\n```bash {#spinner background}\nwhile :; do (sleep 0.01 &); sleep 0.005; done\n```\n\n");
    for i in 0..n {
        let code = (i * 7) % 13;
        text.push_str(&format!(
            "```bash {{#s{i} exit={code}}}\n(sleep 0.0{} &)\n(true &)\nexit {code}\n```\n\n",
            i % 5
        ));
    }
    text
}

#[test]
fn reaping_orphans_never_takes_a_steps_exit_status() {
    let sheet = Sheet::new();
    let dir = sheet.dir().to_path_buf();
    std::fs::write(dir.join("a.md"), orphan_storm(150)).unwrap();
    std::fs::write(dir.join("b.md"), orphan_storm(150)).unwrap();
    sheet.args(["run", "a.md"]).run().code(0);
    let state = dir.join(".runsheet");
    let folder = std::fs::read_dir(&state)
        .unwrap()
        .flatten()
        .find(|e| e.path().is_dir())
        .unwrap()
        .path();
    let run = std::fs::read_dir(&folder)
        .unwrap()
        .flatten()
        .find(|e| e.path().is_dir())
        .unwrap()
        .path();
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("run.json")).unwrap()).unwrap();
    let steps = record["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 151);
    for (i, step) in steps[1..].iter().enumerate() {
        assert_eq!(step["status"], "passed", "{step}");
        assert_eq!(step["exit_code"], (i * 7) % 13, "{step}");
    }
    // Two runbooks at once: orphans of one are reaped while the other's
    // thread waits for its step.
    Sheet::new()
        .current_dir(&dir)
        .args(["check", "--jobs", "2", "a.md", "b.md"])
        .run()
        .code(0);
}

#[test]
fn a_step_forked_from_the_warm_shell_dies_with_runsheet_without_the_watchdog() {
    let sheet = Sheet::new();
    let dir = sheet.copy_fixture("contain");
    let pids = &["warm-shell.pid", "warm-child.pid"];
    let _cleanup = Cleanup(dir.clone(), &["warm-shell.pid", "warm-child.pid"]);
    let mut child = start_run(&dir, &["run", "warm.md"]);
    let shell = pid_in(&dir, "warm-shell.pid");
    let cmdline = std::fs::read(format!("/proc/{shell}/cmdline")).unwrap();
    assert!(
        String::from_utf8_lossy(&cmdline).contains("__runsheet_d"),
        "the step was not forked from the warm shell"
    );
    let runsheet = child.id() as i32;
    let watchdog = watchdog_of(runsheet).expect("runsheet has a watchdog");
    // SAFETY: kill(2) on the watchdog of the runsheet this test started.
    unsafe { libc::kill(watchdog, libc::SIGKILL) };
    child.kill().unwrap();
    child.wait().unwrap();
    // The warm shell gets runsheet's parent-death signal and stops the
    // step's group; nothing else is left to do it.
    assert!(
        eventually(Duration::from_secs(20), || running(&dir, pids).is_empty()),
        "the step outlived runsheet: {:?}",
        running(&dir, pids)
    );
}
