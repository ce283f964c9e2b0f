//! The command line itself: error messages, help, the marks results carry,
//! and shell completion run the way the shell runs it.

use std::path::Path;
use std::process::Command;

use crate::sheet::Sheet;

#[test]
fn a_missing_runbook_is_named_once_with_its_cause_once() {
    for cmd in ["list", "run", "status"] {
        let ran = Sheet::new().args([cmd, "nope.md"]).run().code(2);
        assert_eq!(
            ran.stderr, "error: cannot read nope.md: No such file or directory (os error 2)\n",
            "{cmd}"
        );
    }
}

#[test]
fn a_folder_given_for_one_runbook_says_which_commands_take_folders() {
    for cmd in ["list", "run", "status"] {
        let sheet = Sheet::new();
        std::fs::create_dir(sheet.dir().join("runbooks")).unwrap();
        let ran = sheet.args([cmd, "runbooks"]).run().code(2);
        assert!(
            ran.stderr.starts_with("error: cannot read runbooks: ")
                && ran.stderr.ends_with(
                    "; give one runbook file (`check`, `lint` and `book` take folders)\n"
                ),
            "{cmd}: {}",
            ran.stderr
        );
    }
}

#[test]
fn help_has_no_spec_references_and_global_options_stand_apart() {
    let list = Sheet::new().args(["list", "--help"]).run().code(0);
    assert!(!list.stdout.contains("SPEC"), "{}", list.stdout);
    assert!(
        list.stdout.contains("<FILE>  The runbook to outline"),
        "{}",
        list.stdout
    );
    let status = Sheet::new().args(["status", "--help"]).run().code(0);
    assert!(
        status.stdout.contains("Print the status as JSON"),
        "{}",
        status.stdout
    );
    let run = Sheet::new().args(["run", "--help"]).run().code(0);
    let (own, global) = run
        .stdout
        .split_once("Global options:")
        .unwrap_or_else(|| panic!("no global heading:\n{}", run.stdout));
    assert!(!own.contains("--state-dir"), "{}", run.stdout);
    assert!(global.contains("--state-dir <DIR>"), "{}", run.stdout);
    assert!(global.contains("--color <WHEN>"), "{}", run.stdout);
}

#[test]
fn run_check_and_status_mark_results_alike() {
    let sheet = Sheet::new();
    let dir = sheet.dir().to_path_buf();
    std::fs::write(
        dir.join("marks.md"),
        "# Marks\n\n```sh\ntrue\n```\n\n```sh\nfalse\n```\n",
    )
    .unwrap();
    let run = sheet.args(["run", "marks.md"]).run().code(1);
    let check = Sheet::new()
        .current_dir(&dir)
        .args(["check", "marks.md"])
        .run()
        .code(1);
    let status = Sheet::new()
        .current_dir(&dir)
        .args(["status", "marks.md"])
        .run()
        .code(0);
    for (name, out) in [
        ("run", run.stdout),
        ("check", check.stdout),
        ("status", status.stdout),
    ] {
        assert!(out.contains("✓ marks-1"), "{name}:\n{out}");
        assert!(out.contains("✗ marks-2"), "{name}:\n{out}");
        assert!(!out.contains('✔') && !out.contains('✘'), "{name}:\n{out}");
    }
}

const NAMES: &str = "# Deploy\n\n## Build the image\n\n```sh {#build tags=slow,aws}\ntrue\n```\n\n\
                     ## Database\n\n```sh {#migrate tags=db}\ntrue\n```\n";

/// Candidates runsheet gives for the word at `index` of `words`, asked the
/// way the completion script asks (clap_complete's environment protocol).
fn candidates(dir: &Path, index: usize, words: &[&str]) -> Vec<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_runsheet"))
        .arg("--")
        .args(words)
        .current_dir(dir)
        .env("COMPLETE", "bash")
        .env("_CLAP_COMPLETE_INDEX", index.to_string())
        .env("_CLAP_IFS", "\n")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn sections_steps_and_tags_complete_from_the_runbook_on_the_command_line() {
    let sheet = Sheet::new();
    let dir = sheet.dir();
    std::fs::write(dir.join("deploy.md"), NAMES).unwrap();
    std::fs::write(dir.join("decoy.txt"), "").unwrap();
    let run = ["runsheet", "run", "deploy.md"];
    let ask = |tail: &[&str]| {
        let words: Vec<&str> = run.iter().chain(tail).copied().collect();
        candidates(dir, words.len() - 1, &words)
    };
    assert_eq!(
        ask(&["--section", ""]),
        ["deploy", "build-the-image", "database"]
    );
    assert_eq!(ask(&["--section", "da"]), ["database"]);
    assert_eq!(ask(&["--step", ""]), ["build", "migrate"]);
    assert_eq!(ask(&["--from", "m"]), ["migrate"]);
    assert_eq!(ask(&["--tag", ""]), ["slow", "aws", "db"]);
    assert_eq!(ask(&["--skip-tag", "a"]), ["aws"]);
    // The runbook may come after the option, and `check` takes folders.
    let words = ["runsheet", "check", "--tag", "", "."];
    assert_eq!(candidates(dir, 3, &words), ["slow", "aws", "db"]);
    // Never file names for a section.
    let words = ["runsheet", "run", "--section", "de"];
    assert_eq!(candidates(dir, 3, &words), Vec::<String>::new());
}

#[test]
fn the_bash_script_completes_sections_through_bash_itself() {
    let Ok(bash) = which("bash") else {
        eprintln!("skipped: bash not found");
        return;
    };
    let sheet = Sheet::new();
    let dir = sheet.dir();
    std::fs::write(dir.join("deploy.md"), NAMES).unwrap();
    std::fs::write(dir.join("database.txt"), "").unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_runsheet")).parent().unwrap();
    let script = r#"
        source <(runsheet completions bash)
        complete -p runsheet >/dev/null || exit 3
        COMP_WORDS=(runsheet run deploy.md --section d)
        COMP_CWORD=4
        COMP_LINE="${COMP_WORDS[*]}"
        COMP_POINT=${#COMP_LINE}
        COMP_TYPE=9
        _clap_complete_runsheet runsheet d --section
        printf '%s\n' "${COMPREPLY[@]}"
    "#;
    let out = Command::new(bash)
        .args(["--norc", "--noprofile", "-c", script])
        .current_dir(dir)
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.trim_end().to_string())
        .collect();
    assert_eq!(got, ["deploy", "database"]);
}

fn which(program: &str) -> Result<std::path::PathBuf, ()> {
    std::env::split_paths(&std::env::var_os("PATH").ok_or(())?)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .ok_or(())
}
