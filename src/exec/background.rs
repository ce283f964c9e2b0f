//! Background steps: started in their own process group, their masked output
//! written to a log, stopped (SIGTERM, grace, SIGKILL) by `stop` or on drop, so
//! they end however the run ends. Stopping one stops everything it started,
//! in its group or not: a background step is a service the runbook asked
//! for, and its daemons are part of it.

use std::io::{self, Read, Write};
use std::process::ExitStatus;
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

use super::family::Family;
use super::output::Masker;
use super::reap::{self, Registered};
use super::shell;
use super::step::{check_cwd, expression, leader_pid, start_error};
use super::track::{self, Watched};
use super::{StepRun, GRACE};

/// How long `stop` waits for the log writer to see the end of the output.
const DRAIN: Duration = Duration::from_secs(1);

/// A running background step.
#[derive(Debug)]
pub struct Background {
    handle: duct::Handle,
    family: Family,
    pgid: i32,
    log_done: Option<Receiver<()>>,
    status: Option<ExitStatus>,
    stopped: bool,
    /// Holds the shell's prelude; removed once the step is stopped.
    _dir: Option<tempfile::TempDir>,
    /// Dropped after the shell was waited for (fields drop in order).
    _watched: Watched,
    _registered: Registered,
}

/// Starts `req` in the background, its output (both streams, masked) going to
/// `log` (dropped when the output ends). The shell state it leaves is not
/// read: later steps do not see it.
pub fn spawn_background(
    req: &StepRun<'_>,
    log: impl Write + Send + 'static,
) -> io::Result<Background> {
    let mut prepared = shell::prepare(req)?;
    check_cwd(&prepared)?;
    let token = track::token_for(req.owner);
    track::mark(&mut prepared.env, &token);
    let (out_r, out_w) = io::pipe()?;
    let expr = expression(&prepared, false, None)
        .stderr_to_stdout()
        .stdout_file(out_w);
    let (handle, registered) =
        reap::spawn(|| expr.start(), leader_pid).map_err(|e| start_error(&prepared, e))?;
    // Our copy of the pipe's write end goes with the expression.
    drop(expr);
    let pgid = leader_pid(&handle);
    let family = Family::new(pgid, &token);
    let watched = Watched::start(pgid, &token, req.owner);
    let mut bg = Background {
        pgid,
        handle,
        family,
        log_done: None,
        status: None,
        stopped: false,
        _dir: prepared.dir,
        _watched: watched,
        _registered: registered,
    };
    // On failure here, dropping `bg` stops the step.
    bg.log_done = Some(spawn_log_writer(out_r, log, Masker::new(req.redactor))?);
    Ok(bg)
}

fn spawn_log_writer(
    mut pipe: io::PipeReader,
    mut log: impl Write + Send + 'static,
    mut masker: Masker,
) -> io::Result<Receiver<()>> {
    let (tx, rx) = channel();
    std::thread::Builder::new()
        .name("runsheet-bg-log".into())
        .spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            let mut out = Vec::new();
            loop {
                let n = match pipe.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                };
                out.clear();
                masker.push(&buf[..n], &mut out);
                // A full disk must not stop the step: its output is dropped.
                let _ = log.write_all(&out);
            }
            out.clear();
            masker.finish(&mut out);
            let _ = log.write_all(&out);
            let _ = log.flush();
            // Closing the log may finish it (a capped log splices its tail).
            drop(log);
            let _ = tx.send(());
        })?;
    Ok(rx)
}

impl Background {
    /// The process id of the step's shell, which is also its process group id.
    pub fn pid(&self) -> u32 {
        self.pgid.unsigned_abs()
    }

    /// The shell's exit status once it has exited on its own.
    pub fn try_status(&mut self) -> io::Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status = self.handle.try_wait()?.map(|o| o.status);
        }
        Ok(self.status)
    }

    /// Stops everything the step started (SIGTERM, up to [`GRACE`], SIGKILL)
    /// and waits for the shell; returns its status. Calling it again returns
    /// the same.
    pub fn stop(&mut self) -> io::Result<ExitStatus> {
        if let (true, Some(status)) = (self.stopped, self.status) {
            return Ok(status);
        }
        let handle = &self.handle;
        let leader_done = || handle.try_wait().map_or(true, |o| o.is_some());
        self.family.stop(GRACE, leader_done);
        let status = self.handle.wait()?.status;
        self.status = Some(status);
        self.stopped = true;
        if let Some(done) = self.log_done.take() {
            let _ = done.recv_timeout(DRAIN);
        }
        Ok(status)
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
