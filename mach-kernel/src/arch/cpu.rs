//! Per-CPU data, CPU features and control registers.
//!
//! Each CPU's `GS` base points at its [`PerCpu`] block while in the kernel (user
//! `GS` is swapped in with `swapgs` on the way out). The first three fields are
//! read by the assembly entry paths at fixed offsets: `gs:0` self pointer,
//! `gs:8` the kernel stack top of the running thread, `gs:16` a scratch slot for
//! the user `rsp` during `syscall` entry. Only the boot CPU runs today, but every
//! per-CPU fact already lives here rather than in a global.

use core::sync::atomic::{AtomicBool, Ordering};
use x86_64::VirtAddr;
use x86_64::instructions::port::Port;
use x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};
use x86_64::registers::model_specific::{Efer, EferFlags, FsBase, GsBase, KernelGsBase};

/// CPUs the kernel has room for.
pub const MAX_CPUS: usize = 8;

/// Offsets used by assembly: keep in sync with [`PerCpu`].
pub const PERCPU_KERNEL_RSP: usize = 8;
pub const PERCPU_USER_RSP: usize = 16;

#[repr(C)]
pub struct PerCpu {
    self_ptr: u64,
    kernel_rsp: u64,
    user_rsp: u64,
    cpu_id: u64,
}

static mut PERCPU: [PerCpu; MAX_CPUS] = [const {
    PerCpu {
        self_ptr: 0,
        kernel_rsp: 0,
        user_rsp: 0,
        cpu_id: 0,
    }
}; MAX_CPUS];

static SMAP_ENABLED: AtomicBool = AtomicBool::new(false);
static NX_ENABLED: AtomicBool = AtomicBool::new(false);

/// What this CPU model offers, as found by `cpuid`.
#[derive(Clone, Copy, Debug)]
pub struct Features {
    pub nx: bool,
    pub smep: bool,
    pub smap: bool,
}

pub fn features() -> Features {
    let (l7, ext) = (
        core::arch::x86_64::__cpuid_count(7, 0),
        core::arch::x86_64::__cpuid(0x8000_0001),
    );
    Features {
        nx: ext.edx & (1 << 20) != 0,
        smep: l7.ebx & (1 << 7) != 0,
        smap: l7.ebx & (1 << 20) != 0,
    }
}

/// Turns on NX, write protection in ring 0, SSE for user programs, and SMEP/SMAP
/// when the CPU model has them.
pub fn init_control_registers() -> Features {
    let f = features();
    // SAFETY: the flags set here only restrict what code may do (NX, WP, SMEP,
    // SMAP) or enable SSE state handling, which the context switch saves with
    // fxsave. The kernel's own mappings are already correct for NX (text is
    // mapped executable) and the kernel touches user memory only inside
    // `usercopy`, which brackets accesses with stac/clac when SMAP is on.
    unsafe {
        if f.nx {
            Efer::update(|e| e.insert(EferFlags::NO_EXECUTE_ENABLE));
            NX_ENABLED.store(true, Ordering::Relaxed);
        }
        Cr0::update(|c| {
            c.insert(Cr0Flags::WRITE_PROTECT | Cr0Flags::MONITOR_COPROCESSOR);
            c.remove(Cr0Flags::EMULATE_COPROCESSOR | Cr0Flags::TASK_SWITCHED);
        });
        let mut cr4 = Cr4Flags::OSFXSR | Cr4Flags::OSXMMEXCPT_ENABLE;
        if f.smep {
            cr4 |= Cr4Flags::SUPERVISOR_MODE_EXECUTION_PROTECTION;
        }
        if f.smap {
            cr4 |= Cr4Flags::SUPERVISOR_MODE_ACCESS_PREVENTION;
            SMAP_ENABLED.store(true, Ordering::Relaxed);
        }
        Cr4::update(|c| c.insert(cr4));
    }
    f
}

pub fn smap_enabled() -> bool {
    SMAP_ENABLED.load(Ordering::Relaxed)
}
pub fn nx_enabled() -> bool {
    NX_ENABLED.load(Ordering::Relaxed)
}

/// Points this CPU's GS base at its per-CPU block.
pub fn init_percpu(cpu: usize) {
    assert!(cpu < MAX_CPUS);
    // SAFETY: each CPU touches only its own slot, once, before interrupts are on.
    let block = unsafe { &mut *(&raw mut PERCPU[cpu]) };
    let addr = block as *mut PerCpu as u64;
    block.self_ptr = addr;
    block.cpu_id = cpu as u64;
    GsBase::write(VirtAddr::new(addr));
    // The user bases start at 0, as every thread's context does (switch.rs).
    KernelGsBase::write(VirtAddr::new(0));
    FsBase::write(VirtAddr::new(0));
}

/// The id of the CPU this code runs on.
pub fn cpu_id() -> usize {
    let id: u64;
    // SAFETY: GS points at this CPU's PerCpu block whenever kernel code runs
    // (set by init_percpu, swapped on every user entry/exit).
    unsafe { core::arch::asm!("mov {}, gs:[24]", out(reg) id, options(nostack, readonly, preserves_flags)) };
    id as usize
}

/// Records the kernel stack top used for the next entry from user mode on this CPU.
pub fn set_kernel_stack(top: u64) {
    // SAFETY: gs:8 is this CPU's kernel_rsp slot (see PerCpu); interrupts are
    // off in the kernel so nothing else writes it concurrently.
    unsafe { core::arch::asm!("mov gs:[8], {}", in(reg) top, options(nostack, preserves_flags)) };
    super::gdt::set_rsp0(cpu_id(), top);
}

/// Stops the CPU until the next interrupt, with interrupts enabled while halted.
pub fn idle_halt() {
    x86_64::instructions::interrupts::enable_and_hlt();
    x86_64::instructions::interrupts::disable();
}

/// Halts forever with interrupts off.
pub fn halt_forever() -> ! {
    loop {
        x86_64::instructions::interrupts::disable();
        x86_64::instructions::hlt();
    }
}

/// Exit codes written to QEMU's isa-debug-exit device (QEMU exits with `(code << 1) | 1`).
#[derive(Clone, Copy)]
#[repr(u32)]
pub enum QemuExit {
    /// All tasks finished: QEMU exits with 33.
    Success = 0x10,
    /// Kernel panic: QEMU exits with 35.
    Panic = 0x11,
}

/// Ends the QEMU run through isa-debug-exit (a no-op when the device is absent),
/// then halts.
pub fn qemu_exit(code: QemuExit) -> ! {
    // SAFETY: port 0xf4 is the isa-debug-exit device under QEMU; on a machine
    // without it the write goes nowhere.
    unsafe { Port::<u32>::new(0xf4).write(code as u32) };
    halt_forever()
}

/// Reads the time-stamp counter. Under `-icount shift=0` it counts guest instructions.
pub fn rdtsc() -> u64 {
    // SAFETY: lfence; rdtsc only reads the counter.
    unsafe {
        core::arch::x86_64::_mm_lfence();
        core::arch::x86_64::_rdtsc()
    }
}
