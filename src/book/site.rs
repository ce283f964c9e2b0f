//! The mdBook tree `runsheet book` writes (`book.toml`, `runsheet.css`,
//! `src/SUMMARY.md`, the overview, one chapter per runbook, the files the
//! runbooks link to) and its in-process HTML build.
//!
//! Titles and paths are written as plain text wherever Markdown reads them
//! ([`markdown_text`]), and chapter links are percent-encoded: a title with a
//! newline or `](x)` cannot add an entry to `SUMMARY.md`, and a file name
//! cannot break a link.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use crate::secrets::Redactor;

use super::ansi::{escape, markdown_text};
use super::names::relative_url;
use super::panel::{self, counts};
use super::{chapter, links, redactor_for, Entry, Options, Warning, CSS};

/// Marks a directory as written by `runsheet book`, so that a rebuild may
/// replace its `src/` and nothing else is ever overwritten.
pub const MARKER: &str = ".runsheet-book";

const OVERVIEW: &str = "overview.md";

#[derive(Debug, thiserror::Error)]
pub enum BookError {
    #[error(
        "{} already exists and was not written by `runsheet book` (no {MARKER} file); \
         choose another output directory with -o",
        .0.display()
    )]
    NotOurs(PathBuf),
    #[error("cannot write {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("mdBook could not build {}: {message}", dir.display())]
    Build { dir: PathBuf, message: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BookError + '_ {
    move |source| BookError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The first page: every runbook with its last run, result and counts.
/// Titles and paths are masked as their chapters are (the secrets of `env`
/// and of each runbook's `redact:`) before they are escaped: an escaped
/// secret would no longer match.
pub fn overview(entries: &[Entry], env: &[(String, String)]) -> String {
    let mut md = String::from("# Runbooks\n\n");
    let _ = writeln!(
        md,
        "{} runbook{}. Each chapter shows a runbook as written and, under every command, \
         what it printed when it last ran.\n",
        entries.len(),
        if entries.len() == 1 { "" } else { "s" }
    );
    md.push_str("| Runbook | Last run | Result | Steps | Missing |\n");
    md.push_str("| --- | --- | --- | --- | ---: |\n");
    for e in entries {
        let redactor = redactor_for(&e.runbook, env);
        let c = counts(&e.runbook, e.recorded.as_ref());
        let record = e.recorded.as_ref().map(|r| &r.record);
        let when = record.map_or("never".to_string(), |r| panel::format_time(&r.started));
        let _ = writeln!(
            md,
            "| [{}]({})<br><code>{}</code> | <span class=\"runsheet-nowrap\">{}</span> | {} | {} | {} |",
            title(e, &redactor),
            link(&e.chapter),
            code_text(&redactor.redact(&e.runbook.path.display().to_string())),
            escape(&when),
            panel::run_badge(record),
            step_counts(&c),
            c.missing
        );
    }
    md
}

/// `3 passed`, `1 failed`, `2 not run`, `1 stale` on their own lines; zeros left out.
fn step_counts(c: &panel::Counts) -> String {
    let mut parts = Vec::new();
    for (n, what, class) in [
        (c.passed, "passed", "runsheet-count-passed"),
        (c.failed, "failed", "runsheet-count-failed"),
        (c.not_run, "not run", "runsheet-count-idle"),
    ] {
        if n > 0 {
            parts.push(format!(
                "<span class=\"runsheet-nowrap {class}\">{n} {what}</span>"
            ));
        }
    }
    let mut text = if parts.is_empty() {
        "no steps".to_string()
    } else {
        parts.join("<br>")
    };
    if c.stale > 0 {
        text.push_str(&format!(
            "<br><span class=\"runsheet-nowrap runsheet-count-stale\">{} stale</span>",
            c.stale
        ));
    }
    text
}

/// `SUMMARY.md`: the overview first, then the runbooks in the given order.
pub fn summary(entries: &[Entry], env: &[(String, String)]) -> String {
    let mut md = format!("# Summary\n\n[Overview]({OVERVIEW})\n\n");
    for e in entries {
        let redactor = redactor_for(&e.runbook, env);
        let _ = writeln!(md, "- [{}]({})", title(e, &redactor), link(&e.chapter));
    }
    md
}

/// The runbook's title as plain Markdown text; its chapter's file name when
/// the title is blank (a link needs a label).
fn title(e: &Entry, redactor: &Redactor) -> String {
    let text = markdown_text(&redactor.redact(&e.runbook.title));
    if text.is_empty() {
        let stem = e.chapter.file_stem().unwrap_or_default();
        markdown_text(&stem.to_string_lossy())
    } else {
        text
    }
}

/// Text inside `<code>` in a table cell, where Markdown still reads emphasis
/// and `|` ends the cell.
fn code_text(text: &str) -> String {
    escape(text)
        .replace('|', "&#124;")
        .replace('*', "&#42;")
        .replace('_', "&#95;")
        .replace('~', "&#126;")
}

/// A chapter's URL from the top of `src/` (where `SUMMARY.md` and the
/// overview stand).
fn link(chapter: &Path) -> String {
    relative_url(Path::new("SUMMARY.md"), chapter)
}

fn book_toml() -> String {
    "# Written by `runsheet book`; rebuilt on every run.\n\
     [book]\n\
     title = \"Runbooks\"\n\
     language = \"en\"\n\
     src = \"src\"\n\
     \n\
     # Runbooks are shown as GitHub shows them: mdBook's {{#include}}, {{#title}}\n\
     # and the other directives of its default preprocessors are text here.\n\
     [build]\n\
     use-default-preprocessors = false\n\
     \n\
     [output.html]\n\
     additional-css = [\"runsheet.css\"]\n\
     no-section-label = true\n"
        .to_string()
}

/// Writes the mdBook source tree into `dir` (created if needed). A directory
/// that exists, is not empty and was not written by runsheet is refused.
/// `roots` are the folders (or files) the runbooks were collected from: only
/// files under them are copied into the book. Returns what could not be
/// carried (broken or outside links), each with its file:line.
pub fn write_source(
    dir: &Path,
    entries: &[Entry],
    roots: &[PathBuf],
    env: &[(String, String)],
    opts: &Options,
) -> Result<Vec<Warning>, BookError> {
    prepare(dir)?;
    let base = Redactor::new(env.iter().map(|(k, v)| (k.as_str(), v.as_str())), &[]);
    let src = dir.join("src");
    write(&dir.join(MARKER), "")?;
    write(&dir.join("book.toml"), &book_toml())?;
    write(&dir.join("runsheet.css"), CSS)?;
    write(
        &src.join("SUMMARY.md"),
        &base.redact(&summary(entries, env)),
    )?;
    write(&src.join(OVERVIEW), &base.redact(&overview(entries, env)))?;
    let carry = links::plan(entries, roots);
    let mut warnings = carry.warnings;
    for (e, rewrites) in entries.iter().zip(&carry.rewrites) {
        let redactor = redactor_for(&e.runbook, env);
        let md = chapter::render(
            &e.runbook,
            &e.text,
            e.recorded.as_ref(),
            &redactor,
            opts,
            rewrites,
        );
        write(&src.join(&e.chapter), &base.redact(&md))?;
    }
    for (from, to) in &carry.files {
        warnings.extend(copy(from, &src.join(to), &base)?);
    }
    Ok(warnings)
}

/// A linked file is read whole to mask secrets in it: bigger ones stay out.
const MAX_COPY_BYTES: u64 = 256 << 20;

/// Copies a file a runbook links to. Text has the environment's secrets
/// masked like every other file of the book; a binary file holding one is
/// not copied (masking would break it), and says so.
fn copy(from: &Path, to: &Path, redactor: &Redactor) -> Result<Option<Warning>, BookError> {
    let len = std::fs::metadata(from).map_err(io(from))?.len();
    if len > MAX_COPY_BYTES {
        return Ok(Some(Warning {
            path: from.to_path_buf(),
            line: 1,
            message: format!(
                "not copied into the book: {} MiB is more than the {} MiB a linked file may have",
                len >> 20,
                MAX_COPY_BYTES >> 20
            ),
        }));
    }
    let bytes = std::fs::read(from).map_err(io(from))?;
    let masked = redactor.redact_bytes(&bytes);
    if masked != bytes && (std::str::from_utf8(&bytes).is_err() || bytes.contains(&0)) {
        return Ok(Some(Warning {
            path: from.to_path_buf(),
            line: 1,
            message: "not copied into the book: this binary file holds the value of a \
                      secret variable of the environment"
                .into(),
        }));
    }
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    std::fs::write(to, masked).map_err(io(to))?;
    Ok(None)
}

fn prepare(dir: &Path) -> Result<(), BookError> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir).map_err(io(dir))?.next().is_none();
        if !empty && !dir.join(MARKER).exists() {
            return Err(BookError::NotOurs(dir.to_path_buf()));
        }
        let src = dir.join("src");
        if src.exists() {
            std::fs::remove_dir_all(&src).map_err(io(&src))?;
        }
    }
    std::fs::create_dir_all(dir).map_err(io(dir))
}

fn write(path: &Path, text: &str) -> Result<(), BookError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    std::fs::write(path, text).map_err(io(path))
}

/// Builds the HTML in-process and returns the path of its `index.html`.
pub fn build_html(dir: &Path) -> Result<PathBuf, BookError> {
    let fail = |e: anyhow::Error| BookError::Build {
        dir: dir.to_path_buf(),
        message: format!("{e:#}"),
    };
    let book = mdbook_driver::MDBook::load(dir).map_err(fail)?;
    book.build().map_err(fail)?;
    Ok(book.build_dir_for("html").join("index.html"))
}
