//! `runsheet check`.

use super::{CheckArgs, Exit, Global};

pub(crate) fn run(_global: &Global, _args: CheckArgs) -> anyhow::Result<Exit> {
    anyhow::bail!("`runsheet check` is not built yet")
}
