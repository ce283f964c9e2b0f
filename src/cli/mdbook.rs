//! `runsheet mdbook`.

use super::{Exit, Global, MdbookArgs};

pub(crate) fn run(_global: &Global, _args: MdbookArgs) -> anyhow::Result<Exit> {
    anyhow::bail!("`runsheet mdbook` is not built yet")
}
