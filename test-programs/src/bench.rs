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
    report(
        "vm.zero_fill_fault",
        (v[BATCHES / 2], v[0], v[BATCHES - 1]),
        PAGES as u32,
    );
    println!(
        "#   vm.zero_fill_fault: the kernel counted {} zero-fill faults for {} pages",
        after - before,
        BATCHES as u64 * PAGES
    );
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
    println!(
        "#   vm.cow_fault: the kernel counted {} copy-on-write faults for {} pages",
        after - before,
        BATCHES as u64 * PAGES
    );
}

/// Guest instructions per external-pager fault: a region mapped from a memory
/// object served by a pager thread of this task (`test_programs::pager`,
/// which supplies each page with data_supply) is touched page by page; the
/// figure covers the fault, data_request, the pager's receive and
/// data_supply, and the retried access. Reports `vm.pager_fault`.
pub fn pager_fault() {
    use mach_user::rpc::{Rpc, mach_port as mp, vm};
    const PAGES: u64 = 20;
    let mut rpc = Rpc::new();
    let me = mach_user::ipc::mach_task_self();
    let object = mach_user::ipc::mach_reply_port();
    let poly = mach_interfaces::PolyPort {
        name: object,
        disposition: mach_user::abi::message::MACH_MSG_TYPE_MAKE_SEND,
    };
    let _ = mp::mach_port_insert_right(&mut rpc, me, object, poly);
    if !crate::pager::start(object) {
        println!("bench: no pager thread");
        return;
    }
    let mut v = [0u64; BATCHES];
    for (b, slot) in v.iter_mut().enumerate() {
        // Pages 0 and 1 of the test pager supply data; use a fresh mapping
        // of offset 0 each batch (the object is terminated in between).
        let at = vm::vm_map(&mut rpc, me, 0, PAGES * 4096, 1, object, 0, 0, 3, 7, 1).unwrap_or(0);
        let _ = b;
        let t0 = tsc();
        // SAFETY: mapped above.
        unsafe { core::ptr::read_volatile(at as *const u8) };
        *slot = tsc() - t0;
        let _ = vm::vm_deallocate(&mut rpc, me, at, PAGES * 4096);
    }
    v.sort_unstable();
    report("vm.pager_fault", (v[BATCHES / 2], v[0], v[BATCHES - 1]), 1);
    pageout_pagein(&mut rpc, me, object);
}

/// Guest instructions for a written page of a pager-backed object to go out
/// and come back: `vm_msync(SYNCHRONOUS | INVALIDATE)` of the page (unmap,
/// `data_return` with the data to the pager thread, frame freed), then a
/// read that faults, asks with `data_request` and gets the returned data
/// supplied. The pager is the test pager in this task. Reports
/// `vm.pageout_pagein_external`.
fn pageout_pagein(rpc: &mut mach_user::rpc::Rpc, me: u32, object: u32) {
    use mach_user::rpc::vm;
    let at = vm::vm_map(rpc, me, 0, 4096, 1, object, 0, 0, 3, 7, 1).unwrap_or(0);
    let mut v = [0u64; BATCHES];
    let mut intact = true;
    for (i, slot) in v.iter_mut().enumerate() {
        // SAFETY: mapped above; the write makes the page dirty.
        unsafe { core::ptr::write_volatile(at as *mut u8, i as u8) };
        let t0 = tsc();
        let r = vm::vm_msync(rpc, me, at, 4096, 2 | 4);
        // SAFETY: as above.
        intact &= r.is_ok() && unsafe { core::ptr::read_volatile(at as *const u8) } == i as u8;
        *slot = tsc() - t0;
    }
    v.sort_unstable();
    if !intact {
        println!("bench: vm.pageout_pagein_external lost data");
    }
    report("vm.pageout_pagein_external", (v[BATCHES / 2], v[0], v[BATCHES - 1]), 1);
    let _ = vm::vm_deallocate(rpc, me, at, 4096);
}

/// Out-of-line transfers of 4 KiB, 64 KiB and 1 MiB, each as a physical copy
/// (`MACH_MSG_PHYSICAL_COPY`: the bytes are copied into the kernel at send and
/// out into fresh memory at receive) and as a copy-on-write virtual copy
/// (`MACH_MSG_VIRTUAL_COPY`). Reports `vm.ool_{4k,64k,1m}_{copy,cow}`.
pub fn ool_transfers() {
    use mach_user::abi::message::{MACH_MSG_PHYSICAL_COPY, MACH_MSG_VIRTUAL_COPY};
    for (size, physical, virtual_) in [
        (4u64 << 10, "vm.ool_4k_copy", "vm.ool_4k_cow"),
        (64 << 10, "vm.ool_64k_copy", "vm.ool_64k_cow"),
        (1 << 20, "vm.ool_1m_copy", "vm.ool_1m_cow"),
    ] {
        ool_transfer(size, MACH_MSG_PHYSICAL_COPY, physical);
        ool_transfer(size, MACH_MSG_VIRTUAL_COPY, virtual_);
    }
}

/// Guest instructions to send `size` bytes out of line to a port of our own
/// and receive them (one `mach_msg` with send and receive), plus the
/// `vm_deallocate` of the received region.
fn ool_transfer(size: u64, copy: u8, name: &str) {
    use mach_user::abi::message::*;
    use mach_user::ipc::{MsgBuf, mach_msg, mach_reply_port};
    use mach_user::rpc::{Rpc, vm};
    let mut rpc = Rpc::new();
    let me = mach_user::ipc::mach_task_self();
    let src = vm::vm_allocate(&mut rpc, me, 0, size, 1).unwrap_or(0);
    for i in 0..size / 4096 {
        // SAFETY: the region just allocated.
        unsafe { core::ptr::write_volatile((src + i * 4096) as *mut u8, i as u8) };
    }
    let port = mach_reply_port();
    let mut buf: MsgBuf<256> = MsgBuf::new();
    let mut one = || {
        buf.set_header(&MachMsgHeader {
            bits: mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, 0) | MACH_MSGH_BITS_COMPLEX,
            size: 44,
            remote_port: port,
            local_port: 0,
            voucher_port: 0,
            id: 1,
        });
        buf.put32(24, 1);
        buf.put64(28, src);
        buf.0[36..40].copy_from_slice(&[0, copy, 0, MACH_MSG_OOL_DESCRIPTOR]);
        buf.put32(40, size as u32);
        mach_msg(&mut buf, MACH_SEND_MSG | MACH_RCV_MSG, 44, port, 0);
        let got = buf.get64(28);
        let _ = vm::vm_deallocate(&mut rpc, me, got, size);
    };
    one();
    let mut v = [0u64; BATCHES];
    for slot in v.iter_mut() {
        let t0 = tsc();
        one();
        *slot = tsc() - t0;
    }
    v.sort_unstable();
    report(name, (v[BATCHES / 2], v[0], v[BATCHES - 1]), 1);
}

/// Guest instructions for a written page of anonymous memory to go to the
/// default pager's disk and come back: `vm_msync(SYNCHRONOUS | INVALIDATE)`
/// of the page (unmap, `data_return` to the default pager, which writes 8
/// records to the IDE disk with `device_write`; frame freed), then a read
/// that faults, sends `data_request`, and gets the page the default pager
/// read back with `device_read`. Needs the default pager registered.
/// Reports `vm.pageout_pagein`.
pub fn default_pageout_pagein() {
    use mach_user::rpc::{Rpc, vm};
    let mut rpc = Rpc::new();
    let me = mach_user::ipc::mach_task_self();
    let at = vm::vm_allocate(&mut rpc, me, 0, 4096, 1).unwrap_or(0);
    let mut v = [0u64; BATCHES];
    let mut intact = true;
    for (i, slot) in v.iter_mut().enumerate() {
        // SAFETY: the page just allocated; the write makes it dirty.
        unsafe { core::ptr::write_volatile(at as *mut u64, i as u64) };
        let t0 = tsc();
        let r = vm::vm_msync(&mut rpc, me, at, 4096, 2 | 4);
        // SAFETY: as above.
        intact &= r.is_ok() && unsafe { core::ptr::read_volatile(at as *const u64) } == i as u64;
        *slot = tsc() - t0;
    }
    v.sort_unstable();
    if !intact {
        println!("bench: vm.pageout_pagein failed or lost data (is the default pager registered?)");
        return;
    }
    report("vm.pageout_pagein", (v[BATCHES / 2], v[0], v[BATCHES - 1]), 1);
    let _ = vm::vm_deallocate(&mut rpc, me, at, 4096);
}
