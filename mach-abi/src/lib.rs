//! The boundary between the Mach kernel and user space, declared once.
//!
//! Everything both sides must agree on lives here and only here: trap numbers,
//! `kern_return_t` codes, exception types and the user address-space layout. The
//! kernel and the user runtime both depend on this crate, so they cannot drift.
//!
//! Names follow Mach 3.0 / XNU so a reader can hold the code against the Mach
//! documentation; numbers follow XNU where XNU has the same concept.
#![no_std]
#![forbid(unsafe_code)]

pub mod clock;
pub mod device;
pub mod emulation;
pub mod exception;
pub mod kern_return;
pub mod layout;
pub mod message;
pub mod port;
pub mod traps;

pub use kern_return::KernReturn;
