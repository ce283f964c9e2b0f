//! A fence's info string: the language word and the `{...}` attributes after it
//! (SPEC §1.3), checked into [`StepOptions`] or an output block's settings.
//!
//! Other tools write in the same place: line ranges (`{3-5}`), Pandoc classes
//! (`{.numberLines}`), their own `key=value` words, Runme's `{ name=x }` and
//! `{"id":"..."}`. Each brace group is read on its own and sorted into
//! runsheet's, Runme's or another tool's ([`Style`]); only runsheet's own
//! groups are held to runsheet's vocabulary.

use std::ops::Range;
use std::time::Duration;

use crate::model::{ExitExpect, MatchMode, StepOptions, Stream};

use super::dialect::{is_ulid, RUNME_KEYS};

/// A problem at a byte range relative to the info string.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Problem {
    pub(crate) span: Range<usize>,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    pub(crate) help: Option<String>,
}

impl Problem {
    pub(crate) fn new(
        span: Range<usize>,
        code: &'static str,
        message: String,
        help: Option<String>,
    ) -> Self {
        Problem {
            span,
            code,
            message,
            help,
        }
    }
}

/// One `key`, `key=value`, `key="value"` or `#id` inside the braces.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Attr {
    pub(crate) key: String,
    pub(crate) value: Option<String>,
    /// The whole attribute, relative to the info string.
    pub(crate) span: Range<usize>,
}

/// Whose attributes a fence carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Style {
    /// None runsheet reads: no braces, or only other tools' (`{3-5}`, `{.class}`).
    #[default]
    None,
    /// runsheet's own `{#id key=value flag}`: held to runsheet's vocabulary.
    Runsheet,
    /// Runme's `{ name=x interactive=false }` or `{"name":"x"}` (runsheet's
    /// own keys may stand among them); words neither tool knows are ignored,
    /// as Runme ignores them.
    Runme,
}

#[derive(Debug, Default)]
pub(crate) struct Info {
    pub(crate) lang: String,
    /// The attributes of runsheet's and Runme's groups, in order; other
    /// tools' words are left out.
    pub(crate) attrs: Vec<Attr>,
    pub(crate) problems: Vec<Problem>,
    /// Things that do no harm but are probably not what the author meant.
    pub(crate) warnings: Vec<Problem>,
    pub(crate) style: Style,
}

/// Splits an info string into its language (up to the first space or `{`) and
/// the attributes of the brace groups that follow. Words outside braces
/// (`title="Terminal"`, `linenums="1"`) belong to other tools and are left alone.
pub(crate) fn parse_info(info: &str) -> Info {
    let lang_end = info
        .find(|c: char| c.is_whitespace() || c == '{')
        .unwrap_or(info.len());
    let mut out = Info {
        lang: info[..lang_end].to_string(),
        ..Info::default()
    };
    if out.lang.is_empty() {
        out.lang = braced_lang(info).unwrap_or_default().to_string();
    }
    let mut at = lang_end;
    while let Some(open) = next_open(info, at) {
        match find_close(info, open + 1) {
            Some(close) => {
                read_group(info, open, close, &mut out);
                at = close + 1;
            }
            None => {
                unclosed(info, open, &mut out);
                break;
            }
        }
    }
    out
}

/// The language of an info string that starts with braces, as two other
/// tools write it: Quarto's and knitr's executable chunks (`{bash}`,
/// `{bash, echo=FALSE}`) and MyST's directives (`{code-block} bash`). Only
/// languages runsheet can run count, so `{#id}` or `{r setup}` name none.
fn braced_lang(info: &str) -> Option<&str> {
    let rest = info.strip_prefix('{')?;
    let close = rest.find('}')?;
    let inside = rest[..close].trim();
    let word = match inside {
        "code-block" | "code" | "sourcecode" | "code-cell" => {
            rest[close + 1..].split_whitespace().next()?
        }
        _ => inside
            .split(|c: char| c.is_whitespace() || c == ',')
            .next()?,
    };
    let runnable = super::walk::is_shell_lang(word) || super::walk::interpreter(word).is_some();
    runnable.then_some(word)
}

/// The next `{` at or after `from` that is not inside a double-quoted word
/// (`title="a {b}"` holds no group).
fn next_open(info: &str, from: usize) -> Option<usize> {
    let mut quoted = false;
    for (i, c) in info[from..].char_indices() {
        match c {
            '"' => quoted = !quoted,
            '{' if !quoted => return Some(from + i),
            _ => {}
        }
    }
    None
}

/// The `}` closing a group whose content starts at `from`: nested braces are
/// counted (Runme's JSON may hold objects), and braces inside double quotes
/// (with `\"` escapes) are skipped.
fn find_close(info: &str, from: usize) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    let mut depth = 0usize;
    for (i, c) in info[from..].char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '{' if !quoted => depth += 1,
            '}' if !quoted && depth == 0 => return Some(from + i),
            '}' if !quoted => depth -= 1,
            _ => {}
        }
    }
    None
}

/// Whose word one attribute is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    /// A line range, a Pandoc class, or a word no tool here knows.
    Foreign,
    /// runsheet's, or a likely misspelling of one of runsheet's words.
    Runsheet,
    Runme,
}

fn owner(attr: &Attr) -> Owner {
    let key = attr.key.as_str();
    let flag_with_value =
        matches!(key, "interactive" | "background" | "excludeFromRunAll") && attr.value.is_some();
    if key.starts_with('.') || (attr.value.is_none() && is_line_range(key)) {
        Owner::Foreign
    } else if RUNME_KEYS.contains(&key)
        || flag_with_value
        || (key == "id" && attr.value.as_deref().is_some_and(is_ulid))
    {
        Owner::Runme
    } else if STEP_KEYS.contains(&key)
        || OUTPUT_KEYS.contains(&key)
        || alias(key, STEP_KEYS).is_some()
        || typo_of(key, STEP_KEYS).is_some()
        || typo_of(key, OUTPUT_KEYS).is_some()
    {
        Owner::Runsheet
    } else {
        Owner::Foreign
    }
}

/// `3`, `3-5`, `1,4-6`, `1, 4-6` (a comma may end a word): lines to highlight.
fn is_line_range(word: &str) -> bool {
    !word.is_empty()
        && word.split(',').filter(|part| !part.is_empty()).all(|part| {
            let mut ends = part.splitn(2, '-');
            ends.all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
        && word.bytes().any(|b| b.is_ascii_digit())
}

/// Reads the group `info[open..=close]` into `out` when it is runsheet's or
/// Runme's; another tool's group is dropped whole.
fn read_group(info: &str, open: usize, close: usize, out: &mut Info) {
    let content = &info[open + 1..close];
    if content.trim_start().starts_with('"') {
        return read_json_group(info, open, close, out);
    }
    let mut group = Info::default();
    tokenize(info, open + 1, close, &mut group);
    // knitr and Quarto separate chunk options with commas (`{r setup, echo=FALSE}`).
    let knitr = group.attrs.iter().any(|a| {
        let word = a.value.as_deref().unwrap_or(&a.key);
        word.ends_with(',') && !is_line_range(word)
    });
    if knitr {
        return;
    }
    let owners: Vec<Owner> = group.attrs.iter().map(owner).collect();
    let style = if owners.contains(&Owner::Runme) {
        Style::Runme
    } else if owners.contains(&Owner::Runsheet) || !group.problems.is_empty() && owners.is_empty() {
        Style::Runsheet
    } else {
        return;
    };
    // Pandoc writes its own `key=value` words beside its classes and `#id`.
    let pandoc = group.attrs.iter().any(|a| a.key.starts_with('.'));
    for (attr, owner) in group.attrs.into_iter().zip(owners) {
        let other_tools =
            attr.key.starts_with('.') || attr.value.is_none() && is_line_range(&attr.key);
        let keep = match style {
            Style::Runsheet => !(other_tools || pandoc && owner == Owner::Foreign),
            _ => !other_tools,
        };
        if keep {
            out.attrs.push(attr);
        }
    }
    if style == Style::Runsheet {
        out.problems.extend(group.problems);
    }
    out.style = out.style.max_with(style);
}

/// Runme's JSON attributes, `{"id":"01H...","name":"x","interactive":"false"}`.
/// Values that are not strings keep their JSON text, as Runme reads them.
fn read_json_group(info: &str, open: usize, close: usize, out: &mut Info) {
    let span = open..close + 1;
    let text = &info[span.clone()];
    let runme_key = |key: &str| {
        RUNME_KEYS.contains(&key) || matches!(key, "id" | "interactive" | "background" | "cwd")
    };
    match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text) {
        // Other tools write JSON-looking groups too (Expressive Code's
        // `{"Label":5-7}`): Runme's carry its keys.
        Ok(map) if !map.keys().any(|k| runme_key(k)) => {}
        Ok(map) => {
            for (key, value) in map {
                let value = match value {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                out.attrs.push(Attr {
                    key,
                    value: Some(value),
                    span: span.clone(),
                });
            }
            out.style = out.style.max_with(Style::Runme);
        }
        Err(_) if !RUNME_KEYS.iter().chain(&["id"]).any(|k| text.contains(&format!("\"{k}\""))) => {}
        Err(e) => out.warnings.push(Problem::new(
            span,
            "bad-attributes",
            format!("these attributes look like Runme's JSON but are not valid JSON ({e}), so they are ignored"),
            Some(r#"write them as a JSON object, like `{"name":"build"}`"#.into()),
        )),
    }
}

/// A `{` never closed: an error only when the words after it are runsheet's
/// (another tool's stray brace is none of runsheet's business).
fn unclosed(info: &str, open: usize, out: &mut Info) {
    let mut group = Info::default();
    tokenize(info, open + 1, info.len(), &mut group);
    let ours = group
        .attrs
        .iter()
        .any(|a| owner(a) == Owner::Runsheet || owner(a) == Owner::Runme)
        || group.attrs.is_empty() && !group.problems.is_empty();
    if !ours {
        return;
    }
    let rest = &info[open..];
    out.problems
        .push(if rest.contains('"') && rest.contains('}') {
            // A quote left open hides the `}`: name the real culprit.
            Problem::new(
                open..info.len(),
                "unclosed-quote",
                "a quoted value in the attributes is never closed".into(),
                Some("end it with `\"` (write `\\\"` for a quote inside it)".into()),
            )
        } else {
            Problem::new(
                open..info.len(),
                "unclosed-attributes",
                "the `{` of the attributes is never closed".into(),
                Some("end the attributes with `}`".into()),
            )
        });
}

impl Style {
    /// Runme's style wins once any group is Runme's: its reader also takes
    /// runsheet's words.
    fn max_with(self, other: Style) -> Style {
        match (self, other) {
            (Style::Runme, _) | (_, Style::Runme) => Style::Runme,
            (Style::Runsheet, _) | (_, Style::Runsheet) => Style::Runsheet,
            _ => Style::None,
        }
    }
}

fn tokenize(info: &str, start: usize, end: usize, out: &mut Info) {
    let bytes = info.as_bytes();
    let mut i = start;
    while i < end {
        if bytes[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let tok_start = i;
        let is_id = bytes[i] == b'#';
        if is_id {
            i += 1;
        }
        let key_start = i;
        while i < end && !bytes[i].is_ascii_whitespace() && bytes[i] != b'=' {
            i += 1;
        }
        let key = &info[key_start..i];
        let mut value = None;
        if i < end && bytes[i] == b'=' {
            i += 1;
            match read_value(info, i, end) {
                Ok((v, next)) => {
                    value = Some(v);
                    i = next;
                }
                Err(p) => {
                    out.problems.push(p);
                    return;
                }
            }
        }
        let span = tok_start..i;
        if is_id {
            if value.is_some() {
                out.problems.push(Problem::new(
                    span,
                    "invalid-attribute",
                    format!("`{}` is not a valid attribute", &info[tok_start..i]),
                    Some("write the id as `#my-step` or `id=my-step`".into()),
                ));
                continue;
            }
            out.attrs.push(Attr {
                key: "id".into(),
                value: Some(key.to_string()),
                span,
            });
        } else if key.is_empty() {
            out.problems.push(Problem::new(
                span,
                "invalid-attribute",
                "an attribute needs a name before `=`".into(),
                None,
            ));
        } else {
            out.attrs.push(Attr {
                key: key.to_string(),
                value,
                span,
            });
        }
    }
}

/// A bare value (up to whitespace) or a double-quoted one with `\"` and `\\`.
fn read_value(info: &str, start: usize, end: usize) -> Result<(String, usize), Problem> {
    let bytes = info.as_bytes();
    if start < end && bytes[start] == b'"' {
        let mut value = String::new();
        let mut chars = info[start + 1..end].char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => return Ok((value, start + 1 + i + 1)),
                '\\' => match chars.next() {
                    Some((_, e)) => value.push(e),
                    None => break,
                },
                c => value.push(c),
            }
        }
        return Err(Problem::new(
            start..end,
            "unclosed-quote",
            "this quoted value is never closed".into(),
            Some("end it with `\"`".into()),
        ));
    }
    let mut i = start;
    while i < end && !bytes[i].is_ascii_whitespace() {
        i += 1;
    }
    Ok((info[start..i].to_string(), i))
}

/// Attributes a step accepts; flags take no value.
pub(crate) const STEP_KEYS: &[&str] = &[
    "id",
    "cwd",
    "timeout",
    "exit",
    "retry",
    "delay",
    "tags",
    "skip",
    "manual",
    "interactive",
    "confirm",
    "background",
    "setup",
    "run",
    "host",
    "hosts",
    "serial",
];
const FLAGS: &[&str] = &[
    "skip",
    "manual",
    "interactive",
    "confirm",
    "background",
    "setup",
    "serial",
];
pub(crate) const OUTPUT_KEYS: &[&str] = &["match", "stream"];

/// A step's attributes after checking.
#[derive(Debug, Default)]
pub(crate) struct StepAttrs {
    pub(crate) id: Option<(String, Range<usize>)>,
    pub(crate) options: StepOptions,
    /// `Some(None)` for a bare `run`, `Some(Some(x))` for `run=x`.
    pub(crate) run: Option<Option<String>>,
    /// The id comes from a Runme `name` or cell id: made unique rather than
    /// refused when two cells share it.
    pub(crate) derived_id: bool,
    /// Runme's `interpreter`: the program for the block.
    pub(crate) interpreter: Option<String>,
    /// Runme's `promptEnv`: `Some(false)` turns its prompts off.
    pub(crate) prompt_env: Option<bool>,
    /// Runme's `interactive` (on unless `interactive=false`).
    pub(crate) stdin: bool,
}

/// Checks attributes against the step vocabulary; every problem is collected.
pub(crate) fn step_attrs(attrs: &[Attr], problems: &mut Vec<Problem>) -> StepAttrs {
    let mut out = StepAttrs::default();
    for attr in unique(attrs, STEP_KEYS, problems) {
        let span = attr.span.clone();
        let key = attr.key.as_str();
        let value = match (FLAGS.contains(&key) || key == "run", &attr.value) {
            (true, None) => String::new(),
            (true, Some(_)) if key == "run" => attr.value.clone().unwrap_or_default(),
            (true, Some(_)) => {
                problems.push(Problem::new(
                    span,
                    "bad-value",
                    format!("`{key}` takes no value"),
                    Some(format!("write just `{key}`")),
                ));
                continue;
            }
            (false, None) => {
                problems.push(Problem::new(
                    span,
                    "bad-value",
                    format!("`{key}` needs a value"),
                    Some(format!("write it as `{key}=...`")),
                ));
                continue;
            }
            (false, Some(v)) => v.clone(),
        };
        if let Err(p) = set_step_attr(&mut out, key, value, span) {
            problems.push(p);
        }
    }
    out
}

fn set_step_attr(
    out: &mut StepAttrs,
    key: &str,
    value: String,
    span: Range<usize>,
) -> Result<(), Problem> {
    let o = &mut out.options;
    match key {
        "id" => {
            check_id(&value, span.clone())?;
            out.id = Some((value, span));
        }
        "cwd" if value.is_empty() => {
            return Err(Problem::new(
                span,
                "bad-value",
                "`cwd` needs a directory".into(),
                None,
            ))
        }
        "cwd" => o.cwd = Some(value),
        "timeout" => o.timeout = Some(duration(key, &value, span)?),
        "delay" => o.delay = Some(duration(key, &value, span)?),
        "exit" => o.exit = exit_codes(&value).ok_or_else(|| bad_exit(&value, span))?,
        "retry" => {
            o.retry = value.parse().map_err(|_| {
                Problem::new(
                    span,
                    "bad-retry",
                    format!("`retry={value}` is not a number of attempts"),
                    Some("write how many more times to try, like `retry=3`".into()),
                )
            })?
        }
        "tags" => {
            let tags: Vec<String> = value.split(',').map(|t| t.trim().to_string()).collect();
            if tags.iter().any(String::is_empty) {
                return Err(Problem::new(
                    span,
                    "bad-value",
                    format!("`tags={value}` has an empty tag"),
                    Some("list tags separated by commas, like `tags=slow,aws`".into()),
                ));
            }
            o.tags = tags;
        }
        "skip" => o.skip = true,
        "manual" => o.manual = true,
        "interactive" => o.interactive = true,
        "confirm" => o.confirm = true,
        "background" => o.background = true,
        "setup" => o.setup = true,
        "serial" => o.serial = true,
        "host" => o.host = Some(host_name(key, &value, span)?),
        "hosts" => {
            o.hosts = value
                .split(',')
                .map(|h| host_name(key, h.trim(), span.clone()))
                .collect::<Result<_, _>>()?
        }
        "run" => out.run = Some((!value.is_empty()).then_some(value)),
        _ => {}
    }
    Ok(())
}

/// A host as `ssh` takes it: an alias or `user@host`, never an option.
fn host_name(key: &str, value: &str, span: Range<usize>) -> Result<String, Problem> {
    let bad = value.is_empty()
        || value.starts_with('-')
        || value.chars().any(|c| c.is_whitespace() || c.is_control());
    if bad {
        return Err(Problem::new(
            span,
            "bad-value",
            format!("`{key}={value}` is not a host"),
            Some("name an ssh alias or `user@host`, like `host=db-1`".into()),
        ));
    }
    Ok(value.to_string())
}

/// Drops unknown and repeated attributes, reporting each.
fn unique<'a>(attrs: &'a [Attr], known: &[&str], problems: &mut Vec<Problem>) -> Vec<&'a Attr> {
    let mut kept: Vec<&Attr> = Vec::new();
    for attr in attrs {
        if !known.contains(&attr.key.as_str()) {
            let suggestion = alias(&attr.key, known)
                .or_else(|| typo_of(&attr.key, known))
                .or_else(|| did_you_mean(&attr.key, known));
            let help = match suggestion {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("known attributes: {}", known.join(", ")),
            };
            problems.push(Problem::new(
                attr.span.clone(),
                "unknown-attribute",
                format!("unknown attribute `{}`", attr.key),
                Some(help),
            ));
        } else if kept.iter().any(|k| k.key == attr.key) {
            problems.push(Problem::new(
                attr.span.clone(),
                "duplicate-attribute",
                format!("`{}` is given twice", attr.key),
                Some("keep one of them".into()),
            ));
        } else {
            kept.push(attr);
        }
    }
    kept
}

/// Output block settings: `match=` and `stream=`.
pub(crate) fn output_attrs(attrs: &[Attr], problems: &mut Vec<Problem>) -> (MatchMode, Stream) {
    let mut mode = MatchMode::default();
    let mut stream = Stream::default();
    for attr in unique(attrs, OUTPUT_KEYS, problems) {
        let value = attr.value.as_deref().unwrap_or("");
        let span = attr.span.clone();
        match attr.key.as_str() {
            "match" => match value {
                "exact" => mode = MatchMode::Exact,
                "contains" => mode = MatchMode::Contains,
                "regex" => mode = MatchMode::Regex,
                _ => problems.push(bad_choice(
                    "match",
                    value,
                    &["exact", "contains", "regex"],
                    span,
                )),
            },
            _ => match value {
                "both" => stream = Stream::Both,
                "stdout" => stream = Stream::Stdout,
                "stderr" => stream = Stream::Stderr,
                _ => problems.push(bad_choice(
                    "stream",
                    value,
                    &["both", "stdout", "stderr"],
                    span,
                )),
            },
        }
    }
    (mode, stream)
}

fn bad_choice(key: &str, value: &str, choices: &[&str], span: Range<usize>) -> Problem {
    let help = match did_you_mean(value, choices) {
        Some(s) => format!("did you mean `{key}={s}`?"),
        None => format!("choose one of: {}", choices.join(", ")),
    };
    Problem::new(
        span,
        "bad-value",
        format!("`{key}={value}` is not a valid choice"),
        Some(help),
    )
}

/// `[a-z0-9][a-z0-9_-]*`
pub(crate) fn valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

fn check_id(id: &str, span: Range<usize>) -> Result<(), Problem> {
    if valid_id(id) {
        return Ok(());
    }
    let fixed: String = id
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let fixed = fixed.trim_start_matches(['-', '_']).to_string();
    let help = if valid_id(&fixed) {
        format!("ids use lower-case letters, digits, `-` and `_`: try `#{fixed}`")
    } else {
        "ids use lower-case letters, digits, `-` and `_`, like `#build-image`".into()
    };
    Err(Problem::new(
        span,
        "invalid-id",
        format!("`{id}` is not a valid step id"),
        Some(help),
    ))
}

fn duration(key: &str, value: &str, span: Range<usize>) -> Result<Duration, Problem> {
    humantime::parse_duration(value).map_err(|e| {
        Problem::new(
            span,
            "bad-duration",
            format!("`{key}={value}` is not a duration ({e})"),
            Some("write a duration like `90s`, `20m` or `1h30m`".into()),
        )
    })
}

/// `0`, `0,1`, `any`, `nonzero`; codes are 0-255.
pub(crate) fn exit_codes(value: &str) -> Option<ExitExpect> {
    match value {
        "any" => Some(ExitExpect::Any),
        "nonzero" => Some(ExitExpect::Nonzero),
        _ => value
            .split(',')
            .map(|c| c.trim().parse::<u8>().ok().map(i32::from))
            .collect::<Option<Vec<i32>>>()
            .map(ExitExpect::Codes),
    }
}

fn bad_exit(value: &str, span: Range<usize>) -> Problem {
    Problem::new(
        span,
        "bad-exit-code",
        format!("`exit={value}` is not an exit status"),
        Some("write a number (0-255), a list like `0,1`, `any` or `nonzero`".into()),
    )
}

/// Words other tools use for runsheet's attributes.
const ALIASES: &[(&str, &[&str])] = &[
    (
        "cwd",
        &["dir", "workdir", "directory", "chdir", "working-directory"],
    ),
    ("tags", &["label", "labels"]),
    ("retry", &["retries", "attempts"]),
    ("delay", &["wait", "sleep", "interval"]),
    (
        "exit",
        &["exit-code", "exit_code", "exitcode", "status", "returncode"],
    ),
    ("skip", &["ignore", "disabled", "disable"]),
    ("confirm", &["ask", "prompt"]),
    ("background", &["bg", "async", "daemon", "detach"]),
    ("run", &["exec", "runner"]),
    ("host", &["server", "node"]),
    ("hosts", &["servers", "nodes", "targets"]),
    ("serial", &["sequential", "one-at-a-time"]),
];

/// The attribute another tool's word stands for, if it is one of `known`.
fn alias<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    let (target, _) = ALIASES.iter().find(|(_, words)| words.contains(&word))?;
    known.iter().find(|k| *k == target).copied()
}

/// The known word `word` is most likely a misspelling of, if any: one edit
/// (a letter added, dropped or changed, or two neighbours swapped) in words of
/// up to 7 letters, two in longer ones. Words under 4 letters are never taken
/// for misspellings, nor are case-only differences: other tools' short keys
/// (`id`, `url`, `tags`, `date`) are not typos of `cwd` or `title`.
pub(crate) fn typo_of<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    let word = word.to_lowercase();
    let len = word.chars().count();
    if len < 4 {
        return None;
    }
    known
        .iter()
        .filter_map(|k| {
            let d = strsim::osa_distance(&word, &k.to_lowercase());
            let longest = len.max(k.chars().count());
            let allowed = if longest <= 7 { 1 } else { 2 };
            (d >= 1 && d <= allowed).then_some((d, *k))
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// The closest known word, if it is close enough to be a likely typo.
pub(crate) fn did_you_mean<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (strsim::jaro_winkler(word, k), *k))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(info: &str) -> (StepAttrs, Vec<Problem>) {
        let parsed = parse_info(info);
        let mut problems = parsed.problems;
        let attrs = step_attrs(&parsed.attrs, &mut problems);
        (attrs, problems)
    }

    #[test]
    fn language_stops_at_space_or_brace() {
        assert_eq!(parse_info("bash").lang, "bash");
        assert_eq!(parse_info("bash{#x}").lang, "bash");
        assert_eq!(parse_info("python title=x").lang, "python");
        assert!(parse_info("python title=x").attrs.is_empty());
        assert_eq!(parse_info("").lang, "");
    }

    #[test]
    fn every_attribute_is_read() {
        let (a, p) = step(
            "bash {#build cwd=src/x timeout=25m exit=0,3 retry=2 delay=5s tags=slow,aws skip manual interactive confirm background setup}",
        );
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(a.id.unwrap().0, "build");
        let o = a.options;
        assert_eq!(o.cwd.as_deref(), Some("src/x"));
        assert_eq!(o.timeout, Some(Duration::from_secs(25 * 60)));
        assert_eq!(o.exit, ExitExpect::Codes(vec![0, 3]));
        assert_eq!((o.retry, o.delay), (2, Some(Duration::from_secs(5))));
        assert_eq!(o.tags, ["slow", "aws"]);
        assert!(o.skip && o.manual && o.interactive && o.confirm && o.background && o.setup);
    }

    #[test]
    fn quoted_values_keep_spaces_and_escapes() {
        let parsed = parse_info(r#"sh {cwd="dir with spaces" id="a-b" tags="x,y"}"#);
        assert!(parsed.problems.is_empty());
        assert_eq!(parsed.attrs[0].value.as_deref(), Some("dir with spaces"));
        let parsed = parse_info(r#"sh {cwd="say \"hi\" }\\"}"#);
        assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
        assert_eq!(parsed.attrs[0].value.as_deref(), Some(r#"say "hi" }\"#));
        let parsed = parse_info(r#"sh {cwd="open}"#);
        assert_eq!(parsed.problems[0].code, "unclosed-quote");
        let parsed = parse_info("sh {cwd=x");
        assert_eq!(parsed.problems[0].code, "unclosed-attributes");
    }

    #[test]
    fn run_takes_an_optional_interpreter() {
        assert_eq!(step("python {run}").0.run, Some(None));
        assert_eq!(
            step("text {run=python3}").0.run,
            Some(Some("python3".into()))
        );
        assert_eq!(step("sh {#x}").0.run, None);
    }

    #[test]
    fn bad_values_are_problems_with_help() {
        let cases = [
            (
                "sh {timout=5m}",
                "unknown-attribute",
                "did you mean `timeout`?",
            ),
            ("sh {timeout=5}", "bad-duration", "like `90s`"),
            ("sh {timeout}", "bad-value", "`timeout=...`"),
            ("sh {exit=maybe}", "bad-exit-code", "`nonzero`"),
            ("sh {exit=300}", "bad-exit-code", "0-255"),
            ("sh {retry=-1}", "bad-retry", "retry=3"),
            ("sh {delay=soon}", "bad-duration", "1h30m"),
            ("sh {skip=yes}", "bad-value", "just `skip`"),
            ("sh {#Build_Image}", "invalid-id", "try `#build_image`"),
            ("sh {tags=a,,b}", "bad-value", "commas"),
            ("sh {cwd=a cwd=b}", "duplicate-attribute", "keep one"),
            (
                "sh {#x frobnicate}",
                "unknown-attribute",
                "known attributes: id, cwd",
            ),
        ];
        for (info, code, help) in cases {
            let (_, p) = step(info);
            assert_eq!(p.len(), 1, "{info}: {p:?}");
            assert_eq!(p[0].code, code, "{info}");
            let h = p[0].help.clone().unwrap_or_default();
            assert!(h.contains(help), "{info}: {h}");
        }
    }

    #[test]
    fn problem_spans_point_at_the_attribute() {
        let info = "sh {#ok timout=5m}";
        let (_, p) = step(info);
        assert_eq!(&info[p[0].span.clone()], "timout=5m");
    }

    #[test]
    fn output_settings() {
        let parsed = parse_info("output {match=regex stream=stderr}");
        let mut p = Vec::new();
        assert_eq!(
            output_attrs(&parsed.attrs, &mut p),
            (MatchMode::Regex, Stream::Stderr)
        );
        assert!(p.is_empty());
        let parsed = parse_info("output {match=contain strem=stdout}");
        output_attrs(&parsed.attrs, &mut p);
        assert_eq!(p.len(), 2);
        assert!(p[0].help.as_deref().unwrap().contains("`stream`"));
        assert!(p[1].help.as_deref().unwrap().contains("match=contains"));
    }

    /// Info strings other tools write: none is an error, none sets anything.
    #[test]
    fn other_tools_info_strings_are_left_alone() {
        for info in [
            "bash {3-5}",
            "bash {1,4-6}",
            "bash {1, 4-6}",
            "js {2-3} title=\"file.js\"",
            "bash title=\"Terminal\" {3-5}",
            "bash title=\"a {b} c\"",
            "python linenums=\"1\"",
            "python hl_lines=\"2 3\"",
            "python linenums=\"1\" hl_lines=\"2\" title=\"x.py\"",
            "jsx showLineNumbers",
            "js showLineNumbers {1,3-4}",
            "bash {.line-numbers}",
            "haskell {.haskell .numberLines startFrom=\"100\"}",
            "bash {.numberLines startFrom=100}",
            "js {title=\"x\"}",
            "ts {filename=\"a.ts\"}",
            "js ins={2} del={3}",
            "go {linenos=table,hl_lines=[8,\"15-17\"],linenostart=199}",
            "shell {data-line=\"3\"}",
            "bash {frobnicate}",
            "python {code-line-numbers=\"1\"}",
            "{r setup, include=FALSE}",
            "bash {}",
            "js {\"1\":5}",
            "js {\"Label\":5-7}",
            "rust,ignore",
            "console {2}",
            "js {",
            "js {3-5",
        ] {
            let parsed = parse_info(info);
            assert!(parsed.problems.is_empty(), "{info}: {:?}", parsed.problems);
            assert!(parsed.attrs.is_empty(), "{info}: {:?}", parsed.attrs);
            assert_eq!(parsed.style, Style::None, "{info}");
        }
    }

    #[test]
    fn runsheet_words_beside_other_tools_words_still_count() {
        let parsed = parse_info("bash title=\"Deploy\" {#deploy timeout=5m} {3-5}");
        assert_eq!(parsed.style, Style::Runsheet);
        let keys: Vec<&str> = parsed.attrs.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(keys, ["id", "timeout"]);
        // Pandoc: its `#id` is runsheet's id; its classes and words are its own.
        let parsed = parse_info("bash {#build .numberLines startFrom=\"100\"}");
        let keys: Vec<&str> = parsed.attrs.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(keys, ["id"]);
        // A misspelt word makes the group runsheet's, so it is reported.
        let (_, p) = step("bash {timout=5s}");
        assert_eq!(p[0].code, "unknown-attribute");
        assert_eq!(p[0].help.as_deref(), Some("did you mean `timeout`?"));
        let (_, p) = step("bash {3-5} {#x intractive}");
        assert_eq!(p[0].help.as_deref(), Some("did you mean `interactive`?"));
        let (_, p) = step("bash {#x dir=src}");
        assert_eq!(p[0].help.as_deref(), Some("did you mean `cwd`?"));
        // An unclosed group is an error only when it is runsheet's.
        assert_eq!(parse_info("sh {#x").problems[0].code, "unclosed-attributes");
        assert_eq!(
            parse_info("sh {timout=5").problems[0].code,
            "unclosed-attributes"
        );
    }

    #[test]
    fn runme_groups() {
        for info in [
            "sh { name=build }",
            "sh {name=build interactive=false}",
            "sh { name=runme-list closeTerminalOnSuccess=false interactive=false }",
            "sh {\"id\":\"01HF7BT3HD84GWTQB8ZCWPH803\"}",
            "sh {\"name\": \"generate\"}",
            "sh {\"background\":\"true\",\"id\":\"01HJ9NZT45B03C9J6YJJJDB8PG\",\"interactive\":\"true\",\"name\":\"server-dev\"}",
            "sh { background=true }",
            "sh { excludeFromRunAll=true }",
            "sh { id=01HF7BT3HD84GWTQB8ZCWPH803 }",
            "graphql {\"id\":\"01HSXDR2PDVFZ9ZV8Z60XK6MTB\",\"interpreter\":\"cat\"}",
            "sh {\"terminalRows\":28,\"x\":{\"y\":1}}",
        ] {
            let parsed = parse_info(info);
            assert_eq!(parsed.style, Style::Runme, "{info}");
            assert!(parsed.problems.is_empty(), "{info}: {:?}", parsed.problems);
        }
        let parsed = parse_info("sh {\"terminalRows\":28,\"name\":\"a\"}");
        let pairs: Vec<(&str, &str)> = parsed
            .attrs
            .iter()
            .map(|a| (a.key.as_str(), a.value.as_deref().unwrap_or("")))
            .collect();
        assert_eq!(pairs, [("name", "a"), ("terminalRows", "28")]);
        // Broken JSON is a warning: Runme would not read it either.
        let parsed = parse_info("sh {\"name\": }");
        assert!(parsed.attrs.is_empty() && parsed.problems.is_empty());
        assert_eq!(parsed.warnings[0].code, "bad-attributes");
    }

    #[test]
    fn typos_need_four_letters_and_one_edit_or_two_in_long_words() {
        let keys = &[
            "timeout",
            "requires",
            "shell",
            "cwd",
            "title",
            "env",
            "interactive",
        ];
        for (word, want) in [
            ("timout", Some("timeout")),
            ("timeot", Some("timeout")),
            ("requries", Some("requires")),
            ("shel", Some("shell")),
            ("intractve", Some("interactive")),
            ("id", None),
            ("cwds_long", None),
            ("url", None),
            ("slug", None),
            ("date", None),
            ("tags", None),
            ("draft", None),
            ("Title", None),
            ("title", None),
            ("timeouts_x", None),
            ("config", None),
        ] {
            assert_eq!(typo_of(word, keys), want, "{word}");
        }
    }
}
