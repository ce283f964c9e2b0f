//! The run record, `--resume`, `status` and exit codes telling the truth:
//! failing lines in every report, latest results across runs, prompts
//! without a terminal, tags, background steps after a resume, bounded logs
//! and file names, corrupt state, and faults (a vanished state dir, a full
//! disk, SIGKILL at random moments).

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::sheet::{fixture, Sheet};

/// Every `run.json` under a state dir, oldest run first.
fn records(state: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for book in std::fs::read_dir(state).into_iter().flatten().flatten() {
        for run in std::fs::read_dir(book.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let file = run.path().join("run.json");
            if file.exists() {
                found.push(file);
            }
        }
    }
    found.sort();
    found
}

fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}\n{text}", path.display()))
}

fn last_record(dir: &Path) -> serde_json::Value {
    json(records(&dir.join(".runsheet")).last().expect("a record"))
}

fn step<'a>(record: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    record["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no step {id} in {record}"))
}

/// A scratch dir holding a copy of `tests/fixtures/record/<name>`.
fn with_fixture(name: &str) -> (Sheet, PathBuf) {
    let sheet = Sheet::new();
    let dir = sheet.dir().to_path_buf();
    std::fs::copy(fixture("record").join(name), dir.join(name)).unwrap();
    (sheet, dir)
}

fn again(dir: &Path) -> Sheet {
    Sheet::new().current_dir(dir)
}

fn read(path: impl AsRef<Path>) -> String {
    std::fs::read_to_string(path.as_ref())
        .unwrap_or_else(|e| panic!("{}: {e}", path.as_ref().display()))
}

// ---------------------------------------------------------------- failing line

#[test]
fn a_failing_command_is_named_by_its_runbook_line_everywhere() {
    let (sheet, dir) = with_fixture("failing-line.md");
    std::fs::write(dir.join("conf.txt"), "nothing here\n").unwrap();
    sheet
        .args(["run", "failing-line.md", "--keep-going"])
        .run()
        .code(1)
        // A function defined in the same block: the line inside it.
        .stdout_has("failed at failing-line.md:10: grep -q retention conf.txt")
        // A function carried from an earlier step: the line that called it.
        .stdout_has("failed at failing-line.md:29: check_port 8080")
        // A console transcript: the `$` line of the command.
        .stdout_has("failed at failing-line.md:44: test -d no-such-dir")
        // Not bash: no command line is known; the step's own line stands.
        .stdout_lacks("failed at failing-line.md:3");
    let record = last_record(&dir);
    assert_eq!(step(&record, "check-config")["failed_line"], 10);
    assert_eq!(
        step(&record, "check-config")["failed_command"],
        "grep -q retention conf.txt"
    );
    assert_eq!(step(&record, "call")["failed_line"], 29);
    assert_eq!(step(&record, "posix")["failed_line"], 35);
    assert!(step(&record, "posix")["failed_command"].is_null());
    assert!(step(&record, "define")["failed_line"].is_null());

    let ran = again(&dir)
        .env("GITHUB_ACTIONS", "true")
        .args([
            "check",
            "failing-line.md",
            "--json",
            "r.json",
            "--junit",
            "j.xml",
        ])
        .run()
        .code(1)
        .stdout_has("::error file=failing-line.md,line=10,title=step `check-config` failed::")
        .stdout_has("failed at failing-line.md:10: grep -q retention conf.txt");
    drop(ran);
    let report = json(&dir.join("r.json"));
    let steps = &report["runbooks"][0]["steps"];
    assert_eq!(steps[0]["failed_line"], 10);
    assert_eq!(steps[0]["failed_command"], "grep -q retention conf.txt");
    let junit = read(dir.join("j.xml"));
    assert!(
        junit.contains("failed at failing-line.md:10: grep -q retention conf.txt"),
        "{junit}"
    );
    assert!(
        junit.contains(r#"<property name="failed_line" value="10"/>"#),
        "{junit}"
    );

    again(&dir)
        .args(["book", "failing-line.md", "-o", "out", "--src-only"])
        .run()
        .code(0);
    let chapter = read(dir.join("out/src/failing-line.md"));
    assert!(
        chapter.contains(
            "<mark class=\"runsheet-failed-line\"><span class=\"runsheet-lineno\">10</span>   grep -q retention conf.txt</mark>"
        ),
        "{chapter}"
    );
    assert!(chapter.contains("Failed at line 29:"), "{chapter}");
}

// ------------------------------------------------------ latest results per step

#[test]
fn a_section_run_leaves_the_other_steps_results_in_status_and_the_book() {
    let (sheet, dir) = with_fixture("sections.md");
    sheet.args(["run", "sections.md"]).run().code(0);
    std::thread::sleep(Duration::from_millis(1100));
    again(&dir)
        .args(["run", "sections.md", "--section", "two"])
        .run()
        .code(0);
    let status = again(&dir)
        .args(["status", "sections.md"])
        .run()
        .code(0)
        .stdout_has("latest result of each step:");
    let one = status
        .stdout
        .lines()
        .find(|l| l.contains(" one "))
        .unwrap_or_else(|| panic!("{}", status.stdout));
    assert!(
        one.contains("passed") && one.contains("(from the run of "),
        "{one}"
    );
    let two = status.stdout.lines().find(|l| l.contains(" two ")).unwrap();
    assert!(
        two.contains("passed") && !two.contains("from the run of"),
        "{two}"
    );
    let json = again(&dir)
        .args(["status", "sections.md", "--json"])
        .run()
        .code(0)
        .json();
    assert_eq!(json["steps"][0]["id"], "one");
    assert_eq!(json["steps"][0]["status"], "passed");
    assert_eq!(json["steps"][0]["earlier"], true);
    assert_eq!(json["steps"][1]["earlier"], false);

    again(&dir)
        .args(["book", "sections.md", "-o", "out", "--src-only"])
        .run()
        .code(0);
    let chapter = read(dir.join("out/src/sections.md"));
    assert!(
        chapter.contains("first part ran"),
        "the earlier output is kept:\n{chapter}"
    );
    assert!(chapter.contains("second part ran at"), "{chapter}");
    assert_eq!(chapter.matches("From the run of").count(), 1, "{chapter}");
    assert!(chapter.contains("2 passed"), "{chapter}");
    assert!(!chapter.contains("never run"), "{chapter}");
}

// ------------------------------------------------------------------- prompts

/// A `runsheet` started on a fresh pseudo-terminal (its controlling terminal),
/// with what it prints collected as it comes.
struct Pty {
    child: Child,
    master: std::fs::File,
    screen: Arc<Mutex<Vec<u8>>>,
}

impl Pty {
    fn spawn(mut cmd: Command) -> Pty {
        let (mut master, mut slave) = (0, 0);
        // SAFETY: openpty writes two descriptors we then own.
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(rc, 0, "openpty");
        // SAFETY: both descriptors were just opened and belong to nobody else.
        let (master, slave) =
            unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        cmd.stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave))
            .env("TERM", "dumb");
        // SAFETY: setsid and ioctl are async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                libc::ioctl(0, libc::TIOCSCTTY, 0);
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn runsheet on a pty");
        drop(cmd);
        let master = std::fs::File::from(master);
        let screen = Arc::new(Mutex::new(Vec::new()));
        let mut reader = master.try_clone().unwrap();
        let sink = Arc::clone(&screen);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Pty {
            child,
            master,
            screen,
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.screen.lock().unwrap()).into_owned()
    }

    fn wait_for(&self, needle: &str) {
        let until = Instant::now() + Duration::from_secs(20);
        while !self.text().contains(needle) {
            assert!(
                Instant::now() < until,
                "never saw {needle:?}:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn answer(&mut self, line: &str) {
        self.master
            .write_all(format!("{line}\n").as_bytes())
            .unwrap();
    }

    /// Waits for runsheet to end (killing it after 30s: a run left waiting
    /// for an answer is a failure, not a hang).
    fn finish(mut self) -> (i32, String) {
        let until = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > until {
                let _ = self.child.kill();
                break self.child.wait().unwrap();
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        std::thread::sleep(Duration::from_millis(100));
        (status.code().unwrap_or(-1), self.text())
    }
}

#[test]
fn a_confirm_step_with_no_terminal_is_not_run_and_fails_with_a_yes_hint() {
    let sheet = Sheet::new();
    let dir = sheet.copy_fixture("run-faults");
    sheet
        .current_dir(&dir)
        .args(["run", "prompts.md"])
        .stdin("y\ndone\n")
        .run()
        .code(1)
        .stdout_lacks("Run `ask`?")
        .stdout_has("confirm step not run: no terminal to ask; run with --yes to confirm it")
        .stdout_has("✗ failed");
    assert!(!dir.join("confirmed").exists());
    let record = last_record(&dir);
    assert_eq!(record["status"], "failed");
    assert_eq!(step(&record, "ask")["status"], "not-run");
    assert_eq!(
        step(&record, "by-hand")["reason"],
        "not run: step `ask` was not confirmed"
    );
}

#[test]
fn a_confirm_declined_at_a_terminal_stops_the_run_and_resume_asks_again() {
    let sheet = Sheet::new();
    let dir = sheet.copy_fixture("run-faults");
    let sheet = sheet.current_dir(&dir).args(["run", "prompts.md"]);
    let mut pty = Pty::spawn(sheet.command());
    pty.wait_for("Run `ask`? [y/N]");
    pty.answer("n");
    let (code, screen) = pty.finish();
    assert_eq!(code, 1, "{screen}");
    assert!(screen.contains("declined at the prompt"), "{screen}");
    assert!(
        !screen.contains("manual step `by-hand`"),
        "the run went on:\n{screen}"
    );
    assert!(!dir.join("confirmed").exists());

    let resume = again(&dir).args(["run", "prompts.md", "--resume"]);
    let mut pty = Pty::spawn(resume.command());
    pty.wait_for("Run `ask`? [y/N]");
    pty.answer("y");
    pty.wait_for("Done? [y/N]");
    pty.answer("done");
    pty.wait_for("talk (prompts.md");
    pty.answer("hello there");
    let (code, screen) = pty.finish();
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("got hello there"), "{screen}");
    assert!(dir.join("confirmed").exists());
}

// ------------------------------------------------------ tags and suggestions

#[test]
fn an_unknown_tag_is_refused_in_run_and_check_listing_the_known_tags() {
    let (sheet, dir) = with_fixture("tags.md");
    sheet
        .args(["run", "tags.md", "--tag", "nosuch"])
        .run()
        .code(2)
        .stderr_has(
            "no step has the tag `nosuch` (--tag) in tags.md; the tags are `aws`, `db`, `slow`",
        );
    again(&dir)
        .args(["check", "tags.md", "--skip-tag", "sloow"])
        .run()
        .code(2)
        .stderr_has("no step has the tag `sloow` (--skip-tag)");
    again(&dir)
        .args(["run", "tags.md", "--tag", "db"])
        .run()
        .code(0)
        .stdout_has("created")
        .stdout_lacks("deployed");
    assert!(
        records(&dir.join(".runsheet")).len() == 1,
        "the refused runs wrote no record"
    );
}

#[test]
fn section_suggestions_match_words_of_titles_and_slugs() {
    let (sheet, _dir) = with_fixture("tags.md");
    sheet
        .args(["run", "tags.md", "--section", "database"])
        .run()
        .code(2)
        .stderr_has("no section `database` in tags.md")
        .stderr_has("`create-the-database`");
}

// ------------------------------------------------------------------- resume

#[test]
fn resume_restarts_the_background_steps_started_before_it_and_says_so() {
    let (sheet, dir) = with_fixture("background.md");
    sheet
        .args(["run", "background.md"])
        .run()
        .code(1)
        .stdout_has("not fixed yet");
    std::fs::write(dir.join("fixed"), "").unwrap();
    std::fs::remove_file(dir.join("server.pid")).unwrap();
    let ran = again(&dir)
        .args(["run", "background.md", "--resume"])
        .run()
        .code(0)
        .stderr_has("step `server` (background.md:3) is a background step started before `flaky`; it is started again")
        .stdout_has("is up");
    drop(ran);
    let record = last_record(&dir);
    assert_eq!(step(&record, "server")["background"], true);
    assert!(step(&record, "server")["carried_from"].is_null());
    assert_eq!(step(&record, "wait-for-server")["status"], "passed");
    let pid = read(dir.join("server.pid"));
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()));
    assert!(
        stat.is_err() || stat.unwrap().contains(") Z "),
        "the restarted server outlived the run"
    );
}

#[test]
fn a_step_added_before_where_the_run_stopped_runs_when_it_resumes() {
    let (sheet, dir) = with_fixture("sections.md");
    let text = read(dir.join("sections.md"));
    std::fs::write(
        dir.join("sections.md"),
        text.replace("echo \"second part", "test -f fixed\necho \"second part"),
    )
    .unwrap();
    sheet.args(["run", "sections.md"]).run().code(1);
    let text = read(dir.join("sections.md"));
    std::fs::write(
        dir.join("sections.md"),
        text.replace(
            "## Two",
            "```bash {#inserted}\ntouch fixed inserted-ran\n```\n\n## Two",
        ),
    )
    .unwrap();
    again(&dir)
        .args(["run", "sections.md", "--resume"])
        .run()
        .code(0)
        .stderr_has("step `inserted` (sections.md:9) stands before `two` and has not passed in the last run; it runs first")
        .stdout_has("passed: 3 passed");
    assert!(dir.join("inserted-ran").exists());
    let record = last_record(&dir);
    let ids: Vec<&str> = record["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["one", "inserted", "two"]);
    // With --from, the same plan is refused, saying what to run instead.
    again(&dir)
        .args(["run", "sections.md", "--resume", "--section", "two"])
        .run()
        .code(2)
        .stderr_has("does not take --section");
}

#[test]
fn retention_never_deletes_a_log_a_carried_result_needs() {
    let sheet = Sheet::new();
    let dir = sheet.dir().to_path_buf();
    std::fs::write(
        dir.join("keep.md"),
        "# Keep\n\n```bash {#first}\necho \"the first step's own output\"\n```\n\n\
         ```bash {#always-fails}\nexit 1\n```\n",
    )
    .unwrap();
    sheet.args(["run", "keep.md"]).run().code(1);
    for _ in 0..22 {
        again(&dir)
            .args(["run", "keep.md", "--resume"])
            .run()
            .code(1);
    }
    assert_eq!(
        records(&dir.join(".runsheet")).len(),
        20,
        "retention keeps 20 runs"
    );
    let record = last_record(&dir);
    let first = step(&record, "first");
    assert!(first["carried_from"].is_string());
    let folder = records(&dir.join(".runsheet"))
        .last()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    let log = read(folder.join(first["log"].as_str().unwrap()));
    assert_eq!(log, "the first step's own output\n");
    again(&dir)
        .args(["book", "keep.md", "-o", "out", "--src-only"])
        .run()
        .code(0);
    let chapter = read(dir.join("out/src/keep.md"));
    assert!(
        chapter.contains("the first step&#39;s own output")
            || chapter.contains("the first step's own output"),
        "{chapter}"
    );
    assert!(
        !chapter.contains("log of this step is missing"),
        "{chapter}"
    );
}

/// Old runs go once a run is over, not before it starts: a run then never
/// creates its files right after deleting thousands (see `Engine::prune`).
#[test]
fn old_runs_are_deleted_when_a_run_ends_not_when_it_starts() {
    let sheet = Sheet::new();
    let dir = sheet.dir().to_path_buf();
    std::fs::write(
        dir.join("count.md"),
        "# Count\n\n```bash\necho \"runs: $(ls -d .runsheet/*/*/ | wc -l)\"\n```\n",
    )
    .unwrap();
    sheet.args(["run", "count.md"]).run().code(0);
    for _ in 1..20 {
        again(&dir).args(["run", "count.md"]).run().code(0);
    }
    assert_eq!(records(&dir.join(".runsheet")).len(), 20);
    // The 21st run still sees the 20 before it beside its own folder.
    again(&dir)
        .args(["run", "count.md"])
        .run()
        .code(0)
        .stdout_has("runs: 21");
    assert_eq!(
        records(&dir.join(".runsheet")).len(),
        20,
        "retention keeps 20 runs once the run is over"
    );
}

// ----------------------------------------------------------- bounded output

#[test]
fn a_step_log_keeps_head_and_tail_within_max_log() {
    let sheet = Sheet::new();
    let dir = sheet.dir().to_path_buf();
    std::fs::write(
        dir.join("loud.md"),
        "# Loud\n\n```bash {#loud}\nfor i in $(seq 1 20000); do echo \"line $i\"; done\n```\n",
    )
    .unwrap();
    sheet
        .args(["run", "loud.md", "--max-log", "8K"])
        .run()
        .code(0)
        .stdout_has("line 20000");
    let record = last_record(&dir);
    let loud = step(&record, "loud");
    let folder = records(&dir.join(".runsheet"))[0]
        .parent()
        .unwrap()
        .to_path_buf();
    let log = read(folder.join(loud["log"].as_str().unwrap()));
    assert!(log.len() < 8 * 1024 + 200, "{} bytes", log.len());
    assert!(log.starts_with("line 1\nline 2\n"));
    assert!(log.ends_with("line 19999\nline 20000\n"));
    let dropped = loud["log_dropped"].as_u64().unwrap();
    assert!(log.contains(&format!(
        "[runsheet: {dropped} bytes of output left out here;"
    )));
    again(&dir)
        .args(["check", "loud.md", "--max-log", "lots"])
        .run()
        .code(2)
        .stderr_has("--max-log \"lots\" is not a size");
}

#[test]
fn a_heading_of_250_characters_makes_a_run_like_any_other() {
    let sheet = Sheet::new();
    let dir = sheet.dir().to_path_buf();
    let heading = "Configure the ".to_string() + &"very ".repeat(47) + "long thing";
    assert!(heading.len() >= 250);
    std::fs::write(
        dir.join("long.md"),
        format!("# Long\n\n## {heading}\n\n```bash\necho one\n```\n\n```bash\necho two\n```\n"),
    )
    .unwrap();
    sheet
        .args(["run", "long.md"])
        .run()
        .code(0)
        .stdout_has("two");
    let record = last_record(&dir);
    assert_eq!(record["status"], "passed");
    for s in record["steps"].as_array().unwrap() {
        assert!(s["log"].as_str().unwrap().len() < 100, "{}", s["log"]);
    }
}

// ------------------------------------------------------------ corrupt state

#[test]
fn resume_refuses_an_unreadable_state_or_record_naming_it() {
    let (sheet, dir) = with_fixture("sections.md");
    let text = read(dir.join("sections.md"));
    std::fs::write(
        dir.join("sections.md"),
        text.replace("echo \"second", "false\necho \"second"),
    )
    .unwrap();
    sheet.args(["run", "sections.md"]).run().code(1);
    let record = records(&dir.join(".runsheet")).pop().unwrap();
    let state = record.with_file_name("state.json");
    let shown = |p: &Path| p.strip_prefix(&dir).unwrap().display().to_string();
    std::fs::write(&state, "{ torn").unwrap();
    again(&dir)
        .args(["run", "sections.md", "--resume"])
        .run()
        .code(2)
        .stderr_has(&format!(
            "{} is not a shell state runsheet wrote",
            shown(&state)
        ))
        .stderr_has("start afresh with `runsheet run sections.md`");
    std::fs::write(&record, "garbage").unwrap();
    again(&dir)
        .args(["run", "sections.md", "--resume"])
        .run()
        .code(2)
        .stderr_has(&shown(&record))
        .stderr_has("start afresh");
}

#[test]
fn status_and_book_skip_a_corrupt_record_with_a_warning() {
    let (sheet, dir) = with_fixture("sections.md");
    std::fs::copy(fixture("record/tags.md"), dir.join("tags.md")).unwrap();
    sheet.args(["run", "sections.md"]).run().code(0);
    again(&dir).args(["run", "tags.md"]).run().code(0);
    std::thread::sleep(Duration::from_millis(5));
    again(&dir)
        .args(["run", "sections.md", "--section", "two"])
        .run()
        .code(0);
    let newest = records(&dir.join(".runsheet"))
        .into_iter()
        .rfind(|p| json(p)["runbook"] == "sections.md")
        .unwrap();
    std::fs::write(&newest, "{\"schema\": 1, \"steps\": [").unwrap();
    again(&dir)
        .args(["status", "sections.md"])
        .run()
        .code(0)
        .stderr_has("warning: skipped the unreadable record")
        .stderr_has(&newest.strip_prefix(&dir).unwrap().display().to_string())
        .stdout_has("result: passed");
    again(&dir)
        .args(["book", "sections.md", "tags.md", "-o", "out", "--src-only"])
        .run()
        .code(0)
        .stderr_has("warning: skipped the unreadable record");
    assert!(read(dir.join("out/src/tags.md")).contains("deployed"));
    assert!(read(dir.join("out/src/sections.md")).contains("first part ran"));
}

// ------------------------------------------------------------------- faults

#[test]
fn a_state_dir_that_vanishes_mid_run_fails_the_run_with_a_finished_record() {
    let sheet = Sheet::new();
    let dir = sheet.dir().to_path_buf();
    std::fs::write(
        dir.join("gone.md"),
        "# Gone\n\n```bash {#wipe}\nrm -rf .runsheet\n```\n\n```bash {#after}\ntouch after-ran\n```\n",
    )
    .unwrap();
    sheet
        .args(["run", "gone.md"])
        .run()
        .code(1)
        .stderr_has("error: cannot write ")
        .stderr_has(" is gone");
    assert!(
        !dir.join("after-ran").exists(),
        "the run went on without a record"
    );
    let record = last_record(&dir);
    assert_eq!(record["status"], "failed");
    assert!(record["error"].as_str().unwrap().contains(" is gone"));
    assert_eq!(step(&record, "after")["status"], "not-run");
}

fn alive(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"));
    stat.is_ok_and(|s| !s.contains(") Z "))
}

/// A small deterministic generator (xorshift), so a failing campaign can be
/// replayed from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// 50 steps; step N exports `LAST=N` and appends N to `ran.txt`. Step 10
/// also leaves a daemon behind, outside its process group ([`DAEMON`]).
fn fifty_steps() -> String {
    let mut text = String::from("# Fifty\n\n");
    for n in 1..=50 {
        let daemon = if n == 10 {
            "setsid sleep 3917 </dev/null >/dev/null 2>&1 &\n"
        } else {
            ""
        };
        text.push_str(&format!(
            "```bash {{#s{n:02}}}\n{daemon}export LAST={n}\necho {n} >> ran.txt\n```\n\n"
        ));
    }
    text
}

/// The command line of the daemon step 10 of [`fifty_steps`] leaves.
const DAEMON: &[u8] = b"sleep\x003917\x00";

/// Pids of the daemons of [`fifty_steps`] run in `dir` still running.
fn daemons(dir: &Path) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| s.rsplit_once(") ").is_some_and(|(_, r)| r.starts_with('Z')));
            let here = std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|d| d == dir);
            cmdline == DAEMON && here && !zombie
        })
        .collect()
}

/// Waits up to 10 s for every pid of `pids` to be gone.
fn all_gone(dir: &Path, pids: &[u32]) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left: Vec<u32> = daemons(dir)
            .into_iter()
            .filter(|p| pids.contains(p))
            .collect();
        if left.is_empty() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What a record and its saved state say after a kill: the last passed
/// step, and the `LAST` the state carries (0: none).
fn point(dir: &Path) -> (usize, usize) {
    let record_path = records(&dir.join(".runsheet")).pop().expect("a record");
    let record = json(&record_path);
    let passed = record["steps"]
        .as_array()
        .unwrap()
        .iter()
        .take_while(|s| s["status"] == "passed")
        .count();
    let seq = record["state_seq"].as_u64().unwrap_or(0);
    let state_path = record_path.with_file_name("state.json");
    let last = if seq == 0 {
        0
    } else {
        let state = json(&state_path);
        let generation = if state["seq"] == seq {
            &state["state"]
        } else {
            assert_eq!(
                state["previous"]["seq"], seq,
                "state.json lacks the state its record names"
            );
            &state["previous"]["state"]
        };
        generation["env"]["LAST"]
            .as_str()
            .map_or(0, |v| v.parse().unwrap())
    };
    (passed, last)
}

#[test]
fn kill_9_at_random_moments_leaves_a_record_and_state_that_agree() {
    const KILLS: usize = 12;
    let seed = std::env::var("RUNSHEET_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_1234_abcd_u64);
    let mut rng = Rng(seed);
    let sheet = Sheet::new();
    let dir = sheet.dir().to_path_buf();
    std::fs::write(dir.join("fifty.md"), fifty_steps()).unwrap();
    // How long a whole run takes here, to spread the kills over it.
    let started = Instant::now();
    sheet.args(["run", "fifty.md"]).run().code(0);
    let whole = started.elapsed();
    std::fs::remove_dir_all(dir.join(".runsheet")).unwrap();
    std::fs::remove_file(dir.join("ran.txt")).unwrap();

    let mut kills = 0;
    let mut resumed = false;
    // Steps the record said had passed when the last run was killed, and
    // how much of `ran.txt` was written by then: none of them may run again.
    let (mut settled, mut seen_lines) = (0, 0);
    let ran = |dir: &Path| -> Vec<usize> {
        std::fs::read_to_string(dir.join("ran.txt"))
            .unwrap_or_default()
            .lines()
            .map(|l| l.parse().unwrap())
            .collect()
    };
    // Daemons a killed run left: the next run's takeover must stop them.
    let mut orphaned: Vec<u32> = Vec::new();
    // Runs that finish before their kill do not count: a resumed run has
    // few steps left. Go on until enough kills landed, within a bound.
    let mut round = 0;
    while kills < KILLS && round < KILLS * 4 {
        round += 1;
        let args: &[&str] = if resumed {
            &["run", "fifty.md", "--resume"]
        } else {
            &["run", "fifty.md"]
        };
        let mut child = again(&dir)
            .args(args)
            .command()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Spread over what is left of the run: the steps not settled yet,
        // plus its start-up.
        let left = whole.as_micros() as u64 * (55 - settled as u64) / 55;
        let at = Duration::from_micros(rng.next() % left.max(1));
        std::thread::sleep(at);
        let done = child.try_wait().unwrap().is_some();
        if !done {
            child.kill().unwrap();
            kills += 1;
        }
        child.wait().unwrap();
        // A run killed early may not have taken the lock over yet; one that
        // finished has.
        if done {
            assert!(
                all_gone(&dir, &orphaned),
                "round {round} (seed {seed:#x}): daemons {orphaned:?} of a killed run \
                 survived this run's takeover of its lock"
            );
        }
        orphaned = daemons(&dir);
        let lines = ran(&dir);
        let again_ran: Vec<usize> = lines[seen_lines.min(lines.len())..]
            .iter()
            .copied()
            .filter(|&n| n <= settled)
            .collect();
        assert!(
            again_ran.is_empty(),
            "round {round} (seed {seed:#x}): steps {again_ran:?} ran again though the record \
             said the first {settled} had passed"
        );
        if records(&dir.join(".runsheet")).is_empty() {
            continue; // killed before its first write
        }
        let (passed, last) = point(&dir);
        assert_eq!(
            passed, last,
            "round {round} (seed {seed:#x}, kill at {at:?}): the record says {passed} steps \
             passed, the saved state is after step {last}"
        );
        resumed = passed < 50;
        if resumed {
            (settled, seen_lines) = (passed, lines.len());
        } else {
            // Start afresh, keeping the state dir: a run killed after its
            // last step may have left its daemon for the next to stop.
            (settled, seen_lines) = (0, lines.len());
        }
    }
    assert!(
        kills >= KILLS / 2,
        "only {kills} kills landed in {round} runs"
    );
    // The lock of the last killed run is taken over, and the run completes.
    let args: &[&str] = if resumed {
        &["run", "fifty.md", "--resume"]
    } else {
        &["run", "fifty.md"]
    };
    again(&dir).args(args).run().code(0);
    assert!(
        all_gone(&dir, &daemons(&dir)),
        "a daemon of a killed run or of this one outlived the run: {:?}",
        daemons(&dir)
    );
    let (passed, last) = point(&dir);
    assert_eq!((passed, last), (50, 50));
    let lines = ran(&dir);
    assert!(
        lines[seen_lines..].iter().all(|&n| n > settled),
        "{lines:?}"
    );
    for n in 1..=50 {
        assert!(lines.contains(&n), "step {n} never ran: {lines:?}");
    }
}

#[test]
fn runs_killed_outright_are_pruned_by_the_next_run() {
    let sheet = Sheet::new();
    let dir = sheet.dir().to_path_buf();
    std::fs::write(
        dir.join("hang.md"),
        "# Hang\n\n```bash {#hang}\necho $$ > hang.pid\nexec sleep 30\n```\n",
    )
    .unwrap();
    for _ in 0..22 {
        let _ = std::fs::remove_file(dir.join("hang.pid"));
        let mut child = again(&dir)
            .args(["run", "hang.md"])
            .command()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let until = Instant::now() + Duration::from_secs(20);
        while std::fs::read_to_string(dir.join("hang.pid")).map_or(true, |p| p.trim().is_empty()) {
            assert!(Instant::now() < until, "the step never started");
            std::thread::sleep(Duration::from_millis(10));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        // What runsheet had no chance to stop.
        let pid: i32 = read(dir.join("hang.pid")).trim().parse().unwrap();
        unsafe { libc::kill(pid, libc::SIGKILL) };
        while alive(pid) {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    assert!(records(&dir.join(".runsheet")).len() <= 21);
    let text = read(dir.join("hang.md")).replace("exec sleep 30", "true");
    std::fs::write(dir.join("hang.md"), text).unwrap();
    again(&dir).args(["run", "hang.md"]).run().code(0);
    assert_eq!(records(&dir.join(".runsheet")).len(), 20);
}

/// Mounts a tmpfs of `size` at `dir`; false when this is not possible (not
/// root, no mount).
fn mount_tmpfs(dir: &Path, size: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return false;
    }
    std::fs::create_dir_all(dir).unwrap();
    Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success())
}

fn umount(dir: &Path) {
    let _ = Command::new("umount").arg("-l").arg(dir).status();
}

#[test]
fn a_full_disk_fails_the_run_cleanly_and_keeps_the_last_record() {
    let sheet = Sheet::new();
    let dir = sheet.dir().to_path_buf();
    let state = dir.join("small");
    if !mount_tmpfs(&state, "1m") {
        eprintln!("skipped: the disk-full test needs root and tmpfs (mount -t tmpfs)");
        if std::env::var_os("RUNSHEET_REQUIRE_TMPFS").is_some() {
            panic!("RUNSHEET_REQUIRE_TMPFS is set but no tmpfs could be mounted");
        }
        return;
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            umount(&self.0);
        }
    }
    let _unmount = Unmount(state.clone());
    std::fs::write(
        dir.join("fill.md"),
        "# Fill\n\n```bash {#small}\necho small\n```\n\n\
         ```bash {#flood}\nhead -c 3000000 /dev/zero | tr '\\0' x\necho\n```\n\n\
         ```bash {#after}\ntouch after-ran\n```\n",
    )
    .unwrap();
    let state_arg = state.display().to_string();
    // A first run that fits, then one that fills the disk.
    let text = read(dir.join("fill.md"));
    std::fs::write(dir.join("fits.md"), text.replace("3000000", "1000")).unwrap();
    again(&dir)
        .args(["--state-dir", &state_arg, "run", "fits.md"])
        .run()
        .code(0);
    std::fs::remove_file(dir.join("after-ran")).unwrap();
    let ran = again(&dir)
        .args(["--state-dir", &state_arg, "run", "fill.md"])
        .run();
    let ran = ran.code(1).stderr_has("No space left on device");
    assert!(
        !dir.join("after-ran").exists(),
        "the run went on:\n{}",
        ran.stdout
    );
    for record in records(&state) {
        let value = json(&record);
        assert_ne!(value["status"], "running", "{}", record.display());
        if value["runbook"] == "fill.md" {
            assert_eq!(value["status"], "failed");
            assert!(value["error"].as_str().unwrap().contains("No space left"));
        } else {
            assert_eq!(value["status"], "passed");
        }
    }
    again(&dir)
        .args(["--state-dir", &state_arg, "status", "fits.md"])
        .run()
        .code(0)
        .stdout_has("result: passed");
}

#[test]
fn a_state_dir_that_cannot_be_made_is_named_with_the_way_out() {
    let (sheet, dir) = with_fixture("sections.md");
    std::fs::write(dir.join("not-a-folder"), "a file\n").unwrap();
    sheet
        .args(["--state-dir", "not-a-folder/state", "run", "sections.md"])
        .run()
        .code(2)
        .stderr_has("cannot make the state dir not-a-folder/state")
        .stderr_has("choose another with --state-dir or RUNSHEET_STATE_DIR");
    assert_eq!(read(dir.join("not-a-folder")), "a file\n");
}
