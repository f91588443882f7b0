//! The x86_64 architecture layer: everything that touches the CPU directly.
//!
//! This layer and `usercopy` are the only places in the kernel with `unsafe`
//! code; each block carries a `// SAFETY:` argument. The rest of the kernel sees
//! safe functions and types: page tables as `AddressSpace`, physical memory as
//! owned `Frame`s, traps as `TrapFrame`, the context switch as
//! `switch_context`, user memory as `UserAddr` and `copy_from_user`.

pub mod apic;
pub mod ata;
pub mod backtrace;
pub mod boot;
pub mod cpu;
pub mod entry;
pub mod frame;
pub mod gdt;
pub mod heap;
pub mod idt;
pub mod ioapic;
pub mod kstack;
pub mod multiboot;
pub mod paging;
pub mod phys;
pub mod rtc;
pub mod selftest;
pub mod serial;
pub mod switch;
pub mod syscall;
pub mod trapframe;
pub mod usercopy;
