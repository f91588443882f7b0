//! A budget of kernel memory (or of objects) that several owners draw on:
//! all IPC spaces' name tables share one, all VM maps' entries another, so
//! that tasks filling their own limits together cannot run the kernel heap
//! dry. Each owner takes before it grows and gives back what it held when
//! it shrinks or dies; a take past the limit fails and changes nothing.

use core::sync::atomic::{AtomicUsize, Ordering};

/// Units (bytes or entries) in use against a limit.
#[derive(Debug, Default)]
pub struct Budget {
    used: AtomicUsize,
    limit: AtomicUsize,
}

/// A take that would pass the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverBudget;

impl Budget {
    pub fn new(limit: usize) -> Self {
        Budget {
            used: AtomicUsize::new(0),
            limit: AtomicUsize::new(limit),
        }
    }

    pub fn set_limit(&self, units: usize) {
        self.limit.store(units, Ordering::Relaxed);
    }

    /// Units in use now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Whether `units` more would stay within the limit.
    pub fn has_room(&self, units: usize) -> bool {
        self.used()
            .checked_add(units)
            .is_some_and(|n| n <= self.limit.load(Ordering::Relaxed))
    }

    /// Takes `units` more, or fails leaving the total as it was.
    pub fn take(&self, units: usize) -> Result<(), OverBudget> {
        if !self.has_room(units) {
            return Err(OverBudget);
        }
        self.add(units);
        Ok(())
    }

    /// Counts `units` already in use (growth the owner could not refuse).
    pub fn add(&self, units: usize) {
        self.used.fetch_add(units, Ordering::Relaxed);
    }

    /// Gives back `units`.
    pub fn give(&self, units: usize) {
        let used = self.used();
        self.used.store(used.saturating_sub(units), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_stop_at_the_limit_and_gives_make_room() {
        let b = Budget::new(10);
        assert_eq!(b.take(6), Ok(()));
        assert_eq!(b.take(5), Err(OverBudget));
        assert_eq!(b.used(), 6);
        assert_eq!(b.take(4), Ok(()));
        assert!(!b.has_room(1));
        b.give(7);
        assert_eq!(b.used(), 3);
        assert!(b.has_room(7));
        assert!(!b.has_room(usize::MAX));
        b.give(100);
        assert_eq!(b.used(), 0);
    }
}
