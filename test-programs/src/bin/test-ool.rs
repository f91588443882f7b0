//! Out-of-line memory in messages: regions of a page or more travel as
//! copy-on-write virtual copies (no page is copied at send or receive; the
//! first write on either side copies one page; MACH_MSG_PHYSICAL_COPY still
//! copies during the send), the deallocate flag moves the
//! region, unaligned regions keep their offset in the page, bad regions are
//! refused; and the message-memory budget still stops floods of small
//! (physically copied) regions while virtual copies only meet the queue limit.
//! Received regions are read through `mach_user::ool::OolRegion`, which is
//! tested here too (it deallocates its pages when dropped).
#![no_std]
#![no_main]

use mach_user::abi::message::*;
use mach_user::abi::port::*;
use mach_user::ipc::mach_msg;
use mach_user::ool::OolRegion;
use mach_user::rpc::mach_port as mp;
use mach_user::rpc::vm;
use test_programs::check_eq;
use test_programs::ipc_env::*;

mach_user::entry!(main);

const PAGE: u64 = 4096;

fn main(_args: mach_user::start::Args) -> i32 {
    let mut e = Env::new();
    let mut ok = true;
    ok &= snapshot(&mut e);
    ok &= region(&mut e);
    ok &= moved(&mut e);
    ok &= bad_regions(&mut e);
    ok &= flood_physical(&mut e);
    ok &= flood_virtual(&mut e);
    if ok { 0 } else { 1 }
}

fn audit(e: &mut Env, name: &str) -> bool {
    test_programs::report(name, e.violations() == Ok(0), format_args!("{:?}", e.violations()))
}

fn cow_copies(e: &mut Env) -> u64 {
    vm::task_fault_counts(&mut e.rpc, e.task).map_or(u64::MAX, |c| c.cow_copy)
}

/// Sends one OOL region (MACH_MSG_VIRTUAL_COPY) to `p` (which this task receives on); with
/// MACH_RCV_MSG in `option` also receives it back. Returns mach_msg's result.
fn send_ool(b: &mut Buf, p: u32, addr: u64, size: u32, dealloc: bool, option: u32) -> i32 {
    b.put32(24, 1);
    let end = ool_desc(b, 28, addr, size, dealloc, MACH_MSG_OOL_DESCRIPTOR, 0);
    b.0[28 + 9] = MACH_MSG_VIRTUAL_COPY;
    header(
        b,
        mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, 0) | MACH_MSGH_BITS_COMPLEX,
        end as u32,
        p,
        0,
        1,
    );
    let rcv = if option & MACH_RCV_MSG != 0 { p } else { 0 };
    mach_msg(b, MACH_SEND_MSG | option, end as u32, rcv, 0)
}

fn fill(addr: u64, len: u64, seed: u8) {
    // SAFETY: callers pass memory they allocated read/write.
    let s = unsafe { core::slice::from_raw_parts_mut(addr as *mut u8, len as usize) };
    for (i, x) in s.iter_mut().enumerate() {
        *x = seed.wrapping_add((i / 512) as u8);
    }
}

fn bytes<'a>(a: u64, len: u64) -> &'a [u8] {
    // SAFETY: callers pass memory of their own mapped readable for `len` bytes.
    unsafe { core::slice::from_raw_parts(a as *const u8, len as usize) }
}

/// The out-of-line region of the message received in `b` (first descriptor).
fn received(b: &Buf) -> OolRegion {
    OolRegion::from_received(b.get64(28), u64::from(b.get32(40)))
}

fn poke(addr: u64, v: u8) {
    // SAFETY: callers pass a mapped writable byte.
    unsafe { core::ptr::write_volatile(addr as *mut u8, v) }
}

fn peek(addr: u64) -> u8 {
    // SAFETY: callers pass a mapped readable byte.
    unsafe { core::ptr::read_volatile(addr as *const u8) }
}

/// Send-time snapshot without copying: the copies happen page by page on writes.
fn snapshot(e: &mut Env) -> bool {
    let mut b = Buf::new();
    let p = e.port();
    let size = 16 * PAGE;
    let src = vm::vm_allocate(&mut e.rpc, e.task, 0, size, 1).unwrap_or(0);
    let keep = vm::vm_allocate(&mut e.rpc, e.task, 0, size, 1).unwrap_or(0);
    fill(src, size, 1);
    fill(keep, size, 1);
    let before = cow_copies(e);
    let mut ok = check_eq!(
        "ool_cow_send",
        send_ool(&mut b, p, src, size as u32, false, 0),
        MACH_MSG_SUCCESS
    );
    ok &= check_eq!("ool_cow_receive", recv(&mut b, p, false), MACH_MSG_SUCCESS);
    let mut dst = received(&b);
    let at = dst.address();
    ok &= check_eq!("ool_cow_fresh_address", at != src && at.is_multiple_of(PAGE), true);
    ok &= check_eq!("ool_cow_data_received", &dst[..] == bytes(keep, size), true);
    ok &= check_eq!("ool_cow_no_copy_to_transfer", cow_copies(e) - before, 0);
    // The sender writes one page: one copy, and the receiver keeps the old data.
    poke(src + 3 * PAGE + 5, 0xee);
    ok &= check_eq!("ool_cow_sender_write_copies_one_page", cow_copies(e) - before, 1);
    ok &= check_eq!("ool_cow_receiver_keeps_snapshot", &dst[..] == bytes(keep, size), true);
    // The receiver writes another page: its own copy; the sender sees nothing.
    dst[9 * PAGE as usize] = 0xdd;
    ok &= check_eq!("ool_cow_receiver_write_copies_one_page", cow_copies(e) - before, 2);
    ok &= check_eq!("ool_cow_sender_unaffected", peek(src + 9 * PAGE), peek(keep + 9 * PAGE));
    // Unaligned regions keep their offset within the page.
    fill(src, size, 7);
    fill(keep, size, 7);
    let r = send_ool(&mut b, p, src + 100, (5 * PAGE) as u32, false, MACH_RCV_MSG);
    ok &= check_eq!("ool_cow_unaligned_rpc", r, MACH_MSG_SUCCESS);
    let dst2 = received(&b);
    ok &= check_eq!("ool_cow_unaligned_offset_kept", dst2.address() % PAGE, 100);
    ok &= check_eq!("ool_cow_unaligned_data", &dst2[..] == bytes(keep + 100, 5 * PAGE), true);
    // MACH_MSG_PHYSICAL_COPY copies during the send: later writes copy nothing.
    // (A fresh region: `src` still shares pages with `dst`.)
    let ph = vm::vm_allocate(&mut e.rpc, e.task, 0, size, 1).unwrap_or(0);
    fill(ph, size, 7);
    b.put32(24, 1);
    let end = ool_desc(&mut b, 28, ph, size as u32, false, MACH_MSG_OOL_DESCRIPTOR, 0);
    header(
        &mut b,
        mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, 0) | MACH_MSGH_BITS_COMPLEX,
        end as u32,
        p,
        0,
        1,
    );
    let r = mach_msg(&mut b, MACH_SEND_MSG | MACH_RCV_MSG, end as u32, p, 0);
    ok &= check_eq!("ool_physical_rpc", r, MACH_MSG_SUCCESS);
    let mut dst3 = received(&b);
    let before = cow_copies(e);
    poke(ph + 2 * PAGE, 0x77);
    dst3[2 * PAGE as usize] = 0x78;
    ok &= check_eq!("ool_physical_no_cow_afterwards", cow_copies(e) - before, 0);
    ok &= check_eq!(
        "ool_physical_data",
        dst3.get(3 * PAGE as usize..) == Some(bytes(keep + 3 * PAGE, size - 3 * PAGE)),
        true
    );
    drop(dst3);
    let _ = vm::vm_deallocate(&mut e.rpc, e.task, ph, size);
    // A message destroyed unreceived gives its copy back (the kernel's
    // end-of-run `vm_copies_released` and `frames_reclaimed` check it).
    ok &= check_eq!(
        "ool_cow_send_unreceived",
        send_ool(&mut b, p, src, size as u32, false, 0),
        MACH_MSG_SUCCESS
    );
    let _ = e.destroy(p);
    drop((dst, dst2));
    for a in [src, keep] {
        let _ = vm::vm_deallocate(&mut e.rpc, e.task, a, size);
    }
    ok & audit(e, "ool_cow_audit")
}

/// Whether `a` lies in a mapped region of this task.
fn mapped(e: &mut Env, a: u64) -> bool {
    vm::vm_region(&mut e.rpc, e.task, a).is_ok_and(|r| r.start <= a && a - r.start < r.size)
}

/// Received memory as an `OolRegion`: it reads as the bytes sent, stays
/// mapped while it lives and is deallocated when dropped (every page,
/// however unaligned the start); `into_raw` hands the pages back
/// undeallocated; a null address or zero size makes an empty region.
fn region(e: &mut Env) -> bool {
    let mut b = Buf::new();
    let p = e.port();
    let size = 3 * PAGE;
    let src = vm::vm_allocate(&mut e.rpc, e.task, 0, size, 1).unwrap_or(0);
    fill(src, size, 5);
    let r = send_ool(&mut b, p, src + 100, (2 * PAGE) as u32, false, MACH_RCV_MSG);
    let got = received(&b);
    let (first, last) = (got.address(), got.address() + 2 * PAGE - 1);
    let mut ok = check_eq!(
        "ool_region_reads_the_data",
        (r, got.len(), &got[..] == bytes(src + 100, 2 * PAGE)),
        (MACH_MSG_SUCCESS, 2 * PAGE as usize, true)
    );
    ok &= check_eq!(
        "ool_region_mapped_while_alive",
        (mapped(e, first - 100), mapped(e, last)),
        (true, true)
    );
    drop(got);
    ok &= check_eq!(
        "ool_region_drop_deallocates",
        (mapped(e, first - 100), mapped(e, last)),
        (false, false)
    );
    let r = send_ool(&mut b, p, src, PAGE as u32, false, MACH_RCV_MSG);
    let (address, len) = received(&b).into_raw();
    ok &= check_eq!(
        "ool_region_into_raw_keeps_pages",
        (r, len, mapped(e, address)),
        (MACH_MSG_SUCCESS, PAGE, true)
    );
    let _ = vm::vm_deallocate(&mut e.rpc, e.task, address, len);
    let (null, zero) = (OolRegion::from_received(0, PAGE), OolRegion::from_received(src, 0));
    ok &= check_eq!(
        "ool_region_empty",
        (null.len(), zero.len(), zero.address(), null == OolRegion::EMPTY),
        (0, 0, 0, true)
    );
    drop((null, zero));
    ok &= check_eq!("ool_region_empty_drop_deallocates_nothing", mapped(e, src), true);
    let _ = vm::vm_deallocate(&mut e.rpc, e.task, src, size);
    let _ = e.destroy(p);
    ok & audit(e, "ool_region_audit")
}

/// The deallocate flag moves the region: the sender loses it, the receiver
/// owns the only reference and writes in place.
fn moved(e: &mut Env) -> bool {
    let mut b = Buf::new();
    let p = e.port();
    let size = 4 * PAGE;
    let src = vm::vm_allocate(&mut e.rpc, e.task, 0, size, 1).unwrap_or(0);
    let keep = vm::vm_allocate(&mut e.rpc, e.task, 0, size, 1).unwrap_or(0);
    // A region of its own (adjacent allocations merge and would share one
    // object, which the receiver could then not write in place).
    let _ = vm::vm_inherit(&mut e.rpc, e.task, src, size, 0);
    fill(src, size, 3);
    fill(keep, size, 3);
    let mut ok = check_eq!(
        "ool_move_send",
        send_ool(&mut b, p, src, size as u32, true, 0),
        MACH_MSG_SUCCESS
    );
    let gone = vm::vm_region(&mut e.rpc, e.task, src).map(|r| r.start != src);
    ok &= check_eq!("ool_move_sender_region_gone", gone, Ok(true));
    ok &= check_eq!("ool_move_receive", recv(&mut b, p, false), MACH_MSG_SUCCESS);
    let mut dst = received(&b);
    ok &= check_eq!("ool_move_data", &dst[..] == bytes(keep, size), true);
    let before = cow_copies(e);
    dst[0] = 0x55;
    ok &= check_eq!("ool_move_write_in_place", cow_copies(e) - before, 0);
    drop(dst);
    let _ = vm::vm_deallocate(&mut e.rpc, e.task, keep, size);
    let _ = e.destroy(p);
    ok & audit(e, "ool_move_audit")
}

/// Unmapped, unreadable and wrapping regions of a page or more are refused
/// with MACH_SEND_INVALID_MEMORY; the region and the queue are unchanged.
fn bad_regions(e: &mut Env) -> bool {
    let mut b = Buf::new();
    let p = e.port();
    let a = vm::vm_allocate(&mut e.rpc, e.task, 0, 3 * PAGE, 1).unwrap_or(0);
    let _ = vm::vm_deallocate(&mut e.rpc, e.task, a + PAGE, PAGE);
    let mut ok = check_eq!(
        "ool_cow_hole_refused",
        send_ool(&mut b, p, a, (3 * PAGE) as u32, true, 0),
        MACH_SEND_INVALID_MEMORY
    );
    let kept = vm::vm_region(&mut e.rpc, e.task, a).map(|r| r.start);
    ok &= check_eq!("ool_cow_refused_region_kept", kept, Ok(a));
    let _ = vm::vm_protect(&mut e.rpc, e.task, a, PAGE, 0, 0);
    ok &= check_eq!(
        "ool_cow_unreadable_refused",
        send_ool(&mut b, p, a, PAGE as u32, false, 0),
        MACH_SEND_INVALID_MEMORY
    );
    ok &= check_eq!(
        "ool_cow_kernel_half_refused",
        send_ool(&mut b, p, 0xffff_8000_0000_0000, PAGE as u32, false, 0),
        MACH_SEND_INVALID_MEMORY
    );
    ok &= check_eq!(
        "ool_cow_wrapping_refused",
        send_ool(&mut b, p, u64::MAX - PAGE, 2 * PAGE as u32, false, 0),
        MACH_SEND_INVALID_MEMORY
    );
    ok &= check_eq!("ool_cow_nothing_queued", recv(&mut b, p, false), MACH_RCV_TIMED_OUT);
    let _ = vm::vm_deallocate(&mut e.rpc, e.task, a, 3 * PAGE);
    let _ = e.destroy(p);
    ok & audit(e, "ool_bad_regions_audit")
}

static SMALL: [u8; 4000] = [9; 4000];

/// Builds in `b` a message to `p` carrying `count` copies of SMALL out of
/// line (copied physically: under a page); returns its size.
fn small_ool_message(b: &mut Buf, p: u32, count: u32) -> usize {
    b.put32(24, count);
    let mut end = 28;
    for _ in 0..count {
        end = ool_desc(b, end, SMALL.as_ptr() as u64, 4000, false, MACH_MSG_OOL_DESCRIPTOR, 0);
    }
    header(
        b,
        mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, 0) | MACH_MSGH_BITS_COMPLEX,
        end as u32,
        p,
        0,
        1,
    );
    end
}

/// Small regions are copied into kernel memory: flooding queues with them
/// hits the message-memory budget (MACH_SEND_NO_BUFFER) long before the
/// kernel heap runs out, and receiving gives the memory back.
fn flood_physical(e: &mut Env) -> bool {
    let mut b = Buf::new();
    let mut ports = [0u32; 16];
    let mut sent = 0;
    let mut last = MACH_MSG_SUCCESS;
    'outer: for slot in ports.iter_mut() {
        let p = e.port();
        *slot = p;
        let _ = mp::mach_port_set_qlimit(&mut e.rpc, e.task, p, MACH_PORT_QLIMIT_MAX);
        for _ in 0..MACH_PORT_QLIMIT_MAX {
            let end = small_ool_message(&mut b, p, 64);
            last = mach_msg(&mut b, MACH_SEND_MSG | MACH_SEND_TIMEOUT, end as u32, 0, 0);
            if last != MACH_MSG_SUCCESS {
                break 'outer;
            }
            sent += 1;
        }
    }
    let mut ok = check_eq!("flood_hits_message_memory_budget", last, MACH_SEND_NO_BUFFER);
    ok &= audit(e, "flood_full_audit");
    let mut got = 0;
    for &p in ports.iter().filter(|&&p| p != 0) {
        while recv(&mut b, p, false) == MACH_MSG_SUCCESS {
            for i in 0..64 {
                drop(OolRegion::from_received(b.get64(28 + 16 * i), 4000));
            }
            got += 1;
        }
    }
    ok &= check_eq!("flooded_messages_all_received", got, sent);
    let p = ports[0];
    let end = small_ool_message(&mut b, p, 1);
    let kr = mach_msg(&mut b, MACH_SEND_MSG | MACH_RCV_MSG, end as u32, p, 0);
    ok &= check_eq!("budget_recovers_after_receiving", kr, MACH_MSG_SUCCESS);
    for p in ports.into_iter().filter(|&p| p != 0) {
        let _ = e.destroy(p);
    }
    ok & audit(e, "flood_audit")
}

static mut BIG: [u8; 1 << 20] = [3; 1 << 20];

/// 1 MiB regions travel as virtual copies: a full queue of them costs the
/// kernel no message memory, and every one arrives intact.
fn flood_virtual(e: &mut Env) -> bool {
    let mut b = Buf::new();
    let p = e.port();
    let _ = mp::mach_port_set_qlimit(&mut e.rpc, e.task, p, MACH_PORT_QLIMIT_MAX);
    let big = &raw const BIG as u64;
    let mut sent = 0;
    let mut last = MACH_MSG_SUCCESS;
    while last == MACH_MSG_SUCCESS && sent <= MACH_PORT_QLIMIT_MAX {
        last = send_ool(&mut b, p, big, 1 << 20, false, MACH_SEND_TIMEOUT);
        sent += u32::from(last == MACH_MSG_SUCCESS);
    }
    let mut ok = check_eq!(
        "virtual_flood_stops_at_queue_limit",
        (last, sent),
        (MACH_SEND_TIMED_OUT, MACH_PORT_QLIMIT_MAX)
    );
    let mut intact = 0;
    while recv(&mut b, p, false) == MACH_MSG_SUCCESS {
        intact += u32::from(&received(&b)[..] == bytes(big, 1 << 20));
    }
    ok &= check_eq!("virtual_flood_all_intact", intact, MACH_PORT_QLIMIT_MAX);
    let _ = e.destroy(p);
    ok & audit(e, "virtual_flood_audit")
}
