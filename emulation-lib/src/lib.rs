//! The emulation library: code the kernel maps into each Unix process.
//!
//! An unmodified Linux binary executes `syscall`; the kernel bounces the trap
//! (syscall redirection, the seed's "trampoline") to this library in the same
//! address space, which turns the call into an RPC to the Unix server and returns
//! to the program without re-entering the kernel. Not built into the boot image
//! yet: redirection arrives with the Unix issue. Until then a non-negative trap
//! number raises `EXC_SYSCALL`.
#![no_std]
