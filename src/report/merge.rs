//! `runsheet report merge`: the JSON reports of the shards of one check, read
//! back into the results one unsharded check of the same runbooks would have
//! had, in its order. Pure: reports in; results, or the reason the reports do
//! not add up to one check, out.
//!
//! The rules, in the order they are applied:
//! 1. Every report is a shard's (`--shard K/N`), or none is; mixing them is an
//!    error.
//! 2. Shard reports must agree on N and on the set of runbooks they were cut
//!    from; each K must come once, and every K from 1 to N must come.
//! 3. A runbook may stand in one report only, and (for shards) only if it is
//!    in the set the shards were cut from.
//! 4. Every runbook of that set must stand in some report, unless a shard was
//!    interrupted (an interrupted check leaves the rest out, sharded or not).
//! 5. `--strict` is as the reports recorded it; reports that disagree are an
//!    error, unless `merge` itself is given `--strict`, which then holds.
//! 6. Reports written by different runsheet versions (of the same schema) are
//!    merged, with a warning.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::drift::Checked;
use super::json::{Report, ShardInfo};

/// One report to merge and the file it came from.
#[derive(Debug, Clone)]
pub struct Input {
    pub file: PathBuf,
    pub report: Report,
}

/// What the reports add up to.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Merged {
    /// In the order an unsharded check reports them.
    pub results: Vec<Checked>,
    pub strict: bool,
    /// Things worth a look that do not stop the merge.
    pub warnings: Vec<String>,
}

/// Why the reports are not the shards of one check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    #[error(
        "{sharded} is the report of shard {shard}, but {plain} is not a shard's report; \
         merge the reports of the shards of one check"
    )]
    Mixed {
        sharded: String,
        shard: String,
        plain: String,
    },
    #[error("{a} is shard {a_shard} but {b} is shard {b_shard}: they come from different splits")]
    Total {
        a: String,
        a_shard: String,
        b: String,
        b_shard: String,
    },
    #[error(
        "{a} and {b} were cut from different sets of runbooks ({difference}); \
         run every shard on the same commit with the same paths"
    )]
    Sets {
        a: String,
        b: String,
        difference: String,
    },
    #[error("shard {shard} is given twice: {a} and {b}")]
    Twice { shard: String, a: String, b: String },
    #[error("{}", missing_message(first, *count, *total))]
    Missing {
        /// The first few missing shards (K).
        first: Vec<usize>,
        count: usize,
        total: usize,
    },
    #[error("{file} claims to be shard {shard}, which no --shard can be")]
    BadShard { file: String, shard: String },
    #[error("{file} holds {runbook}, which is not among the runbooks its shard was cut from")]
    Stranger { file: String, runbook: String },
    #[error("{runbook} is in both {a} and {b}; {hint}")]
    Twofold {
        runbook: String,
        a: String,
        b: String,
        hint: &'static str,
    },
    #[error(
        "{} in no shard's report: {}; {SPLIT_HINT}",
        if runbooks.len() == 1 { "1 runbook is".to_string() } else { format!("{} runbooks are", runbooks.len()) },
        first_few(runbooks)
    )]
    Uncovered { runbooks: Vec<String> },
    #[error(
        "{strict} was checked with --strict and {lax} without; \
         give --strict to merge to judge TODOs strictly, or check every shard with the same options"
    )]
    Strict { strict: String, lax: String },
}

const SPLIT_HINT: &str = "the shards were split differently \
    (every shard job must find the same runbooks and read the same --timings file)";

/// Missing shards named in an error, at most.
const NAMED: usize = 5;

fn missing_message(first: &[usize], count: usize, total: usize) -> String {
    let mut names: Vec<String> = first.iter().map(|k| format!("{k}/{total}")).collect();
    if count > names.len() {
        names.push(format!("{} more", count - names.len()));
    }
    match names.as_slice() {
        [one] => {
            format!("shard {one} is missing; did its job fail before writing its --json report?")
        }
        [init @ .., last] => format!(
            "shards {} and {last} are missing; \
             did their jobs fail before writing their --json reports?",
            init.join(", ")
        ),
        [] => "no shard is missing".into(),
    }
}

fn first_few(runbooks: &[String]) -> String {
    let mut text = runbooks
        .iter()
        .take(NAMED)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if runbooks.len() > NAMED {
        text.push_str(&format!(" and {} more", runbooks.len() - NAMED));
    }
    text
}

fn name(file: &Path) -> String {
    file.display().to_string()
}

/// Merges the reports (at least one) as the rules above say.
pub fn merge(inputs: Vec<Input>, strict: bool) -> Result<Merged, MergeError> {
    let strict = agreed_strict(&inputs, strict)?;
    let warnings = version_warnings(&inputs);
    let interrupted = inputs.iter().any(|i| {
        i.report.result == "interrupted" || i.report.runbooks.iter().any(|r| r.interrupted)
    });
    let results = match shards(&inputs)? {
        Some(all) => in_order(inputs, &all, interrupted)?,
        None => concatenated(inputs)?,
    };
    Ok(Merged {
        results,
        strict,
        warnings,
    })
}

fn agreed_strict(inputs: &[Input], strict: bool) -> Result<bool, MergeError> {
    let on = inputs.iter().find(|i| i.report.strict);
    let off = inputs.iter().find(|i| !i.report.strict);
    match (on, off) {
        (Some(on), Some(off)) if !strict => Err(MergeError::Strict {
            strict: name(&on.file),
            lax: name(&off.file),
        }),
        _ => Ok(strict || on.is_some()),
    }
}

fn version_warnings(inputs: &[Input]) -> Vec<String> {
    let mut by_version: BTreeMap<&str, &Path> = BTreeMap::new();
    for i in inputs {
        by_version.entry(&i.report.version).or_insert(&i.file);
    }
    if by_version.len() < 2 {
        return Vec::new();
    }
    let list: Vec<String> = by_version
        .iter()
        .map(|(v, f)| format!("{v} ({})", f.display()))
        .collect();
    vec![format!(
        "the reports were written by different runsheet versions: {}; \
         their results are merged, but may not be judged alike",
        list.join(", ")
    )]
}

/// The set of runbooks the shards were cut from, after checking that the
/// reports are the complete, consistent shards of one check; `None` when
/// no report is a shard's.
fn shards(inputs: &[Input]) -> Result<Option<Vec<String>>, MergeError> {
    let sharded: Vec<(&Input, &ShardInfo)> = inputs
        .iter()
        .filter_map(|i| i.report.shard.as_ref().map(|s| (i, s)))
        .collect();
    let Some(&(first, first_shard)) = sharded.first() else {
        return Ok(None);
    };
    if let Some(plain) = inputs.iter().find(|i| i.report.shard.is_none()) {
        return Err(MergeError::Mixed {
            sharded: name(&first.file),
            shard: of(first_shard),
            plain: name(&plain.file),
        });
    }
    let total = first_shard.total;
    let mut seen: BTreeMap<usize, &Path> = BTreeMap::new();
    for &(input, shard) in &sharded {
        if shard.index == 0 || shard.index > shard.total {
            return Err(MergeError::BadShard {
                file: name(&input.file),
                shard: of(shard),
            });
        }
        if shard.total != total {
            return Err(MergeError::Total {
                a: name(&first.file),
                a_shard: of(first_shard),
                b: name(&input.file),
                b_shard: of(shard),
            });
        }
        if shard.runbooks != first_shard.runbooks {
            return Err(MergeError::Sets {
                a: name(&first.file),
                b: name(&input.file),
                difference: difference(&first_shard.runbooks, &shard.runbooks),
            });
        }
        if let Some(earlier) = seen.insert(shard.index, &input.file) {
            return Err(MergeError::Twice {
                shard: of(shard),
                a: name(earlier),
                b: name(&input.file),
            });
        }
    }
    let count = total - seen.len();
    if count > 0 {
        // Stops after the first few: N comes from a file and may be huge.
        let first = (1..=total)
            .filter(|k| !seen.contains_key(k))
            .take(NAMED)
            .collect();
        return Err(MergeError::Missing {
            first,
            count,
            total,
        });
    }
    Ok(Some(first_shard.runbooks.clone()))
}

fn of(shard: &ShardInfo) -> String {
    format!("{}/{}", shard.index, shard.total)
}

/// The first runbook one set has and the other lacks, in words.
fn difference(a: &[String], b: &[String]) -> String {
    let only = |x: &[String], y: &[String]| x.iter().find(|r| !y.contains(r)).cloned();
    match (only(a, b), only(b, a)) {
        (Some(r), _) => format!("{r} is only in the first"),
        (None, Some(r)) => format!("{r} is only in the second"),
        (None, None) => "the same runbooks in another order".into(),
    }
}

/// The shards' runbooks in the order of the set they were cut from.
fn in_order(
    inputs: Vec<Input>,
    all: &[String],
    interrupted: bool,
) -> Result<Vec<Checked>, MergeError> {
    let position: BTreeMap<&str, usize> = all
        .iter()
        .enumerate()
        .map(|(i, r)| (r.as_str(), i))
        .collect();
    let mut slots: Vec<Option<(PathBuf, Checked)>> = vec![None; all.len()];
    for input in inputs {
        for runbook in input.report.runbooks {
            let Some(&at) = position.get(runbook.path.as_str()) else {
                return Err(MergeError::Stranger {
                    file: name(&input.file),
                    runbook: runbook.path,
                });
            };
            if let Some((earlier, _)) = &slots[at] {
                return Err(MergeError::Twofold {
                    runbook: runbook.path,
                    a: name(earlier),
                    b: name(&input.file),
                    hint: SPLIT_HINT,
                });
            }
            slots[at] = Some((input.file.clone(), runbook.into_checked()));
        }
    }
    let uncovered: Vec<String> = all
        .iter()
        .zip(&slots)
        .filter(|(_, s)| s.is_none())
        .map(|(r, _)| r.clone())
        .collect();
    if !uncovered.is_empty() && !interrupted {
        return Err(MergeError::Uncovered {
            runbooks: uncovered,
        });
    }
    Ok(slots.into_iter().flatten().map(|(_, c)| c).collect())
}

/// Reports of separate checks, one after another, each runbook once.
fn concatenated(inputs: Vec<Input>) -> Result<Vec<Checked>, MergeError> {
    let mut from: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut results = Vec::new();
    for input in inputs {
        for runbook in input.report.runbooks {
            if let Some(earlier) = from.insert(runbook.path.clone(), input.file.clone()) {
                return Err(MergeError::Twofold {
                    runbook: runbook.path,
                    a: name(&earlier),
                    b: name(&input.file),
                    hint: "a runbook may be merged only once",
                });
            }
            results.push(runbook.into_checked());
        }
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::drift::tests::sample;
    use crate::report::json;

    /// The report `check --shard index/total --json` would write for the
    /// runbooks named, out of `all`.
    fn report(names: &[&str], shard: Option<(usize, usize, &[&str])>, strict: bool) -> Report {
        let results: Vec<Checked> = names
            .iter()
            .map(|n| {
                let mut c = sample();
                c.path = PathBuf::from(n);
                c
            })
            .collect();
        let info = shard.map(|(k, n, all)| {
            ShardInfo::new(k, n, "count", all.iter().map(|s| s.to_string()).collect())
        });
        json::read(&json::render(&results, strict, 1, info.as_ref())).expect("reads back")
    }

    fn input(file: &str, report: Report) -> Input {
        Input {
            file: file.into(),
            report,
        }
    }

    const ALL: &[&str] = &["a.md", "b.md", "c.md", "d.md", "e.md"];

    fn paths(merged: &Merged) -> Vec<String> {
        merged
            .results
            .iter()
            .map(|c| c.path.display().to_string())
            .collect()
    }

    #[test]
    fn shards_merge_in_the_order_of_the_whole_check() {
        let merged = merge(
            vec![
                input(
                    "s2.json",
                    report(&["b.md", "e.md"], Some((2, 3, ALL)), false),
                ),
                input("s3.json", report(&[], Some((3, 3, ALL)), false)),
                input(
                    "s1.json",
                    report(&["a.md", "c.md", "d.md"], Some((1, 3, ALL)), false),
                ),
            ],
            false,
        )
        .unwrap();
        assert_eq!(paths(&merged), ALL);
        assert!(!merged.strict);
        assert!(merged.warnings.is_empty());
    }

    #[test]
    fn plain_reports_are_concatenated() {
        let merged = merge(
            vec![
                input("docs.json", report(&["docs/x.md"], None, false)),
                input("rb.json", report(&["rb/a.md", "rb/b.md"], None, false)),
            ],
            false,
        )
        .unwrap();
        assert_eq!(paths(&merged), ["docs/x.md", "rb/a.md", "rb/b.md"]);
        let err = merge(
            vec![
                input("one.json", report(&["a.md"], None, false)),
                input("again.json", report(&["a.md"], None, false)),
            ],
            false,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "a.md is in both one.json and again.json; a runbook may be merged only once"
        );
    }

    fn merge_err(inputs: Vec<Input>) -> String {
        merge(inputs, false).unwrap_err().to_string()
    }

    #[test]
    fn a_missing_shard_is_named() {
        let one = || input("s1.json", report(&["a.md"], Some((1, 4, ALL)), false));
        assert_eq!(
            merge_err(vec![
                one(),
                input("s2.json", report(&["b.md"], Some((2, 4, ALL)), false)),
                input("s4.json", report(&["d.md"], Some((4, 4, ALL)), false)),
            ]),
            "shard 3/4 is missing; did its job fail before writing its --json report?"
        );
        assert_eq!(
            merge_err(vec![one()]),
            "shards 2/4, 3/4 and 4/4 are missing; \
             did their jobs fail before writing their --json reports?"
        );
        let huge = input(
            "s1.json",
            report(&["a.md"], Some((1, usize::MAX, ALL)), false),
        );
        assert_eq!(
            merge_err(vec![huge]),
            format!(
                "shards 2/{n}, 3/{n}, 4/{n}, 5/{n}, 6/{n} and {} more are missing; \
                 did their jobs fail before writing their --json reports?",
                usize::MAX - 6,
                n = usize::MAX
            )
        );
        let zero = input("s0.json", report(&["a.md"], Some((0, 4, ALL)), false));
        assert_eq!(
            merge_err(vec![zero]),
            "s0.json claims to be shard 0/4, which no --shard can be"
        );
    }

    #[test]
    fn inconsistent_shards_are_refused() {
        let s = |file: &str, names: &[&str], k, n, all| {
            input(file, report(names, Some((k, n, all)), false))
        };
        assert_eq!(
            merge_err(vec![
                s("s1.json", &["a.md"], 1, 2, ALL),
                s("t1.json", &["a.md"], 1, 2, ALL)
            ]),
            "shard 1/2 is given twice: s1.json and t1.json"
        );
        assert_eq!(
            merge_err(vec![
                s("s1.json", &["a.md"], 1, 2, ALL),
                s("x.json", &["b.md"], 2, 3, ALL)
            ]),
            "s1.json is shard 1/2 but x.json is shard 2/3: they come from different splits"
        );
        assert_eq!(
            merge_err(vec![
                s("s1.json", &["a.md"], 1, 2, ALL),
                s(
                    "s2.json",
                    &["b.md"],
                    2,
                    2,
                    &["a.md", "b.md", "c.md", "d.md", "e.md", "f.md"]
                ),
            ]),
            "s1.json and s2.json were cut from different sets of runbooks \
             (f.md is only in the second); run every shard on the same commit with the same paths"
        );
        assert_eq!(
            merge_err(vec![
                s("s1.json", &["a.md", "b.md", "c.md"], 1, 2, ALL),
                s("s2.json", &["c.md", "d.md", "e.md"], 2, 2, ALL),
            ]),
            format!("c.md is in both s1.json and s2.json; {SPLIT_HINT}")
        );
        assert_eq!(
            merge_err(vec![
                s("s1.json", &["a.md", "b.md"], 1, 2, ALL),
                s("s2.json", &["d.md"], 2, 2, ALL),
            ]),
            format!("2 runbooks are in no shard's report: c.md, e.md; {SPLIT_HINT}")
        );
        assert_eq!(
            merge_err(vec![
                s("s1.json", &["a.md", "b.md", "c.md", "zz.md"], 1, 2, ALL),
                s("s2.json", &["d.md", "e.md"], 2, 2, ALL),
            ]),
            "s1.json holds zz.md, which is not among the runbooks its shard was cut from"
        );
        assert_eq!(
            merge_err(vec![
                s("s1.json", &["a.md", "b.md"], 1, 2, ALL),
                input("plain.json", report(&["c.md"], None, false)),
            ]),
            "s1.json is the report of shard 1/2, but plain.json is not a shard's report; \
             merge the reports of the shards of one check"
        );
    }

    #[test]
    fn an_interrupted_shard_may_leave_runbooks_out() {
        let mut stopped = report(&["a.md"], Some((1, 2, ALL)), false);
        stopped.result = "interrupted".into();
        let merged = merge(
            vec![
                input("s1.json", stopped),
                input(
                    "s2.json",
                    report(&["d.md", "e.md"], Some((2, 2, ALL)), false),
                ),
            ],
            false,
        )
        .unwrap();
        assert_eq!(paths(&merged), ["a.md", "d.md", "e.md"]);
    }

    #[test]
    fn strict_must_agree_unless_merge_decides() {
        let shards = |a, b| {
            vec![
                input(
                    "s1.json",
                    report(&["a.md", "b.md", "c.md"], Some((1, 2, ALL)), a),
                ),
                input("s2.json", report(&["d.md", "e.md"], Some((2, 2, ALL)), b)),
            ]
        };
        assert!(merge(shards(true, true), false).unwrap().strict);
        assert!(!merge(shards(false, false), false).unwrap().strict);
        assert!(merge(shards(false, false), true).unwrap().strict);
        assert!(merge(shards(true, false), true).unwrap().strict);
        assert_eq!(
            merge(shards(false, true), false).unwrap_err().to_string(),
            "s2.json was checked with --strict and s1.json without; give --strict to merge \
             to judge TODOs strictly, or check every shard with the same options"
        );
    }

    #[test]
    fn different_versions_merge_with_a_warning() {
        let mut old = report(&["a.md"], None, false);
        old.version = "0.0.9".into();
        let merged = merge(
            vec![
                input("old.json", old),
                input("new.json", report(&["b.md"], None, false)),
            ],
            false,
        )
        .unwrap();
        assert_eq!(merged.warnings.len(), 1);
        assert!(
            merged.warnings[0].starts_with(&format!(
                "the reports were written by different runsheet versions: 0.0.9 (old.json), {} (new.json)",
                env!("CARGO_PKG_VERSION")
            )),
            "{}",
            merged.warnings[0]
        );
    }
}
