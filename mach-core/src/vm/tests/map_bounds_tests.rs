//! Tests of `VmMap` at its edges: the accessors, the entry limit exactly
//! reached (clips counted, not guessed), ranges ending at the top of the map,
//! and a map that starts at address 0.

use super::harness::*;
use crate::vm::*;
use std::vec;

#[test]
fn accessors_report_bounds_and_limit() {
    let mut m = VmMap::with_max_entries(2 * P, 9 * P, 7).unwrap();
    assert_eq!((m.min(), m.max()), (2 * P, 9 * P));
    assert_eq!(m.max_entries(), 7);
    assert!(m.is_empty());
    m.set_max_entries(3);
    assert_eq!(m.max_entries(), 3);
    // A limit of 0 would refuse every mapping: it is raised to 1.
    m.set_max_entries(0);
    assert_eq!(m.max_entries(), 1);
    m.allocate(0, P, true).unwrap();
    assert!(!m.is_empty());
    assert_eq!(m.len(), 1);
    assert_eq!(Sim::map().max_entries(), DEFAULT_MAX_ENTRIES);
}

#[test]
fn a_lowered_limit_refuses_growth() {
    let mut m = Sim::map();
    m.allocate(0, P, true).unwrap();
    m.set_max_entries(1);
    assert_eq!(m.allocate(0x10_0000, P, false), Err(VmError::NoSpace));
    m.set_max_entries(2);
    assert_eq!(m.allocate(0x10_0000, P, false), Ok(0x10_0000));
}

/// A map of two entries that cannot merge (different protections), at a
/// limit of `limit` entries.
fn two_entries_at_limit(s: &mut Sim, limit: usize) -> (VmMap, u64) {
    let mut m = VmMap::with_max_entries(MIN, MAX, limit).unwrap();
    let a = m.allocate(0, 4 * P, true).unwrap();
    s.protect(&mut m, a + 2 * P, 2 * P, false, VmProt::READ).unwrap();
    assert_eq!(m.len(), 2);
    (m, a)
}

#[test]
fn full_map_changes_whole_entries_without_room() {
    let mut s = Sim::new();
    let (mut m, a) = two_entries_at_limit(&mut s, 2);
    // Both ends fall on entry boundaries: no clip, no new entry needed.
    s.protect(&mut m, a, 2 * P, false, VmProt::NONE).unwrap();
    m.inherit(&mut s.objects, a + 2 * P, 2 * P, VmInherit::Share).unwrap();
    m.wire(&mut s.objects, a, 4 * P, true).unwrap();
    let ci = s.copyin(&mut m, a + 2 * P, 2 * P).unwrap();
    assert_eq!(m.len(), 2);
    let r = ci.copy.discard(&mut s.objects);
    s.reclaim(r);
    s.check(&[&m]);
    s.destroy(&mut m);
    s.check_empty();
}

#[test]
fn clips_are_counted_against_the_limit() {
    let mut s = Sim::new();
    // One clip needed, none free.
    let mut m = VmMap::with_max_entries(MIN, MAX, 1).unwrap();
    let a = m.allocate(0, 4 * P, true).unwrap();
    assert_eq!(
        s.protect(&mut m, a + 2 * P, 2 * P, false, VmProt::READ),
        Err(VmError::NoSpace)
    );
    assert_eq!(s.protect(&mut m, a, P, false, VmProt::READ), Err(VmError::NoSpace));
    assert_eq!(m.len(), 1);
    // One clip needed, one free.
    m.set_max_entries(2);
    s.protect(&mut m, a + 2 * P, 2 * P, false, VmProt::READ).unwrap();
    assert_eq!(spans(&m), vec![(a, a + 2 * P), (a + 2 * P, a + 4 * P)]);
    // Two clips needed (inside the first entry), one free.
    m.set_max_entries(3);
    assert_eq!(
        s.protect(&mut m, a + P, 2 * P, false, VmProt::NONE),
        Err(VmError::NoSpace)
    );
    assert_eq!(
        m.inherit(&mut s.objects, a + P, 2 * P, VmInherit::None),
        Err(VmError::NoSpace)
    );
    assert_eq!(m.wire(&mut s.objects, a + P, 2 * P, true), Err(VmError::NoSpace));
    assert_eq!(s.copyin(&mut m, a + P, 2 * P).unwrap_err(), VmError::NoSpace);
    assert_eq!(m.len(), 2);
    // Two clips needed, two free.
    m.set_max_entries(4);
    s.protect(&mut m, a + P, 2 * P, false, VmProt::NONE).unwrap();
    // The two middle pieces are alike and merge again.
    assert_eq!(spans(&m), vec![(a, a + P), (a + P, a + 3 * P), (a + 3 * P, a + 4 * P)]);
    s.check(&[&m]);
    s.destroy(&mut m);
    s.check_empty();
}

#[test]
fn ranges_may_end_at_the_top_of_the_map() {
    let mut s = Sim::new();
    let mut m = Sim::map();
    let a = m.allocate(MAX - 2 * P, 2 * P, false).unwrap();
    s.write(&mut m, a, 5);
    s.protect(&mut m, a + P, P, false, VmProt::READ).unwrap();
    m.inherit(&mut s.objects, a, 2 * P, VmInherit::Share).unwrap();
    m.wire(&mut s.objects, a, 2 * P, true).unwrap();
    m.wire(&mut s.objects, a, 2 * P, false).unwrap();
    let ci = s.copyin(&mut m, a, 2 * P).unwrap();
    assert_eq!(ci.copy.size(), 2 * P);
    let r = ci.copy.discard(&mut s.objects);
    s.reclaim(r);
    // One page further is outside the map.
    assert_eq!(
        s.protect(&mut m, a + P, 2 * P, false, VmProt::READ),
        Err(VmError::InvalidAddress)
    );
    s.check(&[&m]);
    s.destroy(&mut m);
    s.check_empty();
}

#[test]
fn a_map_may_start_at_address_zero() {
    let mut s = Sim::new();
    let mut m = VmMap::new(0, 16 * P).unwrap();
    assert_eq!(m.allocate(0, 2 * P, false), Ok(0));
    s.write(&mut m, 0, 3);
    s.protect(&mut m, 0, P, false, VmProt::READ).unwrap();
    m.inherit(&mut s.objects, 0, 2 * P, VmInherit::Share).unwrap();
    let ci = s.copyin(&mut m, 0, 2 * P).unwrap();
    let r = ci.copy.discard(&mut s.objects);
    s.reclaim(r);
    assert_eq!(s.read(&mut m, 0), 3);
    s.check(&[&m]);
    s.destroy(&mut m);
    s.check_empty();
}

#[test]
fn full_map_deallocates_either_end_of_an_entry() {
    let mut s = Sim::new();
    let mut m = VmMap::with_max_entries(MIN, MAX, 1).unwrap();
    let a = m.allocate(0, 5 * P, true).unwrap();
    s.write(&mut m, a, 1);
    // Cutting off the head or the tail leaves one entry: no room needed.
    s.dealloc(&mut m, a, P).unwrap();
    s.dealloc(&mut m, a + 4 * P, P).unwrap();
    assert_eq!(spans(&m), vec![(a + P, a + 4 * P)]);
    // A hole in the middle needs one more entry.
    assert_eq!(m.deallocate(&mut s.objects, a + 2 * P, 1), Err(VmError::NoSpace));
    s.check(&[&m]);
    s.destroy(&mut m);
    s.check_empty();
}

#[test]
fn destroy_a_map_reaching_the_top_of_the_address_space() {
    let mut s = Sim::new();
    let top = trunc_page(u64::MAX);
    let mut m = VmMap::new(MIN, top).unwrap();
    let a = m.allocate(top - 2 * P, 2 * P, false).unwrap();
    s.write(&mut m, a + P, 4);
    m.allocate(0, P, true).unwrap();
    s.destroy(&mut m);
    s.check_empty();
}
