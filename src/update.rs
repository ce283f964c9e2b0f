//! In-place rewrites of a runbook (`lint --fix`, `check --update`): replace given
//! byte spans, leaving every other byte of the file as it was.

use std::path::Path;

use crate::model::{Check, MatchMode, Runbook, Step, StepKind};
use crate::record::RunRecord;
use crate::source::{LineEnding, Source, Span};

/// One replacement of `span` in the original text by `text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub span: Span,
    pub text: String,
}

/// Applies non-overlapping edits to `original`. Edits may come in any order;
/// overlapping ones are a bug in the caller and are refused.
pub fn apply(original: &str, edits: &[Edit]) -> Result<String, String> {
    let mut sorted: Vec<&Edit> = edits.iter().collect();
    sorted.sort_by_key(|e| (e.span.start, e.span.end));
    let mut out = String::with_capacity(original.len());
    let mut pos = 0;
    for e in sorted {
        if e.span.start < pos || e.span.end > original.len() || e.span.start > e.span.end {
            return Err(format!(
                "overlapping or out-of-range edit at byte {}",
                e.span.start
            ));
        }
        out.push_str(&original[pos..e.span.start]);
        out.push_str(&e.text);
        pos = e.span.end;
    }
    out.push_str(&original[pos..]);
    Ok(out)
}

/// The file's new text on disk: the edits applied, the lines they add ending
/// as the file's own do (a CRLF file stays CRLF byte for byte outside the
/// edits; a CR-only file, read with `\n`, is written with `\r` again).
pub fn apply_on_disk(source: &Source, edits: &[Edit]) -> Result<String, String> {
    match source.line_ending() {
        LineEnding::Lf => apply(&source.text, edits),
        LineEnding::Cr => Ok(source.with_own_line_endings(&apply(&source.text, edits)?)),
        LineEnding::CrLf => {
            let edits: Vec<Edit> = edits
                .iter()
                .map(|e| Edit {
                    span: e.span,
                    text: source.with_own_line_endings(&e.text),
                })
                .collect();
            apply(&source.text, &edits)
        }
    }
}

/// A rewrite `check --update` wants but cannot make safely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub line: usize,
    pub reason: String,
}

/// One block `check --update` rewrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    /// The output block's fence, or the console command's `$` line.
    pub line: usize,
    /// "expected output of step `x`", "transcript output of step `x`".
    pub what: String,
    /// The check's diff: old expected text against the new one.
    pub diff: Option<String>,
}

/// What `check --update` does to one runbook: the edits, and a line per change
/// or refusal for the user.
#[derive(Debug, Clone, Default)]
pub struct UpdatePlan {
    pub edits: Vec<Edit>,
    /// Each rewrite, for "updated ..." messages.
    pub changed: Vec<Changed>,
    pub refused: Vec<Refused>,
}

/// The edits that make each failed `match=exact` output block and console
/// transcript of `runbook` say what `record`'s run printed. Steps are joined
/// to their records by id, checks to theirs by line within the step.
pub fn plan_updates(source: &Source, runbook: &Runbook, record: &RunRecord) -> UpdatePlan {
    let mut plan = UpdatePlan::default();
    for step_record in &record.steps {
        let Some(step) = runbook.step(&step_record.id) else {
            continue;
        };
        for check in step_record.checks.iter().filter(|c| !c.passed) {
            let Some(actual) = check.actual.as_deref() else {
                continue;
            };
            plan_one(source, step, check, actual, &mut plan);
        }
    }
    plan
}

fn plan_one(
    source: &Source,
    step: &Step,
    check: &crate::record::CheckRecord,
    actual: &str,
    plan: &mut UpdatePlan,
) {
    let line = check.line;
    let target = match check.kind.as_str() {
        "output" => step.checks.iter().find_map(|c| match c {
            Check::Output {
                line: l,
                mode,
                content_span,
                ..
            } if *l == line => Some((*mode, *content_span, *l, false)),
            _ => None,
        }),
        crate::check::KIND_SCORE => step.checks.iter().find_map(|c| match c {
            Check::Similar {
                line: l,
                content_span,
                ..
            } if *l == line => Some((MatchMode::Exact, *content_span, *l, false)),
            _ => None,
        }),
        crate::check::KIND_REGEX => {
            plan.refused.push(Refused {
                line,
                reason: "the block after `expected_similarity=\"REGEX\"` is only an example; \
                         the regex in the comment decides, so edit that by hand"
                    .into(),
            });
            return;
        }
        "console" => match &step.kind {
            StepKind::Console { commands, .. } => commands
                .iter()
                .find(|c| c.line == line && c.expected.is_some())
                .map(|c| (MatchMode::Exact, c.output_span, step.line, true)),
            _ => None,
        },
        _ => None,
    };
    let Some((mode, span, fence_line, console)) = target else {
        return;
    };
    if mode != MatchMode::Exact {
        plan.refused.push(Refused {
            line,
            reason: format!(
                "a match={} block is not rewritten; edit it by hand",
                mode_name(mode)
            ),
        });
        return;
    }
    match block_edit(source, fence_line, span, actual, console) {
        Ok(edit) => {
            let what = if console {
                format!("transcript output of step `{}`", step.id)
            } else {
                format!("expected output of step `{}`", step.id)
            };
            plan.edits.push(edit);
            plan.changed.push(Changed {
                line,
                what,
                diff: check.diff.clone(),
            });
        }
        Err(reason) => plan.refused.push(Refused { line, reason }),
    }
}

fn mode_name(mode: MatchMode) -> &'static str {
    match mode {
        MatchMode::Exact => "exact",
        MatchMode::Contains => "contains",
        MatchMode::Regex => "regex",
    }
}

/// The edit that replaces the content lines at `span` of the block whose
/// opening fence is on `fence_line` with `content` (normalised text: empty or
/// ending in `\n`). Each new line gets the container prefix of the fence line
/// (list indentation, `> ` of a block quote), so the block stays where it is.
pub fn block_edit(
    source: &Source,
    fence_line: usize,
    span: Span,
    content: &str,
    console: bool,
) -> Result<Edit, String> {
    let text = &source.text;
    let fence_start = source.line_start(fence_line);
    let fence_text = text[fence_start..].lines().next().unwrap_or("");
    let Some(at) = fence_text.find("```").or_else(|| fence_text.find("~~~")) else {
        return Err(format!("line {fence_line} holds no code fence"));
    };
    let prefix = crate::parse::continuation_prefix(source, fence_start + at);
    let fence_char = fence_text[at..].chars().next().expect("a fence was found");
    let fence_len = fence_text[at..]
        .chars()
        .take_while(|&c| c == fence_char)
        .count();
    let fence: String = std::iter::repeat_n(fence_char, fence_len).collect();

    let mut replacement = String::with_capacity(content.len());
    for line in content.lines() {
        let bare = line.trim_start_matches(' ');
        if bare.starts_with(&fence) {
            return Err(format!(
                "the new output has a line starting with {fence}, which would close the block; \
                 lengthen the block's fence and run again"
            ));
        }
        if console && (line.starts_with("$ ") || line == "$" || is_exit_line(line)) {
            return Err(format!(
                "the new output has the line {line:?}, which a transcript would read as a \
                 command or an exit status"
            ));
        }
        if line.is_empty() {
            replacement.push_str(prefix.trim_end());
        } else {
            replacement.push_str(&prefix);
            replacement.push_str(line);
        }
        replacement.push('\n');
    }
    Ok(Edit {
        span: whole_lines(text, span),
        text: replacement,
    })
}

fn is_exit_line(line: &str) -> bool {
    line.strip_prefix("? ")
        .is_some_and(|code| code == "success" || code == "failed" || code.parse::<i32>().is_ok())
}

/// Widens a content span to whole lines: from the start of its first line
/// (the container prefix belongs to the content) to the start of the line
/// after its last, so the rewrite replaces lines, never half of one.
fn whole_lines(text: &str, span: Span) -> Span {
    let line_start = |at: usize| text[..at].rfind('\n').map_or(0, |i| i + 1);
    let only_prefix = |from: usize, to: usize| {
        text[from..to]
            .chars()
            .all(|c| c == ' ' || c == '\t' || c == '>')
    };
    let start_line = line_start(span.start);
    let start = if only_prefix(start_line, span.start) {
        start_line
    } else if text[span.start..].starts_with('\n') {
        // A span that begins at the end of the opening fence's line.
        span.start + 1
    } else {
        span.start
    };
    let span = Span::new(start, span.end.max(start));
    let end_line = line_start(span.end);
    let end = if span.end == end_line {
        span.end
    } else if only_prefix(end_line, span.end) {
        end_line
    } else {
        text[span.end..]
            .find('\n')
            .map_or(text.len(), |i| span.end + i + 1)
    };
    Span::new(start, end.max(start))
}

/// Replaces `path` by `text` through a temporary file in the same directory
/// and a rename, keeping its permissions: an interrupted write leaves the old
/// runbook whole.
pub fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let permissions = std::fs::metadata(path)?.permissions();
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(text.as_bytes())?;
    tmp.as_file().sync_all()?;
    std::fs::set_permissions(tmp.path(), permissions)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_edits_in_any_order_and_keeps_the_rest() {
        let text = "aaa bbb ccc";
        let edits = [
            Edit {
                span: Span::new(8, 11),
                text: "C".into(),
            },
            Edit {
                span: Span::new(0, 3),
                text: "A".into(),
            },
        ];
        assert_eq!(apply(text, &edits).unwrap(), "A bbb C");
        let overlap = [
            Edit {
                span: Span::new(0, 5),
                text: String::new(),
            },
            Edit {
                span: Span::new(4, 6),
                text: String::new(),
            },
        ];
        assert!(apply(text, &overlap).is_err());
    }

    use crate::model::{ConsoleCommand, FrontMatter};
    use crate::record::{CheckRecord, RunStatus, StepRecord, StepStatus};

    /// The span of `needle` (which must occur once) in `text`.
    fn span_of(text: &str, needle: &str) -> Span {
        assert_eq!(text.matches(needle).count(), 1, "{needle:?} occurs once");
        let start = text.find(needle).unwrap();
        Span::new(start, start + needle.len())
    }

    fn line_of(text: &str, needle: &str) -> usize {
        text[..text.find(needle).unwrap()].matches('\n').count() + 1
    }

    fn runbook(kind: StepKind, checks: Vec<Check>) -> Runbook {
        Runbook {
            path: "r.md".into(),
            title: "r".into(),
            front: FrontMatter::default(),
            sections: Vec::new(),
            steps: vec![Step {
                id: "s".into(),
                section: None,
                line: 1,
                lang: "sh".into(),
                code: String::new(),
                attrs: Default::default(),
                kind,
                options: Default::default(),
                checks,
                span: Span::default(),
                hash: String::new(),
            }],
            todos: Vec::new(),
            blocks: Vec::new(),
            hash: String::new(),
        }
    }

    fn record(checks: Vec<CheckRecord>) -> RunRecord {
        RunRecord {
            schema: 1,
            run_id: "r".into(),
            runbook: "r.md".into(),
            runbook_abs: "/r.md".into(),
            runbook_hash: String::new(),
            title: "r".into(),
            started: String::new(),
            finished: None,
            status: RunStatus::Failed,
            mode: "check".into(),
            steps: vec![StepRecord {
                id: "s".into(),
                line: 1,
                section: None,
                command_hash: String::new(),
                status: StepStatus::Failed,
                exit_code: Some(0),
                duration_ms: 0,
                started: None,
                reason: None,
                checks,
                log: None,
                carried_from: None,
                attempts: 1,
                ..StepRecord::default()
            }],
            todos: Vec::new(),
            ..RunRecord::default()
        }
    }

    fn failed(kind: &str, line: usize, actual: &str) -> CheckRecord {
        CheckRecord {
            kind: kind.into(),
            line,
            passed: false,
            message: String::new(),
            diff: None,
            actual: Some(actual.into()),
        }
    }

    /// Rewrites the output block whose content is `old` (span as given) to
    /// `actual`, checks the result, then rewrites again to prove idempotence.
    fn rewrite_output(text: &str, content_span: Span, actual: &str, mode: MatchMode) -> UpdatePlan {
        let fence_line = line_of(text, "```output");
        let check = Check::Output {
            line: fence_line,
            expected: String::new(),
            mode,
            stream: crate::model::Stream::Both,
            content_span,
        };
        let rb = runbook(
            StepKind::Shell {
                program: "bash".into(),
            },
            vec![check],
        );
        let src = Source::new("r.md", text);
        plan_updates(
            &src,
            &rb,
            &record(vec![failed("output", fence_line, actual)]),
        )
    }

    fn applied(text: &str, plan: &UpdatePlan) -> String {
        apply(text, &plan.edits).expect("edits apply")
    }

    const TOP: &str = "# T\n\n```sh\necho hi\n```\n\nYou should see:\n\n```output\nold line\n[..] kept\n```\n\nAfter.\n";

    #[test]
    fn rewrites_a_top_level_block_and_nothing_else() {
        let plan = rewrite_output(
            TOP,
            span_of(TOP, "old line\n[..] kept\n"),
            "new line\n[..] kept\nmore\n",
            MatchMode::Exact,
        );
        assert_eq!(
            plan.changed,
            vec![Changed {
                line: 9,
                what: "expected output of step `s`".to_string(),
                diff: None
            }]
        );
        let out = applied(TOP, &plan);
        assert_eq!(
            out,
            "# T\n\n```sh\necho hi\n```\n\nYou should see:\n\n```output\nnew line\n[..] kept\nmore\n```\n\nAfter.\n"
        );
        // Idempotent: the same actual output over the new block changes nothing.
        let again = rewrite_output(
            &out,
            span_of(&out, "new line\n[..] kept\nmore\n"),
            "new line\n[..] kept\nmore\n",
            MatchMode::Exact,
        );
        assert_eq!(applied(&out, &again), out);
    }

    #[test]
    fn an_empty_block_and_an_empty_output() {
        let text = "```sh\ntrue\n```\n```output\n```\n";
        let empty = Span::new(text.len() - 4, text.len() - 4);
        let out = applied(text, &rewrite_output(text, empty, "hi\n", MatchMode::Exact));
        assert_eq!(out, "```sh\ntrue\n```\n```output\nhi\n```\n");
        let out2 = applied(
            &out,
            &rewrite_output(&out, span_of(&out, "hi\n"), "", MatchMode::Exact),
        );
        assert_eq!(out2, text);
        // A parser may put an empty block's span at the end of the fence line.
        let eol = text.find("output").unwrap() + "output".len();
        let at_eol = rewrite_output(text, Span::new(eol, eol), "hi\n", MatchMode::Exact);
        assert_eq!(applied(text, &at_eol), out);
    }

    #[test]
    fn keeps_list_item_indentation_whatever_the_span_convention() {
        let text = "1. Run:\n\n   ```sh\n   echo hi\n   ```\n\n   ```output\n   old\n\n   older\n   ```\n2. Next\n";
        let body = "   old\n\n   older\n";
        let full = span_of(text, body);
        let want = "1. Run:\n\n   ```sh\n   echo hi\n   ```\n\n   ```output\n   new\n\n   newer\n   ```\n2. Next\n";
        // From the line start to the closing fence line's start ...
        let out = applied(
            text,
            &rewrite_output(text, full, "new\n\nnewer\n", MatchMode::Exact),
        );
        assert_eq!(out, want);
        // ... after the first line's indentation, up to the closing fence itself ...
        let inner = Span::new(full.start + 3, full.end + 3);
        assert_eq!(
            applied(
                text,
                &rewrite_output(text, inner, "new\n\nnewer\n", MatchMode::Exact)
            ),
            want
        );
        // ... or ending before the last newline.
        let short = Span::new(full.start, full.end - 1);
        assert_eq!(
            applied(
                text,
                &rewrite_output(text, short, "new\n\nnewer\n", MatchMode::Exact)
            ),
            want
        );
    }

    #[test]
    fn keeps_block_quote_markers() {
        let text = "> ```sh\n> echo hi\n> ```\n>\n> ```output\n> old\n> ```\n";
        let span = span_of(text, "> old\n");
        let out = applied(
            text,
            &rewrite_output(text, span, "a\n\nb\n", MatchMode::Exact),
        );
        assert_eq!(
            out,
            "> ```sh\n> echo hi\n> ```\n>\n> ```output\n> a\n>\n> b\n> ```\n"
        );
    }

    #[test]
    fn refuses_what_would_break_the_block() {
        let plan = rewrite_output(
            TOP,
            span_of(TOP, "old line\n[..] kept\n"),
            "```\n",
            MatchMode::Exact,
        );
        assert!(plan.edits.is_empty());
        assert!(
            plan.refused[0].reason.contains("would close the block"),
            "{:?}",
            plan.refused
        );
        let plan = rewrite_output(
            TOP,
            span_of(TOP, "old line\n[..] kept\n"),
            "x\n",
            MatchMode::Contains,
        );
        assert!(plan.edits.is_empty());
        assert_eq!(
            plan.refused[0].reason,
            "a match=contains block is not rewritten; edit it by hand"
        );
    }

    #[test]
    fn a_similarity_block_is_rewritten_but_a_regex_ones_example_never() {
        let text = "```bash\necho hi\n```\n<!-- expected_similarity=0.9 -->\n```text\nold\n```\n";
        let src = Source::new("r.md", text);
        let parsed = crate::parse::parse(&src);
        let step = &parsed.runbook.steps[0];
        let line = step.checks[0].line();
        let mut r = record_for(&step.id, line, "hi\n");
        r.steps[0].checks[0].kind = crate::check::KIND_SCORE.into();
        let plan = plan_updates(&src, &parsed.runbook, &r);
        assert_eq!(
            applied(text, &plan),
            "```bash\necho hi\n```\n<!-- expected_similarity=0.9 -->\n```text\nhi\n```\n"
        );
        let text = "```bash\necho hi\n```\n<!-- expected_similarity=\"h.\" -->\n```text\nan example\n```\n";
        let src = Source::new("r.md", text);
        let parsed = crate::parse::parse(&src);
        let step = &parsed.runbook.steps[0];
        let mut r = record_for(&step.id, step.checks[0].line(), "bye\n");
        r.steps[0].checks[0].kind = crate::check::KIND_REGEX.into();
        let plan = plan_updates(&src, &parsed.runbook, &r);
        assert!(plan.edits.is_empty());
        assert!(
            plan.refused[0].reason.contains("only an example"),
            "{:?}",
            plan.refused
        );
    }

    #[test]
    fn rewrites_one_command_of_a_console_transcript() {
        let text = "- Try:\n\n  ```console\n  $ echo hi\n  bye\n  $ false\n  ? 1\n  ```\n";
        let commands = vec![
            ConsoleCommand {
                command: "echo hi".into(),
                line: 4,
                expected: Some("bye\n".into()),
                exit: None,
                output_span: span_of(text, "  bye\n"),
            },
            ConsoleCommand {
                command: "false".into(),
                line: 6,
                expected: None,
                exit: Some(crate::model::ExitExpect::Codes(vec![1])),
                output_span: Span::new(text.find("  ? 1").unwrap(), text.find("  ? 1").unwrap()),
            },
        ];
        let mut rb = runbook(
            StepKind::Console {
                program: "bash".into(),
                commands,
            },
            Vec::new(),
        );
        rb.steps[0].line = 3;
        let src = Source::new("r.md", text);
        let plan = plan_updates(
            &src,
            &rb,
            &record(vec![failed("console", 4, "hi\nthere\n")]),
        );
        assert_eq!(
            applied(text, &plan),
            "- Try:\n\n  ```console\n  $ echo hi\n  hi\n  there\n  $ false\n  ? 1\n  ```\n"
        );
        let plan = plan_updates(&src, &rb, &record(vec![failed("console", 4, "$ sneaky\n")]));
        assert!(
            plan.refused[0].reason.contains("read as a command"),
            "{:?}",
            plan.refused
        );
    }

    #[test]
    fn atomic_write_keeps_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.md");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomically(&path, "new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
    }

    proptest::proptest! {
        /// Whatever the output, in whatever container, the rewritten runbook
        /// parses back to an output block holding exactly that output.
        #[test]
        fn rewritten_blocks_parse_back_to_the_output(
            lines in proptest::collection::vec("[a-z .\\[\\]>-]{0,12}", 0..6),
            container in 0usize..3,
        ) {
            let actual = crate::check::normalise(&lines.join("\n"));
            let prefix = ["", "   ", "> "][container];
            let lead = ["", "1. Step:\n\n", ""][container];
            let body = format!(
                "{lead}{prefix}```sh\n{prefix}true\n{prefix}```\n{p}\n{prefix}```output\n{prefix}old\n{prefix}```\n",
                p = prefix.trim_end()
            );
            let text = format!("# T\n\n{body}\nAfter.\n");
            let src = Source::new("r.md", text.as_str());
            let parsed = crate::parse::parse(&src);
            let step = &parsed.runbook.steps[0];
            let line = step.checks[0].line();
            let plan = plan_updates(&src, &parsed.runbook, &record_for(&step.id, line, &actual));
            proptest::prop_assert_eq!(plan.edits.len(), 1, "{:?}", plan.refused);
            let new_text = apply(&text, &plan.edits).unwrap();
            proptest::prop_assert!(new_text.ends_with("```\n\nAfter.\n"));
            let reparsed = crate::parse::parse(&Source::new("r.md", new_text.as_str()));
            match &reparsed.runbook.steps[0].checks[0] {
                Check::Output { expected, .. } => {
                    proptest::prop_assert_eq!(crate::check::normalise(expected), actual)
                }
                other => proptest::prop_assert!(false, "{other:?}"),
            }
        }
    }

    fn record_for(step: &str, line: usize, actual: &str) -> RunRecord {
        let mut r = record(vec![failed("output", line, actual)]);
        r.steps[0].id = step.to_string();
        r
    }
}
