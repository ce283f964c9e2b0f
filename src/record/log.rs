//! A step's log on disk, bounded whatever the step prints: past the cap
//! (`--max-log`, default [`MAX_LOG`]) the log keeps its first half and its
//! last half, with a line in between that says how many bytes were left out.
//!
//! The head is written straight into the log. Past it, output goes to a ring
//! in memory that holds the last half of the cap; when the step ends the ring
//! is written after the head. A step printing gigabytes costs one copy of
//! each byte into the ring, not a write of each byte to disk: the ring is as
//! large as the tail the log keeps, which had to be read back into memory at
//! the end anyway when it was kept in files.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::ops::Range;
use std::path::Path;

/// Default cap of one step's log (SPEC §3).
pub const MAX_LOG: u64 = 64 * 1024 * 1024;

/// How far into the tail the cut looks for a line start.
const LINE_SEARCH: usize = 64 * 1024;

/// Writes a step's log, keeping head and tail within `cap` bytes.
#[derive(Debug)]
pub struct LogWriter {
    out: BufWriter<File>,
    head_room: u64,
    /// The head ended in a newline (the drop note starts on a line of its own).
    head_newline: bool,
    tail_cap: u64,
    tail: Option<Ring>,
    finished: bool,
}

/// The last bytes of the output past the head, `cap` at most: filled, then
/// written over from its start, `next` being where the oldest byte is.
#[derive(Debug)]
struct Ring {
    /// `cap` bytes, zeroed by the system as each page is first written: a
    /// tail starts only after half the cap was printed, and growing by
    /// doubling would briefly hold 1.5 rings.
    bytes: Vec<u8>,
    /// How many of `bytes` hold output.
    filled: usize,
    next: usize,
    /// Bytes that went into the tail in all.
    written: u64,
}

impl Ring {
    fn new(cap: u64) -> Ring {
        let cap = usize::try_from(cap).unwrap_or(usize::MAX);
        Ring {
            bytes: vec![0; cap],
            filled: 0,
            next: 0,
            written: 0,
        }
    }

    fn push(&mut self, mut bytes: &[u8]) {
        self.written += bytes.len() as u64;
        let cap = self.bytes.len();
        if bytes.len() >= cap {
            copy_streaming(&mut self.bytes, &bytes[bytes.len() - cap..]);
            self.filled = cap;
            self.next = 0;
            return;
        }
        if self.filled < cap {
            let n = (cap - self.filled).min(bytes.len());
            copy_streaming(&mut self.bytes[self.filled..self.filled + n], &bytes[..n]);
            self.filled += n;
            bytes = &bytes[n..];
        }
        while !bytes.is_empty() {
            let n = (cap - self.next).min(bytes.len());
            copy_streaming(&mut self.bytes[self.next..self.next + n], &bytes[..n]);
            self.next = (self.next + n) % cap;
            bytes = &bytes[n..];
        }
    }

    /// Where the kept bytes are, oldest first, in two pieces.
    fn ranges(&self) -> (Range<usize>, Range<usize>) {
        (self.next..self.filled, 0..self.next)
    }

    /// The kept bytes, oldest first, in two pieces.
    #[cfg(test)]
    fn pieces(&self) -> (&[u8], &[u8]) {
        let (older, newer) = self.ranges();
        (&self.bytes[older], &self.bytes[newer])
    }
}

/// Copies below this size go through the cache like any other.
const STREAMING: usize = 16 * 1024;

/// `dst.copy_from_slice(src)`, but a large copy bypasses the processor's
/// caches. A step printing gigabytes sends every byte through the ring, which
/// is read again only when the step ends: through the cache, each copy
/// evicted what the step's own processes were working on (the ring is as
/// large as a whole L3 cache): a step printing 1 GB ran 1.5-5 % slower.
fn copy_streaming(dst: &mut [u8], src: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    if src.len() >= STREAMING {
        return copy_streaming_sse2(dst, src);
    }
    dst.copy_from_slice(src);
}

/// SSE2 is part of every x86_64 processor.
#[cfg(target_arch = "x86_64")]
fn copy_streaming_sse2(dst: &mut [u8], src: &[u8]) {
    use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_sfence, _mm_stream_si128};
    assert_eq!(dst.len(), src.len(), "a copy takes equal lengths");
    const LANE: usize = 16;
    // Streaming stores need an aligned target: the bytes before the first
    // 16-byte boundary, and those after the last whole 64, are copied as usual.
    let lead = dst.as_ptr().align_offset(LANE).min(dst.len());
    dst[..lead].copy_from_slice(&src[..lead]);
    let body = (dst.len() - lead) / (4 * LANE) * (4 * LANE);
    let (to, from) = (dst[lead..].as_mut_ptr(), src[lead..].as_ptr());
    let mut at = 0;
    while at < body {
        // SAFETY: `at + 64 <= body`, and `lead + body` is within both
        // slices (their lengths are equal); `to + at` is 16-byte aligned
        // (`lead` made it so, and `at` moves in 64s); loads may be unaligned.
        unsafe {
            let s = from.add(at).cast::<__m128i>();
            let d = to.add(at).cast::<__m128i>();
            let (a, b, c, e) = (
                _mm_loadu_si128(s),
                _mm_loadu_si128(s.add(1)),
                _mm_loadu_si128(s.add(2)),
                _mm_loadu_si128(s.add(3)),
            );
            _mm_stream_si128(d, a);
            _mm_stream_si128(d.add(1), b);
            _mm_stream_si128(d.add(2), c);
            _mm_stream_si128(d.add(3), e);
        }
        at += 4 * LANE;
    }
    // Streaming stores are weakly ordered: fence them before anything else
    // (the final write of the tail) reads the ring.
    // SAFETY: a fence has no preconditions; SSE is part of every x86_64.
    unsafe { _mm_sfence() };
    dst[lead + body..].copy_from_slice(&src[lead + body..]);
}

impl LogWriter {
    /// Creates (truncates) the log at `path`.
    pub fn create(path: &Path, cap: u64) -> io::Result<Self> {
        let cap = cap.max(2);
        Ok(LogWriter {
            out: BufWriter::with_capacity(64 * 1024, File::create(path)?),
            head_room: cap / 2,
            head_newline: true,
            tail_cap: cap - cap / 2,
            tail: None,
            finished: false,
        })
    }

    /// Ends the log: the tail goes after the head, with the note of what was
    /// left out. Returns how many bytes were left out (0: the log is whole).
    pub fn finish(&mut self) -> io::Result<u64> {
        if self.finished {
            return Ok(0);
        }
        self.finished = true;
        let Some(tail) = self.tail.take() else {
            self.out.flush()?;
            return Ok(0);
        };
        let (older, newer) = tail.ranges();
        // Start the tail at a line start when one is near.
        let cut = tail.bytes[older.clone()]
            .iter()
            .chain(&tail.bytes[newer.clone()])
            .take(LINE_SEARCH)
            .position(|&b| b == b'\n')
            .map_or(0, |nl| nl + 1);
        let from_older = cut.min(older.len());
        let older = older.start + from_older..older.end;
        let newer = newer.start + (cut - from_older)..newer.end;
        let shown = (older.len() + newer.len()) as u64;
        let dropped = tail.written - shown;
        let note = drop_note(dropped, self.head_newline);
        self.out.write_all(note.as_bytes())?;
        let mut bytes = tail.bytes;
        for range in [older, newer] {
            write_releasing(&mut self.out, &mut bytes, range)?;
        }
        self.out.flush()?;
        Ok(dropped)
    }

    fn tail_write(&mut self, bytes: &[u8]) {
        let cap = self.tail_cap;
        self.tail.get_or_insert_with(|| Ring::new(cap)).push(bytes);
    }
}

/// How much of the tail is written at once before its memory is given back.
const RELEASE: usize = 1024 * 1024;

/// Writes `bytes[range]` to `out`, handing each piece's memory back to the
/// system once written. The page cache then takes the pages just given back
/// for the next piece. New pages cost far more than reused ones where memory
/// the system has not touched lately is slow to fault in, as in a virtual
/// machine that hands its free memory back to the host: there, writing the
/// 32 MiB tail to a new file took 55-75 ms, and 10 ms into pages just freed.
fn write_releasing(out: &mut impl Write, bytes: &mut [u8], range: Range<usize>) -> io::Result<()> {
    let mut at = range.start;
    while at < range.end {
        let piece = at..range.end.min(at + RELEASE);
        out.write_all(&bytes[piece.clone()])?;
        release(&mut bytes[piece.clone()]);
        at = piece.end;
    }
    Ok(())
}

/// Gives the whole pages inside `bytes` back to the system; they read as
/// zeros from then on (Linux; elsewhere nothing happens).
fn release(bytes: &mut [u8]) {
    #[cfg(target_os = "linux")]
    {
        // The system's own page size: madvise rounds the length up to it,
        // so a smaller guess (4 KiB where pages are 64 KiB) would zero bytes
        // past `bytes`.
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        let Ok(page) = usize::try_from(page) else {
            return;
        };
        if page == 0 {
            return;
        }
        let start = bytes.as_mut_ptr() as usize;
        let first = start.next_multiple_of(page);
        let end = (start + bytes.len()) / page * page;
        if end > first {
            // SAFETY: the pages lie inside `bytes`, which we hold exclusively;
            // MADV_DONTNEED on private anonymous memory only makes them read
            // as zeros, a valid value for bytes.
            unsafe {
                libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_DONTNEED);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = bytes;
}

/// The line standing where output was left out.
fn drop_note(dropped: u64, at_line_start: bool) -> String {
    format!(
        "{}[runsheet: {dropped} bytes of output left out here; the log keeps its first and last part \
         (--max-log)]\n",
        if at_line_start { "" } else { "\n" }
    )
}

impl Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if self.finished {
            return Err(io::Error::other("the log is finished"));
        }
        let head = (self.head_room.min(bytes.len() as u64)) as usize;
        if head > 0 {
            self.out.write_all(&bytes[..head])?;
            self.head_room -= head as u64;
            self.head_newline = bytes[head - 1] == b'\n';
        }
        if head < bytes.len() {
            self.tail_write(&bytes[head..]);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl Drop for LogWriter {
    /// A log dropped unfinished (a background step's, an error path) is
    /// finished as well as it can be.
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

/// `64MiB`, `500K`, `1G`, `4096`: a size for `--max-log`. Units are powers
/// of 1024 (`K`, `KB`, `KiB` alike); at least 1 KiB.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let bad = || format!("{text:?} is not a size (try 64MiB, 500K, 1G)");
    let n: u64 = number.parse().map_err(|_| bad())?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return Err(bad()),
    };
    let size = n.checked_mul(1 << shift).ok_or_else(bad)?;
    if size < 1024 {
        return Err(format!("{text:?} is too small: a log keeps at least 1KiB"));
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn write_all(path: &Path, cap: u64, chunks: impl Iterator<Item = Vec<u8>>) -> u64 {
        let mut log = LogWriter::create(path, cap).unwrap();
        for chunk in chunks {
            log.write_all(&chunk).unwrap();
        }
        log.finish().unwrap()
    }

    #[test]
    fn a_log_under_the_cap_is_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("1-a.log");
        let dropped = write_all(&path, 1024, (0..10).map(|i| format!("{i}\n").into_bytes()));
        assert_eq!(dropped, 0);
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "0\n1\n2\n3\n4\n5\n6\n7\n8\n9\n"
        );
    }

    #[test]
    fn past_the_cap_head_and_tail_stay_with_a_note_between() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("1-a.log");
        let lines = (0..100_000).map(|i| format!("line {i:06}\n").into_bytes());
        let total = 100_000 * 12;
        let dropped = write_all(&path, 4096, lines);
        let text = fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("line 000000\nline 000001\n"),
            "{}",
            &text[..40]
        );
        assert!(text.ends_with("line 099998\nline 099999\n"));
        let note = format!("[runsheet: {dropped} bytes of output left out here;");
        assert!(text.contains(&note), "{text}");
        // The head (2048 bytes) ends inside a 12-byte line.
        let kept = text.len() as u64 - (drop_note(dropped, false).len() as u64);
        assert_eq!(kept + dropped, total);
        assert!(text.len() < 4096 + 200, "{}", text.len());
    }

    /// The ring is written over many times; what comes out is exactly the
    /// newest bytes, from a line start, in order.
    #[test]
    fn a_ring_written_over_gives_back_only_the_newest_bytes() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("1-a.log");
        let n = 300_000; // 3.6 MB through a 2 KiB ring
        let lines = (0..n).map(|i| format!("line {i:06}\n").into_bytes());
        let dropped = write_all(&path, 4096, lines);
        let text = fs::read_to_string(&path).unwrap();
        let tail = text.split_once("(--max-log)]\n").unwrap().1;
        let first: usize = tail[5..11].parse().unwrap();
        let want: String = (first..n).map(|i| format!("line {i:06}\n")).collect();
        assert_eq!(tail, want);
        assert!(
            tail.len() <= 2048 && tail.len() > 2048 - 12,
            "{}",
            tail.len()
        );
        let head = text.len() - tail.len() - drop_note(dropped, false).len();
        assert_eq!(head as u64 + tail.len() as u64 + dropped, n as u64 * 12);
    }

    /// A tail of several pieces of [`RELEASE`], written from a ring that
    /// wrapped mid-piece, comes out whole and in order.
    #[test]
    fn a_streaming_copy_copies_what_a_plain_one_does() {
        let src: Vec<u8> = (0..STREAMING + 300)
            .map(|i| (i * 7 + i / 251) as u8)
            .collect();
        for offset in 0..20 {
            for len in (STREAMING - 2..STREAMING + 130).chain([0, 1, 64, STREAMING * 2 - offset]) {
                let len = len.min(src.len() - 17);
                let mut ours = vec![0xAAu8; STREAMING * 2 + 40];
                let mut plain = ours.clone();
                let from = &src[offset * 5 % 17..][..len];
                copy_streaming(&mut ours[offset..offset + len], from);
                plain[offset..offset + len].copy_from_slice(from);
                assert!(ours == plain, "offset {offset}, length {len}");
            }
        }
    }

    #[test]
    fn a_tail_larger_than_a_piece_is_written_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("1-a.log");
        let n = 900_000; // 10.8 MB of lines through a 3 MiB tail
        let lines = (0..n).map(|i| format!("line {i:06}\n").into_bytes());
        let chunks: Vec<Vec<u8>> = lines
            .collect::<Vec<_>>()
            .chunks(7_001)
            .map(|c| c.concat())
            .collect();
        let dropped = write_all(&path, 6 * 1024 * 1024, chunks.into_iter());
        let text = fs::read_to_string(&path).unwrap();
        let tail = text.split_once("(--max-log)]\n").unwrap().1;
        let first: usize = tail[5..11].parse().unwrap();
        let want: String = (first..n).map(|i| format!("line {i:06}\n")).collect();
        assert!(tail.len() >= 3 * 1024 * 1024 - 12, "{}", tail.len());
        assert!(tail == want, "the tail differs from the last lines");
        assert!(dropped > 0);
    }

    #[test]
    fn writes_of_any_size_keep_the_last_bytes_in_order() {
        let mut ring = Ring::new(10);
        let mut all = Vec::new();
        for chunk in [
            &b"abc"[..],
            b"defghij",
            b"k",
            b"lmnopqrstuvwxyz0123",
            b"45",
            b"6789ABCDE",
        ] {
            ring.push(chunk);
            all.extend_from_slice(chunk);
            let (older, newer) = ring.pieces();
            let kept = [older, newer].concat();
            let want = &all[all.len().saturating_sub(10)..];
            assert_eq!(kept, want, "after {:?}", String::from_utf8_lossy(chunk));
        }
        assert_eq!(ring.written, all.len() as u64);
    }

    #[test]
    fn the_disk_holds_only_the_head_while_a_step_prints() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("1-big.log");
        let mut log = LogWriter::create(&path, 4 * 1024 * 1024).unwrap();
        let chunk = vec![b'x'; 64 * 1024];
        let mut most = 0;
        for _ in 0..400 {
            log.write_all(&chunk).unwrap();
            let used: u64 = fs::read_dir(tmp.path())
                .unwrap()
                .map(|e| e.unwrap().metadata().unwrap().len())
                .sum();
            most = most.max(used);
        }
        let dropped = log.finish().unwrap();
        assert!(
            most <= 2 * 1024 * 1024,
            "{most} bytes on disk for a 4 MiB cap"
        );
        assert_eq!(dropped, 400 * 64 * 1024 - 4 * 1024 * 1024);
        assert!(fs::metadata(&path).unwrap().len() < 4 * 1024 * 1024 + 200);
        let leftovers: Vec<_> = fs::read_dir(tmp.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "nothing beside the log");
    }

    #[test]
    fn a_head_cut_mid_line_gets_its_own_line_for_the_note() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("1-a.log");
        let dropped = write_all(&path, 2048, std::iter::once(vec![b'y'; 10_000]));
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains("y\n[runsheet: "), "{text}");
        assert_eq!(dropped, 10_000 - 2048);
    }

    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("500K"), Ok(500 << 10));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("12").unwrap_err().contains("too small"));
        assert!(parse_size("lots").unwrap_err().contains("not a size"));
        assert!(parse_size("5T").is_err());
    }
}
