//! Secret masking (SPEC §5): values of secret-looking variables, of the ones
//! named with `redact:` / `--redact`, and the ones a step announces with
//! `::add-mask::`, become `***` in everything runsheet prints or writes.
//!
//! Each line of a value is a secret of its own, as in GitHub Actions: a PEM
//! key printed one line at a time, or with CRLF line ends, is still masked. So
//! no secret holds a line break, and masking line by line is the same as
//! masking the whole text.
//!
//! All values go into one [`Index`] keyed by their first bytes: masking costs
//! the same with a thousand secrets as with one (`benches/masking.sh`). An
//! Aho-Corasick automaton was tried first; its tables outgrow the CPU caches
//! with a thousand secrets and it scans four times slower than with one.

use std::collections::HashMap;
use std::sync::Arc;

/// Name fragments that mark a variable as secret, matched case-insensitively.
const SECRET_MARKERS: &[&str] = &[
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "API_KEY",
    "PRIVATE_KEY",
    "CREDENTIAL",
];

/// Shorter values are left alone: masking `1` or `yes` would garble all output.
pub const MIN_SECRET_LEN: usize = 4;

pub const MASK: &str = "***";

pub fn is_secret_name(name: &str, extra: &[String]) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_MARKERS.iter().any(|m| upper.contains(m)) || extra.iter().any(|e| e == name)
}

/// The lines of `value` worth masking: split at line breaks (LF or CRLF),
/// each at least [`MIN_SECRET_LEN`] bytes and not only blanks.
fn secret_lines(value: &str) -> impl Iterator<Item = &str> {
    value
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| l.len() >= MIN_SECRET_LEN && !l.trim().is_empty())
}

/// The secret values of one run and the automaton that finds them.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Every secret line, sorted and unique (for prefix look-ups).
    values: Vec<String>,
    /// Names masked besides the secret-looking ones (`redact:`, `--redact`).
    extra: Vec<String>,
    /// Finds the secrets in a text; `None` when there is none.
    index: Option<Arc<Index>>,
    longest: usize,
    /// `first[b]`: some secret starts with byte `b`.
    first: Box<[bool]>,
}

impl Redactor {
    /// Collects the secret values among `vars`; `extra` are names from `redact:`
    /// and `--redact`.
    pub fn new<'a>(vars: impl IntoIterator<Item = (&'a str, &'a str)>, extra: &[String]) -> Self {
        let mut r = Redactor {
            extra: extra.to_vec(),
            ..Redactor::default()
        };
        for (name, value) in vars {
            if is_secret_name(name, extra) {
                r.values.extend(secret_lines(value).map(str::to_string));
            }
        }
        r.rebuild();
        r
    }

    /// Adds a value learnt during a run (`::add-mask::`, a step that set a
    /// secret-named variable). Returns whether anything new is masked now.
    pub fn add(&mut self, value: &str) -> bool {
        let before = self.values.len();
        for line in secret_lines(value) {
            if self
                .values
                .binary_search_by(|v| v.as_str().cmp(line))
                .is_err()
            {
                self.values.push(line.to_string());
            }
        }
        if self.values.len() == before {
            return false;
        }
        self.rebuild();
        true
    }

    /// Adds the values of the secret-named variables among `vars` (a step's
    /// environment and shell variables). Returns whether anything is new.
    pub fn learn<'a>(&mut self, vars: impl IntoIterator<Item = (&'a str, &'a str)>) -> bool {
        let extra = std::mem::take(&mut self.extra);
        let mut grew = false;
        for (name, value) in vars {
            if is_secret_name(name, &extra) {
                grew |= self.add(value);
            }
        }
        self.extra = extra;
        grew
    }

    fn rebuild(&mut self) {
        self.values.sort();
        self.values.dedup();
        self.longest = self.values.iter().map(String::len).max().unwrap_or(0);
        let mut first = vec![false; 256];
        for v in &self.values {
            first[usize::from(v.as_bytes()[0])] = true;
        }
        self.first = first.into_boxed_slice();
        self.index = (!self.values.is_empty()).then(|| Arc::new(Index::new(&self.values)));
    }

    /// The secret lines, sorted.
    pub fn values(&self) -> &[String] {
        &self.values
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Length of the longest secret: a streaming masker holds back at most
    /// this many bytes minus one so a secret split across two reads is caught.
    pub fn longest(&self) -> usize {
        self.longest
    }

    pub fn redact(&self, text: &str) -> String {
        if self.index.is_none() {
            return text.to_string();
        }
        // Secrets are whole UTF-8 strings: masking never splits a character.
        String::from_utf8(self.redact_bytes(text.as_bytes()))
            .expect("masking whole strings keeps UTF-8 valid")
    }

    pub fn redact_bytes(&self, bytes: &[u8]) -> Vec<u8> {
        let Some(index) = &self.index else {
            return bytes.to_vec();
        };
        let mut out = Vec::with_capacity(bytes.len());
        let mut done = 0;
        while let Some((start, end)) = index.find(bytes, done) {
            out.extend_from_slice(&bytes[done..start]);
            out.extend_from_slice(MASK.as_bytes());
            done = end;
        }
        out.extend_from_slice(&bytes[done..]);
        out
    }

    /// A masker for a byte stream arriving in pieces.
    pub fn stream(&self) -> MaskStream {
        MaskStream {
            redactor: self.clone(),
            pending: Vec::new(),
        }
    }

    /// Whether `tail` is the start of some secret, and shorter than it.
    fn starts_a_secret(&self, tail: &[u8]) -> bool {
        let i = self.values.partition_point(|v| v.as_bytes() <= tail);
        self.values
            .get(i)
            .is_some_and(|v| v.len() > tail.len() && v.as_bytes().starts_with(tail))
    }
}

/// Masks secrets in a byte stream arriving in pieces. Holds back only a tail
/// that could be the start of a secret, so output without secrets (and a
/// prompt without a newline) flows at once.
#[derive(Debug, Clone)]
pub struct MaskStream {
    redactor: Redactor,
    pending: Vec<u8>,
}

impl MaskStream {
    /// Masks what can be decided now and appends it to `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        if self.redactor.is_empty() {
            out.extend_from_slice(chunk);
            return;
        }
        if self.pending.is_empty() {
            let used = self.scan(chunk, out, false);
            self.pending.extend_from_slice(&chunk[used..]);
        } else {
            self.pending.extend_from_slice(chunk);
            let pending = std::mem::take(&mut self.pending);
            let used = self.scan(&pending, out, false);
            self.pending = pending;
            self.pending.drain(..used);
        }
    }

    /// What [`push`](Self::push) would append, as a slice: `chunk` itself
    /// when it holds no secret and its end cannot be the start of one (with
    /// nothing held back from before), so clean output passes without a
    /// copy; else `out`, cleared first and filled by `push`.
    pub fn filter<'a>(&mut self, chunk: &'a [u8], out: &'a mut Vec<u8>) -> &'a [u8] {
        out.clear();
        if self.pending.is_empty() && self.untouched(chunk) {
            return chunk;
        }
        self.push(chunk, out);
        out
    }

    /// Nothing in `buf` is masked or held back.
    fn untouched(&self, buf: &[u8]) -> bool {
        let Some(index) = &self.redactor.index else {
            return true;
        };
        self.held_from(buf, 0) == buf.len() && index.find(buf, 0).is_none()
    }

    /// End of stream: everything still held back is decided and appended.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        let pending = std::mem::take(&mut self.pending);
        if self.redactor.is_empty() {
            out.extend_from_slice(&pending);
        } else {
            self.scan(&pending, out, true);
        }
    }

    /// Masks more secrets from now on (what is held back included).
    pub fn add(&mut self, value: &str) -> bool {
        self.redactor.add(value)
    }

    /// Copies `buf` to `out` with secrets masked; returns how many bytes were
    /// consumed (the rest may be a secret cut off by the read).
    ///
    /// Held back is the earliest tail of `buf` (within the longest secret's
    /// length) that is the start of a secret. A match that begins before it
    /// cannot grow with more input (a longer secret at the same place would
    /// make that place a held tail), so it is final.
    fn scan(&self, buf: &[u8], out: &mut Vec<u8>, at_end: bool) -> usize {
        let r = &self.redactor;
        let Some(index) = &r.index else {
            out.extend_from_slice(buf);
            return buf.len();
        };
        let held_from = |from: usize| {
            if at_end {
                return buf.len();
            }
            self.held_from(buf, from)
        };
        let mut hold = held_from(0);
        let mut done = 0;
        while let Some((start, end)) = index.find(buf, done) {
            if start >= hold {
                break;
            }
            out.extend_from_slice(&buf[done..start]);
            out.extend_from_slice(MASK.as_bytes());
            done = end;
            if done > hold {
                hold = held_from(done);
            }
        }
        let hold = hold.max(done);
        out.extend_from_slice(&buf[done..hold]);
        hold
    }

    /// Where the tail of `buf` that may be the start of a secret begins (at
    /// `from` or later, within the longest secret's length of the end);
    /// `buf.len()` when there is none.
    fn held_from(&self, buf: &[u8], from: usize) -> usize {
        let r = &self.redactor;
        let window = buf.len().saturating_sub(r.longest.saturating_sub(1));
        (window.max(from)..buf.len())
            .find(|&i| r.first[usize::from(buf[i])] && r.starts_a_secret(&buf[i..]))
            .unwrap_or(buf.len())
    }
}

/// Bits of the filter every position of a text is looked up in: 2^20 bits,
/// 128 KiB, small enough to stay in a CPU cache.
const FILTER_BITS: u32 = 20;

/// The secrets, found by their first bytes. At each position of a text the
/// next four bytes are hashed into a bit filter; only where a bit is set are
/// the secrets starting with those bytes compared. Secrets of eight bytes or
/// more are keyed by their first eight, so many secrets sharing a prefix
/// (`ghp_…` tokens) still cost one comparison each where they may match.
#[derive(Debug)]
struct Index {
    filter: Vec<u64>,
    /// Secrets of 4 to 7 bytes, by their first four.
    short: HashMap<u32, Vec<Box<[u8]>>>,
    /// Longer ones, by their first eight.
    long: HashMap<u64, Vec<Box<[u8]>>>,
}

fn word4(bytes: &[u8]) -> u32 {
    u32::from_le_bytes(bytes[..4].try_into().expect("four bytes"))
}

fn word8(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes[..8].try_into().expect("eight bytes"))
}

fn filter_slot(word: u32) -> usize {
    (word.wrapping_mul(0x9E37_79B1) >> (32 - FILTER_BITS)) as usize
}

impl Index {
    fn new(values: &[String]) -> Self {
        let mut index = Index {
            filter: vec![0; 1 << (FILTER_BITS - 6)],
            short: HashMap::new(),
            long: HashMap::new(),
        };
        for v in values.iter().map(String::as_bytes) {
            let slot = filter_slot(word4(v));
            index.filter[slot >> 6] |= 1 << (slot & 63);
            let value = v.to_vec().into_boxed_slice();
            if v.len() >= 8 {
                index.long.entry(word8(v)).or_default().push(value);
            } else {
                index.short.entry(word4(v)).or_default().push(value);
            }
        }
        index
    }

    /// The leftmost secret in `text` at or after `from`, the longest of
    /// those starting there (a secret containing another is masked whole).
    fn find(&self, text: &[u8], from: usize) -> Option<(usize, usize)> {
        let last = text.len().checked_sub(MIN_SECRET_LEN)?;
        for at in from..=last {
            let slot = filter_slot(word4(&text[at..]));
            if self.filter[slot >> 6] & (1 << (slot & 63)) == 0 {
                continue;
            }
            if let Some(len) = self.longest_at(&text[at..]) {
                return Some((at, at + len));
            }
        }
        None
    }

    fn longest_at(&self, rest: &[u8]) -> Option<usize> {
        let matching = |list: Option<&Vec<Box<[u8]>>>| {
            list.into_iter()
                .flatten()
                .filter(|v| rest.starts_with(v))
                .map(|v| v.len())
                .max()
        };
        let long = (rest.len() >= 8)
            .then(|| matching(self.long.get(&word8(rest))))
            .flatten();
        long.or_else(|| matching(self.short.get(&word4(rest))))
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
        let mut m = redactor(secrets).stream();
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
    fn masks_secret_names_and_extra_names() {
        let r = Redactor::new(
            [
                ("GITHUB_TOKEN", "ghp_abcdef"),
                ("db_password", "hunter22"),
                ("PLAIN", "visible"),
                ("VAULT", "s3cr3t!"),
                ("MY_SECRET", "abc"),
            ],
            &["VAULT".to_string()],
        );
        let out = r.redact("t=ghp_abcdef p=hunter22 v=s3cr3t! x=visible abc");
        assert_eq!(out, "t=*** p=*** v=*** x=visible abc");
        assert_eq!(r.redact_bytes(b"xhunter22y"), b"x***y");
    }

    #[test]
    fn each_line_of_a_multi_line_secret_is_masked_on_its_own() {
        let pem = "-----BEGIN KEY-----\r\nMIIEowIBAAKCAQEA\r\nqwertyuiop\r\n-----END KEY-----\r\n";
        let r = Redactor::new([("DEPLOY_PRIVATE_KEY", pem)], &[]);
        assert_eq!(r.redact("MIIEowIBAAKCAQEA\n"), "***\n");
        assert_eq!(
            r.redact("-----BEGIN KEY-----\nMIIEowIBAAKCAQEA\nqwertyuiop\n-----END KEY-----\n"),
            "***\n***\n***\n***\n"
        );
        assert_eq!(r.redact("a qwertyuiop\r\n"), "a ***\r\n");
        assert!(r.values().iter().all(|v| !v.contains(['\n', '\r'])));
    }

    #[test]
    fn learns_only_secret_names_and_says_whether_it_grew() {
        let mut r = Redactor::new([], &["VAULT".to_string()]);
        assert!(!r.learn([("PLAIN", "value1")]));
        assert!(r.learn([("NEW_TOKEN", "tok-123"), ("VAULT", "vault-9")]));
        assert!(!r.learn([("NEW_TOKEN", "tok-123")]));
        assert_eq!(r.redact("tok-123 vault-9 value1"), "*** *** value1");
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
        let (all, _) = mask_in_pieces(&["abcd", "abcdefgh"], &["xabcd", "efghy abcd", "z"]);
        assert_eq!(all, "x***y ***z");
    }

    #[test]
    fn a_match_ending_where_another_secret_may_start_is_masked() {
        // "abcd" ends in "cd", the start of "cdxy": the earlier match wins.
        let (all, _) = mask_in_pieces(&["abcd", "cdxy"], &["zabcd", "xy"]);
        assert_eq!(all, "z***xy");
        let (all, _) = mask_in_pieces(&["abcd", "cdxy"], &["zab", "cdxy"]);
        assert_eq!(all, "z***xy");
    }

    /// `filter` gives what `push` gives, and borrows only a piece that
    /// `push` would copy unchanged.
    #[test]
    fn filter_agrees_with_push() {
        use proptest::prelude::*;
        let secrets = ["abab", "abcab", "babc", "cccc"];
        proptest!(|(text in "[abc ]{0,60}", cuts in proptest::collection::vec(0usize..60, 0..6))| {
            let mut cuts = cuts;
            cuts.retain(|&c| c <= text.len());
            cuts.sort();
            let (mut pushed, mut filtered) = (redactor(&secrets).stream(), redactor(&secrets).stream());
            let mut scratch = Vec::new();
            let mut at = 0;
            for c in cuts.into_iter().chain([text.len()]) {
                let piece = &text.as_bytes()[at..c];
                at = c;
                let mut want = Vec::new();
                pushed.push(piece, &mut want);
                prop_assert_eq!(filtered.filter(piece, &mut scratch), &want[..]);
            }
        });
        let mut m = redactor(&["hunter22"]).stream();
        let mut out = Vec::new();
        let piece = b"nothing to hide\n";
        assert_eq!(m.filter(piece, &mut out).as_ptr(), piece.as_ptr());
        assert_eq!(m.filter(b"pw hunter22\n", &mut out), b"pw ***\n");
        assert_eq!(m.filter(b"pw hun", &mut out), b"pw ");
        assert_eq!(m.filter(b"ter22\n", &mut out), b"***\n");
    }

    #[test]
    fn no_secrets_passes_through() {
        let (all, emitted) = mask_in_pieces(&[], &["abc", "def"]);
        assert_eq!(all, "abcdef");
        assert_eq!(emitted, vec!["abc", "def"]);
    }

    #[test]
    fn streaming_agrees_with_whole_text_masking() {
        use proptest::prelude::*;
        let secrets = ["abab", "abcab", "babc", "cccc", "abcabcab"];
        let r = redactor(&secrets);
        // Leftmost, then longest, by brute force.
        let naive = |text: &str| {
            let mut out = String::new();
            let mut i = 0;
            while i < text.len() {
                let best = secrets
                    .iter()
                    .filter(|s| text[i..].starts_with(*s))
                    .map(|s| s.len())
                    .max();
                match best {
                    Some(n) => {
                        out.push_str(MASK);
                        i += n;
                    }
                    None => {
                        out.push_str(&text[i..=i]);
                        i += 1;
                    }
                }
            }
            out
        };
        proptest!(|(text in "[abc ]{0,60}", cuts in proptest::collection::vec(0usize..60, 0..6))| {
            let whole = r.redact(&text);
            prop_assert_eq!(&whole, &naive(&text));
            let mut cuts = cuts;
            cuts.retain(|&c| c <= text.len());
            cuts.sort();
            let mut s = r.stream();
            let mut out = Vec::new();
            let mut at = 0;
            for c in cuts.into_iter().chain([text.len()]) {
                s.push(&text.as_bytes()[at..c], &mut out);
                at = c;
            }
            s.finish(&mut out);
            prop_assert_eq!(String::from_utf8(out).unwrap(), whole);
        });
    }
}
