//! Port names: what a task calls a right. A name is a table index plus a
//! generation number, local to one IPC space, so a freed name does not silently
//! denote a new right when the slot is reused.
//!
//! Layout: `index << GEN_BITS | generation`. Index 0 is never used, so no name is
//! `MACH_PORT_NULL`; the largest index is never used, so no name is
//! `MACH_PORT_DEAD`. A slot whose generation would wrap is retired for good.

use crate::ipc::Name;

/// Bits of generation in a name.
pub const GEN_BITS: u32 = 8;
/// Generations a slot goes through before it is retired.
pub const GEN_LIMIT: u32 = 1 << GEN_BITS;
/// Largest usable table index (all-ones is reserved so no name is MACH_PORT_DEAD).
pub const MAX_INDEX: u32 = (u32::MAX >> GEN_BITS) - 1;

pub const fn make(index: u32, generation: u32) -> Name {
    (index << GEN_BITS) | (generation & (GEN_LIMIT - 1))
}

pub const fn index(name: Name) -> u32 {
    name >> GEN_BITS
}

pub const fn generation(name: Name) -> u32 {
    name & (GEN_LIMIT - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mach_abi::message::{MACH_PORT_DEAD, MACH_PORT_NULL};

    #[test]
    fn round_trip() {
        let n = make(5, 3);
        assert_eq!(index(n), 5);
        assert_eq!(generation(n), 3);
    }

    #[test]
    fn never_null_or_dead() {
        for i in [1, 2, MAX_INDEX] {
            for g in [0, 1, GEN_LIMIT - 1] {
                let n = make(i, g);
                assert_ne!(n, MACH_PORT_NULL);
                assert_ne!(n, MACH_PORT_DEAD);
            }
        }
    }
}
