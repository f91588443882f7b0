//! The kernel-object servers (layer 5): messages sent to task, thread and
//! host ports, device ports, memory-object control ports and exception reply
//! ports are handled here, synchronously, in the sender's context, the way
//! Mach's `ipc_kobject_server` does it. Decoding, the reply layout and the
//! ownership rule come from the generated code in `mach-interfaces`; these
//! modules only implement the calls, on top of the subsystems below them.
//!
//! A task port serves the `mach_port` subsystem on that task's IPC space (so
//! whoever holds a task's port can manage its names), `vm` and `task`
//! ([`task`]); a thread port `thread` ([`thread`]); the host name port
//! `host`, and the privileged host port `host` and `host_priv` ([`host`],
//! [`host_priv`]); the device master port and device ports `device`
//! ([`device`], the console's half in [`console`]); a memory object's control port `memory_object_control`
//! ([`memory_control`]); an exception reply port the handler's answer.
//!
//! [`serve`] runs with the kernel state in hand (`entry::lock` calls it after
//! each IPC operation that produced kernel messages). A server may keep a
//! request's reply right to answer later (`Err(MIG_NO_REPLY)`, the right held
//! with `Ipc::hold_right`): a console read waiting for input, a
//! `thread_abort` waiting for its thread to stop.

pub mod console;
pub mod device;
pub mod host;
pub mod host_priv;
pub mod mach_port;
pub mod memory_control;
pub mod task;
pub mod thread;
pub mod vm;

use super::exception;
use super::pager::Pagers;
use super::state::KernelState;
use mach_abi::port::MACH_NOTIFY_NO_SENDERS;
use mach_core::ipc::kimage::{KernelReplyParts, KernelRequest};
use mach_core::ipc::kmsg::KMsg;
use mach_core::ipc::{Ipc, KERNEL_SPACE, KObject, KRight};
use mach_interfaces::{Dispatch, Release};

/// Largest reply any kernel subsystem produces, plus room.
const REPLY_MAX: usize = 512;

/// What a server works with: the IPC state and pagers, the request's rights
/// and memory, and what it puts in its reply.
pub struct Ctx<'a> {
    pub ipc: &'a mut Ipc,
    pub pagers: &'a mut Pagers,
    /// The request's reply right, held aside until the reply goes out; a
    /// server that answers later takes it (leaving `KRight::NULL`) and
    /// returns `Err(MIG_NO_REPLY)`.
    pub reply: KRight,
    pub req: KernelRequest,
    pub out: KernelReplyParts,
}

impl Ctx<'_> {
    /// The out-of-line data behind handle `h` as bytes, whether it came as
    /// bytes or as kernel pages (empty if there is none).
    pub fn take_ool_bytes(&mut self, h: u64) -> alloc::vec::Vec<u8> {
        match self.req.take_ool_pages(h).and_then(crate::kern::vm::kpages::take) {
            Some(pages) => pages.into_bytes(),
            None => self.req.take_ool(h).unwrap_or_default(),
        }
    }
}

impl Release for Ctx<'_> {
    fn release_port(&mut self, name: u32, _received_type: u8) {
        if let Some(r) = self.req.take_right(name) {
            self.ipc.release_right(r);
        }
    }
    fn release_ool(&mut self, address: u64, _size: u64) {
        let _ = self.req.take_ool(address);
        if let Some(h) = self.req.take_ool_pages(address) {
            crate::kern::vm::kpages::discard(h);
        }
    }
    fn release_ool_ports(&mut self, address: u64, _count: u32, _received_type: u8) {
        for r in self.req.take_ool_ports(address).unwrap_or_default() {
            self.ipc.release_right(r);
        }
    }
}

/// Servers give back what they do not keep through their context.
macro_rules! delegate_release {
    ($server:ident) => {
        impl mach_interfaces::Release for $server<'_, '_> {
            fn release_port(&mut self, name: u32, t: u8) {
                self.ctx.release_port(name, t)
            }
            fn release_ool(&mut self, address: u64, size: u64) {
                self.ctx.release_ool(address, size)
            }
            fn release_ool_ports(&mut self, address: u64, count: u32, t: u8) {
                self.ctx.release_ool_ports(address, count, t)
            }
        }
    };
}
pub(super) use delegate_release;

/// Serves one message addressed to a kernel object and sends the reply.
pub fn serve(k: &mut KernelState, obj: KObject, kmsg: KMsg) {
    let KernelState {
        ipc,
        pagers,
        exceptions,
        ..
    } = k;
    match obj {
        KObject::ExceptionReply(thread) => return exception::reply_arrived(ipc, exceptions, thread, kmsg),
        KObject::MemoryControl(object) => return memory_control::serve(ipc, pagers, object, kmsg),
        KObject::Task(id) if kmsg.sender == KERNEL_SPACE && kmsg.id == MACH_NOTIFY_NO_SENDERS => {
            let req = ipc.kernel_request(kmsg);
            ipc.kernel_request_done(req);
            return task::no_senders(ipc, pagers, id);
        }
        _ => {}
    }
    let mut req = ipc.kernel_request(kmsg);
    let image = core::mem::take(&mut req.image);
    let reply_right = core::mem::replace(&mut req.reply, KRight::NULL);
    let mut reply = [0u8; REPLY_MAX];
    let mut ctx = Ctx {
        ipc,
        pagers,
        reply: reply_right,
        req,
        out: KernelReplyParts::default(),
    };
    let dispatch = match obj {
        KObject::Task(id) => task::serve(&mut ctx, id, &image, &mut reply),
        KObject::Host => host::serve(&mut ctx, false, &image, &mut reply),
        KObject::HostPriv => host::serve(&mut ctx, true, &image, &mut reply),
        KObject::DeviceMaster | KObject::Device(_) => device::serve(&mut ctx, obj, &image, &mut reply),
        KObject::Thread(thread) => thread::serve(&mut ctx, thread, &image, &mut reply),
        // Handled before the request is taken apart (above).
        KObject::ExceptionReply(_) | KObject::MemoryControl(_) => Dispatch::NoReply,
    };
    // The reply right, unless the server kept it to answer later
    // (`Err(MIG_NO_REPLY)`: `ctx.reply` is then null).
    let Ctx {
        ipc,
        req,
        out,
        reply: reply_right,
        ..
    } = ctx;
    // Whatever the server did not keep goes back (BadId: the whole request).
    ipc.kernel_request_done(req);
    match dispatch {
        Dispatch::Reply(n) | Dispatch::BadId(n) if n > 0 => ipc.kernel_reply(reply_right, &reply[..n], out),
        _ => ipc.release_right(reply_right),
    }
}
