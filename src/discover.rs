//! Which runbooks a command works on: files as named, and the `*.md` files under
//! the folders named, honouring `.gitignore`. Shared by `lint`, `check` and `book`
//! so all three see the same set in the same order.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

/// Files as given; folders walked for `*.md` (honouring `.gitignore` also
/// outside a git repository, skipping books runsheet wrote), sorted within each
/// folder; each file once. A missing path, or a folder with no `*.md`, is an
/// error.
pub fn markdown_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_file() {
            files.push(path.clone());
        } else if path.is_dir() {
            let found = walk(path)?;
            if found.is_empty() {
                bail!("no runbooks (*.md) in {}", path.display());
            }
            files.extend(found);
        } else {
            bail!("{}: no such file or directory", path.display());
        }
    }
    if paths.len() == 1 {
        // One walk never yields a file twice (symlinks are not followed).
        return Ok(files);
    }
    let mut seen = BTreeSet::new();
    files.retain(|f| seen.insert(std::fs::canonicalize(f).unwrap_or_else(|_| f.clone())));
    Ok(files)
}

fn walk(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    // A book written earlier (say `runsheet book . -o site`) is not a runbook.
    let walker = ignore::WalkBuilder::new(dir)
        .require_git(false)
        .filter_entry(|e| {
            !e.file_type().is_some_and(|t| t.is_dir())
                || !e.path().join(crate::book::MARKER).exists()
        })
        .sort_by_file_path(|a, b| a.cmp(b))
        .build();
    let mut found = Vec::new();
    for entry in walker {
        let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
        let path = entry.path();
        if entry.file_type().is_some_and(|t| t.is_file())
            && path.extension().is_some_and(|e| e == "md")
        {
            found.push(path.to_path_buf());
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_folders_honouring_gitignore_and_dedups() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join("a/drafts")).unwrap();
        std::fs::write(root.join(".gitignore"), "drafts/\n").unwrap();
        std::fs::write(root.join("a/z.md"), "").unwrap();
        std::fs::write(root.join("a/b.md"), "").unwrap();
        std::fs::write(root.join("a/notes.txt"), "").unwrap();
        std::fs::write(root.join("a/drafts/x.md"), "").unwrap();
        let files = markdown_files(&[root.to_path_buf(), root.join("a/b.md")]).unwrap();
        assert_eq!(files, [root.join("a/b.md"), root.join("a/z.md")]);
        let err = markdown_files(&[root.join("nope")]).unwrap_err();
        assert!(err.to_string().ends_with("nope: no such file or directory"));
        std::fs::create_dir(root.join("empty")).unwrap();
        let err = markdown_files(&[root.join("empty")]).unwrap_err();
        assert!(err.to_string().contains("no runbooks (*.md) in"), "{err}");
    }
}
