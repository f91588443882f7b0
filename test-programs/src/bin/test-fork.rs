//! task_create with inherited memory: copy-on-write isolation both ways
//! (also for a write after a read fault in the child), a shared region,
//! threads started in the child, task death notifications, task_terminate,
//! and fault counts.
#![no_std]
#![no_main]

use mach_interfaces::PolyPort;
use mach_user::abi::kern_return::*;
use mach_user::abi::message::*;
use mach_user::abi::port::*;
use mach_user::ipc::{MsgBuf, mach_msg};
use mach_user::rpc::{mach_port as mp, task, vm};
use test_programs::check_eq;
use test_programs::ipc_env::Env;

mach_user::entry!(main);

static mut X: u64 = 1;
#[repr(C, align(16))]
struct ChildStack([u8; 16384]);
static mut CHILD_STACK: ChildStack = ChildStack([0; 16384]);
static mut SHARED: u64 = 0;

/// Runs in the child task: reports what it saw of X and of the shared page
/// before and after writing them, then ends its task.
extern "C" fn child_main(report_port: u64) -> ! {
    // SAFETY: the child's own (copy-on-write) copy of the statics; SHARED
    // holds the address of a page inherited shared.
    unsafe {
        let seen = core::ptr::read_volatile(&raw const X);
        core::ptr::write_volatile(&raw mut X, 2);
        let after = core::ptr::read_volatile(&raw const X);
        let shared = core::ptr::read_volatile(&raw const SHARED) as *mut u64;
        core::ptr::write_volatile(shared, 7);
        report_to(report_port as u32, 77, &[seen, after]);
    }
    mach_user::trap::task_exit(0)
}

/// Sends message `id` with up to two words of data to `port`.
fn report_to(port: u32, id: i32, words: &[u64]) {
    let size = 24 + 8 * words.len().min(2) as u32;
    let mut b: MsgBuf<128> = MsgBuf::new();
    b.set_header(&MachMsgHeader {
        bits: mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, 0),
        size,
        remote_port: port,
        local_port: 0,
        voucher_port: 0,
        id,
    });
    for (i, &w) in words.iter().take(2).enumerate() {
        b.put64(24 + 8 * i, w);
    }
    mach_msg(&mut b, MACH_SEND_MSG, size, 0, 0);
}

static mut SHARED2: u64 = 0;

/// Runs in a child task: writes 7 to the page at SHARED2, reports, and ends.
extern "C" fn writer_main(report_port: u64) -> ! {
    // SAFETY: SHARED2 holds the address of a page the child inherited shared.
    unsafe {
        let page = core::ptr::read_volatile(&raw const SHARED2) as *mut u64;
        core::ptr::write_volatile(page, 7);
    }
    report_to(report_port as u32, 78, &[]);
    mach_user::trap::task_exit(0)
}

/// A region shared with a child after it was already copy-on-write shared
/// with another task: the parent has the old page mapped read-only through
/// the shared shadow object when the child's write copies it into that
/// object; the parent must then see the child's write, not its stale mapping.
fn shared_after_copy(e: &mut Env) -> bool {
    let report = e.port();
    let page = vm::vm_allocate(&mut e.rpc, e.task, 0, 4096, 1).unwrap_or(0);
    // SAFETY: this thread is the only one touching the page and SHARED2 here.
    unsafe {
        core::ptr::write_volatile(page as *mut u64, 5);
        core::ptr::write_volatile(&raw mut SHARED2, page);
    }
    let witness = task::task_create(&mut e.rpc, e.task, 1).unwrap_or(0);
    let _ = vm::vm_inherit(&mut e.rpc, e.task, page, 4096, 0);
    let child = task::task_create(&mut e.rpc, e.task, 1).unwrap_or(0);
    // SAFETY: as above; this read maps the old page read-only.
    let before = unsafe { core::ptr::read_volatile(page as *const u64) };
    let name = 0x10_00;
    let poly = PolyPort {
        name: report,
        disposition: MACH_MSG_TYPE_MAKE_SEND,
    };
    let _ = mp::mach_port_insert_right(&mut e.rpc, child, name, poly);
    let stack_top = (&raw const CHILD_STACK as u64) + 16384 - 8;
    let th = task::thread_create_running(
        &mut e.rpc,
        child,
        writer_main as *const () as usize as u64,
        stack_top,
        name as u64,
    );
    let mut b: MsgBuf<64> = MsgBuf::new();
    let kr = mach_msg(&mut b, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, report, 5000);
    let mut ok = check_eq!(
        "shared_after_copy_child_wrote",
        (before, kr, b.header().id),
        (5, MACH_MSG_SUCCESS, 78)
    );
    // SAFETY: as above.
    let seen = unsafe { core::ptr::read_volatile(page as *const u64) };
    ok &= check_eq!("shared_after_copy_parent_sees_child_write", seen, 7);
    let w = vm::vm_read(&mut e.rpc, witness, page, 8).map_or(0, |d| d.address);
    // SAFETY: vm_read mapped the witness's copy at `w`.
    ok &= check_eq!(
        "shared_after_copy_witness_keeps_old",
        unsafe { core::ptr::read_volatile(w as *const u64) },
        5
    );
    for t in [witness, child] {
        let _ = task::task_terminate(&mut e.rpc, t);
        let _ = e.dealloc(t);
    }
    if let Ok(t) = th {
        let _ = e.dealloc(t);
    }
    let _ = e.destroy(report);
    let _ = vm::vm_deallocate(&mut e.rpc, e.task, w, 8);
    let _ = vm::vm_deallocate(&mut e.rpc, e.task, page, 4096);
    ok
}

static mut RW_PAGES: u64 = 0;

/// Runs in a child task: on the three pages at RW_PAGES (copy-on-write from
/// the parent), reads page 1 (a read fault: the parent's page, mapped
/// read-only), then writes it; reads page 2, which is then still only in
/// the object the child's new shadow object covers, then writes it; reports
/// what it read and ends.
extern "C" fn read_then_write_main(report_port: u64) -> ! {
    // SAFETY: RW_PAGES holds the address of three pages the child inherited
    // copy-on-write; only this thread touches them in the child.
    let seen = unsafe {
        let p = core::ptr::read_volatile(&raw const RW_PAGES) as *mut u64;
        let w = |i: usize| p.add(i * 512);
        let one = core::ptr::read_volatile(w(1));
        core::ptr::write_volatile(w(1), 21);
        let two = core::ptr::read_volatile(w(2));
        core::ptr::write_volatile(w(2), 22);
        core::ptr::write_volatile(w(0), 20);
        [one, two]
    };
    report_to(report_port as u32, 79, &seen);
    mach_user::trap::task_exit(0)
}

/// A write after a read fault in a forked child must copy the page: the
/// read maps the parent's page read-only, and the write must not land in
/// it (also for a page read through the child's shadow object).
fn fork_read_then_write(e: &mut Env) -> bool {
    const PAGE: u64 = 4096;
    let report = e.port();
    let a = vm::vm_allocate(&mut e.rpc, e.task, 0, 3 * PAGE, 1).unwrap_or(0);
    // SAFETY: the region just allocated; RW_PAGES is only written here.
    unsafe {
        for i in 0..3 {
            core::ptr::write_volatile((a + i * PAGE) as *mut u64, 10 + i);
        }
        core::ptr::write_volatile(&raw mut RW_PAGES, a);
    }
    let child = task::task_create(&mut e.rpc, e.task, 1).unwrap_or(0);
    let name = 0x10_00;
    let poly = PolyPort {
        name: report,
        disposition: MACH_MSG_TYPE_MAKE_SEND,
    };
    let _ = mp::mach_port_insert_right(&mut e.rpc, child, name, poly);
    let stack_top = (&raw const CHILD_STACK as u64) + 16384 - 8;
    let th = task::thread_create_running(
        &mut e.rpc,
        child,
        read_then_write_main as *const () as usize as u64,
        stack_top,
        name as u64,
    );
    let mut b: MsgBuf<64> = MsgBuf::new();
    let kr = mach_msg(&mut b, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, report, 5000);
    let reads = (kr, b.header().id, b.get64(24), b.get64(32));
    // SAFETY: the region allocated above.
    let parent: [u64; 3] =
        core::array::from_fn(|i| unsafe { core::ptr::read_volatile((a + i as u64 * PAGE) as *const u64) });
    let ok = check_eq!(
        "vm.fork_read_then_write",
        (reads, parent),
        ((MACH_MSG_SUCCESS, 79, 11, 12), [10, 11, 12])
    );
    let _ = task::task_terminate(&mut e.rpc, child);
    let _ = e.dealloc(child);
    if let Ok(t) = th {
        let _ = e.dealloc(t);
    }
    let _ = e.destroy(report);
    let _ = vm::vm_deallocate(&mut e.rpc, e.task, a, 3 * PAGE);
    ok
}

static mut PR_PAGE: u64 = 0;

/// Runs in a child task: reports the word at PR_PAGE and ends.
extern "C" fn reader_main(report_port: u64) -> ! {
    // SAFETY: PR_PAGE holds the address of a page the child inherited.
    let v = unsafe { core::ptr::read_volatile(core::ptr::read_volatile(&raw const PR_PAGE) as *const u64) };
    report_to(report_port as u32, 80, &[v]);
    mach_user::trap::task_exit(0)
}

/// vm_protect raising a copy-on-write region back to writable must not make
/// its hardware mapping writable: the page is still shared with the child,
/// and the parent's next write must fault and copy it.
fn fork_protect_then_write(e: &mut Env) -> bool {
    let report = e.port();
    let a = vm::vm_allocate(&mut e.rpc, e.task, 0, 4096, 1).unwrap_or(0);
    // SAFETY: the page just allocated; PR_PAGE is only written here.
    unsafe {
        core::ptr::write_volatile(a as *mut u64, 5);
        core::ptr::write_volatile(&raw mut PR_PAGE, a);
    }
    let _ = vm::vm_protect(&mut e.rpc, e.task, a, 4096, 0, 1);
    let child = task::task_create(&mut e.rpc, e.task, 1).unwrap_or(0);
    let raised = vm::vm_protect(&mut e.rpc, e.task, a, 4096, 0, 3);
    // SAFETY: as above (writable again).
    unsafe { core::ptr::write_volatile(a as *mut u64, 6) };
    let name = 0x10_00;
    let poly = PolyPort {
        name: report,
        disposition: MACH_MSG_TYPE_MAKE_SEND,
    };
    let _ = mp::mach_port_insert_right(&mut e.rpc, child, name, poly);
    let stack_top = (&raw const CHILD_STACK as u64) + 16384 - 8;
    let th = task::thread_create_running(
        &mut e.rpc,
        child,
        reader_main as *const () as usize as u64,
        stack_top,
        name as u64,
    );
    let mut b: MsgBuf<64> = MsgBuf::new();
    let kr = mach_msg(&mut b, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, report, 5000);
    // SAFETY: as above.
    let parent = unsafe { core::ptr::read_volatile(a as *const u64) };
    let ok = check_eq!(
        "vm.fork_protect_then_write",
        (raised, kr, b.header().id, b.get64(24), parent),
        (Ok(()), MACH_MSG_SUCCESS, 80, 5, 6)
    );
    let _ = task::task_terminate(&mut e.rpc, child);
    let _ = e.dealloc(child);
    if let Ok(t) = th {
        let _ = e.dealloc(t);
    }
    let _ = e.destroy(report);
    let _ = vm::vm_deallocate(&mut e.rpc, e.task, a, 4096);
    ok
}

fn main(_args: mach_user::start::Args) -> i32 {
    let mut e = Env::new();
    let mut ok = true;
    let report = e.port();
    let notify = e.port();
    // A page inherited shared: both tasks see each other's writes.
    let page = vm::vm_allocate(&mut e.rpc, e.task, 0, 4096, 1).unwrap_or(0);
    let _ = vm::vm_inherit(&mut e.rpc, e.task, page, 4096, 0);
    // SAFETY: this thread is the only one touching these statics and the page.
    unsafe {
        core::ptr::write_volatile(page as *mut u64, 5);
        core::ptr::write_volatile(&raw mut SHARED, page);
        core::ptr::write_volatile(&raw mut X, 1);
    }
    let cow_before = vm::task_fault_counts(&mut e.rpc, e.task).map_or(0, |c| c.cow_copy);
    let child = task::task_create(&mut e.rpc, e.task, 1);
    ok &= check_eq!("task_create_inherit_memory", child.map(|_| ()), Ok(()));
    let child = child.unwrap_or(0);
    // The parent writes after the fork: its copy changes, the child's does not.
    // SAFETY: as above.
    unsafe { core::ptr::write_volatile(&raw mut X, 3) };
    let cow_after = vm::task_fault_counts(&mut e.rpc, e.task).map_or(0, |c| c.cow_copy);
    ok &= check_eq!("parent_write_after_fork_copies_page", cow_after > cow_before, true);
    let so = PolyPort {
        name: notify,
        disposition: MACH_MSG_TYPE_MAKE_SEND_ONCE,
    };
    let _ = mp::mach_port_request_notification(&mut e.rpc, e.task, child, MACH_NOTIFY_DEAD_NAME, 0, so);
    // Give the child a send right to our report port, then a thread.
    let child_name = 0x10_00;
    let poly = PolyPort {
        name: report,
        disposition: MACH_MSG_TYPE_MAKE_SEND,
    };
    ok &= check_eq!(
        "insert_right_into_child",
        mp::mach_port_insert_right(&mut e.rpc, child, child_name, poly),
        Ok(())
    );
    let stack_top = (&raw const CHILD_STACK as u64) + 16384 - 8;
    let th = task::thread_create_running(
        &mut e.rpc,
        child,
        child_main as *const () as usize as u64,
        stack_top,
        child_name as u64,
    );
    ok &= check_eq!("thread_create_running_in_child", th.is_ok(), true);
    let mut b: MsgBuf<256> = MsgBuf::new();
    let kr = mach_msg(&mut b, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, report, 5000);
    ok &= check_eq!("child_reports", (kr, b.header().id), (MACH_MSG_SUCCESS, 77));
    ok &= check_eq!("child_sees_memory_as_at_fork", b.get64(24), 1);
    ok &= check_eq!("child_write_is_private_to_child", b.get64(32), 2);
    // SAFETY: as above.
    let (x, shared) = unsafe {
        (
            core::ptr::read_volatile(&raw const X),
            core::ptr::read_volatile(page as *const u64),
        )
    };
    ok &= check_eq!("parent_keeps_its_own_copy", x, 3);
    ok &= check_eq!("shared_region_sees_child_write", shared, 7);
    let kr = mach_msg(&mut b, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, notify, 5000);
    ok &= check_eq!(
        "child_death_sends_dead_name",
        (kr, b.header().id),
        (MACH_MSG_SUCCESS, MACH_NOTIFY_DEAD_NAME)
    );
    ok &= check_eq!(
        "dead_child_port_is_dead_name",
        e.ptype(child),
        Ok(MACH_PORT_TYPE_DEAD_NAME)
    );
    let _ = e.dealloc(child);
    if let Ok(t) = th {
        let _ = e.dealloc(t);
    }
    // task_terminate on a task with no threads.
    let empty = task::task_create(&mut e.rpc, e.task, 0).unwrap_or(0);
    ok &= check_eq!("task_terminate", task::task_terminate(&mut e.rpc, empty), Ok(()));
    ok &= check_eq!(
        "terminated_task_port_is_dead",
        e.ptype(empty),
        Ok(MACH_PORT_TYPE_DEAD_NAME)
    );
    ok &= check_eq!(
        "calls_on_dead_task_fail",
        task::task_terminate(&mut e.rpc, empty),
        Err(MACH_SEND_INVALID_DEST)
    );
    let _ = e.dealloc(empty);
    ok &= check_eq!(
        "thread_create_bad_entry",
        task::thread_create_running(&mut e.rpc, e.task, u64::MAX, 0, 0),
        Err(KERN_INVALID_ADDRESS)
    );
    ok &= shared_after_copy(&mut e);
    ok &= fork_read_then_write(&mut e);
    ok &= fork_protect_then_write(&mut e);
    ok &= generations(&mut e);
    ok &= check_eq!("fork_audit", e.violations(), Ok(0));
    if ok { 0 } else { 1 }
}

/// A thousand rounds of fork, write, child exit: each round's write pushes a
/// shadow object in front of the region, and each child's exit must let the
/// chain collapse again, so depth and resident pages stay bounded.
fn generations(e: &mut Env) -> bool {
    const PAGE: u64 = 4096;
    const PAGES: u64 = 4;
    let a = vm::vm_allocate(&mut e.rpc, e.task, 0, PAGES * PAGE, 1).unwrap_or(0);
    let word = |i: u64| (a + (i % PAGES) * PAGE) as *mut u64;
    for i in 0..PAGES {
        // SAFETY: the region just allocated.
        unsafe { core::ptr::write_volatile(word(i), i) };
    }
    let mut ok = true;
    let mut worst = (0, 0);
    for round in 0..1000u64 {
        let Ok(child) = task::task_create(&mut e.rpc, e.task, 1) else {
            return check_eq!("generations_task_create", round, 1000);
        };
        // SAFETY: as above; the write copies the page away from the child.
        unsafe { core::ptr::write_volatile(word(round), round) };
        ok &= task::task_terminate(&mut e.rpc, child).is_ok();
        let _ = e.dealloc(child);
        let (d, r) = vm::vm_object_chain(&mut e.rpc, e.task, a).map_or((99, 99), |c| (c.depth, c.resident_pages));
        worst = (worst.0.max(d), worst.1.max(r));
    }
    ok = check_eq!("generations_all_rounds", ok, true);
    ok &= check_eq!("generations_chain_depth_bounded", worst.0 <= 2, true);
    ok &= check_eq!("generations_resident_pages_bounded", worst.1 <= 2 * PAGES, true);
    // SAFETY: as above.
    let last = (996..1000).all(|i| unsafe { core::ptr::read_volatile(word(i)) } == i);
    ok &= check_eq!("generations_data_intact", last, true);
    let _ = vm::vm_deallocate(&mut e.rpc, e.task, a, PAGES * PAGE);
    ok
}
