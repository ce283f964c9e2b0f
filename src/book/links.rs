//! What a runbook links to, carried into the book: relative images and files
//! are copied next to the chapter, links between runbooks become links
//! between chapters (the `#anchor` kept), and every relative link that would
//! lead nowhere in the book is a warning with its file:line. Only files under
//! the folders given to `runsheet book` are ever copied: a link that leaves
//! them (`../../secrets/x.pem`) is a warning, never a copy. Absolute URLs are
//! not touched.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};

use crate::parse::{self, LinkKind, LinkRef};
use crate::source::Source;

use super::chapter::Rewrite;
use super::names::{hex8, relative_url, safe_component};
use super::{Entry, Warning};

/// The rewrites, copies and warnings for a whole book.
#[derive(Debug, Default)]
pub(crate) struct Carry {
    /// Per entry (same order), the link destinations to write instead.
    pub(crate) rewrites: Vec<Vec<Rewrite>>,
    /// Files to copy: the file, and where it goes under `src/`.
    pub(crate) files: Vec<(PathBuf, PathBuf)>,
    pub(crate) warnings: Vec<Warning>,
}

/// A folder given to `runsheet book` (a file given stands for its folder).
#[derive(Debug)]
struct Root {
    /// As given (shown in messages).
    given: PathBuf,
    canonical: PathBuf,
    /// Where its files go under `src/`: its own path when that is below the
    /// current directory (as chapters are placed), else `external/…`.
    prefix: PathBuf,
}

/// Plans what to carry for `entries`, whose chapters are already placed.
pub(crate) fn plan(entries: &[Entry], roots: &[PathBuf]) -> Carry {
    let roots = resolve_roots(roots);
    let runbooks: HashMap<PathBuf, usize> = entries
        .iter()
        .enumerate()
        .filter_map(|(i, e)| Some((std::fs::canonicalize(&e.runbook.path).ok()?, i)))
        .collect();
    let mut placed = Placed::new(entries);
    let mut carry = Carry::default();
    for entry in entries {
        let mut rewrites = Vec::new();
        let source = Source::new(&entry.runbook.path, entry.text.as_str());
        for link in parse::links(&source) {
            let (url, problem) = match follow(&link, entry, entries, &runbooks, &roots, &mut placed)
            {
                Followed::Leave => continue,
                Followed::Warn(message) => (None, Some(message)),
                Followed::To(url, problem) => (Some(url), problem),
            };
            if let Some(message) = problem {
                carry.warnings.push(Warning {
                    path: entry.runbook.path.clone(),
                    line: link.line,
                    message,
                });
            }
            if let (Some(url), Some(span)) = (url, link.span) {
                let written = &entry.text[span.range()];
                let text = write_dest(&link, written, &url);
                if text != written {
                    rewrites.push((span, text));
                }
            }
        }
        carry.rewrites.push(rewrites);
    }
    carry.files = placed
        .files
        .into_iter()
        .map(|(to, from)| (from, to))
        .collect();
    carry
}

enum Followed {
    /// Not a relative link to a file (a URL, an anchor on the same page).
    Leave,
    Warn(String),
    /// The URL to write, relative to the chapter, and what is wrong with it
    /// (an anchor the chapter lacks: the link still leads to the chapter).
    To(String, Option<String>),
}

fn follow(
    link: &LinkRef,
    entry: &Entry,
    entries: &[Entry],
    runbooks: &HashMap<PathBuf, usize>,
    roots: &[Root],
    placed: &mut Placed,
) -> Followed {
    let dest = link.dest.trim();
    if !is_relative(dest) {
        return Followed::Leave;
    }
    let cut = dest.find(['?', '#']).unwrap_or(dest.len());
    let (path, suffix) = dest.split_at(cut);
    let decoded = percent_decode(path);
    if decoded.is_empty() {
        return Followed::Leave;
    }
    let dir = entry.runbook.path.parent().unwrap_or(Path::new(""));
    let target = dir.join(&decoded);
    let Ok(canonical) = std::fs::canonicalize(&target) else {
        return Followed::Warn(format!(
            "broken link `{dest}`: there is no {}",
            target.display()
        ));
    };
    if let Some(&i) = runbooks.get(&canonical) {
        let other = &entries[i];
        let url = relative_url(&entry.chapter, &other.chapter) + suffix;
        return Followed::To(url, missing_anchor(suffix, other));
    }
    let Some(root) = roots.iter().find(|r| canonical.starts_with(&r.canonical)) else {
        return Followed::Warn(format!(
            "`{dest}` is outside the folders given to `runsheet book` ({}), so it is not \
             copied and the link leads nowhere in the book; give a folder that holds it",
            roots
                .iter()
                .map(|r| r.given.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    };
    if canonical.is_dir() {
        return Followed::Warn(format!(
            "`{dest}` is a folder: the book carries the files a runbook links to, not folders"
        ));
    }
    if !canonical.is_file() {
        return Followed::Warn(format!(
            "`{dest}` is not a regular file, so it is not copied"
        ));
    }
    if canonical
        .extension()
        .is_some_and(|e| e == "md" || e == "markdown")
    {
        return Followed::Warn(format!(
            "`{dest}` is not one of the runbooks in this book, so the link leads nowhere"
        ));
    }
    let rel = canonical
        .strip_prefix(&root.canonical)
        .unwrap_or(&canonical);
    let to = placed.file(&canonical, &root.prefix.join(safe_path(rel)));
    Followed::To(relative_url(&entry.chapter, &to) + suffix, None)
}

/// A warning when `suffix` names an anchor that is not a section (or a step
/// panel) of the runbook linked to.
fn missing_anchor(suffix: &str, target: &Entry) -> Option<String> {
    let anchor = percent_decode(suffix.split_once('#')?.1);
    if anchor.is_empty()
        || anchor.starts_with("runsheet-")
        || target.runbook.sections.iter().any(|s| s.id == anchor)
    {
        return None;
    }
    Some(format!(
        "`#{anchor}` is not a section of {}",
        target.runbook.path.display()
    ))
}

/// A link with no scheme (`https:`, `mailto:`), not protocol- or
/// root-relative, and not only an anchor or a query on the same page.
fn is_relative(dest: &str) -> bool {
    if dest.is_empty() || dest.starts_with(['#', '?', '/', '\\']) {
        return false;
    }
    let scheme = dest.find(':').map(|i| &dest[..i]).filter(|s| !s.is_empty());
    let has_scheme = scheme.is_some_and(|s| {
        s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    });
    !has_scheme
}

/// The destination as it is written back: Markdown gets `<…>` when the URL
/// holds what a bare destination cannot; an attribute gets its value escaped.
fn write_dest(link: &LinkRef, written: &str, url: &str) -> String {
    if link.kind == LinkKind::Html {
        return url
            .replace('&', "&amp;")
            .replace('"', "&quot;")
            .replace('\'', "&#39;");
    }
    let bare = url
        .chars()
        .all(|c| c.is_alphanumeric() || "-._~/%#?=&+:@!$,;*".contains(c));
    if bare && !written.starts_with('<') {
        url.to_string()
    } else {
        format!("<{}>", url.replace('<', "%3C").replace('>', "%3E"))
    }
}

/// Every component made safe, as chapter paths are.
fn safe_path(rel: &Path) -> PathBuf {
    rel.components()
        .filter_map(|c| match c {
            Component::Normal(part) => Some(safe_component(&part.to_string_lossy())),
            _ => None,
        })
        .collect()
}

fn resolve_roots(roots: &[PathBuf]) -> Vec<Root> {
    roots
        .iter()
        .filter_map(|given| {
            let dir = if given.is_file() {
                given.parent().unwrap_or(Path::new(""))
            } else {
                given.as_path()
            };
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            let canonical = std::fs::canonicalize(dir).ok()?;
            Some(Root {
                given: dir.to_path_buf(),
                prefix: root_prefix(dir, &canonical),
                canonical,
            })
        })
        .collect()
}

fn root_prefix(dir: &Path, canonical: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in dir.components() {
        match c {
            Component::Normal(part) => out.push(safe_component(&part.to_string_lossy())),
            Component::CurDir => {}
            _ => {
                let name = canonical
                    .file_name()
                    .map_or("root".into(), |n| safe_component(&n.to_string_lossy()));
                let tag = hex8(&canonical.to_string_lossy());
                return Path::new("external").join(format!("{name}-{tag}"));
            }
        }
    }
    out
}

/// Book paths taken so far (chapters, their HTML pages, the book's own
/// files) and the files placed, so that no two files share a name.
struct Placed {
    /// Lower-cased book paths in use: a copy never replaces a chapter or
    /// another copy, on case-insensitive filesystems too.
    taken: std::collections::HashSet<String>,
    /// Book path → the file copied there.
    files: BTreeMap<PathBuf, PathBuf>,
    /// The file → its book path: one copy per file, however often linked.
    by_source: HashMap<PathBuf, PathBuf>,
}

impl Placed {
    fn new(entries: &[Entry]) -> Self {
        let mut taken = std::collections::HashSet::new();
        for own in [
            "SUMMARY.md",
            "overview.md",
            "overview.html",
            "index.html",
            "print.html",
            "toc.html",
            "toc.js",
            "404.html",
            "searchindex.js",
            "searchindex.json",
            "book.js",
            "runsheet.css",
        ] {
            taken.insert(own.to_lowercase());
        }
        for e in entries {
            taken.insert(key(&e.chapter));
            taken.insert(key(&e.chapter.with_extension("html")));
        }
        Placed {
            taken,
            files: BTreeMap::new(),
            by_source: HashMap::new(),
        }
    }

    /// Where `source` goes: `wanted`, or `wanted` numbered when taken.
    fn file(&mut self, source: &Path, wanted: &Path) -> PathBuf {
        if let Some(to) = self.by_source.get(source) {
            return to.clone();
        }
        let mut to = wanted.to_path_buf();
        let mut n = 2;
        while !self.taken.insert(key(&to)) {
            let stem = wanted.file_stem().map(|s| s.to_string_lossy().into_owned());
            let ext = wanted
                .extension()
                .map(|e| format!(".{}", e.to_string_lossy()))
                .unwrap_or_default();
            to = wanted.with_file_name(format!("{}-{n}{ext}", stem.unwrap_or_default()));
            n += 1;
        }
        self.by_source.insert(source.to_path_buf(), to.clone());
        self.files.insert(to.clone(), source.to_path_buf());
        to
    }
}

fn key(path: &Path) -> String {
    path.to_string_lossy().to_lowercase()
}

/// `%XX` sequences as bytes (a link to `my%20notes.txt` means `my notes.txt`);
/// anything else as written.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_counts_as_a_relative_link() {
        for dest in [
            "img/a.png",
            "../db/restore.md#verify",
            "x.md?raw=1",
            "1:2.png",
        ] {
            assert!(is_relative(dest), "{dest}");
        }
        for dest in [
            "https://example.com/a.png",
            "mailto:ops@example.com",
            "//cdn.example.com/x.js",
            "/abs/path.png",
            "#section",
            "?q=1",
            "",
            "data:image/png;base64,AAAA",
        ] {
            assert!(!is_relative(dest), "{dest}");
        }
    }

    #[test]
    fn destinations_are_written_back_safely() {
        let md = LinkRef {
            kind: LinkKind::Link,
            dest: String::new(),
            span: None,
            line: 1,
        };
        assert_eq!(write_dest(&md, "x", "img/a.png#b"), "img/a.png#b");
        assert_eq!(write_dest(&md, "<x y>", "img/a%20b.png"), "<img/a%20b.png>");
        assert_eq!(write_dest(&md, "x", "a.md#f(1) <x>"), "<a.md#f(1) %3Cx%3E>");
        let html = LinkRef {
            kind: LinkKind::Html,
            ..md
        };
        assert_eq!(
            write_dest(&html, "x", "a.png?x=1&y=\"2\""),
            "a.png?x=1&amp;y=&quot;2&quot;"
        );
        assert_eq!(percent_decode("my%20notes%2Etxt%zz%"), "my notes.txt%zz%");
        assert_eq!(percent_decode("bad%ff"), "bad%ff");
    }
}
