//! Missing steps written as prose (SPEC §1.5): a paragraph, list item, table
//! cell or heading whose text starts with `TODO` or `FIXME`.

const MARKERS: &[&str] = &["TODO", "FIXME"];

/// The TODO's text when `text` (emphasis already removed) is a TODO: what follows
/// the marker and its `:`, or the marker itself when nothing follows.
pub(crate) fn todo_text(text: &str) -> Option<String> {
    let text = text.trim_start();
    let marker = MARKERS.iter().find(|m| text.starts_with(*m))?;
    let rest = &text[marker.len()..];
    match rest.chars().next() {
        None | Some(':') => {}
        Some(c) if c.is_whitespace() => {}
        Some(_) => return None,
    }
    let rest = rest
        .trim_start_matches(|c: char| c == ':' || c.is_whitespace())
        .trim_end();
    Some(if rest.is_empty() {
        (*marker).to_string()
    } else {
        collapse_spaces(rest)
    })
}

/// Soft line breaks arrive as spaces; a wrapped paragraph reads as one line.
pub(crate) fn collapse_spaces(text: &str) -> String {
    if collapsed_already(text) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// ASCII words split by single spaces, as most headings and TODOs are:
/// `collapse_spaces` would return the text unchanged.
fn collapsed_already(text: &str) -> bool {
    let mut after_space = true;
    for &b in text.as_bytes() {
        match b {
            b' ' if after_space => return false,
            b' ' => after_space = true,
            b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0x80.. => return false,
            _ => after_space = false,
        }
    }
    !after_space || text.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_already_collapsed_is_kept_as_it_is() {
        let words = [
            "a", "b c", "", " ", "a  b", " a", "a ", "a\tb", "a\u{a0}b", "é b", "a\u{1f}b",
        ];
        for x in words {
            for y in words {
                let text = format!("{x}{y}");
                let split: Vec<&str> = text.split_whitespace().collect();
                assert_eq!(collapse_spaces(&text), split.join(" "), "{text:?}");
            }
        }
    }

    #[test]
    fn markers_need_a_colon_space_or_end() {
        assert_eq!(todo_text("TODO: fix it"), Some("fix it".into()));
        assert_eq!(todo_text("TODO fix it"), Some("fix it".into()));
        assert_eq!(todo_text("FIXME: broken"), Some("broken".into()));
        assert_eq!(todo_text("TODO"), Some("TODO".into()));
        assert_eq!(todo_text("TODO:"), Some("TODO".into()));
        assert_eq!(
            todo_text("  TODO:  spaced  out "),
            Some("spaced out".into())
        );
        assert_eq!(todo_text("TODOS are fine"), None);
        assert_eq!(todo_text("todo: lower case is prose"), None);
        assert_eq!(todo_text("Not a TODO: here"), None);
    }
}
