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
use std::sync::OnceLock;

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
    /// As the runbook names it, for messages.
    pub(crate) program: String,
    /// Found on the step's own PATH.
    pub(crate) exe: PathBuf,
    pub(crate) args: Vec<OsString>,
    pub(crate) env: BTreeMap<String, String>,
    pub(crate) cwd: PathBuf,
    /// False when the script cannot change the state: nothing is saved and
    /// the state stays as it was.
    pub(crate) saves: bool,
    /// Holds the prelude, the script file and the saved state; removed on
    /// drop. None when the step needs no file.
    pub(crate) dir: Option<tempfile::TempDir>,
}

pub(crate) fn prepare(req: &StepRun<'_>) -> io::Result<Prepared> {
    let kind = kind(req.program);
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
    let Command { args, saves, dir } = match kind {
        Kind::Bash => bash_command(req, &mut env)?,
        Kind::Posix | Kind::Zsh => posix_command(req, kind)?,
        Kind::Interpreter => interpreter_command(req, &mut env)?,
    };
    Ok(Prepared {
        kind,
        exe: find_program(req.program, &env),
        program: req.program.to_string(),
        args,
        env,
        cwd,
        saves,
        dir,
    })
}

/// The arguments after the program, and the files they need.
struct Command {
    args: Vec<OsString>,
    saves: bool,
    dir: Option<tempfile::TempDir>,
}

fn bash_command(req: &StepRun<'_>, env: &mut BTreeMap<String, String>) -> io::Result<Command> {
    let restore = req.state.shell_script.as_deref().unwrap_or("");
    let saves = !super::inert::leaves_state_alone(req.script, restore);
    let mut args = os(&["--noprofile", "--norc", "-eo", "pipefail"]);
    if !saves
        && restore.is_empty()
        && !req.base_env.contains_key("BASH_ENV")
        && req.script.len() <= MAX_INLINE
    {
        // Nothing to load, nothing to save: no prelude, no files.
        args.extend(os(&["-O", "expand_aliases", "-c", req.script]));
        return Ok(Command {
            args,
            saves,
            dir: None,
        });
    }
    let dir = scratch()?;
    let d = dir.path();
    let prelude = d.join("prelude.bash");
    fs::write(&prelude, bash_prelude(d, req.state, req.base_env, saves))?;
    env.insert("BASH_ENV".into(), path_string(&prelude)?);
    let script = if saves {
        format!("{}{SAVE_AT_END}", req.script)
    } else {
        req.script.to_string()
    };
    args.extend(script_args(d, &script)?);
    Ok(Command {
        args,
        saves,
        dir: Some(dir),
    })
}

fn posix_command(req: &StepRun<'_>, kind: Kind) -> io::Result<Command> {
    let dir = scratch()?;
    let d = dir.path();
    let script = format!("{}{}{SAVE_AT_END}", posix_prefix(d, kind), req.script);
    let mut args = if kind == Kind::Zsh {
        os(&["--no-rcs", "-e", "-o", "pipefail"])
    } else {
        os(&["-e"])
    };
    args.extend(script_args(d, &script)?);
    Ok(Command {
        args,
        saves: true,
        dir: Some(dir),
    })
}

fn interpreter_command(
    req: &StepRun<'_>,
    env: &mut BTreeMap<String, String>,
) -> io::Result<Command> {
    let dir = scratch()?;
    let file = dir.path().join("step");
    fs::write(&file, req.script)?;
    if req.program.starts_with("python") && !env.contains_key("PYTHONUNBUFFERED") {
        // Otherwise Python holds stdout back while stderr flows, and the
        // combined output comes out in the wrong order.
        env.insert("PYTHONUNBUFFERED".into(), "1".into());
    }
    Ok(Command {
        args: vec![file.into_os_string()],
        saves: false,
        dir: Some(dir),
    })
}

/// A private directory for one step's files: the saved state holds the
/// values of shell variables, secrets among them.
fn scratch() -> io::Result<tempfile::TempDir> {
    use std::os::unix::fs::PermissionsExt;
    tempfile::Builder::new()
        .prefix("runsheet-")
        .permissions(fs::Permissions::from_mode(0o700))
        .tempdir_in(scratch_root())
}

/// `program` looked up on `env`'s PATH, as the shell would. Starting an
/// absolute path lets std use posix_spawn (vfork) instead of fork, which it
/// cannot do when the child's PATH differs from ours. Not found: the name as
/// given, so the error comes from the start.
fn find_program(program: &str, env: &BTreeMap<String, String>) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    if program.contains('/') {
        return PathBuf::from(program);
    }
    let path = env.get("PATH").map_or("", String::as_str);
    std::env::split_paths(path)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(program))
        .find(|p| fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
        .unwrap_or_else(|| PathBuf::from(program))
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

/// Where per-step temporary directories go: a memory file system when there
/// is one. bash writes its saved state a line per write(2), which costs ~15µs
/// a line on a disk and next to nothing on tmpfs; the state may also hold
/// secrets, better never written to disk.
fn scratch_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let runtime = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from);
        runtime
            .into_iter()
            .chain([PathBuf::from("/dev/shm")])
            .find(|d| writable_dir(d))
            .unwrap_or_else(std::env::temp_dir)
    })
}

fn writable_dir(dir: &Path) -> bool {
    tempfile::Builder::new()
        .prefix("runsheet-probe-")
        .tempdir_in(dir)
        .is_ok()
}

/// The prelude bash sources through `BASH_ENV` before the script.
///
/// The EXIT trap saves with builtins only, no subshell, into one file:
/// `declare -p` (filtered by [`saved_state`]), aliases, a marker and the
/// functions. Options travel inside `declare -p` as `$BASHOPTS` and the
/// `$SHELLOPTS` read before saving turns errexit and nounset off (so that
/// saving can never fail half-way and change the status).
/// `__runsheet_opts` restores both from their saved lists; xtrace and verbose
/// come last so runsheet's own lines are never traced.
fn bash_prelude(
    dir: &Path,
    state: &ShellState,
    base_env: &BTreeMap<String, String>,
    saves: bool,
) -> String {
    let restore_bash_env = match base_env.get("BASH_ENV") {
        Some(v) => format!("export BASH_ENV={}", quote(v)),
        None => "unset BASH_ENV".to_string(),
    };
    let save = if saves { bash_save(dir) } else { String::new() };
    format!(
        "{restore_bash_env}\nshopt -s expand_aliases\n{save}{}",
        restore_script(state.shell_script.as_deref().unwrap_or(""))
    )
}

/// The functions saving the state, the EXIT trap, and the options as they
/// start (to tell later whether the step changed them).
fn bash_save(dir: &Path) -> String {
    let saved = quoted_path(dir, "saved");
    format!(
        r#"__runsheet_done=
__runsheet_dump() {{
  __runsheet_o=$SHELLOPTS
  builtin set +e +u +o pipefail
  {{ builtin declare -p; builtin alias -p; builtin echo '{FUNCTIONS_MARK}'; builtin declare -f; }} >{saved}
  __runsheet_done=1
}}
__runsheet_exit() {{ [[ -n $__runsheet_done ]] || __runsheet_dump; builtin exit "$1"; }}
__runsheet_end() {{ __runsheet_dump; return "$1"; }}
trap '{{ __runsheet_exit "$?"; }} 2>/dev/null' EXIT
__runsheet_b0=$BASHOPTS __runsheet_s0=$SHELLOPTS
"#
    )
}

/// Restores options from their saved lists (see [`bash_saved`]), xtrace and
/// verbose last so that nothing of runsheet's is traced.
const BASH_OPTS_FN: &str = r#"__runsheet_opts() {
  local o
  [[ $1 == "$BASHOPTS" ]] || {
  for o in ${BASHOPTS//:/ }; do
    case :$1: in *:$o:*) ;; *) builtin shopt -u "$o" ;; esac
  done
  for o in ${1//:/ }; do
    case :$BASHOPTS:$o in *:$o:*|*:login_shell|*:restricted_shell) ;; *) builtin shopt -s "$o" ;; esac
  done
  }
  [[ $2 == "$SHELLOPTS" ]] && return
  for o in ${SHELLOPTS//:/ }; do
    case $o in errexit|pipefail) ;; *) case :$2: in *:$o:*) ;; *) builtin set +o "$o" ;; esac ;; esac
  done
  for o in ${2//:/ }; do
    case $o in
      errexit|pipefail) ;;
      xtrace) __runsheet_x+=x ;;
      verbose) __runsheet_x+=v ;;
      *) case :$SHELLOPTS: in *:$o:*) ;; *) builtin set -o "$o" ;; esac ;;
    esac
  done
} 2>/dev/null
"#;

/// The saved state, with the options function around it when it is needed:
/// most steps change no option, and every line bash parses costs time.
fn restore_script(script: &str) -> String {
    if !script.contains("__runsheet_opts ") {
        return script.to_string();
    }
    format!(
        "{BASH_OPTS_FN}__runsheet_x=\n{script}builtin unset -f __runsheet_opts\n[[ -z $__runsheet_x ]] || builtin set -$__runsheet_x\n"
    )
}

/// Separates `declare -p` from the functions in bash's saved state.
const FUNCTIONS_MARK: &str = "#runsheet-functions";

/// Appended to every shell script: saves the state when the script runs to
/// its end, so a script that installs its own EXIT trap (replacing runsheet's)
/// still carries its state. It returns the script's last status, with errexit
/// off, so the shell exits with that status and the script's own EXIT trap
/// runs outside the `2>/dev/null`. The blank line ends a trailing `\`
/// continuation.
const SAVE_AT_END: &str = "\n\n{ __runsheet_end \"$?\"; } 2>/dev/null\n";

/// Save functions and EXIT trap for sh and zsh, all on one line ending in
/// `; ` so the script's first line follows on the same line and keeps its
/// line number.
///
/// sh saves `export -p`; zsh's `export -p` prints tied arrays (`export -T PATH
/// path=( ... )`), so zsh prints every exported name and value itself,
/// NUL-separated.
fn posix_prefix(dir: &Path, kind: Kind) -> String {
    let cwd = quoted_path(dir, "cwd");
    let env = quoted_path(dir, "env");
    let exports = if kind == Kind::Zsh {
        r#"local n; for n in ${(k)parameters[(R)*export*]}; do printf '%s=%s\0' "$n" "${(P)n}"; done"#
    } else {
        "export -p"
    };
    format!(
        "__runsheet_dump() {{ __runsheet_done=1; printf '%s' \"$PWD\" >{cwd}; {exports} >{env}; }}; \
         __runsheet_exit() {{ [ -n \"${{__runsheet_done-}}\" ] || __runsheet_dump; exit \"$1\"; }}; \
         __runsheet_end() {{ set +e; __runsheet_dump; return \"$1\"; }}; \
         trap '{{ __runsheet_exit \"$?\"; }} 2>/dev/null' EXIT; "
    )
}

/// The state the step left behind, or `None` when it saved none (it replaced
/// runsheet's EXIT trap, or `exec`ed another program).
pub(crate) fn saved_state(
    prepared: &Prepared,
    base_env: &BTreeMap<String, String>,
) -> Option<ShellState> {
    if !prepared.saves {
        return None;
    }
    let d = prepared.dir.as_ref()?.path();
    let (cwd, exported, shell_script): Saved = match prepared.kind {
        Kind::Interpreter => return None,
        Kind::Bash => bash_saved(d)?,
        Kind::Posix => {
            let (cwd, env) = read_lossy(d)?;
            (cwd, super::words::parse_exports(&env), None)
        }
        Kind::Zsh => {
            let (cwd, env) = read_lossy(d)?;
            let exported = env
                .split('\0')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            (cwd, exported, None)
        }
    };
    Some(ShellState {
        cwd: PathBuf::from(cwd),
        env: env_delta(base_env, exported),
        shell_script,
    })
}

/// The `cwd` and `env` files sh and zsh write.
fn read_lossy(dir: &Path) -> Option<(String, String)> {
    let read = |name| {
        fs::read(dir.join(name))
            .ok()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    };
    Some((read("cwd")?, read("env")?))
}

/// Reads what the bash EXIT trap wrote: the cwd, the exported variables, and
/// the script restoring the rest. Read-only and bash-maintained variables are
/// dropped (re-declaring them fails), exported ones travel as the environment
/// delta instead.
fn bash_saved(dir: &Path) -> Option<Saved> {
    // Lossy: one odd byte in a variable must not lose the whole state.
    let saved = fs::read(dir.join("saved")).ok()?;
    let saved = String::from_utf8_lossy(&saved);
    let mut cwd = None;
    let mut bashopts = String::new();
    let mut shellopts = String::new();
    let (mut bashopts0, mut shellopts0) = (String::new(), String::new());
    let mut exported = Vec::new();
    let mut script = String::with_capacity(saved.len());
    let mut functions = "";
    let mut aliases = String::new();
    for (range, words) in super::words::commands(&saved) {
        if words == [FUNCTIONS_MARK] {
            functions = &saved[range.end..];
            break;
        }
        if words[0] == "alias" {
            aliases.push_str(&saved[range]);
            aliases.push('\n');
            continue;
        }
        let Some(decl) = Declaration::read(&words) else {
            continue;
        };
        match decl.name {
            "PWD" => cwd = decl.value.clone(),
            "BASHOPTS" => bashopts = decl.value.clone().unwrap_or_default(),
            "__runsheet_o" => shellopts = decl.value.clone().unwrap_or_default(),
            "__runsheet_b0" => bashopts0 = decl.value.clone().unwrap_or_default(),
            "__runsheet_s0" => shellopts0 = decl.value.clone().unwrap_or_default(),
            _ => {}
        }
        if decl.flags.contains('r')
            || bash_special(decl.name)
            || bash_default(&saved[range.clone()])
        {
            continue;
        }
        if decl.flags.contains('x') {
            if let (Some(v), false) = (decl.value, decl.flags.contains(['a', 'A'])) {
                exported.push((decl.name.to_string(), v));
            }
            continue;
        }
        script.push_str(&saved[range]);
        script.push('\n');
    }
    script.push_str(&user_functions(functions.trim_start_matches('\n')));
    // Aliases after the functions: a function body was alias-expanded when
    // first defined, and must not be expanded twice.
    script.push_str(&aliases);
    if bashopts != bashopts0 || shellopts != shellopts0 {
        script.push_str(&format!(
            "__runsheet_opts {} {}\n",
            quote(&bashopts),
            quote(&shellopts)
        ));
    }
    Some((cwd?, exported, Some(script)))
}

/// A variable as every bash starts with it: restoring it is wasted work.
fn bash_default(declaration: &str) -> bool {
    const DEFAULTS: &[&str] = &[
        r#"declare -- IFS=$' \t\n'"#,
        r#"declare -- OPTERR="1""#,
        r#"declare -i OPTIND="1""#,
        r#"declare -- PS4="+ ""#,
    ];
    DEFAULTS.contains(&declaration)
}

/// `declare -f` output without runsheet's own functions. Each definition
/// starts with a `NAME () ` line at the margin (bash's canonical layout).
fn user_functions(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut keep = true;
    for line in text.split_inclusive('\n') {
        if let Some(name) = line.strip_suffix(" () \n") {
            if !name.contains(' ') {
                keep = !name.starts_with("__runsheet_");
            }
        }
        if keep {
            out.push_str(line);
        }
    }
    out
}

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

/// cwd, exported variables, bash's restoring script.
type Saved = (String, Vec<(String, String)>, Option<String>);

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
