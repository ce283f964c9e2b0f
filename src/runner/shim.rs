//! TEMPORARY stand-in for the `exec` branch's `run_step`, `spawn_background` and
//! `Interrupt`, with the same signatures, so the engine builds and runs before
//! exec lands. No state carry, no timeouts, no process groups. Deleted once
//! `crate::exec` has the real ones.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::exec::{Capture, Ending, Outcome, OutputSink, StepRun, StreamKind};

#[derive(Debug, Clone, Default)]
pub struct Interrupt(Arc<AtomicBool>);

impl Interrupt {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn install() -> io::Result<Self> {
        let me = Self::new();
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register(sig, me.0.clone())?;
        }
        Ok(me)
    }

    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

pub(super) struct Background(Child);

impl Background {
    pub(super) fn stop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.stop();
    }
}

fn command(req: &StepRun<'_>) -> Command {
    let mut cmd = Command::new(req.program);
    cmd.arg("-c").arg(req.script).env_clear().envs(req.base_env);
    for (k, v) in &req.state.env {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd.current_dir(req.cwd_override.as_ref().unwrap_or(&req.state.cwd));
    cmd
}

pub(super) fn spawn_background(req: &StepRun<'_>, log: File) -> io::Result<Background> {
    let mut cmd = command(req);
    cmd.stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    Ok(Background(cmd.spawn()?))
}

pub(super) fn run_step(
    req: &StepRun<'_>,
    sink: &mut dyn OutputSink,
    _interrupt: &Interrupt,
) -> io::Result<Outcome> {
    let start = Instant::now();
    let mut fds = [0; 2];
    // SAFETY: pipe fills two fresh descriptors that we own from here on.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let (reader, writer) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let mut cmd = command(req);
    cmd.stdin(if req.interactive {
        Stdio::inherit()
    } else {
        Stdio::null()
    })
    .stdout(writer.try_clone()?)
    .stderr(writer);
    let mut child = cmd.spawn()?;
    drop(cmd);
    let mut reader = File::from(reader);
    let mut combined = Vec::new();
    let mut buf = vec![0; 64 * 1024];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let masked = req.redactor.redact_bytes(&buf[..n]);
        sink.output(StreamKind::Combined, &masked);
        if req.capture != Capture::None && combined.len() < 1 << 20 {
            combined.extend_from_slice(&masked);
        }
    }
    let status = child.wait()?;
    use std::os::unix::process::ExitStatusExt;
    Ok(Outcome {
        ending: if status.signal().is_some() {
            Ending::Signaled
        } else {
            Ending::Exited
        },
        exit_code: status.code().or_else(|| status.signal().map(|s| 128 + s)),
        duration: start.elapsed(),
        stdout: combined.clone(),
        stderr: Vec::new(),
        combined,
        truncated: false,
        state: req.state.clone(),
    })
}
