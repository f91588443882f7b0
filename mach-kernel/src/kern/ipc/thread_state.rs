//! The IPC layer's state of one thread: its receive buffer, the message a
//! sender handed it while it was blocked receiving, and the memo of its last
//! receive-buffer check. Owned by the IPC layer (`entry::mach_msg` is the only
//! user); `Thread` holds it by value, and this module depends on nothing else
//! in `kern`, so that type reference makes no import circle.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use mach_core::ipc::fastpath::HANDOFF_SIZE;
use spin::Mutex;

/// A receive buffer larger than this is not kept for the next call.
const KEEP_BUFFER: usize = 4096;

pub struct ThreadIpc {
    /// The message the thread is receiving, in its own terms. Kept from call
    /// to call so receiving does not allocate.
    msgbuf: Mutex<Vec<u8>>,
    /// A message handed to the thread while it was blocked receiving
    /// (`WakeReason::Handoff`), and the status its receive returns.
    pub handoff_msg: Mutex<[u8; HANDOFF_SIZE]>,
    handoff_status: AtomicI32,
    /// The last receive buffer found writable, `(address, size, map
    /// version)`: the check is skipped while the task's map is unchanged.
    probed: [AtomicU64; 3],
}

impl ThreadIpc {
    pub fn new() -> Self {
        ThreadIpc {
            msgbuf: Mutex::new(Vec::new()),
            handoff_msg: Mutex::new([0; HANDOFF_SIZE]),
            handoff_status: AtomicI32::new(0),
            probed: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(u64::MAX)],
        }
    }

    /// Takes the thread's receive buffer (give it back with [`Self::put_buffer`]).
    #[inline]
    pub fn take_buffer(&self) -> Vec<u8> {
        core::mem::take(&mut *self.msgbuf.lock())
    }

    /// Gives the receive buffer back after use; a large one is dropped.
    pub fn put_buffer(&self, mut bytes: Vec<u8>) {
        if bytes.capacity() > KEEP_BUFFER {
            bytes = Vec::new();
        }
        *self.msgbuf.lock() = bytes;
    }

    /// Records a handed-off message (written by its sender while this thread
    /// is blocked receiving).
    pub fn set_handoff(&self, msg: &[u8; HANDOFF_SIZE], status: i32) {
        *self.handoff_msg.lock() = *msg;
        self.handoff_status.store(status, Ordering::Relaxed);
    }

    pub fn handoff_status(&self) -> i32 {
        self.handoff_status.load(Ordering::Relaxed)
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
