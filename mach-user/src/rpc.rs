//! The client side of generated interfaces: a [`Transport`] over `mach_msg`
//! with a reply port of its own, and shortcuts for the task's own port.

use crate::ipc::{mach_msg_raw, mach_reply_port, mach_task_self};
use mach_abi::message::*;
use mach_interfaces::Transport;

pub use mach_interfaces::{device, host, host_priv, mach_port, notify, task, thread, vm};

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

/// One-way sends that never wait: `mach_msg(SEND | SEND_TIMEOUT)` with a zero
/// timeout, for simpleroutines to ports a server does not trust to have room
/// (a pager's answers on control ports: a task that passed a full port of its
/// own as "control" cannot stall the pager). Routines (`call`) are refused
/// with `MACH_SEND_INVALID_REPLY`: there is no reply port to wait on.
pub struct NoWait;

impl Transport for NoWait {
    fn call(&mut self, _buf: &mut [u8], _send_size: usize) -> Result<usize, i32> {
        Err(MACH_SEND_INVALID_REPLY)
    }

    fn send(&mut self, buf: &mut [u8], send_size: usize) -> Result<(), i32> {
        if buf.len() < MACH_MSG_HEADER_SIZE || send_size > buf.len() {
            return Err(MACH_SEND_MSG_TOO_SMALL);
        }
        // SAFETY: a send-only mach_msg reads at most send_size <= buf.len()
        // bytes of buf and writes nothing.
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

/// Sends the request `encode` writes with no reply port: the kernel serves
/// requests to its own ports (the task port here) while the sender is still
/// in `mach_msg`, so the call is done when this returns; its reply, having
/// nowhere to go, is dropped. Returns the send's error only (the call's own
/// result is lost). For clean-up on paths that cannot report failure (drops,
/// releases), where waiting for a reply would cost a receive for nothing.
fn no_reply(encode: impl FnOnce(&mut [u8]) -> Option<usize>) -> Result<(), i32> {
    let mut buf = mach_interfaces::MsgBuf::<64>::new();
    let n = encode(&mut buf.0).ok_or(MIG_ARRAY_TOO_LARGE)?;
    NoWait.send(&mut buf.0, n)
}

/// `vm_deallocate(task, address, size)` without waiting for the reply (see
/// [`no_reply`]; the kernel has unmapped the range when this returns).
pub fn vm_deallocate_no_reply(task: MachPortName, address: u64, size: u64) -> Result<(), i32> {
    no_reply(|b| vm::encode_vm_deallocate_request(b, task, address, size))
}

/// `mach_port_deallocate(task, name)` without waiting for the reply.
pub fn mach_port_deallocate_no_reply(task: MachPortName, name: MachPortName) -> Result<(), i32> {
    no_reply(|b| mach_port::encode_mach_port_deallocate_request(b, task, name))
}

/// `mach_port_mod_refs(task, name, right, delta)` without waiting for the reply.
pub fn mach_port_mod_refs_no_reply(task: MachPortName, name: MachPortName, right: u32, delta: i32) -> Result<(), i32> {
    no_reply(|b| mach_port::encode_mach_port_mod_refs_request(b, task, name, right, delta))
}

/// A [`Release`](mach_interfaces::Release) for servers of this task: gives
/// back the rights and out-of-line memory of a request the server does not
/// keep (receive rights lose their reference, send and send-once rights are
/// deallocated, memory is unmapped), with calls that wait for no reply.
/// Null and dead names are skipped; errors are ignored (a right the task
/// no longer has needs no release).
pub struct Discard;

impl mach_interfaces::Release for Discard {
    fn release_port(&mut self, name: u32, received_type: u8) {
        if !mach_port_valid(name) {
            return;
        }
        let task = crate::ipc::task_self();
        let _ = if received_type == MACH_MSG_TYPE_PORT_RECEIVE {
            mach_port_mod_refs_no_reply(task, name, mach_abi::port::MACH_PORT_RIGHT_RECEIVE, -1)
        } else {
            mach_port_deallocate_no_reply(task, name)
        };
    }

    fn release_ool(&mut self, address: u64, size: u64) {
        drop(crate::ool::OolRegion::from_received(address, size));
    }

    fn release_ool_ports(&mut self, address: u64, count: u32, received_type: u8) {
        let names = crate::ool::OolRegion::u32s(mach_interfaces::OolArray { address, count });
        for name in names.words() {
            self.release_port(name, received_type);
        }
    }
}
