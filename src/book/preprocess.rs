//! `runsheet mdbook`: the book's embedding as an mdBook preprocessor, for a
//! team's own `book.toml`:
//!
//! ```toml
//! [preprocessor.runsheet]
//! command = "runsheet mdbook"
//! state-dir = ".runsheet"      # relative to the book root
//! include = ["runbooks/"]      # chapters (under src/) to treat as runbooks
//! ```
//!
//! Each chapter that is a runbook gets its last run's outputs from the state
//! dir; other chapters are left exactly as they are. A runbook is a chapter
//! with steps that has a record, or any chapter with steps under `include`
//! (those that never ran are then marked so).

use std::path::{Path, PathBuf};

use mdbook_preprocessor::book::{Book, BookItem, Chapter};
use mdbook_preprocessor::PreprocessorContext;
use serde::Deserialize;

use crate::diag::Severity;
use crate::parse;
use crate::record::Store;
use crate::source::Source;

use super::{chapter, redactor_for, Options, Recorded};

/// `[preprocessor.runsheet]` keys.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub struct PreprocessConfig {
    /// The state dir holding the records, relative to the book root.
    pub state_dir: Option<PathBuf>,
    /// Chapter path prefixes (relative to `src/`) that are runbooks; default:
    /// every chapter with steps and a recorded run.
    pub include: Option<Vec<String>>,
    /// Lines of output shown under a step.
    pub tail_lines: Option<usize>,
}

/// The preprocessor, for in-process use with `MDBook::with_preprocessor`.
#[derive(Debug, Clone)]
pub struct RunsheetPreprocessor {
    /// Used when `book.toml` names no `state-dir`; relative to the book root.
    pub state_dir: PathBuf,
    pub env: Vec<(String, String)>,
}

impl mdbook_preprocessor::Preprocessor for RunsheetPreprocessor {
    fn name(&self) -> &str {
        "runsheet"
    }

    fn run(&self, ctx: &PreprocessorContext, book: Book) -> anyhow::Result<Book> {
        preprocess(ctx, book, &self.state_dir, &self.env)
    }

    fn supports_renderer(&self, renderer: &str) -> anyhow::Result<bool> {
        Ok(renderer == "html")
    }
}

/// Embeds the last runs' outputs into every runbook chapter of `book`.
pub fn preprocess(
    ctx: &PreprocessorContext,
    mut book: Book,
    default_state_dir: &Path,
    env: &[(String, String)],
) -> anyhow::Result<Book> {
    let config: PreprocessConfig = ctx.config.get("preprocessor.runsheet")?.unwrap_or_default();
    let state_dir = ctx
        .root
        .join(config.state_dir.as_deref().unwrap_or(default_state_dir));
    let store = Store::new(state_dir);
    let src = ctx.root.join(&ctx.config.book.src);
    let mut opts = Options {
        title: false,
        ..Options::default()
    };
    if let Some(n) = config.tail_lines {
        opts.tail_lines = n;
    }
    let mut errors = Vec::new();
    book.for_each_mut(|item| {
        if let BookItem::Chapter(ch) = item {
            if let Err(e) = embed(ch, &src, &ctx.config.book.src, &store, &config, env, &opts) {
                errors.push(e);
            }
        }
    });
    match errors.into_iter().next() {
        Some(e) => Err(e),
        None => Ok(book),
    }
}

fn embed(
    ch: &mut Chapter,
    src: &Path,
    book_src: &Path,
    store: &Store,
    config: &PreprocessConfig,
    env: &[(String, String)],
    opts: &Options,
) -> anyhow::Result<()> {
    let Some(rel) = ch.source_path.clone() else {
        return Ok(());
    };
    if let Some(include) = &config.include {
        let rel = rel.to_string_lossy().replace('\\', "/");
        if !include
            .iter()
            .any(|p| rel.starts_with(p.trim_start_matches("./")))
        {
            return Ok(());
        }
    }
    let path = src.join(&rel);
    let abs = std::fs::canonicalize(&path).unwrap_or(path);
    let recorded = Recorded::load(store, &abs)?;
    // Without `include`, a page of shell examples cannot be told from a runbook
    // that never ran: only chapters with a record are treated as runbooks.
    if recorded.is_none() && config.include.is_none() {
        return Ok(());
    }
    // Shown in the page ("runsheet run src/x.md"): relative to the book root.
    let shown = Path::new(book_src).join(&rel);
    let source = Source::new(&shown, ch.content.clone());
    let parsed = parse::parse(&source);
    let errors: Vec<String> = parsed
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| {
            format!(
                "{}:{}:{}: {}",
                d.path.display(),
                d.line,
                d.column,
                d.message
            )
        })
        .collect();
    if !errors.is_empty() {
        anyhow::bail!(
            "chapter {} is not a valid runbook:\n{}",
            rel.display(),
            errors.join("\n")
        );
    }
    if parsed.runbook.steps.is_empty() {
        return Ok(());
    }
    let redactor = redactor_for(&parsed.runbook, env);
    let md = chapter(
        &parsed.runbook,
        &ch.content,
        recorded.as_ref(),
        &redactor,
        opts,
    );
    // The team's book has no runsheet.css: the styles travel with the chapter.
    ch.content = format!("{md}\n<style>\n{}</style>\n", super::CSS);
    Ok(())
}
