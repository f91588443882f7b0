//! Mach virtual memory as plain data: address maps ([`VmMap`]), memory and
//! shadow objects ([`VmObjects`]), copy-on-write, inheritance and the page-fault
//! decision procedure, tested on the host.
//!
//! The model decides *what* must happen; the kernel does the page-table and
//! frame work it is told to: operations return descriptions ([`Deallocation`],
//! [`Reprotect`], [`Fork::write_protect`], [`FaultAction`], [`Reclaim`]) instead
//! of touching hardware.
//!
//! Design:
//! * Maps are sparse: a `BTreeMap` of entries keyed by start address, clipped at
//!   range boundaries and coalesced again after changes.
//! * Every map entry that names an object holds one reference, taken and
//!   dropped by the map itself in the [`VmObjects`] passed to each call; every
//!   shadow link holds one reference to the shadowed object. [`invariants::check`]
//!   verifies exactly this.
//! * Copy-on-write is symmetric: fork and copy mappings mark `needs_copy` on
//!   both sides; the first write pushes a shadow object. Shadow chains are
//!   collapsed when an anonymous shadowed object is left referenced only by its
//!   one shadower, so repeated fork/write/exit keeps chains short.
//! * Pager-backed objects keep each page's protocol state (requested,
//!   unavailable, error, unlock-requested: [`pager`]), so one fault sends a
//!   request and the others wait, and a pager's answers are checked here.
//! * [`Pmap`] is the model of the hardware mappings, kept by whoever carries
//!   out the descriptions (the host tests' simulated kernel), and checked
//!   against the maps by [`invariants::check_pmap`].
//! * All address arithmetic is checked; `addr + size` wrapping or rounding past
//!   the top of the address space is `InvalidArgument`.

pub mod copy;
pub mod fault;
pub mod fork;
pub mod invariants;
pub mod map;
pub mod map_attr;
pub mod object;
pub mod pager;
pub mod pmap;
pub mod types;

#[cfg(test)]
mod tests;

pub use copy::{CopyEntry, CopyIn, VmCopy};
pub use fault::{FaultAction, FaultKind, FaultStats, resolve_fault};
pub use fork::Fork;
pub use map::{DEFAULT_MAX_ENTRIES, Deallocation, MapRequest, Region, Unmapped, VmMap, VmMapEntry};
pub use map_attr::Reprotect;
pub use object::{CopyStrategy, Lookup, ObjectId, PageId, Reclaim, ResidentPage, VmObject, VmObjects};
pub use pager::{MAX_ANSWER_PAGES, MAX_PAGER_PAGES, PageState, PagerDeath, PagerPage, PagerStep};
pub use pmap::{Pmap, PmapEntry};
pub use types::{PAGE_SIZE, VmError, VmInherit, VmProt, page_range, round_page, trunc_page};
