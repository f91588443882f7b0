//! Tests of the checker itself (`vm::invariants::check`): each test builds a
//! valid state, breaks one thing on purpose, and asserts the check reports
//! exactly that; the states just inside each bound pass.

use super::harness::*;
use crate::vm::invariants::{Violation, check};
use crate::vm::*;

fn verdict(s: &Sim, maps: &[&VmMap]) -> Result<(), Violation> {
    check(&s.objects, maps, &s.external)
}

/// A map with one entry of four pages at `MIN`, page 0 written (so backed
/// by an object).
fn base() -> (Sim, VmMap, ObjectId) {
    let mut s = Sim::new();
    let mut m = Sim::map();
    assert_eq!(m.allocate(MIN, 4 * P, false), Ok(MIN));
    s.write(&mut m, MIN, 1);
    let obj = m.lookup(MIN).unwrap().object.unwrap();
    assert_eq!(verdict(&s, &[&m]), Ok(()));
    (s, m, obj)
}

fn entry(m: &mut VmMap, start: u64) -> &mut VmMapEntry {
    m.entries.get_mut(&start).unwrap()
}

/// An unbacked entry `[start, end)` with the default attributes but `prot`.
fn raw_entry(start: u64, end: u64, prot: VmProt) -> VmMapEntry {
    VmMapEntry {
        start,
        end,
        object: None,
        offset: 0,
        protection: prot,
        max_protection: VmProt::ALL,
        inheritance: VmInherit::Copy,
        needs_copy: false,
        wired_count: 0,
    }
}

#[test]
fn entry_limit_is_checked() {
    let (s, mut m, _) = base();
    m.max_entries = 1;
    assert_eq!(verdict(&s, &[&m]), Ok(()));
    m.max_entries = 0;
    assert_eq!(verdict(&s, &[&m]), Err(Violation::TooManyEntries));
}

#[test]
fn malformed_entries_are_caught() {
    let bad = Err(Violation::BadEntry { start: MIN });
    // Keyed under another address.
    let (s, mut m, _) = base();
    let mut e = m.entries.remove(&MIN).unwrap();
    e.start = MIN + P;
    m.entries.insert(MIN, e);
    assert_eq!(verdict(&s, &[&m]), Err(Violation::BadEntry { start: MIN + P }));
    // Empty, reversed, unaligned at either end.
    for end in [MIN, MIN - P, MIN + 4 * P + 1] {
        let (s, mut m, _) = base();
        entry(&mut m, MIN).end = end;
        assert_eq!(verdict(&s, &[&m]), bad, "end {end:#x}");
    }
    let mut m = Sim::map();
    m.entries.insert(MIN + 1, raw_entry(MIN + 1, MIN + P, VmProt::DEFAULT));
    assert_eq!(verdict(&Sim::new(), &[&m]), Err(Violation::BadEntry { start: MIN + 1 }));
}

#[test]
fn entries_outside_the_map_are_caught() {
    let s = Sim::new();
    let mut m = Sim::map();
    m.entries.insert(MIN - P, raw_entry(MIN - P, MIN + P, VmProt::DEFAULT));
    assert_eq!(verdict(&s, &[&m]), Err(Violation::BadEntry { start: MIN - P }));
    let mut m = Sim::map();
    m.entries.insert(MAX - P, raw_entry(MAX - P, MAX + P, VmProt::DEFAULT));
    assert_eq!(verdict(&s, &[&m]), Err(Violation::BadEntry { start: MAX - P }));
    // Touching both bounds is fine.
    let mut m = Sim::map();
    m.entries.insert(MIN, raw_entry(MIN, MAX, VmProt::DEFAULT));
    assert_eq!(verdict(&s, &[&m]), Ok(()));
}

#[test]
fn overlapping_and_unmerged_entries_are_caught() {
    let s = Sim::new();
    let mut m = Sim::map();
    m.entries.insert(MIN, raw_entry(MIN, MIN + 2 * P, VmProt::DEFAULT));
    m.entries
        .insert(MIN + 2 * P, raw_entry(MIN + 2 * P, MIN + 3 * P, VmProt::READ));
    // Adjacent and different: fine.
    assert_eq!(verdict(&s, &[&m]), Ok(()));
    m.entries.insert(MIN + P, raw_entry(MIN + P, MIN + 2 * P, VmProt::NONE));
    entry(&mut m, MIN).end = MIN + 2 * P;
    assert_eq!(verdict(&s, &[&m]), Err(Violation::Overlap { start: MIN + P }));
    entry(&mut m, MIN).end = MIN + P;
    assert_eq!(verdict(&s, &[&m]), Ok(()));
    // Adjacent and alike: should be one entry.
    entry(&mut m, MIN + P).protection = VmProt::DEFAULT;
    assert_eq!(verdict(&s, &[&m]), Err(Violation::Unmerged { start: MIN + P }));
}

#[test]
fn bad_attributes_are_caught() {
    let bad = Err(Violation::BadAttributes { start: MIN });
    let (s, mut m, _) = base();
    entry(&mut m, MIN).max_protection = VmProt::READ;
    assert_eq!(verdict(&s, &[&m]), bad);
    let s = Sim::new();
    let mut m = Sim::map();
    m.entries.insert(MIN, raw_entry(MIN, MIN + P, VmProt::DEFAULT));
    entry(&mut m, MIN).needs_copy = true;
    assert_eq!(verdict(&s, &[&m]), bad);
    entry(&mut m, MIN).needs_copy = false;
    entry(&mut m, MIN).offset = P;
    assert_eq!(verdict(&s, &[&m]), bad);
}

#[test]
fn bad_object_ranges_are_caught() {
    let bad = Err(Violation::BadObjectRange { start: MIN });
    let (s, mut m, _) = base();
    entry(&mut m, MIN).object = Some(9999);
    assert_eq!(verdict(&s, &[&m]), bad);
    // Past the object's end (4 pages), wrapping, unaligned.
    for offset in [P, !(P - 1), 1] {
        let (s, mut m, _) = base();
        entry(&mut m, MIN).offset = offset;
        if offset == 1 {
            entry(&mut m, MIN).end = MIN + 3 * P;
        }
        assert_eq!(verdict(&s, &[&m]), bad, "offset {offset:#x}");
    }
}

#[test]
fn malformed_objects_are_caught() {
    for size in [0, P + 1] {
        let mut s = Sim::new();
        let obj = s.objects.create(2 * P, None).unwrap();
        s.external.push(obj);
        assert_eq!(verdict(&s, &[]), Ok(()));
        s.objects.obj_mut(obj).unwrap().size = size;
        assert_eq!(
            verdict(&s, &[]),
            Err(Violation::BadShadow { object: obj }),
            "size {size}"
        );
    }
}

/// `top` shadows page 1 of the two-page `bottom`; `top` is held externally.
fn shadow_pair() -> (Sim, ObjectId, ObjectId) {
    let mut s = Sim::new();
    let bottom = s.objects.create(2 * P, None).unwrap();
    let top = s.objects.shadow(bottom, P, P).unwrap();
    s.external.push(top);
    assert_eq!(verdict(&s, &[]), Ok(()));
    (s, bottom, top)
}

fn is_bad_shadow(v: Result<(), Violation>) -> bool {
    matches!(v, Err(Violation::BadShadow { .. }))
}

#[test]
fn bad_shadow_links_are_caught() {
    // Dangling, past the end, unaligned.
    for link in [(9999, 0), (0, 2 * P), (0, 1)] {
        let (mut s, bottom, top) = shadow_pair();
        let target = if link.0 == 9999 { 9999 } else { bottom };
        s.objects.obj_mut(top).unwrap().shadow = Some((target, link.1));
        assert!(is_bad_shadow(verdict(&s, &[])), "link {link:?}");
    }
    // Back-link missing or doubled.
    let (mut s, bottom, top) = shadow_pair();
    s.objects.obj_mut(bottom).unwrap().shadowers.clear();
    assert_eq!(verdict(&s, &[]), Err(Violation::BadShadow { object: top }));
    let (mut s, bottom, top) = shadow_pair();
    s.objects.obj_mut(bottom).unwrap().shadowers.push(top);
    assert_eq!(verdict(&s, &[]), Err(Violation::BadShadow { object: top }));
    // A back-link from an object that does not shadow it.
    let (mut s, bottom, _) = shadow_pair();
    let other = s.objects.create(P, None).unwrap();
    s.external.push(other);
    s.objects.obj_mut(bottom).unwrap().shadowers.push(other);
    assert_eq!(verdict(&s, &[]), Err(Violation::BadShadow { object: bottom }));
}

#[test]
fn shadow_cycles_are_caught() {
    let mut s = Sim::new();
    let a = s.objects.create(P, None).unwrap();
    let b = s.objects.shadow(a, 0, P).unwrap();
    s.external.push(b);
    assert_eq!(verdict(&s, &[]), Ok(()));
    // a shadows b shadows a; the references and back-links all add up.
    s.objects.obj_mut(a).unwrap().shadow = Some((b, 0));
    s.objects.obj_mut(b).unwrap().shadowers.push(a);
    s.objects.obj_mut(b).unwrap().ref_count += 1;
    assert!(s.objects.chain_depth(a).is_err());
    assert!(is_bad_shadow(verdict(&s, &[])));
}

#[test]
fn bad_and_duplicate_pages_are_caught() {
    for offset in [1, 4 * P] {
        let (mut s, m, obj) = base();
        let r = s.objects.get(obj).unwrap().page(0).unwrap();
        s.objects.obj_mut(obj).unwrap().resident.insert(offset, r);
        let want = Err(Violation::BadPage { object: obj, offset });
        // The same page is also cached twice: the bad offset is found first
        // or second, depending on the order of the pages.
        let v = verdict(&s, &[&m]);
        assert!(
            v == want || v == Err(Violation::DuplicatePage { page: r.page }),
            "{v:?}"
        );
        s.objects.obj_mut(obj).unwrap().resident.remove(&0);
        assert_eq!(verdict(&s, &[&m]), want);
    }
    let (mut s, m, obj) = base();
    let r = s.objects.get(obj).unwrap().page(0).unwrap();
    s.objects.obj_mut(obj).unwrap().resident.insert(3 * P, r);
    assert_eq!(verdict(&s, &[&m]), Err(Violation::DuplicatePage { page: r.page }));
}

#[test]
fn wrong_reference_counts_are_caught() {
    let (mut s, m, obj) = base();
    s.objects.obj_mut(obj).unwrap().ref_count = 2;
    assert_eq!(
        verdict(&s, &[&m]),
        Err(Violation::RefCount {
            object: obj,
            counted: 2,
            expected: 1
        })
    );
    // Nobody refers to it, and its count says so too: still a leak.
    let (mut s, _, obj) = base();
    s.objects.obj_mut(obj).unwrap().ref_count = 0;
    assert_eq!(
        verdict(&s, &[]),
        Err(Violation::RefCount {
            object: obj,
            counted: 0,
            expected: 0
        })
    );
    // A reference to an object that does not exist.
    let mut s = Sim::new();
    s.external.push(4242);
    assert_eq!(
        verdict(&s, &[]),
        Err(Violation::RefCount {
            object: 4242,
            counted: 0,
            expected: 1
        })
    );
}

/// A pager-backed object of `pages` pages, held externally.
fn pager_object(s: &mut Sim, pages: u64) -> ObjectId {
    let obj = s.objects.create(pages * P, Some(70)).unwrap();
    s.external.push(obj);
    obj
}

fn set_state(s: &mut Sim, obj: ObjectId, offset: u64, state: PagerPage) {
    s.objects.obj_mut(obj).unwrap().set_pager_page(offset, Some(state));
}

#[test]
fn pager_states_where_none_can_be_are_caught() {
    // On an anonymous object.
    let mut s = Sim::new();
    let obj = s.objects.create(2 * P, None).unwrap();
    s.external.push(obj);
    set_state(&mut s, obj, 0, PagerPage::Unavailable);
    assert_eq!(
        verdict(&s, &[]),
        Err(Violation::BadPagerState { object: obj, offset: 0 })
    );
    // Unaligned, or outside the object; the last page is fine.
    for (offset, fine) in [(1, false), (2 * P, false), (P, true)] {
        let mut s = Sim::new();
        let obj = pager_object(&mut s, 2);
        set_state(&mut s, obj, offset, PagerPage::Error);
        let want = if fine {
            Ok(())
        } else {
            Err(Violation::BadPagerState { object: obj, offset })
        };
        assert_eq!(verdict(&s, &[]), want, "offset {offset:#x}");
    }
}

#[test]
fn pager_states_that_contradict_residency_are_caught() {
    for state in [PagerPage::Unavailable, PagerPage::Error, PagerPage::Requested] {
        let mut s = Sim::new();
        let obj = pager_object(&mut s, 1);
        set_state(&mut s, obj, 0, state);
        assert_eq!(verdict(&s, &[]), Ok(()), "{state:?} of an absent page");
        let f = s.frame(0);
        let r = ResidentPage {
            page: f,
            dirty: false,
            lock: VmProt::NONE,
        };
        s.objects.obj_mut(obj).unwrap().resident.insert(0, r);
        assert_eq!(
            verdict(&s, &[]),
            Err(Violation::BadPagerState { object: obj, offset: 0 }),
            "{state:?} of a resident page"
        );
    }
}

#[test]
fn unlock_request_of_a_dead_pager_is_caught() {
    let mut s = Sim::new();
    let obj = pager_object(&mut s, 1);
    let f = s.frame(0);
    s.objects.supply_page(obj, 0, f).unwrap();
    s.objects.set_lock(obj, 0, VmProt::WRITE).unwrap();
    assert_eq!(s.objects.request_unlock(obj, 0), Ok(PagerStep::Send));
    assert_eq!(verdict(&s, &[]), Ok(()));
    s.objects.obj_mut(obj).unwrap().pager_dead = true;
    assert_eq!(
        verdict(&s, &[]),
        Err(Violation::BadPagerState { object: obj, offset: 0 })
    );
}

#[test]
fn outstanding_past_the_bound_is_caught() {
    let max = u64::from(MAX_PAGER_PAGES);
    let mut s = Sim::new();
    let obj = pager_object(&mut s, max + 1);
    for i in 0..max {
        set_state(&mut s, obj, i * P, PagerPage::Requested);
    }
    assert_eq!(verdict(&s, &[]), Ok(()));
    set_state(&mut s, obj, max * P, PagerPage::Requested);
    assert_eq!(s.objects.get(obj).unwrap().outstanding(), MAX_PAGER_PAGES + 1);
    assert_eq!(
        verdict(&s, &[]),
        Err(Violation::BadPagerState { object: obj, offset: 0 })
    );
}
