//! The handoff and RPC fast paths of mach_msg, against a server thread of
//! this task blocked in its receive: many null RPCs, servers on port sets,
//! blocked receivers with too small buffers or timeouts, the remembered
//! receive-buffer probe, message order, stale replies, and ports dying under
//! blocked threads. Every group ends with the IPC audit.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicI32, AtomicU32, AtomicUsize, Ordering};
use mach_interfaces::PolyPort;
use mach_user::abi::kern_return::KERN_INVALID_NAME;
use mach_user::abi::message::*;
use mach_user::abi::port::*;
use mach_user::ipc::{mach_msg, mach_msg_raw};
use mach_user::ool::OolRegion;
use mach_user::rpc::{mach_port as mp, task, thread, vm};
use mach_user::thread::StaticStack;
use mach_user::trap::swtch;
use test_programs::check_eq;
use test_programs::ipc_env::*;

mach_user::entry!(main);

/// A request with this id ends a serving worker.
const QUIT: i32 = 9999;
/// A worker's reply carries the request's id plus this.
const REPLY: i32 = 100_000;
/// A header-only message as received: header and trailer.
const HANDOFF: u32 = (MACH_MSG_HEADER_SIZE + MACH_MSG_TRAILER_SIZE) as u32;

fn main(_args: mach_user::start::Args) -> i32 {
    let mut e = Env::new();
    let mut ok = true;
    ok &= null_rpc(&mut e);
    ok &= port_sets(&mut e);
    ok &= small_buffers(&mut e);
    ok &= timeouts(&mut e);
    ok &= probe_cache(&mut e);
    ok &= ordering(&mut e);
    ok &= stale(&mut e);
    ok &= dead_ports(&mut e);
    if ok { 0 } else { 1 }
}

fn audit(e: &mut Env, name: &str) -> bool {
    test_programs::report(name, e.violations() == Ok(0), format_args!("{:?}", e.violations()))
}

/// The worker thread's job (set before it starts; one worker at a time) and
/// what it saw.
struct Worker {
    name: AtomicU32,
    option: AtomicU32,
    size: AtomicU32,
    timeout: AtomicU32,
    /// Messages to receive before exiting.
    limit: AtomicU32,
    /// A name to destroy after the next request is received, before replying.
    kill: AtomicU32,
    /// The reply port of the worker's own kernel calls (made for `kill`).
    rpc_port: AtomicU32,
    done: AtomicU32,
    count: AtomicU32,
    kr: AtomicI32,
    send_kr: AtomicI32,
    id: AtomicI32,
    bits: AtomicU32,
    local: AtomicU32,
    remote: AtomicU32,
    /// The receive buffer's size field after the receive (MACH_RCV_LARGE).
    word4: AtomicU32,
    /// 1 when the bytes after the receive size were left alone.
    guard: AtomicU32,
    ids: [AtomicI32; 8],
}

#[allow(clippy::declare_interior_mutable_const)] // copied into the static only
const Z: AtomicU32 = AtomicU32::new(0);
#[allow(clippy::declare_interior_mutable_const)]
const ZI: AtomicI32 = AtomicI32::new(0);
static W: Worker = Worker {
    name: Z,
    option: Z,
    size: Z,
    timeout: Z,
    limit: Z,
    kill: Z,
    rpc_port: Z,
    done: Z,
    count: Z,
    kr: ZI,
    send_kr: ZI,
    id: ZI,
    bits: Z,
    local: Z,
    remote: Z,
    word4: Z,
    guard: Z,
    ids: [ZI; 8],
};

const STACK: usize = 16384;
static STACKS: [StaticStack<STACK>; 24] = [const { StaticStack::new() }; 24];
static NEXT_STACK: AtomicUsize = AtomicUsize::new(0);

fn ld(a: &AtomicU32) -> u32 {
    a.load(Ordering::Acquire)
}

fn ldi(a: &AtomicI32) -> i32 {
    a.load(Ordering::Acquire)
}

/// Receives (after sending the header in the buffer when `send`) with the
/// worker's job settings; bytes after the receive size are filled to catch
/// writes past it.
fn worker_msg(b: &mut Buf, send: bool) -> i32 {
    let size = ld(&W.size) as usize;
    let guard_end = (size + 32).min(b.0.len());
    b.0[size..guard_end].fill(0xaa);
    let option = MACH_RCV_MSG | ld(&W.option) | if send { MACH_SEND_MSG } else { 0 };
    let send_size = if send { MACH_MSG_HEADER_SIZE as u32 } else { 0 };
    // SAFETY: the kernel writes at most `size` (<= the buffer's length) bytes.
    let kr = unsafe {
        mach_msg_raw(
            b.as_mut_ptr() as u64,
            option,
            send_size,
            size as u32,
            ld(&W.name),
            ld(&W.timeout),
        )
    };
    W.guard.store(
        b.0[size..guard_end].iter().all(|&x| x == 0xaa) as u32,
        Ordering::Release,
    );
    kr
}

/// The worker: receives, records what it got, replies on a send-once reply
/// right and receives again in the same call, until QUIT, an error or its limit.
extern "C" fn worker(_: u64) -> ! {
    let mut b = Buf::new();
    let mut kr = worker_msg(&mut b, false);
    loop {
        // A failed reply: record it and go on receiving.
        if (MACH_SEND_IN_PROGRESS..MACH_RCV_IN_PROGRESS).contains(&kr) {
            W.send_kr.store(kr, Ordering::Release);
            kr = worker_msg(&mut b, false);
            continue;
        }
        let h = b.header();
        let n = ld(&W.count);
        W.kr.store(kr, Ordering::Release);
        W.id.store(h.id, Ordering::Release);
        W.bits.store(h.bits, Ordering::Release);
        W.local.store(h.local_port, Ordering::Release);
        W.remote.store(h.remote_port, Ordering::Release);
        W.word4.store(b.get32(4), Ordering::Release);
        if let Some(slot) = W.ids.get(n as usize) {
            slot.store(h.id, Ordering::Release);
        }
        W.count.store(n + 1, Ordering::Release);
        if kr != MACH_MSG_SUCCESS || h.id == QUIT || n + 1 >= ld(&W.limit) {
            break;
        }
        let kill = W.kill.swap(0, Ordering::AcqRel);
        if kill != 0 {
            let mut rpc = mach_user::rpc::Rpc::new();
            W.rpc_port.store(rpc.reply_port(), Ordering::Release);
            let _ = mp::mach_port_destroy(&mut rpc, mach_user::ipc::mach_task_self(), kill);
        }
        if mach_msgh_bits_remote(h.bits) == MACH_MSG_TYPE_PORT_SEND_ONCE && mach_port_valid(h.remote_port) {
            let bits = mach_msgh_bits(MACH_MSG_TYPE_MOVE_SEND_ONCE, 0);
            header(&mut b, bits, 24, h.remote_port, 0, h.id + REPLY);
            kr = worker_msg(&mut b, true);
        } else {
            kr = worker_msg(&mut b, false);
        }
    }
    W.done.store(1, Ordering::Release);
    mach_user::trap::thread_exit()
}

/// Lets the other threads run until they block.
fn settle() {
    for _ in 0..20 {
        swtch();
    }
}

/// Yields until `f` holds (or gives up after many tries); returns whether it held.
fn wait_until(f: impl Fn() -> bool) -> bool {
    for _ in 0..100_000 {
        if f() {
            return true;
        }
        swtch();
    }
    f()
}

/// Starts a worker receiving on `name` with `option` (besides MACH_RCV_MSG)
/// into `size` bytes, for `limit` messages; returns its thread port once it
/// has had the chance to block.
fn start(e: &mut Env, name: u32, option: u32, size: u32, timeout: u32, limit: u32) -> u32 {
    for (a, v) in [
        (&W.name, name),
        (&W.option, option),
        (&W.size, size),
        (&W.timeout, timeout),
        (&W.limit, limit),
        (&W.kill, 0),
        (&W.rpc_port, 0),
        (&W.done, 0),
        (&W.count, 0),
        (&W.bits, 0),
        (&W.local, 0),
        (&W.remote, 0),
        (&W.word4, 0),
        (&W.guard, 0),
    ] {
        a.store(v, Ordering::Release);
    }
    for a in [&W.kr, &W.send_kr, &W.id].into_iter().chain(W.ids.iter()) {
        a.store(0, Ordering::Release);
    }
    let Some(stack) = STACKS
        .get(NEXT_STACK.fetch_add(1, Ordering::AcqRel))
        .and_then(|s| s.take())
    else {
        return 0;
    };
    let top = stack.0.as_mut_ptr() as u64 + STACK as u64 - 8;
    let t = task::thread_create_running(&mut e.rpc, e.task, worker as *const () as usize as u64, top, 0);
    settle();
    t.unwrap_or(0)
}

/// Ends a serving worker with a QUIT message to `port` (a receive right of
/// this task) and releases its thread port; returns whether it ended.
fn stop(e: &mut Env, t: u32, port: u32) -> bool {
    let mut b = Buf::new();
    if ld(&W.done) == 0 {
        send(&mut b, port, MACH_MSG_TYPE_MAKE_SEND, 0, 0, QUIT, 0, 0);
    }
    let ended = wait_until(|| ld(&W.done) == 1);
    let _ = e.dealloc(t);
    ended
}

/// How many names the task's space holds.
fn names(e: &mut Env) -> u32 {
    let Ok(r) = mp::mach_port_names(&mut e.rpc, e.task) else {
        return u32::MAX;
    };
    // Both arrays are deallocated as they go.
    let (_names, _types) = (OolRegion::u32s(r.names), OolRegion::u32s(r.types));
    r.names.count
}

fn port_set(e: &mut Env, members: &[u32]) -> u32 {
    let set = mp::mach_port_allocate(&mut e.rpc, e.task, MACH_PORT_RIGHT_PORT_SET).unwrap_or(0);
    for &m in members {
        let _ = mp::mach_port_move_member(&mut e.rpc, e.task, m, set);
    }
    set
}

/// One RPC: a header-only request to `dest` sent as `disp` with a send-once
/// reply right made from `reply`, then a receive on `rcv` (with `option`).
#[allow(clippy::too_many_arguments)]
fn call(b: &mut Buf, dest: u32, disp: u8, reply: u32, rcv: u32, id: i32, option: u32, timeout: u32) -> i32 {
    header(
        b,
        mach_msgh_bits(disp, MACH_MSG_TYPE_MAKE_SEND_ONCE),
        24,
        dest,
        reply,
        id,
    );
    mach_msg(b, MACH_SEND_MSG | MACH_RCV_MSG | option, 24, rcv, timeout)
}

/// The header fields a worker's reply to `id` on `reply` must arrive with.
fn is_reply(kr: i32, b: &Buf, id: i32, reply: u32) -> bool {
    let h = b.header();
    let bits = mach_msgh_bits(0, MACH_MSG_TYPE_PORT_SEND_ONCE);
    (kr, h.id, h.bits, h.local_port, h.remote_port, h.size) == (MACH_MSG_SUCCESS, id + REPLY, bits, reply, 0, 24)
}

fn null_rpc(e: &mut Env) -> bool {
    let mut b = Buf::new();
    let svc = e.port();
    e.make_send(svc);
    let reply = e.port();
    let t = start(e, svc, 0, 4096, 0, u32::MAX);
    let before = names(e);
    let (mut bad_reply, mut bad_request, mut bad_seqno, mut leaked) = (0, 0, 0, 0);
    let mut first_seqno = 0;
    for i in 0..1000 {
        // Copied, made and moved send-once destination rights in turn.
        let (dest, disp, dest_type) = match i % 3 {
            0 => (svc, MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_PORT_SEND),
            1 => (svc, MACH_MSG_TYPE_MAKE_SEND, MACH_MSG_TYPE_PORT_SEND),
            _ => {
                let so = mp::mach_port_extract_right(&mut e.rpc, e.task, svc, MACH_MSG_TYPE_MAKE_SEND_ONCE as u32);
                let so = so.map_or(0, |p| p.name);
                (so, MACH_MSG_TYPE_MOVE_SEND_ONCE, MACH_MSG_TYPE_PORT_SEND_ONCE)
            }
        };
        let kr = call(&mut b, dest, disp, reply, reply, i, 0, 0);
        if !is_reply(kr, &b, i, reply) {
            if bad_reply == 0 {
                mach_user::println!("rpc {i}: kr {kr:#x}, reply {:x?}", b.header());
            }
            bad_reply += 1;
        }
        let seqno = b.trailer().seqno;
        if i == 0 {
            first_seqno = seqno;
        }
        bad_seqno += (seqno != first_seqno.wrapping_add(i as u32)) as u32;
        let want = (
            i,
            mach_msgh_bits(MACH_MSG_TYPE_PORT_SEND_ONCE, dest_type),
            svc,
            i as u32 + 1,
        );
        let got = (ldi(&W.id), ld(&W.bits), ld(&W.local), ld(&W.count));
        if got != want {
            if bad_request == 0 {
                mach_user::println!("rpc {i}: server saw {got:x?}, want {want:x?}");
            }
            bad_request += 1;
        }
        // The server's reply consumed its send-once right's name.
        if i % 50 == 49 && e.ptype(ld(&W.remote)) != Err(KERN_INVALID_NAME) {
            leaked += 1;
        }
    }
    let mut ok = check_eq!("null_rpc_1000_replies", bad_reply, 0);
    ok &= check_eq!("null_rpc_server_sees_requests", bad_request, 0);
    ok &= check_eq!("null_rpc_reply_seqnos_count_up", bad_seqno, 0);
    ok &= check_eq!("null_rpc_reply_right_consumed", leaked, 0);
    ok &= check_eq!("null_rpc_no_names_leaked", names(e), before);
    ok &= check_eq!(
        "null_rpc_send_right_unchanged",
        e.refs(svc, MACH_PORT_RIGHT_SEND),
        Ok(1)
    );
    ok &= check_eq!(
        "null_rpc_nothing_queued",
        recv(&mut b, reply, false),
        MACH_RCV_TIMED_OUT
    );
    // From the kernel's own counts: every one of 100 null RPCs takes the RPC
    // fast path both ways (request and reply), and nothing else is sent but
    // the first statistics call (only `make bench` would notice otherwise).
    let stats = |e: &mut Env| task::task_ipc_statistics(&mut e.rpc, e.task).map(|s| (s.rpc_fast, s.handoff, s.general));
    // One call first: the server last checked its buffer before this task's
    // map changed (the checks above freed memory), so the first request is
    // queued for it rather than handed over.
    call(&mut b, svc, MACH_MSG_TYPE_COPY_SEND, reply, reply, 1999, 0, 0);
    let before = stats(e);
    let mut failed = 0;
    for i in 0..100 {
        let kr = call(&mut b, svc, MACH_MSG_TYPE_COPY_SEND, reply, reply, 2000 + i, 0, 0);
        failed += !is_reply(kr, &b, 2000 + i, reply) as u32;
    }
    let after = stats(e);
    let delta = match (before, after) {
        (Ok(a), Ok(z)) => (z.0 - a.0, z.1 - a.1, z.2 - a.2),
        _ => (0, 0, u64::MAX),
    };
    ok &= check_eq!("null_rpc_takes_fast_path", (failed, delta), (0, (200, 0, 1)));
    ok &= check_eq!("null_rpc_server_quits", stop(e, t, svc), true);
    let _ = e.destroy(svc);
    let _ = e.destroy(reply);
    ok & audit(e, "null_rpc_audit")
}

fn port_sets(e: &mut Env) -> bool {
    let mut b = Buf::new();
    let (m1, m2) = (e.port(), e.port());
    let set = port_set(e, &[m1, m2]);
    e.make_send(m1);
    // A no-senders request on m2, which has no send rights: a right made for
    // a request is its last, so that request must take the general path.
    let notify = e.port();
    let poly = PolyPort {
        name: notify,
        disposition: MACH_MSG_TYPE_MAKE_SEND_ONCE,
    };
    let _ = mp::mach_port_request_notification(&mut e.rpc, e.task, m2, MACH_NOTIFY_NO_SENDERS, 1, poly);
    let reply = e.port();
    let t = start(e, set, 0, 4096, 0, u32::MAX);
    let mut bad = 0;
    for i in 0..20 {
        let (dest, disp) = if i % 2 == 0 {
            (m1, MACH_MSG_TYPE_COPY_SEND)
        } else {
            (m2, MACH_MSG_TYPE_MAKE_SEND)
        };
        let kr = call(&mut b, dest, disp, reply, reply, i, 0, 0);
        bad += (!is_reply(kr, &b, i, reply) || ld(&W.local) != dest || ldi(&W.id) != i) as u32;
    }
    let mut ok = check_eq!("set_server_local_port_is_member", bad, 0);
    // A one-way message handed to the set's receiver.
    send(&mut b, m2, MACH_MSG_TYPE_MAKE_SEND, 0, 0, 555, 0, 0);
    wait_until(|| ld(&W.count) == 21);
    ok &= check_eq!(
        "set_handoff_local_port_is_member",
        (ldi(&W.id), ld(&W.local)),
        (555, m2)
    );
    let kr = recv(&mut b, notify, false);
    ok &= check_eq!(
        "made_last_send_right_gives_no_senders",
        (kr, b.header().id),
        (MACH_MSG_SUCCESS, MACH_NOTIFY_NO_SENDERS)
    );
    ok &= check_eq!("no_senders_only_once", recv(&mut b, notify, false), MACH_RCV_TIMED_OUT);
    // The client receives its replies on a set of its own.
    let (r1, r2) = (e.port(), e.port());
    let cset = port_set(e, &[r1, r2]);
    let mut bad = 0;
    for i in 100..110 {
        let r = if i % 2 == 0 { r1 } else { r2 };
        let kr = call(&mut b, m1, MACH_MSG_TYPE_COPY_SEND, r, cset, i, 0, 0);
        bad += !is_reply(kr, &b, i, r) as u32;
    }
    ok &= check_eq!("client_receives_replies_on_set", bad, 0);
    ok &= check_eq!("set_server_quits", stop(e, t, m1), true);
    for n in [m1, m2, set, notify, reply, r1, r2, cset] {
        let _ = e.destroy(n);
    }
    ok & audit(e, "port_sets_audit")
}

fn small_buffers(e: &mut Env) -> bool {
    let mut b = Buf::new();
    let p = e.port();
    let reply = e.port();
    // Room for the header but not the trailer: the message cannot be handed
    // over; it is queued, and the receive destroys it.
    let t = start(e, p, 0, HANDOFF - 4, 0, 1);
    let kr = send(
        &mut b,
        p,
        MACH_MSG_TYPE_MAKE_SEND,
        reply,
        MACH_MSG_TYPE_MAKE_SEND_ONCE,
        41,
        0,
        0,
    );
    let mut ok = check_eq!("send_to_small_receiver", kr, MACH_MSG_SUCCESS);
    wait_until(|| ld(&W.done) == 1);
    ok &= check_eq!(
        "small_receiver_gets_too_large",
        (ldi(&W.kr), ld(&W.guard)),
        (MACH_RCV_TOO_LARGE, 1)
    );
    let _ = e.dealloc(t);
    ok &= check_eq!(
        "too_large_message_destroyed",
        recv(&mut b, p, false),
        MACH_RCV_TIMED_OUT
    );
    let kr = recv(&mut b, reply, false);
    ok &= check_eq!(
        "destroyed_message_released_reply_right",
        (kr, b.header().id),
        (MACH_MSG_SUCCESS, MACH_NOTIFY_SEND_ONCE)
    );
    // The same through an RPC: the client's reply is the send-once notification.
    let t = start(e, p, 0, MACH_MSG_HEADER_SIZE as u32, 0, 1);
    let kr = call(&mut b, p, MACH_MSG_TYPE_MAKE_SEND, reply, reply, 42, 0, 0);
    ok &= check_eq!(
        "rpc_to_small_receiver_gets_send_once_notification",
        (kr, b.header().id, b.header().local_port),
        (MACH_MSG_SUCCESS, MACH_NOTIFY_SEND_ONCE, reply)
    );
    wait_until(|| ld(&W.done) == 1);
    ok &= check_eq!(
        "rpc_small_receiver_gets_too_large",
        (ldi(&W.kr), ld(&W.guard)),
        (MACH_RCV_TOO_LARGE, 1)
    );
    let _ = e.dealloc(t);
    // With MACH_RCV_LARGE the receiver learns the size and the message stays.
    let t = start(e, p, MACH_RCV_LARGE, HANDOFF - 4, 0, 1);
    send(&mut b, p, MACH_MSG_TYPE_MAKE_SEND, 0, 0, 43, 0, 0);
    wait_until(|| ld(&W.done) == 1);
    ok &= check_eq!(
        "blocked_rcv_large_reports_size",
        (ldi(&W.kr), ld(&W.word4), ld(&W.guard)),
        (MACH_RCV_TOO_LARGE, HANDOFF, 1)
    );
    let _ = e.dealloc(t);
    ok &= check_eq!(
        "blocked_rcv_large_message_stays_queued",
        (recv(&mut b, p, false), b.header().id),
        (MACH_MSG_SUCCESS, 43)
    );
    // Exactly enough room: handed over.
    let t = start(e, p, 0, HANDOFF, 0, 1);
    send(&mut b, p, MACH_MSG_TYPE_MAKE_SEND, 0, 0, 44, 0, 0);
    wait_until(|| ld(&W.done) == 1);
    ok &= check_eq!(
        "exact_size_receiver_gets_message",
        (ldi(&W.kr), ldi(&W.id), ld(&W.guard)),
        (MACH_MSG_SUCCESS, 44, 1)
    );
    let _ = e.dealloc(t);
    let _ = e.destroy(p);
    let _ = e.destroy(reply);
    ok & audit(e, "small_buffers_audit")
}

fn timeouts(e: &mut Env) -> bool {
    let mut b = Buf::new();
    let p = e.port();
    let t = start(e, p, MACH_RCV_TIMEOUT, 4096, 10_000, 1);
    send(&mut b, p, MACH_MSG_TYPE_MAKE_SEND, 0, 0, 51, 0, 0);
    wait_until(|| ld(&W.done) == 1);
    let mut ok = check_eq!(
        "timed_receiver_gets_handoff",
        (ldi(&W.kr), ldi(&W.id)),
        (MACH_MSG_SUCCESS, 51)
    );
    let _ = e.dealloc(t);
    // A server whose every receive has a timeout, and a client that waits
    // with one every other call.
    let svc = e.port();
    let reply = e.port();
    let t = start(e, svc, MACH_RCV_TIMEOUT, 4096, 10_000, u32::MAX);
    let mut bad = 0;
    for i in 0..50 {
        let (option, timeout) = if i % 2 == 0 { (0, 0) } else { (MACH_RCV_TIMEOUT, 10_000) };
        let kr = call(&mut b, svc, MACH_MSG_TYPE_MAKE_SEND, reply, reply, i, option, timeout);
        bad += (!is_reply(kr, &b, i, reply) || ldi(&W.kr) != MACH_MSG_SUCCESS) as u32;
    }
    ok &= check_eq!("timed_server_and_client_rpcs", bad, 0);
    ok &= check_eq!("timed_server_quits", stop(e, t, svc), true);
    ok &= check_eq!(
        "timed_server_last_receive",
        (ldi(&W.kr), ldi(&W.id)),
        (MACH_MSG_SUCCESS, QUIT)
    );
    ok &= check_eq!("poll_empty_port_times_out", recv(&mut b, p, false), MACH_RCV_TIMED_OUT);
    let kr = mach_msg(&mut b, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, reply, 20);
    ok &= check_eq!("short_timeout_still_expires", kr, MACH_RCV_TIMED_OUT);
    for n in [p, svc, reply] {
        let _ = e.destroy(n);
    }
    ok & audit(e, "timeouts_audit")
}

/// A receive into `addr` (4096 bytes), polling.
fn recv_at(addr: u64, name: u32) -> i32 {
    // SAFETY: the kernel checks the buffer; a bad one fails the receive.
    unsafe { mach_msg_raw(addr, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, 4096, name, 0) }
}

/// The message id at `addr` (a received header).
fn id_at(addr: u64) -> i32 {
    // SAFETY: the caller received a message at `addr`, which is mapped.
    unsafe { core::ptr::read_volatile((addr + 20) as *const i32) }
}

fn probe_cache(e: &mut Env) -> bool {
    let mut b = Buf::new();
    let p = e.port();
    let a = vm::vm_allocate(&mut e.rpc, e.task, 0, 4096, 1).unwrap_or(0);
    send(&mut b, p, MACH_MSG_TYPE_MAKE_SEND, 0, 0, 61, 0, 0);
    let kr = recv_at(a, p);
    let mut ok = check_eq!("receive_into_allocated_buffer", (kr, id_at(a)), (MACH_MSG_SUCCESS, 61));
    let _ = vm::vm_deallocate(&mut e.rpc, e.task, a, 4096);
    send(&mut b, p, MACH_MSG_TYPE_MAKE_SEND, 0, 0, 62, 0, 0);
    ok &= check_eq!("receive_into_deallocated_buffer", recv_at(a, p), MACH_RCV_INVALID_DATA);
    ok &= check_eq!(
        "deallocated_buffer_loses_nothing",
        (recv(&mut b, p, false), b.header().id),
        (MACH_MSG_SUCCESS, 62)
    );
    let a = vm::vm_allocate(&mut e.rpc, e.task, 0, 4096, 1).unwrap_or(0);
    send(&mut b, p, MACH_MSG_TYPE_MAKE_SEND, 0, 0, 63, 0, 0);
    ok &= check_eq!(
        "receive_into_new_buffer",
        (recv_at(a, p), id_at(a)),
        (MACH_MSG_SUCCESS, 63)
    );
    let _ = vm::vm_protect(&mut e.rpc, e.task, a, 4096, 0, 1);
    send(&mut b, p, MACH_MSG_TYPE_MAKE_SEND, 0, 0, 64, 0, 0);
    ok &= check_eq!("receive_into_read_only_buffer", recv_at(a, p), MACH_RCV_INVALID_DATA);
    ok &= check_eq!(
        "read_only_buffer_loses_nothing",
        (recv(&mut b, p, false), b.header().id),
        (MACH_MSG_SUCCESS, 64)
    );
    let _ = vm::vm_protect(&mut e.rpc, e.task, a, 4096, 0, 3);
    send(&mut b, p, MACH_MSG_TYPE_MAKE_SEND, 0, 0, 65, 0, 0);
    ok &= check_eq!(
        "writable_again_receives",
        (recv_at(a, p), id_at(a)),
        (MACH_MSG_SUCCESS, 65)
    );
    // The RPC path with its buffer made read-only between two calls: the
    // request is sent, the receive fails, and the reply waits in its queue.
    let svc = e.port();
    let reply = e.port();
    let t = start(e, svc, 0, 4096, 0, u32::MAX);
    let request = |id: i32| {
        let bits = mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE);
        let h = [bits, 24, svc, reply, 0, id as u32];
        // SAFETY: `a` is a mapped, writable page of this task.
        unsafe { core::ptr::copy_nonoverlapping(h.as_ptr(), a as *mut u32, h.len()) };
    };
    // SAFETY: the kernel checks the buffer; a bad one fails the receive.
    let rpc_at = || unsafe { mach_msg_raw(a, MACH_SEND_MSG | MACH_RCV_MSG, 24, 4096, reply, 0) };
    request(66);
    let kr = rpc_at();
    ok &= check_eq!(
        "rpc_into_allocated_buffer",
        (kr, id_at(a)),
        (MACH_MSG_SUCCESS, 66 + REPLY)
    );
    request(67);
    let _ = vm::vm_protect(&mut e.rpc, e.task, a, 4096, 0, 1);
    let kr = rpc_at();
    ok &= check_eq!("rpc_into_read_only_buffer", kr, MACH_RCV_INVALID_DATA);
    wait_until(|| ld(&W.count) == 2);
    ok &= check_eq!("rpc_request_still_sent", ldi(&W.id), 67);
    ok &= check_eq!(
        "rpc_reply_not_lost",
        (recv(&mut b, reply, false), b.header().id),
        (MACH_MSG_SUCCESS, 67 + REPLY)
    );
    ok &= check_eq!("probe_server_quits", stop(e, t, svc), true);
    let _ = vm::vm_deallocate(&mut e.rpc, e.task, a, 4096);
    ok &= probe_cache_other_thread(e, p);
    ok &= buffer_taken_while_blocked(e);
    for n in [p, svc, reply] {
        let _ = e.destroy(n);
    }
    ok & audit(e, "probe_cache_audit")
}

/// The port [`buffer_receiver`] receives on, what its receive returned, and
/// whether it is done.
static RX_PORT: AtomicU32 = AtomicU32::new(0);
static RX_KR: AtomicI32 = AtomicI32::new(0);
static RX_DONE: AtomicU32 = AtomicU32::new(0);

/// Receives once on `RX_PORT` (blocking) into the page at `addr`, records
/// the result and ends.
extern "C" fn buffer_receiver(addr: u64) -> ! {
    // SAFETY: the kernel checks the buffer; a bad one fails the receive.
    let kr = unsafe { mach_msg_raw(addr, MACH_RCV_MSG, 0, 4096, ld(&RX_PORT), 0) };
    RX_KR.store(kr, Ordering::Release);
    RX_DONE.store(1, Ordering::Release);
    mach_user::trap::thread_exit()
}

/// A thread blocked receiving into a buffer that another thread makes
/// read-only meanwhile (issue 9: the sender handed the message over, the
/// copy to the buffer failed, and the message and its rights were lost):
/// the receive fails and the message stays queued.
fn buffer_taken_while_blocked(e: &mut Env) -> bool {
    let mut b = Buf::new();
    let p = e.port();
    let a = vm::vm_allocate(&mut e.rpc, e.task, 0, 4096, 1).unwrap_or(0);
    RX_PORT.store(p, Ordering::Release);
    let stack = STACKS
        .get(NEXT_STACK.fetch_add(1, Ordering::AcqRel))
        .and_then(|s| s.take());
    let started = stack.is_some_and(|s| mach_user::thread::thread_create_running(buffer_receiver, s, a).is_ok());
    settle();
    let _ = vm::vm_protect(&mut e.rpc, e.task, a, 4096, 0, 1);
    send(&mut b, p, MACH_MSG_TYPE_MAKE_SEND, 0, 0, 70, 0, 0);
    let done = wait_until(|| ld(&RX_DONE) == 1);
    let mut ok = check_eq!(
        "blocked_receiver_buffer_taken_fails",
        (started, done, ldi(&RX_KR)),
        (true, true, MACH_RCV_INVALID_DATA)
    );
    ok &= check_eq!(
        "blocked_receiver_buffer_taken_loses_nothing",
        (recv(&mut b, p, false), b.header().id),
        (MACH_MSG_SUCCESS, 70)
    );
    let _ = vm::vm_deallocate(&mut e.rpc, e.task, a, 4096);
    let _ = e.destroy(p);
    ok
}

/// Set by [`protector`] once it has made its page read-only.
static PROTECTED: AtomicU32 = AtomicU32::new(0);

/// Makes the page at `addr` read-only from its own thread, then ends.
extern "C" fn protector(addr: u64) -> ! {
    let mut rpc = mach_user::rpc::Rpc::new();
    let kr = vm::vm_protect(&mut rpc, mach_user::ipc::mach_task_self(), addr, 4096, 0, 1);
    PROTECTED.store(if kr.is_ok() { 1 } else { 2 }, Ordering::Release);
    mach_user::trap::thread_exit()
}

/// The remembered probe when another thread changes the map between two
/// receives into the same buffer (this thread makes no call in between, so
/// its memo still names the buffer): the second receive must see the change
/// and leave its message queued.
fn probe_cache_other_thread(e: &mut Env, p: u32) -> bool {
    let mut b = Buf::new();
    let a = vm::vm_allocate(&mut e.rpc, e.task, 0, 4096, 1).unwrap_or(0);
    send(&mut b, p, MACH_MSG_TYPE_MAKE_SEND, 0, 0, 68, 0, 0);
    let mut ok = check_eq!(
        "receive_before_other_thread_protects",
        (recv_at(a, p), id_at(a)),
        (MACH_MSG_SUCCESS, 68)
    );
    let stack = STACKS
        .get(NEXT_STACK.fetch_add(1, Ordering::AcqRel))
        .and_then(|s| s.take());
    // The thread is started with a trap, not an RPC, so this thread's last
    // receive buffer stays `a`.
    let started = stack.is_some_and(|s| mach_user::thread::thread_create_running(protector, s, a).is_ok());
    ok &= check_eq!(
        "other_thread_protects_buffer",
        (started, wait_until(|| ld(&PROTECTED) != 0), ld(&PROTECTED)),
        (true, true, 1)
    );
    send(&mut b, p, MACH_MSG_TYPE_MAKE_SEND, 0, 0, 69, 0, 0);
    ok &= check_eq!(
        "receive_after_other_thread_protects",
        recv_at(a, p),
        MACH_RCV_INVALID_DATA
    );
    ok &= check_eq!(
        "other_thread_protect_loses_nothing",
        (recv(&mut b, p, false), b.header().id),
        (MACH_MSG_SUCCESS, 69)
    );
    let _ = vm::vm_deallocate(&mut e.rpc, e.task, a, 4096);
    ok
}

fn ordering(e: &mut Env) -> bool {
    let mut b = Buf::new();
    let p = e.port();
    let ids = || [0, 1, 2].map(|i| ldi(&W.ids[i]));
    // Two messages queued before any receiver, a third once it started.
    send(&mut b, p, MACH_MSG_TYPE_MAKE_SEND, 0, 0, 1, 0, 0);
    send(&mut b, p, MACH_MSG_TYPE_MAKE_SEND, 0, 0, 2, 0, 0);
    let t = start(e, p, 0, 4096, 0, 3);
    send(&mut b, p, MACH_MSG_TYPE_MAKE_SEND, 0, 0, 3, 0, 0);
    wait_until(|| ld(&W.done) == 1);
    let mut ok = check_eq!("queued_messages_before_later_one", ids(), [1, 2, 3]);
    let _ = e.dealloc(t);
    // A suspended receiver is passed over: messages queue up behind it, and
    // one sent after its resumption still comes last.
    let t = start(e, p, 0, 4096, 0, 3);
    ok &= check_eq!(
        "suspend_blocked_receiver",
        thread::thread_suspend(&mut e.rpc, t),
        Ok(())
    );
    send(&mut b, p, MACH_MSG_TYPE_MAKE_SEND, 0, 0, 4, 0, 0);
    send(&mut b, p, MACH_MSG_TYPE_MAKE_SEND, 0, 0, 5, 0, 0);
    settle();
    ok &= check_eq!("suspended_receiver_gets_nothing", ld(&W.count), 0);
    ok &= check_eq!("resume_receiver", thread::thread_resume(&mut e.rpc, t), Ok(()));
    send(&mut b, p, MACH_MSG_TYPE_MAKE_SEND, 0, 0, 6, 0, 0);
    wait_until(|| ld(&W.done) == 1);
    ok &= check_eq!("suspended_receiver_gets_queue_in_order", ids(), [4, 5, 6]);
    let _ = e.dealloc(t);
    let _ = e.destroy(p);
    ok & audit(e, "ordering_audit")
}

fn stale(e: &mut Env) -> bool {
    let mut b = Buf::new();
    let svc = e.port();
    e.make_send(svc);
    let reply = e.port();
    let t = start(e, svc, 0, 4096, 0, u32::MAX);
    send(&mut b, reply, MACH_MSG_TYPE_MAKE_SEND, 0, 0, 77, 0, 0);
    let kr = call(&mut b, svc, MACH_MSG_TYPE_COPY_SEND, reply, reply, 78, 0, 0);
    let mut ok = check_eq!(
        "stale_message_received_first",
        (kr, b.header().id, b.header().local_port),
        (MACH_MSG_SUCCESS, 77, reply)
    );
    wait_until(|| ld(&W.count) == 1);
    ok &= check_eq!("request_behind_stale_reaches_server", ldi(&W.id), 78);
    ok &= check_eq!(
        "real_reply_then_received",
        (recv(&mut b, reply, false), b.header().id),
        (MACH_MSG_SUCCESS, 78 + REPLY)
    );
    let kr = call(&mut b, svc, MACH_MSG_TYPE_COPY_SEND, reply, reply, 79, 0, 0);
    ok &= check_eq!("next_rpc_after_stale", is_reply(kr, &b, 79, reply), true);
    // Replies on a set of which another member has a message queued.
    let (r1, r2) = (e.port(), e.port());
    let cset = port_set(e, &[r1, r2]);
    send(&mut b, r2, MACH_MSG_TYPE_MAKE_SEND, 0, 0, 88, 0, 0);
    let kr = call(&mut b, svc, MACH_MSG_TYPE_COPY_SEND, r1, cset, 80, 0, 0);
    ok &= check_eq!(
        "stale_message_on_other_set_member_first",
        (kr, b.header().id, b.header().local_port),
        (MACH_MSG_SUCCESS, 88, r2)
    );
    let kr = mach_msg(&mut b, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, cset, 10_000);
    ok &= check_eq!("reply_on_set_member_follows", is_reply(kr, &b, 80, r1), true);
    ok &= check_eq!("stale_server_quits", stop(e, t, svc), true);
    for n in [svc, reply, r1, r2, cset] {
        let _ = e.destroy(n);
    }
    ok & audit(e, "stale_audit")
}

fn dead_ports(e: &mut Env) -> bool {
    let mut b = Buf::new();
    let before = names(e);
    // The receive right a worker is blocked on is destroyed. (This kernel
    // answers with MACH_RCV_INVALID_NAME: the name is gone when the
    // receiver looks again. Mach answers MACH_RCV_PORT_DIED.)
    let p = e.port();
    let t = start(e, p, 0, 4096, 0, u32::MAX);
    let _ = e.destroy(p);
    wait_until(|| ld(&W.done) == 1);
    let mut ok = check_eq!("blocked_receiver_port_destroyed", ldi(&W.kr), MACH_RCV_INVALID_NAME);
    let _ = e.dealloc(t);
    // On a set: a member dies and the receiver waits on; the set dies and it wakes.
    let (a, c) = (e.port(), e.port());
    let set = port_set(e, &[a, c]);
    let t = start(e, set, 0, 4096, 0, u32::MAX);
    let _ = e.destroy(a);
    settle();
    ok &= check_eq!("set_receiver_outlives_member", (ld(&W.done), ld(&W.count)), (0, 0));
    send(&mut b, c, MACH_MSG_TYPE_MAKE_SEND, 0, 0, 91, 0, 0);
    wait_until(|| ld(&W.count) == 1);
    ok &= check_eq!("set_receiver_gets_other_member", (ldi(&W.id), ld(&W.local)), (91, c));
    // Destroying the set wakes the thread blocked on it (it once stayed
    // blocked for good); if it ever does not, it is terminated so the rest
    // can run.
    let _ = e.destroy(set);
    wait_until(|| ld(&W.done) == 1);
    ok &= check_eq!("blocked_receiver_set_destroyed", ldi(&W.kr), MACH_RCV_INVALID_NAME);
    if ld(&W.done) == 0 {
        let _ = thread::thread_terminate(&mut e.rpc, t);
    }
    let _ = e.dealloc(t);
    let _ = e.destroy(c);
    // The client's reply port is destroyed while it waits for the reply; the
    // server's reply on its send-once right (now a dead name) fails.
    let svc = e.port();
    let reply = e.port();
    let t = start(e, svc, 0, 4096, 0, u32::MAX);
    W.kill.store(reply, Ordering::Release);
    let kr = call(&mut b, svc, MACH_MSG_TYPE_MAKE_SEND, reply, reply, 92, 0, 0);
    ok &= check_eq!("waiting_client_reply_port_destroyed", kr, MACH_RCV_INVALID_NAME);
    settle();
    ok &= check_eq!(
        "reply_to_dead_port_invalid_dest",
        ldi(&W.send_kr),
        MACH_SEND_INVALID_DEST
    );
    let so = ld(&W.remote);
    ok &= check_eq!(
        "dead_reply_right_is_dead_name",
        e.ptype(so),
        Ok(MACH_PORT_TYPE_DEAD_NAME)
    );
    let _ = e.dealloc(so);
    let reply = e.port();
    let kr = call(&mut b, svc, MACH_MSG_TYPE_MAKE_SEND, reply, reply, 93, 0, 0);
    ok &= check_eq!("server_serves_after_dead_reply", is_reply(kr, &b, 93, reply), true);
    ok &= check_eq!("dead_reply_server_quits", stop(e, t, svc), true);
    let _ = e.destroy(ld(&W.rpc_port));
    // The reply port dies while the request waits in the queue: the
    // server receives a dead reply right.
    let t = start(e, svc, 0, 4096, 0, u32::MAX);
    let _ = thread::thread_suspend(&mut e.rpc, t);
    let r = e.port();
    send(
        &mut b,
        svc,
        MACH_MSG_TYPE_MAKE_SEND,
        r,
        MACH_MSG_TYPE_MAKE_SEND_ONCE,
        94,
        0,
        0,
    );
    let _ = e.destroy(r);
    let _ = thread::thread_resume(&mut e.rpc, t);
    wait_until(|| ld(&W.count) == 1);
    ok &= check_eq!(
        "reply_right_to_dead_port_arrives_dead",
        (ldi(&W.id), ld(&W.remote)),
        (94, MACH_PORT_DEAD)
    );
    ok &= check_eq!("dead_request_server_quits", stop(e, t, svc), true);
    for n in [svc, reply] {
        let _ = e.destroy(n);
    }
    ok &= check_eq!("dead_ports_no_names_leaked", names(e), before);
    ok & audit(e, "dead_ports_audit")
}
