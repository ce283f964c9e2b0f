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

#[test]
fn a_runme_runbook_reads_as_runme_reads_it() {
    let text = "---\nrunme:\n  id: 01HF7BT3HD84GWTQB9008APC3C\n  version: v3\ncwd: sub\n---\n\n# Runme\n\n```sh {\"id\":\"01HF7BT3HD84GWTQB8ZCWPH803\"}\n$ echo \"Hello, runme!\"\n```\n\n```sh { name=Build interactive=false }\nmake\n```\n\n```sh {\"name\":\"build\",\"excludeFromRunAll\":\"true\",\"cwd\":\"../x\"}\nmake clean\n```\n\n```js {\"name\":\"hello-js\"}\nconsole.log(1)\n```\n\n```graphql {\"interpreter\":\"cat\"}\n{ x }\n```\n\n```ini {\"id\":\"01HF7BT3HD84GWTQB8ZR32T70Y\"}\n[a]\n```\n\n```sh\necho plain\n```\n";
    let p = parse_text(text);
    assert!(errors(&p).is_empty(), "{:?}", p.diagnostics);
    assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
    let rb = &p.runbook;
    let ids: Vec<&str> = rb.steps.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "01hf7bt3hd84gwtqb8zcwph803",
            "build",
            "build-2",
            "hello-js",
            "runme-5",
            "runme-6"
        ]
    );
    let s = &rb.steps;
    assert_eq!(s[0].script(), "echo \"Hello, runme!\"\n");
    assert_eq!(s[0].code, "$ echo \"Hello, runme!\"\n");
    assert!(s[0].options.stdin && !s[1].options.stdin && s[5].options.stdin);
    assert!(s[2].options.exclude_from_run_all);
    assert_eq!(s[2].options.cwd.as_deref(), Some("sub/../x"));
    assert_eq!(
        s[3].kind,
        StepKind::Interpreter {
            program: "node".into()
        }
    );
    assert_eq!(
        s[4].kind,
        StepKind::Interpreter {
            program: "cat".into()
        }
    );
    assert_eq!(s[2].attrs["name"], "build");
    assert_eq!(rb.front.extra["runme"]["version"], "v3");
    // Nothing Runme would run is left as a step; the `ini` block is not one.
    assert_eq!(rb.blocks[5].role, crate::model::BlockRole::Other);
}

#[test]
fn runme_prompts_and_placeholders_become_inputs() {
    let text = "# Vars\n\n```bash {\"name\":\"vars\",\"promptEnv\":\"auto\"}\n$ export VAR1='Placeholder 1'\n$ export VAR3=\"\"\n$ export API_TOKEN=\"\"\n$ echo \"${VAR1} ${VAR3}\"\n```\n\n```bash {\"name\":\"vars2\",\"promptEnv\":\"no\"}\nexport VAR5='Placeholder 5'\n```\n";
    let rb = parse_text(text).runbook;
    let inputs: Vec<(&str, Option<&str>, usize, bool)> = rb
        .front
        .inputs
        .iter()
        .map(|i| (i.name.as_str(), i.default.as_deref(), i.line, i.secret))
        .collect();
    assert_eq!(
        inputs,
        [
            ("VAR1", Some("Placeholder 1"), 4, false),
            ("VAR3", None, 5, false),
            ("API_TOKEN", None, 6, true)
        ]
    );
    assert_eq!(rb.front.inputs[0].steps, ["vars"]);
    assert_eq!(
        rb.steps[0].script(),
        "export VAR1\nexport VAR3\nexport API_TOKEN\necho \"${VAR1} ${VAR3}\"\n"
    );
    assert_eq!(rb.steps[1].options.script, None);
    // skipPrompts: nothing is asked, the values written stand.
    let skipped = parse_text(&format!("---\nskipPrompts: true\nrunme: {{}}\n---\n{text}")).runbook;
    assert!(skipped.front.inputs.is_empty());
    assert_eq!(skipped.steps[0].script(), "export VAR1='Placeholder 1'\nexport VAR3=\"\"\nexport API_TOKEN=\"\"\necho \"${VAR1} ${VAR3}\"\n");
}

#[test]
fn a_placeholder_in_runsheets_own_steps_asks_for_an_input() {
    let text = "---\ninputs:\n  REGION: { description: where, default: eu }\n---\n# D\n\n```sh {#a}\nexport REGION=\"\"\nexport USER_NAME=\"\"\nexport FIXED=\"x\"\n```\n\n```sh {#b}\nexport USER_NAME=\"\"\n```\n";
    let rb = parse_text(text).runbook;
    let inputs: Vec<(&str, Vec<String>)> = rb
        .front
        .inputs
        .iter()
        .map(|i| (i.name.as_str(), i.steps.clone()))
        .collect();
    assert_eq!(
        inputs,
        [
            ("REGION", vec![]),
            ("USER_NAME", vec!["a".to_string(), "b".to_string()])
        ]
    );
    assert_eq!(
        rb.steps[0].script(),
        "export REGION\nexport USER_NAME\nexport FIXED=\"x\"\n"
    );
}

#[test]
fn an_innovation_engine_scenario_reads_as_innovation_engine_reads_it() {
    let text = "---\ntitle: Scenario\nms.author: someone\n---\n<!--\n```variables\nexport MY_LOCATION=eastus\n```\n-->\n\n# Fuzzy\n\n```azurecli-interactive\necho \"Hello World\"\n```\n\nThis is what the expected output should be\n\n<!--expected_similarity=0.8-->\n\n```text\nHello world\n```\n\n```output\nan example only\n```\n\n```bash\necho hi\n```\n\n<!-- expected_similarity=\".*h.\" -->\n```json\n{\"a\": 1}\n```\n\n```azurepowershell-interactive\nGet-Date\n```\n\n```console\n$ not a step here\n```\n\n```sh\nnor this\n```\n";
    let p = parse_text(text);
    assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
    let rb = &p.runbook;
    assert_eq!(rb.title, "Scenario");
    assert_eq!(rb.front.env["MY_LOCATION"], "eastus");
    assert_eq!(rb.front.extra["ms.author"], "someone");
    let kinds: Vec<&StepKind> = rb.steps.iter().map(|s| &s.kind).collect();
    assert_eq!(
        kinds,
        [
            &StepKind::Shell {
                program: "bash".into()
            },
            &StepKind::Shell {
                program: "bash".into()
            },
            &StepKind::Interpreter {
                program: "pwsh".into()
            },
        ]
    );
    match &rb.steps[0].checks[..] {
        [Check::Similar {
            line,
            expected,
            want,
            json,
            content_span,
        }] => {
            assert_eq!(
                (*line, expected.as_str(), *json),
                (21, "Hello world\n", false)
            );
            assert_eq!(want, &crate::model::Similarity::Score { min: 0.8 });
            assert_eq!(&text[content_span.range()], "Hello world\n");
        }
        other => panic!("{other:?}"),
    }
    match &rb.steps[1].checks[..] {
        [Check::Similar { want, json, .. }] => {
            assert_eq!(
                want,
                &crate::model::Similarity::Regex {
                    regex: ".*h.".into()
                }
            );
            assert!(json);
        }
        other => panic!("{other:?}"),
    }
    // The uncommented `output` block is an example, as Innovation Engine reads it.
    let roles: Vec<crate::model::BlockRole> = rb.blocks.iter().map(|b| b.role).collect();
    use crate::model::BlockRole::{Other, Output, Step};
    assert_eq!(
        roles,
        [Step, Output, Other, Step, Output, Step, Other, Other]
    );
}

#[test]
fn innovation_engine_comments_it_would_ignore_are_warnings() {
    let p = parse_text("<!-- expected_similarity=0.8 -->\n\n```bash\nls\n```\n\n<!-- expected_results=1.0 -->\n```text\nx\n```\n\n<!-- expected_similarity=\"(?!x)\" -->\n```text\nx\n```\n");
    assert!(errors(&p).is_empty(), "{:?}", p.diagnostics);
    assert_eq!(
        codes(&p),
        [
            "expectation-without-step",
            "ignored-expectation",
            "bad-regex"
        ]
    );
    assert_eq!(p.diagnostics[2].line, 12);
    // The ignored comment left the block unchecked; the bad regex still checks (and fails).
    assert_eq!(p.runbook.steps[0].checks.len(), 1);
}

#[test]
fn site_front_matter_and_info_strings_never_block() {
    let text = "---\ntitle: KubePodCrashLooping\nweight: 20\nmenu: { main: {} }\n---\n# Pod\n\n```bash title=\"Terminal\" {3-5}\nkubectl get pods\n```\n\n```shell {.line-numbers}\nkubectl logs x\n```\n\n```sh linenums=\"1\" hl_lines=\"2\"\necho hi\n```\n";
    let p = parse_text(text);
    assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
    assert_eq!(p.runbook.steps.len(), 3);
    assert_eq!(p.runbook.blocks[0].info, "bash title=\"Terminal\" {3-5}");
    assert!(p.runbook.steps.iter().all(|s| s.attrs.is_empty()));
    // A `console` block with no `$ ` prompt is plain commands.
    let p = parse_text("```console\nkubectl get pods\n```\n```console\n$ ls\nout\n```\n");
    assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
    assert_eq!(
        p.runbook.steps[0].kind,
        StepKind::Shell {
            program: "bash".into()
        }
    );
    assert!(matches!(p.runbook.steps[1].kind, StepKind::Console { .. }));
    // runsheet's own misspellings still refuse the runbook.
    let p = parse_text("```sh {timout=5s}\ntrue\n```\n");
    assert_eq!(codes(&p), ["unknown-attribute"]);
    let p = parse_text("---\ntimout: 5m\n---\n");
    assert_eq!(codes(&p), ["unknown-front-matter-key"]);
}

#[test]
fn hugo_toml_front_matter_is_never_read_as_content() {
    let p = parse_text("+++\ntitle = \"From TOML\"\n# not a heading\n+++\n\n```sh\necho hi\n```\n");
    assert!(p.diagnostics.is_empty(), "{:?}", p.diagnostics);
    assert_eq!(p.runbook.title, "From TOML");
    assert!(p.runbook.sections.is_empty());
    assert_eq!(p.runbook.steps[0].line, 6);
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
        "+++",
        "title = \"x\"",
        "\u{feff}",
        "runsheet:",
        "runme:",
        "inputs:",
        "  A: { secret: true }",
        " {\"name\":\"x\",\"id\":\"01HF7BT3HD84GWTQB8ZCWPH803\"}",
        " { name=x interactive=false excludeFromRunAll=true }",
        " {3-5}",
        " {.class}",
        " title=\"t {x}\"",
        "```azurecli-interactive",
        "```text",
        "```json",
        "```js",
        "<!-- expected_similarity=0.8 -->",
        "<!--expected_similarity=\".*\"-->",
        "```variables",
        "export X=\"\"",
        "export Y=\"v\"",
        "$",
    ];

    fn check(text: &str) {
        let source = Source::new("p.md", text);
        let parsed = parse(&source);
        for s in &parsed.runbook.steps {
            // A dialect's script stands line for line with the block.
            assert_eq!(s.script().lines().count(), s.code.lines().count(), "{s:?}");
        }
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

#[test]
fn host_hosts_and_serial_are_step_attributes() {
    let p = parse_text(
        "---\nhost: db-1\nhosts:\n  web: [web-1, web-2]\n---\n# T\n\n\
         ```sh {host=admin@db-2}\nx\n```\n\n```sh {hosts=web,web-3 serial}\ny\n```\n\n\
         ```sh {hosts=\"a b\"}\nz\n```\n\n```sh {host=-oProxyCommand=x}\nz\n```\n",
    );
    let rb = &p.runbook;
    assert_eq!(rb.front.host.as_deref(), Some("db-1"));
    assert_eq!(rb.front.hosts["web"], ["web-1", "web-2"]);
    assert_eq!(rb.steps[0].options.host.as_deref(), Some("admin@db-2"));
    assert_eq!(rb.steps[1].options.hosts, ["web", "web-3"]);
    assert!(rb.steps[1].options.serial);
    let bad: Vec<String> = errors(&p).iter().map(|d| d.message.clone()).collect();
    assert_eq!(
        bad,
        [
            "`hosts=a b` is not a host",
            "`host=-oProxyCommand=x` is not a host"
        ]
    );
}

#[test]
fn a_step_without_hosts_keeps_its_hash() {
    // The new options are left out of the hash when unset, so records made
    // before they existed still match.
    let p = parse_text("# T\n\n```sh\necho hi\n```\n");
    let json = serde_json::to_string(&p.runbook.steps[0].options).unwrap();
    assert!(!json.contains("host") && !json.contains("serial"), "{json}");
}

#[test]
fn transcripts_under_other_highlighters_names_are_console_steps() {
    for lang in [
        "shell-session",
        "sh-session",
        "ShellSession",
        "bash-session",
    ] {
        let p = parse_text(&format!("```{lang}\n$ echo hi\nhi\n```\n"));
        let StepKind::Console { commands, .. } = &p.runbook.steps[0].kind else {
            panic!("{lang}: not a transcript");
        };
        assert_eq!(commands[0].expected.as_deref(), Some("hi\n"), "{lang}");
    }
}

#[test]
fn a_bash_block_with_prompts_is_a_transcript_and_other_bash_is_not() {
    let p = parse_text("```bash\n$ npm install\n$ npm test\nok\n```\n");
    let StepKind::Console { commands, .. } = &p.runbook.steps[0].kind else {
        panic!("not a transcript");
    };
    let cmds: Vec<&str> = commands.iter().map(|c| c.command.as_str()).collect();
    assert_eq!(cmds, ["npm install", "npm test"]);
    assert_eq!(commands[0].expected, None, "no lines after it: unchecked");
    assert_eq!(commands[1].expected.as_deref(), Some("ok\n"));
    for script in ["$HOME/bin/tool\n", "echo $ 1\n", "\n  ${CMD} run\n"] {
        let p = parse_text(&format!("```bash\n{script}```\n"));
        assert!(
            matches!(p.runbook.steps[0].kind, StepKind::Shell { .. }),
            "{script:?}"
        );
    }
}

#[test]
fn braced_languages_of_quarto_knitr_and_myst_are_read() {
    for (info, lang) in [
        ("{bash}", "bash"),
        ("{bash, echo=FALSE}", "bash"),
        ("{code-block} bash", "bash"),
        ("{code-cell} python", "python"),
    ] {
        let p = parse_text(&format!("```{info}\necho x\n```\n"));
        assert_eq!(p.runbook.blocks[0].lang, lang, "{info}");
        assert_eq!(p.runbook.blocks[0].info, info);
        assert!(p.diagnostics.is_empty(), "{info}: {:?}", p.diagnostics);
    }
    let steps = |info: &str| {
        parse_text(&format!("```{info}\necho x\n```\n"))
            .runbook
            .steps
            .len()
    };
    assert_eq!(steps("{bash}"), 1);
    assert_eq!(steps("{code-block} bash"), 1);
    // Languages runsheet does not run name nothing; runsheet's own groups
    // are not languages.
    for info in [
        "{r setup, echo=FALSE}",
        "{#build}",
        "{.numberLines}",
        "{code-block} yaml",
    ] {
        let p = parse_text(&format!("```{info}\nx\n```\n"));
        assert!(p.runbook.steps.is_empty(), "{info}");
        assert_ne!(p.runbook.blocks[0].lang, "bash", "{info}");
    }
}

#[test]
fn lint_parses_without_hashes_and_sees_the_same_runbook() {
    let source = Source::new("t.md", "# A\n```sh\necho 1\n```\n\nTODO: more\n");
    let full = parse(&source);
    let mut unhashed = parse_unhashed(&source);
    assert!(unhashed.runbook.hash.is_empty());
    assert!(unhashed.runbook.steps.iter().all(|s| s.hash.is_empty()));
    unhashed.runbook.hash = full.runbook.hash.clone();
    for (s, f) in unhashed.runbook.steps.iter_mut().zip(&full.runbook.steps) {
        s.hash = f.hash.clone();
    }
    let json = |r: &crate::model::Runbook| serde_json::to_string(r).unwrap();
    assert_eq!(json(&unhashed.runbook), json(&full.runbook));
    assert_eq!(unhashed.diagnostics.len(), full.diagnostics.len());
}

/// Steps whose options are the same share one copy (`Step::options`); a
/// step with other options has its own, and each reads as written.
#[test]
fn steps_with_the_same_options_share_them() {
    let p = parse_text(
        "# T\n\n```sh {timeout=5s}\na\n```\n\n```sh\nb\n```\n\n\
         ```sh {timeout=5s}\nc\n```\n\n```sh {timeout=6s}\nd\n```\n\n```sh {timeout=5s}\ne\n```\n",
    );
    let s = &p.runbook.steps;
    let same = |a: usize, b: usize| std::sync::Arc::ptr_eq(&s[a].options, &s[b].options);
    assert!(same(0, 2) && same(0, 4));
    assert!(!same(0, 1) && !same(0, 3) && !same(1, 3));
    let timeouts: Vec<_> = s
        .iter()
        .map(|s| s.options.timeout.map(|t| t.as_secs()))
        .collect();
    assert_eq!(timeouts, [Some(5), None, Some(5), Some(6), Some(5)]);
}
