//! The latest result of each step across the runs of a runbook: what `status`
//! and the book show, so that a run of one section leaves every other step's
//! last result, log and time standing.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{RunDir, RunRecord, StepRecord, StepStatus};

/// One step's latest result, and where it comes from.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Latest {
    /// The result as recorded.
    pub step: StepRecord,
    /// The run that ran the step (for a result carried forward by
    /// `--resume`, the run it was carried from).
    pub run_id: String,
    /// When that run started (RFC 3339); the step's own start when that run's
    /// record is gone.
    pub run_started: Option<String>,
    /// The step's log, when the record names one and the file is there.
    pub log: Option<PathBuf>,
    /// The result comes from a run before the latest one.
    pub earlier: bool,
    /// The folder of the run whose record holds this result.
    pub record_dir: PathBuf,
}

/// The runs of one runbook as `status` and the book read them.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct History {
    /// The newest readable run, and its folder.
    pub last: Option<(RunRecord, RunDir)>,
    /// Every readable run's record and folder, newest first.
    pub runs: Vec<(RunRecord, RunDir)>,
    /// Records that could not be read, each with the reason: skipped, and
    /// worth a warning.
    pub unreadable: Vec<String>,
}

impl History {
    /// The latest result of every step id any run recorded (see
    /// [`fold_latest`]).
    pub fn latest(&self) -> BTreeMap<String, Latest> {
        fold_latest(self.runs.iter().map(|(r, d)| (r, d)))
    }
}

/// Folds runs, newest first, into each step id's latest result: the newest
/// record of the step that says what happened to it (any status but
/// `not-run`), else its newest `not-run` record, which at least says why.
/// A log is looked for in the folder of the run whose record names it, then
/// (records written before runs carried their logs along) in the folder of
/// the run the result was carried from.
pub fn fold_latest<'a>(
    runs: impl IntoIterator<Item = (&'a RunRecord, &'a RunDir)>,
) -> BTreeMap<String, Latest> {
    let runs: Vec<(&RunRecord, &RunDir)> = runs.into_iter().collect();
    let started: BTreeMap<&str, &str> = runs
        .iter()
        .map(|(r, _)| (r.run_id.as_str(), r.started.as_str()))
        .collect();
    let newest = runs.first().map(|(r, _)| r.run_id.clone());
    let mut out: BTreeMap<String, Latest> = BTreeMap::new();
    for (record, dir) in &runs {
        for step in &record.steps {
            let have = out.get(&step.id);
            let better = match have {
                None => true,
                Some(h) => h.step.status == StepStatus::NotRun && step.status != StepStatus::NotRun,
            };
            if !better {
                continue;
            }
            let run_id = step
                .carried_from
                .clone()
                .unwrap_or_else(|| record.run_id.clone());
            let run_started = started
                .get(run_id.as_str())
                .map(|s| s.to_string())
                .or_else(|| step.started.clone());
            let earlier =
                newest.as_deref() != Some(record.run_id.as_str()) || step.carried_from.is_some();
            out.insert(
                step.id.clone(),
                Latest {
                    step: step.clone(),
                    log: dir.find_log(step),
                    record_dir: dir.path.clone(),
                    run_id,
                    run_started,
                    earlier,
                },
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: &str, steps: &[(&str, StepStatus)]) -> RunRecord {
        RunRecord {
            run_id: id.into(),
            started: format!("{id}-start"),
            steps: steps
                .iter()
                .map(|(s, status)| StepRecord {
                    id: s.to_string(),
                    status: *status,
                    log: Some(format!("{s}.log")),
                    ..StepRecord::default()
                })
                .collect(),
            ..RunRecord::default()
        }
    }

    #[test]
    fn a_section_run_leaves_the_other_steps_results_standing() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = |id: &str| {
            let path = tmp.path().join(id);
            std::fs::create_dir_all(&path).unwrap();
            RunDir { path }
        };
        let (full, full_dir) = (
            run(
                "r1",
                &[
                    ("a", StepStatus::Passed),
                    ("b", StepStatus::Failed),
                    ("c", StepStatus::NotRun),
                ],
            ),
            dir("r1"),
        );
        std::fs::write(full_dir.path.join("a.log"), "a\n").unwrap();
        let (section, section_dir) = (
            run(
                "r2",
                &[("b", StepStatus::Passed), ("c", StepStatus::NotRun)],
            ),
            dir("r2"),
        );
        let latest = fold_latest([(&section, &section_dir), (&full, &full_dir)]);
        let a = &latest["a"];
        assert_eq!(
            (a.step.status, a.run_id.as_str(), a.earlier),
            (StepStatus::Passed, "r1", true)
        );
        assert_eq!(a.run_started.as_deref(), Some("r1-start"));
        assert_eq!(
            a.log.as_deref(),
            Some(full_dir.path.join("a.log").as_path())
        );
        let b = &latest["b"];
        assert_eq!(
            (b.step.status, b.run_id.as_str(), b.earlier),
            (StepStatus::Passed, "r2", false)
        );
        assert_eq!(b.log, None, "its log file is not there");
        // Never run anywhere: the newest word on it.
        assert_eq!(latest["c"].run_id, "r2");
    }

    #[test]
    fn a_carried_result_names_the_run_that_ran_it_and_finds_its_log() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("r1")).unwrap();
        std::fs::create_dir_all(tmp.path().join("r2")).unwrap();
        std::fs::write(tmp.path().join("r1/a.log"), "a\n").unwrap();
        let mut resumed = run("r2", &[("a", StepStatus::Passed)]);
        resumed.steps[0].carried_from = Some("r1".into());
        let d2 = RunDir {
            path: tmp.path().join("r2"),
        };
        let latest = fold_latest([(&resumed, &d2)]);
        let a = &latest["a"];
        assert_eq!(a.run_id, "r1");
        assert!(a.earlier);
        assert_eq!(
            a.log.as_deref(),
            Some(tmp.path().join("r1/a.log").as_path())
        );
    }
}
