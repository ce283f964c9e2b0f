//! The flag Ctrl-C and SIGTERM raise: runsheet does not die on them, it stops
//! the running step's process group and reports the run as interrupted.

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

    /// A flag raised by SIGINT and SIGTERM. From now on these signals no longer
    /// terminate runsheet: whoever holds the flag must look at it.
    pub fn install() -> io::Result<Self> {
        let flag = Self::new();
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
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
