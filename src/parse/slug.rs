//! GitHub's heading anchors (github-slugger), so a section id can be copied from
//! the rendered page's URL.

use std::collections::hash_map::Entry;

use rustc_hash::FxHashMap;

/// The anchor GitHub gives a heading's text: lower-case, letters, digits, `-`
/// and `_` kept (Unicode letters too), each space a `-`, everything else dropped.
pub fn slugify(text: &str) -> String {
    let text = text.trim();
    let mut out = String::with_capacity(text.len());
    if text.is_ascii() {
        // Most headings: byte by byte, without Unicode's tables.
        for b in text.bytes().map(|b| b.to_ascii_lowercase()) {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                out.push(char::from(b));
            } else if b == b' ' {
                out.push('-');
            }
        }
        return out;
    }
    slugify_chars(text, out)
}

/// `slugify` of any text, char by char, into `out`.
fn slugify_chars(text: &str, mut out: String) -> String {
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() || is_combining_mark(c) || c == '-' || c == '_' {
            out.push(c);
        } else if c == ' ' {
            out.push('-');
        }
    }
    out
}

/// GitHub keeps combining marks (`\p{M}`): an accent written as its own code
/// point, an Indic virama. These blocks hold the common ones.
fn is_combining_mark(c: char) -> bool {
    matches!(c,
        '\u{0300}'..='\u{036F}'
        | '\u{0483}'..='\u{0489}'
        | '\u{0591}'..='\u{05BD}'
        | '\u{0610}'..='\u{061A}'
        | '\u{064B}'..='\u{065F}'
        | '\u{0900}'..='\u{0903}'
        | '\u{093A}'..='\u{094F}'
        | '\u{1AB0}'..='\u{1AFF}'
        | '\u{1DC0}'..='\u{1DFF}'
        | '\u{20D0}'..='\u{20FF}'
        | '\u{FE20}'..='\u{FE2F}'
    )
}

/// Hands out unique slugs in document order: a repeated one gets `-1`, `-2`, ...
#[derive(Debug, Default)]
pub(crate) struct Slugger {
    seen: FxHashMap<String, usize>,
}

impl Slugger {
    pub(crate) fn slug(&mut self, text: &str) -> String {
        let base = match self.seen.entry(slugify(text)) {
            Entry::Vacant(new) => {
                let slug = new.key().clone();
                new.insert(0);
                return slug;
            }
            Entry::Occupied(taken) => taken.key().clone(),
        };
        let mut slug = base.clone();
        while self.seen.contains_key(&slug) {
            let n = self.seen.entry(base.clone()).or_insert(0);
            *n += 1;
            slug = format!("{base}-{n}");
        }
        self.seen.insert(slug.clone(), 0);
        slug
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn punctuation_is_dropped_and_spaces_become_hyphens() {
        assert_eq!(slugify("Build The Image"), "build-the-image");
        assert_eq!(slugify("What's new? (v2.0)"), "whats-new-v20");
        assert_eq!(slugify("  a -- b  "), "a----b");
        assert_eq!(slugify("snake_case & `code`"), "snake_case--code");
    }

    #[test]
    fn ascii_is_slugged_as_any_text_is() {
        for b in 0u8..0x80 {
            let text = format!("A{}b {}", char::from(b), char::from(b));
            assert_eq!(
                slugify(&text),
                slugify_chars(text.trim(), String::new()),
                "{text:?}"
            );
        }
    }

    #[test]
    fn unicode_letters_are_kept_and_lowered() {
        assert_eq!(slugify("Déploiement Énergie"), "déploiement-énergie");
        assert_eq!(slugify("Привет Мир"), "привет-мир");
        assert_eq!(slugify("日本語 テスト"), "日本語-テスト");
        assert_eq!(slugify("Emoji 🚀 launch"), "emoji--launch");
        // "é" written as e + U+0301 keeps its accent, as on GitHub.
        assert_eq!(slugify("Cafe\u{301} Menu"), "cafe\u{301}-menu");
        assert_eq!(slugify("नमस्ते दुनिया"), "नमस्ते-दुनिया");
    }

    #[test]
    fn duplicates_get_counters_like_github() {
        let mut s = Slugger::default();
        assert_eq!(s.slug("Setup"), "setup");
        assert_eq!(s.slug("Setup"), "setup-1");
        assert_eq!(s.slug("Setup"), "setup-2");
        // A heading that is literally "Setup 1" after the counter took `setup-1`.
        assert_eq!(s.slug("setup-1"), "setup-1-1");
        assert_eq!(s.slug("Other"), "other");
    }
}
