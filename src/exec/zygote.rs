//! The warm shell: one idle bash that forks each bash step, instead of
//! runsheet starting a new bash for it.
//!
//! Starting bash (exec, the dynamic loader, bash's own start-up) costs about
//! a millisecond; forking a bash that has already started costs a third of
//! that. So a run keeps a bash waiting (the "zygote", after the process that
//! forks Android's apps) and each step becomes a fork of it that then loads
//! the step's state exactly as a new bash would (`bash::bash_prelude`) and
//! runs the script as `bash -c` would. Nothing carries from one step to the
//! next through the zygote: it never runs a step's code itself.
//!
//! Each step keeps what a step started by exec has:
//! - its own process group: the zygote forks through a subshell with job
//!   control on, which puts the step in a new group and exits at once, so the
//!   step is re-parented to runsheet (a subreaper, see `reap`), which waits
//!   for it by pid and sees its real exit status or signal;
//! - its output on pipes of its own (FIFOs in the step's private folder), so
//!   the step's end is seen as end of file as before;
//! - no gap unwatched: the step reports its pid, then waits for runsheet's
//!   `go PID` before it runs anything; runsheet says go only after it
//!   registered the pid with the reaper, the tracker and the watchdog. If
//!   runsheet dies first, the go pipe reaches end of file and the step exits
//!   without running;
//! - an end with runsheet: when runsheet dies the zygote's input reaches end
//!   of file, and it stops the group of the step it forked last, as a parent-
//!   death signal would have stopped a step's shell started by runsheet.
//!
//! Used for local bash steps that are neither interactive nor background,
//! once `contain` has made runsheet a subreaper, and when the step's
//! environment differs from the zygote's only in names bash takes as plain
//! variables. `RUNSHEET_WARM_SHELL=0` turns it off. Anything else, or a
//! zygote that fails to answer, goes through the ordinary start.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use super::reap::{self, Registered};
use super::shell::quote;

/// Turns the warm shell off when set to `0`.
pub(crate) const SWITCH: &str = "RUNSHEET_WARM_SHELL";

/// How long a zygote may take to fork a step and report its pid before it
/// counts as broken (it is then stopped and the step started the usual way).
const ANSWER: Duration = Duration::from_secs(10);

/// The zygote's loop. It first defines runsheet's functions, given as `$1`
/// (`bash::functions`): once for all its steps, whose preludes then leave
/// them out. fd 0: folders of steps to start, one per line; fd 3:
/// the started steps' pids, and `-` once the subshell that forked a step has
/// exited (from then on the step is runsheet's child: before, that subshell
/// would reap it); fd 4: `go PID` lines.
///
/// The inner subshell is the step: it opens its output FIFOs, reports its
/// pid, drops the zygote's descriptors and job control, sources `job.bash`
/// (directory, environment, prelude: runsheet's own lines, none of the
/// step's code), reads the script, waits for its go and `eval`s the script.
/// Loading before the go lets that work overlap with runsheet registering
/// the step (a tenth of a `true` step's time). A step must not end before its
/// go, though: until then the subshell that forked it may reap it and its
/// status would be lost. So an exit while loading (a `cd` that fails, a
/// prelude error) first waits for the go, through an EXIT trap that
/// `job.bash` drops at its end, or that the prelude's own EXIT trap replaces
/// (see `__runsheet_exit`, which waits too). All of it stands on line 1 of
/// bash's `-c` text, so the script's line numbers are its own and bash's
/// messages read `/usr/bin/bash: line N: ...`, as under `bash -c SCRIPT`.
///
/// The step's pid also goes to its folder, for the zygote to stop the step's
/// group when its input ends while a step runs (runsheet died) or it gets
/// SIGTERM: the step's shell has no parent-death signal of its own, and the
/// watchdog may be gone. (`read` empties its variable at end of input, so
/// the folder is kept apart in `__runsheet_j`.)
const LOOP: &str = concat!(
    "builtin eval \"$1\"; builtin set --; ",
    "trap __runsheet_stop TERM; ",
    "__runsheet_stop() { local p; [[ ! -r $__runsheet_j/pid ]] || ",
    "{ IFS= read -r p <\"$__runsheet_j/pid\"; builtin kill -TERM -- \"-$p\"; }; builtin exit 143; }; ",
    "while IFS= read -r __runsheet_d; do __runsheet_j=$__runsheet_d; ",
    "( set -m; ( ",
    "if [[ -p $__runsheet_d/err ]]; then exec >\"$__runsheet_d/out\" 2>\"$__runsheet_d/err\"; ",
    "else exec >\"$__runsheet_d/out\" 2>&1; fi; ",
    "builtin printf '%s\\n' \"$BASHPID\" >&3; exec 3>&- </dev/null; builtin set +m; ",
    "__runsheet_await() { [[ -n $__runsheet_pending ]] || return 0; __runsheet_pending=; ",
    "while IFS= read -r __runsheet_go <&4; do [[ $__runsheet_go != \"go $BASHPID\" ]] || break; done; ",
    "[[ $__runsheet_go == \"go $BASHPID\" ]] || builtin exit 125; exec 4<&-; }; ",
    "__runsheet_pending=1; builtin trap __runsheet_await EXIT; ",
    "builtin . \"$__runsheet_d/job.bash\"; ",
    "IFS= builtin read -r -d '' __runsheet_s <\"$__runsheet_d/step.sh\" || :; ",
    "__runsheet_await; builtin unset -f __runsheet_await; builtin unset __runsheet_pending __runsheet_go; ",
    "builtin eval \"builtin unset __runsheet_s; $__runsheet_s\" ",
    ") & builtin printf '%s\\n' \"$!\" >\"$__runsheet_d/pid\"; ); ",
    "builtin printf '%s\\n' - >&3; done; __runsheet_stop",
);

/// One idle bash, waiting for steps.
struct Zygote {
    child: Child,
    commands: ChildStdin,
    go: File,
    pids: BufReader<File>,
    exe: PathBuf,
    env: BTreeMap<String, String>,
    _registered: Registered,
}

/// Zygotes not serving a step now, for the next step (one per concurrent
/// step under `check --jobs`).
static IDLE: Mutex<Vec<Zygote>> = Mutex::new(Vec::new());

/// A step forked by a zygote, between its start and its end. The zygote is
/// lent to it, and goes back to the idle ones when it is dropped.
pub(crate) struct Job {
    pub(crate) pid: i32,
    zygote: Option<Zygote>,
    status: Option<ExitStatus>,
}

/// True when `env`'s differences from the zygote's can be made with
/// `export`/`unset` exactly as a new bash would import them.
fn plain_name(name: &str) -> bool {
    const SPECIAL: &[&str] = &[
        "IFS",
        "SHELLOPTS",
        "ENV",
        "PS4",
        "POSIXLY_CORRECT",
        "GLOBIGNORE",
        "SHLVL",
        "PPID",
        "UID",
        "EUID",
        "HOSTNAME",
        "_",
    ];
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
        && !name.starts_with("BASH")
        && !SPECIAL.contains(&name)
}

/// Whether a bash step may be forked from a zygote at all. Not when the
/// script or the functions it inherits read `$$` or `BASH_SUBSHELL`: in a
/// fork of the zygote `$$` is the zygote's pid, the same for every step, and
/// `BASH_SUBSHELL` is not 0. Nor when bash traces or echoes commands (`set
/// -x`, `set -v`, carried or set by the script): the script is `eval`ed, one
/// level deeper, so bash would trace it as `++ cmd`, not `+ cmd`.
pub(crate) fn usable(req: &super::StepRun<'_>) -> bool {
    let restore = req.state.shell_script.as_deref().unwrap_or("");
    let forked_shows =
        |text: &str| text.contains("$$") || text.contains("${$}") || text.contains("BASH_SUBSHELL");
    // The carried options list `xtrace` or `verbose` when they are on.
    let carried_trace = restore.contains("xtrace") || restore.contains("verbose");
    !req.interactive
        && !forked_shows(req.script)
        && !forked_shows(restore)
        && !traces(req.script)
        && !carried_trace
        && reap::contained()
        && !req.base_env.contains_key("BASH_ENV")
        && std::env::var_os(SWITCH).is_none_or(|v| v != "0")
}

/// Set by [`directory_lines`], not carried over from the zygote.
const DIRECTORY_VARS: [&str; 2] = ["PWD", "OLDPWD"];

/// Enters `cwd` and sets `PWD` and `OLDPWD` as a new bash started there with
/// `env` would: `PWD` from the environment when it names this directory
/// (symbolic links kept), else the physical path; `OLDPWD` from the
/// environment when it is a directory, else exported without a value.
fn directory_lines(cwd: &str, env: &BTreeMap<String, String>) -> String {
    let mut lines = format!(
        "builtin cd -P -- {} || builtin exit 1
",
        quote(cwd)
    );
    if let Some(pwd) = env.get("PWD").filter(|p| p.starts_with('/')) {
        let pwd = quote(pwd);
        lines.push_str(&format!(
            "[[ ! {pwd} -ef . ]] || PWD={pwd}
"
        ));
    }
    let unset = "builtin unset OLDPWD; builtin declare -x OLDPWD";
    match env.get("OLDPWD") {
        Some(old) => {
            let old = quote(old);
            lines.push_str(&format!(
                "if [[ -d {old} ]]; then builtin export OLDPWD={old}; else {unset}; fi
"
            ));
        }
        None => lines.push_str(&format!(
            "{unset}
"
        )),
    }
    lines
}

/// The script turns tracing or echoing on or off: `set -x`, `set -o
/// xtrace`, `shopt -so verbose`, ... (not `curl --verbose`).
fn traces(text: &str) -> bool {
    let named = |option: &str| {
        text.match_indices(option).any(|(at, _)| {
            let before = text[..at].trim_end_matches([' ', '\t']);
            let word = before.rsplit(char::is_whitespace).next().unwrap_or("");
            before.len() < at && word.starts_with(['-', '+']) && word.ends_with('o')
        })
    };
    sets_trace_flag(text) || named("xtrace") || named("verbose")
}

/// A `set` with `x` or `v` in a cluster of flags (`set -x`, `set -euxo
/// pipefail`, `set +v`): the shell starts or stops tracing.
fn sets_trace_flag(text: &str) -> bool {
    text.match_indices("set").any(|(at, _)| {
        let before = text[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            return false;
        }
        let rest = &text[at + 3..];
        let Some(flags) = rest.strip_prefix([' ', '\t']) else {
            return false;
        };
        let flags = flags.trim_start_matches([' ', '\t']);
        flags
            .strip_prefix(['-', '+'])
            .map(|f| {
                f.split(|c: char| !c.is_ascii_alphabetic())
                    .next()
                    .unwrap_or("")
            })
            .is_some_and(|cluster| cluster.contains(['x', 'v']))
    })
}

/// The lines that turn the zygote's environment into `env`, or `None` when
/// a name differs that bash treats specially at start-up.
fn env_lines(zygote: &BTreeMap<String, String>, env: &BTreeMap<String, String>) -> Option<String> {
    let mut lines = String::new();
    let carried = |k: &&String| !DIRECTORY_VARS.contains(&k.as_str());
    for name in zygote
        .keys()
        .filter(carried)
        .filter(|k| !env.contains_key(*k))
    {
        // A new bash gives these a value of its own when the environment
        // has none; unsetting them would leave none.
        const DEFAULTED: &[&str] = &[
            "PATH",
            "SHELL",
            "PS1",
            "PS2",
            "OPTERR",
            "OPTIND",
            "HISTFILE",
            "HISTSIZE",
            "HISTFILESIZE",
            "MAILCHECK",
        ];
        if !plain_name(name) || DEFAULTED.contains(&name.as_str()) {
            return None;
        }
        lines.push_str(&format!("builtin unset {name}\n"));
    }
    let changed = env
        .iter()
        .filter(|(k, _)| carried(k))
        .filter(|(k, v)| zygote.get(*k) != Some(v));
    for (name, value) in changed {
        if !plain_name(name) {
            return None;
        }
        lines.push_str(&format!("builtin export {name}={}\n", quote(value)));
    }
    Some(lines)
}

/// Starts the step whose files are in `dir` (`prelude.bash`, `step.sh`),
/// with output on the FIFOs `out` (and `err` when `split`), in `cwd` and
/// with environment `env`. Returns the job, the read ends of its output and
/// its registration with the reaper (to hold until it has been waited for),
/// or `None` when no zygote could serve it. The caller registers the job's
/// group and then calls [`Job::go`].
pub(crate) fn launch(
    exe: &Path,
    env: &BTreeMap<String, String>,
    cwd: &Path,
    dir: &Path,
    split: bool,
    saves: bool,
) -> io::Result<Option<(Job, Vec<OwnedFd>, Registered)>> {
    if !exe.is_absolute() {
        // Not found on the step's PATH: the ordinary start says so.
        return Ok(None);
    }
    let mut zygote = match take(exe, env) {
        Some(z) => z,
        None => return Ok(None),
    };
    let Some(lines) = env_lines(&zygote.env, env) else {
        give_back(zygote);
        return Ok(None);
    };
    let dir_text = super::shell::path_string(dir)?;
    if dir_text.contains('\n') {
        give_back(zygote);
        return Ok(None);
    }
    let cwd_text = super::shell::path_string(cwd)?;
    // A prelude that saves the state has replaced the EXIT trap that waits
    // for the go (see LOOP); otherwise it is dropped here, loading done.
    let job = format!(
        "{}{lines}builtin set -eo pipefail\nbuiltin . {}\n{}",
        directory_lines(&cwd_text, env),
        quote(&format!("{dir_text}/prelude.bash")),
        if saves { "" } else { "builtin trap - EXIT\n" },
    );
    std::fs::write(dir.join("job.bash"), job)?;
    let mut outputs = vec![fifo(&dir.join("out"))?];
    if split {
        outputs.push(fifo(&dir.join("err"))?);
    }
    let registry = reap::lock();
    let pid = match zygote.start(&dir_text) {
        Ok(pid) => pid,
        Err(_) => {
            drop(registry);
            zygote.stop();
            return Ok(None);
        }
    };
    let registered = reap::register(registry, pid);
    let job = Job {
        pid,
        zygote: Some(zygote),
        status: None,
    };
    Ok(Some((job, outputs, registered)))
}

/// A FIFO at `path`, opened for reading without waiting for a writer, then
/// made blocking (the supervising loop reads only what poll said is there).
fn fifo(path: &Path) -> io::Result<OwnedFd> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: mkfifo and open take a NUL-terminated path; fcntl a descriptor
    // we own from here on.
    unsafe {
        if libc::mkfifo(c.as_ptr(), 0o600) != 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = libc::open(
            c.as_ptr(),
            libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC,
        );
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = OwnedFd::from_raw_fd(fd);
        let flags = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags & !libc::O_NONBLOCK);
        super::output::widen(fd.as_fd());
        Ok(fd)
    }
}

/// An idle zygote for `exe`, or a new one started with `env`.
fn take(exe: &Path, env: &BTreeMap<String, String>) -> Option<Zygote> {
    let found = {
        let mut idle = IDLE.lock().unwrap_or_else(|e| e.into_inner());
        let at = idle.iter().position(|z| z.exe == exe);
        at.map(|i| idle.swap_remove(i))
    };
    match found {
        Some(mut z) => {
            if z.alive() {
                return Some(z);
            }
            z.stop();
            take(exe, env)
        }
        None => {
            // What marks a step's processes must not mark the zygote.
            let mut env = env.clone();
            env.remove(super::procs::TRACKING_VAR);
            Zygote::spawn(exe, &env).ok()
        }
    }
}

fn give_back(zygote: Zygote) {
    IDLE.lock().unwrap_or_else(|e| e.into_inner()).push(zygote);
}

impl Zygote {
    fn spawn(exe: &Path, env: &BTreeMap<String, String>) -> io::Result<Zygote> {
        let (pids_r, pids_w) = io::pipe()?;
        let (go_r, go_w) = io::pipe()?;
        // Above the descriptors the child sets up, so the dup2 calls below
        // never overwrite one another.
        let pids_w = high(pids_w.as_raw_fd())?;
        let go_r = high(go_r.as_raw_fd())?;
        let mut cmd = std::process::Command::new(exe);
        // runsheet's functions come in as `$1`, defined by an `eval` on
        // line 1 with the loop (see LOOP).
        cmd.args(["--noprofile", "--norc", "-c", LOOP])
            .arg(exe)
            .arg(super::bash::functions())
            .env_clear()
            .envs(env)
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        let (w, r) = (pids_w.as_raw_fd(), go_r.as_raw_fd());
        // No parent-death signal: it comes when the *thread* that started
        // the zygote ends (a `check --jobs` worker), not runsheet. The end of
        // its input tells the zygote that runsheet is gone.
        // SAFETY: the closure makes only async-signal-safe calls.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(w, 3) < 0 || libc::dup2(r, 4) < 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let (mut child, registered) = reap::spawn(|| cmd.spawn(), |c| c.id() as i32)?;
        drop((pids_w, go_r));
        let commands = child
            .stdin
            .take()
            .ok_or_else(|| io::Error::other("no stdin"))?;
        Ok(Zygote {
            child,
            commands,
            go: File::from(OwnedFd::from(go_w)),
            pids: BufReader::new(File::from(OwnedFd::from(pids_r))),
            exe: exe.to_path_buf(),
            env: env.clone(),
            _registered: registered,
        })
    }

    /// Asks for a step to be forked for `dir`; its pid, once it is
    /// runsheet's child and has its output open.
    fn start(&mut self, dir: &str) -> io::Result<i32> {
        self.commands.write_all(format!("{dir}\n").as_bytes())?;
        self.commands.flush()?;
        let (mut pid, mut forked) = (None, false);
        while pid.is_none() || !forked {
            let line = self.answer()?;
            match line.trim() {
                "-" => forked = true,
                n => pid = n.parse().ok().filter(|&p: &i32| p > 0),
            }
        }
        pid.ok_or_else(|| io::Error::other("no pid"))
    }

    fn answer(&mut self) -> io::Result<String> {
        if self.pids.buffer().is_empty() && !readable(self.pids.get_ref().as_raw_fd(), ANSWER) {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "no answer"));
        }
        let mut line = String::new();
        if self.pids.read_line(&mut line)? == 0 {
            return Err(io::Error::other("the warm shell exited"));
        }
        Ok(line)
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Ends a zygote that stopped answering or died: SIGKILL, as it may be
    /// stuck, and reaped. A step it forked sees its go pipe end and exits.
    fn stop(mut self) {
        // SAFETY: kill takes a pid and a signal.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

fn high(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC returns a new descriptor we own, or -1.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 10) };
    if new < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: just opened, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

fn readable(fd: RawFd, within: Duration) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = libc::c_int::try_from(within.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut pfd, 1, ms) > 0 }
}

impl Job {
    /// Lets the step run (its group is registered everywhere by now).
    pub(crate) fn go(&mut self) -> io::Result<()> {
        let zygote = self
            .zygote
            .as_mut()
            .ok_or_else(|| io::Error::other("no zygote"))?;
        zygote.go.write_all(format!("go {}\n", self.pid).as_bytes())
    }

    /// The step's status once it has exited. Until the subshell that forked
    /// it is gone, the step is not runsheet's child yet: not exited either.
    pub(crate) fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if self.status.is_some() {
            return Ok(self.status);
        }
        let mut raw = 0;
        // SAFETY: waitpid on one pid, never blocking.
        let got = unsafe { libc::waitpid(self.pid, &mut raw, libc::WNOHANG) };
        if got == self.pid {
            self.status = Some(ExitStatus::from_raw(raw));
            return Ok(self.status);
        }
        if got < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::ECHILD) {
                return Err(e);
            }
            // Only its own child can be waited for, and only a process that
            // dies before its go can be anybody else's: count it as killed.
            // SAFETY: kill with signal 0 only checks that the pid exists.
            if unsafe { libc::kill(self.pid, 0) } != 0 {
                self.status = Some(ExitStatus::from_raw(libc::SIGKILL));
                return Ok(self.status);
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        Ok(None)
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        if let Some(mut zygote) = self.zygote.take() {
            if zygote.alive() {
                give_back(zygote);
            } else {
                zygote.stop();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn plain_differences_become_exports_and_unsets() {
        let zygote = map(&[("HOME", "/root"), ("GONE", "x"), ("SAME", "1")]);
        let step = map(&[("HOME", "/home/o'k"), ("SAME", "1"), ("NEW_1", "a b")]);
        let lines = env_lines(&zygote, &step).unwrap();
        assert_eq!(
            lines,
            "builtin unset GONE\nbuiltin export HOME='/home/o'\\''k'\nbuiltin export NEW_1='a b'\n"
        );
    }

    #[test]
    fn tracing_is_seen_in_any_spelling_of_set() {
        for text in [
            "set -x",
            "a\n  set -euxo pipefail",
            "set +v",
            "(set -x; b)",
            "set\t-vx",
        ] {
            assert!(sets_trace_flag(text), "{text:?}");
        }
        for text in [
            "set -e",
            "set -- -x",
            "reset -x",
            "offset -v",
            "echo set",
            "set -o pipefail",
        ] {
            assert!(!sets_trace_flag(text), "{text:?}");
        }
        for text in [
            "set -o xtrace",
            "set +o verbose",
            "shopt -so xtrace",
            "a; set -x",
        ] {
            assert!(traces(text), "{text:?}");
        }
        for text in ["curl --verbose https://x", "make V=verbose", "echo xtrace"] {
            assert!(!traces(text), "{text:?}");
        }
    }

    /// Until its go, a step may be reaped by the subshell that forked it
    /// and its status lost: one that fails while loading must wait for the
    /// go before it ends, and still say why. Both ways of failing: before
    /// the prelude (its folder is gone) and inside a prelude that saves the
    /// state (whose own EXIT trap replaced the one waiting for the go).
    #[test]
    fn a_step_that_fails_while_loading_waits_for_its_go() {
        use std::io::Read;
        let bash = ["/usr/bin/bash", "/bin/bash"]
            .into_iter()
            .map(Path::new)
            .find(|p| p.exists())
            .expect("bash, as every step test needs");
        let env: BTreeMap<String, String> = std::env::vars().collect();
        for saves in [false, true] {
            let dir = crate::exec::shell::scratch().unwrap();
            let d = dir.path();
            let (cwd, prelude, why) = if saves {
                let state = crate::exec::ShellState::default();
                let prelude = crate::exec::bash::bash_prelude(
                    d,
                    &state,
                    &env,
                    crate::exec::inert::Effect::Anything,
                    "environment",
                );
                (d.to_path_buf(), prelude + "false\necho loaded\n", "")
            } else {
                (d.join("gone"), String::new(), "gone")
            };
            std::fs::write(d.join("prelude.bash"), prelude).unwrap();
            std::fs::write(d.join("step.sh"), "echo the script ran").unwrap();
            let (mut job, mut fds, _registered) = launch(bash, &env, &cwd, d, false, saves)
                .unwrap()
                .expect("a warm shell");
            std::thread::sleep(Duration::from_millis(300));
            let stat = std::fs::read_to_string(format!("/proc/{}/stat", job.pid)).unwrap();
            let state = stat.rsplit(") ").next().and_then(|r| r.chars().next());
            assert!(
                matches!(state, Some('S' | 'R')),
                "saves={saves}: the step ended before its go: {stat:?}"
            );
            job.go().unwrap();
            let mut out = String::new();
            std::fs::File::from(fds.remove(0))
                .read_to_string(&mut out)
                .unwrap();
            assert!(out.contains(why), "{out}");
            assert!(
                !out.contains("loaded") && !out.contains("the script ran"),
                "{out}"
            );
        }
    }

    #[test]
    fn names_bash_reads_at_start_up_are_left_to_a_new_bash() {
        let zygote = map(&[("A", "1")]);
        for name in ["IFS", "SHELLOPTS", "BASH_FUNC_f%%", "a-b", "1x", "BASHOPTS"] {
            let step = map(&[("A", "1"), (name, "v")]);
            assert_eq!(env_lines(&zygote, &step), None, "{name}");
        }
        assert_eq!(env_lines(&map(&[("SHLVL", "1")]), &map(&[])), None);
        for name in ["PATH", "SHELL"] {
            assert_eq!(env_lines(&map(&[(name, "/bin")]), &map(&[])), None);
        }
    }
}
