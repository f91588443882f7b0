//! Every way into the kernel (layer 6): interrupts and exceptions
//! ([`trap`]), the Mach traps ([`mach_traps`]) and the `mach_msg` trap
//! ([`mach_msg`]), user page faults ([`user_fault`]), the way back to user
//! mode ([`leave`]), the boot flow and the idle loop ([`bootstrap`]).
//!
//! This layer alone takes the kernel-state lock ([`lock`], private to it):
//! each entry takes it around the operations it makes and hands the state,
//! or pieces of it, to the layers below, which never lock it themselves.
//! Nothing here blocks or copies user memory with the lock held, except
//! through the `_nowait` user copies, which fail instead of waiting.

pub mod bootstrap;
pub mod fuzztrace;
pub mod leave;
mod lock;
pub mod mach_msg;
pub mod mach_traps;
pub mod trap;
pub mod user_fault;

/// Creates the kernel state (the IPC model and the host port) at boot.
pub fn init(heap_bytes: usize) {
    lock::init(heap_bytes);
}
