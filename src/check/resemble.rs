//! Innovation Engine's expected outputs, judged as Innovation Engine judges
//! them: a Jaro-Winkler similarity of at least the comment's score between the
//! trimmed expected and actual texts (JSON compared with its keys sorted), or a
//! regex search of the output with `$NAME` standing for the variable's value.

use std::collections::BTreeMap;

use crate::exec::Outcome;
use crate::model::Similarity;
use crate::parse::is_variable_name;
use crate::record::CheckRecord;

use super::{bounded_diff, normalise, normalise_bytes};

/// The record kind of a scored expected output (`check --update` rewrites it).
pub const KIND_SCORE: &str = "similarity";
/// The record kind of a regex expected output (never rewritten: its block is
/// only an example).
pub const KIND_REGEX: &str = "regex-search";

pub(super) fn judge(
    line: usize,
    expected: &str,
    want: &Similarity,
    json: bool,
    outcome: &Outcome,
) -> CheckRecord {
    let actual = normalise_bytes(&outcome.combined);
    match want {
        Similarity::Score { min } => scored(line, expected, *min, json, &actual),
        Similarity::Regex { regex } => searched(line, regex, &actual, outcome),
    }
}

fn scored(line: usize, expected: &str, min: f64, json: bool, actual: &str) -> CheckRecord {
    let expected = normalise(expected);
    let score = similarity(expected.trim(), actual.trim(), json);
    let passed = score >= min;
    let message = if passed {
        format!("output is {score:.2} similar to the expected block (needs {min})")
    } else {
        format!("output is only {score:.2} similar to the expected block; it needs {min} (Jaro-Winkler)")
    };
    CheckRecord {
        kind: KIND_SCORE.into(),
        line,
        passed,
        message,
        diff: (!passed).then(|| scored_diff(expected.trim(), actual.trim(), score, min)),
        actual: Some(actual.to_string()),
    }
}

/// Jaro-Winkler similarity, from 0 to 1. JSON that parses on both sides is
/// compared in one canonical form, so key order and spacing do not count.
pub fn similarity(expected: &str, actual: &str, json: bool) -> f64 {
    if json {
        let parse = |t: &str| serde_json::from_str::<serde_json::Value>(t).ok();
        if let (Some(e), Some(a)) = (parse(expected), parse(actual)) {
            return strsim::jaro_winkler(&e.to_string(), &a.to_string());
        }
    }
    strsim::jaro_winkler(expected, actual)
}

/// The diff of the trimmed texts, its headers saying the score reached and
/// the one needed.
fn scored_diff(expected: &str, actual: &str, score: f64, min: f64) -> String {
    let expected = format!("{expected}\n");
    let actual = format!("{actual}\n");
    let body = bounded_diff(
        &expected,
        &actual,
        (
            &format!("expected (similarity needed: {min})"),
            &format!("actual (similarity: {score:.2})"),
        ),
    );
    if body.is_empty() {
        format!("--- expected (similarity needed: {min})\n+++ actual (similarity: {score:.2})\n")
    } else {
        body
    }
}

fn searched(line: usize, regex: &str, actual: &str, outcome: &Outcome) -> CheckRecord {
    let vars: BTreeMap<String, String> = outcome
        .state
        .env
        .iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
        .collect();
    let pattern = expand(regex, &|name| {
        vars.get(name).cloned().or_else(|| std::env::var(name).ok())
    });
    let (passed, message) = match regex::Regex::new(&pattern) {
        Ok(re) if re.is_match(actual) => (true, format!("output matches /{regex}/")),
        Ok(_) => (false, format!("output does not match /{regex}/")),
        Err(e) => (
            false,
            format!(
                "/{pattern}/ is not a valid regex: {}",
                e.to_string().lines().last().unwrap_or("").trim()
            ),
        ),
    };
    CheckRecord {
        kind: KIND_REGEX.into(),
        line,
        passed,
        message,
        diff: None,
        actual: (!passed).then(|| actual.to_string()),
    }
}

/// `$NAME` and `${NAME}` replaced by `value(NAME)` (nothing when unset), and
/// `\$` left as the regex's own `$`, as Innovation Engine expands its regexes.
/// A `$` before anything else (`foo$`, `$)`) is the regex's own too.
pub fn expand(pattern: &str, value: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut rest = pattern;
    while let Some(i) = rest.find(['$', '\\']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("\\$") {
            out.push('$');
            rest = after;
            continue;
        }
        if tail.starts_with('\\') {
            let len = tail.chars().nth(1).map_or(1, |c| 1 + c.len_utf8());
            out.push_str(&tail[..len]);
            rest = &tail[len..];
            continue;
        }
        let after = &tail[1..];
        let (name, used) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) if is_variable_name(&braced[..end]) => (&braced[..end], end + 2),
                _ => ("", 0),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            let name = &after[..end];
            if is_variable_name(name) {
                (name, end)
            } else {
                ("", 0)
            }
        };
        if name.is_empty() {
            out.push('$');
            rest = after;
        } else {
            out.push_str(&value(name).unwrap_or_default());
            rest = &after[used..];
        }
    }
    out.push_str(rest);
    out
}
