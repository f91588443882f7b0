//! The IPC layer's state of one thread: its message buffers, the message a
//! sender handed it while it was blocked receiving, the memo of its last
//! receive-buffer check, and the answers the kernel owes once the thread
//! stops on its way out of the kernel (`thread_abort` of a suspended thread). Owned by the IPC layer (`entry::mach_msg` is the only
//! user); `Thread` holds it by value, and this module depends on nothing else
//! in `kern`, so that type reference makes no import circle.
//!
//! A handed-off message of up to [`SMALL_MSG`] bytes is written into a fixed
//! array of the receiver's (the RPC fast path's common case: no allocation,
//! no buffer juggling); a larger one travels as a buffer: the sender swaps
//! its buffer (the message in the receiver's terms) with the receiver's, so
//! its bytes are copied once into the kernel and once out.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use mach_abi::message::{MACH_MSG_HEADER_SIZE, MACH_MSG_TRAILER_SIZE};
use mach_core::ipc::Held;
use spin::{Mutex, MutexGuard};

/// Size of a reply with no outputs (the header and its return code).
pub const STOP_REPLY_SIZE: usize = MACH_MSG_HEADER_SIZE + 4;

/// An answer owed once the thread stops: the reply right (held in the IPC
/// model) and the reply to send on it.
pub struct StopReply {
    pub reply: Held,
    pub image: [u8; STOP_REPLY_SIZE],
}

/// A buffer larger than this is not kept for the next call.
const KEEP_BUFFER: usize = 8192;

/// Messages up to this size (header and inline data) are sent from the
/// kernel stack and handed over in a fixed array.
pub const SMALL_MSG: usize = 256;
const SMALL_RECEIVED: usize = SMALL_MSG + MACH_MSG_TRAILER_SIZE;
/// A received message's header and trailer, side by side.
const HANDOFF_ENDS: usize = MACH_MSG_HEADER_SIZE + MACH_MSG_TRAILER_SIZE;

/// A message handed to a thread: in `small` when it fits (its length in
/// `len`), else in `large`.
pub struct Handoff {
    len: usize,
    small: [u8; SMALL_RECEIVED],
    large: Vec<u8>,
}

impl Handoff {
    /// The message's bytes.
    pub fn bytes(&self) -> &[u8] {
        match self.small.get(..self.len) {
            Some(b) if self.len != 0 => b,
            _ => &self.large,
        }
    }
}

pub struct ThreadIpc {
    /// The message the thread is sending or receiving. Kept from call to
    /// call so messaging does not allocate.
    msgbuf: Mutex<Vec<u8>>,
    /// A second buffer, for the message a general send hands over.
    spare: Mutex<Vec<u8>>,
    /// A message handed to the thread while it was blocked receiving
    /// (`WakeReason::Handoff`), in its terms, and what its receive returns.
    handoff: Mutex<Handoff>,
    handoff_status: AtomicI32,
    /// The last receive buffer found writable, `(address, size, map
    /// version)`: the check is skipped while the task's map is unchanged.
    probed: [AtomicU64; 3],
    /// Answers owed once the thread stops (see [`StopReply`]).
    stop_replies: Mutex<Vec<StopReply>>,
}

/// Gives a buffer back to its slot; a large one is dropped.
#[inline(always)]
fn keep(slot: &Mutex<Vec<u8>>, mut bytes: Vec<u8>) {
    if bytes.capacity() > KEEP_BUFFER {
        bytes = Vec::new();
    }
    *slot.lock() = bytes;
}

impl ThreadIpc {
    pub fn new() -> Self {
        ThreadIpc {
            msgbuf: Mutex::new(Vec::new()),
            spare: Mutex::new(Vec::new()),
            handoff: Mutex::new(Handoff {
                len: 0,
                small: [0; SMALL_RECEIVED],
                large: Vec::new(),
            }),
            handoff_status: AtomicI32::new(0),
            probed: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(u64::MAX)],
            stop_replies: Mutex::new(Vec::new()),
        }
    }

    /// Owes `r` until the thread stops; gives it back if there is no memory
    /// to keep it.
    pub fn defer_stop_reply(&self, r: StopReply) -> Result<(), StopReply> {
        let mut v = self.stop_replies.lock();
        if v.try_reserve(1).is_err() {
            return Err(r);
        }
        v.push(r);
        Ok(())
    }

    /// The answers owed, to be sent now (the thread has stopped or ended).
    pub fn take_stop_replies(&self) -> Vec<StopReply> {
        core::mem::take(&mut *self.stop_replies.lock())
    }

    /// Takes the thread's message buffer (give it back with [`Self::put_buffer`]).
    #[inline]
    pub fn take_buffer(&self) -> Vec<u8> {
        core::mem::take(&mut *self.msgbuf.lock())
    }

    /// Gives the message buffer back after use.
    #[inline]
    pub fn put_buffer(&self, bytes: Vec<u8>) {
        keep(&self.msgbuf, bytes)
    }

    /// Takes the spare buffer (give it back with [`Self::put_spare`]).
    #[inline]
    pub fn take_spare(&self) -> Vec<u8> {
        core::mem::take(&mut *self.spare.lock())
    }

    #[inline]
    pub fn put_spare(&self, bytes: Vec<u8>) {
        keep(&self.spare, bytes)
    }

    /// Hands a small message to this thread, which is blocked receiving and
    /// was taken off its wait by the caller: `ends` is its header and
    /// trailer in this thread's terms, `body` the inline data between them
    /// (at most `SMALL_MSG - header` bytes); false (nothing written) if it
    /// does not fit.
    #[inline]
    pub fn give_small_handoff(&self, ends: &[u8; HANDOFF_ENDS], body: &[u8], status: i32) -> bool {
        let (header, trailer) = ends.split_at(MACH_MSG_HEADER_SIZE);
        let at = MACH_MSG_HEADER_SIZE + body.len();
        let mut h = self.handoff.lock();
        // Every piece is checked to fit before anything is written.
        let Some(room) = h.small.get_mut(..at + MACH_MSG_TRAILER_SIZE) else {
            return false;
        };
        let (start, end) = room.split_at_mut(at);
        start[..MACH_MSG_HEADER_SIZE].copy_from_slice(header);
        start[MACH_MSG_HEADER_SIZE..].copy_from_slice(body);
        end.copy_from_slice(trailer);
        h.len = at + MACH_MSG_TRAILER_SIZE;
        drop(h);
        self.handoff_status.store(status, Ordering::Relaxed);
        true
    }

    /// Hands `msg` (a whole message in this thread's terms, trailer
    /// included) to this thread, as [`Self::give_handoff`] does: copied when
    /// small, swapped with this thread's large buffer otherwise.
    #[inline]
    pub fn give_handoff_bytes(&self, msg: &mut Vec<u8>, status: i32) {
        let mut h = self.handoff.lock();
        if let Some(dst) = h.small.get_mut(..msg.len()) {
            dst.copy_from_slice(msg);
            h.len = msg.len();
        } else {
            h.len = 0;
            core::mem::swap(&mut h.large, msg);
        }
        drop(h);
        self.handoff_status.store(status, Ordering::Relaxed);
    }

    /// Hands `msg` (a message in this thread's terms) to this thread, which
    /// is blocked receiving and was taken off its wait by the caller; `msg`
    /// gets this thread's previous large handoff buffer in exchange.
    #[inline]
    pub fn give_handoff(&self, msg: &mut Vec<u8>, status: i32) {
        let mut h = self.handoff.lock();
        h.len = 0;
        core::mem::swap(&mut h.large, msg);
        drop(h);
        self.handoff_status.store(status, Ordering::Relaxed);
    }

    /// The message handed to this thread, held until the guard goes (the
    /// slot is written only while the thread is blocked receiving, so nobody
    /// waits for it meanwhile), and what its receive returns.
    #[inline]
    pub fn handoff(&self) -> (MutexGuard<'_, Handoff>, i32) {
        (self.handoff.lock(), self.handoff_status.load(Ordering::Relaxed))
    }

    /// Whether `(addr, size)` was the last buffer found writable at map `version`.
    #[inline]
    pub fn probe_remembered(&self, addr: u64, size: u32, version: u64) -> bool {
        let [a, s, v] = &self.probed;
        a.load(Ordering::Relaxed) == addr
            && s.load(Ordering::Relaxed) == size as u64
            && v.load(Ordering::Relaxed) == version
    }

    /// Whether the last buffer check was made at map `version` (a thread
    /// blocked in a receive checked its buffer just before).
    #[inline]
    pub fn probe_current(&self, version: u64) -> bool {
        self.probed[2].load(Ordering::Relaxed) == version
    }

    /// Remembers that `(addr, size)` was writable at map `version`.
    pub fn remember_probe(&self, addr: u64, size: u32, version: u64) {
        let [a, s, v] = &self.probed;
        a.store(addr, Ordering::Relaxed);
        s.store(size as u64, Ordering::Relaxed);
        v.store(version, Ordering::Relaxed);
    }
}

impl Default for ThreadIpc {
    fn default() -> Self {
        Self::new()
    }
}
