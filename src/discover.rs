//! Which runbooks a command works on: files as named, and the `*.md` files under
//! the folders named, honouring `.gitignore`. Shared by `lint`, `check` and `book`
//! so all three see the same set in the same order.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::bail;

/// Files as given; folders walked for `*.md` (honouring `.gitignore` also
/// outside a git repository, skipping books runsheet wrote), sorted within each
/// folder; each file once. A missing path, or a folder with no `*.md`, is an
/// error; what cannot be read inside a folder is left out (see [`find`]).
pub fn markdown_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    Ok(find(paths)?.files)
}

/// The runbooks found, and what was left out of the folders walked because
/// it could not be read.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Found {
    pub files: Vec<PathBuf>,
    /// One line per file or folder skipped, naming it and why.
    pub skipped: Vec<String>,
}

/// As [`markdown_files`], keeping what was skipped: an unreadable folder or
/// file deep in a tree must not stop `lint`, `check` or `book` on the rest,
/// nor vanish without a word.
pub fn find(paths: &[PathBuf]) -> anyhow::Result<Found> {
    let mut found = Found::default();
    for path in paths {
        if path.is_file() {
            found.files.push(path.clone());
        } else if path.is_dir() {
            let before = found.skipped.len();
            let files = walk(path, &mut found.skipped);
            if files.is_empty() {
                match found.skipped.get(before..).filter(|s| !s.is_empty()) {
                    Some(skipped) => bail!(
                        "no readable runbooks (*.md) in {}: {}",
                        path.display(),
                        skipped.join("; ")
                    ),
                    None => bail!("no runbooks (*.md) in {}", path.display()),
                }
            }
            found.files.extend(files);
        } else {
            bail!("{}: no such file or directory", path.display());
        }
    }
    if paths.len() == 1 {
        // One walk never yields a file twice (symlinks are not followed).
        return Ok(found);
    }
    let mut seen = BTreeSet::new();
    found
        .files
        .retain(|f| seen.insert(std::fs::canonicalize(f).unwrap_or_else(|_| f.clone())));
    Ok(found)
}

fn walk(dir: &Path, skipped: &mut Vec<String>) -> Vec<PathBuf> {
    // A book written earlier (say `runsheet book . -o site`) is not a runbook.
    let walker = ignore::WalkBuilder::new(dir)
        .require_git(false)
        .filter_entry(|e| {
            !e.file_type().is_some_and(|t| t.is_dir())
                || !e.path().join(crate::book::MARKER).exists()
        })
        .sort_by_file_path(|a, b| a.cmp(b))
        .build();
    let mut candidates = Vec::new();
    for entry in walker {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                skipped.push(one_line(&e));
                continue;
            }
        };
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "md") {
            continue;
        }
        let Some(kind) = entry.file_type() else {
            continue;
        };
        // Links are not followed, so a link out of the tree never brings a
        // file into the book; a dangling one is a runbook that cannot be
        // read, and is named.
        if kind.is_symlink() {
            if let Err(e) = std::fs::metadata(path) {
                skipped.push(format!("cannot read {}: {e}", path.display()));
            }
            continue;
        }
        if kind.is_file() {
            candidates.push(path.to_path_buf());
        }
    }
    // Each opened once here, so a file that cannot be read is skipped with a
    // warning rather than failing the command halfway; on every core, since
    // nothing else can start before this is done.
    let opened = crate::par::map_in_order(&candidates, |path| std::fs::File::open(path).map(drop));
    let mut found = Vec::with_capacity(candidates.len());
    for (path, opened) in candidates.into_iter().zip(opened) {
        match opened {
            Ok(()) => found.push(path),
            Err(e) => skipped.push(format!("cannot read {}: {e}", path.display())),
        }
    }
    found
}

/// The walker's error as `cannot read PATH: why`.
fn one_line(e: &ignore::Error) -> String {
    fn path_of(e: &ignore::Error) -> Option<&Path> {
        match e {
            ignore::Error::WithPath { path, .. } => Some(path),
            ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
                path_of(err)
            }
            _ => None,
        }
    }
    match (path_of(e), e.io_error()) {
        (Some(path), Some(io)) => {
            // The walker's own wording repeats the path; the OS's says why.
            let why = match io.raw_os_error() {
                Some(code) => std::io::Error::from_raw_os_error(code).to_string(),
                None => io.kind().to_string(),
            };
            format!("cannot read {}: {why}", path.display())
        }
        _ => e.to_string().lines().next().unwrap_or_default().to_string(),
    }
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

    #[test]
    fn links_are_not_followed_and_a_dangling_one_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join("tree")).unwrap();
        std::fs::write(root.join("outside.md"), "# private").unwrap();
        std::fs::write(root.join("tree/a.md"), "").unwrap();
        std::os::unix::fs::symlink(root.join("outside.md"), root.join("tree/out.md")).unwrap();
        std::os::unix::fs::symlink(root.join("gone.md"), root.join("tree/gone.md")).unwrap();
        let found = find(&[root.join("tree")]).unwrap();
        assert_eq!(found.files, [root.join("tree/a.md")]);
        assert_eq!(found.skipped.len(), 1, "{:?}", found.skipped);
        assert!(
            found.skipped[0].starts_with(&format!(
                "cannot read {}: No such file",
                root.join("tree/gone.md").display()
            )),
            "{:?}",
            found.skipped
        );
    }
}
