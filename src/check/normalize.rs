//! The normalisation of SPEC §1.4, applied to both sides before they are
//! compared: what the terminal showed, minus noise an author cannot write down.

/// CRLF to LF, ANSI escapes removed, trailing spaces and tabs dropped from each
/// line, trailing blank lines dropped. The result is empty or ends with one `\n`,
/// so `expected` and `actual` texts compare and diff line by line.
///
/// A lone carriage return (a progress bar redrawing its line) is played back
/// as a terminal would: later text overwrites the start of the line, so only
/// what was finally on screen is compared.
pub fn normalise(text: &str) -> String {
    let text = text.replace("\r\n", "\n");
    let plain = console::strip_ansi_codes(&text);
    let mut lines: Vec<String> = plain
        .split('\n')
        .map(|l| overstrike(l).trim_end_matches([' ', '\t']).to_string())
        .collect();
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    let mut out = lines.join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    out
}

fn overstrike(line: &str) -> std::borrow::Cow<'_, str> {
    if !line.contains('\r') {
        return line.into();
    }
    let mut screen: Vec<char> = Vec::new();
    for part in line.split('\r') {
        for (i, c) in part.chars().enumerate() {
            match screen.get_mut(i) {
                Some(cell) => *cell = c,
                None => screen.push(c),
            }
        }
    }
    screen.into_iter().collect::<String>().into()
}

/// Lossy UTF-8 then [`normalise`]: captured output is bytes, and a stray invalid
/// byte must not hide the rest of it.
pub fn normalise_bytes(bytes: &[u8]) -> String {
    normalise(&String::from_utf8_lossy(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_ansi_trailing_spaces_and_blank_lines() {
        assert_eq!(normalise("a  \r\nb\t\r\n\r\n\n"), "a\nb\n");
        assert_eq!(normalise("\x1b[1;32mok\x1b[0m done\n"), "ok done\n");
        assert_eq!(normalise("no newline"), "no newline\n");
        assert_eq!(normalise("\n\n"), "");
        assert_eq!(normalise(""), "");
    }

    #[test]
    fn carriage_returns_overwrite_like_a_terminal() {
        assert_eq!(normalise("10%\r20%\r100%\n"), "100%\n");
        assert_eq!(normalise("abc\rX\n"), "Xbc\n");
        assert_eq!(normalise("done\r\n"), "done\n");
        assert_eq!(normalise("Loading...\r          \rok\n"), "ok\n");
    }

    #[test]
    fn inner_blank_lines_and_leading_spaces_are_kept() {
        assert_eq!(normalise("  a\n\n  b\n"), "  a\n\n  b\n");
    }

    #[test]
    fn invalid_utf8_is_replaced_not_dropped() {
        assert_eq!(normalise_bytes(b"a\xffb\n"), "a\u{fffd}b\n");
    }
}
