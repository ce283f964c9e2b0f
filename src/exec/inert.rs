//! Recognising bash scripts that cannot change the shell state, so that their
//! step can skip saving it. Saving is most of what runsheet adds to a step's
//! cost, and most runbook steps are plain commands (`make build`, `kubectl get
//! pods`). The test is conservative: anything it does not understand counts as
//! changing the state, which only costs the save.

/// Words that, first in a command, may change variables, functions, aliases,
/// options or the working directory, or run something that might
/// (`eval`, `source`, `builtin`, keywords opening compound commands).
const STATEFUL: &[&str] = &[
    "!",
    ".",
    "[[",
    "alias",
    "bind",
    "builtin",
    "caller",
    "case",
    "cd",
    "command",
    "compgen",
    "complete",
    "compopt",
    "coproc",
    "declare",
    "dirs",
    "do",
    "done",
    "elif",
    "else",
    "enable",
    "esac",
    "eval",
    "exec",
    "export",
    "fc",
    "fi",
    "for",
    "function",
    "getopts",
    "hash",
    "history",
    "if",
    "let",
    "local",
    "mapfile",
    "popd",
    "printf",
    "pushd",
    "read",
    "readarray",
    "readonly",
    "select",
    "set",
    "shift",
    "shopt",
    "source",
    "then",
    "time",
    "trap",
    "typeset",
    "unalias",
    "unset",
    "until",
    "wait",
    "while",
];

/// True when `script` surely leaves the state as it found it: simple
/// commands only (no compound commands, no expansion that can assign, no
/// here-documents), none of them a state-changing builtin or one of the
/// functions or aliases `restore` (the carried bash state) defines.
pub(crate) fn leaves_state_alone(script: &str, restore: &str) -> bool {
    if script.contains("$'") {
        // `$'...'` may hold `\'`, which the quote stripping below would
        // misread.
        return false;
    }
    // Single-quoted text is literal: nothing in it runs or expands.
    let active = braced_names_plain(&without_single_quoted(script));
    if active.chars().any(|c| "(){}`\\".contains(c)) || active.contains("<<") {
        return false;
    }
    if !plain_expansions(&active) {
        return false;
    }
    if restore
        .lines()
        .any(|l| l.starts_with("alias ") && l.ends_with(" '"))
    {
        // An alias ending in a space makes the next word an alias too.
        return false;
    }
    let defined = defined_names(restore);
    script
        .split(['\n', ';', '&', '|'])
        .map(strip_comment)
        .filter_map(|cmd| cmd.split_whitespace().next())
        .all(|word| {
            let word = word.trim_matches(['\'', '"']);
            !word.contains('=')
                && !word.contains(['\'', '"', '$'])
                && !STATEFUL.contains(&word)
                && !defined.contains(&word)
        })
}

/// `script` with the inside of single-quoted strings (outside double quotes)
/// blanked. An unterminated quote blanks the rest.
fn without_single_quoted(script: &str) -> String {
    let mut out = String::with_capacity(script.len());
    let (mut in_single, mut in_double) = (false, false);
    for c in script.chars() {
        match c {
            '\'' if !in_double => {
                in_single = !in_single;
                out.push(c);
            }
            _ if in_single => out.push(' '),
            '"' => {
                in_double = !in_double;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// `${NAME}` written as `$NAME`: the braces only delimit the name.
fn braced_names_plain(script: &str) -> String {
    let mut out = String::with_capacity(script.len());
    let mut rest = script;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let name_len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        if name_len > 0 && after[name_len..].starts_with('}') {
            out.push('$');
            out.push_str(&after[..name_len]);
            rest = &after[name_len + 1..];
        } else {
            out.push_str("${");
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Every `$` starts `$NAME` or a special parameter (`$?`, `$1`, ...):
/// `${x:=v}` and `$((x++))` assign.
fn plain_expansions(script: &str) -> bool {
    let bytes = script.as_bytes();
    bytes.iter().enumerate().all(|(i, &b)| {
        b != b'$'
            || bytes
                .get(i + 1)
                .is_none_or(|&n| n.is_ascii_alphanumeric() || b"_?#@*!$-\"' \n\t".contains(&n))
    })
}

/// The command with a trailing `# comment` cut off (a `#` starting a word).
fn strip_comment(cmd: &str) -> &str {
    let mut prev_blank = true;
    for (i, c) in cmd.char_indices() {
        if c == '#' && prev_blank {
            return &cmd[..i];
        }
        prev_blank = c.is_whitespace();
    }
    cmd
}

/// Names of the functions (`NAME () ` lines, as `declare -f` prints them) and
/// aliases (`alias NAME=...`) in a saved bash state.
fn defined_names(restore: &str) -> Vec<&str> {
    restore
        .lines()
        .filter_map(|line| {
            line.strip_suffix(" () ")
                .filter(|n| !n.contains(' '))
                .or_else(|| line.strip_prefix("alias ")?.split_once('=').map(|(n, _)| n))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_commands_leave_state_alone() {
        for script in [
            "true",
            "make build\nkubectl get pods -n \"$NAMESPACE\" # list them\n",
            "echo $HOME && ls -la /tmp | grep x; sleep 1 &",
            "curl --header=x https://example.com/?a=b > out.txt",
            "exit 3",
            "# only a comment",
            "kubectl get pods -o jsonpath='{.items[0].metadata.name}'",
            "echo \"${HOME}/x\" 'it''s (fine)'",
            "awk '{ print $1 }' file | sort",
        ] {
            assert!(leaves_state_alone(script, ""), "{script}");
        }
    }

    #[test]
    fn anything_that_may_change_state_is_saved() {
        for script in [
            "cd /tmp",
            "x=1",
            "FOO=1 make",
            "export A=1",
            "echo ok && cd /",
            "echo ${x:=1}",
            "echo $((x++))",
            "f() { :; }",
            "source env.sh",
            ". env.sh",
            "read line",
            "printf -v x %s y",
            "set -u",
            "shopt -s nullglob",
            "for i in 1 2; do :; done",
            "time cd /",
            "builtin cd /",
            "\"cd\" /",
            "echo a \\\ncd /",
            "cat <<EOF\nx\nEOF",
            "eval \"$CMD\"",
            "echo `cd /`",
            "'cd' /",
            "echo 'a;b'; cd /",
            "echo \"${x:-$(cd /)}\"",
            "echo \"it's $((x++))\"",
            "echo $'\\'' $((x++)) ''",
        ] {
            assert!(!leaves_state_alone(script, ""), "{script}");
        }
    }

    #[test]
    fn functions_and_aliases_of_earlier_steps_may_change_state() {
        let restore = "declare -- x=\"1\"\nalias goto='cd'\ngo () \n{ \n    cd \"$1\"\n}\n";
        assert!(!leaves_state_alone("go /tmp", restore));
        assert!(!leaves_state_alone("goto /tmp", restore));
        assert!(leaves_state_alone("ls /tmp", restore));
    }
}
