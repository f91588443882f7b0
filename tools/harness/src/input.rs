//! Scripted console input (`harness test --input FILE`): what to write to
//! the emulator's stdin (the guest's serial line), and when.
//!
//! A script is a list of steps, one per line, run in order:
//!
//! ```text
//! # a comment; blank lines are ignored
//! wait TEXT          wait for a guest line containing TEXT (after the last wait's line)
//! send TEXT          write TEXT (escapes: \n \r \t \\ \xHH; the rest of the line, spaces included)
//! repeat N TEXT      write TEXT N times
//! sleep MS           pause MS milliseconds (between chunks, as a typist would)
//! ```
//!
//! The feeder runs on a thread of its own, fed the guest's lines; once the
//! script is done it keeps stdin open until the run ends (the guest sees no
//! end of input). Without a script the emulator's stdin is `/dev/null`.

use std::fmt;
use std::io::Write;
use std::sync::mpsc::Receiver;
use std::thread;
use std::time::Duration;

/// One step of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Wait(String),
    Send(Vec<u8>),
    Sleep(Duration),
}

/// A parsed script.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Script {
    pub steps: Vec<Step>,
}

/// Why a script was rejected: its line number (from 1) and the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptError {
    pub line: usize,
    pub problem: String,
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "input script line {}: {}", self.line, self.problem)
    }
}

impl std::error::Error for ScriptError {}

/// Largest `repeat` count and `sleep` length accepted (a typo should not
/// make a run write gigabytes or sleep for days).
const MAX_REPEAT: usize = 1 << 20;
const MAX_SLEEP_MS: u64 = 60_000;

/// Parses a script (see the module doc).
pub fn parse(text: &str) -> Result<Script, ScriptError> {
    let mut steps = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let err = |problem: String| ScriptError { line: i + 1, problem };
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        let step = match word {
            "wait" if !rest.is_empty() => Step::Wait(rest.to_owned()),
            "send" if !rest.is_empty() => Step::Send(unescape(rest).map_err(err)?),
            "repeat" => {
                let (n, text) = rest
                    .split_once(' ')
                    .ok_or_else(|| err("repeat needs a count and text".into()))?;
                let n: usize = n
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_REPEAT).contains(n))
                    .ok_or_else(|| err(format!("bad repeat count `{n}`")))?;
                let one = unescape(text).map_err(err)?;
                if one.is_empty() {
                    return Err(err("repeat needs text".into()));
                }
                Step::Send(one.repeat(n))
            }
            "sleep" => {
                let ms: u64 = rest
                    .trim()
                    .parse()
                    .ok()
                    .filter(|ms| *ms <= MAX_SLEEP_MS)
                    .ok_or_else(|| err(format!("bad sleep `{rest}` (want milliseconds up to {MAX_SLEEP_MS})")))?;
                Step::Sleep(Duration::from_millis(ms))
            }
            "wait" | "send" => return Err(err(format!("{word} needs text"))),
            other => return Err(err(format!("unknown step `{other}`"))),
        };
        steps.push(step);
    }
    Ok(Script { steps })
}

/// The bytes `text` stands for, escapes resolved.
fn unescape(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next() {
            Some(b'n') => out.push(b'\n'),
            Some(b'r') => out.push(b'\r'),
            Some(b't') => out.push(b'\t'),
            Some(b'\\') => out.push(b'\\'),
            Some(b'x') => {
                let hex = [bytes.next(), bytes.next()];
                let digits: Option<String> = hex.iter().map(|d| d.map(char::from)).collect();
                let v = digits
                    .filter(|d| d.len() == 2)
                    .and_then(|d| u8::from_str_radix(&d, 16).ok())
                    .ok_or_else(|| "\\x needs two hex digits".to_owned())?;
                out.push(v);
            }
            Some(c) => return Err(format!("unknown escape `\\{}`", char::from(c))),
            None => return Err("a lone `\\` at the end".into()),
        }
    }
    Ok(out)
}

/// Runs `script` against the guest: `lines` brings every guest line (in
/// order), `stdin` is the emulator's. Returns when the line stream ends;
/// stdin stays open until then. A write error (the emulator is gone) ends
/// the feeding.
pub fn spawn_feeder<W: Write + Send + 'static>(script: Script, mut stdin: W, lines: Receiver<String>) {
    thread::spawn(move || {
        for step in script.steps {
            let done = match step {
                Step::Wait(text) => loop {
                    match lines.recv() {
                        Ok(line) if line.contains(&text) => break true,
                        Ok(_) => {}
                        Err(_) => break false,
                    }
                },
                Step::Send(bytes) => stdin.write_all(&bytes).and_then(|()| stdin.flush()).is_ok(),
                Step::Sleep(d) => {
                    thread::sleep(d);
                    true
                }
            };
            if !done {
                return;
            }
        }
        // Keep stdin open (the guest sees no end of input) until the run ends.
        while lines.recv().is_ok() {}
        drop(stdin);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::sync::{Arc, Mutex};

    #[test]
    fn parses_every_step() {
        let s = parse("# comment\n\nwait ready: go\nsend ab c\\n\\x41\\\\\nsleep 250\nrepeat 3 xy\n").unwrap();
        assert_eq!(
            s.steps,
            vec![
                Step::Wait("ready: go".into()),
                Step::Send(b"ab c\nA\\".to_vec()),
                Step::Sleep(Duration::from_millis(250)),
                Step::Send(b"xyxyxy".to_vec()),
            ]
        );
        assert_eq!(parse("send \\r\\t").unwrap().steps, vec![Step::Send(b"\r\t".to_vec())]);
    }

    #[test]
    fn rejects_bad_scripts_with_their_line() {
        let cases = [
            ("jump 3", 1),
            ("\nwait", 2),
            ("send", 1),
            ("send \\q", 1),
            ("send a\\", 1),
            ("send \\x4", 1),
            ("send \\xzz", 1),
            ("sleep soon", 1),
            ("sleep 99999999", 1),
            ("repeat 0 a", 1),
            ("repeat 2", 1),
            ("repeat x a", 1),
            ("repeat 9999999999 a", 1),
        ];
        for (text, line) in cases {
            let e = parse(text).expect_err(text);
            assert_eq!(e.line, line, "{text}: {e}");
        }
    }

    /// A writer the test can look into.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn feeder_writes_only_after_the_marker() {
        let out = Shared::default();
        let (tx, rx) = mpsc::channel();
        let script = parse("send early\nwait MARK\nsend one\nsleep 10\nsend two").unwrap();
        spawn_feeder(script, out.clone(), rx);
        let seen = |want: &[u8]| {
            for _ in 0..200 {
                if out.0.lock().unwrap().as_slice() == want {
                    return true;
                }
                thread::sleep(Duration::from_millis(5));
            }
            false
        };
        assert!(seen(b"early"));
        tx.send("something else".into()).unwrap();
        thread::sleep(Duration::from_millis(30));
        assert_eq!(out.0.lock().unwrap().as_slice(), b"early");
        tx.send("guest: MARK here".into()).unwrap();
        assert!(seen(b"earlyonetwo"));
        drop(tx);
    }
}
