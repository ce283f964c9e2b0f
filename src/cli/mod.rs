//! The command line: clap structs (data only), one file per command turning them
//! into work, and the exit codes of SPEC §2.2.

use std::path::PathBuf;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueHint};
use clap_complete::engine::ArgValueCompleter;

use crate::report::Palette;

pub use crate::color::ColorChoice;
pub use crate::exit::Exit;

mod book;
mod check;
mod complete;
mod lint;
mod list;
mod mdbook;
mod report;
mod run;
mod shard;
mod status;

#[derive(Debug, Parser)]
#[command(name = "runsheet", version, about, propagate_version = true)]
pub struct Cli {
    /// When to use colour: auto (a terminal and no NO_COLOR), always or never.
    #[arg(
        long,
        global = true,
        value_name = "WHEN",
        default_value = "auto",
        value_parser = PossibleValuesParser::new(ColorChoice::NAMES)
            .try_map(|s| s.parse::<ColorChoice>()),
        help_heading = GLOBAL
    )]
    pub color: ColorChoice,

    /// Where run records live (one folder per runbook and run).
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        env = "RUNSHEET_STATE_DIR",
        hide_env_values = true,
        default_value = ".runsheet",
        value_hint = ValueHint::DirPath,
        help_heading = GLOBAL
    )]
    pub state_dir: PathBuf,

    #[command(subcommand)]
    pub command: Command,
}

/// The help heading of the options every command takes, so they stand apart
/// from a command's own.
const GLOBAL: &str = "Global options";

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
    /// Work with the JSON reports of `check --json`.
    Report(ReportArgs),
    /// Show the last run of a runbook and where --resume would start.
    Status(StatusArgs),
    /// Build an HTML book of runbooks with the outputs of their last runs.
    Book(BookArgs),
    /// Act as an mdBook preprocessor (add [preprocessor.runsheet] to book.toml).
    Mdbook(MdbookArgs),
    /// Print a shell completion script (it completes section, step and tag
    /// names from the runbook on the command line).
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// The runbook to outline.
    #[arg(value_hint = ValueHint::FilePath)]
    pub file: PathBuf,
    /// Print the runbook as JSON: sections, steps, checks, missing steps and
    /// every fenced block, with their lines.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LintArgs {
    /// Runbooks, or directories searched for *.md (honouring .gitignore).
    #[arg(required = true, value_hint = ValueHint::AnyPath)]
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
    #[arg(long = "tag", value_name = "TAG", value_hint = ValueHint::Other,
          add = ArgValueCompleter::new(complete::tags))]
    pub tags: Vec<String>,
    /// Leave out the steps with this tag (repeatable).
    #[arg(long = "skip-tag", value_name = "TAG", value_hint = ValueHint::Other,
          add = ArgValueCompleter::new(complete::tags))]
    pub skip_tags: Vec<String>,
}

/// Where remote steps run (`host=`, `hosts=`).
#[derive(Debug, Args)]
pub struct RemoteArgs {
    /// Run every step on this host over ssh (an alias of your ssh config or
    /// user@host), whatever the runbook says.
    #[arg(long, value_name = "NAME", value_hint = ValueHint::Hostname)]
    pub host: Option<String>,
    /// Run a fanned-out step (`hosts=`) on this many hosts at once.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub forks: usize,
    /// Pass `-F FILE` to every ssh call.
    #[arg(long, value_name = "FILE", env = "RUNSHEET_SSH_CONFIG", value_hint = ValueHint::FilePath)]
    pub ssh_config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The runbook to run.
    #[arg(value_hint = ValueHint::FilePath)]
    pub file: PathBuf,
    /// Run only this section (id or title) and its subsections (repeatable).
    #[arg(long = "section", value_name = "SECTION", value_hint = ValueHint::Other,
          add = ArgValueCompleter::new(complete::sections))]
    pub sections: Vec<String>,
    /// Run only this step (repeatable).
    #[arg(long = "step", value_name = "ID", value_hint = ValueHint::Other,
          add = ArgValueCompleter::new(complete::steps))]
    pub steps: Vec<String>,
    /// Start at this step.
    #[arg(long, value_name = "ID", value_hint = ValueHint::Other,
          add = ArgValueCompleter::new(complete::steps))]
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
    #[arg(long = "env", value_name = "K=V", value_hint = ValueHint::Other)]
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
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Runbooks or directories searched for *.md; default `runbooks/`.
    #[arg(value_hint = ValueHint::AnyPath)]
    pub paths: Vec<PathBuf>,
    /// Fail with exit 3 when TODOs are the only problem.
    #[arg(long)]
    pub strict: bool,
    /// Rewrite failed expected outputs in place with what the commands printed.
    #[arg(long)]
    pub update: bool,
    /// Write a JUnit XML report.
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub junit: Option<PathBuf>,
    /// Write a JSON report.
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
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
    /// Add K=V to every step's environment; supplies inputs (repeatable).
    #[arg(long = "env", value_name = "K=V")]
    pub env: Vec<String>,
    /// Check only shard K of N (K from 1): a share of the runbooks that is the
    /// same on every machine, for one job of a CI matrix.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// Balance the shards by the durations in this JSON report (from
    /// `check --json` or `report merge --json`).
    #[arg(long, value_name = "FILE", requires = "shard")]
    pub timings: Option<PathBuf>,
    /// Most of one step's output kept in its log (64MiB, 500K, 1G); past it
    /// the log keeps its first and last part. Default 64MiB.
    #[arg(long, value_name = "SIZE")]
    pub max_log: Option<String>,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(subcommand)]
    pub command: ReportCommand,
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Merge the JSON reports of `check --shard K/N` jobs into one summary,
    /// exit code and set of reports, as one unsharded check would give.
    Merge(MergeArgs),
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The JSON reports to merge (every shard's, or reports of separate checks).
    #[arg(required = true, value_name = "REPORT.json")]
    pub reports: Vec<PathBuf>,
    /// Judge TODOs strictly (exit 3), whatever the reports recorded.
    #[arg(long)]
    pub strict: bool,
    /// Write the merged JUnit XML report.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write the merged JSON report.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The runbook whose last run to show.
    #[arg(value_hint = ValueHint::FilePath)]
    pub file: PathBuf,
    /// Print the status as JSON: the last run, each step's result and where
    /// --resume would start.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BookArgs {
    /// Runbooks or directories searched for *.md; default `runbooks/`.
    #[arg(value_hint = ValueHint::AnyPath)]
    pub paths: Vec<PathBuf>,
    /// Output directory.
    #[arg(
        short = 'o',
        long = "out",
        value_name = "DIR",
        default_value = "runsheet-book",
        value_hint = ValueHint::DirPath
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
    Supports {
        /// The renderer's name (`html`, `markdown`, ...).
        renderer: String,
    },
    /// Build an existing mdBook with the runsheet preprocessor, in-process
    /// (no mdBook install needed).
    Build {
        /// The book's root (the folder holding book.toml).
        #[arg(default_value = ".", value_hint = ValueHint::DirPath)]
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
    if !matches!(
        cli.command,
        Command::Run(_) | Command::Check(_) | Command::Report(_)
    ) {
        die_quietly_on_closed_pipe();
    }
    let result = match cli.command {
        Command::List(args) => list::run(&global, args),
        Command::Lint(args) => lint::run(&global, args),
        Command::Run(args) => run::run(&global, args),
        Command::Check(args) => check::run(&global, args),
        Command::Report(args) => report::run(&global, args),
        Command::Status(args) => status::run(&global, args),
        Command::Book(args) => book::run(&global, args),
        Command::Mdbook(args) => mdbook::run(&global, args),
        Command::Completions { shell } => completions(shell),
    };
    result.unwrap_or_else(|err| crate::report::fatal(&global.palette, &err))
}

/// The runbooks under `paths` (see [`crate::discover::find`]), each file or
/// folder that could not be read named in a warning on stderr.
#[allow(clippy::print_stderr)]
pub(crate) fn runbooks_in(palette: &Palette, paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let found = crate::discover::find(paths)?;
    for skipped in &found.skipped {
        eprintln!("{} {skipped}; skipped", palette.warning("warning:"));
    }
    Ok(found.files)
}

/// `runsheet list x | head` should end quietly when `head` has read enough, as
/// Unix tools do, not panic in `println!`. Only for commands that run no steps:
/// `run` and `check` must outlive a closed pipe to stop their steps and finish
/// the record, so their reporters ignore write errors instead; `report merge`
/// still writes the reports it was asked for.
fn die_quietly_on_closed_pipe() {
    // SAFETY: restoring the default disposition of SIGPIPE before any thread
    // is started; no handler runs.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Prints the script that registers runsheet's completion with `shell`. The
/// script calls runsheet back on every Tab (see [`complete_from_env`]), so
/// names are read from the runbook being typed.
fn completions(shell: clap_complete::Shell) -> anyhow::Result<Exit> {
    use std::io::Write;
    let mut script = Vec::new();
    complete::registration(shell, &mut script)?;
    std::io::stdout().write_all(&script)?;
    Ok(Exit::Ok)
}

/// Answers a completion request from the shell script `completions` prints
/// (`COMPLETE=bash runsheet -- WORDS...`) and exits; returns at once when the
/// process was not started for that.
pub fn complete_from_env() {
    complete::from_env();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    /// Every argument of every command says what it is for.
    #[test]
    fn every_argument_has_help() {
        use clap::CommandFactory;
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                if !builtin && !arg.is_hide_set() && arg.get_help().is_none() {
                    missing.push(format!("{path} {}", arg.get_id()));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        let mut cmd = Cli::command();
        cmd.build();
        walk(&cmd, "runsheet", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:?}");
    }
}
