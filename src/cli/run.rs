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
        if let Some(size) = &args.max_log {
            opts.max_log = parse_max_log(size)?;
        }
        apply_remote(&mut opts, &args.remote)?;
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

/// `--host`, `--forks`, `--ssh-config` into the run's options.
pub(crate) fn apply_remote(opts: &mut RunOptions, args: &super::RemoteArgs) -> anyhow::Result<()> {
    if args.forks == 0 {
        bail!("--forks must be at least 1");
    }
    if let Some(host) = &args.host {
        if host.is_empty() || host.starts_with('-') || host.contains(char::is_whitespace) {
            bail!("--host {host:?} is not a host (name an ssh alias or user@host)");
        }
    }
    if let Some(file) = &args.ssh_config {
        if !file.is_file() {
            bail!("--ssh-config {}: no such file", file.display());
        }
    }
    opts.remote = crate::runner::RemoteOptions {
        host: args.host.clone(),
        forks: args.forks,
        ssh_config: args
            .ssh_config
            .as_ref()
            .map(|f| std::path::absolute(f).unwrap_or_else(|_| f.clone())),
    };
    Ok(())
}

pub(crate) fn parse_timeout(text: &str) -> anyhow::Result<std::time::Duration> {
    humantime::parse_duration(text)
        .with_context(|| format!("--timeout {text:?} is not a duration (try 90s, 20m, 1h30m)"))
}

pub(crate) fn parse_max_log(text: &str) -> anyhow::Result<u64> {
    crate::record::parse_size(text).map_err(|e| anyhow::anyhow!("--max-log {e}"))
}

pub(crate) fn parse_env(pairs: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    pairs
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => bail!(
                "--env {} is not K=V (what follows the name is not shown: it may be a secret)",
                env_name_only(pair)
            ),
        })
        .collect()
}

/// `API_TOKEN:hunter2` → `API_TOKEN…`: the leading name of a malformed
/// `--env`, without its value.
fn env_name_only(pair: &str) -> String {
    let name: String = pair
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    if name.len() == pair.len() {
        format!("{name:?}")
    } else {
        format!("\"{name}…\"")
    }
}

#[allow(clippy::print_stdout, clippy::print_stderr)]
pub(crate) fn run(global: &Global, args: RunArgs) -> anyhow::Result<Exit> {
    let config = Config::from_args(&args)?;
    let runbook = load(&args.file, &global.palette)?;
    let name = runbook.path.display().to_string();
    plan::check_tags(&[&runbook], &config.selection, &name)?;
    let store = Store::new(&global.state_dir);
    let plan = match make_plan(&runbook, &config, &store) {
        Ok(plan) => plan,
        Err(Refusal::Plan(PlanError::NothingToResume { runbook, run_id })) => {
            println!("nothing to resume: the last run of {runbook} ({run_id}) passed");
            return Ok(Exit::Ok);
        }
        Err(Refusal::Plan(e)) => return Err(e.into()),
        Err(Refusal::Other(e)) => return Err(e),
    };
    let mut terminal = Terminal::new(global.palette.clone());
    if config.dry_run {
        terminal.dry_run(&runbook, &runner::dry_run(&runbook, &plan, &config.opts));
        return Ok(Exit::Ok);
    }
    let mut opts = config.opts;
    match supply_inputs(global, &runbook, &plan, &opts)? {
        Ok(values) => opts.env.extend(values),
        Err(exit) => return Ok(exit),
    }
    opts.interrupt = Interrupt::install().context("cannot watch for Ctrl-C")?;
    crate::exec::contain().context("cannot keep watch over the steps' processes")?;
    terminal.watch(opts.interrupt.clone());
    let record = runner::run(&runbook, &plan, &opts, &store, &mut terminal)?;
    drop(terminal);
    if let Some(error) = &record.error {
        // A fault of runsheet's own after steps ran: the run failed (exit 1).
        eprintln!("{} {error}", global.palette.error("error:"));
    }
    Ok(match record.status {
        RunStatus::Passed => Exit::Ok,
        RunStatus::Interrupted => Exit::Interrupted,
        RunStatus::Failed | RunStatus::Running => Exit::Failed,
    })
}

/// Values for the inputs the run needs that nobody supplied: asked for at a
/// terminal, else their defaults; without either, exit 2 before any step.
#[allow(clippy::print_stdout)]
fn supply_inputs(
    global: &Global,
    runbook: &Runbook,
    plan: &Plan,
    opts: &RunOptions,
) -> anyhow::Result<Result<BTreeMap<String, String>, Exit>> {
    use std::io::IsTerminal as _;
    let env = crate::inputs::supplied_env(runbook, &opts.base_env, &opts.env);
    let needed = crate::inputs::unsupplied(runbook, plan, &env);
    if needed.is_empty() {
        return Ok(Ok(BTreeMap::new()));
    }
    // Nobody should type a token for a run that cannot start: the engine
    // names the missing programs first.
    let base = opts.start_dir.join(&runbook.path);
    let base = base.parent().unwrap_or(&opts.start_dir);
    let path = env.get("PATH").map(std::ffi::OsStr::new);
    if !crate::requires::missing(&runbook.front.requires, path, base).is_empty() {
        return Ok(Ok(BTreeMap::new()));
    }
    if !std::io::stdin().is_terminal() {
        return Ok(Ok(crate::inputs::without_asking(runbook, &needed)?));
    }
    let asked = crate::report::prompt::ask_inputs(&global.palette, runbook, &needed)
        .context("cannot ask for the runbook's inputs")?;
    Ok(match asked {
        Ok(values) => Ok(values),
        Err(crate::report::prompt::Stopped::Interrupted) => Err(Exit::Interrupted),
        Err(crate::report::prompt::Stopped::Closed { name }) => {
            bail!("no value for input `{name}`; nothing was run")
        }
    })
}

/// Why `make_plan` gives up: a plan error (some of which are not errors at
/// all, like nothing to resume), or a record that cannot be read.
enum Refusal {
    Plan(PlanError),
    Other(anyhow::Error),
}

fn make_plan(runbook: &Runbook, config: &Config, store: &Store) -> Result<Plan, Refusal> {
    if !config.resume {
        return plan::plan(runbook, &config.selection).map_err(Refusal::Plan);
    }
    let abs = std::fs::canonicalize(&runbook.path).unwrap_or_else(|_| runbook.path.clone());
    let fresh = format!(
        "start afresh with `runsheet run {}` (add --from ID to skip what is done)",
        runbook.path.display()
    );
    let latest = store
        .latest(&abs)
        .map_err(|e| Refusal::Other(anyhow::anyhow!("cannot resume: {e}; {fresh}")))?;
    let Some((record, dir)) = latest else {
        return Err(Refusal::Plan(plan::no_earlier_run(runbook)));
    };
    let state = dir
        .load_state(&record)
        .map_err(|e| Refusal::Other(anyhow::anyhow!("cannot resume: {e}; {fresh}")))?;
    plan::resume(runbook, &config.selection, &record, state).map_err(Refusal::Plan)
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
