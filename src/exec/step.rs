//! Running one step to completion: start it in its own process group, stream
//! its output through the masker to the sink, stop everything it started on
//! timeout or interrupt, and read back the state it left.

use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use super::family::Family;
use super::output::{widen, AddMask, Masker, Tail, CHUNK};
use super::reap::{self, Registered};
use super::shell::{self, Prepared};
use super::terminal::{self, Lent};
use super::track::{self, Watched};
use super::{
    group, Capture, Ending, Interrupt, Outcome, OutputSink, StepRun, StreamKind, CAPTURE_CAP, GRACE,
};

/// How often a running step is checked for its timeout and for an interrupt.
const TICK: Duration = Duration::from_millis(20);

/// After the step's processes are gone, how long to keep reading a pipe that
/// something outside the group (a `setsid` daemon) still holds open.
const DRAIN: Duration = Duration::from_secs(1);

/// How long processes left in the group of a step whose shell exited get to
/// leave it (a daemon between its fork and its `setsid`, like `ssh-agent`)
/// before they are stopped as stragglers.
const SETTLE: Duration = Duration::from_millis(100);

/// Runs one step and waits for it (see the module docs of `exec`).
///
/// A step that exits normally — whatever its status — reports the state it
/// left; the runner keeps it only after a step that passed. A step that
/// leaves processes behind in its group has them stopped (SIGTERM, then
/// SIGKILL after [`GRACE`]) when it exits: long-running services belong in
/// `background` steps. Processes that left the group (`setsid` daemons) live
/// on until the run ends ([`Tracker::sweep`](super::Tracker::sweep)), unless
/// the step times out or is interrupted: then everything it started is
/// stopped with it.
pub fn run_step(
    req: &StepRun<'_>,
    sink: &mut dyn OutputSink,
    interrupt: &Interrupt,
) -> io::Result<Outcome> {
    let started = Instant::now();
    if interrupt.is_set() {
        return Ok(not_started(req, started));
    }
    let warm = super::zygote::usable(req);
    let mut prepared = shell::prepare_with(req, warm)?;
    check_cwd(&prepared)?;
    let token = track::token_for(req.owner);
    track::mark(&mut prepared.env, &token);
    let tty = req.interactive.then(terminal::owned_terminal).flatten();
    let (mut handle, mut pipes, _registered) = start(&mut prepared, req, tty, &token)?;
    let pgid = handle.pid();
    let mut guard = KillOnDrop(Some(Family::new(pgid, &token)));
    let _watched = Watched::start(pgid, &token, req.owner);
    if let Leader::Warm(job) = &mut handle {
        job.go()?;
    }
    let lent = tty.map(|tty| Lent::give(tty, pgid));

    let mut collector = Collector::new(req);
    let mut watch = Watch {
        pgid,
        deadline: req.timeout.map(|t| started + t),
        interrupt,
        family: Family::new(pgid, &token),
    };
    let (mut reason, status) = watch.run(&mut handle, &mut pipes, |stream, bytes| {
        collector.data(stream, bytes, sink)
    })?;
    guard.0 = None;
    drop(lent);
    collector.finish(sink);
    if lent_sigint(tty, status) && reason.is_none() {
        // Ctrl-C at the terminal went to the step's group, not to runsheet:
        // the user asked to stop the run.
        interrupt.set();
        reason = Some(Ending::Interrupted);
    }

    let (ending, exit_code) = match (reason, status.code()) {
        (Some(reason), code) => (reason, code.or(status.signal().map(|s| 128 + s))),
        (None, Some(code)) => (Ending::Exited, Some(code)),
        (None, None) => (Ending::Signaled, status.signal().map(|s| 128 + s)),
    };
    let mut state = req.state.clone();
    if ending == Ending::Exited {
        if let Some(saved) = shell::saved_state(&prepared, req.state, req.base_env) {
            state = saved;
            if req.cwd_override.is_some() {
                // `cwd=` holds for this step only.
                state.cwd = req.state.cwd.clone();
            }
        }
    }
    let failed_line = match (prepared.kind, &prepared.dir) {
        (shell::Kind::Bash, Some(dir)) if exit_code != Some(0) => {
            super::bash::bash_failed_line(dir.path())
        }
        _ => None,
    };
    let (combined, stdout, stderr, truncated) = collector.into_buffers();
    Ok(Outcome {
        ending,
        exit_code,
        duration: started.elapsed(),
        combined,
        stdout,
        stderr,
        truncated,
        state,
        failed_line,
    })
}

/// Kills everything the step started if supervising it fails half-way (an
/// error, or a panic in the sink): nothing may outlive runsheet's attention.
struct KillOnDrop(Option<Family>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(family) = self.0.as_mut() {
            family.signal(libc::SIGKILL);
        }
    }
}

/// Ctrl-C or Ctrl-\ at the terminal lent to the step: it went to the step's
/// group, not to runsheet. The shell either dies of the signal or, when it
/// waited for the command the signal killed (as bash does for SIGQUIT once
/// an ERR trap is set), exits with 128 + the signal.
fn lent_sigint(tty: Option<RawFd>, status: ExitStatus) -> bool {
    const BY_SIGNAL: [i32; 2] = [128 + libc::SIGINT, 128 + libc::SIGQUIT];
    tty.is_some()
        && (matches!(status.signal(), Some(libc::SIGINT | libc::SIGQUIT))
            || status.code().is_some_and(|c| BY_SIGNAL.contains(&c)))
}

fn not_started(req: &StepRun<'_>, started: Instant) -> Outcome {
    Outcome {
        ending: Ending::Interrupted,
        exit_code: None,
        duration: started.elapsed(),
        combined: Vec::new(),
        stdout: Vec::new(),
        stderr: Vec::new(),
        truncated: false,
        state: req.state.clone(),
        failed_line: None,
    }
}

pub(crate) fn check_cwd(prepared: &Prepared) -> io::Result<()> {
    if prepared.cwd.is_dir() {
        return Ok(());
    }
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        format!(
            "working directory {} does not exist",
            prepared.cwd.display()
        ),
    ))
}

/// The duct expression for a prepared step, in its own process group, without
/// its output wiring. stdin is `/dev/null`, or inherited for an interactive
/// step; `tty` is the terminal handed to an interactive step's group (see
/// `terminal`). On Linux the step's shell dies with runsheet (see
/// [`die_with_parent`]).
pub(crate) fn expression(
    prepared: &Prepared,
    interactive: bool,
    tty: Option<RawFd>,
) -> duct::Expression {
    let expr = duct::cmd(&prepared.exe, &prepared.args)
        .full_env(&prepared.env)
        .dir(&prepared.cwd)
        .unchecked();
    let expr = if interactive { expr } else { expr.stdin_null() };
    expr.before_spawn(move |cmd| {
        cmd.process_group(0);
        let parent = std::process::id();
        if cfg!(target_os = "linux") || tty.is_some() {
            // SAFETY: the closure only makes async-signal-safe calls.
            unsafe {
                cmd.pre_exec(move || {
                    die_with_parent(parent)?;
                    match tty {
                        Some(tty) => terminal::take_in_child(tty),
                        None => Ok(()),
                    }
                });
            }
        }
        Ok(())
    })
}

/// In the child, between fork and exec: SIGTERM when runsheet dies, however
/// it dies (`kill -9`, the OOM killer), so the step does not run on unwatched;
/// the watchdog then stops the rest of its group. Fails when runsheet
/// (`parent`) is already gone. Only async-signal-safe calls.
pub(crate) fn die_with_parent(parent: u32) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: prctl and getppid take and return plain integers.
        unsafe {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM, 0, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            // Runsheet died before the prctl: the child was re-parented.
            if libc::getppid() as u32 != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = parent;
    Ok(())
}

/// One of the step's output pipes, read by the supervising loop.
struct Pipe {
    reader: io::PipeReader,
    stream: StreamKind,
    open: bool,
}

/// A running step's first process: started by runsheet, or forked by the
/// warm shell and re-parented to runsheet.
enum Leader {
    Spawned(duct::Handle),
    Warm(super::zygote::Job),
}

impl Leader {
    fn pid(&self) -> i32 {
        match self {
            Leader::Spawned(handle) => leader_pid(handle),
            Leader::Warm(job) => job.pid,
        }
    }

    fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        match self {
            Leader::Spawned(handle) => Ok(handle.try_wait()?.map(|out| out.status)),
            Leader::Warm(job) => job.try_wait(),
        }
    }
}

/// Starts the step with its output on one pipe (two for `Split`): forked
/// from the warm shell when it was prepared for it and one answers, else
/// prepared again and started anew.
fn start(
    prepared: &mut Prepared,
    req: &StepRun<'_>,
    tty: Option<RawFd>,
    token: &str,
) -> io::Result<(Leader, Vec<Pipe>, Registered)> {
    if prepared.warm {
        if let Some(started) = start_warm(prepared, req)? {
            return Ok(started);
        }
        *prepared = shell::prepare(req)?;
        track::mark(&mut prepared.env, token);
    }
    let (handle, pipes, registered) = spawn(prepared, req, tty)?;
    Ok((Leader::Spawned(handle), pipes, registered))
}

fn start_warm(
    prepared: &Prepared,
    req: &StepRun<'_>,
) -> io::Result<Option<(Leader, Vec<Pipe>, Registered)>> {
    let Some(dir) = prepared.dir.as_ref() else {
        return Ok(None);
    };
    let split = req.capture == Capture::Split;
    let launched = super::zygote::launch(
        &prepared.exe,
        &prepared.env,
        &prepared.cwd,
        dir.path(),
        split,
        prepared.saves,
    )?;
    let Some((job, fds, registered)) = launched else {
        return Ok(None);
    };
    let streams: &[StreamKind] = if split {
        &[StreamKind::Stdout, StreamKind::Stderr]
    } else {
        &[StreamKind::Combined]
    };
    let pipes = fds
        .into_iter()
        .zip(streams)
        .map(|(fd, &stream)| Pipe {
            reader: io::PipeReader::from(fd),
            stream,
            open: true,
        })
        .collect();
    Ok(Some((Leader::Warm(job), pipes, registered)))
}

/// Starts the step's shell with its output on one pipe (two for `Split`).
fn spawn(
    prepared: &Prepared,
    req: &StepRun<'_>,
    tty: Option<RawFd>,
) -> io::Result<(duct::Handle, Vec<Pipe>, Registered)> {
    let expr = expression(prepared, req.interactive, tty);
    let (out_r, out_w) = io::pipe()?;
    widen(out_r.as_fd());
    let pipe = |reader, stream| Pipe {
        reader,
        stream,
        open: true,
    };
    let (expr, pipes) = if req.capture == Capture::Split {
        let (err_r, err_w) = io::pipe()?;
        widen(err_r.as_fd());
        let pipes = vec![
            pipe(out_r, StreamKind::Stdout),
            pipe(err_r, StreamKind::Stderr),
        ];
        (expr.stderr_file(err_w).stdout_file(out_w), pipes)
    } else {
        let pipes = vec![pipe(out_r, StreamKind::Combined)];
        (expr.stderr_to_stdout().stdout_file(out_w), pipes)
    };
    let (handle, registered) =
        reap::spawn(|| expr.start(), leader_pid).map_err(|e| start_error(prepared, e))?;
    // The expression owns our copies of the pipes' write ends; only once it is
    // gone can we see end of file.
    drop(expr);
    Ok((handle, pipes, registered))
}

pub(crate) fn start_error(prepared: &Prepared, e: io::Error) -> io::Error {
    let program = &prepared.program;
    let message = if e.kind() == io::ErrorKind::NotFound && !program.contains('/') {
        format!("cannot start `{program}`: not found on PATH")
    } else {
        format!("cannot start `{program}`: {e}")
    };
    io::Error::new(e.kind(), message)
}

pub(crate) fn leader_pid(handle: &duct::Handle) -> i32 {
    let pid = handle.pids().first().copied().unwrap_or(0);
    i32::try_from(pid).unwrap_or(0)
}

/// Waits up to `timeout` for output on the open pipes, or for the leader to
/// exit when `pidfd` is given, and hands what one read of each ready pipe
/// returns to `on_data`. Returns as soon as anything happens, so a step's end
/// is seen without delay, and whether the leader may have exited: false only
/// when the pidfd was watched and stayed quiet while output came.
fn wait_ready(
    pipes: &mut [Pipe],
    pidfd: Option<RawFd>,
    timeout: Duration,
    buf: &mut [u8],
    on_data: &mut impl FnMut(StreamKind, &[u8]),
) -> io::Result<bool> {
    let watched = |fd| libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let mut fds: Vec<libc::pollfd> = pipes
        .iter()
        .filter(|p| p.open)
        .map(|p| watched(p.reader.as_raw_fd()))
        .chain(pidfd.map(watched))
        .collect();
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: `fds` is a valid array of `fds.len()` pollfd structs.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted {
            Ok(true)
        } else {
            Err(e)
        };
    }
    let exited =
        pidfd.is_none_or(|pidfd| n == 0 || fds.iter().any(|fd| fd.fd == pidfd && fd.revents != 0));
    let mut flowing = false;
    for fd in fds.iter().filter(|fd| fd.revents != 0) {
        let Some(pipe) = pipes.iter_mut().find(|p| p.reader.as_raw_fd() == fd.fd) else {
            continue; // the pidfd: the caller looks at the leader next
        };
        // poll said readable (or hung up): one read does not block.
        match pipe.reader.read(buf) {
            Ok(0) => pipe.open = false,
            Ok(n) => {
                flowing |= (FLOWING..buf.len() / 2).contains(&n);
                on_data(pipe.stream, &buf[..n]);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => pipe.open = false,
        }
    }
    if flowing && !exited {
        // A step printing a stream writes it a few KiB at a time, and
        // reading each piece as it lands costs a wake-up of runsheet and of
        // the writer per piece (250,000 per GB). A pause lets the pipe fill.
        std::thread::sleep(LET_FILL);
    }
    Ok(exited)
}

/// A read at least this large, and under half the buffer, means output is
/// streaming in pieces (see `wait_ready`).
const FLOWING: usize = 4096;

/// How long the pipe is left to fill while output streams: far below what
/// anyone watching could notice, long enough for a fast writer to put a few
/// hundred KiB in it.
const LET_FILL: Duration = Duration::from_micros(200);

/// A descriptor that becomes readable when process `pid` exits (Linux 5.3
/// and later); `None` elsewhere, and the loop polls instead.
fn pidfd_open(pid: i32) -> Option<OwnedFd> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: pidfd_open takes a pid and flags and returns a new
        // descriptor we then own, or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        let fd = RawFd::try_from(fd).ok().filter(|&fd| fd >= 0)?;
        // SAFETY: `fd` was just opened and is owned by nobody else.
        Some(unsafe { OwnedFd::from_raw_fd(fd) })
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        None
    }
}

struct Watch<'a> {
    pgid: i32,
    deadline: Option<Instant>,
    interrupt: &'a Interrupt,
    family: Family,
}

/// Where a running step is, as far as stopping it goes.
#[derive(Clone, Copy)]
enum Phase {
    Running,
    /// The shell exited, processes are left in its group: stragglers
    /// unless they leave it by `until`.
    Settling {
        until: Instant,
    },
    /// SIGTERM sent; SIGKILL due at `deadline`. Once `killed`, `deadline`
    /// is when to stop waiting for processes that SIGKILL cannot end at
    /// once (stuck in the kernel). `whole`: the step's whole family
    /// (timeout, interrupt), else its group only (stragglers of a step that
    /// ended).
    Stopping {
        deadline: Instant,
        killed: bool,
        whole: bool,
    },
    /// Nothing is left in the group: reading what the pipes still hold, for
    /// as long as something outside the group keeps them open.
    Draining {
        until: Instant,
    },
}

impl Watch<'_> {
    /// Feeds output to `on_data` until the step is over; returns why runsheet
    /// stopped it (if it did) and the leader's status.
    fn run(
        &mut self,
        handle: &mut Leader,
        pipes: &mut [Pipe],
        mut on_data: impl FnMut(StreamKind, &[u8]),
    ) -> io::Result<(Option<Ending>, ExitStatus)> {
        let mut status: Option<ExitStatus> = None;
        let mut phase = Phase::Running;
        let mut reason = None;
        let mut next_check = Instant::now();
        let pidfd = pidfd_open(self.pgid);
        // Without a pidfd and with the pipes closed, the leader usually exits
        // within microseconds: look again soon, then less and less often.
        let mut pause = Duration::from_micros(50);
        let mut buf = vec![0u8; CHUNK];
        // Asking for the leader's status costs a system call; while its
        // pidfd stays quiet, output alone came and it is still running.
        let mut may_have_exited = true;
        loop {
            if status.is_none() && may_have_exited {
                status = handle.try_wait()?;
            }
            let open = pipes.iter().any(|p| p.open);
            if let Some(st) = status {
                // Once runsheet stops processes, it sees them gone before
                // the step counts as over, output closed or not.
                let done = match phase {
                    Phase::Running | Phase::Settling { .. } => !open,
                    Phase::Stopping { .. } => false,
                    Phase::Draining { until } => !open || Instant::now() >= until,
                };
                if done {
                    return Ok((reason, st));
                }
            }
            let exit_fd = pidfd.as_ref().filter(|_| status.is_none());
            may_have_exited = true;
            if open || exit_fd.is_some() {
                let exit_fd = exit_fd.map(AsRawFd::as_raw_fd);
                may_have_exited = wait_ready(pipes, exit_fd, TICK, &mut buf, &mut on_data)?;
            } else {
                std::thread::sleep(pause);
                pause = (pause * 2).min(TICK);
            }
            let now = Instant::now();
            if status.is_none() && now < next_check {
                continue;
            }
            next_check = now + TICK;
            may_have_exited = true;
            phase = self.advance(phase, &mut reason, status.is_some(), now);
        }
    }

    /// One look at the clock, the interrupt flag and the processes.
    fn advance(
        &mut self,
        phase: Phase,
        reason: &mut Option<Ending>,
        leader_exited: bool,
        now: Instant,
    ) -> Phase {
        reap::reap_orphans();
        let drain = Phase::Draining { until: now + DRAIN };
        let stopping = |whole| Phase::Stopping {
            deadline: now + GRACE,
            killed: false,
            whole,
        };
        match phase {
            Phase::Running if leader_exited => {
                if group::alive(self.pgid) {
                    Phase::Settling {
                        until: now + SETTLE,
                    }
                } else {
                    drain
                }
            }
            Phase::Settling { until } => {
                if !group::alive(self.pgid) {
                    drain
                } else if now >= until {
                    // Stragglers of a finished step.
                    group::signal(self.pgid, libc::SIGTERM);
                    stopping(false)
                } else {
                    phase
                }
            }
            Phase::Running => match self.should_stop(now) {
                Some(why) => {
                    *reason = Some(why);
                    self.family.signal(libc::SIGTERM);
                    stopping(true)
                }
                None => Phase::Running,
            },
            Phase::Stopping {
                deadline,
                killed,
                whole,
            } => {
                let sig = if killed { libc::SIGKILL } else { libc::SIGTERM };
                if leader_exited && !self.alive(whole, sig) {
                    drain
                } else if now < deadline {
                    phase
                } else if killed {
                    drain
                } else {
                    self.signal(whole, libc::SIGKILL);
                    Phase::Stopping {
                        deadline: now + DRAIN,
                        killed: true,
                        whole,
                    }
                }
            }
            Phase::Draining { .. } => phase,
        }
    }

    fn alive(&mut self, whole: bool, sig: i32) -> bool {
        if whole {
            self.family.alive(sig)
        } else {
            group::alive(self.pgid)
        }
    }

    fn signal(&mut self, whole: bool, sig: i32) {
        if whole {
            self.family.signal(sig);
        } else {
            group::signal(self.pgid, sig);
        }
    }

    fn should_stop(&self, now: Instant) -> Option<Ending> {
        if self.deadline.is_some_and(|d| now >= d) {
            Some(Ending::TimedOut)
        } else if self.interrupt.is_set() {
            Some(Ending::Interrupted)
        } else {
            None
        }
    }
}

/// Takes `::add-mask::` lines out of each stream, masks it, and keeps what
/// `Capture` asks for.
pub(crate) struct Collector {
    /// One filter and masker per pipe: a line or a secret cannot straddle
    /// two pipes. A value to mask learnt on either goes to both.
    out_cmds: AddMask,
    err_cmds: AddMask,
    out_mask: Masker,
    err_mask: Masker,
    kept: Kept,
    /// Output with the command lines taken out, before masking, when that
    /// changed it.
    plain: Vec<u8>,
    /// Masked output, when masking changed it.
    scratch: Vec<u8>,
    values: Vec<String>,
}

/// What `Capture` keeps of the masked output.
struct Kept {
    capture: Capture,
    combined: Tail,
    stdout: Tail,
    stderr: Tail,
}

impl Collector {
    pub(crate) fn new(req: &StepRun<'_>) -> Self {
        Collector {
            out_cmds: AddMask::default(),
            err_cmds: AddMask::default(),
            out_mask: Masker::new(req.redactor),
            err_mask: Masker::new(req.redactor),
            kept: Kept {
                capture: req.capture,
                combined: Tail::new(CAPTURE_CAP),
                stdout: Tail::new(CAPTURE_CAP),
                stderr: Tail::new(CAPTURE_CAP),
            },
            plain: Vec::new(),
            scratch: Vec::new(),
            values: Vec::new(),
        }
    }

    /// Most output holds no command line and no secret: it goes to the sink
    /// as it was read, without a copy at either stage.
    pub(crate) fn data(&mut self, stream: StreamKind, bytes: &[u8], sink: &mut dyn OutputSink) {
        let stderr = stream == StreamKind::Stderr;
        let cmds = if stderr {
            &mut self.err_cmds
        } else {
            &mut self.out_cmds
        };
        let plain = cmds.filter(bytes, &mut self.plain, &mut self.values);
        learn(
            &mut self.values,
            [&mut self.out_mask, &mut self.err_mask],
            sink,
        );
        let mask = if stderr {
            &mut self.err_mask
        } else {
            &mut self.out_mask
        };
        let masked = mask.filter(plain, &mut self.scratch);
        self.kept.emit(stream, masked, sink);
    }

    pub(crate) fn finish(&mut self, sink: &mut dyn OutputSink) {
        let streams = if self.kept.capture == Capture::Split {
            [Some(StreamKind::Stdout), Some(StreamKind::Stderr)]
        } else {
            [Some(StreamKind::Combined), None]
        };
        for stream in streams.into_iter().flatten() {
            self.plain.clear();
            let cmds = match stream {
                StreamKind::Stderr => &mut self.err_cmds,
                _ => &mut self.out_cmds,
            };
            cmds.finish(&mut self.plain, &mut self.values);
            learn(
                &mut self.values,
                [&mut self.out_mask, &mut self.err_mask],
                sink,
            );
            self.scratch.clear();
            let mask = match stream {
                StreamKind::Stderr => &mut self.err_mask,
                _ => &mut self.out_mask,
            };
            mask.push(&self.plain, &mut self.scratch);
            mask.finish(&mut self.scratch);
            self.kept.emit(stream, &self.scratch, sink);
        }
    }

    pub(crate) fn into_buffers(self) -> (Vec<u8>, Vec<u8>, Vec<u8>, bool) {
        let k = self.kept;
        let truncated = k.combined.truncated || k.stdout.truncated || k.stderr.truncated;
        (
            k.combined.into_vec(),
            k.stdout.into_vec(),
            k.stderr.into_vec(),
            truncated,
        )
    }
}

/// Values from `::add-mask::` lines: masked from now on, and passed on.
fn learn(values: &mut Vec<String>, mut masks: [&mut Masker; 2], sink: &mut dyn OutputSink) {
    for value in values.drain(..) {
        for mask in masks.iter_mut() {
            mask.add(&value);
        }
        sink.mask(&value);
    }
}

impl Kept {
    fn emit(&mut self, stream: StreamKind, bytes: &[u8], sink: &mut dyn OutputSink) {
        if bytes.is_empty() {
            return;
        }
        sink.output(stream, bytes);
        if self.capture == Capture::None {
            return;
        }
        self.combined.push(bytes);
        match stream {
            StreamKind::Stdout if self.capture == Capture::Split => self.stdout.push(bytes),
            StreamKind::Stderr if self.capture == Capture::Split => self.stderr.push(bytes),
            _ => {}
        }
    }
}
