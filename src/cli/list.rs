//! `runsheet list`: the outline of one runbook, or its model as JSON.

use super::{Exit, Global, ListArgs};
use crate::report::outline;

#[allow(clippy::print_stdout)]
pub(crate) fn run(global: &Global, args: ListArgs) -> anyhow::Result<Exit> {
    let runbook = crate::parse::load(&args.file)?;
    if args.json {
        print!("{}", outline::json(&runbook));
    } else {
        print!("{}", outline::outline(&global.palette, &runbook));
    }
    Ok(Exit::Ok)
}
