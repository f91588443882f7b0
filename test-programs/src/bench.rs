//! Measuring in the guest: guest instructions per operation, read from the
//! time-stamp counter, which counts guest instructions when QEMU runs with
//! `-icount shift=0` (see ../shared/notes/measuring.md). Results are printed as
//! `bench NAME VALUE UNIT` lines with the median of batches, plus min, max and n.
//!
//! Every benchmark runs a warm-up batch and then [`BATCHES`] batches of
//! several operations each, and reports the median, min and max of the
//! per-operation cost of a batch. Only the operation its name says is inside
//! a timed window: set-up (mapping, dirtying a page, creating a child task)
//! and tear-down stay outside, and the cost of the window itself (or of the
//! empty loop) is subtracted.

use mach_user::println;
use mach_user::rpc::{Rpc, vm};

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
    settle();
    let overhead = batch_cost(per_batch, || {});
    for _ in 0..per_batch {
        op();
    }
    let mut v = [0u64; BATCHES];
    for slot in v.iter_mut() {
        *slot = batch_cost(per_batch, &mut op).saturating_sub(overhead) / per_batch as u64;
    }
    sorted(v)
}

fn batch_cost(per_batch: u32, mut op: impl FnMut()) -> u64 {
    let t0 = tsc();
    for _ in 0..per_batch {
        op();
        core::hint::black_box(());
    }
    tsc() - t0
}

/// Runs `batch` once to warm up and then `BATCHES` times. Each call performs
/// `per_batch` operations (with whatever set-up and tear-down they need)
/// and returns the instructions spent inside its timed windows only.
/// Returns the per-operation (median, min, max) over the batches.
pub fn measure_batches(per_batch: u32, mut batch: impl FnMut() -> u64) -> (u64, u64, u64) {
    settle();
    batch();
    let mut v = [0u64; BATCHES];
    for slot in v.iter_mut() {
        *slot = batch() / u64::from(per_batch.max(1));
    }
    sorted(v)
}

fn sorted(mut v: [u64; BATCHES]) -> (u64, u64, u64) {
    v.sort_unstable();
    (v[BATCHES / 2], v[0], v[BATCHES - 1])
}

/// Times single operations: [`Window::time`] returns the instructions of
/// `f` without those of the two `tsc` reads around it.
#[derive(Clone, Copy)]
pub struct Window {
    empty: u64,
}

impl Window {
    /// Measures the cost of an empty window (the least of a few tries).
    pub fn calibrate() -> Self {
        let mut empty = u64::MAX;
        for _ in 0..8 {
            let t0 = tsc();
            core::hint::black_box(());
            empty = empty.min(tsc() - t0);
        }
        Window { empty }
    }

    /// Instructions executed by `f`.
    pub fn time(self, f: impl FnOnce()) -> u64 {
        let t0 = tsc();
        f();
        (tsc() - t0).saturating_sub(self.empty)
    }
}

/// Yields until no other thread is runnable, so that work another thread
/// still has to do (a pager's handling of `memory_object_terminate` or
/// `init`, a server task's exit and teardown after QUIT) is done before a
/// timed window opens rather than inside it.
pub fn settle() {
    for _ in 0..64 {
        if !mach_user::trap::swtch() {
            return;
        }
    }
}

/// Prints one result line.
pub fn report(name: &str, (median, min, max): (u64, u64, u64), per_batch: u32) {
    println!("bench {name} {median} instructions");
    println!("#   {name}: median of {BATCHES} batches of {per_batch}; min {min}, max {max}");
}

/// The calling task's fault counters (zeros if the call fails).
fn faults(rpc: &mut Rpc, task: u32) -> vm::TaskFaultCountsReply {
    vm::task_fault_counts(rpc, task).unwrap_or_default()
}

/// Writes one byte to each of `pages` pages from `start`.
fn write_pages(start: u64, pages: u64, value: u8) {
    for i in 0..pages {
        // SAFETY: the callers pass a region they allocated or mapped.
        unsafe { core::ptr::write_volatile((start + i * 4096) as *mut u8, value) };
    }
}

/// Reads the first byte of each of `pages` pages from `start`; true if page
/// `i` held `first + i`.
fn read_pages(start: u64, pages: u64, first: u8) -> bool {
    let mut ok = true;
    for i in 0..pages {
        // SAFETY: the callers pass a region they mapped.
        let b = unsafe { core::ptr::read_volatile((start + i * 4096) as *const u8) };
        ok &= u64::from(b) == u64::from(first) + i;
    }
    ok
}

/// Guest instructions per zero-fill page fault. Each batch allocates a fresh
/// 200-page region (outside the window) and writes one byte to every page;
/// the same loop over the now-resident pages is timed again and subtracted,
/// so the figure is the fault alone: trap, map lookup, object page cache,
/// frame allocation and zeroing, page-table entry, return. Reports
/// `vm.zero_fill_fault`.
pub fn zero_fill_fault() {
    const PAGES: u64 = 200;
    let mut rpc = Rpc::new();
    let task = mach_user::ipc::mach_task_self();
    let w = Window::calibrate();
    let (mut counted, mut touched) = (0, 0);
    let r = measure_batches(PAGES as u32, || {
        let at = vm::vm_allocate(&mut rpc, task, 0, PAGES * 4096, 1).unwrap_or(0);
        let c0 = faults(&mut rpc, task).zero_fill;
        let t = w.time(|| write_pages(at, PAGES, 1));
        let mapped = w.time(|| write_pages(at, PAGES, 1));
        counted += faults(&mut rpc, task).zero_fill - c0;
        touched += PAGES;
        let _ = vm::vm_deallocate(&mut rpc, task, at, PAGES * 4096);
        t.saturating_sub(mapped)
    });
    report("vm.zero_fill_fault", r, PAGES as u32);
    println!(
        "#   vm.zero_fill_fault: the kernel counted {counted} zero-fill faults in the timed windows for {touched} pages"
    );
}

/// Guest instructions per copy-on-write fault. Each batch writes a fresh
/// 200-page region, makes a child with `task_create(inherit_memory)` (the
/// region becomes copy-on-write in both), and times the parent's writing of
/// one byte to every page (the fault, the 4 KiB copy, the new page-table
/// entry); the loop over the now-private pages is subtracted. The child is
/// terminated and the region freed outside the window. Reports `vm.cow_fault`.
pub fn cow_fault() {
    use mach_user::rpc::task;
    const PAGES: u64 = 200;
    let mut rpc = Rpc::new();
    let me = mach_user::ipc::mach_task_self();
    let w = Window::calibrate();
    let (mut counted, mut touched) = (0, 0);
    let r = measure_batches(PAGES as u32, || {
        let at = vm::vm_allocate(&mut rpc, me, 0, PAGES * 4096, 1).unwrap_or(0);
        write_pages(at, PAGES, 1);
        let child = task::task_create(&mut rpc, me, 1).unwrap_or(0);
        let c0 = faults(&mut rpc, me).cow_copy;
        let t = w.time(|| write_pages(at, PAGES, 2));
        let private = w.time(|| write_pages(at, PAGES, 2));
        counted += faults(&mut rpc, me).cow_copy - c0;
        touched += PAGES;
        let _ = task::task_terminate(&mut rpc, child);
        let _ = mach_user::rpc::mach_port::mach_port_deallocate(&mut rpc, me, child);
        let _ = vm::vm_deallocate(&mut rpc, me, at, PAGES * 4096);
        t.saturating_sub(private)
    });
    report("vm.cow_fault", r, PAGES as u32);
    println!(
        "#   vm.cow_fault: the kernel counted {counted} copy-on-write faults in the timed windows for {touched} pages"
    );
}

/// Guest instructions per external-pager fault. The pager is a thread of
/// this task (`test_programs::pager`, serving the generated `memory_object`
/// interface); it answers each `data_request` with `data_supply` of 4 KiB.
/// Each batch maps a fresh object (`vm_map`: the kernel sends
/// `memory_object_init`), reads its first page outside the window (so the
/// pager has handled the previous object's `terminate`, this one's `init`
/// and that request before timing starts), lets the pager go idle, and then
/// times a read of each of the next 32 pages: fault, `data_request` message,
/// pager receive and dispatch, `data_supply` (4 KiB out of line), the
/// pager's release of the control right and its next receive, page made
/// resident, retried read. The same loop over the resident pages is
/// subtracted; the unmapping (and so the next `terminate`) is after the
/// window. Reports `vm.pager_fault`, then `vm.pageout_pagein_external`.
pub fn pager_fault() {
    use mach_user::rpc::mach_port as mp;
    const PAGES: u64 = 32;
    // The test pager supplies page N filled with 0x40 + N; pages below 8
    // may hold data returned by page-out, 2 and 3 are special. Use 8 up.
    const FIRST: u64 = 8;
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
    let w = Window::calibrate();
    let (mut counted, mut touched, mut intact) = (0, 0, true);
    let size = (PAGES + 1) * 4096;
    let r = measure_batches(PAGES as u32, || {
        let at = vm::vm_map(&mut rpc, me, 0, size, 1, object, FIRST * 4096, 0, 3, 7, 1).unwrap_or(0);
        intact &= read_pages(at, 1, 0x40 + FIRST as u8);
        settle();
        let timed = at + 4096;
        let c0 = faults(&mut rpc, me).pager_request;
        let mut ok = true;
        let t = w.time(|| ok = read_pages(timed, PAGES, 0x41 + FIRST as u8));
        let resident = w.time(|| ok &= read_pages(timed, PAGES, 0x41 + FIRST as u8));
        counted += faults(&mut rpc, me).pager_request - c0;
        touched += PAGES;
        intact &= ok;
        let _ = vm::vm_deallocate(&mut rpc, me, at, size);
        t.saturating_sub(resident)
    });
    if !intact {
        println!("bench: vm.pager_fault read wrong data");
    }
    report("vm.pager_fault", r, PAGES as u32);
    println!(
        "#   vm.pager_fault: the kernel counted {counted} pager requests in the timed windows for {touched} pages"
    );
    settle();
    pageout_pagein(&mut rpc, me, object);
}

/// Round trips per batch of the page-out benchmarks.
const PAGEOUTS: u32 = 8;

/// Guest instructions for a written page of a pager-backed object to go out
/// and come back. Outside the window the page is written (made dirty);
/// inside it, `vm_msync(SYNCHRONOUS | INVALIDATE)` of the page (unmap,
/// `data_return` with the 4 KiB to the pager thread, frame freed) and a read
/// that faults, asks with `data_request` and gets the returned data
/// supplied. The pager is the test pager in this task. Reports
/// `vm.pageout_pagein_external`.
fn pageout_pagein(rpc: &mut Rpc, me: u32, object: u32) {
    let at = vm::vm_map(rpc, me, 0, 4096, 1, object, 0, 0, 3, 7, 1).unwrap_or(0);
    let w = Window::calibrate();
    let (mut requests, mut trips, mut intact) = (0, 0, true);
    let mut value = 0u8;
    // The first write brings the page in; the pager requests counted below
    // are then the page-ins of the round trips.
    // SAFETY: mapped above.
    unsafe { core::ptr::write_volatile(at as *mut u8, value) };
    let r = measure_batches(PAGEOUTS, || {
        let c0 = faults(rpc, me).pager_request;
        let mut t = 0;
        for _ in 0..PAGEOUTS {
            value = value.wrapping_add(1);
            // SAFETY: mapped above; the write makes the page dirty.
            unsafe { core::ptr::write_volatile(at as *mut u8, value) };
            settle();
            t += w.time(|| {
                let r = vm::vm_msync(rpc, me, at, 4096, 2 | 4);
                // SAFETY: as above.
                intact &= r.is_ok() && unsafe { core::ptr::read_volatile(at as *const u8) } == value;
            });
        }
        requests += faults(rpc, me).pager_request - c0;
        trips += u64::from(PAGEOUTS);
        t
    });
    if !intact {
        println!("bench: vm.pageout_pagein_external lost data");
    }
    report("vm.pageout_pagein_external", r, PAGEOUTS);
    println!("#   vm.pageout_pagein_external: the kernel counted {requests} pager requests for {trips} round trips");
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

/// `runs` out-of-line transfers of `size` bytes to a port of our own, as
/// [`ool_transfer`] times them (for `make profile`).
pub fn ool_runs(size: u64, copy: u8, runs: u32) {
    use mach_user::abi::message::*;
    use mach_user::ipc::{MsgBuf, mach_msg, mach_reply_port};
    let mut rpc = Rpc::new();
    let me = mach_user::ipc::mach_task_self();
    let src = vm::vm_allocate(&mut rpc, me, 0, size, 1).unwrap_or(0);
    write_pages(src, size / 4096, 0);
    let port = mach_reply_port();
    let mut buf: MsgBuf<256> = MsgBuf::new();
    for _ in 0..runs {
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
    }
    let _ = vm::vm_deallocate(&mut rpc, me, src, size);
    let _ = mach_user::rpc::mach_port::mach_port_destroy(&mut rpc, me, port);
}

/// Transfers per batch of the out-of-line benchmarks.
const OOL_PER_BATCH: u32 = 10;

/// Guest instructions to send `size` bytes out of line to a port of our own
/// and receive them (one `mach_msg` with send and receive), plus the
/// `vm_deallocate` of the received region.
fn ool_transfer(size: u64, copy: u8, name: &str) {
    use mach_user::abi::message::*;
    use mach_user::ipc::{MsgBuf, mach_msg, mach_reply_port};
    let mut rpc = Rpc::new();
    let me = mach_user::ipc::mach_task_self();
    let src = vm::vm_allocate(&mut rpc, me, 0, size, 1).unwrap_or(0);
    write_pages(src, size / 4096, 0);
    let port = mach_reply_port();
    let mut buf: MsgBuf<256> = MsgBuf::new();
    let one = || {
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
    report(name, measure(OOL_PER_BATCH, one), OOL_PER_BATCH);
    let _ = vm::vm_deallocate(&mut rpc, me, src, size);
}

/// Guest instructions for a written page of anonymous memory to go to the
/// default pager's disk and come back. Outside the window the page is
/// written (made dirty); inside it, `vm_msync(SYNCHRONOUS | INVALIDATE)` of
/// the page (unmap, `data_return` to the default pager, which writes 8
/// records to the IDE disk with `device_write`; frame freed) and a read that
/// faults, sends `data_request`, and gets the page the default pager read
/// back with `device_read`. Needs the default pager registered. Reports
/// `vm.pageout_pagein`.
pub fn default_pageout_pagein() {
    let mut rpc = Rpc::new();
    let me = mach_user::ipc::mach_task_self();
    let at = vm::vm_allocate(&mut rpc, me, 0, 4096, 1).unwrap_or(0);
    let w = Window::calibrate();
    let (mut ins, mut trips, mut intact) = (0, 0, true);
    let mut value = 0u64;
    // SAFETY: the page just allocated; the first write brings it in (zero fill).
    unsafe { core::ptr::write_volatile(at as *mut u64, value) };
    let r = measure_batches(PAGEOUTS, || {
        let c0 = faults(&mut rpc, me).default_pagein;
        let mut t = 0;
        for _ in 0..PAGEOUTS {
            value += 1;
            // SAFETY: the page just allocated; the write makes it dirty.
            unsafe { core::ptr::write_volatile(at as *mut u64, value) };
            settle();
            t += w.time(|| {
                let r = vm::vm_msync(&mut rpc, me, at, 4096, 2 | 4);
                // SAFETY: as above.
                intact &= r.is_ok() && unsafe { core::ptr::read_volatile(at as *const u64) } == value;
            });
        }
        ins += faults(&mut rpc, me).default_pagein - c0;
        trips += u64::from(PAGEOUTS);
        t
    });
    if !intact {
        println!("bench: vm.pageout_pagein failed or lost data (is the default pager registered?)");
        return;
    }
    report("vm.pageout_pagein", r, PAGEOUTS);
    println!("#   vm.pageout_pagein: the kernel counted {ins} page-ins from the default pager for {trips} round trips");
    let _ = vm::vm_deallocate(&mut rpc, me, at, 4096);
}
