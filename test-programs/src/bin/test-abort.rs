//! `thread_abort` (interfaces/thread.defs): a thread blocked in a receive
//! returns MACH_RCV_INTERRUPTED and the next message still reaches it; a
//! receiver handed a message before the abort still gets it; a send blocked
//! on a full queue returns MACH_SEND_INTERRUPTED and the queue is unchanged;
//! an RPC waiting for its reply returns MACH_RCV_INTERRUPTED with its request
//! delivered, and the reply sent later waits on the reply port; an exception
//! waiting for its handler is raised again (the old reply port is dead); a
//! page fault waiting for its pager is retried (one request) and completes
//! once the pager answers; a suspended thread aborted in a receive or a fault
//! stops with the registers it will resume with (rax = MACH_RCV_INTERRUPTED)
//! and `thread_set_state` redirects it; a thread in user mode is left alone
//! (its next wait is not broken); a dead thread's port is a dead name.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use mach_interfaces::exc::{self, ExcServer};
use mach_interfaces::{Dispatch, PolyPort, Release};
use mach_user::abi::clock::SYSTEM_CLOCK;
use mach_user::abi::kern_return::*;
use mach_user::abi::message::*;
use mach_user::abi::traps::MACH_MSG_TRAP;
use mach_user::ipc::{MsgBuf, mach_msg};
use mach_user::ool::OolRegion;
use mach_user::pager::{MemoryManager, MemoryObject, Server};
use mach_user::rpc::{Rpc, mach_port, task, thread, vm};
use mach_user::sync::SpinLock;
use mach_user::thread::StaticStack;
use test_programs::check_eq;
use test_programs::ipc_env::Env;

mach_user::entry!(main);

/// "Not yet" in the result slots below.
const NONE: i64 = i64::MIN;
const STACK: usize = 16384;

static STACKS: [StaticStack<STACK>; 14] = [const { StaticStack::new() }; 14];
static NEXT_STACK: AtomicUsize = AtomicUsize::new(0);

/// Starts `entry(arg)` on a new thread; returns its port (0 on failure).
fn spawn(e: &mut Env, entry: extern "C" fn(u64) -> !, arg: u64) -> u32 {
    let i = NEXT_STACK.fetch_add(1, Ordering::Relaxed);
    let Some(stack) = STACKS.get(i).and_then(|s| s.take()) else {
        return 0;
    };
    let top = stack.0.as_mut_ptr() as u64 + STACK as u64 - 8;
    task::thread_create_running(&mut e.rpc, e.task, entry as usize as u64, top, arg).unwrap_or(0)
}

fn now_ms() -> u64 {
    mach_user::trap::clock_get_time(SYSTEM_CLOCK).unwrap_or(0) / 1_000_000
}

/// Polls `cond` (letting other threads run) for up to `ms` milliseconds.
fn wait_until(ms: u64, mut cond: impl FnMut() -> bool) -> bool {
    let end = now_ms() + ms;
    loop {
        if cond() {
            return true;
        }
        if now_ms() > end {
            return false;
        }
        mach_user::trap::swtch();
    }
}

/// Lets the other threads run for `ms` milliseconds.
fn settle(ms: u64) {
    wait_until(ms, || false);
}

/// The value of `slot` once set (`NONE` if it stays unset for 5 s).
fn result(slot: &AtomicI64) -> i64 {
    wait_until(5000, || slot.load(Ordering::Acquire) != NONE);
    slot.load(Ordering::Acquire)
}

/// Whether thread `t` is inside a `mach_msg` trap: suspended, its saved
/// registers say it executed `syscall` (the two bytes before its rip) with
/// the trap's number, which the trap's return would have replaced.
fn in_trap(e: &mut Env, t: u32) -> bool {
    if thread::thread_suspend(&mut e.rpc, t).is_err() {
        return false;
    }
    let st = thread::thread_get_state(&mut e.rpc, t);
    let _ = thread::thread_resume(&mut e.rpc, t);
    st.is_ok_and(|s| s.rax == MACH_MSG_TRAP as u64 && after_syscall(s.rip))
}

/// Whether the instruction before `rip` is `syscall`.
fn after_syscall(rip: u64) -> bool {
    // SAFETY: `rip` is a thread's saved rip in this program's text (mapped
    // and readable); the two bytes before it are too.
    rip >= 2 && unsafe { core::ptr::read_volatile((rip - 2) as *const [u8; 2]) } == [0x0f, 0x05]
}

fn wait_in_trap(e: &mut Env, t: u32) -> bool {
    wait_until(5000, || in_trap(e, t))
}

/// A header-only message with id `id` to `port`: the result of the send.
fn send(port: u32, id: i32, option: u32) -> i32 {
    let mut buf: MsgBuf<64> = MsgBuf::new();
    buf.set_header(&MachMsgHeader {
        bits: mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, 0),
        size: MACH_MSG_HEADER_SIZE as u32,
        remote_port: port,
        local_port: 0,
        voucher_port: 0,
        id,
    });
    mach_msg(&mut buf, MACH_SEND_MSG | option, MACH_MSG_HEADER_SIZE as u32, 0, 0)
}

/// Receives on `port` with a timeout: (result, message id).
fn receive(port: u32, ms: u32) -> (i32, i32) {
    let mut buf: MsgBuf<256> = MsgBuf::new();
    let r = mach_msg(&mut buf, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, port, ms);
    (r, if r == MACH_MSG_SUCCESS { buf.header().id } else { 0 })
}

static LANDED: AtomicU64 = AtomicU64::new(0);

/// Where redirected threads go: records `arg` and ends.
extern "C" fn landing(arg: u64) -> ! {
    LANDED.store(arg, Ordering::Release);
    mach_user::trap::thread_exit()
}

/// Redirects suspended thread `t` (whose registers are `rsp`, `rflags`) to
/// `landing(arg)`.
fn redirect(e: &mut Env, t: u32, rsp: u64, rflags: u64, arg: u64) -> Result<(), i32> {
    let rip = landing as *const () as usize as u64;
    let sp = (rsp & !15) - 8;
    thread::thread_set_state(
        &mut e.rpc, t, rip, sp, rflags, 0, 0, 0, 0, 0, arg, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    )
}

fn main(_args: mach_user::start::Args) -> i32 {
    let mut e = Env::new();
    let mut ok = true;
    // Exceptions of this task come here (abort_exception receives them; a
    // thread that faults anywhere else just waits, and its test fails).
    let exc_port = e.port();
    let poly = PolyPort {
        name: exc_port,
        disposition: MACH_MSG_TYPE_MAKE_SEND,
    };
    ok &= check_eq!(
        "abort_exception_port",
        task::task_set_exception_port(&mut e.rpc, e.task, poly),
        Ok(())
    );
    ok &= abort_receive(&mut e);
    ok &= abort_after_handoff(&mut e);
    ok &= abort_send(&mut e);
    ok &= abort_rpc(&mut e);
    ok &= abort_exception(&mut e, exc_port);
    ok &= abort_redirect_receive(&mut e);
    ok &= abort_fault(&mut e);
    // A retried fault is no exception: nothing came to the exception port.
    ok &= check_eq!(
        "abort_fault_raised_no_exception",
        receive(exc_port, 0).0,
        MACH_RCV_TIMED_OUT
    );
    ok &= abort_user_mode(&mut e);
    ok &= abort_dead(&mut e);
    ok &= check_eq!("abort_audit", e.violations(), Ok(0));
    if ok { 0 } else { 1 }
}

// ---- Receive ----

static RCV1: AtomicI64 = AtomicI64::new(NONE);
static RCV2: AtomicI64 = AtomicI64::new(NONE);

/// Receives twice on `port`: the first is aborted, the second gets the
/// message sent after the abort.
extern "C" fn receiver(port: u64) -> ! {
    let mut buf: MsgBuf<256> = MsgBuf::new();
    let r = mach_msg(&mut buf, MACH_RCV_MSG, 0, port as u32, 0);
    RCV1.store(r as i64, Ordering::Release);
    let (r, id) = receive(port as u32, 10_000);
    RCV2.store(((r as i64) << 32) | id as i64, Ordering::Release);
    mach_user::trap::thread_exit()
}

fn abort_receive(e: &mut Env) -> bool {
    let mut ok = true;
    let port = e.port();
    e.make_send(port);
    let t = spawn(e, receiver, port as u64);
    ok &= check_eq!("abort_receiver_blocked", wait_in_trap(e, t), true);
    ok &= check_eq!("thread_abort_receive", thread::thread_abort(&mut e.rpc, t), Ok(()));
    ok &= check_eq!("abort_receive_interrupted", result(&RCV1), MACH_RCV_INTERRUPTED as i64);
    ok &= check_eq!("abort_receive_send_after", send(port, 77, 0), MACH_MSG_SUCCESS);
    ok &= check_eq!(
        "abort_receive_loses_nothing",
        result(&RCV2),
        ((MACH_MSG_SUCCESS as i64) << 32) | 77
    );
    let _ = e.destroy(port);
    ok
}

static HANDED: AtomicI64 = AtomicI64::new(NONE);

extern "C" fn handoff_receiver(port: u64) -> ! {
    let (r, id) = receive(port as u32, 10_000);
    HANDED.store(((r as i64) << 32) | id as i64, Ordering::Release);
    mach_user::trap::thread_exit()
}

/// A message handed to a blocked receiver, which has not run since, and
/// then an abort: the receive already ended, and returns the message.
fn abort_after_handoff(e: &mut Env) -> bool {
    let mut ok = true;
    let port = e.port();
    e.make_send(port);
    let t = spawn(e, handoff_receiver, port as u64);
    ok &= check_eq!("abort_handoff_receiver_blocked", wait_in_trap(e, t), true);
    let sent = send(port, 88, 0);
    let aborted = thread::thread_abort(&mut e.rpc, t);
    ok &= check_eq!("abort_after_handoff_calls", (sent, aborted), (MACH_MSG_SUCCESS, Ok(())));
    ok &= check_eq!(
        "abort_after_handoff_delivers",
        result(&HANDED),
        ((MACH_MSG_SUCCESS as i64) << 32) | 88
    );
    let _ = e.destroy(port);
    ok
}

// ---- Send ----

static SENT: AtomicI64 = AtomicI64::new(NONE);

extern "C" fn sender(port: u64) -> ! {
    let r = send(port as u32, 99, 0);
    SENT.store(r as i64, Ordering::Release);
    mach_user::trap::thread_exit()
}

fn abort_send(e: &mut Env) -> bool {
    let mut ok = true;
    let port = e.port();
    e.make_send(port);
    let mut queued = 0;
    while queued < 64 && send(port, 1 + queued, MACH_SEND_TIMEOUT) == MACH_MSG_SUCCESS {
        queued += 1;
    }
    ok &= check_eq!(
        "abort_send_queue_full",
        (queued > 0 && queued < 64, send(port, 1000, MACH_SEND_TIMEOUT)),
        (true, MACH_SEND_TIMED_OUT)
    );
    let t = spawn(e, sender, port as u64);
    ok &= check_eq!("abort_sender_blocked", wait_in_trap(e, t), true);
    ok &= check_eq!("thread_abort_send", thread::thread_abort(&mut e.rpc, t), Ok(()));
    ok &= check_eq!("abort_send_interrupted", result(&SENT), MACH_SEND_INTERRUPTED as i64);
    // The queue holds what it held, in order, and not the aborted message.
    let mut same = true;
    for i in 0..queued {
        same &= receive(port, 0) == (MACH_MSG_SUCCESS, 1 + i);
    }
    ok &= check_eq!(
        "abort_send_queue_unchanged",
        (same, receive(port, 0).0),
        (true, MACH_RCV_TIMED_OUT)
    );
    let _ = e.destroy(port);
    ok
}

// ---- RPC ----

static RPC_SERVER: AtomicU32 = AtomicU32::new(0);
static RPC_REPLY: AtomicU32 = AtomicU32::new(0);
static RPC: AtomicI64 = AtomicI64::new(NONE);

/// A null RPC: request 500 to the server port, reply expected on the reply port.
extern "C" fn client(_: u64) -> ! {
    let mut buf: MsgBuf<256> = MsgBuf::new();
    let reply = RPC_REPLY.load(Ordering::Acquire);
    buf.set_header(&MachMsgHeader {
        bits: mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE),
        size: MACH_MSG_HEADER_SIZE as u32,
        remote_port: RPC_SERVER.load(Ordering::Acquire),
        local_port: reply,
        voucher_port: 0,
        id: 500,
    });
    let r = mach_msg(
        &mut buf,
        MACH_SEND_MSG | MACH_RCV_MSG,
        MACH_MSG_HEADER_SIZE as u32,
        reply,
        0,
    );
    RPC.store(r as i64, Ordering::Release);
    mach_user::trap::thread_exit()
}

fn abort_rpc(e: &mut Env) -> bool {
    let mut ok = true;
    let server = e.port();
    e.make_send(server);
    let reply = e.port();
    RPC_SERVER.store(server, Ordering::Release);
    RPC_REPLY.store(reply, Ordering::Release);
    let t = spawn(e, client, 0);
    // Blocked here first, this thread is handed the request (the RPC path).
    let mut req: MsgBuf<256> = MsgBuf::new();
    let r = mach_msg(&mut req, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, server, 5000);
    ok &= check_eq!(
        "abort_rpc_request_arrives",
        (r, req.header().id),
        (MACH_MSG_SUCCESS, 500)
    );
    ok &= check_eq!("abort_rpc_client_waits", wait_in_trap(e, t), true);
    ok &= check_eq!("thread_abort_rpc", thread::thread_abort(&mut e.rpc, t), Ok(()));
    ok &= check_eq!("abort_rpc_interrupted", result(&RPC), MACH_RCV_INTERRUPTED as i64);
    // The reply, sent now, waits on the reply port.
    let mut rep: MsgBuf<64> = MsgBuf::new();
    rep.set_header(&MachMsgHeader {
        bits: mach_msgh_bits(MACH_MSG_TYPE_MOVE_SEND_ONCE, 0),
        size: MACH_MSG_HEADER_SIZE as u32,
        remote_port: req.header().remote_port,
        local_port: 0,
        voucher_port: 0,
        id: 600,
    });
    let sent = mach_msg(&mut rep, MACH_SEND_MSG, MACH_MSG_HEADER_SIZE as u32, 0, 0);
    ok &= check_eq!(
        "abort_rpc_reply_stays_queued",
        (sent, receive(reply, 0)),
        (MACH_MSG_SUCCESS, (MACH_MSG_SUCCESS, 600))
    );
    let _ = e.destroy(server);
    let _ = e.destroy(reply);
    ok
}

// ---- Exception ----

static UD_AFTER: AtomicBool = AtomicBool::new(false);

extern "C" fn invalid_opcode(_: u64) -> ! {
    // SAFETY: raises #UD on purpose; the test redirects the thread.
    unsafe { core::arch::asm!("ud2") };
    UD_AFTER.store(true, Ordering::Release);
    mach_user::trap::thread_exit()
}

/// Receives exception messages, keeping their reply rights (a handler that
/// answers later) and giving up the thread and task rights.
struct Recorder {
    rpc: Rpc,
    exception: i32,
}

impl Release for Recorder {
    fn release_port(&mut self, name: u32, _t: u8) {
        let _ = mach_port::mach_port_deallocate(&mut self.rpc, mach_user::ipc::task_self(), name);
    }
    fn release_ool(&mut self, _a: u64, _s: u64) {}
    fn release_ool_ports(&mut self, _a: u64, _c: u32, _t: u8) {}
}

impl ExcServer for Recorder {
    fn exception_raise(
        &mut self,
        _p: u32,
        thread: u32,
        task: u32,
        exception: i32,
        _c: i64,
        _s: i64,
    ) -> Result<(), i32> {
        self.exception = exception;
        self.release_port(thread, 0);
        self.release_port(task, 0);
        Err(MIG_NO_REPLY)
    }
}

/// The next exception message on `port`: (its exception type, its header).
fn next_exception(r: &mut Recorder, port: u32) -> Option<(i32, MachMsgHeader)> {
    let mut req: MsgBuf<512> = MsgBuf::new();
    let mut reply: MsgBuf<512> = MsgBuf::new();
    if mach_msg(&mut req, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, port, 5000) != MACH_MSG_SUCCESS {
        return None;
    }
    let hdr = req.header();
    let size = (hdr.size as usize + MACH_MSG_TRAILER_SIZE).min(512);
    r.exception = 0;
    match exc::exc_server(r, &req.0[..size], &mut reply.0) {
        Dispatch::NoReply => Some((r.exception, hdr)),
        _ => None,
    }
}

/// Answers exception request `hdr` with KERN_SUCCESS: the send's result.
fn answer_exception(hdr: &MachMsgHeader) -> i32 {
    let mut reply: MsgBuf<64> = MsgBuf::new();
    match mach_interfaces::wire::write_error_reply(hdr, &mut reply.0, KERN_SUCCESS) {
        Some(n) => mach_msg(&mut reply, MACH_SEND_MSG, n as u32, 0, 0),
        None => MACH_SEND_INVALID_HEADER,
    }
}

fn abort_exception(e: &mut Env, exc_port: u32) -> bool {
    let mut ok = true;
    let mut rec = Recorder {
        rpc: Rpc::new(),
        exception: 0,
    };
    let t = spawn(e, invalid_opcode, 0);
    let first = next_exception(&mut rec, exc_port);
    ok &= check_eq!(
        "abort_exception_raised",
        first.map(|f| f.0),
        Some(mach_user::abi::exception::EXC_BAD_INSTRUCTION as i32)
    );
    ok &= check_eq!("thread_abort_exception", thread::thread_abort(&mut e.rpc, t), Ok(()));
    // Back at the faulting instruction, the thread raises it again.
    let second = next_exception(&mut rec, exc_port);
    ok &= check_eq!(
        "abort_exception_raised_again",
        second.map(|s| s.0),
        Some(mach_user::abi::exception::EXC_BAD_INSTRUCTION as i32)
    );
    if let Some((_, hdr)) = first {
        ok &= check_eq!(
            "abort_exception_old_reply_port_dead",
            answer_exception(&hdr),
            MACH_SEND_INVALID_DEST
        );
        let _ = e.dealloc(hdr.remote_port);
    }
    // The handler moves the thread on and resumes it.
    let st = thread::thread_get_state(&mut e.rpc, t);
    let moved = st.and_then(|s| redirect(e, t, s.rsp, s.rflags, 6060));
    ok &= check_eq!("abort_exception_set_state", moved, Ok(()));
    if let Some((_, hdr)) = second {
        ok &= check_eq!("abort_exception_answer", answer_exception(&hdr), MACH_MSG_SUCCESS);
    }
    ok &= check_eq!(
        "abort_exception_thread_resumed",
        (
            wait_until(5000, || LANDED.load(Ordering::Acquire) == 6060),
            UD_AFTER.load(Ordering::Acquire)
        ),
        (true, false)
    );
    ok
}

// ---- Suspend, abort, get_state, set_state, resume ----

static AFTER_RECEIVE: AtomicBool = AtomicBool::new(false);

extern "C" fn lone_receiver(port: u64) -> ! {
    let mut buf: MsgBuf<256> = MsgBuf::new();
    let _ = mach_msg(&mut buf, MACH_RCV_MSG, 0, port as u32, 0);
    AFTER_RECEIVE.store(true, Ordering::Release);
    mach_user::trap::thread_exit()
}

fn abort_redirect_receive(e: &mut Env) -> bool {
    let mut ok = true;
    let port = e.port();
    let t = spawn(e, lone_receiver, port as u64);
    ok &= check_eq!("abort_redirect_receiver_blocked", wait_in_trap(e, t), true);
    ok &= check_eq!("abort_redirect_suspend", thread::thread_suspend(&mut e.rpc, t), Ok(()));
    ok &= check_eq!("thread_abort_suspended", thread::thread_abort(&mut e.rpc, t), Ok(()));
    // Stopped on its way out: its registers are those it resumes with.
    let st = thread::thread_get_state(&mut e.rpc, t);
    ok &= check_eq!(
        "abort_suspended_state_has_interrupted_code",
        st.as_ref().map(|s| (s.rax, after_syscall(s.rip))),
        Ok((MACH_RCV_INTERRUPTED as u64, true))
    );
    let moved = st.and_then(|s| redirect(e, t, s.rsp, s.rflags, 4242));
    ok &= check_eq!("abort_suspended_set_state", moved, Ok(()));
    // Still suspended: the receive never returned in its code.
    settle(20);
    ok &= check_eq!(
        "abort_suspended_stays_suspended",
        (LANDED.load(Ordering::Acquire), AFTER_RECEIVE.load(Ordering::Acquire)),
        (6060, false)
    );
    ok &= check_eq!("abort_redirect_resume", thread::thread_resume(&mut e.rpc, t), Ok(()));
    ok &= check_eq!(
        "abort_suspended_redirected",
        (
            wait_until(5000, || LANDED.load(Ordering::Acquire) == 4242),
            AFTER_RECEIVE.load(Ordering::Acquire)
        ),
        (true, false)
    );
    let _ = e.destroy(port);
    ok
}

// ---- Page faults ----

/// data_requests seen, per page of the object.
static REQUESTS: [AtomicU32; 2] = [const { AtomicU32::new(0) }; 2];
static OBJECT: SpinLock<Option<MemoryObject>> = SpinLock::new(None);

/// A pager that answers nothing by itself: the test supplies pages later.
struct SlowPager;

impl MemoryManager for SlowPager {
    fn data_request(&mut self, object: MemoryObject, offset: u64, _len: u64, _a: u32) -> Result<(), i32> {
        *OBJECT.lock() = Some(object);
        if let Some(n) = REQUESTS.get((offset / 4096) as usize) {
            n.fetch_add(1, Ordering::AcqRel);
        }
        Ok(())
    }
    fn data_return(&mut self, _o: MemoryObject, _off: u64, _d: OolRegion, _dirty: bool, _k: bool) -> Result<(), i32> {
        Ok(())
    }
}

extern "C" fn pager(port: u64) -> ! {
    Server::new(port as u32, SlowPager).run();
    mach_user::trap::thread_exit()
}

static TOUCHED: AtomicI64 = AtomicI64::new(NONE);

/// Reads the byte at `addr` (a page the pager has not supplied yet).
extern "C" fn toucher(addr: u64) -> ! {
    // SAFETY: a page of the mapped memory object.
    let v = unsafe { core::ptr::read_volatile(addr as *const u8) };
    TOUCHED.store(v as i64, Ordering::Release);
    mach_user::trap::thread_exit()
}

fn abort_fault(e: &mut Env) -> bool {
    let mut ok = true;
    let object = e.port();
    e.make_send(object);
    ok &= check_eq!("abort_fault_pager_starts", spawn(e, pager, object as u64) != 0, true);
    let at = vm::vm_map(&mut e.rpc, e.task, 0, 2 * 4096, 1, object, 0, 0, 3, 7, 1).unwrap_or(0);
    ok &= check_eq!("abort_fault_map", at != 0, true);
    // A fault waiting for the pager, aborted: retried, not asked again, and
    // done once the page comes.
    let t = spawn(e, toucher, at + 5);
    ok &= check_eq!(
        "abort_fault_waits_for_pager",
        wait_until(5000, || REQUESTS[0].load(Ordering::Acquire) == 1),
        true
    );
    ok &= check_eq!("thread_abort_fault", thread::thread_abort(&mut e.rpc, t), Ok(()));
    settle(20);
    ok &= check_eq!(
        "abort_fault_retried_once_asked",
        (TOUCHED.load(Ordering::Acquire), REQUESTS[0].load(Ordering::Acquire)),
        (NONE, 1)
    );
    let object_now = *OBJECT.lock();
    let supplied = object_now.map(|o| o.data_supply(0, &[0x5a; 4096], 0));
    ok &= check_eq!("abort_fault_supply", supplied, Some(Ok(())));
    ok &= check_eq!("abort_fault_completes_after_supply", result(&TOUCHED), 0x5a);
    // A suspended thread aborted in its fault stops there and can be sent
    // elsewhere, the pager still silent.
    let t = spawn(e, toucher, at + 4096);
    ok &= check_eq!(
        "abort_fault_second_page_waits",
        wait_until(5000, || REQUESTS[1].load(Ordering::Acquire) == 1),
        true
    );
    ok &= check_eq!("abort_fault_suspend", thread::thread_suspend(&mut e.rpc, t), Ok(()));
    ok &= check_eq!(
        "thread_abort_suspended_fault",
        thread::thread_abort(&mut e.rpc, t),
        Ok(())
    );
    let st = thread::thread_get_state(&mut e.rpc, t);
    let moved = st.and_then(|s| redirect(e, t, s.rsp, s.rflags, 5151));
    ok &= check_eq!("abort_fault_set_state", moved, Ok(()));
    ok &= check_eq!("abort_fault_resume", thread::thread_resume(&mut e.rpc, t), Ok(()));
    ok &= check_eq!(
        "abort_fault_redirected_without_answer",
        (
            wait_until(5000, || LANDED.load(Ordering::Acquire) == 5151),
            REQUESTS[1].load(Ordering::Acquire)
        ),
        (true, 1)
    );
    ok &= check_eq!(
        "abort_fault_unmap",
        vm::vm_deallocate(&mut e.rpc, e.task, at, 2 * 4096),
        Ok(())
    );
    ok
}

// ---- User mode, dead threads ----

static SPINS: AtomicU64 = AtomicU64::new(0);
static STOP_SPINNING: AtomicBool = AtomicBool::new(false);
static SPIN_RECEIVE: AtomicI64 = AtomicI64::new(NONE);

/// Spins in user mode until told, then waits 30 ms in a receive.
extern "C" fn spinner(port: u64) -> ! {
    while !STOP_SPINNING.load(Ordering::Acquire) {
        SPINS.fetch_add(1, Ordering::Relaxed);
    }
    let (r, _) = receive(port as u32, 30);
    SPIN_RECEIVE.store(r as i64, Ordering::Release);
    mach_user::trap::thread_exit()
}

fn abort_user_mode(e: &mut Env) -> bool {
    let mut ok = true;
    let port = e.port();
    let t = spawn(e, spinner, port as u64);
    wait_until(5000, || SPINS.load(Ordering::Relaxed) > 0);
    ok &= check_eq!("thread_abort_user_mode", thread::thread_abort(&mut e.rpc, t), Ok(()));
    let before = SPINS.load(Ordering::Relaxed);
    ok &= check_eq!(
        "abort_user_mode_runs_on",
        wait_until(5000, || SPINS.load(Ordering::Relaxed) > before),
        true
    );
    ok &= check_eq!("abort_user_mode_suspend", thread::thread_suspend(&mut e.rpc, t), Ok(()));
    ok &= check_eq!(
        "thread_abort_suspended_user_mode",
        thread::thread_abort(&mut e.rpc, t),
        Ok(())
    );
    let st = thread::thread_get_state(&mut e.rpc, t).map(|s| after_syscall(s.rip));
    ok &= check_eq!("abort_suspended_user_mode_state", st, Ok(false));
    ok &= check_eq!("abort_user_mode_resume", thread::thread_resume(&mut e.rpc, t), Ok(()));
    // Its next wait is not broken by the abort it had in user mode.
    STOP_SPINNING.store(true, Ordering::Release);
    ok &= check_eq!(
        "abort_user_mode_leaves_no_mark",
        result(&SPIN_RECEIVE),
        MACH_RCV_TIMED_OUT as i64
    );
    let _ = e.destroy(port);
    ok
}

extern "C" fn idler(_: u64) -> ! {
    loop {
        mach_user::trap::swtch();
    }
}

fn abort_dead(e: &mut Env) -> bool {
    let mut ok = true;
    let t = spawn(e, idler, 0);
    settle(10);
    ok &= check_eq!("abort_dead_terminate", thread::thread_terminate(&mut e.rpc, t), Ok(()));
    settle(10);
    ok &= check_eq!(
        "abort_dead_thread",
        thread::thread_abort(&mut e.rpc, t),
        Err(MACH_SEND_INVALID_DEST)
    );
    let _ = e.dealloc(t);
    let me = mach_user::ipc::mach_thread_self();
    ok &= check_eq!("abort_self_does_nothing", thread::thread_abort(&mut e.rpc, me), Ok(()));
    let _ = e.dealloc(me);
    ok
}
