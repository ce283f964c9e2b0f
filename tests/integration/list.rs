//! `runsheet list` end to end.

use std::path::Path;

use crate::sheet::{assert_golden, fixture, Sheet};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn outline_of_every_feature() {
    let ran = Sheet::new()
        .current_dir(fixture("parse-features"))
        .args(["list", "runbook.md"])
        .run()
        .code(0);
    assert_golden(&fixture("parse-features/list.txt"), &ran.stdout);
}

#[test]
fn json_of_every_feature() {
    let ran = Sheet::new()
        .current_dir(fixture("parse-features"))
        .args(["list", "--json", "runbook.md"])
        .run()
        .code(0);
    assert_golden(&fixture("parse-features/list.json"), &ran.stdout);
    let v = ran.json();
    for key in ["runbook", "title", "sections", "steps", "todos", "blocks"] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
}

#[test]
fn the_concourse_runbook_has_every_seed_command_and_todo() {
    let ran = Sheet::new()
        .current_dir(repo())
        .args(["list", "--json", "runbooks/concourse.md"])
        .run()
        .code(0);
    let v = ran.json();
    let steps = v["steps"].as_array().expect("steps");
    let code_of = |needle: &str| {
        steps
            .iter()
            .find(|s| s["code"].as_str().unwrap_or("").contains(needle))
            .unwrap_or_else(|| panic!("no step runs {needle:?}"))
    };
    for command in [
        "poetry install",
        "cd src/bilder/images/concourse",
        "pyinfra @docker/debian:bookworm deploy.py",
        "pr packer build -on-error=ask -var node_type=web -var app_name=concourse -only amazon-ebs.third-party src/bilder/images",
    ] {
        code_of(command);
    }
    assert_eq!(code_of("cd src/bilder")["options"]["setup"], true);
    assert_eq!(code_of("pyinfra @docker")["section"], "local-testing");
    let todos: Vec<(String, String)> = v["todos"]
        .as_array()
        .expect("todos")
        .iter()
        .map(|t| {
            (
                t["section"].as_str().unwrap().to_string(),
                t["text"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        todos,
        [
            (
                "local-testing".to_string(),
                "Figure out what we actually use for a base container and cite that in this doc."
                    .to_string()
            ),
            (
                "initial-testing-in-ci".into(),
                "Add curl smoke test for web node".into()
            ),
            (
                "deployment-to-qa-and-beyond".into(),
                "Add further testing details".into()
            ),
        ]
    );
    // Each TODO's line holds its text in the file.
    let text = std::fs::read_to_string(repo().join("runbooks/concourse.md")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    for t in v["todos"].as_array().unwrap() {
        let line = lines[t["line"].as_u64().unwrap() as usize - 1];
        assert!(line.contains("**TODO"), "line {}: {line}", t["line"]);
    }
}

#[test]
fn the_quickstart_lists_cleanly() {
    let ran = Sheet::new()
        .current_dir(repo())
        .args(["list", "--json", "runbooks/quickstart.md"])
        .run()
        .code(0);
    let v = ran.json();
    assert_eq!(v["title"], "Quickstart");
    assert_eq!(v["todos"].as_array().unwrap().len(), 1);
    let steps = v["steps"].as_array().unwrap();
    // The README's first command runs it with or without a terminal: it
    // holds no step that needs a person.
    assert!(steps.iter().all(|s| s["options"]["manual"] != true
        && s["options"]["confirm"] != true
        && s["options"]["interactive"] != true));
    assert!(steps.iter().any(|s| s["kind"] == "console"));
}

/// Every error a runbook can have: `list` refuses it with exit 2 and shows
/// where, what and what to do.
#[test]
fn each_error_is_shown_in_place_with_help() {
    let cases = [
        (
            "unknown-attribute.md",
            "3:8",
            "unknown attribute `timout`",
            "did you mean `timeout`?",
        ),
        (
            "unknown-front-key.md",
            "3:1",
            "unknown front matter key `reqiures`",
            "did you mean `requires`?",
        ),
        (
            "bad-duration.md",
            "3:8",
            "`timeout=soon` is not a duration",
            "like `90s`, `20m` or `1h30m`",
        ),
        (
            "bad-exit.md",
            "3:8",
            "`exit=maybe` is not an exit status",
            "`any` or `nonzero`",
        ),
        (
            "bad-retry.md",
            "3:8",
            "`retry=many` is not a number of attempts",
            "like `retry=3`",
        ),
        (
            "duplicate-id.md",
            "7:8",
            "step id `build` is already used by the step at line 3",
            "its own id",
        ),
        (
            "invalid-id.md",
            "3:8",
            "`Build_Step` is not a valid step id",
            "try `#build_step`",
        ),
        (
            "output-without-step.md",
            "5:1",
            "this `output` block has no step before it",
            "after the code block",
        ),
        (
            "unterminated-fence.md",
            "3:3",
            "this code block is never closed",
            "add a closing fence (```)",
        ),
        (
            "bad-check.md",
            "7:1",
            "unknown check `containz`",
            "did you mean `contains`?",
        ),
        (
            "bad-console-exit.md",
            "5:1",
            "`? sometimes` is not an exit status",
            "`? success` or `? failed`",
        ),
        (
            "unknown-interpreter.md",
            "3:11",
            "does not know which program runs `cobol` blocks",
            "run=PROGRAM",
        ),
        (
            "bad-output-attr.md",
            "7:12",
            "`match=fuzzy` is not a valid choice",
            "exact, contains, regex",
        ),
    ];
    for (file, at, message, help) in cases {
        let ran = Sheet::new()
            .current_dir(fixture("parse-errors"))
            .args(["list", file])
            .run()
            .code(2)
            .stderr_has(message)
            .stderr_has(&format!("{file}:{at}"))
            .stderr_has("= help: ")
            .stderr_has(help)
            .stderr_has(&format!("error: {file} is not a valid runbook: 1 error"));
        assert!(ran.stdout.is_empty(), "{file}: {}", ran.stdout);
    }
}

#[test]
fn the_offending_line_is_shown_with_a_caret() {
    Sheet::new()
        .current_dir(fixture("parse-errors"))
        .args(["list", "unknown-attribute.md"])
        .run()
        .code(2)
        .stderr_has("3 | ```sh {timout=5m}")
        .stderr_has("|        ^^^^^^^^^");
}

#[test]
fn a_missing_file_is_a_usage_error() {
    Sheet::new()
        .args(["list", "nope.md"])
        .run()
        .code(2)
        .stderr_has("cannot read nope.md");
}

#[test]
fn a_closed_pipe_ends_quietly() {
    use std::io::Read;
    use std::process::Stdio;
    let sheet = Sheet::new();
    // Far more output than a pipe buffers, so the writer meets the closed pipe.
    let steps: String = (0..3000)
        .map(|i| format!("```sh\necho step {i}\n```\n\n"))
        .collect();
    std::fs::write(sheet.dir().join("big.md"), format!("# Big\n\n{steps}")).unwrap();
    // Keep the builder (and its scratch dir) alive while the child runs.
    let sheet = sheet.args(["list", "--json", "big.md"]);
    let mut child = sheet
        .command()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read a little, then close the pipe as `head` would.
    let mut out = child.stdout.take().unwrap();
    let mut start = [0u8; 16];
    out.read_exact(&mut start).unwrap();
    drop(out);
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    child.wait().unwrap();
    assert!(!err.contains("panicked"), "{err}");
}

/// A runbook large enough that `list` grows the heap ahead in huge pages
/// (`heap`) lists exactly what the same runbook parsed and written here, on
/// a test thread that grows nothing, lists: none of it changes a byte of
/// the model.
#[test]
fn a_large_runbook_lists_the_same_from_a_heap_grown_ahead() {
    let sheet = Sheet::new();
    let mut text = String::from("---\ntitle: Large\n---\n\n");
    for i in 0..12_000 {
        text.push_str(&format!(
            "## Part {i}: deploy\n\nProse about part {i}, with `code` and **bold**.\n\n\
             ```bash {{#s{i} timeout=5m tags=slow,aws}}\ncd /srv/{i}\nmake TARGET={i}\n```\n\n\
             ```output {{match=contains}}\nbuilt [..]\n```\n\n\
             ```console\n$ echo {i}\n{i}\n```\n\n- **TODO**: part {i}\n\n"
        ));
    }
    assert!(text.len() > 2 << 20, "{} bytes", text.len());
    let path = sheet.dir().join("large.md");
    std::fs::write(&path, &text).unwrap();
    let listed = sheet.args(["list", "--json"]).arg(&path).run().code(0);
    let source = runsheet::source::Source::new(&path, text);
    let parsed = runsheet::parse::parse(&source);
    let mut here = Vec::new();
    runsheet::report::outline::write_json(&parsed.runbook, &mut here).unwrap();
    assert!(
        listed.stdout.as_bytes() == here,
        "the binary's JSON differs from the one written here"
    );
}
