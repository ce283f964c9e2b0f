//! `runsheet run`: arguments → a validated selection and options, then the
//! plan, the lock and the run engine with the terminal reporter.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context as _};

use super::{Exit, Global, RunArgs};
use crate::model::Runbook;
use crate::plan::{self, Plan, PlanError, Selection};
use crate::record::{RunStatus, Store};
use crate::report::terminal::Terminal;
use crate::runner::{self, Interrupt, Mode, RunOptions};

/// `run`'s arguments, checked once.
struct Config {
    selection: Selection,
    resume: bool,
    dry_run: bool,
    opts: RunOptions,
}

impl Config {
    fn from_args(args: &RunArgs) -> anyhow::Result<Self> {
        let mut opts = RunOptions::new(Mode::Run);
        opts.yes = args.yes;
        opts.keep_going = args.keep_going;
        opts.timeout = args.timeout.as_deref().map(parse_timeout).transpose()?;
        opts.env = parse_env(&args.env)?;
        opts.redact = args.redact.clone();
        Ok(Config {
            selection: Selection {
                sections: args.sections.clone(),
                steps: args.steps.clone(),
                from: args.from.clone(),
                tags: args.select.tags.clone(),
                skip_tags: args.select.skip_tags.clone(),
            },
            resume: args.resume,
            dry_run: args.dry_run,
            opts,
        })
    }
}

pub(crate) fn parse_timeout(text: &str) -> anyhow::Result<std::time::Duration> {
    humantime::parse_duration(text)
        .with_context(|| format!("--timeout {text:?} is not a duration (try 90s, 20m, 1h30m)"))
}

pub(crate) fn parse_env(pairs: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    pairs
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => bail!("--env {pair:?} is not K=V"),
        })
        .collect()
}

#[allow(clippy::print_stdout)]
pub(crate) fn run(global: &Global, args: RunArgs) -> anyhow::Result<Exit> {
    let config = Config::from_args(&args)?;
    let runbook = load(&args.file, &global.palette)?;
    let store = Store::new(&global.state_dir);
    let plan = match make_plan(&runbook, &config, &store) {
        Ok(plan) => plan,
        Err(PlanError::NothingToResume { runbook, run_id }) => {
            println!("nothing to resume: the last run of {runbook} ({run_id}) passed");
            return Ok(Exit::Ok);
        }
        Err(e) => return Err(e.into()),
    };
    let mut terminal = Terminal::new(global.palette.clone());
    if config.dry_run {
        terminal.dry_run(&runbook, &runner::dry_run(&runbook, &plan, &config.opts));
        return Ok(Exit::Ok);
    }
    let mut opts = config.opts;
    opts.interrupt = Interrupt::install().context("cannot watch for Ctrl-C")?;
    crate::exec::contain().context("cannot keep watch over the steps' processes")?;
    terminal.watch(opts.interrupt.clone());
    let record = runner::run(&runbook, &plan, &opts, &store, &mut terminal)?;
    Ok(match record.status {
        RunStatus::Passed => Exit::Ok,
        RunStatus::Interrupted => Exit::Interrupted,
        RunStatus::Failed | RunStatus::Running => Exit::Failed,
    })
}

fn make_plan(runbook: &Runbook, config: &Config, store: &Store) -> Result<Plan, PlanError> {
    if !config.resume {
        return plan::plan(runbook, &config.selection);
    }
    let abs = std::fs::canonicalize(&runbook.path).unwrap_or_else(|_| runbook.path.clone());
    let latest = store.latest(&abs).ok().flatten();
    let Some((record, dir)) = latest else {
        return Err(plan::no_earlier_run(runbook));
    };
    let state = dir.load_state().ok().flatten();
    plan::resume(runbook, &config.selection, &record, state)
}

/// Reads and parses a runbook; an invalid one is refused with every error,
/// each shown at its place in the file.
pub(crate) fn load(path: &Path, palette: &crate::report::Palette) -> anyhow::Result<Runbook> {
    match crate::parse::load(path) {
        Ok(runbook) => Ok(runbook),
        Err(crate::parse::LoadError::Invalid { file, diagnostics }) => {
            let shown = crate::report::diag::render(palette, &file, &diagnostics);
            bail!(
                "{} is not a valid runbook; nothing was run:\n\n{}",
                file.path.display(),
                shown.trim_end()
            )
        }
        Err(e) => Err(e.into()),
    }
}
