//! The book's Guarantees page names, for each promise, the test that shows
//! it: every name it gives must be a test that exists, so the page cannot
//! point at a test that was renamed or removed.

use std::path::Path;

/// The `module::test` and `src/file.rs::test` names in backticks on the page.
fn named_tests(page: &str) -> Vec<String> {
    page.split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| s.contains("::") && !s.contains([' ', '<']))
        .map(str::to_string)
        .collect()
}

/// The file a name points at, and the test function in it.
fn locate(root: &Path, name: &str) -> (std::path::PathBuf, String) {
    let (file, test) = name.rsplit_once("::").expect("a :: in the name");
    let file = if file.starts_with("src/") {
        root.join(file)
    } else {
        root.join("tests/integration").join(format!("{file}.rs"))
    };
    (file, test.to_string())
}

#[test]
fn every_test_the_guarantees_page_names_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let page = std::fs::read_to_string(root.join("book/src/guarantees.md")).unwrap();
    let names = named_tests(&page);
    assert!(
        names.len() >= 30,
        "the page names only {} tests",
        names.len()
    );
    let mut missing = Vec::new();
    for name in &names {
        let (file, test) = locate(root, name);
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let declared = text.lines().any(|l| {
            let l = l.trim_start();
            l.starts_with(&format!("fn {test}(")) || l.starts_with(&format!("async fn {test}("))
        });
        if !declared {
            missing.push(name.clone());
        }
    }
    assert!(
        missing.is_empty(),
        "the Guarantees page names tests that do not exist: {missing:?}"
    );
}

#[test]
fn the_guarantees_page_is_in_the_book() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let summary = std::fs::read_to_string(root.join("book/src/SUMMARY.md")).unwrap();
    assert!(summary.contains("(guarantees.md)"), "{summary}");
}
