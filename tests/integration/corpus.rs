//! Public documentation nobody here wrote (`../shared/corpus/real-docs/`): a
//! Hugo site's runbooks, Runme's docs and test data, Innovation Engine's
//! scenarios. `list` and `lint` must read every file as its authors meant it:
//! no refusal beyond the ones the folder's README documents, the steps and
//! checks their own tool would run, and a golden summary
//! (`tests/fixtures/real-docs/summary.txt`, `RUNSHEET_BLESS=1` refreshes it)
//! so that any change in what runsheet makes of them shows as a diff.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::sheet::{assert_golden, fixture, Sheet};

fn corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/real-docs");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("RUNSHEET_REQUIRE_CORPUS").is_none(),
        "RUNSHEET_REQUIRE_CORPUS is set but {} is missing",
        dir.display()
    );
    eprintln!(
        "skipped: the real-docs corpus was not found at {} \
         (set RUNSHEET_REQUIRE_CORPUS=1 to make this a failure)",
        dir.display()
    );
    None
}

/// Every `.md` file under `dir`, sorted, relative to `dir`.
fn markdown_files(dir: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .expect("read corpus dir")
            .map(|e| e.expect("dir entry").path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(root, &path, out);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path.strip_prefix(root).expect("under root").to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out
}

/// What runsheet made of one file.
struct Read {
    /// `list --json`, or `None` when the file was refused.
    json: Option<Value>,
    /// The error codes `list` refused it with.
    refused: Vec<String>,
    lint_errors: usize,
    lint_warnings: usize,
}

fn read(corpus: &Path, file: &Path) -> Read {
    let listed = Sheet::new()
        .current_dir(corpus)
        .arg("list")
        .arg("--json")
        .arg(file)
        .run();
    let (json, refused) = match listed.code {
        Some(0) => (Some(listed.json()), Vec::new()),
        Some(2) => (None, codes(&listed.stderr, "error")),
        other => panic!(
            "list {} exited {other:?}:\n{}",
            file.display(),
            listed.stderr
        ),
    };
    let linted = Sheet::new().current_dir(corpus).arg("lint").arg(file).run();
    let all = format!("{}{}", linted.stdout, linted.stderr);
    Read {
        json,
        refused,
        lint_errors: codes(&all, "error").len(),
        lint_warnings: codes(&all, "warning").len(),
    }
}

/// `error[code]` / `warning[code]` headings in rendered diagnostics.
fn codes(text: &str, severity: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix(severity)?.strip_prefix('['))
        .filter_map(|l| l.split_once(']').map(|(c, _)| c.to_string()))
        .collect()
}

/// The refusals the corpus README documents: the Hugo template whose front
/// matter is a Go template, not YAML, and fences really left open.
fn documented(file: &Path, refused: &[String]) -> bool {
    let template = file.ends_with("archetypes/default.md") && refused == ["bad-front-matter"];
    let open_fence = !refused.is_empty() && refused.iter().all(|c| c == "unterminated-fence");
    template || open_fence
}

fn count(json: &Value, key: &str) -> usize {
    json[key].as_array().map_or(0, Vec::len)
}

fn checks(json: &Value) -> usize {
    json["steps"]
        .as_array()
        .map_or(0, |steps| steps.iter().map(|s| count(s, "checks")).sum())
}

#[derive(Default)]
struct Tally {
    files: usize,
    refused: usize,
    steps: usize,
    checks: usize,
    todos: usize,
    lint_errors: usize,
    lint_warnings: usize,
}

#[test]
fn every_real_doc_reads_as_its_authors_meant() {
    let Some(corpus) = corpus() else { return };
    let files = markdown_files(&corpus);
    assert!(files.len() > 100, "the corpus holds {} files", files.len());
    let mut per_repo: BTreeMap<String, Tally> = BTreeMap::new();
    let mut per_file = String::new();
    let mut unexpected = Vec::new();
    for file in &files {
        let repo = file
            .components()
            .next()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .unwrap_or_default();
        let got = read(&corpus, file);
        let tally = per_repo.entry(repo).or_default();
        tally.files += 1;
        tally.lint_errors += got.lint_errors;
        tally.lint_warnings += got.lint_warnings;
        match &got.json {
            Some(json) => {
                let (steps, checks, todos) =
                    (count(json, "steps"), checks(json), count(json, "todos"));
                tally.steps += steps;
                tally.checks += checks;
                tally.todos += todos;
                per_file.push_str(&format!(
                    "{}: {steps} steps, {checks} checks, {todos} todos, {} warnings\n",
                    file.display(),
                    got.lint_warnings
                ));
                if got.lint_errors > 0 {
                    unexpected.push(format!("{}: lint errors but list read it", file.display()));
                }
            }
            None => {
                tally.refused += 1;
                per_file.push_str(&format!(
                    "{}: refused ({})\n",
                    file.display(),
                    got.refused.join(", ")
                ));
                if !documented(file, &got.refused) {
                    unexpected.push(format!(
                        "{}: refused with {:?}",
                        file.display(),
                        got.refused
                    ));
                }
            }
        }
    }
    assert!(unexpected.is_empty(), "{}", unexpected.join("\n"));
    let mut summary = String::from(
        "repository                      files  refused  steps  checks  todos  lint errors  lint warnings\n",
    );
    for (repo, t) in &per_repo {
        summary.push_str(&format!(
            "{repo:<30} {:>6} {:>8} {:>6} {:>7} {:>6} {:>12} {:>14}\n",
            t.files, t.refused, t.steps, t.checks, t.todos, t.lint_errors, t.lint_warnings
        ));
    }
    summary.push('\n');
    summary.push_str(&per_file);
    assert_golden(&fixture("real-docs/summary.txt"), &summary);
}

fn listed(file: &str) -> Option<Value> {
    let corpus = corpus()?;
    Some(
        Sheet::new()
            .current_dir(&corpus)
            .args(["list", "--json", file])
            .run()
            .code(0)
            .json(),
    )
}

fn ids(json: &Value) -> Vec<String> {
    json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

/// Runme's README: the cells `runme list` shows, by name; the one inside a
/// Markdown example is an example.
#[test]
fn runmes_readme_has_the_cells_runme_lists() {
    let Some(v) = listed("stateful+runme/README.md") else {
        return;
    };
    assert_eq!(
        ids(&v),
        [
            "update-brew",
            "install-runme",
            "install-npm",
            "install-via-go",
            "run-workflows-1",
            "runme-list",
            "runme-print",
            "runme-help"
        ]
    );
    assert_eq!(checks(&v), 0);
    // `interactive=false` cells do not take the terminal; the others do.
    assert_eq!(v["steps"][5]["options"]["stdin"], Value::Null);
    assert_eq!(v["steps"][0]["options"]["stdin"], true);
    // Runme drops the `$ ` prompt before running.
    assert_eq!(v["steps"][0]["code"], "$ brew update\n\n");
    assert_eq!(v["steps"][0]["options"]["script"], "brew update\n\n");
}

/// Runme's examples: shell cells, the JavaScript one (node), tagged cells; not
/// the Go and INI snippets Runme has no interpreter for.
#[test]
fn runmes_examples_run_the_cells_runme_runs() {
    let Some(v) = listed("stateful+runme/examples/README.md") else {
        return;
    };
    let ids = ids(&v);
    assert_eq!(ids.len(), 12, "{ids:?}");
    assert_eq!(&ids[..2], ["01hf7bt3hd84gwtqb8zcwph803", "echo"]);
    assert!(ids.contains(&"hello-js".to_string()) && ids.contains(&"generate".to_string()));
    let step = |id: &str| {
        v["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(step("hello-js")["program"], "node");
    assert_eq!(
        step("c")["options"]["tags"],
        serde_json::json!(["a", "b", "c"])
    );
    let roles: Vec<&str> = v["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles.iter().filter(|r| **r == "other").count(), 2);
}

/// A cell's `cwd` is resolved from the front matter's, as Runme does.
#[test]
fn runme_cell_directories_follow_the_front_matter() {
    let Some(v) = listed("stateful+runme/examples/frontmatter/cwd/RELATIVE.md") else {
        return;
    };
    assert_eq!(v["front_matter"]["cwd"], "../../../");
    let cwds: Vec<Value> = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["options"]["cwd"].clone())
        .collect();
    assert_eq!(cwds, [Value::Null, "../../../../".into(), "/opt".into()]);
}

/// `skipPrompts: true`: the placeholder is not asked for; without it, it is.
#[test]
fn runme_skip_prompts_is_honoured() {
    let Some(on) = listed("stateful+runme/examples/frontmatter/skipPrompts/ENABLED.md") else {
        return;
    };
    assert_eq!(on["front_matter"]["inputs"], serde_json::json!([]));
    let off = listed("stateful+runme/examples/frontmatter/skipPrompts/DISABLED.md").unwrap();
    assert_eq!(off["front_matter"]["inputs"][0]["name"], "ENV");
    assert_eq!(
        off["front_matter"]["inputs"][0]["default"],
        "<insert-env-here>"
    );
}

/// Innovation Engine's fuzzy-match scenario: four Azure CLI steps, each with
/// the similarity its comment asks for.
#[test]
fn innovation_engines_fuzzy_match_scenario() {
    let Some(v) = listed("Azure+InnovationEngine/scenarios/testing/fuzzyMatchTest.md") else {
        return;
    };
    let mins: Vec<f64> = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["checks"][0]["want"]["min"].as_f64().unwrap())
        .collect();
    assert_eq!(mins, [0.8, 0.9, 1.0, 0.9]);
    assert!(v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["lang"] == "azurecli-interactive" && s["program"] == "bash"));
}

/// Only the comments Innovation Engine understands make checks; its
/// variables comment sets the scenario's variables.
#[test]
fn innovation_engine_comments_and_variables() {
    let Some(v) = listed("Azure+InnovationEngine/docs/environmentVariables.md") else {
        return;
    };
    assert_eq!(ids(&v).len(), 6);
    assert_eq!(
        checks(&v),
        2,
        "`expected_results=1.0` is not Innovation Engine's"
    );
    let v = listed("Azure+InnovationEngine/scenarios/demos/createVMCommentVars.md").unwrap();
    assert_eq!(
        v["front_matter"]["env"]["MY_RESOURCE_GROUP_NAME"],
        "myResourceGroup"
    );
    assert_eq!(v["front_matter"]["env"]["MY_VM_IMAGE"], "debian");
    assert_eq!(ids(&v).len(), 6);
    assert_eq!(checks(&v), 2);
    // A Learn article's metadata is kept, not refused.
    let v = listed("Azure+InnovationEngine/scenarios/demos/aksQuickstartEventGrid.md").unwrap();
    assert_eq!(v["front_matter"]["extra"]["ms.author"], "zarhoads");
    assert_eq!(
        v["title"],
        "Subscribe to Azure Kubernetes Service events with Azure Event Grid"
    );
}

/// A Hugo page: its `weight` kept, its `console` blocks (plain commands, no
/// prompt) run as shell.
#[test]
fn a_hugo_runbook_page() {
    let Some(v) =
        listed("prometheus-operator+runbooks/content/runbooks/kubernetes/KubeProxyDown.md")
    else {
        return;
    };
    assert_eq!(v["title"], "KubeProxy Down");
    assert!(v["front_matter"]["extra"]["weight"].is_number());
    assert_eq!(ids(&v).len(), 4);
    assert!(v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["kind"] == "shell"));
}
