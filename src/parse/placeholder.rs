//! Placeholders docs leave in commands for the reader to fill in:
//! `kubectl logs <pod-name>`, `curl -H "Authorization: <token>"`. Outside
//! quotes the shell reads `<` and `>` as redirections: the step fails with a
//! syntax error, or reads from and writes to files named after the words.
//! `lint` (and every command that shows warnings) points at each one.

use std::ops::Range;

/// One placeholder: the line of the code it stands on (0-based) and its
/// byte range in that line.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Placeholder {
    pub(crate) line: usize,
    pub(crate) range: Range<usize>,
}

/// The unquoted `<word>`s of a shell script. In a transcript only the
/// command lines (after `$ ` or `> `) are read; heredoc bodies never are.
pub(crate) fn find(code: &str, transcript: bool) -> Vec<Placeholder> {
    let mut found = Vec::new();
    let mut heredoc: Option<(String, bool)> = None;
    for (n, line) in code.lines().enumerate() {
        if let Some((word, dash)) = &heredoc {
            let end = if *dash { line.trim_start() } else { line };
            if end.trim_end_matches('\r') == word {
                heredoc = None;
            }
            continue;
        }
        let start = match transcript {
            false => 0,
            true => match ["$ ", "> "].iter().find(|p| line.starts_with(*p)) {
                Some(p) => p.len(),
                None => continue,
            },
        };
        heredoc = heredoc_start(&line[start..]);
        for range in unquoted_words(&line[start..]) {
            found.push(Placeholder {
                line: n,
                range: range.start + start..range.end + start,
            });
        }
    }
    found
}

/// The placeholders of a step: each one's file line and text, to name when
/// the step fails (`run` shows no lint warnings).
pub(crate) fn in_step(step: &crate::model::Step) -> Vec<(usize, String)> {
    let transcript = match step.kind {
        crate::model::StepKind::Shell { .. } => false,
        crate::model::StepKind::Console { .. } => true,
        crate::model::StepKind::Interpreter { .. } => return Vec::new(),
    };
    let lines: Vec<&str> = step.code.lines().collect();
    find(&step.code, transcript)
        .into_iter()
        .map(|p| (step.line + 1 + p.line, lines[p.line][p.range].to_string()))
        .collect()
}

/// `<<EOF`, `<<-'EOF'`, `<< "EOF"` on a line: the word that ends the body and
/// whether tabs before it are allowed.
fn heredoc_start(line: &str) -> Option<(String, bool)> {
    let at = line.find("<<")?;
    let rest = &line[at + 2..];
    if rest.starts_with('<') {
        return None; // a here-string, `<<<`
    }
    let dash = rest.starts_with('-');
    let rest = rest.trim_start_matches('-').trim_start();
    let word: String = rest
        .trim_start_matches(['\'', '"'])
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!word.is_empty()).then_some((word, dash))
}

/// Byte ranges of `<word>` outside quotes and comments, where `word` starts
/// with a letter and holds letters, digits, `_`, `-` or `.`.
fn unquoted_words(line: &str) -> Vec<Range<usize>> {
    let bytes = line.as_bytes();
    let mut out = Vec::new();
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) if b == q => quote = None,
            Some(b'"') if b == b'\\' => i += 1,
            Some(_) => {}
            None => match b {
                b'\\' => i += 1,
                b'\'' | b'"' => quote = Some(b),
                b'#' if i == 0 || bytes[i - 1].is_ascii_whitespace() => break,
                b'<' => {
                    if let Some(len) = placeholder_at(&bytes[i..]) {
                        let after_redirect = i > 0 && matches!(bytes[i - 1], b'<' | b'>' | b'&');
                        if !after_redirect {
                            out.push(i..i + len);
                        }
                        i += len;
                        continue;
                    }
                }
                _ => {}
            },
        }
        i += 1;
    }
    out
}

/// The length of `<word>` at the start of `bytes`, if it is one.
fn placeholder_at(bytes: &[u8]) -> Option<usize> {
    let first = *bytes.get(1)?;
    if !first.is_ascii_alphabetic() {
        return None;
    }
    let word = bytes[1..]
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        .count();
    (bytes.get(1 + word) == Some(&b'>')).then_some(word + 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(code: &str, transcript: bool) -> Vec<&str> {
        let lines: Vec<&str> = code.lines().collect();
        find(code, transcript)
            .into_iter()
            .map(|p| &lines[p.line][p.range])
            .collect()
    }

    #[test]
    fn unquoted_angle_words_are_placeholders() {
        assert_eq!(
            words(
                "kubectl logs <pod-name> -n <namespace>\ncurl https://<host>/v1\n",
                false
            ),
            ["<pod-name>", "<namespace>", "<host>"]
        );
        assert_eq!(
            words("export TOKEN=<YOUR_TOKEN>\n", false),
            ["<YOUR_TOKEN>"]
        );
    }

    #[test]
    fn redirections_quotes_comments_and_heredocs_are_not() {
        for code in [
            "sort <input.txt >out.txt\n",
            "diff <(ls a) <(ls b)\n",
            "make 2>&1 | tee log\n",
            "echo \"<b>bold</b>\" '<i>'\n",
            "grep -c x file # count <lines>\n",
            "cat <<EOF > page.html\n<html>\nEOF\n",
            "cat <<-'END'\n\t<p>\n\tEND\n",
            "echo \\<escaped\\>\n",
            "tr a b <<<\"<x>\"\n",
        ] {
            assert!(
                words(code, false).is_empty(),
                "{code:?}: {:?}",
                words(code, false)
            );
        }
        // After the heredoc ends, the script is read again.
        assert_eq!(words("cat <<EOF\n<a>\nEOF\nrm <file>\n", false), ["<file>"]);
    }

    #[test]
    fn in_a_transcript_only_commands_count() {
        let code = "$ kubectl get pod <name>\n<html>\n> --watch <flag>\n";
        assert_eq!(words(code, true), ["<name>", "<flag>"]);
    }
}
