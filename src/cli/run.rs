//! `runsheet run`.

use super::{Exit, Global, RunArgs};

pub(crate) fn run(_global: &Global, _args: RunArgs) -> anyhow::Result<Exit> {
    anyhow::bail!("`runsheet run` is not built yet")
}
