//! The interrupt descriptor table and the entry stubs for exceptions and
//! interrupts.
//!
//! Every vector has a 16-byte stub that pushes a uniform (vector, error code)
//! pair and jumps to `isr_common`, which swaps in the kernel `GS` if the CPU came
//! from user mode, saves the general registers as a [`TrapFrame`] and calls
//! `trap_dispatch` in `crate::kern::trap`. `trap_return` is the one exit path
//! back to user or kernel mode.
//!
//! [`TrapFrame`]: super::trapframe::TrapFrame

use core::arch::global_asm;
use x86_64::structures::idt::InterruptDescriptorTable;
use x86_64::{PrivilegeLevel, VirtAddr};

/// Vectors 0..IRQ_STUBS have generated stubs (exceptions and legacy/APIC IRQs).
const IRQ_STUBS: usize = 48;
/// The LAPIC timer interrupt.
pub const VECTOR_TIMER: u8 = 32;
/// COM1's receive interrupt (ISA IRQ 4, routed here by the I/O APIC: the
/// vector the masked legacy PIC would have given IRQ 4).
pub const VECTOR_COM1: u8 = 36;
/// The LAPIC spurious interrupt.
pub const VECTOR_SPURIOUS: u8 = 255;

global_asm!(
    r#"
    .section .text.isr, "ax"
    .balign 16
    .global isr_stubs
isr_stubs:
    .set vec, 0
    .rept 48
    .balign 16
    .if (vec == 8) || (vec == 10) || (vec == 11) || (vec == 12) || (vec == 13) || (vec == 14) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
    pushq $vec
    .else
    pushq $0
    pushq $vec
    .endif
    jmp isr_common
    .set vec, vec + 1
    .endr

    .balign 16
    .global isr_spurious
isr_spurious:
    pushq $0
    pushq $255
    jmp isr_common

isr_common:
    testb $3, 24(%rsp)
    jz 1f
    swapgs
1:
    "#,
    super::trapframe::push_registers!(),
    r#"
    mov %rsp, %rdi
    cld
    call trap_dispatch
    jmp trap_return

    .global trap_return
trap_return:
    "#,
    super::trapframe::pop_registers!(),
    r#"
    add $16, %rsp
    testb $3, 8(%rsp)
    jz 2f
    swapgs
2:  iretq
    "#,
    options(att_syntax)
);

unsafe extern "C" {
    static isr_stubs: u8;
    static isr_spurious: u8;
    pub fn trap_return();
}

static mut IDT: InterruptDescriptorTable = InterruptDescriptorTable::new();

/// Builds the IDT (once) and loads it on this CPU.
pub fn init() {
    // SAFETY: the stub addresses point at the generated entry code above, which
    // follows the interrupt calling convention; the IDT is written only by the
    // boot CPU before interrupts are enabled and never moves (static).
    unsafe {
        let idt = &mut *(&raw mut IDT);
        let base = &raw const isr_stubs as u64;
        for vector in 0..IRQ_STUBS {
            let addr = VirtAddr::new(base + (vector as u64) * 16);
            let opts = match vector {
                0 => idt.divide_error.set_handler_addr(addr),
                1 => idt.debug.set_handler_addr(addr),
                2 => idt.non_maskable_interrupt.set_handler_addr(addr),
                3 => {
                    let o = idt.breakpoint.set_handler_addr(addr);
                    o.set_privilege_level(PrivilegeLevel::Ring3);
                    o
                }
                4 => idt.overflow.set_handler_addr(addr),
                5 => idt.bound_range_exceeded.set_handler_addr(addr),
                6 => idt.invalid_opcode.set_handler_addr(addr),
                7 => idt.device_not_available.set_handler_addr(addr),
                8 => {
                    let o = idt.double_fault.set_handler_addr(addr);
                    o.set_stack_index(super::gdt::DOUBLE_FAULT_IST - 1);
                    o
                }
                10 => idt.invalid_tss.set_handler_addr(addr),
                11 => idt.segment_not_present.set_handler_addr(addr),
                12 => idt.stack_segment_fault.set_handler_addr(addr),
                13 => idt.general_protection_fault.set_handler_addr(addr),
                14 => idt.page_fault.set_handler_addr(addr),
                16 => idt.x87_floating_point.set_handler_addr(addr),
                17 => idt.alignment_check.set_handler_addr(addr),
                18 => idt.machine_check.set_handler_addr(addr),
                19 => idt.simd_floating_point.set_handler_addr(addr),
                20 => idt.virtualization.set_handler_addr(addr),
                21 => idt.cp_protection_exception.set_handler_addr(addr),
                28 => idt.hv_injection_exception.set_handler_addr(addr),
                29 => idt.vmm_communication_exception.set_handler_addr(addr),
                30 => idt.security_exception.set_handler_addr(addr),
                v if v >= 32 => idt[v as u8].set_handler_addr(addr),
                _ => continue,
            };
            let _ = opts;
        }
        idt[VECTOR_SPURIOUS].set_handler_addr(VirtAddr::new(&raw const isr_spurious as u64));
        idt.load_unsafe();
    }
}
