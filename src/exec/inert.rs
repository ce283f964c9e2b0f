//! Recognising bash scripts that cannot change the shell state, or only its
//! working directory, so that their step can skip saving it or save the
//! directory alone. Saving is most of what runsheet adds to a step's
//! cost, and most runbook steps are plain commands (`make build`, `kubectl get
//! pods`). The test is conservative: anything it does not understand counts as
//! changing the state, which only costs the save.

/// Words that, first in a command, may change variables, functions, aliases
/// or options, or run something that might
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
    "printf",
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

/// What a bash script may change of the shell state, as far as a quick look
/// can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Nothing: simple commands only, none of them a state-changing builtin.
    Nothing,
    /// The working directory only: as `Nothing`, except that some commands
    /// are `cd`, `pushd` or `popd`. They change `$PWD` and `$OLDPWD` (and
    /// `DIRSTACK`, which is never carried), nothing else.
    Directory,
    /// Anything: the whole state is saved.
    Anything,
}

/// Words that change the working directory and nothing else that is carried.
const DIRECTORY: &[&str] = &["cd", "popd", "pushd"];

/// True when `script` surely leaves the state as it found it.
#[cfg(test)]
pub(crate) fn leaves_state_alone(script: &str, restore: &str) -> bool {
    effect(script, restore) == Effect::Nothing
}

/// What `script` may change: simple commands only (no compound commands, no
/// expansion that can assign, no here-documents), none of them a
/// state-changing builtin or one of the functions or aliases `restore` (the
/// carried bash state) defines, apart from the directory changers.
pub(crate) fn effect(script: &str, restore: &str) -> Effect {
    if script.contains("$'") {
        // `$'...'` may hold `\'`, which the quote stripping below would
        // misread.
        return Effect::Anything;
    }
    // Single-quoted text is literal: nothing in it runs or expands.
    let active = braced_names_plain(&without_single_quoted(script));
    if active.chars().any(|c| "(){}`\\".contains(c)) || active.contains("<<") {
        return Effect::Anything;
    }
    if !plain_expansions(&active) {
        return Effect::Anything;
    }
    if restore
        .lines()
        .any(|l| l.starts_with("alias ") && l.ends_with(" '"))
    {
        // An alias ending in a space makes the next word an alias too.
        return Effect::Anything;
    }
    let defined = defined_names(restore);
    let mut effect = Effect::Nothing;
    let first_words = script
        .split(['\n', ';', '&', '|'])
        .map(strip_comment)
        .filter_map(|cmd| cmd.split_whitespace().next());
    for word in first_words {
        let word = word.trim_matches(['\'', '"']);
        if word.contains('=') || word.contains(['\'', '"', '$']) || defined.contains(&word) {
            return Effect::Anything;
        }
        if DIRECTORY.contains(&word) {
            effect = Effect::Directory;
        } else if STATEFUL.contains(&word) {
            return Effect::Anything;
        }
    }
    effect
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
    fn steps_that_can_only_move_are_told_apart() {
        for script in [
            "cd /tmp",
            "cd build && make\nls",
            "pushd src >/dev/null; popd",
            "cd \"$HOME\"/src # go home",
            "\"cd\" /",
        ] {
            assert_eq!(effect(script, ""), Effect::Directory, "{script}");
        }
        for script in [
            "cd /tmp; export A=1",
            "cd \"$(mktemp -d)\"",
            "cd /tmp; x=1",
            "cd ${DIR:=/tmp}",
            "if cd /tmp; then :; fi",
            "builtin cd /",
        ] {
            assert_eq!(effect(script, ""), Effect::Anything, "{script}");
        }
        // `cd` redefined by an earlier step may do anything.
        assert_eq!(effect("cd /", "cd () \n{ \n    x=1\n}\n"), Effect::Anything);
        assert_eq!(
            effect("cd /", "alias cd='x=1; builtin cd'\n"),
            Effect::Anything
        );
    }

    #[test]
    fn functions_and_aliases_of_earlier_steps_may_change_state() {
        let restore = "declare -- x=\"1\"\nalias goto='cd'\ngo () \n{ \n    cd \"$1\"\n}\n";
        assert!(!leaves_state_alone("go /tmp", restore));
        assert!(!leaves_state_alone("goto /tmp", restore));
        assert!(leaves_state_alone("ls /tmp", restore));
    }
}
