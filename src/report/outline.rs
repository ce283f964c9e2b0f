//! `runsheet list`: the runbook as an outline for people, and as JSON (SPEC §6)
//! for tools.

use std::collections::HashMap;

use serde_json::Value;

use crate::model::{Check, Runbook, Step, StepKind};

use super::Palette;

/// The readable outline: sections as an indented tree, each with its steps
/// (id, line, first command line, checks) and missing steps in document order.
pub fn outline(palette: &Palette, rb: &Runbook) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "{} {}\n",
        palette.strong(&rb.title),
        palette.dim(&format!("({})", rb.path.display()))
    ));
    let checks: usize = rb.steps.iter().map(check_count).sum();
    out.push_str(&format!(
        "{}, {}, {}\n",
        count(rb.steps.len(), "step"),
        count(checks, "check"),
        count(rb.todos.len(), "missing step"),
    ));
    if !rb.front.inputs.is_empty() {
        out.push_str(&format!("{}\n", inputs_line(palette, &rb.front.inputs)));
    }
    let mut bodies = bodies(palette, rb);
    let depths = depths(rb);
    let top = take(&mut bodies, None);
    if !top.is_empty() {
        out.push('\n');
        out.push_str(&top);
    }
    for section in &rb.sections {
        let depth = depths.get(section.id.as_str()).copied().unwrap_or(0);
        let pad = "  ".repeat(depth);
        out.push_str(&format!(
            "\n{pad}{} {} {}\n",
            palette.strong(&section.title),
            palette.accent(&format!("#{}", section.id)),
            palette.dim(&format!("line {}", section.line)),
        ));
        out.push_str(&take(&mut bodies, Some(&section.id)));
    }
    out
}

/// `inputs: API_TOKEN (secret), REGION [eu-west-1]`
fn inputs_line(palette: &Palette, inputs: &[crate::model::Input]) -> String {
    let each: Vec<String> = inputs
        .iter()
        .map(|i| {
            let mut text = i.name.clone();
            if i.secret {
                text.push_str(" (secret)");
            } else if let Some(d) = &i.default {
                text.push_str(&format!(" [{d}]"));
            }
            text
        })
        .collect();
    format!("{} {}", palette.dim("inputs:"), each.join(", "))
}

/// Checks on a step, each expectation of a console transcript included.
fn check_count(step: &Step) -> usize {
    let console = match &step.kind {
        StepKind::Console { commands, .. } => commands
            .iter()
            .filter(|c| c.expected.is_some() || c.exit.is_some())
            .count(),
        _ => 0,
    };
    step.checks.len() + console
}

fn count(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// The lines of each section's own steps and TODOs, in line order, keyed by
/// section id (`None`: before the first heading). Built in one pass: a long
/// runbook has thousands of sections.
fn bodies<'a>(
    palette: &Palette,
    rb: &'a Runbook,
) -> HashMap<Option<&'a str>, Vec<(usize, String)>> {
    let depths = depths(rb);
    let depth_of =
        |section: Option<&str>| section.map_or(0, |id| depths.get(id).map_or(0, |d| d + 1));
    let mut map: HashMap<Option<&str>, Vec<(usize, String)>> = HashMap::new();
    for step in &rb.steps {
        let depth = depth_of(step.section.as_deref());
        let pad = "  ".repeat(depth);
        map.entry(step.section.as_deref())
            .or_default()
            .push((step.line, step_line(palette, step, &pad)));
    }
    for todo in &rb.todos {
        let depth = depth_of(todo.section.as_deref());
        let pad = "  ".repeat(depth);
        let text = format!(
            "{pad}{} {} {}\n",
            palette.warning("missing step"),
            palette.dim(&format!("line {}", todo.line)),
            todo.text
        );
        map.entry(todo.section.as_deref())
            .or_default()
            .push((todo.line, text));
    }
    for lines in map.values_mut() {
        lines.sort_by_key(|(line, _)| *line);
    }
    map
}

/// How deep each section sits in the tree (0 for a top section). Parents come
/// before their children, so one pass suffices.
fn depths(rb: &Runbook) -> HashMap<&str, usize> {
    let mut depths: HashMap<&str, usize> = HashMap::new();
    for s in &rb.sections {
        let d = s
            .parent
            .as_deref()
            .and_then(|p| depths.get(p))
            .map_or(0, |d| d + 1);
        depths.insert(&s.id, d);
    }
    depths
}

fn take<'a>(
    bodies: &mut HashMap<Option<&'a str>, Vec<(usize, String)>>,
    section: Option<&'a str>,
) -> String {
    bodies
        .remove(&section)
        .unwrap_or_default()
        .into_iter()
        .map(|(_, text)| text)
        .collect()
}

fn step_line(palette: &Palette, step: &Step, pad: &str) -> String {
    let mut flags = Vec::new();
    let o = &step.options;
    for (on, name) in [
        (o.setup, "setup"),
        (o.skip, "skip"),
        (o.manual, "manual"),
        (o.interactive, "interactive"),
        (o.confirm, "confirm"),
        (o.background, "background"),
        (o.exclude_from_run_all, "only with --step"),
    ] {
        if on {
            flags.push(name.to_string());
        }
    }
    if !o.tags.is_empty() {
        flags.push(format!("tags: {}", o.tags.join(",")));
    }
    if let Some(cwd) = &o.cwd {
        flags.push(format!("cwd: {cwd}"));
    }
    if let Some(t) = o.timeout {
        flags.push(format!("timeout: {}", humantime::format_duration(t)));
    }
    if o.exit != crate::model::ExitExpect::default() {
        flags.push(format!("exit: {}", o.exit));
    }
    if o.retry > 0 {
        flags.push(format!(
            "retry: {} every {}",
            o.retry,
            humantime::format_duration(o.retry_delay())
        ));
    }
    let flags = if flags.is_empty() {
        String::new()
    } else {
        format!(" {}", palette.dim(&format!("[{}]", flags.join("; "))))
    };
    let mut text = format!(
        "{pad}{} {} {} {}{flags}\n",
        palette.success("step"),
        palette.accent(&step.id),
        palette.dim(&format!("line {}", step.line)),
        first_command(step),
    );
    for check in &step.checks {
        text.push_str(&format!(
            "{pad}  {} {} {}\n",
            palette.dim("check"),
            palette.dim(&format!("line {}", check.line())),
            describe(check)
        ));
    }
    if let StepKind::Console { commands, .. } = &step.kind {
        for c in commands
            .iter()
            .filter(|c| c.expected.is_some() || c.exit.is_some())
        {
            let exit = c
                .exit
                .as_ref()
                .map_or(String::new(), |e| format!(" (exit {e})"));
            text.push_str(&format!(
                "{pad}  {} {} output of `{}`{exit}\n",
                palette.dim("check"),
                palette.dim(&format!("line {}", c.line)),
                first_line(&c.command),
            ));
        }
    }
    text
}

/// What the step runs, in one line: the first line of its first command.
fn first_command(step: &Step) -> String {
    let cmd = match &step.kind {
        StepKind::Console { commands, .. } => commands
            .first()
            .map(|c| format!("$ {}", c.command))
            .unwrap_or_default(),
        StepKind::Interpreter { program } => format!("({program}) {}", first_code_line(&step.code)),
        StepKind::Shell { .. } => first_code_line(&step.code).to_string(),
    };
    let more = step.code.trim().lines().count() > 1;
    let line = first_line(&cmd);
    if more {
        format!("{line} …")
    } else {
        line.to_string()
    }
}

fn first_code_line(code: &str) -> &str {
    code.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .or_else(|| code.lines().find(|l| !l.trim().is_empty()))
        .unwrap_or("")
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

fn describe(check: &Check) -> String {
    match check {
        Check::Output { mode, stream, .. } => {
            let mode = serde_json::to_value(mode).ok();
            let stream = serde_json::to_value(stream).ok();
            let s = |v: Option<Value>| {
                v.and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            };
            format!("output block, match {}, stream {}", s(mode), s(stream))
        }
        Check::Contains { text, .. } => format!("contains {text:?}"),
        Check::NotContains { text, .. } => format!("does not contain {text:?}"),
        Check::Matches { regex, .. } => format!("matches /{regex}/"),
        Check::Similar { want, .. } => match want {
            crate::model::Similarity::Score { min } => {
                format!("output block, similarity at least {min}")
            }
            crate::model::Similarity::Regex { regex } => {
                format!("output matches /{regex}/ (the block is an example)")
            }
        },
    }
}

/// The pretty-printed JSON document (SPEC §6).
pub fn json(rb: &Runbook) -> String {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail, and every value serialises.
    let _ = write_json(rb, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

pub use super::listjson::write_json;
