//! YAML front matter (SPEC §1.1): only when the first line is `---`, a later
//! line `---` closes it and what stands between is a YAML mapping. Anything else
//! is plain Markdown (a thematic break, a setext heading).

use std::collections::HashMap;
use std::ops::Range;

use serde_json::Value;
use serde_saphyr::Spanned;

use crate::model::FrontMatter;
use crate::source::Source;

use super::attrs::{did_you_mean, Problem};

const KEYS: &[&str] = &[
    "title", "shell", "cwd", "env", "timeout", "requires", "redact",
];

#[derive(Debug, Default)]
pub(crate) struct Front {
    pub(crate) front: FrontMatter,
    /// Where the Markdown starts: after the closing `---` line, or 0.
    pub(crate) body_start: usize,
    /// Problems with absolute byte spans.
    pub(crate) problems: Vec<Problem>,
    /// Each key's line (key to end of line), in file order.
    pub(crate) keys: Vec<(String, Range<usize>)>,
}

pub(crate) fn front_matter(source: &Source) -> Front {
    let Some((yaml, body_start)) = split(&source.text) else {
        return Front::default();
    };
    // The YAML starts on line 2 of the file.
    let at = |line: u64, col: u64| -> Range<usize> {
        let line_start = source.line_start(line as usize + 1);
        let rest = &source.text[line_start..];
        let line_end = rest
            .find('\n')
            .map_or(source.text.len(), |i| line_start + i);
        // Columns count characters, not bytes.
        let start = rest
            .char_indices()
            .nth(col.saturating_sub(1) as usize)
            .map_or(line_end, |(i, _)| (line_start + i).min(line_end));
        start..line_end
    };
    let mut out = Front {
        body_start,
        ..Front::default()
    };
    match serde_saphyr::from_str::<Value>(yaml) {
        Ok(Value::Object(_)) => {}
        Ok(Value::Null) => return out,
        Ok(_) => return Front::default(),
        Err(e) if looks_like_mapping(yaml) => {
            let span = e.location().map_or(0..3, |l| at(l.line(), l.column()));
            out.problems.push(problem(
                span,
                "bad-front-matter",
                format!(
                    "front matter is not valid YAML: {}",
                    first_line(&e.to_string())
                ),
                None,
            ));
            return out;
        }
        Err(_) => return Front::default(),
    }
    let entries: HashMap<Spanned<String>, Value> = match serde_saphyr::from_str(yaml) {
        Ok(m) => m,
        Err(e) => {
            let span = e.location().map_or(0..3, |l| at(l.line(), l.column()));
            out.problems.push(problem(
                span,
                "bad-front-matter",
                format!(
                    "front matter keys must be strings: {}",
                    first_line(&e.to_string())
                ),
                None,
            ));
            return out;
        }
    };
    let mut entries: Vec<_> = entries.into_iter().collect();
    entries.sort_by_key(|(k, _)| (k.referenced.line(), k.referenced.column()));
    for (key, value) in entries {
        let span = at(key.referenced.line(), key.referenced.column());
        out.keys.push((key.value.clone(), span.clone()));
        if let Err(p) = set(&mut out.front, &key.value, value, span) {
            out.problems.push(p);
        }
    }
    out
}

/// The YAML between the fences and the offset after the closing line.
fn split(text: &str) -> Option<(&str, usize)> {
    let first_end = text.find('\n')?;
    if text[..first_end].trim_end() != "---" {
        return None;
    }
    let yaml_start = first_end + 1;
    let mut pos = yaml_start;
    while pos < text.len() {
        let end = text[pos..].find('\n').map_or(text.len(), |i| pos + i);
        if text[pos..end].trim_end() == "---" {
            return Some((&text[yaml_start..pos], (end + 1).min(text.len())));
        }
        pos = end + 1;
    }
    None
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
        "redact" => front.redact = list(value).ok_or_else(|| wrong("a list of variable names"))?,
        _ => {
            let help = match did_you_mean(key, KEYS) {
                Some(k) => format!("did you mean `{k}`?"),
                None => format!("known keys: {}", KEYS.join(", ")),
            };
            return Err(problem(
                span,
                "unknown-front-matter-key",
                format!("unknown front matter key `{key}`"),
                Some(help),
            ));
        }
    }
    Ok(())
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
}
