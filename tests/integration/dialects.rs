//! Runbooks written for other tools, end to end: Runme's and Innovation
//! Engine's run as those tools run them, and inputs are asked for, supplied or
//! refused before anything runs.

use std::path::Path;

use crate::pty::Pty;
use crate::sheet::Sheet;

/// `runsheet list --json FILE` run in `dir`, which must pass.
fn listed(dir: &Path, file: &str) -> serde_json::Value {
    Sheet::new()
        .current_dir(dir)
        .args(["list", "--json", file])
        .run()
        .code(0)
        .json()
}

#[test]
fn a_runme_runbook_runs_as_runme_would() {
    let sheet = Sheet::new();
    let dir = sheet.copy_fixture("dialect-runme");
    let ran = sheet
        .current_dir(&dir)
        .args(["run", "runme.md"])
        .run()
        .code(0)
        .stdout_has("3 steps")
        .stdout_has("│ Hello, runme!")
        .stdout_has("✓ count")
        .stdout_has("│ 1 line")
        .stdout_has("│ { viewer { login } }")
        .stdout_lacks("clean-up")
        .stdout_lacks("cleaned");
    assert!(
        ran.stdout.contains("[1/3] 01hf7bt3hd84gwtqb8zcwph803"),
        "{}",
        ran.stdout
    );
    // Left out of the whole run, but run when named.
    assert!(dir.join("greeted").exists());
    Sheet::new()
        .current_dir(&dir)
        .args(["run", "runme.md", "--step", "clean-up"])
        .run()
        .code(0)
        .stdout_has("1 step")
        .stdout_has("│ cleaned");
    assert!(!dir.join("greeted").exists());
    // A section run leaves it out too.
    Sheet::new()
        .current_dir(&dir)
        .args(["run", "runme.md", "--section", "runme-example", "--dry-run"])
        .run()
        .code(0)
        .stdout_has("3 steps")
        .stdout_lacks("clean-up");
}

#[test]
fn runme_names_attributes_and_front_matter_show_in_list_json() {
    let v = listed(&crate::sheet::fixture("dialect-runme"), "runme.md");
    let ids: Vec<&str> = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["01hf7bt3hd84gwtqb8zcwph803", "count", "clean-up", "query"]
    );
    assert_eq!(v["front_matter"]["extra"]["runme"]["version"], "v3");
    assert_eq!(v["steps"][2]["options"]["exclude_from_run_all"], true);
    assert_eq!(v["steps"][3]["kind"], "interpreter");
    assert_eq!(v["steps"][3]["program"], "cat");
    let infos: Vec<&str> = v["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["info"].as_str().unwrap())
        .collect();
    assert_eq!(
        infos[1],
        "sh { name=count interactive=false closeTerminalOnSuccess=false }"
    );
    assert_eq!(v["blocks"][4]["role"], "other");
}

#[test]
fn runme_prompts_are_inputs() {
    let sheet = Sheet::new();
    let dir = sheet.copy_fixture("dialect-runme");
    sheet
        .current_dir(&dir)
        .args(["run", "vars.md"])
        .run()
        .code(2)
        .stderr_has("vars.md needs an input that nobody supplied; nothing was run:")
        .stderr_has("  VAR_NAME3 (line 9)")
        .stderr_has("--env NAME=VALUE");
    Sheet::new()
        .current_dir(&dir)
        .env("VAR_NAME3", "from the environment")
        .args(["run", "vars.md", "--env", "VAR_NAME1=from --env"])
        .run()
        .code(0)
        .stdout_has("│ 1. from --env")
        .stdout_has("│ 3. from the environment")
        .stdout_has("│ 5. Placeholder 5");
    // An offered value stands when nobody gives another.
    Sheet::new()
        .current_dir(&dir)
        .args(["run", "vars.md", "--env", "VAR_NAME3=x"])
        .run()
        .code(0)
        .stdout_has("│ 1. Placeholder 1");
}

#[test]
fn an_innovation_engine_scenario_passes_check_when_close_enough() {
    let sheet = Sheet::new();
    let dir = sheet.copy_fixture("dialect-ie");
    sheet
        .current_dir(&dir)
        .args(["check", "scenario.md"])
        .run()
        .code(0)
        .stdout_has("check scenario.md (2 steps)")
        .stdout_has("check passed: 1 runbook");
    let v = listed(&dir, "scenario.md");
    assert_eq!(v["title"], "Fuzzy match");
    assert_eq!(v["front_matter"]["extra"]["ms.author"], "someone");
    assert_eq!(v["front_matter"]["env"]["GREETING"], "Hello");
    assert_eq!(v["steps"][0]["checks"][0]["kind"], "similar");
    assert_eq!(v["steps"][0]["checks"][0]["want"]["min"], 0.8);
    assert_eq!(
        v["steps"][1]["checks"][0]["want"]["regex"],
        ".*$RG is available"
    );
}

#[test]
fn an_innovation_engine_scenario_fails_with_a_scored_diff_when_not() {
    let sheet = Sheet::new();
    let dir = sheet.copy_fixture("dialect-ie");
    sheet
        .current_dir(&dir)
        .args(["check", "drift.md"])
        .run()
        .code(1)
        .stdout_has("drift.md:8 output is only 0.")
        .stdout_has("it needs 0.95 (Jaro-Winkler)")
        .stdout_has("--- expected (similarity needed: 0.95)")
        .stdout_has("+++ actual (similarity: 0.")
        .stdout_has("-Hello world")
        .stdout_has("+Goodbye cruel world");
    // --update writes what the command printed; the check then passes.
    Sheet::new()
        .current_dir(&dir)
        .args(["check", "--update", "drift.md"])
        .run()
        .code(0);
    assert_eq!(
        std::fs::read_to_string(dir.join("drift.md")).unwrap(),
        "# Drift\n\n```bash\necho \"Goodbye cruel world\"\n```\n\n<!-- expected_similarity=0.95 -->\n```text\nGoodbye cruel world\n```\n"
    );
}

#[test]
fn check_update_never_rewrites_the_example_under_a_regex() {
    let sheet = Sheet::new();
    let dir = sheet.copy_fixture("dialect-ie");
    let before = std::fs::read_to_string(dir.join("regex.md")).unwrap();
    sheet
        .current_dir(&dir)
        .args(["check", "--update", "regex.md"])
        .run()
        .code(1)
        .stdout_has("output does not match /^Hello/")
        .stdout_has("not updated regex.md:8: the block after `expected_similarity=\"REGEX\"` is only an example");
    assert_eq!(
        std::fs::read_to_string(dir.join("regex.md")).unwrap(),
        before
    );
}

#[test]
fn azure_powershell_blocks_need_pwsh() {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("pwsh").is_file()))
        .unwrap_or(false);
    let sheet = Sheet::new();
    let dir = sheet.copy_fixture("dialect-ie");
    let ran = sheet
        .current_dir(&dir)
        .args(["check", "powershell.md"])
        .run();
    if on_path {
        ran.code(0);
        return;
    }
    ran.code(1)
        .stdout_has("could not run `pwsh`: cannot start `pwsh`: not found on PATH");

    // PowerShell runs only `.ps1` files: a stand-in `pwsh` that insists on it.
    let sheet = Sheet::new();
    let bin = sheet.dir().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let pwsh = bin.join("pwsh");
    std::fs::write(
        &pwsh,
        "#!/bin/sh
case \"$1\" in *.ps1) echo \"pwsh ran: $(cat \"$1\")\";; *) echo \"not a .ps1: $1\" >&2; exit 64;; esac\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&pwsh, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let dir = sheet.copy_fixture("dialect-ie");
    sheet
        .current_dir(&dir)
        .env("PATH", &path)
        .args(["run", "powershell.md"])
        .run()
        .code(0)
        .stdout_has("│ pwsh ran: Write-Output \"from pwsh\"");
}

#[test]
fn runsheets_own_misspellings_still_refuse_with_a_suggestion() {
    Sheet::new()
        .current_dir(crate::sheet::fixture("dialect-ie"))
        .args(["list", "typos.md"])
        .run()
        .code(2)
        .stderr_has("error[unknown-attribute]: unknown attribute `timout`")
        .stderr_has("typos.md:3:8")
        .stderr_has("help: did you mean `timeout`?");
    let sheet = Sheet::new();
    std::fs::write(
        sheet.dir().join("front.md"),
        "---\ntimout: 5m\nweight: 3\n---\n# T\n",
    )
    .unwrap();
    sheet
        .args(["list", "front.md"])
        .run()
        .code(2)
        .stderr_has("error[unknown-front-matter-key]: unknown front matter key `timout`")
        .stderr_has("front.md:2:1")
        .stderr_has("help: did you mean `timeout`?");
}

#[test]
fn check_refuses_before_anything_runs_when_inputs_are_missing() {
    let sheet = Sheet::new();
    let dir = sheet.copy_fixture("dialect-inputs");
    let ran = sheet
        .current_dir(&dir)
        .args(["check", "deploy.md"])
        .run()
        .code(2)
        .stderr_has("deploy.md needs inputs that nobody supplied; nothing was run:")
        .stderr_has("  API_TOKEN (line 5): a token for the API")
        .stderr_has("  REGION (line 11)")
        .stderr_has("error: inputs are missing; nothing was run");
    assert!(!ran.stderr.contains("GITHUB_USER"), "{}", ran.stderr);
    assert!(!dir.join(".runsheet").exists(), "nothing was recorded");
    Sheet::new()
        .current_dir(&dir)
        .env("API_TOKEN", "s3cr3t-token")
        .args(["check", "deploy.md", "--env", "REGION=eu"])
        .run()
        .code(0);
}

#[test]
fn run_without_a_terminal_takes_inputs_from_env_or_refuses() {
    let sheet = Sheet::new();
    let dir = sheet.copy_fixture("dialect-inputs");
    sheet
        .current_dir(&dir)
        .args(["run", "deploy.md"])
        .run()
        .code(2)
        .stderr_has("  API_TOKEN (line 5): a token for the API")
        .stderr_has("  REGION (line 11)");
    Sheet::new()
        .current_dir(&dir)
        .args([
            "run",
            "deploy.md",
            "--env",
            "API_TOKEN=s3cr3t-token",
            "--env",
            "REGION=eu",
        ])
        .run()
        .code(0)
        .stdout_has("│ user=octocat region=eu token=***")
        .stdout_has("│ still eu")
        .stdout_lacks("s3cr3t-token");
    // A step that needs no input runs without it.
    Sheet::new()
        .current_dir(&dir)
        .env("API_TOKEN", "s3cr3t-token")
        .args(["run", "deploy.md", "--step", "later"])
        .run()
        .code(0);
}

#[test]
fn run_in_a_terminal_asks_once_per_missing_input_and_hides_secrets() {
    let sheet = Sheet::new();
    let dir = sheet.copy_fixture("dialect-inputs");
    // The sheet owns the scratch directory: it must outlive the command.
    let sheet = sheet.current_dir(&dir).args(["run", "deploy.md"]);
    let mut cmd = sheet.command();
    cmd.env_remove("API_TOKEN")
        .env_remove("REGION")
        .env_remove("GITHUB_USER");
    let mut pty = Pty::spawn(cmd);
    pty.wait_for("▶ Deploy needs 3 inputs before it starts:");
    pty.wait_for("? GITHUB_USER (your GitHub login) [octocat]:");
    pty.type_keys("\r");
    pty.wait_for("? API_TOKEN (a token for the API) (secret, not shown):");
    pty.type_keys("s3cr3t-token\r");
    pty.wait_for("? REGION:");
    // An input with nothing to fall back on is asked again.
    pty.type_keys("\r");
    pty.wait_for("a value is needed (Ctrl-C to stop)");
    pty.type_keys("eu-west-1\r");
    let raw_before_run = pty.raw();
    let (code, screen) = pty.wait();
    assert_eq!(code, Some(0), "{screen}");
    assert!(
        screen.contains("? API_TOKEN (a token for the API) (secret, not shown): ***"),
        "{screen}"
    );
    assert!(
        screen.contains("│ user=octocat region=eu-west-1 token=***"),
        "{screen}"
    );
    assert!(!screen.contains("s3cr3t-token"), "{screen}");
    assert!(
        !raw_before_run.contains("s3cr3t-token"),
        "the secret was echoed"
    );
    // Each input was asked for once.
    assert_eq!(screen.matches("? GITHUB_USER").count(), 1, "{screen}");
}

#[test]
fn ctrl_c_at_a_secret_question_stops_before_anything_runs_and_restores_the_echo() {
    let sheet = Sheet::new();
    let dir = sheet.copy_fixture("dialect-inputs");
    let sheet = sheet
        .current_dir(&dir)
        .args(["run", "deploy.md", "--env", "GITHUB_USER=me"]);
    let mut cmd = sheet.command();
    cmd.env_remove("API_TOKEN").env_remove("REGION");
    let mut pty = Pty::spawn(cmd);
    pty.wait_for("(secret, not shown):");
    assert!(!pty.echoes(), "the secret would be echoed");
    pty.type_keys("abc\x03");
    let (code, screen) = pty.wait();
    assert_eq!(code, Some(130), "{screen}");
    assert!(pty.echoes(), "the terminal was left without echo");
    assert!(!dir.join(".runsheet").exists(), "nothing ran:\n{screen}");
}

#[test]
fn a_missing_program_is_named_before_anyone_is_asked_for_inputs() {
    let sheet = Sheet::new();
    std::fs::write(
        sheet.dir().join("needs.md"),
        "---\nrequires: [no-such-program-here]\ninputs: [API_TOKEN]\n---\n# N\n\n```sh\necho $API_TOKEN\n```\n",
    )
    .unwrap();
    let sheet = sheet.args(["run", "needs.md"]);
    let mut pty = Pty::spawn(sheet.command());
    let (code, screen) = pty.wait();
    assert_eq!(code, Some(2), "{screen}");
    assert!(screen.contains("no-such-program-here"), "{screen}");
    assert!(!screen.contains("API_TOKEN"), "{screen}");
}

#[test]
fn mkdocs_admonitions_and_the_first_content_tab_are_steps_in_run_check_and_the_book() {
    let sheet = Sheet::new();
    let dir = sheet.copy_fixture("dialect-mkdocs");
    let written = std::fs::read_to_string(dir.join("install.md")).unwrap();
    let json = listed(&dir, "install.md");
    let steps: Vec<&str> = json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            "mkdir -p agent && echo made-folder\n",
            "echo installing-for-linux\n",
            "echo agent-ok\n"
        ]
    );
    assert_eq!(json["steps"][1]["line"], 17);

    Sheet::new()
        .current_dir(&dir)
        .args(["run", "install.md"])
        .run()
        .code(1) // the stale expected output, below
        .stdout_has("│ made-folder")
        .stdout_has("│ installing-for-linux")
        .stdout_lacks("installing-for-macos");

    // The expected output inside the collapsible block is checked, and
    // updated in place with the block's own indentation.
    Sheet::new()
        .current_dir(&dir)
        .args(["check", "install.md"])
        .run()
        .code(1)
        .stdout_has("install.md:32 output differs");
    Sheet::new()
        .current_dir(&dir)
        .args(["check", "--update", "install.md"])
        .run()
        .code(0);
    let updated = std::fs::read_to_string(dir.join("install.md")).unwrap();
    assert_eq!(
        updated,
        written.replace("    stale\n", "    agent-ok\n"),
        "only the expected output changes"
    );

    // The book titles each box and keeps its panels out of code blocks.
    Sheet::new()
        .current_dir(&dir)
        .args(["book", "--src-only", "-o", "bk", "install.md"])
        .run()
        .code(0);
    let chapter = std::fs::read_to_string(dir.join("bk/src/install.md")).unwrap();
    for title in ["Before you start", "Linux", "macOS", "Check it"] {
        assert!(
            chapter.contains(&format!("- <strong>{title}</strong>\n")),
            "{chapter}"
        );
    }
    assert!(
        !chapter.contains("!!!") && !chapter.contains("==="),
        "{chapter}"
    );
    assert!(
        chapter.contains("\n    <div class=\"runsheet-step"),
        "panels sit inside the box: {chapter}"
    );
}

#[test]
fn docusaurus_tabs_run_only_the_item_a_reader_sees_first() {
    let sheet = Sheet::new();
    let dir = sheet.copy_fixture("dialect-docusaurus");
    let json = listed(&dir, "install.md");
    let roles: Vec<(String, String)> = json["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["code"].as_str().unwrap().trim().to_string(),
                b["role"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let role = |code: &str| {
        roles
            .iter()
            .find(|(c, _)| c.contains(code))
            .map(|(_, r)| r.clone())
    };
    assert_eq!(role("with-npm").as_deref(), Some("step"), "{roles:?}");
    assert_eq!(role("with-yarn").as_deref(), Some("other"), "{roles:?}");
    assert_eq!(role("on-macos").as_deref(), Some("other"), "{roles:?}");
    assert_eq!(role("echo started-on-linux").as_deref(), Some("step"));
    Sheet::new()
        .current_dir(&dir)
        .args(["run", "install.md"])
        .run()
        .code(0)
        .stdout_has("2 steps")
        .stdout_has("│ installed-with-npm")
        .stdout_has("│ started-on-linux")
        .stdout_lacks("installed-with-yarn")
        .stdout_lacks("started-on-macos");
}

#[test]
fn a_vitepress_code_group_runs_its_first_block_only() {
    let sheet = Sheet::new();
    let dir = sheet.copy_fixture("dialect-docusaurus");
    Sheet::new()
        .current_dir(&dir)
        .args(["run", "vitepress.md"])
        .run()
        .code(0)
        .stdout_has("2 steps")
        .stdout_has("│ added-with-npm")
        .stdout_has("│ started")
        .stdout_lacks("added-with-pnpm");
}
