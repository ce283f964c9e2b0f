//! A step's output on its way out: masked as a stream (a secret split
//! across two reads is still caught) and kept in memory only up to a cap.

use std::collections::VecDeque;

use crate::secrets::{Redactor, MASK};

/// Bytes read from a pipe at once: what memory holds per stream besides the
/// capped capture.
pub(crate) const CHUNK: usize = 64 * 1024;

/// Masks secrets in a byte stream arriving in pieces. Holds back only a tail
/// that could be the start of a secret, so output without secrets flows at once.
pub(crate) struct Masker {
    redactor: Redactor,
    pending: Vec<u8>,
    /// `first[b]`: some secret starts with byte `b`.
    first: [bool; 256],
}

impl Masker {
    pub(crate) fn new(redactor: &Redactor) -> Self {
        let mut first = [false; 256];
        for v in redactor.values() {
            if let Some(&b) = v.as_bytes().first() {
                first[usize::from(b)] = true;
            }
        }
        Masker {
            redactor: redactor.clone(),
            pending: Vec::new(),
            first,
        }
    }

    /// Masks what can be decided now and appends it to `out`.
    pub(crate) fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        if self.redactor.is_empty() {
            out.extend_from_slice(chunk);
            return;
        }
        self.pending.extend_from_slice(chunk);
        let used = self.scan(out, false);
        self.pending.drain(..used);
    }

    /// End of stream: everything still held back is decided and appended.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>) {
        if self.redactor.is_empty() {
            return;
        }
        self.scan(out, true);
        self.pending.clear();
    }

    /// Copies `pending` to `out` with secrets masked; returns how many bytes
    /// were consumed (the rest may be a secret cut off by the read).
    fn scan(&self, out: &mut Vec<u8>, at_end: bool) -> usize {
        let buf = &self.pending;
        let mut i = 0;
        while i < buf.len() {
            let rest = &buf[i..];
            if !self.first[usize::from(rest[0])] {
                out.push(rest[0]);
                i += 1;
                continue;
            }
            let values = self.redactor.values();
            if let Some(v) = values.iter().find(|v| rest.starts_with(v.as_bytes())) {
                out.extend_from_slice(MASK.as_bytes());
                i += v.len();
            } else if !at_end && values.iter().any(|v| v.as_bytes().starts_with(rest)) {
                return i;
            } else {
                out.push(rest[0]);
                i += 1;
            }
        }
        i
    }
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

    fn redactor(secrets: &[&str]) -> Redactor {
        let vars: Vec<(String, &str)> = secrets
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("TOKEN_{i}"), *s))
            .collect();
        Redactor::new(vars.iter().map(|(k, v)| (k.as_str(), *v)), &[])
    }

    fn mask_in_pieces(secrets: &[&str], pieces: &[&str]) -> (String, Vec<String>) {
        let mut m = Masker::new(&redactor(secrets));
        let mut all = Vec::new();
        let mut emitted = Vec::new();
        for p in pieces {
            let mut out = Vec::new();
            m.push(p.as_bytes(), &mut out);
            emitted.push(String::from_utf8(out.clone()).unwrap());
            all.extend(out);
        }
        m.finish(&mut all);
        (String::from_utf8(all).unwrap(), emitted)
    }

    #[test]
    fn secret_split_across_reads_is_masked() {
        let (all, _) = mask_in_pieces(&["hunter22"], &["pass=hun", "ter22 ok"]);
        assert_eq!(all, "pass=*** ok");
    }

    #[test]
    fn secret_split_byte_by_byte_is_masked() {
        let text = "a hunter22 b hunter2 c";
        let pieces: Vec<String> = text.chars().map(String::from).collect();
        let pieces: Vec<&str> = pieces.iter().map(String::as_str).collect();
        let (all, _) = mask_in_pieces(&["hunter22"], &pieces);
        assert_eq!(all, "a *** b hunter2 c");
    }

    #[test]
    fn holds_back_only_a_possible_secret_start() {
        let (_, emitted) = mask_in_pieces(&["hunter22"], &["Continue? ", "x hun"]);
        assert_eq!(emitted, vec!["Continue? ", "x "]);
    }

    #[test]
    fn flushes_an_unfinished_prefix_at_end() {
        let (all, _) = mask_in_pieces(&["hunter22"], &["end hunt"]);
        assert_eq!(all, "end hunt");
    }

    #[test]
    fn longest_secret_wins() {
        let (all, _) = mask_in_pieces(&["abcd", "abcdefgh"], &["xabcdefghy abcdz"]);
        assert_eq!(all, "x***y ***z");
    }

    #[test]
    fn no_secrets_passes_through() {
        let (all, emitted) = mask_in_pieces(&[], &["abc", "def"]);
        assert_eq!(all, "abcdef");
        assert_eq!(emitted, vec!["abc", "def"]);
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
