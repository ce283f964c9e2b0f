use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    runsheet::cli::complete_from_env();
    let cli = runsheet::cli::Cli::parse();
    runsheet::cli::run(cli).into()
}
