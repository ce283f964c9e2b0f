//! `runsheet check`: find the runbooks, refuse the whole check if any is
//! invalid, run each non-interactively (`--jobs` at once, each one's output
//! kept together), then the drift report, the summary, the machine reports,
//! and with `--update` the rewritten expected outputs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

use super::{CheckArgs, Exit, Global};
use crate::diag::Severity;
use crate::model::{Runbook, StepKind};
use crate::plan::{self, Plan, Selection};
use crate::record::{RunRecord, RunStatus, StepRecord, Store, TodoRecord, SCHEMA_VERSION};
use crate::report::drift::{self, Checked, Progress};
use crate::report::{github, json, junit, Palette};
use crate::runner::{self, Interrupt, Mode, RunOptions};
use crate::secrets::Redactor;
use crate::source::Source;
use crate::update;

/// Where `check` looks when given no path.
const DEFAULT_DIR: &str = "runbooks";

/// `check`'s arguments, checked once.
struct Config {
    paths: Vec<PathBuf>,
    strict: bool,
    update: bool,
    junit: Option<PathBuf>,
    json: Option<PathBuf>,
    jobs: usize,
    selection: Selection,
    opts: RunOptions,
    shard: Option<super::shard::Sharding>,
}

impl Config {
    fn from_args(args: CheckArgs) -> anyhow::Result<Self> {
        if args.jobs == 0 {
            bail!("--jobs must be at least 1");
        }
        let mut opts = RunOptions::new(Mode::Check);
        opts.yes = args.yes;
        opts.timeout = args
            .timeout
            .as_deref()
            .map(super::run::parse_timeout)
            .transpose()?;
        opts.redact = args.redact;
        opts.env = super::run::parse_env(&args.env)?;
        let shard = super::shard::Sharding::from_args(args.shard.as_deref(), args.timings)?;
        if let Some(size) = &args.max_log {
            opts.max_log = super::run::parse_max_log(size)?;
        }
        super::run::apply_remote(&mut opts, &args.remote)?;
        let paths = if args.paths.is_empty() {
            let dir = PathBuf::from(DEFAULT_DIR);
            if !dir.is_dir() {
                bail!("no runbooks to check: give a path, or create `{DEFAULT_DIR}/`");
            }
            vec![dir]
        } else {
            args.paths
        };
        Ok(Config {
            paths,
            strict: args.strict,
            update: args.update,
            junit: args.junit,
            json: args.json,
            jobs: args.jobs,
            selection: Selection {
                tags: args.select.tags,
                skip_tags: args.select.skip_tags,
                ..Selection::default()
            },
            opts,
            shard,
        })
    }
}

/// A runbook ready to check.
struct Job {
    source: Source,
    runbook: Runbook,
    plan: Plan,
    /// Defaults of the inputs nobody supplied, added to its steps' environment.
    inputs: BTreeMap<String, String>,
}

/// What checking one runbook produced.
struct Done {
    checked: Checked,
    /// Its progress lines, update notes included, to print as one block.
    text: String,
}

pub(crate) fn run(global: &Global, args: CheckArgs) -> anyhow::Result<Exit> {
    let config = Config::from_args(args)?;
    let files = super::runbooks_in(&global.palette, &config.paths)?;
    let Some(jobs) = prepare(&global.palette, &files, &config.selection, &config.opts)? else {
        return Ok(Exit::Usage);
    };
    let runbooks: Vec<&Runbook> = jobs.iter().map(|j| &j.runbook).collect();
    let place = match runbooks.as_slice() {
        [one] => one.path.display().to_string(),
        _ => format!("any of the {} runbooks checked", runbooks.len()),
    };
    plan::check_tags(&runbooks, &config.selection, &place)?;
    // Every runbook was parsed and planned above, so an invalid one stops
    // every shard, as it stops an unsharded check.
    let (jobs, shard) = super::shard::select(config.shard.as_ref(), &global.palette, jobs, |j| {
        &j.source.path
    });
    let mut opts = config.opts.clone();
    opts.interrupt = Interrupt::install().context("cannot watch for Ctrl-C")?;
    crate::exec::contain().context("cannot keep watch over the steps' processes")?;
    let store = Store::new(&global.state_dir);
    let live = config.jobs == 1;
    let results = run_all(global, &config, &opts, &store, jobs, live);

    let exit = verdict(&results, config.strict);
    let palette = &global.palette;
    let mut out = summary(palette, &results, config.strict, exit);
    if github::enabled() {
        out.push_str(&github::annotations(
            &results,
            config.strict,
            &github::Place::from_env(),
        ));
    }
    drift::say(&out);

    if let Some(path) = &config.junit {
        write_report(path, &junit::render(&results, config.strict))?;
    }
    if let Some(path) = &config.json {
        write_report(
            path,
            &json::render(&results, config.strict, exit as i32, shard.as_ref()),
        )?;
    }
    Ok(exit)
}

/// Reads, parses and plans every runbook; `None` (after printing every
/// problem) when any is invalid, because `check` then runs nothing.
#[allow(clippy::print_stderr)]
fn prepare(
    palette: &Palette,
    files: &[PathBuf],
    selection: &Selection,
    opts: &RunOptions,
) -> anyhow::Result<Option<Vec<Job>>> {
    let mut jobs = Vec::new();
    let mut invalid = 0;
    let mut unready = 0;
    for path in files {
        let source =
            Source::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let parsed = crate::parse::parse(&source);
        let errors: Vec<_> = parsed
            .diagnostics
            .into_iter()
            .filter(|d| d.severity == Severity::Error)
            .collect();
        if !errors.is_empty() {
            invalid += 1;
            eprint!("{}", crate::report::diag::render(palette, &source, &errors));
            continue;
        }
        let plan = plan::plan(&parsed.runbook, selection)?;
        // `check` never asks: an input without a value or a default stops it.
        let env = crate::inputs::supplied_env(&parsed.runbook, &opts.base_env, &opts.env);
        let needed = crate::inputs::unsupplied(&parsed.runbook, &plan, &env);
        let inputs = match crate::inputs::without_asking(&parsed.runbook, &needed) {
            Ok(defaults) => defaults,
            Err(missing) => {
                unready += 1;
                eprintln!("{} {missing}", palette.error("error:"));
                continue;
            }
        };
        jobs.push(Job {
            source,
            runbook: parsed.runbook,
            plan,
            inputs,
        });
    }
    if invalid > 0 {
        let noun = if invalid == 1 {
            "runbook is"
        } else {
            "runbooks are"
        };
        eprintln!("error: {invalid} {noun} not valid; nothing was run");
        return Ok(None);
    }
    if unready > 0 {
        eprintln!("error: inputs are missing; nothing was run");
        return Ok(None);
    }
    Ok(Some(jobs))
}

/// Checks every job, `config.jobs` at a time, in a fixed pool of threads.
/// Results come back in the order of `jobs`; each runbook's lines are printed
/// as one block when it is done (or line by line when `live`).
fn run_all(
    global: &Global,
    config: &Config,
    opts: &RunOptions,
    store: &Store,
    jobs: Vec<Job>,
    live: bool,
) -> Vec<Checked> {
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<Checked>>> = jobs.iter().map(|_| Mutex::new(None)).collect();
    let stdout = Mutex::new(());
    let workers = config.jobs.min(jobs.len()).max(1);
    let work = || loop {
        let i = next.fetch_add(1, Ordering::SeqCst);
        let Some(job) = jobs.get(i) else { break };
        if opts.interrupt.is_set() {
            break;
        }
        let done = check_one(global, config, opts, store, job, live);
        if !done.text.is_empty() {
            let _guard = stdout.lock().unwrap_or_else(|e| e.into_inner());
            drift::say(&done.text);
        }
        *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(done.checked);
    };
    std::thread::scope(|scope| {
        // A worker the system will not start leaves its share to the
        // others; with none started, this thread checks every runbook.
        let started = (0..workers)
            .filter(|_| {
                std::thread::Builder::new()
                    .spawn_scoped(scope, work)
                    .is_ok()
            })
            .count();
        if started == 0 {
            work();
        }
    });
    slots
        .into_iter()
        .filter_map(|s| s.into_inner().unwrap_or_else(|e| e.into_inner()))
        .collect()
}

/// Runs one runbook; under `--update`, rewrites its failed outputs and runs
/// it again (later drift shows only once earlier steps pass), until it
/// passes, nothing more can be rewritten, or every check had its turn.
fn check_one(
    global: &Global,
    config: &Config,
    opts: &RunOptions,
    store: &Store,
    job: &Job,
    live: bool,
) -> Done {
    let mut own = opts.clone();
    own.env.extend(job.inputs.clone());
    let opts = &own;
    let mut source = job.source.clone();
    let mut runbook = job.runbook.clone();
    let mut plan = job.plan.clone();
    let mut text = String::new();
    let mut rounds = checks_in(&runbook) + 1;
    let redactor = redactor(&runbook, opts);
    loop {
        let mut progress = Progress::new(global.palette.clone(), &source.path, live);
        let started = Instant::now();
        let result = runner::run(&runbook, &plan, opts, store, &mut progress);
        text.push_str(&progress.take());
        let mut checked = match result {
            Ok(record) => Checked {
                path: source.path.clone(),
                // A fault of runsheet's own that stopped the run midway (a
                // full disk) fails the runbook even when no step failed.
                error: record.error.clone(),
                record,
                duration: started.elapsed(),
                failure_output: std::mem::take(&mut progress.failure_output),
            },
            Err(e) => refused(&source.path, &runbook, &plan, crate::report::chain(&e)),
        };
        redact_checked(&redactor, &mut checked);
        rounds -= 1;
        let rewritten = if config.update && checked.failed() && checked.error.is_none() {
            rewrite(
                &global.palette,
                &source,
                &runbook,
                &checked.record,
                &mut text,
                live,
            )
        } else {
            None
        };
        let Some(new_source) = rewritten.filter(|_| rounds > 0) else {
            return Done { checked, text };
        };
        let parsed = crate::parse::parse(&new_source);
        let replanned = plan::plan(&parsed.runbook, &config.selection);
        match replanned {
            Ok(p)
                if !parsed
                    .diagnostics
                    .iter()
                    .any(|d| d.severity == Severity::Error) =>
            {
                source = new_source;
                runbook = parsed.runbook;
                plan = p;
            }
            _ => return Done { checked, text },
        }
    }
}

fn todo_record(t: &crate::model::Todo) -> TodoRecord {
    TodoRecord {
        section: t.section.clone(),
        line: t.line,
        text: t.text.clone(),
    }
}

/// Output checks and console commands: the most rounds `--update` can need.
fn checks_in(runbook: &Runbook) -> usize {
    runbook
        .steps
        .iter()
        .map(|s| {
            let commands = match &s.kind {
                StepKind::Console { commands, .. } => commands.len(),
                _ => 0,
            };
            s.checks.len() + commands
        })
        .sum()
}

/// Applies `--update` to one runbook; the new source when the file changed.
fn rewrite(
    palette: &Palette,
    source: &Source,
    runbook: &Runbook,
    record: &RunRecord,
    text: &mut String,
    live: bool,
) -> Option<Source> {
    let mut notes = String::new();
    let path = source.path.display();
    let result = (|| {
        let on_disk = Source::read(&source.path).map_err(|e| format!("cannot read it: {e}"))?;
        if on_disk.text != source.text {
            return Err("it changed on disk during the check; not updated".to_string());
        }
        let plan = update::plan_updates(source, runbook, record);
        for refused in &plan.refused {
            notes.push_str(&format!(
                "  {} {path}:{}: {}\n",
                palette.warning("not updated"),
                refused.line,
                refused.reason
            ));
        }
        if plan.edits.is_empty() {
            return Ok(None);
        }
        let new_text = update::apply_on_disk(source, &plan.edits)?;
        update::write_atomically(&source.path, &new_text)
            .map_err(|e| format!("cannot write it: {e}"))?;
        for changed in &plan.changed {
            notes.push_str(&format!(
                "  {} {path}:{}: {}\n",
                palette.accent("updated"),
                changed.line,
                changed.what
            ));
            if let Some(diff) = &changed.diff {
                notes.push_str(&drift::render_diff(palette, diff, "    "));
            }
        }
        Ok(Some(Source::new(source.path.clone(), new_text)))
    })();
    let new_source = result.unwrap_or_else(|reason| {
        notes.push_str(&format!(
            "  {} {path}: {reason}\n",
            palette.error("not updated")
        ));
        None
    });
    if live {
        drift::say(&notes);
    } else {
        text.push_str(&notes);
    }
    new_source
}

/// A runbook the engine refused to start (a missing program, a held lock):
/// every planned step is reported as not run, for that reason.
fn refused(path: &Path, runbook: &Runbook, plan: &Plan, error: String) -> Checked {
    let steps = plan
        .step_indices()
        .map(|i| &runbook.steps[i])
        .map(|step| StepRecord::not_run(step, Some("the runbook could not start".into())))
        .collect();
    Checked {
        path: path.to_path_buf(),
        record: RunRecord {
            schema: SCHEMA_VERSION,
            run_id: String::new(),
            runbook: runbook.path.clone(),
            runbook_abs: std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
            runbook_hash: runbook.hash.clone(),
            title: runbook.title.clone(),
            started: String::new(),
            finished: None,
            status: RunStatus::Failed,
            mode: Mode::Check.as_str().into(),
            steps,
            todos: runbook.todos.iter().map(todo_record).collect(),
            ..RunRecord::default()
        },
        duration: Duration::ZERO,
        failure_output: BTreeMap::new(),
        error: Some(error),
    }
}

/// The secrets of one runbook's run: the environment it runs with, its
/// front matter's `redact:` and `--redact`.
fn redactor(runbook: &Runbook, opts: &RunOptions) -> Redactor {
    let mut env = opts.base_env.clone();
    env.extend(runbook.front.env.clone());
    let mut extra = runbook.front.redact.clone();
    extra.extend(opts.redact.iter().cloned());
    Redactor::new(env.iter().map(|(k, v)| (k.as_str(), v.as_str())), &extra)
}

/// Masks every text of a result before any report sees it. The engine masks
/// output already; this also covers messages quoting the runbook's text.
fn redact_checked(redactor: &Redactor, checked: &mut Checked) {
    if redactor.is_empty() {
        return;
    }
    let mask = |s: &mut String| *s = redactor.redact(s);
    for step in &mut checked.record.steps {
        if let Some(r) = step.reason.as_mut() {
            mask(r);
        }
        for c in &mut step.checks {
            mask(&mut c.message);
            c.diff.iter_mut().chain(c.actual.iter_mut()).for_each(mask);
        }
    }
    for t in &mut checked.record.todos {
        mask(&mut t.text);
    }
    checked.failure_output.values_mut().for_each(mask);
    checked.error.iter_mut().for_each(mask);
}

/// What follows the runbooks' own lines, for `check` and `report merge`
/// alike: the drift report, the summary table and the closing line.
pub(super) fn summary(palette: &Palette, results: &[Checked], strict: bool, exit: Exit) -> String {
    let mut out = drift::drift_report(palette, results, strict);
    out.push('\n');
    out.push_str(&drift::summary_table(palette, results));
    out.push_str(&closing_line(palette, results, exit));
    out
}

/// SPEC §2.2: interrupted 130; any failure 1 (2 when no runbook could even
/// start); TODOs alone under `--strict` 3; else 0.
pub(super) fn verdict(results: &[Checked], strict: bool) -> Exit {
    if results
        .iter()
        .any(|c| c.record.status == RunStatus::Interrupted)
    {
        return Exit::Interrupted;
    }
    let refused =
        |c: &Checked| c.error.is_some() && c.record.steps.iter().all(|s| s.started.is_none());
    if !results.is_empty() && results.iter().all(refused) {
        return Exit::Usage;
    }
    if results.iter().any(Checked::failed) {
        return Exit::Failed;
    }
    if strict && results.iter().any(|c| !c.record.todos.is_empty()) {
        return Exit::Todos;
    }
    Exit::Ok
}

fn closing_line(palette: &Palette, results: &[Checked], exit: Exit) -> String {
    let runbooks = match results.len() {
        1 => "1 runbook".to_string(),
        n => format!("{n} runbooks"),
    };
    let failed = results.iter().filter(|c| c.failed()).count();
    let todos: usize = results.iter().map(|c| c.record.todos.len()).sum();
    let todo_note = match todos {
        0 => String::new(),
        1 => ", 1 TODO".to_string(),
        n => format!(", {n} TODOs"),
    };
    let line = match exit {
        Exit::Ok => palette.success(&format!("check passed: {runbooks}{todo_note}")),
        Exit::Todos => palette.error(&format!(
            "check failed: {runbooks} passed, but {} in the way (--strict)",
            if todos == 1 {
                "1 TODO stands".to_string()
            } else {
                format!("{todos} TODOs stand")
            }
        )),
        Exit::Interrupted => palette.error(&format!("check interrupted: {runbooks}")),
        Exit::Usage => palette.error(&format!(
            "check failed: no runbook could start ({runbooks})"
        )),
        Exit::Failed => palette.error(&format!(
            "check failed: {failed} of {runbooks} with failures{todo_note}"
        )),
    };
    format!("{line}\n")
}

/// Writes a report file the user asked for (its folder is created).
pub(super) fn write_report(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_spec() {
        use crate::report::drift::tests::sample;
        let failed = sample();
        let mut passed = sample();
        passed.record.steps.truncate(1);
        let mut clean = passed.clone();
        clean.record.todos.clear();
        assert_eq!(verdict(&[clean.clone()], true), Exit::Ok);
        assert_eq!(verdict(&[passed.clone()], false), Exit::Ok);
        assert_eq!(verdict(&[passed.clone()], true), Exit::Todos);
        assert_eq!(
            verdict(&[passed.clone(), failed.clone()], true),
            Exit::Failed
        );
        let mut interrupted = failed;
        interrupted.record.status = RunStatus::Interrupted;
        assert_eq!(verdict(&[interrupted], false), Exit::Interrupted);
        let mut refused = clean.clone();
        refused.error = Some("missing".into());
        refused
            .record
            .steps
            .iter_mut()
            .for_each(|s| s.started = None);
        assert_eq!(verdict(&[refused.clone()], false), Exit::Usage);
        assert_eq!(verdict(&[refused, clean.clone()], false), Exit::Failed);
        // A fault after steps ran fails the check (1), it does not refuse it.
        let mut faulted = clean;
        faulted.error = Some("cannot write the record: No space left on device".into());
        faulted.record.steps[0].started = Some("2026-01-01T00:00:00Z".into());
        assert_eq!(verdict(&[faulted], false), Exit::Failed);
    }
}
