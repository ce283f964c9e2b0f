//! `check --shard K/N` and `report merge`: a generated tree of runbooks
//! checked in shards and merged gives exactly what one unsharded check gives
//! (verdicts, exit code, summary, JSON and JUnit, volatile values aside), and
//! every way the pieces can fail to add up is a clear exit 2.

use std::path::Path;

use crate::sheet::{Ran, Sheet};

/// A runbook with one passing step.
fn passing(title: &str, word: &str) -> String {
    format!("# {title}\n\n```sh\necho {word}\n```\n\n```output\n{word}\n```\n")
}

/// Writes the tree every test here shards: 17 runbooks in subfolders, most
/// passing, one drifting from its expected output, one failing its exit
/// status, one failing a hidden check, one with a TODO, one with a manual
/// step, one that cannot start (a missing program), and one file the
/// `.gitignore` keeps out.
fn tree(root: &Path) {
    let mut files: Vec<(String, String)> = Vec::new();
    for i in 1..=4 {
        files.push((
            format!("runbooks/alpha/a{i}.md"),
            passing(&format!("Alpha {i}"), &format!("alpha-{i}")),
        ));
    }
    for i in 1..=4 {
        files.push((
            format!("runbooks/beta/b{i}.md"),
            passing(&format!("Beta {i}"), &format!("beta-{i}")),
        ));
    }
    for i in 1..=3 {
        files.push((
            format!("runbooks/gamma/deep/g{i}.md"),
            format!(
                "# Gamma {i}\n\n## Setup\n\n```sh\nexport N={i}\n```\n\n## Use\n\n\
                 ```console\n$ echo \"n is $N\"\nn is {i}\n```\n"
            ),
        ));
    }
    files.push((
        "runbooks/beta/drift.md".into(),
        "# Drift\n\n```sh\nprintf 'version: 2.0\\nok\\n'\n```\n\n```output\nversion: 1.0\nok\n```\n\n\
         ## Later\n\n```sh\necho never\n```\n"
            .into(),
    ));
    files.push((
        "runbooks/fail-exit.md".into(),
        "# Fails\n\n```sh\necho 'about to fail'\nexit 3\n```\n".into(),
    ));
    files.push((
        "runbooks/gamma/hidden.md".into(),
        "# Hidden\n\n```sh\necho 'all fine'\n```\n<!-- check: contains \"Successfully\" -->\n"
            .into(),
    ));
    files.push((
        "runbooks/gamma/todo.md".into(),
        "# Todo\n\n**TODO**: add the smoke test\n\n```sh\necho ready\n```\n".into(),
    ));
    files.push((
        "runbooks/alpha/manual.md".into(),
        "# Manual\n\n```sh {manual}\nssh somewhere\n```\n\n```sh\necho after\n```\n".into(),
    ));
    files.push((
        "runbooks/needs.md".into(),
        "---\nrequires: [runsheet-no-such-program]\n---\n\n# Needs\n\n```sh\necho never\n```\n"
            .into(),
    ));
    files.push((
        "runbooks/drafts/ignored.md".into(),
        "```sh {nonsense}\n```\n".into(),
    ));
    files.push(("runbooks/.gitignore".into(), "drafts/\n".into()));
    for (rel, text) in files {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

const RUNBOOKS: usize = 17;

fn in_dir(root: &Path, args: &[&str]) -> Ran {
    Sheet::new().current_dir(root).args(args).run()
}

fn read(root: &Path, file: &str) -> String {
    std::fs::read_to_string(root.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// A JSON report with its volatile values (durations, run ids) blanked.
fn stable_json(text: &str) -> serde_json::Value {
    fn blank(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, child) in map.iter_mut() {
                    match k.as_str() {
                        "duration_ms" => *child = 0.into(),
                        "run_id" => *child = "".into(),
                        _ => blank(child),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(blank),
            _ => {}
        }
    }
    let mut v: serde_json::Value = serde_json::from_str(text).expect("valid JSON");
    blank(&mut v);
    v
}

/// A JUnit report with its times and run ids blanked.
fn stable_junit(xml: &str) -> String {
    let times = regex::Regex::new(r#" time="[^"]*""#).unwrap();
    let ids = regex::Regex::new(r#"(<property name="run_id" value=")[^"]*""#).unwrap();
    ids.replace_all(&times.replace_all(xml, r#" time="""#), r#"$1""#)
        .into_owned()
}

/// Terminal text with the summary table's duration column blanked.
fn stable_text(text: &str) -> String {
    let duration = regex::Regex::new(r"(?m) +(\d+ms|\d+\.\ds|\d+m\d\ds)$").unwrap();
    duration.replace_all(text, " T").into_owned()
}

/// What follows `report merge:`'s own first line.
fn merged_summary(ran: &Ran) -> String {
    let (first, rest) = ran.stdout.split_once('\n').expect("a first line");
    assert!(first.starts_with("report merge: "), "{}", ran.stdout);
    rest.to_string()
}

/// Checks the tree unsharded and in `n` shards, merges, and asserts that the
/// merge says, writes and exits exactly as the unsharded check did.
fn shards_equal_whole(root: &Path, n: usize, extra: &[&str]) -> (Ran, Ran) {
    let mut whole_args = vec![
        "check",
        "runbooks",
        "--json",
        "whole.json",
        "--junit",
        "whole.xml",
    ];
    whole_args.extend_from_slice(extra);
    let whole = in_dir(root, &whole_args);
    let mut reports = Vec::new();
    let mut held = 0;
    for k in 1..=n {
        let shard = format!("{k}/{n}");
        let (json, xml) = (format!("shard-{k}.json"), format!("shard-{k}.xml"));
        let mut args = vec!["check", "runbooks", "--shard", &shard, "--jobs", "2"];
        args.extend_from_slice(&["--json", &json, "--junit", &xml]);
        args.extend_from_slice(extra);
        let ran = in_dir(root, &args);
        assert!(
            ran.stdout.starts_with(&format!("shard {shard}: ")),
            "{}",
            ran.stdout
        );
        let report = stable_json(&read(root, &json));
        assert_eq!(report["shard"]["index"], k);
        assert_eq!(report["shard"]["total"], n);
        held += report["runbooks"].as_array().unwrap().len();
        reports.push(json);
    }
    assert_eq!(
        held, RUNBOOKS,
        "the shards together hold every runbook once"
    );
    let mut merge_args = vec!["report", "merge"];
    merge_args.extend(reports.iter().map(String::as_str));
    merge_args.extend_from_slice(&["--json", "merged.json", "--junit", "merged.xml"]);
    let merged = in_dir(root, &merge_args);

    assert_eq!(
        merged.code, whole.code,
        "exit code\n{}\n{}",
        merged.stdout, merged.stderr
    );
    let summary = stable_text(&merged_summary(&merged));
    assert!(
        stable_text(&whole.stdout).ends_with(&summary),
        "the merged summary is not the end of the unsharded output:\n--- merged\n{summary}\n--- whole\n{}",
        whole.stdout
    );
    assert_eq!(
        stable_json(&read(root, "merged.json")),
        stable_json(&read(root, "whole.json"))
    );
    assert_eq!(
        stable_junit(&read(root, "merged.xml")),
        stable_junit(&read(root, "whole.xml"))
    );
    (whole, merged)
}

#[test]
fn four_shards_merged_equal_one_unsharded_check() {
    let sheet = Sheet::new();
    let root = sheet.dir().to_path_buf();
    tree(&root);
    let (whole, merged) = shards_equal_whole(&root, 4, &[]);
    let merged = merged.code(1);
    let summary = merged_summary(&merged);
    // The summary the merge prints is the whole one, not a shard's.
    for expected in [
        "✗ runbooks/beta/drift.md:3 step `drift-1` in `drift`",
        "    -version: 1.0\n    +version: 2.0\n",
        "✗ runbooks/fail-exit.md:3 step `fails-1` in `fails`: exit status 3, expected 0\n    output:\n    | about to fail\n",
        "runbooks/gamma/hidden.md:6 output does not contain \"Successfully\"",
        "✗ runbooks/needs.md: not run: ",
        "TODO runbooks/gamma/todo.md:3 (section `todo`): add the smoke test",
        "check failed: 4 of 17 runbooks with failures, 1 TODO\n",
    ] {
        assert!(summary.contains(expected), "lacks {expected:?}:\n{summary}");
    }
    assert!(merged
        .stdout
        .starts_with("report merge: 4 shard reports, 17 runbooks\n"));
    assert!(!merged.stdout.contains("ignored.md"));
    // The merged JSON is an unsharded report: no shard block.
    let v = stable_json(&read(&root, "merged.json"));
    assert!(v.get("shard").is_none());
    assert_eq!(v["totals"]["runbooks"], RUNBOOKS);
    assert_eq!(whole.code, Some(1));
}

#[test]
fn strict_shards_merge_to_exit_3_when_only_todos_stand_in_the_way() {
    let sheet = Sheet::new();
    let root = sheet.dir().to_path_buf();
    tree(&root);
    for failing in [
        "beta/drift.md",
        "fail-exit.md",
        "gamma/hidden.md",
        "needs.md",
    ] {
        std::fs::remove_file(root.join("runbooks").join(failing)).unwrap();
    }
    // 13 runbooks now, passing but for the TODO.
    let whole = in_dir(
        &root,
        &[
            "check", "runbooks", "--strict", "--json", "w.json", "--junit", "w.xml",
        ],
    );
    whole.code(3);
    let mut reports = Vec::new();
    for k in 1..=4 {
        let json = format!("s{k}.json");
        in_dir(
            &root,
            &[
                "check",
                "runbooks",
                "--strict",
                "--shard",
                &format!("{k}/4"),
                "--json",
                &json,
            ],
        );
        reports.push(json);
    }
    let mut args = vec!["report", "merge", "--json", "m.json", "--junit", "m.xml"];
    args.extend(reports.iter().map(String::as_str));
    let merged = in_dir(&root, &args).code(3);
    assert!(merged
        .stdout
        .contains("check failed: 13 runbooks passed, but 1 TODO stands in the way (--strict)"));
    assert_eq!(
        stable_json(&read(&root, "m.json")),
        stable_json(&read(&root, "w.json"))
    );
    assert_eq!(
        stable_junit(&read(&root, "m.xml")),
        stable_junit(&read(&root, "w.xml"))
    );

    // Shards checked without --strict, merged with it: the same verdict.
    let mut lax = Vec::new();
    for k in 1..=2 {
        let json = format!("lax{k}.json");
        in_dir(
            &root,
            &[
                "check",
                "runbooks",
                "--shard",
                &format!("{k}/2"),
                "--json",
                &json,
            ],
        )
        .code(0);
        lax.push(json);
    }
    let mut args = vec!["report", "merge", "--strict", "--junit", "lax.xml"];
    args.extend(lax.iter().map(String::as_str));
    in_dir(&root, &args).code(3);
    assert_eq!(
        stable_junit(&read(&root, "lax.xml")),
        stable_junit(&read(&root, "w.xml"))
    );
    let args = ["report", "merge", "lax1.json", "lax2.json"];
    in_dir(&root, &args).code(0);
    // One strict shard and one lax one cannot be judged alike.
    let ran = in_dir(&root, &["report", "merge", "s1.json", "lax2.json"]).code(2);
    assert!(
        ran.stderr
            .contains("error: s1.json was checked with --strict and lax2.json without"),
        "{}",
        ran.stderr
    );
}

#[test]
fn more_shards_than_runbooks_leaves_some_empty_and_they_pass() {
    let sheet = Sheet::new();
    let root = sheet.dir().to_path_buf();
    tree(&root);
    let n = 20;
    let (_, merged) = shards_equal_whole(&root, n, &[]);
    merged.code(1);
    let empty = in_dir(
        &root,
        &["check", "runbooks", "--shard", "19/20", "--json", "e.json"],
    )
    .code(0);
    assert!(
        empty.stdout.starts_with(
            "shard 19/20: none of 17 runbooks (more shards than runbooks); nothing to check\n"
        ),
        "{}",
        empty.stdout
    );
    assert!(empty.stdout.contains("check passed: 0 runbooks"));
    let v = stable_json(&read(&root, "e.json"));
    assert_eq!(v["runbooks"].as_array().unwrap().len(), 0);
    assert_eq!(v["shard"]["runbooks"].as_array().unwrap().len(), RUNBOOKS);
}

/// The runbooks (paths) a shard's report holds.
fn held(root: &Path, report: &str) -> Vec<String> {
    let v = stable_json(&read(root, report));
    v["runbooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_split_is_the_same_however_the_path_is_spelled() {
    let sheet = Sheet::new();
    let root = sheet.dir().to_path_buf();
    tree(&root);
    let absolute = root.join("runbooks").display().to_string();
    let mut splits: Vec<Vec<String>> = Vec::new();
    for spelling in ["runbooks", "./runbooks", "runbooks/", absolute.as_str()] {
        in_dir(
            &root,
            &["check", spelling, "--shard", "2/3", "--json", "s.json"],
        );
        let prefix = spelling.trim_end_matches('/').to_string() + "/";
        let names = held(&root, "s.json")
            .into_iter()
            .map(|p| p.replace("//", "/").trim_start_matches(&prefix).to_string())
            .collect();
        splits.push(names);
    }
    assert!(!splits[0].is_empty());
    for s in &splits[1..] {
        assert_eq!(s, &splits[0]);
    }
}

/// A timings file with a skewed set of durations: `drift.md` took as long
/// as all the others together.
fn skewed_timings(root: &Path, from: &str, to: &str) {
    let mut v: serde_json::Value = serde_json::from_str(&read(root, from)).unwrap();
    for rb in v["runbooks"].as_array_mut().unwrap() {
        let path = rb["path"].as_str().unwrap().to_string();
        rb["duration_ms"] = match path.as_str() {
            "runbooks/beta/drift.md" => 80_000,
            "runbooks/gamma/todo.md" => 30_000,
            "runbooks/alpha/a1.md" => 30_000,
            _ => 5_000,
        }
        .into();
    }
    // A runbook the timings do not know counts as the median.
    let runbooks = v["runbooks"].as_array_mut().unwrap();
    runbooks.retain(|rb| rb["path"] != "runbooks/gamma/deep/g3.md");
    std::fs::write(root.join(to), v.to_string()).unwrap();
}

#[test]
fn timings_balance_the_shards_by_recorded_duration() {
    let sheet = Sheet::new();
    let root = sheet.dir().to_path_buf();
    tree(&root);
    in_dir(&root, &["check", "runbooks", "--json", "first.json"]).code(1);
    skewed_timings(&root, "first.json", "timings.json");
    // 80s + 2 × 30s + 14 × 5s (g3.md counted as the median, 5s) = 210s.
    let mut loads = Vec::new();
    for k in 1..=4 {
        let json = format!("t{k}.json");
        let ran = in_dir(
            &root,
            &[
                "check",
                "runbooks",
                "--shard",
                &format!("{k}/4"),
                "--timings",
                "timings.json",
                "--json",
                &json,
            ],
        );
        let first = ran.stdout.lines().next().unwrap().to_string();
        assert!(
            first.contains("(balanced by the durations in timings.json; 1 runbook not in it counts as the median, 5.0s)"),
            "{first}"
        );
        let v = stable_json(&read(&root, &json));
        assert_eq!(v["shard"]["balanced_by"], "durations");
        let load: u64 = held(&root, &json)
            .iter()
            .map(|p| match p.as_str() {
                "runbooks/beta/drift.md" => 80,
                "runbooks/gamma/todo.md" | "runbooks/alpha/a1.md" => 30,
                _ => 5,
            })
            .sum();
        assert!(
            first.contains(&format!("about {}", fmt_secs(load))),
            "{first} ({load}s)"
        );
        loads.push((load, held(&root, &json)));
    }
    let drift_shard = loads
        .iter()
        .find(|(_, held)| held.contains(&"runbooks/beta/drift.md".to_string()))
        .unwrap();
    assert_eq!(
        drift_shard.1,
        ["runbooks/beta/drift.md"],
        "the long runbook runs alone"
    );
    let mut seconds: Vec<u64> = loads.iter().map(|(l, _)| *l).collect();
    seconds.sort();
    assert_eq!(seconds, [40, 45, 45, 80]);

    in_dir(
        &root,
        &[
            "report",
            "merge",
            "t1.json",
            "t2.json",
            "t3.json",
            "t4.json",
            "--json",
            "merged.json",
        ],
    )
    .code(1);

    // A merged report (which a CI job keeps for the next run) is a timings
    // file too; it knows every runbook.
    let ran = in_dir(
        &root,
        &[
            "check",
            "runbooks",
            "--shard",
            "3/4",
            "--timings",
            "merged.json",
        ],
    );
    let first = ran.stdout.lines().next().unwrap();
    assert!(first.starts_with("shard 3/4: "), "{first}");
    assert!(
        first.ends_with("(balanced by the durations in merged.json)"),
        "{first}"
    );
    // A timings file not there yet (the first run of a CI cache) warns
    // and splits by count, as every job that misses it does.
    let ran = in_dir(
        &root,
        &[
            "check",
            "runbooks",
            "--shard",
            "1/4",
            "--timings",
            "not-yet.json",
        ],
    );
    assert_eq!(
        ran.stderr,
        "warning: --timings not-yet.json: no such file; splitting by count\n"
    );
    assert!(
        ran.stdout
            .starts_with("shard 1/4: 5 of 17 runbooks (split by count)\n"),
        "{}",
        ran.stdout
    );
}

fn fmt_secs(s: u64) -> String {
    if s < 60 {
        format!("{s}.0s")
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

#[test]
fn shards_split_by_different_timings_are_caught_by_merge() {
    let sheet = Sheet::new();
    let root = sheet.dir().to_path_buf();
    tree(&root);
    in_dir(&root, &["check", "runbooks", "--json", "first.json"]).code(1);
    skewed_timings(&root, "first.json", "timings.json");
    // Shard 1 read the timings; shard 2's job missed them (a cache miss).
    in_dir(
        &root,
        &[
            "check",
            "runbooks",
            "--shard",
            "1/2",
            "--timings",
            "timings.json",
            "--json",
            "a.json",
        ],
    );
    in_dir(
        &root,
        &["check", "runbooks", "--shard", "2/2", "--json", "b.json"],
    );
    let ran = in_dir(&root, &["report", "merge", "a.json", "b.json"]).code(2);
    assert!(
        ran.stderr
            .contains(" is in both a.json and b.json; the shards were split differently")
            || ran.stderr.contains(" in no shard's report: "),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("the same --timings file"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stdout.is_empty(),
        "no summary from reports that do not add up"
    );
}

#[test]
fn merge_refuses_reports_that_do_not_add_up() {
    let sheet = Sheet::new();
    let root = sheet.dir().to_path_buf();
    tree(&root);
    for k in 1..=3 {
        in_dir(
            &root,
            &[
                "check",
                "runbooks",
                "--shard",
                &format!("{k}/3"),
                "--json",
                &format!("s{k}.json"),
            ],
        );
    }
    in_dir(&root, &["check", "runbooks/alpha", "--json", "plain.json"]);
    std::fs::write(root.join("broken.json"), "{\"schema\": 1,").unwrap();
    std::fs::write(
        root.join("list.json"),
        "{\"runbook\": \"a.md\", \"steps\": []}",
    )
    .unwrap();
    let mut future: serde_json::Value = serde_json::from_str(&read(&root, "s3.json")).unwrap();
    future["schema"] = 2.into();
    std::fs::write(root.join("future.json"), future.to_string()).unwrap();

    let cases: &[(&[&str], &str)] = &[
        (&["s1.json", "s3.json"], "error: shard 2/3 is missing; did its job fail before writing its --json report?"),
        (&["s1.json", "s2.json", "s2.json"], "error: shard 2/3 is given twice: s2.json and s2.json"),
        (&["s1.json", "s2.json", "broken.json"], "error: broken.json: not valid JSON (EOF while parsing a value at line 1 column 13)"),
        (&["s1.json", "list.json"], "error: list.json: not a report of `runsheet check --json`"),
        (&["s1.json", "s2.json", "future.json"], "error: future.json: a report of schema 2, which this runsheet"),
        (&["s1.json", "s2.json", "s3.json", "plain.json"], "error: s1.json is the report of shard 1/3, but plain.json is not a shard's report"),
        (&["s1.json", "nope.json"], "error: cannot read nope.json: "),
        (&["plain.json", "plain.json"], "error: runbooks/alpha/a1.md is in both plain.json and plain.json; a runbook may be merged only once"),
    ];
    for (files, message) in cases {
        let mut args = vec!["report", "merge", "--json", "out.json"];
        args.extend_from_slice(files);
        let ran = in_dir(&root, &args).code(2);
        assert!(ran.stderr.starts_with(message), "{files:?}: {}", ran.stderr);
        assert!(
            !root.join("out.json").exists(),
            "no report from a refused merge"
        );
    }
    let ran = Sheet::new().args(["report", "merge"]).run().code(2);
    assert!(ran.stderr.contains("<REPORT.json>..."), "{}", ran.stderr);
    // Plain reports of separate checks merge one after the other.
    in_dir(&root, &["check", "runbooks/beta", "--json", "beta.json"]).code(1);
    let ran = in_dir(&root, &["report", "merge", "plain.json", "beta.json"]).code(1);
    assert!(
        ran.stdout
            .starts_with("report merge: 2 reports, 10 runbooks\n"),
        "{}",
        ran.stdout
    );
}

#[test]
fn bad_shard_arguments_are_usage_errors() {
    let sheet = Sheet::new();
    let root = sheet.dir().to_path_buf();
    tree(&root);
    for (shard, message) in [
        (
            "0/4",
            "error: `--shard 0/4`: shards are counted from 1, so K must be between 1 and 4\n",
        ),
        (
            "5/4",
            "error: `--shard 5/4`: there are only 4 shards, so K must be between 1 and 4\n",
        ),
        (
            "x",
            "error: `--shard x`: expected K/N, such as 2/4 (shard K of N, counted from 1)\n",
        ),
        (
            "1/0",
            "error: `--shard 1/0`: the number of shards N must be at least 1\n",
        ),
    ] {
        let ran = in_dir(&root, &["check", "runbooks", "--shard", shard]).code(2);
        assert_eq!(ran.stderr, message);
        assert!(ran.stdout.is_empty());
    }
    in_dir(&root, &["check", "runbooks", "--timings", "t.json"])
        .code(2)
        .stderr_has("the following required arguments were not provided:\n  --shard <K/N>");
    std::fs::write(root.join("t.json"), "not json").unwrap();
    in_dir(
        &root,
        &["check", "runbooks", "--shard", "1/2", "--timings", "t.json"],
    )
    .code(2)
    .stderr_has("error: --timings t.json: not valid JSON (expected ident at line 1 column 2)");
    assert!(!root.join(".runsheet").exists(), "nothing ran");
}

#[test]
fn an_invalid_runbook_stops_every_shard() {
    let sheet = Sheet::new();
    let root = sheet.dir().to_path_buf();
    tree(&root);
    std::fs::write(
        root.join("runbooks/zz-broken.md"),
        "# Broken\n\n```sh {timout=5s}\ntrue\n```\n",
    )
    .unwrap();
    for k in 1..=3 {
        in_dir(
            &root,
            &[
                "check",
                "runbooks",
                "--shard",
                &format!("{k}/3"),
                "--json",
                "s.json",
            ],
        )
        .code(2)
        .stderr_has("runbooks/zz-broken.md:3");
    }
    assert!(!root.join("s.json").exists());
    assert!(!root.join(".runsheet").exists(), "no shard ran anything");
}

/// Ctrl-C in one shard's job: its report says so, and the merge exits 130
/// as the interrupted check would, without calling the runbooks the shard
/// never reached missing.
#[test]
fn an_interrupted_shard_merges_to_130() {
    let sheet = Sheet::new();
    let root = sheet.dir().to_path_buf();
    let rb = root.join("runbooks");
    std::fs::create_dir_all(&rb).unwrap();
    std::fs::write(
        rb.join("a-slow.md"),
        "# Slow\n\n```sh\ntouch started\nsleep 30\n```\n",
    )
    .unwrap();
    for name in ["b", "c", "d"] {
        std::fs::write(rb.join(format!("{name}.md")), passing(name, name)).unwrap();
    }
    // By count, shard 1/2 holds a-slow.md and c.md.
    let mut cmd = Sheet::new()
        .current_dir(&root)
        .args(["check", "runbooks", "--shard", "1/2", "--json", "s1.json"])
        .command();
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().expect("spawn runsheet");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !root.join("started").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the slow step never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // SAFETY: signalling our own child by its pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().expect("wait runsheet");
    assert_eq!(out.status.code(), Some(130));
    assert_eq!(held(&root, "s1.json"), ["runbooks/a-slow.md"]);
    in_dir(
        &root,
        &["check", "runbooks", "--shard", "2/2", "--json", "s2.json"],
    )
    .code(0);
    assert_eq!(held(&root, "s2.json"), ["runbooks/b.md", "runbooks/d.md"]);
    let ran = in_dir(
        &root,
        &["report", "merge", "s1.json", "s2.json", "--json", "m.json"],
    )
    .code(130);
    assert!(
        ran.stdout.contains("check interrupted: 3 runbooks\n"),
        "{}",
        ran.stdout
    );
    let v = stable_json(&read(&root, "m.json"));
    assert_eq!(v["result"], "interrupted");
    assert_eq!(v["runbooks"][0]["interrupted"], true);
}
