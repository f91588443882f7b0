//! An exception handler for tests: a thread of the test receives
//! `exception_raise` messages on a port, records what the last one said
//! ([`SEEN`]), lets the test's `answer` act on the faulting task, and
//! replies with its result (success resumes the thread).

use core::sync::atomic::{AtomicI64, Ordering};
use mach_interfaces::exc::{self, ExcServer};
use mach_interfaces::{Dispatch, Release};
use mach_user::abi::message::*;
use mach_user::ipc::{MsgBuf, mach_msg};
use mach_user::rpc::{Rpc, mach_port as mp};

/// What the last exception message said.
pub struct Seen {
    pub exception: AtomicI64,
    pub code: AtomicI64,
    pub subcode: AtomicI64,
}

pub static SEEN: Seen = Seen {
    exception: AtomicI64::new(0),
    code: AtomicI64::new(0),
    subcode: AtomicI64::new(0),
};

impl Seen {
    /// (exception, code, subcode) of the last message.
    pub fn last(&self) -> (i64, i64, i64) {
        (
            self.exception.load(Ordering::Acquire),
            self.code.load(Ordering::Acquire),
            self.subcode.load(Ordering::Acquire),
        )
    }
}

/// What the handler does before replying: given an RPC transport, the
/// faulting task's port and the subcode (the fault address for a page
/// fault), returns the reply's result.
pub type Answer = fn(&mut Rpc, u32, i64) -> Result<(), i32>;

struct Handler {
    rpc: Rpc,
    answer: Answer,
}

impl Release for Handler {
    fn release_port(&mut self, name: u32, _t: u8) {
        let _ = mp::mach_port_deallocate(&mut self.rpc, mach_user::ipc::mach_task_self(), name);
    }
    fn release_ool(&mut self, _a: u64, _s: u64) {}
    fn release_ool_ports(&mut self, _a: u64, _c: u32, _t: u8) {}
}

impl ExcServer for Handler {
    fn exception_raise(
        &mut self,
        _port: u32,
        thread: u32,
        task: u32,
        exception: i32,
        code: i64,
        subcode: i64,
    ) -> Result<(), i32> {
        SEEN.exception.store(exception as i64, Ordering::Release);
        SEEN.code.store(code, Ordering::Release);
        SEEN.subcode.store(subcode, Ordering::Release);
        let r = (self.answer)(&mut self.rpc, task, subcode);
        // We own the rights we were sent.
        self.release_port(thread, 0);
        self.release_port(task, 0);
        r
    }
}

/// Receives `count` exception messages on `port`, answering each (call it
/// on the handler's own thread).
pub fn serve(port: u32, count: usize, answer: Answer) {
    let mut h = Handler {
        rpc: Rpc::new(),
        answer,
    };
    let mut req: MsgBuf<512> = MsgBuf::new();
    let mut reply: MsgBuf<512> = MsgBuf::new();
    for _ in 0..count {
        if mach_msg(&mut req, MACH_RCV_MSG, 0, port, 0) == MACH_MSG_SUCCESS {
            let size = (req.header().size as usize + MACH_MSG_TRAILER_SIZE).min(512);
            if let Dispatch::Reply(n) = exc::exc_server(&mut h, &req.0[..size], &mut reply.0) {
                mach_msg(&mut reply, MACH_SEND_MSG, n as u32, 0, 0);
            }
        }
    }
}
