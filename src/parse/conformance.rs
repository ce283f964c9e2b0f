//! The CommonMark spec's examples as a test of `blocks`: every fenced block
//! runsheet reports must be a code block of the spec's expected HTML, with the
//! same content and language.

use std::path::PathBuf;

use crate::model::Block;
use crate::source::Source;

pub(super) struct Example {
    number: usize,
    section: String,
    pub(super) markdown: String,
    html: String,
}

const FENCE: &str = "````````````````````````````````";

fn examples(spec: &str) -> Vec<Example> {
    let mut out = Vec::new();
    let mut section = String::new();
    let mut lines = spec.lines();
    while let Some(line) = lines.next() {
        if let Some(title) = line.strip_prefix("## ") {
            section = title.trim().to_string();
        }
        if line != format!("{FENCE} example") {
            continue;
        }
        let (mut markdown, mut html, mut in_html) = (String::new(), String::new(), false);
        for l in lines.by_ref() {
            if l == FENCE {
                break;
            }
            if l == "." && !in_html {
                in_html = true;
                continue;
            }
            let l = l.replace('→', "\t");
            let target = if in_html { &mut html } else { &mut markdown };
            target.push_str(&l);
            target.push('\n');
        }
        out.push(Example {
            number: out.len() + 1,
            section: section.clone(),
            markdown,
            html,
        });
    }
    out
}

/// (language, content) of every `<pre><code>` in the HTML, unescaped.
fn html_code_blocks(html: &str) -> Vec<(String, String)> {
    let re =
        regex::Regex::new(r#"(?s)<pre><code(?: class="language-([^"]*)")?>(.*?)</code></pre>"#)
            .expect("valid regex");
    re.captures_iter(html)
        .map(|c| {
            let lang = c.get(1).map_or("", |m| m.as_str());
            (unescape(lang), unescape(&c[2]))
        })
        .collect()
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

/// A fence at the left margin (up to three spaces in): not an indented block.
fn opens_a_fence(markdown: &str) -> bool {
    markdown.lines().any(|l| {
        let t = l.trim_start_matches(' ');
        l.len() - t.len() < 4 && (t.starts_with("```") || t.starts_with("~~~"))
    })
}

/// What CommonMark calls the language: the info string's first word.
fn language(block: &Block) -> String {
    block
        .info
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string()
}

/// The spec's examples, or `None` (said on stderr) when the shared corpus is
/// absent; `what` names the check that is then skipped.
pub(super) fn spec_examples(what: &str) -> Option<Vec<Example>> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/commonmark-spec.txt");
    let Ok(spec) = std::fs::read_to_string(&path) else {
        #[allow(clippy::print_stderr)]
        {
            eprintln!("note: {} is absent; {what} not checked", path.display());
        }
        return None;
    };
    let examples = examples(&spec);
    assert!(
        examples.len() > 600,
        "only {} examples read",
        examples.len()
    );
    Some(examples)
}

#[test]
fn fenced_blocks_match_the_commonmark_spec() {
    let Some(examples) = spec_examples("CommonMark conformance") else {
        return;
    };
    let mut failures = Vec::new();
    let mut fenced_examples = 0;
    let mut blocks_seen = 0;
    for ex in &examples {
        let parsed = super::parse(&Source::new("spec.md", ex.markdown.as_str()));
        let ours: Vec<(String, String)> = parsed
            .runbook
            .blocks
            .iter()
            .map(|b| (language(b), b.code.clone()))
            .collect();
        let theirs = html_code_blocks(&ex.html);
        blocks_seen += ours.len();
        let ok = if ex.section == "Fenced code blocks" && opens_a_fence(&ex.markdown) {
            fenced_examples += 1;
            ours == theirs
        } else {
            // Indented code blocks render as <pre><code> too: ours must appear
            // among theirs, in order.
            let mut rest = theirs.iter();
            ours.iter().all(|b| rest.any(|t| t == b))
        };
        if !ok {
            failures.push(format!(
                "example {} ({}):\n{}\nours:   {ours:?}\ntheirs: {theirs:?}",
                ex.number, ex.section, ex.markdown
            ));
        }
    }
    // Guards against a test that passes by reading nothing.
    assert!(fenced_examples >= 25, "{fenced_examples} fenced examples");
    assert!(blocks_seen >= 30, "{blocks_seen} blocks seen");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
