//! Everything runsheet shows a person: colours, diagnostics, the live run, the
//! drift report, and the machine reports (JUnit, JSON, GitHub annotations).
//! The only module (with `cli`) that prints.

use std::io::IsTerminal;

use console::Style;

mod sanitize;
mod screen;
pub mod status;
pub mod terminal;

use crate::color::ColorChoice;
use crate::exit::Exit;

pub mod diag;
pub mod drift;
pub mod github;
pub mod json;
pub mod junit;
mod listjson;
pub mod merge;
pub mod outline;
pub mod prompt;

/// Colour roles, chosen once from `--color`, `NO_COLOR` and the terminal.
#[derive(Debug, Clone)]
pub struct Palette {
    pub enabled: bool,
}

impl Palette {
    pub fn choose(choice: ColorChoice) -> Self {
        let enabled = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::io::stdout().is_terminal()
            }
        };
        Palette { enabled }
    }

    pub fn plain() -> Self {
        Palette { enabled: false }
    }

    fn paint(&self, style: Style, text: &str) -> String {
        if self.enabled {
            style.force_styling(true).apply_to(text).to_string()
        } else {
            text.to_string()
        }
    }

    pub fn error(&self, t: &str) -> String {
        self.paint(Style::new().red().bold(), t)
    }
    pub fn warning(&self, t: &str) -> String {
        self.paint(Style::new().yellow().bold(), t)
    }
    pub fn success(&self, t: &str) -> String {
        self.paint(Style::new().green(), t)
    }
    pub fn dim(&self, t: &str) -> String {
        self.paint(Style::new().dim(), t)
    }
    pub fn strong(&self, t: &str) -> String {
        self.paint(Style::new().bold(), t)
    }
    pub fn added(&self, t: &str) -> String {
        self.paint(Style::new().green(), t)
    }
    pub fn removed(&self, t: &str) -> String {
        self.paint(Style::new().red(), t)
    }
    pub fn accent(&self, t: &str) -> String {
        self.paint(Style::new().cyan(), t)
    }
}

/// Prints an error that ends the command and returns exit code 2. An invalid
/// runbook is shown with every one of its errors in place.
#[allow(clippy::print_stderr)]
pub fn fatal(palette: &Palette, err: &anyhow::Error) -> Exit {
    eprint!("{}", fatal_message(palette, err));
    Exit::Usage
}

/// The text `fatal` prints: the rendered diagnostics of an invalid runbook
/// (however deep in the error's chain), then the error itself.
pub fn fatal_message(palette: &Palette, err: &anyhow::Error) -> String {
    let invalid = err
        .chain()
        .find_map(|e| e.downcast_ref::<crate::parse::LoadError>());
    let mut out = String::new();
    if let Some(crate::parse::LoadError::Invalid { file, diagnostics }) = invalid {
        out.push_str(&diag::render(palette, file, diagnostics));
    }
    out.push_str(&format!("{} {}\n", palette.error("error:"), chain(err)));
    out
}

/// An error and its causes, `outer: inner: ...`, leaving out a cause whose
/// text an outer message already holds: many errors (ours made with
/// thiserror's `{source}`, and std's) print their source themselves *and*
/// return it from `source()`, and anyhow's `{:#}` would repeat it.
pub fn chain(err: &anyhow::Error) -> String {
    let mut out = err.to_string();
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        if !text.is_empty() && !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
    }
    out
}

/// The ticks runsheet marks results with, the same in every command.
pub const PASS_MARK: &str = "✓";
pub const FAIL_MARK: &str = "✗";

#[cfg(test)]
mod tests {
    use super::*;

    /// Data and types flow one way: `report` is below `cli` (STYLE.md,
    /// "Growing the tree").
    #[test]
    fn report_never_imports_from_cli() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/report");
        let needle = ["crate", "cli"].join("::");
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(!text.contains(&needle), "{} imports cli", path.display());
        }
    }

    #[test]
    fn a_cause_an_error_already_prints_is_not_repeated() {
        let io = std::io::Error::from(std::io::ErrorKind::NotFound);
        let load = crate::parse::LoadError::Io {
            path: "nope.md".into(),
            source: io,
        };
        let err = anyhow::Error::new(load);
        assert_eq!(chain(&err), "cannot read nope.md: entity not found");
        let err = err.context("while checking");
        assert_eq!(
            chain(&err),
            "while checking: cannot read nope.md: entity not found"
        );
        let plain = anyhow::anyhow!("inner").context("outer");
        assert_eq!(chain(&plain), "outer: inner");
    }
}
