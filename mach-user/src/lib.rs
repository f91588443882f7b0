//! The user runtime for Mach-native programs (built for `x86_64-unknown-none`):
//! the entry point, the trap stubs with safe wrappers, console output, threads
//! and the panic handler; received out-of-line memory as an owned value
//! ([`ool::OolRegion`]), statics shared without `unsafe` ([`sync`]), and the
//! memory manager's side of the external-pager protocol ([`pager`]).
//!
//! A program is a `#![no_std] #![no_main]` binary that names its main function
//! with [`entry!`]; `main` gets the program's arguments and returns its exit status.
#![no_std]

pub mod console;
#[cfg(feature = "heap")]
pub mod heap;
pub mod ipc;
pub mod ool;
pub mod pager;
pub mod rpc;
pub mod start;
pub mod sync;
pub mod thread;
pub mod trap;

pub use mach_abi as abi;
