//! Shell completion that knows the runbook being typed: `--section`, `--step`,
//! `--from`, `--tag` and `--skip-tag` complete from the runbook(s) named on the
//! same command line. The shell's script (from `runsheet completions SHELL`)
//! calls runsheet back on every Tab as `COMPLETE=SHELL runsheet -- WORDS...`
//! (clap_complete's dynamic protocol).

use std::ffi::{OsStr, OsString};
use std::io;
use std::path::Path;

use clap::CommandFactory;
use clap_complete::engine::CompletionCandidate;
use clap_complete::env::Shells;

use super::Cli;
use crate::model::Runbook;

/// The variable that switches runsheet into answering a completion request.
const VAR: &str = "COMPLETE";

pub(super) fn from_env() {
    clap_complete::CompleteEnv::with_factory(Cli::command)
        .var(VAR)
        .complete();
}

/// The registration script for `shell`, calling `runsheet` on PATH back.
pub(super) fn registration(shell: clap_complete::Shell, out: &mut dyn io::Write) -> io::Result<()> {
    let name = shell.to_string();
    let shells = Shells::builtins();
    let completer = shells.completer(&name).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::Unsupported,
            format!("no completion for {name}"),
        )
    })?;
    completer.write_registration(VAR, "runsheet", "runsheet", "runsheet", out)
}

pub(super) fn sections(current: &OsStr) -> Vec<CompletionCandidate> {
    candidates(current, |rb| {
        rb.sections
            .iter()
            .map(|s| (s.id.clone(), Some(s.title.clone())))
            .collect()
    })
}

pub(super) fn steps(current: &OsStr) -> Vec<CompletionCandidate> {
    candidates(current, |rb| {
        rb.steps
            .iter()
            .map(|s| {
                let section = s.section.as_deref().and_then(|id| rb.section(id));
                (s.id.clone(), section.map(|s| s.title.clone()))
            })
            .collect()
    })
}

pub(super) fn tags(current: &OsStr) -> Vec<CompletionCandidate> {
    candidates(current, |rb| {
        rb.steps
            .iter()
            .flat_map(|s| s.options.tags.iter().map(|t| (t.clone(), None)))
            .collect()
    })
}

/// Names from every runbook on the command line that start with `current`,
/// each once, in the runbooks' order.
fn candidates(
    current: &OsStr,
    names: impl Fn(&Runbook) -> Vec<(String, Option<String>)>,
) -> Vec<CompletionCandidate> {
    let current = current.to_string_lossy();
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for runbook in runbooks_on_command_line() {
        for (name, help) in names(&runbook) {
            if name.starts_with(current.as_ref()) && seen.insert(name.clone()) {
                out.push(CompletionCandidate::new(name).help(help.map(Into::into)));
            }
        }
    }
    out
}

/// The words the shell passed after `--` (the command line being completed).
fn words() -> Vec<OsString> {
    std::env::args_os()
        .skip_while(|a| a != "--")
        .skip(1)
        .collect()
}

/// Runbooks named on the command line being completed: every word that is
/// a Markdown file, or a folder (`check`, `book`) holding some. An invalid
/// runbook still lends the names it has.
fn runbooks_on_command_line() -> Vec<Runbook> {
    let mut files = Vec::new();
    for word in words().iter().skip(1) {
        let path = Path::new(word);
        if path.is_file() && path.extension().is_some_and(|e| e == "md") {
            files.push(path.to_path_buf());
        } else if path.is_dir() {
            files
                .extend(crate::discover::markdown_files(&[path.to_path_buf()]).unwrap_or_default());
        }
    }
    files
        .iter()
        .filter_map(|f| crate::source::Source::read(f).ok())
        .map(|source| crate::parse::parse(&source).runbook)
        .collect()
}
