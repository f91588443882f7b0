//! `mach-core`: pure kernel logic with no hardware access.
//!
//! This crate owns the parts of the kernel that are plain data manipulation and can
//! therefore be tested on the host with `cargo test -p mach-core`:
//!
//! * [`frame`] — the physical frame allocator (a bitmap over 4 KiB frames),
//! * [`elf`] — ELF64 x86_64 parsing for the program loader and for symbolisation,
//! * [`user_stack`] — the System V initial user stack image (argc/argv/envp/auxv),
//! * [`cmdline`] — parsing of the kernel and module command lines,
//! * [`device`] — device-interface request checks and open state,
//! * [`console`] — the console device's input buffer and waiting reads,
//! * [`emulation`] — a task's emulation vector (system call redirection),
//! * [`time`] — the RTC's date and the system clock's arithmetic.
//!
//! Everything here treats its input as untrusted: no function panics on any input,
//! all arithmetic on input-derived values is checked, and failures are reported as
//! typed error enums.

#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

extern crate alloc;

pub mod budget;
pub mod cmdline;
pub mod console;
pub mod device;
pub mod elf;
pub mod emulation;
pub mod frame;
pub mod ipc;
pub mod time;
pub mod user_stack;
pub mod vm;

/// Size of a page and of a physical frame, in bytes.
pub const PAGE_SIZE: u64 = 4096;
