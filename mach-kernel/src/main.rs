//! The Mach kernel.
//!
//! Boot sequence (`boot_main`): serial console and log; boot information from
//! GRUB; control registers (NX, WP, SMEP/SMAP, SSE); the frame allocator;
//! the kernel's own page tables with a direct map of physical memory; the kernel
//! heap; GDT/TSS, IDT, per-CPU data, `syscall` and the local APIC timer; one task
//! per boot module; then the boot flow becomes the idle thread and the
//! scheduler takes over.
//!
//! `arch` is the machine layer (all `unsafe` lives there and in its user-copy
//! module, physical memory included: `arch::frame`, known here as `mem`);
//! `kern` is the machine-independent kernel.
#![no_std]
#![no_main]
#![allow(clippy::deref_addrof)] // `&mut *(&raw mut STATIC)` is how edition 2024 reaches per-CPU statics

extern crate alloc;

mod arch;
mod console;
mod kern;
mod klog;
mod panic;

/// Physical memory: frames and the heap (`arch::frame`).
use arch::frame as mem;

use arch::{apic, cpu, gdt, idt, multiboot, paging, serial::Serial, syscall};
use mach_core::frame::PhysRange;

/// The kernel's first Rust code, on the boot stack, with the boot page tables.
pub fn boot_main(magic: u32, info_phys: u64) -> ! {
    let tsc_at_entry = cpu::rdtsc();
    Serial::init();
    let boot = match multiboot::parse(magic, info_phys) {
        Ok(b) => b,
        Err(e) => panic!("cannot read the multiboot2 boot information: {e:?}"),
    };
    klog::init(boot.cmdline.as_str());
    kprintln!(
        "Mach kernel {} booting (tsc {tsc_at_entry}): {}",
        env!("CARGO_PKG_VERSION"),
        boot.cmdline.as_str()
    );

    let features = cpu::init_control_registers();
    log::info!("cpu: nx={} smep={} smap={}", features.nx, features.smep, features.smap);

    unsafe extern "C" {
        static __kernel_phys_start: u8;
        static __kernel_end: u8;
    }
    let kernel = PhysRange {
        start: &raw const __kernel_phys_start as u64,
        end: &raw const __kernel_end as u64 - paging::KERNEL_VMA,
    };
    let mut reserved = [PhysRange { start: 0, end: 0 }; multiboot::MAX_MODULES + 3];
    reserved[0] = kernel;
    reserved[1] = boot.info_range;
    // The first MiB: BIOS data, EBDA and ROMs.
    reserved[2] = PhysRange {
        start: 0,
        end: 0x10_0000,
    };
    for (slot, m) in reserved[3..].iter_mut().zip(boot.modules()) {
        *slot = m.range;
    }
    let nreserved = 3 + boot.modules().len();
    mem::init(boot.usable(), &reserved[..nreserved], boot.max_phys);
    if let Err(e) = paging::init_kernel_space(boot.max_phys.min(mem::MAX_PHYS)) {
        panic!("cannot build the kernel page tables: {e:?}");
    }
    let heap = mem::init_heap();
    log::info!(
        "memory: {} MiB usable, {} frames free, heap {} KiB, {} boot modules",
        mem::usable_frames() / 256,
        mem::free_frames(),
        heap / 1024,
        boot.modules().len()
    );

    gdt::init(0);
    cpu::init_percpu(0);
    idt::init();
    syscall::init();
    apic::init();
    kern::clock::init();

    // Before the self-tests, so that a deliberate panic shows the (empty) ring.
    let fuzztrace = mach_core::cmdline::has_flag(boot.cmdline.as_str(), "fuzztrace");
    if fuzztrace && !kern::entry::fuzztrace::BUILT {
        log::warn!("fuzztrace: not built into this kernel (the tests' kernel has it)");
    }
    kern::entry::fuzztrace::ENABLED.store(fuzztrace, core::sync::atomic::Ordering::Relaxed);
    match mach_core::cmdline::value(boot.cmdline.as_str(), "selftest") {
        Some("panic") => panic!("selftest: deliberate kernel panic"),
        Some("kernel_fault") => arch::selftest::kernel_page_fault(),
        _ => {}
    }
    kern::entry::init(heap);
    kern::device::probe();
    kern::entry::bootstrap::start(&boot);
    kern::sched::run_idle(kern::entry::bootstrap::on_idle)
}
