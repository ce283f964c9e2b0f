//! A step's output on its way out: `::add-mask::` lines taken out (their
//! values masked from then on), masked as a stream (a secret split across two
//! reads is still caught), and kept in memory only up to a cap.

use std::collections::VecDeque;
use std::os::fd::{AsRawFd, BorrowedFd};

use crate::secrets::{MaskStream, Redactor};

/// Bytes read from a pipe at once: what memory holds per stream besides the
/// capped capture. As large as the pipe (see [`widen`]), so a step that
/// prints faster than runsheet reads is read in few calls.
pub(crate) const CHUNK: usize = PIPE_SIZE;

/// What a step's output pipe is asked to hold. The default 64 KiB fills
/// sixteen times per MiB a fast step prints, each time a wake-up of the
/// step's writer and one more poll and read here; 1 MiB is the largest size
/// an unprivileged process may ask for by default (`/proc/sys/fs/pipe-max-size`).
const PIPE_SIZE: usize = 1024 * 1024;

/// Asks the kernel for a larger buffer on the pipe `fd` is an end of. A
/// refusal (a user over the pipe quota, another kernel) leaves the pipe as
/// it was: only speed depends on it.
pub(crate) fn widen(fd: BorrowedFd<'_>) {
    #[cfg(target_os = "linux")]
    {
        let size = libc::c_int::try_from(PIPE_SIZE).unwrap_or(libc::c_int::MAX);
        // SAFETY: fcntl on a descriptor the caller keeps open; F_SETPIPE_SZ
        // takes an int and changes nothing on failure.
        unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, size) };
    }
    #[cfg(not(target_os = "linux"))]
    let _ = fd;
}

/// Masks secrets in a byte stream arriving in pieces (see [`MaskStream`]).
pub(crate) struct Masker(MaskStream);

impl Masker {
    pub(crate) fn new(redactor: &Redactor) -> Self {
        Masker(redactor.stream())
    }

    /// Masks what can be decided now and appends it to `out`.
    pub(crate) fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        self.0.push(chunk, out);
    }

    /// What can be decided now, masked: `chunk` itself when it needs no
    /// change, else `out` (cleared first) holds it (see [`MaskStream::filter`]).
    pub(crate) fn filter<'a>(&mut self, chunk: &'a [u8], out: &'a mut Vec<u8>) -> &'a [u8] {
        self.0.filter(chunk, out)
    }

    /// End of stream: everything still held back is decided and appended.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) {
        self.0.finish(out);
    }

    /// Masks `value` (each of its lines) from now on.
    pub(crate) fn add(&mut self, value: &str) {
        self.0.add(value);
    }
}

/// The workflow command of GitHub Actions that runsheet honours.
const ADD_MASK: &[u8] = b"::add-mask::";

/// Longest `::add-mask::` value kept: a longer line is still taken out of the
/// output, and its value cut here.
const MAX_MASK_LINE: usize = 64 * 1024;

/// Takes `::add-mask::VALUE` lines (after optional blanks, as GitHub reads
/// them) out of a byte stream and collects their values. Other lines pass at
/// once; only the start of a line that may still turn out to be the command
/// is held back.
#[derive(Default)]
pub(crate) struct AddMask {
    /// Inside a line: the next byte does not start one.
    mid_line: bool,
    /// The start of the current line, while it may be the command.
    held: Vec<u8>,
    /// Inside a command line: `held` collects its value.
    in_command: bool,
}

/// What the start of a line says so far.
enum Start {
    More,
    Command(usize),
    Plain,
}

/// How many bytes from the start of `bytes` pass as they are: up to the first
/// line that starts with `:` or a blank (it may be the command). Also whether
/// the byte after them starts a line.
fn plain_prefix(bytes: &[u8], at_line_start: bool) -> (usize, bool) {
    let Some(&first) = bytes.first() else {
        return (0, at_line_start);
    };
    if at_line_start && may_start_command(first) {
        return (0, true);
    }
    let from = plain_blocks(bytes);
    let at = bytes[from..]
        .windows(2)
        .position(|w| w[0] == b'\n' && may_start_command(w[1]))
        .map_or(bytes.len(), |i| from + i + 1);
    if at < bytes.len() {
        return (at, true);
    }
    (bytes.len(), bytes[bytes.len() - 1] == b'\n')
}

/// Where the first block of [`BLOCK`] bytes starts in which a line may
/// start with the command: everything before it is plain. Fixed blocks of
/// byte pairs without an early exit, which the compiler turns into vector
/// code: a step printing a gigabyte spent a third of runsheet's time here, a
/// byte at a time. With AVX2, where the processor has it, the blocks take
/// half the instructions the baseline's SSE2 needs.
fn plain_blocks(bytes: &[u8]) -> usize {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the processor was just seen to have AVX2 (std caches the
        // answer).
        return unsafe { plain_blocks_avx2(bytes) };
    }
    plain_blocks_here(bytes)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn plain_blocks_avx2(bytes: &[u8]) -> usize {
    plain_blocks_here(bytes)
}

const BLOCK: usize = 64;

#[inline(always)]
fn plain_blocks_here(bytes: &[u8]) -> usize {
    let mut from = 0;
    while let Some(block) = bytes.get(from..from + BLOCK + 1) {
        let block: &[u8; BLOCK + 1] = block.try_into().unwrap_or(&[0; BLOCK + 1]);
        let mut hit = 0u8;
        for i in 0..BLOCK {
            let b = block[i + 1];
            let starts = u8::from(b == b':') | u8::from(b == b' ') | u8::from(b == b'\t');
            hit |= u8::from(block[i] == b'\n') & starts;
        }
        if hit != 0 {
            break;
        }
        from += BLOCK;
    }
    from
}

/// A line starting with this byte may turn out to be `::add-mask::`.
fn may_start_command(b: u8) -> bool {
    matches!(b, b':' | b' ' | b'\t')
}

fn line_start(held: &[u8]) -> Start {
    let blanks = held
        .iter()
        .take_while(|b| matches!(b, b' ' | b'\t'))
        .count();
    let rest = &held[blanks..];
    if rest.len() >= ADD_MASK.len() {
        if rest.starts_with(ADD_MASK) {
            Start::Command(blanks + ADD_MASK.len())
        } else {
            Start::Plain
        }
    } else if ADD_MASK.starts_with(rest) {
        Start::More
    } else {
        Start::Plain
    }
}

impl AddMask {
    /// What is not a command, as [`push`](Self::push) gives it: `bytes`
    /// itself when no line in it may be the command and nothing is held
    /// back from before — most output, which then passes without a copy —
    /// else `out`, cleared first.
    pub(crate) fn filter<'a>(
        &mut self,
        bytes: &'a [u8],
        out: &'a mut Vec<u8>,
        values: &mut Vec<String>,
    ) -> &'a [u8] {
        out.clear();
        if self.in_command || !self.held.is_empty() {
            self.push(bytes, out, values);
            return out;
        }
        let (n, at_line_start) = plain_prefix(bytes, !self.mid_line);
        self.mid_line = !at_line_start;
        if n == bytes.len() {
            return bytes;
        }
        // The plain start is copied once; `push` goes on from the line that
        // may be the command.
        out.extend_from_slice(&bytes[..n]);
        self.push(&bytes[n..], out, values);
        out
    }

    /// Appends to `out` what is not a command; pushes each command's value
    /// to `values`.
    pub(crate) fn push(&mut self, mut bytes: &[u8], out: &mut Vec<u8>, values: &mut Vec<String>) {
        while !bytes.is_empty() {
            if self.in_command {
                let end = bytes.iter().position(|&b| b == b'\n');
                let (value, rest) = match end {
                    Some(i) => (&bytes[..i], &bytes[i + 1..]),
                    None => (bytes, &[][..]),
                };
                let room = MAX_MASK_LINE.saturating_sub(self.held.len());
                self.held.extend_from_slice(&value[..value.len().min(room)]);
                bytes = rest;
                if end.is_some() {
                    values.push(self.take_value());
                }
            } else if self.held.is_empty() {
                // Copy at once every line that cannot be the command.
                let (n, at_line_start) = plain_prefix(bytes, !self.mid_line);
                out.extend_from_slice(&bytes[..n]);
                bytes = &bytes[n..];
                self.mid_line = !at_line_start;
                if !bytes.is_empty() {
                    self.decide(bytes[0], out);
                    bytes = &bytes[1..];
                }
            } else {
                self.decide(bytes[0], out);
                bytes = &bytes[1..];
            }
        }
    }

    /// One more byte of a line start that may be the command.
    fn decide(&mut self, b: u8, out: &mut Vec<u8>) {
        if b == b'\n' {
            out.extend_from_slice(&self.held);
            out.push(b);
            self.held.clear();
            self.mid_line = false;
            return;
        }
        self.held.push(b);
        match line_start(&self.held) {
            Start::More => {}
            Start::Command(at) => {
                self.held.drain(..at);
                self.in_command = true;
            }
            Start::Plain => {
                out.append(&mut self.held);
                self.mid_line = true;
            }
        }
    }

    /// End of stream: a last command without a newline still counts; the
    /// start of a line still held is output.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>, values: &mut Vec<String>) {
        if self.in_command {
            values.push(self.take_value());
        } else {
            out.append(&mut self.held);
        }
    }

    fn take_value(&mut self) -> String {
        self.in_command = false;
        let raw = String::from_utf8_lossy(&self.held).into_owned();
        self.held.clear();
        unescape(raw.strip_suffix('\r').unwrap_or(&raw))
    }
}

/// GitHub's escaping of a workflow command's data: `%25` `%0D` `%0A`.
fn unescape(value: &str) -> String {
    value
        .replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%25", "%")
}

/// The last `cap` bytes of a stream.
pub(crate) struct Tail {
    buf: VecDeque<u8>,
    cap: usize,
    pub(crate) truncated: bool,
}

impl Tail {
    pub(crate) fn new(cap: usize) -> Self {
        Tail {
            buf: VecDeque::new(),
            cap,
            truncated: false,
        }
    }

    pub(crate) fn push(&mut self, bytes: &[u8]) {
        let bytes = if bytes.len() > self.cap {
            self.truncated = true;
            &bytes[bytes.len() - self.cap..]
        } else {
            bytes
        };
        let over = (self.buf.len() + bytes.len()).saturating_sub(self.cap);
        if over > 0 {
            self.truncated = true;
            self.buf.drain(..over);
        }
        self.buf.extend(bytes);
    }

    pub(crate) fn into_vec(self) -> Vec<u8> {
        self.buf.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(pieces: &[&str]) -> (String, Vec<String>, Vec<String>) {
        let mut f = AddMask::default();
        let mut all = Vec::new();
        let mut emitted = Vec::new();
        let mut values = Vec::new();
        for p in pieces {
            let mut out = Vec::new();
            f.push(p.as_bytes(), &mut out, &mut values);
            emitted.push(String::from_utf8(out.clone()).unwrap());
            all.extend(out);
        }
        f.finish(&mut all, &mut values);
        (String::from_utf8(all).unwrap(), emitted, values)
    }

    /// The byte-at-a-time reading the block version replaced.
    fn plain_prefix_simple(bytes: &[u8], mut at_line_start: bool) -> (usize, bool) {
        for (i, &b) in bytes.iter().enumerate() {
            if at_line_start && may_start_command(b) {
                return (i, true);
            }
            at_line_start = b == b'\n';
        }
        (bytes.len(), at_line_start)
    }

    #[test]
    fn plain_prefix_agrees_with_a_byte_at_a_time() {
        let mut texts: Vec<Vec<u8>> = vec![Vec::new(), b"\n".to_vec(), b":".to_vec()];
        for len in [1usize, 2, 63, 64, 65, 66, 127, 128, 129, 300] {
            for at in [0, 1.min(len - 1), len / 2, len.saturating_sub(2), len - 1] {
                for mark in [b':', b' ', b'\t', b'x'] {
                    let mut t = vec![b'y'; len];
                    for i in (1..len).step_by(2) {
                        t[i] = b'\n';
                    }
                    t[at] = mark;
                    if at > 0 {
                        t[at - 1] = b'\n';
                    }
                    texts.push(t);
                }
            }
        }
        for t in &texts {
            // Both builds of the block scan, whichever one runs here.
            assert_eq!(plain_blocks(t), plain_blocks_here(t), "{t:?}");
            for start in [false, true] {
                assert_eq!(
                    plain_prefix(t, start),
                    plain_prefix_simple(t, start),
                    "{t:?}"
                );
            }
        }
    }

    #[test]
    fn add_mask_lines_are_taken_out_and_their_values_kept() {
        let (all, _, values) = filter(&[
            "before\n::add-mask::s3cret-1\n  ::add-mask::two%0Alines\r\nafter ::add-mask::no\n",
        ]);
        assert_eq!(all, "before\nafter ::add-mask::no\n");
        assert_eq!(values, ["s3cret-1", "two\nlines"]);
    }

    #[test]
    fn add_mask_split_across_reads_and_unfinished_at_end() {
        let (all, emitted, values) =
            filter(&[":", ":add-m", "ask::abc", "def\nok\n::add-mask::last"]);
        assert_eq!(all, "ok\n");
        assert_eq!(emitted, ["", "", "", "ok\n"]);
        assert_eq!(values, ["abcdef", "last"]);
    }

    #[test]
    fn pieces_or_whole_give_the_same_result() {
        use proptest::prelude::*;
        let alphabet = prop_oneof![
            Just("::add-mask::"),
            Just(":"),
            Just(" "),
            Just("\n"),
            Just("ab"),
            Just("\r"),
        ];
        proptest!(|(parts in proptest::collection::vec(alphabet, 0..30),
                    cuts in proptest::collection::vec(0usize..200, 0..6))| {
            let text: String = parts.concat();
            let whole = filter(&[&text]);
            let mut cuts = cuts;
            cuts.retain(|&c| c <= text.len());
            cuts.sort();
            let mut pieces = Vec::new();
            let mut at = 0;
            for c in cuts.into_iter().chain([text.len()]) {
                pieces.push(&text[at..c]);
                at = c;
            }
            let split = filter(&pieces);
            prop_assert_eq!((&whole.0, &whole.2), (&split.0, &split.2));
        });
    }

    /// `filter` gives what `push` gives, piece by piece, and passes a
    /// piece through uncopied exactly when `push` would copy it unchanged.
    #[test]
    fn filter_agrees_with_push_and_borrows_plain_pieces() {
        use proptest::prelude::*;
        let alphabet = prop_oneof![
            Just("::add-mask::"),
            Just(":"),
            Just(" "),
            Just("\t"),
            Just("\n"),
            Just("ab"),
        ];
        proptest!(|(parts in proptest::collection::vec(alphabet, 0..30),
                    cuts in proptest::collection::vec(0usize..200, 0..6))| {
            let text: String = parts.concat();
            let mut cuts = cuts;
            cuts.retain(|&c| c <= text.len());
            cuts.sort();
            let (mut pushed, mut filtered) = (AddMask::default(), AddMask::default());
            let (mut pv, mut fv) = (Vec::new(), Vec::new());
            let mut scratch = Vec::new();
            let mut at = 0;
            for c in cuts.into_iter().chain([text.len()]) {
                let piece = &text.as_bytes()[at..c];
                at = c;
                let mut want = Vec::new();
                pushed.push(piece, &mut want, &mut pv);
                let got = filtered.filter(piece, &mut scratch, &mut fv);
                prop_assert_eq!(got, &want[..]);
                if got.as_ptr() == piece.as_ptr() {
                    prop_assert_eq!(got, piece);
                }
                prop_assert_eq!(&pv, &fv);
            }
        });
        let mut f = AddMask::default();
        let mut out = Vec::new();
        let piece = b"y\ny\nno command here\n";
        let got = f.filter(piece, &mut out, &mut Vec::new());
        assert_eq!(got.as_ptr(), piece.as_ptr(), "a plain piece is not copied");
        let piece = b"y\n::add-mask::abcd\nz\n";
        let got = f.filter(piece, &mut out, &mut Vec::new()).to_vec();
        assert_eq!(got, b"y\nz\n");
    }

    #[test]
    fn only_a_possible_command_is_held_back() {
        let (all, emitted, values) = filter(&["Continue? ", "y\n:", ": not one\n", "::ad"]);
        assert_eq!(emitted, ["Continue? ", "y\n", ":: not one\n", ""]);
        assert_eq!(all, "Continue? y\n:: not one\n::ad");
        assert!(values.is_empty());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_widened_pipe_holds_a_chunk() {
        use std::os::fd::AsFd;
        let (r, _w) = std::io::pipe().unwrap();
        // SAFETY: F_GETPIPE_SZ on a pipe we hold.
        let size = || unsafe { libc::fcntl(r.as_raw_fd(), libc::F_GETPIPE_SZ) };
        let before = size();
        widen(r.as_fd());
        let max: usize = std::fs::read_to_string("/proc/sys/fs/pipe-max-size")
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0);
        if max >= PIPE_SIZE {
            assert_eq!(usize::try_from(size()).unwrap(), PIPE_SIZE, "from {before}");
        } else {
            assert_eq!(size(), before);
        }
    }

    #[test]
    fn tail_keeps_the_last_bytes() {
        let mut t = Tail::new(5);
        t.push(b"abc");
        assert!(!t.truncated);
        t.push(b"defg");
        t.push(b"h");
        assert!(t.truncated);
        assert_eq!(t.into_vec(), b"defgh");
        let mut t = Tail::new(3);
        t.push(b"abcdef");
        assert_eq!(t.into_vec(), b"def");
    }
}
