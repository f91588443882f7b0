//! The `syscall` entry path.
//!
//! `syscall` arrives with the user `rip` in `rcx`, `rflags` in `r11`, the user
//! stack still loaded and interrupts masked (SFMASK clears IF, TF, DF and AC, so a
//! user cannot enter the kernel with AC set to defeat SMAP). The entry swaps to the
//! kernel `GS`, switches to the thread's kernel stack, builds a [`TrapFrame`]
//! identical to an interrupt's and calls `syscall_dispatch` in `crate::kern::trap`.
//! It leaves with `sysretq` when the frame still describes ordinary user code
//! (user selectors, a `rip` in the user half, so the non-canonical-`rip` trap
//! of `sysret` cannot happen), and through `trap_return` and `iretq` otherwise.
//!
//! [`TrapFrame`]: super::trapframe::TrapFrame

use super::gdt::{KERNEL_CS, USER_BASE, USER_CS, USER_DS};
use core::arch::global_asm;
use x86_64::registers::model_specific::{Efer, EferFlags, Msr};

const MSR_STAR: u32 = 0xC000_0081;
const MSR_LSTAR: u32 = 0xC000_0082;
const MSR_SFMASK: u32 = 0xC000_0084;

global_asm!(
    r#"
    .section .text.syscall, "ax"
    .balign 16
    .global syscall_entry
syscall_entry:
    swapgs
    mov %rsp, %gs:{user_rsp}
    mov %gs:{kernel_rsp}, %rsp
    pushq ${user_ds}
    pushq %gs:{user_rsp}
    push %r11
    pushq ${user_cs}
    push %rcx
    pushq $0
    pushq $256
    "#,
    super::trapframe::push_registers!(),
    r#"
    mov %rsp, %rdi
    cld
    call syscall_dispatch
    test %al, %al
    jz trap_return
    /* sysret path: the frame still returns to plain user code. */
    "#,
    super::trapframe::pop_registers!(),
    r#"
    add $16, %rsp
    pop %rcx
    add $8, %rsp
    pop %r11
    pop %rsp
    swapgs
    sysretq
    "#,
    user_rsp = const super::cpu::PERCPU_USER_RSP,
    kernel_rsp = const super::cpu::PERCPU_KERNEL_RSP,
    user_ds = const USER_DS,
    user_cs = const USER_CS,
    options(att_syntax)
);

unsafe extern "C" {
    fn syscall_entry();
}

/// Enables `syscall` on this CPU and points it at `syscall_entry`.
pub fn init() {
    let star = ((USER_BASE as u64) << 48) | ((KERNEL_CS as u64) << 32);
    // IF | TF | DF | AC | NT
    let sfmask: u64 = (1 << 9) | (1 << 8) | (1 << 10) | (1 << 18) | (1 << 14);
    // SAFETY: STAR/LSTAR/SFMASK configure the syscall instruction to enter at
    // syscall_entry with the GDT layout from gdt.rs; EFER.SCE only enables it.
    unsafe {
        Msr::new(MSR_STAR).write(star);
        Msr::new(MSR_LSTAR).write(syscall_entry as *const () as u64);
        Msr::new(MSR_SFMASK).write(sfmask);
        Efer::update(|e| e.insert(EferFlags::SYSTEM_CALL_EXTENSIONS));
    }
}
