//! GitHub Actions workflow commands for `check` under `GITHUB_ACTIONS=true`:
//! an `::error` per failed step or check and a `::warning` per TODO, each with
//! the runbook's file and line so the annotation lands on the right line of
//! the pull request.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::drift::{failed_checks, step_failed, step_reason, Checked};

/// Is this process running as a GitHub Actions step?
pub fn enabled() -> bool {
    std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
}

/// The repository root GitHub checked out (`GITHUB_WORKSPACE`) and the
/// directory runsheet runs in, to name files as GitHub expects them.
#[derive(Debug, Clone, Default)]
pub struct Place {
    pub workspace: Option<PathBuf>,
    pub cwd: PathBuf,
}

impl Place {
    pub fn from_env() -> Self {
        Place {
            workspace: std::env::var_os("GITHUB_WORKSPACE").map(PathBuf::from),
            cwd: std::env::current_dir().unwrap_or_default(),
        }
    }

    /// `path` relative to the workspace when it lies inside it (annotations
    /// only land on a pull request's lines with repository-relative paths),
    /// else as given.
    pub fn file(&self, path: &Path) -> String {
        let inside = self.workspace.as_deref().and_then(|ws| {
            self.cwd
                .join(path)
                .strip_prefix(ws)
                .ok()
                .map(Path::to_path_buf)
        });
        inside
            .unwrap_or_else(|| path.to_path_buf())
            .display()
            .to_string()
    }
}

/// The annotations, one workflow command per line. Under `strict`, TODOs are
/// errors, matching the exit status.
pub fn annotations(results: &[Checked], strict: bool, place: &Place) -> String {
    let mut out = String::new();
    for checked in results {
        let file = place.file(&checked.path);
        if let Some(error) = &checked.error {
            command(&mut out, "error", &file, 1, "runbook not run", error);
        }
        for step in checked
            .record
            .steps
            .iter()
            .filter(|s| step_failed(s.status))
        {
            let checks = failed_checks(step);
            if checks.is_empty() {
                let title = format!("step `{}` failed", step.id);
                let mut message = step_reason(step);
                if let Some(cmd) = &step.failed_command {
                    message.push_str(&format!("\nfailed at {cmd}"));
                }
                command(
                    &mut out,
                    "error",
                    &file,
                    step.failed_line.unwrap_or(step.line),
                    &title,
                    &message,
                );
            }
            for check in checks {
                let title = format!("step `{}`: {} check failed", step.id, check.kind);
                let mut message = check.message.clone();
                if let Some(diff) = &check.diff {
                    message.push('\n');
                    message.push_str(diff);
                }
                command(&mut out, "error", &file, check.line, &title, &message);
            }
        }
        let level = if strict { "error" } else { "warning" };
        for todo in &checked.record.todos {
            command(
                &mut out,
                level,
                &file,
                todo.line,
                "Missing step (TODO)",
                &todo.text,
            );
        }
    }
    out
}

fn command(out: &mut String, level: &str, file: &str, line: usize, title: &str, message: &str) {
    let _ = writeln!(
        out,
        "::{level} file={},line={line},title={}::{}",
        escape_property(file),
        escape_property(title),
        escape_data(message.trim_end_matches('\n'))
    );
}

/// GitHub's escaping of a command's message.
pub fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// GitHub's escaping of a property value (`file=`, `title=`): the message's
/// rules plus `:` and `,`, which would end the value.
pub fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::drift::tests::sample;

    #[test]
    fn files_are_named_relative_to_the_workspace() {
        let place = Place {
            workspace: Some("/ws".into()),
            cwd: "/ws/docs".into(),
        };
        assert_eq!(place.file(Path::new("runbooks/a.md")), "docs/runbooks/a.md");
        assert_eq!(place.file(Path::new("/ws/x.md")), "x.md");
        assert_eq!(place.file(Path::new("/elsewhere/x.md")), "/elsewhere/x.md");
        assert_eq!(Place::default().file(Path::new("a.md")), "a.md");
    }

    #[test]
    fn escaping_follows_githubs_rules() {
        assert_eq!(escape_data("100% done\r\nnext"), "100%25 done%0D%0Anext");
        assert_eq!(escape_property("a:b,c%"), "a%3Ab%2Cc%25");
    }

    #[test]
    fn an_error_per_failed_check_and_a_warning_per_todo() {
        let text = annotations(&[sample()], false, &Place::default());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(
            lines[0],
            "::error file=runbooks/app.md,line=16,title=step `build`%3A output check failed::\
             output differs from the expected block%0A--- expected%0A+++ actual%0A\
             @@ -1 +1 @@%0A-count: 3%0A+count: 4"
        );
        assert!(lines[1].starts_with("::error file=runbooks/app.md,line=20,"));
        assert_eq!(
            lines[2],
            "::warning file=runbooks/app.md,line=40,title=Missing step (TODO)::Add a smoke test"
        );
        assert!(annotations(&[sample()], true, &Place::default())
            .contains("::error file=runbooks/app.md,line=40,"));
    }

    #[test]
    fn a_step_failing_without_a_failed_check_is_annotated_at_its_fence() {
        let mut checked = sample();
        let step = &mut checked.record.steps[1];
        step.checks.clear();
        step.reason = Some("exit status 2, expected 0".into());
        let text = annotations(&[checked], false, &Place::default());
        assert_eq!(
            text.lines().next(),
            Some("::error file=runbooks/app.md,line=12,title=step `build` failed::exit status 2, expected 0")
        );
    }

    #[test]
    fn under_bash_the_annotation_lands_on_the_command_that_failed() {
        let mut checked = sample();
        let step = &mut checked.record.steps[1];
        step.checks.clear();
        step.reason = Some("exit status 1, expected 0".into());
        step.failed_line = Some(14);
        step.failed_command = Some("grep -H retention conf".into());
        let text = annotations(&[checked], false, &Place::default());
        assert_eq!(
            text.lines().next(),
            Some("::error file=runbooks/app.md,line=14,title=step `build` failed::exit status 1, expected 0%0Afailed at grep -H retention conf")
        );
    }
}
