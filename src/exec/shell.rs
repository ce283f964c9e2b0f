//! How each shell is started, and how its state is saved on exit and restored
//! at the next step's start.
//!
//! - bash: `BASH_ENV` points at a prelude that installs an EXIT trap and
//!   sources the previous state. The trap writes variables, functions, aliases
//!   and options (bash builtins only: no extra process), the cwd and the
//!   exported environment, then exits with the script's own status. The script
//!   itself is passed with `-c` untouched, so its line numbers are its own.
//! - sh, zsh: the same trap, prepended on the script's first line, saves cwd
//!   and `export -p`.
//! - interpreters: the script is written to a file and passed to the program;
//!   nothing is saved.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::{ShellState, StepRun};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Bash,
    Posix,
    Zsh,
    Interpreter,
}

pub(crate) fn kind(program: &str) -> Kind {
    let name = Path::new(program)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(program);
    match name {
        n if n.starts_with("bash") => Kind::Bash,
        "sh" | "dash" | "ash" | "ksh" | "mksh" | "ksh93" | "yash" | "posh" => Kind::Posix,
        "zsh" => Kind::Zsh,
        _ => Kind::Interpreter,
    }
}

/// Variables a step's environment delta never records: the shell maintains
/// them, or runsheet does.
const UNTRACKED_ENV: &[&str] = &["PWD", "SHLVL", "_", "BASH_ENV"];

/// A `-c` argument longer than this goes through a file instead (the kernel
/// caps one argument at 128 KiB).
const MAX_INLINE: usize = 96 * 1024;

/// A process ready to start, with the files its state travels through.
pub(crate) struct Prepared {
    pub(crate) kind: Kind,
    pub(crate) program: String,
    pub(crate) args: Vec<OsString>,
    pub(crate) env: BTreeMap<String, String>,
    pub(crate) cwd: PathBuf,
    /// Holds the prelude, the script file and the saved state; removed on drop.
    pub(crate) dir: tempfile::TempDir,
}

pub(crate) fn prepare(req: &StepRun<'_>) -> io::Result<Prepared> {
    let kind = kind(req.program);
    let dir = tempfile::Builder::new().prefix("runsheet-").tempdir()?;
    let mut env = req.base_env.clone();
    for (k, v) in &req.state.env {
        match v {
            Some(v) => env.insert(k.clone(), v.clone()),
            None => env.remove(k),
        };
    }
    let cwd = req
        .cwd_override
        .clone()
        .unwrap_or_else(|| req.state.cwd.clone());
    let d = dir.path();
    let args = match kind {
        Kind::Bash => {
            let prelude = d.join("prelude.bash");
            fs::write(&prelude, bash_prelude(d, req.state, req.base_env))?;
            env.insert("BASH_ENV".into(), path_string(&prelude)?);
            let mut args = os(&["--noprofile", "--norc", "-eo", "pipefail"]);
            args.extend(script_args(d, req.script)?);
            args
        }
        Kind::Posix | Kind::Zsh => {
            let script = format!("{}{}", posix_trap(d)?, req.script);
            let mut args = if kind == Kind::Zsh {
                os(&["--no-rcs", "-e", "-o", "pipefail"])
            } else {
                os(&["-e"])
            };
            args.extend(script_args(d, &script)?);
            args
        }
        Kind::Interpreter => {
            let file = d.join("step");
            fs::write(&file, req.script)?;
            if req.program.starts_with("python") && !env.contains_key("PYTHONUNBUFFERED") {
                // Otherwise Python holds stdout back while stderr flows, and
                // the combined output comes out in the wrong order.
                env.insert("PYTHONUNBUFFERED".into(), "1".into());
            }
            vec![file.into_os_string()]
        }
    };
    Ok(Prepared {
        kind,
        program: req.program.to_string(),
        args,
        env,
        cwd,
        dir,
    })
}

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

fn script_args(dir: &Path, script: &str) -> io::Result<Vec<OsString>> {
    if script.len() <= MAX_INLINE {
        return Ok(vec!["-c".into(), script.into()]);
    }
    let file = dir.join("step.sh");
    fs::write(&file, script)?;
    Ok(vec![file.into_os_string()])
}

fn path_string(p: &Path) -> io::Result<String> {
    p.to_str().map(str::to_string).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("temporary path {} is not UTF-8", p.display()),
        )
    })
}

/// `'text'` for any shell.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn quoted_path(dir: &Path, file: &str) -> String {
    quote(&dir.join(file).to_string_lossy())
}

/// Shell variables bash maintains itself: restoring them would be wrong or fail.
fn bash_special(name: &str) -> bool {
    const NAMES: &[&str] = &[
        "DIRSTACK",
        "EPOCHREALTIME",
        "EPOCHSECONDS",
        "EUID",
        "FUNCNAME",
        "GROUPS",
        "HISTCMD",
        "HOSTNAME",
        "HOSTTYPE",
        "LINENO",
        "MACHTYPE",
        "OSTYPE",
        "PIPESTATUS",
        "PPID",
        "PWD",
        "RANDOM",
        "SECONDS",
        "SHELLOPTS",
        "SHLVL",
        "SRANDOM",
        "UID",
        "_",
    ];
    NAMES.contains(&name)
        || name.starts_with("BASH")
        || name.starts_with("COMP_")
        || name.starts_with("__runsheet_")
}

/// The prelude bash sources through `BASH_ENV` before the script.
///
/// The EXIT trap saves with builtins only, no subshell: `declare -p` (read
/// back and filtered by [`saved_state`]), functions, aliases, `shopt` and `set`
/// options. `$SHELLOPTS` is read first because saving turns errexit and
/// nounset off, so that it can never fail half-way and change the status.
fn bash_prelude(dir: &Path, state: &ShellState, base_env: &BTreeMap<String, String>) -> String {
    let opts = quoted_path(dir, "opts");
    let vars = quoted_path(dir, "vars");
    let rest = quoted_path(dir, "state");
    let restore_bash_env = match base_env.get("BASH_ENV") {
        Some(v) => format!("export BASH_ENV={}", quote(v)),
        None => "unset BASH_ENV".to_string(),
    };
    format!(
        r#"{restore_bash_env}
__runsheet_save() {{
  __runsheet_o=$SHELLOPTS
  builtin set +e +u +o pipefail
  builtin unset -f __runsheet_save
  {{ builtin set +o; [[ :$__runsheet_o: != *:nounset:* ]] || builtin echo 'set -o nounset'; }} >{opts}
  builtin declare -p >{vars}
  {{ builtin declare -f; builtin alias -p; builtin shopt -p; }} >{rest}
  builtin exit "$1"
}}
trap '{{ __runsheet_save "$?"; }} 2>/dev/null' EXIT
shopt -s expand_aliases
{}
"#,
        state.shell_script.as_deref().unwrap_or("")
    )
}

/// The EXIT trap for sh and zsh, ending in `;` so the script's first line
/// follows on the same line and keeps its line number.
fn posix_trap(dir: &Path) -> io::Result<String> {
    let cwd = quoted_path(dir, "cwd");
    let env = quoted_path(dir, "env");
    let body = format!(
        "__runsheet_rc=$?; {{ printf '%s' \"$PWD\" >{cwd}; export -p >{env}; }} 2>/dev/null; exit $__runsheet_rc"
    );
    Ok(format!("trap {} EXIT; ", quote(&body)))
}

/// The state the step left behind, or `None` when it saved none (it replaced
/// runsheet's EXIT trap, or `exec`ed another program).
pub(crate) fn saved_state(
    prepared: &Prepared,
    base_env: &BTreeMap<String, String>,
) -> Option<ShellState> {
    let d = prepared.dir.path();
    let (cwd, exported, shell_script): Saved = match prepared.kind {
        Kind::Interpreter => return None,
        Kind::Bash => bash_saved(d)?,
        Kind::Posix | Kind::Zsh => {
            let cwd = fs::read_to_string(d.join("cwd")).ok()?;
            let env = fs::read_to_string(d.join("env")).ok()?;
            (cwd, super::words::parse_exports(&env), None)
        }
    };
    Some(ShellState {
        cwd: PathBuf::from(cwd),
        env: env_delta(base_env, exported),
        shell_script,
    })
}

/// Reads what the bash EXIT trap wrote: the cwd, the exported variables, and
/// the script restoring the rest. Read-only and bash-maintained variables are
/// dropped (re-declaring them fails), exported ones travel as the environment
/// delta instead, and errexit and pipefail are left out: every step starts
/// with them on, as under GitHub Actions, whatever the step before did.
fn bash_saved(dir: &Path) -> Option<Saved> {
    let vars = fs::read_to_string(dir.join("vars")).ok()?;
    let rest = fs::read_to_string(dir.join("state")).ok()?;
    let opts = fs::read_to_string(dir.join("opts")).ok()?;
    let mut cwd = None;
    let mut exported = Vec::new();
    let mut script = String::with_capacity(vars.len() + rest.len() + opts.len());
    for (raw, words) in super::words::commands(&vars) {
        let Some(decl) = Declaration::read(&words) else {
            continue;
        };
        if decl.name == "PWD" {
            cwd = decl.value.clone();
        }
        if decl.flags.contains('r') || bash_special(decl.name) {
            continue;
        }
        if decl.flags.contains('x') {
            if let (Some(v), false) = (decl.value, decl.flags.contains(['a', 'A'])) {
                exported.push((decl.name.to_string(), v));
            }
            continue;
        }
        script.push_str(raw);
        script.push('\n');
    }
    script.push_str(&rest);
    for line in opts.lines() {
        if !(line.ends_with(" errexit") || line.ends_with(" pipefail")) {
            script.push_str(line);
            script.push('\n');
        }
    }
    Some((cwd?, exported, Some(script)))
}

/// cwd, exported variables, bash's restoring script.
type Saved = (String, Vec<(String, String)>, Option<String>);

/// One line of `declare -p`: `declare -FLAGS NAME[=VALUE]`.
struct Declaration<'a> {
    flags: &'a str,
    name: &'a str,
    /// The value unquoted; meaningless for arrays.
    value: Option<String>,
}

impl<'a> Declaration<'a> {
    fn read(words: &'a [String]) -> Option<Self> {
        let (first, rest) = words.split_first()?;
        if first != "declare" {
            return None;
        }
        let (flags, assignment) = match rest {
            [f, a, ..] if f.starts_with('-') => (f.as_str(), a),
            [a, ..] => ("", a),
            [] => return None,
        };
        let (name, value) = match assignment.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (assignment.as_str(), None),
        };
        Some(Declaration { flags, name, value })
    }
}

/// What the step's exported environment changed relative to the run's base.
fn env_delta(
    base: &BTreeMap<String, String>,
    exported: Vec<(String, String)>,
) -> BTreeMap<String, Option<String>> {
    let now: BTreeMap<String, String> = exported
        .into_iter()
        .filter(|(k, _)| !UNTRACKED_ENV.contains(&k.as_str()))
        .collect();
    let mut delta = BTreeMap::new();
    for (k, v) in &now {
        if base.get(k) != Some(v) {
            delta.insert(k.clone(), Some(v.clone()));
        }
    }
    for k in base.keys() {
        if !now.contains_key(k) && !UNTRACKED_ENV.contains(&k.as_str()) {
            delta.insert(k.clone(), None);
        }
    }
    delta
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_by_program_name() {
        assert_eq!(kind("bash"), Kind::Bash);
        assert_eq!(kind("/usr/local/bin/bash"), Kind::Bash);
        assert_eq!(kind("sh"), Kind::Posix);
        assert_eq!(kind("zsh"), Kind::Zsh);
        assert_eq!(kind("python3"), Kind::Interpreter);
    }

    #[test]
    fn delta_records_sets_and_unsets_only() {
        let base: BTreeMap<String, String> = [("A", "1"), ("B", "2"), ("PWD", "/")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let now = vec![
            ("A".to_string(), "1".to_string()),
            ("C".to_string(), "3".to_string()),
            ("SHLVL".to_string(), "2".to_string()),
        ];
        let delta = env_delta(&base, now);
        let want: BTreeMap<String, Option<String>> = [
            ("B".to_string(), None),
            ("C".to_string(), Some("3".to_string())),
        ]
        .into_iter()
        .collect();
        assert_eq!(delta, want);
    }
}
