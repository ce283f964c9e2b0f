//! `runsheet list`: the outline of one runbook, or its model as JSON.

use anyhow::Context;

use super::{Exit, Global, ListArgs};
use crate::report::outline;

#[allow(clippy::print_stdout)]
pub(crate) fn run(global: &Global, args: ListArgs) -> anyhow::Result<Exit> {
    let runbook = crate::parse::load(&args.file)?;
    if args.json {
        let text =
            serde_json::to_string_pretty(&outline::json(&runbook)).context("cannot write JSON")?;
        println!("{text}");
    } else {
        print!("{}", outline::outline(&global.palette, &runbook));
    }
    Ok(Exit::Ok)
}
