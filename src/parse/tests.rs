//! The parser end to end on small runbooks.

use super::*;
use crate::model::{Check, ExitExpect, MatchMode, StepKind, Stream};

fn parse_text(text: &str) -> Parsed {
    parse(&Source::new("t.md", text))
}

fn codes(p: &Parsed) -> Vec<&'static str> {
    p.diagnostics.iter().map(|d| d.code).collect()
}

fn errors(p: &Parsed) -> Vec<&Diagnostic> {
    p.diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .collect()
}

const SEED: &str = include_str!("../../tests/fixtures/parse-seed/concourse.md");

#[test]
fn the_seed_runbook() {
    let p = parse_text(SEED);
    let rb = &p.runbook;
    assert_eq!(rb.title, "Summary");
    let ids: Vec<&str> = rb.sections.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "summary",
            "developing",
            "local-testing",
            "build-the-image",
            "initial-testing-in-ci",
            "deployment-to-qa-and-beyond"
        ]
    );
    assert_eq!(rb.sections[2].line, 22);
    assert_eq!(rb.sections[2].parent.as_deref(), Some("summary"));
    assert!(rb.steps.is_empty());
    let todos: Vec<(Option<&str>, usize, &str)> = rb
        .todos
        .iter()
        .map(|t| (t.section.as_deref(), t.line, t.text.as_str()))
        .collect();
    assert_eq!(
        todos,
        [
            (
                Some("local-testing"),
                36,
                "Figure out what we actually use for a base container and cite that in this doc."
            ),
            (
                Some("initial-testing-in-ci"),
                62,
                "Add curl smoke test for web node"
            ),
            (
                Some("deployment-to-qa-and-beyond"),
                70,
                "Add further testing details"
            ),
        ]
    );
    let unfenced: Vec<(usize, &str)> = p
        .unfenced
        .iter()
        .map(|u| (u.line, u.command.as_str()))
        .collect();
    assert_eq!(unfenced.len(), 2, "{unfenced:?}");
    assert_eq!(
        unfenced[0],
        (31, "pyinfra @docker/debian:bookworm deploy.py")
    );
    assert_eq!(unfenced[1].0, 51);
    assert!(errors(&p).is_empty());
}

#[test]
fn steps_ids_and_sections() {
    let p = parse_text(
        "```sh\necho before\n```\n# One\n```bash {#first}\necho 1\n```\n```zsh\necho 2\n```\n## Sub\n```sh\necho 3\n```\n```python\nprint(1)\n```\n```\nno language\n```\n",
    );
    let rb = &p.runbook;
    let ids: Vec<&str> = rb.steps.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["step-1", "first", "one-2", "sub-1"]);
    assert_eq!(rb.steps[0].section, None);
    assert_eq!(rb.steps[1].section.as_deref(), Some("one"));
    assert_eq!(rb.steps[1].line, 5);
    assert_eq!(rb.steps[1].code, "echo 1\n");
    assert_eq!(
        rb.steps[2].kind,
        StepKind::Shell {
            program: "zsh".into()
        }
    );
    assert_eq!(
        rb.steps[0].kind,
        StepKind::Shell {
            program: "bash".into()
        }
    );
    let roles: Vec<_> = rb.blocks.iter().map(|b| b.role).collect();
    assert_eq!(roles.len(), 6);
    assert_eq!(roles[4], crate::model::BlockRole::Other);
    assert_eq!(rb.sections[1].parent.as_deref(), Some("one"));
    assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
}

#[test]
fn front_matter_shell_applies_to_sh_blocks() {
    let p = parse_text("---\nshell: sh\n---\n```bash\ntrue\n```\n");
    assert_eq!(
        p.runbook.steps[0].kind,
        StepKind::Shell {
            program: "sh".into()
        }
    );
    assert_eq!(p.runbook.steps[0].line, 4);
}

#[test]
fn interpreters() {
    let p = parse_text(
        "```python {run}\nprint(1)\n```\n```js {run}\n1\n```\n```text {run=awk}\n1\n```\n```cobol {run}\nx\n```\n",
    );
    let kinds: Vec<_> = p.runbook.steps.iter().map(|s| s.kind.clone()).collect();
    assert_eq!(
        kinds[..3],
        [
            StepKind::Interpreter {
                program: "python3".into()
            },
            StepKind::Interpreter {
                program: "node".into()
            },
            StepKind::Interpreter {
                program: "awk".into()
            },
        ]
    );
    assert_eq!(codes(&p), ["unknown-interpreter"]);
}

#[test]
fn step_attributes_on_a_block_that_is_not_a_step_are_a_warning() {
    let p =
        parse_text("```python {#x timeout=5m}\nprint(1)\n```\n```python {.numberLines}\n1\n```\n");
    assert!(p.runbook.steps.is_empty());
    assert_eq!(codes(&p), ["not-a-step"]);
    assert_eq!(
        p.diagnostics[0].help.as_deref(),
        Some("add `run` to run it: `python {run ...}`")
    );
}

#[test]
fn output_blocks_attach_to_the_step_before() {
    let text = "```sh\necho hi\n```\n\nYou should see:\n\n```output {match=contains stream=stdout}\nhi\n```\n\n```output\nignored\n```\n";
    let p = parse_text(text);
    let step = &p.runbook.steps[0];
    assert_eq!(step.checks.len(), 1);
    match &step.checks[0] {
        Check::Output {
            line,
            expected,
            mode,
            stream,
            content_span,
        } => {
            assert_eq!(*line, 7);
            assert_eq!(expected, "hi\n");
            assert_eq!((*mode, *stream), (MatchMode::Contains, Stream::Stdout));
            assert_eq!(&text[content_span.range()], "hi\n");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(codes(&p), ["second-output"]);
    let roles: Vec<_> = p.runbook.blocks.iter().map(|b| b.role).collect();
    use crate::model::BlockRole::*;
    assert_eq!(roles, [Step, Output, Output]);
}

#[test]
fn output_and_checks_before_any_step_are_errors() {
    let p = parse_text("```output\nhi\n```\n<!-- check: contains \"x\" -->\n");
    assert_eq!(codes(&p), ["output-without-step", "check-without-step"]);
    assert_eq!(p.diagnostics[0].line, 1);
    assert_eq!(p.diagnostics[1].line, 4);
}

#[test]
fn hidden_checks_attach_until_the_next_step() {
    let text = "```sh\necho ready\n```\n<!-- check: contains \"ready\" -->\n\nProse <!-- check: not-contains \"ERROR\" --> here.\n\n```sh\ndate\n```\n\n<!--\ncheck: matches \"^\\d\"\n-->\n";
    let p = parse_text(text);
    assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
    let s = &p.runbook.steps;
    assert_eq!(
        s[0].checks,
        [
            Check::Contains {
                line: 4,
                text: "ready".into()
            },
            Check::NotContains {
                line: 6,
                text: "ERROR".into()
            }
        ]
    );
    assert_eq!(
        s[1].checks,
        [Check::Matches {
            line: 12,
            regex: r"^\d".into()
        }]
    );
}

#[test]
fn bad_check_comments_are_errors_at_their_line() {
    let p = parse_text("```sh\ntrue\n```\n\n<!-- check: containz \"x\" -->\n");
    let e = errors(&p);
    assert_eq!(e.len(), 1);
    assert_eq!((e[0].line, e[0].code), (5, "bad-check"));
    assert_eq!(e[0].help.as_deref(), Some("did you mean `contains`?"));
}

#[test]
fn todos_in_every_style() {
    let text = "\
# Guide

**TODO**: bold marker then colon

**TODO: all bold**

TODO: plain

FIXME broken thing

- TODO: tight item
- not one

1. loose item

2. _FIXME_: emphasised in a loose item

| a | b |
|---|---|
| TODO: in a cell | ok |

> TODO: quoted

## TODO: Set up monitoring

Some prose mentioning TODO: later in the line.

TODOS is not a marker.
";
    let p = parse_text(text);
    let todos: Vec<(usize, &str, Option<&str>)> = p
        .runbook
        .todos
        .iter()
        .map(|t| (t.line, t.text.as_str(), t.section.as_deref()))
        .collect();
    assert_eq!(
        todos,
        [
            (3, "bold marker then colon", Some("guide")),
            (5, "all bold", Some("guide")),
            (7, "plain", Some("guide")),
            (9, "broken thing", Some("guide")),
            (11, "tight item", Some("guide")),
            (16, "emphasised in a loose item", Some("guide")),
            (20, "in a cell", Some("guide")),
            (22, "quoted", Some("guide")),
            (24, "Set up monitoring", Some("todo-set-up-monitoring")),
        ]
    );
    assert!(p.diagnostics.iter().all(|d| d.code == "todo"));
    assert_eq!(p.diagnostics.len(), 9);
}

#[test]
fn an_empty_shell_block_is_a_missing_step() {
    let p = parse_text("# A\n```sh\n```\n```bash {#later}\n   \n```\n```output\nx\n```\n");
    assert!(p.runbook.steps.is_empty());
    let todos: Vec<(usize, &str)> = p
        .runbook
        .todos
        .iter()
        .map(|t| (t.line, t.text.as_str()))
        .collect();
    assert_eq!(todos, [(2, "empty step"), (4, "empty step")]);
    assert_eq!(codes(&p), ["empty-step", "empty-step"]);
}

#[test]
fn commands_outside_fences() {
    let text = "Run `poetry install` first.\n\n`make build`\n\n- item\n\n  `in a list`\n\n> `quoted`\n\n**`bold`**\n\n[`link`](x)\n";
    let p = parse_text(text);
    let found: Vec<(usize, &str, &str)> = p
        .unfenced
        .iter()
        .map(|u| (u.line, u.command.as_str(), &text[u.span.range()]))
        .collect();
    assert_eq!(
        found,
        [
            (3, "make build", "`make build`"),
            (7, "in a list", "`in a list`"),
            (9, "quoted", "`quoted`"),
        ]
    );
    assert!(p
        .diagnostics
        .iter()
        .all(|d| d.code == "command-outside-fence"));
}

#[test]
fn console_transcripts_are_steps() {
    let text = "```console\n$ echo hi\nhi\n$ false\n? 1\n```\n";
    let p = parse_text(text);
    let StepKind::Console { program, commands } = &p.runbook.steps[0].kind else {
        panic!("not console");
    };
    assert_eq!(program, "bash");
    assert_eq!(commands.len(), 2);
    assert_eq!(commands[0].line, 2);
    assert_eq!(&text[commands[0].output_span.range()], "hi\n");
    assert_eq!(commands[1].exit, Some(ExitExpect::Codes(vec![1])));
}

#[test]
fn attribute_errors_point_into_the_fence_line() {
    let text = "# S\n\n```sh {#ok timout=5m}\ntrue\n```\n";
    let p = parse_text(text);
    let d = &p.diagnostics[0];
    assert_eq!(d.code, "unknown-attribute");
    assert_eq!((d.line, d.column), (3, 12));
    assert_eq!(&text[d.span.range()], "timout=5m");
    assert_eq!(d.help.as_deref(), Some("did you mean `timeout`?"));
}

#[test]
fn duplicate_and_invalid_ids() {
    let p = parse_text("# A\n```sh {#x}\ntrue\n```\n```sh {#x}\ntrue\n```\n```sh {#a-3}\ntrue\n```\n# A\n```sh\ntrue\n```\n```sh {#Bad}\ntrue\n```\n");
    let e: Vec<(usize, &str)> = errors(&p).iter().map(|d| (d.line, d.code)).collect();
    assert_eq!(e, [(5, "duplicate-id"), (15, "invalid-id")]);
    assert!(p.diagnostics[0].message.contains("line 2"));
    // The second `# A` is `a-1`, so its step is `a-1-1`, not clashing with `a-3`.
    assert_eq!(p.runbook.steps[3].id, "a-1-1");
}

#[test]
fn unterminated_fences_are_errors() {
    for text in [
        "# A\n```sh\necho never closed\n",
        "- ```sh\n  echo in a list\n- next item\n",
        "> ```sh\n> echo quoted\n\nafter\n",
        "````sh\necho\n```\n",
    ] {
        let p = parse_text(text);
        assert_eq!(codes(&p), ["unterminated-fence"], "{text:?}");
        assert_eq!(
            p.diagnostics[0].help.as_deref().map(|h| h.contains("```")),
            Some(true)
        );
    }
    for text in [
        "```sh\ntrue\n```",
        "> ```\n> x\n> ```\n",
        "- ```\n  x\n  ```\n",
        "~~~~\n```\n~~~~~\n",
    ] {
        assert!(parse_text(text).diagnostics.is_empty(), "{text:?}");
    }
}

#[test]
fn hashes_are_stable_and_content_based() {
    let a = parse_text("# A\n```sh\necho 1\n```\n");
    let b = parse_text("# A\n\nMore prose first.\n\n```sh\necho 1\n```\n");
    let c = parse_text("# A\n```sh {timeout=1m}\necho 1\n```\n");
    assert_eq!(a.runbook.steps[0].hash, b.runbook.steps[0].hash);
    assert_ne!(a.runbook.steps[0].hash, c.runbook.steps[0].hash);
    assert_eq!(a.runbook.steps[0].hash.len(), 64);
    assert_ne!(a.runbook.hash, b.runbook.hash);
    // sha256("") is well known: the file hash is of the bytes and nothing else.
    assert_eq!(
        parse_text("").runbook.hash,
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}

#[test]
fn blocks_in_containers_have_container_indentation_removed() {
    let p = parse_text("1. step\n\n   ```sh {#x}\n   echo a\n     b\n   ```\n");
    assert_eq!(p.runbook.steps[0].code, "echo a\n  b\n");
    assert_eq!(p.runbook.blocks[0].info, "sh {#x}");
    assert_eq!(
        p.runbook.steps[0].attrs.get("id").map(String::as_str),
        Some("x")
    );
}

#[test]
fn title_falls_back_to_heading_then_file_name() {
    assert_eq!(parse_text("---\ntitle: T\n---\n# H\n").runbook.title, "T");
    assert_eq!(parse_text("text\n\n## H2\n").runbook.title, "H2");
    assert_eq!(parse_text("text\n").runbook.title, "t");
}

mod never_panics {
    use proptest::prelude::*;

    use super::*;
    use crate::report::Palette;

    const PIECES: &[&str] = &[
        "```",
        "```sh",
        "```console",
        "```output",
        "~~~",
        " {#id",
        " {",
        "}",
        "=",
        "\"",
        "\\",
        "timeout=5m",
        "run",
        "#",
        "# ",
        "## ",
        "- ",
        "1. ",
        "> ",
        "$ ",
        "? 1",
        "? x",
        "\n",
        "\n\n",
        "\r\n",
        "\t",
        "    ",
        "TODO: ",
        "**TODO**",
        "FIXME",
        "`",
        "``",
        "code",
        "<!-- check: ",
        "contains \"x\"",
        "-->",
        "<!--",
        "---",
        "title: x",
        "|",
        "|---|",
        "é",
        "日本",
        "\u{0}",
        "[x](y)",
        "*",
        "_",
        "&amp;",
    ];

    fn check(text: &str) {
        let source = Source::new("p.md", text);
        let parsed = parse(&source);
        for d in &parsed.diagnostics {
            assert!(
                d.span.start <= d.span.end && d.span.end <= text.len(),
                "{d:?}"
            );
            assert!(text.is_char_boundary(d.span.start) && text.is_char_boundary(d.span.end));
            assert!(d.line >= 1 && d.line <= source.line_count());
        }
        for s in &parsed.runbook.steps {
            assert!(s.span.end <= text.len());
            assert!(s.line >= 1 && s.line <= source.line_count());
        }
        crate::report::diag::render(&Palette::plain(), &source, &parsed.diagnostics);
        crate::report::outline::outline(&Palette::plain(), &parsed.runbook);
        crate::report::outline::json(&parsed.runbook);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn on_arbitrary_text(text in any::<String>()) {
            check(&text);
        }

        #[test]
        fn on_markdownish_text(pieces in prop::collection::vec(prop::sample::select(PIECES), 0..60)) {
            check(&pieces.concat());
        }
    }
}

#[test]
fn continuation_prefixes() {
    let text = "- ```sh\n  x\n  ```\n> 1. `a`\n\nplain\n";
    let src = Source::new("t.md", text);
    assert_eq!(continuation_prefix(&src, 2), "  ");
    assert_eq!(
        continuation_prefix(&src, text.find("`a`").unwrap()),
        ">    "
    );
    assert_eq!(continuation_prefix(&src, text.find("plain").unwrap()), "");
}
