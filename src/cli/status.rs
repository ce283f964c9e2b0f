//! `runsheet status`.

use super::{Exit, Global, StatusArgs};

pub(crate) fn run(_global: &Global, _args: StatusArgs) -> anyhow::Result<Exit> {
    anyhow::bail!("`runsheet status` is not built yet")
}
