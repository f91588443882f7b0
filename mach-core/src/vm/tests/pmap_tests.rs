//! Tests of the hardware-mapping model (`vm::Pmap`) and of its check against
//! the map (`invariants::check_pmap`): each kind of stale or wrongly writable
//! mapping built on purpose and reported.

use super::harness::*;
use crate::vm::invariants::{Violation, check_pmap};
use crate::vm::*;
use std::vec;
use std::vec::Vec;

fn all(p: &Pmap) -> Vec<(u64, PmapEntry)> {
    p.iter().collect()
}

fn e(page: PageId, writable: bool) -> PmapEntry {
    PmapEntry { page, writable }
}

#[test]
fn enter_lookup_and_replace() {
    let mut p = Pmap::new();
    assert!(p.is_empty());
    p.enter(3 * P + 5, 7, true);
    assert_eq!(p.lookup(3 * P), Some(e(7, true)));
    assert_eq!(p.lookup(4 * P - 1), Some(e(7, true)));
    assert_eq!(p.lookup(4 * P), None);
    p.enter(3 * P, 8, false);
    assert_eq!(all(&p), vec![(3 * P, e(8, false))]);
    assert_eq!(p.len(), 1);
    assert!(!p.is_empty());
}

/// Pages 1..=4 mapped writable, frames 11..=14.
fn four() -> Pmap {
    let mut p = Pmap::new();
    for i in 1..=4 {
        p.enter(i * P, 10 + i, true);
    }
    p
}

#[test]
fn remove_takes_exactly_the_range() {
    let mut p = four();
    p.remove(2 * P, 4 * P);
    assert_eq!(all(&p), vec![(P, e(11, true)), (4 * P, e(14, true))]);
    // An empty or reversed range removes nothing.
    p.remove(4 * P, 4 * P);
    p.remove(5 * P, P);
    assert_eq!(p.len(), 2);
}

#[test]
fn write_protect_takes_exactly_the_range() {
    let mut p = four();
    p.write_protect(2 * P, 4 * P);
    let w: Vec<bool> = p.iter().map(|(_, m)| m.writable).collect();
    assert_eq!(w, vec![true, false, false, true]);
    let mut p = four();
    p.write_protect(4 * P, 4 * P);
    p.write_protect(5 * P, P);
    assert!(p.iter().all(|(_, m)| m.writable));
}

#[test]
fn lower_never_raises() {
    let mut p = four();
    // Read-only: write-protected, still mapped.
    p.lower(P, 2 * P, VmProt::READ);
    assert_eq!(p.lookup(P), Some(e(11, false)));
    // No read access: removed (execute alone cannot be mapped either).
    p.lower(2 * P, 3 * P, VmProt::EXECUTE);
    assert_eq!(p.lookup(2 * P), None);
    // Read-write leaves the mapping as it is.
    p.lower(P, 4 * P, VmProt::DEFAULT);
    assert_eq!(
        all(&p),
        vec![(P, e(11, false)), (3 * P, e(13, true)), (4 * P, e(14, true))]
    );
}

#[test]
fn remove_page_everywhere_counts() {
    let mut p = four();
    p.enter(9 * P, 12, false);
    assert_eq!(p.remove_page(12), 2);
    assert_eq!(p.remove_page(12), 0);
    assert_eq!(p.len(), 3);
    assert_eq!(p.lookup(2 * P), None);
}

fn verdict(s: &mut Sim, m: &VmMap) -> Result<(), Violation> {
    let p = s.pmap(m).clone();
    check_pmap(&s.objects, m, &p)
}

/// A map with two pages at `MIN`, page 0 written (mapped writable).
fn base() -> (Sim, VmMap, PageId) {
    let mut s = Sim::new();
    let mut m = Sim::map();
    m.allocate(MIN, 2 * P, false).unwrap();
    s.write(&mut m, MIN, 1);
    let page = s.pmap(&m).lookup(MIN).unwrap().page;
    assert_eq!(verdict(&mut s, &m), Ok(()));
    (s, m, page)
}

#[test]
fn stale_mappings_are_caught() {
    let stale = |va| Err(Violation::StaleMapping { va });
    // Where nothing is mapped, where the entry has no object yet.
    let (mut s, mut m, page) = base();
    s.pmap(&m).enter(MIN + 8 * P, page, false);
    assert_eq!(verdict(&mut s, &m), stale(MIN + 8 * P));
    s.pmap(&m).remove(MIN + 8 * P, MIN + 9 * P);
    let b = m.allocate(MIN + 8 * P, P, false).unwrap();
    s.pmap(&m).enter(b, page, false);
    assert_eq!(verdict(&mut s, &m), stale(b));
    // A page the object does not have there, or another page than it has.
    let (mut s, m, page) = base();
    s.pmap(&m).enter(MIN + P, page, false);
    assert_eq!(verdict(&mut s, &m), stale(MIN + P));
    let (mut s, m, page) = base();
    s.pmap(&m).enter(MIN, page + 1, false);
    assert_eq!(verdict(&mut s, &m), stale(MIN));
    // Through an entry that allows no access (the protection was lowered
    // without removing the mapping).
    let (mut s, mut m, _) = base();
    m.protect(&mut s.objects, MIN, P, false, VmProt::NONE).unwrap();
    assert_eq!(verdict(&mut s, &m), stale(MIN));
    // An offset that wraps.
    let (mut s, mut m, page) = base();
    m.entries.get_mut(&MIN).unwrap().offset = !(P - 1);
    s.pmap(&m).enter(MIN + P, page, false);
    assert!(matches!(verdict(&mut s, &m), Err(Violation::StaleMapping { .. })));
}

#[test]
fn wrongly_writable_mappings_are_caught() {
    let writable = Err(Violation::WritableMapping { va: MIN });
    // Read-only entry.
    let (mut s, mut m, _) = base();
    m.protect(&mut s.objects, MIN, P, false, VmProt::READ).unwrap();
    assert_eq!(verdict(&mut s, &m), writable);
    // A copy pending (fork without write-protecting the parent).
    let (mut s, mut m, _) = base();
    let mut c = m.fork(&mut s.objects).unwrap().child;
    assert_eq!(verdict(&mut s, &m), writable);
    s.destroy(&mut c);
    // A page of a lower object (the read fault's mapping made writable).
    let (mut s, mut m, page) = base();
    let mut c = s.fork(&mut m);
    s.write(&mut c, MIN + P, 2);
    assert_eq!(s.access(&mut c, MIN, VmProt::READ), Ok((page, false)));
    s.pmap(&c).enter(MIN, page, true);
    assert_eq!(verdict(&mut s, &c), writable);
    s.pmap(&c).enter(MIN, page, false);
    assert_eq!(verdict(&mut s, &c), Ok(()));
}

#[test]
fn writable_mapping_of_a_write_locked_page_is_caught() {
    let mut s = Sim::new();
    let mut m = Sim::map();
    let obj = s.objects.create(P, Some(70)).unwrap();
    s.external.push(obj);
    let req = MapRequest {
        object: Some(obj),
        offset: 0,
        copy: false,
        protection: VmProt::DEFAULT,
        max_protection: VmProt::ALL,
        inheritance: VmInherit::Share,
    };
    let a = m.map_object(&mut s.objects, 0, P, true, req).unwrap();
    s.write(&mut m, a, 1);
    assert_eq!(verdict(&mut s, &m), Ok(()));
    // The pager locks writes; the mapping was not lowered.
    s.objects.set_lock(obj, 0, VmProt::WRITE).unwrap();
    assert_eq!(verdict(&mut s, &m), Err(Violation::WritableMapping { va: a }));
    s.objects.set_lock(obj, 0, VmProt::NONE).unwrap();
    assert_eq!(verdict(&mut s, &m), Ok(()));
}
