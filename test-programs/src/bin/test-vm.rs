//! Virtual memory calls on the task port and demand-zero faults: allocation
//! anywhere and fixed, regions, protection and maximum protection, partial
//! deallocation, inheritance values, checked range arithmetic, and fault
//! counts that match the pages touched.
#![no_std]
#![no_main]

use mach_user::abi::kern_return::*;
use mach_user::rpc::vm;
use test_programs::check_eq;
use test_programs::ipc_env::Env;

mach_user::entry!(main);

const PAGE: u64 = 4096;
const READ: u32 = 1;
const WRITE: u32 = 2;
const EXECUTE: u32 = 4;

fn zero_fills(e: &mut Env) -> u64 {
    vm::task_fault_counts(&mut e.rpc, e.task).map_or(u64::MAX, |c| c.zero_fill)
}

fn main(_args: mach_user::start::Args) -> i32 {
    let mut e = Env::new();
    let mut ok = true;
    let a = vm::vm_allocate(&mut e.rpc, e.task, 0, 3 * PAGE, 1);
    ok &= check_eq!("vm_allocate_anywhere", a.map(|x| x % PAGE == 0 && x != 0), Ok(true));
    let a = a.unwrap_or(0);
    let r = vm::vm_region(&mut e.rpc, e.task, a).map(|r| (r.start, r.size, r.protection, r.inheritance));
    ok &= check_eq!("vm_region_reports_allocation", r, Ok((a, 3 * PAGE, READ | WRITE, 1)));
    let before = zero_fills(&mut e);
    let p = a as *mut u64;
    // SAFETY: three pages were just allocated at `a`.
    let zeros = unsafe { (0..3).all(|i| core::ptr::read_volatile(p.add(i * 512)) == 0) };
    ok &= check_eq!("fresh_memory_reads_zero", zeros, true);
    ok &= check_eq!("one_zero_fill_fault_per_page", zero_fills(&mut e) - before, 3);
    // SAFETY: as above.
    let back = unsafe {
        for i in 0..3 {
            core::ptr::write_volatile(p.add(i * 512 + 7), 0x1234_0000 + i as u64);
        }
        (0..3).all(|i| core::ptr::read_volatile(p.add(i * 512 + 7)) == 0x1234_0000 + i as u64)
    };
    ok &= check_eq!("written_memory_reads_back", back, true);
    ok &= check_eq!("no_more_faults_once_mapped", zero_fills(&mut e) - before, 3);

    // Protection.
    ok &= check_eq!(
        "vm_protect_read_only",
        vm::vm_protect(&mut e.rpc, e.task, a, PAGE, 0, READ),
        Ok(())
    );
    let r = vm::vm_region(&mut e.rpc, e.task, a).map(|r| (r.size, r.protection));
    ok &= check_eq!("protect_splits_region", r, Ok((PAGE, READ)));
    // SAFETY: the page is still mapped readable.
    ok &= check_eq!(
        "read_only_page_still_readable",
        unsafe { core::ptr::read_volatile(p.add(7)) },
        0x1234_0000
    );
    ok &= check_eq!(
        "vm_protect_lower_maximum",
        vm::vm_protect(&mut e.rpc, e.task, a, PAGE, 1, READ),
        Ok(())
    );
    ok &= check_eq!(
        "vm_protect_above_maximum",
        vm::vm_protect(&mut e.rpc, e.task, a, PAGE, 0, READ | WRITE),
        Err(KERN_PROTECTION_FAILURE)
    );
    ok &= check_eq!(
        "vm_protect_bad_bits",
        vm::vm_protect(&mut e.rpc, e.task, a, PAGE, 0, 0x80),
        Err(KERN_INVALID_ARGUMENT)
    );
    ok &= check_eq!(
        "vm_protect_execute",
        vm::vm_protect(&mut e.rpc, e.task, a + 2 * PAGE, PAGE, 0, READ | EXECUTE),
        Ok(())
    );

    // Partial deallocation leaves a hole; deallocating a hole is fine.
    ok &= check_eq!(
        "vm_deallocate_middle_page",
        vm::vm_deallocate(&mut e.rpc, e.task, a + PAGE, PAGE),
        Ok(())
    );
    let next = vm::vm_region(&mut e.rpc, e.task, a + PAGE).map(|r| r.start);
    ok &= check_eq!("hole_after_deallocate", next, Ok(a + 2 * PAGE));
    ok &= check_eq!(
        "vm_deallocate_hole",
        vm::vm_deallocate(&mut e.rpc, e.task, a + PAGE, PAGE),
        Ok(())
    );
    ok &= check_eq!(
        "vm_allocate_fixed_in_hole",
        vm::vm_allocate(&mut e.rpc, e.task, a + PAGE, PAGE, 0),
        Ok(a + PAGE)
    );
    ok &= check_eq!(
        "vm_allocate_fixed_taken",
        vm::vm_allocate(&mut e.rpc, e.task, a, PAGE, 0),
        Err(KERN_NO_SPACE)
    );

    // Range arithmetic.
    ok &= check_eq!(
        "vm_allocate_size_zero",
        vm::vm_allocate(&mut e.rpc, e.task, 0, 0, 1),
        Err(KERN_INVALID_ARGUMENT)
    );
    ok &= check_eq!(
        "vm_deallocate_wraps",
        vm::vm_deallocate(&mut e.rpc, e.task, u64::MAX - PAGE + 1, 2 * PAGE),
        Err(KERN_INVALID_ARGUMENT)
    );
    ok &= check_eq!(
        "vm_protect_wraps",
        vm::vm_protect(&mut e.rpc, e.task, u64::MAX - 10, 100, 0, READ),
        Err(KERN_INVALID_ARGUMENT)
    );
    ok &= check_eq!(
        "vm_allocate_huge",
        vm::vm_allocate(&mut e.rpc, e.task, 0, 1 << 60, 1),
        Err(KERN_NO_SPACE)
    );
    ok &= check_eq!(
        "vm_allocate_fixed_over_program",
        vm::vm_allocate(&mut e.rpc, e.task, 0x40_0000, PAGE, 0),
        Err(KERN_NO_SPACE)
    );
    ok &= check_eq!(
        "vm_allocate_fixed_kernel_half",
        vm::vm_allocate(&mut e.rpc, e.task, 0xffff_8000_0000_0000, PAGE, 0),
        Err(KERN_INVALID_ADDRESS)
    );
    ok &= check_eq!(
        "vm_inherit_bad_value",
        vm::vm_inherit(&mut e.rpc, e.task, a, PAGE, 9),
        Err(KERN_INVALID_ARGUMENT)
    );
    ok &= check_eq!(
        "vm_inherit_share",
        vm::vm_inherit(&mut e.rpc, e.task, a, PAGE, 0),
        Ok(())
    );

    // Memory is allocated lazily: a gigabyte costs only the pages touched.
    let big = vm::vm_allocate(&mut e.rpc, e.task, 0, 1 << 30, 1).unwrap_or(0);
    let before = zero_fills(&mut e);
    for i in 0..10u64 {
        // SAFETY: inside the gigabyte just allocated.
        unsafe { core::ptr::write_volatile((big + i * (100 << 20)) as *mut u8, 1) };
    }
    ok &= check_eq!(
        "gigabyte_allocation_is_lazy",
        (big != 0, zero_fills(&mut e) - before),
        (true, 10)
    );
    ok &= check_eq!(
        "vm_deallocate_gigabyte",
        vm::vm_deallocate(&mut e.rpc, e.task, big, 1 << 30),
        Ok(())
    );
    // Statistics: the host's view and the shadow chain behind a page.
    let s = mach_user::rpc::host::host_vm_statistics(&mut e.rpc, e.host);
    let sane =
        s.map(|s| s.free_frames > 0 && s.objects > 0 && s.resident_pages > 0 && s.faults >= s.zero_fill + s.soft);
    ok &= check_eq!("host_vm_statistics", sane, Ok(true));
    let c = vm::vm_object_chain(&mut e.rpc, e.task, a).map(|c| (c.depth, c.resident_pages > 0));
    ok &= check_eq!("vm_object_chain_touched", c, Ok((1, true)));
    let fresh = vm::vm_allocate(&mut e.rpc, e.task, 0, PAGE, 1).unwrap_or(0);
    let c = vm::vm_object_chain(&mut e.rpc, e.task, fresh).map(|c| (c.depth, c.resident_pages));
    ok &= check_eq!("vm_object_chain_untouched", c, Ok((0, 0)));
    let c = vm::vm_object_chain(&mut e.rpc, e.task, 0x1000).map(|c| c.depth);
    ok &= check_eq!("vm_object_chain_unmapped", c, Err(KERN_INVALID_ADDRESS));
    let _ = vm::vm_deallocate(&mut e.rpc, e.task, fresh, PAGE);
    ok &= huge_region_costs_what_is_mapped(&mut e);
    ok &= check_eq!("vm_audit", e.violations(), Ok(0));
    if ok { 0 } else { 1 }
}

/// A 32 TiB region with two pages mapped: vm_protect, vm_deallocate and the
/// teardown of a dying task that holds one walk the page tables that exist,
/// not 2^33 pages (test-fuzz hung the kernel in task teardown this way, a
/// page-by-page loop over a region's length with the kernel lock held).
fn huge_region_costs_what_is_mapped(e: &mut Env) -> bool {
    const HUGE: u64 = 1 << 45;
    let Ok(a) = vm::vm_allocate(&mut e.rpc, e.task, 0, HUGE, 1) else {
        return check_eq!("vm_allocate_huge_region", false, true);
    };
    let last = (a + HUGE - PAGE) as *mut u64;
    // SAFETY: both pages are in the region just allocated read-write.
    unsafe {
        core::ptr::write_volatile(a as *mut u64, 1);
        core::ptr::write_volatile(last, 2);
    }
    let mut ok = check_eq!(
        "vm_protect_huge_region",
        vm::vm_protect(&mut e.rpc, e.task, a, HUGE, 0, READ),
        Ok(())
    );
    // SAFETY: as above (still readable).
    ok &= check_eq!(
        "huge_region_keeps_its_pages",
        unsafe { core::ptr::read_volatile(last) },
        2
    );
    ok &= check_eq!(
        "vm_deallocate_huge_region",
        vm::vm_deallocate(&mut e.rpc, e.task, a, HUGE),
        Ok(())
    );
    let child = mach_user::rpc::task::task_create(&mut e.rpc, e.task, 0).unwrap_or(0);
    let b = vm::vm_allocate(&mut e.rpc, child, 0, HUGE, 1).unwrap_or(0);
    let page = [7u8; PAGE as usize];
    let _ = vm::vm_write(&mut e.rpc, child, b, &page);
    let _ = vm::vm_write(&mut e.rpc, child, b + HUGE - PAGE, &page);
    ok &= check_eq!(
        "task_terminate_with_huge_region",
        mach_user::rpc::task::task_terminate(&mut e.rpc, child),
        Ok(())
    );
    let _ = e.dealloc(child);
    ok
}
