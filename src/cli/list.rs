//! `runsheet list`.

use super::{Exit, Global, ListArgs};

pub(crate) fn run(_global: &Global, _args: ListArgs) -> anyhow::Result<Exit> {
    anyhow::bail!("`runsheet list` is not built yet")
}
