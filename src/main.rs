use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = runsheet::cli::Cli::parse();
    runsheet::cli::run(cli).into()
}
