//! A step's output on its way to the operator's terminal: colours (SGR) are
//! kept, everything that would take the terminal over is dropped — cursor
//! moves, clearing the screen, the alternate screen, window titles, OSC 52
//! clipboard writes, device queries, character set switches. The log keeps
//! the bytes as printed; only the live view is filtered.
//!
//! A small state machine after ECMA-48, fed in pieces: a sequence split
//! across two reads is still recognised.

/// Longest SGR sequence kept; a longer one is dropped whole.
const MAX_SGR: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Ground,
    /// After ESC.
    Escape,
    /// After ESC and intermediate bytes (`ESC ( B`): dropped up to the final byte.
    EscapeIntermediate,
    /// In a control sequence (`ESC [` or C1 CSI); `buf` holds it.
    Csi,
    /// In a string (OSC, DCS, SOS, PM, APC), dropped up to its terminator.
    Str,
    /// ESC inside a string: `\` ends it.
    StrEscape,
    /// After 0xC2, the first byte of a C1 control in UTF-8.
    C2,
}

/// Filters one step's output for the live view (see the module docs).
#[derive(Debug)]
pub(crate) struct Sanitizer {
    state: State,
    buf: Vec<u8>,
    /// Keep SGR; when false (no colour), colours are dropped too.
    colour: bool,
    /// The SGR sequences in force since the last reset: set again after
    /// runsheet's own gutter, which resets colours.
    active: Vec<u8>,
}

impl Sanitizer {
    pub(crate) fn new(colour: bool) -> Self {
        Sanitizer {
            state: State::Ground,
            buf: Vec::new(),
            colour,
            active: Vec::new(),
        }
    }

    /// The colours in force, to set again after a line's gutter.
    pub(crate) fn active(&self) -> &[u8] {
        &self.active
    }

    /// Starts over for the next step; true when colours were left on (the
    /// caller resets them before its own text).
    pub(crate) fn reset(&mut self) -> bool {
        self.state = State::Ground;
        self.buf.clear();
        let dirty = !self.active.is_empty();
        self.active.clear();
        dirty
    }

    /// Appends the harmless part of `bytes` to `out`.
    pub(crate) fn push(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        for &b in bytes {
            self.byte(b, out);
        }
    }

    fn byte(&mut self, b: u8, out: &mut Vec<u8>) {
        match self.state {
            State::Ground => self.ground(b, out),
            State::C2 => {
                self.state = State::Ground;
                match b {
                    0x9b => self.enter_csi(),
                    0x90 | 0x98 | 0x9d | 0x9e | 0x9f => self.state = State::Str,
                    0x80..=0x9f => {}
                    _ => {
                        out.push(0xc2);
                        self.ground(b, out);
                    }
                }
            }
            State::Escape => match b {
                b'[' => self.enter_csi(),
                b']' | b'P' | b'X' | b'^' | b'_' => self.state = State::Str,
                0x1b => {}
                0x20..=0x2f => self.state = State::EscapeIntermediate,
                // Cancelled, or a lone final byte: dropped either way.
                _ => self.state = State::Ground,
            },
            State::EscapeIntermediate => match b {
                0x20..=0x2f => {}
                0x1b => self.state = State::Escape,
                _ => self.state = State::Ground,
            },
            State::Csi => self.csi(b, out),
            State::Str => match b {
                0x07 | 0x18 | 0x1a => self.state = State::Ground,
                0x1b => self.state = State::StrEscape,
                // A string nobody ends would hide the rest of the output:
                // a line break ends it here (a terminal would wait on).
                b'\n' => {
                    self.state = State::Ground;
                    out.push(b);
                }
                _ => {}
            },
            State::StrEscape => {
                self.state = if b == b'\\' {
                    State::Ground
                } else {
                    State::Str
                };
            }
        }
    }

    fn ground(&mut self, b: u8, out: &mut Vec<u8>) {
        match b {
            0x1b => self.state = State::Escape,
            0xc2 => self.state = State::C2,
            b'\n' | b'\r' | b'\t' | 0x08 => out.push(b),
            0x00..=0x1f | 0x7f => {}
            _ => out.push(b),
        }
    }

    fn enter_csi(&mut self) {
        self.state = State::Csi;
        self.buf.clear();
        self.buf.extend_from_slice(b"\x1b[");
    }

    fn csi(&mut self, b: u8, out: &mut Vec<u8>) {
        match b {
            0x1b => self.state = State::Escape,
            0x18 | 0x1a => self.state = State::Ground,
            0x20..=0x3f => self.buf.push(b),
            0x40..=0x7e => {
                self.state = State::Ground;
                let params = &self.buf[2..];
                let sgr = b == b'm'
                    && self.buf.len() < MAX_SGR
                    && params
                        .iter()
                        .all(|c| c.is_ascii_digit() || *c == b';' || *c == b':');
                let reset = params.iter().all(|c| *c == b'0');
                if sgr && self.colour {
                    self.buf.push(b);
                    out.extend_from_slice(&self.buf);
                    self.remember(reset);
                }
            }
            // Other controls inside a sequence are dropped with it.
            _ => {}
        }
    }

    /// Keeps track of the colours in force after an SGR sequence (in `buf`).
    fn remember(&mut self, reset: bool) {
        if reset {
            self.active.clear();
        } else if self.active.len() + self.buf.len() <= 4 * MAX_SGR {
            self.active.extend_from_slice(&self.buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(pieces: &[&[u8]]) -> Vec<u8> {
        let mut s = Sanitizer::new(true);
        let mut out = Vec::new();
        for p in pieces {
            s.push(p, &mut out);
        }
        out
    }

    #[test]
    fn colours_pass_and_takeovers_do_not() {
        let input: &[u8] = b"\x1b[1;31mred\x1b[0m \x1b[2J\x1b[H\x1b[?1049hhi\x1b]0;title\x07\
            \x1b]52;c;cGF3bmVk\x1b\\ok\x1bc\x1b(B\x1b7x\x1b8\x07\x00\r\n\xc2\x9b2J\xc3\xa9";
        let out = clean(&[input]);
        assert_eq!(out, b"\x1b[1;31mred\x1b[0m hiokx\r\n\xc3\xa9".to_vec());
    }

    #[test]
    fn a_sequence_split_across_reads_is_still_recognised() {
        let out = clean(&[
            b"a\x1b",
            b"[3",
            b"1mb\x1b]0;t",
            b"itle\x1b",
            b"\\c\x1b[",
            b"2Jd",
        ]);
        assert_eq!(out, b"a\x1b[31mbcd".to_vec());
    }

    #[test]
    fn an_unended_string_ends_at_a_line_break() {
        assert_eq!(clean(&[b"a\x1b]8;;x\nb\n"]), b"a\nb\n".to_vec());
    }

    #[test]
    fn without_colour_sgr_goes_too_and_active_colours_are_known() {
        let mut s = Sanitizer::new(false);
        let mut out = Vec::new();
        s.push(b"\x1b[32mgreen\x1b[m", &mut out);
        assert_eq!(out, b"green".to_vec());
        let mut s = Sanitizer::new(true);
        s.push(b"\x1b[32mgreen\n", &mut out);
        assert_eq!(s.active(), b"\x1b[32m");
        s.push(b"\x1b[0m", &mut out);
        assert!(s.active().is_empty());
        s.push(b"\x1b[1m", &mut out);
        assert!(s.reset());
    }
}
