//! Kernel panics: print the message and a backtrace, then end the QEMU run with
//! a failure code so that a test run never hangs on a dead kernel.

use crate::arch::{backtrace, cpu, serial::Serial};
use core::fmt::Write;
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicBool, Ordering};

static PANICKING: AtomicBool = AtomicBool::new(false);

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    x86_64::instructions::interrupts::disable();
    if PANICKING.swap(true, Ordering::SeqCst) {
        // A panic while panicking: don't recurse.
        cpu::qemu_exit(cpu::QemuExit::Panic);
    }
    // Bypass the console lock: the panicking code may hold it.
    let mut out = Serial;
    let _ = writeln!(out, "\nKERNEL PANIC: {info}");
    let rbp = backtrace::current_rbp();
    backtrace::print(&mut out, panic as *const () as u64, rbp);
    crate::kern::entry::fuzztrace::print(&mut out);
    cpu::qemu_exit(cpu::QemuExit::Panic)
}

/// Reports a fault the kernel itself took (not a user fault) and stops.
pub fn kernel_fault(what: core::fmt::Arguments, rip: u64, rbp: u64) -> ! {
    x86_64::instructions::interrupts::disable();
    PANICKING.store(true, Ordering::SeqCst);
    let mut out = Serial;
    let _ = writeln!(out, "\nKERNEL PANIC: {what} rip=0x{rip:016x}");
    backtrace::print(&mut out, rip, rbp);
    crate::kern::entry::fuzztrace::print(&mut out);
    cpu::qemu_exit(cpu::QemuExit::Panic)
}
