//! Runbook + selection (`--section`, `--step`, `--from`, `--tag`, `--skip-tag`,
//! `--resume`) → [`Plan`]: which steps run, in which order, which TODOs are
//! shown where they stand, and what `--resume` carries forward. Pure.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::exec::ShellState;
use crate::model::{Runbook, Step};
use crate::record::{RunRecord, SelectionRecord, StepRecord, StepStatus};

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
    /// As the record keeps it.
    pub fn to_record(&self) -> SelectionRecord {
        SelectionRecord {
            sections: self.sections.clone(),
            steps: self.steps.clone(),
            from: self.from.clone(),
            tags: self.tags.clone(),
            skip_tags: self.skip_tags.clone(),
        }
    }

    /// The selection a record kept.
    pub fn from_record(r: &SelectionRecord) -> Self {
        Selection {
            sections: r.sections.clone(),
            steps: r.steps.clone(),
            from: r.from.clone(),
            tags: r.tags.clone(),
            skip_tags: r.skip_tags.clone(),
        }
    }

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
#[non_exhaustive]
pub struct Resume {
    /// The run resumed from.
    pub run_id: String,
    /// The first step of that run that did not pass (or the `--from` step).
    pub step_id: String,
    /// Shell state after the last step that passed (`None`: start afresh).
    pub state: Option<ShellState>,
    /// `background` steps started before the resume point, started again
    /// first (indices into `Runbook::steps`, in document order).
    pub restart: Vec<usize>,
    /// Steps before the resume point with no passed result in the last run
    /// (added since, or never reached): they run first, after `restart`.
    pub catch_up: Vec<usize>,
    /// The selection of the run resumed, which this run keeps.
    pub selection: Selection,
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
    /// What the run was asked to run (for `--resume`, the selection of the
    /// run it resumes); the record keeps it.
    pub selection: Selection,
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
         go on from another step with `runsheet run {runbook} --resume --from ID`"
    )]
    ResumeStepGone { step: String, runbook: String },
    #[error(
        "--resume goes on with the last run's own selection from where it stopped, and does not \
         take {flag}; to run it from its start, leave out --resume \
         (`runsheet run {runbook} {flag} {value}`), or go on from a later step with the \
         recorded working directory and variables: `runsheet run {runbook} --resume --from ID`"
    )]
    ResumeWithSelection {
        flag: &'static str,
        value: String,
        runbook: String,
    },
    #[error(
        "cannot resume from `{from}`: {} before it {} not passed in the last run; \
         run them first with `runsheet run {runbook} --resume`, or start afresh from `{from}` \
         with `runsheet run {runbook} --from {from}`",
        list_steps(.unsettled),
        if .unsettled.len() == 1 { "has" } else { "have" }
    )]
    ResumeFromPastUnsettled {
        from: String,
        runbook: String,
        unsettled: Vec<String>,
    },
    #[error("no step has the tag `{tag}` ({flag}) in {place}; {}", known_tags(.known))]
    UnknownTag {
        tag: String,
        flag: &'static str,
        place: String,
        known: Vec<String>,
    },
}

fn list_steps(steps: &[String]) -> String {
    let noun = if steps.len() == 1 { "step" } else { "steps" };
    format!("{noun} {}", steps.join(", "))
}

fn known_tags(known: &[String]) -> String {
    if known.is_empty() {
        return "no step there has a tag".to_string();
    }
    let list: Vec<String> = known.iter().map(|t| format!("`{t}`")).collect();
    format!("the tags are {}", list.join(", "))
}

/// Refuses a `--tag` or `--skip-tag` that no step of `runbooks` carries
/// (`place` names them in the message): a misspelt tag would otherwise
/// select nothing and pass.
pub fn check_tags(
    runbooks: &[&Runbook],
    selection: &Selection,
    place: &str,
) -> Result<(), PlanError> {
    let known: BTreeSet<&str> = runbooks
        .iter()
        .flat_map(|r| r.steps.iter())
        .flat_map(|s| s.options.tags.iter().map(String::as_str))
        .collect();
    let asked = selection
        .tags
        .iter()
        .map(|t| (t, "--tag"))
        .chain(selection.skip_tags.iter().map(|t| (t, "--skip-tag")));
    for (tag, flag) in asked {
        if !known.contains(tag.as_str()) {
            return Err(PlanError::UnknownTag {
                tag: tag.clone(),
                flag,
                place: place.to_string(),
                known: known.iter().map(|t| t.to_string()).collect(),
            });
        }
    }
    Ok(())
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
    let within = sections_within(runbook, &sections);
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
            picked(step, &sections, &within, &selection.steps)
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
        .filter(|(_, todo)| todo_selected(runbook, todo, &sections, &within, selection, from))
        .map(|(i, _)| i);
    Ok(Plan {
        entries: merge(runbook, &chosen, todos),
        carried: Vec::new(),
        resume: None,
        warnings: Vec::new(),
        selection: selection.clone(),
    })
}

/// Plans `--resume` against the runbook as it is now, joining the last run's
/// results to today's steps by id:
/// - the run keeps the last run's selection (its sections, steps, `--from`,
///   tags; tags given now replace its tags) and starts where it stopped: its
///   first step that did not pass, or `asked.from`;
/// - steps of that selection before the resume point keep their passed (or
///   skipped, manual) results, carried forward; one with no such result
///   (added since, or never reached) runs first, or with `asked.from` the
///   plan is refused naming it;
/// - `background` steps among the carried ones are started again first;
/// - steps no longer in the runbook drop out of the record (with a warning
///   when they had passed), and changed ones are named in a warning.
///
/// `--section` and `--step` do not combine with it (the error says what to
/// run instead).
pub fn resume(
    runbook: &Runbook,
    asked: &Selection,
    previous: &RunRecord,
    state: Option<ShellState>,
) -> Result<Plan, PlanError> {
    let name = runbook.path.display().to_string();
    if let Some((flag, value)) = asked
        .sections
        .first()
        .map(|s| ("--section", s))
        .or_else(|| asked.steps.first().map(|s| ("--step", s)))
    {
        return Err(PlanError::ResumeWithSelection {
            flag,
            value: value.clone(),
            runbook: name,
        });
    }
    // Records from before runs kept their selection: steps they do not name
    // may have been left out on purpose, so none is caught up.
    let legacy = previous.selection.is_none();
    let mut selection = Selection::from_record(&previous.selection.clone().unwrap_or_default());
    if !asked.tags.is_empty() || !asked.skip_tags.is_empty() {
        selection.tags = asked.tags.clone();
        selection.skip_tags = asked.skip_tags.clone();
    }
    let stop_id = match &asked.from {
        Some(from) => {
            step_index(runbook, from)?;
            from.clone()
        }
        None => match previous.steps.iter().find(|s| !settled(s.status)) {
            Some(s) => s.id.clone(),
            None => {
                return Err(PlanError::NothingToResume {
                    runbook: name,
                    run_id: previous.run_id.clone(),
                })
            }
        },
    };
    let Some(stop) = runbook.steps.iter().position(|s| s.id == stop_id) else {
        return Err(PlanError::ResumeStepGone {
            step: stop_id,
            runbook: name,
        });
    };
    let whole = plan(runbook, &selection)?;
    let results: HashMap<&str, &StepRecord> =
        previous.steps.iter().map(|s| (s.id.as_str(), s)).collect();

    let mut carried = Vec::new();
    let mut restart = Vec::new();
    let mut catch_up = Vec::new();
    for index in whole.step_indices().filter(|&i| i < stop) {
        let step = &runbook.steps[index];
        match results.get(step.id.as_str()).filter(|r| settled(r.status)) {
            Some(r) if is_background(r) && r.status == StepStatus::Passed => restart.push(index),
            Some(r) => carried.push(carry(r, step, previous)),
            None if legacy && !results.contains_key(step.id.as_str()) => {}
            None => catch_up.push(index),
        }
    }
    if asked.from.is_some() && !catch_up.is_empty() {
        return Err(PlanError::ResumeFromPastUnsettled {
            from: stop_id,
            runbook: name,
            unsettled: catch_up.iter().map(|&i| describe(runbook, i)).collect(),
        });
    }
    let mut warnings = changed_since(runbook, &previous.steps, stop);
    for &i in &catch_up {
        warnings.push(format!(
            "step {} stands before `{stop_id}` and has not passed in the last run; it runs first",
            describe(runbook, i)
        ));
    }
    for &i in &restart {
        warnings.push(format!(
            "step {} is a background step started before `{stop_id}`; it is started again",
            describe(runbook, i)
        ));
    }
    let first: Vec<Entry> = restart
        .iter()
        .chain(&catch_up)
        .map(|&index| Entry::Step {
            index,
            why: Why::Selected,
        })
        .collect();
    let rest = whole.entries.iter().copied().filter(|e| match *e {
        Entry::Step { index, .. } => index >= stop,
        Entry::Todo { index } => runbook.todos[index].line > runbook.steps[stop].line,
    });
    Ok(Plan {
        entries: first.into_iter().chain(rest).collect(),
        carried,
        resume: Some(Resume {
            run_id: previous.run_id.clone(),
            step_id: stop_id,
            state,
            restart,
            catch_up,
            selection: selection.clone(),
        }),
        warnings,
        selection,
    })
}

/// `` `id` (book.md:12) ``
fn describe(runbook: &Runbook, index: usize) -> String {
    let step = &runbook.steps[index];
    format!("`{}` ({}:{})", step.id, runbook.path.display(), step.line)
}

fn is_background(r: &StepRecord) -> bool {
    // Records from before `background` was recorded say so in their reason.
    r.background
        || r.reason
            .as_deref()
            .is_some_and(|why| why.starts_with("started in the background"))
}

/// A result carried forward: it describes today's step (its line, its
/// section) and keeps the hash it ran with, so a changed step shows stale.
fn carry(r: &StepRecord, step: &Step, previous: &RunRecord) -> StepRecord {
    StepRecord {
        line: step.line,
        section: step.section.clone(),
        carried_from: r
            .carried_from
            .clone()
            .or_else(|| Some(previous.run_id.clone())),
        ..r.clone()
    }
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

/// Warnings about the last run's passed results before the resume point
/// (`stop`, an index into today's steps): a step changed since, or gone.
fn changed_since(runbook: &Runbook, earlier: &[StepRecord], stop: usize) -> Vec<String> {
    let index: HashMap<&str, usize> = runbook
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    earlier
        .iter()
        .filter(|r| r.status == StepStatus::Passed)
        .filter_map(|r| match index.get(r.id.as_str()) {
            Some(&i) if i < stop && runbook.steps[i].hash != r.command_hash => Some(format!(
                "step `{}` ({}:{}) changed since it passed; --resume does not run it again",
                r.id,
                runbook.path.display(),
                runbook.steps[i].line
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
/// of equal size per id). A key holding `name` whole comes first, then one
/// sharing a word with it (`database` finds `create-the-database`), then the
/// rest by edit distance (Jaro-Winkler).
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
    let asked = words(&lower);
    let score = |key: &str| {
        let key = key.to_lowercase();
        let near = strsim::jaro_winkler(&lower, &key);
        if !lower.is_empty() && key.contains(&lower) {
            2.0 + near
        } else if words(&key).iter().any(|w| asked.contains(w)) {
            1.0 + near
        } else {
            near
        }
    };
    let mut scored: Vec<(f64, &str)> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let best = keys[i * per_id..(i + 1) * per_id]
                .iter()
                .map(|k| score(k))
                .fold(0.0, f64::max);
            (best, *id)
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

/// The words of an id or title worth matching on: letters and digits, three
/// or more of them, and not a filler word.
fn words(text: &str) -> Vec<&str> {
    const FILLER: &[&str] = &["the", "and", "for", "with", "from", "into"];
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 3 && !FILLER.contains(w))
        .collect()
}

/// Picked by name, or standing in a picked section (or anywhere, when nothing
/// is picked); an `exclude_from_run_all` step only by name.
fn picked(step: &Step, sections: &[String], within: &HashSet<&str>, steps: &[String]) -> bool {
    if steps.contains(&step.id) {
        return true;
    }
    if step.options.exclude_from_run_all {
        return false;
    }
    (sections.is_empty() && steps.is_empty()) || in_sections(step.section.as_deref(), within)
}

/// The ids of the sections picked and of every section inside them, found
/// in one pass (a parent comes before its sections): walking each step's
/// section chain instead was quadratic on 200,000 sections.
fn sections_within<'a>(runbook: &'a Runbook, picked: &[String]) -> HashSet<&'a str> {
    let mut within = HashSet::new();
    for s in &runbook.sections {
        let parent_within = s.parent.as_deref().is_some_and(|p| within.contains(p));
        if parent_within || picked.contains(&s.id) {
            within.insert(s.id.as_str());
        }
    }
    within
}

fn in_sections(section: Option<&str>, within: &HashSet<&str>) -> bool {
    section.is_some_and(|s| within.contains(s))
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
    let already: HashSet<usize> = chosen.iter().map(|(i, _)| *i).collect();
    for (i, step) in runbook.steps.iter().enumerate().take(last) {
        let setup = step.options.setup && !step.options.skip && !skip_tagged(step, selection);
        if setup && !already.contains(&i) {
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
    within: &HashSet<&str>,
    selection: &Selection,
    from: Option<usize>,
) -> bool {
    if !selection.tags.is_empty() || (sections.is_empty() && !selection.steps.is_empty()) {
        return false;
    }
    let in_picked = sections.is_empty() || in_sections(todo.section.as_deref(), within);
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
                    options: options.clone().into(),
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
                    ..StepRecord::default()
                })
                .collect(),
            todos: Vec::new(),
            selection: Some(SelectionRecord::default()),
            ..RunRecord::default()
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

    /// `sample()` with the steps in the order `ids` (all in section `intro`).
    fn reordered(ids: &[&str]) -> Runbook {
        let mut rb = book(&[("intro", None, "Intro")], &[], &[]);
        for (n, id) in ids.iter().enumerate() {
            let mut step = sample().steps[0].clone();
            step.id = id.to_string();
            step.hash = format!("hash-{id}");
            step.options = Default::default();
            step.line = 10 + n * 10;
            rb.steps.push(step);
        }
        rb
    }

    #[test]
    fn a_step_added_before_where_the_run_stopped_runs_first() {
        let rb = reordered(&["a", "new", "b", "c"]);
        let prev = record(
            &rb,
            &[
                ("a", StepStatus::Passed, "hash-a"),
                ("b", StepStatus::Failed, "hash-b"),
                ("c", StepStatus::NotRun, "hash-c"),
            ],
        );
        let p = resume(&rb, &Selection::default(), &prev, None).unwrap();
        assert_eq!(ids(&rb, &p), ["new", "b", "c"]);
        assert_eq!(
            p.carried.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
            ["a"]
        );
        assert!(
            p.warnings
                .iter()
                .any(|w| w.contains("`new`") && w.contains("runs first")),
            "{:?}",
            p.warnings
        );
        // With --from, it is refused instead, naming the step and what to run.
        let from = select(|s| s.from = Some("c".into()));
        let err = resume(&rb, &from, &prev, None).unwrap_err().to_string();
        assert!(err.contains("cannot resume from `c`"), "{err}");
        assert!(
            err.contains("steps `new` (book.md:20), `b` (book.md:30) before it have not passed"),
            "{err}"
        );
        assert!(err.contains("runsheet run book.md --resume"), "{err}");
    }

    #[test]
    fn reordered_or_removed_steps_never_repeat_or_overcount() {
        // Last run: a, b passed, c failed, d not reached, `old` passed.
        // Now: d moved first, `old` removed.
        let rb = reordered(&["d", "a", "b", "c"]);
        let prev = record(
            &rb,
            &[
                ("a", StepStatus::Passed, "hash-a"),
                ("old", StepStatus::Passed, "hash-old"),
                ("b", StepStatus::Passed, "hash-b"),
                ("c", StepStatus::Failed, "hash-c"),
                ("d", StepStatus::NotRun, "hash-d"),
            ],
        );
        let p = resume(&rb, &Selection::default(), &prev, None).unwrap();
        let carried: Vec<&str> = p.carried.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(carried, ["a", "b"]);
        assert_eq!(ids(&rb, &p), ["d", "c"]);
        assert_eq!(carried.len() + p.step_count(), rb.steps.len());
        // Carried results describe today's runbook.
        assert_eq!(p.carried[0].line, 20);
        assert!(p
            .warnings
            .iter()
            .any(|w| w.contains("`old` passed in the last run but is no longer")));
    }

    #[test]
    fn resume_replays_the_last_runs_selection() {
        let rb = sample();
        let mut prev = record(
            &rb,
            &[
                ("cd", StepStatus::Passed, "hash-cd"),
                ("b", StepStatus::Passed, "hash-b"),
                ("c", StepStatus::Failed, "hash-c"),
            ],
        );
        prev.selection = Some(SelectionRecord {
            sections: vec!["build".into()],
            ..SelectionRecord::default()
        });
        let p = resume(&rb, &Selection::default(), &prev, None).unwrap();
        // `a` and `d` were never part of that run: not caught up, not run.
        assert_eq!(ids(&rb, &p), ["c"]);
        assert_eq!(p.selection.sections, ["build"]);
        // A record from before runs kept their selection catches nothing up.
        prev.selection = None;
        let p = resume(&rb, &Selection::default(), &prev, None).unwrap();
        assert_eq!(ids(&rb, &p), ["c", "d", "todo@100"]);
    }

    #[test]
    fn background_steps_before_the_resume_point_start_again() {
        let mut rb = reordered(&["server", "a", "b"]);
        std::sync::Arc::make_mut(&mut rb.steps[0].options).background = true;
        let mut prev = record(
            &rb,
            &[
                ("server", StepStatus::Passed, "hash-server"),
                ("a", StepStatus::Passed, "hash-a"),
                ("b", StepStatus::Failed, "hash-b"),
            ],
        );
        prev.steps[0].background = true;
        let p = resume(&rb, &Selection::default(), &prev, None).unwrap();
        assert_eq!(ids(&rb, &p), ["server", "b"]);
        assert_eq!(p.carried.len(), 1);
        assert_eq!(p.resume.as_ref().unwrap().restart, [0]);
        assert!(p
            .warnings
            .iter()
            .any(|w| w.contains("`server`") && w.contains("started again")));
    }

    #[test]
    fn resume_does_not_take_a_section_or_step_and_says_what_to_run() {
        let rb = sample();
        let prev = record(&rb, &[("cd", StepStatus::Failed, "hash-cd")]);
        let asked = select(|s| s.sections = vec!["deploy".into()]);
        let err = resume(&rb, &asked, &prev, None).unwrap_err().to_string();
        assert!(err.contains("does not take --section"), "{err}");
        assert!(
            err.contains("`runsheet run book.md --section deploy`"),
            "{err}"
        );
        assert!(err.contains("--resume --from ID"), "{err}");
    }

    #[test]
    fn unknown_tags_are_refused_listing_the_known_ones() {
        let rb = sample();
        let err = check_tags(
            &[&rb],
            &select(|s| s.tags = vec!["nosuch".into()]),
            "book.md",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "no step has the tag `nosuch` (--tag) in book.md; the tags are `slow`"
        );
        let err = check_tags(
            &[&rb],
            &select(|s| s.skip_tags = vec!["aws".into()]),
            "book.md",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("(--skip-tag)"), "{err}");
        check_tags(&[&rb], &select(|s| s.tags = vec!["slow".into()]), "book.md").unwrap();
    }

    #[test]
    fn suggestions_match_words_and_substrings() {
        let rb = book(
            &[
                ("install-the-tools", None, "Install the tools"),
                ("set-up-a-database-user", None, "Set up a database user"),
                ("create-the-database", None, "Create the database"),
                ("seed-data", None, "Seed data"),
                ("start-the-server", None, "Start the server"),
                ("deploy", None, "Deploy"),
            ],
            &[],
            &[],
        );
        // Edit distance alone ranks `seed-data` and the document's title
        // above `create-the-database`.
        let err = plan(&rb, &select(|s| s.sections = vec!["database".into()])).unwrap_err();
        let PlanError::UnknownSection { closest, .. } = &err else {
            panic!("{err}")
        };
        assert!(
            closest.contains(&"create-the-database".to_string()),
            "{err}"
        );
        let err = plan(&rb, &select(|s| s.sections = vec!["tools".into()])).unwrap_err();
        assert!(err.to_string().contains("`install-the-tools`"), "{err}");
    }
}
