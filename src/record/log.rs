//! A step's log on disk, bounded whatever the step prints: past the cap
//! (`--max-log`, default [`MAX_LOG`]) the log keeps its first half and its
//! last half, with a line in between that says how many bytes were left out.
//!
//! The head is written straight into the log. Past it, output goes to a few
//! segment files beside the log, the oldest deleted as soon as the newer ones
//! hold a whole tail, so the disk holds about the cap at any moment; when the
//! step ends the tail is copied after the head and the segments go.

use std::collections::VecDeque;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Default cap of one step's log (SPEC §3).
pub const MAX_LOG: u64 = 64 * 1024 * 1024;

/// Smallest segment of the tail: a step printing gigabytes must not make
/// millions of files when the cap is small.
const MIN_SEGMENT: u64 = 1024 * 1024;

/// How far into the tail the cut looks for a line start.
const LINE_SEARCH: usize = 64 * 1024;

/// Writes a step's log, keeping head and tail within `cap` bytes.
#[derive(Debug)]
pub struct LogWriter {
    path: PathBuf,
    out: BufWriter<File>,
    head_room: u64,
    /// The head ended in a newline (the drop note starts on a line of its own).
    head_newline: bool,
    tail_cap: u64,
    tail: Option<Segments>,
    finished: bool,
}

/// The tail while the step runs: segment files, oldest first.
#[derive(Debug)]
struct Segments {
    files: VecDeque<(PathBuf, BufWriter<File>, u64)>,
    size: u64,
    next: usize,
    /// Bytes written to the tail, in all segments ever made.
    written: u64,
    /// Segments whose bytes are no longer needed, kept to be written over:
    /// cheaper than deleting one file and making another (no blocks to free
    /// and allocate again) when a step prints gigabytes.
    spare: Vec<(PathBuf, BufWriter<File>)>,
}

impl LogWriter {
    /// Creates (truncates) the log at `path`.
    pub fn create(path: &Path, cap: u64) -> io::Result<Self> {
        let cap = cap.max(2);
        Ok(LogWriter {
            path: path.to_path_buf(),
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
        let Some(mut tail) = self.tail.take() else {
            self.out.flush()?;
            return Ok(0);
        };
        for (_, file, _) in &mut tail.files {
            file.flush()?;
        }
        let result = self.splice(&tail);
        let spare = tail.spare.iter().map(|(path, _)| path);
        for path in tail.files.iter().map(|(path, _, _)| path).chain(spare) {
            let _ = fs::remove_file(path);
        }
        result
    }

    /// Copies the last `tail_cap` bytes of the segments after the note.
    fn splice(&mut self, tail: &Segments) -> io::Result<u64> {
        let kept: u64 = tail.files.iter().map(|(_, _, len)| len).sum();
        let mut skip = kept.saturating_sub(self.tail_cap);
        let mut bytes = Vec::with_capacity(self.tail_cap.min(kept) as usize);
        for (path, _, len) in &tail.files {
            if skip >= *len {
                skip -= len;
                continue;
            }
            let mut file = File::open(path)?;
            file.seek(SeekFrom::Start(skip))?;
            // A segment written over may hold older bytes past its length.
            file.take(len - skip).read_to_end(&mut bytes)?;
            skip = 0;
        }
        // Start the tail at a line start when one is near.
        let cut = bytes[..bytes.len().min(LINE_SEARCH)]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(0, |nl| nl + 1);
        let shown = &bytes[cut..];
        let dropped = tail.written - shown.len() as u64;
        let note = drop_note(dropped, self.head_newline);
        self.out.write_all(note.as_bytes())?;
        self.out.write_all(shown)?;
        self.out.flush()?;
        Ok(dropped)
    }

    fn tail_write(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.tail.is_none() {
            self.tail = Some(Segments {
                files: VecDeque::new(),
                size: (self.tail_cap / 4).max(MIN_SEGMENT),
                next: 0,
                written: 0,
                spare: Vec::new(),
            });
        }
        let tail_cap = self.tail_cap;
        let path = self.path.clone();
        let tail = self.tail.as_mut().expect("just made");
        let mut rest = bytes;
        while !rest.is_empty() {
            let full = tail
                .files
                .back()
                .is_none_or(|(_, _, len)| *len >= tail.size);
            if full {
                tail.open(&path)?;
            }
            let (_, file, len) = tail.files.back_mut().expect("a segment is open");
            let n = ((tail.size - *len) as usize).min(rest.len());
            file.write_all(&rest[..n])?;
            *len += n as u64;
            tail.written += n as u64;
            rest = &rest[n..];
            tail.drop_old(tail_cap);
        }
        Ok(())
    }
}

impl Segments {
    fn open(&mut self, log: &Path) -> io::Result<()> {
        if let Some((path, mut file)) = self.spare.pop() {
            file.seek(SeekFrom::Start(0))?;
            self.files.push_back((path, file, 0));
            return Ok(());
        }
        let mut name = log.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".tail-{}", self.next));
        self.next += 1;
        let path = log.with_file_name(name);
        let file = BufWriter::with_capacity(64 * 1024, File::create(&path)?);
        self.files.push_back((path, file, 0));
        Ok(())
    }

    /// Deletes the oldest segments while the newer ones hold a whole tail.
    fn drop_old(&mut self, tail_cap: u64) {
        loop {
            let kept: u64 = self.files.iter().map(|(_, _, len)| len).sum();
            let Some((_, _, oldest)) = self.files.front() else {
                return;
            };
            if self.files.len() < 2 || kept - oldest < tail_cap {
                return;
            }
            let (path, file, _) = self.files.pop_front().expect("checked");
            self.spare.push((path, file));
        }
    }
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
            self.tail_write(&bytes[head..])?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()?;
        if let Some(tail) = &mut self.tail {
            for (_, file, _) in &mut tail.files {
                file.flush()?;
            }
        }
        Ok(())
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
        let leftovers: Vec<_> = fs::read_dir(tmp.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "segments are removed");
    }

    /// Segments are written over once their bytes are no longer needed; the
    /// last one, shorter than what it held before, gives only its own bytes.
    #[test]
    fn segments_written_over_give_back_only_the_newest_bytes() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("1-a.log");
        let n = 300_000; // 3.6 MB: segments of 1 MiB, each used again.
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
        let leftovers: Vec<_> = fs::read_dir(tmp.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "segments are removed");
    }

    #[test]
    fn the_disk_holds_about_the_cap_while_a_step_prints() {
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
            most < 8 * 1024 * 1024,
            "{most} bytes on disk for a 4 MiB cap"
        );
        assert_eq!(dropped, 400 * 64 * 1024 - 4 * 1024 * 1024);
        assert!(fs::metadata(&path).unwrap().len() < 4 * 1024 * 1024 + 200);
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
