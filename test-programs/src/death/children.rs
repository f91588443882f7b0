//! The children's code: the victim's steps and its blocked threads, and the
//! mapper. Each runs in its own task on its own copy of this image, and
//! reports on the shared page.

use super::*;
use crate::ipc_env::{Buf, header, ool_desc, port_desc};
use mach_user::abi::message::*;
use mach_user::abi::port::*;
use mach_user::ipc::{MsgBuf, mach_msg};
use mach_user::rpc::{Rpc, mach_port as mp, task, vm};
use mach_user::trap::swtch;

const STACK: usize = 32768;
#[repr(C, align(16))]
struct Stack([u8; STACK]);
/// The children's thread stacks (each child runs on its own copy).
static mut STACKS: [Stack; 4] = [const { Stack([0; STACK]) }; 4];

pub(super) fn stack_top(k: usize) -> u64 {
    (&raw const STACKS) as u64 + ((k + 1) * STACK) as u64 - 8
}

pub(super) fn entry(f: extern "C" fn(u64) -> !) -> u64 {
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
pub(super) extern "C" fn victim_main(_: u64) -> ! {
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
pub(super) extern "C" fn mapper_main(_: u64) -> ! {
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
