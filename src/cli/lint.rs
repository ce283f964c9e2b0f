//! `runsheet lint`.

use super::{Exit, Global, LintArgs};

pub(crate) fn run(_global: &Global, _args: LintArgs) -> anyhow::Result<Exit> {
    anyhow::bail!("`runsheet lint` is not built yet")
}
