//! The consistency checker for the VM model: map entry ordering and bounds,
//! object reference counts against the references that actually exist, shadow
//! links and back-links, and that no physical page is cached twice.

use alloc::vec::Vec;

use super::map::VmMap;
use super::object::{ObjectId, PageId, VmObjects};
use super::types::{PAGE_SIZE, page_aligned};
use crate::ipc::idmap::FastHashMap;

/// The first inconsistency found.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Violation {
    /// An entry is empty, unaligned, outside the map, or keyed wrongly.
    BadEntry { start: u64 },
    /// Entries overlap or are out of order.
    Overlap { start: u64 },
    /// Two neighbouring entries should have been merged.
    Unmerged { start: u64 },
    /// More entries than the map's limit.
    TooManyEntries,
    /// An entry's protection exceeds its maximum, or an unbacked entry has
    /// `needs_copy` or an offset.
    BadAttributes { start: u64 },
    /// An entry names an object that does not exist, or a range beyond its end.
    BadObjectRange { start: u64 },
    /// An object's reference count differs from the references found.
    RefCount {
        object: ObjectId,
        counted: u32,
        expected: u64,
    },
    /// A shadow link is dangling, out of range, cyclic, or its back-link is wrong.
    BadShadow { object: ObjectId },
    /// A resident page lies outside its object or is unaligned.
    BadPage { object: ObjectId, offset: u64 },
    /// The same physical page is cached in two places.
    DuplicatePage { page: PageId },
}

/// Checks `maps` and `objects` together. `external` lists references held
/// outside the maps (one element per reference).
pub fn check(objects: &VmObjects, maps: &[&VmMap], external: &[ObjectId]) -> Result<(), Violation> {
    let mut refs: FastHashMap<ObjectId, u64> = FastHashMap::default();
    for m in maps {
        check_map(objects, m, &mut refs)?;
    }
    for &o in external {
        *refs.entry(o).or_default() += 1;
    }
    let mut pages: FastHashMap<PageId, ()> = FastHashMap::default();
    for (id, o) in objects.iter() {
        if !page_aligned(o.size) || o.size == 0 {
            return Err(Violation::BadShadow { object: id });
        }
        if let Some((s, so)) = o.shadow {
            let b = objects.get(s).ok_or(Violation::BadShadow { object: id })?;
            let end = so.checked_add(o.size).ok_or(Violation::BadShadow { object: id })?;
            if end > b.size || !page_aligned(so) || b.shadowers.iter().filter(|&&x| x == id).count() != 1 {
                return Err(Violation::BadShadow { object: id });
            }
            *refs.entry(s).or_default() += 1;
            if objects.chain_depth(id).is_err() {
                return Err(Violation::BadShadow { object: id });
            }
        }
        for &t in &o.shadowers {
            if objects.get(t).and_then(|t| t.shadow).map(|(s, _)| s) != Some(id) {
                return Err(Violation::BadShadow { object: id });
            }
        }
        for (off, r) in o.resident() {
            if !page_aligned(off) || off >= o.size {
                return Err(Violation::BadPage {
                    object: id,
                    offset: off,
                });
            }
            if pages.insert(r.page, ()).is_some() {
                return Err(Violation::DuplicatePage { page: r.page });
            }
        }
    }
    for (id, o) in objects.iter() {
        let expected = refs.remove(&id).unwrap_or(0);
        if u64::from(o.ref_count) != expected || expected == 0 {
            return Err(Violation::RefCount {
                object: id,
                counted: o.ref_count,
                expected,
            });
        }
    }
    // References to objects that do not exist.
    if let Some((&object, &expected)) = refs.iter().next() {
        return Err(Violation::RefCount {
            object,
            counted: 0,
            expected,
        });
    }
    Ok(())
}

fn check_map(objects: &VmObjects, m: &VmMap, refs: &mut FastHashMap<ObjectId, u64>) -> Result<(), Violation> {
    if m.entries.len() > m.max_entries {
        return Err(Violation::TooManyEntries);
    }
    let mut prev: Option<&super::map::VmMapEntry> = None;
    for (&k, e) in &m.entries {
        let start = e.start;
        if k != start || e.start >= e.end || !page_aligned(e.start) || !page_aligned(e.end) {
            return Err(Violation::BadEntry { start });
        }
        if e.start < m.min || e.end > m.max {
            return Err(Violation::BadEntry { start });
        }
        if let Some(p) = prev {
            if p.end > e.start {
                return Err(Violation::Overlap { start });
            }
            if p.mergeable_with(e) {
                return Err(Violation::Unmerged { start });
            }
        }
        if !e.max_protection.contains(e.protection) {
            return Err(Violation::BadAttributes { start });
        }
        match e.object {
            None if e.needs_copy || e.offset != 0 => return Err(Violation::BadAttributes { start }),
            None => {}
            Some(o) => {
                let obj = objects.get(o).ok_or(Violation::BadObjectRange { start })?;
                let end = e
                    .offset
                    .checked_add(e.size())
                    .ok_or(Violation::BadObjectRange { start })?;
                if end > obj.size || e.offset % PAGE_SIZE != 0 {
                    return Err(Violation::BadObjectRange { start });
                }
                *refs.entry(o).or_default() += 1;
            }
        }
        prev = Some(e);
    }
    Ok(())
}

/// Every page cached in any object (for leak checks in tests and audits).
pub fn resident_pages(objects: &VmObjects) -> Vec<PageId> {
    objects
        .iter()
        .flat_map(|(_, o)| o.resident().map(|(_, r)| r.page))
        .collect()
}
