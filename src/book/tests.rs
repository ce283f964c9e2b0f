//! Golden tests of the generated mdBook source, from a fixture runbook and a
//! hand-made run record. The runbook model is built here by a deliberately
//! small line scanner so these tests depend on nothing but the book itself.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::model::{FrontMatter, Runbook, Section, Step, StepKind, Todo};
use crate::record::{CheckRecord, RunRecord, RunStatus, StepRecord, StepStatus, SCHEMA_VERSION};
use crate::source::Span;

use super::*;

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// Same contract as the integration tests' `assert_golden`: `RUNSHEET_BLESS=1`
/// rewrites the file.
#[track_caller]
fn assert_golden(path: &Path, actual: &str) {
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

/// Lines with their byte offsets.
fn lines(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        out.push((pos, line));
        pos += line.len();
    }
    out
}

/// The container prefix of a line in the fixture: `> `, `- ` or indentation.
fn strip_container(line: &str) -> (usize, &str) {
    let trimmed = line
        .trim_start_matches("> ")
        .trim_start_matches("- ")
        .trim_start();
    (line.len() - trimmed.len(), trimmed)
}

/// A small scanner for the fixtures: headings, fences, TODO paragraphs and
/// table cells. Spans follow the parser's contract (a step's span is the whole
/// fenced block; a TODO's span its paragraph or cell).
fn scan(path: &str, text: &str) -> Runbook {
    let mut sections: Vec<Section> = Vec::new();
    let mut steps: Vec<Step> = Vec::new();
    let mut todos = Vec::new();
    let mut blocks = Vec::new();
    let all = lines(text);
    let mut i = 0;
    let mut per_section: BTreeMap<String, usize> = BTreeMap::new();
    let mut in_front = text.starts_with("---\n");
    while i < all.len() {
        let (off, line) = all[i];
        let lineno = i + 1;
        if in_front {
            if i > 0 && line.trim_end() == "---" {
                in_front = false;
            }
            i += 1;
            continue;
        }
        let (skip, body) = strip_container(line);
        let section = sections.last().map(|s| s.id.clone());
        if let Some(rest) = line.strip_prefix('#') {
            let level = 1 + rest.chars().take_while(|&c| c == '#').count();
            let title = rest.trim_start_matches('#').trim().to_string();
            let id = title
                .to_lowercase()
                .replace(' ', "-")
                .replace(|c: char| !c.is_alphanumeric() && c != '-', "");
            if title.starts_with("TODO") {
                todos.push(Todo {
                    section: Some(id.clone()),
                    line: lineno,
                    text: title.clone(),
                    span: Span::new(off, off + line.len()),
                });
            }
            sections.push(Section {
                id,
                title,
                level: level as u8,
                line: lineno,
                parent: None,
                span: Span::new(off, off + line.len()),
            });
        } else if body.starts_with("```") {
            let info = body.trim_start_matches('`').trim_end().to_string();
            let lang: String = info
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '{')
                .collect();
            let mut j = i + 1;
            let mut code = String::new();
            while !strip_container(all[j].1).1.starts_with("```") {
                code.push_str(&all[j].1[skip.min(all[j].1.len())..]);
                j += 1;
            }
            let (end_off, end_line) = all[j];
            let span = Span::new(off + skip, end_off + end_line.len());
            blocks.push(crate::model::Block {
                line: lineno,
                info: info.clone(),
                lang: lang.clone(),
                code: code.clone(),
                role: if lang == "output" {
                    crate::model::BlockRole::Output
                } else {
                    crate::model::BlockRole::Other
                },
                span,
            });
            if ["sh", "bash", "console"].contains(&lang.as_str()) {
                let sec = section.clone().unwrap_or_default();
                let n = per_section.entry(sec.clone()).or_default();
                *n += 1;
                let id = info
                    .split(['{', '}', ' '])
                    .find_map(|w| w.strip_prefix('#'))
                    .map_or(format!("{sec}-{n}"), str::to_string);
                if code.trim().is_empty() {
                    todos.push(Todo {
                        section: section.clone(),
                        line: lineno,
                        text: "empty step".into(),
                        span,
                    });
                }
                steps.push(Step {
                    hash: format!("hash-{id}"),
                    id,
                    section: section.clone(),
                    line: lineno,
                    lang: lang.clone(),
                    code,
                    attrs: Default::default(),
                    kind: StepKind::Shell { program: lang },
                    options: Default::default(),
                    checks: Vec::new(),
                    span,
                });
            }
            i = j + 1;
            continue;
        } else if body.starts_with("**TODO") || body.starts_with("TODO") {
            let mut j = i;
            while j < all.len() && !all[j].1.trim().is_empty() {
                j += 1;
            }
            let end = all.get(j).map_or(text.len(), |l| l.0);
            todos.push(Todo {
                section,
                line: lineno,
                text: body.trim().to_string(),
                span: Span::new(off + skip, end),
            });
        } else if line.starts_with('|') {
            let mut cell_start = off;
            for cell in line.trim_end().split('|') {
                if cell.trim().starts_with("TODO") {
                    todos.push(Todo {
                        section: section.clone(),
                        line: lineno,
                        text: cell.trim().to_string(),
                        span: Span::new(cell_start, cell_start + cell.len()),
                    });
                }
                cell_start += cell.len() + 1;
            }
        }
        i += 1;
    }
    Runbook {
        path: PathBuf::from(path),
        title: sections
            .first()
            .map_or("untitled".into(), |s| s.title.clone()),
        front: FrontMatter {
            redact: vec!["DEPLOY_KEY".into()],
            ..FrontMatter::default()
        },
        sections,
        steps,
        todos,
        blocks,
        hash: "runbook-hash".into(),
    }
}

fn step(id: &str, status: StepStatus, ms: u64) -> StepRecord {
    StepRecord {
        id: id.into(),
        line: 1,
        section: None,
        command_hash: format!("hash-{id}"),
        status,
        exit_code: matches!(status, StepStatus::Passed).then_some(0),
        duration_ms: ms,
        started: (!matches!(
            status,
            StepStatus::NotRun | StepStatus::Skipped | StepStatus::Manual
        ))
        .then(|| "2026-11-25T09:20:05Z".to_string()),
        reason: None,
        checks: Vec::new(),
        log: None,
        carried_from: None,
        attempts: 1,
        ..StepRecord::default()
    }
}

const SECRET: &str = "s3cr3t-deploy-key";
const TOKEN: &str = "ghp_0123456789";

fn env() -> Vec<(String, String)> {
    vec![
        ("DEPLOY_KEY".into(), SECRET.into()),
        ("GITHUB_TOKEN".into(), TOKEN.into()),
        ("HOME".into(), "/home/ci".into()),
    ]
}

/// A failed run of the fixture: every status, a long output, a diff, ANSI
/// colours, markup and a secret in the output.
fn recorded() -> Recorded {
    let mut logs = BTreeMap::new();
    let mut with_log = |mut s: StepRecord, name: &str, bytes: Vec<u8>| {
        s.log = Some(name.to_string());
        logs.insert(name.to_string(), Log::new(bytes));
        s
    };
    let long: String = (1..=100)
        .map(|n| format!("test case_{n} ... ok\n"))
        .collect();
    let mut smoke = step("smoke", StepStatus::Failed, 2350);
    smoke.exit_code = Some(7);
    smoke.reason = Some("exit status 7, expected 0".into());
    smoke.checks = vec![CheckRecord {
        kind: "output".into(),
        line: 30,
        passed: false,
        message: "output differs".into(),
        diff: Some("--- expected\n+++ actual\n@@ -1 +1 @@\n-{\"ok\":true}\n+<html>502 Bad Gateway</html>\n".into()),
        actual: None,
    }];
    let smoke_log = format!(
        "\x1b[1mconnecting\x1b[0m to {TOKEN}@web-1 with {SECRET}\n10%\r55%\r100%\n<script>document.title='pwned'</script>\r\n\x1b[31mcurl: (7) Failed to connect\x1b[0m\n"
    );
    let mut agent = step("agent", StepStatus::TimedOut, 300_000);
    agent.reason = Some("timed out after 5m".into());
    let mut changed = step("changed", StepStatus::Passed, 10);
    changed.command_hash = "hash-of-the-old-text".into();
    let mut later = step("later", StepStatus::NotRun, 0);
    later.reason = Some("an earlier step failed".into());
    let mut skipped = step("quoted", StepStatus::Skipped, 0);
    skipped.reason = Some("marked skip".into());
    let steps = vec![
        with_log(
            StepRecord {
                checks: vec![CheckRecord {
                    kind: "output".into(),
                    line: 17,
                    passed: true,
                    message: "output matches".into(),
                    diff: None,
                    actual: None,
                }],
                ..step("build", StepStatus::Passed, 1234)
            },
            "001-build.log",
            b"\x1b[32mbuilt\x1b[0m web <node> & \x1b[1;4mdone\x1b[0m\n".to_vec(),
        ),
        with_log(
            step("unit-tests", StepStatus::Passed, 65_000),
            "002-unit-tests.log",
            long.into_bytes(),
        ),
        with_log(smoke, "003-smoke.log", smoke_log.into_bytes()),
        with_log(
            step("test-3", StepStatus::Passed, 5),
            "004-test-3.log",
            b"hi\n".to_vec(),
        ),
        with_log(agent, "005-agent.log", Vec::new()),
        skipped,
        step("operator", StepStatus::Manual, 0),
        with_log(changed, "008-changed.log", b"old text\n".to_vec()),
        later,
    ];
    Recorded {
        record: RunRecord {
            schema: SCHEMA_VERSION,
            run_id: "20261125T092000Z-1".into(),
            runbook: "runbooks/deploy.md".into(),
            runbook_abs: "/repo/runbooks/deploy.md".into(),
            runbook_hash: "older-runbook-hash".into(),
            title: "Deploy the web node".into(),
            started: "2026-11-25T09:20:00Z".into(),
            finished: Some("2026-11-25T09:26:00Z".into()),
            status: RunStatus::Failed,
            mode: "run".into(),
            steps,
            todos: Vec::new(),
            ..RunRecord::default()
        },
        logs,
        ..Recorded::default()
    }
}

fn golden_runbook() -> (Runbook, String) {
    let text = std::fs::read_to_string(fixture("book-golden/deploy.md")).expect("fixture");
    (scan("runbooks/deploy.md", &text), text)
}

fn entries() -> Vec<Entry> {
    let (runbook, text) = golden_runbook();
    let never = scan(
        "runbooks/never run.md",
        "# Never run\n\n```sh\necho hi\n```\n",
    );
    vec![
        Entry {
            chapter: chapter_path(&runbook.path),
            runbook,
            text,
            recorded: Some(recorded()),
        },
        Entry {
            chapter: chapter_path(&never.path),
            text: "# Never run\n\n```sh\necho hi\n```\n".into(),
            runbook: never,
            recorded: None,
        },
    ]
}

#[test]
fn chapter_matches_golden() {
    let (runbook, text) = golden_runbook();
    let rec = recorded();
    let md = chapter(
        &runbook,
        &text,
        Some(&rec),
        &redactor_for(&runbook, &env()),
        &Options::default(),
    );
    assert_golden(&fixture("book-golden/chapter.golden.md"), &md);
}

#[test]
fn overview_and_summary_match_golden() {
    let e = entries();
    assert_golden(
        &fixture("book-golden/overview.golden.md"),
        &overview(&e, &[]),
    );
    assert_golden(&fixture("book-golden/summary.golden.md"), &summary(&e, &[]));
}

#[test]
fn a_never_run_runbook_gets_its_chapter_marked_so() {
    let e = entries();
    let md = chapter(
        &e[1].runbook,
        &e[1].text,
        None,
        &Redactor::default(),
        &Options::default(),
    );
    assert!(md.contains("has no recorded run"), "{md}");
    assert!(md.contains("never run"), "{md}");
    assert!(!md.contains("<details"), "{md}");
}

#[test]
fn the_chapter_keeps_prose_and_loses_front_matter_and_attributes() {
    let (runbook, text) = golden_runbook();
    let md = chapter(
        &runbook,
        &text,
        None,
        &Redactor::default(),
        &Options::default(),
    );
    assert!(!md.contains("redact: [DEPLOY_KEY]"));
    assert!(!md.contains('{'.to_string().as_str()) || !md.contains("{#build"));
    assert!(md.contains("```bash\nmake build\n```"));
    assert!(md.contains("```output\nbuilt\n```"));
    assert!(md.contains("<!-- check: contains \"built\" -->"));
    assert!(md.contains("  ```bash\n  ./install-agent.sh\n  ```\n\n  <div class=\"runsheet-step"));
    assert!(md.contains("> ```sh\n> rm -rf /\n> ```\n>\n> <div class=\"runsheet-step"));
    assert!(md.contains("Everything a newcomer needs to ship the web node."));
}

#[test]
fn outputs_are_escaped_masked_and_cut() {
    let (runbook, text) = golden_runbook();
    let rec = recorded();
    let md = chapter(
        &runbook,
        &text,
        Some(&rec),
        &redactor_for(&runbook, &env()),
        &Options::default(),
    );
    assert!(!md.contains(SECRET) && !md.contains(TOKEN));
    assert!(!md.contains("<script>"));
    assert!(md.contains("&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;"));
    assert!(!md.contains('\u{1b}'));
    assert!(md.contains("… 60 earlier lines not shown"));
    assert!(md.contains("test case_100 ... ok"));
    assert!(!md.contains("test case_60 ... ok&#10;"));
    assert!(
        !md.contains("old text"),
        "a stale step's old output is not shown"
    );
}

#[test]
fn every_generated_file_is_free_of_the_environment_s_secrets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("book");
    write_source(&out, &entries(), &[], &env(), &Options::default()).expect("write");
    for file in walk(&out) {
        let text = std::fs::read_to_string(&file).expect("read");
        assert!(!text.contains(SECRET), "{} leaks a secret", file.display());
        assert!(!text.contains(TOKEN), "{} leaks a token", file.display());
    }
}

#[test]
fn a_secret_in_a_title_is_masked_before_it_is_escaped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("book");
    let mut e = entries();
    e[1].runbook.title = format!("Uses {SECRET} <now>");
    write_source(&out, &e, &[], &env(), &Options::default()).expect("write");
    let escaped = SECRET.replace('-', "&#45;");
    for file in walk(&out) {
        let text = std::fs::read_to_string(&file).expect("read");
        assert!(!text.contains(SECRET), "{} leaks a secret", file.display());
        assert!(
            !text.contains(&escaped),
            "{} leaks it escaped",
            file.display()
        );
    }
    let summary = std::fs::read_to_string(out.join("src/SUMMARY.md")).expect("summary");
    assert!(
        summary.contains("Uses &#42;&#42;&#42; &#60;now&#62;"),
        "{summary}"
    );
}

#[test]
fn a_foreign_directory_is_never_overwritten() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("precious.txt"), "keep").expect("write");
    let err = write_source(dir.path(), &entries(), &[], &env(), &Options::default()).unwrap_err();
    assert!(
        err.to_string()
            .contains("was not written by `runsheet book`"),
        "{err}"
    );
    assert!(dir.path().join("precious.txt").exists());
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn the_source_builds_to_html_with_mdbook() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("book");
    write_source(&out, &entries(), &[], &env(), &Options::default()).expect("write");
    let index = build_html(&out).expect("mdBook builds the source");
    assert!(index.ends_with("book/index.html"));
    let page =
        std::fs::read_to_string(out.join("book/runbooks/deploy.html")).expect("chapter html");
    assert!(
        page.contains("runsheet-badge-failed"),
        "badge survives mdBook"
    );
    assert!(
        page.contains("&lt;script&gt;"),
        "escaped output survives mdBook"
    );
    assert!(!page.contains("<script>document"), "no live script");
    assert!(page.contains("runsheet"), "{page}");
    if let Some(keep) = std::env::var_os("RUNSHEET_KEEP_BOOK") {
        let _ = std::fs::remove_dir_all(&keep);
        std::fs::rename(&out, &keep).expect("keep the book");
    }
}

#[test]
fn a_long_log_is_read_from_its_end_with_the_lines_before_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("big.log");
    let line = "x".repeat(99) + "\n";
    let count = 2 * LOG_TAIL_BYTES / line.len() + 7;
    std::fs::write(&path, line.repeat(count)).expect("write");
    let log = Log::read(&path).expect("read");
    assert!(log.tail.len() <= LOG_TAIL_BYTES);
    assert!(log.tail.starts_with(b"xxx"));
    let tail_lines = log.tail.iter().filter(|&&b| b == b'\n').count();
    assert_eq!(log.lines_before + tail_lines, count);
    let small = dir.path().join("small.log");
    std::fs::write(&small, "a\nb\n").expect("write");
    assert_eq!(
        Log::read(&small).expect("read"),
        Log::new(b"a\nb\n".to_vec())
    );
}
