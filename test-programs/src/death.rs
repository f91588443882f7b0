//! Death at random points with everything held (issue 9), run by
//! `test-exhaust` in its boot of its own, where the kernel's counts are its.
//!
//! Each round makes two child tasks from this image (`task_create` with
//! inherited memory, a thread started at a function here) and a page shared
//! with both, on which they report how far they got:
//!
//! * The **victim** sets up, one step per yield: ports and a port set with
//!   members; a request to the parent's service port carrying a send right to
//!   a receive right of its own (the parent puts a dead-name request on it)
//!   and answered with two send-once rights to a parent port and the only
//!   send right to a parent port with a no-senders request; messages queued
//!   on a port of its own carrying out-of-line memory (virtual and physical
//!   copies), an out-of-line port array, those rights, and a receive right
//!   with a message of its own queued; a thread blocked sending to a parent
//!   port whose queue (limit 1) it filled; a thread blocked receiving; a
//!   mapping of a memory object whose pager is the parent (which never
//!   answers) and a thread blocked in a fault on it; and the pager role: it
//!   holds the receive right of a memory object the mapper maps, and
//!   receives the kernel's requests without answering them. Its main thread
//!   ends blocked receiving on the port set. From the start it also holds a
//!   receive right (its inbox) the parent holds a dead-name request on.
//! * The **mapper** maps the victim's memory object and reads it: it waits
//!   for a pager that never answers.
//!
//! The parent answers the victim's one request while it yields (so what it
//! armed is known exactly), kills the victim with `task_terminate` after `k`
//! yields (`k` from a fixed seed; the last rounds wait until everything is
//! set up), and then checks what the tests below are named after.

use crate::fuzz::Rng;
use crate::fuzz::sweep::{Counts, boot_info, counts};
use crate::ipc_env::{Buf, Env, header, ool_desc, port_desc};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use mach_interfaces::exc::{self, ExcServer};
use mach_interfaces::memory_object as mo;
use mach_interfaces::{Dispatch, PolyPort, Release};
use mach_user::abi::exception::EXC_BAD_ACCESS;
use mach_user::abi::kern_return::KERN_FAILURE;
use mach_user::abi::message::*;
use mach_user::abi::port::*;
use mach_user::abi::traps::BootInfoKind;
use mach_user::ipc::{MsgBuf, mach_msg};
use mach_user::ool::OolRegion;
use mach_user::println;
use mach_user::rpc::{Rpc, mach_port as mp, task, vm};
use mach_user::trap::swtch;

const PAGE: u64 = 4096;
/// Rounds killed after a random number of yields, then rounds killed once
/// everything is set up.
const RANDOM_ROUNDS: u32 = 24;
const FULL_ROUNDS: u32 = 2;
const SEED: u64 = 9;
/// Yields before the kill in a random round: below this.
const MAX_YIELDS: u64 = 14;
/// Bounds on the waits (yields), so that a stall fails instead of hanging.
const FULL_WAIT: u32 = 5000;
const MAPPER_WAIT: u32 = 5000;

// Names the parent gives the victim.
/// Receive right: its inbox (the parent holds a send right with a dead-name request).
const INBOX: u32 = 0x3000;
/// Receive right: the memory object it is the pager of.
const OBJECT: u32 = 0x3100;
/// Send rights to the parent's service port, full port and memory object.
const SVC: u32 = 0x3200;
const FULL: u32 = 0x3300;
const POBJ: u32 = 0x3400;
// The mapper's name for the victim's memory object.
const MOBJ: u32 = 0x3000;

const ID_ASK: i32 = 0x0dea_0001;
const ID_GIVE: i32 = 0x0dea_0002;
const ID_QUEUED: i32 = 0x0dea_0003;
const ID_FULL: i32 = 0x0dea_0004;

// The victim's steps (the shared page's STEP word: the last one done).
const STARTED: u32 = 1;
const PORTS: u32 = 2;
const ASKED: u32 = 3;
const GOT: u32 = 4;
const QUEUED: u32 = 5;
const SENDER: u32 = 6;
const RECEIVER: u32 = 7;
const MAPPED: u32 = 8;
const FAULTER: u32 = 9;
const PAGER: u32 = 10;
const READY: u32 = 11;
const STEPS: usize = 12;

// The mapper's steps.
const M_MAPPING: u32 = 1;
const M_MAP_FAILED: u32 = 2;
const M_TOUCHING: u32 = 3;
const M_TOUCHED: u32 = 4;

/// The page shared with the children.
#[repr(C)]
struct Shared {
    /// The victim's last step done.
    step: AtomicU32,
    /// Its blocked threads: 1 once about to block (the sender: once its
    /// first message is queued), 2 if the blocking call ever returned.
    sender: AtomicU32,
    receiver: AtomicU32,
    faulter: AtomicU32,
    /// The mapper's last step.
    mapper: AtomicU32,
    /// The victim's failed step and the error (0 if none).
    failed_step: AtomicU32,
    failed_code: AtomicU32,
    /// Requests the victim received as the pager (and kept unanswered).
    pager_requests: AtomicU32,
    /// The error of the mapper's vm_map, if it failed.
    map_error: AtomicU32,
    /// Where the mapper reads.
    touch: AtomicU64,
}

/// Address of the shared page (inherited by the children with the rest of
/// this task's memory; the page itself is inherited shared).
static SHARED: AtomicU64 = AtomicU64::new(0);

fn shared() -> &'static Shared {
    // SAFETY: SHARED holds the address of a page mapped (inherited shared)
    // in this task and both children for as long as any of them runs (the
    // parent deallocates it only after its last round); Shared is a few
    // atomics, smaller than the page and aligned by it.
    unsafe { &*(SHARED.load(Ordering::Acquire) as *const Shared) }
}

const STACK: usize = 32768;
#[repr(C, align(16))]
struct Stack([u8; STACK]);
/// The children's thread stacks (each child runs on its own copy).
static mut STACKS: [Stack; 4] = [const { Stack([0; STACK]) }; 4];

fn stack_top(k: usize) -> u64 {
    (&raw const STACKS) as u64 + ((k + 1) * STACK) as u64 - 8
}

fn entry(f: extern "C" fn(u64) -> !) -> u64 {
    f as *const () as usize as u64
}

/// Blocks for good (until the task is killed).
fn park() -> ! {
    let port = mach_user::ipc::mach_reply_port();
    let mut b: MsgBuf<64> = MsgBuf::new();
    loop {
        mach_msg(&mut b, MACH_RCV_MSG, 0, port, 0);
    }
}

/// The value of a step's call, or (after recording the failure) parking.
fn must<T>(r: Result<T, i32>, step: u32) -> T {
    match r {
        Ok(v) => v,
        Err(code) => {
            let s = shared();
            s.failed_code.store(code as u32, Ordering::Release);
            s.failed_step.store(step, Ordering::Release);
            park()
        }
    }
}

fn sent(kr: i32) -> Result<(), i32> {
    if kr == MACH_MSG_SUCCESS { Ok(()) } else { Err(kr) }
}

fn done(step: u32) {
    shared().step.store(step, Ordering::Release);
    swtch();
}

/// The victim's first thread: the steps above, one per yield.
extern "C" fn victim_main(_: u64) -> ! {
    mach_user::ipc::forget_task_self();
    let me = mach_user::ipc::task_self();
    let mut rpc = Rpc::new();
    let s = shared();
    done(STARTED);

    let recv = |rpc: &mut Rpc| must(mp::mach_port_allocate(rpc, me, MACH_PORT_RIGHT_RECEIVE), PORTS);
    let queue = recv(&mut rpc);
    let rcv = recv(&mut rpc);
    let watched = recv(&mut rpc);
    let nested = recv(&mut rpc);
    let set = must(mp::mach_port_allocate(&mut rpc, me, MACH_PORT_RIGHT_PORT_SET), PORTS);
    for _ in 0..2 {
        let member = recv(&mut rpc);
        must(mp::mach_port_move_member(&mut rpc, me, member, set), PORTS);
    }
    done(PORTS);

    // The request: a send right to `watched` (the parent arms a dead-name
    // request on it), the reply to the inbox.
    let mut b: Buf = MsgBuf::new();
    header(
        &mut b,
        mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE) | MACH_MSGH_BITS_COMPLEX,
        40,
        SVC,
        INBOX,
        ID_ASK,
    );
    b.put32(24, 1);
    port_desc(&mut b, 28, watched, MACH_MSG_TYPE_MAKE_SEND);
    must(sent(mach_msg(&mut b, MACH_SEND_MSG, 40, 0, 0)), ASKED);
    done(ASKED);

    // The answer: two send-once rights and the only send right to the no-senders port.
    must(sent(mach_msg(&mut b, MACH_RCV_MSG, 0, INBOX, 0)), GOT);
    if b.header().id != ID_GIVE {
        must::<()>(Err(-1), GOT);
    }
    // The first send-once right (at 28) stays in the space.
    let (so_b, ns) = (b.get32(40), b.get32(52));
    done(GOT);

    // Out-of-line memory to queue: three pages (virtual copy), two
    // (physical copy), written so that they have frames.
    let v = must(vm::vm_allocate(&mut rpc, me, 0, 3 * PAGE, 1), QUEUED);
    let p = must(vm::vm_allocate(&mut rpc, me, 0, 2 * PAGE, 1), QUEUED);
    for (at, pages) in [(v, 3), (p, 2)] {
        for i in 0..pages {
            // SAFETY: the regions just allocated, used by this thread only.
            unsafe { core::ptr::write_volatile((at + i * PAGE) as *mut u64, at + i) };
        }
    }
    let array = [ns, SVC];
    let queued = |b: &mut Buf, dest: u32, size: u32| {
        header(
            b,
            mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, 0) | MACH_MSGH_BITS_COMPLEX,
            size,
            dest,
            0,
            ID_QUEUED,
        );
        must(sent(mach_msg(b, MACH_SEND_MSG, size, 0, 0)), QUEUED);
    };
    // A: virtual copy, one send-once right moved in, a copy of the send right.
    b.put32(24, 3);
    let off = ool_desc(&mut b, 28, v, (3 * PAGE) as u32, false, MACH_MSG_OOL_DESCRIPTOR, 0);
    b.0[28 + 9] = MACH_MSG_VIRTUAL_COPY;
    let off = port_desc(&mut b, off, so_b, MACH_MSG_TYPE_MOVE_SEND_ONCE);
    let off = port_desc(&mut b, off, ns, MACH_MSG_TYPE_COPY_SEND);
    queued(&mut b, queue, off as u32);
    // B: physical copy, a port array (more send rights), a send-once right
    // to the queue's own port.
    b.put32(24, 3);
    let off = ool_desc(&mut b, 28, p, (2 * PAGE) as u32, false, MACH_MSG_OOL_DESCRIPTOR, 0);
    let off = ool_desc(
        &mut b,
        off,
        array.as_ptr() as u64,
        2,
        false,
        MACH_MSG_OOL_PORTS_DESCRIPTOR,
        MACH_MSG_TYPE_COPY_SEND,
    );
    let off = port_desc(&mut b, off, queue, MACH_MSG_TYPE_MAKE_SEND_ONCE);
    queued(&mut b, queue, off as u32);
    // C: a receive right with a message of its own queued (a page, a send right).
    b.put32(24, 2);
    let off = ool_desc(&mut b, 28, v, PAGE as u32, false, MACH_MSG_OOL_DESCRIPTOR, 0);
    b.0[28 + 9] = MACH_MSG_VIRTUAL_COPY;
    let off = port_desc(&mut b, off, ns, MACH_MSG_TYPE_COPY_SEND);
    queued(&mut b, nested, off as u32);
    b.put32(24, 1);
    let off = port_desc(&mut b, 28, nested, MACH_MSG_TYPE_MOVE_RECEIVE);
    queued(&mut b, queue, off as u32);
    done(QUEUED);

    must(
        task::thread_create_running(&mut rpc, me, entry(sender_main), stack_top(1), 0),
        SENDER,
    );
    done(SENDER);
    must(
        task::thread_create_running(&mut rpc, me, entry(receiver_main), stack_top(2), u64::from(rcv)),
        RECEIVER,
    );
    done(RECEIVER);
    let a = must(vm::vm_map(&mut rpc, me, 0, 4 * PAGE, 1, POBJ, 0, 0, 3, 7, 1), MAPPED);
    done(MAPPED);
    must(
        task::thread_create_running(&mut rpc, me, entry(faulter_main), stack_top(3), a),
        FAULTER,
    );
    done(FAULTER);

    // The pager role: take the kernel's requests for the object the mapper
    // maps (init, then its data request) and answer none.
    for _ in 0..200 {
        if mach_msg(&mut b, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, OBJECT, 0) == MACH_MSG_SUCCESS
            && s.pager_requests.fetch_add(1, Ordering::AcqRel) + 1 == 2
        {
            break;
        }
        swtch();
    }
    done(PAGER);

    s.step.store(READY, Ordering::Release);
    mach_msg(&mut b, MACH_RCV_MSG, 0, set, 0);
    park()
}

/// Fills the parent's port (queue limit 1) and blocks sending a second message.
extern "C" fn sender_main(_: u64) -> ! {
    let s = shared();
    let mut b: Buf = MsgBuf::new();
    for n in 1..=2 {
        header(&mut b, mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, 0), 24, FULL, 0, ID_FULL);
        if mach_msg(&mut b, MACH_SEND_MSG, 24, 0, 0) != MACH_MSG_SUCCESS {
            break;
        }
        s.sender.store(n, Ordering::Release);
    }
    park()
}

/// Blocks receiving on a port nobody sends to.
extern "C" fn receiver_main(port: u64) -> ! {
    let s = shared();
    let mut b: Buf = MsgBuf::new();
    s.receiver.store(1, Ordering::Release);
    mach_msg(&mut b, MACH_RCV_MSG, 0, port as u32, 0);
    s.receiver.store(2, Ordering::Release);
    park()
}

/// Reads memory whose pager (the parent) never answers.
extern "C" fn faulter_main(at: u64) -> ! {
    let s = shared();
    s.faulter.store(1, Ordering::Release);
    // SAFETY: `at` is the start of a mapping of this task (vm_map above).
    unsafe { core::ptr::read_volatile(at as *const u64) };
    s.faulter.store(2, Ordering::Release);
    park()
}

/// The mapper: maps the victim's memory object and reads it.
extern "C" fn mapper_main(_: u64) -> ! {
    mach_user::ipc::forget_task_self();
    let me = mach_user::ipc::task_self();
    let mut rpc = Rpc::new();
    let s = shared();
    s.mapper.store(M_MAPPING, Ordering::Release);
    swtch();
    match vm::vm_map(&mut rpc, me, 0, 2 * PAGE, 1, MOBJ, 0, 0, 3, 7, 1) {
        Err(code) => {
            s.map_error.store(code as u32, Ordering::Release);
            s.mapper.store(M_MAP_FAILED, Ordering::Release);
        }
        Ok(at) => {
            s.touch.store(at, Ordering::Release);
            s.mapper.store(M_TOUCHING, Ordering::Release);
            // SAFETY: `at` is the start of the mapping just made.
            unsafe { core::ptr::read_volatile(at as *const u64) };
            s.mapper.store(M_TOUCHED, Ordering::Release);
        }
    }
    mach_user::trap::task_exit(0)
}

/// The parent's ports of one round (receive rights).
struct Ports {
    /// The victim's requests.
    svc: u32,
    /// Send-once rights are made from it: each comes back as one message here.
    so: u32,
    /// The victim gets its only send right; no-senders goes to `ns_notify`.
    ns: u32,
    ns_notify: u32,
    /// Dead-name notifications (the inbox, the watched port).
    dn_notify: u32,
    /// Queue limit 1: the victim fills it and blocks sending.
    full: u32,
    /// The memory object the parent is the (silent) pager of.
    object: u32,
    /// The mapper's exception port; the victim's.
    mapper_exc: u32,
    victim_exc: u32,
}

impl Ports {
    fn new(e: &mut Env) -> Ports {
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

    fn all(&self) -> [u32; 9] {
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
struct Served {
    /// The request was received (only the first is served).
    asked: bool,
    /// The parent's name for the send right to the victim's watched port,
    /// and whether a dead-name request is armed on it.
    watched: u32,
    armed: bool,
    /// The answer (two send-once rights, the no-senders port's send right)
    /// was queued for the victim.
    given: bool,
}

/// Releases what a received message carries.
fn discard(e: &mut Env, b: &Buf) {
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
fn drain(e: &mut Env, port: u32, id: i32) -> (u32, u32, [u32; 4]) {
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
fn serve(e: &mut Env, p: &Ports, served: &mut Served) {
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
struct Exceptions {
    count: u32,
    exception: i32,
    code: i64,
    subcode: i64,
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
fn handle_exception(e: &mut Env, port: u32, seen: &mut Exceptions) {
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

/// The counts a round must return to, with the free frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Baseline {
    counts: Option<Counts>,
    names: u32,
    frames: u64,
}

fn baseline(e: &mut Env) -> Baseline {
    Baseline {
        counts: counts(e),
        names: e.name_count(),
        frames: boot_info(BootInfoKind::FreeFrames),
    }
}

/// Results over all rounds, one per test.
#[derive(Default)]
struct Tally {
    setup: bool,
    notifications: bool,
    no_exception: bool,
    blocked_send: bool,
    pager_objects: bool,
    mapper: bool,
    audit: bool,
    reclaimed: bool,
    failures: u32,
    /// Rounds by the victim's step at the kill.
    at_step: [u32; STEPS],
    mapper_blocked: u32,
    max_frame_drift: i64,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            setup: true,
            notifications: true,
            no_exception: true,
            blocked_send: true,
            pager_objects: true,
            mapper: true,
            audit: true,
            reclaimed: true,
            ..Default::default()
        }
    }
}

/// Checks `ok`; on failure prints the round and `what` and clears `flag`.
fn expect(t: &mut Tally, flag: fn(&mut Tally) -> &mut bool, ok: bool, round: u32, what: core::fmt::Arguments) {
    if !ok {
        *flag(t) = false;
        t.failures += 1;
        println!("death: round {round}: FAILED: {what}");
    }
}

/// What the children had reached when the victim was killed.
#[derive(Debug, Clone, Copy)]
struct AtKill {
    step: u32,
    sender: u32,
    receiver: u32,
    faulter: u32,
    mapper: u32,
    pager_requests: u32,
}

fn at_kill() -> AtKill {
    let s = shared();
    AtKill {
        step: s.step.load(Ordering::Acquire),
        sender: s.sender.load(Ordering::Acquire),
        receiver: s.receiver.load(Ordering::Acquire),
        faulter: s.faulter.load(Ordering::Acquire),
        mapper: s.mapper.load(Ordering::Acquire),
        pager_requests: s.pager_requests.load(Ordering::Acquire),
    }
}

fn everything_held(a: &AtKill) -> bool {
    a.step == READY
        && a.sender == 1
        && a.receiver == 1
        && a.faulter == 1
        && a.mapper == M_TOUCHING
        && a.pager_requests == 2
}

/// When things happen in a round, in the parent's yields.
#[derive(Clone, Copy, Debug)]
struct Plan {
    /// Yields before the kill (None: once everything is set up).
    kill_after: Option<u64>,
    /// Yields before the mapper starts (after the kill if not below `kill_after`).
    mapper_after: u64,
}

/// One round.
fn round(e: &mut Env, n: u32, plan: Plan, t: &mut Tally) {
    crate::bench::settle();
    let base = baseline(e);
    let s = shared();
    for w in [
        &s.step,
        &s.sender,
        &s.receiver,
        &s.faulter,
        &s.mapper,
        &s.failed_step,
        &s.failed_code,
        &s.pager_requests,
        &s.map_error,
    ] {
        w.store(0, Ordering::Release);
    }
    s.touch.store(0, Ordering::Release);

    let p = Ports::new(e);
    let mut setup_ok = mp::mach_port_set_qlimit(&mut e.rpc, e.task, p.full, 1).is_ok();
    let so = |name| PolyPort {
        name,
        disposition: MACH_MSG_TYPE_MAKE_SEND_ONCE,
    };
    let make_send = |name| PolyPort {
        name,
        disposition: MACH_MSG_TYPE_MAKE_SEND,
    };
    // No senders yet and a make-send count of 0: armed, it fires once the
    // right the victim may be given is gone.
    setup_ok &=
        mp::mach_port_request_notification(&mut e.rpc, e.task, p.ns, MACH_NOTIFY_NO_SENDERS, 1, so(p.ns_notify))
            == Ok(0);
    let victim = task::task_create(&mut e.rpc, e.task, 1).unwrap_or(0);
    let mapper = task::task_create(&mut e.rpc, e.task, 1).unwrap_or(0);
    setup_ok &= victim != 0 && mapper != 0;
    let rpc = &mut e.rpc;
    setup_ok &= mp::mach_port_allocate_name(rpc, victim, MACH_PORT_RIGHT_RECEIVE, INBOX).is_ok();
    let inbox = mp::mach_port_extract_right(rpc, victim, INBOX, MACH_MSG_TYPE_MAKE_SEND as u32).map_or(0, |r| r.name);
    setup_ok &=
        mp::mach_port_request_notification(rpc, e.task, inbox, MACH_NOTIFY_DEAD_NAME, 0, so(p.dn_notify)) == Ok(0);
    setup_ok &= mp::mach_port_allocate_name(rpc, victim, MACH_PORT_RIGHT_RECEIVE, OBJECT).is_ok();
    let object = mp::mach_port_extract_right(rpc, victim, OBJECT, MACH_MSG_TYPE_MAKE_SEND as u32).map_or(0, |r| r.name);
    let moved = PolyPort {
        name: object,
        disposition: MACH_MSG_TYPE_MOVE_SEND,
    };
    setup_ok &= mp::mach_port_insert_right(rpc, mapper, MOBJ, moved).is_ok();
    for (name, port) in [(SVC, p.svc), (FULL, p.full), (POBJ, p.object)] {
        setup_ok &= mp::mach_port_insert_right(rpc, victim, name, make_send(port)).is_ok();
    }
    setup_ok &= task::task_set_exception_port(rpc, victim, make_send(p.victim_exc)).is_ok();
    setup_ok &= task::task_set_exception_port(rpc, mapper, make_send(p.mapper_exc)).is_ok();
    let victim_thread = task::thread_create_running(rpc, victim, entry(victim_main), stack_top(0), 0).unwrap_or(0);
    setup_ok &= victim_thread != 0;
    expect(
        t,
        |t| &mut t.setup,
        setup_ok,
        n,
        format_args!("the round's setup failed"),
    );

    let mut mapper_thread = 0;
    let mut start_mapper = |e: &mut Env| {
        if mapper_thread == 0 {
            mapper_thread =
                task::thread_create_running(&mut e.rpc, mapper, entry(mapper_main), stack_top(0), 0).unwrap_or(0);
        }
    };
    let mut served = Served::default();
    match plan.kill_after {
        Some(k) => {
            for i in 0..k {
                if i == plan.mapper_after {
                    start_mapper(e);
                }
                serve(e, &p, &mut served);
                swtch();
            }
        }
        None => {
            start_mapper(e);
            for _ in 0..FULL_WAIT {
                serve(e, &p, &mut served);
                if everything_held(&at_kill()) {
                    break;
                }
                swtch();
            }
            // Let the blocked threads settle into their waits.
            crate::bench::settle();
        }
    }
    let at = at_kill();
    t.at_step[(at.step as usize).min(STEPS - 1)] += 1;
    let killed = task::task_terminate(&mut e.rpc, victim);
    expect(
        t,
        |t| &mut t.setup,
        killed.is_ok(),
        n,
        format_args!("task_terminate: {killed:?}"),
    );
    // A mapper started after the kill finds the object's pager dead.
    start_mapper(e);
    let mapper_thread = mapper_thread;
    expect(
        t,
        |t| &mut t.setup,
        mapper_thread != 0,
        n,
        format_args!("the mapper's thread was not made"),
    );
    if plan.kill_after.is_none() {
        expect(
            t,
            |t| &mut t.setup,
            everything_held(&at),
            n,
            format_args!("not everything was set up before the kill: {at:?}"),
        );
    }
    let failed = s.failed_step.load(Ordering::Acquire);
    expect(
        t,
        |t| &mut t.setup,
        failed == 0,
        n,
        format_args!(
            "the victim's step {failed} failed: {:#x}",
            s.failed_code.load(Ordering::Acquire)
        ),
    );
    if at.mapper == M_TOUCHING {
        t.mapper_blocked += 1;
    }

    // The mapper: its read waited for the victim (or finds it dead); it
    // must end with a memory exception, never wait for ever.
    let mut seen = Exceptions::default();
    let mut mapper_dead = false;
    for _ in 0..MAPPER_WAIT {
        handle_exception(e, p.mapper_exc, &mut seen);
        if e.ptype(mapper).is_ok_and(|ty| ty & MACH_PORT_TYPE_DEAD_NAME != 0) {
            mapper_dead = true;
            break;
        }
        swtch();
    }
    handle_exception(e, p.mapper_exc, &mut seen);
    if !mapper_dead {
        // Failed below; ended here so that the boot can end.
        let _ = task::task_terminate(&mut e.rpc, mapper);
    }
    crate::bench::settle();
    let m = s.mapper.load(Ordering::Acquire);
    let touch = s.touch.load(Ordering::Acquire);
    let want = if m == M_TOUCHING { 1 } else { 0 };
    expect(
        t,
        |t| &mut t.mapper,
        mapper_dead
            && m != M_TOUCHED
            && (m == M_TOUCHING || m == M_MAP_FAILED)
            && seen.count == want
            && (want == 0 || (seen.exception, seen.code, seen.subcode as u64) == (EXC_BAD_ACCESS as i32, 14, touch)),
        n,
        format_args!(
            "mapper: dead {mapper_dead}, step {m} (map error {:#x}), {} exceptions (want {want}): type {} code {} subcode {:#x}, read at {touch:#x}",
            s.map_error.load(Ordering::Acquire),
            seen.count,
            seen.exception,
            seen.code,
            seen.subcode
        ),
    );
    let victim_dead = e.ptype(victim).is_ok_and(|ty| ty & MACH_PORT_TYPE_DEAD_NAME != 0);
    expect(
        t,
        |t| &mut t.reclaimed,
        victim_dead,
        n,
        format_args!("the victim's task port is not dead"),
    );
    let v = e.violations();
    expect(
        t,
        |t| &mut t.audit,
        v == Ok(0),
        n,
        format_args!("audit after the kill: {v:?}"),
    );

    // The victim's request, if it was never answered, goes unanswered.
    let _ = drain(e, p.svc, ID_ASK);
    // Notifications: each armed one exactly once, nothing else.
    let given = u32::from(served.given);
    let sos = drain(e, p.so, MACH_NOTIFY_SEND_ONCE);
    let nss = drain(e, p.ns_notify, MACH_NOTIFY_NO_SENDERS);
    let dns = drain(e, p.dn_notify, MACH_NOTIFY_DEAD_NAME);
    let mut names = [inbox, if served.armed { served.watched } else { 0 }];
    names.sort_unstable();
    let mut got = [dns.2[0], if dns.0 > 1 { dns.2[1] } else { 0 }];
    got.sort_unstable();
    let want_dn = 1 + u32::from(served.armed);
    expect(
        t,
        |t| &mut t.notifications,
        (sos.0, sos.1) == (2 * given, 0)
            && (nss.0, nss.1) == (given, 0)
            && (given == 0 || nss.2[0] == 1)
            && (dns.0, dns.1) == (want_dn, 0)
            && got == names,
        n,
        format_args!(
            "at {at:?}, {served:?}: send-once {sos:?} (want {}), no-senders {nss:?} (want {given}, make-send count 1), dead-name {dns:?} (want names {names:?})",
            2 * given
        ),
    );
    // The victim's threads died in their waits: no exception for a dying task.
    let vexc = drain(e, p.victim_exc, exc::EXCEPTION_RAISE_ID);
    expect(
        t,
        |t| &mut t.no_exception,
        (vexc.0, vexc.1) == (0, 0),
        n,
        format_args!("the dying victim raised {vexc:?} exceptions (at {at:?})"),
    );
    // The blocked send never completes: at most the one message that filled the queue.
    let full = drain(e, p.full, ID_FULL);
    let want_full = u32::from(at.sender >= 1);
    expect(
        t,
        |t| &mut t.blocked_send,
        full.0 <= 1 && full.0 >= want_full && full.1 == 0,
        n,
        format_args!(
            "{full:?} messages on the full port (sender at {}), want 1 at most",
            at.sender
        ),
    );
    // The object the victim mapped from the parent: terminated as often as initialised.
    let (mut init, mut request, mut term, mut other) = (0, 0, 0, 0);
    let mut b: Buf = MsgBuf::new();
    for _ in 0..16 {
        if mach_msg(&mut b, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, p.object, 0) != MACH_MSG_SUCCESS {
            break;
        }
        match b.header().id {
            mo::MEMORY_OBJECT_INIT_ID => init += 1,
            mo::MEMORY_OBJECT_DATA_REQUEST_ID => request += 1,
            mo::MEMORY_OBJECT_TERMINATE_ID => term += 1,
            _ => other += 1,
        }
        discard(e, &b);
    }
    expect(
        t,
        |t| &mut t.pager_objects,
        init == term && init <= 1 && (at.step < MAPPED || init == 1) && request <= init && other == 0,
        n,
        format_args!(
            "the parent's object: init {init}, data_request {request}, terminate {term}, other {other} (at {at:?})"
        ),
    );

    // Give everything of the round back.
    for name in p.all() {
        let _ = e.destroy(name);
    }
    for name in [victim, mapper, victim_thread, mapper_thread, inbox, served.watched] {
        if name != 0 {
            let _ = e.destroy(name);
        }
    }
    crate::bench::settle();
    let after = baseline(e);
    let v = e.violations();
    expect(
        t,
        |t| &mut t.audit,
        v == Ok(0),
        n,
        format_args!("audit after the round: {v:?}"),
    );
    let drift = after.frames as i64 - base.frames as i64;
    t.max_frame_drift = t.max_frame_drift.max(drift.abs());
    expect(
        t,
        |t| &mut t.reclaimed,
        (after.counts, after.names) == (base.counts, base.names) && drift == 0,
        n,
        format_args!("after the round {after:?}, before {base:?}"),
    );
    println!(
        "death: round {n}: {plan:?}: killed at {at:?}; served {served:?}; mapper step {m}, {} exceptions; free frames {drift:+}",
        seen.count
    );
}

/// Touches the next 64 KiB of this thread's stack, so that the rounds'
/// deeper calls find its pages resident and the free frames a round ends
/// with are all the round gave back.
#[inline(never)]
fn prefault_stack() {
    let mut pages = [0u8; 64 * 1024];
    for i in (0..pages.len()).step_by(PAGE as usize) {
        // SAFETY: an index into the array just made.
        unsafe { core::ptr::write_volatile(pages.as_mut_ptr().add(i), 1) };
    }
    core::hint::black_box(&pages);
}

/// Runs the rounds and reports one result per test; true if all passed.
pub fn run(e: &mut Env) -> bool {
    let Ok(page) = vm::vm_allocate(&mut e.rpc, e.task, 0, PAGE, 1) else {
        return crate::report("death_setup_complete", false, format_args!("no shared page"));
    };
    // Shared with the children (VM_INHERIT_SHARE), and faulted in before
    // the first round's counts are taken.
    let _ = vm::vm_inherit(&mut e.rpc, e.task, page, PAGE, 0);
    SHARED.store(page, Ordering::Release);
    shared().step.store(0, Ordering::Release);
    prefault_stack();
    let mut t = Tally::new();
    let mut rng = Rng::new(SEED);
    for n in 0..RANDOM_ROUNDS + FULL_ROUNDS {
        let plan = Plan {
            kill_after: (n < RANDOM_ROUNDS).then(|| rng.below(MAX_YIELDS)),
            mapper_after: rng.below(MAX_YIELDS),
        };
        round(e, n, plan, &mut t);
    }
    let _ = vm::vm_deallocate(&mut e.rpc, e.task, page, PAGE);
    println!(
        "death: {} rounds; victim's step at the kill (rounds per step 0..{READY}): {:?}; mapper blocked at {} kills; largest free-frame drift {}",
        RANDOM_ROUNDS + FULL_ROUNDS,
        t.at_step,
        t.mapper_blocked,
        t.max_frame_drift
    );
    let why = format_args!("see the death: lines above");
    let mut ok = crate::report("death_setup_complete", t.setup, why);
    ok &= crate::report("death_notifications_fire_once", t.notifications, why);
    ok &= crate::report("death_raises_no_exception", t.no_exception, why);
    ok &= crate::report("death_aborts_blocked_send", t.blocked_send, why);
    ok &= crate::report("death_terminates_pager_objects", t.pager_objects, why);
    ok &= crate::report("death_releases_blocked_mapper", t.mapper, why);
    ok &= crate::report("death_audit_clean", t.audit, why);
    ok &= crate::report("death_reclaims_everything", t.reclaimed, why);
    ok
}
