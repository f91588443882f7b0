//! `VmMap`: a task's sparse address map — an ordered set of non-overlapping
//! [`VmMapEntry`]s inside `[min, max)` — with entry clipping, coalescing, and
//! the calls that create and remove mappings (`vm_allocate`, `vm_map`,
//! `vm_deallocate`). Attribute changes live in `map_attr.rs`, `fork` in
//! `fork.rs`.
//!
//! Reference ownership: every entry naming an object holds one reference to it.
//! The map itself takes and drops those references in the [`VmObjects`] passed
//! to each call (clipping references, merging and removal drop), so the model
//! is consistent after every call; what the kernel must do in hardware comes
//! back as descriptions ([`Unmapped`] ranges, [`Reclaim`]ed pages and pagers).

use crate::budget::Budget;
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use super::object::{ObjectId, Reclaim, VmObjects};
use super::types::{VmError, VmInherit, VmProt, page_aligned, page_range, round_page, trunc_page};

/// Default limit on the number of entries in a map.
pub const DEFAULT_MAX_ENTRIES: usize = 4096;

/// One mapped range `[start, end)`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct VmMapEntry {
    pub start: u64,
    pub end: u64,
    /// The object mapped, or `None` for anonymous memory never touched yet (its
    /// object is created by the first fault). Holds one reference.
    pub object: Option<ObjectId>,
    /// Offset in `object` of `start` (0 when `object` is `None`).
    pub offset: u64,
    pub protection: VmProt,
    pub max_protection: VmProt,
    pub inheritance: VmInherit,
    /// Copy-on-write pending: `object` may be shared with a copy, so the first
    /// write must push a shadow object in front of it.
    pub needs_copy: bool,
    pub wired_count: u32,
}

impl VmMapEntry {
    /// Length in bytes.
    pub fn size(&self) -> u64 {
        self.end - self.start
    }

    /// True when `next` directly follows `self` and the two can be one entry.
    pub(super) fn mergeable_with(&self, next: &VmMapEntry) -> bool {
        let same_backing = match (self.object, next.object) {
            (None, None) => true,
            (Some(a), Some(b)) => a == b && self.offset.checked_add(self.size()) == Some(next.offset),
            _ => false,
        };
        self.end == next.start
            && same_backing
            && self.protection == next.protection
            && self.max_protection == next.max_protection
            && self.inheritance == next.inheritance
            && self.needs_copy == next.needs_copy
            && self.wired_count == next.wired_count
    }
}

/// A range the kernel must remove from the hardware page tables. `object` was
/// mapped there at `offset`; the map has already dropped its reference to it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Unmapped {
    pub start: u64,
    pub end: u64,
    pub object: Option<ObjectId>,
    pub offset: u64,
}

impl Unmapped {
    /// What removing entry `e` leaves to unmap.
    pub fn of(e: &VmMapEntry) -> Unmapped {
        Unmapped {
            start: e.start,
            end: e.end,
            object: e.object,
            offset: e.offset,
        }
    }
}

/// Result of removing mappings: unmap `unmapped` in hardware (and flush the
/// TLB), then release what is in `reclaim`.
#[derive(Clone, Default, PartialEq, Eq, Debug)]
pub struct Deallocation {
    pub unmapped: Vec<Unmapped>,
    pub reclaim: Reclaim,
}

/// What `vm_region` reports about one entry.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Region {
    pub start: u64,
    pub end: u64,
    pub protection: VmProt,
    pub max_protection: VmProt,
    pub inheritance: VmInherit,
    pub object: Option<ObjectId>,
    pub offset: u64,
}

/// The object side of a `vm_map` call.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct MapRequest {
    /// The object to map; `None` maps fresh anonymous memory.
    pub object: Option<ObjectId>,
    /// Page-aligned offset into `object`.
    pub offset: u64,
    /// Map a copy-on-write copy instead of the object itself.
    pub copy: bool,
    pub protection: VmProt,
    pub max_protection: VmProt,
    pub inheritance: VmInherit,
}

impl MapRequest {
    /// What `vm_allocate` maps: anonymous, read/write, max all, inherit copy.
    pub const fn anonymous() -> MapRequest {
        MapRequest {
            object: None,
            offset: 0,
            copy: false,
            protection: VmProt::DEFAULT,
            max_protection: VmProt::ALL,
            inheritance: VmInherit::Copy,
        }
    }
}

/// A task's address map.
#[derive(Debug)]
pub struct VmMap {
    pub(super) min: u64,
    pub(super) max: u64,
    pub(super) entries: BTreeMap<u64, VmMapEntry>,
    pub(super) max_entries: usize,
    /// See [`VmMap::revocations`].
    pub(super) revocations: u64,
    id: u64,
    /// The entries all maps together may hold (see [`VmMap::with_budget`]),
    /// and how many of them are this map's.
    budget: Arc<Budget>,
    charged: usize,
}

impl Drop for VmMap {
    fn drop(&mut self) {
        self.budget.give(self.charged);
    }
}

/// Source of [`VmMap::id`]s.
static NEXT_MAP_ID: AtomicU64 = AtomicU64::new(1);

impl VmMap {
    /// An empty map over `[min, max)` (both page-aligned, `min < max`).
    pub fn new(min: u64, max: u64) -> Result<VmMap, VmError> {
        Self::with_max_entries(min, max, DEFAULT_MAX_ENTRIES)
    }

    /// An empty map holding at most `max_entries` entries (at least 1).
    pub fn with_max_entries(min: u64, max: u64, max_entries: usize) -> Result<VmMap, VmError> {
        Self::with_budget(min, max, max_entries, Arc::new(Budget::new(usize::MAX)))
    }

    /// An empty map holding at most `max_entries` entries, whose entries
    /// also count against `budget`, shared by every task's map (and the
    /// maps made from it by [`VmMap::fork`]): growth past either fails with
    /// `NoSpace`, so that tasks filling their maps together cannot run the
    /// kernel heap dry.
    pub fn with_budget(min: u64, max: u64, max_entries: usize, budget: Arc<Budget>) -> Result<VmMap, VmError> {
        if !page_aligned(min) || !page_aligned(max) || min >= max || max_entries == 0 {
            return Err(VmError::InvalidArgument);
        }
        Ok(VmMap {
            min,
            max,
            entries: BTreeMap::new(),
            max_entries,
            revocations: 0,
            id: NEXT_MAP_ID.fetch_add(1, Ordering::Relaxed),
            budget,
            charged: 0,
        })
    }

    /// Counts an entry added (+1) or removed (-1) against the budget
    /// (every insert and removal of `entries` goes through here: the
    /// budget's count is exact).
    #[inline]
    pub(in crate::vm) fn count_entry(&mut self, delta: i8) {
        if delta > 0 {
            self.budget.add(1);
            self.charged += 1;
        } else {
            self.budget.give(1);
            self.charged -= 1;
        }
    }

    /// The budget this map's entries count against.
    pub fn budget(&self) -> &Arc<Budget> {
        &self.budget
    }

    /// How many times an operation may have taken access away from mapped
    /// memory (a deallocation that removed something, a protection change
    /// that lowered one): a check that a range is mapped with some access
    /// holds for as long as this count stays the same (`mach_msg` remembers
    /// its receive-buffer check so). Adding mappings, faults, inheritance,
    /// wiring and copy-on-write copies do not count.
    pub fn revocations(&self) -> u64 {
        self.revocations
    }

    /// A name for this map, distinct from every other map's (what the model
    /// of hardware mappings, [`super::Pmap`], is kept under).
    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn min(&self) -> u64 {
        self.min
    }
    pub fn max(&self) -> u64 {
        self.max
    }
    pub fn max_entries(&self) -> usize {
        self.max_entries
    }
    /// Changes the entry limit (it applies to later growth; existing entries stay).
    pub fn set_max_entries(&mut self, n: usize) {
        self.max_entries = n.max(1);
    }
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    /// The entries in address order.
    pub fn entries(&self) -> impl Iterator<Item = &VmMapEntry> + '_ {
        self.entries.values()
    }

    /// The entry containing `addr`.
    pub fn lookup(&self, addr: u64) -> Option<&VmMapEntry> {
        self.entries
            .range(..=addr)
            .next_back()
            .map(|(_, e)| e)
            .filter(|e| e.end > addr)
    }

    pub(super) fn lookup_mut(&mut self, addr: u64) -> Option<&mut VmMapEntry> {
        self.entries
            .range_mut(..=addr)
            .next_back()
            .map(|(_, e)| e)
            .filter(|e| e.end > addr)
    }

    /// `vm_region`: the first entry containing or following `addr`.
    pub fn region(&self, addr: u64) -> Option<Region> {
        let e = match self.lookup(addr) {
            Some(e) => e,
            None => self.entries.range(addr..).next().map(|(_, e)| e)?,
        };
        Some(Region {
            start: e.start,
            end: e.end,
            protection: e.protection,
            max_protection: e.max_protection,
            inheritance: e.inheritance,
            object: e.object,
            offset: e.offset,
        })
    }

    /// True when no entry intersects `[start, end)`.
    pub fn is_free(&self, start: u64, end: u64) -> bool {
        match self.entries.range(..end).next_back() {
            Some((_, e)) => e.end <= start,
            None => true,
        }
    }

    /// First-fit search for `len` free bytes at or after `from`.
    fn find_space_from(&self, from: u64, len: u64) -> Option<u64> {
        let mut cand = from.max(self.min);
        if let Some(e) = self.lookup(cand) {
            cand = e.end;
        }
        for e in self.entries.range(cand..).map(|(_, e)| e) {
            let end = cand.checked_add(len)?;
            if end > self.max {
                return None;
            }
            if end <= e.start {
                return Some(cand);
            }
            cand = e.end;
        }
        let end = cand.checked_add(len)?;
        (end <= self.max).then_some(cand)
    }

    /// Chooses the range for a new mapping: first fit from the hint (then from
    /// `min`) when `anywhere`, else exactly `[trunc_page(addr), +round_page(size))`.
    pub(super) fn place(&self, addr: u64, size: u64, anywhere: bool) -> Result<(u64, u64), VmError> {
        if size == 0 {
            return Err(VmError::InvalidArgument);
        }
        let len = round_page(size).ok_or(VmError::InvalidArgument)?;
        if self.entries.len() >= self.max_entries || !self.budget.has_room(1) {
            return Err(VmError::NoSpace);
        }
        if anywhere {
            let hint = trunc_page(addr);
            let start = self
                .find_space_from(hint, len)
                .or_else(|| {
                    if hint > self.min {
                        self.find_space_from(self.min, len)
                    } else {
                        None
                    }
                })
                .ok_or(VmError::NoSpace)?;
            return Ok((start, start + len));
        }
        let start = trunc_page(addr);
        let end = start.checked_add(len).ok_or(VmError::InvalidArgument)?;
        if start < self.min || end > self.max {
            return Err(VmError::InvalidAddress);
        }
        if !self.is_free(start, end) {
            return Err(VmError::NoSpace);
        }
        Ok((start, end))
    }

    /// `vm_allocate`: maps `size` bytes of zero-fill memory (read/write, max all,
    /// inherit copy); returns the start address. The object is created lazily
    /// by the first fault.
    pub fn allocate(&mut self, addr: u64, size: u64, anywhere: bool) -> Result<u64, VmError> {
        let (start, end) = self.place(addr, size, anywhere)?;
        let r = MapRequest::anonymous();
        self.insert_entry(start, end, None, 0, false, &r);
        let mut drops = Vec::new();
        self.coalesce(start, end, &mut drops);
        // Only unbacked entries can merge with an unbacked one: `drops` is empty.
        Ok(start)
    }

    /// `vm_map`: maps `[req.offset, req.offset + size)` of `req.object` (or fresh
    /// anonymous memory) with the given protections; with `req.copy` the mapping
    /// is a copy-on-write copy. The map takes its own reference to the object.
    pub fn map_object(
        &mut self,
        objects: &mut VmObjects,
        addr: u64,
        size: u64,
        anywhere: bool,
        req: MapRequest,
    ) -> Result<u64, VmError> {
        if !req.max_protection.contains(req.protection) {
            return Err(VmError::InvalidArgument);
        }
        if size == 0 {
            return Err(VmError::InvalidArgument);
        }
        let len = round_page(size).ok_or(VmError::InvalidArgument)?;
        if let Some(obj) = req.object {
            let o = objects.get(obj).ok_or(VmError::InvalidObject)?;
            if !page_aligned(req.offset) {
                return Err(VmError::InvalidArgument);
            }
            let end = req.offset.checked_add(len).ok_or(VmError::InvalidArgument)?;
            if end > o.size() {
                return Err(VmError::InvalidArgument);
            }
        }
        let (start, end) = self.place(addr, size, anywhere)?;
        if let Some(obj) = req.object {
            objects.reference(obj)?;
        }
        let offset = if req.object.is_some() { req.offset } else { 0 };
        let needs_copy = req.copy && req.object.is_some();
        self.insert_entry(start, end, req.object, offset, needs_copy, &req);
        self.coalesce_and_release(objects, start, end);
        Ok(start)
    }

    pub(super) fn insert_entry(
        &mut self,
        start: u64,
        end: u64,
        object: Option<ObjectId>,
        offset: u64,
        nc: bool,
        r: &MapRequest,
    ) {
        self.count_entry(1);
        self.entries.insert(
            start,
            VmMapEntry {
                start,
                end,
                object,
                offset,
                protection: r.protection,
                max_protection: r.max_protection,
                inheritance: r.inheritance,
                needs_copy: nc,
                wired_count: 0,
            },
        );
    }

    /// Splits the entry strictly containing `addr` (if any) at `addr`; the new
    /// second half takes a reference to the object.
    pub(super) fn clip(&mut self, objects: &mut VmObjects, addr: u64) -> Result<(), VmError> {
        let Some(e) = self.lookup(addr) else { return Ok(()) };
        if e.start == addr {
            return Ok(());
        }
        let mut tail = e.clone();
        tail.start = addr;
        if let Some(obj) = tail.object {
            tail.offset = e.offset.checked_add(addr - e.start).ok_or(VmError::MemoryFailure)?;
            objects.reference(obj)?;
        }
        if let Some(e) = self.lookup_mut(addr) {
            e.end = addr;
        }
        self.count_entry(1);
        self.entries.insert(addr, tail);
        Ok(())
    }

    /// Number of entries clipping `[start, end)` would add.
    pub(super) fn clips_needed(&self, start: u64, end: u64) -> usize {
        let inside = |a: u64| self.lookup(a).is_some_and(|e| e.start < a);
        usize::from(inside(start)) + usize::from(inside(end))
    }

    /// Fails with `NoSpace` when `extra` more entries would pass the limit.
    pub(super) fn check_room(&self, extra: usize) -> Result<(), VmError> {
        match self.entries.len().checked_add(extra) {
            Some(n) if n <= self.max_entries && self.budget.has_room(extra) => Ok(()),
            _ => Err(VmError::NoSpace),
        }
    }

    /// Merges mergeable neighbours among the entries touching `[lo, hi]`; the
    /// object references freed by merging are pushed on `drops`.
    pub(super) fn coalesce(&mut self, lo: u64, hi: u64, drops: &mut Vec<ObjectId>) {
        let first = self.entries.range(..lo).next_back().map_or(lo, |(&k, _)| k);
        let keys: Vec<u64> = self.entries.range(first..=hi).map(|(&k, _)| k).collect();
        let Some((&head, rest)) = keys.split_first() else {
            return;
        };
        let mut cur = head;
        for &k in rest {
            let mergeable = match (self.entries.get(&cur), self.entries.get(&k)) {
                (Some(a), Some(b)) => a.mergeable_with(b),
                _ => false,
            };
            if !mergeable {
                cur = k;
                continue;
            }
            if let Some(b) = self.entries.remove(&k) {
                self.count_entry(-1);
                if let Some(a) = self.entries.get_mut(&cur) {
                    a.end = b.end;
                }
                drops.extend(b.object);
            }
        }
    }

    pub(super) fn coalesce_and_release(&mut self, objects: &mut VmObjects, lo: u64, hi: u64) {
        let mut drops = Vec::new();
        self.coalesce(lo, hi, &mut drops);
        for o in drops {
            objects.drop_duplicate_ref(o);
        }
    }

    /// Validates a range for calls that need it fully mapped and inside the map.
    pub(super) fn mapped_range(&self, addr: u64, size: u64) -> Result<Option<(u64, u64)>, VmError> {
        let Some((start, end)) = page_range(addr, size)? else {
            return Ok(None);
        };
        if start < self.min || end > self.max {
            return Err(VmError::InvalidAddress);
        }
        let mut expect = start;
        let first = self.lookup(start).ok_or(VmError::InvalidAddress)?;
        for e in core::iter::once(first).chain(self.entries.range(start + 1..end).map(|(_, e)| e)) {
            if e.start > expect {
                return Err(VmError::InvalidAddress);
            }
            expect = e.end;
        }
        if expect < end {
            return Err(VmError::InvalidAddress);
        }
        Ok(Some((start, end)))
    }

    /// `vm_deallocate`: removes every mapping in `[trunc_page(addr),
    /// round_page(addr + size))`, clipping entries that straddle the ends.
    /// Unmapped parts of the range (and parts outside the map) are ignored;
    /// `size == 0` does nothing. The map drops the removed entries' object
    /// references itself; the result says what to unmap and free.
    pub fn deallocate(&mut self, objects: &mut VmObjects, addr: u64, size: u64) -> Result<Deallocation, VmError> {
        let Some((start, end)) = page_range(addr, size)? else {
            return Ok(Deallocation::default());
        };
        let (start, end) = (start.max(self.min), end.min(self.max));
        if start >= end {
            return Ok(Deallocation::default());
        }
        // Only a hole punched in the middle of one entry adds an entry.
        let splits_one = self.lookup(start).is_some_and(|e| e.start < start && e.end > end);
        if splits_one {
            self.check_room(1)?;
        }
        self.clip(objects, start)?;
        self.clip(objects, end)?;
        let keys: Vec<u64> = self.entries.range(start..end).map(|(&k, _)| k).collect();
        let mut out = Deallocation::default();
        let mut drops = Vec::new();
        for k in keys {
            if let Some(e) = self.entries.remove(&k) {
                self.count_entry(-1);
                out.unmapped.push(Unmapped::of(&e));
                drops.extend(e.object);
            }
        }
        if !out.unmapped.is_empty() {
            self.revocations = self.revocations.wrapping_add(1);
        }
        for o in drops {
            // A missing object means the map was used with another arena; there
            // is nothing to release for it.
            if let Ok(r) = objects.deallocate(o) {
                out.reclaim.merge(r);
            }
        }
        Ok(out)
    }

    /// Removes every mapping (task termination).
    pub fn destroy(&mut self, objects: &mut VmObjects) -> Deallocation {
        let (min, max) = (self.min, self.max);
        self.deallocate(objects, min, max - min).unwrap_or_default()
    }
}
