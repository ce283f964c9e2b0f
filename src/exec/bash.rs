//! bash: the prelude sourced through `BASH_ENV` (loads the carried state,
//! installs the saving functions and EXIT trap), and reading back what the
//! step saved.
//!
//! Saving uses bash builtins only, no extra process, writing one file:
//! `declare -p`, `alias -p`, a marker, `declare -f`. It runs when the script
//! reaches its end ([`SAVE_AT_END`]) or, failing that, from the EXIT trap, and
//! always leaves with the script's own status. Scripts that cannot change the
//! state (see `inert`) skip it; scripts that can only change the working
//! directory save `$PWD` and `$OLDPWD` alone.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::ops::Range;
use std::path::Path;

use super::inert::Effect;
use super::shell::{
    os, path_string, quote, quoted_path, scratch, script_args, Command, Saved, MAX_INLINE,
    SAVE_AT_END,
};
use super::{ShellState, StepRun};

pub(crate) fn bash_command(
    req: &StepRun<'_>,
    env: &mut BTreeMap<String, String>,
    warm: bool,
) -> io::Result<Command> {
    let restore = req.state.shell_script.as_deref().unwrap_or("");
    let effect = super::inert::effect(req.script, restore);
    let saves = effect != Effect::Nothing;
    if warm {
        return bash_job(req, effect);
    }
    let mut args = os(&["--noprofile", "--norc", "-eo", "pipefail"]);
    // Every bash step gets a folder: the ERR trap writes the failing line
    // there (only when a command fails; a passing step writes nothing).
    let dir = scratch()?;
    let d = dir.path();
    if !saves
        && restore.is_empty()
        && !req.base_env.contains_key("BASH_ENV")
        && req.script.len() <= MAX_INLINE
    {
        // Nothing to load, nothing to save: no prelude. The trap goes in front
        // of the script's first line, which keeps its number.
        let script = format!("{}set -E; {}", err_trap(d, MAIN_INLINE, false), req.script);
        args.extend(os(&["-O", "expand_aliases", "-c", &script]));
        return Ok(Command {
            args,
            saves,
            dir: Some(dir),
        });
    }
    let prelude = d.join("prelude.bash");
    let script = if saves {
        format!("{}{SAVE_AT_END}", req.script)
    } else {
        req.script.to_string()
    };
    let main = if script.len() <= MAX_INLINE {
        MAIN_INLINE.to_string()
    } else {
        path_string(&d.join("step.sh"))?
    };
    fs::write(
        &prelude,
        bash_prelude(d, req.state, req.base_env, effect, &main),
    )?;
    env.insert("BASH_ENV".into(), path_string(&prelude)?);
    args.extend(script_args(d, &script)?);
    Ok(Command {
        args,
        saves,
        dir: Some(dir),
    })
}

/// The files of a step forked from the warm shell (see `zygote`): the
/// prelude it sources, as `BASH_ENV` would load it, and the script it
/// `eval`s as `bash -c` would run it.
fn bash_job(req: &StepRun<'_>, effect: Effect) -> io::Result<Command> {
    let saves = effect != Effect::Nothing;
    let dir = scratch()?;
    let d = dir.path();
    let script = if saves {
        format!("{}{SAVE_AT_END}", req.script)
    } else {
        req.script.to_string()
    };
    fs::write(d.join("step.sh"), script)?;
    let prelude = prelude_with(d, req.state, req.base_env, effect, MAIN_INLINE, true);
    fs::write(d.join("prelude.bash"), prelude)?;
    Ok(Command {
        args: Vec::new(),
        saves,
        dir: Some(dir),
    })
}

/// What bash names as the source of functions defined in a `-c` script
/// (`BASH_SOURCE`); a script run from a file is named by its path.
const MAIN_INLINE: &str = "environment";

/// The file the ERR trap writes the failing line to, in the step's folder.
const FAILED_LINE: &str = "failed-line";

/// The function behind the ERR trap, on one line ending in `; ` (see
/// [`err_trap`]). It records the line of the script's own text where the
/// command that ends the step failed:
/// - only failures that stop the shell count (`errexit` on): a failure the
///   script tolerates (`set +e`, `|| true`, an `if` test) never fires it or
///   is ignored;
/// - inside functions (`errtrace`), the innermost frame defined in the script
///   itself; a function carried from an earlier step (defined in the prelude)
///   or sourced from a file counts at the line in the script that called it;
/// - in a subshell, the first failure is kept aside and wins over the line of
///   the subshell as a whole, which bash reports at its last line.
const ERR_FN: &str = r#"__runsheet_err() { [[ $- == *e* ]] || return 0; local n=${#FUNCNAME[@]} k l; l=${BASH_LINENO[n-1]}; for ((k = 1; k < n; k++)); do [[ ${BASH_SOURCE[k]} != "$__runsheet_main" ]] || { l=${BASH_LINENO[k-1]}; break; }; done; if ((BASH_SUBSHELL > __runsheet_sub0)); then [[ -e $__runsheet_erf.sub ]] || builtin printf '%s\n' "$l" >"$__runsheet_erf.sub"; return 0; fi; [[ ! -e $__runsheet_erf.sub ]] || builtin read -r l <"$__runsheet_erf.sub"; builtin printf '%s\n' "$l" >"$__runsheet_erf"; }; "#;

/// The functions that save the state (see [`bash_save`]), reading where and
/// what from variables the prelude sets: `$__runsheet_saved` is the file;
/// `$__runsheet_full` set asks for everything (`declare -p`, aliases, a
/// marker, `declare -f`), else the directory and the names in the array
/// `__runsheet_some` follow [`SOME_MARK`]. An array, so that an `IFS` the
/// step set cannot split them differently.
const SAVE_FNS: &str = r#"__runsheet_dump() {
  [[ -z ${__runsheet_full-} ]] || __runsheet_o=$SHELLOPTS
  builtin set +e +u +o pipefail
  if [[ -n ${__runsheet_full-} ]]; then
    # bash computes $DIRSTACK only when it is used: a bare `declare -p`
    # shows it as it was last used.
    builtin : "${DIRSTACK[@]}"
    { builtin declare -p; builtin umask -p; builtin alias -p; builtin echo '#runsheet-functions'; builtin declare -f; } >"$__runsheet_saved"
  else
    { builtin echo '#runsheet-some'; builtin declare -p PWD OLDPWD DIRSTACK "${__runsheet_some[@]}" 2>/dev/null; } >"$__runsheet_saved"
  fi
  __runsheet_done=1
}
__runsheet_exit() { [[ -z ${__runsheet_pending-} ]] || __runsheet_await; [[ -n $__runsheet_done ]] || __runsheet_dump; builtin exit "$1"; }
__runsheet_end() { __runsheet_dump; return "$1"; }
"#;

/// runsheet's functions, as the warm shell defines them once for all the
/// steps it forks (see `zygote`): every line bash parses costs each step
/// time, and these are the same for every step.
pub(crate) fn functions() -> String {
    format!("{ERR_FN}\n{SAVE_FNS}")
}

/// The ERR trap, on one line ending in `; ` (it may stand in front of a
/// script's first line): the variables [`ERR_FN`] reads, the function
/// itself unless `defined` (the warm shell has it), and the trap.
fn err_trap(dir: &Path, main: &str, defined: bool) -> String {
    format!(
        "__runsheet_main={}; __runsheet_erf={}; __runsheet_sub0=$BASH_SUBSHELL; {}\
         trap '{{ __runsheet_err; }} 2>/dev/null' ERR; ",
        quote(main),
        quoted_path(dir, FAILED_LINE),
        if defined { "" } else { ERR_FN },
    )
}

/// The line of the script (1-based) whose command failed, as the ERR trap
/// recorded it; `None` when no command failed that way (an `exit 3`, a
/// signal, a script that replaced the trap).
pub(crate) fn bash_failed_line(dir: &Path) -> Option<usize> {
    let text = fs::read_to_string(dir.join(FAILED_LINE)).ok()?;
    text.trim().parse().ok().filter(|&n| n > 0)
}

/// Shell variables bash maintains itself: restoring them would be wrong or fail.
pub(crate) fn bash_special(name: &str) -> bool {
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
/// The EXIT trap saves with builtins only, no subshell, into one file:
/// `declare -p` (filtered by `bash_saved`), aliases, a marker and the
/// functions. Options travel inside `declare -p` as `$BASHOPTS` and the
/// `$SHELLOPTS` read before saving turns errexit and nounset off (so that
/// saving can never fail half-way and change the status).
/// `__runsheet_opts` restores both from their saved lists; xtrace and verbose
/// come last so runsheet's own lines are never traced.
/// `effect` is what the script may change (`inert::effect`): nothing saves
/// nothing, the directory saves only `$PWD` and `$OLDPWD`.
pub(crate) fn bash_prelude(
    dir: &Path,
    state: &ShellState,
    base_env: &BTreeMap<String, String>,
    effect: Effect,
    main: &str,
) -> String {
    prelude_with(dir, state, base_env, effect, main, false)
}

/// [`bash_prelude`], without runsheet's functions when `defined`: a step
/// forked from the warm shell has them already.
pub(crate) fn prelude_with(
    dir: &Path,
    state: &ShellState,
    base_env: &BTreeMap<String, String>,
    effect: Effect,
    main: &str,
    defined: bool,
) -> String {
    let restore_bash_env = match base_env.get("BASH_ENV") {
        Some(v) => format!("export BASH_ENV={}", quote(v)),
        None => "unset BASH_ENV".to_string(),
    };
    let save = if effect == Effect::Nothing {
        String::new()
    } else {
        bash_save(dir, effect, defined)
    };
    // errtrace before the options are noted, so it never shows as a change
    // the step made; all before the restored state, which turns xtrace on last.
    format!(
        "{restore_bash_env}\nshopt -s expand_aliases\nset -E\n{}\n{save}{}",
        err_trap(dir, main, defined),
        restore_script(state.shell_script.as_deref().unwrap_or(""))
    )
}

/// The functions saving the state (unless `defined`), what they read, the
/// EXIT trap, and the options as they start (to tell later whether the step
/// changed them). A step that can only move, or assign the variables it
/// names, saves `$PWD`, `$OLDPWD` and those variables behind a marker: a
/// full dump is about a hundred lines, each its own `write` (bash
/// line-buffers its output).
fn bash_save(dir: &Path, effect: Effect, defined: bool) -> String {
    let partial = match &effect {
        Effect::Directory => Some(String::new()),
        Effect::Variables(names) => Some(names.join(" ")),
        Effect::Nothing | Effect::Anything => None,
    };
    let (what, options_at_start) = if let Some(names) = partial {
        // Names `inert` found, each a plain identifier.
        (format!("__runsheet_some=({names}); "), "")
    } else {
        (
            "__runsheet_full=1; ".to_string(),
            "__runsheet_b0=$BASHOPTS __runsheet_s0=$SHELLOPTS \
             __runsheet_0PATH=$PATH __runsheet_0SHELL=$SHELL __runsheet_0TERM=$TERM\n",
        )
    };
    format!(
        "{}__runsheet_saved={}; {what}__runsheet_done=\n\
         trap '{{ __runsheet_exit \"$?\"; }} 2>/dev/null' EXIT\n{options_at_start}",
        if defined { "" } else { SAVE_FNS },
        quoted_path(dir, "saved"),
    )
}

/// Restores options from their saved lists (see `bash_saved`), xtrace and
/// verbose last so that nothing of runsheet's is traced.
const BASH_OPTS_FN: &str = r#"__runsheet_opts() {
  local o IFS=$' \t\n'
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
        "{BASH_OPTS_FN}__runsheet_x=\n{script}builtin unset -f __runsheet_opts\n[[ -z $__runsheet_x ]] || builtin set \"-$__runsheet_x\"\n"
    )
}

/// Separates `declare -p` from the functions in bash's saved state.
const FUNCTIONS_MARK: &str = "#runsheet-functions";

/// First line of a state saved by a step that could only change the
/// working directory and the variables it names: `declare -p PWD OLDPWD
/// NAME...` follows.
const SOME_MARK: &str = "#runsheet-some";

/// What a bash step saved.
pub(crate) enum Dump {
    /// Everything: see `bash_whole`.
    Whole(Saved),
    /// The directory and some variables: the state before the step, with
    /// those declarations put in (see `redeclared`).
    Part(ShellState),
}

/// Reads what the bash EXIT trap wrote into `dir`. `before` is the state the
/// step started from, which a step that could only move keeps apart from the
/// directory; `base_env` the run's environment the state is a delta of.
pub(crate) fn bash_saved(
    dir: &Path,
    before: &ShellState,
    base_env: &BTreeMap<String, String>,
) -> Option<Dump> {
    // Lossy: one odd byte in a variable must not lose the whole state.
    let saved = fs::read(dir.join("saved")).ok()?;
    let saved = String::from_utf8_lossy(&saved);
    match saved.strip_prefix(SOME_MARK) {
        Some(declared) => redeclared(declared, before, base_env).map(Dump::Part),
        None => {
            // What the step's environment held as it started.
            let in_env = |name: &str| match before.env.get(name) {
                Some(value) => value.is_some(),
                None => base_env.contains_key(name),
            };
            bash_whole(&saved, &in_env).map(Dump::Whole)
        }
    }
}

/// `before` with the declarations of `declared` (as `declare -p` prints
/// them): the directory from `$PWD`, the directory stack, and every other
/// variable where `bash_whole` would put it: in the environment delta when
/// exported with a value (bash exports it), in the restoring script when not
/// exported or when read-only, nowhere when maintained by bash or as every
/// bash starts.
fn redeclared(
    declared: &str,
    before: &ShellState,
    base_env: &BTreeMap<String, String>,
) -> Option<ShellState> {
    let mut state = ShellState {
        // A bash step always leaves a script, if only an empty one.
        shell_script: Some(before.shell_script.clone().unwrap_or_default()),
        remote: BTreeMap::new(),
        ..before.clone()
    };
    let mut script = state.shell_script.take().unwrap_or_default();
    let mut cwd = None;
    for (range, words) in super::words::commands(declared) {
        let Some(decl) = Declaration::read(&words) else {
            continue;
        };
        let line = &declared[range];
        if decl.name == "PWD" {
            cwd = decl.value;
            continue;
        }
        if decl.name == "DIRSTACK" {
            script = with_dirs(&script, dirs_line(&words));
            continue;
        }
        let name = decl.name;
        let (in_env, in_script) = if bash_special(name) || bash_default(line) {
            (None, None)
        } else if decl.flags.contains('x') {
            (
                decl.value.filter(|_| !decl.flags.contains(['a', 'A'])),
                // Exported and read-only: the environment brings the value,
                // the script makes it read-only again.
                decl.flags.contains('r').then_some(line),
            )
        } else {
            (None, Some(line))
        };
        match in_env {
            Some(v) if base_env.get(name) != Some(&v) => state.env.insert(name.into(), Some(v)),
            Some(_) => state.env.remove(name),
            None if base_env.contains_key(name) => state.env.insert(name.into(), None),
            None => state.env.remove(name),
        };
        script = declared_again(&script, name, in_script);
    }
    state.shell_script = Some(script);
    state.cwd = cwd?.into();
    Some(state)
}

/// `script` (a restoring script) with the declaration of `name` among its
/// leading `declare` lines replaced by `line` (put where `declare -p` would
/// print it, in the order of the names, when there was none), or taken out
/// when `line` is `None`.
fn declared_again(script: &str, name: &str, line: Option<&str>) -> String {
    let commands = super::words::commands(script);
    let declares: Vec<_> = commands
        .iter()
        .take_while(|(_, words)| words.first().is_some_and(|w| w == "declare"))
        .filter_map(|(range, words)| Some((range, Declaration::read(words)?.name)))
        .collect();
    let old = declares.iter().find(|(_, n)| *n == name);
    match (old, line) {
        (Some((range, _)), Some(line)) => {
            format!("{}{line}{}", &script[..range.start], &script[range.end..])
        }
        (Some((range, _)), None) => {
            let end = script[range.end..]
                .strip_prefix('\n')
                .map_or(range.end, |_| range.end + 1);
            format!("{}{}", &script[..range.start], &script[end..])
        }
        (None, Some(line)) => {
            // bash orders its variables by the bytes of their names.
            let at = declares
                .iter()
                .find(|(_, n)| n.as_bytes() > name.as_bytes())
                .map_or_else(
                    || {
                        declares
                            .last()
                            .map_or(0, |(r, _)| line_after(script, r.end))
                    },
                    |(r, _)| r.start,
                );
            let gap = if at > 0 && !script[..at].ends_with('\n') {
                "\n"
            } else {
                ""
            };
            format!("{}{gap}{line}\n{}", &script[..at], &script[at..])
        }
        (None, None) => script.to_string(),
    }
}

/// The file mode mask runsheet was started with, which every step inherits:
/// a step's own `umask` is carried only when it differs.
pub(crate) fn own_umask() -> u32 {
    static OWN: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *OWN.get_or_init(|| {
        // Linux says it without changing it; elsewhere it is read by
        // setting it and setting it back.
        let from_proc = fs::read_to_string("/proc/self/status").ok().and_then(|s| {
            let line = s.lines().find_map(|l| l.strip_prefix("Umask:"))?;
            u32::from_str_radix(line.trim(), 8).ok()
        });
        from_proc.unwrap_or_else(|| {
            // SAFETY: umask cannot fail; the old mask is put back at once.
            // `mode_t` is 16 bits on macOS.
            #[allow(clippy::useless_conversion)]
            unsafe {
                let old = libc::umask(0o022);
                libc::umask(old);
                u32::from(old)
            }
        })
    })
}

/// Starts the line of a restoring script that rebuilds the directory
/// stack (`pushd`, `popd`, `dirs`).
const DIRS_MARK: &str = "builtin dirs -c; ";

/// The line rebuilding the directory stack of `declare -p DIRSTACK` (its
/// words), below the working directory; `None` when it holds nothing else.
/// bash lets a script add to the stack only with `pushd`: `-n` adds the
/// directory under the current one without going there, or checking that it
/// still exists (as a stack in a terminal keeps a directory since deleted).
fn dirs_line(words: &[String]) -> Option<String> {
    let dirs = stack_entries(words)?;
    if dirs.len() < 2 {
        return None;
    }
    let pushes: Vec<String> = dirs[1..]
        .iter()
        .rev()
        .map(|dir| format!("builtin pushd -n -- {} >/dev/null", quote(dir)))
        .collect();
    Some(format!("{DIRS_MARK}{}", pushes.join("; ")))
}

/// The entries of `declare -a DIRSTACK=([0]="..." [1]="...")`, read as
/// words: the first carries `DIRSTACK=(`, the last the closing `)`.
fn stack_entries(words: &[String]) -> Option<Vec<String>> {
    let at = words.iter().position(|w| w.starts_with("DIRSTACK="))?;
    let mut entries = words[at..].to_vec();
    let first = entries.first_mut()?;
    *first = first.strip_prefix("DIRSTACK=(")?.to_string();
    let last = entries.last_mut()?;
    *last = last.strip_suffix(')')?.to_string();
    entries
        .into_iter()
        .filter(|e| !e.is_empty())
        .map(|e| {
            let rest = e.strip_prefix('[')?;
            let (index, dir) = rest.split_once("]=")?;
            index
                .bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| dir.to_string())
        })
        .collect()
}

/// `script` with its directory stack line replaced by `line`.
fn with_dirs(script: &str, line: Option<String>) -> String {
    let mut out: String = script
        .split_inclusive('\n')
        .filter(|l| !l.starts_with(DIRS_MARK))
        .collect();
    if let Some(line) = line {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// Where the line holding `end` ends (after its newline).
fn line_after(script: &str, end: usize) -> usize {
    script[end..]
        .find('\n')
        .map_or(script.len(), |i| end + i + 1)
}

/// Reads a whole save: the cwd, the exported variables, and the script
/// restoring the rest: variables, functions, aliases, options, a changed
/// `umask` and the directory stack. Variables bash maintains are dropped
/// (re-declaring them fails); exported ones travel as the environment delta
/// instead, and read-only ones in both.
fn bash_whole(saved: &str, in_env: &dyn Fn(&str) -> bool) -> Option<Saved> {
    let mut cwd = None;
    let mut bashopts = String::new();
    let mut shellopts = String::new();
    let (mut bashopts0, mut shellopts0) = (String::new(), String::new());
    let mut exported = Vec::new();
    let mut script = String::with_capacity(saved.len());
    let mut functions = "";
    let mut aliases = String::new();
    let mut dirs = None;
    let mut umask = None;
    let commands = super::words::commands(saved);
    let at_start = own_at_start(&commands);
    for (range, words) in commands {
        if words == [FUNCTIONS_MARK] {
            functions = &saved[range.end..];
            break;
        }
        if words[0] == "alias" {
            aliases.push_str(&saved[range]);
            aliases.push('\n');
            continue;
        }
        if let [command, mask] = &words[..] {
            if command == "umask" {
                umask = Some(mask.clone()).filter(|m| *m != format!("{:04o}", own_umask()));
                continue;
            }
        }
        let Some(decl) = Declaration::read(&words) else {
            continue;
        };
        match decl.name {
            "PWD" => cwd = decl.value.clone(),
            "DIRSTACK" => dirs = dirs_line(&words),
            "BASHOPTS" => bashopts = decl.value.clone().unwrap_or_default(),
            "__runsheet_o" => shellopts = decl.value.clone().unwrap_or_default(),
            "__runsheet_b0" => bashopts0 = decl.value.clone().unwrap_or_default(),
            "__runsheet_s0" => shellopts0 = decl.value.clone().unwrap_or_default(),
            _ => {}
        }
        if bash_special(decl.name)
            || bash_default(&saved[range.clone()])
            || (decl.flags == "--"
                && !in_env(decl.name)
                && bash_own(&at_start, decl.name, decl.value.as_deref()))
        {
            continue;
        }
        if decl.flags.contains('x') {
            if let (Some(v), false) = (decl.value, decl.flags.contains(['a', 'A'])) {
                exported.push((decl.name.to_string(), v));
            }
            // Read-only as well: the script makes it so again.
            if !decl.flags.contains('r') {
                continue;
            }
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
    if let Some(mask) = umask.filter(|m| m.bytes().all(|b| (b'0'..=b'7').contains(&b))) {
        script.push_str(&format!("builtin umask {mask}\n"));
    }
    Some((cwd?, exported, Some(with_dirs(&script, dirs))))
}

/// The variables bash sets itself, unexported, when the environment has
/// none (`$PATH`, `$SHELL`, `$TERM`), with their values as the step started,
/// before the restoring script. One that was not in the step's environment
/// and is still unexported with that value is bash's own: carrying it would
/// make the state depend on whether the environment had one, and the next
/// bash sets it again anyway.
fn own_at_start(commands: &[(Range<usize>, Vec<String>)]) -> Vec<(String, String)> {
    commands
        .iter()
        .filter_map(|(_, words)| {
            let decl = Declaration::read(words)?;
            let name = decl.name.strip_prefix("__runsheet_0")?;
            Some((name.to_string(), decl.value?))
        })
        .collect()
}

fn bash_own(at_start: &[(String, String)], name: &str, value: Option<&str>) -> bool {
    at_start
        .iter()
        .any(|(n, v)| n == name && Some(v.as_str()) == value)
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

impl ShellState {
    /// Every variable value this state carries: the exported ones it set,
    /// and under bash the shell variables (exported or not) its script
    /// restores. For finding the secrets a step set.
    pub fn variables(&self) -> Vec<(String, String)> {
        let mut vars: Vec<(String, String)> = self
            .env
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.clone()?)))
            .collect();
        let script = self.shell_script.as_deref().unwrap_or("");
        for (_, words) in super::words::commands(script) {
            if let Some(Declaration {
                flags,
                name,
                value: Some(value),
            }) = Declaration::read(&words)
            {
                if !flags.contains(['a', 'A']) {
                    vars.push((name.to_string(), value));
                }
            }
        }
        for host in self.remote.values() {
            vars.extend(host.variables());
        }
        vars
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::exec::shell::MAX_INLINE;
    use crate::exec::StreamKind;
    use crate::exec::{run_step, Capture, Interrupt, Outcome, OutputSink, ShellState, StepRun};
    use crate::secrets::Redactor;

    struct Quiet;
    impl OutputSink for Quiet {
        fn output(&mut self, _: StreamKind, _: &[u8]) {}
    }

    fn run(script: &str, state: &ShellState) -> Outcome {
        let base: BTreeMap<String, String> =
            std::env::vars().filter(|(k, _)| k != "BASH_ENV").collect();
        let redactor = Redactor::default();
        let req = StepRun {
            program: "bash",
            script,
            state,
            base_env: &base,
            cwd_override: None,
            timeout: None,
            interactive: false,
            capture: Capture::None,
            redactor: &redactor,
            owner: None,
        };
        run_step(&req, &mut Quiet, &Interrupt::new()).expect("bash starts")
    }

    fn here() -> ShellState {
        ShellState {
            cwd: std::env::temp_dir(),
            ..ShellState::default()
        }
    }

    /// The failing line of `script` run afresh, and run with a carried state
    /// (so through the prelude rather than the inline trap).
    fn lines(script: &str) -> (Option<usize>, Option<usize>) {
        let fresh = run(script, &here());
        let carried = ShellState {
            shell_script: Some("declare -- carried=\"1\"\n".into()),
            ..here()
        };
        let through_prelude = run(script, &carried);
        assert_eq!(fresh.exit_code, through_prelude.exit_code, "{script}");
        (fresh.failed_line, through_prelude.failed_line)
    }

    #[test]
    fn the_failing_command_is_named_by_its_line() {
        let cases: &[(&str, Option<usize>)] = &[
            ("echo one\nfalse\necho never\n", Some(2)),
            ("echo a\necho b | grep c | cat\n", Some(2)),
            ("echo a\nfalse || false\n", Some(2)),
            ("echo a\nx=$(false)\n", Some(2)),
            ("echo a\nif true; then\n  false\nfi\n", Some(3)),
            (
                "for i in 1 2; do\n  echo $i\n  test $i = 1\ndone\n",
                Some(3),
            ),
            ("f() {\n  echo x\n  false\n}\necho a\nf\n", Some(3)),
            ("echo one\n( echo sub\n  false\n  echo no\n)\n", Some(3)),
            // Failures the script tolerates never count.
            ("set +e\nfalse\necho b\nexit 3\n", None),
            ("echo a\nfalse || true\nexit 4\n", None),
            ("echo fine\n", None),
        ];
        for (script, want) in cases {
            assert_eq!(lines(script), (*want, *want), "{script}");
        }
    }

    #[test]
    fn a_function_from_an_earlier_step_fails_at_the_line_that_called_it() {
        let first = run("helper() {\n  echo in helper\n  false\n}\n", &here());
        assert_eq!(first.exit_code, Some(0));
        let out = run("echo a\necho b\nhelper\necho never\n", &first.state);
        assert_eq!(out.exit_code, Some(1));
        assert_eq!(out.failed_line, Some(3));
    }

    #[test]
    fn a_script_too_long_for_an_argument_still_names_its_line() {
        let filler = "true\n".repeat(MAX_INLINE / 5 + 10);
        let lines = filler.lines().count();
        let script = format!("{filler}f() {{\n  false\n}}\nf\n");
        let out = run(&script, &here());
        assert_eq!(out.exit_code, Some(1));
        assert_eq!(out.failed_line, Some(lines + 2));
    }

    #[test]
    fn the_trap_leaves_the_status_output_and_state_alone() {
        let out = run("set -x\nexport KEEP=1\n(exit 7)\n", &here());
        assert_eq!(out.exit_code, Some(7));
        assert_eq!(out.failed_line, Some(3));
        let passed = run("v=1\nfalse || true\n", &here());
        assert_eq!(passed.exit_code, Some(0));
        let script = passed.state.shell_script.unwrap_or_default();
        assert!(!script.contains("__runsheet"), "{script}");
        assert!(!script.contains("errtrace"), "{script}");
    }

    #[test]
    fn a_declaration_replaces_only_its_own_leading_one_or_goes_in_order() {
        use super::declared_again;
        let script = "declare -- a=\"1\"\ndeclare -- OLDPWD=\"/old\"\nf () \n{ \n    declare -- OLDPWD=\"/in-f\"\n}\n";
        let new = "declare -- OLDPWD=\"/new\"";
        assert_eq!(
            declared_again(script, "OLDPWD", Some(new)),
            script.replace("\"/old\"", "\"/new\"")
        );
        assert_eq!(
            declared_again(script, "OLDPWD", None),
            script.replace("declare -- OLDPWD=\"/old\"\n", "")
        );
        let without = "declare -- a=\"1\"\nf () \n{ \n    declare -- OLDPWD=\"/in-f\"\n}\n";
        assert_eq!(
            declared_again(without, "OLDPWD", Some(new)),
            format!("{new}\n{without}")
        );
        assert_eq!(declared_again(without, "OLDPWD", None), without);
        // A new one goes where `declare -p` prints it: by the bytes of the
        // names, after the last when it sorts last, and first in a script
        // with no declarations.
        let z = "declare -- z=\"9\"";
        assert_eq!(
            declared_again(without, "z", Some(z)),
            without.replacen('\n', &format!("\n{z}\n"), 1)
        );
        assert_eq!(
            declared_again("f () \n{ \n    :\n}\n", "z", Some(z)),
            format!("{z}\nf () \n{{ \n    :\n}}\n")
        );
        assert_eq!(
            declared_again("declare -- a=\"1\"", "z", Some(z)),
            format!("declare -- a=\"1\"\n{z}\n")
        );
    }
}
