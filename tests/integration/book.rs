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
    record_run_edited(state, runbook, results, |_| {})
}

/// [`record_run`], with `edit` applied to the record before it is saved.
fn record_run_edited(
    state: &Path,
    runbook: &Path,
    results: &[StepResult<'_>],
    edit: impl FnOnce(&mut RunRecord),
) -> PathBuf {
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
    edit(&mut record);
    run.save(&record, true).expect("save run");
    run.path
}

/// The fixture's onboarding runbook after a run that failed at `start`, with
/// an output that tries to inject a script and one that leaks a secret.
fn onboarding_run(sheet: &Sheet) -> PathBuf {
    let dir = sheet.copy_fixture("book-browser/runbooks");
    // What the recorded `{{#include}}` would publish if it were expanded
    // (from site/src/runbooks/, ../../../ is the scratch dir).
    std::fs::write(sheet.dir().join("private.yml"), "PRIVATE: do not publish\n")
        .expect("write private.yml");
    let runbook = dir.join("onboarding.md");
    record_run(
        &sheet.dir().join(".runsheet"),
        &runbook,
        &[
            ("tools", StepStatus::Passed, b"git version 2.47.2\n"),
            (
                "clone",
                StepStatus::Passed,
                b"\x1b[32mcloning into service/\x1b[0m\n{{#include ../../../private.yml}}\n",
            ),
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

/// Chromium, when there is one. Without it the browser test is skipped with a
/// line on the terminal, unless `RUNSHEET_REQUIRE_BROWSER=1` (CI) makes a
/// missing browser a failure. `RUNSHEET_SKIP_BROWSER=1` skips it on purpose.
fn chromium() -> Option<PathBuf> {
    let required = std::env::var("RUNSHEET_REQUIRE_BROWSER").as_deref() == Ok("1");
    if !required && std::env::var("RUNSHEET_SKIP_BROWSER").as_deref() == Ok("1") {
        skipped("RUNSHEET_SKIP_BROWSER=1");
        return None;
    }
    let found = std::env::var_os("RUNSHEET_CHROMIUM")
        .map(PathBuf::from)
        .into_iter()
        .chain(
            [
                "chromium",
                "chromium-browser",
                "google-chrome",
                "google-chrome-stable",
            ]
            .iter()
            .flat_map(|name| {
                std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
                    .map(move |dir| dir.join(name))
                    .collect::<Vec<_>>()
            }),
        )
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            !required,
            "RUNSHEET_REQUIRE_BROWSER=1 but no chromium on PATH (apt-get install chromium, \
             or set RUNSHEET_CHROMIUM to the browser's path)"
        );
        skipped("chromium not found");
    }
    found
}

/// A line the test harness does not capture: a skipped browser test must be
/// seen, not pass in silence.
fn skipped(why: &str) {
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "skipped: {why} — the book's browser test did not run (RUNSHEET_REQUIRE_BROWSER=1 makes this a failure)"
    );
}

fn browse(browser: &Path, profile: &Path, page: &Path, extra: &[String]) -> std::process::Output {
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

/// A page that opens the chapter in a frame, reads what a reader would see
/// (the image's decoded width, where the link to the other runbook leads,
/// whether the directive shows as text), follows that link and reports it
/// all as JSON in `<pre id="result">`.
const HARNESS: &str = r#"<!doctype html><meta charset="utf-8"><pre id="result">pending</pre>
<iframe id="f" width="1200" height="1400" src="CHAPTER"></iframe>
<script>
const frame = document.getElementById('f');
const out = document.getElementById('result');
const report = {};
let followed = false;
frame.onload = () => {
  const d = frame.contentDocument;
  if (!d) { out.textContent = '{"error":"no access to the frame"}'; return; }
  if (!followed) {
    const img = d.querySelector('img[alt="Architecture"]');
    report.image = img ? { src: img.getAttribute('src'), complete: img.complete, width: img.naturalWidth } : null;
    const link = [...d.querySelectorAll('a')].find(a => a.textContent === 'cut a release');
    report.link = link ? link.getAttribute('href') : null;
    const text = d.body.innerText;
    report.directive_shown = text.includes('{{#include ../../../private.yml}}');
    report.private_shown = text.includes('PRIVATE');
    report.title = d.title;
    followed = true;
    if (link) { frame.src = link.href; return; }
  } else {
    report.target_title = frame.contentDocument.title;
    report.target_anchor = !!frame.contentDocument.getElementById(frame.contentWindow.location.hash.slice(1));
    report.target_hash = frame.contentWindow.location.hash;
  }
  out.textContent = JSON.stringify(report);
};
</script>"#;

#[test]
fn the_book_renders_in_a_real_browser_without_running_recorded_scripts() {
    let Some(browser) = chromium() else { return };
    let sheet = Sheet::new();
    onboarding_run(&sheet);
    let ran = sheet.args(["book", "-o", "site"]).run().code(0);
    let page = ran.dir.join("site/book/runbooks/onboarding.html");
    let profile = tempfile::tempdir().expect("profile dir");
    let out = browse(&browser, profile.path(), &page, &["--dump-dom".into()]);
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

    // What a reader sees: the copied image loads, the link leads to the
    // release chapter's heading, the recorded directive is text.
    let harness = ran.dir.join("harness.html");
    std::fs::write(
        &harness,
        HARNESS.replace("CHAPTER", "site/book/runbooks/onboarding.html"),
    )
    .expect("harness");
    let out = browse(
        &browser,
        profile.path(),
        &harness,
        &[
            "--allow-file-access-from-files".into(),
            "--virtual-time-budget=10000".into(),
            "--dump-dom".into(),
        ],
    );
    let dom = String::from_utf8_lossy(&out.stdout);
    let json = dom
        .split_once("<pre id=\"result\">")
        .and_then(|(_, rest)| rest.split_once("</pre>"))
        .map(|(json, _)| {
            json.replace("&amp;", "&")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
        })
        .unwrap_or_else(|| panic!("no result in the harness page:\n{dom}"));
    let seen: serde_json::Value =
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    assert_eq!(seen["image"]["src"], "img/arch.png", "{seen}");
    assert!(
        seen["image"]["width"].as_u64() > Some(0),
        "the copied image loads: {seen}"
    );
    assert_eq!(seen["link"], "release.html#release", "{seen}");
    assert_eq!(seen["target_hash"], "#release", "{seen}");
    assert_eq!(seen["target_anchor"], true, "the anchor exists: {seen}");
    assert!(
        seen["target_title"]
            .as_str()
            .is_some_and(|t| t.starts_with("Release")),
        "{seen}"
    );
    assert_eq!(seen["directive_shown"], true, "{seen}");
    assert_eq!(seen["private_shown"], false, "{seen}");
    assert!(
        seen["title"]
            .as_str()
            .is_some_and(|t| t.starts_with("Onboarding")),
        "{seen}"
    );

    let shot = ran.dir.join("onboarding.png");
    let out = browse(
        &browser,
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
        chapter.contains("TODO: more\r\n\n<div class=\"runsheet-missing "),
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

// --- hostile input: directives, names, titles, sizes -----------------------

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|f| String::from_utf8_lossy(&std::fs::read(f).expect("read")).contains(needle))
        .collect()
}

const PRIVATE: &str = "PRIVATE-7f3a-never-published";

#[test]
fn a_directive_a_step_printed_is_shown_as_text_and_never_expanded() {
    let sheet = Sheet::new();
    let dir = sheet.dir().to_path_buf();
    std::fs::write(dir.join("private.yml"), format!("key: {PRIVATE}\n")).expect("write");
    std::fs::write(
        dir.join("inject.md"),
        "# Inject\n\n\
         The runbook's own text, as on GitHub: {{#include ../../private.yml}}\n\n\
         ```sh {#leak}\n\
         echo \"{{#include $PWD/private.yml}}\"\n\
         echo '{{#include ../../private.yml}}'\n\
         echo '{{#title Pwned}} {{#playground ../../private.yml}} {{ #rustdoc_include ../../private.yml }}'\n\
         echo '\\{{#include ../../private.yml}} {% include x %} $x$ <!-- cmdrun cat private.yml -->'\n\
         ```\n\n\
         ```output\n\
         nothing like this\n\
         ```\n",
    )
    .expect("write");
    sheet.args(["run", "inject.md"]).run().code(1);
    let ran = Sheet::new()
        .current_dir(&dir)
        .args(["book", "inject.md", "-o", "site"])
        .run()
        .code(0);
    assert_eq!(
        files_containing(&dir.join("site"), PRIVATE),
        Vec::<PathBuf>::new()
    );
    let page = std::fs::read_to_string(dir.join("site/book/inject.html")).expect("page");
    assert!(!page.contains("Pwned</title>"), "the title changed");
    // The recorded output (log and failed diff) shows each directive as text.
    let text = page.replace("&#123;", "{").replace("&#125;", "}");
    assert!(
        text.matches("{{#include ../../private.yml}}").count() >= 4,
        "output and diff keep the directive as text: {}",
        ran.stderr
    );
    assert!(text.contains("{{#title Pwned}}"), "{page}");
}

#[test]
fn the_preprocessor_s_output_stays_text_wherever_it_runs_in_the_order() {
    for order in ["", "before = [\"links\"]\n", "after = [\"links\"]\n"] {
        let sheet = Sheet::new();
        let root = team_book(&sheet, order);
        std::fs::write(sheet.dir().join("private.yml"), PRIVATE).expect("write");
        let include = format!("{{{{#include {}/private.yml}}}}", sheet.dir().display());
        record_run(
            &sheet.dir().join(".runsheet"),
            &root.join("src/onboarding.md"),
            &[
                ("tools", StepStatus::Passed, include.as_bytes()),
                ("clone", StepStatus::Failed, b"{{#title Pwned}}\n"),
            ],
        );
        sheet.args(["mdbook", "build", "docs"]).run().code(0);
        let page = std::fs::read_to_string(root.join("book/onboarding.html")).expect("page");
        assert!(!page.contains(PRIVATE), "{order}: the include was expanded");
        assert!(
            !page.contains("Pwned</title>"),
            "{order}: the title changed"
        );
        assert!(page.contains("#include"), "{order}: the directive is shown");
    }
}

/// Names and titles that broke the book or emptied a chapter.
const ODD_NAMES: &[&str] = &[
    "a<b.md",
    "a\\b.md",
    "a%20b.md",
    "a-b.md",
    "A-B.md",
    "ünï cödé 日本.md",
    "with space.md",
    "{{#include x}}.md",
    "SUMMARY.md",
    "overview.md",
    "index.md",
    "toc.md",
];

#[test]
fn any_file_name_and_title_gets_its_own_chapter() {
    let sheet = Sheet::new();
    let dir = sheet.dir().join("runbooks");
    std::fs::create_dir_all(dir.join("sub")).expect("mkdir");
    let long = format!("{}.md", "x".repeat(251));
    let mut names: Vec<String> = ODD_NAMES.iter().map(|s| s.to_string()).collect();
    names.push(long);
    names.push("sub/index.md".into());
    names.push("sub/README.md".into());
    names.push("sub/SUMMARY.md".into());
    let titles = [
        "Evil\\n- [evil](y)",
        "Closes ](x) early",
        "<img src=x onerror=alert(1)>",
        "{{#title Pwned}}",
        "",
    ];
    for (i, name) in names.iter().enumerate() {
        let title = titles.get(i).copied().unwrap_or("Plain");
        std::fs::write(
            dir.join(name),
            format!(
                "---\ntitle: \"{title}\"\n---\nIntro.\n\n```sh\necho marker-{i}-of-book\n```\n"
            ),
        )
        .expect("write runbook");
    }
    let hidden = dir.join(".hidden.md");
    std::fs::write(
        &hidden,
        "# Hidden\n\n```sh\necho marker-hidden-of-book\n```\n",
    )
    .expect("write");
    let state = sheet.dir().join(".runsheet");
    let mut files: Vec<PathBuf> = names.iter().map(|n| dir.join(n)).collect();
    files.push(hidden);
    for file in &files {
        let parsed = runsheet::parse::load(file).expect("parses");
        let id = parsed.steps[0].id.clone();
        let marker = std::fs::read_to_string(file).expect("read");
        let marker = marker
            .lines()
            .find_map(|l| l.strip_prefix("echo "))
            .expect("marker")
            .to_string();
        record_run(
            &state,
            file,
            &[(
                id.as_str(),
                StepStatus::Passed,
                format!("{marker}\n").as_bytes(),
            )],
        );
    }
    let ran = sheet
        .args(["book", "runbooks", "runbooks/.hidden.md", "-o", "site"])
        .run()
        .code(0);
    let site = ran.dir.join("site");
    let summary = std::fs::read_to_string(site.join("src/SUMMARY.md")).expect("summary");
    assert_eq!(
        summary.lines().filter(|l| l.starts_with("- [")).count(),
        files.len(),
        "one entry per runbook, no more:\n{summary}"
    );
    let book = mdbook_driver::MDBook::load(&site).expect("load the written book");
    let chapters = book
        .book
        .iter()
        .filter(|i| matches!(i, mdbook_driver::book::BookItem::Chapter(_)))
        .count();
    assert_eq!(chapters, files.len() + 1, "every runbook and the overview");
    let html = site.join("book");
    for (i, name) in names.iter().enumerate() {
        let marker = format!("marker-{i}-of-book");
        let pages: Vec<_> = files_containing(&html, &marker)
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "html"))
            .filter(|p| !p.ends_with("print.html"))
            .filter(|p| p.parent() != Some(html.as_path()) || !p.ends_with("index.html"))
            .collect();
        assert_eq!(pages.len(), 1, "{name:?}: {marker} on {pages:?}");
    }
    assert!(!files_containing(&html, "marker-hidden-of-book").is_empty());
    let overview = std::fs::read_to_string(html.join("overview.html")).expect("overview page");
    assert!(overview.contains("Runbooks"), "{overview}");
    assert!(html.join("index.html").exists());
    for file in files_under(&html) {
        let text = String::from_utf8_lossy(&std::fs::read(&file).expect("read")).into_owned();
        assert!(
            !text.contains("<img src=x"),
            "{} has a live tag",
            file.display()
        );
        assert!(
            !text.contains("Pwned</title>"),
            "{} took a title",
            file.display()
        );
    }
}

#[test]
fn a_huge_failed_diff_makes_a_small_page() {
    let sheet = Sheet::new();
    let runbook = sheet.dir().join("huge.md");
    std::fs::write(
        &runbook,
        "# Huge\n\n```sh {#count}\nseq 1 200000\n```\n\n```output\n1\n```\n",
    )
    .expect("write");
    let mut diff = String::from("--- expected\n+++ actual\n@@ -1 +1,200000 @@\n 1\n");
    for n in 2..=200_000 {
        diff.push_str(&format!(
            "+{n} and some more text on each line of this output\n"
        ));
    }
    record_run_edited(
        &sheet.dir().join(".runsheet"),
        &runbook,
        &[("count", StepStatus::Failed, b"199999\n200000\n")],
        |record| {
            record.steps[0].checks = vec![runsheet::record::CheckRecord {
                kind: "output".into(),
                line: 7,
                passed: false,
                message: "output differs from the expected block".into(),
                diff: Some(diff),
                actual: None,
            }];
        },
    );
    let ran = sheet.args(["book", "huge.md", "-o", "site"]).run().code(0);
    let page = ran.dir.join("site/book/huge.html");
    let size = std::fs::metadata(&page).expect("page").len();
    assert!(size < 200_000, "the page is {size} bytes");
    let html = std::fs::read_to_string(&page).expect("page");
    assert!(
        html.contains("199903 more lines of the diff not shown"),
        "{html}"
    );
    assert!(
        html.contains("+200000 and some more text"),
        "the last lines are shown"
    );
    assert!(
        html.contains("+2 and some more text"),
        "the first lines are shown"
    );
}

#[test]
fn the_book_carries_linked_files_and_links_chapters() {
    const TOKEN: &str = "registry.example.com";
    let sheet = Sheet::new();
    sheet.copy_fixture("book-links/docs");
    sheet.copy_fixture("book-links/secrets");
    let ran = sheet
        .env("REGISTRY_TOKEN", TOKEN)
        .args(["book", "docs", "-o", "site"])
        .run()
        .code(0)
        .stderr_has(
            "warning: docs/ops/deploy.md:17: broken link `img/missing.png`: there is no docs/ops/img/missing.png",
        )
        .stderr_has("warning: docs/ops/deploy.md:17: `../../secrets/x.pem` is outside the folders given to `runsheet book` (docs)")
        .stderr_has("warning: docs/ops/deploy.md:17: `notes` is a folder")
        .stderr_has("warning: docs/ops/deploy.md:18: `#nowhere` is not a section of docs/db/restore.md");
    assert_eq!(ran.stderr.lines().count(), 4, "{}", ran.stderr);
    let site = ran.dir.join("site");
    let png = std::fs::read(fixture("book-links/docs/ops/img/arch.png")).expect("png");
    assert_eq!(
        std::fs::read(site.join("src/docs/ops/img/arch.png")).expect("copied"),
        png
    );
    assert_eq!(
        std::fs::read(site.join("book/docs/ops/img/arch.png")).expect("in the HTML"),
        png
    );
    assert!(site.join("src/docs/ops/img/arch-diagram.png").exists());
    let yaml = std::fs::read_to_string(site.join("src/docs/ops/files/app.yaml")).expect("yaml");
    assert_eq!(
        yaml, "image: ***/web:1.4.2\nreplicas: 3\n",
        "secrets masked in copies"
    );
    assert_eq!(files_containing(&site, "NOT-FOR-THE-BOOK").len(), 0);
    let chapter = std::fs::read_to_string(site.join("src/docs/ops/deploy.md")).expect("chapter");
    assert!(
        chapter.contains("![diagram](img/arch.png)"),
        "a working link is left as written"
    );
    assert!(
        chapter.contains("[diagram with a space](<img/arch-diagram.png>)"),
        "{chapter}"
    );
    assert!(
        chapter.contains("[first steps](../db/first-steps.md)"),
        "{chapter}"
    );
    let page = std::fs::read_to_string(site.join("book/docs/ops/deploy.html")).expect("page");
    for want in [
        "href=\"../db/restore.html#verify\"",
        "href=\"../db/first-steps.html\"",
        "href=\"files/app.yaml\"",
        "src=\"img/arch.png\"",
        "href=\"https://example.com/x.png\"",
    ] {
        assert!(page.contains(want), "{want} in {page}");
    }
    assert!(
        page.contains("href=\"../db/restore.html#nowhere\""),
        "a bad anchor still leads to the chapter"
    );
    let back = std::fs::read_to_string(site.join("book/docs/db/restore.html")).expect("page");
    assert!(
        back.contains("href=\"../ops/deploy.html#deploy\""),
        "{back}"
    );
}

#[test]
fn the_book_labels_recorded_and_expected_output_and_counts_stale_steps() {
    let sheet = Sheet::new();
    let runbook = sheet.dir().join("labels.md");
    std::fs::write(
        &runbook,
        "# Labels\n\n```sh {#greet}\necho hello\n```\n\n```output\nhello\n```\n\n\
         ```sh {#changed}\necho changed since\n```\n",
    )
    .expect("write");
    record_run_edited(
        &sheet.dir().join(".runsheet"),
        &runbook,
        &[
            ("greet", StepStatus::Failed, b"hello\n"),
            ("changed", StepStatus::Passed, b"old\n"),
        ],
        |record| {
            record.steps[0].reason = Some("`confirm` step with no terminal: pass `--yes`".into());
            record.steps[1].command_hash = "the text before an edit".into();
        },
    );
    let ran = sheet
        .args(["book", "labels.md", "--src-only", "-o", "site"])
        .run()
        .code(0);
    let chapter = std::fs::read_to_string(ran.dir.join("site/src/labels.md")).expect("chapter");
    assert!(
        chapter.contains("<summary>Output of the last run · 1 line</summary>"),
        "{chapter}"
    );
    let label = chapter
        .find("Expected output (from the runbook)")
        .expect("label");
    assert!(
        label < chapter.find("```output").expect("block"),
        "{chapter}"
    );
    assert!(label > chapter.find("Output of the last run").expect("panel"));
    assert!(
        chapter.contains("<code>confirm</code> step with no terminal: pass <code>--yes</code>"),
        "{chapter}"
    );
    assert!(
        chapter.contains("0 passed · 1 failed · 1 stale"),
        "{chapter}"
    );
    let overview = std::fs::read_to_string(ran.dir.join("site/src/overview.md")).expect("overview");
    assert!(overview.contains("1 stale"), "{overview}");
    assert!(
        !overview.contains("not run"),
        "a stale step is not counted as not run: {overview}"
    );
}

#[cfg(unix)]
#[test]
fn a_symlink_out_of_the_tree_is_not_followed_into_the_book() {
    let sheet = Sheet::new();
    let docs = sheet.dir().join("docs");
    std::fs::create_dir_all(&docs).expect("mkdir");
    std::fs::write(sheet.dir().join("outside.txt"), PRIVATE).expect("write");
    std::os::unix::fs::symlink(sheet.dir().join("outside.txt"), docs.join("notes.txt"))
        .expect("symlink");
    std::os::unix::fs::symlink(sheet.dir(), docs.join("up")).expect("symlink");
    std::fs::write(
        docs.join("r.md"),
        "# R\n\n[notes](notes.txt) and [up](up/outside.txt)\n\n```sh\necho r\n```\n",
    )
    .expect("write");
    let ran = sheet
        .args(["book", "docs", "-o", "site"])
        .run()
        .code(0)
        .stderr_has("warning: docs/r.md:3: `notes.txt` is outside the folders given")
        .stderr_has("warning: docs/r.md:3: `up/outside.txt` is outside the folders given");
    assert_eq!(
        files_containing(&ran.dir.join("site"), PRIVATE),
        Vec::<PathBuf>::new()
    );
}

/// mdBook's renderer is patched for large books (vendor/mdbook-html): the
/// chapter list is no longer copied per page and repeated heading ids get
/// their suffix without a search from 1. What a reader gets must not change:
/// unique, predictable ids on the print page and every chapter in the sidebar.
#[test]
fn a_book_of_runbooks_with_the_same_headings_keeps_ids_unique_and_every_chapter_listed() {
    let sheet = Sheet::new();
    let dir = sheet.dir().join("runbooks");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(
        dir.join("a.md"),
        "# A\n\n## Stage 1\n\n## Stage 1-1\n\n```bash\ntrue\n```\n",
    )
    .expect("write");
    for name in ["b", "c", "d"] {
        std::fs::write(
            dir.join(format!("{name}.md")),
            format!(
                "# {}\n\n## Stage 1\n\n```bash\ntrue\n```\n",
                name.to_uppercase()
            ),
        )
        .expect("write");
    }
    let ran = sheet.args(["book", "runbooks", "-o", "site"]).run().code(0);
    let print = std::fs::read_to_string(ran.dir.join("site/book/print.html")).expect("print page");
    let ids: Vec<&str> = print
        .split("<h2 id=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap_or(""))
        .collect();
    assert_eq!(
        ids,
        [
            "stage-1",
            "stage-1-1",
            "stage-1-2",
            "stage-1-3",
            "stage-1-4"
        ],
        "{print}"
    );
    let toc = std::fs::read_dir(ran.dir.join("site/book"))
        .expect("book dir")
        .map(|e| e.expect("entry").path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("toc-"))
        })
        .expect("toc.js");
    let toc = std::fs::read_to_string(toc).expect("toc.js");
    for page in [
        "runbooks/a.html",
        "runbooks/b.html",
        "runbooks/c.html",
        "runbooks/d.html",
    ] {
        assert!(toc.contains(page), "{page} not in the sidebar: {toc}");
    }
    let chapter = std::fs::read_to_string(ran.dir.join("site/book/runbooks/c.html")).expect("c");
    assert!(
        chapter.contains("toc-"),
        "the page loads the sidebar script"
    );
}
