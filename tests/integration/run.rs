//! `runsheet run` and `runsheet status` end to end: real shells, real stub
//! programs on PATH, real signals, the record on disk.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::sheet::{Ran, Sheet};

/// A scratch copy of `run-basic` with its `bin/` on PATH and the stub log
/// path exported; returns the sheet ready for args, the runbook and the log.
fn basic() -> (Sheet, PathBuf, PathBuf) {
    let sheet = Sheet::new();
    let dir = sheet.copy_fixture("run-basic");
    let log = sheet.dir().join("stub.log");
    let path = format!(
        "{}:{}",
        dir.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let sheet = sheet
        .env("PATH", &path)
        .env("STUB_LOG", &log.display().to_string());
    (sheet, dir.join("runbook.md"), log)
}

fn stub_log(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn run_json(state: &Path) -> serde_json::Value {
    let mut found: Vec<PathBuf> = Vec::new();
    for book in std::fs::read_dir(state).expect("state dir") {
        for run in std::fs::read_dir(book.unwrap().path()).unwrap() {
            let run = run.unwrap().path();
            if run.join("run.json").exists() {
                found.push(run.join("run.json"));
            }
        }
    }
    found.sort();
    let last = found.last().expect("a run.json");
    serde_json::from_str(&std::fs::read_to_string(last).unwrap()).unwrap()
}

/// Every file under `dir`, read as text.
fn all_files_text(dir: &Path) -> String {
    let mut text = String::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                text.push_str(&all_files_text(&p));
            } else {
                text.push_str(&String::from_utf8_lossy(&std::fs::read(&p).unwrap()));
            }
        }
    }
    text
}

#[test]
fn runs_in_order_carrying_cwd_env_and_shell_variables() {
    let (sheet, book, log) = basic();
    std::fs::write(book.parent().unwrap().join("fixed"), "").unwrap();
    let ran = sheet.args(["run"]).arg(&book).run().code(0);
    assert_eq!(
        stub_log(&log),
        [
            "stub build mint hello shell-var @ work",
            "stub flaky @ work",
            "stub deploy @ work"
        ]
    );
    let ran = ran
        .stdout_has("▶ Basic run")
        .stdout_has("[3/5] Build › build (")
        .stdout_has("  │ stub ran: build mint hello shell-var")
        .stdout_has("⚠ missing step: write the deploy check (")
        .stdout_has("runbook.md:27, in Build)")
        .stdout_has("✓ passed: 5 passed, 1 missing step");
    let record = run_json(&ran.dir.join(".runsheet"));
    assert_eq!(record["status"], "passed");
    assert_eq!(record["steps"].as_array().unwrap().len(), 5);
    assert_eq!(record["todos"][0]["text"], "write the deploy check");
}

#[test]
fn failure_stops_the_run_and_resume_goes_on_where_it_stopped() {
    let (sheet, book, log) = basic();
    let dir = sheet.dir().to_path_buf();
    let path = std::env::var("PATH").unwrap();
    let bin = book.parent().unwrap().join("bin");
    let ran = sheet.args(["run"]).arg(&book).run().code(1);
    let ran = ran
        .stdout_has("  │ not fixed yet")
        .stdout_has("✗ flaky")
        .stdout_has("exit status 3, expected 0")
        .stdout_has("1 not run")
        .stdout_has(&format!("runsheet run {} --resume", book.display()));
    assert_eq!(stub_log(&log), ["stub build mint hello shell-var @ work"]);
    let again = |args: &[&str]| {
        Sheet::new()
            .current_dir(&dir)
            .env("PATH", &format!("{}:{path}", bin.display()))
            .env("STUB_LOG", &log.display().to_string())
            .args(args)
            .arg(&book)
            .run()
    };
    again(&["status"])
        .code(0)
        .stdout_has("result: failed")
        .stdout_has("starts at step `flaky`");
    drop(ran);

    std::fs::write(book.parent().unwrap().join("fixed"), "").unwrap();
    again(&["run", "--resume"])
        .code(0)
        .stdout_has("resuming run")
        .stdout_has("at `flaky` (3 earlier result(s) carried forward)")
        .stdout_lacks("stub ran: build");
    // The resumed steps ran in the recorded working directory.
    assert_eq!(
        stub_log(&log),
        [
            "stub build mint hello shell-var @ work",
            "stub flaky @ work",
            "stub deploy @ work"
        ]
    );
    let record = run_json(&dir.join(".runsheet"));
    assert_eq!(record["status"], "passed");
    assert!(record["steps"][0]["carried_from"].is_string());
    assert!(record["steps"][3]["carried_from"].is_null());
    again(&["run", "--resume"])
        .code(0)
        .stdout_has("nothing to resume");
}

#[test]
fn resume_warns_about_steps_changed_since_they_passed() {
    let (sheet, book, _log) = basic();
    let dir = sheet.dir().to_path_buf();
    let env_path = format!(
        "{}:{}",
        book.parent().unwrap().join("bin").display(),
        std::env::var("PATH").unwrap()
    );
    sheet.args(["run"]).arg(&book).run().code(1);
    let text = std::fs::read_to_string(&book).unwrap();
    std::fs::write(&book, text.replace("MYVAR=shell-var", "MYVAR=changed")).unwrap();
    Sheet::new()
        .current_dir(&dir)
        .env("PATH", &env_path)
        .env("STUB_LOG", "/dev/null")
        .args(["run", "--resume"])
        .arg(&book)
        .run()
        .code(1)
        .stderr_has("warning: step `export`")
        .stderr_has("changed since it passed");
}

#[test]
fn resume_without_an_earlier_run_is_refused() {
    let (sheet, book, _) = basic();
    sheet
        .args(["run", "--resume"])
        .arg(&book)
        .run()
        .code(2)
        .stderr_has("nothing to resume")
        .stderr_has("has no earlier run here");
}

#[test]
fn selection_by_section_step_and_tag_keeps_setup_steps() {
    let (sheet, book, log) = basic();
    std::fs::write(book.parent().unwrap().join("fixed"), "").unwrap();
    sheet
        .args(["run", "--section", "DEPLOY"])
        .arg(&book)
        .run()
        .code(0)
        .stdout_has("(setup)")
        .stdout_has("[2/2]");
    assert_eq!(stub_log(&log), ["stub deploy @ work"]);

    let (sheet, book, log) = basic();
    sheet
        .args(["run", "--step", "build", "--step", "deploy"])
        .arg(&book)
        .run()
        .code(0);
    assert_eq!(
        stub_log(&log),
        ["stub build  hello  @ work", "stub deploy @ work"]
    );

    let (sheet, book, log) = basic();
    sheet
        .args(["run", "--tag", "slow", "--tag", "aws", "--skip-tag", "aws"])
        .arg(&book)
        .run()
        .code(0);
    assert_eq!(stub_log(&log), ["stub build  hello  @ work"]);
}

#[test]
fn unknown_section_or_step_is_refused_naming_the_closest() {
    let (sheet, book, log) = basic();
    sheet
        .args(["run", "--section", "deploi"])
        .arg(&book)
        .run()
        .code(2)
        .stderr_has("no section `deploi` in ")
        .stderr_has("`deploy`");
    assert!(stub_log(&log).is_empty());
    let (sheet, book, _) = basic();
    sheet
        .args(["run", "--from", "bild"])
        .arg(&book)
        .run()
        .code(2)
        .stderr_has("no step `bild`")
        .stderr_has("`build`");
}

#[test]
fn dry_run_shows_steps_with_their_cwd_and_runs_nothing() {
    let (sheet, book, log) = basic();
    let ran = sheet.args(["run", "--dry-run"]).arg(&book).run().code(0);
    let folder = book.parent().unwrap().display().to_string();
    let ran = ran
        .stdout_has("dry run: nothing runs")
        .stdout_has(&format!("in {folder} · bash"))
        .stdout_has("  │ stub deploy");
    assert!(stub_log(&log).is_empty());
    assert!(
        !ran.dir.join(".runsheet").exists(),
        "a dry run writes no record"
    );
}

#[test]
fn missing_required_programs_are_all_named() {
    let sheet = Sheet::new();
    let dir = sheet.copy_fixture("run-faults");
    sheet
        .args(["run"])
        .arg(dir.join("requires.md"))
        .run()
        .code(2)
        .stderr_has("requires programs `no-such-program-a`, `no-such-program-b` not found on PATH");
    assert!(!dir.join("ran").exists());
}

fn alive(pid: &str) -> bool {
    // A zombie has been killed; only its parent has not reaped it yet.
    std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()))
        .is_ok_and(|stat| !stat.contains(") Z "))
}

#[test]
fn timeout_kills_the_step_and_what_it_started() {
    let sheet = Sheet::new();
    let dir = sheet.copy_fixture("run-faults");
    let ran = sheet
        .current_dir(&dir)
        .args(["run", "runbook.md", "--step", "slow-child"])
        .run()
        .code(1)
        .stdout_has("timed out after 1s");
    let record = run_json(&ran.dir.join("run-faults/.runsheet"));
    assert_eq!(record["steps"][0]["status"], "timed-out");
    let child = std::fs::read_to_string(dir.join("child.pid")).unwrap();
    assert!(!alive(&child), "the step's child {child} is still running");
}

/// Starts `runsheet run` in the background and waits for the step to say
/// it started.
fn start_waiting_run(dir: &Path, args: &[&str]) -> Child {
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
    let until = Instant::now() + Duration::from_secs(20);
    while !dir.join("started").exists() {
        assert!(Instant::now() < until, "the step never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

fn finish(child: Child) -> Ran {
    Ran::from_output(child.wait_with_output().unwrap(), PathBuf::new())
}

#[test]
fn sigint_interrupts_the_step_exits_130_and_leaves_nothing_running() {
    let sheet = Sheet::new();
    let dir = sheet.copy_fixture("run-faults");
    let child = start_waiting_run(&dir, &["run", "runbook.md", "--from", "wait-forever"]);
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let ran = finish(child).code(130).stdout_has("interrupted");
    drop(ran);
    let pid = std::fs::read_to_string(dir.join("child.pid")).unwrap();
    assert!(!alive(&pid), "the step's child {pid} is still running");
    assert!(
        !dir.join("after").exists(),
        "a step after the interrupt ran"
    );
    Sheet::new()
        .current_dir(&dir)
        .args(["status", "runbook.md"])
        .run()
        .code(0)
        .stdout_has("result: interrupted")
        .stdout_has("starts at step `wait-forever`");
}

#[test]
fn a_second_run_of_the_same_runbook_is_refused_while_the_first_runs() {
    let sheet = Sheet::new();
    let dir = sheet.copy_fixture("run-faults");
    let first = start_waiting_run(&dir, &["run", "runbook.md", "--from", "wait-forever"]);
    Sheet::new()
        .current_dir(&dir)
        .args(["run", "runbook.md"])
        .run()
        .code(2)
        .stderr_has("is already being run by process");
    Sheet::new()
        .current_dir(&dir)
        .args(["status", "runbook.md"])
        .run()
        .code(0)
        .stdout_has("result: running now");
    unsafe { libc::kill(first.id() as i32, libc::SIGTERM) };
    finish(first).code(130);
}

#[test]
fn kill_9_mid_run_leaves_a_record_status_and_resume_can_use() {
    let sheet = Sheet::new();
    let dir = sheet.copy_fixture("run-faults");
    let mut child = start_waiting_run(&dir, &["run", "runbook.md", "--from", "wait-forever"]);
    child.kill().unwrap();
    child.wait().unwrap();
    // The orphaned step is ours to clean up: runsheet had no chance to.
    let pid = std::fs::read_to_string(dir.join("child.pid")).unwrap();
    unsafe { libc::kill(pid.trim().parse().unwrap(), libc::SIGKILL) };
    Sheet::new()
        .current_dir(&dir)
        .args(["status", "runbook.md"])
        .run()
        .code(0)
        .stdout_has("runsheet stopped without finishing")
        .stdout_has("starts at step `wait-forever`");
    // Resume picks up at the killed step (here: make it quick by editing it).
    let text = std::fs::read_to_string(dir.join("runbook.md")).unwrap();
    std::fs::write(
        dir.join("runbook.md"),
        text.replace("sleep 301 &", "true &"),
    )
    .unwrap();
    Sheet::new()
        .current_dir(&dir)
        .args(["run", "runbook.md", "--resume"])
        .run()
        .code(0)
        .stdout_has("at `wait-forever`");
    assert!(dir.join("after").exists());
}

#[test]
fn secrets_never_reach_the_terminal_logs_or_record() {
    let sheet = Sheet::new();
    let dir = sheet.copy_fixture("run-faults");
    let secret = "hunter2-very-secret-value";
    let ran = sheet
        .current_dir(&dir)
        .env("MY_API_TOKEN", secret)
        .env("PLAIN_NAME", "plain-but-redacted")
        .args(["run", "secret.md"])
        .run()
        .code(1)
        .stdout_has("token is ***")
        .stdout_has("plain is ***")
        .stdout_has("about to fail with ***");
    assert!(!ran.stdout.contains(secret) && !ran.stderr.contains(secret));
    let state = all_files_text(&dir.join(".runsheet"));
    assert!(
        state.contains("token is ***"),
        "the log holds the masked output"
    );
    assert!(!state.contains(secret), "a secret reached the state dir");
    assert!(!state.contains("plain-but-redacted"));
    ran.stdout_has("literal matches");
    let dry = Sheet::new()
        .current_dir(&dir)
        .env("MY_API_TOKEN", secret)
        .args(["run", "--dry-run", "secret.md"])
        .run()
        .code(0)
        .stdout_has(r#"test "$MY_API_TOKEN" = "***""#);
    assert!(!dry.stdout.contains(secret));
}

#[test]
fn hundreds_of_megabytes_of_output_stream_through_in_bounded_memory() {
    let sheet = Sheet::new();
    let dir = sheet.copy_fixture("run-faults");
    sheet
        .current_dir(&dir)
        .args(["run", "big.md"])
        .run()
        .code(0);
    let hwm = std::fs::read_to_string(dir.join("hwm.txt")).unwrap();
    let kb: u64 = hwm
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("VmHWM line: {hwm:?}"));
    assert!(
        kb < 64 * 1024,
        "runsheet peaked at {kb} kB for 300 MB of output"
    );
    let log_len: u64 = std::fs::read_dir(dir.join(".runsheet"))
        .unwrap()
        .flat_map(|b| std::fs::read_dir(b.unwrap().path()).unwrap())
        .flat_map(|r| std::fs::read_dir(r.unwrap().path()).into_iter().flatten())
        .map(|f| f.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .map(|p| p.metadata().unwrap().len())
        .sum();
    // The log keeps its first and last 32 MiB (`--max-log` 64 MiB).
    let cap = 64 * 1024 * 1024;
    assert!(
        (cap - 4096..cap + 200).contains(&log_len),
        "a 300 MiB output made a {log_len}-byte log"
    );
    let record = run_json(&dir.join(".runsheet"));
    let dropped = record["steps"][0]["log_dropped"].as_u64().unwrap();
    assert!(
        (300 * 1024 * 1024 - cap..=300 * 1024 * 1024 - cap + 4096).contains(&dropped),
        "{dropped}"
    );
}

#[test]
fn status_of_a_runbook_never_run() {
    let (sheet, book, _) = basic();
    sheet
        .args(["status"])
        .arg(&book)
        .run()
        .code(0)
        .stdout_has("never run");
    let (sheet, book, _) = basic();
    let ran = sheet.args(["status", "--json"]).arg(&book).run().code(0);
    let json = ran.json();
    assert_eq!(json["state"], "never-run");
    assert!(json["run"].is_null());
}

#[test]
fn status_json_shows_the_last_run_and_the_resume_point() {
    let (sheet, book, _) = basic();
    let dir = sheet.dir().to_path_buf();
    sheet.args(["run"]).arg(&book).run().code(1);
    let ran = Sheet::new()
        .current_dir(&dir)
        .args(["status", "--json"])
        .arg(&book)
        .run()
        .code(0);
    let json = ran.json();
    assert_eq!(json["state"], "failed");
    assert_eq!(json["resume_from"], "flaky");
    assert_eq!(json["run"]["steps"][3]["status"], "failed");
    assert_eq!(
        json["run"]["steps"][4]["reason"],
        "not run: step `flaky` failed"
    );
}

#[test]
fn keep_going_runs_past_a_failure_and_still_fails() {
    let (sheet, book, log) = basic();
    sheet
        .args(["run", "--keep-going"])
        .arg(&book)
        .run()
        .code(1)
        .stdout_has("4 passed, 1 failed");
    assert_eq!(
        stub_log(&log),
        [
            "stub build mint hello shell-var @ work",
            "stub deploy @ work"
        ]
    );
}

#[test]
fn bad_env_and_timeout_arguments_are_refused() {
    let (sheet, book, _) = basic();
    sheet
        .args(["run", "--env", "NOEQUALS"])
        .arg(&book)
        .run()
        .code(2)
        .stderr_has("--env \"NOEQUALS\" is not K=V");
    let (sheet, book, _) = basic();
    sheet
        .args(["run", "--timeout", "soon"])
        .arg(&book)
        .run()
        .code(2)
        .stderr_has("--timeout \"soon\" is not a duration");
}

/// The project's seed runbook (`runbooks/concourse.md`), run end to end against
/// stub `poetry`, `pyinfra`, `docker` and `packer` in a scratch copy of the
/// repository layout it expects.
#[test]
fn concourse_runbook_runs_end_to_end_against_stubs() {
    let sheet = Sheet::new();
    let stubs = sheet.copy_fixture("run-concourse");
    let root = sheet.dir().to_path_buf();
    std::fs::create_dir_all(root.join("runbooks")).unwrap();
    let seed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("runbooks/concourse.md");
    std::fs::copy(&seed, root.join("runbooks/concourse.md"))
        .unwrap_or_else(|e| panic!("{}: {e}", seed.display()));
    std::fs::create_dir_all(root.join("src/bilder/images/concourse")).unwrap();
    let log = root.join("stub.log");
    let path = format!(
        "{}:{}",
        stubs.join("bin").display(),
        std::env::var("PATH").unwrap()
    );
    let ran = sheet
        .env("PATH", &path)
        .env("STUB_LOG", &log.display().to_string())
        .args(["run", "runbooks/concourse.md", "--yes"])
        .run()
        .code(0);
    ran.stdout_has("(runbooks/concourse.md, 5 steps)")
        .stdout_has("Local Testing › local-testing-1")
        .stdout_has("  │ docker build complete")
        .stdout_has("⚠ missing step: Add curl smoke test for web node")
        .stdout_has("5 passed, 3 missing steps");
    let here = root.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(
        stub_log(&log),
        [
            format!("poetry install @ {here}"),
            format!("poetry env info --path @ {here}"),
            "pyinfra @docker/debian:bookworm deploy.py @ concourse".to_string(),
            "poetry run packer build -on-error=ask -var node_type=web -var app_name=concourse \
             -only amazon-ebs.third-party src/bilder/images @ concourse"
                .to_string(),
            "packer build -on-error=ask -var node_type=web -var app_name=concourse \
             -only amazon-ebs.third-party src/bilder/images @ concourse"
                .to_string(),
        ]
    );
}

#[test]
fn confirm_manual_and_interactive_steps_use_the_terminal() {
    let sheet = Sheet::new();
    let dir = sheet.copy_fixture("run-faults");
    // With no terminal, `confirm` needs --yes (see record::a_confirm_step_*);
    // manual and interactive steps read what stdin gives them.
    sheet
        .current_dir(&dir)
        .args(["run", "prompts.md", "--yes"])
        .stdin("done\nhello there\n")
        .run()
        .code(0)
        .stdout_lacks("Run `ask`? [y/N]")
        .stdout_has("manual step `by-hand`: do this by hand:")
        .stdout_has("  │ open the console and press the red button")
        .stdout_has("done by hand")
        .stdout_has("  │ got hello there");
    assert!(dir.join("confirmed").exists());
    std::fs::remove_file(dir.join("confirmed")).unwrap();

    Sheet::new()
        .current_dir(&dir)
        .args(["run", "prompts.md", "--yes"])
        .run()
        .code(1)
        .stdout_lacks("Run `ask`?")
        .stdout_has("✗ by-hand")
        .stdout_has("manual step not done");
    assert!(dir.join("confirmed").exists());
}

#[test]
fn a_runbook_that_cannot_start_runs_nothing() {
    let sheet = Sheet::new();
    let dir = sheet.copy_fixture("run-faults");
    sheet
        .current_dir(&dir)
        .args(["run", "bad-cwd.md"])
        .run()
        .code(2)
        .stderr_has("no-such-folder (front matter `cwd`) does not exist");
    Sheet::new()
        .current_dir(&dir)
        .args(["run", "invalid.md"])
        .run()
        .code(2)
        .stderr_has("invalid.md is not a valid runbook; nothing was run")
        .stderr_has("invalid.md:3:13")
        .stderr_has("help: did you mean `timeout`?");
    assert!(!dir.join("ran").exists());
    Sheet::new()
        .current_dir(&dir)
        .args(["status", "missing.md"])
        .run()
        .code(2)
        .stderr_has("cannot read missing.md");
}

#[test]
fn a_console_cwd_holds_for_the_transcript_and_its_cd_for_later_commands() {
    let sheet = Sheet::new();
    let dir = sheet.dir().to_path_buf();
    std::fs::create_dir_all(dir.join("sub/inner")).unwrap();
    std::fs::write(
        dir.join("cwd.md"),
        "# Cwd\n\n```console {cwd=sub}\n$ cd inner\n$ basename \"$PWD\"\ninner\n```\n\n\
         ```bash\nbasename \"$PWD\"\n```\n\n```output\n{name}\n```\n"
            .replace("{name}", &dir.file_name().unwrap().to_string_lossy()),
    )
    .unwrap();
    sheet.args(["run", "cwd.md"]).run().code(0);
}

#[test]
fn a_manual_step_with_no_one_to_answer_says_why_it_failed() {
    let sheet = Sheet::new();
    std::fs::write(
        sheet.dir().join("manual.md"),
        "# Manual\n\n```sh {#by-hand manual}\nreboot the router\n```\n",
    )
    .unwrap();
    sheet
        .args(["run", "manual.md"])
        .run()
        .code(1)
        .stdout_has("no answer: standard input is closed")
        .stdout_has("manual step not done");
}

#[test]
fn a_step_that_fails_on_a_placeholder_says_so() {
    let sheet = Sheet::new();
    sheet.copy_fixture("placeholders/greet.md");
    sheet
        .args(["run", "greet.md"])
        .run()
        .code(1)
        .stdout_has("syntax error")
        .stdout_has(
            "hint: greet.md:6: `<your-name>` looks like a placeholder to fill in; \
             the shell read `<` and `>` as redirections",
        );
}

const RUNSHEET_WARM_SHELL: &str = "RUNSHEET_WARM_SHELL";

/// `runsheet run RUNBOOK` on a copy of `run-warm`, with `RUNSHEET_WARM_SHELL`
/// set to `switch` and `env` added; the run and the copy's folder.
fn run_warm(runbook: &str, switch: &str, env: &[(&str, &str)]) -> (Ran, PathBuf) {
    let sheet = Sheet::new();
    let dir = sheet.copy_fixture("run-warm");
    let sheet = env
        .iter()
        .fold(sheet.env(RUNSHEET_WARM_SHELL, switch), |s, (k, v)| {
            s.env(k, v)
        });
    let ran = sheet
        .current_dir(&dir)
        .args(["run", "--color", "never", runbook])
        .run();
    (ran, dir)
}

/// The state file the last step of `run-warm/state.md` writes, after a run
/// with `RUNSHEET_WARM_SHELL` set to `switch`.
fn warm_state(switch: &str) -> String {
    let env = [("RUNSHEET_TEST_UNSET", "set"), ("OLDPWD", "/")];
    let (ran, dir) = run_warm("state.md", switch, &env);
    ran.code(0).stdout_has("said hi x");
    let state = std::fs::read_to_string(dir.join("state.txt")).unwrap();
    state.replace(dir.to_str().unwrap(), "DIR")
}

#[test]
fn steps_forked_from_the_warm_shell_see_what_a_new_bash_sees() {
    let warm = warm_state("1");
    let cold = warm_state("0");
    assert!(warm.contains("declare -i n=\"5\""), "{warm}");
    assert!(warm.contains("GREETING=hello world"), "{warm}");
    assert!(!warm.contains("RUNSHEET_TEST_UNSET"), "{warm}");
    // The step before the dump only moved: the rest came through it.
    assert!(warm.contains("declare -- counter=\"4\""), "{warm}");
    assert!(warm.contains("LATER=set later"), "{warm}");
    assert!(warm.contains("declare -- assigned=\"yes\""), "{warm}");
    assert!(warm.contains("declare -- split=\"one\""), "{warm}");
    assert!(
        warm.contains("declare -x OLDPWD=\"DIR/sub/deeper\""),
        "{warm}"
    );
    assert_eq!(warm, cold);
}

#[test]
fn a_traced_step_shows_its_commands_as_bash_x_would() {
    let (ran, _) = run_warm("trace.md", "1", &[]);
    let ran = ran.code(0);
    let traced: Vec<&str> = ran
        .stdout
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("│ "))
        .collect();
    assert_eq!(traced, ["+ echo traced", "traced"], "{}", ran.stdout);
}

#[test]
fn a_trace_carries_whatever_ifs_the_step_set() {
    let (ran, _) = run_warm("trace-ifs.md", "1", &[]);
    let ran = ran.code(0);
    assert!(ran.stdout.contains("│ + echo traced"), "{}", ran.stdout);
}

/// bash is looked up on the step's own PATH whichever way it starts: with
/// none, the step cannot start (the warm shell, started from runsheet's
/// PATH, must not run it anyway).
#[test]
fn a_step_whose_path_is_gone_cannot_start_bash_either_way() {
    for switch in ["1", "0"] {
        run_warm("nopath.md", switch, &[])
            .0
            .code(1)
            .stdout_has("cannot start `bash`: not found on PATH")
            .stdout_lacks("still here");
    }
}

/// A variable a new bash sets itself when the environment lacks it (`SHELL`)
/// reads the same after a step unset it, whichever way the next step starts.
#[test]
fn variables_bash_sets_at_start_up_read_the_same_either_way() {
    let shown = |switch: &str| {
        let ran = run_warm("defaults.md", switch, &[]).0.code(0);
        let line = ran.stdout.lines().find(|l| l.contains("shell="));
        line.unwrap_or_default().trim().to_string()
    };
    let warm = shown("1");
    assert!(warm.ends_with("home=unset"), "{warm}");
    assert!(!warm.contains("shell=unset"), "{warm}");
    assert_eq!(warm, shown("0"));
}

/// When the system starts no thread (a process or pids limit reached), a
/// run still shows everything: the screen writes on the run's own thread.
#[test]
fn with_no_thread_to_spare_a_run_still_shows_everything() {
    let sheet = Sheet::new().env("RUST_MIN_STACK", crate::sheet::NO_THREADS);
    let book = sheet.copy_fixture("run-faults/no-threads.md");
    sheet
        .args(["run"])
        .arg(&book)
        .run()
        .code(0)
        .stdout_has("[1/2] Say › say")
        .stdout_has("seen without a thread")
        .stdout_has("no newline at the end")
        .stdout_has("passed: 2 passed");
}
