//! The command line: clap structs (data only), one file per command turning them
//! into work, and the exit codes of SPEC §2.2.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::report::Palette;

mod book;
mod check;
mod lint;
mod list;
mod mdbook;
mod run;
mod status;

/// Exit codes (SPEC §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything selected passed.
    Ok = 0,
    /// A step or a check failed (or timed out); `lint` found errors.
    Failed = 1,
    /// Bad usage or an invalid runbook: nothing was run.
    Usage = 2,
    /// Only TODOs stood in the way, under `--strict`.
    Todos = 3,
    /// Interrupted by Ctrl-C or SIGTERM.
    Interrupted = 130,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}

#[derive(Debug, Parser)]
#[command(name = "runsheet", version, about, propagate_version = true)]
pub struct Cli {
    /// When to use colour: auto (a terminal and no NO_COLOR), always or never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    /// Where run records live.
    #[arg(
        long,
        global = true,
        env = "RUNSHEET_STATE_DIR",
        default_value = ".runsheet"
    )]
    pub state_dir: PathBuf,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Outline a runbook: sections, steps, checks and missing steps.
    List(ListArgs),
    /// Report every static problem in runbooks; runs nothing.
    Lint(LintArgs),
    /// Run a runbook's steps in order.
    Run(RunArgs),
    /// Run runbooks non-interactively and report drift between docs and reality.
    Check(CheckArgs),
    /// Show the last run of a runbook and where --resume would start.
    Status(StatusArgs),
    /// Build an HTML book of runbooks with the outputs of their last runs.
    Book(BookArgs),
    /// Act as an mdBook preprocessor (add [preprocessor.runsheet] to book.toml).
    Mdbook(MdbookArgs),
    /// Print a shell completion script.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
pub struct ListArgs {
    pub file: PathBuf,
    /// Print the model as JSON (SPEC §6).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LintArgs {
    /// Runbooks, or directories searched for *.md (honouring .gitignore).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Fence commands that stand outside code blocks, in place.
    #[arg(long)]
    pub fix: bool,
    /// Fail (exit 1) on warnings too.
    #[arg(long)]
    pub deny_warnings: bool,
}

#[derive(Debug, Args)]
pub struct SelectArgs {
    /// Only the steps with this tag (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Leave out the steps with this tag (repeatable).
    #[arg(long = "skip-tag", value_name = "TAG")]
    pub skip_tags: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    pub file: PathBuf,
    /// Run only this section (id or title) and its subsections (repeatable).
    #[arg(long = "section", value_name = "SECTION")]
    pub sections: Vec<String>,
    /// Run only this step (repeatable).
    #[arg(long = "step", value_name = "ID")]
    pub steps: Vec<String>,
    /// Start at this step.
    #[arg(long, value_name = "ID")]
    pub from: Option<String>,
    /// Go on where the last run stopped (its first step that did not pass, or
    /// --from), with the working directory and variables it left.
    #[arg(long)]
    pub resume: bool,
    #[command(flatten)]
    pub select: SelectArgs,
    /// Print what would run, with the resolved working directory; run nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Answer yes to every `confirm` step.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Run on past failed steps.
    #[arg(long)]
    pub keep_going: bool,
    /// Add K=V to every step's environment (repeatable).
    #[arg(long = "env", value_name = "K=V")]
    pub env: Vec<String>,
    /// Default per-step timeout (90s, 20m, 1h30m).
    #[arg(long, value_name = "DUR")]
    pub timeout: Option<String>,
    /// Mask this variable's value everywhere (repeatable).
    #[arg(long = "redact", value_name = "NAME")]
    pub redact: Vec<String>,
    /// Most of one step's output kept in its log (64MiB, 500K, 1G); past it
    /// the log keeps its first and last part. Default 64MiB.
    #[arg(long, value_name = "SIZE")]
    pub max_log: Option<String>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Runbooks or directories; default `runbooks/`.
    pub paths: Vec<PathBuf>,
    /// Fail with exit 3 when TODOs are the only problem.
    #[arg(long)]
    pub strict: bool,
    /// Rewrite failed expected outputs in place with what the commands printed.
    #[arg(long)]
    pub update: bool,
    /// Write a JUnit XML report.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write a JSON report.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Check this many runbooks at once.
    #[arg(long, short = 'j', value_name = "N", default_value_t = 1)]
    pub jobs: usize,
    #[command(flatten)]
    pub select: SelectArgs,
    /// Run `confirm` steps too.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Default per-step timeout (90s, 20m, 1h30m).
    #[arg(long, value_name = "DUR")]
    pub timeout: Option<String>,
    /// Mask this variable's value everywhere (repeatable).
    #[arg(long = "redact", value_name = "NAME")]
    pub redact: Vec<String>,
    /// Most of one step's output kept in its log (64MiB, 500K, 1G); past it
    /// the log keeps its first and last part. Default 64MiB.
    #[arg(long, value_name = "SIZE")]
    pub max_log: Option<String>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    pub file: PathBuf,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BookArgs {
    /// Runbooks or directories; default `runbooks/`.
    pub paths: Vec<PathBuf>,
    /// Output directory.
    #[arg(
        short = 'o',
        long = "out",
        value_name = "DIR",
        default_value = "runsheet-book"
    )]
    pub out: PathBuf,
    /// Write the mdBook source and stop before building HTML.
    #[arg(long)]
    pub src_only: bool,
}

#[derive(Debug, Args)]
pub struct MdbookArgs {
    #[command(subcommand)]
    pub command: Option<MdbookCommand>,
}

#[derive(Debug, Subcommand)]
pub enum MdbookCommand {
    /// mdBook asks whether a renderer is supported (exit 0 for html).
    Supports { renderer: String },
    /// Build an existing mdBook with the runsheet preprocessor, in-process
    /// (no mdBook install needed).
    Build {
        /// The book's root (the folder holding book.toml).
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
}

/// Shared, validated settings of every command.
#[derive(Debug, Clone)]
pub struct Global {
    pub palette: Palette,
    pub state_dir: PathBuf,
}

/// Runs the parsed command line and returns the process exit code.
pub fn run(cli: Cli) -> Exit {
    let global = Global {
        palette: Palette::choose(cli.color),
        state_dir: cli.state_dir,
    };
    if !matches!(cli.command, Command::Run(_) | Command::Check(_)) {
        die_quietly_on_closed_pipe();
    }
    let result = match cli.command {
        Command::List(args) => list::run(&global, args),
        Command::Lint(args) => lint::run(&global, args),
        Command::Run(args) => run::run(&global, args),
        Command::Check(args) => check::run(&global, args),
        Command::Status(args) => status::run(&global, args),
        Command::Book(args) => book::run(&global, args),
        Command::Mdbook(args) => mdbook::run(&global, args),
        Command::Completions { shell } => completions(shell),
    };
    result.unwrap_or_else(|err| crate::report::fatal(&global.palette, &err))
}

/// `runsheet list x | head` should end quietly when `head` has read enough, as
/// Unix tools do, not panic in `println!`. Only for commands that run no steps:
/// `run` and `check` must outlive a closed pipe to stop their steps and finish
/// the record, so their reporters ignore write errors instead.
fn die_quietly_on_closed_pipe() {
    // SAFETY: restoring the default disposition of SIGPIPE before any thread
    // is started; no handler runs.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn completions(shell: clap_complete::Shell) -> anyhow::Result<Exit> {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "runsheet", &mut std::io::stdout());
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
