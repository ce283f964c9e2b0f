//! Where each runbook's chapter (and each file it links to) goes in the book.
//! A runbook may be called anything the filesystem allows (`a<b.md`,
//! `a%20b.md`, `SUMMARY.md`, 250 characters); its chapter path is made of
//! characters that mean the same in a file name, a URL and `SUMMARY.md`,
//! never takes a name the book itself uses, and never equals another's.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

/// Bytes of one path component at most: room for `-2`, `.html` and a hash
/// within the 255 bytes most filesystems allow.
const MAX_COMPONENT: usize = 120;

/// Top-level names (compared without case and extension) that runsheet's own
/// pages or mdBook's output use: a chapter there would replace them or be
/// replaced.
const RESERVED: &[&str] = &[
    "summary",
    "overview",
    "index",
    "print",
    "toc",
    "404",
    "searchindex",
    "readme",
];

/// The chapter file for a runbook path, relative to the book's `src/`: the
/// path itself, made safe, when it is relative and stays below the current
/// directory (so links between runbooks keep their shape), else
/// `external/<file name>`. Not yet unique: see [`chapter_paths`].
pub fn chapter_path(runbook: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in runbook.components() {
        match c {
            Component::Normal(part) => out.push(safe_component(&part.to_string_lossy())),
            Component::CurDir => {}
            _ => {
                let name = runbook.file_name().unwrap_or(runbook.as_os_str());
                let name = safe_component(&name.to_string_lossy());
                return Path::new("external").join(name).with_extension("md");
            }
        }
    }
    if out.as_os_str().is_empty() {
        out.push("runbook");
    }
    out.with_extension("md")
}

/// A chapter path for each runbook, in order: [`chapter_path`], moved off the
/// names the book uses, then numbered (`-2`, `-3`, ...) where two would be the
/// same file. Compared without case, so a book built on a case-insensitive
/// filesystem (macOS, Windows) keeps every chapter too.
pub fn chapter_paths(runbooks: &[PathBuf]) -> Vec<PathBuf> {
    let mut seen = BTreeSet::new();
    runbooks
        .iter()
        .map(|r| {
            let base = off_reserved(chapter_path(r));
            let stem = base.with_extension("");
            let mut candidate = base.clone();
            let mut n = 2;
            while !seen.insert(key(&candidate)) {
                candidate = PathBuf::from(format!("{}-{n}.md", stem.display()));
                n += 1;
            }
            candidate
        })
        .collect()
}

fn key(path: &Path) -> String {
    path.to_string_lossy().to_lowercase()
}

/// `SUMMARY.md` at the top of the book is mdBook's table of contents,
/// `overview.md` runsheet's first page: a runbook so named becomes
/// `SUMMARY-runbook.md`.
fn off_reserved(path: PathBuf) -> PathBuf {
    let top = path.components().count() == 1;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    if top && RESERVED.contains(&stem.as_str()) {
        let stem = path.with_extension("");
        PathBuf::from(format!("{}-runbook.md", stem.display()))
    } else {
        path
    }
}

/// One path component as letters, digits, `-`, `_` and `.` (Unicode letters
/// kept), other characters as `-`, no leading dot, at most
/// [`MAX_COMPONENT`] bytes (a cut name ends in a short hash of the whole, so
/// two long names that share a start stay apart).
pub(crate) fn safe_component(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let keep = c.is_alphanumeric() || matches!(c, '-' | '_' | '.');
        let c = if keep { c } else { '-' };
        if c == '-' && out.ends_with('-') {
            continue;
        }
        out.push(c);
    }
    let out = out.replace("-.", ".");
    let trimmed = out.trim_start_matches(['.', '-']).trim_end_matches('-');
    let mut out = if trimmed.is_empty() || trimmed.starts_with('.') {
        format!("runbook{trimmed}")
    } else {
        trimmed.to_string()
    };
    if out.len() > MAX_COMPONENT {
        let ext = match out.rsplit_once('.') {
            Some((_, ext)) if ext.len() <= 10 => format!(".{ext}"),
            _ => String::new(),
        };
        let hash = hex8(name);
        let mut cut = MAX_COMPONENT - ext.len() - hash.len() - 1;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out = format!("{}-{hash}{ext}", out[..cut].trim_end_matches(['-', '.']));
    }
    out
}

/// The first 8 hex digits of a SHA-256: short, stable names.
pub(crate) fn hex8(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    digest[..4].iter().map(|b| format!("{b:02x}")).collect()
}

/// The relative URL from the chapter at `from` to the book file `to` (both
/// relative to `src/`), each component percent-encoded where a URL needs it.
pub(crate) fn relative_url(from: &Path, to: &Path) -> String {
    let from_dir: Vec<_> = from
        .parent()
        .map(|p| p.components().collect())
        .unwrap_or_default();
    let to_parts: Vec<_> = to.components().collect();
    let common = from_dir
        .iter()
        .zip(&to_parts)
        .take_while(|(a, b)| a == b)
        .count();
    let mut parts: Vec<String> = vec!["..".to_string(); from_dir.len() - common];
    parts.extend(
        to_parts[common..]
            .iter()
            .map(|c| percent_encode(&c.as_os_str().to_string_lossy())),
    );
    parts.join("/")
}

/// Percent-encodes what a URL path segment cannot hold as is; letters
/// (Unicode too), digits and `-._~` stay.
pub(crate) fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_alphanumeric() || matches!(c, '-' | '.' | '_' | '~') {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chapter_paths_stay_inside_the_book() {
        assert_eq!(
            chapter_path(Path::new("./runbooks/a.md")),
            Path::new("runbooks/a.md")
        );
        assert_eq!(
            chapter_path(Path::new("../x/b.md")),
            Path::new("external/b.md")
        );
        assert_eq!(
            chapter_path(Path::new("/abs/c.markdown")),
            Path::new("external/c.md")
        );
    }

    #[test]
    fn odd_names_become_safe_ones() {
        for (name, safe) in [
            ("a<b.md", "a-b.md"),
            ("a\\b.md", "a-b.md"),
            ("a%20b.md", "a-20b.md"),
            ("with  spaces .md", "with-spaces.md"),
            ("ünïcödé 日本.md", "ünïcödé-日本.md"),
            (".hidden.md", "hidden.md"),
            ("...md", "md.md"),
            ("..", "external/runbook.md"),
            ("{{#include x}}.md", "include-x.md"),
            ("a\nb.md", "a-b.md"),
            ("v1.2/Makefile", "v1.2/Makefile.md"),
        ] {
            assert_eq!(chapter_path(Path::new(name)), Path::new(safe), "{name:?}");
        }
        let long = format!("{}.md", "é".repeat(200));
        let safe = chapter_path(Path::new(&long));
        let name = safe.to_string_lossy();
        assert!(name.len() <= MAX_COMPONENT + 3, "{}", name.len());
        assert!(name.ends_with(".md"));
        let other = chapter_path(Path::new(&format!("{}x.md", "é".repeat(200))));
        assert_ne!(safe, other, "a hash keeps long names apart");
    }

    #[test]
    fn every_runbook_gets_its_own_chapter() {
        let paths: Vec<PathBuf> = [
            "SUMMARY.md",
            "overview.md",
            "index.md",
            "README.md",
            "toc.md",
            "a<b.md",
            "a>b.md",
            "a-b.md",
            "A-B.md",
            "docs/SUMMARY.md",
            "../x/a-b.md",
            "../y/a-b.md",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        let chapters = chapter_paths(&paths);
        let shown: Vec<String> = chapters
            .iter()
            .map(|c| c.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            shown,
            [
                "SUMMARY-runbook.md",
                "overview-runbook.md",
                "index-runbook.md",
                "README-runbook.md",
                "toc-runbook.md",
                "a-b.md",
                "a-b-2.md",
                "a-b-3.md",
                "A-B-4.md",
                "docs/SUMMARY.md",
                "external/a-b.md",
                "external/a-b-2.md",
            ]
        );
    }

    #[test]
    fn urls_between_book_files() {
        let from = Path::new("ops/deploy.md");
        assert_eq!(
            relative_url(from, Path::new("ops/img/a b.png")),
            "img/a%20b.png"
        );
        assert_eq!(
            relative_url(from, Path::new("db/restore.md")),
            "../db/restore.md"
        );
        assert_eq!(
            relative_url(Path::new("top.md"), Path::new("a/b.md")),
            "a/b.md"
        );
        assert_eq!(percent_encode("a#b?c%d{e}"), "a%23b%3Fc%25d%7Be%7D");
    }
}
