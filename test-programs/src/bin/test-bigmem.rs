//! A workload larger than memory (its own boot, with little memory and the
//! default pager registered): writes a pattern into more anonymous memory
//! than the machine has, reads it all back, and reports the page-outs and
//! page-ins that made it fit. (The kernel lets the default pager go once
//! it is the last task, so the run ends.)
#![no_std]
#![no_main]

use mach_user::println;
use mach_user::rpc::{host, host_priv, vm};
use test_programs::check_eq;
use test_programs::ipc_env::Env;

mach_user::entry!(main);

const PAGE: u64 = 4096;

fn main(_args: mach_user::start::Args) -> i32 {
    let mut e = Env::new();
    let frames = host::host_info_basic(&mut e.rpc, e.host).map_or(0, |i| i.memory_frames);
    // Everything the machine has, and 8 MiB more.
    let pages = frames + 2048;
    let size = pages * PAGE;
    let a = vm::vm_allocate(&mut e.rpc, e.task, 0, size, 1).unwrap_or(0);
    let mut ok = check_eq!("bigmem_allocate", a != 0, true);
    let s0 = host::host_vm_statistics(&mut e.rpc, e.host).ok();
    for i in 0..pages {
        // SAFETY: inside the region just allocated.
        unsafe { core::ptr::write_volatile((a + i * PAGE + (i % 500) * 8) as *mut u64, i ^ 0x5a5a_0000) };
    }
    let mut bad = 0u64;
    for i in 0..pages {
        // SAFETY: as above.
        let v = unsafe { core::ptr::read_volatile((a + i * PAGE + (i % 500) * 8) as *const u64) };
        bad += u64::from(v != i ^ 0x5a5a_0000);
    }
    ok &= check_eq!("bigmem_data_intact", bad, 0);
    let s1 = host::host_vm_statistics(&mut e.rpc, e.host).ok();
    let t = vm::task_fault_counts(&mut e.rpc, e.task).ok();
    if let (Some(s0), Some(s1), Some(t)) = (s0, s1, t) {
        let out = s1.pageouts - s0.pageouts;
        ok &= check_eq!("bigmem_paged_out", out > 0, true);
        ok &= check_eq!(
            "bigmem_task_counts",
            (t.pageout > 0, t.default_pagein > 0),
            (true, true)
        );
        println!(
            "bigmem: {} pages ({} MiB) on {} frames; this task: {} zero-fill, {} copy-on-write, {} pager requests ({} from the default pager), {} soft, {} paged out, {} reactivations; all tasks: {} paged out, {} paged in from the default pager, {} reactivations",
            pages,
            size >> 20,
            frames,
            t.zero_fill,
            t.cow_copy,
            t.pager_request,
            t.default_pagein,
            t.soft,
            t.pageout,
            t.reactivation,
            out,
            s1.default_pageins - s0.default_pageins,
            s1.reactivations - s0.reactivations
        );
    } else {
        ok &= check_eq!("bigmem_statistics", false, true);
    }
    ok &= check_eq!(
        "bigmem_deallocate",
        vm::vm_deallocate(&mut e.rpc, e.task, a, size),
        Ok(())
    );
    ok &= msync(&mut e);
    // Only the default pager's own task may change the registration, even
    // through host_priv.
    let r = host_priv::vm_set_default_memory_manager(&mut e.rpc, e.host_priv, 0);
    ok &= check_eq!(
        "default_pager_registration_protected",
        r,
        Err(mach_user::abi::kern_return::KERN_NO_ACCESS)
    );
    ok &= check_eq!("bigmem_audit", e.violations(), Ok(0));
    if ok { 0 } else { 1 }
}

/// vm_msync with VM_SYNC_INVALIDATE sends a region of anonymous memory to
/// the default pager and drops it; reading it back pages it in from disk.
fn msync(e: &mut Env) -> bool {
    let a = vm::vm_allocate(&mut e.rpc, e.task, 0, 4 * PAGE, 1).unwrap_or(0);
    for i in 0..4 {
        // SAFETY: the region just allocated.
        unsafe { core::ptr::write_volatile((a + i * PAGE) as *mut u64, 0xabc0 + i) };
    }
    let before = host::host_vm_statistics(&mut e.rpc, e.host).map_or(0, |s| s.default_pageins);
    let r = vm::vm_msync(&mut e.rpc, e.task, a, 4 * PAGE, 2 | 4);
    let mut ok = check_eq!("vm_msync_invalidate_anonymous", r, Ok(()));
    // SAFETY: as above.
    let back = (0..4).all(|i| unsafe { core::ptr::read_volatile((a + i * PAGE) as *const u64) } == 0xabc0 + i);
    let pageins = host::host_vm_statistics(&mut e.rpc, e.host).map_or(0, |s| s.default_pageins) - before;
    ok &= check_eq!("vm_msync_pages_back_from_disk", (back, pageins), (true, 4));
    let _ = vm::vm_deallocate(&mut e.rpc, e.task, a, 4 * PAGE);
    ok
}
