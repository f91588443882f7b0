//! Segment descriptors and the task-state segment, one set per CPU.
//!
//! The order is fixed by `syscall`/`sysret` (see `syscall.rs`): kernel code and
//! data, then 32-bit user code, user data and 64-bit user code, then the TSS.
//! The TSS holds `rsp0` (the running thread's kernel stack, for interrupts from
//! user mode) and IST1, a separate stack for double faults so that a kernel
//! stack overflow is reported instead of triple-faulting.

use super::cpu::MAX_CPUS;
use x86_64::instructions::segmentation::{CS, DS, ES, SS, Segment};
use x86_64::instructions::tables::load_tss;
use x86_64::registers::segmentation::SegmentSelector;
use x86_64::structures::DescriptorTablePointer;
use x86_64::structures::tss::TaskStateSegment;
use x86_64::{PrivilegeLevel, VirtAddr};

pub const KERNEL_CS: u16 = 0x08;
pub const KERNEL_DS: u16 = 0x10;
/// Base for `sysret` selectors (user data = base + 8, user code64 = base + 16).
pub const USER_BASE: u16 = 0x18;
pub const USER_DS: u16 = 0x20 | 3;
pub const USER_CS: u16 = 0x28 | 3;
const TSS_SEL: u16 = 0x30;

/// IST index (1-based in the IDT) used for double faults.
pub const DOUBLE_FAULT_IST: u16 = 1;
const IST_STACK_SIZE: usize = 16 * 1024;

#[repr(C, align(16))]
struct IstStack([u8; IST_STACK_SIZE]);

static mut GDT: [[u64; 8]; MAX_CPUS] = [[0; 8]; MAX_CPUS];
static mut TSS: [TaskStateSegment; MAX_CPUS] = [const { TaskStateSegment::new() }; MAX_CPUS];
static mut IST_STACKS: [IstStack; MAX_CPUS] = [const { IstStack([0; IST_STACK_SIZE]) }; MAX_CPUS];

/// Builds and loads this CPU's GDT and TSS.
pub fn init(cpu: usize) {
    assert!(cpu < MAX_CPUS);
    // SAFETY: each CPU initialises only its own GDT/TSS slot, once, with
    // interrupts off; the tables are static so they outlive their use by the CPU.
    unsafe {
        let tss = &mut *(&raw mut TSS[cpu]);
        let ist = &raw mut IST_STACKS[cpu];
        tss.interrupt_stack_table[(DOUBLE_FAULT_IST - 1) as usize] = VirtAddr::new(ist as u64 + IST_STACK_SIZE as u64);
        let tss_addr = tss as *const TaskStateSegment as u64;
        let limit = (core::mem::size_of::<TaskStateSegment>() - 1) as u64;
        let low = (limit & 0xffff)
            | ((tss_addr & 0xff_ffff) << 16)
            | (0x89u64 << 40)
            | (((limit >> 16) & 0xf) << 48)
            | (((tss_addr >> 24) & 0xff) << 56);
        let high = tss_addr >> 32;
        let gdt = &mut *(&raw mut GDT[cpu]);
        *gdt = [
            0,
            0x00af_9a00_0000_ffff, // kernel code64
            0x00cf_9200_0000_ffff, // kernel data
            0x00cf_fa00_0000_ffff, // user code32 (unused, keeps the sysret layout)
            0x00cf_f200_0000_ffff, // user data
            0x00af_fa00_0000_ffff, // user code64
            low,
            high,
        ];
        let ptr = DescriptorTablePointer {
            limit: (core::mem::size_of::<[u64; 8]>() - 1) as u16,
            base: VirtAddr::new(gdt.as_ptr() as u64),
        };
        x86_64::instructions::tables::lgdt(&ptr);
        CS::set_reg(SegmentSelector::new(KERNEL_CS >> 3, PrivilegeLevel::Ring0));
        let ds = SegmentSelector::new(KERNEL_DS >> 3, PrivilegeLevel::Ring0);
        DS::set_reg(ds);
        ES::set_reg(ds);
        SS::set_reg(ds);
        load_tss(SegmentSelector::new(TSS_SEL >> 3, PrivilegeLevel::Ring0));
    }
}

/// Sets the stack the CPU switches to on an interrupt or exception from user mode.
pub fn set_rsp0(cpu: usize, top: u64) {
    if cpu >= MAX_CPUS {
        return;
    }
    // SAFETY: only the owning CPU writes its TSS, with interrupts off.
    unsafe {
        let tss = &mut *(&raw mut TSS[cpu]);
        tss.privilege_stack_table[0] = VirtAddr::new(top);
    }
}
