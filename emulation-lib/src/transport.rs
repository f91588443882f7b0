//! The library's side of its RPCs to the Unix server: a
//! `mach_interfaces::Transport` that sends on the process's port and waits
//! on its reply port, both under the names the server gave them
//! (`unix_abi::PROCESS_PORT_NAME`, `REPLY_PORT_NAME`).

use crate::trampoline::mach_msg;
use mach_abi::message::*;
use mach_interfaces::Transport;
use unix_abi::{PROCESS_PORT_NAME, REPLY_PORT_NAME};

/// The transport every system call family uses.
pub struct Rpc;

/// The target every request names: the process's own port.
pub const PROCESS: u32 = PROCESS_PORT_NAME;

fn put32(buf: &mut [u8], off: usize, v: u32) {
    buf[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

impl Transport for Rpc {
    fn call(&mut self, buf: &mut [u8], send_size: usize) -> Result<usize, i32> {
        if buf.len() < MACH_MSG_HEADER_SIZE || send_size > buf.len() {
            return Err(MACH_SEND_MSG_TOO_SMALL);
        }
        let bits = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
        let bits = (bits & !MACH_MSGH_BITS_LOCAL_MASK) | ((MACH_MSG_TYPE_MAKE_SEND_ONCE as u32) << 8);
        put32(buf, 0, bits);
        put32(buf, 12, REPLY_PORT_NAME);
        let r = mach_msg(buf, MACH_SEND_MSG | MACH_RCV_MSG, send_size, REPLY_PORT_NAME);
        if r != MACH_MSG_SUCCESS {
            return Err(r);
        }
        let size = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize;
        Ok((size + MACH_MSG_TRAILER_SIZE).min(buf.len()))
    }

    fn send(&mut self, buf: &mut [u8], send_size: usize) -> Result<(), i32> {
        let r = mach_msg(buf, MACH_SEND_MSG, send_size, 0);
        if r == MACH_MSG_SUCCESS { Ok(()) } else { Err(r) }
    }
}
