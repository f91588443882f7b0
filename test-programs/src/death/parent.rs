//! The parent's side of the children's messages: its ports of a round, the
//! answer to the victim's request, the mapper's exception, and receiving
//! and releasing whatever else arrives.

use super::*;
use crate::ipc_env::{Buf, header, port_desc};
use mach_interfaces::exc::{self, ExcServer};
use mach_interfaces::{Dispatch, PolyPort, Release};
use mach_user::abi::kern_return::KERN_FAILURE;
use mach_user::abi::message::*;
use mach_user::abi::port::*;
use mach_user::ipc::{MsgBuf, mach_msg};
use mach_user::ool::OolRegion;
use mach_user::rpc::mach_port as mp;

/// The parent's ports of one round (receive rights).
pub(super) struct Ports {
    /// The victim's requests.
    pub(super) svc: u32,
    /// Send-once rights are made from it: each comes back as one message here.
    pub(super) so: u32,
    /// The victim gets its only send right; no-senders goes to `ns_notify`.
    pub(super) ns: u32,
    pub(super) ns_notify: u32,
    /// Dead-name notifications (the inbox, the watched port).
    pub(super) dn_notify: u32,
    /// Queue limit 1: the victim fills it and blocks sending.
    pub(super) full: u32,
    /// The memory object the parent is the (silent) pager of.
    pub(super) object: u32,
    /// The mapper's exception port; the victim's.
    pub(super) mapper_exc: u32,
    pub(super) victim_exc: u32,
}

impl Ports {
    pub(super) fn new(e: &mut Env) -> Ports {
        Ports {
            svc: e.port(),
            so: e.port(),
            ns: e.port(),
            ns_notify: e.port(),
            dn_notify: e.port(),
            full: e.port(),
            object: e.port(),
            mapper_exc: e.port(),
            victim_exc: e.port(),
        }
    }

    pub(super) fn all(&self) -> [u32; 9] {
        // Notification ports first: what destroying the others sends then goes nowhere.
        [
            self.ns_notify,
            self.dn_notify,
            self.svc,
            self.so,
            self.ns,
            self.full,
            self.object,
            self.mapper_exc,
            self.victim_exc,
        ]
    }
}

/// What the parent did for the victim's request.
#[derive(Default, Debug)]
pub(super) struct Served {
    /// The request was received (only the first is served).
    pub(super) asked: bool,
    /// The parent's name for the send right to the victim's watched port,
    /// and whether a dead-name request is armed on it.
    pub(super) watched: u32,
    pub(super) armed: bool,
    /// The answer (two send-once rights, the no-senders port's send right)
    /// was queued for the victim.
    pub(super) given: bool,
}

/// Releases what a received message carries.
pub(super) fn discard(e: &mut Env, b: &Buf) {
    let h = b.header();
    if mach_msgh_bits_remote(h.bits) != 0 && mach_port_valid(h.remote_port) {
        let _ = e.dealloc(h.remote_port);
    }
    if h.bits & MACH_MSGH_BITS_COMPLEX == 0 {
        return;
    }
    let mut off = 28;
    for _ in 0..b.get32(24).min(64) {
        if off + 16 > b.0.len() {
            return;
        }
        match b.0[off + MACH_MSG_DESCRIPTOR_TYPE_OFFSET] {
            MACH_MSG_PORT_DESCRIPTOR => {
                let name = b.get32(off);
                if mach_port_valid(name) {
                    if b.0[off + 10] == MACH_MSG_TYPE_PORT_RECEIVE {
                        let _ = e.destroy(name);
                    } else {
                        let _ = e.dealloc(name);
                    }
                }
                off += MACH_MSG_PORT_DESCRIPTOR_SIZE;
            }
            MACH_MSG_OOL_DESCRIPTOR | MACH_MSG_OOL_VOLATILE_DESCRIPTOR => {
                drop(OolRegion::from_received(b.get64(off), u64::from(b.get32(off + 12))));
                off += MACH_MSG_OOL_DESCRIPTOR_SIZE;
            }
            MACH_MSG_OOL_PORTS_DESCRIPTOR => {
                let names = OolRegion::from_received(b.get64(off), 4 * u64::from(b.get32(off + 12)));
                for name in names.words().filter(|&n| mach_port_valid(n)) {
                    let _ = e.dealloc(name);
                }
                off += MACH_MSG_OOL_DESCRIPTOR_SIZE;
            }
            _ => return,
        }
    }
}

/// Receives what is queued on `port` (polling) and releases it: how many
/// messages had id `id`, how many another, and the first word of the body
/// of each of the first four with `id`.
pub(super) fn drain(e: &mut Env, port: u32, id: i32) -> (u32, u32, [u32; 4]) {
    let (mut hits, mut others, mut words) = (0, 0, [0; 4]);
    let mut b: Buf = MsgBuf::new();
    for _ in 0..64 {
        if mach_msg(&mut b, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, port, 0) != MACH_MSG_SUCCESS {
            break;
        }
        if b.header().id == id {
            if (hits as usize) < words.len() {
                words[hits as usize] = b.get32(24);
            }
            hits += 1;
        } else {
            others += 1;
        }
        discard(e, &b);
    }
    (hits, others, words)
}

/// Answers the victim's request if it is queued: arms a dead-name request on
/// the send right it carries, then gives two send-once rights to `so` and
/// the only send right to `ns`.
pub(super) fn serve(e: &mut Env, p: &Ports, served: &mut Served) {
    let mut b: Buf = MsgBuf::new();
    if mach_msg(&mut b, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, p.svc, 0) != MACH_MSG_SUCCESS {
        return;
    }
    let h = b.header();
    if served.asked || h.id != ID_ASK || h.bits & MACH_MSGH_BITS_COMPLEX == 0 {
        discard(e, &b);
        return;
    }
    served.asked = true;
    served.watched = b.get32(28);
    let so = PolyPort {
        name: p.dn_notify,
        disposition: MACH_MSG_TYPE_MAKE_SEND_ONCE,
    };
    served.armed = mp::mach_port_request_notification(&mut e.rpc, e.task, served.watched, MACH_NOTIFY_DEAD_NAME, 0, so)
        .is_ok_and(|previous| previous == 0);
    let reply = h.remote_port;
    header(
        &mut b,
        mach_msgh_bits(MACH_MSG_TYPE_MOVE_SEND_ONCE, 0) | MACH_MSGH_BITS_COMPLEX,
        64,
        reply,
        0,
        ID_GIVE,
    );
    b.put32(24, 3);
    port_desc(&mut b, 28, p.so, MACH_MSG_TYPE_MAKE_SEND_ONCE);
    port_desc(&mut b, 40, p.so, MACH_MSG_TYPE_MAKE_SEND_ONCE);
    port_desc(&mut b, 52, p.ns, MACH_MSG_TYPE_MAKE_SEND);
    served.given = mach_msg(&mut b, MACH_SEND_MSG | MACH_SEND_TIMEOUT, 64, 0, 0) == MACH_MSG_SUCCESS;
    if !served.given {
        let _ = e.dealloc(reply);
    }
}

/// The mapper's exceptions, as the parent's handler saw them.
#[derive(Default)]
pub(super) struct Exceptions {
    pub(super) count: u32,
    pub(super) exception: i32,
    pub(super) code: i64,
    pub(super) subcode: i64,
}

struct Handler<'a> {
    e: &'a mut Env,
    seen: &'a mut Exceptions,
}

impl Release for Handler<'_> {
    fn release_port(&mut self, name: u32, _t: u8) {
        let _ = self.e.dealloc(name);
    }
    fn release_ool(&mut self, _a: u64, _s: u64) {}
    fn release_ool_ports(&mut self, _a: u64, _c: u32, _t: u8) {}
}

impl ExcServer for Handler<'_> {
    fn exception_raise(
        &mut self,
        _port: u32,
        thread: u32,
        task: u32,
        exception: i32,
        code: i64,
        subcode: i64,
    ) -> Result<(), i32> {
        self.seen.count += 1;
        self.seen.exception = exception;
        self.seen.code = code;
        self.seen.subcode = subcode;
        let _ = (thread, task);
        // Not handled: the kernel ends the mapper (and the dispatch releases
        // the thread and task rights the request carried).
        Err(KERN_FAILURE)
    }
}

/// Handles an exception message queued on `port`, if there is one.
pub(super) fn handle_exception(e: &mut Env, port: u32, seen: &mut Exceptions) {
    let mut req: Buf = MsgBuf::new();
    if mach_msg(&mut req, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, port, 0) != MACH_MSG_SUCCESS {
        return;
    }
    let mut reply: MsgBuf<512> = MsgBuf::new();
    let size = (req.header().size as usize + MACH_MSG_TRAILER_SIZE).min(req.0.len());
    let mut h = Handler { e, seen };
    match exc::exc_server(&mut h, &req.0[..size], &mut reply.0) {
        Dispatch::Reply(n) => {
            if mach_msg(&mut reply, MACH_SEND_MSG | MACH_SEND_TIMEOUT, n as u32, 0, 0) != MACH_MSG_SUCCESS {
                let r = reply.header().remote_port;
                let _ = h.e.dealloc(r);
            }
        }
        _ => discard(h.e, &req),
    }
}
