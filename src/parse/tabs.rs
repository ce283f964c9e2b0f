//! Content tabs and code groups. Docs sites offer alternatives (npm, Yarn or
//! pnpm; Linux or macOS), and a reader follows one: the one shown first.
//! Running every one would install a package three times or run a macOS
//! command on Linux, so only the code blocks of that one are steps; the
//! others are listed as blocks and never run.
//!
//! - Docusaurus and Starlight `<Tabs>` holding `<TabItem>`s, Nextra's
//!   `<Tabs.Tab>`s: the item marked `default`, else the one whose `value` is
//!   the `<Tabs defaultValue=…>`, else the first.
//! - Mintlify's `<CodeGroup>` and VitePress's `::: code-group`: each code
//!   block in one is an alternative; the first is shown.

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

/// Byte ranges of `body` inside a tab item that is not shown first, sorted
/// and disjoint.
pub(crate) fn unshown_items(body: &str) -> Vec<Range<usize>> {
    // Built once: every parse of every file looks for them.
    static TAGS: LazyLock<[memchr::memmem::Finder<'static>; 3]> = LazyLock::new(|| {
        [&b"<Tab"[..], b"<CodeGroup", b"code-group"].map(memchr::memmem::Finder::new)
    });
    if !TAGS.iter().any(|f| f.find(body.as_bytes()).is_some()) {
        return Vec::new();
    }
    // Tags may span lines (`<TabItem\n  value="npm">`): they are searched in
    // the whole text, with fenced code blanked out.
    let (text, fences) = outside_fences(body);
    let mut unshown = tab_items(&text, body.len());
    // Groups inside groups (or never closed) are read as one: each fence
    // is then hidden once at most.
    for group in merged(code_groups(&text)) {
        // Fences are in order: a search, so many groups stay linear.
        let first = fences.partition_point(|f| f.start < group.start);
        let end = fences.partition_point(|f| f.start < group.end);
        unshown.extend(fences[first..end.max(first)].iter().skip(1).cloned());
    }
    merged(unshown)
}

/// The items of `<Tabs>` not shown first.
fn tab_items(text: &str, len: usize) -> Vec<Range<usize>> {
    static TAG: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"<(/?)(Tabs\.Tab|TabItem|Tabs)\b([^>]*)>").expect("a valid pattern")
    });
    let mut groups: Vec<Group> = Vec::new();
    let mut unshown = Vec::new();
    for tag in TAG.captures_iter(text) {
        let whole = tag.get(0).map_or(0..0, |m| m.range());
        let closing = !tag[1].is_empty();
        let attrs = &tag[3];
        let self_closing = attrs.trim_end().ends_with('/');
        match (&tag[2], closing) {
            ("Tabs", false) if !self_closing => groups.push(Group {
                default_value: attr(attrs, "defaultValue"),
                items: Vec::new(),
            }),
            ("Tabs", true) => {
                if let Some(group) = groups.pop() {
                    unshown.extend(group.unshown());
                }
            }
            (_, false) if !self_closing => {
                if let Some(group) = groups.last_mut() {
                    group.items.push(Item {
                        span: whole.end..len,
                        value: attr(attrs, "value"),
                        default: flag(attrs, "default"),
                    });
                }
            }
            (_, true) => {
                if let Some(item) = groups.last_mut().and_then(|g| g.items.last_mut()) {
                    item.span.end = whole.start;
                }
            }
            _ => {}
        }
    }
    // A `<Tabs>` never closed still offers alternatives.
    for group in groups {
        unshown.extend(group.unshown());
    }
    unshown
}

/// The spans of `<CodeGroup>…</CodeGroup>` and of `::: code-group` up to
/// the `:::` that closes it (other `:::` containers nest inside).
fn code_groups(text: &str) -> Vec<Range<usize>> {
    let mut groups = Vec::new();
    let mut open_tag: Vec<usize> = Vec::new();
    // Open `:::` containers: where each starts, and whether it is a group.
    let mut colons: Vec<(usize, bool)> = Vec::new();
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        let start = at;
        at += line.len();
        let t = line.trim();
        if let Some(rest) = t.strip_prefix(":::") {
            match rest.trim() {
                "" => {
                    if let Some((from, true)) = colons.pop() {
                        groups.push(from..start);
                    }
                }
                name => colons.push((start, name == "code-group")),
            }
        }
        let mut rest = line;
        let mut offset = start;
        while let Some(i) = rest.find("CodeGroup") {
            let before = &rest[..i];
            if before.ends_with("</") {
                if let Some(from) = open_tag.pop() {
                    groups.push(from..offset + i);
                }
            } else if before.ends_with('<') {
                open_tag.push(offset + i);
            }
            offset += i + "CodeGroup".len();
            rest = &rest[i + "CodeGroup".len()..];
        }
    }
    groups.extend(open_tag.into_iter().map(|from| from..text.len()));
    groups.extend(
        colons
            .into_iter()
            .filter(|c| c.1)
            .map(|(from, _)| from..text.len()),
    );
    groups
}

/// Sorted, with overlapping ranges joined: [`is_unshown`] can then search.
fn merged(mut ranges: Vec<Range<usize>>) -> Vec<Range<usize>> {
    ranges.sort_by_key(|r| r.start);
    let mut out: Vec<Range<usize>> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match out.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}

/// Whether `offset` lies in one of `unshown` (as [`unshown_items`] returns
/// them): a binary search, so a page of many tabs stays linear.
pub(crate) fn is_unshown(unshown: &[Range<usize>], offset: usize) -> bool {
    let after = unshown.partition_point(|r| r.start <= offset);
    after > 0 && unshown[after - 1].contains(&offset)
}

/// `body` with every fenced code block's lines (fences included) turned to
/// spaces, same offsets, so no tag quoted in code is seen; and the span of
/// each fenced block.
fn outside_fences(body: &str) -> (String, Vec<Range<usize>>) {
    let mut out = String::with_capacity(body.len());
    let mut fences = Vec::new();
    let mut fence: Option<(super::mkdocs::Fence, usize)> = None;
    let mut at = 0;
    for line in body.split_inclusive('\n') {
        let start = at;
        at += line.len();
        let text = line.trim_end_matches(['\n', '\r']);
        let in_code = match &fence {
            Some((f, from)) => {
                if f.closed_by(text) {
                    fences.push(*from..at);
                    fence = None;
                }
                true
            }
            None => {
                fence = super::mkdocs::Fence::opened_by(text.trim_start_matches(' '))
                    .map(|f| (f, start));
                fence.is_some()
            }
        };
        if in_code {
            // Byte for byte, so offsets stay those of `body`.
            out.extend(line.bytes().map(|b| if b == b'\n' { '\n' } else { ' ' }));
        } else {
            out.push_str(line);
        }
    }
    if let Some((_, from)) = fence {
        fences.push(from..body.len());
    }
    (out, fences)
}

struct Group {
    default_value: Option<String>,
    items: Vec<Item>,
}

struct Item {
    span: Range<usize>,
    value: Option<String>,
    default: bool,
}

impl Group {
    fn unshown(self) -> impl Iterator<Item = Range<usize>> {
        let shown = self
            .items
            .iter()
            .position(|i| i.default)
            .or_else(|| {
                let want = self.default_value.as_deref()?;
                self.items
                    .iter()
                    .position(|i| i.value.as_deref() == Some(want))
            })
            .unwrap_or(0);
        self.items
            .into_iter()
            .enumerate()
            .filter(move |(i, _)| *i != shown)
            .map(|(_, item)| item.span)
    }
}

/// A JSX attribute's string value: `name="x"`, `name='x'` or `name={"x"}`.
fn attr(attrs: &str, name: &str) -> Option<String> {
    static ATTR: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r#"([A-Za-z_][\w-]*)\s*=\s*(?:"([^"]*)"|'([^']*)'|\{\s*["'`]([^"'`]*)["'`]\s*\})"#,
        )
        .expect("a valid pattern")
    });
    ATTR.captures_iter(attrs)
        .find(|c| &c[1] == name)
        .and_then(|c| c.get(2).or(c.get(3)).or(c.get(4)))
        .map(|m| m.as_str().to_string())
}

/// A JSX boolean attribute written bare (`default`) or as `={true}`.
fn flag(attrs: &str, name: &str) -> bool {
    attrs.split_whitespace().any(|word| {
        word == name
            || word
                .strip_prefix(name)
                .is_some_and(|rest| rest.replace(' ', "") == "={true}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NPM: &str = "<Tabs>\n  <TabItem value=\"npm\" label=\"npm\">\n\n```bash\nnpm i x\n```\n\n  </TabItem>\n  <TabItem value=\"yarn\" label=\"Yarn\">\n\n```bash\nyarn add x\n```\n\n  </TabItem>\n</Tabs>\n";

    fn unshown_text(body: &str) -> Vec<&str> {
        unshown_items(body)
            .into_iter()
            .map(|r| body[r].trim())
            .collect()
    }

    #[test]
    fn only_the_first_item_is_shown_by_default() {
        assert_eq!(unshown_text(NPM), ["```bash\nyarn add x\n```"]);
    }

    #[test]
    fn default_and_default_value_choose_the_item_shown() {
        let marked = NPM.replace("label=\"Yarn\"", "label=\"Yarn\" default");
        assert_eq!(unshown_text(&marked), ["```bash\nnpm i x\n```"]);
        let valued = NPM.replace("<Tabs>", "<Tabs groupId=\"pm\" defaultValue=\"yarn\">");
        assert_eq!(unshown_text(&valued), ["```bash\nnpm i x\n```"]);
    }

    #[test]
    fn tags_inside_code_and_pages_without_tabs_hide_nothing() {
        assert!(unshown_items("# x\n\n```bash\nnpm i x\n```\n").is_empty());
        let quoted = format!("```mdx\n{NPM}```\n");
        assert!(unshown_items(&quoted).is_empty());
    }

    #[test]
    fn a_tag_written_over_several_lines_counts() {
        // Multi-byte text in code keeps the offsets right.
        let body = NPM.replace("npm i x", "npm i x # ünïcode ✓").replace(
            "<TabItem value=\"yarn\"",
            "<TabItem\n    value=\"yarn\"\n   ",
        );
        assert_eq!(unshown_text(&body), ["```bash\nyarn add x\n```"]);
    }

    #[test]
    fn code_groups_show_their_first_block() {
        let vitepress = "::: code-group\n\n```sh [npm]\nnpm add -D x\n```\n\n```sh [pnpm]\npnpm add -D x\n```\n\n:::\n\n```sh\nnpx x\n```\n";
        assert_eq!(
            unshown_text(vitepress),
            ["```sh [pnpm]\npnpm add -D x\n```"]
        );
        let mintlify = "<CodeGroup>\n\n```bash npm\nnpm i x\n```\n\n```bash yarn\nyarn add x\n```\n\n</CodeGroup>\n";
        assert_eq!(unshown_text(mintlify), ["```bash yarn\nyarn add x\n```"]);
        // A tip inside the group does not end it.
        let nested = "::: code-group\n::: tip\nx\n:::\n```sh\na\n```\n```sh\nb\n```\n:::\n";
        assert_eq!(unshown_text(nested), ["```sh\nb\n```"]);
    }

    #[test]
    fn nextra_tabs_are_items() {
        let body = "<Tabs items={['npm', 'yarn']}>\n<Tabs.Tab>\n\n```sh\nnpm i x\n```\n\n</Tabs.Tab>\n<Tabs.Tab>\n\n```sh\nyarn add x\n```\n\n</Tabs.Tab>\n</Tabs>\n";
        assert_eq!(unshown_text(body), ["```sh\nyarn add x\n```"]);
    }

    #[test]
    fn offsets_are_found_in_joined_ranges() {
        let unshown = merged(vec![10..20, 0..5, 15..30, 40..41]);
        assert_eq!(unshown, [0..5, 10..30, 40..41]);
        let inside: Vec<usize> = (0..45).filter(|&o| is_unshown(&unshown, o)).collect();
        let expect: Vec<usize> = (0..5).chain(10..30).chain(40..41).collect();
        assert_eq!(inside, expect);
    }

    #[test]
    fn nested_tabs_choose_within_their_own_group() {
        let inner = NPM
            .replace("npm i x", "inner-first")
            .replace("yarn add x", "inner-second");
        let body = format!(
            "<Tabs>\n<TabItem value=\"a\">\n\n{inner}\n</TabItem>\n<TabItem value=\"b\">\n\n```sh\nouter-second\n```\n\n</TabItem>\n</Tabs>\n"
        );
        let hidden = unshown_text(&body);
        assert_eq!(hidden.len(), 2, "{hidden:?}");
        assert!(hidden[0].contains("inner-second") && !hidden[0].contains("inner-first"));
        assert!(hidden[1].contains("outer-second"));
    }
}
