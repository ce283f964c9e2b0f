//! Dialect reading, unit by unit.

use super::*;

#[test]
fn runme_names_become_step_ids() {
    assert_eq!(runme_id("build").as_deref(), Some("build"));
    assert_eq!(runme_id("JWT").as_deref(), Some("jwt"));
    assert_eq!(runme_id("Build Image").as_deref(), Some("build-image"));
    assert_eq!(runme_id("ci/test:unit").as_deref(), Some("ci-test-unit"));
    assert_eq!(runme_id("--x--").as_deref(), Some("x"));
    assert_eq!(
        runme_id("01HF7BT3HD84GWTQB8ZCWPH803").as_deref(),
        Some("01hf7bt3hd84gwtqb8zcwph803")
    );
    assert_eq!(runme_id("…"), None);
    assert_eq!(runme_id(""), None);
}

#[test]
fn ulids() {
    assert!(is_ulid("01HF7BT3HD84GWTQB8ZCWPH803"));
    assert!(is_ulid("01hf7bt3hd84gwtqb8zcwph803"));
    assert!(!is_ulid("01HF7BT3HD84GWTQB8ZCWPH80"));
    assert!(!is_ulid("01HF7BT3HD84GWTQB8ZCWPH8OU"));
    assert!(!is_ulid("build"));
}

fn attrs_of(info: &str, front_cwd: Option<&str>) -> (StepAttrs, Vec<Problem>, Vec<Problem>) {
    let parsed = attrs::parse_info(info);
    assert_eq!(parsed.style, Style::Runme, "{info}");
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let sa = runme_step_attrs(&parsed.attrs, front_cwd, &mut problems, &mut warnings);
    (sa, problems, warnings)
}

#[test]
fn runme_attributes_map_onto_runsheets() {
    let (sa, p, w) = attrs_of(
        r#"sh {"background":"true","id":"01HJ9NZT45B03C9J6YJJJDB8PG","interactive":"false","name":"server-dev","excludeFromRunAll":"true","cwd":"../","promptEnv":"no","tag":"a,b","terminalRows":"15","closeTerminalOnSuccess":"false"}"#,
        Some("docs"),
    );
    assert!(p.is_empty() && w.is_empty(), "{p:?} {w:?}");
    assert_eq!(sa.id.as_ref().map(|i| i.0.as_str()), Some("server-dev"));
    assert!(sa.derived_id);
    let o = &sa.options;
    assert!(o.background && o.exclude_from_run_all && !sa.stdin);
    assert_eq!(o.cwd.as_deref(), Some("docs/../"));
    assert_eq!(o.tags, ["a", "b"]);
    assert_eq!(sa.prompt_env, Some(false));

    // Runme's defaults: interactive, prompts on; a ULID stands in for a name.
    let (sa, _, _) = attrs_of(r#"sh {"id":"01HF7BT3HD84GWTQB8ZCWPH803"}"#, None);
    assert!(sa.stdin && sa.prompt_env.is_none() && !sa.options.background);
    assert_eq!(
        sa.id.map(|i| i.0).as_deref(),
        Some("01hf7bt3hd84gwtqb8zcwph803")
    );

    // An absolute cwd stands alone; an interpreter names the program.
    let (sa, _, _) = attrs_of(r#"sh { cwd=/opt interpreter=zsh }"#, Some("a/b"));
    assert_eq!(sa.options.cwd.as_deref(), Some("/opt"));
    assert_eq!(sa.interpreter.as_deref(), Some("zsh"));
}

#[test]
fn runsheet_words_inside_a_runme_group_are_runsheets() {
    let (sa, p, _) = attrs_of("sh { name=deploy timeout=5m retry=2 }", None);
    assert!(p.is_empty(), "{p:?}");
    assert_eq!(
        sa.options.timeout,
        Some(std::time::Duration::from_secs(300))
    );
    assert_eq!(sa.options.retry, 2);
    // Bad values of runsheet's words are still errors ...
    let (_, p, _) = attrs_of("sh { name=deploy timeout=soon }", None);
    assert_eq!(p[0].code, "bad-duration");
    // ... a misspelling is a warning (Runme would ignore it), other words nothing.
    let (_, p, w) = attrs_of(
        "sh { name=deploy timout=5m mimeType=text/plain foo=bar }",
        None,
    );
    assert!(p.is_empty());
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].message, "unknown attribute `timout` is ignored");
    assert_eq!(w[0].help.as_deref(), Some("did you mean `timeout`?"));
}

#[test]
fn which_languages_are_steps() {
    let plain = Dialect::default();
    let runme = Dialect {
        runme: true,
        ..Dialect::default()
    };
    let ie = Dialect {
        ie: true,
        ..Dialect::default()
    };
    let shell = Some(Runs::Shell(None));
    assert_eq!(plain.runs("sh"), shell);
    assert_eq!(plain.runs("console"), shell);
    assert_eq!(plain.runs("python"), None);
    assert_eq!(plain.runs("azurecli"), None);
    assert_eq!(runme.runs("bash"), shell);
    assert_eq!(runme.runs("js"), Some(Runs::Program("node".into())));
    assert_eq!(runme.runs("python"), Some(Runs::Program("python3".into())));
    assert_eq!(runme.runs("ksh"), Some(Runs::Shell(Some("ksh".into()))));
    assert_eq!(runme.runs("go"), None);
    assert_eq!(runme.runs("ini"), None);
    assert_eq!(runme.runs("console"), None);
    assert_eq!(ie.runs("bash"), shell);
    assert_eq!(ie.runs("azurecli"), Some(Runs::Shell(Some("bash".into()))));
    assert_eq!(
        ie.runs("azurecli-interactive"),
        Some(Runs::Shell(Some("bash".into())))
    );
    assert_eq!(
        ie.runs("azurepowershell-interactive"),
        Some(Runs::Program("pwsh".into()))
    );
    // Innovation Engine runs bash and the Azure CLI's blocks, not the others.
    assert_eq!(ie.runs("sh"), None);
    assert_eq!(ie.runs("console"), None);
}

#[test]
fn dialects_are_recognised_from_the_body() {
    let d = Dialect::detect("# T\n```sh { name=x }\nls\n```\n", false, false);
    assert!(d.runme && !d.ie);
    let d = Dialect::detect("```azurecli-interactive\naz\n```\n", false, false);
    assert!(d.ie && !d.runme);
    let d = Dialect::detect(
        "```bash\nls\n```\n<!--expected_similarity=0.8-->\n",
        false,
        false,
    );
    assert!(d.ie);
    let d = Dialect::detect("```bash {#x}\nls\n```\n```text\nx\n```\n", false, false);
    assert_eq!(d, Dialect::default());
}

#[test]
fn runme_prompts_are_dropped_line_for_line() {
    let s = script("$ echo 1\n$echo 2\n$HOME/bin/x\n$\nls\n", true, Asks::Never);
    assert_eq!(
        s.script.as_deref(),
        Some("echo 1\n$echo 2\n$HOME/bin/x\n\nls\n")
    );
    assert!(s.asks.is_empty());
    let s = script("echo 1\n", true, Asks::Never);
    assert_eq!(s.script, None);
}

#[test]
fn placeholders_ask_for_inputs() {
    let code = "export A=\"\"\nexport B=''\nexport C=\"x\"\nexport D=word\nexport E=\"$HOME\"\nexport F=$(date)\n  export G=\"\"\nexport H=\"\" # fill in\necho \\\nexport I=\"\"\n";
    let s = script(code, false, Asks::Empty);
    let names: Vec<&str> = s.asks.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["A", "B", "H"]);
    assert_eq!(s.asks[2].line, 7);
    assert_eq!(
        s.script.as_deref(),
        Some("export A\nexport B\nexport C=\"x\"\nexport D=word\nexport E=\"$HOME\"\nexport F=$(date)\n  export G=\"\"\nexport H\necho \\\nexport I=\"\"\n")
    );
    // Runme asks for literal values too, offering them.
    let s = script(code, false, Asks::Literals);
    let asked: Vec<(&str, Option<&str>)> = s
        .asks
        .iter()
        .map(|a| (a.name.as_str(), a.default.as_deref()))
        .collect();
    assert_eq!(
        asked,
        [
            ("A", None),
            ("B", None),
            ("C", Some("x")),
            ("D", Some("word")),
            ("H", None)
        ]
    );
    let s = script("$ export V=\"\"\n", true, Asks::Literals);
    assert_eq!(s.script.as_deref(), Some("export V\n"));
    assert!(script(code, false, Asks::Never).asks.is_empty());
}

#[test]
fn innovation_engine_comments() {
    let got = |html: &str| {
        ie_comments(html)
            .into_iter()
            .map(|(_, r)| r)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        got("<!--expected_similarity=0.8-->"),
        [Ok(Expect::Score(0.8))]
    );
    assert_eq!(
        got("<!-- expected_similarity=1.0 -->"),
        [Ok(Expect::Score(1.0))]
    );
    assert_eq!(
        got("<!-- expected_similarity= 0.25 -->"),
        [Ok(Expect::Score(0.25))]
    );
    assert_eq!(
        got(r#"<!-- expected_similarity=".*is available." -->"#),
        [Ok(Expect::Regex(".*is available.".into()))]
    );
    // Innovation Engine takes a quoted regex after other spellings too.
    assert_eq!(
        got(r#"<!-- expected_results=".*EG is a Copilot.*" -->"#),
        [Ok(Expect::Regex(".*EG is a Copilot.*".into()))]
    );
    let warned = |html: &str| match &got(html)[..] {
        [Err(p)] => p.message.clone(),
        other => panic!("{html}: {other:?}"),
    };
    assert!(warned("<!-- expected_results=1.0 -->").contains("is ignored"));
    assert!(warned("<!-- expected-similarity=0.8 -->").contains("is ignored"));
    assert!(
        warned(r#"<!-- expected_similarity=".*Apply complete!.* -->"#).contains("no closing quote")
    );
    assert!(warned("<!-- expected_similarity=high -->").contains("neither a number"));
    assert!(warned("<!-- expected_similarity=1.5 -->").contains("never be reached"));
    assert!(got("<!-- omit in toc -->").is_empty());
    assert!(got("<!-- TODO: x=1 -->").is_empty());
}

#[test]
fn innovation_engine_variables() {
    let html = "<!--\n```variables\nexport MY_RESOURCE_GROUP_NAME=myResourceGroup\nexport MY_LOCATION=\"east us\"\nnot an export\n```\n-->";
    assert_eq!(
        ie_variables(html),
        [
            (
                "MY_RESOURCE_GROUP_NAME".to_string(),
                "myResourceGroup".to_string()
            ),
            ("MY_LOCATION".to_string(), "east us".to_string())
        ]
    );
    assert!(ie_variables("<!-- nothing -->").is_empty());
}

/// The quick look may say "maybe" too often, never "no" wrongly: every
/// foreign runbook it passes must still be detected by the full parse.
#[test]
fn quick_look_never_misses_a_dialect() {
    let plain = "# Plain\n\n```bash {#build timeout=5m}\nmake\n```\n\n~~~sh\nls\n~~~\n";
    assert!(!may_be_foreign(plain));
    assert_eq!(Dialect::detect(plain, false, false), Dialect::default());
    let foreign = [
        "```sh { name=build interactive=false }\nmake\n```\n",
        "- item\n\n  ~~~bash {\"name\":\"x\"}\n  ls\n  ~~~\n",
        "> ```azurecli\n> az group list\n> ```\n",
        "```sh\nls\n```\n<!-- expected_similarity=0.8 -->\n```text\nx\n```\n",
        "```sh {name=a&#x20;b}\nls\n```\n",
        "````sh { name=four }\nls\n````\n",
    ];
    for body in foreign {
        assert!(may_be_foreign(body), "{body}");
        let d = Dialect::detect(body, false, false);
        assert!(d.runme || d.ie || body.contains('&'), "{body}");
    }
}

/// The quick look scans for `azure` before each of Innovation Engine's
/// languages: a language without it would never be looked for.
#[test]
fn innovation_engine_languages_are_found_by_the_quick_look() {
    assert!(IE_LANGS.iter().all(|l| l.contains("azure")));
    for lang in IE_LANGS {
        let body = format!("# T\n\n```{lang}\naz group list\n```\n");
        assert!(may_be_foreign(&body), "{lang}");
        assert!(Dialect::detect(&body, false, false).ie, "{lang}");
    }
    assert!(!may_be_foreign(
        "# T\n\nAzure is a cloud.\n\n```bash\nls\n```\n"
    ));
}
