//! `runsheet check` end to end: drift, exit codes, modes that never run,
//! parallel runbooks, the machine reports and `--update`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::sheet::{assert_golden, fixture, Ran, Sheet};

/// Copies a fixture into a fresh scratch dir and runs `runsheet` there.
fn check_in(fixture_name: &str, args: &[&str]) -> (Ran, PathBuf) {
    let sheet = Sheet::new();
    let root = sheet.copy_fixture(fixture_name);
    let ran = sheet.current_dir(&root).args(args).run();
    (ran, root)
}

#[test]
fn drift_fails_with_the_diff_and_the_place() {
    let (ran, _) = check_in("check-drift", &["check"]);
    ran.code(1)
        .stdout_has("Drift\n")
        .stdout_has("✗ runbooks/deploy.md:5 step `build-1` in `build`")
        .stdout_has("  runbooks/deploy.md:13 output differs from the expected block\n")
        .stdout_has("    --- expected\n    +++ actual\n")
        .stdout_has("    -version: 1.0\n    +version: 2.0\n")
        // The wildcard lines matched, so they are context, not changes.
        .stdout_has("     Building [..]\n")
        .stdout_lacks("+Building app")
        .stdout_has("check failed: 1 of 1 runbook with failures");
}

#[test]
fn every_kind_of_check_passes_and_gitignored_files_are_skipped() {
    // `runbooks/drafts/broken.md` is invalid but ignored by `runbooks/.gitignore`.
    let (ran, _) = check_in("check-pass", &["check"]);
    let ran = ran
        .code(0)
        .stdout_has("check runbooks/second.md")
        .stdout_has("check runbooks/tour.md")
        .stdout_lacks("broken")
        .stdout_has("check passed: 2 runbooks");
    let table = summary_rows(&ran.stdout);
    assert_eq!(
        table["runbooks/tour.md"],
        ["4", "0", "0", "0"],
        "{}",
        ran.stdout
    );
    assert_eq!(table["runbooks/second.md"], ["1", "0", "0", "0"]);
    assert_eq!(table["total"], ["5", "0", "0", "0"]);
}

/// `runbook → [passed, failed, not run, TODOs]` from the summary table.
fn summary_rows(stdout: &str) -> BTreeMap<String, Vec<String>> {
    let start = stdout.find("runbook ").expect("a summary table");
    stdout[start..]
        .lines()
        .skip(1)
        .take_while(|l| !l.starts_with("check "))
        .map(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            (
                cells[0].to_string(),
                cells[1..5].iter().map(|c| c.to_string()).collect(),
            )
        })
        .collect()
}

#[test]
fn todos_warn_and_fail_only_under_strict() {
    let (ran, _) = check_in("check-todo", &["check"]);
    ran.code(0)
        .stdout_has("Missing steps\n")
        .stdout_has("TODO runbooks/todo.md:7 (section `setup`): Add a curl smoke test.")
        .stdout_has("check passed: 1 runbook, 1 TODO");
    let (ran, _) = check_in("check-todo", &["check", "--strict"]);
    ran.code(3)
        .stdout_has("but 1 TODO stands in the way (--strict)");
}

#[test]
fn manual_interactive_and_confirm_steps_never_run() {
    let (ran, root) = check_in("check-modes", &["check", "--skip-tag", "slow"]);
    let ran = ran.code(0).stdout_has("✓ modes-1").stdout_has("✓ modes-7");
    for marker in [
        "manual-ran",
        "interactive-ran",
        "confirm-ran",
        "skip-ran",
        "slow-ran",
    ] {
        assert!(
            !root.join(marker).exists(),
            "{marker} exists\n{}",
            ran.stdout
        );
    }
    assert_eq!(
        summary_rows(&ran.stdout)["runbooks/modes.md"],
        ["2", "0", "4", "0"]
    );

    let (ran, root) = check_in("check-modes", &["check", "--yes", "--tag", "slow"]);
    ran.code(0);
    assert!(root.join("slow-ran").exists());
    assert!(
        !root.join("confirm-ran").exists(),
        "--tag slow selects only the slow step"
    );
    let (ran, root) = check_in("check-modes", &["check", "--yes"]);
    ran.code(0);
    assert!(
        root.join("confirm-ran").exists(),
        "--yes runs confirm steps"
    );
    assert!(!root.join("manual-ran").exists());
}

#[test]
fn jobs_run_runbooks_at_once_without_interleaving_their_lines() {
    // a-waits.md passes only if b-signals.md runs while it waits.
    let (ran, _) = check_in("check-jobs", &["check", "--jobs", "2"]);
    let ran = ran.code(0);
    for name in ["a-waits", "b-signals"] {
        let block: Vec<&str> = ran
            .stdout
            .lines()
            .skip_while(|l| !l.starts_with(&format!("check runbooks/{name}.md")))
            .take(2)
            .collect();
        assert_eq!(block.len(), 2, "{}", ran.stdout);
        assert!(block[1].starts_with("  ✓ "), "{name}: {}", ran.stdout);
    }
    let (ran, _) = check_in("check-jobs", &["check", "--jobs", "1"]);
    ran.code(1).stdout_has("b never started");
}

#[test]
fn an_invalid_runbook_stops_the_whole_check() {
    let (ran, root) = check_in("check-invalid", &["check"]);
    ran.code(2)
        .stderr_has("runbooks/bad.md")
        .stderr_has("error: 1 runbook is not valid; nothing was run");
    assert!(!root.join("good-ran").exists());
}

#[test]
fn usage_errors() {
    Sheet::new()
        .arg("check")
        .run()
        .code(2)
        .stderr_has("no runbooks to check: give a path, or create `runbooks/`");
    Sheet::new()
        .args(["check", "nowhere.md"])
        .run()
        .code(2)
        .stderr_has("nowhere.md: no such file or directory");
    let sheet = Sheet::new();
    std::fs::create_dir(sheet.dir().join("empty")).unwrap();
    sheet
        .args(["check", "empty"])
        .run()
        .code(2)
        .stderr_has("no runbooks (*.md) in empty");
    Sheet::new()
        .args(["check", "--jobs", "0", "x.md"])
        .run()
        .code(2)
        .stderr_has("--jobs must be at least 1");
    Sheet::new()
        .args(["check", "--timeout", "soon", "x.md"])
        .run()
        .code(2)
        .stderr_has("--timeout \"soon\" is not a duration");
}

#[test]
fn junit_report_reads_back_with_files_lines_and_failures() {
    let sheet = Sheet::new();
    let root = sheet.copy_fixture("check-drift");
    let todo = fixture("check-todo/runbooks/todo.md");
    sheet
        .current_dir(&root)
        .args(["check", "runbooks"])
        .arg(&todo)
        .args(["--junit", "out/junit.xml"])
        .run()
        .code(1);
    let xml = std::fs::read_to_string(root.join("out/junit.xml")).expect("junit written");
    let doc = read_xml(&xml);
    let suites: Vec<&Element> = doc.iter().filter(|e| e.name == "testsuite").collect();
    assert_eq!(suites.len(), 2, "{xml}");
    assert_eq!(suites[0].attrs["name"], "runbooks/deploy.md");
    assert_eq!(suites[0].attrs["failures"], "1");
    let cases: Vec<&Element> = doc.iter().filter(|e| e.name == "testcase").collect();
    let build = cases.iter().find(|c| c.attrs["name"] == "build-1").unwrap();
    assert_eq!(build.attrs["file"], "runbooks/deploy.md");
    assert_eq!(build.attrs["line"], "5");
    let failure = doc.iter().find(|e| e.name == "failure").expect("a failure");
    assert!(
        failure.text.contains("-version: 1.0\n+version: 2.0"),
        "{xml}"
    );
    assert!(failure.attrs["message"].contains("output differs"));
    let todo_case = cases
        .iter()
        .find(|c| c.attrs["name"].starts_with("TODO"))
        .unwrap();
    assert_eq!(todo_case.attrs["line"], "7");
    assert!(doc.iter().any(|e| e.name == "skipped"));
}

/// An element of a parsed XML document, flattened in document order.
struct Element {
    name: String,
    attrs: BTreeMap<String, String>,
    text: String,
}

fn read_xml(xml: &str) -> Vec<Element> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut out: Vec<Element> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) => {
                out.push(element(&e, reader.decoder()));
                open.push(out.len() - 1);
            }
            Event::Empty(e) => out.push(element(&e, reader.decoder())),
            Event::End(_) => {
                open.pop();
            }
            Event::Text(t) => {
                if let Some(&i) = open.last() {
                    out[i].text.push_str(&t.decode().expect("utf-8 text"));
                }
            }
            Event::GeneralRef(r) => {
                if let Some(&i) = open.last() {
                    let name = r.decode().expect("entity name");
                    out[i].text.push_str(match name.as_ref() {
                        "lt" => "<",
                        "gt" => ">",
                        "amp" => "&",
                        "quot" => "\"",
                        "apos" => "'",
                        other => panic!("unexpected entity {other}"),
                    });
                }
            }
            Event::CData(t) => {
                if let Some(&i) = open.last() {
                    out[i].text.push_str(&String::from_utf8_lossy(&t));
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    out
}

fn element(
    e: &quick_xml::events::BytesStart<'_>,
    decoder: quick_xml::encoding::Decoder,
) -> Element {
    let attrs = e
        .attributes()
        .map(|a| {
            let a = a.expect("attribute");
            let value = a
                .decoded_and_normalized_value(quick_xml::XmlVersion::Implicit1_0, decoder)
                .expect("attribute value");
            (
                String::from_utf8_lossy(a.key.as_ref()).into_owned(),
                value.into_owned(),
            )
        })
        .collect();
    Element {
        name: String::from_utf8_lossy(e.name().as_ref()).into_owned(),
        attrs,
        text: String::new(),
    }
}

#[test]
fn json_report_follows_schema_1() {
    let (ran, root) = check_in("check-drift", &["check", "--json", "report.json"]);
    ran.code(1);
    let text = std::fs::read_to_string(root.join("report.json")).expect("json written");
    let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(v["schema"], 1);
    assert_eq!(v["result"], "failed");
    assert_eq!(v["exit_code"], 1);
    assert_eq!(v["totals"]["failed"], 1);
    let rb = &v["runbooks"][0];
    assert_eq!(rb["path"], "runbooks/deploy.md");
    assert_eq!(rb["title"], "Deploy");
    let step = &rb["steps"][0];
    assert_eq!(step["id"], "build-1");
    assert_eq!(step["status"], "failed");
    let check = &step["checks"][0];
    assert_eq!(check["kind"], "output");
    assert_eq!(check["line"], 13);
    assert_eq!(check["passed"], false);
    assert!(check["diff"].as_str().unwrap().contains("+version: 2.0"));
    assert_eq!(check["actual"], "Building [..]\nversion: 2.0\ntook [..]s\n");
    assert_eq!(rb["steps"][1]["status"], "not-run");
}

#[test]
fn github_annotations_under_actions() {
    let sheet = Sheet::new();
    let root = sheet.copy_fixture("check-drift");
    let todo = fixture("check-todo/runbooks/todo.md");
    let ran = sheet
        .current_dir(&root)
        .env("GITHUB_ACTIONS", "true")
        .args(["check", "runbooks"])
        .arg(&todo)
        .run()
        .code(1);
    let errors: Vec<&str> = ran.stdout.lines().filter(|l| l.starts_with("::")).collect();
    assert_eq!(errors.len(), 2, "{}", ran.stdout);
    assert!(
        errors[0].starts_with(
            "::error file=runbooks/deploy.md,line=13,title=step `build-1`%3A output check failed::\
             output differs from the expected block%0A--- expected%0A"
        ),
        "{}",
        errors[0]
    );
    assert!(errors[0].contains("%0A-version: 1.0%0A+version: 2.0"));
    assert!(errors[1].starts_with(&format!("::warning file={},line=7,", todo.display())));
    assert!(errors[1].ends_with("::Add a curl smoke test."));
    let (ran, _) = check_in("check-drift", &["check"]);
    ran.code(1).stdout_lacks("::error");
}

#[test]
fn secrets_are_masked_in_every_report() {
    let sheet = Sheet::new();
    let root = sheet.copy_fixture("check-secrets");
    let ran = sheet
        .current_dir(&root)
        .env("DEPLOY_TOKEN", "hunter2-very-secret")
        .env("GITHUB_ACTIONS", "true")
        .args(["check", "--json", "r.json", "--junit", "r.xml"])
        .run()
        .code(1)
        .stdout_has("+token is ***")
        .stdout_lacks("hunter2");
    drop(ran);
    for report in ["r.json", "r.xml"] {
        let text = std::fs::read_to_string(root.join(report)).unwrap();
        assert!(text.contains("token is ***"), "{report}: {text}");
        assert!(!text.contains("hunter2"), "{report}: {text}");
    }
}

#[test]
fn update_rewrites_failed_blocks_in_place_and_then_check_passes() {
    let (ran, root) = check_in("check-update", &["check", "--update", "runbooks"]);
    ran.code(0)
        .stdout_has("updated runbooks/update.md:15: expected output of step `update-me-1`")
        .stdout_has("    -count: 3\n    +count: 4\n")
        .stdout_has("updated runbooks/update.md:27: expected output of step `update-me-2`")
        .stdout_has("updated runbooks/update.md:36: transcript output of step `update-me-3`");
    let updated = std::fs::read_to_string(root.join("runbooks/update.md")).unwrap();
    assert_golden(&fixture("check-update/expected.md"), &updated);

    Sheet::new()
        .current_dir(&root)
        .args(["check", "runbooks"])
        .run()
        .code(0);
    // Nothing left to rewrite: a second update changes no byte.
    Sheet::new()
        .current_dir(&root)
        .args(["check", "--update", "runbooks"])
        .run()
        .code(0)
        .stdout_lacks("updated");
    assert_eq!(
        std::fs::read_to_string(root.join("runbooks/update.md")).unwrap(),
        updated
    );
}

#[test]
fn update_refuses_what_it_cannot_rewrite_faithfully() {
    let (ran, root) = check_in("check-update", &["check", "--update", "other"]);
    ran.code(1)
        .stdout_has(
            "not updated other/contains.md:7: a match=contains block is not rewritten; \
             edit it by hand",
        )
        .stdout_has("not updated other/fence.md:7: the new output has a line starting with ```");
    for name in ["contains.md", "fence.md"] {
        let before = std::fs::read_to_string(fixture("check-update/other").join(name)).unwrap();
        let after = std::fs::read_to_string(root.join("other").join(name)).unwrap();
        assert_eq!(before, after, "{name} changed");
    }
}

/// The JSON example in the book has exactly the fields a real report has.
#[test]
fn the_documented_json_schema_matches_a_real_report() {
    let book = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("book/src/check.md"),
    )
    .unwrap();
    let start = book.find("```json\n").expect("a JSON example") + "```json\n".len();
    let end = start + book[start..].find("```").unwrap();
    let documented: serde_json::Value =
        serde_json::from_str(&book[start..end]).expect("the book's example is JSON");
    let (ran, root) = check_in("check-drift", &["check", "--json", "r.json"]);
    ran.code(1);
    let real: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("r.json")).unwrap()).unwrap();
    assert_eq!(shape(&documented), shape(&real));
}

/// Every key path in a JSON value (array items merged).
fn shape(v: &serde_json::Value) -> std::collections::BTreeSet<String> {
    fn walk(v: &serde_json::Value, at: String, out: &mut std::collections::BTreeSet<String>) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, child) in map {
                    let path = format!("{at}.{k}");
                    out.insert(path.clone());
                    walk(child, path, out);
                }
            }
            serde_json::Value::Array(items) => {
                for item in items {
                    walk(item, format!("{at}[]"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = std::collections::BTreeSet::new();
    walk(v, String::new(), &mut out);
    out
}

#[test]
fn a_runbook_that_cannot_start_fails_the_check_but_not_the_others() {
    let (ran, root) = check_in("check-requires", &["check", "--junit", "j.xml"]);
    ran.code(1)
        .stdout_has("✓ fine-1")
        .stdout_has("✗ runbooks/needs.md: not run: ")
        .stdout_has("`runsheet-no-such-program`");
    assert!(!root.join("needs-ran").exists());
    let doc = read_xml(&std::fs::read_to_string(root.join("j.xml")).unwrap());
    let error = doc.iter().find(|e| e.name == "error").expect("an <error>");
    assert!(error.attrs["message"].contains("runsheet-no-such-program"));

    let (ran, _) = check_in("check-requires", &["check", "runbooks/needs.md"]);
    let ran = ran
        .code(2)
        .stdout_has("check failed: no runbook could start (1 runbook)");
    assert_eq!(
        summary_rows(&ran.stdout)["runbooks/needs.md"],
        ["0", "0", "1", "0"]
    );
}

/// The onboarding runbook (run in CI by `runsheet check`) stays valid.
#[test]
fn the_onboarding_runbook_is_valid() {
    let runbook = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("runbooks/onboarding.md");
    Sheet::new()
        .args(["lint", "--deny-warnings"])
        .arg(&runbook)
        .run()
        .code(0);
}

#[test]
fn annotations_name_files_relative_to_the_github_workspace() {
    let todo = fixture("check-todo/runbooks/todo.md");
    Sheet::new()
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_WORKSPACE", env!("CARGO_MANIFEST_DIR"))
        .arg("check")
        .arg(&todo)
        .run()
        .code(0)
        .stdout_has("::warning file=tests/fixtures/check-todo/runbooks/todo.md,line=7,");
}

#[test]
fn ctrl_c_stops_the_check_with_130_and_runs_nothing_more() {
    let sheet = Sheet::new();
    let root = sheet.copy_fixture("check-interrupt");
    // The sheet owns the scratch dir: keep it alive while the child runs.
    let sheet = sheet.current_dir(&root).arg("check");
    let mut cmd = sheet.command();
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().expect("spawn runsheet");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !root.join("started").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the slow step never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // SAFETY: signalling our own child by its pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().expect("wait runsheet");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{stdout}");
    assert!(stdout.contains("check interrupted"), "{stdout}");
    assert!(!root.join("finished").exists());
    assert!(
        !root.join("later-ran").exists(),
        "no runbook starts after Ctrl-C"
    );
}

/// XML 1.0's `Char` production: what a well-formed document may hold.
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
}

#[test]
fn reports_stay_valid_whatever_a_step_prints() {
    let sheet = Sheet::new();
    std::fs::write(
        sheet.dir().join("hostile.md"),
        "# Hostile\n\n```sh {#prints}\n\
         printf 'ok \\357\\277\\276 \\357\\277\\277 \\001\\002\\013\\014 \\377\\376 \\033[31mred\\033[0m ]]> <&> tail\\n'\n\
         ```\n\n```output\nsomething else\n```\n\n\
         ```sh {#fails}\nprintf 'bad \\357\\277\\276\\001 bytes\\n'; exit 3\n```\n",
    )
    .expect("write");
    let ran = sheet
        .args([
            "check",
            "hostile.md",
            "--json",
            "r.json",
            "--junit",
            "r.xml",
        ])
        .run()
        .code(1);
    let xml = std::fs::read_to_string(ran.dir.join("r.xml")).expect("junit written");
    let bad: Vec<char> = xml.chars().filter(|&c| !xml_char(c)).collect();
    assert!(bad.is_empty(), "characters XML forbids: {bad:?}\n{xml}");
    let elements = read_xml(&xml);
    let failure = elements
        .iter()
        .find(|e| e.name == "failure" && e.text.contains("tail"))
        .unwrap_or_else(|| panic!("the diff is in the report:\n{xml}"));
    assert!(
        failure.text.contains("ok \u{fffd} \u{fffd}"),
        "{}",
        failure.text
    );
    let json = std::fs::read_to_string(ran.dir.join("r.json")).expect("json written");
    let v: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    let actual = v["runbooks"][0]["steps"][0]["checks"][0]["actual"]
        .as_str()
        .expect("actual output");
    assert!(
        actual.contains("ok \u{fffe} \u{ffff}") && actual.contains("tail"),
        "{actual:?}"
    );
}

/// Parallel runbooks share the warm shells (see `exec::zygote`): a worker
/// thread that ends must not take down a shell another worker's step is
/// forked from (a parent-death signal follows the thread that started the
/// shell, not runsheet).
#[test]
fn parallel_runbooks_all_pass_while_workers_come_and_go() {
    let sheet = Sheet::new();
    let dir = sheet.dir().join("many");
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..40 {
        let pause = ["0.05", "0.1", "0.15"][i % 3];
        let text = format!("# Pause {i}\n\n```bash\nsleep {pause}\necho done {i}\n```\n");
        std::fs::write(dir.join(format!("p{i:02}.md")), text).unwrap();
    }
    let ran = sheet
        .current_dir(&dir)
        .args(["check", "--jobs", "8", "."])
        .run()
        .code(0)
        .stdout_has("check passed: 40 runbooks");
    assert!(!ran.stdout.contains("killed by signal"), "{}", ran.stdout);
}
