//! Remote steps: one step's script run on another host through the system
//! `ssh`, behind the same seam as a local step (run this script with this
//! state, stream its output masked, kill its group).
//!
//! - Every call shares one connection per host: `ControlMaster=auto` with a
//!   socket under the state dir (`ControlPersist`), `BatchMode=yes` so a
//!   password or host-key prompt fails instead of waiting.
//! - The command line is fixed and holds nothing of the step's: a bootstrap
//!   reads a length and that many bytes of stdin into a private folder and
//!   `exec`s it with `sh`. What it reads (the payload) sets the environment,
//!   restores the host's carried state, runs the script from a file, and
//!   sends the saved state back. Secrets travel only over stdin.
//! - sshd starts a command without a terminal in a session of its own
//!   (`setsid`), and the payload `exec`s in place, so its pid is the process
//!   group of everything the step starts: timeouts and interrupts send
//!   `kill -TERM -PGID` (then KILL) over the same connection. A watcher in
//!   the payload reads stdin, which runsheet holds open while the step runs:
//!   when runsheet dies, stdin closes and the watcher stops the group.
//! - stderr carries a small protocol besides the step's own stderr, framed
//!   by a random mark: the group id first, then the exit status and the
//!   saved state files. Whatever ssh itself says before the first frame is
//!   ssh's own message (connection refused, key rejected), shown on failure.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::shell::{self, quote, Kind, Prepared};
use super::step::Collector;
use super::GRACE;
use super::{Capture, Ending, Interrupt, Outcome, OutputSink, ShellState, StepRun, StreamKind};
use crate::parse::is_variable_name;

/// How often a running remote step is checked for its timeout and interrupt.
const TICK: Duration = Duration::from_millis(20);

/// Longest unix socket path there is room for: `sun_path` is 104 bytes on
/// macOS and the BSDs (108 on Linux), the last one the closing NUL.
const MAX_SOCKET: usize = 103;

/// What ssh adds to the control folder: `/`, then `%C` as 40 hex digits,
/// then, while it sets the socket up, `.` and 16 random characters (it
/// listens on that name and renames it into place).
const SOCKET_NAME: usize = 1 + 40 + 1 + 16;

/// How runsheet reaches hosts: the options of every `ssh` call.
#[derive(Debug, Clone)]
pub struct Ssh {
    config: Option<PathBuf>,
    control_dir: PathBuf,
}

impl Ssh {
    /// `config`: `-F FILE` for every call. The control sockets go under
    /// `state_dir/ssh`, or a short private folder when that path is too long
    /// for a socket.
    pub fn new(config: Option<PathBuf>, state_dir: &Path) -> Self {
        // One folder per run: a run closes its connections when it ends,
        // which must not cut off another run's steps (`check --jobs`, two
        // runbooks at once) on the same host.
        static RUNS: AtomicUsize = AtomicUsize::new(0);
        let own = format!(
            "{}-{}",
            std::process::id(),
            RUNS.fetch_add(1, Ordering::Relaxed)
        );
        let state_dir = std::path::absolute(state_dir).unwrap_or_else(|_| state_dir.to_path_buf());
        let preferred = state_dir.join("ssh").join(&own);
        let control_dir = if socket_fits(&preferred) {
            preferred
        } else {
            short_control_dir(&own)
        };
        Ssh {
            config,
            control_dir,
        }
    }

    /// Removes the run's socket folder (once its connections are closed).
    pub fn remove_sockets(&self) {
        let _ = fs::remove_dir(&self.control_dir);
    }

    /// The options every call shares, through the host name.
    fn args(&self, host: &str) -> Vec<OsString> {
        let mut args: Vec<OsString> = Vec::new();
        if let Some(config) = &self.config {
            args.push("-F".into());
            args.push(config.clone().into_os_string());
        }
        let control = format!("ControlPath={}/%C", self.control_dir.display());
        for option in [
            "BatchMode=yes",
            "ControlMaster=auto",
            &control,
            "ControlPersist=60",
            "ConnectTimeout=10",
            "ServerAliveInterval=15",
        ] {
            args.push("-o".into());
            args.push(option.into());
        }
        args.push("-T".into());
        args.push("--".into());
        args.push(host.into());
        args
    }

    /// `ssh ... host COMMAND`, stdin closed, in its own process group.
    fn command(&self, host: &str, remote_command: &str) -> io::Result<Command> {
        make_private_dir(&self.control_dir)?;
        let mut cmd = Command::new("ssh");
        cmd.args(self.args(host)).arg(remote_command);
        cmd.process_group(0);
        let parent = std::process::id();
        // SAFETY: the closure only makes async-signal-safe calls.
        unsafe {
            cmd.pre_exec(move || super::step::die_with_parent(parent));
        }
        Ok(cmd)
    }

    /// Ends the shared connection to `host`, if there is one: the run is
    /// over, and its master would otherwise outlive it.
    pub fn close(&self, host: &str) {
        let control = |op: &str| {
            let mut args = self.args(host);
            // `-O` goes before the `--` that ends the options.
            let at = args.len() - 2;
            args.insert(at, "-O".into());
            args.insert(at + 1, op.into());
            Command::new("ssh")
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .output()
        };
        // "Master running (pid=N)": the master answers `exit` at once but
        // leaves a moment later; wait for it, so it is not taken for a
        // process the steps left behind.
        let pid = control("check").ok().and_then(|out| {
            let text = String::from_utf8_lossy(&out.stderr).into_owned();
            let (_, rest) = text.split_once("(pid=")?;
            rest.split(')').next()?.parse::<i32>().ok()
        });
        let _ = control("exit");
        let Some(pid) = pid else { return };
        let until = Instant::now() + Duration::from_secs(2);
        // SAFETY: signal 0 only asks whether the process exists.
        while unsafe { libc::kill(pid, 0) } == 0 && Instant::now() < until {
            super::reap::reap_orphans();
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Runs `remote_command` on `host` and returns its exit status and what
    /// it printed (stdout, stderr). For checks and kills, not for steps.
    pub fn output(&self, host: &str, remote_command: &str) -> io::Result<(i32, String, String)> {
        let out = self
            .command(host, remote_command)?
            .stdin(Stdio::null())
            .output()
            .map_err(ssh_missing)?;
        Ok((
            out.status.code().unwrap_or(255),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }
}

fn ssh_missing(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::NotFound {
        io::Error::new(e.kind(), "cannot start `ssh`: not found on PATH")
    } else {
        e
    }
}

fn socket_fits(dir: &Path) -> bool {
    dir.as_os_str().len() + SOCKET_NAME <= MAX_SOCKET
}

/// The run's folder `own` for control sockets under a short path, private
/// to this user.
fn short_control_dir(own: &str) -> PathBuf {
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    let runtime = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from);
    runtime
        .map(|d| d.join("runsheet-ssh").join(own))
        .filter(|d| socket_fits(d))
        .unwrap_or_else(|| PathBuf::from(format!("/tmp/runsheet-ssh-{uid}")).join(own))
}

fn make_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    if !dir.is_dir() {
        let _ = fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir);
    }
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    // The folder and the one holding it are this user's alone: nobody else
    // may put a socket where runsheet's connections go.
    for d in [Some(dir), dir.parent()].into_iter().flatten() {
        let meta = fs::symlink_metadata(d)?;
        if !meta.is_dir() || meta.uid() != uid {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("{} is not a folder of this user", d.display()),
            ));
        }
        if meta.permissions().mode() & 0o077 != 0 {
            fs::set_permissions(d, fs::Permissions::from_mode(0o700))?;
        }
    }
    Ok(())
}

/// Where a step runs when it does not run here.
pub struct Remote<'a> {
    pub host: &'a str,
    pub ssh: &'a Ssh,
    /// What the runbook adds to the host's own environment: front matter
    /// `env`, `--env` and the inputs. The local environment stays local.
    pub env: &'a BTreeMap<String, String>,
}

/// Runs one step on `remote.host` (see the module docs). `req.state` is the
/// host's own state; `req.cwd_override` a path on the host. The outcome's
/// state is the host's state after the step.
///
/// Errors: ssh could not start, or the host could not be reached or the
/// connection was lost (the message names the host and quotes ssh).
pub fn run_remote(
    req: &StepRun<'_>,
    remote: &Remote<'_>,
    sink: &mut dyn OutputSink,
    interrupt: &Interrupt,
) -> io::Result<Outcome> {
    let started = Instant::now();
    let marks = Marks::new()?;
    let kind = shell::kind(req.program);
    let payload = payload(req, remote, kind, &marks);
    let mut child = remote
        .ssh
        .command(remote.host, &bootstrap(&marks.dir))?
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(ssh_missing)?;
    let stdin = child.stdin.take().expect("stdin is piped");
    let feeder = Feeder::start(stdin, payload);
    let mut run = Running {
        req,
        remote,
        dir: &marks.dir,
        collector: Collector::new(req),
        frames: Frames::new(&marks.mark),
        deadline: req.timeout.map(|t| started + t),
        interrupt,
        stopping: None,
    };
    let result = run.watch(&mut child, sink);
    // Closing stdin tells the remote watcher the step is over (or runsheet
    // gave up on it).
    feeder.close();
    let (reason, status) = result?;
    run.collector.finish(sink);
    let Running {
        collector, frames, ..
    } = run;
    let (combined, stdout, stderr, truncated) = collector.into_buffers();
    let mut outcome = Outcome {
        ending: reason.unwrap_or(Ending::Exited),
        exit_code: frames.status,
        duration: started.elapsed(),
        combined,
        stdout,
        stderr,
        truncated,
        state: req.state.clone(),
        failed_line: None,
    };
    if reason.is_some() {
        return Ok(outcome);
    }
    let Some(code) = frames.status else {
        return Err(lost(remote.host, status, &frames.ssh_says));
    };
    outcome.exit_code = Some(code);
    let saved = SavedFiles::write(&frames.files)?;
    if kind == Kind::Bash && code != 0 {
        outcome.failed_line = super::bash::bash_failed_line(saved.dir.path());
    }
    if let Some(state) = saved.into_state(req, remote, kind) {
        outcome.state = state;
    }
    Ok(outcome)
}

/// Why there is no result: ssh's own words, with the host named.
fn lost(host: &str, status: Option<i32>, ssh_says: &[u8]) -> io::Error {
    let said = String::from_utf8_lossy(ssh_says);
    let said: Vec<&str> = said
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Warning: Permanently added"))
        .collect();
    let what = match (said.is_empty(), status) {
        (false, _) => said.join("; "),
        (true, Some(code)) => format!("ssh exited with status {code}"),
        (true, None) => "ssh was killed".to_string(),
    };
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        format!("ssh to `{host}` failed: {what}"),
    )
}

/// Writes the payload after its length and hands stdin back: the caller
/// keeps it open while the step runs (the host's watcher reads it) and
/// closes it after.
/// Writes the payload to ssh while the step's output is read. Without a
/// thread it is written first: the host reads it whole before the step
/// starts, so only a payload larger than the pipes could wait on output.
enum Feeder {
    Thread(std::thread::JoinHandle<Option<ChildStdin>>),
    Done(ChildStdin),
}

impl Feeder {
    fn start(stdin: ChildStdin, payload: String) -> Feeder {
        // Sent once the thread exists: a closure the system refused to run
        // would take stdin down with it.
        let (tx, rx) = std::sync::mpsc::channel();
        let started = std::thread::Builder::new()
            .spawn(move || rx.recv().ok().map(|(stdin, payload)| feed(stdin, payload)));
        match started {
            Ok(thread) => {
                let _ = tx.send((stdin, payload));
                Feeder::Thread(thread)
            }
            Err(_) => Feeder::Done(feed(stdin, payload)),
        }
    }

    /// Closes ssh's stdin once the payload is written.
    fn close(self) {
        match self {
            Feeder::Thread(thread) => drop(thread.join()),
            Feeder::Done(stdin) => drop(stdin),
        }
    }
}

fn feed(mut stdin: ChildStdin, payload: String) -> ChildStdin {
    let header = format!("{}\n", payload.len());
    let _ = stdin
        .write_all(header.as_bytes())
        .and_then(|()| stdin.write_all(payload.as_bytes()))
        .and_then(|()| stdin.flush());
    stdin
}

/// Random names for one step: the remote folder, and the mark framing the
/// protocol on stderr (never inside a variable the step can see, so the
/// state it saves cannot contain it).
struct Marks {
    dir: String,
    mark: String,
}

impl Marks {
    fn new() -> io::Result<Self> {
        Ok(Marks {
            dir: format!("/tmp/runsheet-{}", random_hex()?),
            mark: format!("RUNSHEET-{}", random_hex()?),
        })
    }
}

fn random_hex() -> io::Result<String> {
    let mut bytes = [0u8; 12];
    fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The fixed command line: reads the payload into a private folder and
/// runs it in place (same pid, the session sshd made).
fn bootstrap(dir: &str) -> String {
    let inner = format!(
        "umask 077 && mkdir {dir} && read n && head -c \"$n\" >{dir}/run && exec sh {dir}/run"
    );
    format!("exec sh -c {}", quote(&inner))
}

/// The script the bootstrap runs: environment, state, the step, the trailer.
fn payload(req: &StepRun<'_>, remote: &Remote<'_>, kind: Kind, marks: &Marks) -> String {
    let d = Path::new(&marks.dir);
    let mut env = remote.env.clone();
    for (k, v) in &req.state.env {
        match v {
            Some(v) => env.insert(k.clone(), v.clone()),
            None => env.remove(k),
        };
    }
    let unset: Vec<&String> = req
        .state
        .env
        .iter()
        .filter(|(_, v)| v.is_none())
        .map(|(k, _)| k)
        .collect();
    let mut p = String::with_capacity(4096 + req.script.len());
    let mark = quote(&marks.mark);
    let dq = quote(&marks.dir);
    p.push_str(&format!(
        "d={dq}\nprintf '\\n%s:pgid:%s\\n' {mark} \"$$\" >&2\nexport -p >\"$d/env0\"\n"
    ));
    // The watcher: stdin closes when runsheet is gone or done.
    p.push_str(&format!(
        "exec 3<&0 </dev/null\n\
         ( trap '' TERM INT HUP; cat >/dev/null; kill -TERM -$$ 2>/dev/null; rm -rf \"$d\"; sleep {g}; kill -KILL -$$ 2>/dev/null ) <&3 >/dev/null 2>&1 &\n\
         __rs_w=$!\nexec 3<&-\n",
        g = GRACE.as_secs()
    ));
    for (k, v) in &env {
        if is_variable_name(k) {
            p.push_str(&format!("export {k}={}\n", quote(v)));
        }
    }
    for k in unset.into_iter().filter(|k| is_variable_name(k)) {
        p.push_str(&format!("unset {k}\n"));
    }
    let cwd = req
        .cwd_override
        .clone()
        .or_else(|| Some(req.state.cwd.clone()).filter(|c| !c.as_os_str().is_empty()));
    let cd = match cwd {
        Some(cwd) => {
            let c = quote(&cwd.to_string_lossy());
            // `cd` sets `$OLDPWD` to the login folder: the carried one is
            // put back, so that `cd -` goes where the step before was.
            let back = env
                .get("OLDPWD")
                .map(|old| format!(" && export OLDPWD={}", quote(old)))
                .unwrap_or_default();
            format!(
                "{{ cd {c} 2>/dev/null{back}; }} || {{ printf 'runsheet: working directory %s does not exist on %s\\n' {c} {h} >&2; false; }}",
                h = quote(remote.host),
            )
        }
        None => "true".to_string(),
    };
    let redirect = if req.capture == Capture::Split {
        ""
    } else {
        " 2>&1"
    };
    let program = quote(req.program);
    let step_file = d.join("step");
    let step = quote(&step_file.to_string_lossy());
    let (files, run) = match kind {
        Kind::Bash => {
            let restore = req.state.shell_script.as_deref().unwrap_or("");
            let effect = super::inert::effect(req.script, restore);
            let saves = effect != super::inert::Effect::Nothing;
            let script = if saves {
                format!("{}{}", req.script, shell::SAVE_AT_END)
            } else {
                req.script.to_string()
            };
            let prelude = super::bash::bash_prelude(
                d,
                req.state,
                remote.env,
                effect,
                &step_file.to_string_lossy(),
            );
            p.push_str("export BASH_ENV=\"$d/prelude.bash\"\n");
            (
                vec![("prelude.bash", prelude), ("step", script)],
                format!("{program} --noprofile --norc -eo pipefail {step}"),
            )
        }
        Kind::Posix | Kind::Zsh => {
            let script = format!(
                "{}{}{}",
                shell::posix_prefix(d, kind),
                req.script,
                shell::SAVE_AT_END
            );
            let flags = if kind == Kind::Zsh {
                "--no-rcs -e -o pipefail"
            } else {
                "-e"
            };
            (vec![("step", script)], format!("{program} {flags} {step}"))
        }
        Kind::Interpreter => {
            if req.program.starts_with("python") {
                p.push_str("export PYTHONUNBUFFERED=1\n");
            }
            (
                vec![("step", req.script.to_string())],
                format!("{program} {step}"),
            )
        }
    };
    // printf is a builtin: no process, and no limit on its arguments.
    for (name, text) in files {
        p.push_str(&format!("printf '%s' {} >\"$d/{name}\"\n", quote(&text)));
    }
    p.push_str(&format!(
        "if {cd}; then {run}{redirect}; __rs_st=$?; else __rs_st=1; fi\n"
    ));
    p.push_str(&format!(
        // One `cat` sends every saved file, each after its header.
        "set --\nfor f in env0 saved cwd env failed-line; do\n\
         [ -f \"$d/$f\" ] || continue\n\
         printf '\\n%s:file:%s\\n' {mark} \"$f\" >\"$d/h.$f\"\n\
         set -- \"$@\" \"$d/h.$f\" \"$d/$f\"\ndone\n\
         printf '\\n%s:done\\n' {mark} >\"$d/h.done\"\n\
         printf '\\n%s:end:%s\\n' {mark} \"$__rs_st\" >&2\n\
         cat \"$@\" \"$d/h.done\" >&2\n\
         rm -rf \"$d\"\n\
         trap '' TERM\nkill -KILL \"$__rs_w\" 2>/dev/null\nkill -TERM -$$ 2>/dev/null\n\
         exit \"$__rs_st\"\n"
    ));
    p
}

/// The step while it runs: output in, stop when asked.
struct Running<'a, 'r> {
    req: &'a StepRun<'r>,
    remote: &'a Remote<'a>,
    /// The step's folder on the host, removed when runsheet stops the step
    /// (it holds the script and the environment, secrets among them).
    dir: &'a str,
    collector: Collector,
    frames: Frames,
    deadline: Option<Instant>,
    interrupt: &'a Interrupt,
    /// Why runsheet stopped it, when, and whether SIGKILL went too.
    stopping: Option<(Ending, Instant, bool)>,
}

impl Running<'_, '_> {
    /// Reads both pipes until ssh exits; returns why runsheet stopped the
    /// step (if it did) and ssh's exit status.
    fn watch(
        &mut self,
        child: &mut Child,
        sink: &mut dyn OutputSink,
    ) -> io::Result<(Option<Ending>, Option<i32>)> {
        let mut out = child.stdout.take().expect("stdout is piped");
        let mut err = child.stderr.take().expect("stderr is piped");
        let mut open = [true, true];
        let mut buf = vec![0u8; 64 * 1024];
        let out_stream = if self.req.capture == Capture::Split {
            StreamKind::Stdout
        } else {
            StreamKind::Combined
        };
        while open[0] || open[1] {
            let mut fds = [
                pollfd(out.as_raw_fd(), open[0]),
                pollfd(err.as_raw_fd(), open[1]),
            ];
            let ms = TICK.as_millis() as libc::c_int;
            // SAFETY: `fds` is a valid array of two pollfd structs.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, ms) };
            if n < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                return Err(io::Error::last_os_error());
            }
            if fds[0].revents != 0 {
                match out.read(&mut buf) {
                    Ok(0) | Err(_) => open[0] = false,
                    Ok(n) => self.collector.data(out_stream, &buf[..n], sink),
                }
            }
            if fds[1].revents != 0 {
                match err.read(&mut buf) {
                    Ok(0) | Err(_) => open[1] = false,
                    Ok(n) => {
                        let user = self.frames.push(&buf[..n]);
                        if !user.is_empty() {
                            let stream = if self.req.capture == Capture::Split {
                                StreamKind::Stderr
                            } else {
                                StreamKind::Combined
                            };
                            self.collector.data(stream, &user, sink);
                        }
                    }
                }
            }
            self.check_stop(child)?;
        }
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok((self.stopping.map(|s| s.0), status.code()));
            }
            self.check_stop(child)?;
            std::thread::sleep(TICK);
        }
    }

    /// Stops the remote group on timeout or interrupt: TERM, then KILL after
    /// the grace period, then ssh itself.
    fn check_stop(&mut self, child: &mut Child) -> io::Result<()> {
        let now = Instant::now();
        match self.stopping {
            None => {
                let why = if self.deadline.is_some_and(|d| now >= d) {
                    Ending::TimedOut
                } else if self.interrupt.is_set() {
                    Ending::Interrupted
                } else {
                    return Ok(());
                };
                self.stopping = Some((why, now, false));
                self.signal(child, "TERM");
            }
            Some((why, since, false)) if now >= since + GRACE => {
                self.stopping = Some((why, now, true));
                self.signal(child, "KILL");
            }
            Some((_, since, true)) if now >= since + GRACE => {
                // The connection does not answer: give up on it.
                let _ = child.kill();
            }
            Some(_) => {}
        }
        Ok(())
    }

    /// Signals the step's remote group over the shared connection; before
    /// the group is known (still connecting), ssh itself.
    fn signal(&self, child: &mut Child, sig: &str) {
        let Some(pgid) = self.frames.pgid else {
            // SAFETY: signalling ssh's own process group, which we made.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGTERM) };
            return;
        };
        let kill = format!("kill -{sig} -{pgid}; rm -rf {}", quote(self.dir));
        let _ = self
            .remote
            .ssh
            .output(self.remote.host, &format!("exec sh -c {}", quote(&kill)));
    }
}

fn pollfd(fd: i32, open: bool) -> libc::pollfd {
    libc::pollfd {
        fd: if open { fd } else { -1 },
        events: libc::POLLIN,
        revents: 0,
    }
}

/// Splits the remote stderr into the step's own stderr and the framed
/// protocol: `\nMARK:pgid:N\n` first, `\nMARK:end:STATUS\n` after the
/// step, then `\nMARK:file:NAME\n` + contents, and `\nMARK:done\n`.
struct Frames {
    /// `\nMARK:`
    start: Vec<u8>,
    /// Bytes held back: they may begin a frame.
    pending: Vec<u8>,
    pgid: Option<u32>,
    status: Option<i32>,
    /// After `end`: everything is protocol.
    trailer: Vec<u8>,
    ended: bool,
    files: Vec<(String, Vec<u8>)>,
    /// What ssh said before the step started.
    ssh_says: Vec<u8>,
}

impl Frames {
    fn new(mark: &str) -> Self {
        Frames {
            start: format!("\n{mark}:").into_bytes(),
            pending: Vec::new(),
            pgid: None,
            status: None,
            trailer: Vec::new(),
            ended: false,
            files: Vec::new(),
            ssh_says: Vec::new(),
        }
    }

    /// Takes stderr bytes; returns those that are the step's own.
    fn push(&mut self, bytes: &[u8]) -> Vec<u8> {
        if self.ended {
            self.trailer.extend_from_slice(bytes);
            self.read_trailer();
            return Vec::new();
        }
        self.pending.extend_from_slice(bytes);
        let mut user = Vec::new();
        loop {
            let Some(at) = find(&self.pending, &self.start) else {
                // Keep what may be the start of a frame.
                let keep = partial_suffix(&self.pending, &self.start);
                let cut = self.pending.len() - keep;
                let ready: Vec<u8> = self.pending.drain(..cut).collect();
                self.give(&ready, &mut user);
                return user;
            };
            let before = self.pending[..at].to_vec();
            self.give(&before, &mut user);
            let header_from = at + self.start.len();
            let Some(nl) = self.pending[header_from..].iter().position(|&b| b == b'\n') else {
                self.pending.drain(..at);
                return user;
            };
            let header =
                String::from_utf8_lossy(&self.pending[header_from..header_from + nl]).into_owned();
            let rest = self.pending[header_from + nl + 1..].to_vec();
            self.pending.clear();
            if let Some(pgid) = header.strip_prefix("pgid:") {
                self.pgid = pgid.trim().parse().ok();
            } else if let Some(status) = header.strip_prefix("end:") {
                self.status = status.trim().parse().ok();
                self.ended = true;
                // The trailer starts with the newline of its first frame.
                self.trailer = b"\n".to_vec();
                self.trailer.extend_from_slice(&rest);
                self.read_trailer();
                return user;
            }
            self.pending = rest;
        }
    }

    fn give(&mut self, bytes: &[u8], user: &mut Vec<u8>) {
        if self.pgid.is_some() {
            user.extend_from_slice(bytes);
        } else {
            self.ssh_says.extend_from_slice(bytes);
        }
    }

    /// Splits the trailer into files once `done` arrived.
    fn read_trailer(&mut self) {
        let done = [&self.start[..], b"done\n"].concat();
        let Some(end) = find(&self.trailer, &done) else {
            return;
        };
        let body = self.trailer[..end].to_vec();
        let mut parts = split(&body, &self.start);
        parts.retain(|p| !p.is_empty());
        for part in parts {
            let Some(nl) = part.iter().position(|&b| b == b'\n') else {
                continue;
            };
            let header = String::from_utf8_lossy(&part[..nl]);
            if let Some(name) = header.strip_prefix("file:") {
                self.files.push((name.to_string(), part[nl + 1..].to_vec()));
            }
        }
        self.trailer.clear();
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The longest end of `hay` that is a proper start of `needle`.
fn partial_suffix(hay: &[u8], needle: &[u8]) -> usize {
    (1..needle.len().min(hay.len() + 1))
        .rev()
        .find(|&n| hay.ends_with(&needle[..n]))
        .unwrap_or(0)
}

fn split<'a>(hay: &'a [u8], sep: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = hay;
    while let Some(at) = find(rest, sep) {
        out.push(&rest[..at]);
        rest = &rest[at + sep.len()..];
    }
    out.push(rest);
    out
}

/// The files the step saved on the host, written into a local folder so
/// that the local readers of saved state read them.
struct SavedFiles {
    dir: tempfile::TempDir,
}

impl SavedFiles {
    fn write(files: &[(String, Vec<u8>)]) -> io::Result<Self> {
        let dir = shell::scratch()?;
        for (name, bytes) in files {
            if matches!(
                name.as_str(),
                "env0" | "saved" | "cwd" | "env" | "failed-line"
            ) {
                fs::write(dir.path().join(name), bytes)?;
            }
        }
        Ok(SavedFiles { dir })
    }

    /// The host's state after the step, relative to the host's own
    /// environment plus the runbook's; `None` when the step saved none.
    fn into_state(self, req: &StepRun<'_>, remote: &Remote<'_>, kind: Kind) -> Option<ShellState> {
        let env0 = fs::read(self.dir.path().join("env0")).unwrap_or_default();
        let mut base: BTreeMap<String, String> =
            super::words::parse_exports(&String::from_utf8_lossy(&env0))
                .into_iter()
                .collect();
        base.extend(remote.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        // Read as a local step's saved files are.
        let prepared = Prepared {
            kind,
            warm: false,
            program: req.program.to_string(),
            exe: PathBuf::from(req.program),
            args: Vec::new(),
            env: BTreeMap::new(),
            cwd: PathBuf::new(),
            saves: true,
            dir: Some(self.dir),
        };
        let mut state = shell::saved_state(&prepared, req.state, &base)?;
        if req.cwd_override.is_some() {
            state.cwd = req.state.cwd.clone();
        }
        Some(state)
    }
}

/// Checks that `programs` are on the PATH of `host`; returns the missing.
pub fn missing_on(ssh: &Ssh, host: &str, programs: &[String]) -> io::Result<Vec<String>> {
    let list: Vec<String> = programs.iter().map(|p| quote(p)).collect();
    let script = format!(
        "for p in {}; do command -v \"$p\" >/dev/null 2>&1 || printf '%s\\n' \"$p\"; done; exit 0",
        list.join(" ")
    );
    let (code, out, err) = ssh.output(host, &format!("exec sh -c {}", quote(&script)))?;
    if code != 0 {
        return Err(lost(host, Some(code), err.as_bytes()));
    }
    Ok(out.lines().map(str::to_string).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_protocol_from_the_steps_stderr() {
        let mut f = Frames::new("M");
        let mut user = Vec::new();
        user.extend(f.push(b"Warning: added\n\nM:pg"));
        user.extend(f.push(b"id:42\nerr one\npartial \nM"));
        user.extend(f.push(b":end:3\n\nM:file:cwd\n/home/x\nM:file:env\nA=1\n\nM:done\n"));
        assert_eq!(f.pgid, Some(42));
        assert_eq!(f.status, Some(3));
        assert_eq!(String::from_utf8(user).unwrap(), "err one\npartial ");
        assert_eq!(f.ssh_says, b"Warning: added\n");
        assert_eq!(
            f.files,
            vec![
                ("cwd".to_string(), b"/home/x".to_vec()),
                ("env".to_string(), b"A=1\n".to_vec())
            ]
        );
    }

    /// The longest name ssh gives a socket in a folder that fits, as
    /// OpenSSH's `muxserver_listen` makes it, fits in `sun_path` with its NUL.
    #[test]
    fn the_name_ssh_listens_on_fits_in_every_folder_that_fits() {
        let longest = (1..200)
            .map(|n| PathBuf::from(format!("/{}", "d".repeat(n - 1))))
            .rfind(|dir| socket_fits(dir))
            .expect("some folder fits");
        let listening = format!(
            "{}/{}.{}",
            longest.display(),
            "c".repeat(40),
            "r".repeat(16)
        );
        assert!(listening.len() < 104, "{} bytes", listening.len());
        let one_more = PathBuf::from(format!("{}d", longest.display()));
        assert!(!socket_fits(&one_more));
        // A state dir as long as a project's checkout often is.
        let project = Path::new("/home/alice/src/github.com/acme-corp/ops/.runsheet");
        let ssh = Ssh::new(None, project);
        let name = format!(
            "{}/{}.{}",
            ssh.control_dir.display(),
            "c".repeat(40),
            "r".repeat(16)
        );
        assert!(name.len() < 104, "{name}");
    }

    #[test]
    fn a_long_state_dir_gets_a_short_socket_folder() {
        let long = PathBuf::from(format!("/{}", "x".repeat(120)));
        let ssh = Ssh::new(None, &long);
        assert!(
            socket_fits(&ssh.control_dir),
            "{}",
            ssh.control_dir.display()
        );
        let ssh = Ssh::new(None, Path::new("/s"));
        assert!(
            ssh.control_dir.starts_with("/s/ssh/"),
            "{:?}",
            ssh.control_dir
        );
        let other = Ssh::new(None, Path::new("/s"));
        assert_ne!(ssh.control_dir, other.control_dir, "one folder per run");
    }
}
