//! Runbook + selection (`--section`, `--step`, `--from`, `--tag`, `--skip-tag`,
//! `--resume`) → [`Plan`]: which steps run, in which order, which TODOs are
//! shown where they stand, and what `--resume` carries forward. Pure.

use std::collections::BTreeSet;

use crate::exec::ShellState;
use crate::model::{Runbook, Step};
use crate::record::{RunRecord, StepRecord, StepStatus};

/// What the user picked on the command line. Empty fields select everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Section ids or titles (case-insensitive); each brings its subsections.
    pub sections: Vec<String>,
    pub steps: Vec<String>,
    pub from: Option<String>,
    pub tags: Vec<String>,
    pub skip_tags: Vec<String>,
}

impl Selection {
    /// True when the selection leaves out some steps on purpose, so `setup`
    /// steps it would skip are pulled back in (SPEC §1.3).
    fn narrows(&self) -> bool {
        !self.sections.is_empty()
            || !self.steps.is_empty()
            || self.from.is_some()
            || !self.tags.is_empty()
    }
}

/// Why a step is in the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    Selected,
    /// A `setup` step the selection would have skipped.
    Setup,
}

/// One thing the run meets, in document order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// `Runbook::steps[index]`.
    Step { index: usize, why: Why },
    /// `Runbook::todos[index]`: shown as a missing step where it stands.
    Todo { index: usize },
}

/// Where `--resume` picks up.
#[derive(Debug, Clone, PartialEq)]
pub struct Resume {
    /// The run resumed from.
    pub run_id: String,
    /// The first step of that run that did not pass.
    pub step_id: String,
    /// Shell state after the last step that passed (`None`: start afresh).
    pub state: Option<ShellState>,
}

/// The steps a run will meet, in order.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Plan {
    pub entries: Vec<Entry>,
    /// Results of earlier runs carried forward by `--resume`, in their order;
    /// they head the new record with `carried_from` set.
    pub carried: Vec<StepRecord>,
    pub resume: Option<Resume>,
    /// Things the user should know before the run starts (changed steps).
    pub warnings: Vec<String>,
}

impl Plan {
    /// Indices into `Runbook::steps` of the planned steps, in order.
    pub fn step_indices(&self) -> impl Iterator<Item = usize> + '_ {
        self.entries.iter().filter_map(|e| match e {
            Entry::Step { index, .. } => Some(*index),
            Entry::Todo { .. } => None,
        })
    }

    pub fn step_count(&self) -> usize {
        self.step_indices().count()
    }
}

/// Why a selection cannot be planned (exit 2, nothing run).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("no section `{name}` in {runbook}{}", suggest(.closest))]
    UnknownSection {
        name: String,
        runbook: String,
        closest: Vec<String>,
    },
    #[error("no step `{name}` in {runbook}{}", suggest(.closest))]
    UnknownStep {
        name: String,
        runbook: String,
        closest: Vec<String>,
    },
    #[error("nothing to resume: {runbook} has no earlier run here (run it without --resume)")]
    NoEarlierRun { runbook: String },
    #[error("nothing to resume: the last run of {runbook} ({run_id}) passed")]
    NothingToResume { runbook: String, run_id: String },
    #[error(
        "cannot resume: step `{step}`, where the last run stopped, is no longer in {runbook}; \
         pick a step with --from"
    )]
    ResumeStepGone { step: String, runbook: String },
}

fn suggest(closest: &[String]) -> String {
    match closest {
        [] => String::new(),
        [one] => format!("; did you mean `{one}`?"),
        many => {
            let list: Vec<String> = many.iter().map(|c| format!("`{c}`")).collect();
            format!("; the closest are {}", list.join(", "))
        }
    }
}

/// Plans a run of `runbook` with `selection`.
pub fn plan(runbook: &Runbook, selection: &Selection) -> Result<Plan, PlanError> {
    let sections = resolve_sections(runbook, &selection.sections)?;
    for id in &selection.steps {
        step_index(runbook, id)?;
    }
    let from = selection
        .from
        .as_deref()
        .map(|id| step_index(runbook, id))
        .transpose()?;

    let mut chosen: Vec<(usize, Why)> = runbook
        .steps
        .iter()
        .enumerate()
        .filter(|(i, step)| {
            picked(runbook, step, &sections, &selection.steps)
                && from.is_none_or(|f| *i >= f)
                && tagged(step, selection)
        })
        .map(|(i, _)| (i, Why::Selected))
        .collect();

    if selection.narrows() {
        pull_setup_steps(runbook, selection, &mut chosen);
    }

    let todos = runbook
        .todos
        .iter()
        .enumerate()
        .filter(|(_, todo)| todo_selected(runbook, todo, &sections, selection, from))
        .map(|(i, _)| i);
    Ok(Plan {
        entries: merge(runbook, &chosen, todos),
        carried: Vec::new(),
        resume: None,
        warnings: Vec::new(),
    })
}

/// Plans `--resume`: from the first step of `previous` that did not pass to the
/// end of the runbook (tags still apply), carrying the earlier results forward
/// and warning about earlier steps whose text changed since they passed.
pub fn resume(
    runbook: &Runbook,
    selection: &Selection,
    previous: &RunRecord,
    state: Option<ShellState>,
) -> Result<Plan, PlanError> {
    let name = runbook.path.display().to_string();
    let Some(stop) = previous.steps.iter().position(|s| !settled(s.status)) else {
        return Err(PlanError::NothingToResume {
            runbook: name,
            run_id: previous.run_id.clone(),
        });
    };
    let step_id = previous.steps[stop].id.clone();
    if runbook.step(&step_id).is_none() {
        return Err(PlanError::ResumeStepGone {
            step: step_id,
            runbook: name,
        });
    }
    let from = Selection {
        from: Some(step_id.clone()),
        sections: Vec::new(),
        steps: Vec::new(),
        ..selection.clone()
    };
    let mut plan = plan(runbook, &from)?;
    // State is restored from the record, so setup steps already did their part.
    plan.entries.retain(|e| {
        !matches!(
            e,
            Entry::Step {
                why: Why::Setup,
                ..
            }
        )
    });

    let earlier = &previous.steps[..stop];
    plan.warnings = changed_since(runbook, earlier);
    plan.carried = earlier
        .iter()
        .map(|s| StepRecord {
            carried_from: s
                .carried_from
                .clone()
                .or_else(|| Some(previous.run_id.clone())),
            ..s.clone()
        })
        .collect();
    plan.resume = Some(Resume {
        run_id: previous.run_id.clone(),
        step_id,
        state,
    });
    Ok(plan)
}

/// The message `resume` gives when there is no record at all.
pub fn no_earlier_run(runbook: &Runbook) -> PlanError {
    PlanError::NoEarlierRun {
        runbook: runbook.path.display().to_string(),
    }
}

/// Statuses `--resume` walks past: done, or deliberately not run.
fn settled(status: StepStatus) -> bool {
    matches!(
        status,
        StepStatus::Passed | StepStatus::Skipped | StepStatus::Manual
    )
}

fn changed_since(runbook: &Runbook, earlier: &[StepRecord]) -> Vec<String> {
    earlier
        .iter()
        .filter(|r| r.status == StepStatus::Passed)
        .filter_map(|r| match runbook.step(&r.id) {
            Some(step) if step.hash != r.command_hash => Some(format!(
                "step `{}` ({}:{}) changed since it passed; --resume does not run it again",
                r.id,
                runbook.path.display(),
                step.line
            )),
            None => Some(format!(
                "step `{}` passed in the last run but is no longer in {}",
                r.id,
                runbook.path.display()
            )),
            _ => None,
        })
        .collect()
}

/// Section ids named by `names`, each matched by id or by title ignoring case.
fn resolve_sections(runbook: &Runbook, names: &[String]) -> Result<Vec<String>, PlanError> {
    names
        .iter()
        .map(|name| {
            runbook
                .sections
                .iter()
                .find(|s| s.id == *name || s.title.to_lowercase() == name.to_lowercase())
                .map(|s| s.id.clone())
                .ok_or_else(|| PlanError::UnknownSection {
                    name: name.clone(),
                    runbook: runbook.path.display().to_string(),
                    closest: closest(
                        name,
                        runbook
                            .sections
                            .iter()
                            .flat_map(|s| [s.id.as_str(), s.title.as_str()]),
                        runbook.sections.iter().map(|s| s.id.as_str()),
                    ),
                })
        })
        .collect()
}

fn step_index(runbook: &Runbook, id: &str) -> Result<usize, PlanError> {
    runbook
        .steps
        .iter()
        .position(|s| s.id == id)
        .ok_or_else(|| PlanError::UnknownStep {
            name: id.to_string(),
            runbook: runbook.path.display().to_string(),
            closest: closest(
                id,
                runbook.steps.iter().map(|s| s.id.as_str()),
                runbook.steps.iter().map(|s| s.id.as_str()),
            ),
        })
}

/// Up to three ids whose id or title is nearest to `name`. `keys` holds the
/// candidates' match texts; `ids` what to name for each (keys come in groups
/// of equal size per id).
fn closest<'a>(
    name: &str,
    keys: impl Iterator<Item = &'a str>,
    ids: impl Iterator<Item = &'a str>,
) -> Vec<String> {
    let ids: Vec<&str> = ids.collect();
    let keys: Vec<&str> = keys.collect();
    if ids.is_empty() {
        return Vec::new();
    }
    let per_id = keys.len() / ids.len();
    let lower = name.to_lowercase();
    let mut scored: Vec<(f64, &str)> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let score = keys[i * per_id..(i + 1) * per_id]
                .iter()
                .map(|k| strsim::jaro_winkler(&lower, &k.to_lowercase()))
                .fold(0.0, f64::max);
            (score, *id)
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut seen = BTreeSet::new();
    scored
        .into_iter()
        .filter(|(_, id)| seen.insert(*id))
        .take(3)
        .map(|(_, id)| id.to_string())
        .collect()
}

/// Picked by name, or standing in a picked section (or anywhere, when nothing
/// is picked); an `exclude_from_run_all` step only by name.
fn picked(runbook: &Runbook, step: &Step, sections: &[String], steps: &[String]) -> bool {
    if steps.contains(&step.id) {
        return true;
    }
    if step.options.exclude_from_run_all {
        return false;
    }
    (sections.is_empty() && steps.is_empty())
        || in_sections(runbook, step.section.as_deref(), sections)
}

fn in_sections(runbook: &Runbook, section: Option<&str>, sections: &[String]) -> bool {
    section.is_some_and(|s| sections.iter().any(|sel| runbook.section_within(s, sel)))
}

fn tagged(step: &Step, selection: &Selection) -> bool {
    let tags = &step.options.tags;
    (selection.tags.is_empty() || tags.iter().any(|t| selection.tags.contains(t)))
        && !skip_tagged(step, selection)
}

fn skip_tagged(step: &Step, selection: &Selection) -> bool {
    step.options
        .tags
        .iter()
        .any(|t| selection.skip_tags.contains(t))
}

/// Adds the `setup` steps that stand before a chosen step but were left out;
/// a `--skip-tag` the user gave still wins.
fn pull_setup_steps(runbook: &Runbook, selection: &Selection, chosen: &mut Vec<(usize, Why)>) {
    let Some(last) = chosen.iter().map(|(i, _)| *i).max() else {
        return;
    };
    for (i, step) in runbook.steps.iter().enumerate().take(last) {
        let setup = step.options.setup && !step.options.skip && !skip_tagged(step, selection);
        if setup && !chosen.iter().any(|(c, _)| *c == i) {
            chosen.push((i, Why::Setup));
        }
    }
    chosen.sort_by_key(|(i, _)| *i);
}

/// A TODO is shown when it stands inside what was picked: the selected
/// sections, after `--from`; never for a pick of single steps or tags.
fn todo_selected(
    runbook: &Runbook,
    todo: &crate::model::Todo,
    sections: &[String],
    selection: &Selection,
    from: Option<usize>,
) -> bool {
    if !selection.tags.is_empty() || (sections.is_empty() && !selection.steps.is_empty()) {
        return false;
    }
    let in_picked = sections.is_empty() || in_sections(runbook, todo.section.as_deref(), sections);
    let after_from = from.is_none_or(|f| todo.line > runbook.steps[f].line);
    in_picked && after_from
}

fn merge(
    runbook: &Runbook,
    chosen: &[(usize, Why)],
    todos: impl Iterator<Item = usize>,
) -> Vec<Entry> {
    let mut entries: Vec<(usize, Entry)> = chosen
        .iter()
        .map(|&(index, why)| (runbook.steps[index].line, Entry::Step { index, why }))
        .chain(todos.map(|index| (runbook.todos[index].line, Entry::Todo { index })))
        .collect();
    entries.sort_by_key(|(line, _)| *line);
    entries.into_iter().map(|(_, e)| e).collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::{FrontMatter, Section, StepKind, StepOptions, Todo};
    use crate::record::{RunStatus, SCHEMA_VERSION};
    use crate::source::Span;
    use std::path::PathBuf;

    /// A runbook from `(section, parent, title)` and `(id, section, options)`.
    pub(crate) fn book(
        sections: &[(&str, Option<&str>, &str)],
        steps: &[(&str, &str, StepOptions)],
        todos: &[(&str, usize)],
    ) -> Runbook {
        let mut line = 1;
        let mut all_steps = Vec::new();
        let mut all_sections = Vec::new();
        for (id, parent, title) in sections {
            all_sections.push(Section {
                id: id.to_string(),
                title: title.to_string(),
                level: if parent.is_some() { 3 } else { 2 },
                line,
                parent: parent.map(str::to_string),
                span: Span::default(),
            });
            line += 1;
            for (sid, sec, options) in steps.iter().filter(|s| s.1 == *id) {
                all_steps.push(Step {
                    id: sid.to_string(),
                    section: Some(sec.to_string()),
                    line,
                    lang: "sh".into(),
                    code: format!("echo {sid}\n"),
                    attrs: Default::default(),
                    kind: StepKind::Shell {
                        program: "bash".into(),
                    },
                    options: options.clone(),
                    checks: Vec::new(),
                    span: Span::default(),
                    hash: format!("hash-{sid}"),
                });
                line += 10;
            }
        }
        let todos = todos
            .iter()
            .map(|(sec, line)| Todo {
                section: Some(sec.to_string()),
                line: *line,
                text: "TODO: later".into(),
                span: Span::default(),
            })
            .collect();
        Runbook {
            path: PathBuf::from("book.md"),
            title: "Book".into(),
            front: FrontMatter::default(),
            sections: all_sections,
            steps: all_steps,
            todos,
            blocks: Vec::new(),
            hash: "h".into(),
        }
    }

    fn opts() -> StepOptions {
        StepOptions::default()
    }

    fn sample() -> Runbook {
        let setup = StepOptions {
            setup: true,
            ..opts()
        };
        let slow = StepOptions {
            tags: vec!["slow".into()],
            ..opts()
        };
        book(
            &[
                ("intro", None, "Intro"),
                ("build", None, "Build The Image"),
                ("build-more", Some("build"), "More"),
                ("deploy", None, "Deploy"),
            ],
            &[
                ("cd", "intro", setup),
                ("a", "intro", opts()),
                ("b", "build", slow.clone()),
                ("c", "build-more", opts()),
                ("d", "deploy", slow),
            ],
            &[("build", 30), ("deploy", 100)],
        )
    }

    fn ids(runbook: &Runbook, plan: &Plan) -> Vec<String> {
        plan.entries
            .iter()
            .map(|e| match e {
                Entry::Step { index, why } => {
                    let id = &runbook.steps[*index].id;
                    if *why == Why::Setup {
                        format!("{id}(setup)")
                    } else {
                        id.clone()
                    }
                }
                Entry::Todo { index } => format!("todo@{}", runbook.todos[*index].line),
            })
            .collect()
    }

    fn select(f: impl FnOnce(&mut Selection)) -> Selection {
        let mut s = Selection::default();
        f(&mut s);
        s
    }

    #[test]
    fn everything_in_document_order_with_todos_where_they_stand() {
        let rb = sample();
        let plan = plan(&rb, &Selection::default()).unwrap();
        assert_eq!(
            ids(&rb, &plan),
            ["cd", "a", "b", "todo@30", "c", "d", "todo@100"]
        );
    }

    #[test]
    fn section_by_title_brings_subsections_and_setup() {
        let rb = sample();
        let plan = plan(
            &rb,
            &select(|s| s.sections = vec!["build the IMAGE".into()]),
        )
        .unwrap();
        assert_eq!(ids(&rb, &plan), ["cd(setup)", "b", "todo@30", "c"]);
    }

    #[test]
    fn unknown_section_names_the_closest() {
        let rb = sample();
        let err = plan(&rb, &select(|s| s.sections = vec!["buidl".into()])).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("no section `buidl` in book.md"), "{msg}");
        assert!(msg.contains("`build`"), "{msg}");
    }

    #[test]
    fn steps_from_and_tags() {
        let rb = sample();
        let p = plan(&rb, &select(|s| s.steps = vec!["c".into()])).unwrap();
        assert_eq!(ids(&rb, &p), ["cd(setup)", "c"]);
        let p = plan(&rb, &select(|s| s.from = Some("c".into()))).unwrap();
        assert_eq!(ids(&rb, &p), ["cd(setup)", "c", "d", "todo@100"]);
        let p = plan(&rb, &select(|s| s.tags = vec!["slow".into()])).unwrap();
        assert_eq!(ids(&rb, &p), ["cd(setup)", "b", "d"]);
        let p = plan(&rb, &select(|s| s.skip_tags = vec!["slow".into()])).unwrap();
        assert_eq!(ids(&rb, &p), ["cd", "a", "todo@30", "c", "todo@100"]);
        let err = plan(&rb, &select(|s| s.from = Some("cc".into()))).unwrap_err();
        assert!(err.to_string().contains("did you mean") || err.to_string().contains("`c`"));
    }

    #[test]
    fn setup_steps_after_the_selection_stay_out() {
        let rb = sample();
        let p = plan(&rb, &select(|s| s.steps = vec!["a".into()])).unwrap();
        assert_eq!(ids(&rb, &p), ["cd(setup)", "a"]);
        let p = plan(&rb, &select(|s| s.steps = vec!["cd".into()])).unwrap();
        assert_eq!(ids(&rb, &p), ["cd"]);
    }

    #[test]
    fn excluded_from_run_all_runs_only_when_named() {
        let excluded = StepOptions {
            exclude_from_run_all: true,
            ..opts()
        };
        let rb = book(
            &[("intro", None, "Intro"), ("deploy", None, "Deploy")],
            &[
                ("a", "intro", opts()),
                ("clean", "intro", excluded.clone()),
                ("b", "deploy", opts()),
                ("wipe", "deploy", excluded),
            ],
            &[],
        );
        let p = plan(&rb, &Selection::default()).unwrap();
        assert_eq!(ids(&rb, &p), ["a", "b"]);
        let p = plan(&rb, &select(|s| s.sections = vec!["deploy".into()])).unwrap();
        assert_eq!(ids(&rb, &p), ["b"]);
        let p = plan(&rb, &select(|s| s.from = Some("a".into()))).unwrap();
        assert_eq!(ids(&rb, &p), ["a", "b"]);
        let p = plan(&rb, &select(|s| s.steps = vec!["wipe".into()])).unwrap();
        assert_eq!(ids(&rb, &p), ["wipe"]);
    }

    fn record(rb: &Runbook, statuses: &[(&str, StepStatus, &str)]) -> RunRecord {
        RunRecord {
            schema: SCHEMA_VERSION,
            run_id: "run-1".into(),
            runbook: rb.path.clone(),
            runbook_abs: rb.path.clone(),
            runbook_hash: rb.hash.clone(),
            title: rb.title.clone(),
            started: "2026-01-01T00:00:00Z".into(),
            finished: None,
            status: RunStatus::Failed,
            mode: "run".into(),
            steps: statuses
                .iter()
                .map(|(id, status, hash)| StepRecord {
                    id: id.to_string(),
                    line: 1,
                    section: None,
                    command_hash: hash.to_string(),
                    status: *status,
                    exit_code: None,
                    duration_ms: 0,
                    started: None,
                    reason: None,
                    checks: Vec::new(),
                    log: None,
                    carried_from: None,
                    attempts: 1,
                })
                .collect(),
            todos: Vec::new(),
        }
    }

    #[test]
    fn resume_starts_at_first_unpassed_and_carries_and_warns() {
        let rb = sample();
        let prev = record(
            &rb,
            &[
                ("cd", StepStatus::Passed, "hash-cd"),
                ("a", StepStatus::Passed, "old-hash"),
                ("b", StepStatus::Failed, "hash-b"),
                ("c", StepStatus::NotRun, "hash-c"),
            ],
        );
        let p = resume(&rb, &Selection::default(), &prev, None).unwrap();
        assert_eq!(ids(&rb, &p), ["b", "todo@30", "c", "d", "todo@100"]);
        assert_eq!(p.carried.len(), 2);
        assert_eq!(p.carried[0].carried_from.as_deref(), Some("run-1"));
        assert_eq!(p.warnings.len(), 1);
        assert!(p.warnings[0].contains("step `a`"), "{:?}", p.warnings);
        assert_eq!(p.resume.unwrap().step_id, "b");
    }

    #[test]
    fn resume_of_a_passed_run_or_a_vanished_step_is_refused() {
        let rb = sample();
        let prev = record(&rb, &[("cd", StepStatus::Passed, "hash-cd")]);
        let err = resume(&rb, &Selection::default(), &prev, None).unwrap_err();
        assert!(matches!(err, PlanError::NothingToResume { .. }));
        let prev = record(&rb, &[("gone", StepStatus::Failed, "x")]);
        let err = resume(&rb, &Selection::default(), &prev, None).unwrap_err();
        assert!(err.to_string().contains("`gone`"), "{err}");
    }
}
