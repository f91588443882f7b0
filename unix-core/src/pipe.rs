//! A pipe's buffer and its end counts.
//!
//! This module owns what a pipe (or a FIFO) holds: at most
//! [`PIPE_CAPACITY`] bytes in a ring, and how many open file descriptions
//! read from and write to it. It applies Linux's rules: a read of an empty
//! pipe is end of file once no writer is left and "would block" before; a
//! write with no reader left is `EPIPE` (the server also sends `SIGPIPE`); a
//! write of at most [`PIPE_BUF`] bytes goes in whole or not at all, a larger
//! one may go in part.
//!
//! "Would block" is `Err(Errno::EAGAIN)`: for an `O_NONBLOCK` descriptor the
//! server returns it, otherwise it defers the caller's reply and retries when
//! a result's `wake` says the other side made progress.

use crate::errno::{Errno, Result};
use alloc::collections::VecDeque;
use linux_raw_sys::general::{POLLERR, POLLHUP, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM};

/// How many bytes a pipe holds (Linux's default, 16 pages).
pub const PIPE_CAPACITY: usize = 65536;
/// Writes of at most this many bytes are atomic.
pub const PIPE_BUF: usize = linux_raw_sys::general::PIPE_BUF as usize;

/// What a read or write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Io {
    /// Bytes moved (0 for a read is end of file).
    pub n: usize,
    /// Whether callers blocked on the other side may now make progress
    /// (readers after a write, writers after a read).
    pub wake: bool,
}

/// A pipe.
#[derive(Clone, Debug, Default)]
pub struct Pipe {
    buf: VecDeque<u8>,
    readers: u32,
    writers: u32,
}

impl Pipe {
    /// A new, empty pipe with one reader and one writer (as `pipe2` makes it).
    pub fn new() -> Pipe {
        Pipe {
            buf: VecDeque::new(),
            readers: 1,
            writers: 1,
        }
    }

    /// A pipe with no ends yet (a FIFO's, before anyone opens it).
    pub fn unopened() -> Pipe {
        Pipe::default()
    }

    /// Bytes waiting to be read.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether no byte is waiting.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Room left for writes.
    pub fn space(&self) -> usize {
        PIPE_CAPACITY.saturating_sub(self.buf.len())
    }

    /// Open read ends.
    pub fn readers(&self) -> u32 {
        self.readers
    }

    /// Open write ends.
    pub fn writers(&self) -> u32 {
        self.writers
    }

    /// One more read end (opening a FIFO for reading). `EMFILE` if the count
    /// would overflow.
    pub fn add_reader(&mut self) -> Result<()> {
        self.readers = self.readers.checked_add(1).ok_or(Errno::EMFILE)?;
        Ok(())
    }

    /// One more write end.
    pub fn add_writer(&mut self) -> Result<()> {
        self.writers = self.writers.checked_add(1).ok_or(Errno::EMFILE)?;
        Ok(())
    }

    /// A read end closed; true if that was the last one, so blocked writers
    /// must be woken (to get `EPIPE`).
    pub fn close_reader(&mut self) -> bool {
        let was = self.readers;
        self.readers = was.saturating_sub(1);
        was == 1
    }

    /// A write end closed; true if that was the last one, so blocked readers
    /// must be woken (to see end of file).
    pub fn close_writer(&mut self) -> bool {
        let was = self.writers;
        self.writers = was.saturating_sub(1);
        was == 1
    }

    /// Whether no end is open (the server can drop the pipe).
    pub fn is_closed(&self) -> bool {
        self.readers == 0 && self.writers == 0
    }

    /// Reads up to `out.len()` bytes. An empty pipe gives end of file
    /// (`n == 0`) when no writer is left, `EAGAIN` otherwise.
    pub fn read(&mut self, out: &mut [u8]) -> Result<Io> {
        if out.is_empty() {
            return Ok(Io { n: 0, wake: false });
        }
        if self.buf.is_empty() {
            if self.writers == 0 {
                return Ok(Io { n: 0, wake: false });
            }
            return Err(Errno::EAGAIN);
        }
        let n = out.len().min(self.buf.len());
        for (dst, src) in out.iter_mut().zip(self.buf.drain(..n)) {
            *dst = src;
        }
        Ok(Io { n, wake: true })
    }

    /// Writes `data`: `EPIPE` with no reader; at most [`PIPE_BUF`] bytes go
    /// in whole or give `EAGAIN`; more may go in part, and give `EAGAIN` only
    /// when the pipe is full. An empty write returns 0 at once (as Linux's).
    pub fn write(&mut self, data: &[u8]) -> Result<Io> {
        if data.is_empty() {
            return Ok(Io { n: 0, wake: false });
        }
        if self.readers == 0 {
            return Err(Errno::EPIPE);
        }
        let space = self.space();
        let n = if data.len() <= PIPE_BUF {
            if space < data.len() {
                return Err(Errno::EAGAIN);
            }
            data.len()
        } else {
            if space == 0 {
                return Err(Errno::EAGAIN);
            }
            data.len().min(space)
        };
        let chunk = data.get(..n).ok_or(Errno::EINVAL)?;
        self.buf.try_reserve(n).map_err(|_| Errno::ENOMEM)?;
        self.buf.extend(chunk.iter().copied());
        Ok(Io { n, wake: true })
    }

    /// `poll` bits for a read end: readable with data or once no writer is
    /// left (`POLLHUP` then too).
    pub fn poll_read_end(&self) -> u32 {
        let mut mask = 0;
        if !self.buf.is_empty() {
            mask |= POLLIN | POLLRDNORM;
        }
        if self.writers == 0 {
            mask |= POLLHUP;
        }
        mask
    }

    /// `poll` bits for a write end: writable while an atomic write fits,
    /// `POLLERR` once no reader is left.
    pub fn poll_write_end(&self) -> u32 {
        let mut mask = 0;
        if self.space() >= PIPE_BUF {
            mask |= POLLOUT | POLLWRNORM;
        }
        if self.readers == 0 {
            mask |= POLLERR;
        }
        mask
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    fn read_all(p: &mut Pipe) -> Vec<u8> {
        let mut out = vec![0; PIPE_CAPACITY * 2];
        let n = p.read(&mut out).map(|io| io.n).unwrap_or(0);
        out.truncate(n);
        out
    }

    #[test]
    fn bytes_come_out_in_order() {
        let mut p = Pipe::new();
        assert_eq!(p.write(b"hello "), Ok(Io { n: 6, wake: true }));
        assert_eq!(p.write(b"world"), Ok(Io { n: 5, wake: true }));
        assert_eq!(p.len(), 11);
        let mut buf = [0; 4];
        assert_eq!(p.read(&mut buf), Ok(Io { n: 4, wake: true }));
        assert_eq!(&buf, b"hell");
        assert_eq!(read_all(&mut p), b"o world");
        assert!(p.is_empty());
    }

    #[test]
    fn empty_pipe_blocks_until_writers_are_gone() {
        let mut p = Pipe::new();
        let mut buf = [0; 8];
        assert_eq!(p.read(&mut buf), Err(Errno::EAGAIN));
        p.add_writer().unwrap();
        assert!(!p.close_writer());
        assert_eq!(p.read(&mut buf), Err(Errno::EAGAIN));
        p.write(b"x").unwrap();
        assert!(p.close_writer(), "last writer wakes readers");
        // Data left is still read before end of file.
        assert_eq!(p.read(&mut buf), Ok(Io { n: 1, wake: true }));
        assert_eq!(p.read(&mut buf), Ok(Io { n: 0, wake: false }));
        assert_eq!(p.read(&mut []), Ok(Io { n: 0, wake: false }));
    }

    #[test]
    fn write_without_readers_is_epipe() {
        let mut p = Pipe::new();
        p.add_reader().unwrap();
        assert!(!p.close_reader());
        assert!(p.close_reader(), "last reader wakes writers");
        assert_eq!(p.write(b"x"), Err(Errno::EPIPE));
        assert_eq!(p.write(&[0; 10000]), Err(Errno::EPIPE));
        assert_eq!(p.write(b""), Ok(Io { n: 0, wake: false }));
        assert!(!p.is_closed());
        p.close_writer();
        assert!(p.is_closed());
        // Closing more than were opened saturates and wakes no one.
        assert!(!p.close_writer());
        assert!(!p.close_reader());
    }

    #[test]
    fn small_writes_are_atomic() {
        let mut p = Pipe::new();
        let fill = vec![1; PIPE_CAPACITY - 100];
        assert_eq!(p.write(&fill).map(|io| io.n), Ok(PIPE_CAPACITY - 100));
        assert_eq!(p.write(&[2; 101]), Err(Errno::EAGAIN));
        assert_eq!(
            p.len(),
            PIPE_CAPACITY - 100,
            "nothing of a refused atomic write went in"
        );
        assert_eq!(p.write(&[2; 100]).map(|io| io.n), Ok(100));
        assert_eq!(p.space(), 0);
        assert_eq!(p.write(&[3]), Err(Errno::EAGAIN));
        // PIPE_BUF exactly is still atomic.
        let mut p = Pipe::new();
        p.write(&vec![0; PIPE_CAPACITY - PIPE_BUF + 1]).unwrap();
        assert_eq!(p.write(&vec![0; PIPE_BUF]), Err(Errno::EAGAIN));
    }

    #[test]
    fn large_writes_may_be_partial() {
        let mut p = Pipe::new();
        p.write(&vec![1; PIPE_CAPACITY - 10]).unwrap();
        let big: Vec<u8> = (0..PIPE_BUF + 1).map(|i| i as u8).collect();
        assert_eq!(p.write(&big), Ok(Io { n: 10, wake: true }));
        assert_eq!(p.write(&big), Err(Errno::EAGAIN));
        let out = read_all(&mut p);
        assert_eq!(&out[PIPE_CAPACITY - 10..], &big[..10]);
        let huge = vec![7; PIPE_CAPACITY * 3];
        assert_eq!(p.write(&huge).map(|io| io.n), Ok(PIPE_CAPACITY));
    }

    #[test]
    fn ring_wraps_around() {
        let mut p = Pipe::new();
        let mut next = 0u8;
        let mut expect = 0u8;
        for round in 0..200 {
            let chunk: Vec<u8> = (0..1000 + round * 7)
                .map(|_| {
                    next = next.wrapping_add(1);
                    next
                })
                .collect();
            assert_eq!(p.write(&chunk).map(|io| io.n), Ok(chunk.len()));
            let mut out = vec![0; 900 + round * 7];
            let n = p.read(&mut out).unwrap().n;
            for &b in &out[..n] {
                expect = expect.wrapping_add(1);
                assert_eq!(b, expect);
            }
        }
    }

    #[test]
    fn poll_bits() {
        let mut p = Pipe::new();
        assert_eq!(p.poll_read_end(), 0);
        assert_eq!(p.poll_write_end(), POLLOUT | POLLWRNORM);
        p.write(b"x").unwrap();
        assert_eq!(p.poll_read_end(), POLLIN | POLLRDNORM);
        p.write(&vec![0; PIPE_CAPACITY - PIPE_BUF]).unwrap();
        assert_eq!(p.poll_write_end(), 0, "an atomic write no longer fits");
        let mut b = [0];
        p.read(&mut b).unwrap();
        assert_eq!(p.poll_write_end(), POLLOUT | POLLWRNORM);
        p.close_writer();
        assert_eq!(p.poll_read_end(), POLLIN | POLLRDNORM | POLLHUP);
        read_all(&mut p);
        assert_eq!(p.poll_read_end(), POLLHUP);
        p.close_reader();
        assert_eq!(p.poll_write_end() & POLLERR, POLLERR);
    }

    #[test]
    fn fifo_ends_start_at_zero() {
        let mut p = Pipe::unopened();
        assert!(p.is_closed());
        assert_eq!((p.readers(), p.writers()), (0, 0));
        assert_eq!(p.write(b"x"), Err(Errno::EPIPE));
        assert_eq!(p.read(&mut [0]), Ok(Io { n: 0, wake: false }));
        p.add_reader().unwrap();
        p.add_writer().unwrap();
        assert_eq!((p.readers(), p.writers()), (1, 1));
        p.readers = u32::MAX;
        assert_eq!(p.add_reader(), Err(Errno::EMFILE));
        p.writers = u32::MAX;
        assert_eq!(p.add_writer(), Err(Errno::EMFILE));
    }
}
