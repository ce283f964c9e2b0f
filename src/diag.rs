//! Problems found in a runbook, each with its place in the file. `parse` and
//! `lint` produce them; `report` renders them (file:line:col, the line, a caret).

use std::path::PathBuf;

use serde::Serialize;

use crate::source::Span;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

/// One problem in one runbook.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Diagnostic {
    pub severity: Severity,
    pub path: PathBuf,
    pub span: Span,
    /// 1-based line and column of `span.start`.
    pub line: usize,
    pub column: usize,
    /// A short machine-friendly name (`unknown-attribute`, `todo`, ...).
    pub code: &'static str,
    pub message: String,
    /// What to do about it ("did you mean `timeout`?").
    pub help: Option<String>,
}

/// All the problems that stop a runbook from being used (exit 2).
#[derive(Debug, Clone, Default)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|d| d.severity == Severity::Error)
    }
}

impl std::fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for d in &self.0 {
            writeln!(
                f,
                "{}:{}:{}: {}",
                d.path.display(),
                d.line,
                d.column,
                d.message
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}
