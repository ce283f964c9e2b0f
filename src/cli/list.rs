//! `runsheet list`: the outline of one runbook, or its model as JSON.

use std::io::Write;

use super::{Exit, Global, ListArgs};
use crate::report::outline;

#[allow(clippy::print_stdout)]
pub(crate) fn run(global: &Global, args: ListArgs) -> anyhow::Result<Exit> {
    let runbook = crate::parse::load(&args.file)?;
    if args.json {
        let stdout = std::io::stdout().lock();
        let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout);
        outline::write_json(&runbook, &mut out)?;
        out.flush()?;
        // The process ends next: freeing a large runbook piece by piece
        // would cost more than a tenth of the time `list` takes.
        std::mem::forget(runbook);
    } else {
        print!("{}", outline::outline(&global.palette, &runbook));
    }
    Ok(Exit::Ok)
}
