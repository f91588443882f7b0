//! vm_read, vm_write, vm_copy and vm_wire: on this task and across tasks (a
//! child made by task_create), copy-on-write isolation of what they copy,
//! fault counts that show no page is copied until written, and every
//! argument error.
#![no_std]
#![no_main]

use mach_user::abi::kern_return::*;
use mach_user::ool::OolRegion;
use mach_user::rpc::{task, vm};
use test_programs::check_eq;
use test_programs::ipc_env::Env;

mach_user::entry!(main);

const PAGE: u64 = 4096;
const READ: u32 = 1;
const WRITE: u32 = 2;

fn cow_copies(e: &mut Env) -> u64 {
    vm::task_fault_counts(&mut e.rpc, e.task).map_or(u64::MAX, |c| c.cow_copy)
}

fn fill(addr: u64, len: u64, seed: u8) {
    // SAFETY: callers pass memory they allocated read/write.
    let s = unsafe { core::slice::from_raw_parts_mut(addr as *mut u8, len as usize) };
    for (i, x) in s.iter_mut().enumerate() {
        *x = seed.wrapping_add((i / 256) as u8);
    }
}

fn bytes<'a>(addr: u64, len: u64) -> &'a [u8] {
    // SAFETY: callers pass memory mapped readable for `len` bytes.
    unsafe { core::slice::from_raw_parts(addr as *const u8, len as usize) }
}

fn poke(addr: u64, v: u8) {
    // SAFETY: callers pass a mapped writable byte.
    unsafe { core::ptr::write_volatile(addr as *mut u8, v) }
}

fn main(_args: mach_user::start::Args) -> i32 {
    let mut e = Env::new();
    let mut ok = read(&mut e);
    ok &= write(&mut e);
    ok &= copy(&mut e);
    ok &= wire(&mut e);
    ok &= cross_task(&mut e);
    ok &= msync(&mut e);
    ok &= check_eq!("vmcopy_audit", e.violations(), Ok(0));
    if ok { 0 } else { 1 }
}

fn read(e: &mut Env) -> bool {
    let (t, size) = (e.task, 8 * PAGE);
    let a = vm::vm_allocate(&mut e.rpc, t, 0, size, 1).unwrap_or(0);
    fill(a, size, 10);
    let before = cow_copies(e);
    let r = vm::vm_read(&mut e.rpc, t, a + 300, 5 * PAGE);
    let mut ok = check_eq!("vm_read_ok", r.as_ref().map(|d| d.count), Ok(5 * PAGE as u32));
    let d = r.map_or(OolRegion::EMPTY, OolRegion::bytes);
    ok &= check_eq!("vm_read_offset_kept", d.address() % PAGE, 300);
    ok &= check_eq!("vm_read_data", &d[..] == bytes(a + 300, 5 * PAGE), true);
    ok &= check_eq!("vm_read_copies_nothing", cow_copies(e) - before, 0);
    poke(a + PAGE, 0xff);
    ok &= check_eq!("vm_read_snapshot", d.get(PAGE as usize - 300).copied(), Some(10 + 16));
    ok &= check_eq!(
        "vm_read_size_zero",
        vm::vm_read(&mut e.rpc, t, a, 0).map(|_| ()),
        Err(KERN_INVALID_ARGUMENT)
    );
    ok &= check_eq!(
        "vm_read_wraps",
        vm::vm_read(&mut e.rpc, t, u64::MAX - 5, 100).map(|_| ()),
        Err(KERN_INVALID_ARGUMENT)
    );
    // More than the reply's 32-bit count can say: refused, and no copy is
    // left behind (the kernel's end-of-run vm_copies_released checks that).
    let huge = vm::vm_allocate(&mut e.rpc, t, 0, 5 << 30, 1).unwrap_or(0);
    ok &= check_eq!(
        "vm_read_over_4gib",
        vm::vm_read(&mut e.rpc, t, huge, 5 << 30).map(|_| ()),
        Err(KERN_INVALID_ARGUMENT)
    );
    let _ = vm::vm_deallocate(&mut e.rpc, t, huge, 5 << 30);
    ok &= check_eq!(
        "vm_read_unmapped",
        vm::vm_read(&mut e.rpc, t, 0x1000, PAGE).map(|_| ()),
        Err(KERN_INVALID_ADDRESS)
    );
    let _ = vm::vm_protect(&mut e.rpc, t, a + 7 * PAGE, PAGE, 0, 0);
    ok &= check_eq!(
        "vm_read_unreadable",
        vm::vm_read(&mut e.rpc, t, a + 6 * PAGE, 2 * PAGE).map(|_| ()),
        Err(KERN_PROTECTION_FAILURE)
    );
    drop(d);
    let _ = vm::vm_deallocate(&mut e.rpc, t, a, size);
    ok
}

static PAGES: [u8; 2 * PAGE as usize] = [0x5a; 2 * PAGE as usize];

fn write(e: &mut Env) -> bool {
    let t = e.task;
    let a = vm::vm_allocate(&mut e.rpc, t, 0, 4 * PAGE, 1).unwrap_or(0);
    fill(a, 4 * PAGE, 1);
    let _ = vm::vm_inherit(&mut e.rpc, t, a, 4 * PAGE, 0);
    let mut ok = check_eq!("vm_write_ok", vm::vm_write(&mut e.rpc, t, a + PAGE, &PAGES), Ok(()));
    ok &= check_eq!("vm_write_data", bytes(a + PAGE, 2 * PAGE) == &PAGES[..], true);
    ok &= check_eq!(
        "vm_write_neighbours_kept",
        (bytes(a, 1)[0], bytes(a + 3 * PAGE, 1)[0]),
        (1, 1 + 48)
    );
    let inh = vm::vm_region(&mut e.rpc, t, a + PAGE).map(|r| r.inheritance);
    ok &= check_eq!("vm_write_keeps_inheritance", inh, Ok(0));
    poke(a + PAGE, 7);
    ok &= check_eq!("vm_write_then_writable", bytes(a + PAGE, 1)[0], 7);
    ok &= check_eq!(
        "vm_write_unaligned",
        vm::vm_write(&mut e.rpc, t, a + 1, &PAGES),
        Err(KERN_INVALID_ARGUMENT)
    );
    ok &= check_eq!(
        "vm_write_partial_page",
        vm::vm_write(&mut e.rpc, t, a, &PAGES[..100]),
        Err(KERN_INVALID_ARGUMENT)
    );
    ok &= check_eq!(
        "vm_write_past_end",
        vm::vm_write(&mut e.rpc, t, a + 3 * PAGE, &PAGES),
        Err(KERN_INVALID_ADDRESS)
    );
    let _ = vm::vm_protect(&mut e.rpc, t, a, PAGE, 0, READ);
    ok &= check_eq!(
        "vm_write_read_only",
        vm::vm_write(&mut e.rpc, t, a, &PAGES),
        Err(KERN_PROTECTION_FAILURE)
    );
    ok &= check_eq!("vm_write_refused_leaves_data", bytes(a, 1)[0], 1);
    ok &= check_eq!(
        "vm_write_kernel_half",
        vm::vm_write(&mut e.rpc, t, 0xffff_8000_0000_0000, &PAGES),
        Err(KERN_INVALID_ADDRESS)
    );
    let _ = vm::vm_deallocate(&mut e.rpc, t, a, 4 * PAGE);
    ok
}

fn copy(e: &mut Env) -> bool {
    let t = e.task;
    let a = vm::vm_allocate(&mut e.rpc, t, 0, 8 * PAGE, 1).unwrap_or(0);
    fill(a, 4 * PAGE, 40);
    fill(a + 4 * PAGE, 4 * PAGE, 90);
    let before = cow_copies(e);
    let mut ok = check_eq!(
        "vm_copy_ok",
        vm::vm_copy(&mut e.rpc, t, a, 3 * PAGE, a + 5 * PAGE),
        Ok(())
    );
    ok &= check_eq!(
        "vm_copy_data",
        bytes(a + 5 * PAGE, 3 * PAGE) == bytes(a, 3 * PAGE),
        true
    );
    ok &= check_eq!("vm_copy_page_before_untouched", bytes(a + 4 * PAGE, 1)[0], 90);
    ok &= check_eq!("vm_copy_copies_nothing_yet", cow_copies(e) - before, 0);
    poke(a + 6 * PAGE, 1);
    ok &= check_eq!(
        "vm_copy_destination_write_copies",
        (cow_copies(e) - before, bytes(a + PAGE, 1)[0]),
        (1, 56)
    );
    poke(a + 2 * PAGE, 2);
    ok &= check_eq!("vm_copy_source_write_isolated", bytes(a + 7 * PAGE, 1)[0], 72);
    ok &= check_eq!(
        "vm_copy_unaligned",
        vm::vm_copy(&mut e.rpc, t, a + 8, PAGE, a + 4 * PAGE),
        Err(KERN_INVALID_ARGUMENT)
    );
    ok &= check_eq!(
        "vm_copy_size_zero",
        vm::vm_copy(&mut e.rpc, t, a, 0, a + 4 * PAGE),
        Err(KERN_INVALID_ARGUMENT)
    );
    ok &= check_eq!(
        "vm_copy_into_hole",
        vm::vm_copy(&mut e.rpc, t, a, 2 * PAGE, a + 7 * PAGE),
        Err(KERN_INVALID_ADDRESS)
    );
    ok &= check_eq!(
        "vm_copy_from_hole",
        vm::vm_copy(&mut e.rpc, t, a + 7 * PAGE, 2 * PAGE, a),
        Err(KERN_INVALID_ADDRESS)
    );
    let _ = vm::vm_deallocate(&mut e.rpc, t, a, 8 * PAGE);
    ok
}

fn wire(e: &mut Env) -> bool {
    let t = e.task;
    let a = vm::vm_allocate(&mut e.rpc, t, 0, 4 * PAGE, 1).unwrap_or(0);
    let zf = |e: &mut Env| vm::task_fault_counts(&mut e.rpc, e.task).map_or(u64::MAX, |c| c.zero_fill);
    let before = zf(e);
    let mut ok = check_eq!(
        "vm_wire_ok",
        vm::vm_wire(&mut e.rpc, t, a, 4 * PAGE, READ | WRITE),
        Ok(())
    );
    ok &= check_eq!("vm_wire_brings_pages_in", zf(e) - before, 4);
    poke(a + 3 * PAGE, 1);
    ok &= check_eq!("vm_wire_no_fault_on_touch", zf(e) - before, 4);
    ok &= check_eq!("vm_unwire_ok", vm::vm_wire(&mut e.rpc, t, a, 4 * PAGE, 0), Ok(()));
    ok &= check_eq!(
        "vm_unwire_not_wired",
        vm::vm_wire(&mut e.rpc, t, a, PAGE, 0),
        Err(KERN_INVALID_ARGUMENT)
    );
    ok &= check_eq!(
        "vm_wire_bad_access",
        vm::vm_wire(&mut e.rpc, t, a, PAGE, 0x80),
        Err(KERN_INVALID_ARGUMENT)
    );
    ok &= check_eq!(
        "vm_wire_hole",
        vm::vm_wire(&mut e.rpc, t, 0x1000, PAGE, READ),
        Err(KERN_INVALID_ADDRESS)
    );
    // Wiring is limited per task (issue 9: one vm_wire of 64 GiB took the
    // machine down to its last frames): a range larger than the limit is
    // refused before anything is faulted in, and nothing stays wired.
    let huge = 64u64 << 30;
    let big = vm::vm_allocate(&mut e.rpc, t, 0, huge, 1).unwrap_or(0);
    let before = zf(e);
    ok &= check_eq!(
        "vm_wire_over_limit_refused",
        vm::vm_wire(&mut e.rpc, t, big, huge, READ | WRITE),
        Err(KERN_RESOURCE_SHORTAGE)
    );
    ok &= check_eq!("vm_wire_over_limit_faults_nothing", zf(e) - before, 0);
    ok &= check_eq!(
        "vm_wire_over_limit_leaves_nothing_wired",
        vm::vm_wire(&mut e.rpc, t, big, PAGE, 0),
        Err(KERN_INVALID_ARGUMENT)
    );
    let _ = vm::vm_deallocate(&mut e.rpc, t, big, huge);
    let _ = vm::vm_protect(&mut e.rpc, t, a, PAGE, 0, READ);
    ok &= check_eq!(
        "vm_wire_write_on_read_only",
        vm::vm_wire(&mut e.rpc, t, a, PAGE, WRITE),
        Err(KERN_PROTECTION_FAILURE)
    );
    ok &= check_eq!(
        "vm_wire_failure_undone",
        vm::vm_wire(&mut e.rpc, t, a, PAGE, 0),
        Err(KERN_INVALID_ARGUMENT)
    );
    let _ = vm::vm_deallocate(&mut e.rpc, t, a, 4 * PAGE);
    ok
}

/// The same calls on another task's port: a child made by task_create.
fn cross_task(e: &mut Env) -> bool {
    let t = e.task;
    let a = vm::vm_allocate(&mut e.rpc, t, 0, 2 * PAGE, 1).unwrap_or(0);
    fill(a, 2 * PAGE, 20);
    let child = task::task_create(&mut e.rpc, t, 1).unwrap_or(0);
    let mut ok = check_eq!("child_created", child != 0, true);
    poke(a, 99);
    let read =
        |e: &mut Env, at, size| vm::vm_read(&mut e.rpc, child, at, size).map_or(OolRegion::EMPTY, OolRegion::bytes);
    let r = read(e, a, 2 * PAGE);
    ok &= check_eq!("vm_read_child_sees_fork_time_data", r.first().copied(), Some(20));
    ok &= check_eq!("vm_write_child", vm::vm_write(&mut e.rpc, child, a, &PAGES), Ok(()));
    let r2 = read(e, a, PAGE);
    ok &= check_eq!("vm_read_child_after_write", r2[..] == PAGES[..PAGE as usize], true);
    ok &= check_eq!("parent_unaffected_by_child_write", bytes(a, 1)[0], 99);
    ok &= check_eq!(
        "vm_copy_child",
        vm::vm_copy(&mut e.rpc, child, a, PAGE, a + PAGE),
        Ok(())
    );
    let r3 = read(e, a + PAGE, PAGE);
    ok &= check_eq!("vm_copy_child_data", r3.first().copied(), Some(0x5a));
    ok &= check_eq!("task_terminate_child", task::task_terminate(&mut e.rpc, child), Ok(()));
    let dead = vm::vm_read(&mut e.rpc, child, a, PAGE).map(|_| ());
    ok &= check_eq!("vm_read_dead_task", dead.is_err(), true);
    let _ = e.dealloc(child);
    drop((r, r2, r3));
    let _ = vm::vm_deallocate(&mut e.rpc, t, a, 2 * PAGE);
    ok
}

/// vm_msync without a default pager: anonymous memory has nowhere to go.
fn msync(e: &mut Env) -> bool {
    let t = e.task;
    let a = vm::vm_allocate(&mut e.rpc, t, 0, 2 * PAGE, 1).unwrap_or(0);
    poke(a, 1);
    let mut ok = check_eq!(
        "vm_msync_no_default_pager",
        vm::vm_msync(&mut e.rpc, t, a, 2 * PAGE, 2),
        Err(KERN_FAILURE)
    );
    ok &= check_eq!(
        "vm_msync_bad_flags",
        vm::vm_msync(&mut e.rpc, t, a, PAGE, 3),
        Err(KERN_INVALID_ARGUMENT)
    );
    ok &= check_eq!(
        "vm_msync_hole",
        vm::vm_msync(&mut e.rpc, t, 0x1000, PAGE, 2),
        Err(KERN_INVALID_ADDRESS)
    );
    ok &= check_eq!(
        "vm_msync_wraps",
        vm::vm_msync(&mut e.rpc, t, u64::MAX - 5, 100, 2),
        Err(KERN_INVALID_ARGUMENT)
    );
    ok &= check_eq!("vm_msync_data_kept", bytes(a, 1)[0], 1);
    let _ = vm::vm_deallocate(&mut e.rpc, t, a, 2 * PAGE);
    ok
}
