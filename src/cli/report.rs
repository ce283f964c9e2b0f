//! `runsheet report merge`: the JSON reports of a sharded check (or of
//! separate checks) read back, merged (rules in [`crate::report::merge`]),
//! and shown and written as one unsharded `check` would have: the same drift
//! report, summary and exit code, the same JUnit and JSON.

use anyhow::Context as _;

use super::check::{summary, verdict, write_report};
use super::{Exit, Global, MergeArgs, ReportArgs, ReportCommand};
use crate::report::drift::say;
use crate::report::merge::{self, Input};
use crate::report::{json, junit};

pub(crate) fn run(global: &Global, args: ReportArgs) -> anyhow::Result<Exit> {
    match args.command {
        ReportCommand::Merge(args) => merge(global, args),
    }
}

#[allow(clippy::print_stderr)]
fn merge(global: &Global, args: MergeArgs) -> anyhow::Result<Exit> {
    let mut inputs = Vec::new();
    for file in &args.reports {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let report = json::read(&text).with_context(|| file.display().to_string())?;
        inputs.push(Input {
            file: file.clone(),
            report,
        });
    }
    let sharded = inputs.iter().all(|i| i.report.shard.is_some());
    let merged = merge::merge(inputs, args.strict)?;
    let palette = &global.palette;
    for warning in &merged.warnings {
        eprintln!("{} {warning}", palette.warning("warning:"));
    }
    let (results, strict) = (&merged.results, merged.strict);
    let exit = verdict(results, strict);
    // The shards' jobs printed their GitHub annotations already; printing
    // them again here would only double every one on the pull request.
    say(&format!(
        "{} {} {}, {} {}\n",
        palette.strong("report merge:"),
        args.reports.len(),
        match (sharded, args.reports.len()) {
            (true, 1) => "shard report",
            (true, _) => "shard reports",
            (false, 1) => "report",
            (false, _) => "reports",
        },
        results.len(),
        if results.len() == 1 {
            "runbook"
        } else {
            "runbooks"
        }
    ));
    say(&summary(palette, results, strict, exit));
    if let Some(path) = &args.junit {
        write_report(path, &junit::render(results, strict))?;
    }
    if let Some(path) = &args.json {
        write_report(path, &json::render(results, strict, exit as i32, None))?;
    }
    Ok(exit)
}
