//! Runbooks written for other tools, read as those tools read them (SPEC §1.3):
//! Runme's attributes and prompts, Innovation Engine's languages, expected
//! outputs and variables. Everything here lands in the same model as
//! runsheet's own syntax; nothing downstream knows where an attribute came from.

use std::ops::Range;

use pulldown_cmark::{CodeBlockKind, Event, Parser, Tag};

use super::attrs::{self, typo_of, valid_id, Attr, Problem, StepAttrs, Style};
use super::hidden::comments;
use super::walk::options;

/// Cell attributes only Runme writes. (`interactive` and `background` are
/// Runme's when they carry a value: runsheet's are bare flags.)
pub(crate) const RUNME_KEYS: &[&str] = &[
    "name",
    "excludeFromRunAll",
    "promptEnv",
    "interpreter",
    "terminalRows",
    "closeTerminalOnSuccess",
    "mimeType",
    "category",
    "tag",
];

/// Runme keys runsheet acts on, for "did you mean" on a misspelt one.
const RUNME_ACTED_ON: &[&str] = &[
    "name",
    "excludeFromRunAll",
    "promptEnv",
    "interpreter",
    "interactive",
    "background",
    "cwd",
    "category",
    "tag",
];

/// Innovation Engine's step languages: `bash`, the Azure CLI's, PowerShell's.
const IE_LANGS: &[&str] = &[
    "azurecli",
    "azurecli-interactive",
    "azurepowershell-interactive",
];

/// Which tools' conventions a runbook follows, decided once for the file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Dialect {
    /// Runme's: a `runme:` front matter key, or Runme attributes on a fence.
    pub(crate) runme: bool,
    /// Innovation Engine's: an Azure CLI or PowerShell block, or an
    /// `expected_similarity` comment.
    pub(crate) ie: bool,
    /// Runme's front matter `skipPrompts: true`: placeholders are not asked
    /// for; they keep the value written.
    pub(crate) skip_prompts: bool,
}

impl Dialect {
    /// Looks through the fences and HTML blocks of `body` once.
    pub(crate) fn detect(body: &str, runme_front: bool, skip_prompts: bool) -> Dialect {
        let mut d = Dialect {
            runme: runme_front,
            ie: false,
            skip_prompts,
        };
        if !may_be_foreign(body) {
            return d;
        }
        for event in Parser::new_ext(body, options()) {
            match event {
                Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))) => {
                    let parsed = attrs::parse_info(&info);
                    d.ie |= IE_LANGS.contains(&parsed.lang.as_str());
                    d.runme |= parsed.style == Style::Runme;
                }
                Event::Html(h) | Event::InlineHtml(h) => d.ie |= h.contains("expected_similarity"),
                _ => {}
            }
        }
        d
    }

    /// How a block of `lang` runs when the dialect makes it a step without
    /// runsheet's `run`; `None`: it is not a step.
    pub(crate) fn runs(&self, lang: &str) -> Option<Runs> {
        if self.ie {
            match lang {
                "bash" => return Some(Runs::Shell(None)),
                "azurecli" | "azurecli-interactive" => {
                    return Some(Runs::Shell(Some("bash".into())))
                }
                "azurepowershell-interactive" => return Some(Runs::Program("pwsh".into())),
                _ => {}
            }
        }
        if self.runme {
            return runme_lang(lang);
        }
        // Innovation Engine runs no other language.
        if !self.ie && super::walk::is_shell_lang(lang) {
            return Some(Runs::Shell(None));
        }
        None
    }

    /// Whether a `bash` block whose first line has a `$ ` prompt is a
    /// transcript. Runme strips the prompts and runs the lines as a script
    /// (see `script`); Innovation Engine runs the block as written.
    pub(crate) fn prompts_make_transcripts(&self) -> bool {
        !self.runme && !self.ie
    }

    /// Whether a plain `output` block after a step checks it. Innovation
    /// Engine compares only the blocks its comments point at; the rest are
    /// examples.
    pub(crate) fn output_blocks_check(&self) -> bool {
        !self.ie
    }

    /// Which `export` lines of a step ask for an input.
    pub(crate) fn asks(&self, prompt_env: Option<bool>) -> Asks {
        if self.skip_prompts || prompt_env == Some(false) || self.ie && !self.runme {
            Asks::Never
        } else if self.runme {
            Asks::Literals
        } else {
            Asks::Empty
        }
    }
}

/// Whether `body` may hold a Runme or Innovation Engine marker; `false` is
/// certain, so the exact look (a second full parse, an eighth of `list`'s
/// time on a large file) is skipped. Every fence's info string is the text
/// after the first run of three backticks or tildes on its line; one with a
/// backslash or an entity, which the parser would rewrite, counts as foreign.
///
/// The searches are memchr's vectorised ones: `str::contains` over a 10 MB
/// file, four times, showed in the profile of `list`. Only an info string
/// with braces can be Runme's.
fn may_be_foreign(body: &str) -> bool {
    let has = |needle: &str| memchr::memmem::find(body.as_bytes(), needle.as_bytes()).is_some();
    // Each look is a scan of the whole text: one for what every language
    // of Innovation Engine's starts with, then each only if that is there.
    if has("expected_similarity") || has("azure") && IE_LANGS.iter().any(|l| has(l)) {
        return true;
    }
    fence_infos(body, "```")
        .chain(fence_infos(body, "~~~"))
        .any(|info| {
            info.contains(['\\', '&'])
                || info.contains('{')
                    && names_a_runme_key(info)
                    && attrs::parse_info(info).style == Style::Runme
        })
}

/// Whether `info` holds a word only Runme's attributes use, or a quote (its
/// JSON form): without one, reading the attributes cannot find Runme's.
/// Reading them for every block of a large runbook took 12 ms of `list`.
fn names_a_runme_key(info: &str) -> bool {
    info.contains('"')
        || info
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .any(|word| {
                RUNME_KEYS.contains(&word) || matches!(word, "interactive" | "background" | "id")
            })
}

/// What follows the first run of `marker` on each line holding one, trimmed.
fn fence_infos<'a>(body: &'a str, marker: &'static str) -> impl Iterator<Item = &'a str> {
    let ch = marker.chars().next().unwrap_or('`');
    let finder = memchr::memmem::Finder::new(marker.as_bytes());
    let mut rest = body;
    std::iter::from_fn(move || {
        let at = finder.find(rest.as_bytes())?;
        let line_end = memchr::memchr(b'\n', &rest.as_bytes()[at..]).map_or(rest.len(), |n| at + n);
        let info = rest[at..line_end].trim_start_matches(ch).trim();
        rest = &rest[line_end..];
        Some(info)
    })
}

/// How a dialect runs a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Runs {
    /// A shell, state carried; `None`: the language's own (`shell:` applies).
    Shell(Option<String>),
    /// The code in a file passed to this program.
    Program(String),
}

/// Runme's languages (its interpreter table).
fn runme_lang(lang: &str) -> Option<Runs> {
    Some(match lang {
        "sh" | "bash" | "shell" | "shellscript" | "zsh" => Runs::Shell(None),
        "ksh" | "fish" => Runs::Shell(Some(lang.into())),
        "js" | "javascript" | "jsx" | "javascriptreact" => Runs::Program("node".into()),
        "ts" | "typescript" | "tsx" | "typescriptreact" => Runs::Program("ts-node".into()),
        "python" | "py" => Runs::Program("python3".into()),
        "ruby" | "rb" => Runs::Program("ruby".into()),
        "perl" | "lua" | "php" => Runs::Program(lang.into()),
        _ => return None,
    })
}

/// Programs that are shells: an `interpreter` naming one keeps the shell
/// state carried between steps.
pub(crate) fn is_shell(program: &str) -> bool {
    matches!(
        program,
        "bash" | "sh" | "zsh" | "ksh" | "dash" | "ash" | "mksh" | "fish"
    )
}

/// A Runme cell id: a ULID, 26 letters of Crockford's base 32.
pub(crate) fn is_ulid(s: &str) -> bool {
    s.len() == 26
        && s.bytes().all(|b| {
            b.is_ascii_digit()
                || (b.is_ascii_alphabetic()
                    && !matches!(b.to_ascii_uppercase(), b'I' | b'L' | b'O' | b'U'))
        })
}

/// A Runme `name` as a step id: lower case, other characters as `-`
/// (`JWT` → `jwt`, `Build Image` → `build-image`). `None` when nothing is left.
pub(crate) fn runme_id(name: &str) -> Option<String> {
    let mut id = String::new();
    for c in name.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            id.push(c);
        } else if !id.ends_with('-') {
            id.push('-');
        }
    }
    let id = id.trim_matches(['-', '_']).to_string();
    valid_id(&id).then_some(id)
}

/// Go's `strconv.ParseBool`, which Runme reads its flags with.
fn go_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Runme's attributes (with any of runsheet's among them) as step attributes.
/// `front_cwd` is the front matter's `cwd`: Runme resolves a cell's `cwd`
/// from there. Problems with runsheet's own words are errors; everything
/// else Runme would ignore is at most a warning.
pub(crate) fn runme_step_attrs(
    attrs: &[Attr],
    front_cwd: Option<&str>,
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<Problem>,
) -> StepAttrs {
    let (ours, theirs): (Vec<Attr>, Vec<Attr>) = attrs.iter().cloned().partition(|a| {
        attrs::STEP_KEYS.contains(&a.key.as_str())
            && !(a.value.is_some()
                && matches!(a.key.as_str(), "interactive" | "background" | "cwd"))
            && !(a.key == "id" && a.value.as_deref().is_some_and(is_ulid))
    });
    let mut out = attrs::step_attrs(&ours, problems);
    out.stdin = true;
    let mut name = None;
    let mut cell_id = None;
    for attr in &theirs {
        let value = attr.value.clone().unwrap_or_default();
        let flag = go_bool(&value);
        let o = &mut out.options;
        match attr.key.as_str() {
            "name" => name = Some(value),
            "id" => cell_id = Some(value),
            "interactive" => out.stdin = flag.unwrap_or(true),
            "background" => o.background = flag.unwrap_or(false),
            "excludeFromRunAll" => o.exclude_from_run_all = flag.unwrap_or(false),
            "cwd" if !value.is_empty() => o.cwd = Some(join_cwd(front_cwd, &value)),
            "interpreter" if !value.trim().is_empty() => {
                out.interpreter = Some(value.trim().into())
            }
            "promptEnv" => {
                out.prompt_env = Some(!matches!(
                    value.to_ascii_lowercase().as_str(),
                    "false" | "no" | "0" | "never"
                ))
            }
            "tag" | "category" => o.tags.extend(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(String::from),
            ),
            key if RUNME_KEYS.contains(&key) || attrs::STEP_KEYS.contains(&key) => {}
            key => {
                let known: Vec<&str> = attrs::STEP_KEYS
                    .iter()
                    .chain(RUNME_ACTED_ON)
                    .copied()
                    .collect();
                if let Some(k) = typo_of(key, &known) {
                    warnings.push(Problem::new(
                        attr.span.clone(),
                        "unknown-attribute",
                        format!("unknown attribute `{key}` is ignored"),
                        Some(format!("did you mean `{k}`?")),
                    ));
                }
            }
        }
    }
    if out.id.is_none() {
        let span = attrs
            .iter()
            .find(|a| a.key == "name" || a.key == "id")
            .map_or(0..0, |a| a.span.clone());
        let derived = name
            .as_deref()
            .and_then(runme_id)
            .or_else(|| cell_id.as_deref().and_then(runme_id));
        if let Some(id) = derived {
            out.id = Some((id, span));
            out.derived_id = true;
        }
    }
    out
}

/// A cell's `cwd` after the front matter's, as Runme resolves it: an
/// absolute one stands alone.
fn join_cwd(front: Option<&str>, cell: &str) -> String {
    match front {
        Some(f) if !cell.starts_with('/') && !f.is_empty() => {
            format!("{}/{cell}", f.trim_end_matches('/'))
        }
        _ => cell.to_string(),
    }
}

/// Which `export NAME=...` lines ask for an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Asks {
    Never,
    /// Only `export NAME=""`: a blank left for whoever runs it.
    Empty,
    /// Runme's prompts too: `export NAME="placeholder"` offers its value.
    Literals,
}

/// One input a step's placeholder asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ask {
    pub(crate) name: String,
    /// The value written, offered as the default; `None` for `""`.
    pub(crate) default: Option<String>,
    /// 0-based line of the placeholder within the block.
    pub(crate) line: usize,
}

/// A step's script after its dialect: the placeholders it asks for, and the
/// text to run when it differs from the block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Script {
    pub(crate) asks: Vec<Ask>,
    pub(crate) script: Option<String>,
}

/// Drops Runme's `$ ` prompts (when `prompts` is set) and turns each top-level
/// placeholder `export NAME=...` that asks for an input into `export NAME`, so
/// the value supplied for the input is what the step sees. Line for line the
/// same as `code`.
pub(crate) fn script(code: &str, prompts: bool, asks: Asks) -> Script {
    let mut out = String::with_capacity(code.len());
    let mut found: Vec<Ask> = Vec::new();
    let mut continued = false;
    for (i, raw) in code.split_inclusive('\n').enumerate() {
        let body = raw.trim_end_matches(['\n', '\r']);
        let ending = &raw[body.len()..];
        let body = if prompts { strip_prompt(body) } else { body };
        let top_level = !continued;
        continued = body.ends_with('\\');
        match placeholder(body, asks).filter(|_| top_level) {
            Some((name, default)) => {
                out.push_str("export ");
                out.push_str(&name);
                out.push_str(ending);
                if !found.iter().any(|a| a.name == name) {
                    found.push(Ask {
                        name,
                        default,
                        line: i,
                    });
                }
            }
            None => {
                out.push_str(body);
                out.push_str(ending);
            }
        }
    }
    Script {
        script: (out != code).then_some(out),
        asks: found,
    }
}

/// `$ cmd` → `cmd`, as Runme runs it. A `$NAME` at the start of a line is a
/// variable, not a prompt, and stays.
fn strip_prompt(line: &str) -> &str {
    let rest = line.trim_start_matches('$');
    if rest.len() == line.len() {
        return line;
    }
    match rest.strip_prefix(' ') {
        Some(cmd) => cmd,
        None if rest.is_empty() => rest,
        None => line,
    }
}

/// `export NAME=""` (and, for Runme, `export NAME="text"`, `'text'` or a bare
/// word): the name and the value written. Lines that compute a value
/// (`$(...)`, `${...}`, `$VAR`) are ordinary commands.
fn placeholder(line: &str, asks: Asks) -> Option<(String, Option<String>)> {
    if asks == Asks::Never {
        return None;
    }
    let rest = line.strip_prefix("export ")?.trim_start();
    let (name, value) = rest.split_once('=')?;
    if !super::is_variable_name(name) {
        return None;
    }
    let value = strip_comment(value).trim_end();
    let written = if value == "\"\"" || value == "''" {
        None
    } else if asks == Asks::Literals {
        Some(literal(value)?)
    } else {
        return None;
    };
    Some((name.to_string(), written))
}

/// A trailing ` # comment` after the value.
fn strip_comment(value: &str) -> &str {
    match value.find(" #") {
        Some(i) if !value[..i].contains(['"', '\'']) || value[..i].ends_with(['"', '\'']) => {
            &value[..i]
        }
        _ => value,
    }
}

/// A value the shell would take as written: `"text"` without `$`, `` ` `` or
/// `\`, `'text'`, or one bare word.
fn literal(value: &str) -> Option<String> {
    if let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        return (!inner.contains(['"', '$', '`', '\\'])).then(|| inner.to_string());
    }
    if let Some(inner) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        return (!inner.contains('\'')).then(|| inner.to_string());
    }
    let bare = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:@%+,=-".contains(c));
    bare.then(|| value.to_string())
}

/// What an Innovation Engine comment asks of the output block after it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expect {
    Score(f64),
    Regex(String),
}

/// Every Innovation Engine comment in an HTML fragment: its range in `html`
/// and what it asks, or a warning when Innovation Engine would not understand
/// it (and so ignores it).
pub(crate) fn ie_comments(html: &str) -> Vec<(Range<usize>, Result<Expect, Problem>)> {
    let mut out = Vec::new();
    for (span, body) in comments(html) {
        let Some((key, value)) = body.split_once('=') else {
            continue;
        };
        let key = key.trim();
        let Some(kind) = expectation_key(key) else {
            continue;
        };
        let value = value.trim();
        let warn = |message: String, help: &str| {
            Err(Problem::new(
                span.clone(),
                "ignored-expectation",
                message,
                Some(help.to_string()),
            ))
        };
        let found = if let Some(quoted) = value.strip_prefix('"') {
            match quoted.rfind('"') {
                Some(end) if quoted[end + 1..].trim().is_empty() => {
                    Ok(Expect::Regex(quoted[..end].to_string()))
                }
                _ => warn(
                    format!("the regex in `{key}` has no closing quote, so Innovation Engine ignores this comment"),
                    "end it with `\"`, like `<!-- expected_similarity=\".*done\" -->`",
                ),
            }
        } else if kind == KeyKind::Exact && is_score(value) {
            match value.parse::<f64>() {
                Ok(score) if score <= 1.0 => Ok(Expect::Score(score)),
                _ => warn(
                    format!("a similarity of {value} can never be reached"),
                    "write a number from 0 to 1, like `expected_similarity=0.8`",
                ),
            }
        } else if kind == KeyKind::Exact {
            warn(
                format!("`expected_similarity={value}` is neither a number nor a quoted regex, so Innovation Engine ignores it"),
                "write `expected_similarity=0.8` or `expected_similarity=\"REGEX\"`",
            )
        } else {
            warn(
                format!("Innovation Engine reads a score only from `expected_similarity=`, so `{key}={value}` is ignored"),
                "did you mean `expected_similarity`?",
            )
        };
        out.push((span, found));
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Exact,
    /// Another spelling: Innovation Engine takes a quoted regex after any key,
    /// a score only after `expected_similarity`.
    Other,
}

fn expectation_key(key: &str) -> Option<KeyKind> {
    if key == "expected_similarity" {
        return Some(KeyKind::Exact);
    }
    let squashed: String = key
        .to_ascii_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphabetic())
        .collect();
    matches!(
        squashed.as_str(),
        "expectedsimilarity" | "expectedresults" | "expectedregex" | "expectedoutput"
    )
    .then_some(KeyKind::Other)
}

/// `\d+\.?\d*`, Innovation Engine's score.
fn is_score(value: &str) -> bool {
    let (int, frac) = value.split_once('.').unwrap_or((value, ""));
    !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

/// Innovation Engine's scenario variables: `export NAME=value` lines of a
/// ```` ```variables ```` block inside a comment, values unquoted.
pub(crate) fn ie_variables(html: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (_, body) in comments(html) {
        let Some(start) = body.find("```variables") else {
            continue;
        };
        let block = &body[start + "```variables".len()..];
        let block = block.split("```").next().unwrap_or(block);
        for line in block.lines() {
            let Some((name, value)) = line.strip_prefix("export ").and_then(|l| l.split_once('='))
            else {
                continue;
            };
            let name = name.trim();
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                continue;
            }
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(value);
            out.push((name.to_string(), value.to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests;
