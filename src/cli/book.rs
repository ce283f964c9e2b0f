//! `runsheet book`.

use super::{BookArgs, Exit, Global};

pub(crate) fn run(_global: &Global, _args: BookArgs) -> anyhow::Result<Exit> {
    anyhow::bail!("`runsheet book` is not built yet")
}
