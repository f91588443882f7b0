//! `unix-core`: the Unix server's pure logic, tested on the host with
//! `cargo test -p unix-core`.
//!
//! The Unix server (`unix-server/`) is a Mach task that answers the RPCs the
//! emulation library makes for each Linux system call. Everything it decides
//! without touching Mach lives here, as plain data with typed errors (Linux
//! errno values from `linux-raw-sys`), so it can be tested without a kernel:
//!
//! * [`errno`] — the `Errno` type every module returns.
//! * [`exec`] — executables to mapping plans, auxv and `#!` interpreters.
//! * [`cpio`] — the `newc` cpio archive format (the initramfs).
//! * [`fdtable`] — a process's file descriptor table.
//! * [`fs`] — the in-memory root file system (built from the initramfs).
//! * [`ofile`] — open file descriptions (target, offset, status flags, lseek)
//!   and the server's reference-counted table of them.
//! * [`pipe`] — a pipe's bounded buffer, end counts and poll readiness.
//! * [`process`] — the process table: pids, parents, groups, sessions, exit and wait.
//! * [`signal`] — dispositions, masks, pending signals, the altstack and the rt_sigframe.
//!
//! Everything here treats its input as untrusted: no function panics on any
//! input a process can give, and all arithmetic on such values is checked.

#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

extern crate alloc;

pub mod cpio;
pub mod errno;
pub mod exec;
pub mod fdtable;
pub mod fs;
pub mod ofile;
pub mod pipe;
pub mod process;
pub mod signal;

#[cfg(test)]
mod host_c;
