//! `Pmap`: the model of one address map's hardware mappings (Mach's `pmap`),
//! virtual page → (physical page, writable). The VM model never touches it:
//! whoever carries out the model's descriptions keeps it (the host tests'
//! simulated kernel does; the kernel's own pmap is its page tables). Fault
//! actions enter mappings; [`Unmapped`](super::Unmapped) ranges remove them;
//! [`Reprotect`](super::Reprotect) ranges and write-protect lists
//! ([`Fork::write_protect`](super::Fork), [`CopyIn::write_protect`](super::CopyIn))
//! lower them; a copy-on-write copy removes the mappings of the page it
//! copied. [`super::invariants::check_pmap`] checks a pmap against its map:
//! every mapping shows the page a fault would find there, and a writable one
//! only a page of the entry's top object that the entry may write.

use alloc::collections::BTreeMap;

use super::object::PageId;
use super::types::{VmProt, trunc_page};

/// One hardware mapping.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PmapEntry {
    pub page: PageId,
    pub writable: bool,
}

/// The hardware mappings of one map, by page-aligned virtual address.
#[derive(Clone, Default, Debug)]
pub struct Pmap {
    entries: BTreeMap<u64, PmapEntry>,
}

impl Pmap {
    pub fn new() -> Pmap {
        Pmap::default()
    }

    /// Enters (or replaces) the mapping of the page holding `va`.
    pub fn enter(&mut self, va: u64, page: PageId, writable: bool) {
        self.entries.insert(trunc_page(va), PmapEntry { page, writable });
    }

    /// The mapping of the page holding `va`.
    pub fn lookup(&self, va: u64) -> Option<PmapEntry> {
        self.entries.get(&trunc_page(va)).copied()
    }

    /// Removes the mappings in `[start, end)`.
    pub fn remove(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        let gone: alloc::vec::Vec<u64> = self.entries.range(start..end).map(|(&va, _)| va).collect();
        for va in gone {
            self.entries.remove(&va);
        }
    }

    /// Lowers the mappings in `[start, end)` to `prot` (never raises): no
    /// read access removes them (x86 cannot map a page it cannot read), no
    /// write access makes them read-only.
    pub fn lower(&mut self, start: u64, end: u64, prot: VmProt) {
        if !prot.contains(VmProt::READ) {
            return self.remove(start, end);
        }
        if !prot.contains(VmProt::WRITE) {
            self.write_protect(start, end);
        }
    }

    /// Makes the mappings in `[start, end)` read-only.
    pub fn write_protect(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        for (_, e) in self.entries.range_mut(start..end) {
            e.writable = false;
        }
    }

    /// Removes every mapping of `page`; returns how many there were.
    pub fn remove_page(&mut self, page: PageId) -> usize {
        let before = self.entries.len();
        self.entries.retain(|_, e| e.page != page);
        before - self.entries.len()
    }

    /// The mappings, as `(va, entry)` in address order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, PmapEntry)> + '_ {
        self.entries.iter().map(|(&va, &e)| (va, e))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
