//! JUnit XML for `check --junit FILE`: one testsuite per runbook, one testcase
//! per step carrying the runbook's `file` and the step's `line` (as attributes
//! and properties) so CI test widgets link back to the Markdown, failures with
//! their diffs, and TODOs as skipped testcases (failures under `--strict`).
//!
//! Every string passes through [`xml_text`]: a step may print anything, and a
//! report CI cannot parse is worse than none.

use std::fmt::Write as _;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use crate::record::{StepRecord, StepStatus, TodoRecord};

use super::drift::{failed_checks, step_reason, Checked};

/// The report as an XML document.
pub fn render(results: &[Checked], strict: bool) -> String {
    let mut report = Report::new("runsheet check");
    let mut total = Duration::ZERO;
    for checked in results {
        report.add_test_suite(suite(checked, strict));
        total += checked.duration;
    }
    report.set_time(total);
    report
        .to_string()
        .expect("quick-junit serialises plain strings")
}

fn suite(checked: &Checked, strict: bool) -> TestSuite {
    let file = xml_text(&checked.path.display().to_string());
    let mut suite = TestSuite::new(file.clone());
    suite.set_time(checked.duration);
    suite.add_property(Property::new("file", file.clone()));
    suite.add_property(Property::new("title", xml_text(&checked.record.title)));
    suite.add_property(Property::new("run_id", xml_text(&checked.record.run_id)));
    if let Some(error) = &checked.error {
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
        status.set_message(xml_text(error));
        status.set_type("not-run");
        suite.add_test_case(located("(runbook)".into(), status, &file, 1));
    }
    for step in &checked.record.steps {
        if step.hosts.is_empty() {
            suite.add_test_case(step_case(&file, step));
        } else {
            // A fanned-out step: one testcase per host.
            for host in &step.hosts {
                suite.add_test_case(step_case(&file, &on_host(step, host)));
            }
        }
    }
    for todo in &checked.record.todos {
        suite.add_test_case(todo_case(&file, todo, strict));
    }
    suite
}

/// One host's part of a fanned-out step, as a step of its own named
/// `step (host)`.
fn on_host(step: &StepRecord, host: &crate::record::HostRecord) -> StepRecord {
    let failed = host.status != StepStatus::Passed;
    StepRecord {
        id: format!("{} ({})", step.id, host.host),
        status: host.status,
        exit_code: host.exit_code,
        duration_ms: host.duration_ms,
        reason: host.reason.clone(),
        log: host.log.clone(),
        host: Some(host.host.clone()),
        hosts: Vec::new(),
        failed_line: step.failed_line.filter(|_| failed),
        failed_command: None,
        checks: Vec::new(),
        ..step.clone()
    }
}

fn located(name: String, status: TestCaseStatus, file: &str, line: usize) -> TestCase {
    let mut case = TestCase::new(name, status);
    case.set_classname(file.to_string());
    case.extra.insert("file".into(), file.into());
    case.extra.insert("line".into(), line.to_string().into());
    case.add_property(Property::new("file", file.to_string()));
    case.add_property(Property::new("line", line.to_string()));
    case
}

fn step_case(file: &str, step: &StepRecord) -> TestCase {
    let status = match step.status {
        StepStatus::Passed => TestCaseStatus::success(),
        StepStatus::Failed | StepStatus::TimedOut | StepStatus::Interrupted => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status.set_message(xml_text(&match (&step.failed_command, step.failed_line) {
                (Some(command), Some(line)) => {
                    format!("{} at line {line}: {command}", step_reason(step))
                }
                _ => step_reason(step),
            }));
            status.set_type(step.status.as_str());
            status.set_description(xml_text(&failure_text(file, step)));
            status
        }
        StepStatus::Skipped | StepStatus::Manual | StepStatus::NotRun => {
            let mut status = TestCaseStatus::skipped();
            let why = step
                .reason
                .clone()
                .unwrap_or_else(|| step.status.as_str().into());
            status.set_message(xml_text(&why));
            status.set_type(step.status.as_str());
            status
        }
    };
    let mut case = located(xml_text(&step.id), status, file, step.line);
    case.set_time(Duration::from_millis(step.duration_ms));
    if let Some(line) = step.failed_line.filter(|_| step.failed()) {
        case.add_property(Property::new("failed_line", line.to_string()));
    }
    if let Some(host) = &step.host {
        case.add_property(Property::new("host", xml_text(host)));
    }
    case
}

/// Where the step failed and every failed check with its place and diff,
/// for the failure's body.
fn failure_text(file: &str, step: &StepRecord) -> String {
    let line = step.failed_line.unwrap_or(step.line);
    let mut text = format!("{file}:{line}: {}\n", step_reason(step));
    if let Some(command) = &step.failed_command {
        let _ = writeln!(text, "failed at {file}:{line}: {command}");
    }
    for check in failed_checks(step) {
        let _ = writeln!(text, "{file}:{}: {}", check.line, check.message);
        if let Some(diff) = &check.diff {
            text.push_str(diff);
        } else if let Some(actual) = &check.actual {
            text.push_str("output:\n");
            text.push_str(actual);
        }
    }
    text
}

fn todo_case(file: &str, todo: &TodoRecord, strict: bool) -> TestCase {
    let mut status = if strict {
        TestCaseStatus::non_success(NonSuccessKind::Failure)
    } else {
        TestCaseStatus::skipped()
    };
    status.set_message(xml_text(&format!("missing step: {}", todo.text)));
    status.set_type("todo");
    let name = xml_text(&format!("TODO (line {}): {}", todo.line, todo.text));
    located(name, status, file, todo.line)
}

/// Text XML 1.0 can hold: every character it forbids (control characters
/// other than tab, LF and CR; U+FFFE and U+FFFF) becomes U+FFFD, so a reader
/// sees that something was there. Escape sequences are kept whole for
/// quick-junit, which strips ANSI codes itself.
pub(crate) fn xml_text(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' | '\u{1b}' => c,
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => '\u{fffd}',
            _ => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    use crate::report::drift::tests::sample;

    #[test]
    fn reads_back_with_places_failures_and_todos() {
        let xml = render(&[sample()], false);
        let report = Report::deserialize_from_str(&xml).expect("valid JUnit");
        assert_eq!(report.tests, 4);
        assert_eq!(report.failures, 1);
        assert_eq!(report.skipped, 2);
        let suite = &report.test_suites[0];
        assert_eq!(suite.name.as_str(), "runbooks/app.md");
        let build = &suite.test_cases[1];
        assert_eq!(build.name.as_str(), "build");
        assert_eq!(
            build.extra.get("file").map(|s| s.as_str()),
            Some("runbooks/app.md")
        );
        assert_eq!(build.extra.get("line").map(|s| s.as_str()), Some("12"));
        match &build.status {
            TestCaseStatus::NonSuccess {
                message,
                description,
                ..
            } => {
                assert_eq!(message.as_ref().unwrap().as_str(), "1 check failed");
                let body = description.as_ref().unwrap().as_str();
                assert!(
                    body.contains("runbooks/app.md:16: output differs"),
                    "{body}"
                );
                assert!(body.contains("-count: 3\n+count: 4"), "{body}");
            }
            other => panic!("not a failure: {other:?}"),
        }
        assert!(matches!(
            suite.test_cases[3].status,
            TestCaseStatus::Skipped { .. }
        ));
        assert!(suite.test_cases[3]
            .name
            .as_str()
            .starts_with("TODO (line 40)"));
    }

    #[test]
    fn a_failure_names_the_line_and_command_that_failed() {
        let mut checked = sample();
        let step = &mut checked.record.steps[1];
        step.checks.clear();
        step.reason = Some("exit status 1, expected 0".into());
        step.failed_line = Some(14);
        step.failed_command = Some("grep -H retention conf".into());
        let xml = render(&[checked], false);
        let report = Report::deserialize_from_str(&xml).expect("valid JUnit");
        let build = &report.test_suites[0].test_cases[1];
        assert!(build
            .properties
            .iter()
            .any(|p| p.name.as_str() == "failed_line" && p.value.as_str() == "14"));
        match &build.status {
            TestCaseStatus::NonSuccess {
                message,
                description,
                ..
            } => {
                assert_eq!(
                    message.as_ref().unwrap().as_str(),
                    "exit status 1, expected 0 at line 14: grep -H retention conf"
                );
                let body = description.as_ref().unwrap().as_str();
                assert!(
                    body.starts_with(
                        "runbooks/app.md:14: exit status 1, expected 0\n\
                     failed at runbooks/app.md:14: grep -H retention conf"
                    ),
                    "{body}"
                );
            }
            other => panic!("not a failure: {other:?}"),
        }
    }

    #[test]
    fn strict_makes_todos_failures() {
        let xml = render(&[sample()], true);
        let report = Report::deserialize_from_str(&xml).expect("valid JUnit");
        assert_eq!(report.failures, 2);
    }

    /// Reads the whole document with a strict XML parser; any error means CI
    /// could not read the report.
    fn assert_well_formed(xml: &str) {
        let mut reader = quick_xml::Reader::from_str(xml);
        reader.config_mut().check_end_names = true;
        loop {
            match reader.read_event() {
                Ok(quick_xml::events::Event::Eof) => break,
                Ok(quick_xml::events::Event::Text(t)) => {
                    let text = t.decode().expect("text decodes");
                    assert!(
                        text.chars().all(xml_char),
                        "a character XML forbids: {text:?}"
                    );
                }
                Ok(quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e)) => {
                    for a in e.attributes() {
                        let a = a.expect("attribute parses");
                        let v = a
                            .normalized_value(quick_xml::XmlVersion::default())
                            .expect("attribute value unescapes");
                        assert!(v.chars().all(xml_char), "a character XML forbids: {v:?}");
                    }
                }
                Ok(_) => {}
                Err(e) => panic!("not well-formed at {}: {e}\n{xml}", reader.error_position()),
            }
        }
    }

    /// XML 1.0's `Char` production.
    fn xml_char(c: char) -> bool {
        matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
    }

    #[test]
    fn any_output_gives_a_well_formed_report() {
        let hostile = "a\u{fffe}b\u{ffff}c\u{0}d\u{1}e\u{8}f\u{b}g\u{c}h\u{1f}i\u{1b}[31mred\u{1b}[0m\u{1b}j\u{7f}\u{85}k\u{fffd}l <&>\"' ]]> 😀";
        let mut checked = sample();
        checked.path = PathBuf::from(format!("runbooks/{hostile}.md"));
        checked.record.title = hostile.into();
        checked.record.run_id = hostile.into();
        checked.error = Some(hostile.into());
        let step = &mut checked.record.steps[1];
        step.reason = Some(hostile.into());
        step.checks[0].message = hostile.into();
        step.checks[0].diff = Some(format!("--- expected\n+++ actual\n-x\n+{hostile}\n"));
        checked.record.steps[2].reason = Some(hostile.into());
        checked.record.todos[0].text = hostile.into();
        for strict in [false, true] {
            let xml = render(std::slice::from_ref(&checked), strict);
            assert_well_formed(&xml);
            assert!(
                xml.contains("k\u{fffd}l"),
                "text around forbidden characters is kept"
            );
            assert!(xml.contains("a\u{fffd}b\u{fffd}c"), "{xml}");
            assert!(!xml.contains("[31m"), "ANSI codes are removed");
        }
    }
}
