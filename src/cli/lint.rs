//! `runsheet lint`: every static problem in the given runbooks, with file:line
//! and a suggestion; `--fix` fences commands written outside code blocks.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use super::{Exit, Global, LintArgs};
use crate::diag::{Diagnostic, Severity};
use crate::parse::{parse, parse_unhashed, Parsed, UnfencedCommand};
use crate::report::Palette;
use crate::source::{Source, Span};
use crate::update::{apply_on_disk, Edit};

#[derive(Debug, Default)]
struct Tally {
    files: usize,
    errors: usize,
    warnings: usize,
    fixed: usize,
}

#[allow(clippy::print_stdout)]
pub(crate) fn run(global: &Global, args: LintArgs) -> anyhow::Result<Exit> {
    let files = super::runbooks_in(&global.palette, &args.paths)?;
    let mut tally = Tally::default();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    // `--fix` rewrites files and says so as it goes: one at a time. Without
    // it every file is read, parsed and rendered on its own, on every core;
    // the reports are printed in the order of `files` all the same.
    let reports = if args.fix {
        let mut reports = Vec::new();
        for file in &files {
            reports.push(lint_one(&global.palette, file, true)?);
        }
        reports
    } else {
        crate::par::map_in_order(&files, |file| lint_one(&global.palette, file, false))
            .into_iter()
            .collect::<anyhow::Result<Vec<_>>>()?
    };
    for report in reports {
        tally.files += 1;
        tally.errors += report.errors;
        tally.warnings += report.warnings;
        tally.fixed += report.fixed;
        out.write_all(report.text.as_bytes())?;
    }
    writeln!(out, "{}", summary(&global.palette, &tally))?;
    out.flush()?;
    let failed = tally.errors > 0 || (args.deny_warnings && tally.warnings > 0);
    Ok(if failed { Exit::Failed } else { Exit::Ok })
}

/// What linting one file found, rendered.
#[derive(Debug, Default)]
struct Report {
    text: String,
    errors: usize,
    warnings: usize,
    fixed: usize,
}

fn lint_one(palette: &Palette, file: &Path, fix_it: bool) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let source = match Source::read(file) {
        Ok(s) => s,
        Err(e) => {
            report.text = format!(
                "{} cannot read {}: {e}\n\n",
                palette.error("error:"),
                file.display()
            );
            report.errors = 1;
            return Ok(report);
        }
    };
    let source = if fix_it {
        fix(palette, source, &mut report)?
    } else {
        source
    };
    let mut parsed = parse_unhashed(&source);
    parsed
        .diagnostics
        .extend(missing_programs(&source, &parsed));
    parsed
        .diagnostics
        .sort_by_key(|d| (d.span.start, d.span.end));
    for d in &parsed.diagnostics {
        match d.severity {
            Severity::Error => report.errors += 1,
            Severity::Warning => report.warnings += 1,
        }
    }
    report.text.push_str(&crate::report::diag::render(
        palette,
        &source,
        &parsed.diagnostics,
    ));
    Ok(report)
}

/// Warnings for `requires:` programs that are not on `PATH`.
fn missing_programs(source: &Source, parsed: &Parsed) -> Vec<Diagnostic> {
    let base = source.path.parent().unwrap_or(Path::new("."));
    let path_var = std::env::var_os("PATH");
    let missing =
        crate::requires::missing(&parsed.runbook.front.requires, path_var.as_deref(), base);
    let span = parsed
        .front_keys
        .iter()
        .find(|(k, _)| k == "requires")
        .map_or(Span::new(0, 0), |(_, s)| *s);
    let (line, column) = source.line_col(span.start);
    missing
        .into_iter()
        .map(|program| Diagnostic {
            severity: Severity::Warning,
            path: source.path.clone(),
            span,
            line,
            column,
            code: "missing-program",
            message: format!("`{program}` is required but not found on PATH"),
            help: Some(format!("install `{program}` before running this runbook")),
        })
        .collect()
}

/// Fences every command written outside a code block and writes the file back;
/// every other byte stays as it was.
fn fix(palette: &Palette, source: Source, report: &mut Report) -> anyhow::Result<Source> {
    let parsed = parse(&source);
    if parsed.unfenced.is_empty() {
        return Ok(source);
    }
    let edits: Vec<Edit> = parsed
        .unfenced
        .iter()
        .map(|u| fence_edit(&source, u))
        .collect();
    let text = apply_on_disk(&source, &edits).map_err(anyhow::Error::msg)?;
    write_back(&source.path, &text)?;
    report.fixed += edits.len();
    report.text.push_str(&format!(
        "{} fenced {} in {}\n\n",
        palette.success("fixed:"),
        plural(edits.len(), "command"),
        source.path.display()
    ));
    Ok(Source::new(source.path, text))
}

/// The paragraph becomes a ```sh block. Its first line keeps its container
/// prefix (`- `, `> `); the lines added get the same indentation.
pub(crate) fn fence_edit(source: &Source, u: &UnfencedCommand) -> Edit {
    let indent = crate::parse::continuation_prefix(source, u.span.start);
    // A prompt copied along (`$ make`) is not part of the command.
    let command = u.command.strip_prefix("$ ").unwrap_or(&u.command);
    let longest_run = command.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat((longest_run + 1).max(3));
    Edit {
        span: u.span,
        text: format!("{fence}sh\n{indent}{command}\n{indent}{fence}"),
    }
}

fn write_back(path: &Path, text: &str) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write next to {}", path.display()))?;
    std::io::Write::write_all(&mut tmp, text.as_bytes())?;
    if let Ok(meta) = std::fs::metadata(path) {
        std::fs::set_permissions(tmp.path(), meta.permissions())?;
    }
    tmp.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn plural(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

fn summary(palette: &Palette, t: &Tally) -> String {
    let checked = format!("lint: {} checked", plural(t.files, "runbook"));
    let errors = plural(t.errors, "error");
    let warnings = plural(t.warnings, "warning");
    let errors = if t.errors > 0 {
        palette.error(&errors)
    } else {
        errors
    };
    let warnings = if t.warnings > 0 {
        palette.warning(&warnings)
    } else {
        warnings
    };
    let fixed = if t.fixed > 0 {
        format!(", {} fixed", plural(t.fixed, "command"))
    } else {
        String::new()
    };
    format!("{checked}: {errors}, {warnings}{fixed}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::update::apply;

    fn fixed(text: &str) -> String {
        let source = Source::new("t.md", text);
        let parsed = parse(&source);
        let edits: Vec<Edit> = parsed
            .unfenced
            .iter()
            .map(|u| fence_edit(&source, u))
            .collect();
        apply(text, &edits).unwrap()
    }

    #[test]
    fn fences_keep_container_indentation() {
        assert_eq!(
            fixed("Run:\n\n`make`\n\nthen\n"),
            "Run:\n\n```sh\nmake\n```\n\nthen\n"
        );
        assert_eq!(
            fixed("1. Build:\n\n   `make all`\n"),
            "1. Build:\n\n   ```sh\n   make all\n   ```\n"
        );
        assert_eq!(fixed("> `ls`\n"), "> ```sh\n> ls\n> ```\n");
        assert_eq!(
            fixed("- a\n\n- `ls -l`\n"),
            "- a\n\n- ```sh\n  ls -l\n  ```\n"
        );
        assert_eq!(fixed("`` a ```b ``"), "````sh\na ```b\n````");
        assert_eq!(fixed("`$ make`\n"), "```sh\nmake\n```\n");
    }

    #[test]
    fn fixed_text_has_no_unfenced_commands_left() {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/parse-seed/concourse.md"),
        )
        .unwrap();
        let out = fixed(&text);
        let parsed = parse(&Source::new("t.md", out.as_str()));
        assert!(parsed.unfenced.is_empty());
        assert_eq!(parsed.runbook.steps.len(), 2);
        assert_eq!(parsed.runbook.todos.len(), 3);
    }
}

#[cfg(test)]
mod fix_properties {
    use proptest::prelude::*;

    use super::*;
    use crate::update::apply;

    const PIECES: &[&str] = &[
        "`cmd`",
        "`a b`",
        "``x`y``",
        "\n",
        "\n\n",
        "- ",
        "1. ",
        "> ",
        "  ",
        "    ",
        "# H\n",
        "text ",
        "```sh\necho\n```\n",
        "**",
        "TODO: x",
        "|a|\n|-|\n",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// After `--fix` no command is left outside a fence, and a second fix
        /// changes nothing.
        #[test]
        fn fixing_is_complete_and_idempotent(pieces in prop::collection::vec(prop::sample::select(PIECES), 0..30)) {
            let text = pieces.concat();
            let source = Source::new("t.md", text.as_str());
            let parsed = parse(&source);
            let edits: Vec<Edit> = parsed.unfenced.iter().map(|u| fence_edit(&source, u)).collect();
            let fixed = apply(&text, &edits).expect("edits never overlap");
            let again = parse(&Source::new("t.md", fixed.as_str()));
            prop_assert!(again.unfenced.is_empty(), "{text:?}\n=> {fixed:?}");
            prop_assert_eq!(
                again.runbook.steps.len(),
                parsed.runbook.steps.len() + edits.len(),
                "{:?}\n=> {:?}", text, fixed
            );
        }
    }
}
