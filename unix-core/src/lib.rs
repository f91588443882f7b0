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

pub mod errno;
pub mod exec;
pub mod process;
pub mod signal;

#[cfg(test)]
mod host_c;
