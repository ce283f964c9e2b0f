//! Recognising bash scripts that cannot change the shell state, or only its
//! working directory and the variables they assign, so that their step can
//! skip saving it or save those alone. Saving is most of what runsheet adds to a step's
//! cost, and most runbook steps are plain commands (`make build`, `kubectl get
//! pods`). The test is conservative: anything it does not understand counts as
//! changing the state, which only costs the save.

use crate::parse::is_variable_name;

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
    "umask",
    "unalias",
    "unset",
    "until",
    "wait",
    "while",
];

/// What a bash script may change of the shell state, as far as a quick look
/// can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Nothing: simple commands only, none of them a state-changing builtin.
    Nothing,
    /// The working directory only: as `Nothing`, except that some commands
    /// are `cd`, `pushd` or `popd`. They change `$PWD`, `$OLDPWD` and the
    /// directory stack, nothing else.
    Directory,
    /// The working directory and these variables: as `Directory`, except
    /// that some commands only assign (`NAME=value ...` alone) or export
    /// (`export NAME[=value] ...`).
    Variables(Vec<String>),
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
/// carried bash state) defines, apart from the directory changers and
/// commands that only assign or export.
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
    let mut moves = false;
    let mut assigned: Vec<String> = Vec::new();
    for cmd in script.split(['\n', ';', '&', '|']).map(strip_comment) {
        let words = shell_words(cmd);
        let Some(&first) = words.first() else {
            continue;
        };
        let assigns: Option<Vec<&str>> = match assignment(first) {
            Some(_) => words.iter().map(|w| assignment(w)).collect(),
            None if first == "export" && !defined.contains(&"export") => words[1..]
                .iter()
                .map(|w| assignment(w).or_else(|| is_variable_name(w).then_some(*w)))
                .collect(),
            None => None,
        };
        if let Some(names) = assigns {
            if !names
                .iter()
                .all(|n| may_assign(n, first == "export", restore))
            {
                return Effect::Anything;
            }
            assigned.extend(names.iter().map(|n| n.to_string()));
            continue;
        }
        let word = first.trim_matches(['\'', '"']);
        if word.contains(['=', '\'', '"', '$']) || defined.contains(&word) {
            return Effect::Anything;
        }
        if DIRECTORY.contains(&word) {
            moves = true;
        } else if STATEFUL.contains(&word) {
            return Effect::Anything;
        }
    }
    if !assigned.is_empty() {
        assigned.sort();
        assigned.dedup();
        Effect::Variables(assigned)
    } else if moves {
        Effect::Directory
    } else {
        Effect::Nothing
    }
}

/// The words of a simple command, split at blanks outside quotes, quotes
/// kept. (A script with `\` or `$'` never gets here.)
fn shell_words(cmd: &str) -> Vec<&str> {
    let mut words = Vec::new();
    let (mut start, mut single, mut double) = (None, false, false);
    for (i, c) in cmd.char_indices() {
        if c.is_whitespace() && !single && !double {
            if let Some(s) = start.take() {
                words.push(&cmd[s..i]);
            }
            continue;
        }
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            _ => {}
        }
        start.get_or_insert(i);
    }
    if let Some(s) = start {
        words.push(&cmd[s..]);
    }
    words
}

/// The name `word` assigns (`NAME=value`), if it is an assignment.
fn assignment(word: &str) -> Option<&str> {
    let (name_part, _) = word.split_once('=')?;
    is_variable_name(name_part).then_some(name_part)
}

/// Whether an assignment to `name` changes that variable alone, as a save
/// of it reads it back: not one bash maintains or runsheet's own; not an
/// integer (its value is arithmetic, which may assign others) nor a
/// reference to another, as the carried state declares them; and `$PATH`,
/// `$SHELL` or `$TERM` only when exported (bash sets its own otherwise,
/// which a whole save tells apart).
fn may_assign(name: &str, exported: bool, restore: &str) -> bool {
    if super::bash::bash_special(name) || ["PWD", "OLDPWD"].contains(&name) {
        return false;
    }
    if !exported && ["PATH", "SHELL", "TERM"].contains(&name) {
        return false;
    }
    !restore.lines().any(|line| {
        let mut words = line.split_whitespace();
        words.next() == Some("declare")
            && words.next().is_some_and(|flags| flags.contains(['i', 'n']))
            && words
                .next()
                .is_some_and(|w| w.split('=').next() == Some(name))
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
            "cd \"$(mktemp -d)\"",
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
    fn steps_that_only_assign_name_what_they_assign() {
        let vars =
            |names: &[&str]| Effect::Variables(names.iter().map(|n| n.to_string()).collect());
        for (script, names) in [
            ("export A=1", &["A"][..]),
            ("cd /tmp; export A=1", &["A"]),
            ("cd /tmp; x=1", &["x"]),
            ("B=2 A=\"x y\"\nmake", &["A", "B"]),
            ("export PATH=\"$PATH:/opt/bin\" # more tools", &["PATH"]),
            ("export A B=2; export A=3", &["A", "B"]),
            ("A='x y'; cd /tmp && make", &["A"]),
            ("export KUBECONFIG=$HOME/.kube/config", &["KUBECONFIG"]),
            // Cut at the `;` inside the quotes, the rest reads as a command.
            ("export A=\"x;y\"", &["A"]),
        ] {
            assert_eq!(effect(script, ""), vars(names), "{script}");
        }
        for script in [
            "FOO=1 make",
            "PATH=/opt/bin",
            "SHELL=/bin/zsh",
            "export -n A",
            "\"export\" A=1",
            "SECONDS=0",
            "PWD=/",
            "export OLDPWD=/",
            "__runsheet_x=1",
            "A=$(date)",
            "A=`date`",
            "A=${B:=1}",
            "A[1]=x",
            "A=(1 2)",
            "A=1; unset B",
            "A=1 | read B",
        ] {
            assert_eq!(effect(script, ""), Effect::Anything, "{script}");
        }
        // An integer's value is arithmetic that may assign others; a
        // reference assigns another variable.
        assert_eq!(effect("A=2", "declare -i A=\"1\"\n"), Effect::Anything);
        assert_eq!(effect("R=2", "declare -n R=\"A\"\n"), Effect::Anything);
        assert_eq!(effect("B=2", "declare -i A=\"1\"\n"), vars(&["B"]));
        // `export` made a function or alias by an earlier step may do anything.
        assert_eq!(
            effect("export A=1", "export () \n{ \n    x=1\n}\n"),
            Effect::Anything
        );
        assert_eq!(
            effect("export A=1", "alias export='x=1; builtin export'\n"),
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
