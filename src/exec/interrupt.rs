//! The flag Ctrl-C, SIGTERM, SIGHUP and SIGQUIT raise: runsheet does not die
//! on them, it stops the running step and everything it started, and reports
//! the run as interrupted.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Shared "stop now" flag, polled while a step runs.
#[derive(Debug, Clone, Default)]
pub struct Interrupt(Arc<AtomicBool>);

impl Interrupt {
    /// A flag no signal sets (tests, `check --jobs` workers).
    pub fn new() -> Self {
        Self::default()
    }

    /// A flag raised by SIGINT, SIGTERM, SIGHUP and SIGQUIT (Ctrl-\\). From
    /// now on these signals no longer terminate runsheet: whoever holds the
    /// flag must look at it, so that steps' process groups are stopped however
    /// the run ends (they are not in the terminal's foreground group, so a
    /// closed terminal would not reach them otherwise).
    ///
    /// It also makes SIGTTIN ignored, for runsheet and (inherited) for every
    /// step: a step not marked `interactive` runs outside the terminal's
    /// foreground group, and reading the terminal (`sudo` asking for a
    /// password) would stop it forever; ignored, the read fails at once with
    /// an I/O error the step reports.
    pub fn install() -> io::Result<Self> {
        // SAFETY: setting a signal's disposition to SIG_IGN has no
        // preconditions and installs no handler code.
        if unsafe { libc::signal(libc::SIGTTIN, libc::SIG_IGN) } == libc::SIG_ERR {
            return Err(io::Error::last_os_error());
        }
        let flag = Self::new();
        use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
        for sig in [SIGINT, SIGTERM, SIGHUP, SIGQUIT] {
            signal_hook::flag::register(sig, Arc::clone(&flag.0))?;
        }
        Ok(flag)
    }

    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// Raises the flag by hand (a reporter's "abort", tests).
    pub fn set(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signal_raises_the_flag_instead_of_killing() {
        let flag = Interrupt::install().unwrap();
        let other = Interrupt::new();
        assert!(!flag.is_set());
        // SAFETY: raise(3) sends a signal to ourselves; the handler only sets
        // an atomic.
        unsafe { libc::raise(libc::SIGHUP) };
        assert!(flag.is_set());
        assert!(!other.is_set());
        let copy = other.clone();
        copy.set();
        assert!(other.is_set());
    }
}
