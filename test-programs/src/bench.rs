//! Measuring in the guest: guest instructions per operation, read from the
//! time-stamp counter, which counts guest instructions when QEMU runs with
//! `-icount shift=0` (see ../shared/notes/measuring.md). Results are printed as
//! `bench NAME VALUE UNIT` lines with the median of batches, plus min, max and n.

use mach_user::println;

/// `lfence; rdtsc`.
pub fn tsc() -> u64 {
    // SAFETY: reads the time-stamp counter; user mode may (CR4.TSD is clear).
    unsafe {
        core::arch::x86_64::_mm_lfence();
        core::arch::x86_64::_rdtsc()
    }
}

pub const BATCHES: usize = 15;

/// Runs `op` in `BATCHES` batches of `per_batch` after one warm-up batch and
/// returns per-operation (median, min, max), with the empty-loop cost removed.
pub fn measure(per_batch: u32, mut op: impl FnMut()) -> (u64, u64, u64) {
    let overhead = batch_cost(per_batch, || {});
    for _ in 0..per_batch {
        op();
    }
    let mut v = [0u64; BATCHES];
    for slot in v.iter_mut() {
        *slot = batch_cost(per_batch, &mut op).saturating_sub(overhead) / per_batch as u64;
    }
    v.sort_unstable();
    (v[BATCHES / 2], v[0], v[BATCHES - 1])
}

fn batch_cost(per_batch: u32, mut op: impl FnMut()) -> u64 {
    let t0 = tsc();
    for _ in 0..per_batch {
        op();
        core::hint::black_box(());
    }
    tsc() - t0
}

/// Prints one result line.
pub fn report(name: &str, (median, min, max): (u64, u64, u64), per_batch: u32) {
    println!("bench {name} {median} instructions");
    println!("#   {name}: median of {BATCHES} batches of {per_batch}; min {min}, max {max}");
}

/// Guest instructions per zero-fill page fault: fresh pages of a lazily
/// allocated region are touched one by one (the cost of touching mapped
/// pages is subtracted). Reports `vm.zero_fill_fault`.
pub fn zero_fill_fault() {
    use mach_user::rpc::{Rpc, vm};
    const PAGES: u64 = 200;
    let mut rpc = Rpc::new();
    let task = mach_user::ipc::mach_task_self();
    let touch = |start: u64| {
        let t0 = tsc();
        for i in 0..PAGES {
            // SAFETY: inside a region allocated below.
            unsafe { core::ptr::write_volatile((start + i * 4096) as *mut u8, 1) };
        }
        tsc() - t0
    };
    // Each batch touches a fresh region; the cost of touching mapped pages is subtracted.
    let region = || vm::vm_allocate(&mut Rpc::new(), task, 0, PAGES * 4096, 1).unwrap_or(0);
    let warm = region();
    touch(warm);
    let mapped = touch(warm);
    let before = vm::task_fault_counts(&mut rpc, task).map(|c| c.zero_fill).unwrap_or(0);
    let mut v = [0u64; BATCHES];
    for slot in v.iter_mut() {
        let r = region();
        *slot = touch(r).saturating_sub(mapped) / PAGES;
        let _ = vm::vm_deallocate(&mut rpc, task, r, PAGES * 4096);
    }
    let after = vm::task_fault_counts(&mut rpc, task).map(|c| c.zero_fill).unwrap_or(0);
    v.sort_unstable();
    report("vm.zero_fill_fault", (v[BATCHES / 2], v[0], v[BATCHES - 1]), PAGES as u32);
    println!("#   vm.zero_fill_fault: the kernel counted {} zero-fill faults for {} pages", after - before, BATCHES as u64 * PAGES);
    let _ = vm::vm_deallocate(&mut rpc, task, warm, PAGES * 4096);
}

/// Guest instructions per copy-on-write fault: a touched 200-page region is
/// inherited by a child task (task_create with inherit_memory), then the
/// parent writes every page again. Reports `vm.cow_fault`.
pub fn cow_fault() {
    use mach_user::rpc::{Rpc, task, vm};
    const PAGES: u64 = 200;
    let mut rpc = Rpc::new();
    let me = mach_user::ipc::mach_task_self();
    let touch = |start: u64| {
        let t0 = tsc();
        for i in 0..PAGES {
            // SAFETY: inside a region allocated below.
            unsafe { core::ptr::write_volatile((start + i * 4096) as *mut u8, 2) };
        }
        tsc() - t0
    };
    let mut v = [0u64; BATCHES];
    let mut mapped = 0;
    let before = vm::task_fault_counts(&mut rpc, me).map(|c| c.cow_copy).unwrap_or(0);
    for (b, slot) in v.iter_mut().enumerate() {
        let r = vm::vm_allocate(&mut rpc, me, 0, PAGES * 4096, 1).unwrap_or(0);
        touch(r);
        if b == 0 {
            mapped = touch(r);
        }
        let child = task::task_create(&mut rpc, me, 1).unwrap_or(0);
        *slot = touch(r).saturating_sub(mapped) / PAGES;
        let _ = task::task_terminate(&mut rpc, child);
        let _ = mach_user::rpc::mach_port::mach_port_deallocate(&mut rpc, me, child);
        let _ = vm::vm_deallocate(&mut rpc, me, r, PAGES * 4096);
    }
    let after = vm::task_fault_counts(&mut rpc, me).map(|c| c.cow_copy).unwrap_or(0);
    v.sort_unstable();
    report("vm.cow_fault", (v[BATCHES / 2], v[0], v[BATCHES - 1]), PAGES as u32);
    println!("#   vm.cow_fault: the kernel counted {} copy-on-write faults for {} pages", after - before, BATCHES as u64 * PAGES);
}
