//! The default pager: a user task that backs anonymous memory on a disk.
//!
//! Role in the system (Mach 3.0): when the kernel's pageout daemon must evict a
//! dirty page of anonymous memory, it asks the default pager (registered with
//! `vm_set_default_memory_manager`) for a memory object with
//! `memory_object_create` and sends the page with `memory_object_data_return`;
//! page-ins come back through `memory_object_data_request` /
//! `memory_object_data_supply`. The pager runs with reserved memory so that it
//! can always make progress under pressure.
//!
//! Not built into the boot image yet: it needs ports, `mach_msg` and memory
//! objects, which arrive with the IPC and VM issues.
#![no_std]
