//! Host tests of the VM model: types and rounding, map clipping and merging,
//! objects and shadow chains, fault resolution with copy-on-write and fork, and
//! a randomized operation sequence, all checked with [`super::invariants`].

mod copy_tests;
mod fault_tests;
mod fork_tests;
mod harness;
mod invariant_tests;
mod map_bounds_tests;
mod map_tests;
mod object_tests;
mod pager_tests;
mod pmap_tests;
mod random;
mod types_tests;
