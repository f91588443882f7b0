//! The client side of generated interfaces: a [`Transport`] over `mach_msg`
//! with a reply port of its own, and shortcuts for the task's own port.

use crate::ipc::{mach_msg_raw, mach_reply_port, mach_task_self};
use mach_abi::message::*;
use mach_interfaces::Transport;

pub use mach_interfaces::{device, host, mach_port, notify, task, thread, vm};

/// Sends requests and waits for replies on a reply port it owns. Each
/// thread that makes calls should have its own.
pub struct Rpc {
    reply: MachPortName,
}

impl Rpc {
    /// A transport with a fresh reply port.
    pub fn new() -> Self {
        Rpc {
            reply: mach_reply_port(),
        }
    }

    pub fn reply_port(&self) -> MachPortName {
        self.reply
    }
}

impl Default for Rpc {
    fn default() -> Self {
        Self::new()
    }
}

fn put32(buf: &mut [u8], off: usize, v: u32) {
    buf[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

/// A send-phase error (`MACH_SEND_*`): the request may have been destroyed
/// after its reply right was made, in which case a send-once notification is
/// on its way to the reply port.
fn is_send_error(r: i32) -> bool {
    (MACH_SEND_IN_PROGRESS..=MACH_SEND_INVALID_OPTIONS).contains(&r)
}

impl Rpc {
    /// Swaps in a fresh reply port and destroys the old one, as MIG clients do
    /// after a failed send, so a stray notification can never be taken for
    /// the next call's reply.
    fn replace_reply_port(&mut self) {
        let old = self.reply;
        self.reply = mach_reply_port();
        let _ = mach_interfaces::mach_port::mach_port_destroy(self, mach_task_self(), old);
    }
}

impl Transport for Rpc {
    fn call(&mut self, buf: &mut [u8], send_size: usize) -> Result<usize, i32> {
        if buf.len() < MACH_MSG_HEADER_SIZE || send_size > buf.len() {
            return Err(MACH_SEND_MSG_TOO_SMALL);
        }
        let bits = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
        let bits = (bits & !MACH_MSGH_BITS_LOCAL_MASK) | ((MACH_MSG_TYPE_MAKE_SEND_ONCE as u32) << 8);
        put32(buf, 0, bits);
        put32(buf, 12, self.reply);
        // SAFETY: the kernel writes at most buf.len() bytes into buf.
        let r = unsafe {
            mach_msg_raw(
                buf.as_mut_ptr() as u64,
                MACH_SEND_MSG | MACH_RCV_MSG,
                send_size as u32,
                buf.len() as u32,
                self.reply,
                0,
            )
        };
        if r != MACH_MSG_SUCCESS {
            if is_send_error(r) {
                self.replace_reply_port();
            }
            return Err(r);
        }
        let size = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize;
        Ok((size + MACH_MSG_TRAILER_SIZE).min(buf.len()))
    }

    fn send(&mut self, buf: &mut [u8], send_size: usize) -> Result<(), i32> {
        // SAFETY: a send-only mach_msg does not write the buffer.
        let r = unsafe { mach_msg_raw(buf.as_mut_ptr() as u64, MACH_SEND_MSG, send_size as u32, 0, 0, 0) };
        if r == MACH_MSG_SUCCESS { Ok(()) } else { Err(r) }
    }
}

/// The task's own port, looked up once per call site that needs it.
pub fn task() -> MachPortName {
    mach_task_self()
}
