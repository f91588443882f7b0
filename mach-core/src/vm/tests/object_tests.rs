//! Tests of `VmObjects`: creation and references, the page cache, pagers,
//! shadow-chain lookups, and collapse (merge, bypass, cover).

use super::harness::*;
use crate::vm::*;
use std::vec;

#[test]
fn create_reference_deallocate() {
    let mut s = Sim::new();
    assert_eq!(s.objects.create(0, None), Err(VmError::InvalidArgument));
    assert_eq!(s.objects.create(P + 1, None), Err(VmError::InvalidArgument));
    let o = s.objects.create(2 * P, Some(5)).unwrap();
    s.objects.reference(o).unwrap();
    let f = s.frame(1);
    s.objects.insert_page(o, P, f).unwrap();
    assert!(s.objects.deallocate(o).unwrap().is_empty());
    let r = s.objects.deallocate(o).unwrap();
    assert_eq!(
        r,
        Reclaim {
            pages: vec![f],
            pagers: vec![5]
        }
    );
    s.reclaim(r);
    assert_eq!(s.objects.deallocate(o), Err(VmError::InvalidObject));
    assert_eq!(s.objects.reference(o), Err(VmError::InvalidObject));
    s.check_empty();
}

#[test]
fn page_cache_insert_lookup_remove() {
    let mut s = Sim::new();
    let o = s.objects.create(4 * P, None).unwrap();
    s.external.push(o);
    assert_eq!(s.objects.lookup_page(o, 0), Ok(Lookup::ZeroFill { object: o }));
    let f = s.frame(3);
    s.objects.insert_page(o, 2 * P, f).unwrap();
    assert_eq!(
        s.objects.lookup_page(o, 2 * P + 17),
        Ok(Lookup::Found {
            object: o,
            page: f,
            in_top: true
        })
    );
    assert_eq!(s.objects.insert_page(o, 2 * P, 999), Err(VmError::MemoryPresent));
    assert_eq!(s.objects.insert_page(o, 4 * P, 999), Err(VmError::InvalidArgument));
    assert_eq!(s.objects.insert_page(o, 5, 999), Err(VmError::InvalidArgument));
    assert_eq!(s.objects.lookup_page(o, 4 * P), Err(VmError::InvalidArgument));
    assert_eq!(s.objects.lookup_page(o, u64::MAX), Err(VmError::InvalidArgument));
    assert_eq!(s.objects.lookup_page(999, 0), Err(VmError::InvalidObject));
    s.objects.set_dirty(o, 2 * P, true).unwrap();
    assert!(s.objects.get(o).unwrap().page(2 * P).unwrap().dirty);
    assert_eq!(s.objects.set_dirty(o, 0, true), Err(VmError::InvalidArgument));
    s.check(&[]);
    s.evict(o, 2 * P);
    assert_eq!(s.objects.remove_page(o, 2 * P), Ok(None));
    assert_eq!(s.objects.lookup_page(o, 2 * P), Ok(Lookup::ZeroFill { object: o }));
    s.release(o);
    s.check_empty();
}

#[test]
fn pager_backed_object_needs_pager_then_found() {
    let mut s = Sim::new();
    let o = s.objects.create(4 * P, Some(42)).unwrap();
    s.external.push(o);
    assert_eq!(
        s.objects.lookup_page(o, P),
        Ok(Lookup::NeedsPager {
            object: o,
            pager: 42,
            offset: P
        })
    );
    let f = s.frame(7);
    s.objects.insert_page(o, P, f).unwrap();
    assert_eq!(
        s.objects.lookup_page(o, P),
        Ok(Lookup::Found {
            object: o,
            page: f,
            in_top: true
        })
    );
    // Through a shadow, the pager is asked on behalf of the backing object.
    let sh = s.objects.shadow(o, P, 2 * P).unwrap();
    s.objects.reference(o).unwrap(); // the shadow took over our reference; keep one
    s.external.push(sh);
    assert_eq!(
        s.objects.lookup_page(sh, 0),
        Ok(Lookup::Found {
            object: o,
            page: f,
            in_top: false
        })
    );
    assert_eq!(
        s.objects.lookup_page(sh, P),
        Ok(Lookup::NeedsPager {
            object: o,
            pager: 42,
            offset: 2 * P
        })
    );
    s.check(&[]);
    s.release(sh);
    s.release(o);
    assert_eq!(s.terminated, vec![42]);
    s.check_empty();
}

#[test]
fn shadow_validation() {
    let mut s = Sim::new();
    let o = s.objects.create(4 * P, None).unwrap();
    s.external.push(o);
    assert_eq!(s.objects.shadow(o, 0, 5 * P), Err(VmError::InvalidArgument));
    assert_eq!(s.objects.shadow(o, 3 * P, 2 * P), Err(VmError::InvalidArgument));
    assert_eq!(
        s.objects.shadow(o, u64::MAX - P + 1, 2 * P),
        Err(VmError::InvalidArgument)
    );
    assert_eq!(s.objects.shadow(o, 1, P), Err(VmError::InvalidArgument));
    assert_eq!(s.objects.shadow(o, 0, 0), Err(VmError::InvalidArgument));
    assert_eq!(s.objects.shadow(77, 0, P), Err(VmError::InvalidObject));
    s.check(&[]);
    s.release(o);
    s.check_empty();
}

/// Builds top -> mid -> bottom, each holding a page at its own offset 0..:
/// bottom has pages 0,1,2; mid (offset P into bottom) has page 0; top (offset 0
/// into mid) has nothing. Returns (top, mid, bottom); the only external
/// reference is to top.
fn chain(s: &mut Sim) -> (ObjectId, ObjectId, ObjectId) {
    let bottom = s.objects.create(4 * P, None).unwrap();
    for i in 0..3 {
        let f = s.frame(100 + i);
        s.objects.insert_page(bottom, i * P, f).unwrap();
    }
    let mid = s.objects.shadow(bottom, P, 3 * P).unwrap();
    let f = s.frame(200);
    s.objects.insert_page(mid, 0, f).unwrap();
    let top = s.objects.shadow(mid, 0, 2 * P).unwrap();
    s.external.push(top);
    (top, mid, bottom)
}

#[test]
fn lookup_walks_the_chain() {
    let mut s = Sim::new();
    let (top, mid, bottom) = chain(&mut s);
    assert_eq!(s.objects.chain_depth(top), Ok(3));
    let Lookup::Found { object, in_top, page } = s.objects.lookup_page(top, 0).unwrap() else {
        panic!()
    };
    assert_eq!((object, in_top, s.contents[&page]), (mid, false, 200));
    let Lookup::Found { object, page, .. } = s.objects.lookup_page(top, P).unwrap() else {
        panic!()
    };
    assert_eq!((object, s.contents[&page]), (bottom, 102));
    assert_eq!(s.objects.lookup_page(mid, 2 * P), Ok(Lookup::ZeroFill { object: mid }));
    s.check(&[]);
}

#[test]
fn collapse_merges_sole_shadows() {
    let mut s = Sim::new();
    let (top, _mid, _bottom) = chain(&mut s);
    let f = s.frame(300);
    s.objects.insert_page(top, P, f).unwrap();
    let r = s.objects.collapse(top).unwrap();
    // mid is merged into top (its page 0 moves up); top is then fully resident,
    // so bottom is dropped and its three pages are freed.
    assert_eq!(r.pages.len(), 3);
    s.reclaim(r);
    assert_eq!(s.objects.chain_depth(top), Ok(1));
    assert_eq!(s.objects.len(), 1);
    let Lookup::Found { page, in_top, .. } = s.objects.lookup_page(top, 0).unwrap() else {
        panic!()
    };
    assert!(in_top);
    assert_eq!(s.contents[&page], 200);
    s.check(&[]);
    s.release(top);
    s.check_empty();
}

#[test]
fn collapse_bypasses_shared_shadow_when_hidden() {
    let mut s = Sim::new();
    let (top, mid, bottom) = chain(&mut s);
    // Someone else also holds mid, so it cannot be merged.
    s.objects.reference(mid).unwrap();
    s.external.push(mid);
    // mid's only page (offset 0) is visible through top: no bypass.
    assert!(s.objects.collapse(top).unwrap().is_empty());
    assert_eq!(s.objects.chain_depth(top), Ok(3));
    // Hide it with a page of top: now top can point at bottom directly.
    let f = s.frame(400);
    s.objects.insert_page(top, 0, f).unwrap();
    let r = s.objects.collapse(top).unwrap();
    assert!(r.is_empty());
    assert_eq!(s.objects.get(top).unwrap().shadow(), Some((bottom, P)));
    assert_eq!(s.objects.chain_depth(top), Ok(2));
    let Lookup::Found { page, .. } = s.objects.lookup_page(top, P).unwrap() else {
        panic!()
    };
    assert_eq!(s.contents[&page], 102);
    s.check(&[]);
    // Dropping the other holder of mid frees it (nobody shadows it any more).
    s.release(mid);
    assert!(s.objects.get(mid).is_none());
    s.check(&[]);
    s.release(top);
    s.check_empty();
}

#[test]
fn collapse_drops_shadow_when_fully_covered() {
    let mut s = Sim::new();
    let (top, mid, _bottom) = chain(&mut s);
    s.objects.reference(mid).unwrap();
    s.external.push(mid);
    for i in 0..2 {
        let f = s.frame(500 + i);
        s.objects.insert_page(top, i * P, f).unwrap();
    }
    let r = s.objects.collapse(top).unwrap();
    assert!(r.is_empty());
    assert_eq!(s.objects.chain_depth(top), Ok(1));
    assert_eq!(s.objects.ref_count(mid), 1);
    s.check(&[]);
    s.release(mid);
    s.release(top);
    s.check_empty();
}

#[test]
fn pager_backed_shadows_are_not_collapsed() {
    let mut s = Sim::new();
    let o = s.objects.create(2 * P, Some(9)).unwrap();
    let sh = s.objects.shadow(o, 0, 2 * P).unwrap();
    s.external.push(sh);
    assert!(s.objects.collapse(sh).unwrap().is_empty());
    assert_eq!(s.objects.chain_depth(sh), Ok(2));
    s.check(&[]);
    s.release(sh);
    assert_eq!(s.terminated, vec![9]);
    s.check_empty();
}

#[test]
fn set_pager_once() {
    let mut s = Sim::new();
    let o = s.objects.create(P, None).unwrap();
    s.external.push(o);
    s.objects.set_pager(o, 1).unwrap();
    assert_eq!(s.objects.set_pager(o, 2), Err(VmError::InvalidArgument));
    s.release(o);
    assert_eq!(s.terminated, vec![1]);
    s.check_empty();
}

#[test]
fn arena_and_shadow_accessors() {
    let mut s = Sim::new();
    assert!(s.objects.is_empty());
    let (top, mid, bottom) = chain(&mut s);
    assert!(!s.objects.is_empty());
    assert_eq!(s.objects.get(bottom).unwrap().shadowers(), &[mid]);
    assert_eq!(s.objects.get(mid).unwrap().shadowers(), &[top]);
    assert!(s.objects.get(top).unwrap().shadowers().is_empty());
    s.release(top);
    assert!(s.objects.is_empty());
    s.check_empty();
}

#[test]
fn reclaim_is_empty_only_without_pages_and_pagers() {
    assert!(Reclaim::default().is_empty());
    let pages = Reclaim {
        pages: vec![1],
        pagers: vec![],
    };
    let pagers = Reclaim {
        pages: vec![],
        pagers: vec![2],
    };
    assert!(!pages.is_empty());
    assert!(!pagers.is_empty());
    let mut both = pages.clone();
    both.merge(pagers);
    assert_eq!(
        both,
        Reclaim {
            pages: vec![1],
            pagers: vec![2]
        }
    );
}

#[test]
fn dropping_a_duplicate_reference_never_drops_the_last() {
    let mut s = Sim::new();
    let o = s.objects.create(P, None).unwrap();
    s.objects.reference(o).unwrap();
    s.objects.drop_duplicate_ref(o);
    assert_eq!(s.objects.ref_count(o), 1);
    // Misused on the last reference, it leaves the object alive and counted.
    s.objects.drop_duplicate_ref(o);
    assert_eq!(s.objects.ref_count(o), 1);
    s.external.push(o);
    s.check(&[]);
    s.release(o);
    s.check_empty();
}

#[test]
fn bypass_ignores_pages_outside_the_window() {
    let mut s = Sim::new();
    let (top, mid, bottom) = chain(&mut s);
    s.objects.reference(mid).unwrap();
    s.external.push(mid);
    // mid's page 2 lies just past top's two-page window: top never sees it.
    let outside = s.frame(300);
    s.objects.insert_page(mid, 2 * P, outside).unwrap();
    let f = s.frame(400);
    s.objects.insert_page(top, 0, f).unwrap();
    assert!(s.objects.collapse(top).unwrap().is_empty());
    assert_eq!(s.objects.get(top).unwrap().shadow(), Some((bottom, P)));
    assert_eq!(s.objects.get(mid).unwrap().page(2 * P).map(|r| r.page), Some(outside));
    s.check(&[]);
    s.release(mid);
    s.release(top);
    s.check_empty();
}

/// A flood of objects leaves no table behind once the objects are gone:
/// `shrink` gives their slots back (the kernel calls it when idle), the
/// live object stays where it is, and an id of an object whose slot was cut
/// off never finds a later object.
#[test]
fn shrink_gives_back_the_slots_of_dead_objects() {
    let mut s = Sim::new();
    let keep = s.objects.create(P, None).unwrap();
    let flood: std::vec::Vec<ObjectId> = (0..1000).map(|_| s.objects.create(P, None).unwrap()).collect();
    for &o in &flood {
        assert!(s.objects.deallocate(o).unwrap().is_empty());
    }
    assert!(s.objects.shrink(0), "the dead objects' slots are given back");
    assert!(!s.objects.shrink(0), "nothing left to give back");
    assert!(s.objects.get(keep).is_some());
    let later: std::vec::Vec<ObjectId> = (0..1000).map(|_| s.objects.create(P, None).unwrap()).collect();
    for o in &flood {
        assert!(!later.contains(o), "a dead object's id names a new object");
        assert!(s.objects.get(*o).is_none());
    }
    for o in later.into_iter().chain([keep]) {
        assert!(s.objects.deallocate(o).unwrap().is_empty());
    }
    s.check_empty();
}
