//! Runs the emulator: spawns it with piped output, streams its stdout lines
//! (with the time since spawn) to a callback, forwards its stderr to ours,
//! feeds its stdin from an input script if there is one (`input`; otherwise
//! stdin is `/dev/null`) and kills it when the timeout expires.

use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::thread;
use std::time::{Duration, Instant};

use crate::input::{Script, spawn_feeder};

/// How often the child's status is polled while waiting for output.
const POLL: Duration = Duration::from_millis(20);
/// How long to keep collecting output after the child exited or was killed
/// (a grandchild may hold the pipes open).
const DRAIN_GRACE: Duration = Duration::from_millis(500);

/// How the emulator run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The process exited with this status code.
    Exited(i32),
    /// The process was killed by a signal (number if known).
    Signalled(Option<i32>),
    /// We killed the process after this timeout.
    TimedOut(Duration),
}

/// A failure to run the emulator at all.
#[derive(Debug)]
pub enum RunError {
    EmptyCommand,
    Spawn { program: String, source: std::io::Error },
    Wait(std::io::Error),
    Kill(std::io::Error),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EmptyCommand => write!(f, "no emulator command given"),
            Self::Spawn { program, source } => write!(f, "cannot start {program}: {source}"),
            Self::Wait(e) => write!(f, "cannot wait for the emulator: {e}"),
            Self::Kill(e) => write!(f, "cannot kill the emulator: {e}"),
        }
    }
}

impl std::error::Error for RunError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::EmptyCommand => None,
            Self::Spawn { source, .. } => Some(source),
            Self::Wait(e) | Self::Kill(e) => Some(e),
        }
    }
}

/// Output from the reader threads.
enum Msg {
    Stdout(String, Duration),
    Stderr(String),
}

/// Runs `command` (program and arguments) for at most `timeout`, calling
/// `on_line` with every stdout line and the time since spawn; with `input`,
/// its stdin is fed by that script.
pub fn run(
    command: &[String],
    timeout: Duration,
    input: Option<Script>,
    mut on_line: impl FnMut(&str, Duration),
) -> Result<Outcome, RunError> {
    let (program, args) = command.split_first().ok_or(RunError::EmptyCommand)?;
    let start = Instant::now();
    let mut child = Command::new(program)
        .args(args)
        .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| RunError::Spawn {
            program: program.clone(),
            source,
        })?;
    let (tx, rx) = mpsc::channel();
    if let Some(out) = child.stdout.take() {
        spawn_reader(out, tx.clone(), move |line| Msg::Stdout(line, start.elapsed()));
    }
    if let Some(err) = child.stderr.take() {
        spawn_reader(err, tx.clone(), Msg::Stderr);
    }
    drop(tx);
    // The script sees every stdout line too.
    let mut feed = None;
    if let (Some(script), Some(stdin)) = (input, child.stdin.take()) {
        let (ftx, frx) = mpsc::channel();
        spawn_feeder(script, stdin, frx);
        feed = Some(ftx);
    }
    let mut on_line = move |line: &str, at: Duration| {
        if let Some(f) = &feed {
            let _ = f.send(line.to_owned());
        }
        on_line(line, at);
    };

    let deadline = start.checked_add(timeout);
    let mut exited: Option<(ExitStatus, Instant)> = None;
    let mut streams_open = true;
    loop {
        if streams_open {
            match rx.recv_timeout(POLL) {
                Ok(msg) => deliver(msg, &mut on_line),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => streams_open = false,
            }
        } else {
            thread::sleep(POLL);
        }
        if exited.is_none()
            && let Some(status) = child.try_wait().map_err(RunError::Wait)?
        {
            exited = Some((status, Instant::now()));
        }
        match exited {
            Some((status, at)) if !streams_open || at.elapsed() >= DRAIN_GRACE => {
                drain(&rx, Duration::ZERO, &mut on_line);
                return Ok(outcome_of(status));
            }
            None if deadline.is_some_and(|d| Instant::now() >= d) => {
                kill(&mut child)?;
                drain(&rx, DRAIN_GRACE, &mut on_line);
                return Ok(Outcome::TimedOut(timeout));
            }
            _ => {}
        }
    }
}

/// Kills and reaps the child (tolerating it having exited meanwhile).
fn kill(child: &mut Child) -> Result<(), RunError> {
    if let Err(e) = child.kill()
        && child.try_wait().map_err(RunError::Wait)?.is_none()
    {
        return Err(RunError::Kill(e));
    }
    child.wait().map_err(RunError::Wait)?;
    Ok(())
}

/// Delivers queued messages, then waits for more until the reader threads
/// finish or `grace` passes.
fn drain(rx: &Receiver<Msg>, grace: Duration, on_line: &mut impl FnMut(&str, Duration)) {
    let until = Instant::now() + grace;
    loop {
        let msg = match rx.try_recv() {
            Ok(msg) => msg,
            Err(TryRecvError::Disconnected) => return,
            Err(TryRecvError::Empty) => {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return;
                }
                match rx.recv_timeout(left) {
                    Ok(msg) => msg,
                    Err(_) => return,
                }
            }
        };
        deliver(msg, on_line);
    }
}

fn deliver(msg: Msg, on_line: &mut impl FnMut(&str, Duration)) {
    match msg {
        Msg::Stdout(line, at) => on_line(&line, at),
        Msg::Stderr(line) => eprintln!("{line}"),
    }
}

fn outcome_of(status: ExitStatus) -> Outcome {
    match status.code() {
        Some(code) => Outcome::Exited(code),
        None => Outcome::Signalled(signal_of(status)),
    }
}

#[cfg(unix)]
fn signal_of(status: ExitStatus) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    status.signal()
}

#[cfg(not(unix))]
fn signal_of(_status: ExitStatus) -> Option<i32> {
    None
}

/// Reads `source` line by line on a new thread, sending each line (wrapped
/// by `wrap`) until EOF, a read error or the receiver going away.
fn spawn_reader<R: Read + Send + 'static>(source: R, tx: Sender<Msg>, wrap: impl Fn(String) -> Msg + Send + 'static) {
    thread::spawn(move || {
        let mut reader = BufReader::new(source);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) => return,
                Ok(_) => {
                    if tx.send(wrap(decode_line(&buf))).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    });
}

/// Strips the line terminator (`\n`, `\r\n`, stray trailing `\r`s) and
/// decodes lossily.
pub fn decode_line(raw: &[u8]) -> String {
    let mut end = raw.len();
    if raw[..end].ends_with(b"\n") {
        end -= 1;
    }
    while raw[..end].ends_with(b"\r") {
        end -= 1;
    }
    String::from_utf8_lossy(&raw[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_strips_terminators() {
        assert_eq!(decode_line(b"abc\r\n"), "abc");
        assert_eq!(decode_line(b"abc\n"), "abc");
        assert_eq!(decode_line(b"abc"), "abc");
        assert_eq!(decode_line(b"a\rb\r\r\n"), "a\rb");
        assert_eq!(decode_line(b"\n"), "");
    }

    #[test]
    fn decode_is_lossy() {
        assert_eq!(decode_line(b"x\xffy\n"), "x\u{fffd}y");
    }

    fn sh(script: &str) -> Vec<String> {
        vec!["sh".into(), "-c".into(), script.into()]
    }

    #[test]
    fn collects_lines_and_exit_code() {
        let mut lines = Vec::new();
        let outcome = run(
            &sh("printf 'a\\r\\nb\\nc'; exit 7"),
            Duration::from_secs(10),
            None,
            |l, _| lines.push(l.to_owned()),
        )
        .expect("run");
        assert_eq!(outcome, Outcome::Exited(7));
        assert_eq!(lines, ["a", "b", "c"]);
    }

    #[test]
    fn times_out_and_kills() {
        let began = Instant::now();
        let outcome = run(&sh("exec sleep 10"), Duration::from_millis(200), None, |_, _| {}).expect("run");
        assert_eq!(outcome, Outcome::TimedOut(Duration::from_millis(200)));
        assert!(began.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn input_script_reaches_stdin_after_its_marker() {
        let script = crate::input::parse("wait ready\nsend hello\\n").expect("script");
        let mut lines = Vec::new();
        let outcome = run(
            &sh("echo ready; read x; echo got $x"),
            Duration::from_secs(10),
            Some(script),
            |l, _| lines.push(l.to_owned()),
        )
        .expect("run");
        assert_eq!(outcome, Outcome::Exited(0));
        assert_eq!(lines, ["ready", "got hello"]);
    }

    #[test]
    fn without_a_script_stdin_is_empty() {
        let mut lines = Vec::new();
        let outcome = run(&sh("cat; echo done"), Duration::from_secs(10), None, |l, _| {
            lines.push(l.to_owned())
        })
        .expect("run");
        assert_eq!(outcome, Outcome::Exited(0));
        assert_eq!(lines, ["done"]);
    }

    #[test]
    fn missing_program_is_spawn_error() {
        let err = run(&["/nonexistent/qemu".into()], Duration::from_secs(1), None, |_, _| {}).expect_err("spawn");
        assert!(matches!(err, RunError::Spawn { .. }), "{err:?}");
        assert!(matches!(
            run(&[], Duration::from_secs(1), None, |_, _| {}),
            Err(RunError::EmptyCommand)
        ));
    }
}
