//! The fuzzer's transport for generated stubs: like `mach_user::rpc::Rpc`,
//! but it never waits. A request goes out with a zero send timeout and its
//! reply is taken only if it is already there when the send returns (the
//! kernel serves requests to its own ports inside the sender's `mach_msg`);
//! a request to a port nobody serves (a live port of the fuzzer's own, a
//! child's) times out at once. After any failure the reply port is replaced
//! and the old one destroyed, so a late reply can never be taken for the
//! next call's.

use mach_interfaces::Transport;
use mach_user::abi::message::*;
use mach_user::ipc::{mach_msg_raw, mach_reply_port};

pub struct FuzzRpc {
    reply: u32,
    /// For destroying old reply ports (kernel calls on the own task only).
    house: mach_user::rpc::Rpc,
}

impl FuzzRpc {
    pub fn new() -> Self {
        FuzzRpc {
            reply: mach_reply_port(),
            house: mach_user::rpc::Rpc::new(),
        }
    }

    /// The names this transport needs: its reply port and its housekeeper's.
    pub fn names(&self) -> [u32; 2] {
        [self.reply, self.house.reply_port()]
    }

    fn replace_reply_port(&mut self) {
        let old = core::mem::replace(&mut self.reply, mach_reply_port());
        let _ = mach_interfaces::mach_port::mach_port_destroy(&mut self.house, mach_user::ipc::task_self(), old);
    }
}

impl Default for FuzzRpc {
    fn default() -> Self {
        Self::new()
    }
}

fn put32(buf: &mut [u8], off: usize, v: u32) {
    buf[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

impl Transport for FuzzRpc {
    fn call(&mut self, buf: &mut [u8], send_size: usize) -> Result<usize, i32> {
        if buf.len() < MACH_MSG_HEADER_SIZE || send_size > buf.len() {
            return Err(MACH_SEND_MSG_TOO_SMALL);
        }
        let bits = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
        let bits = (bits & !MACH_MSGH_BITS_LOCAL_MASK) | ((MACH_MSG_TYPE_MAKE_SEND_ONCE as u32) << 8);
        put32(buf, 0, bits);
        put32(buf, 12, self.reply);
        let opt = MACH_SEND_MSG | MACH_RCV_MSG | MACH_SEND_TIMEOUT | MACH_RCV_TIMEOUT;
        // SAFETY: the kernel writes at most buf.len() bytes into buf.
        let r = unsafe {
            mach_msg_raw(
                buf.as_mut_ptr() as u64,
                opt,
                send_size as u32,
                buf.len() as u32,
                self.reply,
                0,
            )
        };
        if r != MACH_MSG_SUCCESS {
            self.replace_reply_port();
            return Err(r);
        }
        let size = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize;
        Ok((size + MACH_MSG_TRAILER_SIZE).min(buf.len()))
    }

    fn send(&mut self, buf: &mut [u8], send_size: usize) -> Result<(), i32> {
        if buf.len() < MACH_MSG_HEADER_SIZE || send_size > buf.len() {
            return Err(MACH_SEND_MSG_TOO_SMALL);
        }
        // SAFETY: a send-only mach_msg reads at most send_size bytes of buf.
        let r = unsafe {
            mach_msg_raw(
                buf.as_mut_ptr() as u64,
                MACH_SEND_MSG | MACH_SEND_TIMEOUT,
                send_size as u32,
                0,
                0,
                0,
            )
        };
        if r == MACH_MSG_SUCCESS { Ok(()) } else { Err(r) }
    }
}
