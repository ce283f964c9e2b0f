//! Asking the person at the terminal for the inputs nobody supplied (SPEC
//! §1.1): once each, before the first step. A secret input is read with the
//! echo off and shown as `***` once given; its value reaches the masker like
//! any secret's.

use std::collections::BTreeMap;
use std::io::{self, BufRead, Write};

use crate::model::{Input, Runbook};

use super::Palette;

/// Why the questions stopped before every input had a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stopped {
    /// Ctrl-C at a secret's question.
    Interrupted,
    /// Standard input ended (Ctrl-D) before `name` had a value.
    Closed { name: String },
}

/// Asks for each of `inputs` on stdin, writing the questions to stdout. An
/// empty answer takes the default; an input without one is asked again.
pub fn ask_inputs(
    palette: &Palette,
    runbook: &Runbook,
    inputs: &[&Input],
) -> io::Result<Result<BTreeMap<String, String>, Stopped>> {
    let mut out = io::stdout().lock();
    let noun = if inputs.len() == 1 { "input" } else { "inputs" };
    writeln!(
        out,
        "{} {} needs {} {noun} before it starts:",
        palette.strong("▶"),
        palette.strong(&runbook.title),
        inputs.len()
    )?;
    let mut values = BTreeMap::new();
    for input in inputs {
        loop {
            write!(out, "{} {}", palette.accent("?"), question(palette, input))?;
            out.flush()?;
            let answer = if input.secret {
                let answer = read_hidden()?;
                if answer.is_some() {
                    writeln!(out, "{}", crate::secrets::MASK)?;
                }
                answer
            } else {
                read_visible()?
            };
            let answer = match answer {
                Answer::Line(line) => line,
                Answer::Interrupted => {
                    writeln!(out)?;
                    return Ok(Err(Stopped::Interrupted));
                }
                Answer::Closed => {
                    writeln!(out)?;
                    return Ok(Err(Stopped::Closed {
                        name: input.name.clone(),
                    }));
                }
            };
            match (answer.is_empty(), &input.default) {
                (false, _) => {
                    values.insert(input.name.clone(), answer);
                    break;
                }
                (true, Some(default)) => {
                    values.insert(input.name.clone(), default.clone());
                    break;
                }
                (true, None) => writeln!(
                    out,
                    "  {}",
                    palette.dim("a value is needed (Ctrl-C to stop)")
                )?,
            }
        }
    }
    Ok(Ok(values))
}

/// `NAME (description) [default]: `; a secret's default is not shown.
fn question(palette: &Palette, input: &Input) -> String {
    let mut q = palette.strong(&input.name);
    if let Some(d) = &input.description {
        q.push_str(&format!(" ({d})"));
    }
    if input.secret {
        q.push_str(&palette.dim(" (secret, not shown)"));
    } else if let Some(default) = input.default.as_deref().filter(|d| !d.is_empty()) {
        q.push_str(&palette.dim(&format!(" [{default}]")));
    }
    q.push_str(": ");
    q
}

enum Answer {
    Line(String),
    Interrupted,
    Closed,
}

impl Answer {
    fn is_some(&self) -> bool {
        matches!(self, Answer::Line(_))
    }
}

/// One line as the terminal's line editing gives it; Ctrl-C here ends
/// runsheet as it would any program, nothing having run yet.
fn read_visible() -> io::Result<Answer> {
    let mut line = String::new();
    if io::stdin().lock().read_line(&mut line)? == 0 {
        return Ok(Answer::Closed);
    }
    Ok(Answer::Line(
        line.trim_end_matches(['\n', '\r']).to_string(),
    ))
}

/// One line typed with the echo off. Signals are off too, so that a Ctrl-C
/// comes back as a byte and the terminal is always put back as it was.
#[cfg(unix)]
fn read_hidden() -> io::Result<Answer> {
    let Some(_raw) = RawInput::enter() else {
        // Not a terminal after all: read what is there.
        return read_visible();
    };
    let mut line: Vec<u8> = Vec::new();
    let mut stdin = io::stdin().lock();
    let mut byte = [0u8; 1];
    loop {
        if io::Read::read(&mut stdin, &mut byte)? == 0 {
            return Ok(Answer::Closed);
        }
        match byte[0] {
            b'\r' | b'\n' => return Ok(Answer::Line(String::from_utf8_lossy(&line).into_owned())),
            0x03 => return Ok(Answer::Interrupted),
            0x04 if line.is_empty() => return Ok(Answer::Closed),
            0x7f | 0x08 => {
                // Drop the last character, not just its last byte.
                while let Some(b) = line.pop() {
                    if b & 0xC0 != 0x80 {
                        break;
                    }
                }
            }
            0x15 => line.clear(),
            b => line.push(b),
        }
    }
}

#[cfg(not(unix))]
fn read_hidden() -> io::Result<Answer> {
    read_visible()
}

/// The terminal with echo, line editing and signals off while it lives.
#[cfg(unix)]
struct RawInput {
    saved: libc::termios,
}

#[cfg(unix)]
impl RawInput {
    fn enter() -> Option<RawInput> {
        // SAFETY: termios is plain data; tcgetattr fills it or fails.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: fd 0 and a valid pointer to a termios.
        if unsafe { libc::tcgetattr(0, &mut saved) } != 0 {
            return None;
        }
        let mut raw = saved;
        raw.c_lflag &= !(libc::ECHO | libc::ICANON | libc::ISIG);
        raw.c_cc[libc::VMIN] = 1;
        raw.c_cc[libc::VTIME] = 0;
        // SAFETY: fd 0 and a valid termios.
        if unsafe { libc::tcsetattr(0, libc::TCSANOW, &raw) } != 0 {
            return None;
        }
        Some(RawInput { saved })
    }
}

#[cfg(unix)]
impl Drop for RawInput {
    fn drop(&mut self) {
        // SAFETY: fd 0 and the termios saved from it.
        unsafe {
            libc::tcsetattr(0, libc::TCSANOW, &self.saved);
        }
    }
}
