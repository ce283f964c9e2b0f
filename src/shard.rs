//! `check --shard K/N`: which runbooks one of N CI jobs checks. Pure: the
//! runbooks' keys (their paths relative to where `check` runs) and, when a
//! timings file is given, their recorded durations go in; a shard per runbook
//! comes out — the same on every machine, so N jobs that each compute the
//! split take disjoint shares that together cover every runbook.

use std::collections::BTreeMap;
use std::path::{Component, Path};
use std::str::FromStr;

/// One job's share: shard `index` (counted from 1, as GitLab's
/// `CI_NODE_INDEX` is) of `total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub total: usize,
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.total)
    }
}

/// A `--shard` value that is not a shard.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    #[error("`--shard {0}`: expected K/N, such as 2/4 (shard K of N, counted from 1)")]
    Syntax(String),
    #[error("`--shard {0}`: the number of shards N must be at least 1")]
    NoShards(String),
    #[error("`--shard {given}`: shards are counted from 1, so K must be between 1 and {total}")]
    Zero { given: String, total: usize },
    #[error(
        "`--shard {given}`: there are only {total} shards, so K must be between 1 and {total}"
    )]
    Beyond { given: String, total: usize },
}

impl FromStr for Shard {
    type Err = ShardError;

    fn from_str(given: &str) -> Result<Self, ShardError> {
        let syntax = || ShardError::Syntax(given.to_string());
        let (k, n) = given.split_once('/').ok_or_else(syntax)?;
        let number = |s: &str| match s.trim() {
            t if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) => t.parse::<usize>().ok(),
            _ => None,
        };
        let (index, total) = number(k).zip(number(n)).ok_or_else(syntax)?;
        let given = given.to_string();
        match (index, total) {
            (_, 0) => Err(ShardError::NoShards(given)),
            (0, total) => Err(ShardError::Zero { given, total }),
            (index, total) if index > total => Err(ShardError::Beyond { given, total }),
            (index, total) => Ok(Shard { index, total }),
        }
    }
}

/// The name a runbook is split by: its path relative to the directory
/// `check` runs in, `/`-separated, without `.` parts. Absolute paths under
/// `cwd` lose that prefix, so a CI job checked out under another directory
/// computes the same keys; other paths stay as given.
pub fn key(path: &Path, cwd: &Path) -> String {
    let rel = if path.is_absolute() {
        match path.strip_prefix(cwd) {
            Ok(rel) => rel,
            Err(_) => return path.display().to_string(),
        }
    } else {
        path
    };
    let parts: Vec<String> = rel
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts.join("/")
}

/// How the runbooks were spread over the shards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// For each runbook given, its shard (counted from 1).
    pub shard_of: Vec<usize>,
    /// The weight each runbook was placed by: its recorded duration in
    /// milliseconds, or 1 each when splitting by count.
    pub weights: Vec<u64>,
    /// How many runbooks had a recorded duration.
    pub timed: usize,
    /// The weight of a runbook without one: the median recorded duration
    /// (`None` when splitting by count).
    pub default_ms: Option<u64>,
}

impl Split {
    /// The runbooks (their positions) of shard `index`, in the order given.
    pub fn members(&self, index: usize) -> Vec<usize> {
        (0..self.shard_of.len())
            .filter(|&i| self.shard_of[i] == index)
            .collect()
    }

    /// The summed weight of shard `index`.
    pub fn load(&self, index: usize) -> u64 {
        self.members(index).iter().map(|&i| self.weights[i]).sum()
    }
}

/// Spreads the runbooks named by `keys` over `total` shards.
///
/// With `timings` (recorded milliseconds by key) that hold at least one
/// duration, the shards are balanced by time: longest runbook first, each to
/// the shard with the least time so far (LPT, within 4/3 of the best
/// possible). A runbook without a recorded duration counts as the median of
/// the recorded ones. Without timings every runbook weighs the same, which
/// deals them out by count (sizes differ by at most one).
///
/// Ties are broken by key, then by shard number, never by hash or input
/// order, so every machine computes the same split from the same keys.
pub fn split(keys: &[String], timings: Option<&BTreeMap<String, u64>>, total: usize) -> Split {
    let recorded = timings.filter(|t| !t.is_empty());
    let default_ms = recorded.and_then(|t| median(t.values().copied()));
    let mut timed = 0;
    let weights: Vec<u64> = keys
        .iter()
        .map(|k| match (recorded, default_ms) {
            (Some(t), Some(default)) => match t.get(k) {
                Some(&ms) => {
                    timed += 1;
                    ms.max(1)
                }
                None => default.max(1),
            },
            _ => 1,
        })
        .collect();
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by(|&a, &b| {
        weights[b]
            .cmp(&weights[a])
            .then_with(|| keys[a].cmp(&keys[b]))
            .then(a.cmp(&b))
    });
    // Shards past the number of runbooks stay empty, so only that many are
    // tracked (a huge N allocates nothing).
    let live = total.min(keys.len()).max(1);
    let mut loads = vec![(0u64, 0usize); live];
    let mut shard_of = vec![0; keys.len()];
    for i in order {
        let (best, _) = loads
            .iter()
            .enumerate()
            .min_by_key(|&(s, &(load, count))| (load, count, s))
            .expect("at least one shard");
        loads[best].0 += weights[i];
        loads[best].1 += 1;
        shard_of[i] = best + 1;
    }
    Split {
        shard_of,
        weights,
        timed,
        default_ms: default_ms.filter(|_| recorded.is_some()),
    }
}

/// The middle value (the lower of the two middle ones for an even count).
fn median(values: impl Iterator<Item = u64>) -> Option<u64> {
    let mut v: Vec<u64> = values.collect();
    v.sort_unstable();
    v.get(v.len().saturating_sub(1) / 2).copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn keys(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("runbooks/r{i:02}.md")).collect()
    }

    #[test]
    fn parses_k_of_n() {
        assert_eq!("2/4".parse(), Ok(Shard { index: 2, total: 4 }));
        assert_eq!(" 1 / 1 ".parse(), Ok(Shard { index: 1, total: 1 }));
        assert_eq!("4/4".parse::<Shard>().unwrap().to_string(), "4/4");
    }

    #[test]
    fn refuses_what_is_not_a_shard() {
        for bad in [
            "x", "2", "2/", "/4", "a/4", "2/b", "-1/4", "+1/4", "1/4/8", "",
        ] {
            assert_eq!(
                bad.parse::<Shard>(),
                Err(ShardError::Syntax(bad.into())),
                "{bad}"
            );
        }
        let msg = |s: &str| s.parse::<Shard>().unwrap_err().to_string();
        assert_eq!(
            msg("0/4"),
            "`--shard 0/4`: shards are counted from 1, so K must be between 1 and 4"
        );
        assert_eq!(
            msg("5/4"),
            "`--shard 5/4`: there are only 4 shards, so K must be between 1 and 4"
        );
        assert_eq!(
            msg("1/0"),
            "`--shard 1/0`: the number of shards N must be at least 1"
        );
        assert_eq!(
            msg("x"),
            "`--shard x`: expected K/N, such as 2/4 (shard K of N, counted from 1)"
        );
        assert!(matches!(
            "1/99999999999999999999999".parse::<Shard>(),
            Err(ShardError::Syntax(_))
        ));
    }

    #[test]
    fn keys_are_relative_and_clean() {
        let cwd = Path::new("/builds/7/repo");
        assert_eq!(key(Path::new("runbooks/a.md"), cwd), "runbooks/a.md");
        assert_eq!(key(Path::new("./runbooks/./a.md"), cwd), "runbooks/a.md");
        assert_eq!(
            key(Path::new("/builds/7/repo/runbooks/a.md"), cwd),
            "runbooks/a.md"
        );
        assert_eq!(key(Path::new("/elsewhere/a.md"), cwd), "/elsewhere/a.md");
    }

    #[test]
    fn by_count_deals_out_in_key_order() {
        let s = split(&keys(10), None, 4);
        assert_eq!(s.shard_of, [1, 2, 3, 4, 1, 2, 3, 4, 1, 2]);
        assert_eq!(s.default_ms, None);
        assert_eq!(s.timed, 0);
    }

    #[test]
    fn more_shards_than_runbooks_leaves_the_rest_empty() {
        let s = split(&keys(3), None, 8);
        assert_eq!(s.shard_of, [1, 2, 3]);
        for k in 4..=8 {
            assert!(s.members(k).is_empty());
        }
        assert_eq!(split(&keys(2), None, usize::MAX).shard_of, [1, 2]);
        assert!(split(&[], None, 4).shard_of.is_empty());
    }

    #[test]
    fn the_split_does_not_depend_on_input_order() {
        let mut ks = keys(13);
        let timings: BTreeMap<String, u64> = ks
            .iter()
            .enumerate()
            .map(|(i, k)| (k.clone(), (i as u64 * 37) % 11 * 100))
            .collect();
        let forward = split(&ks, Some(&timings), 4);
        let by_key: BTreeMap<String, usize> = ks
            .iter()
            .cloned()
            .zip(forward.shard_of.iter().copied())
            .collect();
        ks.reverse();
        let backward = split(&ks, Some(&timings), 4);
        for (k, shard) in ks.iter().zip(backward.shard_of) {
            assert_eq!(by_key[k], shard, "{k}");
        }
    }

    /// A skewed tree: one runbook takes as long as ten others together. By
    /// count, the shard holding it would take 60% of the whole; by time, it
    /// sits alone and the rest share the other shards evenly.
    #[test]
    fn durations_balance_a_skewed_set() {
        let ks = keys(16);
        let mut timings = BTreeMap::new();
        timings.insert(ks[0].clone(), 60_000);
        timings.insert(ks[1].clone(), 20_000);
        timings.insert(ks[2].clone(), 20_000);
        for k in &ks[3..15] {
            timings.insert(k.clone(), 5_000);
        }
        // ks[15] has no recorded time: it counts as the median, 5s.
        let s = split(&ks, Some(&timings), 4);
        assert_eq!(s.timed, 15);
        assert_eq!(s.default_ms, Some(5_000));
        let loads: Vec<u64> = (1..=4).map(|k| s.load(k)).collect();
        assert_eq!(loads.iter().sum::<u64>(), 165_000);
        assert_eq!(s.members(s.shard_of[0]), [0], "the long runbook sits alone");
        assert_eq!(*loads.iter().max().unwrap(), 60_000, "{loads:?}");
        assert!(*loads.iter().min().unwrap() >= 30_000, "{loads:?}");

        let by_count = split(&ks, None, 4);
        let count_max = (1..=4)
            .map(|k| {
                by_count
                    .members(k)
                    .iter()
                    .map(|&i| timings.get(&ks[i]).copied().unwrap_or(5_000))
                    .sum::<u64>()
            })
            .max()
            .unwrap();
        assert!(
            count_max >= 75_000,
            "by count the slowest shard takes {count_max}"
        );
    }

    proptest! {
        #[test]
        fn shards_are_disjoint_cover_everything_and_are_stable(
            n in 0usize..40,
            total in 1usize..12,
            durations in proptest::collection::vec(proptest::option::of(0u64..100_000), 40),
        ) {
            let ks = keys(n);
            let timings: BTreeMap<String, u64> = ks
                .iter()
                .zip(&durations)
                .filter_map(|(k, d)| d.map(|d| (k.clone(), d)))
                .collect();
            for t in [None, Some(&timings)] {
                let s = split(&ks, t, total);
                prop_assert_eq!(&s, &split(&ks, t, total));
                let mut seen = vec![0; n];
                for k in 1..=total {
                    for i in s.members(k) {
                        seen[i] += 1;
                    }
                }
                prop_assert!(seen.iter().all(|&c| c == 1));
                if t.is_none() || timings.is_empty() {
                    let sizes: Vec<usize> = (1..=total).map(|k| s.members(k).len()).collect();
                    let (lo, hi) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
                    prop_assert!(hi - lo <= 1, "{:?}", sizes);
                } else {
                    // LPT's bound: no shard exceeds the mean load by more
                    // than the longest runbook.
                    let sum: u64 = s.weights.iter().sum();
                    let longest = s.weights.iter().copied().max().unwrap_or(0);
                    for k in 1..=total {
                        prop_assert!(s.load(k) <= sum / total as u64 + longest);
                    }
                }
            }
        }
    }
}
