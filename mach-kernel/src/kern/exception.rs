//! Exceptions as messages (layer 3): when a thread takes an exception and its
//! task has an exception port, the kernel sends `exception_raise` (the
//! generated `exc` interface) with send rights to the thread and task, and
//! the thread waits for the reply (`entry::trap` does the waiting).
//! `KERN_SUCCESS` resumes it at the faulting instruction (the handler may
//! have fixed its memory meanwhile); any other reply, or the request being
//! destroyed (the port died: a send-once notification arrives instead), ends
//! the task as if there were no handler.

use super::ipc;
use super::task::Task;
use super::thread::Thread;
use super::wait;
use alloc::vec;
use core::sync::atomic::Ordering;
use hashbrown::HashMap;
use mach_abi::kern_return::{KERN_FAILURE, KERN_SUCCESS, KernReturn};
use mach_abi::message::MIG_REPLY_ID_OFFSET;
use mach_core::ipc::kimage::KernelReplyParts;
use mach_core::ipc::kmsg::KMsg;
use mach_core::ipc::{Ipc, KObject, PortId, WaitKey};
use mach_interfaces::exc;

/// Replies received, by thread id, until the thread collects them.
#[derive(Default)]
pub struct ExceptionReplies(HashMap<u64, KernReturn>);

impl ExceptionReplies {
    /// The reply for `thread`, if it has come.
    pub fn take(&mut self, thread: u64) -> Option<KernReturn> {
        self.0.remove(&thread)
    }
}

/// Sends `exception_raise` for `thread` of `task` to the task's exception
/// port; returns the reply port the thread waits on, or `None` when there is
/// no handler to ask (no exception port, or it died). Nothing is left behind
/// when it returns `None`.
pub fn send_raise(
    ipc: &mut Ipc,
    task: &Task,
    thread: &Thread,
    exception: u32,
    code: i64,
    subcode: i64,
) -> Option<PortId> {
    let port = task.exception_port.load(Ordering::Acquire);
    let task_port = task.port.load(Ordering::Relaxed);
    if port == 0 || task_port == 0 {
        return None;
    }
    let mut buf = [0u8; exc::EXCEPTION_RAISE_REQUEST_SIZE];
    let n = exc::encode_exception_raise_request(&mut buf, 0, 1, 2, exception as i32, code, subcode)?;
    // Every right is made before any is used, and given back if one fails.
    let rp = ipc.kobject_port_create(KObject::ExceptionReply(thread.id));
    let tport = ipc::thread_port(ipc, thread);
    let rights = [
        ipc.copy_kernel_send(port),
        ipc.make_send_once_right(rp),
        ipc.make_send_right(tport),
        ipc.make_send_right(task_port),
    ];
    let [Some(dest), Some(reply), Some(thread_right), Some(task_right)] = rights else {
        // The reply port dies first, so releasing its send-once right
        // sends no notification that would leave a reply behind.
        ipc.kobject_port_destroy(rp);
        for r in rights.into_iter().flatten() {
            ipc.release_right(r);
        }
        return None;
    };
    let parts = KernelReplyParts {
        rights: vec![thread_right, task_right],
        ..Default::default()
    };
    ipc.kernel_send_image(dest, reply, &buf[..n], parts);
    Some(rp)
}

/// A message arrived on the exception reply port of thread `thread_id`: the
/// handler's reply, or the send-once notification of a destroyed request.
pub fn reply_arrived(ipc: &mut Ipc, replies: &mut ExceptionReplies, thread_id: u64, kmsg: KMsg) {
    let port = kmsg.dest.port_id();
    let req = ipc.kernel_request(kmsg);
    let result = if req.image.len() >= 24
        && u32::from_le_bytes([req.image[20], req.image[21], req.image[22], req.image[23]]) as i32
            == exc::EXCEPTION_RAISE_ID + MIG_REPLY_ID_OFFSET
    {
        match exc::decode_exception_raise_reply(&req.image) {
            Ok(()) => KERN_SUCCESS,
            Err(e) => e,
        }
    } else {
        KERN_FAILURE
    };
    let reply = req.reply;
    ipc.kernel_request_done(req);
    ipc.release_right(reply);
    replies.0.insert(thread_id, result);
    if let Some(p) = port {
        wait::wake_all(WaitKey::Port(p));
    }
}
