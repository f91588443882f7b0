//! `harness symbolize`: a stdin-to-stdout filter that appends symbols to
//! backtrace addresses, and a one-shot lookup of addresses given as
//! arguments.
//!
//! The filter writes each line as soon as it is complete and flushes. So that
//! prompts without a newline still show up when run interactively, a partial
//! line is written after a short quiet period too, except for any trailing
//! part that could still grow into a backtrace address token.

use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::Duration;

use crate::backtrace::annotate_from;
use crate::symbols::SymbolTable;

/// Quiet period after which a partial line is written out.
const PARTIAL_FLUSH: Duration = Duration::from_millis(100);

/// Loads the kernel's symbols, warning once on stderr if that fails.
pub fn load_or_warn(kernel: &Path) -> Option<SymbolTable> {
    match SymbolTable::load(kernel) {
        Ok(table) => Some(table),
        Err(e) => {
            eprintln!("harness: warning: {e}; backtraces will not be symbolised");
            None
        }
    }
}

/// A resolver closure over an optional table.
pub fn resolver(table: Option<&SymbolTable>) -> impl Fn(u64) -> Option<String> + '_ {
    move |addr| table.and_then(|t| t.describe(addr))
}

/// Prints `0xADDR <symbol+0xOFF>` for each address (just the address when it
/// does not resolve). Returns false if the kernel's symbols were unreadable.
pub fn print_addrs(kernel: &Path, addrs: &[u64]) -> bool {
    let table = load_or_warn(kernel);
    let resolve = resolver(table.as_ref());
    for addr in addrs {
        match resolve(*addr) {
            Some(sym) => println!("{addr:#018x} <{sym}>"),
            None => println!("{addr:#018x}"),
        }
    }
    table.is_some()
}

/// Filters stdin to stdout. A closed stdout ends the filter quietly.
pub fn filter_stdin(kernel: &Path) -> io::Result<()> {
    let table = load_or_warn(kernel);
    let stdout = io::stdout();
    match filter(io::stdin(), &mut stdout.lock(), resolver(table.as_ref())) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Copies `input` to `out`, annotating backtrace lines with `resolve`.
pub fn filter<R, W>(input: R, out: &mut W, resolve: impl Fn(u64) -> Option<String>) -> io::Result<()>
where
    R: Read + Send + 'static,
    W: Write,
{
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    thread::spawn(move || read_chunks(input, &tx));
    // `pending` holds the current incomplete line; its first `written`
    // bytes have already been written out.
    let mut pending = Vec::new();
    let mut written = 0;
    loop {
        let received = if pending.len() > written {
            rx.recv_timeout(PARTIAL_FLUSH)
        } else {
            rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
        };
        match received {
            Ok(chunk) => {
                pending.extend_from_slice(&chunk);
                let mut start = 0;
                while let Some(nl) = pending[start..].iter().position(|&b| b == b'\n') {
                    let end = start + nl + 1;
                    let skip = if start == 0 { written } else { 0 };
                    write_line(out, &pending[start..end], skip, &resolve)?;
                    start = end;
                }
                if start > 0 {
                    pending.drain(..start);
                    written = 0;
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                let cut = flushable(&pending);
                if cut > written {
                    out.write_all(&pending[written..cut])?;
                    written = cut;
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                write_line(out, &pending, written, &resolve)?;
                return out.flush();
            }
        }
        out.flush()?;
    }
}

/// Sends chunks of `input` until EOF or a read error.
fn read_chunks(mut input: impl Read, tx: &mpsc::Sender<Vec<u8>>) {
    let mut buf = [0u8; 8192];
    loop {
        match input.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if tx.send(buf[..n].to_vec()).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// Writes `line` (terminator included, if any) from byte `skip` on,
/// annotated; the terminator (`\n` and any `\r` before it) is kept as is.
fn write_line(
    out: &mut impl Write,
    line: &[u8],
    skip: usize,
    resolve: &impl Fn(u64) -> Option<String>,
) -> io::Result<()> {
    let mut body = line.len();
    if line.ends_with(b"\n") {
        body -= 1;
    }
    while line[..body].ends_with(b"\r") {
        body -= 1;
    }
    out.write_all(&annotate_from(&line[..body], skip, resolve))?;
    out.write_all(&line[skip.max(body)..])
}

/// How much of a partial line can be written without splitting a token:
/// everything before the last `bt#` / `rip=` (or a trailing start of one).
fn flushable(partial: &[u8]) -> usize {
    let mut cut = partial.len();
    for needle in [&b"bt#"[..], b"rip="] {
        if let Some(p) = partial.windows(needle.len()).rposition(|w| w == needle) {
            cut = cut.min(p);
        }
        if let Some(k) = (1..needle.len()).rev().find(|&k| partial.ends_with(&needle[..k])) {
            cut = cut.min(partial.len() - k);
        }
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake(addr: u64) -> Option<String> {
        (addr >= 0x1000).then(|| format!("f+{:#x}", addr - 0x1000))
    }

    fn run_filter(input: &'static [u8]) -> Vec<u8> {
        let mut out = Vec::new();
        filter(input, &mut out, fake).expect("filter");
        out
    }

    #[test]
    fn filter_annotates_and_keeps_terminators() {
        let out = run_filter(b"hello\r\n  bt#0 0x0000000000001010\r\nrip=0x1001\nbt#1 0x1002");
        assert_eq!(
            out,
            b"hello\r\n  bt#0 0x0000000000001010 <f+0x10>\r\nrip=0x1001\nbt#1 0x1002 <f+0x2>".to_vec()
        );
    }

    #[test]
    fn filter_passes_empty_and_binary_input() {
        assert_eq!(run_filter(b""), b"".to_vec());
        assert_eq!(run_filter(b"\xff\n\n"), b"\xff\n\n".to_vec());
    }

    #[test]
    fn write_line_after_partial_flush() {
        let mut out = Vec::new();
        write_line(&mut out, b"$ bt#0 0x1001\r\n", 2, &fake).expect("write");
        assert_eq!(out, b"bt#0 0x1001 <f+0x1>\r\n".to_vec());
        let mut out = Vec::new();
        write_line(&mut out, b"abc\r\n", 4, &fake).expect("write");
        assert_eq!(out, b"\n".to_vec());
    }

    #[test]
    fn flushable_holds_back_token_starts() {
        assert_eq!(flushable(b"login: "), 7);
        assert_eq!(flushable(b"  bt#3 0xffff"), 2);
        assert_eq!(flushable(b"KERNEL PANIC rip=0x12"), 13);
        assert_eq!(flushable(b"abc b"), 4);
        assert_eq!(flushable(b"abc bt"), 4);
        assert_eq!(flushable(b"abc ri"), 4);
        assert_eq!(flushable(b""), 0);
    }

    /// A reader that yields a partial line, stalls, then finishes it.
    struct Stalling(Vec<&'static [u8]>);

    impl Read for Stalling {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Ok(0);
            }
            thread::sleep(PARTIAL_FLUSH * 3);
            let chunk = self.0.remove(0);
            buf[..chunk.len()].copy_from_slice(chunk);
            Ok(chunk.len())
        }
    }

    #[test]
    fn partial_line_is_flushed_and_later_annotated() {
        let input = Stalling(vec![b"$ ", b"bt#0 0x10", b"05 done\n"]);
        let mut out = Vec::new();
        filter(input, &mut out, fake).expect("filter");
        assert_eq!(out, b"$ bt#0 0x1005 <f+0x5> done\n".to_vec());
    }
}
