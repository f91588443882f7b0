//! The symbols the assembly entry paths call into, forwarding to safe Rust.

use super::trapframe::TrapFrame;

/// Called by the boot code on the boot stack with the multiboot2 magic and the
/// physical address of the boot information.
#[unsafe(no_mangle)]
extern "C" fn kmain(magic: u32, info_phys: u64) -> ! {
    crate::boot_main(magic, info_phys)
}

/// Called by `isr_common` for every exception and interrupt.
#[unsafe(no_mangle)]
extern "C" fn trap_dispatch(frame: &mut TrapFrame) {
    crate::kern::entry::trap::handle_trap(frame)
}

/// Called by `syscall_entry` for every trap; returns whether the return to
/// user mode may use `sysretq`.
#[unsafe(no_mangle)]
extern "C" fn syscall_dispatch(frame: &mut TrapFrame) -> bool {
    if crate::kern::entry::trap::handle_syscall(frame) {
        frame.sysret_safe_as_entered()
    } else {
        frame.sysret_safe()
    }
}
