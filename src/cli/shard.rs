//! `check --shard K/N [--timings FILE]`: reads the recorded durations, cuts
//! this job's share out of the runbooks found (the split itself is
//! [`crate::shard`]), and says which share it checks.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::report::drift::{format_duration, say};
use crate::report::json::{self, ShardInfo};
use crate::report::Palette;
use crate::shard::{self, Shard};

/// `--shard` and `--timings`, checked.
#[derive(Debug, Clone)]
pub(super) struct Sharding {
    shard: Shard,
    /// The timings file and its durations in milliseconds, by runbook key.
    timings: Option<(PathBuf, BTreeMap<String, u64>)>,
    /// A `--timings` file that does not exist (yet).
    missing: Option<PathBuf>,
}

impl Sharding {
    /// `None` without `--shard` (clap lets `--timings` stand only with it).
    /// A timings file that does not exist yet (the first run of a CI cache)
    /// is a warning: the split falls back to counting runbooks, the same in
    /// every job that misses it.
    pub(super) fn from_args(
        shard: Option<&str>,
        timings: Option<PathBuf>,
    ) -> anyhow::Result<Option<Self>> {
        let Some(shard) = shard else {
            return Ok(None);
        };
        let shard: Shard = shard.parse()?;
        let mut sharding = Sharding {
            shard,
            timings: None,
            missing: None,
        };
        if let Some(file) = timings {
            match read_timings(&file)? {
                Some(t) => sharding.timings = Some((file, t)),
                None => sharding.missing = Some(file),
            }
        }
        Ok(Some(sharding))
    }
}

/// This job's share of `items` (kept in their order) and, for its report,
/// which share it is of what; everything, and `None`, without `--shard`.
#[allow(clippy::print_stderr)]
pub(super) fn select<T>(
    sharding: Option<&Sharding>,
    palette: &Palette,
    items: Vec<T>,
    path: impl Fn(&T) -> &Path,
) -> (Vec<T>, Option<ShardInfo>) {
    let Some(sharding) = sharding else {
        return (items, None);
    };
    if let Some(file) = &sharding.missing {
        eprintln!(
            "{} --timings {}: no such file; splitting by count",
            palette.warning("warning:"),
            file.display()
        );
    }
    let cwd = std::env::current_dir().unwrap_or_default();
    let keys: Vec<String> = items.iter().map(|i| shard::key(path(i), &cwd)).collect();
    let all: Vec<String> = items
        .iter()
        .map(|i| path(i).display().to_string())
        .collect();
    let timings = sharding.timings.as_ref().map(|(_, t)| t);
    let split = shard::split(&keys, timings, sharding.shard.total);
    let index = sharding.shard.index;
    say(&header(palette, sharding, &split, all.len()));
    let by = if split.default_ms.is_some() {
        "durations"
    } else {
        "count"
    };
    let info = ShardInfo::new(index, sharding.shard.total, by, all);
    let mine = items
        .into_iter()
        .zip(split.shard_of)
        .filter(|(_, s)| *s == index)
        .map(|(item, _)| item)
        .collect();
    (mine, Some(info))
}

/// `shard 2/4: 4 of 15 runbooks (...)`, before anything runs.
fn header(palette: &Palette, sharding: &Sharding, split: &shard::Split, all: usize) -> String {
    let index = sharding.shard.index;
    let name = palette.strong(&format!("shard {}", sharding.shard));
    let mine = split.members(index).len();
    if mine == 0 {
        return format!(
            "{name}: none of {all} {} (more shards than runbooks); nothing to check\n",
            plural(all, "runbook")
        );
    }
    let how = match (&sharding.timings, split.default_ms) {
        (Some((file, _)), Some(default)) => {
            let total: u64 = split.weights.iter().sum();
            let untimed = all - split.timed;
            let guessed = match untimed {
                0 => String::new(),
                n => format!(
                    "; {n} {} not in it {} as the median, {}",
                    plural(n, "runbook"),
                    if n == 1 { "counts" } else { "count" },
                    ms(default)
                ),
            };
            format!(
                ", about {} of {} (balanced by the durations in {}{guessed})",
                ms(split.load(index)),
                ms(total),
                file.display()
            )
        }
        (Some((file, _)), None) => {
            format!(" (split by count: {} holds no durations)", file.display())
        }
        (None, _) => " (split by count)".to_string(),
    };
    format!("{name}: {mine} of {all} {}{how}\n", plural(all, "runbook"))
}

fn ms(ms: u64) -> String {
    format_duration(std::time::Duration::from_millis(ms))
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        word.to_string()
    } else {
        format!("{word}s")
    }
}

/// The durations a JSON report recorded, by runbook key; `None` when the
/// file does not exist.
fn read_timings(file: &Path) -> anyhow::Result<Option<BTreeMap<String, u64>>> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(e).with_context(|| format!("--timings: cannot read {}", file.display()))
        }
    };
    let report = json::read(&text).with_context(|| format!("--timings {}", file.display()))?;
    let cwd = std::env::current_dir().unwrap_or_default();
    Ok(Some(
        report
            .runbooks
            .iter()
            .map(|r| (shard::key(Path::new(&r.path), &cwd), r.duration_ms))
            .collect(),
    ))
}
