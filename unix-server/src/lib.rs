//! The Unix server (placeholder; its issue is next): processes, files, pipes
//! and signals, implemented as one Mach task that answers RPCs from the
//! emulation library of every Unix process. Files will be memory objects paged
//! by this server through the kernel's external-pager interface, which exists
//! (`interfaces/memory_object*.defs`, `mach_user::pager`). Nothing is built
//! into the boot image yet.
#![no_std]
