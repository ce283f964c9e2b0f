//! `runsheet status`: the last run of a runbook and where `--resume` starts.

use super::{Exit, Global, StatusArgs};
use crate::record::Store;
use crate::report::status::Status;

#[allow(clippy::print_stdout, clippy::print_stderr)]
pub(crate) fn run(global: &Global, args: StatusArgs) -> anyhow::Result<Exit> {
    let abs = std::fs::canonicalize(&args.file)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", args.file.display()))?;
    if abs.is_dir() {
        let source = std::io::Error::from(std::io::ErrorKind::IsADirectory);
        return Err(crate::parse::LoadError::Io {
            path: args.file,
            source,
        }
        .into());
    }
    // A runbook that no longer parses still has a record worth showing.
    let runbook = crate::parse::load(&args.file).ok();
    let store = Store::new(&global.state_dir);
    let history = store.history(&abs)?;
    let name = args.file.display().to_string();
    let status = Status::new(&name, runbook.as_ref(), &history, store.is_locked(&abs));
    for warning in &status.warnings {
        eprintln!("warning: {warning}");
    }
    if args.json {
        print!("{}", status.json());
    } else {
        print!("{}", status.text(&global.palette));
    }
    Ok(Exit::Ok)
}
