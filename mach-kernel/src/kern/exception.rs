//! Exceptions as messages: when a thread takes an exception and its task has
//! an exception port, the kernel sends `exception_raise` (the generated `exc`
//! interface) with send rights to the thread and task, and the thread waits
//! for the reply. `KERN_SUCCESS` resumes it at the faulting instruction (the
//! handler may have fixed its memory meanwhile); any other reply, or the
//! request being destroyed (the port died: a send-once notification arrives
//! instead), ends the task as if there were no handler.

use super::ipc;
use super::task::Task;
use super::thread::{Thread, WakeReason};
use super::wait;
use alloc::sync::Arc;
use alloc::vec;
use core::sync::atomic::Ordering;
use hashbrown::HashMap;
use mach_abi::kern_return::{KERN_FAILURE, KERN_SUCCESS, KernReturn};
use mach_abi::message::MIG_REPLY_ID_OFFSET;
use mach_core::ipc::kimage::KernelReplyParts;
use mach_core::ipc::kmsg::KMsg;
use mach_core::ipc::{Ipc, KObject, WaitKey};
use mach_interfaces::exc;
use spin::Mutex;

/// Replies received, by thread id, until the thread collects them.
static RESULTS: Mutex<Option<HashMap<u64, KernReturn>>> = Mutex::new(None);

/// Sends `exception_raise` for `thread` and waits for the answer; true means
/// the handler asked for the thread to resume.
pub fn raise(task: &Arc<Task>, thread: &Arc<Thread>, exception: u32, code: i64, subcode: i64) -> bool {
    let port = task.exception_port.load(Ordering::Acquire);
    if port == 0 {
        return false;
    }
    let reply_port = ipc::with(|ipc| {
        let dest = ipc.copy_kernel_send(port)?;
        let rp = ipc.kobject_port_create(KObject::ExceptionReply(thread.id));
        let reply = ipc.make_send_once_right(rp)?;
        let mut tport = thread.port.load(Ordering::Relaxed);
        if tport == 0 {
            tport = ipc.kobject_port_create(KObject::Thread(thread.id));
            thread.port.store(tport, Ordering::Relaxed);
        }
        let thread_right = ipc.make_send_right(tport)?;
        let task_right = ipc.make_send_right(task.port.load(Ordering::Relaxed))?;
        let mut buf = [0u8; exc::EXCEPTION_RAISE_REQUEST_SIZE];
        let n = exc::encode_exception_raise_request(&mut buf, 0, 1, 2, exception as i32, code, subcode)?;
        let parts = KernelReplyParts {
            rights: vec![thread_right, task_right],
            ..Default::default()
        };
        ipc.kernel_send_image(dest, reply, &buf[..n], parts);
        Some(rp)
    });
    let Some(rp) = reply_port else { return false };
    let result = loop {
        if let Some(r) = RESULTS.lock().as_mut().and_then(|m| m.remove(&thread.id)) {
            break r;
        }
        if wait::block(Some(WaitKey::Port(rp)), None) == WakeReason::Interrupted {
            break KERN_FAILURE;
        }
    };
    ipc::with(|ipc| ipc.kobject_port_destroy(rp));
    result == KERN_SUCCESS
}

/// A message arrived on the exception reply port of thread `thread_id`: the
/// handler's reply, or the send-once notification of a destroyed request.
pub fn reply_arrived(ipc: &mut Ipc, thread_id: u64, kmsg: KMsg) {
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
    RESULTS
        .lock()
        .get_or_insert_with(HashMap::new)
        .insert(thread_id, result);
    if let Some(p) = port {
        wait::wake_all(WaitKey::Port(p));
    }
}
