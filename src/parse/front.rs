//! Front matter (SPEC §1.1): YAML between `---` lines at the very top, or
//! Hugo's TOML between `+++` lines (a UTF-8 byte-order mark before either is
//! skipped, CRLF line ends are fine). Only when a later line closes it and what
//! stands between is a mapping; anything else is plain Markdown (a thematic
//! break, a setext heading).
//!
//! The same block serves site generators and other runbook tools: keys
//! runsheet does not know are kept in `extra`, and only a likely misspelling
//! of one of runsheet's keys is an error. runsheet's keys may also stand under
//! a `runsheet:` mapping, for sites whose generator uses `title` or `env` itself.

use std::collections::HashMap;
use std::ops::Range;

use serde_json::Value;
use serde_saphyr::Spanned;

use crate::model::{FrontMatter, Input};
use crate::source::Source;

use super::attrs::{did_you_mean, typo_of, Problem};

const KEYS: &[&str] = &[
    "title", "shell", "cwd", "env", "timeout", "requires", "redact", "inputs", "host", "hosts",
];

/// The mapping runsheet's own keys may stand under.
const NAMESPACE: &str = "runsheet";

const INPUT_KEYS: &[&str] = &["description", "default", "secret"];

#[derive(Debug, Default)]
pub(crate) struct Front {
    pub(crate) front: FrontMatter,
    /// Where the Markdown starts: after the closing line, or after a
    /// byte-order mark, or 0.
    pub(crate) body_start: usize,
    /// Problems with absolute byte spans.
    pub(crate) problems: Vec<Problem>,
    /// Each key's line (key to end of line), in file order.
    pub(crate) keys: Vec<(String, Range<usize>)>,
    /// Runme's `runme:` key is there.
    pub(crate) runme: bool,
    /// Runme's `skipPrompts: true`.
    pub(crate) skip_prompts: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Yaml,
    Toml,
}

/// The block between the fences.
struct Block<'a> {
    format: Format,
    text: &'a str,
    /// Offset of `text` in the source.
    start: usize,
    /// Offset after the closing line.
    end: usize,
}

/// One top-level key, its value and its line.
struct Entry {
    key: String,
    value: Value,
    span: Range<usize>,
}

pub(crate) fn front_matter(source: &Source) -> Front {
    let text = &source.text;
    let bom = if text.starts_with('\u{feff}') {
        '\u{feff}'.len_utf8()
    } else {
        0
    };
    let plain = Front {
        body_start: bom,
        ..Front::default()
    };
    let Some(block) = split(text, bom) else {
        return plain;
    };
    let mut out = Front {
        body_start: block.end,
        ..Front::default()
    };
    let entries = match block.format {
        Format::Yaml => yaml_entries(source, &block, &mut out),
        Format::Toml => toml_entries(source, &block, &mut out),
    };
    let Some(entries) = entries else {
        // Not a mapping: plain Markdown after all, unless a problem was found.
        return if out.problems.is_empty() { plain } else { out };
    };
    read_entries(source, &block, entries, &mut out);
    out.front.body_start = out.body_start;
    out
}

/// The fenced block at the top, after `bom` bytes.
fn split(text: &str, bom: usize) -> Option<Block<'_>> {
    let first_end = text[bom..].find('\n')? + bom;
    let format = match text[bom..first_end].trim_end() {
        "---" => Format::Yaml,
        "+++" => Format::Toml,
        _ => return None,
    };
    let fence = &text[bom..first_end].trim_end();
    let start = first_end + 1;
    let mut pos = start;
    while pos < text.len() {
        let end = text[pos..].find('\n').map_or(text.len(), |i| pos + i);
        if text[pos..end].trim_end() == *fence {
            return Some(Block {
                format,
                text: &text[start..pos],
                start,
                end: (end + 1).min(text.len()),
            });
        }
        pos = end + 1;
    }
    None
}

/// The span from `line` (1-based, in the file), character `col` (1-based) to
/// the end of that line.
fn line_span(source: &Source, line: usize, col: usize) -> Range<usize> {
    let line = line.clamp(1, source.line_count().max(1));
    let line_start = source.line_start(line);
    let rest = &source.text[line_start..];
    let line_end = rest
        .find('\n')
        .map_or(source.text.len(), |i| line_start + i);
    let line_end = if source.text[..line_end].ends_with('\r') {
        line_end - 1
    } else {
        line_end
    };
    let start = rest
        .char_indices()
        .nth(col.saturating_sub(1))
        .map_or(line_end, |(i, _)| (line_start + i).min(line_end));
    start..line_end.max(start)
}

fn yaml_entries(source: &Source, block: &Block<'_>, out: &mut Front) -> Option<Vec<Entry>> {
    let first = source.line(block.start);
    let at = |line: u64, col: u64| line_span(source, first + line as usize - 1, col as usize);
    let yaml = block.text;
    match serde_saphyr::from_str::<Value>(yaml) {
        Ok(Value::Object(_)) => {}
        Ok(Value::Null) => return Some(Vec::new()),
        Ok(_) => return None,
        Err(e) if looks_like_mapping(yaml) => {
            let span = e
                .location()
                .map_or(block.start..block.start, |l| at(l.line(), l.column()));
            out.problems.push(problem(
                span,
                "bad-front-matter",
                format!(
                    "front matter is not valid YAML: {}",
                    first_line(&e.to_string())
                ),
                None,
            ));
            return None;
        }
        Err(_) => return None,
    }
    let entries: HashMap<Spanned<String>, Value> = match serde_saphyr::from_str(yaml) {
        Ok(m) => m,
        Err(e) => {
            let span = e
                .location()
                .map_or(block.start..block.start, |l| at(l.line(), l.column()));
            out.problems.push(problem(
                span,
                "bad-front-matter",
                format!(
                    "front matter keys must be strings: {}",
                    first_line(&e.to_string())
                ),
                None,
            ));
            return None;
        }
    };
    let mut entries: Vec<_> = entries.into_iter().collect();
    entries.sort_by_key(|(k, _)| (k.referenced.line(), k.referenced.column()));
    Some(
        entries
            .into_iter()
            .map(|(key, value)| Entry {
                span: at(key.referenced.line(), key.referenced.column()),
                key: key.value,
                value,
            })
            .collect(),
    )
}

fn toml_entries(source: &Source, block: &Block<'_>, out: &mut Front) -> Option<Vec<Entry>> {
    let table = match block.text.parse::<toml::Table>() {
        Ok(table) => table,
        Err(e) => {
            let at = e.span().map_or(block.start, |r| block.start + r.start);
            let at = at.min(block.start + block.text.len());
            let span = line_span(source, source.line(at), 1);
            out.problems.push(problem(
                span,
                "bad-front-matter",
                format!(
                    "front matter is not valid TOML: {}",
                    e.message().lines().next().unwrap_or("")
                ),
                None,
            ));
            return None;
        }
    };
    let mut entries: Vec<Entry> = table
        .into_iter()
        .map(|(key, value)| Entry {
            span: toml_key_span(source, block, &key),
            key,
            value: toml_to_json(value),
        })
        .collect();
    entries.sort_by_key(|e| e.span.start);
    Some(entries)
}

/// Where a top-level TOML key stands: `key = ...` before the first table, or
/// its `[key]` header. The opening `+++` line when not found.
fn toml_key_span(source: &Source, block: &Block<'_>, key: &str) -> Range<usize> {
    let mut offset = block.start;
    let mut in_table = false;
    for line in block.text.split_inclusive('\n') {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            in_table = true;
            let name = trimmed.trim_matches(['[', ']']).trim().trim_matches('"');
            if name == key {
                return line_span(source, source.line(offset), 1);
            }
        } else if !in_table {
            let name = trimmed
                .split('=')
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches(['"', '\'']);
            if trimmed.contains('=') && name == key {
                return line_span(source, source.line(offset), 1);
            }
        }
        offset += line.len();
    }
    line_span(source, source.line(block.start.saturating_sub(1)), 1)
}

fn toml_to_json(value: toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::from(i),
        toml::Value::Float(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => Value::Array(items.into_iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => {
            Value::Object(t.into_iter().map(|(k, v)| (k, toml_to_json(v))).collect())
        }
    }
}

/// The line of `key` nested under the entry at `parent` (YAML `  key:`, or
/// TOML `key =` after a `[parent]` header); `parent` itself when not found.
fn nested_span(
    source: &Source,
    block: &Block<'_>,
    parent: &Range<usize>,
    key: &str,
) -> Range<usize> {
    let mut line = source.line(parent.start) + 1;
    let last = source.line(block.start + block.text.len().saturating_sub(1));
    while line <= last {
        let span = line_span(source, line, 1);
        let text = &source.text[span.clone()];
        let trimmed = text.trim_start();
        let indented = text.len() > trimmed.len();
        if block.format == Format::Yaml && !indented && !trimmed.is_empty() {
            break;
        }
        if block.format == Format::Toml && trimmed.starts_with('[') {
            break;
        }
        let name = trimmed
            .split([':', '='])
            .next()
            .unwrap_or("")
            .trim()
            .trim_matches(['"', '\'']);
        if name == key && trimmed.contains([':', '=']) {
            let lead = text.len() - trimmed.len();
            return span.start + lead..span.end;
        }
        line += 1;
    }
    parent.clone()
}

fn read_entries(source: &Source, block: &Block<'_>, entries: Vec<Entry>, out: &mut Front) {
    let namespaced = entries.iter().any(|e| e.key == NAMESPACE);
    let mut site_title = None;
    for Entry { key, value, span } in entries {
        out.keys.push((key.clone(), span.clone()));
        match key.as_str() {
            NAMESPACE => read_namespace(source, block, value, span, out),
            "runme" => {
                out.runme = true;
                out.front.extra.insert(key, value);
            }
            "skipPrompts" => {
                out.skip_prompts = value.as_bool().unwrap_or(false) || value == "true";
                out.front.extra.insert(key, value);
            }
            k if namespaced && KEYS.contains(&k) => {
                // The site's own key; its title still names the runbook.
                if k == "title" {
                    site_title = scalar(&value);
                }
                out.front.extra.insert(key, value);
            }
            k if KEYS.contains(&k) => {
                let nested = |name: &str| {
                    let at = nested_span(source, block, &span, name);
                    let line = source.line(at.start);
                    (at, line)
                };
                if let Err(p) = set(&mut out.front, &key, value, span.clone(), &nested) {
                    out.problems.push(p);
                }
            }
            k if !namespaced && typo_of(k, KEYS).is_some() => {
                let suggestion = typo_of(k, KEYS).unwrap_or_default();
                out.problems.push(problem(
                    span,
                    "unknown-front-matter-key",
                    format!("unknown front matter key `{key}`"),
                    Some(format!("did you mean `{suggestion}`?")),
                ));
            }
            _ => {
                out.front.extra.insert(key, value);
            }
        }
    }
    if out.front.title.is_none() {
        out.front.title = site_title;
    }
}

/// `runsheet: { timeout: 5m, ... }`: every key in it is runsheet's.
fn read_namespace(
    source: &Source,
    block: &Block<'_>,
    value: Value,
    span: Range<usize>,
    out: &mut Front,
) {
    let Value::Object(map) = value else {
        out.problems.push(problem(
            span,
            "bad-front-matter",
            format!("`{NAMESPACE}` must be a mapping of runsheet's keys"),
            Some(format!("known keys: {}", KEYS.join(", "))),
        ));
        return;
    };
    for (key, value) in map {
        let at = nested_span(source, block, &span, &key);
        out.keys.push((key.clone(), at.clone()));
        if !KEYS.contains(&key.as_str()) {
            let help = match typo_of(&key, KEYS).or_else(|| did_you_mean(&key, KEYS)) {
                Some(k) => format!("did you mean `{k}`?"),
                None => format!("known keys: {}", KEYS.join(", ")),
            };
            out.problems.push(problem(
                at,
                "unknown-front-matter-key",
                format!("unknown key `{key}` under `{NAMESPACE}`"),
                Some(help),
            ));
            continue;
        }
        let nested = |name: &str| {
            let inner = nested_span(source, block, &at, name);
            let line = source.line(inner.start);
            (inner, line)
        };
        if let Err(p) = set(&mut out.front, &key, value, at.clone(), &nested) {
            out.problems.push(p);
        }
    }
}

/// Broken YAML is reported only when it was meant as front matter.
fn looks_like_mapping(yaml: &str) -> bool {
    yaml.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .is_some_and(|l| {
            l.split_once(':')
                .is_some_and(|(k, _)| !k.is_empty() && !k.contains(' '))
        })
}

/// The YAML library's message without its own (YAML-relative) position, which
/// would disagree with the file line runsheet shows, or its API advice.
fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or(s);
    let line = line.strip_prefix("error: ").unwrap_or(line);
    let line = match line.strip_prefix("line ").and_then(|r| r.split_once(": ")) {
        Some((pos, rest)) if pos.contains("column") => rest,
        _ => line,
    };
    line.split(", set DuplicateKeyPolicy")
        .next()
        .unwrap_or(line)
        .to_string()
}

fn problem(
    span: Range<usize>,
    code: &'static str,
    message: String,
    help: Option<String>,
) -> Problem {
    Problem {
        span,
        code,
        message,
        help,
    }
}

fn set(
    front: &mut FrontMatter,
    key: &str,
    value: Value,
    span: Range<usize>,
    nested: &dyn Fn(&str) -> (Range<usize>, usize),
) -> Result<(), Problem> {
    let wrong = |what: &str| {
        problem(
            span.clone(),
            "bad-front-matter",
            format!("`{key}` must be {what}"),
            None,
        )
    };
    match key {
        "title" => front.title = Some(scalar(&value).ok_or_else(|| wrong("text"))?),
        "shell" => front.shell = Some(scalar(&value).ok_or_else(|| wrong("a program name"))?),
        "cwd" => front.cwd = Some(scalar(&value).ok_or_else(|| wrong("a directory"))?),
        "env" => {
            let Value::Object(map) = value else {
                return Err(wrong("a mapping of NAME: value"));
            };
            for (k, v) in map {
                let v = scalar(&v).ok_or_else(|| wrong("a mapping of NAME: value"))?;
                front.env.insert(k, v);
            }
        }
        "timeout" => {
            let text = scalar(&value).unwrap_or_default();
            let d = humantime::parse_duration(&text).map_err(|e| {
                problem(
                    span.clone(),
                    "bad-duration",
                    format!("`timeout: {text}` is not a duration ({e})"),
                    Some("write a duration like `90s`, `20m` or `1h30m`".into()),
                )
            })?;
            front.timeout = Some(d);
        }
        "requires" => front.requires = list(value).ok_or_else(|| wrong("a list of programs"))?,
        "redact" => {
            let names = list(value).ok_or_else(|| wrong("a list of variable names"))?;
            for name in names {
                if !front.redact.contains(&name) {
                    front.redact.push(name);
                }
            }
        }
        "inputs" => inputs(front, value, span, nested)?,
        "host" => front.host = Some(scalar(&value).ok_or_else(|| wrong("a host name"))?),
        "hosts" => {
            let Value::Object(map) = value else {
                return Err(wrong("a mapping of GROUP: [host, ...]"));
            };
            for (group, members) in map {
                let members = list(members)
                    .filter(|m| !m.is_empty())
                    .ok_or_else(|| wrong("a mapping of GROUP: [host, ...]"))?;
                front.hosts.insert(group, members);
            }
        }
        _ => {}
    }
    Ok(())
}

/// `inputs: { NAME: { description, default, secret } }`, `NAME: default`, or
/// a list of names.
fn inputs(
    front: &mut FrontMatter,
    value: Value,
    span: Range<usize>,
    nested: &dyn Fn(&str) -> (Range<usize>, usize),
) -> Result<(), Problem> {
    let wrong = |span: Range<usize>, message: String, help: &str| {
        problem(span, "bad-front-matter", message, Some(help.to_string()))
    };
    let entries: Vec<(String, Value)> = match value {
        Value::Object(map) => map.into_iter().collect(),
        Value::Array(items) => items
            .iter()
            .map(|v| scalar(v).map(|name| (name, Value::Null)))
            .collect::<Option<_>>()
            .ok_or_else(|| {
                wrong(
                    span.clone(),
                    "`inputs` must be a mapping of NAME: { description, default, secret }".into(),
                    "like `inputs: { API_TOKEN: { secret: true } }`",
                )
            })?,
        Value::Null => Vec::new(),
        _ => {
            return Err(wrong(
                span,
                "`inputs` must be a mapping of NAME: { description, default, secret }".into(),
                "like `inputs: { API_TOKEN: { secret: true } }`",
            ))
        }
    };
    // The mapping comes sorted by name; keep the file's order.
    let mut entries: Vec<(String, Value, Range<usize>, usize)> = entries
        .into_iter()
        .map(|(name, details)| {
            let (at, line) = nested(&name);
            (name, details, at, line)
        })
        .collect();
    entries.sort_by_key(|e| e.2.start);
    for (name, details, at, line) in entries {
        if !is_variable_name(&name) {
            return Err(wrong(
                at,
                format!("input `{name}` is not an environment variable name"),
                "use letters, digits and `_`, not starting with a digit, like `API_TOKEN`",
            ));
        }
        let mut input = Input::new(name.clone(), line);
        match details {
            Value::Object(map) => {
                for (k, v) in map {
                    match k.as_str() {
                        "description" => input.description = scalar(&v),
                        "default" => input.default = scalar(&v),
                        "secret" => {
                            input.secret = v.as_bool().ok_or_else(|| {
                                wrong(
                                    at.clone(),
                                    format!("`secret` of input `{name}` must be true or false"),
                                    "write `secret: true`",
                                )
                            })?
                        }
                        other => {
                            let help = match did_you_mean(other, INPUT_KEYS) {
                                Some(s) => format!("did you mean `{s}`?"),
                                None => format!("an input takes {}", INPUT_KEYS.join(", ")),
                            };
                            return Err(problem(
                                at,
                                "bad-front-matter",
                                format!("input `{name}` has an unknown key `{other}`"),
                                Some(help),
                            ));
                        }
                    }
                }
            }
            Value::Null => {}
            other => {
                input.default = Some(scalar(&other).ok_or_else(|| {
                    wrong(
                        at.clone(),
                        format!("input `{name}` must be a mapping or a default value"),
                        "like `REGION: { default: eu-west-1 }`",
                    )
                })?)
            }
        }
        if input.secret && !front.redact.contains(&name) {
            front.redact.push(name.clone());
        }
        front.inputs.retain(|i| i.name != name);
        front.inputs.push(input);
    }
    Ok(())
}

/// `[A-Za-z_][A-Za-z0-9_]*`
pub(crate) fn is_variable_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Strings, numbers and booleans all read as text (`PORT: 8080`).
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some(String::new()),
        _ => None,
    }
}

/// A list, or one item written alone.
fn list(v: Value) -> Option<Vec<String>> {
    match v {
        Value::Array(items) => items.iter().map(scalar).collect(),
        Value::Null => Some(Vec::new()),
        other => scalar(&other).map(|s| vec![s]),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn front(text: &str) -> Front {
        front_matter(&Source::new("t.md", text))
    }

    #[test]
    fn reads_every_key() {
        let text = "---\ntitle: Images\nshell: sh\ncwd: ../..\nenv: { AWS_REGION: us-east-1, PORT: 8080 }\ntimeout: 30m\nrequires: [poetry, pyinfra]\nredact: VAULT_TOKEN\n---\n# Body\n";
        let f = front(text);
        assert!(f.problems.is_empty(), "{:?}", f.problems);
        assert_eq!(&text[f.body_start..], "# Body\n");
        let m = f.front;
        assert_eq!(m.title.as_deref(), Some("Images"));
        assert_eq!(m.shell.as_deref(), Some("sh"));
        assert_eq!(m.cwd.as_deref(), Some("../.."));
        assert_eq!(m.env["PORT"], "8080");
        assert_eq!(m.timeout, Some(Duration::from_secs(1800)));
        assert_eq!(m.requires, ["poetry", "pyinfra"]);
        assert_eq!(m.redact, ["VAULT_TOKEN"]);
    }

    #[test]
    fn unknown_keys_suggest_the_right_one() {
        let text = "---\ntitle: x\ntimeuot: 5m\n---\n";
        let f = front(text);
        assert_eq!(f.problems.len(), 1);
        let p = &f.problems[0];
        assert_eq!(p.message, "unknown front matter key `timeuot`");
        assert_eq!(p.help.as_deref(), Some("did you mean `timeout`?"));
        assert_eq!(&text[p.span.clone()], "timeuot: 5m");
    }

    #[test]
    fn not_front_matter_is_plain_markdown() {
        for text in [
            "---\n\nA thematic break\n",
            "---\nTitle\n---\n",
            "text\n---\na: b\n---\n",
            "---\n- a\n- b\n---\n",
        ] {
            let f = front(text);
            assert_eq!(f.body_start, 0, "{text:?}");
            assert!(f.problems.is_empty());
        }
        assert_eq!(front("---\n---\nbody").body_start, 8);
    }

    #[test]
    fn positions_count_characters() {
        let text = "---\ntitle: \"ééé\" x: y\n---\n";
        let f = front(text);
        assert_eq!(f.problems.len(), 1, "{:?}", f.problems);
        let span = f.problems[0].span.clone();
        assert!(text.is_char_boundary(span.start) && text.is_char_boundary(span.end));
    }

    #[test]
    fn bad_values_and_broken_yaml() {
        let f = front("---\ntimeout: soon\n---\n");
        assert_eq!(f.problems[0].code, "bad-duration");
        let f = front("---\nenv: [a, b]\n---\n");
        assert_eq!(
            f.problems[0].message,
            "`env` must be a mapping of NAME: value"
        );
        let f = front("---\ntitle: [unclosed\n---\n");
        assert_eq!(f.problems[0].code, "bad-front-matter");
        let f = front("---\ntitle: a\ntitle: b\n---\n");
        assert_eq!(
            f.problems[0].message,
            "front matter is not valid YAML: duplicate mapping key: title"
        );
        assert_eq!(f.problems[0].span.start, "---\ntitle: a\n".len());
    }

    #[test]
    fn keys_written_for_other_tools_are_kept_not_refused() {
        let text = "---\ntitle: Alert\nweight: 20\nmenu:\n  main: { parent: runbooks }\nid: intro\nslug: /intro\nsidebar_position: 2\ndescription: what to do\ndate: 2024-01-01\nauthor: me\ndraft: true\ntags: [a, b]\nlayout: doc\nms.author: someone\nms.topic: quickstart\nurl: /x\ndefaults: { timeout: 1 }\n---\n";
        let f = front(text);
        assert!(f.problems.is_empty(), "{:?}", f.problems);
        assert_eq!(f.front.title.as_deref(), Some("Alert"));
        let extra: Vec<&str> = f.front.extra.keys().map(String::as_str).collect();
        assert_eq!(
            extra,
            [
                "author",
                "date",
                "defaults",
                "description",
                "draft",
                "id",
                "layout",
                "menu",
                "ms.author",
                "ms.topic",
                "sidebar_position",
                "slug",
                "tags",
                "url",
                "weight"
            ]
        );
        assert_eq!(f.front.extra["menu"]["main"]["parent"], "runbooks");
        assert_eq!(f.front.extra["weight"], 20);
    }

    #[test]
    fn misspellings_of_runsheet_keys_are_still_errors_with_a_suggestion() {
        for (key, want) in [
            ("timout", "timeout"),
            ("requries", "requires"),
            ("shel", "shell"),
            ("titel", "title"),
            ("envs", "env"),
            ("reddact", "redact"),
            ("input", "inputs"),
        ] {
            let f = front(&format!("---\n{key}: x\n---\n"));
            assert_eq!(f.problems.len(), 1, "{key}: {:?}", f.problems);
            assert_eq!(
                f.problems[0].message,
                format!("unknown front matter key `{key}`")
            );
            assert_eq!(
                f.problems[0].help.as_deref(),
                Some(format!("did you mean `{want}`?").as_str()),
                "{key}"
            );
        }
        // ... and short or unrelated keys of other tools are not.
        for key in [
            "id", "url", "cwds_x", "date", "tags", "draft", "slug", "type", "menu", "weight",
            "Title", "images", "aliases", "status", "owner",
        ] {
            let f = front(&format!("---\n{key}: x\n---\n"));
            assert!(f.problems.is_empty(), "{key}: {:?}", f.problems);
            assert!(f.front.extra.contains_key(key), "{key}");
        }
    }

    #[test]
    fn runsheet_keys_may_stand_under_their_own_mapping() {
        let text = "---\ntitle: Site page\nenv: production\ntimeout: whenever\nrunsheet:\n  env: { REGION: eu }\n  timeout: 5m\n---\n";
        let f = front(text);
        assert!(f.problems.is_empty(), "{:?}", f.problems);
        assert_eq!(f.front.env["REGION"], "eu");
        assert_eq!(f.front.timeout, Some(Duration::from_secs(300)));
        // The site's keys go to extra; its title still names the runbook.
        assert_eq!(f.front.extra["env"], "production");
        assert_eq!(f.front.title.as_deref(), Some("Site page"));
        let f = front("---\nrunsheet:\n  timout: 5m\n---\n");
        assert_eq!(
            f.problems[0].message,
            "unknown key `timout` under `runsheet`"
        );
        assert_eq!(
            f.problems[0].help.as_deref(),
            Some("did you mean `timeout`?")
        );
        assert_eq!(
            &"---\nrunsheet:\n  timout: 5m\n---\n"[f.problems[0].span.clone()],
            "timout: 5m"
        );
        let f = front("---\nrunsheet: 3\n---\n");
        assert_eq!(
            f.problems[0].message,
            "`runsheet` must be a mapping of runsheet's keys"
        );
    }

    #[test]
    fn hugo_toml_front_matter() {
        let text = "+++\ntitle = \"Alert down\"\nweight = 10\ndate = 2024-02-03T10:00:00Z\ntimeout = \"2m\"\n\n[menu.main]\nparent = \"x\"\n+++\n# Heading\n";
        let f = front(text);
        assert!(f.problems.is_empty(), "{:?}", f.problems);
        assert_eq!(&text[f.body_start..], "# Heading\n");
        assert_eq!(f.front.title.as_deref(), Some("Alert down"));
        assert_eq!(f.front.timeout, Some(Duration::from_secs(120)));
        assert_eq!(f.front.extra["date"], "2024-02-03T10:00:00Z");
        assert_eq!(f.front.extra["menu"]["main"]["parent"], "x");
        let bad = "+++\ntimout = \"2m\"\n+++\n";
        let f = front(bad);
        assert_eq!(
            f.problems[0].help.as_deref(),
            Some("did you mean `timeout`?")
        );
        assert_eq!(&bad[f.problems[0].span.clone()], "timout = \"2m\"");
        let broken = "+++\ntitle = \n+++\n";
        let f = front(broken);
        assert_eq!(f.problems[0].code, "bad-front-matter");
        assert!(
            f.problems[0]
                .message
                .starts_with("front matter is not valid TOML"),
            "{}",
            f.problems[0].message
        );
        // `+++` that never closes is Markdown.
        assert_eq!(front("+++\ntext\n").body_start, 0);
    }

    #[test]
    fn a_byte_order_mark_and_crlf_line_ends_keep_the_front_matter() {
        let text = "\u{feff}---\r\ntitle: Windows\r\ntimeout: 1m\r\n---\r\n# Body\r\n";
        let f = front(text);
        assert!(f.problems.is_empty(), "{:?}", f.problems);
        assert_eq!(f.front.title.as_deref(), Some("Windows"));
        assert_eq!(f.front.timeout, Some(Duration::from_secs(60)));
        assert_eq!(&text[f.body_start..], "# Body\r\n");
        let bad = "\u{feff}---\r\ntimout: 1m\r\n---\r\n";
        let f = front(bad);
        assert_eq!(&bad[f.problems[0].span.clone()], "timout: 1m");
        // A mark before plain Markdown is skipped too.
        assert_eq!(front("\u{feff}# Title\n").body_start, 3);
    }

    #[test]
    fn inputs_in_every_form() {
        let text = "---\ninputs:\n  GITHUB_USER: { description: your login, default: octocat }\n  API_TOKEN: { secret: true }\n  REGION: eu-west-1\n  PLAIN:\n---\n";
        let f = front(text);
        assert!(f.problems.is_empty(), "{:?}", f.problems);
        let i = &f.front.inputs;
        assert_eq!(i.len(), 4);
        assert_eq!((i[0].name.as_str(), i[0].line), ("GITHUB_USER", 3));
        assert_eq!(i[0].description.as_deref(), Some("your login"));
        assert_eq!(i[0].default.as_deref(), Some("octocat"));
        assert!(i[1].secret && i[1].default.is_none());
        assert_eq!(i[2].default.as_deref(), Some("eu-west-1"));
        assert_eq!(i[3].default, None);
        assert!(i.iter().all(|i| i.steps.is_empty()));
        // A secret input's value is masked like a `redact:` name's.
        assert_eq!(f.front.redact, ["API_TOKEN"]);
        let f = front("---\ninputs: [A, B]\n---\n");
        assert_eq!(f.front.inputs.len(), 2);
        for (bad, message) in [
            ("inputs: 3", "`inputs` must be a mapping"),
            (
                "inputs: { 9X: {} }",
                "input `9X` is not an environment variable name",
            ),
            (
                "inputs: { A: { secrit: true } }",
                "input `A` has an unknown key `secrit`",
            ),
            (
                "inputs: { A: { secret: maybe } }",
                "`secret` of input `A` must be true or false",
            ),
        ] {
            let f = front(&format!("---\n{bad}\n---\n"));
            assert!(
                f.problems[0].message.starts_with(message),
                "{bad}: {:?}",
                f.problems
            );
        }
    }

    #[test]
    fn runme_front_matter() {
        let f = front("---\nrunme:\n  id: 01HF7BT3HD84GWTQB9008APC3C\n  version: v3\nshell: ksh\ncwd: ../..\nskipPrompts: true\n---\n");
        assert!(f.problems.is_empty(), "{:?}", f.problems);
        assert!(f.runme && f.skip_prompts);
        assert_eq!(f.front.shell.as_deref(), Some("ksh"));
        assert_eq!(f.front.cwd.as_deref(), Some("../.."));
        assert_eq!(f.front.extra["runme"]["version"], "v3");
        assert!(!front("---\nskipPrompts: false\n---\n").skip_prompts);
    }
}
