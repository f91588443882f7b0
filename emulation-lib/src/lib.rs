//! The emulation library (placeholder; its issue is next): code the Unix
//! server maps into each Unix process at a fixed address, and that fork
//! inherits.
//!
//! An unmodified Linux binary executes `syscall`; the kernel will bounce the
//! trap (syscall redirection, the seed's "trampoline") to this library in the
//! same address space, which turns the call into an RPC to the Unix server
//! and returns to the program without re-entering the kernel. The kernel has
//! no redirection yet: a non-negative trap number ends the task, reported as
//! `EXC_SYSCALL`.
#![no_std]
