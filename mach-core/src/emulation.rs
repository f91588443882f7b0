//! A task's emulation vector: which `syscall` numbers the kernel bounces to
//! an entry point in the task's own memory (Mach's `task_set_emulation_vector`,
//! see `mach_abi::emulation` for the calling convention).
//!
//! The vector is set from untrusted input: [`EmulationVector::set`] checks
//! the whole request before changing anything, and every entry must be a
//! user address, since the kernel later enters user mode there.

use alloc::vec::Vec;
use mach_abi::emulation::{EMULATION_CATCH_ALL, EMULATION_VECTOR_MAX};

/// Why `task_set_emulation_vector` is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmulationError {
    /// `vector_start` below the catch-all index, or the range past
    /// `EMULATION_VECTOR_MAX`.
    BadRange,
    /// An entry (other than 0, which clears) outside the user half.
    BadEntry,
}

/// Entries for numbers `0 ..`, and the catch-all; 0 means "no entry".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EmulationVector {
    catch_all: u64,
    /// Indexed by syscall number; never has trailing zeros.
    entries: Vec<u64>,
}

impl EmulationVector {
    /// No entries: every non-negative number is an exception.
    pub const fn new() -> Self {
        EmulationVector {
            catch_all: 0,
            entries: Vec::new(),
        }
    }

    /// Whether no number is redirected.
    pub fn is_empty(&self) -> bool {
        self.catch_all == 0 && self.entries.is_empty()
    }

    /// The entry a `syscall` with this non-negative number enters, if any:
    /// its own, else the catch-all.
    #[inline]
    pub fn entry(&self, number: u64) -> Option<u64> {
        let own = usize::try_from(number)
            .ok()
            .and_then(|i| self.entries.get(i).copied())
            .unwrap_or(0);
        match own {
            0 if self.catch_all == 0 => None,
            0 => Some(self.catch_all),
            e => Some(e),
        }
    }

    /// Replaces the entries for indices `start .. start + entries.len()`
    /// (index [`EMULATION_CATCH_ALL`] is the catch-all); an entry of 0
    /// clears. Each entry must be below `user_end`. All or nothing.
    pub fn set(&mut self, start: i32, entries: &[u64], user_end: u64) -> Result<(), EmulationError> {
        let len = i64::try_from(entries.len()).map_err(|_| EmulationError::BadRange)?;
        let end = i64::from(start) + len;
        if start < EMULATION_CATCH_ALL || end > i64::from(EMULATION_VECTOR_MAX) {
            return Err(EmulationError::BadRange);
        }
        if entries.iter().any(|&e| e >= user_end) {
            return Err(EmulationError::BadEntry);
        }
        let mut rest = entries;
        if start == EMULATION_CATCH_ALL
            && let Some((&first, tail)) = rest.split_first()
        {
            self.catch_all = first;
            rest = tail;
        }
        // In range: start >= 0 here unless rest is empty.
        let from = usize::try_from(start.max(0)).map_err(|_| EmulationError::BadRange)?;
        if !rest.is_empty() {
            let upto = from + rest.len();
            if self.entries.len() < upto {
                self.entries.resize(upto, 0);
            }
            self.entries[from..upto].copy_from_slice(rest);
        }
        while self.entries.last() == Some(&0) {
            self.entries.pop();
        }
        Ok(())
    }

    /// The whole vector as `task_get_emulation_vector` reports it: it starts
    /// at the catch-all index, so entry `i` is for number `i - 1`.
    pub fn get(&self) -> (i32, Vec<u64>) {
        let mut v = Vec::with_capacity(self.entries.len() + 1);
        v.push(self.catch_all);
        v.extend_from_slice(&self.entries);
        (EMULATION_CATCH_ALL, v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const END: u64 = 0x0000_8000_0000_0000;

    #[test]
    fn empty_vector_redirects_nothing() {
        let v = EmulationVector::new();
        assert!(v.is_empty());
        assert_eq!(v.entry(0), None);
        assert_eq!(v.entry(u64::MAX), None);
    }

    #[test]
    fn own_entries_then_catch_all() {
        let mut v = EmulationVector::new();
        v.set(39, &[0x1000, 0, 0x3000], END).unwrap();
        assert_eq!(v.entry(39), Some(0x1000));
        assert_eq!(v.entry(40), None);
        assert_eq!(v.entry(41), Some(0x3000));
        assert_eq!(v.entry(42), None);
        v.set(EMULATION_CATCH_ALL, &[0x9000], END).unwrap();
        assert_eq!(v.entry(40), Some(0x9000));
        assert_eq!(v.entry(39), Some(0x1000));
        assert_eq!(v.entry(u64::MAX), Some(0x9000));
        assert_eq!(v.entry(1 << 40), Some(0x9000));
    }

    #[test]
    fn catch_all_start_covers_number_zero_next() {
        let mut v = EmulationVector::new();
        v.set(-1, &[0x9000, 0x1000], END).unwrap();
        assert_eq!(v.entry(0), Some(0x1000));
        assert_eq!(v.entry(1), Some(0x9000));
        assert_eq!(v.get(), (-1, alloc::vec![0x9000, 0x1000]));
    }

    #[test]
    fn clearing_trims_and_empties() {
        let mut v = EmulationVector::new();
        v.set(5, &[0x1000, 0x2000], END).unwrap();
        v.set(6, &[0], END).unwrap();
        assert_eq!(v.get(), (-1, alloc::vec![0, 0, 0, 0, 0, 0, 0x1000]));
        v.set(5, &[0], END).unwrap();
        assert!(v.is_empty());
        assert_eq!(v.get(), (-1, alloc::vec![0]));
    }

    #[test]
    fn bad_requests_change_nothing() {
        let mut v = EmulationVector::new();
        v.set(0, &[0x1000], END).unwrap();
        let before = v.clone();
        assert_eq!(v.set(-2, &[0x1000], END), Err(EmulationError::BadRange));
        assert_eq!(v.set(i32::MIN, &[], END), Err(EmulationError::BadRange));
        assert_eq!(
            v.set(EMULATION_VECTOR_MAX, &[0x1000], END),
            Err(EmulationError::BadRange)
        );
        assert_eq!(
            v.set(EMULATION_VECTOR_MAX - 1, &[1, 2], END),
            Err(EmulationError::BadRange)
        );
        assert_eq!(v.set(i32::MAX, &[1], END), Err(EmulationError::BadRange));
        assert_eq!(v.set(0, &[0x1000, END], END), Err(EmulationError::BadEntry));
        assert_eq!(v.set(-1, &[u64::MAX], END), Err(EmulationError::BadEntry));
        assert_eq!(v, before);
        // The last own slot and an empty request are fine.
        v.set(EMULATION_VECTOR_MAX - 1, &[END - 1], END).unwrap();
        assert_eq!(v.entry((EMULATION_VECTOR_MAX - 1) as u64), Some(END - 1));
        v.set(EMULATION_VECTOR_MAX, &[], END).unwrap();
    }
}
