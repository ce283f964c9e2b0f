//! Secrets (SPEC §5) end to end: values a step sets or announces, carried
//! across `--resume`, multi-line values, and error messages. The one file
//! that may hold a secret is `state.json` (mode 0600, for `--resume`).

use std::path::{Path, PathBuf};

use crate::sheet::Sheet;

/// Every file under `dir` but `state.json`, as (path, text).
fn files_but_state(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_but_state(&p));
        } else if p.file_name().is_some_and(|n| n != "state.json") {
            let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
            out.push((p, text));
        }
    }
    out
}

#[track_caller]
fn assert_nowhere(dir: &Path, secret: &str) {
    for (path, text) in files_but_state(dir) {
        assert!(
            !text.contains(secret),
            "{secret:?} is in {}:\n{text}",
            path.display()
        );
    }
}

fn state_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(state_files(&p));
        } else if p.file_name().is_some_and(|n| n == "state.json") {
            out.push(p);
        }
    }
    out
}

fn write(sheet: &Sheet, name: &str, text: &str) -> PathBuf {
    let path = sheet.dir().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

const SET_INSIDE: &str = r#"# Set inside

```bash {#kept}
export API_TOKEN=kept-for-resume-1234
```

```bash {#set-it}
export DB_PASSWORD=$(printf 's3cr3t-%s' set-inside-1)
echo "set it: $DB_PASSWORD"
```

```output
set it: something else
```
"#;

#[test]
fn a_secret_a_step_sets_is_masked_in_its_log_record_reports_and_book() {
    let secret = "s3cr3t-set-inside-1";
    let sheet = Sheet::new();
    let dir = sheet.dir().to_path_buf();
    write(&sheet, "set.md", SET_INSIDE);
    let ran = sheet.args(["run", "set.md"]).run().code(1);
    // The live line came before the value was known (SPEC §5); the diff
    // shown once the step is over comes after.
    let after_output = ran.stdout.split("✗ set-it").nth(1).expect("result line");
    assert!(!after_output.contains(secret), "{}", ran.stdout);
    assert!(after_output.contains("set it: ***"), "{}", ran.stdout);
    assert_nowhere(&dir.join(".runsheet"), secret);
    let states = state_files(&dir.join(".runsheet"));
    assert!(!states.is_empty(), "no state.json");
    assert_nowhere(&dir.join(".runsheet"), "kept-for-resume-1234");
    for state in &states {
        let text = std::fs::read_to_string(state).unwrap();
        assert!(text.contains("kept-for-resume-1234"), "{text}");
        use std::os::unix::fs::PermissionsExt;
        let mode = state.metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", state.display());
    }

    let status = Sheet::new()
        .current_dir(&dir)
        .args(["status", "set.md", "--json"])
        .run();
    assert!(!status.stdout.contains(secret), "{}", status.stdout);
    let checked = Sheet::new()
        .current_dir(&dir)
        .args([
            "check",
            "set.md",
            "--json",
            "report.json",
            "--junit",
            "junit.xml",
        ])
        .run()
        .code(1);
    assert!(!checked.stdout.contains(secret), "{}", checked.stdout);
    for report in ["report.json", "junit.xml"] {
        let text = std::fs::read_to_string(dir.join(report)).unwrap();
        assert!(!text.contains(secret), "{report}: {text}");
    }
    Sheet::new()
        .current_dir(&dir)
        .args(["book", "set.md", "-o", "out", "--src-only"])
        .run()
        .code(0);
    assert_nowhere(&dir.join("out"), secret);
}

#[test]
fn add_mask_hides_a_value_from_then_on_and_the_line_itself() {
    let sheet = Sheet::new();
    let dir = sheet.dir().to_path_buf();
    write(
        &sheet,
        "mask.md",
        "# Mask\n\n```bash\nv=$(echo generated-abc-123)\necho \"::add-mask::$v\"\necho \"v=$v\"\n```\n\n\
         ```sh\necho again generated-abc-123\n```\n\n\
         ```console\n$ v=$(printf 'console-%s' xyz-9); echo \"::add-mask::$v\"\n$ echo c=console-xyz-9\nc=***\n```\n",
    );
    let ran = sheet.args(["run", "mask.md"]).run().code(0);
    assert!(!ran.stdout.contains("generated-abc-123"), "{}", ran.stdout);
    // The command line of the console step is the runbook's own text.
    assert!(!ran.stdout.contains("│ ::add-mask::"), "{}", ran.stdout);
    assert!(!ran.stdout.contains("console-xyz-9"), "{}", ran.stdout);
    assert!(ran.stdout.contains("│ v=***"), "{}", ran.stdout);
    assert!(ran.stdout.contains("│ again ***"), "{}", ran.stdout);
    assert_nowhere(&dir.join(".runsheet"), "generated-abc-123");
    let logs = files_but_state(&dir.join(".runsheet"));
    assert!(
        logs.iter()
            .all(|(_, text)| !text.lines().any(|l| l.starts_with("::add-mask::"))),
        "{logs:?}"
    );
}

#[test]
fn a_secret_set_before_a_failure_stays_masked_after_resume() {
    let sheet = Sheet::new();
    let dir = sheet.dir().to_path_buf();
    write(
        &sheet,
        "resume.md",
        "# Resume\n\n```bash\nexport NEW_TOKEN=tok-resume-789\nmy_password=unexported-pw-55\n```\n\n\
         ```bash\necho \"token $NEW_TOKEN pw $my_password\"\ntest -f fixed\n```\n",
    );
    let first = sheet.args(["run", "resume.md"]).run().code(1);
    assert!(
        first.stdout.contains("token *** pw ***"),
        "{}",
        first.stdout
    );
    std::fs::write(dir.join("fixed"), "").unwrap();
    let resumed = Sheet::new()
        .current_dir(&dir)
        .args(["run", "resume.md", "--resume"])
        .run()
        .code(0);
    assert!(
        resumed.stdout.contains("token *** pw ***"),
        "{}",
        resumed.stdout
    );
    assert_nowhere(&dir.join(".runsheet"), "tok-resume-789");
    assert_nowhere(&dir.join(".runsheet"), "unexported-pw-55");
}

#[test]
fn a_secret_named_in_a_later_step_is_masked_in_the_earlier_steps_logs_too() {
    let sheet = Sheet::new();
    let dir = sheet.dir().to_path_buf();
    write(
        &sheet,
        "later.md",
        r#"# Later

```bash
printf 'tok-%s\n' earlier-4321 > fetched
echo "fetched $(cat fetched)"
```

```bash
export API_TOKEN=$(cat fetched)
```
"#,
    );
    sheet.args(["run", "later.md"]).run().code(0);
    assert_nowhere(&dir.join(".runsheet"), "tok-earlier-4321");
}

#[test]
fn each_line_of_a_multi_line_secret_is_masked() {
    let key = "-----BEGIN OPENSSH PRIVATE KEY-----\r\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU\r\nAAAAAAAAAAEAAAAzAAAAC3NzaC1lZDI1\r\n-----END OPENSSH PRIVATE KEY-----\r\n";
    let sheet = Sheet::new();
    let dir = sheet.dir().to_path_buf();
    write(
        &sheet,
        "pem.md",
        "# Pem\n\n```bash\nprintf '%s' \"$DEPLOY_PRIVATE_KEY\"\nprintf '%s\\n' \"$DEPLOY_PRIVATE_KEY\" | tr -d '\\r' | while read -r l; do echo \"line: $l\"; done\n```\n",
    );
    let ran = sheet
        .env("DEPLOY_PRIVATE_KEY", key)
        .args(["run", "pem.md"])
        .run()
        .code(0);
    for line in key.lines() {
        assert!(!ran.stdout.contains(line.trim_end()), "{}", ran.stdout);
    }
    assert!(ran.stdout.contains("│ line: ***\n"), "{}", ran.stdout);
    assert!(ran.stdout.contains("│ ***\r\n"), "{:?}", ran.stdout);
    assert_nowhere(&dir.join(".runsheet"), "b3BlbnNzaC1rZXktdjEAAAAABG5vbmU");
}

#[test]
fn errors_and_check_texts_never_echo_a_secret() {
    let sheet = Sheet::new();
    let dir = sheet.dir().to_path_buf();
    write(
        &sheet,
        "hidden.md",
        "# Hidden\n\n```sh\necho nothing to see\n```\n\n<!-- check: contains \"hunter-check-77\" -->\n",
    );
    let ran = sheet
        .args(["run", "hidden.md", "--env", "API_TOKEN:typo-value-42"])
        .run()
        .code(2)
        .stderr_has("--env \"API_TOKEN…\" is not K=V");
    assert!(!ran.stderr.contains("typo-value-42"), "{}", ran.stderr);

    let ran = Sheet::new()
        .current_dir(&dir)
        .env("MY_TOKEN", "hunter-check-77")
        .args(["run", "hidden.md"])
        .run()
        .code(1);
    assert!(!ran.stdout.contains("hunter-check-77"), "{}", ran.stdout);
    assert_nowhere(&dir.join(".runsheet"), "hunter-check-77");
    let status = Sheet::new()
        .current_dir(&dir)
        .args(["status", "hidden.md"])
        .run();
    assert!(
        !status.stdout.contains("hunter-check-77"),
        "{}",
        status.stdout
    );
}
