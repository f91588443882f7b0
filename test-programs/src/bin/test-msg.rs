//! mach_msg: delivery, the RPC path, queue limits and timeouts, blocking and
//! waking, RCV_LARGE, rights and memory in messages, cycles, and the
//! hostile-input cases of the checklist. Every group ends with the audit.
//! (Out-of-line memory as virtual copies and floods are in test-ool.)
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, Ordering};
use mach_interfaces::PolyPort;
use mach_user::abi::message::*;
use mach_user::abi::port::*;
use mach_user::ipc::{mach_msg, mach_msg_raw};
use mach_user::ool::OolRegion;
use mach_user::rpc::mach_port as mp;
use mach_user::thread::{StaticStack, thread_create_running};
use test_programs::check_eq;
use test_programs::ipc_env::*;

mach_user::entry!(main);

fn main(_args: mach_user::start::Args) -> i32 {
    let mut e = Env::new();
    let mut ok = true;
    ok &= rpc(&mut e);
    ok &= limits(&mut e);
    ok &= blocking(&mut e);
    ok &= large(&mut e);
    ok &= hostile_header(&mut e);
    ok &= hostile_body(&mut e);
    ok &= hostile_buffers(&mut e);
    ok &= transfer(&mut e);
    ok &= ool(&mut e);
    ok &= cycles(&mut e);
    ok &= unread_replies(&mut e);
    if ok { 0 } else { 1 }
}

fn audit(e: &mut Env, name: &str) -> bool {
    test_programs::report(name, e.violations() == Ok(0), format_args!("{:?}", e.violations()))
}

fn rpc(e: &mut Env) -> bool {
    let mut b = Buf::new();
    let p = e.port();
    let reply = e.port();
    // Request to p (made send right), reply right made send-once from `reply`.
    header(
        &mut b,
        mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE),
        32,
        p,
        reply,
        1000,
    );
    b.put64(24, 0x1122_3344_5566_7788);
    let kr = mach_msg(&mut b, MACH_SEND_MSG | MACH_RCV_MSG, 32, p, 0);
    let h = b.header();
    let mut ok = check_eq!("send_and_receive_in_one_call", kr, MACH_MSG_SUCCESS);
    ok &= check_eq!(
        "received_header_names_receive_right",
        (h.local_port, h.id, h.size),
        (p, 1000, 32)
    );
    ok &= check_eq!(
        "received_bits_are_received_types",
        (mach_msgh_bits_remote(h.bits), mach_msgh_bits_local(h.bits)),
        (MACH_MSG_TYPE_PORT_SEND_ONCE, MACH_MSG_TYPE_PORT_SEND)
    );
    ok &= check_eq!("inline_data_arrives", b.get64(24), 0x1122_3344_5566_7788);
    let t = b.trailer();
    ok &= check_eq!(
        "trailer_format",
        (t.trailer_type, t.trailer_size),
        (0, MACH_MSG_TRAILER_SIZE as u32)
    );
    ok &= check_eq!("trailer_names_sender_task", t.sender_task() != 0, true);
    // Reply on the send-once right; it is consumed.
    let so = h.remote_port;
    let kr = send(&mut b, so, MACH_MSG_TYPE_MOVE_SEND_ONCE, 0, 0, 1100, 0, 0);
    ok &= check_eq!("reply_on_send_once", kr, MACH_MSG_SUCCESS);
    ok &= check_eq!(
        "send_once_consumed",
        e.ptype(so),
        Err(mach_user::abi::kern_return::KERN_INVALID_NAME)
    );
    let kr = recv(&mut b, reply, false);
    ok &= check_eq!("reply_arrives", (kr, b.header().id), (MACH_MSG_SUCCESS, 1100));
    // Forged notification: the trailer tells it apart from the kernel's.
    send(&mut b, p, MACH_MSG_TYPE_MAKE_SEND, 0, 0, MACH_NOTIFY_DEAD_NAME, 0, 0);
    recv(&mut b, p, false);
    ok &= check_eq!("forged_notification_shows_sender", b.trailer().sender_task() != 0, true);
    let _ = e.destroy(p);
    let _ = e.destroy(reply);
    ok & audit(e, "rpc_audit")
}

fn limits(e: &mut Env) -> bool {
    let mut b = Buf::new();
    let p = e.port();
    let _ = mp::mach_port_set_qlimit(&mut e.rpc, e.task, p, 2);
    let mut ok = true;
    for i in 0..2 {
        ok &= send(&mut b, p, MACH_MSG_TYPE_MAKE_SEND, 0, 0, i, 0, 0) == MACH_MSG_SUCCESS;
    }
    ok &= check_eq!("fill_queue_to_limit", ok, true);
    let reply = e.port();
    let before = e.snapshot();
    let kr = send(
        &mut b,
        p,
        MACH_MSG_TYPE_MAKE_SEND,
        reply,
        MACH_MSG_TYPE_MAKE_SEND,
        9,
        MACH_SEND_TIMEOUT,
        0,
    );
    ok &= check_eq!("full_queue_poll_times_out", kr, MACH_SEND_TIMED_OUT);
    let kr = send(
        &mut b,
        p,
        MACH_MSG_TYPE_MAKE_SEND,
        reply,
        MACH_MSG_TYPE_MAKE_SEND,
        9,
        MACH_SEND_TIMEOUT,
        30,
    );
    ok &= check_eq!("full_queue_waits_then_times_out", kr, MACH_SEND_TIMED_OUT);
    let after = e.snapshot();
    if after != before {
        for (x, y) in before.iter().zip(after.iter()) {
            if x != y {
                mach_user::println!("snapshot differs: before {x:x?} after {y:x?}");
            }
        }
    }
    ok &= check_eq!("timed_out_send_changed_nothing", after == before, true);
    // A send-once message is not held back by the limit.
    let kr = send(&mut b, p, MACH_MSG_TYPE_MAKE_SEND_ONCE, 0, 0, 7, MACH_SEND_TIMEOUT, 0);
    ok &= check_eq!("send_once_ignores_queue_limit", kr, MACH_MSG_SUCCESS);
    let mut ids = [0; 3];
    for id in ids.iter_mut() {
        recv(&mut b, p, false);
        *id = b.header().id;
    }
    ok &= check_eq!("messages_arrive_in_order", ids, [0, 1, 7]);
    ok &= check_eq!("poll_empty_port", recv(&mut b, p, false), MACH_RCV_TIMED_OUT);
    let kr = mach_msg(&mut b, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, p, 30);
    ok &= check_eq!("receive_waits_then_times_out", kr, MACH_RCV_TIMED_OUT);
    let _ = e.destroy(p);
    let _ = e.destroy(reply);
    ok & audit(e, "limits_audit")
}

static SHARED_PORT: AtomicU32 = AtomicU32::new(0);
static HELPER_RESULT: AtomicU32 = AtomicU32::new(0);
static HELPER_STACK: StaticStack<16384> = StaticStack::new();

/// Helper thread: fills the shared port's queue past its limit (blocking),
/// then waits for a message with no timeout.
extern "C" fn helper(_: u64) -> ! {
    let mut b = Buf::new();
    let p = SHARED_PORT.load(Ordering::Acquire);
    let kr = send(&mut b, p, MACH_MSG_TYPE_MAKE_SEND, 0, 0, 2, 0, 0);
    HELPER_RESULT.store(if kr == MACH_MSG_SUCCESS { 1 } else { 100 }, Ordering::Release);
    let reply = mp::mach_port_allocate(
        &mut mach_user::rpc::Rpc::new(),
        mach_user::ipc::mach_task_self(),
        MACH_PORT_RIGHT_RECEIVE,
    )
    .unwrap_or(0);
    SHARED_PORT.store(reply, Ordering::Release);
    let kr = recv(&mut b, reply, true);
    HELPER_RESULT.store(
        if kr == MACH_MSG_SUCCESS && b.header().id == 77 {
            2
        } else {
            200
        },
        Ordering::Release,
    );
    mach_user::trap::thread_exit()
}

fn blocking(e: &mut Env) -> bool {
    let mut b = Buf::new();
    let p = e.port();
    let _ = mp::mach_port_set_qlimit(&mut e.rpc, e.task, p, 1);
    send(&mut b, p, MACH_MSG_TYPE_MAKE_SEND, 0, 0, 1, 0, 0);
    SHARED_PORT.store(p, Ordering::Release);
    let Some(stack) = HELPER_STACK.take() else { return false };
    let _ = thread_create_running(helper, stack, 0);
    // Let the helper block on the full queue, then make room.
    for _ in 0..10 {
        mach_user::trap::swtch();
    }
    let mut ok = check_eq!("sender_blocks_on_full_queue", HELPER_RESULT.load(Ordering::Acquire), 0);
    recv(&mut b, p, true);
    recv(&mut b, p, true);
    ok &= check_eq!("blocked_sender_wakes_and_delivers", b.header().id, 2);
    while HELPER_RESULT.load(Ordering::Acquire) < 1 {
        mach_user::trap::swtch();
    }
    while SHARED_PORT.load(Ordering::Acquire) == p {
        mach_user::trap::swtch();
    }
    for _ in 0..10 {
        mach_user::trap::swtch();
    }
    let reply = SHARED_PORT.load(Ordering::Acquire);
    send(&mut b, reply, MACH_MSG_TYPE_MAKE_SEND, 0, 0, 77, 0, 0);
    while HELPER_RESULT.load(Ordering::Acquire) < 2 {
        mach_user::trap::swtch();
    }
    ok &= check_eq!("blocked_receiver_wakes", HELPER_RESULT.load(Ordering::Acquire), 2);
    let _ = e.destroy(p);
    let _ = e.destroy(reply);
    ok & audit(e, "blocking_audit")
}

fn large(e: &mut Env) -> bool {
    let mut b = Buf::new();
    let p = e.port();
    let notify = e.port();
    let carried = e.port();
    let _ = mp::mach_port_request_notification(
        &mut e.rpc,
        e.task,
        carried,
        MACH_NOTIFY_NO_SENDERS,
        1,
        PolyPort {
            name: notify,
            disposition: MACH_MSG_TYPE_MAKE_SEND_ONCE,
        },
    );
    b.put32(24, 1);
    let end = port_desc(&mut b, 28, carried, MACH_MSG_TYPE_MAKE_SEND) + 160;
    header(
        &mut b,
        mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, 0) | MACH_MSGH_BITS_COMPLEX,
        end as u32,
        p,
        0,
        5,
    );
    mach_msg(&mut b, MACH_SEND_MSG, end as u32, 0, 0);
    let mut small = Buf::new();
    // SAFETY: the kernel writes at most 64 bytes into `small`.
    let kr = unsafe {
        mach_msg_raw(
            small.as_mut_ptr() as u64,
            MACH_RCV_MSG | MACH_RCV_LARGE | MACH_RCV_TIMEOUT,
            0,
            64,
            p,
            0,
        )
    };
    let needed = (end + MACH_MSG_TRAILER_SIZE) as u32;
    let mut ok = check_eq!(
        "rcv_large_reports_size",
        (kr, small.get32(4)),
        (MACH_RCV_TOO_LARGE, needed)
    );
    ok &= check_eq!(
        "rcv_large_leaves_message_queued",
        recv(&mut b, p, false),
        MACH_MSG_SUCCESS
    );
    let got = b.get32(28);
    let _ = e.dealloc(got);
    let _ = recv(&mut b, notify, false);
    // Without RCV_LARGE the message is destroyed and its rights released.
    b.put32(24, 1);
    port_desc(&mut b, 28, carried, MACH_MSG_TYPE_MAKE_SEND);
    header(
        &mut b,
        mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, 0) | MACH_MSGH_BITS_COMPLEX,
        end as u32,
        p,
        0,
        6,
    );
    mach_msg(&mut b, MACH_SEND_MSG, end as u32, 0, 0);
    let _ = mp::mach_port_request_notification(
        &mut e.rpc,
        e.task,
        carried,
        MACH_NOTIFY_NO_SENDERS,
        2,
        PolyPort {
            name: notify,
            disposition: MACH_MSG_TYPE_MAKE_SEND_ONCE,
        },
    );
    // SAFETY: as above.
    let kr = unsafe { mach_msg_raw(small.as_mut_ptr() as u64, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, 64, p, 0) };
    ok &= check_eq!("too_small_buffer_destroys_message", kr, MACH_RCV_TOO_LARGE);
    ok &= check_eq!("destroyed_message_is_gone", recv(&mut b, p, false), MACH_RCV_TIMED_OUT);
    let kr = recv(&mut b, notify, false);
    ok &= check_eq!(
        "destroyed_message_released_its_rights",
        (kr, b.header().id),
        (MACH_MSG_SUCCESS, MACH_NOTIFY_NO_SENDERS)
    );
    for n in [p, notify, carried] {
        let _ = e.destroy(n);
    }
    ok & audit(e, "large_audit")
}

fn raw_send(b: &mut Buf, size: u32) -> i32 {
    // SAFETY: send-only: the kernel reads `size` bytes (or fails cleanly).
    unsafe { mach_msg_raw(b.as_mut_ptr() as u64, MACH_SEND_MSG | MACH_SEND_TIMEOUT, size, 0, 0, 0) }
}

fn hostile_header(e: &mut Env) -> bool {
    let mut b = Buf::new();
    let p = e.port();
    e.make_send(p);
    let set = mp::mach_port_allocate(&mut e.rpc, e.task, MACH_PORT_RIGHT_PORT_SET).unwrap_or(0);
    let recv_only = e.port();
    let freed = e.port();
    let _ = e.destroy(freed);
    let before = e.snapshot();
    let mut ok = true;
    header(&mut b, mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, 0), 24, p, 0, 1);
    for (name, size, want) in [
        ("send_size_0", 0, MACH_SEND_MSG_TOO_SMALL),
        ("send_size_below_header", 20, MACH_SEND_MSG_TOO_SMALL),
        ("send_size_unaligned", 26, MACH_SEND_MSG_TOO_SMALL),
        ("send_size_over_maximum", MACH_MSG_SIZE_MAX + 4, MACH_SEND_TOO_LARGE),
        ("send_size_u32_max", u32::MAX, MACH_SEND_TOO_LARGE),
    ] {
        ok &= check_eq!(name, raw_send(&mut b, size), want);
    }
    // SAFETY: the kernel must refuse these addresses without touching them.
    unsafe {
        ok &= check_eq!(
            "send_from_null",
            mach_msg_raw(0, MACH_SEND_MSG, 24, 0, 0, 0),
            MACH_SEND_INVALID_DATA
        );
        ok &= check_eq!(
            "send_from_kernel_address",
            mach_msg_raw(0xffff_ffff_8010_0000, MACH_SEND_MSG, 24, 0, 0, 0),
            MACH_SEND_INVALID_DATA
        );
        ok &= check_eq!(
            "send_from_unmapped",
            mach_msg_raw(0x5000_0000_0000, MACH_SEND_MSG, 24, 0, 0, 0),
            MACH_SEND_INVALID_DATA
        );
    }
    header(
        &mut b,
        mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, 0) | 0x2000_0000,
        24,
        p,
        0,
        1,
    );
    ok &= check_eq!("undefined_header_bits", raw_send(&mut b, 24), MACH_SEND_INVALID_HEADER);
    header(&mut b, mach_msgh_bits(MACH_MSG_TYPE_MOVE_RECEIVE, 0), 24, p, 0, 1);
    ok &= check_eq!(
        "receive_right_as_destination",
        raw_send(&mut b, 24),
        MACH_SEND_INVALID_HEADER
    );
    for (name, dest) in [
        ("dest_null", MACH_PORT_NULL),
        ("dest_dead", MACH_PORT_DEAD),
        ("dest_never_allocated", 0x4321_0000),
        ("dest_freed", freed),
        ("dest_port_set", set),
        ("dest_receive_only", recv_only),
    ] {
        header(&mut b, mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, 0), 24, dest, 0, 1);
        ok &= check_eq!(name, raw_send(&mut b, 24), MACH_SEND_INVALID_DEST);
    }
    header(
        &mut b,
        mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE),
        24,
        p,
        0x4321_0000,
        1,
    );
    ok &= check_eq!("reply_never_allocated", raw_send(&mut b, 24), MACH_SEND_INVALID_REPLY);
    header(
        &mut b,
        mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MOVE_SEND_ONCE),
        24,
        p,
        set,
        1,
    );
    ok &= check_eq!("reply_wrong_type", raw_send(&mut b, 24), MACH_SEND_INVALID_REPLY);
    // Destination and reply the same name, moved twice with one reference.
    header(
        &mut b,
        mach_msgh_bits(MACH_MSG_TYPE_MOVE_SEND, MACH_MSG_TYPE_MOVE_SEND),
        24,
        p,
        p,
        1,
    );
    ok &= check_eq!("move_send_twice_one_uref", raw_send(&mut b, 24), MACH_SEND_INVALID_DEST);
    ok &= check_eq!("header_errors_did_nothing", e.snapshot() == before, true);
    ok &= check_eq!("nothing_was_queued", recv(&mut b, p, false), MACH_RCV_TIMED_OUT);
    for n in [p, set, recv_only] {
        let _ = e.destroy(n);
    }
    ok & audit(e, "hostile_header_audit")
}

fn hostile_body(e: &mut Env) -> bool {
    let mut b = Buf::new();
    let p = e.port();
    e.make_send(p);
    let _ = mp::mach_port_mod_refs(&mut e.rpc, e.task, p, MACH_PORT_RIGHT_SEND, 1);
    let before = e.snapshot();
    let bits = mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, 0) | MACH_MSGH_BITS_COMPLEX;
    let mut ok = true;
    header(&mut b, bits, 24, p, 0, 1);
    ok &= check_eq!("complex_without_body", raw_send(&mut b, 24), MACH_SEND_MSG_TOO_SMALL);
    for (name, count) in [
        ("descriptor_count_past_end", 2u32),
        ("descriptor_count_huge", 0x4000_0000),
        ("descriptor_count_u32_max", u32::MAX),
    ] {
        b.put32(24, count);
        port_desc(&mut b, 28, p, MACH_MSG_TYPE_COPY_SEND);
        header(&mut b, bits, 40, p, 0, 1);
        ok &= check_eq!(name, raw_send(&mut b, 40), MACH_SEND_MSG_TOO_SMALL);
    }
    b.put32(24, 1);
    ool_desc(&mut b, 28, 0x40_0000, 16, false, MACH_MSG_OOL_DESCRIPTOR, 0);
    header(&mut b, bits, 36, p, 0, 1);
    ok &= check_eq!(
        "descriptor_runs_past_end",
        raw_send(&mut b, 36),
        MACH_SEND_MSG_TOO_SMALL
    );
    b.put32(24, 1);
    port_desc(&mut b, 28, p, MACH_MSG_TYPE_COPY_SEND);
    b.0[39] = 9;
    header(&mut b, bits, 40, p, 0, 1);
    ok &= check_eq!("descriptor_bad_type", raw_send(&mut b, 40), MACH_SEND_INVALID_TYPE);
    port_desc(&mut b, 28, p, 3);
    ok &= check_eq!(
        "descriptor_bad_disposition",
        raw_send(&mut b, 40),
        MACH_SEND_INVALID_TYPE
    );
    ok &= check_eq!("structural_errors_did_nothing", e.snapshot() == before, true);
    // A bad right in the second descriptor destroys the message: the
    // destination reference moved in the header is gone, and so is the
    // send right the first descriptor made.
    let q = e.port();
    let notify = e.port();
    let _ = mp::mach_port_request_notification(
        &mut e.rpc,
        e.task,
        q,
        MACH_NOTIFY_NO_SENDERS,
        1,
        PolyPort {
            name: notify,
            disposition: MACH_MSG_TYPE_MAKE_SEND_ONCE,
        },
    );
    b.put32(24, 2);
    let off = port_desc(&mut b, 28, q, MACH_MSG_TYPE_MAKE_SEND);
    let end = port_desc(&mut b, off, 0x4321_0000, MACH_MSG_TYPE_COPY_SEND);
    header(
        &mut b,
        mach_msgh_bits(MACH_MSG_TYPE_MOVE_SEND, 0) | MACH_MSGH_BITS_COMPLEX,
        end as u32,
        p,
        0,
        1,
    );
    ok &= check_eq!(
        "bad_right_in_body",
        raw_send(&mut b, end as u32),
        MACH_SEND_INVALID_RIGHT
    );
    ok &= check_eq!(
        "destroyed_message_consumed_moved_dest",
        e.refs(p, MACH_PORT_RIGHT_SEND),
        Ok(1)
    );
    let kr = recv(&mut b, notify, false);
    ok &= check_eq!(
        "destroyed_message_released_made_right",
        (kr, b.header().id),
        (MACH_MSG_SUCCESS, MACH_NOTIFY_NO_SENDERS)
    );
    // OOL ranges that wrap or are unmapped.
    b.put32(24, 1);
    ool_desc(&mut b, 28, u64::MAX - 8, 64, false, MACH_MSG_OOL_DESCRIPTOR, 0);
    header(&mut b, bits, 44, p, 0, 1);
    ok &= check_eq!("ool_address_wraps", raw_send(&mut b, 44), MACH_SEND_INVALID_MEMORY);
    ool_desc(&mut b, 28, 0x5000_0000_0000, 64, false, MACH_MSG_OOL_DESCRIPTOR, 0);
    ok &= check_eq!("ool_unmapped", raw_send(&mut b, 44), MACH_SEND_INVALID_MEMORY);
    ool_desc(&mut b, 28, 0xffff_8000_0000_0000, 64, false, MACH_MSG_OOL_DESCRIPTOR, 0);
    ok &= check_eq!("ool_kernel_address", raw_send(&mut b, 44), MACH_SEND_INVALID_MEMORY);
    ool_desc(&mut b, 28, 0x40_0000, 0x7fff_ffff, false, MACH_MSG_OOL_DESCRIPTOR, 0);
    ok &= check_eq!("ool_too_large", raw_send(&mut b, 44), MACH_SEND_TOO_LARGE);
    for n in [p, q, notify] {
        let _ = e.destroy(n);
    }
    ok & audit(e, "hostile_body_audit")
}

fn hostile_buffers(e: &mut Env) -> bool {
    let mut b = Buf::new();
    let p = e.port();
    send(&mut b, p, MACH_MSG_TYPE_MAKE_SEND, 0, 0, 31, 0, 0);
    let text = main as *const () as u64;
    let mut ok = true;
    // SAFETY: the kernel must refuse these buffers without writing them.
    unsafe {
        for (name, addr) in [
            ("receive_into_null", 0u64),
            ("receive_into_kernel", 0xffff_ffff_8010_0000),
            ("receive_into_unmapped", 0x5000_0000_0000),
            ("receive_into_read_only", text),
        ] {
            ok &= check_eq!(
                name,
                mach_msg_raw(addr, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, 256, p, 0),
                MACH_RCV_INVALID_DATA
            );
        }
    }
    ok &= check_eq!(
        "bad_receive_buffer_loses_nothing",
        (recv(&mut b, p, false), b.header().id),
        (MACH_MSG_SUCCESS, 31)
    );
    // No stale bytes: only the message and trailer are written.
    b.0.fill(0xaa);
    send(&mut b, p, MACH_MSG_TYPE_MAKE_SEND, 0, 0, 32, 0, 0);
    b.0.fill(0xaa);
    recv(&mut b, p, false);
    let end = 24 + MACH_MSG_TRAILER_SIZE;
    let clean = b.0[end..].iter().all(|&x| x == 0xaa) && b.get32(16) == 0;
    ok &= check_eq!("no_stale_bytes_received", clean, true);
    let _ = e.destroy(p);
    ok & audit(e, "hostile_buffers_audit")
}

fn transfer(e: &mut Env) -> bool {
    let mut b = Buf::new();
    let p = e.port();
    let q = e.port();
    send(&mut b, q, MACH_MSG_TYPE_MAKE_SEND, 0, 0, 11, 0, 0);
    b.put32(24, 1);
    let end = port_desc(&mut b, 28, q, MACH_MSG_TYPE_MOVE_RECEIVE);
    header(
        &mut b,
        mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, 0) | MACH_MSGH_BITS_COMPLEX,
        end as u32,
        p,
        0,
        1,
    );
    let mut ok = check_eq!(
        "send_receive_right",
        mach_msg(&mut b, MACH_SEND_MSG, end as u32, 0, 0),
        MACH_MSG_SUCCESS
    );
    ok &= check_eq!(
        "moved_receive_right_leaves_space",
        e.ptype(q),
        Err(mach_user::abi::kern_return::KERN_INVALID_NAME)
    );
    recv(&mut b, p, false);
    let nq = b.get32(28);
    ok &= check_eq!(
        "receive_right_arrives",
        (b.0[38], e.ptype(nq)),
        (MACH_MSG_TYPE_PORT_RECEIVE, Ok(MACH_PORT_TYPE_RECEIVE))
    );
    ok &= check_eq!(
        "queued_messages_move_with_it",
        (recv(&mut b, nq, false), b.header().id),
        (MACH_MSG_SUCCESS, 11)
    );
    // Many copies of one send right merge, and urefs saturate instead of wrapping.
    e.make_send(nq);
    let _ = mp::mach_port_mod_refs(
        &mut e.rpc,
        e.task,
        nq,
        MACH_PORT_RIGHT_SEND,
        (MACH_PORT_UREFS_MAX - 2) as i32,
    );
    for _ in 0..3 {
        b.put32(24, 1);
        let end = port_desc(&mut b, 28, nq, MACH_MSG_TYPE_MAKE_SEND);
        header(
            &mut b,
            mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, 0) | MACH_MSGH_BITS_COMPLEX,
            end as u32,
            p,
            0,
            1,
        );
        mach_msg(&mut b, MACH_SEND_MSG | MACH_RCV_MSG, end as u32, p, 0);
    }
    ok &= check_eq!(
        "urefs_saturate_on_receive",
        e.refs(nq, MACH_PORT_RIGHT_SEND),
        Ok(MACH_PORT_UREFS_MAX)
    );
    let _ = e.destroy(nq);
    let _ = e.destroy(p);
    ok & audit(e, "transfer_audit")
}

static mut OOL_SRC: [u8; 9000] = [0; 9000];

fn ool(e: &mut Env) -> bool {
    let mut b = Buf::new();
    let p = e.port();
    // SAFETY: only this thread touches OOL_SRC.
    let src = unsafe { &mut *(&raw mut OOL_SRC) };
    for (i, x) in src.iter_mut().enumerate() {
        *x = (i * 7) as u8;
    }
    let mut ok = true;
    for (name, start, size) in [
        ("ool_size_1", 0usize, 1u32),
        ("ool_size_4095", 0, 4095),
        ("ool_size_4096", 0, 4096),
        ("ool_size_4097_unaligned", 3, 4097),
        ("ool_size_8192", 100, 8192),
    ] {
        b.put32(24, 1);
        let end = ool_desc(
            &mut b,
            28,
            src.as_ptr() as u64 + start as u64,
            size,
            false,
            MACH_MSG_OOL_DESCRIPTOR,
            0,
        );
        header(
            &mut b,
            mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, 0) | MACH_MSGH_BITS_COMPLEX,
            end as u32,
            p,
            0,
            1,
        );
        mach_msg(&mut b, MACH_SEND_MSG, end as u32, 0, 0);
        // The sender changes its memory after sending: the receiver sees the send-time copy.
        src[start] ^= 0xff;
        recv(&mut b, p, false);
        src[start] ^= 0xff;
        let got = OolRegion::from_received(b.get64(28), u64::from(size));
        ok &= check_eq!(name, got[..] == src[start..start + size as usize], true);
    }
    b.put32(24, 1);
    let end = ool_desc(&mut b, 28, 0x1000, 0, false, MACH_MSG_OOL_DESCRIPTOR, 0);
    header(
        &mut b,
        mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, 0) | MACH_MSGH_BITS_COMPLEX,
        end as u32,
        p,
        0,
        1,
    );
    let kr = mach_msg(&mut b, MACH_SEND_MSG | MACH_RCV_MSG, end as u32, p, 0);
    ok &= check_eq!("ool_size_0", (kr, b.get64(28)), (MACH_MSG_SUCCESS, 0));
    // Out-of-line port array.
    let q = e.port();
    let names = [q, q, MACH_PORT_NULL];
    b.put32(24, 1);
    let end = ool_desc(
        &mut b,
        28,
        names.as_ptr() as u64,
        3,
        false,
        MACH_MSG_OOL_PORTS_DESCRIPTOR,
        MACH_MSG_TYPE_MAKE_SEND,
    );
    header(
        &mut b,
        mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, 0) | MACH_MSGH_BITS_COMPLEX,
        end as u32,
        p,
        0,
        1,
    );
    let kr = mach_msg(&mut b, MACH_SEND_MSG | MACH_RCV_MSG, end as u32, p, 0);
    let arr = OolRegion::from_received(b.get64(28), 12);
    let mut names = arr.words();
    let got = [(); 3].map(|_| names.next().unwrap_or(u32::MAX));
    ok &= check_eq!(
        "ool_ports_arrive",
        (kr, got, b.0[38]),
        (MACH_MSG_SUCCESS, [q, q, MACH_PORT_NULL], MACH_MSG_TYPE_PORT_SEND)
    );
    ok &= check_eq!("ool_ports_merge", e.refs(q, MACH_PORT_RIGHT_SEND), Ok(2));
    let _ = e.destroy(q);
    let _ = e.destroy(p);
    ok & audit(e, "ool_audit")
}

/// Receive rights sent into a cycle of queues nobody can ever receive from
/// are destroyed: each port's send right kept here turns into a dead name
/// (a per-port check: the system-wide port count moves with the other
/// programs of this boot).
fn cycles(e: &mut Env) -> bool {
    let mut b = Buf::new();
    // A receive right sent into its own queue.
    let p = e.port();
    e.make_send(p);
    b.put32(24, 1);
    let end = port_desc(&mut b, 28, p, MACH_MSG_TYPE_MOVE_RECEIVE);
    header(
        &mut b,
        mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, 0) | MACH_MSGH_BITS_COMPLEX,
        end as u32,
        p,
        0,
        1,
    );
    let mut ok = check_eq!(
        "receive_right_to_itself",
        mach_msg(&mut b, MACH_SEND_MSG, end as u32, 0, 0),
        MACH_MSG_SUCCESS
    );
    // A -> B -> A.
    let a = e.port();
    e.make_send(a);
    let bp = e.port();
    e.make_send(bp);
    b.put32(24, 1);
    let end = port_desc(&mut b, 28, bp, MACH_MSG_TYPE_MOVE_RECEIVE);
    header(
        &mut b,
        mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, 0) | MACH_MSGH_BITS_COMPLEX,
        end as u32,
        a,
        0,
        1,
    );
    mach_msg(&mut b, MACH_SEND_MSG, end as u32, 0, 0);
    b.put32(24, 1);
    let end = port_desc(&mut b, 28, a, MACH_MSG_TYPE_MOVE_RECEIVE);
    header(
        &mut b,
        mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, 0) | MACH_MSGH_BITS_COMPLEX,
        end as u32,
        bp,
        0,
        1,
    );
    ok &= check_eq!(
        "receive_right_cycle",
        mach_msg(&mut b, MACH_SEND_MSG, end as u32, 0, 0),
        MACH_MSG_SUCCESS
    );
    let dead = |e: &mut Env, n: u32| {
        mach_user::rpc::mach_port::mach_port_type(&mut e.rpc, e.task, n).is_ok_and(|t| t == MACH_PORT_TYPE_DEAD_NAME)
    };
    let collected = [dead(e, p), dead(e, a), dead(e, bp)];
    ok &= check_eq!("cycles_collected", collected, [true; 3]);
    for n in [p, a, bp] {
        let _ = e.dealloc(n);
    }
    ok & audit(e, "cycles_audit")
}

/// A task that sends kernel requests and never reads the replies: they are
/// charged to it, and past its limit its requests are refused with
/// MACH_SEND_NO_BUFFER (nothing taken) instead of filling the kernel heap;
/// reading a reply makes room, and destroying the port frees the rest.
fn unread_replies(e: &mut Env) -> bool {
    let mut b = Buf::new();
    let reply = e.port();
    let mut sent = 0u32;
    let mut kr = MACH_MSG_SUCCESS;
    // mach_port_names (3200) on our task port, header only, reply unread.
    while sent < 200_000 {
        kr = send(
            &mut b,
            e.task,
            MACH_MSG_TYPE_COPY_SEND,
            reply,
            MACH_MSG_TYPE_MAKE_SEND_ONCE,
            3200,
            0,
            0,
        );
        if kr != MACH_MSG_SUCCESS {
            break;
        }
        sent += 1;
    }
    let mut ok = check_eq!("unread_replies_refuse_requests", kr, MACH_SEND_NO_BUFFER);
    ok &= check_eq!("unread_replies_were_queued", sent > 100, true);
    // Reading one reply lets one more request in.
    ok &= check_eq!(
        "unread_replies_read_one",
        (recv(&mut b, reply, false), b.header().id),
        (MACH_MSG_SUCCESS, 3300)
    );
    ok &= check_eq!(
        "unread_replies_room_again",
        send(
            &mut b,
            e.task,
            MACH_MSG_TYPE_COPY_SEND,
            reply,
            MACH_MSG_TYPE_MAKE_SEND_ONCE,
            3200,
            0,
            0
        ),
        MACH_MSG_SUCCESS
    );
    ok &= check_eq!(
        "unread_replies_refused_again",
        send(
            &mut b,
            e.task,
            MACH_MSG_TYPE_COPY_SEND,
            reply,
            MACH_MSG_TYPE_MAKE_SEND_ONCE,
            3200,
            0,
            0
        ),
        MACH_SEND_NO_BUFFER
    );
    // Destroying the port frees every reply (read one first: the RPC's own
    // reply needs room).
    let _ = recv(&mut b, reply, false);
    ok &= check_eq!(
        "unread_replies_port_destroyed",
        mp::mach_port_destroy(&mut e.rpc, e.task, reply),
        Ok(())
    );
    ok &= check_eq!(
        "unread_replies_rpc_works_after",
        mp::mach_port_names(&mut e.rpc, e.task).is_ok(),
        true
    );
    ok & audit(e, "unread_replies_audit")
}
