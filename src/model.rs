//! The runbook as runsheet understands it: sections, steps, their checks and the
//! missing steps. Built by `parse`, read by everything downstream. Plain owned
//! data; every node carries its 1-based line (and a byte span where a rewrite or
//! a diagnostic needs one).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::source::Span;

/// A parsed runbook. `steps` are in document order.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Runbook {
    /// The path as the user gave it.
    pub path: PathBuf,
    /// Front matter `title`, else the first heading's text, else the file stem.
    pub title: String,
    pub front: FrontMatter,
    pub sections: Vec<Section>,
    pub steps: Vec<Step>,
    pub todos: Vec<Todo>,
    /// Every fenced code block in the file, step or not (`list --json` `blocks`).
    pub blocks: Vec<Block>,
    /// Hex SHA-256 of the file's bytes: a record of another text is recognised.
    pub hash: String,
}

/// Front matter (SPEC §1.1): YAML between `---` lines, or Hugo's TOML between
/// `+++` lines. Keys written for other tools are kept in `extra`; a likely
/// misspelling of one of runsheet's keys is refused by the parser.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FrontMatter {
    pub title: Option<String>,
    /// Runs `sh`/`bash`/`shell` blocks; default `bash`.
    pub shell: Option<String>,
    /// First working directory, relative to the runbook's folder.
    pub cwd: Option<String>,
    pub env: BTreeMap<String, String>,
    #[serde(with = "opt_duration")]
    pub timeout: Option<Duration>,
    pub requires: Vec<String>,
    /// Names whose values are masked; `secret` inputs are among them.
    pub redact: Vec<String>,
    /// What the runbook needs from whoever runs it: the `inputs:` mapping, then
    /// the placeholders its steps leave to fill in (`export X=""`, Runme's
    /// prompts), in order of appearance, one entry per name.
    #[serde(default)]
    pub inputs: Vec<Input>,
    /// Default host of every step (`host=` on a step wins, `--host` wins over both).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Host groups for `hosts=GROUP`: `hosts: { web: [web-1, web-2] }`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hosts: BTreeMap<String, Vec<String>>,
    /// Keys written for other tools (Hugo's `weight`, Runme's `runme`, Learn's
    /// `ms.author`, ...): kept as written, never acted on.
    #[serde(default)]
    pub extra: BTreeMap<String, serde_json::Value>,
    /// Byte offset where the Markdown starts: after the closing `---`/`+++`
    /// line, or 0 without front matter. Never part of the prose.
    #[serde(skip)]
    pub body_start: usize,
}

/// A value a person or CI supplies before the run (SPEC §1.1 `inputs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Input {
    /// An environment variable name.
    pub name: String,
    pub description: Option<String>,
    /// Used when nobody supplies a value; `None`: someone must.
    pub default: Option<String>,
    /// Read without echo and masked everywhere.
    pub secret: bool,
    /// Where it is declared: its front matter line, or its first placeholder's.
    pub line: usize,
    /// Ids of the steps whose placeholders ask for it; empty when the whole
    /// runbook needs it (declared under `inputs:`).
    pub steps: Vec<String>,
}

impl Input {
    pub fn new(name: impl Into<String>, line: usize) -> Self {
        Input {
            name: name.into(),
            description: None,
            default: None,
            secret: false,
            line,
            steps: Vec::new(),
        }
    }
}

/// A heading and everything up to the next heading of the same or a higher level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Section {
    /// GitHub anchor slug, made unique with `-1`, `-2`, ...
    pub id: String,
    pub title: String,
    pub level: u8,
    pub line: usize,
    /// The id of the enclosing section, if any.
    pub parent: Option<String>,
    pub span: Span,
}

/// How a step's code is run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum StepKind {
    /// A shell block: `program` is `bash`, `sh`, `zsh`, ... (front matter
    /// `shell` applies to `sh`/`bash`/`shell` blocks).
    Shell { program: String },
    /// A `console` transcript: its commands run in order in the step's shell,
    /// sharing state, each with its own expected output and exit status.
    Console {
        program: String,
        commands: Vec<ConsoleCommand>,
    },
    /// Another language run by an interpreter (`run` / `run=INTERPRETER`):
    /// the code is written to a file and passed to `program`.
    Interpreter { program: String },
}

/// One `$ ` command of a console transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsoleCommand {
    /// The command with `> ` continuation prefixes removed, lines joined by `\n`.
    pub command: String,
    pub line: usize,
    /// The lines after the command, up to the next `$ ` (and before `? CODE`),
    /// joined with `\n` plus a final `\n`. `None` when no lines follow: the output
    /// is then unchecked.
    pub expected: Option<String>,
    /// From a last `? CODE` line; `None` means "exit 0 expected".
    pub exit: Option<ExitExpect>,
    /// Byte span of the expected-output lines (and `? CODE` line excluded) in the
    /// file, for `check --update`. Empty span at the insertion point when
    /// `expected` is `None`.
    pub output_span: Span,
}

/// A runnable step: a fenced block of a shell language, `console`, or `run`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Step {
    pub id: String,
    /// Id of the innermost section holding the step; `None` before any heading.
    pub section: Option<String>,
    /// Line of the opening fence.
    pub line: usize,
    /// The info string's language word (`sh`, `bash`, `console`, `python`, ...).
    pub lang: String,
    /// Block content exactly as CommonMark defines it.
    pub code: String,
    /// The attributes as written, `{#id cwd=x skip}` → `{"id": "id", "cwd": "x", "skip": ""}`.
    pub attrs: Attrs,
    pub kind: StepKind,
    /// Shared by the steps of a runbook whose options are the same: most
    /// are, and on a large runbook a copy per step was a sixth of the model.
    pub options: Arc<StepOptions>,
    pub checks: Vec<Check>,
    /// The whole fenced block, fences included.
    pub span: Span,
    /// Hex SHA-256 of kind, code and options: a record whose step hash differs
    /// is stale.
    pub hash: String,
}

/// A step's attributes as written, sorted by key, one value per key (the
/// last written): a map, serialised as one. A sorted `Vec` rather than a
/// `BTreeMap`, whose first node takes room for eleven entries: on a runbook
/// of 37,000 steps that was 10 MB held beside the whole CommonMark tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attrs(Vec<(String, String)>);

impl Attrs {
    /// Sorted by key; of two values for one key, the later wins, as a map
    /// built in the same order keeps it.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut pairs: Vec<(String, String)> = pairs.into_iter().collect();
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        pairs.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                std::mem::swap(&mut later.1, &mut kept.1);
            }
            same
        });
        pairs.shrink_to_fit();
        Attrs(pairs)
    }

    pub fn get(&self, key: &str) -> Option<&String> {
        self.0
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .map(|i| &self.0[i].1)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// In key order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl std::ops::Index<&str> for Attrs {
    type Output = String;

    fn index(&self, key: &str) -> &String {
        self.get(key).expect("no such attribute")
    }
}

impl Serialize for Attrs {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Attrs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, String>::deserialize(d)?;
        Ok(Attrs(map.into_iter().collect()))
    }
}

/// Step attributes after validation (SPEC §1.3).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StepOptions {
    pub cwd: Option<String>,
    #[serde(with = "opt_duration")]
    pub timeout: Option<Duration>,
    pub exit: ExitExpect,
    pub retry: u32,
    #[serde(with = "opt_duration")]
    pub delay: Option<Duration>,
    pub tags: Vec<String>,
    pub skip: bool,
    pub manual: bool,
    pub interactive: bool,
    pub confirm: bool,
    pub background: bool,
    pub setup: bool,
    /// Left out of whole-runbook and section runs; `--step ID` still runs it
    /// (Runme's `excludeFromRunAll`).
    // Left out of the JSON when off, so step hashes recorded before these
    // fields existed still match.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exclude_from_run_all: bool,
    /// Gets the terminal's stdin under `run`, as Runme's interactive cells do;
    /// unlike `interactive` it needs none: `check` runs it with empty stdin.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stdin: bool,
    /// What runs, when a dialect makes it differ from the block's `code`
    /// (Runme's `$ ` prompts dropped, input placeholders turned into reads of
    /// the input). Line for line the same as `code`, so failing lines map back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<String>,
    /// `host=NAME`: runs on that host over `ssh`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// `hosts=a,b` or `hosts=GROUP`: runs on each (fan-out), names as written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// With `hosts=`: one host at a time.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub serial: bool,
}

impl StepOptions {
    /// Pause between retries: `delay`, default one second.
    pub fn retry_delay(&self) -> Duration {
        self.delay.unwrap_or(Duration::from_secs(1))
    }
}

/// Which exit statuses count as success.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExitExpect {
    Codes(Vec<i32>),
    Any,
    Nonzero,
}

impl Default for ExitExpect {
    fn default() -> Self {
        ExitExpect::Codes(vec![0])
    }
}

impl ExitExpect {
    pub fn accepts(&self, code: i32) -> bool {
        match self {
            ExitExpect::Codes(codes) => codes.contains(&code),
            ExitExpect::Any => true,
            ExitExpect::Nonzero => code != 0,
        }
    }
}

impl std::fmt::Display for ExitExpect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitExpect::Codes(codes) => {
                let list: Vec<String> = codes.iter().map(i32::to_string).collect();
                f.write_str(&list.join(","))
            }
            ExitExpect::Any => f.write_str("any"),
            ExitExpect::Nonzero => f.write_str("nonzero"),
        }
    }
}

/// `match=` of an output block.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MatchMode {
    #[default]
    Exact,
    Contains,
    Regex,
}

/// `stream=` of an output block.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stream {
    #[default]
    Both,
    Stdout,
    Stderr,
}

/// Something a step's output must satisfy (SPEC §1.4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Check {
    /// An `output` block after the step.
    Output {
        line: usize,
        expected: String,
        #[serde(rename = "match")]
        mode: MatchMode,
        stream: Stream,
        /// Byte span of the block's content (between the fences), for `--update`.
        content_span: Span,
    },
    /// `<!-- check: contains "TEXT" -->`
    Contains { line: usize, text: String },
    /// `<!-- check: not-contains "TEXT" -->`
    NotContains { line: usize, text: String },
    /// `<!-- check: matches "REGEX" -->`
    Matches { line: usize, regex: String },
    /// Innovation Engine's expected output: the block after
    /// `<!-- expected_similarity=... -->` that follows a step.
    Similar {
        /// The block's opening fence.
        line: usize,
        /// The block's content: what the output should resemble (only an
        /// example when `want` is a regex).
        expected: String,
        want: Similarity,
        /// The block is `json`: both sides are compared as JSON with sorted keys.
        json: bool,
        /// Byte span of the block's content, for `--update`.
        content_span: Span,
    },
}

/// What an Innovation Engine expected output asks of the step's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "kebab-case")]
pub enum Similarity {
    /// Jaro-Winkler similarity of the trimmed texts, at least `min` (0 to 1).
    Score { min: f64 },
    /// A regex search of the output; `$NAME` stands for the variable's value.
    Regex { regex: String },
}

impl Check {
    pub fn line(&self) -> usize {
        match self {
            Check::Output { line, .. }
            | Check::Contains { line, .. }
            | Check::NotContains { line, .. }
            | Check::Matches { line, .. }
            | Check::Similar { line, .. } => *line,
        }
    }
}

/// A missing step: a TODO/FIXME paragraph, list item, table cell or heading, or
/// an empty shell block (text `empty step`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Todo {
    pub section: Option<String>,
    pub line: usize,
    pub text: String,
    pub span: Span,
}

/// What a fenced block is to runsheet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BlockRole {
    Step,
    Output,
    Other,
}

/// Any fenced code block, as CommonMark sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Block {
    pub line: usize,
    /// The whole info string as written.
    pub info: String,
    /// The info string up to the first space or `{`.
    pub lang: String,
    pub code: String,
    pub role: BlockRole,
    pub span: Span,
}

impl Step {
    /// The text the step's program runs: `options.script`, else `code`.
    pub fn script(&self) -> &str {
        self.options.script.as_deref().unwrap_or(&self.code)
    }
}

impl Runbook {
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }

    pub fn section(&self, id: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.id == id)
    }

    /// The section's title chain from the outermost, for `Section › Sub` labels.
    pub fn section_path(&self, id: &str) -> Vec<&Section> {
        let mut chain = Vec::new();
        let mut cur = self.section(id);
        while let Some(s) = cur {
            chain.push(s);
            cur = s.parent.as_deref().and_then(|p| self.section(p));
        }
        chain.reverse();
        chain
    }

    /// True when `section` is `ancestor` or lies inside it.
    pub fn section_within(&self, section: &str, ancestor: &str) -> bool {
        self.section_path(section).iter().any(|s| s.id == ancestor)
    }
}

/// Durations are written as humantime strings (`90s`, `1h 30m`) in JSON.
pub(crate) mod opt_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&humantime::format_duration(*d).to_string()),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        text.map(|t| humantime::parse_duration(&t).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attrs_sort_by_key_and_keep_the_last_value_of_a_key() {
        let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
        let attrs = Attrs::from_pairs([
            pair("timeout", "5m"),
            pair("id", "a"),
            pair("tags", "x"),
            pair("id", "b"),
            pair("id", "c"),
        ]);
        let map: BTreeMap<String, String> = [
            pair("timeout", "5m"),
            pair("id", "a"),
            pair("tags", "x"),
            pair("id", "b"),
            pair("id", "c"),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            serde_json::to_string(&attrs).unwrap(),
            serde_json::to_string(&map).unwrap()
        );
        assert_eq!(attrs.get("id").map(String::as_str), Some("c"));
        assert_eq!(attrs["tags"], "x");
        assert_eq!(attrs.get("skip"), None);
        let back: Attrs = serde_json::from_str(r#"{"b":"2","a":"1"}"#).unwrap();
        assert_eq!(
            back.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
    }
}
