//! The emulation library: code the Unix server maps into every Linux process
//! at `unix_abi::EMUL_BASE` and that fork inherits (the seed's
//! "trampoline" design, Mach 3.0's UX and Lites emulator).
//!
//! An unmodified Linux binary executes `syscall`; the kernel sends the thread
//! to this library's entry (the task's emulation vector, set by the server)
//! with every register as the program left it. The trampoline
//! ([`trampoline`], the library's only unsafe code) saves them and calls
//! [`dispatch::syscall`], which turns the call into an RPC to the Unix
//! server through the generated stubs of `interfaces/unix.defs` (one file
//! per family below), writes the results into the program's memory and
//! returns to the program without entering the kernel again. A few calls
//! need no server (`arch_prctl`, the clocks, `rseq`): [`local`].
//!
//! The library has no heap and keeps almost no state: the names of its two
//! rights are fixed (`unix_abi`), so a forked child finds them where its
//! parent did. Its Unix processes are single-threaded (clone of threads is
//! refused), which the few statics rely on.
//!
//! A pointer a program passes is used as given, by the two copy routines of
//! the trampoline: one that is not mapped faults there, the fault reaches
//! the server (the process's exception port), which sees the thread's rip
//! inside the copy routines (the header names their range) and resumes it
//! at their recovery point; the copy fails and the call answers EFAULT, as
//! Linux's exception tables make its copies do.
#![no_std]
#![no_main]

mod calls;
mod delivery;
mod dispatch;
mod files;
mod local;
mod memory;
mod process;
mod signals;
mod trampoline;
mod transport;

/// A panic is a broken contract with the server: say so and end the task.
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    trampoline::kernel_print(b"emulation-lib: panic\n");
    trampoline::task_exit(134)
}
