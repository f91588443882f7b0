//! Trap-level tests: bad pointers and sizes passed to traps give error codes
//! (never a kernel fault), unknown trap numbers are refused, and a trap keeps
//! the caller's registers.
#![no_std]
#![no_main]

use core::arch::asm;
use mach_user::abi::kern_return::*;
use mach_user::abi::layout::{USER_END, USER_STACK_TOP};
use mach_user::abi::traps::{self, BootInfoKind, MACH_TRAP_COUNT};
use mach_user::trap::{boot_info, mach_print, raw_trap};
use test_programs::{check_eq, report};

mach_user::entry!(main);

fn print_raw(ptr: u64, len: u64) -> KernReturn {
    // SAFETY: mach_print only reads; bad addresses are what is being tested.
    unsafe { raw_trap(traps::MACH_PRINT, [ptr, len, 0, 0, 0, 0]).0 as KernReturn }
}

fn trap_number(n: i64) -> KernReturn {
    // SAFETY: numbers outside the trap table have no effect.
    unsafe { raw_trap(n, [0; 6]).0 as KernReturn }
}

fn main(_args: mach_user::start::Args) -> i32 {
    let mut ok = true;
    ok &= check_eq!(
        "mach_print_valid",
        mach_print(b"test-traps: hello from user space\n"),
        KERN_SUCCESS
    );
    ok &= check_eq!("mach_print_null", print_raw(0, 16), KERN_INVALID_ADDRESS);
    ok &= check_eq!(
        "mach_print_unmapped",
        print_raw(0x1000_0000_0000, 16),
        KERN_INVALID_ADDRESS
    );
    ok &= check_eq!(
        "mach_print_kernel_direct_map",
        print_raw(0xffff_8000_0010_0000, 16),
        KERN_INVALID_ADDRESS
    );
    ok &= check_eq!(
        "mach_print_kernel_image",
        print_raw(0xffff_ffff_8010_0000, 16),
        KERN_INVALID_ADDRESS
    );
    ok &= check_eq!(
        "mach_print_straddles_user_end",
        print_raw(USER_END - 8, 16),
        KERN_INVALID_ADDRESS
    );
    ok &= check_eq!(
        "mach_print_wraps_address_space",
        print_raw(u64::MAX - 7, 16),
        KERN_INVALID_ADDRESS
    );
    ok &= check_eq!(
        "mach_print_runs_off_stack_top",
        print_raw(USER_STACK_TOP - 8, 64),
        KERN_INVALID_ADDRESS
    );
    ok &= check_eq!(
        "mach_print_too_long",
        print_raw(0x40_0000, traps::MACH_PRINT_MAX + 1),
        KERN_INVALID_ARGUMENT
    );
    ok &= check_eq!(
        "mach_print_huge_length",
        print_raw(0x40_0000, u64::MAX),
        KERN_INVALID_ARGUMENT
    );
    ok &= check_eq!(
        "mach_print_zero_length_bad_pointer",
        print_raw(0xdead_0000_0000, 0),
        KERN_SUCCESS
    );

    ok &= check_eq!("trap_number_minus_1", trap_number(-1), KERN_INVALID_ARGUMENT);
    ok &= check_eq!(
        "trap_number_table_max",
        trap_number(-(MACH_TRAP_COUNT - 1)),
        KERN_INVALID_ARGUMENT
    );
    ok &= check_eq!(
        "trap_number_table_max_plus_1",
        trap_number(-MACH_TRAP_COUNT),
        KERN_INVALID_ARGUMENT
    );
    ok &= check_eq!("trap_number_i64_min", trap_number(i64::MIN), KERN_INVALID_ARGUMENT);
    ok &= check_eq!("boot_info_bad_selector", unsafe_boot_info(99), KERN_INVALID_ARGUMENT);
    ok &= check_eq!(
        "boot_info_free_frames",
        boot_info(BootInfoKind::FreeFrames).map(|n| n > 0),
        Ok(true)
    );

    // SAFETY: the kernel refuses a kernel-half entry point before creating anything.
    let kr = unsafe {
        raw_trap(
            traps::THREAD_CREATE_RUNNING,
            [0xffff_ffff_8010_0000, 0x7000_0000, 0, 0, 0, 0],
        )
        .0
    };
    ok &= check_eq!("thread_create_kernel_entry", kr as KernReturn, KERN_INVALID_ADDRESS);
    // SAFETY: as above, a stack above the user half.
    let kr = unsafe { raw_trap(traps::THREAD_CREATE_RUNNING, [0x40_0000, USER_END + 4096, 0, 0, 0, 0]).0 };
    ok &= check_eq!("thread_create_kernel_stack", kr as KernReturn, KERN_INVALID_ADDRESS);

    let regs = registers_after_trap();
    let want = [
        0x1111, 0x2222, 0x3333, 0x4444, 0x5555, 0x6666, 0x7777, 0x8888, 0x9999, 0xaaaa, 0xbbbb,
    ];
    ok &= report(
        "trap_preserves_registers",
        regs == want,
        format_args!("got {regs:x?}, want {want:x?}"),
    );
    if ok { 0 } else { 1 }
}

fn unsafe_boot_info(selector: u64) -> KernReturn {
    // SAFETY: mach_boot_info has no memory effects.
    unsafe { raw_trap(traps::MACH_BOOT_INFO, [selector, 0, 0, 0, 0, 0]).0 as KernReturn }
}

/// Every register but rax, rdx (results), rcx and r11 (clobbered by `syscall`)
/// must come back unchanged.
fn registers_after_trap() -> [u64; 11] {
    let mut regs = [0u64; 11];
    // SAFETY: swtch has no memory effects; the asm saves and restores every
    // callee-saved register it uses and writes only `regs`.
    unsafe {
        asm!(
            "push rbx", "push rbp", "push r12", "push r13", "push r14", "push r15",
            "mov rbx, 0x1111", "mov rbp, 0x2222", "mov r12, 0x3333", "mov r13, 0x4444",
            "mov r14, 0x5555", "mov r15, 0x6666", "mov rsi, 0x7777", "mov r8, 0x8888",
            "mov r9, 0x9999", "mov r10, 0xaaaa",
            "push rdi",
            "mov rax, {swtch}",
            "mov rdi, 0xbbbb",
            "syscall",
            "mov rax, rdi",
            "pop rdi",
            "mov [rdi+80], rax",
            "mov [rdi], rbx", "mov [rdi+8], rbp", "mov [rdi+16], r12", "mov [rdi+24], r13",
            "mov [rdi+32], r14", "mov [rdi+40], r15", "mov [rdi+48], rsi", "mov [rdi+56], r8",
            "mov [rdi+64], r9", "mov [rdi+72], r10",
            "pop r15", "pop r14", "pop r13", "pop r12", "pop rbp", "pop rbx",
            swtch = const traps::SWTCH,
            in("rdi") regs.as_mut_ptr(),
            out("rax") _, out("rcx") _, out("rdx") _, out("rsi") _, out("r8") _,
            out("r9") _, out("r10") _, out("r11") _,
        );
    }
    regs
}
