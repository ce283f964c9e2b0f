//! `console` transcripts (SPEC §1.4.2): `$ ` commands, `> ` or `\` continuations,
//! expected output up to the next `$ `, and a last `? CODE` exit line.

use crate::diag::Severity;
use crate::model::{ConsoleCommand, ExitExpect};
use crate::source::{Source, Span};

use super::attrs::Problem;

/// Splits a transcript into commands. `first_line` is the source line of the
/// block's first content line: fenced content maps one line to one source line,
/// so spans are whole source lines (container prefixes included).
pub(crate) fn parse_console(
    code: &str,
    first_line: usize,
    source: &Source,
) -> (Vec<ConsoleCommand>, Vec<(Severity, Problem)>) {
    let lines: Vec<&str> = code.lines().collect();
    // The whole source line: its container prefix (`> `, a list's indent)
    // is not in `lines[k]`, so an end counted from `lines[k]` could fall
    // inside a character.
    let line_span = |k: usize| {
        let (start, end) = (
            source.line_start(first_line + k),
            source.line_end(first_line + k),
        );
        let end = end - usize::from(source.text[..end].ends_with('\r'));
        start..end.max(start)
    };
    let mut problems = Vec::new();
    let mut commands = Vec::new();
    let mut i = 0;
    while i < lines.len() && !is_command(lines[i]) {
        if !lines[i].trim().is_empty() && problems.is_empty() {
            problems.push((
                Severity::Warning,
                Problem {
                    span: line_span(i),
                    code: "console-text",
                    message: "text before the first `$ ` command is not checked".into(),
                    help: Some("start each command with `$ `".into()),
                },
            ));
        }
        i += 1;
    }
    while i < lines.len() {
        let cmd_line = first_line + i;
        let (command, next) = read_command(&lines, i);
        i = next;
        let out_start = i;
        while i < lines.len() && !is_command(lines[i]) {
            i += 1;
        }
        let mut out: &[&str] = &lines[out_start..i];
        out = trim_blank_tail(out);
        let mut exit = None;
        if let Some(last) = out.last().and_then(|l| l.strip_prefix("? ")) {
            let at = line_span(out_start + out.len() - 1);
            match exit_line(last.trim()) {
                Some(e) => exit = Some(e),
                None => problems.push((Severity::Error, bad_exit(last.trim(), at))),
            }
            out = trim_blank_tail(&out[..out.len() - 1]);
        }
        let expected = match (out.is_empty(), &exit) {
            (true, None) => None,
            (true, Some(_)) => Some(String::new()),
            (false, _) => Some(out.join("\n") + "\n"),
        };
        let start = source.line_start(first_line + out_start);
        let end = source.line_start(first_line + out_start + out.len());
        commands.push(ConsoleCommand {
            command,
            line: cmd_line,
            expected,
            exit,
            output_span: Span::new(start, end.max(start)),
        });
    }
    (commands, problems)
}

fn is_command(line: &str) -> bool {
    line.starts_with("$ ") || line.trim_end() == "$"
}

/// The command starting at line `i`, its continuations joined with `\n`, and
/// the index of the line after it.
fn read_command(lines: &[&str], mut i: usize) -> (String, usize) {
    let first = lines[i].strip_prefix("$").unwrap_or(lines[i]);
    let mut command = first.strip_prefix(' ').unwrap_or(first).to_string();
    let mut backslash = command.ends_with('\\');
    i += 1;
    while i < lines.len() {
        let line = lines[i];
        let part = if backslash {
            line
        } else if let Some(rest) = line.strip_prefix("> ") {
            rest
        } else if line.trim_end() == ">" {
            ""
        } else {
            break;
        };
        command.push('\n');
        command.push_str(part);
        backslash = part.ends_with('\\');
        i += 1;
    }
    (command, i)
}

fn trim_blank_tail<'a, 'b>(mut lines: &'a [&'b str]) -> &'a [&'b str] {
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines = &lines[..lines.len() - 1];
    }
    lines
}

/// `? 0`, `? 1`, `? success`, `? failed` (trycmd's spelling).
fn exit_line(value: &str) -> Option<ExitExpect> {
    match value {
        "success" => Some(ExitExpect::Codes(vec![0])),
        "failed" => Some(ExitExpect::Nonzero),
        n => n
            .parse::<u8>()
            .ok()
            .map(|c| ExitExpect::Codes(vec![c.into()])),
    }
}

fn bad_exit(value: &str, span: std::ops::Range<usize>) -> Problem {
    Problem {
        span,
        code: "bad-exit-code",
        message: format!("`? {value}` is not an exit status"),
        help: Some("write `? 0`..`? 255`, `? success` or `? failed`".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(code: &str) -> (Vec<ConsoleCommand>, Vec<(Severity, Problem)>, Source) {
        let text = format!("```console\n{code}```\n");
        let source = Source::new("t.md", text);
        let (c, p) = parse_console(code, 2, &source);
        (c, p, source)
    }

    #[test]
    fn commands_outputs_and_exit_lines() {
        let (cmds, problems, src) =
            parse("$ echo hi\nhi\n$ false\n? 1\n$ ls missing\nno such file\n? failed\n");
        assert!(problems.is_empty());
        assert_eq!(cmds.len(), 3);
        assert_eq!(cmds[0].command, "echo hi");
        assert_eq!(cmds[0].line, 2);
        assert_eq!(cmds[0].expected.as_deref(), Some("hi\n"));
        assert_eq!(cmds[0].exit, None);
        assert_eq!(&src.text[cmds[0].output_span.range()], "hi\n");
        assert_eq!(cmds[1].expected.as_deref(), Some(""));
        assert_eq!(cmds[1].exit, Some(ExitExpect::Codes(vec![1])));
        assert_eq!(cmds[1].output_span.start, cmds[1].output_span.end);
        assert_eq!(cmds[2].exit, Some(ExitExpect::Nonzero));
        assert_eq!(&src.text[cmds[2].output_span.range()], "no such file\n");
    }

    #[test]
    fn continuations_with_prompt_and_backslash() {
        let (cmds, _, _) =
            parse("$ for i in 1 2; do\n>   echo $i\n> done\n1\n2\n$ echo a \\\n  b\na b\n");
        assert_eq!(cmds[0].command, "for i in 1 2; do\n  echo $i\ndone");
        assert_eq!(cmds[0].expected.as_deref(), Some("1\n2\n"));
        assert_eq!(cmds[1].command, "echo a \\\n  b");
        assert_eq!(cmds[1].line, 7);
        assert_eq!(cmds[1].expected.as_deref(), Some("a b\n"));
    }

    #[test]
    fn a_command_without_output_is_unchecked() {
        let (cmds, _, src) = parse("$ cd /tmp\n\n$ pwd\n/tmp\n$ true\n");
        assert_eq!(cmds[0].expected, None);
        // The insertion point is the line after the command.
        assert_eq!(cmds[0].output_span.start, src.line_start(3));
        assert_eq!(cmds[0].output_span.start, cmds[0].output_span.end);
        assert_eq!(cmds[1].expected.as_deref(), Some("/tmp\n"));
        assert_eq!(cmds[2].expected, None);
        assert_eq!(cmds[2].output_span.start, src.line_start(7));
    }

    #[test]
    fn success_and_bad_exit_lines() {
        let (cmds, p, _) = parse("$ true\n? success\n$ x\n? sometimes\n");
        assert_eq!(cmds[0].exit, Some(ExitExpect::Codes(vec![0])));
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].1.code, "bad-exit-code");
        assert_eq!(p[0].0, Severity::Error);
    }

    #[test]
    fn text_before_the_first_command_is_a_warning() {
        let (cmds, p, _) = parse("hello\n$ true\n");
        assert_eq!(cmds.len(), 1);
        assert_eq!(p[0].0, Severity::Warning);
        assert_eq!(p[0].1.code, "console-text");
    }
}
