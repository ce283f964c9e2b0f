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

/// Every variable name, with bash builtins only: `${!a@}` lists the names
/// starting with `a`.
fn all_names() -> String {
    let mut s = String::new();
    for c in ('a'..='z').chain('A'..='Z').chain(['_']) {
        s.push_str(&format!("${{!{c}@}} "));
    }
    s
}

/// Shell variables bash sets itself; restoring them would be wrong or fail.
const BASH_SPECIAL: &str = "BASH*|COMP_*|DIRSTACK|EPOCHREALTIME|EPOCHSECONDS|FUNCNAME|GROUPS|HISTCMD|HOSTNAME|HOSTTYPE|LINENO|MACHTYPE|OSTYPE|PIPESTATUS|PPID|PWD|RANDOM|SECONDS|SHELLOPTS|SHLVL|SRANDOM|UID|EUID|_|__runsheet_*";

fn bash_prelude(dir: &Path, state: &ShellState, base_env: &BTreeMap<String, String>) -> String {
    let names = all_names();
    let opts = quoted_path(dir, "opts");
    let vars = quoted_path(dir, "state");
    let envf = quoted_path(dir, "env");
    let exports = quoted_path(dir, "exports");
    let restore_bash_env = match base_env.get("BASH_ENV") {
        Some(v) => format!("export BASH_ENV={}", quote(v)),
        None => "unset BASH_ENV".to_string(),
    };
    // Shell options first, before anything changes them; then errexit and
    // nounset off so saving can never fail half-way.
    format!(
        r#"{restore_bash_env}
__runsheet_save() {{
  builtin set +o >{opts}
  builtin set +e +u +o pipefail
  builtin unset -f __runsheet_save
  if ((BASH_VERSINFO[0] * 100 + BASH_VERSINFO[1] >= 404)); then
    {{
      for __runsheet_n in {names}; do
        case $__runsheet_n in {BASH_SPECIAL}) continue ;; esac
        case ${{!__runsheet_n@a}} in *[rx]*) continue ;; esac
        builtin declare -p "$__runsheet_n"
      done
      builtin declare -f
      builtin alias -p
      builtin shopt -p
    }} >{vars}
    {{
      builtin printf '%s\0' "$PWD"
      for __runsheet_n in {names}; do
        case ${{!__runsheet_n@a}} in
          *x*) [[ -v $__runsheet_n ]] && builtin printf '%s=%s\0' "$__runsheet_n" "${{!__runsheet_n}}" ;;
        esac
      done
    }} >{envf}
  else
    builtin printf '%s\0' "$PWD" >{envf}
    builtin export -p >{exports}
  fi
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
    let (cwd, exported, shell_script) = match prepared.kind {
        Kind::Interpreter => return None,
        Kind::Bash => {
            let raw = fs::read(d.join("env")).ok()?;
            let raw = String::from_utf8_lossy(&raw);
            let mut fields = raw.split('\0');
            let cwd = fields.next()?.to_string();
            let exported = match fs::read_to_string(d.join("exports")) {
                // Written instead by bash older than 4.4.
                Ok(text) => super::words::parse_exports(&text),
                Err(_) => fields
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            };
            (cwd, exported, bash_script(d))
        }
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

/// Variables, functions, aliases and shopt as saved, then the `set -o`
/// options minus errexit and pipefail: every step starts with those on, as
/// under GitHub Actions, whatever the step before did.
fn bash_script(dir: &Path) -> Option<String> {
    let mut script = fs::read_to_string(dir.join("state")).ok()?;
    let opts = fs::read_to_string(dir.join("opts")).ok()?;
    for line in opts.lines() {
        if line.ends_with(" errexit") || line.ends_with(" pipefail") {
            continue;
        }
        script.push_str(line);
        script.push('\n');
    }
    Some(script)
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
