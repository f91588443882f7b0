//! `mach_msg` and the port traps, with a message buffer type.

use crate::trap::raw_trap;
use core::sync::atomic::{AtomicU32, Ordering};
use mach_abi::message::*;
use mach_abi::traps;

/// A message buffer: 8-byte aligned bytes, large enough for `N` bytes of
/// message plus the trailer the kernel appends.
#[repr(C, align(8))]
pub struct MsgBuf<const N: usize>(pub [u8; N]);

impl<const N: usize> MsgBuf<N> {
    pub const fn new() -> Self {
        MsgBuf([0; N])
    }

    pub fn header(&self) -> MachMsgHeader {
        let w = |o: usize| u32::from_le_bytes([self.0[o], self.0[o + 1], self.0[o + 2], self.0[o + 3]]);
        MachMsgHeader {
            bits: w(0),
            size: w(4),
            remote_port: w(8),
            local_port: w(12),
            voucher_port: w(16),
            id: w(20) as i32,
        }
    }

    pub fn set_header(&mut self, h: &MachMsgHeader) {
        self.put32(0, h.bits);
        self.put32(4, h.size);
        self.put32(8, h.remote_port);
        self.put32(12, h.local_port);
        self.put32(16, h.voucher_port);
        self.put32(20, h.id as u32);
    }

    pub fn get32(&self, off: usize) -> u32 {
        u32::from_le_bytes([self.0[off], self.0[off + 1], self.0[off + 2], self.0[off + 3]])
    }

    pub fn get64(&self, off: usize) -> u64 {
        self.get32(off) as u64 | ((self.get32(off + 4) as u64) << 32)
    }

    pub fn put32(&mut self, off: usize, v: u32) {
        self.0[off..off + 4].copy_from_slice(&v.to_le_bytes());
    }

    pub fn put64(&mut self, off: usize, v: u64) {
        self.0[off..off + 8].copy_from_slice(&v.to_le_bytes());
    }

    /// The trailer after a received message.
    pub fn trailer(&self) -> MachMsgTrailer {
        let at = self.header().size as usize;
        if at + MACH_MSG_TRAILER_SIZE > N {
            return MachMsgTrailer::default();
        }
        MachMsgTrailer {
            trailer_type: self.get32(at),
            trailer_size: self.get32(at + 4),
            seqno: self.get32(at + 8),
            sender: [self.get32(at + 12), self.get32(at + 16)],
        }
    }

    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.0.as_mut_ptr()
    }
}

impl<const N: usize> Default for MsgBuf<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// The raw trap with any buffer address (for hostile-input tests).
///
/// # Safety
/// The kernel writes up to `rcv_size` bytes at `msg` when receiving.
pub unsafe fn mach_msg_raw(
    msg: u64,
    option: u32,
    send_size: u32,
    rcv_size: u32,
    rcv_name: u32,
    timeout: u32,
) -> MachMsgReturn {
    // SAFETY: guaranteed by the caller.
    let (rax, _) = unsafe {
        raw_trap(
            traps::MACH_MSG_TRAP,
            [
                msg,
                option as u64,
                send_size as u64,
                rcv_size as u64,
                rcv_name as u64,
                timeout as u64,
            ],
        )
    };
    rax as MachMsgReturn
}

/// `mach_msg` on a buffer: sends `send_size` bytes of it and/or receives
/// into all of it.
pub fn mach_msg<const N: usize>(
    buf: &mut MsgBuf<N>,
    option: u32,
    send_size: u32,
    rcv_name: MachPortName,
    timeout: u32,
) -> MachMsgReturn {
    let rcv = if option & MACH_RCV_MSG != 0 { N as u32 } else { 0 };
    // SAFETY: the kernel writes at most `rcv` = N bytes into the buffer.
    unsafe {
        mach_msg_raw(
            buf.as_mut_ptr() as u64,
            option,
            send_size.min(N as u32),
            rcv,
            rcv_name,
            timeout,
        )
    }
}

/// [`mach_msg`] on a byte slice: sends `send_size` bytes of it and/or
/// receives into all of it.
pub fn mach_msg_buf(
    buf: &mut [u8],
    option: u32,
    send_size: u32,
    rcv_name: MachPortName,
    timeout: u32,
) -> MachMsgReturn {
    let rcv = if option & MACH_RCV_MSG != 0 {
        buf.len() as u32
    } else {
        0
    };
    // SAFETY: the kernel reads at most send_size <= buf.len() bytes and
    // writes at most rcv = buf.len() bytes of the buffer.
    unsafe {
        mach_msg_raw(
            buf.as_mut_ptr() as u64,
            option,
            send_size.min(buf.len() as u32),
            rcv,
            rcv_name,
            timeout,
        )
    }
}

fn name_trap(n: i64) -> MachPortName {
    // SAFETY: these traps only create rights in the caller's space.
    unsafe { raw_trap(n, [0; 6]).0 as u32 }
}

/// A new receive right in the caller's space (for replies).
pub fn mach_reply_port() -> MachPortName {
    name_trap(traps::MACH_REPLY_PORT)
}

/// A send right to the caller's task port (each call adds a user reference).
pub fn mach_task_self() -> MachPortName {
    name_trap(traps::TASK_SELF_TRAP)
}

static TASK_SELF: AtomicU32 = AtomicU32::new(0);

/// This task's name for its own task port, asked of the kernel once and then
/// remembered (as Mach's `mach_task_self_`), so that code calling it often
/// (out-of-line regions' drops, releases) neither traps nor piles up user
/// references each time.
///
/// A task started on a copy of its parent's memory (`task_create` with
/// inherited memory, then a thread of its own) sees the parent's remembered
/// name: its first thread must call [`forget_task_self`] before anything
/// that uses this.
pub fn task_self() -> MachPortName {
    match TASK_SELF.load(Ordering::Relaxed) {
        0 => {
            let n = mach_task_self();
            TASK_SELF.store(n, Ordering::Relaxed);
            n
        }
        n => n,
    }
}

/// Forgets the names this task's memory remembers from the task it was
/// copied from: [`task_self`]'s (see there) and the boot task's host_priv
/// name ([`crate::start::host_priv`]).
pub fn forget_task_self() {
    TASK_SELF.store(0, Ordering::Relaxed);
    crate::start::forget_host_priv();
}

/// A send right to the calling thread's port.
pub fn mach_thread_self() -> MachPortName {
    name_trap(traps::THREAD_SELF_TRAP)
}

/// A send right to the host name port (unprivileged: the privileged host
/// port is given to boot tasks on their command line, `crate::start::host_priv`).
pub fn mach_host_self() -> MachPortName {
    name_trap(traps::HOST_SELF_TRAP)
}
