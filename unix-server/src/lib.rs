//! The Unix server: processes, files, pipes and signals, implemented as one Mach
//! task that answers RPCs from the emulation library of every Unix process.
//!
//! Files are memory objects paged by this server. Not built into the boot image
//! yet: it needs ports, `mach_msg`, memory objects and syscall redirection.
#![no_std]
