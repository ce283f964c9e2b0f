//! The one writer of a live run's terminal output. Everything `run` shows goes
//! through a queue to a thread that alone writes stdout and stderr, so a
//! terminal or pipe that stops reading (Ctrl-S, `| less` unscrolled, a stalled
//! log shipper) stalls that thread, never the run: timeouts, signals and the
//! lock go on. A step's output waiting for the terminal is bounded; past the
//! bound it is left out of the live view (never out of the log) and a line
//! says how much.
//!
//! The thread also draws the spinner, and only on a line of its own: while a
//! step's partial line (`Downloading... ` with no newline yet) stands, the
//! spinner stays away, so it can never erase or garble it.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::fd::FromRawFd;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Step output held for a terminal that is not reading, at most.
const BUDGET: usize = 1024 * 1024;

/// How often the spinner moves.
const TICK: Duration = Duration::from_millis(120);

const FRAMES: &[&str] = &["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/// Which stream a piece of text goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fd {
    Out,
    Err,
}

enum Item {
    Text {
        fd: Fd,
        bytes: Vec<u8>,
    },
    /// Step output left out here, in bytes.
    Dropped(u64),
    Spinner(Option<String>),
    /// The person answered a prompt: the terminal's cursor is at a line
    /// start, though runsheet wrote no newline.
    LineStart,
}

#[derive(Default)]
struct Queue {
    items: VecDeque<Item>,
    /// Bytes of step output in `items`.
    held: usize,
    closed: bool,
    /// The writer has written everything and ended.
    finished: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    /// Signalled when items arrive (for the writer) and when the queue
    /// empties or the writer ends (for `close`).
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding the lock leaves a queue that is still sound.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The handle the terminal reporter writes through.
pub(crate) struct Screen {
    shared: Arc<Shared>,
    writer: Option<JoinHandle<()>>,
    /// Written here when no thread could be started: nothing is hidden,
    /// though a terminal that stops reading then stalls the run, and there
    /// is no spinner.
    inline: Option<Mutex<Writer>>,
}

impl Screen {
    /// `animate`: draw a spinner (stdout is a terminal).
    pub(crate) fn new(animate: bool) -> Self {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            changed: Condvar::new(),
        });
        let for_writer = Arc::clone(&shared);
        let writer = std::thread::Builder::new()
            .name("runsheet-screen".into())
            .spawn(move || Writer::new(animate).run(&for_writer))
            .ok();
        let inline = writer.is_none().then(|| Mutex::new(Writer::new(false)));
        Screen {
            shared,
            writer,
            inline,
        }
    }

    /// runsheet's own text: always shown, in order.
    pub(crate) fn text(&self, fd: Fd, bytes: Vec<u8>) {
        self.push(Item::Text { fd, bytes });
    }

    /// A step's output: left out (and counted) when too much is waiting for
    /// the terminal already.
    pub(crate) fn output(&self, bytes: Vec<u8>) {
        if self.inline.is_some() {
            return self.push(Item::Text { fd: Fd::Out, bytes });
        }
        let mut q = self.shared.lock();
        if q.held + bytes.len() > BUDGET {
            let n = bytes.len() as u64;
            match q.items.back_mut() {
                Some(Item::Dropped(total)) => *total += n,
                _ => q.items.push_back(Item::Dropped(n)),
            }
        } else {
            q.held += bytes.len();
            q.items.push_back(Item::Text { fd: Fd::Out, bytes });
        }
        drop(q);
        self.shared.changed.notify_all();
    }

    pub(crate) fn spinner(&self, label: Option<String>) {
        self.push(Item::Spinner(label));
    }

    pub(crate) fn line_start(&self) {
        self.push(Item::LineStart);
    }

    fn push(&self, item: Item) {
        if let Some(inline) = &self.inline {
            let mut writer = inline.lock().unwrap_or_else(|e| e.into_inner());
            writer.write(item);
            return writer.flush();
        }
        self.shared.lock().items.push_back(item);
        self.shared.changed.notify_all();
    }

    /// Waits until everything queued is written, or `give_up` says to stop
    /// waiting (asked every tick): a terminal that never reads again must
    /// not keep runsheet from exiting once it is told to.
    pub(crate) fn close(&mut self, mut give_up: impl FnMut() -> bool) {
        if self.writer.is_none() {
            return; // written as it came (see `inline`)
        }
        let mut q = self.shared.lock();
        q.closed = true;
        self.shared.changed.notify_all();
        while !q.finished {
            if give_up() {
                return;
            }
            q = match self.shared.changed.wait_timeout(q, TICK) {
                Ok((q, _)) => q,
                Err(e) => e.into_inner().0,
            };
        }
        drop(q);
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// A descriptor of its own for stdout or stderr, so a blocked write holds
/// no lock the rest of runsheet may want (`println!`, the exit-time flush).
fn own(fd: i32) -> Option<File> {
    // SAFETY: dup returns a new descriptor (or -1), which the File then owns.
    let copy = unsafe { libc::dup(fd) };
    (copy >= 0).then(|| unsafe { File::from_raw_fd(copy) })
}

/// The writer thread's view of the screen.
struct Writer {
    out: Option<BufWriter<File>>,
    err: Option<File>,
    animate: bool,
    /// The last byte written was a newline (or nothing was written yet).
    at_line_start: bool,
    spinner: Option<(String, Instant)>,
    /// The spinner is on screen now, on the current line.
    drawn: bool,
    frame: usize,
}

impl Writer {
    fn new(animate: bool) -> Self {
        Writer {
            out: own(1).map(|f| BufWriter::with_capacity(64 * 1024, f)),
            err: own(2),
            animate,
            at_line_start: true,
            spinner: None,
            drawn: false,
            frame: 0,
        }
    }

    fn run(mut self, shared: &Shared) {
        let mut next_tick = Instant::now() + TICK;
        loop {
            let mut q = shared.lock();
            let item = loop {
                if let Some(item) = q.items.pop_front() {
                    if let Item::Text { fd: Fd::Out, bytes } = &item {
                        q.held = q.held.saturating_sub(bytes.len());
                    }
                    break Some(item);
                }
                if q.closed {
                    break None;
                }
                let now = Instant::now();
                if now >= next_tick {
                    break None;
                }
                q = match shared.changed.wait_timeout(q, next_tick - now) {
                    Ok((q, _)) => q,
                    Err(e) => e.into_inner().0,
                };
            };
            let closing = item.is_none() && q.closed && q.items.is_empty();
            let empty = q.items.is_empty();
            drop(q);
            match item {
                Some(item) => self.write(item),
                None if closing => {
                    self.erase();
                    self.flush();
                    let mut q = shared.lock();
                    q.finished = true;
                    drop(q);
                    shared.changed.notify_all();
                    return;
                }
                None => {}
            }
            if empty {
                self.flush();
            }
            if Instant::now() >= next_tick {
                next_tick = Instant::now() + TICK;
                self.tick();
            }
        }
    }

    fn write(&mut self, item: Item) {
        match item {
            Item::Text { fd, bytes } => {
                if bytes.is_empty() {
                    return;
                }
                self.erase();
                self.put(fd, &bytes);
                if fd == Fd::Out {
                    self.at_line_start = bytes.ends_with(b"\n");
                }
            }
            Item::Dropped(n) => {
                self.erase();
                let mut text = String::new();
                if !self.at_line_start {
                    text.push('\n');
                }
                text.push_str(&format!(
                    "  … {} of output not shown: the terminal was not reading (the step's log has all of it)\n",
                    size(n)
                ));
                self.put(Fd::Out, text.as_bytes());
                self.at_line_start = true;
            }
            Item::Spinner(label) => {
                self.erase();
                self.spinner = label.map(|l| (l, Instant::now()));
            }
            Item::LineStart => {
                self.drawn = false;
                self.at_line_start = true;
            }
        }
    }

    fn put(&mut self, fd: Fd, bytes: &[u8]) {
        match fd {
            Fd::Out => {
                if let Some(out) = &mut self.out {
                    if out.write_all(bytes).is_err() {
                        // A closed pipe: nobody reads on; the run goes on.
                        self.out = None;
                    }
                }
            }
            Fd::Err => {
                self.flush();
                if let Some(err) = &mut self.err {
                    let _ = err.write_all(bytes);
                }
            }
        }
    }

    fn flush(&mut self) {
        if let Some(out) = &mut self.out {
            if out.flush().is_err() {
                self.out = None;
            }
        }
    }

    /// Takes the spinner off the screen (it stands alone on its line).
    fn erase(&mut self) {
        if self.drawn {
            self.drawn = false;
            self.put(Fd::Out, b"\r\x1b[2K");
        }
    }

    /// Draws the spinner, only on a line of its own.
    fn tick(&mut self) {
        if !self.animate || self.out.is_none() || !self.at_line_start {
            return;
        }
        let Some((label, since)) = &self.spinner else {
            return;
        };
        self.frame = (self.frame + 1) % FRAMES.len();
        let text = format!(
            "{} {label} {}",
            FRAMES[self.frame],
            elapsed(since.elapsed())
        );
        let width = console::Term::stdout().size().1 as usize;
        // One column short of the width: a line that fills it would wrap on
        // some terminals, and the erase would then miss its first row.
        let text = console::truncate_str(&text, width.saturating_sub(1).max(1), "…");
        let mut bytes = b"\r\x1b[2K".to_vec();
        bytes.extend_from_slice(text.as_bytes());
        self.put(Fd::Out, &bytes);
        self.flush();
        self.drawn = true;
    }
}

/// `7s`, `2m 5s`.
fn elapsed(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        format!("{s}s")
    } else {
        format!("{}m {}s", s / 60, s % 60)
    }
}

/// `512 bytes`, `3.2 MB`.
fn size(n: u64) -> String {
    if n < 1000 {
        format!("{n} bytes")
    } else if n < 1_000_000 {
        format!("{:.1} kB", n as f64 / 1e3)
    } else {
        format!("{:.1} MB", n as f64 / 1e6)
    }
}
