//! The default pager (the `default-pager` boot task) on its own: found through
//! the bootstrap service as `default_pager`; an object from
//! `default_pager_object_create` vm_map'ed reads zeroes (data_unavailable);
//! this task plays the kernel and sends `memory_object_data_return` to the
//! object port itself, then faults the returned pages in (the kernel's
//! data_request, answered from the disk). On objects it never maps it plays
//! the kernel entirely: `memory_object_init` with a control port of its own
//! (the only request that carries one), then `data_request`s, answered on
//! that port. Terminate (the last mapping goes, or sent by hand) and
//! no-senders free the object's blocks and make the pager give up its
//! control right (no-senders on the control port); a full disk loses only
//! the pages it cannot take, which then read as errors; hostile returns,
//! requests and inits are refused and counted, never crash the pager.
#![no_std]
#![no_main]

use mach_interfaces::default_pager::{self as dp, DEFAULT_PAGER_SERVICE};
use mach_interfaces::memory_object as mo;
use mach_interfaces::memory_object_control as moc;
use mach_user::abi::kern_return::*;
use mach_user::abi::message::*;
use mach_user::abi::port::MACH_NOTIFY_NO_SENDERS;
use mach_user::ipc::mach_msg;
use mach_user::ool::OolRegion;
use mach_user::rpc::{mach_port as mp, vm};
use mach_user::trap::swtch;
use test_programs::check_eq;
use test_programs::ipc_env::{Buf, Env};

mach_user::entry!(main);

const PAGE: u64 = 4096;
/// Blocks of the 4 MiB disk `make test` attaches.
const DISK_BLOCKS: u64 = 1024;

/// Byte `j` of page `page` as this test writes it.
fn pattern(page: u64, j: usize) -> u8 {
    (page as u8).wrapping_mul(13) ^ (j as u8) ^ 0x5a
}

fn fill(buf: &mut [u8], first_page: u64) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = pattern(first_page + (i / PAGE as usize) as u64, i % PAGE as usize);
    }
}

fn find_pager(args: &mach_user::start::Args, e: &mut Env) -> Option<u32> {
    let bp = mach_user::start::bootstrap_port(args)?;
    for _ in 0..10_000 {
        match mach_interfaces::bootstrap::bootstrap_look_up(&mut e.rpc, bp, DEFAULT_PAGER_SERVICE) {
            Ok(p) => return Some(p),
            Err(_) => {
                swtch();
            }
        }
    }
    None
}

fn info(e: &mut Env, pager: u32) -> dp::DefaultPagerInfoReply {
    dp::default_pager_info(&mut e.rpc, pager).unwrap_or_default()
}

/// Waits (yielding) until the pager's statistics satisfy `done`; returns the last ones.
fn wait_info(e: &mut Env, pager: u32, done: impl Fn(&dp::DefaultPagerInfoReply) -> bool) -> dp::DefaultPagerInfoReply {
    let mut i = info(e, pager);
    for _ in 0..20_000 {
        if done(&i) {
            break;
        }
        swtch();
        i = info(e, pager);
    }
    i
}

/// Sends data_return of `data` at `offset` to `object`.
fn give_back(e: &mut Env, object: u32, offset: u64, data: &[u8]) -> Result<(), i32> {
    mo::memory_object_data_return(&mut e.rpc, object, offset, data, 1, 0)
}

/// A control port of this task's own, for playing the kernel: a receive
/// right with no-senders requested, so it hears when the pager gives up the
/// send right init gave it.
fn control_port(e: &mut Env) -> u32 {
    let ctl = e.port();
    let notify = mach_interfaces::PolyPort {
        name: ctl,
        disposition: MACH_MSG_TYPE_MAKE_SEND_ONCE,
    };
    let _ = mp::mach_port_request_notification(&mut e.rpc, e.task, ctl, MACH_NOTIFY_NO_SENDERS, 1, notify);
    ctl
}

/// `memory_object_init` of `object` with a send right to `ctl`, as the
/// kernel sends at the first vm_map.
fn init(e: &mut Env, object: u32, ctl: u32, page_size: u64) -> Result<(), i32> {
    mo::memory_object_init(&mut e.rpc, object, ctl, page_size)
}

/// Receives the next message on `ctl` (waiting up to 10 s).
fn next(ctl: u32, buf: &mut Buf) -> Option<i32> {
    let r = mach_msg(buf, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, ctl, 10_000);
    (r == MACH_MSG_SUCCESS).then(|| buf.header().id)
}

/// The out-of-line data of a received data_supply.
fn supplied(buf: &Buf) -> OolRegion {
    OolRegion::from_received(buf.get64(28), u64::from(buf.get32(40)))
}

/// Whether the pager gave up its control right: the no-senders
/// notification arrives on `ctl` (answers queued before it are dropped).
fn released(ctl: u32) -> bool {
    let mut buf = Buf::new();
    while let Some(id) = next(ctl, &mut buf) {
        match id {
            MACH_NOTIFY_NO_SENDERS => return true,
            moc::MEMORY_OBJECT_DATA_SUPPLY_ID => drop(supplied(&buf)),
            _ => {}
        }
    }
    false
}

/// What the pager answered on `ctl` to one data_request: the message id and,
/// for data_supply, whether the page holds `pattern(page, ..)`.
fn request(e: &mut Env, object: u32, ctl: u32, offset: u64, length: u64) -> (i32, bool) {
    if mo::memory_object_data_request(&mut e.rpc, object, offset, length, 3).is_err() {
        return (0, false);
    }
    let mut buf = Buf::new();
    let Some(id) = next(ctl, &mut buf) else {
        return (-1, false);
    };
    if id != moc::MEMORY_OBJECT_DATA_SUPPLY_ID {
        return (id, false);
    }
    let got = supplied(&buf);
    let page = offset / PAGE;
    let same = got.len() as u64 == PAGE && got.iter().enumerate().all(|(j, &b)| b == pattern(page, j));
    (id, same)
}

fn read(at: u64) -> u8 {
    // SAFETY: callers pass addresses inside a region they mapped.
    unsafe { core::ptr::read_volatile(at as *const u8) }
}

fn main(args: mach_user::start::Args) -> i32 {
    let mut e = Env::new();
    let mut ok = true;
    let pager = find_pager(&args, &mut e);
    ok &= check_eq!("dpager_found_by_name", pager.is_some(), true);
    let Some(pager) = pager else { return 1 };
    let i0 = info(&mut e, pager);
    ok &= check_eq!(
        "dpager_info_whole_disk_free",
        (i0.total_blocks, i0.free_blocks, i0.page_size, i0.objects),
        (DISK_BLOCKS, DISK_BLOCKS, PAGE, 0)
    );
    ok &= mapped_object(&mut e, pager);
    ok &= hand_requests(&mut e, pager);
    ok &= hostile(&mut e, pager);
    ok &= no_senders_frees(&mut e, pager);
    ok &= disk_full(&mut e, pager);
    ok &= check_eq!("dpager_audit", e.violations(), Ok(0));
    if ok { 0 } else { 1 }
}

/// Zero pages, returned pages read back from the disk, terminate frees.
fn mapped_object(e: &mut Env, pager: u32) -> bool {
    let mut ok = true;
    let object = dp::default_pager_object_create(&mut e.rpc, pager, 4 * PAGE);
    ok &= check_eq!("dpager_object_create", object.is_ok(), true);
    let Ok(object) = object else { return false };
    ok &= check_eq!("dpager_one_object", info(e, pager).objects, 1);
    let at = vm::vm_map(&mut e.rpc, e.task, 0, 4 * PAGE, 1, object, 0, 0, 3, 7, 1);
    ok &= check_eq!("dpager_vm_map", at.is_ok(), true);
    let Ok(at) = at else { return false };
    ok &= check_eq!(
        "dpager_unwritten_pages_read_zero",
        (read(at), read(at + 3 * PAGE + 9)),
        (0, 0)
    );
    // SAFETY: inside the mapping.
    unsafe { core::ptr::write_volatile(at as *mut u8, 7) };
    ok &= check_eq!("dpager_page_writable", read(at), 7);
    // The kernel's page-out, by hand: pages 1 and 2 go to the pager.
    let mut page = [0u8; PAGE as usize];
    fill(&mut page, 1);
    ok &= check_eq!("dpager_data_return_sent", give_back(e, object, PAGE, &page), Ok(()));
    fill(&mut page, 2);
    ok &= check_eq!(
        "dpager_data_return_sent_2",
        give_back(e, object, 2 * PAGE, &page),
        Ok(())
    );
    let i = wait_info(e, pager, |i| i.free_blocks == DISK_BLOCKS - 2);
    ok &= check_eq!("dpager_returned_pages_take_blocks", i.free_blocks, DISK_BLOCKS - 2);
    // The kernel never had pages 1 and 2: faults ask the pager, which reads the disk.
    let from_disk = (0..PAGE as usize).all(|j| read(at + PAGE + j as u64) == pattern(1, j))
        && (0..PAGE as usize).all(|j| read(at + 2 * PAGE + j as u64) == pattern(2, j));
    ok &= check_eq!("dpager_returned_pages_fault_in_from_disk", from_disk, true);
    // The kernel initialised the object at vm_map: a second init (which
    // would steal its answers) is refused, and its control right given back.
    let ctl = control_port(e);
    let before = info(e, pager).rejected;
    let sent = init(e, object, ctl, PAGE);
    let i = wait_info(e, pager, |i| i.rejected > before);
    ok &= check_eq!(
        "dpager_second_init_refused",
        (sent, i.rejected - before, released(ctl)),
        (Ok(()), 1, true)
    );
    let _ = e.destroy(ctl);
    // The last mapping goes: terminate frees the blocks and ends the object.
    ok &= check_eq!(
        "dpager_unmap",
        vm::vm_deallocate(&mut e.rpc, e.task, at, 4 * PAGE),
        Ok(())
    );
    let i = wait_info(e, pager, |i| i.free_blocks == DISK_BLOCKS && i.objects == 0);
    ok &= check_eq!(
        "dpager_terminate_frees_blocks",
        (i.free_blocks, i.objects),
        (DISK_BLOCKS, 0)
    );
    let dead = give_back(e, object, PAGE, &page);
    ok &= check_eq!("dpager_return_to_dead_object_fails", dead, Err(MACH_SEND_INVALID_DEST));
    let _ = e.dealloc(object);
    ok
}

/// This task as the kernel of an object it never maps: init with a control
/// port of its own, returns, requests answered on that port from the disk,
/// and terminate, after which the pager has given the control right up.
fn hand_requests(e: &mut Env, pager: u32) -> bool {
    let Ok(object) = dp::default_pager_object_create(&mut e.rpc, pager, 4 * PAGE) else {
        return check_eq!("dpager_hand_object", false, true);
    };
    let ctl = control_port(e);
    let mut ok = check_eq!("dpager_init_by_hand", init(e, object, ctl, PAGE), Ok(()));
    let mut page = [0u8; PAGE as usize];
    for p in [1, 2] {
        fill(&mut page, p);
        let _ = give_back(e, object, p * PAGE, &page);
    }
    let i = wait_info(e, pager, |i| i.free_blocks == DISK_BLOCKS - 2);
    ok &= check_eq!("dpager_hand_returns_stored", i.free_blocks, DISK_BLOCKS - 2);
    ok &= check_eq!(
        "dpager_data_request_supplies_from_disk",
        request(e, object, ctl, 2 * PAGE, PAGE),
        (moc::MEMORY_OBJECT_DATA_SUPPLY_ID, true)
    );
    ok &= check_eq!(
        "dpager_data_request_unwritten_unavailable",
        request(e, object, ctl, 3 * PAGE, PAGE).0,
        moc::MEMORY_OBJECT_DATA_UNAVAILABLE_ID
    );
    // Rewriting a page keeps its block.
    fill(&mut page, 1);
    let _ = give_back(e, object, PAGE, &page);
    ok &= check_eq!(
        "dpager_rewrite_in_place",
        request(e, object, ctl, PAGE, PAGE),
        (moc::MEMORY_OBJECT_DATA_SUPPLY_ID, true)
    );
    ok &= check_eq!(
        "dpager_rewrite_takes_no_block",
        info(e, pager).free_blocks,
        DISK_BLOCKS - 2
    );
    // Terminate carries no right: the pager drops the one init gave it.
    ok &= check_eq!(
        "dpager_terminate_by_hand_sent",
        mo::memory_object_terminate(&mut e.rpc, object),
        Ok(())
    );
    let i = wait_info(e, pager, |i| i.free_blocks == DISK_BLOCKS && i.objects == 0);
    ok &= check_eq!(
        "dpager_terminate_by_hand_frees_blocks",
        (i.free_blocks, i.objects),
        (DISK_BLOCKS, 0)
    );
    ok &= check_eq!("dpager_terminate_releases_control", released(ctl), true);
    let _ = e.dealloc(object);
    let _ = e.destroy(ctl);
    ok
}

/// Malformed returns, requests and inits: refused, counted, nothing stored.
fn hostile(e: &mut Env, pager: u32) -> bool {
    let mut ok = true;
    let Ok(object) = dp::default_pager_object_create(&mut e.rpc, pager, 2 * PAGE) else {
        return check_eq!("dpager_hostile_object", false, true);
    };
    let bad = dp::default_pager_object_create(&mut e.rpc, pager, 0);
    ok &= check_eq!("dpager_object_size_zero", bad, Err(KERN_INVALID_ARGUMENT));
    let bad = dp::default_pager_object_create(&mut e.rpc, pager, u64::MAX);
    ok &= check_eq!("dpager_object_size_huge", bad, Err(KERN_INVALID_ARGUMENT));
    let bad = dp::default_pager_info(&mut e.rpc, object).map(|_| ());
    ok &= check_eq!("dpager_info_on_object_port", bad, Err(KERN_INVALID_ARGUMENT));
    // Requests for an object nobody initialised have no control port to be
    // answered on: refused, and nothing is stored or ended.
    let before = info(e, pager).rejected;
    let page = [0x77u8; 2 * PAGE as usize];
    let sent = [
        give_back(e, object, 0, &page[..PAGE as usize]),
        mo::memory_object_data_request(&mut e.rpc, object, 0, PAGE, 3),
        mo::memory_object_terminate(&mut e.rpc, object),
    ];
    let i = wait_info(e, pager, |i| i.rejected >= before + 3);
    ok &= check_eq!(
        "dpager_requests_before_init_refused",
        (
            sent.iter().all(|r| r.is_ok()),
            i.rejected - before,
            i.free_blocks,
            i.objects
        ),
        (true, 3, DISK_BLOCKS, 1)
    );
    // An init with a page size other than 4096, or on the service port:
    // refused, and the control right is given back.
    for (name, target, size) in [
        ("dpager_init_bad_page_size_refused", object, 2 * PAGE),
        ("dpager_init_on_service_port_refused", pager, PAGE),
    ] {
        let ctl = control_port(e);
        let before = info(e, pager).rejected;
        let sent = init(e, target, ctl, size);
        let i = wait_info(e, pager, |i| i.rejected > before);
        ok &= check_eq!(name, (sent, i.rejected - before, released(ctl)), (Ok(()), 1, true));
        let _ = e.destroy(ctl);
    }
    let ctl = control_port(e);
    let _ = init(e, object, ctl, PAGE);
    let before = info(e, pager).rejected;
    let sent = [
        give_back(e, object, 100, &page[..PAGE as usize]),
        give_back(e, object, 0, &page[..100]),
        give_back(e, object, 0, &page[..PAGE as usize + 1]),
        give_back(e, object, 2 * PAGE, &page[..PAGE as usize]),
        give_back(e, object, PAGE, &page),
        give_back(e, object, u64::MAX - 4095, &page[..PAGE as usize]),
        give_back(e, pager, 0, &page[..PAGE as usize]),
        mo::memory_object_terminate(&mut e.rpc, pager),
    ];
    ok &= check_eq!("dpager_hostile_returns_sent", sent.iter().all(|r| r.is_ok()), true);
    let i = wait_info(e, pager, |i| i.rejected >= before + 8);
    ok &= check_eq!("dpager_hostile_returns_refused", i.rejected - before, 8);
    ok &= check_eq!("dpager_hostile_returns_store_nothing", i.free_blocks, DISK_BLOCKS);
    let id = |r: (i32, bool)| r.0;
    let err = moc::MEMORY_OBJECT_DATA_ERROR_ID;
    ok &= check_eq!("dpager_request_unaligned", id(request(e, object, ctl, 1, PAGE)), err);
    ok &= check_eq!("dpager_request_partial_page", id(request(e, object, ctl, 0, 100)), err);
    ok &= check_eq!("dpager_request_zero_length", id(request(e, object, ctl, 0, 0)), err);
    ok &= check_eq!(
        "dpager_request_beyond_object",
        id(request(e, object, ctl, PAGE, 2 * PAGE)),
        err
    );
    ok &= check_eq!(
        "dpager_request_offset_max",
        id(request(e, object, ctl, u64::MAX - 4095, PAGE)),
        err
    );
    ok &= check_eq!(
        "dpager_still_serves",
        id(request(e, object, ctl, 0, PAGE)),
        moc::MEMORY_OBJECT_DATA_UNAVAILABLE_ID
    );
    let _ = e.dealloc(object);
    let i = wait_info(e, pager, |i| i.objects == 0);
    ok &= check_eq!(
        "dpager_hostile_object_gone",
        (i.objects, i.free_blocks),
        (0, DISK_BLOCKS)
    );
    let _ = e.destroy(ctl);
    ok
}

/// An object never mapped ends when its last send right goes, and the pager
/// gives up its control right.
fn no_senders_frees(e: &mut Env, pager: u32) -> bool {
    let Ok(object) = dp::default_pager_object_create(&mut e.rpc, pager, PAGE) else {
        return check_eq!("dpager_no_senders_object", false, true);
    };
    let ctl = control_port(e);
    let _ = init(e, object, ctl, PAGE);
    let mut page = [0u8; PAGE as usize];
    fill(&mut page, 0);
    let _ = give_back(e, object, 0, &page);
    let i = wait_info(e, pager, |i| i.free_blocks == DISK_BLOCKS - 1);
    let mut ok = check_eq!("dpager_unmapped_object_stores", i.free_blocks, DISK_BLOCKS - 1);
    let _ = e.dealloc(object);
    let i = wait_info(e, pager, |i| i.free_blocks == DISK_BLOCKS && i.objects == 0);
    ok &= check_eq!(
        "dpager_no_senders_frees_blocks",
        (i.free_blocks, i.objects),
        (DISK_BLOCKS, 0)
    );
    ok &= check_eq!("dpager_no_senders_releases_control", released(ctl), true);
    let _ = e.destroy(ctl);
    ok
}

/// More pages returned than the disk holds: the ones stored stay good, the
/// others read as errors.
fn disk_full(e: &mut Env, pager: u32) -> bool {
    const CHUNK: u64 = 16;
    let pages = DISK_BLOCKS + CHUNK;
    let Ok(object) = dp::default_pager_object_create(&mut e.rpc, pager, pages * PAGE) else {
        return check_eq!("dpager_full_object", false, true);
    };
    let Ok(buf) = vm::vm_allocate(&mut e.rpc, e.task, 0, CHUNK * PAGE, 1) else {
        return check_eq!("dpager_full_buffer", false, true);
    };
    // SAFETY: the region was just allocated for this buffer.
    let chunk = unsafe { core::slice::from_raw_parts_mut(buf as *mut u8, (CHUNK * PAGE) as usize) };
    let ctl = control_port(e);
    let _ = init(e, object, ctl, PAGE);
    let before = info(e, pager).lost_pages;
    let mut sent = true;
    for first in (0..pages).step_by(CHUNK as usize) {
        fill(chunk, first);
        sent &= give_back(e, object, first * PAGE, chunk).is_ok();
    }
    let mut ok = check_eq!("dpager_full_returns_sent", sent, true);
    let i = wait_info(e, pager, |i| i.lost_pages >= before + CHUNK as u32);
    ok &= check_eq!(
        "dpager_disk_fills",
        (i.free_blocks, i.lost_pages - before),
        (0, CHUNK as u32)
    );
    ok &= check_eq!(
        "dpager_full_keeps_first_page",
        request(e, object, ctl, 0, PAGE),
        (moc::MEMORY_OBJECT_DATA_SUPPLY_ID, true)
    );
    ok &= check_eq!(
        "dpager_full_keeps_last_stored_page",
        request(e, object, ctl, (DISK_BLOCKS - 1) * PAGE, PAGE),
        (moc::MEMORY_OBJECT_DATA_SUPPLY_ID, true)
    );
    ok &= check_eq!(
        "dpager_lost_page_reads_as_error",
        request(e, object, ctl, (pages - 1) * PAGE, PAGE).0,
        moc::MEMORY_OBJECT_DATA_ERROR_ID
    );
    let _ = vm::vm_deallocate(&mut e.rpc, e.task, buf, CHUNK * PAGE);
    let _ = e.dealloc(object);
    let i = wait_info(e, pager, |i| i.free_blocks == DISK_BLOCKS && i.objects == 0);
    ok &= check_eq!("dpager_full_object_freed", (i.free_blocks, i.objects), (DISK_BLOCKS, 0));
    let _ = e.destroy(ctl);
    ok
}
