//! An external pager (a thread of this task serving `memory_object`) backs a
//! vm_map'ed region: the kernel sends memory_object_init, then one
//! data_request per page on first touch, makes supplied data resident,
//! zero-fills "unavailable" pages, never asks twice for a resident page,
//! pages out (written pages go back with data_return, clean ones are dropped)
//! and asks again on the next touch, and sends memory_object_terminate when
//! the last mapping goes; only init carries the control right, which the
//! pager (served by `mach_user::pager`) gives up at terminate.
#![no_std]
#![no_main]

use mach_interfaces::memory_object as mo;
use mach_user::abi::kern_return::*;
use mach_user::rpc::vm;
use test_programs::check_eq;
use test_programs::ipc_env::Env;
use test_programs::pager::{self, log_entry};

mach_user::entry!(main);

fn main(_args: mach_user::start::Args) -> i32 {
    let mut e = Env::new();
    let mut ok = true;
    let object = e.port();
    e.make_send(object);
    ok &= check_eq!("pager_thread_starts", pager::start(object), true);
    let names_before = e.name_count();
    let at = vm::vm_map(&mut e.rpc, e.task, 0, 3 * 4096, 1, object, 0, 0, 3, 7, 1);
    ok &= check_eq!("vm_map_memory_object", at.map(|a| a % 4096), Ok(0));
    let at = at.unwrap_or(0);
    let faults_before = vm::task_fault_counts(&mut e.rpc, e.task).map_or(0, |c| c.pager_request);
    // SAFETY: three pages mapped from the memory object.
    let (p0, p1, p0_again, p2) = unsafe {
        (
            core::ptr::read_volatile(at as *const u8),
            core::ptr::read_volatile((at + 4096 + 100) as *const u8),
            core::ptr::read_volatile((at + 4095) as *const u8),
            core::ptr::read_volatile((at + 2 * 4096) as *const u8),
        )
    };
    ok &= check_eq!("supplied_data_is_read", (p0, p1, p0_again), (0x40, 0x41, 0x40));
    ok &= check_eq!("unavailable_page_reads_zero", p2, 0);
    let faults = vm::task_fault_counts(&mut e.rpc, e.task).map_or(0, |c| c.pager_request) - faults_before;
    ok &= check_eq!("one_pager_fault_per_page", faults, 3);
    let seq = [log_entry(0), log_entry(1), log_entry(2), log_entry(3), log_entry(4)];
    let want = [
        Some((mo::MEMORY_OBJECT_INIT_ID, 0)),
        Some((mo::MEMORY_OBJECT_DATA_REQUEST_ID, 0)),
        Some((mo::MEMORY_OBJECT_DATA_REQUEST_ID, 4096)),
        Some((mo::MEMORY_OBJECT_DATA_REQUEST_ID, 8192)),
        None,
    ];
    ok &= check_eq!("pager_sees_exact_request_sequence", seq, want);
    // Writes stay in the kernel's cache (no page-out yet).
    // SAFETY: as above.
    let w = unsafe {
        core::ptr::write_volatile((at + 8) as *mut u8, 9);
        core::ptr::read_volatile((at + 8) as *const u8)
    };
    ok &= check_eq!("pager_backed_page_is_writable", w, 9);
    ok &= concurrent_faults(&mut e, object);
    ok &= pageout(&mut e, at);
    // The last mapping goes: the pager hears memory_object_terminate.
    let control = pager::control_port();
    ok &= check_eq!(
        "vm_deallocate_pager_region",
        vm::vm_deallocate(&mut e.rpc, e.task, at, 3 * 4096),
        Ok(())
    );
    let mut terminated = false;
    for _ in 0..1000 {
        if (0..32).any(|i| log_entry(i) == Some((mo::MEMORY_OBJECT_TERMINATE_ID, 0))) {
            terminated = true;
            break;
        }
        mach_user::trap::swtch();
    }
    ok &= check_eq!("pager_hears_terminate", terminated, true);
    // Requests carry no control right; the one init gave is released at
    // terminate (the kernel destroyed the port: it was a dead name by then).
    ok &= check_eq!(
        "pager_releases_control_at_terminate",
        (control != 0, pager::control_port(), e.ptype(control)),
        (true, 0, Err(KERN_INVALID_NAME))
    );
    ok &= check_eq!("pager_names_back_to_baseline", e.name_count(), names_before);
    let bad = vm::vm_map(&mut e.rpc, e.task, 0, 4096, 1, 0, 0, 0, 3, 7, 1);
    ok &= check_eq!("vm_map_null_object", bad, Err(KERN_INVALID_CAPABILITY));
    let bad = vm::vm_map(&mut e.rpc, e.task, 0, 4096, 1, object, 0, 0, 7, 3, 1);
    ok &= check_eq!("vm_map_prot_above_max", bad, Err(KERN_INVALID_ARGUMENT));
    // A kernel port is no memory object (the kernel answers no pager
    // protocol, and a task mapping its own port would keep itself alive).
    let bad = vm::vm_map(&mut e.rpc, e.task, 0, 4096, 1, e.task, 0, 0, 3, 7, 1);
    ok &= check_eq!("vm_map_kernel_port_refused", bad, Err(KERN_INVALID_ARGUMENT));
    // Unaligned sizes and offsets (XNU "PhysPuppet"): the size rounds up to
    // whole pages, an unaligned offset is refused, and nothing leaks.
    let odd = vm::vm_map(&mut e.rpc, e.task, 0, 4097, 1, object, 0, 0, 3, 7, 1);
    let region = odd.and_then(|a| vm::vm_region(&mut e.rpc, e.task, a).map(|r| (r.start == a, r.size)));
    ok &= check_eq!("vm_map_unaligned_size_rounds_up", region, Ok((true, 2 * 4096)));
    if let Ok(a) = odd {
        ok &= check_eq!(
            "vm_deallocate_unaligned_size",
            vm::vm_deallocate(&mut e.rpc, e.task, a, 4097),
            Ok(())
        );
    }
    let bad = vm::vm_map(&mut e.rpc, e.task, 0, 4096, 1, object, 100, 0, 3, 7, 1);
    ok &= check_eq!("vm_map_unaligned_offset", bad, Err(KERN_INVALID_ARGUMENT));
    ok &= check_eq!("pager_audit", e.violations(), Ok(0));
    if ok { 0 } else { 1 }
}

/// Forced page-out of the three pages: page 0 (written) comes back to the
/// pager with data_return, pages 1 and 2 (only read) are dropped; touching
/// them again asks the pager, which supplies what it was given.
fn pageout(e: &mut Env, at: u64) -> bool {
    use mach_user::rpc::{host, host_priv};
    let before = host::host_vm_statistics(&mut e.rpc, e.host).map_or(0, |s| s.pageouts);
    let log_before = pager::LOG_LEN.load(core::sync::atomic::Ordering::Acquire);
    let n = host_priv::host_vm_pageout(&mut e.rpc, e.host_priv, 1000);
    let mut ok = check_eq!("host_vm_pageout_runs", n.map(|n| n >= 3), Ok(true));
    let after = host::host_vm_statistics(&mut e.rpc, e.host).map_or(0, |s| s.pageouts);
    ok &= check_eq!("pageouts_counted", after - before >= 3, true);
    // The pager thread receives the data_return asynchronously.
    let mut returned = None;
    for _ in 0..1000 {
        returned = pager::returned_byte(0, 8);
        if returned.is_some() {
            break;
        }
        mach_user::trap::swtch();
    }
    ok &= check_eq!("dirty_page_returned_with_its_data", returned, Some(9));
    let returns: u32 = (log_before..32)
        .filter_map(log_entry)
        .filter(|&(id, _)| id == mo::MEMORY_OBJECT_DATA_RETURN_ID)
        .map(|(_, off)| 1 << (off / 4096))
        .sum();
    ok &= check_eq!("only_the_written_page_returned", returns, 1);
    let faults_before = vm::task_fault_counts(&mut e.rpc, e.task).map_or(0, |c| c.pager_request);
    // SAFETY: the three pages are still mapped from the memory object.
    let (b0, b8, b1) = unsafe {
        (
            core::ptr::read_volatile(at as *const u8),
            core::ptr::read_volatile((at + 8) as *const u8),
            core::ptr::read_volatile((at + 4096) as *const u8),
        )
    };
    ok &= check_eq!("paged_in_again_intact", (b0, b8, b1), (0x40, 9, 0x41));
    let faults = vm::task_fault_counts(&mut e.rpc, e.task).map_or(0, |c| c.pager_request) - faults_before;
    ok &= check_eq!("page_in_asks_the_pager", faults, 2);
    // The kernel's own copy of a message from a paged-out page waits for the
    // pager like a user access would.
    ok &= kernel_copy_waits(e, at);
    ok &= lock_request(e, at);
    ok &= msync(e, at);
    // A copy-on-write view of the object pins its pages: a pager could
    // otherwise change what the copy saw by supplying different data.
    let object = pager::object_port();
    let copy = vm::vm_map(&mut e.rpc, e.task, 0, 2 * 4096, 1, object, 0, 1, 3, 7, 1).unwrap_or(0);
    // SAFETY: two pages just mapped copy-on-write from the object.
    let seen = unsafe { core::ptr::read_volatile((copy + 4096) as *const u8) };
    let before = vm::task_fault_counts(&mut e.rpc, e.task).map_or(0, |c| c.pager_request);
    let _ = host_priv::host_vm_pageout(&mut e.rpc, e.host_priv, 1000);
    // SAFETY: as above, and the original mapping at `at`.
    let again = unsafe {
        (
            core::ptr::read_volatile((copy + 4096) as *const u8),
            core::ptr::read_volatile((at + 4096) as *const u8),
        )
    };
    let asked = vm::task_fault_counts(&mut e.rpc, e.task).map_or(0, |c| c.pager_request) - before;
    ok &= check_eq!(
        "copied_object_keeps_its_pages",
        (seen, again, asked),
        (0x41, (0x41, 0x41), 0)
    );
    let _ = vm::vm_deallocate(&mut e.rpc, e.task, copy, 2 * 4096);
    ok
}

/// Writes a message into the first page of the region, pages it out, and
/// sends the message from there: mach_msg's copy-in faults on the missing
/// page in the kernel, waits for the pager, and sends the right bytes.
fn kernel_copy_waits(e: &mut Env, at: u64) -> bool {
    use mach_user::abi::message::*;
    use mach_user::ipc::{MsgBuf, mach_msg, mach_msg_raw};
    use mach_user::rpc::host_priv;
    let p = e.port();
    let h = MachMsgHeader {
        bits: mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, 0),
        size: 32,
        remote_port: p,
        local_port: 0,
        voucher_port: 0,
        id: 99,
    };
    // SAFETY: the first page of the region is mapped read/write.
    unsafe {
        core::ptr::write_volatile(at as *mut MachMsgHeader, h);
        core::ptr::write_volatile((at + 24) as *mut u64, 0x1234_5678);
    }
    let _ = host_priv::host_vm_pageout(&mut e.rpc, e.host_priv, 1000);
    let before = vm::task_fault_counts(&mut e.rpc, e.task).map_or(0, |c| c.pager_request);
    // SAFETY: `at` holds a 32-byte message (paged out just now).
    let kr = unsafe { mach_msg_raw(at, MACH_SEND_MSG, 32, 0, 0, 0) };
    let asked = vm::task_fault_counts(&mut e.rpc, e.task).map_or(0, |c| c.pager_request) - before;
    let mut ok = check_eq!("kernel_copy_from_paged_out_page", (kr, asked), (MACH_MSG_SUCCESS, 1));
    let mut b: MsgBuf<64> = MsgBuf::new();
    let kr = mach_msg(&mut b, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, p, 0);
    ok &= check_eq!(
        "kernel_copy_sent_the_paged_in_bytes",
        (kr, b.header().id, b.get64(24)),
        (MACH_MSG_SUCCESS, 99, 0x1234_5678)
    );
    let _ = e.destroy(p);
    ok
}

/// memory_object_lock_request from the pager's side: return the written
/// page without flushing (it stays resident), then flush everything (the
/// next touch asks the pager, which has the returned data); each request
/// ends with lock_completed on the reply port, and bad requests change nothing.
fn lock_request(e: &mut Env, at: u64) -> bool {
    use mach_interfaces::memory_object_control as moc;
    use mach_user::abi::message::*;
    use mach_user::ipc::{MsgBuf, mach_msg};
    let control = pager::control_port();
    let reply = e.port();
    let mut b: MsgBuf<128> = MsgBuf::new();
    let completed = |b: &mut MsgBuf<128>| {
        let kr = mach_msg(b, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, reply, 5000);
        (kr, b.header().id, b.get64(24))
    };
    // SAFETY: page 1 of the region is mapped read/write.
    unsafe { core::ptr::write_volatile((at + 4096 + 16) as *mut u8, 0x77) };
    let log_before = pager::LOG_LEN.load(core::sync::atomic::Ordering::Acquire);
    let r = moc::memory_object_lock_request(&mut e.rpc, control, 0, 3 * 4096, 1, 0, 0, reply);
    let mut ok = check_eq!("lock_request_return_dirty", r, Ok(()));
    let want = (MACH_MSG_SUCCESS, mo::MEMORY_OBJECT_LOCK_COMPLETED_ID, 0);
    ok &= check_eq!("lock_completed_arrives", completed(&mut b), want);
    let mut returned = None;
    for _ in 0..1000 {
        returned = (log_before..32)
            .filter_map(log_entry)
            .find(|&(id, _)| id == mo::MEMORY_OBJECT_DATA_RETURN_ID)
            .map(|(_, off)| (off, pager::returned_byte(1, 16)));
        if returned.is_some() {
            break;
        }
        mach_user::trap::swtch();
    }
    ok &= check_eq!(
        "lock_request_returns_the_written_page",
        returned,
        Some((4096, Some(0x77)))
    );
    let before = vm::task_fault_counts(&mut e.rpc, e.task).map_or(0, |c| c.pager_request);
    // SAFETY: as above.
    let still = unsafe { core::ptr::read_volatile((at + 4096 + 16) as *const u8) };
    let asked = vm::task_fault_counts(&mut e.rpc, e.task).map_or(0, |c| c.pager_request) - before;
    ok &= check_eq!("returned_without_flush_stays_resident", (still, asked), (0x77, 0));
    let r = moc::memory_object_lock_request(&mut e.rpc, control, 0, 3 * 4096, 0, 1, 0, reply);
    ok &= check_eq!("lock_request_flush", (r, completed(&mut b)), (Ok(()), want));
    let before = vm::task_fault_counts(&mut e.rpc, e.task).map_or(0, |c| c.pager_request);
    // SAFETY: as above.
    let again = unsafe { core::ptr::read_volatile((at + 4096 + 16) as *const u8) };
    let asked = vm::task_fault_counts(&mut e.rpc, e.task).map_or(0, |c| c.pager_request) - before;
    ok &= check_eq!("flushed_page_comes_back_from_the_pager", (again, asked), (0x77, 1));
    // A lock value that is no protection, a bad return mode or an unaligned range: refused; the
    // unused send-once reply right dies, which sends a send-once notification
    // instead of a completion.
    for (name, off, ret, lock) in [
        ("bad_lock_value", 0, 0, 0x80),
        ("bad_return_mode", 0, 3, 0),
        ("unaligned_range", 5, 0, 0),
    ] {
        let _ = moc::memory_object_lock_request(&mut e.rpc, control, off, 4096, ret, 1, lock, reply);
        let kr = mach_msg(&mut b, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, reply, 5000);
        ok &= check_eq!(
            name,
            (kr, b.header().id),
            (MACH_MSG_SUCCESS, mach_user::abi::port::MACH_NOTIFY_SEND_ONCE)
        );
    }
    // A write lock: reads go on, a write asks the pager to unlock
    // (data_unlock), which it does, and the write goes through.
    let r = moc::memory_object_lock_request(&mut e.rpc, control, 4096, 4096, 0, 0, 2, 0);
    ok &= check_eq!("lock_request_write_lock", r, Ok(()));
    let log_before = pager::LOG_LEN.load(core::sync::atomic::Ordering::Acquire);
    // SAFETY: page 1 of the region is mapped read/write (locked by the pager).
    let read = unsafe { core::ptr::read_volatile((at + 4096 + 16) as *const u8) };
    let unlocks_after_read = (log_before..32)
        .filter_map(log_entry)
        .filter(|&(id, _)| id == mo::MEMORY_OBJECT_DATA_UNLOCK_ID)
        .count();
    ok &= check_eq!("write_locked_page_reads", (read, unlocks_after_read), (0x77, 0));
    // SAFETY: as above.
    let written = unsafe {
        core::ptr::write_volatile((at + 4096 + 16) as *mut u8, 0x78);
        core::ptr::read_volatile((at + 4096 + 16) as *const u8)
    };
    let unlocks: u64 = (log_before..32)
        .filter_map(log_entry)
        .filter(|&(id, _)| id == mo::MEMORY_OBJECT_DATA_UNLOCK_ID)
        .map(|(_, off)| off)
        .sum();
    ok &= check_eq!("write_asks_the_pager_to_unlock", (written, unlocks), (0x78, 4096));
    // ready and change_attributes are taken (recorded only, so nothing to
    // observe of ready itself; change_attributes completes on the reply
    // right, which shows both went through the control port in order).
    let _ = moc::memory_object_ready(&mut e.rpc, control, 1, 2);
    let r = moc::memory_object_change_attributes(&mut e.rpc, control, 0, 1, reply);
    let got = mach_msg(&mut b, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, reply, 5000);
    ok &= check_eq!(
        "change_attributes_completes",
        (r, got, b.header().id),
        (Ok(()), MACH_MSG_SUCCESS, want.1)
    );
    let _ = e.destroy(reply);
    ok
}

/// vm_msync on pager-backed memory: SYNCHRONOUS returns the written page and
/// keeps it; INVALIDATE drops the pages, and the next touch asks the pager.
fn msync(e: &mut Env, at: u64) -> bool {
    // SAFETY: page 2 of the region is mapped read/write.
    unsafe { core::ptr::write_volatile((at + 2 * 4096 + 40) as *mut u8, 0x66) };
    let r = vm::vm_msync(&mut e.rpc, e.task, at, 3 * 4096, 2);
    let mut ok = check_eq!("vm_msync_sync", r, Ok(()));
    let mut returned = None;
    for _ in 0..1000 {
        returned = pager::returned_byte(2, 40);
        if returned == Some(0x66) {
            break;
        }
        mach_user::trap::swtch();
    }
    ok &= check_eq!("vm_msync_returns_written_page", returned, Some(0x66));
    let r = vm::vm_msync(&mut e.rpc, e.task, at, 3 * 4096, 2 | 4);
    let before = vm::task_fault_counts(&mut e.rpc, e.task).map_or(0, |c| c.pager_request);
    // SAFETY: as above.
    let back = unsafe { core::ptr::read_volatile((at + 2 * 4096 + 40) as *const u8) };
    let asked = vm::task_fault_counts(&mut e.rpc, e.task).map_or(0, |c| c.pager_request) - before;
    ok &= check_eq!("vm_msync_invalidate", (r, back, asked), (Ok(()), 0x66, 1));
    ok
}

const FAULTERS: usize = 4;
static FAULT_AT: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);
static SEEN: [core::sync::atomic::AtomicU32; FAULTERS] = [const { core::sync::atomic::AtomicU32::new(0) }; FAULTERS];
static STACKS: [mach_user::thread::StaticStack<16384>; FAULTERS] =
    [const { mach_user::thread::StaticStack::new() }; FAULTERS];

/// Thread `i` reads the first byte of page `i / 2` of the region at FAULT_AT
/// (two threads per page) and records it (+1, so 0 means "not yet").
extern "C" fn faulter(i: u64) -> ! {
    use core::sync::atomic::Ordering;
    let at = FAULT_AT.load(Ordering::Acquire) + (i / 2) * 4096;
    // SAFETY: the region is mapped from the memory object.
    let v = unsafe { core::ptr::read_volatile(at as *const u8) };
    SEEN[i as usize].store(u32::from(v) + 1, Ordering::Release);
    mach_user::trap::thread_exit()
}

/// Four threads fault at once, two on each of two pages of a fresh mapping
/// at offset 4 pages: every thread sees its page's data and the pager gets
/// exactly one data_request per page.
fn concurrent_faults(e: &mut Env, object: u32) -> bool {
    use core::sync::atomic::Ordering;
    let at = vm::vm_map(&mut e.rpc, e.task, 0, 2 * 4096, 1, object, 4 * 4096, 0, 3, 7, 1).unwrap_or(0);
    FAULT_AT.store(at, Ordering::Release);
    let log_before = pager::LOG_LEN.load(Ordering::Acquire);
    let mut started = 0;
    for (i, stack) in STACKS.iter().enumerate() {
        if let Some(s) = stack.take()
            && mach_user::thread::thread_create_running(faulter, s, i as u64).is_ok()
        {
            started += 1;
        }
    }
    let mut ok = check_eq!("concurrent_faulters_start", started, FAULTERS);
    for _ in 0..10_000 {
        if SEEN.iter().all(|s| s.load(Ordering::Acquire) != 0) {
            break;
        }
        mach_user::trap::swtch();
    }
    let seen: [u32; FAULTERS] = core::array::from_fn(|i| SEEN[i].load(Ordering::Acquire));
    ok &= check_eq!("concurrent_faults_see_their_pages", seen, [0x45, 0x45, 0x46, 0x46]);
    let requests: [u64; 2] = core::array::from_fn(|p| {
        (log_before..32)
            .filter_map(log_entry)
            .filter(|&(id, off)| id == mo::MEMORY_OBJECT_DATA_REQUEST_ID && off == (4 + p as u64) * 4096)
            .count() as u64
    });
    ok &= check_eq!("one_request_per_page_however_many_fault", requests, [1, 1]);
    let _ = vm::vm_deallocate(&mut e.rpc, e.task, at, 2 * 4096);
    ok
}
