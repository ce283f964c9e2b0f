use std::time::Duration;

use super::*;
use crate::exec::ShellState;
use crate::source::Span;

fn outcome(combined: &str) -> Outcome {
    Outcome {
        ending: Ending::Exited,
        exit_code: Some(0),
        duration: Duration::from_millis(5),
        combined: combined.as_bytes().to_vec(),
        stdout: Vec::new(),
        stderr: Vec::new(),
        truncated: false,
        state: ShellState::default(),
        failed_line: None,
    }
}

fn split(stdout: &str, stderr: &str) -> Outcome {
    Outcome {
        stdout: stdout.as_bytes().to_vec(),
        stderr: stderr.as_bytes().to_vec(),
        ..outcome(&format!("{stdout}{stderr}"))
    }
}

fn step(checks: Vec<Check>) -> Step {
    Step {
        id: "s".into(),
        section: None,
        line: 1,
        lang: "sh".into(),
        code: "true\n".into(),
        attrs: Default::default(),
        kind: StepKind::Shell {
            program: "bash".into(),
        },
        options: Default::default(),
        checks,
        span: Span::default(),
        hash: String::new(),
    }
}

fn output(expected: &str, mode: MatchMode, stream: Stream) -> Check {
    Check::Output {
        line: 7,
        expected: expected.into(),
        mode,
        stream,
        content_span: Span::default(),
    }
}

fn one(check: Check, out: &Outcome) -> CheckRecord {
    let mut records = step_checks(&step(vec![check]), out);
    assert_eq!(records.len(), 1);
    records.remove(0)
}

#[test]
fn exact_match_after_normalisation() {
    let check = output("hello\nworld\n", MatchMode::Exact, Stream::Both);
    let r = one(check, &outcome("\x1b[1mhello\x1b[0m  \r\nworld\r\n\r\n"));
    assert!(r.passed, "{r:?}");
    assert_eq!(r.kind, "output");
    assert_eq!(r.line, 7);
    assert_eq!(r.diff, None);
    assert_eq!(r.actual.as_deref(), Some("hello\nworld\n"));
}

#[test]
fn exact_mismatch_gives_a_unified_diff_of_only_the_real_change() {
    let check = output("id: [..]\n...\ncount: 3\n", MatchMode::Exact, Stream::Both);
    let r = one(check, &outcome("id: 81f2\nnoise\ncount: 4\n"));
    assert!(!r.passed);
    assert_eq!(r.message, "output differs from the expected block");
    let diff = r.diff.expect("a diff");
    assert!(diff.starts_with("--- expected\n+++ actual\n"), "{diff}");
    assert!(diff.contains("\n-count: 3\n+count: 4\n"), "{diff}");
    assert!(!diff.contains("-id: [..]"), "{diff}");
    assert!(!diff.contains("+noise"), "{diff}");
    assert_eq!(r.actual.as_deref(), Some("id: [..]\n...\ncount: 4\n"));
}

#[test]
fn an_empty_block_expects_no_output() {
    assert!(one(output("", MatchMode::Exact, Stream::Both), &outcome("\n\n")).passed);
    assert!(!one(output("", MatchMode::Exact, Stream::Both), &outcome("x\n")).passed);
}

#[test]
fn contains_mode_is_a_substring_of_the_normalised_output() {
    let check = output("Successfully built\n", MatchMode::Contains, Stream::Both);
    assert!(one(check.clone(), &outcome("step 1\nSuccessfully built 81f2\n")).passed);
    let r = one(check, &outcome("step 1\nError\n"));
    assert!(!r.passed);
    assert_eq!(r.message, "output does not contain the expected block");
    assert!(r.diff.is_some());
    let long: String = (0..100).map(|i| format!("line {i}\n")).collect();
    let check = output("missing\n", MatchMode::Contains, Stream::Both);
    let r = one(check, &outcome(&long));
    assert_eq!(
        r.diff, None,
        "a long output gets no diff, its tail is shown"
    );
    assert_eq!(r.actual.as_deref(), Some(long.as_str()));
}

#[test]
fn regex_mode_searches_with_line_anchors() {
    let check = output("^version \\d+\\.\\d+\n", MatchMode::Regex, Stream::Both);
    assert!(one(check.clone(), &outcome("tool\nversion 1.2\n")).passed);
    assert!(!one(check, &outcome("tool version 1.2\n")).passed);
    let bad = one(output("(\n", MatchMode::Regex, Stream::Both), &outcome("x"));
    assert!(!bad.passed);
    assert!(bad.message.starts_with("invalid regex"), "{}", bad.message);
}

#[test]
fn stream_selection() {
    let out = split("to stdout\n", "to stderr\n");
    assert!(
        one(
            output("to stdout\n", MatchMode::Exact, Stream::Stdout),
            &out
        )
        .passed
    );
    assert!(
        one(
            output("to stderr\n", MatchMode::Exact, Stream::Stderr),
            &out
        )
        .passed
    );
    let both = "to stdout\nto stderr\n";
    assert!(one(output(both, MatchMode::Exact, Stream::Both), &out).passed);
    let r = one(
        output("to stdout\n", MatchMode::Exact, Stream::Stderr),
        &out,
    );
    assert!(!r.passed);
    assert_eq!(r.message, "stderr differs from the expected block");
}

#[test]
fn hidden_checks() {
    let out = outcome("Deployed \x1b[32mv2\x1b[0m to prod\n");
    let contains = |t: &str| Check::Contains {
        line: 3,
        text: t.into(),
    };
    let not = |t: &str| Check::NotContains {
        line: 4,
        text: t.into(),
    };
    let re = |t: &str| Check::Matches {
        line: 5,
        regex: t.into(),
    };
    assert!(one(contains("v2 to prod"), &out).passed);
    let r = one(contains("staging"), &out);
    assert!(!r.passed);
    assert_eq!(r.message, "output does not contain \"staging\"");
    assert_eq!(r.actual.as_deref(), Some("Deployed v2 to prod\n"));
    assert!(one(not("ERROR"), &out).passed);
    let r = one(not("prod"), &out);
    assert!(!r.passed);
    assert_eq!(r.kind, "not-contains");
    assert!(one(re("^Deployed v\\d+"), &out).passed);
    assert!(!one(re("^v\\d+"), &out).passed);
    assert!(one(re("(").clone(), &out)
        .message
        .starts_with("invalid regex"));
}

#[test]
fn truncated_output_is_said_in_the_message() {
    let mut out = outcome("tail\n");
    out.truncated = true;
    let r = one(output("head\ntail\n", MatchMode::Exact, Stream::Both), &out);
    assert!(r.message.contains("only the end of a long output was kept"));
}

fn command(expected: Option<&str>, exit: Option<ExitExpect>) -> ConsoleCommand {
    ConsoleCommand {
        command: "echo hi".into(),
        line: 12,
        expected: expected.map(str::to_string),
        exit,
        output_span: Span::default(),
    }
}

#[test]
fn console_command_output_and_exit() {
    let ok = outcome("hi\n");
    assert!(console_check(&command(None, None), &ok).is_none());
    let r = console_check(&command(Some("hi\n"), None), &ok).expect("checked");
    assert!(r.passed);
    assert_eq!((r.kind.as_str(), r.line), ("console", 12));

    let r = console_check(&command(Some("bye\n"), None), &ok).expect("checked");
    assert!(!r.passed);
    assert_eq!(r.message, "`echo hi`: output differs from the transcript");
    assert!(r.diff.unwrap().contains("-bye\n+hi\n"));
    assert_eq!(r.actual.as_deref(), Some("hi\n"));

    let mut failed = outcome("hi\n");
    failed.exit_code = Some(2);
    let r = console_check(&command(None, None), &failed).expect("a failed default exit");
    assert!(!r.passed);
    assert_eq!(r.message, "`echo hi`: exit status 2, expected 0");
    let r = console_check(
        &command(Some("hi\n"), Some(ExitExpect::Codes(vec![2]))),
        &failed,
    )
    .expect("checked");
    assert!(r.passed, "{r:?}");
    let r = console_check(&command(None, Some(ExitExpect::Nonzero)), &ok).expect("checked");
    assert_eq!(r.message, "`echo hi`: exit status 0, expected nonzero");
    let r = console_check(&command(Some("x\n"), Some(ExitExpect::Nonzero)), &ok).unwrap();
    assert_eq!(
        r.message,
        "`echo hi`: output differs from the transcript; exit status 0, expected nonzero"
    );
}

#[test]
fn capture_follows_the_checks() {
    assert_eq!(capture_for(&step(vec![])), Capture::None);
    let both = output("x\n", MatchMode::Exact, Stream::Both);
    assert_eq!(capture_for(&step(vec![both])), Capture::Combined);
    let err = output("x\n", MatchMode::Exact, Stream::Stderr);
    assert_eq!(capture_for(&step(vec![err])), Capture::Split);
    let hidden = Check::Contains {
        line: 1,
        text: "x".into(),
    };
    assert_eq!(capture_for(&step(vec![hidden])), Capture::Combined);
    let mut console = step(vec![]);
    console.kind = StepKind::Console {
        program: "bash".into(),
        commands: vec![command(Some("hi\n"), None)],
    };
    assert_eq!(capture_for(&console), Capture::Combined);
}

fn similar(expected: &str, want: crate::model::Similarity, json: bool) -> Check {
    Check::Similar {
        line: 9,
        expected: expected.into(),
        want,
        json,
        content_span: Span::default(),
    }
}

fn score(min: f64) -> crate::model::Similarity {
    crate::model::Similarity::Score { min }
}

#[test]
fn similarity_passes_at_the_threshold_as_innovation_engine_scores_it() {
    // Innovation Engine's own fuzzy-match scenario.
    let r = one(
        similar("Hello world\n", score(0.8), false),
        &outcome("Hello World\n"),
    );
    assert!(r.passed, "{r:?}");
    assert_eq!(r.kind, "similarity");
    assert_eq!(
        r.message,
        "output is 0.96 similar to the expected block (needs 0.8)"
    );
    // Surrounding blank lines and spaces do not count.
    let r = one(
        similar("\n  ready  \n\n", score(1.0), false),
        &outcome("ready\n\n\n"),
    );
    assert!(r.passed, "{r:?}");
    // The textbook pair: Jaro-Winkler of MARTHA and MARHTA is 0.961.
    assert!((similarity("MARTHA", "MARHTA", false) - 0.9611).abs() < 1e-3);
}

#[test]
fn a_failed_similarity_states_the_score_and_the_threshold() {
    let r = one(
        similar("Hello there\n", score(0.95), false),
        &outcome("Goodbye\n"),
    );
    assert!(!r.passed);
    assert_eq!(
        r.message,
        "output is only 0.49 similar to the expected block; it needs 0.95 (Jaro-Winkler)"
    );
    assert_eq!(
        r.diff.as_deref(),
        Some("--- expected (similarity needed: 0.95)\n+++ actual (similarity: 0.49)\n@@ -1 +1 @@\n-Hello there\n+Goodbye\n")
    );
    assert_eq!(r.actual.as_deref(), Some("Goodbye\n"));
}

#[test]
fn json_is_compared_whatever_the_key_order() {
    let expected = "{\n  \"name\": \"rg\",\n  \"location\": \"eastus\"\n}\n";
    let actual = "{\"location\":\"eastus\",\"name\":\"rg\"}\n";
    let r = one(similar(expected, score(1.0), true), &outcome(actual));
    assert!(r.passed, "{r:?}");
    // The same texts as plain text are far apart.
    let r = one(similar(expected, score(1.0), false), &outcome(actual));
    assert!(!r.passed);
}

#[test]
fn a_regex_expectation_searches_the_output_with_variables_filled_in() {
    let regex = |r: &str| crate::model::Similarity::Regex { regex: r.into() };
    let mut out = outcome("resource rg-123 is available.\n");
    out.state.env.insert("RG".into(), Some("rg".into()));
    let r = one(
        similar("only an example\n", regex(r"$RG-\d+ is available"), false),
        &out,
    );
    assert!(r.passed, "{r:?}");
    assert_eq!(r.kind, "regex-search");
    let r = one(similar("x", regex(r"${RG}-\d+ is gone"), false), &out);
    assert!(!r.passed);
    assert_eq!(r.message, r"output does not match /${RG}-\d+ is gone/");
    assert_eq!(r.actual.as_deref(), Some("resource rg-123 is available.\n"));
    let r = one(similar("x", regex("(?!x)"), false), &out);
    assert!(!r.passed);
    assert!(r.message.contains("is not a valid regex"), "{}", r.message);
}

#[test]
fn regex_variables_expand_as_innovation_engine_expands_them() {
    let value = |name: &str| (name == "A").then(|| "a.b".to_string());
    assert_eq!(expand("x$A-${A}y", &value), "xa.b-a.by");
    assert_eq!(expand("x$B$", &value), "x$");
    assert_eq!(expand(r"cost \$5 and done$", &value), "cost $5 and done$");
    assert_eq!(expand(r"\d+ $) ${}", &value), r"\d+ $) ${}");
}

#[test]
fn a_long_diff_is_capped_with_how_many_more_lines_differ() {
    let expected = "x\n";
    let actual: String = (1..=5000).map(|i| format!("{i}\n")).collect();
    let diff = unified_diff(expected, &actual).expect("they differ");
    let lines: Vec<&str> = diff.lines().collect();
    assert_eq!(lines.len(), MAX_DIFF_LINES + 1);
    assert_eq!(
        lines[..3],
        ["--- expected", "+++ actual", "@@ -1 +1,5000 @@"]
    );
    // 5,001 changed lines (one removed, 5,000 added), 997 of them shown.
    assert_eq!(lines[MAX_DIFF_LINES], "... 4004 more lines differ");
    let short = unified_diff("a\n", "b\n").unwrap();
    assert!(!short.contains("more lines differ"), "{short}");
}
