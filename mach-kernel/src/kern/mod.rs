//! The machine-independent kernel: tasks, threads, the scheduler, traps and
//! the boot-time creation of tasks from GRUB's modules.
//!
//! No `unsafe` here: everything that touches the CPU goes through `crate::arch`.

pub mod bootstrap;
pub mod device;
pub mod exception;
pub mod ipc;
pub mod kserver;
pub mod loader;
pub mod mach_msg;
pub mod mach_traps;
pub mod pageout;
pub mod pager;
pub mod prof;
pub mod sched;
pub mod task;
pub mod thread;
pub mod trap;
pub mod vm;
pub mod vm_copy;
pub mod wait;
pub mod waitq;
