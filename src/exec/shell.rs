//! How each shell is started, and how its state is saved on exit and restored
//! at the next step's start.
//!
//! - bash: `BASH_ENV` points at a prelude (see `bash`) that loads the previous
//!   state and saves the new one at the end; the script is passed with `-c`
//!   as written, so its line numbers are its own.
//! - sh, zsh: saving functions and an EXIT trap, prepended on the script's
//!   first line, save the cwd and the exported variables.
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
const UNTRACKED_ENV: &[&str] = &["PWD", "SHLVL", "_", "BASH_ENV", super::procs::TRACKING_VAR];

/// A `-c` argument longer than this goes through a file instead (the kernel
/// caps one argument at 128 KiB).
pub(crate) const MAX_INLINE: usize = 96 * 1024;

/// A process ready to start, with the files its state travels through.
pub(crate) struct Prepared {
    pub(crate) kind: Kind,
    /// A bash step to fork from the warm shell (`zygote`): `args` is empty.
    pub(crate) warm: bool,
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
    prepare_with(req, false)
}

/// `warm`: for a bash step, prepare the files the warm shell sources (see
/// `zygote`) instead of a command line.
pub(crate) fn prepare_with(req: &StepRun<'_>, warm: bool) -> io::Result<Prepared> {
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
        Kind::Bash => super::bash::bash_command(req, &mut env, warm)?,
        Kind::Posix | Kind::Zsh => posix_command(req, kind)?,
        Kind::Interpreter => interpreter_command(req, &mut env)?,
    };
    Ok(Prepared {
        warm: warm && kind == Kind::Bash,
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
pub(crate) struct Command {
    pub(crate) args: Vec<OsString>,
    pub(crate) saves: bool,
    pub(crate) dir: Option<tempfile::TempDir>,
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
    let file = dir.path().join(script_name(req.program));
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

/// The script file's name: PowerShell runs only files ending in `.ps1`.
fn script_name(program: &str) -> &'static str {
    let name = Path::new(program)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(program);
    match name {
        "pwsh" | "powershell" | "pwsh.exe" | "powershell.exe" => "step.ps1",
        _ => "step",
    }
}

/// A private directory for one step's files: the saved state holds the
/// values of shell variables, secrets among them.
pub(crate) fn scratch() -> io::Result<tempfile::TempDir> {
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

pub(crate) fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

pub(crate) fn script_args(dir: &Path, script: &str) -> io::Result<Vec<OsString>> {
    if script.len() <= MAX_INLINE {
        return Ok(vec!["-c".into(), script.into()]);
    }
    let file = dir.join("step.sh");
    fs::write(&file, script)?;
    Ok(vec![file.into_os_string()])
}

pub(crate) fn path_string(p: &Path) -> io::Result<String> {
    p.to_str().map(str::to_string).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("temporary path {} is not UTF-8", p.display()),
        )
    })
}

/// `'text'` for any shell.
pub(crate) fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

pub(crate) fn quoted_path(dir: &Path, file: &str) -> String {
    quote(&dir.join(file).to_string_lossy())
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

/// Appended to every shell script: saves the state when the script runs to
/// its end, so a script that installs its own EXIT trap (replacing runsheet's)
/// still carries its state. It returns the script's last status, with errexit
/// off, so the shell exits with that status and the script's own EXIT trap
/// runs outside the `2>/dev/null`. The blank line ends a trailing `\`
/// continuation.
pub(crate) const SAVE_AT_END: &str = "\n\n{ __runsheet_end \"$?\"; } 2>/dev/null\n";

/// Save functions and EXIT trap for sh and zsh, all on one line ending in
/// `; ` so the script's first line follows on the same line and keeps its
/// line number.
///
/// sh saves `export -p`; zsh's `export -p` prints tied arrays (`export -T PATH
/// path=( ... )`), so zsh prints every exported name and value itself,
/// NUL-separated.
pub(crate) fn posix_prefix(dir: &Path, kind: Kind) -> String {
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
/// runsheet's EXIT trap, or `exec`ed another program). `before` is the state
/// it started from.
pub(crate) fn saved_state(
    prepared: &Prepared,
    before: &ShellState,
    base_env: &BTreeMap<String, String>,
) -> Option<ShellState> {
    if !prepared.saves {
        return None;
    }
    let d = prepared.dir.as_ref()?.path();
    let (cwd, exported, shell_script): Saved = match prepared.kind {
        Kind::Interpreter => return None,
        Kind::Bash => match super::bash::bash_saved(d, before, base_env)? {
            super::bash::Dump::Whole(saved) => saved,
            super::bash::Dump::Part(state) => return Some(state),
        },
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
        remote: BTreeMap::new(),
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

/// cwd, exported variables, bash's restoring script.
pub(crate) type Saved = (String, Vec<(String, String)>, Option<String>);

/// What the step's exported environment changed relative to the run's base.
pub(crate) fn env_delta(
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
        assert_eq!(script_name("pwsh"), "step.ps1");
        assert_eq!(script_name("/opt/microsoft/powershell/7/pwsh"), "step.ps1");
        assert_eq!(script_name("python3"), "step");
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
