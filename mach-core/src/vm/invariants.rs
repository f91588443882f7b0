//! The consistency checker for the VM model: map entry ordering and bounds,
//! object reference counts against the references that actually exist, shadow
//! links and back-links, that no physical page is cached twice, that the
//! pager protocol's page states agree with the resident pages, and
//! ([`check_pmap`]) that a model of the hardware mappings agrees with its map.

use alloc::vec::Vec;

use super::map::VmMap;
use super::object::{Lookup, ObjectId, PageId, VmObject, VmObjects};
use super::pager::{MAX_PAGER_PAGES, PagerPage};
use super::pmap::Pmap;
use super::types::{PAGE_SIZE, VmProt, page_aligned};
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
    /// A pager protocol state that cannot be: on an anonymous object, outside
    /// the object, requested (or zero-fill, or error) and resident at once,
    /// unlock-requested but not resident, requested of a dead pager, or an
    /// outstanding count that differs from the requests or passes the bound.
    BadPagerState { object: ObjectId, offset: u64 },
    /// A hardware mapping shows a page other than the one a fault would find
    /// at that address (or maps an address no entry allows any access to).
    StaleMapping { va: u64 },
    /// A writable hardware mapping of a page that is not its entry's top
    /// object's, or through an entry that may not write it (read-only,
    /// copy pending, or locked by the pager).
    WritableMapping { va: u64 },
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
        check_pager_pages(id, o)?;
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

/// The pager protocol states of object `id`.
fn check_pager_pages(id: ObjectId, o: &VmObject) -> Result<(), Violation> {
    let mut outstanding = 0u32;
    for (offset, state) in o.pager_pages() {
        let bad = Err(Violation::BadPagerState { object: id, offset });
        if o.pager().is_none() || !page_aligned(offset) || offset >= o.size {
            return bad;
        }
        let resident = o.page(offset).is_some();
        let fine = match state {
            PagerPage::Requested => !resident && !o.pager_dead(),
            PagerPage::UnlockRequested => resident && !o.pager_dead(),
            PagerPage::Unavailable | PagerPage::Error => !resident,
        };
        if !fine {
            return bad;
        }
        if matches!(state, PagerPage::Requested | PagerPage::UnlockRequested) {
            outstanding += 1;
        }
    }
    if outstanding != o.outstanding() || outstanding > MAX_PAGER_PAGES {
        return Err(Violation::BadPagerState { object: id, offset: 0 });
    }
    Ok(())
}

/// Checks the hardware mappings `pmap` of `map`: each shows exactly the page
/// that resolving a fault there would find (so a copy made into an object
/// hides every older mapping of the page it copied), through an entry that
/// allows some access; a writable one shows a page of the entry's top object
/// through an entry that may write (no copy pending, no pager lock on write).
pub fn check_pmap(objects: &VmObjects, map: &VmMap, pmap: &Pmap) -> Result<(), Violation> {
    for (va, m) in pmap.iter() {
        let stale = Err(Violation::StaleMapping { va });
        let Some(e) = map.lookup(va) else { return stale };
        let Some(top) = e.object else { return stale };
        if e.protection.is_empty() {
            return stale;
        }
        let Some(offset) = e.offset.checked_add(va - e.start) else {
            return stale;
        };
        let Ok(Lookup::Found { object, page, in_top }) = objects.lookup_page(top, offset) else {
            return stale;
        };
        if page != m.page {
            return stale;
        }
        if m.writable {
            let (lock, _) = objects.found_lock(top, offset, object);
            if !in_top || !e.protection.contains(VmProt::WRITE) || e.needs_copy || lock.contains(VmProt::WRITE) {
                return Err(Violation::WritableMapping { va });
            }
        }
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
