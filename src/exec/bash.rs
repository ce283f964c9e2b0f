//! bash: the prelude sourced through `BASH_ENV` (loads the carried state,
//! installs the saving functions and EXIT trap), and reading back what the
//! step saved.
//!
//! Saving uses bash builtins only, no extra process, writing one file:
//! `declare -p`, `alias -p`, a marker, `declare -f`. It runs when the script
//! reaches its end ([`SAVE_AT_END`]) or, failing that, from the EXIT trap, and
//! always leaves with the script's own status. Scripts that cannot change the
//! state (see `inert`) skip it.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::Path;

use super::shell::{
    os, path_string, quote, quoted_path, scratch, script_args, Command, Saved, MAX_INLINE,
    SAVE_AT_END,
};
use super::{ShellState, StepRun};

pub(crate) fn bash_command(
    req: &StepRun<'_>,
    env: &mut BTreeMap<String, String>,
) -> io::Result<Command> {
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
/// The EXIT trap saves with builtins only, no subshell, into one file:
/// `declare -p` (filtered by `bash_saved`), aliases, a marker and the
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

/// Restores options from their saved lists (see `bash_saved`), xtrace and
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

/// Reads what the bash EXIT trap wrote: the cwd, the exported variables, and
/// the script restoring the rest. Read-only and bash-maintained variables are
/// dropped (re-declaring them fails), exported ones travel as the environment
/// delta instead.
pub(crate) fn bash_saved(dir: &Path) -> Option<Saved> {
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
        vars
    }
}
