//! Markdown → [`Runbook`]: the only user of pulldown-cmark.
//!
//! (Interface fixed here; the parser itself lands on the `parse` branch.)

use std::path::{Path, PathBuf};

use crate::diag::{Diagnostic, Severity};
use crate::model::{FrontMatter, Runbook};
use crate::source::Source;

/// A runbook and every problem found in it, errors and warnings alike.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub runbook: Runbook,
    pub diagnostics: Vec<Diagnostic>,
}

/// Parses a runbook. Never panics; every problem becomes a diagnostic.
pub fn parse(source: &Source) -> Parsed {
    let title = source
        .path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    Parsed {
        runbook: Runbook {
            path: source.path.clone(),
            title,
            front: FrontMatter::default(),
            sections: Vec::new(),
            steps: Vec::new(),
            todos: Vec::new(),
            blocks: Vec::new(),
            hash: String::new(),
        },
        diagnostics: Vec::new(),
    }
}

/// Why a runbook could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The runbook has errors; `diagnostics` holds them (warnings left out).
    #[error("{} is not a valid runbook ({} error(s))", file.path.display(), diagnostics.len())]
    Invalid {
        file: Box<Source>,
        diagnostics: Vec<Diagnostic>,
    },
}

/// Reads and parses a runbook; any error-severity diagnostic refuses it.
pub fn load(path: &Path) -> Result<Runbook, LoadError> {
    let source = Source::read(path).map_err(|source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let parsed = parse(&source);
    let errors: Vec<Diagnostic> = parsed
        .diagnostics
        .into_iter()
        .filter(|d| d.severity == Severity::Error)
        .collect();
    if errors.is_empty() {
        Ok(parsed.runbook)
    } else {
        Err(LoadError::Invalid {
            file: Box::new(source),
            diagnostics: errors,
        })
    }
}
