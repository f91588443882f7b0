//! The console device's input as data: the bytes the UART delivered, in a
//! bounded ring ([`InputRing`]: bytes that find it full are dropped and
//! counted), and the `device_read`s waiting for them ([`ConsoleInput`]),
//! served in the order they came, each with what is buffered: at least one
//! byte, at most what it asked for. A task may have at most
//! [`CONSOLE_READS_PER_TASK`] reads waiting, and all tasks together
//! [`CONSOLE_READS_MAX`], so waiting reads cannot drain the kernel. Every
//! number here comes from an untrusted request or from the wire; nothing
//! panics or allocates without asking.
//!
//! A read is answered at once when input is buffered
//! ([`ConsoleInput::read_now`]); otherwise it waits ([`ConsoleInput::wait`])
//! with a token (the kernel's: the reply right to answer on and the
//! request), given back with the bytes when it is served, or when
//! [`ConsoleInput::retain`] drops it (its reply port died).

use crate::device::DeviceError;
use alloc::collections::VecDeque;
use alloc::vec::Vec;

/// Bytes of input the console buffers.
pub const CONSOLE_INPUT_SIZE: usize = 4096;
/// Reads one task may have waiting.
pub const CONSOLE_READS_PER_TASK: usize = 4;
/// Reads all tasks together may have waiting.
pub const CONSOLE_READS_MAX: usize = 64;

/// A ring of at most [`CONSOLE_INPUT_SIZE`] bytes, oldest first.
pub struct InputRing {
    buf: [u8; CONSOLE_INPUT_SIZE],
    /// Index of the oldest byte.
    head: usize,
    len: usize,
    /// Bytes that arrived with the ring full, since boot.
    dropped: u64,
}

impl Default for InputRing {
    fn default() -> Self {
        Self::new()
    }
}

impl InputRing {
    pub const fn new() -> Self {
        InputRing {
            buf: [0; CONSOLE_INPUT_SIZE],
            head: 0,
            len: 0,
            dropped: 0,
        }
    }

    /// Appends what fits of `bytes`; the rest is dropped (and counted).
    /// Returns how many were kept.
    pub fn push(&mut self, bytes: &[u8]) -> usize {
        let room = CONSOLE_INPUT_SIZE - self.len;
        let kept = bytes.len().min(room);
        for &b in &bytes[..kept] {
            let at = (self.head + self.len) % CONSOLE_INPUT_SIZE;
            self.buf[at] = b;
            self.len += 1;
        }
        self.dropped = self.dropped.saturating_add((bytes.len() - kept) as u64);
        kept
    }

    /// Moves up to `max` of the oldest bytes to the end of `out`, which the
    /// caller has made room in; returns how many.
    pub fn take_into(&mut self, max: usize, out: &mut Vec<u8>) -> usize {
        let n = max.min(self.len).min(out.capacity() - out.len());
        for _ in 0..n {
            out.push(self.buf[self.head]);
            self.head = (self.head + 1) % CONSOLE_INPUT_SIZE;
        }
        self.len -= n;
        n
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes dropped since boot because the ring was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

/// A `device_read` waiting for input.
struct PendingRead<T> {
    /// The task that asked (the IPC space its request came from).
    account: u64,
    /// At most this many bytes.
    wanted: usize,
    token: T,
}

/// Why a read was refused (see [`ConsoleInput::read`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadRefused {
    /// `D_WOULD_BLOCK`: `D_NOWAIT` and nothing buffered.
    WouldBlock,
    /// `D_NO_MEMORY`: too many reads waiting (the task's or everyone's), or
    /// no memory for the reply.
    TooMany,
    /// `D_INVALID_SIZE`: a read of zero bytes.
    InvalidSize,
}

impl ReadRefused {
    /// The `D_*` code of the refusal.
    pub fn code(self) -> i32 {
        match self {
            ReadRefused::WouldBlock => mach_abi::device::D_WOULD_BLOCK,
            ReadRefused::TooMany => DeviceError::NoMemory.code(),
            ReadRefused::InvalidSize => DeviceError::InvalidSize.code(),
        }
    }
}

/// The console's input: the ring and the reads waiting on it. Reads wait
/// only while the ring is empty, so bytes that arrive go to the first
/// waiting read at once.
pub struct ConsoleInput<T> {
    ring: InputRing,
    reads: VecDeque<PendingRead<T>>,
}

impl<T> Default for ConsoleInput<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// Up to `wanted` buffered bytes in a new vector, or `None` if there is no
/// memory for it (the bytes stay buffered).
fn take(ring: &mut InputRing, wanted: usize) -> Option<Vec<u8>> {
    let n = wanted.min(ring.len());
    let mut v = Vec::new();
    v.try_reserve_exact(n).ok()?;
    ring.take_into(n, &mut v);
    Some(v)
}

impl<T> ConsoleInput<T> {
    pub const fn new() -> Self {
        ConsoleInput {
            ring: InputRing::new(),
            reads: VecDeque::new(),
        }
    }

    /// A read of at most `wanted` bytes, answered now if it can be:
    /// `Ok(Some(bytes))` when input is buffered (at least one byte),
    /// `Ok(None)` when it must wait for input ([`Self::wait`]). With
    /// `nowait` it never waits ([`ReadRefused::WouldBlock`] instead).
    pub fn read_now(&mut self, wanted: u32, nowait: bool) -> Result<Option<Vec<u8>>, ReadRefused> {
        if wanted == 0 {
            return Err(ReadRefused::InvalidSize);
        }
        // Earlier reads first (they wait only while nothing is buffered,
        // unless serving them ran out of memory).
        if !self.ring.is_empty() && self.reads.is_empty() {
            return take(&mut self.ring, wanted as usize)
                .map(Some)
                .ok_or(ReadRefused::TooMany);
        }
        if nowait {
            return Err(ReadRefused::WouldBlock);
        }
        Ok(None)
    }

    /// Queues a read of at most `wanted` bytes by `account` that
    /// [`Self::read_now`] could not answer, after the reads already waiting
    /// (the token is kept until it is served or dropped); a refused read
    /// (too many waiting) gets its token back.
    pub fn wait(&mut self, account: u64, wanted: u32, token: T) -> Result<(), (ReadRefused, T)> {
        if wanted == 0 {
            return Err((ReadRefused::InvalidSize, token));
        }
        if self.waiting_for(account) >= CONSOLE_READS_PER_TASK
            || self.reads.len() >= CONSOLE_READS_MAX
            || self.reads.try_reserve(1).is_err()
        {
            return Err((ReadRefused::TooMany, token));
        }
        let wanted = (wanted as usize).min(CONSOLE_INPUT_SIZE);
        self.reads.push_back(PendingRead { account, wanted, token });
        Ok(())
    }

    /// Buffers `bytes` (what does not fit is dropped and counted).
    pub fn input(&mut self, bytes: &[u8]) -> usize {
        self.ring.push(bytes)
    }

    /// Serves waiting reads in order while input is buffered: each gets
    /// what is there, up to what it asked for. Returns the served reads'
    /// tokens with their bytes, first served first.
    pub fn serve(&mut self) -> Vec<(T, Vec<u8>)> {
        let mut done = Vec::new();
        while !self.ring.is_empty() && !self.reads.is_empty() {
            if done.try_reserve(1).is_err() {
                break;
            }
            let wanted = self.reads.front().map_or(0, |r| r.wanted);
            let Some(bytes) = take(&mut self.ring, wanted) else {
                break;
            };
            if let Some(r) = self.reads.pop_front() {
                done.push((r.token, bytes));
            }
        }
        done
    }

    /// Drops the waiting reads whose token `keep` refuses (their reply port
    /// died), keeping the others in order; returns the dropped tokens.
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) -> Vec<T> {
        let mut dropped = Vec::new();
        let mut i = 0;
        while i < self.reads.len() {
            if keep(&self.reads[i].token) {
                i += 1;
                continue;
            }
            if dropped.try_reserve(1).is_err() {
                break;
            }
            if let Some(r) = self.reads.remove(i) {
                dropped.push(r.token);
            }
        }
        dropped
    }

    /// Bytes buffered now.
    pub fn buffered(&self) -> usize {
        self.ring.len()
    }

    /// Bytes dropped since boot because the buffer was full.
    pub fn dropped(&self) -> u64 {
        self.ring.dropped()
    }

    /// Reads waiting now.
    pub fn waiting(&self) -> usize {
        self.reads.len()
    }

    /// Reads `account` has waiting now.
    pub fn waiting_for(&self, account: u64) -> usize {
        self.reads.iter().filter(|r| r.account == account).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use mach_abi::device::*;

    #[test]
    fn ring_keeps_order_and_drops_what_does_not_fit() {
        let mut r = InputRing::new();
        assert_eq!(r.push(b"abc"), 3);
        let mut out = Vec::with_capacity(2);
        assert_eq!(r.take_into(10, &mut out), 2);
        assert_eq!(out, b"ab");
        // Wrap around the end: fill it exactly, then one more byte is dropped.
        let big = vec![7u8; CONSOLE_INPUT_SIZE - 1];
        assert_eq!(r.push(&big), CONSOLE_INPUT_SIZE - 1);
        assert_eq!(r.len(), CONSOLE_INPUT_SIZE);
        assert_eq!(r.push(b"xyz"), 0);
        assert_eq!(r.dropped(), 3);
        let mut all = Vec::with_capacity(CONSOLE_INPUT_SIZE + 5);
        assert_eq!(r.take_into(usize::MAX, &mut all), CONSOLE_INPUT_SIZE);
        assert_eq!(all[0], b'c');
        assert!(all[1..].iter().all(|&b| b == 7));
        assert!(r.is_empty());
        // Empty again, it takes bytes again.
        assert_eq!(r.push(b"q"), 1);
        assert_eq!(r.dropped(), 3);
    }

    #[test]
    fn buffered_input_answers_at_once_at_most_what_was_asked() {
        let mut c: ConsoleInput<u32> = ConsoleInput::new();
        c.input(b"hello");
        assert_eq!(c.read_now(3, false), Ok(Some(b"hel".to_vec())));
        assert_eq!(c.read_now(100, true), Ok(Some(b"lo".to_vec())));
        assert_eq!(c.buffered(), 0);
        assert_eq!(c.read_now(1, true), Err(ReadRefused::WouldBlock));
        assert_eq!(c.read_now(1, false), Ok(None));
        assert_eq!(c.read_now(0, false), Err(ReadRefused::InvalidSize));
        assert_eq!(c.wait(1, 0, 8), Err((ReadRefused::InvalidSize, 8)));
        assert_eq!(ReadRefused::WouldBlock.code(), D_WOULD_BLOCK);
        assert_eq!(ReadRefused::TooMany.code(), D_NO_MEMORY);
        assert_eq!(ReadRefused::InvalidSize.code(), D_INVALID_SIZE);
        // A huge request gets what there is.
        c.input(b"z");
        assert_eq!(c.read_now(u32::MAX, false), Ok(Some(b"z".to_vec())));
    }

    #[test]
    fn waiting_reads_are_served_in_order_with_what_arrived() {
        let mut c: ConsoleInput<u32> = ConsoleInput::new();
        assert_eq!(c.wait(1, 2, 10), Ok(()));
        assert_eq!(c.wait(2, 5, 20), Ok(()));
        assert_eq!(c.wait(1, 5, 30), Ok(()));
        assert_eq!(c.waiting(), 3);
        assert!(c.serve().is_empty());
        c.input(b"abc");
        assert_eq!(c.serve(), vec![(10, b"ab".to_vec()), (20, b"c".to_vec())]);
        assert_eq!(c.waiting(), 1);
        // Input that a waiting read has not taken yet is not a new read's.
        c.input(b"defgh");
        assert_eq!(c.read_now(1, true), Err(ReadRefused::WouldBlock));
        assert_eq!(c.serve(), vec![(30, b"defgh".to_vec())]);
        assert_eq!(c.waiting(), 0);
        assert_eq!(c.buffered(), 0);
    }

    #[test]
    fn waiting_reads_are_limited_per_task_and_in_all() {
        let mut c: ConsoleInput<u64> = ConsoleInput::new();
        for i in 0..CONSOLE_READS_PER_TASK as u64 {
            assert_eq!(c.wait(1, 1, i), Ok(()));
        }
        assert_eq!(c.wait(1, 1, 99), Err((ReadRefused::TooMany, 99)));
        assert_eq!(c.waiting_for(1), CONSOLE_READS_PER_TASK);
        // Another task still may, up to the total.
        let mut account = 2;
        while c.waiting() < CONSOLE_READS_MAX {
            assert_eq!(c.wait(account, 1, account), Ok(()));
            account += 1;
        }
        assert_eq!(c.wait(account, 1, 5), Err((ReadRefused::TooMany, 5)));
        // A served read makes room.
        c.input(b"x");
        assert_eq!(c.serve().len(), 1);
        assert_eq!(c.wait(account, 1, 6), Ok(()));
    }

    #[test]
    fn dropped_reads_give_their_tokens_back_and_the_rest_keep_their_turn() {
        let mut c: ConsoleInput<u32> = ConsoleInput::new();
        for t in 1..=4 {
            assert_eq!(c.wait(t as u64, 1, t), Ok(()));
        }
        assert_eq!(c.retain(|&t| t % 2 == 0), vec![1, 3]);
        assert_eq!(c.waiting(), 2);
        c.input(b"pq");
        assert_eq!(c.serve(), vec![(2, b"p".to_vec()), (4, b"q".to_vec())]);
        // A dropped read no longer counts against its task.
        assert_eq!(c.waiting_for(1), 0);
    }
}
