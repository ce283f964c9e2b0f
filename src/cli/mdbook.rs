//! `runsheet mdbook`: the mdBook preprocessor protocol (`supports RENDERER`,
//! then `[context, book]` JSON on stdin → book JSON on stdout), and
//! `runsheet mdbook build DIR`, which builds a book with the preprocessor
//! in-process.

use std::path::Path;

use anyhow::Context;

use crate::book::{self, RunsheetPreprocessor};

use super::{Exit, Global, MdbookArgs, MdbookCommand};

pub(crate) fn run(global: &Global, args: MdbookArgs) -> anyhow::Result<Exit> {
    match args.command {
        Some(MdbookCommand::Supports { renderer }) => Ok(if renderer == "html" {
            Exit::Ok
        } else {
            Exit::Failed
        }),
        Some(MdbookCommand::Build { dir }) => build(global, &dir),
        None => preprocess(global),
    }
}

fn env() -> Vec<(String, String)> {
    std::env::vars().collect()
}

fn preprocess(global: &Global) -> anyhow::Result<Exit> {
    let (ctx, input) = mdbook_preprocessor::parse_input(std::io::stdin().lock())
        .context("runsheet mdbook is an mdBook preprocessor: add [preprocessor.runsheet] to book.toml and run mdbook build")?;
    if ctx.mdbook_version != mdbook_preprocessor::MDBOOK_VERSION {
        warn(&format!(
            "runsheet was built against mdBook {}, this is mdBook {}",
            mdbook_preprocessor::MDBOOK_VERSION,
            ctx.mdbook_version
        ));
    }
    let out = book::preprocess(&ctx, input, &global.state_dir, &env())?;
    let stdout = std::io::stdout().lock();
    serde_json::to_writer(stdout, &out).context("cannot write the book to stdout")?;
    Ok(Exit::Ok)
}

fn build(global: &Global, dir: &Path) -> anyhow::Result<Exit> {
    if !dir.join("book.toml").is_file() {
        anyhow::bail!("{} has no book.toml", dir.display());
    }
    let fail = |e: anyhow::Error| {
        anyhow::anyhow!(
            "mdBook could not build {}: {}",
            dir.display(),
            crate::report::chain(&e)
        )
    };
    let mut md = mdbook_driver::MDBook::load(dir).map_err(fail)?;
    // `--state-dir` is relative to where runsheet was started, not to the book.
    let state_dir = std::path::absolute(&global.state_dir)
        .with_context(|| format!("bad state dir {}", global.state_dir.display()))?;
    md.with_preprocessor(RunsheetPreprocessor {
        state_dir,
        env: env(),
    });
    md.build().map_err(fail)?;
    say(&format!(
        "built {}",
        md.build_dir_for("html").join("index.html").display()
    ));
    Ok(Exit::Ok)
}

#[allow(clippy::print_stdout)]
fn say(line: &str) {
    println!("{line}");
}

#[allow(clippy::print_stderr)]
fn warn(line: &str) {
    eprintln!("warning: {line}");
}
