//! `runsheet book`: collect runbooks, read their last runs, write the mdBook
//! source and build it to HTML.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::book::{self, Entry, Options, Recorded};
use crate::diag::Severity;
use crate::parse;
use crate::record::Store;
use crate::source::Source;

use super::{BookArgs, Exit, Global};

pub(crate) fn run(global: &Global, args: BookArgs) -> anyhow::Result<Exit> {
    let files = collect(&global.palette, &args.paths)?;
    let store = Store::new(&global.state_dir);
    let chapters = book::chapter_paths(&files);
    let jobs: Vec<(PathBuf, PathBuf)> = files.into_iter().zip(chapters).collect();
    // Each runbook read, parsed and its records loaded on every core; the
    // warnings and the first error come out in the runbooks' order.
    let loaded = crate::par::map_in_order(&jobs, |(file, chapter)| entry(&store, file, chapter));
    let mut entries = Vec::with_capacity(loaded.len());
    for result in loaded {
        let (entry, skipped) = result?;
        for warning in skipped {
            warn(&warning);
        }
        entries.push(entry);
    }
    let env: Vec<(String, String)> = std::env::vars().collect();
    let roots = if args.paths.is_empty() {
        vec![PathBuf::from("runbooks")]
    } else {
        args.paths.clone()
    };
    let warnings = book::write_source(&args.out, &entries, &roots, &env, &Options::default())?;
    for w in &warnings {
        warn(&w.to_string());
    }
    if args.src_only {
        say(&format!(
            "wrote the mdBook source of {} to {}",
            runbooks(entries.len()),
            args.out.display()
        ));
        return Ok(Exit::Ok);
    }
    let index = book::build_html(&args.out)?;
    say(&format!(
        "built {} into {}",
        runbooks(entries.len()),
        index.display()
    ));
    Ok(Exit::Ok)
}

fn runbooks(n: usize) -> String {
    format!("{n} runbook{}", if n == 1 { "" } else { "s" })
}

#[allow(clippy::print_stdout)]
fn say(line: &str) {
    println!("{line}");
}

#[allow(clippy::print_stderr)]
fn warn(line: &str) {
    eprintln!("warning: {line}");
}

/// The runbooks named (default `runbooks/`), folders searched for `*.md`
/// honouring `.gitignore`, in a stable order.
pub(crate) fn collect(
    palette: &crate::report::Palette,
    paths: &[PathBuf],
) -> anyhow::Result<Vec<PathBuf>> {
    if paths.is_empty() {
        let default = PathBuf::from("runbooks");
        if !default.is_dir() {
            anyhow::bail!(
                "there is no runbooks/ directory here; name the runbooks or folders to include: \
                 runsheet book PATH..."
            );
        }
        return super::runbooks_in(palette, &[default]);
    }
    super::runbooks_in(palette, paths)
}

/// One runbook's chapter entry, and the warnings about records it skipped.
fn entry(store: &Store, file: &Path, chapter: &Path) -> anyhow::Result<(Entry, Vec<String>)> {
    let source = Source::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let parsed = parse::parse(&source);
    let errors: Vec<_> = parsed
        .diagnostics
        .into_iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    if !errors.is_empty() {
        // `report::fatal` shows each error in place.
        return Err(parse::LoadError::Invalid {
            file: Box::new(source),
            diagnostics: errors,
        }
        .into());
    }
    let abs = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
    let (recorded, skipped) = Recorded::load_with_warnings(store, &abs)
        .with_context(|| format!("cannot read the run record of {}", file.display()))?;
    let entry = Entry {
        chapter: chapter.to_path_buf(),
        runbook: parsed.runbook,
        text: source.text,
        recorded,
    };
    Ok((entry, skipped))
}
