//! `runsheet book` and `runsheet mdbook` end to end: real runbooks, a real run
//! record in a state dir, a real mdBook build and a real browser.

use std::path::{Path, PathBuf};
use std::process::Command;

use runsheet::record::{RunRecord, RunStatus, StepRecord, StepStatus, Store, SCHEMA_VERSION};

use crate::sheet::{assert_golden, fixture, Sheet};

const SECRET: &str = "hunter2-very-secret";

/// One step's result for [`record_run`]: id, status, log.
type StepResult<'a> = (&'a str, StepStatus, &'a [u8]);

/// Writes a finished run of `runbook` into `state` through the record store,
/// as `runsheet run` does, with each step's log. Steps not listed are left out
/// of the record (never run).
fn record_run(state: &Path, runbook: &Path, results: &[StepResult<'_>]) -> PathBuf {
    let parsed = runsheet::parse::load(runbook).expect("fixture runbook parses");
    let abs = std::fs::canonicalize(runbook).expect("runbook path");
    let steps: Vec<StepRecord> = results
        .iter()
        .map(|(id, status, _)| {
            let step = parsed.step(id).unwrap_or_else(|| panic!("no step {id}"));
            StepRecord {
                id: id.to_string(),
                line: step.line,
                section: step.section.clone(),
                command_hash: step.hash.clone(),
                status: *status,
                exit_code: Some(if *status == StepStatus::Passed { 0 } else { 1 }),
                duration_ms: 1500,
                started: Some("2026-11-25T08:00:00Z".into()),
                reason: (*status == StepStatus::Failed).then(|| "exit status 1, expected 0".into()),
                checks: Vec::new(),
                log: None,
                carried_from: None,
                attempts: 1,
                ..StepRecord::default()
            }
        })
        .collect();
    let failed = steps.iter().any(|s| s.status != StepStatus::Passed);
    let mut record = RunRecord {
        schema: SCHEMA_VERSION,
        run_id: "20261125T080000.000Z-1".into(),
        runbook: runbook.to_path_buf(),
        runbook_abs: abs,
        runbook_hash: parsed.hash.clone(),
        title: parsed.title.clone(),
        started: "2026-11-25T08:00:00Z".into(),
        finished: Some("2026-11-25T08:00:09Z".into()),
        status: if failed {
            RunStatus::Failed
        } else {
            RunStatus::Passed
        },
        mode: "run".into(),
        steps,
        todos: Vec::new(),
        ..RunRecord::default()
    };
    let store = Store::new(state);
    let run = store.begin(&record).expect("begin run");
    for (i, (id, _, log)) in results.iter().enumerate() {
        let (name, path) = run.log_path(i, id);
        std::fs::write(&path, log).expect("write log");
        record.steps[i].log = Some(name);
    }
    run.save(&record, true).expect("save run");
    run.path
}

/// The fixture's onboarding runbook after a run that failed at `start`, with
/// an output that tries to inject a script and one that leaks a secret.
fn onboarding_run(sheet: &Sheet) -> PathBuf {
    let dir = sheet.copy_fixture("book-browser/runbooks");
    let runbook = dir.join("onboarding.md");
    record_run(
        &sheet.dir().join(".runsheet"),
        &runbook,
        &[
            ("tools", StepStatus::Passed, b"git version 2.47.2\n"),
            ("clone", StepStatus::Passed, b"\x1b[32mcloning into service/\x1b[0m\n"),
            (
                "greet",
                StepStatus::Passed,
                b"<script>document.title=\"pwned\";document.body.insertAdjacentHTML('beforeend','<p id=pwned>pwned</p>')</script>\n",
            ),
            (
                "start",
                StepStatus::Failed,
                format!("starting with key {SECRET}\nerror: port 8080 in use\n").as_bytes(),
            ),
        ],
    );
    dir
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn book_builds_html_with_each_step_s_last_output() {
    let sheet = Sheet::new();
    onboarding_run(&sheet);
    let ran = sheet
        .args(["book", "-o", "site"])
        .run()
        .code(0)
        .stdout_has("built 2 runbooks into site/book/index.html");
    let html = std::fs::read_to_string(ran.dir.join("site/book/runbooks/onboarding.html"))
        .expect("chapter page");
    assert!(html.contains("git version 2.47.2"), "{html}");
    assert!(html.contains("runsheet-badge-passed"));
    assert!(html.contains("runsheet-badge-failed"));
    assert!(html.contains("Missing step"));
    assert!(ran.dir.join("site/book/overview.html").exists());
    let release = std::fs::read_to_string(ran.dir.join("site/book/runbooks/release.html"))
        .expect("never-run chapter");
    assert!(release.contains("has no recorded run"));
}

#[test]
fn generated_chapter_matches_golden() {
    let sheet = Sheet::new();
    onboarding_run(&sheet);
    let ran = sheet
        .args(["book", "--src-only", "-o", "site", "runbooks/onboarding.md"])
        .run()
        .code(0)
        .stdout_has("wrote the mdBook source of 1 runbook to site");
    assert!(
        !ran.dir.join("site/book").exists(),
        "--src-only builds no HTML"
    );
    let chapter =
        std::fs::read_to_string(ran.dir.join("site/src/runbooks/onboarding.md")).expect("chapter");
    assert_golden(&fixture("book-browser/onboarding.golden.md"), &chapter);
    let summary = std::fs::read_to_string(ran.dir.join("site/src/SUMMARY.md")).expect("summary");
    assert_golden(&fixture("book-browser/SUMMARY.golden.md"), &summary);
}

#[test]
fn no_secret_of_the_environment_reaches_any_generated_file() {
    let sheet = Sheet::new();
    onboarding_run(&sheet);
    let ran = sheet
        .env("LOCAL_DB_KEY", SECRET)
        .args(["book", "-o", "site"])
        .run()
        .code(0);
    let files = files_under(&ran.dir.join("site"));
    assert!(files.len() > 10, "the HTML was built");
    for file in files {
        let bytes = std::fs::read(&file).expect("read");
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(SECRET),
            "{} contains the secret",
            file.display()
        );
    }
}

#[test]
fn book_refuses_a_directory_it_did_not_write() {
    let sheet = Sheet::new();
    onboarding_run(&sheet);
    std::fs::create_dir_all(sheet.dir().join("docs")).expect("mkdir");
    std::fs::write(sheet.dir().join("docs/notes.txt"), "mine").expect("write");
    sheet
        .args(["book", "-o", "docs"])
        .run()
        .code(2)
        .stderr_has("docs already exists and was not written by `runsheet book`");
}

#[test]
fn book_explains_a_missing_runbooks_folder() {
    Sheet::new()
        .args(["book"])
        .run()
        .code(2)
        .stderr_has("there is no runbooks/ directory here");
    Sheet::new()
        .args(["book", "nope.md"])
        .run()
        .code(2)
        .stderr_has("nope.md: no such file or directory");
}

#[test]
fn book_refuses_an_invalid_runbook() {
    let sheet = Sheet::new();
    std::fs::write(
        sheet.dir().join("bad.md"),
        "# Bad\n\n```sh {timeout=soon}\necho\n```\n",
    )
    .expect("write");
    sheet
        .args(["book", "bad.md"])
        .run()
        .code(2)
        .stderr_has("bad.md is not a valid runbook")
        .stderr_has("bad.md:3");
}

// --- the preprocessor -------------------------------------------------------

/// A team's own book: an ordinary chapter and a runbook chapter, with
/// `[preprocessor.runsheet]` running the built binary.
fn team_book(sheet: &Sheet, extra_toml: &str) -> PathBuf {
    let root = sheet.dir().join("docs");
    std::fs::create_dir_all(root.join("src")).expect("mkdir");
    std::fs::write(
        root.join("book.toml"),
        format!(
            "[book]\ntitle = \"Team docs\"\n\n[preprocessor.runsheet]\ncommand = \"{} mdbook\"\nstate-dir = \"../.runsheet\"\n{extra_toml}",
            env!("CARGO_BIN_EXE_runsheet")
        ),
    )
    .expect("book.toml");
    std::fs::write(
        root.join("src/SUMMARY.md"),
        "# Summary\n\n- [Intro](intro.md)\n- [Onboarding](onboarding.md)\n",
    )
    .expect("summary");
    std::fs::write(
        root.join("src/intro.md"),
        "# Intro\n\nExamples, not a runbook:\n\n```sh\nmake coffee\n```\n",
    )
    .expect("intro");
    std::fs::copy(
        fixture("book-browser/runbooks/onboarding.md"),
        root.join("src/onboarding.md"),
    )
    .expect("copy runbook");
    record_run(
        &sheet.dir().join(".runsheet"),
        &root.join("src/onboarding.md"),
        &[
            ("tools", StepStatus::Passed, b"git version 2.47.2\n"),
            ("clone", StepStatus::Passed, b"cloning\n"),
        ],
    );
    root
}

#[test]
fn the_preprocessor_embeds_outputs_through_the_mdbook_library() {
    let sheet = Sheet::new();
    let root = team_book(&sheet, "");
    let book = mdbook_driver::MDBook::load(&root).expect("load book");
    book.build()
        .expect("mdBook runs `runsheet mdbook` and builds");
    let page = std::fs::read_to_string(root.join("book/onboarding.html")).expect("page");
    assert!(page.contains("git version 2.47.2"), "{page}");
    assert!(page.contains("runsheet-badge-passed"));
    assert!(page.contains("never run"), "steps without a record say so");
    assert!(page.contains("Missing step"));
    let intro = std::fs::read_to_string(root.join("book/intro.html")).expect("intro");
    assert!(
        !intro.contains("runsheet-step"),
        "a chapter with a never-run step is still a runbook, but intro has no record: {intro}"
    );
}

#[test]
fn the_preprocessor_leaves_chapters_outside_include_alone() {
    let sheet = Sheet::new();
    let root = team_book(&sheet, "include = [\"onboarding\", \"release\"]\n");
    std::fs::copy(
        fixture("book-browser/runbooks/release.md"),
        root.join("src/release.md"),
    )
    .expect("copy runbook");
    let summary = root.join("src/SUMMARY.md");
    let text = std::fs::read_to_string(&summary).expect("summary");
    std::fs::write(&summary, format!("{text}- [Release](release.md)\n")).expect("summary");
    mdbook_driver::MDBook::load(&root)
        .expect("load")
        .build()
        .expect("build");
    let intro = std::fs::read_to_string(root.join("book/intro.html")).expect("intro");
    assert!(!intro.contains("runsheet-"), "{intro}");
    let page = std::fs::read_to_string(root.join("book/onboarding.html")).expect("page");
    assert!(page.contains("runsheet-badge-passed"));
    let release = std::fs::read_to_string(root.join("book/release.html")).expect("release");
    assert!(
        release.contains("has no recorded run"),
        "included, never run: {release}"
    );
}

#[test]
fn mdbook_build_runs_the_preprocessor_in_process() {
    let sheet = Sheet::new();
    team_book(&sheet, "");
    let ran = sheet
        .args(["mdbook", "build", "docs"])
        .run()
        .code(0)
        .stdout_has("built docs/book/index.html");
    let page = std::fs::read_to_string(ran.dir.join("docs/book/onboarding.html")).expect("page");
    assert!(page.contains("git version 2.47.2"));
}

#[test]
fn mdbook_supports_only_html() {
    Sheet::new()
        .args(["mdbook", "supports", "html"])
        .run()
        .code(0);
    Sheet::new()
        .args(["mdbook", "supports", "latex"])
        .run()
        .code(1);
    Sheet::new()
        .args(["mdbook"])
        .stdin("not json")
        .run()
        .code(2)
        .stderr_has("runsheet mdbook is an mdBook preprocessor");
}

// --- the browser ------------------------------------------------------------

const CHROMIUM: &str = "/usr/bin/chromium";

/// Chromium, or `None` when `RUNSHEET_SKIP_BROWSER=1`; a missing browser is a
/// failure, not a silent pass.
fn chromium() -> Option<&'static str> {
    if std::env::var("RUNSHEET_SKIP_BROWSER").as_deref() == Ok("1") {
        return None;
    }
    assert!(
        Path::new(CHROMIUM).exists(),
        "the browser test needs {CHROMIUM} (apt-get install chromium); \
         set RUNSHEET_SKIP_BROWSER=1 to skip it"
    );
    Some(CHROMIUM)
}

fn browse(browser: &str, profile: &Path, page: &Path, extra: &[String]) -> std::process::Output {
    Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1200,1800",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("start chromium")
}

#[test]
fn the_book_renders_in_a_real_browser_without_running_recorded_scripts() {
    let Some(browser) = chromium() else { return };
    let sheet = Sheet::new();
    onboarding_run(&sheet);
    let ran = sheet.args(["book", "-o", "site"]).run().code(0);
    let page = ran.dir.join("site/book/runbooks/onboarding.html");
    let profile = tempfile::tempdir().expect("profile dir");
    let out = browse(browser, profile.path(), &page, &["--dump-dom".into()]);
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        dom.contains("git version 2.47.2"),
        "step output rendered:\n{dom}"
    );
    assert!(dom.contains("runsheet-badge-passed") && dom.contains("✔ passed"));
    assert!(dom.contains("✘ failed"));
    assert!(dom.contains("Missing step"));
    assert!(
        dom.contains("&lt;script&gt;document.title"),
        "the script is shown as text"
    );
    assert!(
        !dom.contains("<title>pwned"),
        "the recorded script ran (title changed)"
    );
    assert!(
        !dom.contains("<p id=\"pwned\">"),
        "the recorded script ran (element inserted)"
    );

    let shot = ran.dir.join("onboarding.png");
    let out = browse(
        browser,
        profile.path(),
        &page,
        &[format!("--screenshot={}", shot.display())],
    );
    assert!(
        out.status.success(),
        "screenshot failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::metadata(&shot).expect("screenshot written").len() > 10_000);
    // Kept where a person can look at it after the test.
    let keep = Path::new(env!("CARGO_TARGET_TMPDIR")).join("book-onboarding.png");
    std::fs::copy(&shot, keep).expect("keep screenshot");
}

#[test]
fn a_secret_of_a_real_run_reaches_no_file_of_the_book() {
    const TOKEN: &str = "tok-5f2e9c1d-real-run";
    const KEY: &str = "key-8b7a6c5d-real-run";
    let sheet = Sheet::new();
    sheet.copy_fixture("book-secret/runbooks");
    let ran = sheet
        .env("DEPLOY_TOKEN", TOKEN)
        .env("LOCAL_DB_KEY", KEY)
        .args(["run", "runbooks/leak.md"])
        .run()
        .code(0);
    let dir = ran.dir;
    Sheet::new()
        .current_dir(&dir)
        .env("DEPLOY_TOKEN", TOKEN)
        .env("LOCAL_DB_KEY", KEY)
        .args(["book", "-o", "site"])
        .run()
        .code(0);
    let chapter = std::fs::read_to_string(dir.join("site/src/runbooks/leak.md")).expect("chapter");
    assert!(chapter.contains("token is ***"), "{chapter}");
    assert!(chapter.contains("db key is ***"), "{chapter}");
    for file in files_under(&dir.join("site")) {
        let text = String::from_utf8_lossy(&std::fs::read(&file).expect("read")).into_owned();
        assert!(
            !text.contains(TOKEN),
            "{} contains the token",
            file.display()
        );
        assert!(!text.contains(KEY), "{} contains the key", file.display());
    }
}

#[test]
fn book_and_mdbook_explain_what_is_missing() {
    let sheet = Sheet::new();
    std::fs::create_dir_all(sheet.dir().join("empty")).expect("mkdir");
    sheet
        .args(["book", "empty"])
        .run()
        .code(2)
        .stderr_has("no runbooks (*.md) in empty");
    Sheet::new()
        .args(["mdbook", "build", "nowhere"])
        .run()
        .code(2)
        .stderr_has("nowhere has no book.toml");
}

#[test]
fn the_preprocessor_refuses_an_invalid_runbook_chapter() {
    let sheet = Sheet::new();
    let root = team_book(&sheet, "include = [\"broken\"]\n");
    std::fs::write(
        root.join("src/broken.md"),
        "# Broken\n\n```sh {timeout=soon}\necho\n```\n",
    )
    .expect("write");
    let summary = root.join("src/SUMMARY.md");
    let text = std::fs::read_to_string(&summary).expect("summary");
    std::fs::write(&summary, format!("{text}- [Broken](broken.md)\n")).expect("summary");
    sheet
        .args(["mdbook", "build", "docs"])
        .run()
        .code(2)
        .stderr_has("chapter broken.md is not a valid runbook")
        .stderr_has("broken.md:3");
}

#[test]
fn a_book_written_inside_the_searched_folder_is_not_read_back_as_runbooks() {
    let sheet = Sheet::new();
    sheet.copy_fixture("book-browser/runbooks");
    let dir = sheet.dir().to_path_buf();
    sheet
        .args(["book", ".", "--src-only", "-o", "site"])
        .run()
        .code(0);
    Sheet::new()
        .current_dir(&dir)
        .args(["book", ".", "--src-only", "-o", "site"])
        .run()
        .code(0)
        .stdout_has("wrote the mdBook source of 2 runbooks");
}

#[test]
fn crlf_and_a_missing_final_newline_keep_the_chapter_well_formed() {
    let sheet = Sheet::new();
    std::fs::write(
        sheet.dir().join("edge.md"),
        "# Edge\r\n\r\n```sh {#a}\r\necho hi\r\n```\r\nTODO: more\r\n\r\n```bash {#b}\r\necho end\r\n```",
    )
    .expect("write");
    let ran = sheet.args(["book", "edge.md", "-o", "site"]).run().code(0);
    let chapter = std::fs::read_to_string(ran.dir.join("site/src/edge.md")).expect("chapter");
    assert!(
        chapter.contains("```sh\r\necho hi\r\n```\r\n\n<div class=\"runsheet-step"),
        "{chapter:?}"
    );
    assert!(
        chapter.contains("TODO: more\r\n\n<div class=\"runsheet-missing\""),
        "{chapter:?}"
    );
    assert!(
        chapter.contains("```bash\r\necho end\r\n```\n\n<div class=\"runsheet-step"),
        "{chapter:?}"
    );
    assert!(ran.dir.join("site/book/edge.html").exists());
}

#[test]
fn book_reads_records_from_the_state_dir_it_is_given() {
    let sheet = Sheet::new();
    let dir = sheet.copy_fixture("book-browser/runbooks");
    record_run(
        &sheet.dir().join("records"),
        &dir.join("release.md"),
        &[("release-1", StepStatus::Passed, b"released v1.2.3\n")],
    );
    let ran = sheet
        .args([
            "--state-dir",
            "records",
            "book",
            "runbooks/release.md",
            "--src-only",
        ])
        .run()
        .code(0);
    let chapter = std::fs::read_to_string(ran.dir.join("runsheet-book/src/runbooks/release.md"))
        .expect("chapter");
    assert!(chapter.contains("released v1.2.3"), "{chapter}");
}
