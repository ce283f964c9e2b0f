//! `runsheet lint` end to end.

use crate::sheet::{assert_golden, fixture, Sheet};

#[test]
fn the_raw_seed_has_two_commands_outside_fences_and_three_todos() {
    let sheet = Sheet::new();
    sheet.copy_fixture("parse-seed/concourse.md");
    let ran = sheet.args(["lint", "concourse.md"]).run().code(0);
    assert_golden(&fixture("parse-seed/lint.txt"), &ran.stdout);
    let unfenced: Vec<&str> = ran
        .stdout
        .lines()
        .filter(|l| l.starts_with("warning[command-outside-fence]"))
        .collect();
    assert_eq!(unfenced.len(), 2, "{}", ran.stdout);
    assert!(unfenced[0].contains("`pyinfra @docker/debian:bookworm deploy.py`"));
    assert!(unfenced[1].contains("`pr packer build"));
    assert!(!ran.stdout.contains("`poetry install` looks like"));
    assert!(ran.stdout.contains("concourse.md:31:1"));
    assert!(ran.stdout.contains("concourse.md:51:1"));
}

#[test]
fn fix_fences_the_commands_and_changes_nothing_else() {
    let sheet = Sheet::new();
    let copy = sheet.copy_fixture("parse-seed/concourse.md");
    let ran = sheet.args(["lint", "--fix", "concourse.md"]).run().code(0);
    assert!(
        ran.stdout
            .contains("fixed: fenced 2 commands in concourse.md"),
        "{}",
        ran.stdout
    );
    assert!(
        !ran.stdout.contains("command-outside-fence"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout
            .contains("0 errors, 3 warnings, 2 commands fixed"),
        "{}",
        ran.stdout
    );
    let fixed = std::fs::read_to_string(&copy).unwrap();
    assert_golden(&fixture("parse-seed/fixed.md"), &fixed);
    // A second run has nothing left to fix.
    Sheet::new()
        .current_dir(copy.parent().unwrap())
        .args(["lint", "--fix", "concourse.md"])
        .run()
        .code(0)
        .stdout_lacks("fixed:");
}

#[test]
fn fix_keeps_list_and_quote_indentation() {
    let sheet = Sheet::new();
    let file = sheet.dir().join("nested.md");
    std::fs::write(
        &file,
        "# N\n\n1. Build it:\n\n   `make all`\n\n> `ls -l`\n>\n> quoted prose\n",
    )
    .unwrap();
    sheet.args(["lint", "--fix", "nested.md"]).run().code(0);
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "# N\n\n1. Build it:\n\n   ```sh\n   make all\n   ```\n\n> ```sh\n> ls -l\n> ```\n>\n> quoted prose\n"
    );
}

#[test]
fn deny_warnings_fails_on_warnings() {
    let sheet = Sheet::new();
    sheet.copy_fixture("parse-seed/concourse.md");
    sheet
        .args(["lint", "--deny-warnings", "concourse.md"])
        .run()
        .code(1)
        .stdout_has("0 errors, 5 warnings");
}

#[test]
fn errors_in_many_files_are_all_reported_and_fail() {
    let ran = Sheet::new()
        .current_dir(fixture("parse-errors"))
        .args(["lint", "."])
        .run()
        .code(1);
    for (file, code) in [
        ("unknown-attribute.md:3:8", "error[unknown-attribute]"),
        ("unterminated-fence.md:3:3", "error[unterminated-fence]"),
        ("bad-check.md:7:1", "error[bad-check]"),
        ("duplicate-id.md:7:8", "error[duplicate-id]"),
    ] {
        assert!(ran.stdout.contains(file), "{file}\n{}", ran.stdout);
        assert!(ran.stdout.contains(code), "{code}");
    }
    assert!(
        ran.stdout
            .contains("lint: 14 runbooks checked: 14 errors, 0 warnings"),
        "{}",
        ran.stdout
    );
}

#[test]
fn directories_are_searched_honouring_gitignore() {
    let ran = Sheet::new()
        .current_dir(fixture("parse-dir"))
        .args(["lint", "."])
        .run()
        .code(0);
    assert!(ran.stdout.contains("sub/nested.md:3:1"), "{}", ran.stdout);
    assert!(!ran.stdout.contains("ignored.md"), "{}", ran.stdout);
    assert!(
        ran.stdout
            .contains("lint: 2 runbooks checked: 0 errors, 1 warning"),
        "{}",
        ran.stdout
    );
}

#[test]
fn missing_required_programs_are_warnings() {
    let sheet = Sheet::new();
    std::fs::write(
        sheet.dir().join("req.md"),
        "---\nrequires: [sh, surely-not-installed-xyz]\n---\n# R\n",
    )
    .unwrap();
    sheet
        .args(["lint", "req.md"])
        .run()
        .code(0)
        .stdout_has("warning[missing-program]: `surely-not-installed-xyz` is required but not found on PATH")
        .stdout_has("req.md:2:1")
        .stdout_lacks("`sh` is required");
}

#[test]
fn a_missing_path_is_a_usage_error() {
    Sheet::new()
        .args(["lint", "nowhere"])
        .run()
        .code(2)
        .stderr_has("nowhere: no such file or directory");
}

#[test]
fn the_shipped_runbooks_have_no_errors() {
    Sheet::new()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["lint", "runbooks"])
        .run()
        .code(0)
        .stdout_has(" 0 errors");
}

#[test]
fn a_file_that_is_not_utf8_is_reported() {
    let sheet = Sheet::new();
    std::fs::write(sheet.dir().join("latin1.md"), b"# Caf\xe9\n").unwrap();
    let dir = sheet.dir().to_path_buf();
    sheet
        .args(["lint", "latin1.md"])
        .run()
        .code(1)
        .stdout_has("error: cannot read latin1.md: not valid UTF-8 (byte 5)");
    Sheet::new()
        .current_dir(&dir)
        .args(["list", "latin1.md"])
        .run()
        .code(2)
        .stderr_has("cannot read latin1.md: not valid UTF-8");
}

#[test]
fn every_warning_of_the_feature_tour() {
    let ran = Sheet::new()
        .current_dir(fixture("parse-features"))
        .args(["lint", "runbook.md"])
        .run()
        .code(0);
    assert_golden(&fixture("parse-features/lint.txt"), &ran.stdout);
}

/// Files are linted on every core; the reports still come in path order,
/// the same on every run.
#[test]
fn many_files_are_reported_in_path_order() {
    let sheet = Sheet::new();
    let names: Vec<String> = (0..60).map(|i| format!("book/r{i:03}.md")).collect();
    std::fs::create_dir(sheet.dir().join("book")).unwrap();
    for (i, name) in names.iter().enumerate() {
        let text = format!("# R {i}\n\n- **TODO**: step {i}\n");
        std::fs::write(sheet.dir().join(name), text).unwrap();
    }
    let ran = sheet.args(["lint", "book"]).run().code(0);
    let order: Vec<&str> = ran
        .stdout
        .lines()
        .filter_map(|l| l.trim().strip_prefix("--> "))
        .collect();
    let want: Vec<String> = names.iter().map(|n| format!("{n}:3:1")).collect();
    assert_eq!(order, want, "{}", ran.stdout);
    assert!(ran
        .stdout
        .contains("lint: 60 runbooks checked: 0 errors, 60 warnings"));
}

#[test]
fn placeholders_the_shell_would_read_as_redirections_are_pointed_at() {
    let sheet = Sheet::new();
    sheet.copy_fixture("placeholders/logs.md");
    let ran = sheet.args(["lint", "logs.md"]).run().code(0);
    let out = &ran.stdout;
    for (word, at) in [
        ("<namespace>", "logs.md:6:14"),
        ("<pod-name>", "logs.md:6:31"),
        ("<host>", "logs.md:13:44"),
    ] {
        assert!(
            out.contains(&format!(
                "`{word}` looks like a placeholder: the shell reads `<` and `>` as redirections"
            )),
            "{out}"
        );
        assert!(out.contains(at), "{at}: {out}");
    }
    assert_eq!(out.matches("warning[placeholder]").count(), 3, "{out}");
    assert!(out.contains("3 warnings"), "{out}");
}
