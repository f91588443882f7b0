//! Tests of `VmMap`: allocation, clipping at every boundary case, merging,
//! deallocation, overflow handling, protection, inheritance, wiring, regions
//! and the entry limit.

use super::harness::*;
use crate::vm::*;
use std::vec;

#[test]
fn new_map_rejects_bad_bounds() {
    assert_eq!(VmMap::new(0x1001, MAX).err(), Some(VmError::InvalidArgument));
    assert_eq!(VmMap::new(MAX, MAX).err(), Some(VmError::InvalidArgument));
    assert_eq!(
        VmMap::with_max_entries(MIN, MAX, 0).err(),
        Some(VmError::InvalidArgument)
    );
}

#[test]
fn allocate_anywhere_first_fit_and_merge() {
    let s = Sim::new();
    let mut m = Sim::map();
    let a = m.allocate(0, 3 * P, true).unwrap();
    assert_eq!(a, MIN);
    let b = m.allocate(0, 1, true).unwrap();
    assert_eq!(b, MIN + 3 * P);
    // Both are unbacked with the same attributes: one entry.
    assert_eq!(spans(&m), vec![(MIN, MIN + 4 * P)]);
    s.check(&[&m]);
    // A hint is honoured when free.
    let c = m.allocate(0x10_0000 + 5, P, true).unwrap();
    assert_eq!(c, 0x10_0000);
    // A hint in the middle of used space moves on past it.
    let d = m.allocate(MIN + P, P, true).unwrap();
    assert_eq!(d, MIN + 4 * P);
    s.check(&[&m]);
}

#[test]
fn allocate_anywhere_fills_holes_and_wraps_hint() {
    let mut s = Sim::new();
    let mut m = VmMap::new(MIN, MIN + 8 * P).unwrap();
    m.allocate(MIN, 8 * P, false).unwrap();
    s.dealloc(&mut m, MIN + 2 * P, 2 * P).unwrap();
    assert_eq!(m.allocate(0, 3 * P, true), Err(VmError::NoSpace));
    // Hint past the hole: wraps to the first fit from min.
    assert_eq!(m.allocate(MIN + 6 * P, 2 * P, true), Ok(MIN + 2 * P));
    assert_eq!(m.allocate(0, P, true), Err(VmError::NoSpace));
    s.check(&[&m]);
}

#[test]
fn allocate_fixed() {
    let s = Sim::new();
    let mut m = Sim::map();
    // Unaligned: start rounds down, size rounds up (vm_allocate semantics).
    assert_eq!(m.allocate(0x20_0010, 0x1001, false), Ok(0x20_0000));
    assert_eq!(spans(&m), vec![(0x20_0000, 0x20_2000)]);
    assert_eq!(m.allocate(0x20_1000, P, false), Err(VmError::NoSpace));
    assert_eq!(m.allocate(0x1f_f000, 2 * P, false), Err(VmError::NoSpace));
    assert_eq!(m.allocate(0x1f_f000, P, false), Ok(0x1f_f000));
    assert_eq!(spans(&m), vec![(0x1f_f000, 0x20_2000)]);
    assert_eq!(m.allocate(0, P, false), Err(VmError::InvalidAddress));
    assert_eq!(m.allocate(MAX - P, 2 * P, false), Err(VmError::InvalidAddress));
    assert_eq!(m.allocate(MAX - P, P, false), Ok(MAX - P));
    s.check(&[&m]);
}

#[test]
fn allocate_overflow_and_zero_size() {
    let s = Sim::new();
    let mut m = VmMap::new(MIN, trunc_page(u64::MAX)).unwrap();
    assert_eq!(m.allocate(MIN, 0, false), Err(VmError::InvalidArgument));
    assert_eq!(m.allocate(0, 0, true), Err(VmError::InvalidArgument));
    assert_eq!(m.allocate(0, u64::MAX, true), Err(VmError::InvalidArgument));
    assert_eq!(m.allocate(0, u64::MAX - 0x10, true), Err(VmError::InvalidArgument));
    assert_eq!(
        m.allocate(trunc_page(u64::MAX) - P, 3 * P, false),
        Err(VmError::InvalidArgument)
    );
    assert_eq!(m.allocate(u64::MAX, P, false), Err(VmError::InvalidArgument));
    // Anywhere with a hint at the very top still finds space from min.
    assert_eq!(m.allocate(u64::MAX, P, true), Ok(MIN));
    assert!(m.allocate(0, trunc_page(u64::MAX), true).is_err());
    s.check(&[&m]);
}

#[test]
fn range_calls_reject_wrapping_ranges() {
    let mut s = Sim::new();
    let mut m = VmMap::new(MIN, trunc_page(u64::MAX)).unwrap();
    m.allocate(MIN, 4 * P, false).unwrap();
    let o = &mut s.objects;
    assert_eq!(m.deallocate(o, u64::MAX - 5, 10), Err(VmError::InvalidArgument));
    assert_eq!(m.deallocate(o, u64::MAX - P, 0x800), Err(VmError::InvalidArgument));
    assert_eq!(
        m.protect(o, MIN, u64::MAX, false, VmProt::READ),
        Err(VmError::InvalidArgument)
    );
    assert_eq!(
        m.inherit(o, u64::MAX - 1, 2, VmInherit::None),
        Err(VmError::InvalidArgument)
    );
    assert_eq!(m.wire(o, 2, u64::MAX - 1, true), Err(VmError::InvalidArgument));
    // Size 0 is a successful no-op for range calls.
    assert_eq!(m.deallocate(o, MIN, 0).map(|d| d.unmapped.len()), Ok(0));
    assert_eq!(m.protect(o, MIN, 0, false, VmProt::NONE), Ok(vec![]));
    assert_eq!(spans(&m), vec![(MIN, MIN + 4 * P)]);
    s.check(&[&m]);
}

/// A map with entries [A: 4 pages][hole 2 pages][B: 4 pages], A and B with
/// different protections so they never merge.
fn two_entries(s: &mut Sim) -> (VmMap, u64, u64) {
    let mut m = Sim::map();
    let a = m.allocate(0x10_0000, 4 * P, false).unwrap();
    let b = m.allocate(0x10_0000 + 6 * P, 4 * P, false).unwrap();
    s.protect(&mut m, b, 4 * P, false, VmProt::READ).unwrap();
    (m, a, b)
}

#[test]
fn deallocate_inside_one_entry_splits_it() {
    let mut s = Sim::new();
    let (mut m, a, b) = two_entries(&mut s);
    s.write(&mut m, a, 1);
    s.write(&mut m, a + 3 * P, 4);
    let obj = m.lookup(a).unwrap().object.unwrap();
    let d = s.dealloc(&mut m, a + P + 5, P - 5).unwrap();
    assert_eq!(
        d.unmapped,
        vec![Unmapped {
            start: a + P,
            end: a + 2 * P,
            object: Some(obj),
            offset: P
        }]
    );
    assert_eq!(spans(&m), vec![(a, a + P), (a + 2 * P, a + 4 * P), (b, b + 4 * P)]);
    // The tail keeps its offset into the object and both halves reference it.
    assert_eq!(m.lookup(a + 3 * P).unwrap().offset, 2 * P);
    assert_eq!(s.objects.ref_count(obj), 2);
    assert_eq!(s.read(&mut m, a + 3 * P), 4);
    assert_eq!(s.read(&mut m, a), 1);
    s.check(&[&m]);
}

#[test]
fn deallocate_spanning_entries_and_holes() {
    let mut s = Sim::new();
    let (mut m, a, b) = two_entries(&mut s);
    let d = s.dealloc(&mut m, a + 3 * P, 5 * P).unwrap();
    assert_eq!(
        d.unmapped
            .iter()
            .map(|u| (u.start, u.end))
            .collect::<std::vec::Vec<_>>(),
        vec![(a + 3 * P, a + 4 * P), (b, b + 2 * P)]
    );
    assert_eq!(spans(&m), vec![(a, a + 3 * P), (b + 2 * P, b + 4 * P)]);
    s.check(&[&m]);
    // A range that is entirely a hole is not an error.
    assert!(s.dealloc(&mut m, a + 4 * P, 4 * P).unwrap().unmapped.is_empty());
    // Outside the map is clamped away, not an error.
    assert!(s.dealloc(&mut m, 0, MIN).unwrap().unmapped.is_empty());
    s.check(&[&m]);
}

#[test]
fn deallocate_touching_edges() {
    let mut s = Sim::new();
    let (mut m, a, b) = two_entries(&mut s);
    // Exactly one whole entry.
    let d = s.dealloc(&mut m, b, 4 * P).unwrap();
    assert_eq!(d.unmapped.len(), 1);
    assert_eq!(spans(&m), vec![(a, a + 4 * P)]);
    // Ending exactly at an entry start removes nothing.
    assert!(s.dealloc(&mut m, a - 2 * P, 2 * P).unwrap().unmapped.is_empty());
    // Starting exactly at the entry end removes nothing.
    assert!(s.dealloc(&mut m, a + 4 * P, P).unwrap().unmapped.is_empty());
    // Head and tail pages.
    s.dealloc(&mut m, a, P).unwrap();
    s.dealloc(&mut m, a + 3 * P, P).unwrap();
    assert_eq!(spans(&m), vec![(a + P, a + 3 * P)]);
    s.check(&[&m]);
    s.destroy(&mut m);
    s.check_empty();
}

#[test]
fn protect_clips_and_merges_back() {
    let mut s = Sim::new();
    let mut m = Sim::map();
    let a = m.allocate(0, 8 * P, true).unwrap();
    s.write(&mut m, a + 5 * P, 9);
    let ch = s.protect(&mut m, a + 2 * P, 3 * P, false, VmProt::READ).unwrap();
    assert_eq!(
        ch,
        vec![Reprotect {
            start: a + 2 * P,
            end: a + 5 * P,
            protection: VmProt::READ
        }]
    );
    assert_eq!(
        spans(&m),
        vec![(a, a + 2 * P), (a + 2 * P, a + 5 * P), (a + 5 * P, a + 8 * P)]
    );
    s.check(&[&m]);
    // Writing to the read-only part fails; reading works.
    assert_eq!(
        s.access(&mut m, a + 3 * P, VmProt::WRITE),
        Err(VmError::ProtectionFailure)
    );
    assert_eq!(s.read(&mut m, a + 3 * P), 0);
    // Restoring the protection merges the three entries back into one.
    s.protect(&mut m, a, 8 * P, false, VmProt::DEFAULT).unwrap();
    assert_eq!(spans(&m), vec![(a, a + 8 * P)]);
    assert_eq!(s.read(&mut m, a + 5 * P), 9);
    s.check(&[&m]);
    s.destroy(&mut m);
    s.check_empty();
}

#[test]
fn protect_max_rules() {
    let mut s = Sim::new();
    let mut m = Sim::map();
    let a = m.allocate(0, 4 * P, true).unwrap();
    let o = &mut s.objects;
    m.protect(o, a, 4 * P, true, VmProt::READ | VmProt::WRITE).unwrap();
    assert_eq!(m.lookup(a).unwrap().max_protection, VmProt::DEFAULT);
    // Current protection beyond max fails, changing nothing.
    assert_eq!(m.protect(o, a, P, false, VmProt::ALL), Err(VmError::ProtectionFailure));
    // Max can only be lowered.
    assert_eq!(m.protect(o, a, P, true, VmProt::ALL), Err(VmError::ProtectionFailure));
    // Lowering max lowers current protection to fit.
    let ch = m.protect(o, a + P, P, true, VmProt::READ).unwrap();
    assert_eq!(
        ch,
        vec![Reprotect {
            start: a + P,
            end: a + 2 * P,
            protection: VmProt::READ
        }]
    );
    let e = m.lookup(a + P).unwrap();
    assert_eq!((e.protection, e.max_protection), (VmProt::READ, VmProt::READ));
    assert_eq!(
        m.protect(o, a, 4 * P, false, VmProt::DEFAULT),
        Err(VmError::ProtectionFailure)
    );
    assert_eq!(spans(&m), vec![(a, a + P), (a + P, a + 2 * P), (a + 2 * P, a + 4 * P)]);
    s.check(&[&m]);
}

#[test]
fn protect_and_inherit_fail_on_holes() {
    let mut s = Sim::new();
    let (mut m, a, b) = two_entries(&mut s);
    let o = &mut s.objects;
    assert_eq!(
        m.protect(o, a, b + P - a, false, VmProt::READ),
        Err(VmError::InvalidAddress)
    );
    assert_eq!(
        m.inherit(o, a + 4 * P, P, VmInherit::None),
        Err(VmError::InvalidAddress)
    );
    assert_eq!(
        m.inherit(o, b + 3 * P, 2 * P, VmInherit::None),
        Err(VmError::InvalidAddress)
    );
    assert_eq!(m.inherit(o, 0, P, VmInherit::None), Err(VmError::InvalidAddress));
    assert_eq!(m.wire(o, a, 5 * P, true), Err(VmError::InvalidAddress));
    // Nothing was clipped by the failed calls.
    assert_eq!(spans(&m), vec![(a, a + 4 * P), (b, b + 4 * P)]);
    m.inherit(o, a + P, P, VmInherit::Share).unwrap();
    assert_eq!(m.region(a + P).unwrap().inheritance, VmInherit::Share);
    assert_eq!(spans(&m).len(), 4);
    m.inherit(o, a, 4 * P, VmInherit::Copy).unwrap();
    assert_eq!(spans(&m), vec![(a, a + 4 * P), (b, b + 4 * P)]);
    s.check(&[&m]);
}

#[test]
fn wire_counts() {
    let mut s = Sim::new();
    let mut m = Sim::map();
    let a = m.allocate(0, 4 * P, true).unwrap();
    let o = &mut s.objects;
    assert_eq!(m.wire(o, a, P, false), Err(VmError::InvalidArgument));
    m.wire(o, a + P, 2 * P, true).unwrap();
    m.wire(o, a + P, P, true).unwrap();
    assert_eq!(m.lookup(a + P).unwrap().wired_count, 2);
    assert_eq!(m.lookup(a + 2 * P).unwrap().wired_count, 1);
    assert_eq!(spans(&m).len(), 4);
    // Unwiring a range that includes an unwired page fails atomically.
    assert_eq!(m.wire(o, a, 2 * P, false), Err(VmError::InvalidArgument));
    m.wire(o, a + P, P, false).unwrap();
    m.wire(o, a + P, 2 * P, false).unwrap();
    assert_eq!(spans(&m), vec![(a, a + 4 * P)]);
    s.check(&[&m]);
}

#[test]
fn lookup_and_region() {
    let mut s = Sim::new();
    let (m, a, b) = two_entries(&mut s);
    assert!(m.lookup(a - 1).is_none());
    assert_eq!(m.lookup(a).unwrap().start, a);
    assert_eq!(m.lookup(a + 4 * P - 1).unwrap().start, a);
    assert!(m.lookup(a + 4 * P).is_none());
    let r = m.region(a + 4 * P).unwrap();
    assert_eq!(
        (r.start, r.end, r.protection, r.max_protection),
        (b, b + 4 * P, VmProt::READ, VmProt::ALL)
    );
    assert_eq!(m.region(a + 5).unwrap().start, a);
    assert!(m.region(b + 4 * P).is_none());
    assert_eq!(m.region(0).unwrap().start, a);
    s.check(&[&m]);
}

#[test]
fn entry_limit() {
    let mut s = Sim::new();
    let mut m = VmMap::with_max_entries(MIN, MAX, 3).unwrap();
    let a = m.allocate(0, 8 * P, true).unwrap();
    // Two clips would make three entries: allowed.
    s.protect(&mut m, a + P, P, false, VmProt::READ).unwrap();
    assert_eq!(m.len(), 3);
    // A fourth entry is refused: by allocation, clipping or a hole punch.
    assert_eq!(m.allocate(0, P, true), Err(VmError::NoSpace));
    assert_eq!(
        s.protect(&mut m, a + 4 * P, P, false, VmProt::READ),
        Err(VmError::NoSpace)
    );
    assert_eq!(m.deallocate(&mut s.objects, a + 4 * P, P), Err(VmError::NoSpace));
    assert_eq!(m.len(), 3);
    // Removing a whole entry needs no room.
    s.dealloc(&mut m, a + 2 * P, 6 * P).unwrap();
    assert_eq!(m.len(), 2);
    s.check(&[&m]);
}

#[test]
fn map_object_validation_and_references() {
    let mut s = Sim::new();
    let mut m = Sim::map();
    let obj = s.objects.create(4 * P, Some(77)).unwrap();
    s.external.push(obj);
    let req = |offset, copy| MapRequest {
        object: Some(obj),
        offset,
        copy,
        protection: VmProt::READ,
        max_protection: VmProt::READ,
        inheritance: VmInherit::Share,
    };
    let o = &mut s.objects;
    assert_eq!(
        m.map_object(o, 0, 5 * P, true, req(0, false)),
        Err(VmError::InvalidArgument)
    );
    assert_eq!(
        m.map_object(o, 0, 2 * P, true, req(3 * P, false)),
        Err(VmError::InvalidArgument)
    );
    assert_eq!(
        m.map_object(o, 0, P, true, req(5, false)),
        Err(VmError::InvalidArgument)
    );
    assert_eq!(
        m.map_object(o, 0, P, true, req(u64::MAX - P + 1, false)),
        Err(VmError::InvalidArgument)
    );
    assert_eq!(
        m.map_object(o, 0, 0, true, req(0, false)),
        Err(VmError::InvalidArgument)
    );
    let mut bad = req(0, false);
    bad.protection = VmProt::ALL;
    assert_eq!(m.map_object(o, 0, P, true, bad), Err(VmError::InvalidArgument));
    bad = req(0, false);
    bad.object = Some(12345);
    assert_eq!(m.map_object(o, 0, P, true, bad), Err(VmError::InvalidObject));
    let x = m.map_object(o, 0, 2 * P, true, req(0, false)).unwrap();
    // Mapping the following part right after merges into one entry (one reference).
    let y = m.map_object(o, x + 2 * P, 2 * P, false, req(2 * P, false)).unwrap();
    assert_eq!(y, x + 2 * P);
    assert_eq!(spans(&m), vec![(x, x + 4 * P)]);
    assert_eq!(s.objects.ref_count(obj), 2);
    s.check(&[&m]);
    s.destroy(&mut m);
    assert_eq!(s.objects.ref_count(obj), 1);
    s.release(obj);
    assert_eq!(s.terminated, vec![77]);
    s.check_empty();
}

#[test]
fn revocations_count_what_can_take_access_away() {
    let mut s = Sim::new();
    let mut m = Sim::map();
    let a = m.allocate(0, 4 * P, true).unwrap();
    let n = m.revocations();
    // Adding, faulting, inheriting, wiring, forking and no-op changes keep
    // every earlier check valid.
    m.allocate(0, P, true).unwrap();
    s.write(&mut m, a, 7);
    assert_eq!(s.read(&mut m, a + P), 0);
    m.inherit(&mut s.objects, a, P, VmInherit::Share).unwrap();
    m.wire(&mut s.objects, a, P, true).unwrap();
    m.wire(&mut s.objects, a, P, false).unwrap();
    let mut child = s.fork(&mut m);
    m.protect(&mut s.objects, a, P, false, VmProt::DEFAULT).unwrap();
    s.dealloc(&mut m, a + 16 * P, P).unwrap();
    assert_eq!(m.revocations(), n, "nothing was taken away");
    // A lowered protection and a deallocation count once each.
    m.protect(&mut s.objects, a, P, false, VmProt::READ).unwrap();
    assert_eq!(m.revocations(), n + 1);
    s.dealloc(&mut m, a + P, P).unwrap();
    assert_eq!(m.revocations(), n + 2);
    s.destroy(&mut child);
    s.destroy(&mut m);
    assert_eq!(m.revocations(), n + 3);
    s.check_empty();
}

/// Maps sharing a budget stop growing together at its limit (`NoSpace`),
/// make room for each other when one deallocates, and give their entries
/// back when they die; a fork's child draws on the same budget.
#[test]
fn maps_share_one_entry_budget() {
    use std::sync::Arc;
    let mut s = Sim::new();
    let budget = Arc::new(crate::budget::Budget::new(6));
    let mut a = VmMap::with_budget(MIN, MAX, 100, budget.clone()).unwrap();
    let mut b = VmMap::with_budget(MIN, MAX, 100, budget.clone()).unwrap();
    // Separate pages (a hole after each), so no two entries merge.
    for i in 0..4 {
        assert_eq!(a.allocate(MIN + 2 * i * P, P, false), Ok(MIN + 2 * i * P));
    }
    for i in 0..2 {
        assert!(b.allocate(MIN + 2 * i * P, P, false).is_ok());
    }
    assert_eq!(budget.used(), 6);
    assert_eq!(b.allocate(MIN + 20 * P, P, false), Err(VmError::NoSpace));
    assert_eq!(a.allocate(MIN + 20 * P, P, false), Err(VmError::NoSpace));
    // Punching a hole in an entry would add one: refused as well.
    let c = a.allocate(MIN + 40 * P, 3 * P, false);
    assert_eq!(c, Err(VmError::NoSpace));
    // One of a's entries goes: b may grow by one.
    assert!(a.deallocate(&mut s.objects, MIN, P).is_ok());
    assert_eq!(budget.used(), 5);
    assert!(b.allocate(MIN + 20 * P, P, false).is_ok());
    assert_eq!(b.allocate(MIN + 30 * P, P, false), Err(VmError::NoSpace));
    // A fork's child counts against the same budget: no room for it.
    assert_eq!(a.fork(&mut s.objects).err(), Some(VmError::NoSpace));
    assert_eq!(budget.used(), 6);
    // A dead map gives its entries back.
    drop(a);
    assert_eq!(budget.used(), 3);
    assert!(b.allocate(MIN + 30 * P, P, false).is_ok());
    drop(b);
    assert_eq!(budget.used(), 0);
}
