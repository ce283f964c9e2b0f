//! Reads what `export -p` prints (dash, bash, zsh, busybox: `export NAME='v'`,
//! `declare -x NAME="v"`, `typeset -x NAME=$'v'`) back into name/value pairs.
//! Only the quoting those shells produce is understood.

use std::ops::Range;

/// Exported variables that have a value, in the order printed.
pub(crate) fn parse_exports(text: &str) -> Vec<(String, String)> {
    let mut vars = Vec::new();
    for (_, words) in commands(text) {
        let mut rest = words.iter();
        if !matches!(
            rest.next().map(String::as_str),
            Some("export" | "declare" | "typeset")
        ) {
            continue;
        }
        for word in rest.filter(|w| !w.starts_with('-')) {
            if let Some((name, value)) = word.split_once('=') {
                vars.push((name.to_string(), value.to_string()));
            }
        }
    }
    vars
}

/// Splits `text` at unquoted newlines and `;` into commands: where each one's
/// text stands (without the separator) and its words, unquoted. Empty
/// commands are left out.
pub(crate) fn commands(text: &str) -> Vec<(Range<usize>, Vec<String>)> {
    let mut out = Vec::new();
    let mut chars = Chars { text, pos: 0 };
    while chars.peek().is_some() {
        let start = chars.pos;
        let words = command_words(&mut chars);
        let raw = text[start..chars.pos].trim_end_matches(['\n', ';']);
        if !words.is_empty() {
            out.push((start..start + raw.len(), words));
        }
    }
    out
}

/// A char iterator that knows its byte position.
struct Chars<'a> {
    text: &'a str,
    pos: usize,
}

impl Chars<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }
}

impl Iterator for Chars<'_> {
    type Item = char;

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }
}

/// The words up to the next unquoted newline or `;`.
fn command_words(chars: &mut Chars<'_>) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    while let Some(c) = chars.next() {
        match c {
            '\n' | ';' => break,
            ' ' | '\t' => {
                words.extend(word.take());
            }
            '\\' => match chars.next() {
                Some('\n') | None => {}
                Some(e) => word.get_or_insert_with(String::new).push(e),
            },
            '\'' => single_quoted(chars, word.get_or_insert_with(String::new)),
            '"' => double_quoted(chars, word.get_or_insert_with(String::new)),
            '$' if chars.peek() == Some('\'') => {
                chars.next();
                ansi_c_quoted(chars, word.get_or_insert_with(String::new));
            }
            _ => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
}

fn single_quoted(chars: &mut Chars<'_>, out: &mut String) {
    for c in chars.by_ref() {
        if c == '\'' {
            return;
        }
        out.push(c);
    }
}

fn double_quoted(chars: &mut Chars<'_>, out: &mut String) {
    while let Some(c) = chars.next() {
        match c {
            '"' => return,
            '\\' => match chars.peek() {
                Some(e @ ('$' | '`' | '"' | '\\')) => {
                    out.push(e);
                    chars.next();
                }
                Some('\n') => {
                    chars.next();
                }
                _ => out.push('\\'),
            },
            _ => out.push(c),
        }
    }
}

fn ansi_c_quoted(chars: &mut Chars<'_>, out: &mut String) {
    while let Some(c) = chars.next() {
        match c {
            '\'' => return,
            '\\' => {
                let Some(e) = chars.next() else { return };
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    'a' => out.push('\x07'),
                    'b' => out.push('\x08'),
                    'e' | 'E' => out.push('\x1b'),
                    'f' => out.push('\x0c'),
                    'v' => out.push('\x0b'),
                    '0'..='7' => {
                        let mut n = e.to_digit(8).unwrap_or(0);
                        for _ in 0..2 {
                            match chars.peek().and_then(|d| d.to_digit(8)) {
                                Some(d) => {
                                    n = n * 8 + d;
                                    chars.next();
                                }
                                None => break,
                            }
                        }
                        out.extend(char::from_u32(n));
                    }
                    'x' => {
                        let mut n = 0;
                        for _ in 0..2 {
                            match chars.peek().and_then(|d| d.to_digit(16)) {
                                Some(d) => {
                                    n = n * 16 + d;
                                    chars.next();
                                }
                                None => break,
                            }
                        }
                        out.extend(char::from_u32(n));
                    }
                    _ => out.push(e),
                }
            }
            _ => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        parse_exports(text)
    }

    fn p(n: &str, v: &str) -> (String, String) {
        (n.to_string(), v.to_string())
    }

    #[test]
    fn reads_dash_quoting() {
        let text = "export A='plain'\nexport B='it'\"'\"'s'\nexport C='two\nlines'\nexport UNSET\n";
        assert_eq!(
            pairs(text),
            vec![p("A", "plain"), p("B", "it's"), p("C", "two\nlines")]
        );
    }

    #[test]
    fn reads_bash_and_zsh_quoting() {
        let text = "declare -x A=\"a \\\"q\\\" \\$x \\\\\"\ndeclare -x B\ntypeset -x C=$'tab\\there\\n'\nexport D=bare\\ word\n";
        assert_eq!(
            pairs(text),
            vec![
                p("A", "a \"q\" $x \\"),
                p("C", "tab\there\n"),
                p("D", "bare word")
            ]
        );
    }

    #[test]
    fn reads_what_dash_prints() {
        let out = std::process::Command::new("sh")
            .args(["-c", "export R='x'\"'\"'y\n\"z\" $q\\'; export -p"])
            .output()
            .expect("sh runs");
        let vars = pairs(&String::from_utf8_lossy(&out.stdout));
        assert!(vars.contains(&p("R", "x'y\n\"z\" $q\\")), "{vars:?}");
    }
}
