//! An external pager (a thread of this task serving `memory_object`) backs a
//! vm_map'ed region: the kernel sends memory_object_init, then one
//! data_request per page on first touch, makes supplied data resident,
//! zero-fills "unavailable" pages, never asks twice for a resident page, and
//! sends memory_object_terminate when the last mapping goes.
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
    // The last mapping goes: the pager hears memory_object_terminate.
    ok &= check_eq!("vm_deallocate_pager_region", vm::vm_deallocate(&mut e.rpc, e.task, at, 3 * 4096), Ok(()));
    let mut terminated = false;
    for _ in 0..1000 {
        if log_entry(4) == Some((mo::MEMORY_OBJECT_TERMINATE_ID, 0)) {
            terminated = true;
            break;
        }
        mach_user::trap::swtch();
    }
    ok &= check_eq!("pager_hears_terminate", terminated, true);
    let bad = vm::vm_map(&mut e.rpc, e.task, 0, 4096, 1, 0, 0, 0, 3, 7, 1);
    ok &= check_eq!("vm_map_null_object", bad, Err(KERN_INVALID_CAPABILITY));
    let bad = vm::vm_map(&mut e.rpc, e.task, 0, 4096, 1, object, 0, 0, 7, 3, 1);
    ok &= check_eq!("vm_map_prot_above_max", bad, Err(KERN_INVALID_ARGUMENT));
    ok &= check_eq!("pager_audit", e.violations(), Ok(0));
    if ok { 0 } else { 1 }
}
