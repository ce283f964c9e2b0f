//! When to colour output (`--color`): chosen on the command line, read by
//! `report`'s palette. It lives at the bottom so that `report` never imports
//! from `cli`.

use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorChoice {
    /// Colour when stdout is a terminal and `NO_COLOR` is not set.
    #[default]
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// The words `--color` takes.
    pub const NAMES: [&'static str; 3] = ["auto", "always", "never"];
}

impl FromStr for ColorChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(ColorChoice::Auto),
            "always" => Ok(ColorChoice::Always),
            "never" => Ok(ColorChoice::Never),
            _ => Err(format!("expected one of {}", Self::NAMES.join(", "))),
        }
    }
}
