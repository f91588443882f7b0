//! In-kernel servers: messages sent to task, thread and host ports are
//! handled here, synchronously, in the sender's context, the way Mach's
//! `ipc_kobject_server` does it.

use alloc::vec::Vec;
use mach_abi::message::*;
use mach_core::ipc::kmsg::KMsg;
use mach_core::ipc::{Ipc, KERNEL_SPACE, KObject, KRight, PortRef, RightKind};

/// Serves one message addressed to a kernel object.
pub fn serve(ipc: &mut Ipc, obj: KObject, kmsg: KMsg) {
    let _ = obj;
    let reply = kmsg.reply;
    let id = kmsg.id;
    // Nothing is served yet: every request gets MIG_BAD_ID and its rights are released.
    destroy(ipc, kmsg);
    send_error(ipc, reply, id, MIG_BAD_ID);
}

/// Releases every right a request carried (the ownership rule on error).
fn destroy(ipc: &mut Ipc, kmsg: KMsg) {
    let rights: Vec<KRight> = kmsg.rights().skip(2).collect();
    // The destination right was consumed by delivery to the kernel.
    match kmsg.dest.port {
        PortRef::Port(_) => ipc.release_right(kmsg.dest),
        _ => {}
    }
    for r in rights {
        ipc.release_right(r);
    }
}

/// Sends a MIG error reply (`RetCode` only) on the request's reply right.
fn send_error(ipc: &mut Ipc, reply: KRight, request_id: i32, code: i32) {
    if reply.port_id().is_none() {
        ipc.release_right(reply);
        return;
    }
    let body = code.to_le_bytes().to_vec();
    ipc.kernel_send(KMsg {
        complex: false,
        id: request_id.wrapping_add(MIG_REPLY_ID_OFFSET),
        dest: reply,
        reply: KRight::NULL,
        body,
        descs: Vec::new(),
        sender: KERNEL_SPACE,
        seqno: 0,
    });
    let _ = RightKind::Send;
}
