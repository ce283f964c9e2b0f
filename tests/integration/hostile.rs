//! Input as editors and accidents write it: multi-byte text in nested
//! blocks, CRLF and CR-only files, unreadable parts of a tree, pathological
//! lines, and checks whose diff would be huge. Each must give a clear answer,
//! never a panic or an abort of the whole command.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use crate::sheet::Sheet;

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write runbook");
}

#[test]
fn multibyte_text_in_nested_console_blocks_is_reported_not_a_panic() {
    let cases = [
        "1. ```console\n   😀\n   $ echo hi\n   ? x\n   ```\n",
        "> ```console\n> 😀\n> $ echo hi\n> ```\n",
        "- > ```console\n  > ééé\n  > $ echo hi\n  > ? é\n  > ```\n",
        "1. ```console\n   😀\n   ```\n",
    ];
    for text in cases {
        let sheet = Sheet::new();
        write(sheet.dir(), "p.md", text);
        let ran = sheet.args(["lint", "p.md"]).run();
        assert!(
            matches!(ran.code, Some(0 | 1)),
            "{text:?}: exit {:?}\n{}{}",
            ran.code,
            ran.stdout,
            ran.stderr
        );
        assert!(!ran.stderr.contains("panicked"), "{text:?}\n{}", ran.stderr);
    }
    let sheet = Sheet::new();
    write(sheet.dir(), "p.md", cases[0]);
    sheet
        .args(["lint", "p.md"])
        .run()
        .code(1)
        .stdout_has("p.md:2:1")
        .stdout_has("2 |    😀")
        .stdout_has("p.md:4:1");
}

#[test]
fn a_failing_check_on_200000_lines_shows_a_capped_diff() {
    let sheet = Sheet::new();
    write(
        sheet.dir(),
        "big.md",
        "# Big\n\n```sh\nseq 1 200000\n```\n\n```output\nx\n```\n",
    );
    let ran = sheet
        .args(["check", "--json", "r.json", "big.md"])
        .run()
        .code(1)
        .stdout_has("more lines of diff (they are in the run record and --json)");
    let report = std::fs::read_to_string(ran.dir.join("r.json")).expect("json report");
    let v: serde_json::Value = serde_json::from_str(&report).expect("valid JSON");
    let diff = find_key(&v, "diff").expect("a diff in the report");
    let lines: Vec<&str> = diff.lines().collect();
    assert_eq!(
        lines.len(),
        1001,
        "the cap plus one line saying how many more"
    );
    // 200,000 added lines and one removed; the first 997 diff lines after the
    // headers and hunk line hold 996 of the added and the removed one.
    assert_eq!(lines[1000], "... 199004 more lines differ");
}

fn find_key<'a>(v: &'a serde_json::Value, key: &str) -> Option<&'a str> {
    match v {
        serde_json::Value::Object(map) => map.iter().find_map(|(k, v)| match v {
            serde_json::Value::String(s) if k == key => Some(s.as_str()),
            _ => find_key(v, key),
        }),
        serde_json::Value::Array(items) => items.iter().find_map(|v| find_key(v, key)),
        _ => None,
    }
}

#[test]
fn check_update_keeps_a_crlf_file_crlf() {
    let sheet = Sheet::new();
    let text = "---\r\nenv:\r\n  WHO: crlf\r\n---\r\n# T\r\n\r\n```sh\r\necho $WHO; echo two\r\n```\r\n\r\n```output\r\nold\r\n```\r\n\r\nEnd.\r\n";
    write(sheet.dir(), "w.md", text);
    let ran = sheet.args(["check", "--update", "w.md"]).run().code(0);
    let after = std::fs::read_to_string(ran.dir.join("w.md")).unwrap();
    assert_eq!(
        after,
        text.replace("old\r\n", "crlf\r\ntwo\r\n"),
        "only the block changed, in CRLF"
    );
}

#[test]
fn lint_fix_keeps_a_crlf_file_crlf() {
    let sheet = Sheet::new();
    let text = "# T\r\n\r\n`ls /`\r\n\r\n- item\r\n\r\n  `make`\r\n";
    write(sheet.dir(), "f.md", text);
    let ran = sheet.args(["lint", "--fix", "f.md"]).run().code(0);
    let after = std::fs::read_to_string(ran.dir.join("f.md")).unwrap();
    assert_eq!(
        after,
        "# T\r\n\r\n```sh\r\nls /\r\n```\r\n\r\n- item\r\n\r\n  ```sh\r\n  make\r\n  ```\r\n"
    );
}

#[test]
fn a_cr_only_file_runs_and_is_updated_with_cr() {
    let sheet = Sheet::new();
    let text = "# T\r\r```sh\recho one\r```\r\r```output\rtwo\r```\r";
    write(sheet.dir(), "m.md", text);
    let ran = sheet.args(["check", "--update", "m.md"]).run().code(0);
    let after = std::fs::read_to_string(ran.dir.join("m.md")).unwrap();
    assert_eq!(after, text.replace("two", "one"));
    Sheet::new()
        .current_dir(&ran.dir)
        .args(["run", "m.md"])
        .run()
        .code(0)
        .stdout_has("│ one");
}

#[test]
fn a_bom_and_crlf_keep_the_front_matter() {
    let sheet = Sheet::new();
    write(
        sheet.dir(),
        "b.md",
        "\u{feff}---\r\nenv:\r\n  WHO: bom\r\n---\r\n# T\r\n\r\n```sh\r\necho \"hi $WHO\"\r\n```\r\n",
    );
    sheet
        .args(["run", "b.md"])
        .run()
        .code(0)
        .stdout_has("│ hi bom");
}

fn tree(dir: &Path) {
    for sub in ["ok", "secret"] {
        std::fs::create_dir_all(dir.join("tree").join(sub)).unwrap();
        write(
            &dir.join("tree").join(sub),
            "a.md",
            "# A\n\n```sh\necho from-a\n```\n",
        );
    }
}

#[test]
fn a_dangling_link_in_a_tree_is_a_warning_and_the_rest_is_processed() {
    let sheet = Sheet::new();
    tree(sheet.dir());
    std::os::unix::fs::symlink("/nonexistent/x.md", sheet.dir().join("tree/ok/gone.md")).unwrap();
    let dir = sheet.dir().to_path_buf();
    sheet
        .args(["lint", "tree"])
        .run()
        .code(0)
        .stderr_has("warning: cannot read tree/ok/gone.md: No such file or directory")
        .stdout_has("2 runbooks checked");
    Sheet::new()
        .current_dir(&dir)
        .args(["check", "tree"])
        .run()
        .code(0)
        .stderr_has("tree/ok/gone.md")
        .stdout_has("check passed: 2 runbooks");
    Sheet::new()
        .current_dir(&dir)
        .args(["book", "tree", "-o", "site"])
        .run()
        .code(0)
        .stderr_has("tree/ok/gone.md");
}

/// A folder that cannot be read. As root permissions do not stop reads, so
/// the command then runs as `nobody` (uid 65534), for whom they do.
#[test]
fn an_unreadable_folder_in_a_tree_is_a_warning_and_the_rest_is_processed() {
    let sheet = Sheet::new();
    tree(sheet.dir());
    let dir = sheet.dir().to_path_buf();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::set_permissions(dir.join("tree"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        dir.join("tree/secret"),
        std::fs::Permissions::from_mode(0o000),
    )
    .unwrap();
    let root = unsafe { libc::geteuid() } == 0;
    for command in [
        &["lint", "tree"][..],
        &["check", "tree"],
        &["book", "tree", "-o", "site"],
    ] {
        let mut cmd = Sheet::new().current_dir(&dir).args(command).command();
        if root {
            cmd.uid(65534).gid(65534);
        }
        let out = cmd.output().expect("run runsheet");
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{command:?}\n{stdout}\n{stderr}"
        );
        assert!(
            stderr.contains("warning: cannot read tree/secret: permission denied; skipped"),
            "{command:?}\n{stderr}"
        );
    }
    std::fs::set_permissions(
        dir.join("tree/secret"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
}

#[test]
fn pathological_lines_get_short_diagnostics_in_their_place() {
    let sheet = Sheet::new();
    write(sheet.dir(), "ticks.md", &"`".repeat(1_000_000));
    let ran = sheet.args(["lint", "ticks.md"]).run().code(1);
    assert!(ran.stdout.len() < 2_000, "{} bytes", ran.stdout.len());
    assert!(ran.stdout.contains("ticks.md:1:1"), "{}", ran.stdout);
    assert!(
        ran.stdout
            .contains("add a closing fence (1000000 or more ``` on a line)"),
        "{}",
        ran.stdout
    );

    let cells = 2000;
    let table = format!(
        "# T\n\n|{}\n|{}\n|{} TODO last |\n",
        "a|".repeat(cells),
        "-|".repeat(cells),
        " é |".repeat(cells - 1)
    );
    let sheet = Sheet::new();
    write(sheet.dir(), "wide.md", &table);
    let ran = sheet.args(["lint", "wide.md"]).run().code(0);
    // The last cell starts after 1 + 4 × 1999 characters.
    assert!(ran.stdout.contains("wide.md:5:7998"), "{}", ran.stdout);
    assert!(ran.stdout.len() < 2_000, "{} bytes", ran.stdout.len());
}

/// A pids cgroup that lets its processes have `max` tasks (threads and
/// processes) at once: a new folder under the pids controller (cgroup v1 or
/// v2). `None` where cgroups cannot be written (not root, or no pids
/// controller).
struct PidsLimit(std::path::PathBuf);

impl PidsLimit {
    fn new(tag: &str, max: u32) -> Option<PidsLimit> {
        let name = format!("runsheet-test-{}-{tag}", std::process::id());
        ["/sys/fs/cgroup/pids", "/sys/fs/cgroup"]
            .iter()
            .map(|root| Path::new(root).join(&name))
            .find_map(|dir| {
                std::fs::create_dir(&dir).ok()?;
                let group = PidsLimit(dir);
                std::fs::write(group.0.join("pids.max"), max.to_string()).ok()?;
                Some(group)
            })
    }

    /// runsheet with `args` and a last `path`, started inside the group.
    fn run<const N: usize>(&self, args: [&str; N], path: impl AsRef<Path>) -> std::process::Output {
        Command::new("sh")
            .arg("-c")
            .arg(r#"echo $$ > "$0/cgroup.procs" && exec "$@""#)
            .arg(&self.0)
            .arg(env!("CARGO_BIN_EXE_runsheet"))
            .args(args)
            .arg(path.as_ref())
            .output()
            .expect("run runsheet in the cgroup")
    }
}

/// Says loudly that a test needing a pids cgroup did not run.
fn no_pids_cgroup(what: &str) {
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "skipped: no pids cgroup could be made (needs root) — {what} was not tried"
    );
}

impl Drop for PidsLimit {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// A runbook large enough to be parsed in pieces, hashed and written by two
/// threads each (`parse::pieces`, `report::listjson`) is listed whole, and a
/// tree that `lint` spreads over every core is linted whole, the same as with
/// threads, when the system will not start one (it panicked before).
#[test]
fn a_large_runbook_and_a_tree_are_read_whole_when_no_thread_can_start() {
    let Some(group) = PidsLimit::new("list", 1) else {
        return no_pids_cgroup("the no-thread fallback of list and lint");
    };
    let sheet = Sheet::new();
    let mut text = String::new();
    for i in 0..2500 {
        text.push_str(&format!(
            "## Part {i}\n\n```sh\necho {i}\n```\n\n```console\n$ true\n```\n\nTODO: {i}\n\n"
        ));
    }
    write(sheet.dir(), "big.md", &text);
    let with_threads = Sheet::new()
        .args(["list", "--json"])
        .arg(sheet.dir().join("big.md"))
        .run()
        .code(0);
    let alone = group.run(["list", "--json"], sheet.dir().join("big.md"));
    let stderr = String::from_utf8_lossy(&alone.stderr);
    assert_eq!(alone.status.code(), Some(0), "{stderr}");
    assert!(
        alone.stdout == with_threads.stdout.as_bytes(),
        "the output differs\n{stderr}"
    );
    let v: serde_json::Value = serde_json::from_slice(&alone.stdout).expect("JSON");
    assert_eq!(v["steps"].as_array().map(Vec::len), Some(5000));
    // `lint` spreads a tree over every core.
    for i in 0..40 {
        write(
            sheet.dir(),
            &format!("r{i}.md"),
            "# R\n\n```sh\necho hi\n```\n\nTODO: x\n",
        );
    }
    let linted = group.run(["lint", "--color", "never"], sheet.dir());
    let out = String::from_utf8_lossy(&linted.stdout);
    let err = String::from_utf8_lossy(&linted.stderr);
    assert!(out.contains("r39.md:"), "{out}");
    let with_threads = Sheet::new()
        .args(["lint", "--color", "never"])
        .arg(sheet.dir())
        .run();
    assert_eq!(linted.status.code(), with_threads.code, "{err}");
    assert_eq!(out, with_threads.stdout);
}

/// `check --jobs` with room for one task beside its own: a worker that
/// cannot start leaves its runbooks to the others, and what cannot start
/// then (the watchdog, the steps' bash) is said. It panicked before.
#[test]
fn check_without_room_for_its_workers_says_why_instead_of_panicking() {
    let Some(group) = PidsLimit::new("check", 2) else {
        return no_pids_cgroup("check with no room for its workers");
    };
    let sheet = Sheet::new();
    write(sheet.dir(), "a.md", "# A\n\n```sh\necho a\n```\n");
    write(sheet.dir(), "b.md", "# B\n\n```sh\necho b\n```\n");
    let ran = group.run(["check", "--jobs", "4", "--color", "never"], sheet.dir());
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&ran.stdout),
        String::from_utf8_lossy(&ran.stderr)
    );
    assert!(!said.contains("panicked"), "{said}");
    // Which task the system refuses first depends on timing: the watchdog
    // (exit 2) or the steps' bash (they fail, exit 1). Either is said.
    match ran.status.code() {
        Some(2) => assert!(
            said.contains("cannot keep watch over the steps' processes"),
            "{said}"
        ),
        Some(1) => assert!(
            said.contains("cannot start `bash`: Resource temporarily unavailable"),
            "{said}"
        ),
        other => panic!("exit {other:?}\n{said}"),
    }
}
