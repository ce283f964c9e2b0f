//! JUnit XML for `check --junit FILE`: one testsuite per runbook, one testcase
//! per step carrying the runbook's `file` and the step's `line` (as attributes
//! and properties) so CI test widgets link back to the Markdown, failures with
//! their diffs, and TODOs as skipped testcases (failures under `--strict`).

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
    let file = checked.path.display().to_string();
    let mut suite = TestSuite::new(file.clone());
    suite.set_time(checked.duration);
    suite.add_property(Property::new("file", file.clone()));
    suite.add_property(Property::new("title", checked.record.title.clone()));
    suite.add_property(Property::new("run_id", checked.record.run_id.clone()));
    if let Some(error) = &checked.error {
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
        status.set_message(error.clone());
        status.set_type("not-run");
        suite.add_test_case(located("(runbook)".into(), status, &file, 1));
    }
    for step in &checked.record.steps {
        suite.add_test_case(step_case(&file, step));
    }
    for todo in &checked.record.todos {
        suite.add_test_case(todo_case(&file, todo, strict));
    }
    suite
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
            status.set_message(match (&step.failed_command, step.failed_line) {
                (Some(command), Some(line)) => {
                    format!("{} at line {line}: {command}", step_reason(step))
                }
                _ => step_reason(step),
            });
            status.set_type(step.status.as_str());
            status.set_description(failure_text(file, step));
            status
        }
        StepStatus::Skipped | StepStatus::Manual | StepStatus::NotRun => {
            let mut status = TestCaseStatus::skipped();
            let why = step
                .reason
                .clone()
                .unwrap_or_else(|| step.status.as_str().into());
            status.set_message(why);
            status.set_type(step.status.as_str());
            status
        }
    };
    let mut case = located(step.id.clone(), status, file, step.line);
    case.set_time(Duration::from_millis(step.duration_ms));
    if let Some(line) = step.failed_line.filter(|_| step.failed()) {
        case.add_property(Property::new("failed_line", line.to_string()));
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
    status.set_message(format!("missing step: {}", todo.text));
    status.set_type("todo");
    let name = format!("TODO (line {}): {}", todo.line, todo.text);
    located(name, status, file, todo.line)
}

#[cfg(test)]
mod tests {
    use super::*;
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
}
