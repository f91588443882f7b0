//! Tests of `VmCopy`: snapshot semantics of copyin/copyout (out-of-line
//! message data), moving a region (copyin then deallocate), discarding an
//! unreceived copy, and the error cases.

use super::harness::*;
use crate::vm::*;
use std::vec;
use std::vec::Vec;

/// Counts the copy's references as external so invariants hold mid-flight.
fn hold(s: &mut Sim, c: &VmCopy) {
    s.external.extend(c.entries().iter().filter_map(|e| e.object));
}

fn unhold(s: &mut Sim, c: &VmCopy) {
    for o in c.entries().iter().filter_map(|e| e.object) {
        let i = s.external.iter().position(|&x| x == o).unwrap();
        s.external.swap_remove(i);
    }
}

#[test]
fn receiver_sees_send_time_snapshot() {
    let mut s = Sim::new();
    let (mut a, mut b) = (Sim::map(), Sim::map());
    let src = a.allocate(0, 3 * P, true).unwrap();
    s.write(&mut a, src, 1);
    s.write(&mut a, src + 2 * P, 3);
    let ci = s.copyin(&mut a, src, 3 * P).unwrap();
    assert_eq!(ci.write_protect, vec![(src, src + 3 * P)]);
    assert_eq!(ci.copy.size(), 3 * P);
    hold(&mut s, &ci.copy);
    s.check(&[&a, &b]);
    // The sender changes its memory after the send.
    s.write(&mut a, src, 10);
    s.write(&mut a, src + P, 20);
    unhold(&mut s, &ci.copy);
    let dst = b.copyout(&mut s.objects, ci.copy, 0).unwrap();
    s.check(&[&a, &b]);
    assert_eq!(s.read(&mut b, dst), 1);
    assert_eq!(s.read(&mut b, dst + P), 0);
    assert_eq!(s.read(&mut b, dst + 2 * P), 3);
    // And the receiver's writes stay its own.
    s.write(&mut b, dst + 2 * P, 30);
    assert_eq!(s.read(&mut a, src + 2 * P), 3);
    assert_eq!(s.read(&mut a, src), 10);
    s.check(&[&a, &b]);
    s.destroy(&mut a);
    s.destroy(&mut b);
    s.check_empty();
}

#[test]
fn moved_region_is_written_in_place() {
    let mut s = Sim::new();
    let (mut a, mut b) = (Sim::map(), Sim::map());
    let src = a.allocate(0, 2 * P, true).unwrap();
    s.write(&mut a, src, 5);
    let ci = s.copyin(&mut a, src, 2 * P).unwrap();
    s.dealloc(&mut a, src, 2 * P).unwrap();
    let dst = b.copyout(&mut s.objects, ci.copy, 0).unwrap();
    let before = s.stats.cow_copy;
    s.write(&mut b, dst, 6);
    assert_eq!(s.stats.cow_copy, before, "sole owner must not copy");
    assert_eq!(s.read(&mut b, dst), 6);
    s.check(&[&a, &b]);
    s.destroy(&mut b);
    s.check_empty();
}

#[test]
fn unaligned_range_covers_whole_pages() {
    let mut s = Sim::new();
    let (mut a, mut b) = (Sim::map(), Sim::map());
    let src = a.allocate(0, 4 * P, true).unwrap();
    s.write(&mut a, src + P, 7);
    s.write(&mut a, src + 2 * P, 8);
    let ci = s.copyin(&mut a, src + P + 100, P).unwrap();
    assert_eq!(ci.copy.size(), 2 * P);
    // Clipping left the rest of the sender's entry writable and uncopied.
    assert!(!a.lookup(src).unwrap().needs_copy);
    assert!(a.lookup(src + P).unwrap().needs_copy);
    let dst = b.copyout(&mut s.objects, ci.copy, 0).unwrap();
    assert_eq!(s.read(&mut b, dst), 7);
    assert_eq!(s.read(&mut b, dst + P), 8);
    s.check(&[&a, &b]);
    s.destroy(&mut a);
    s.destroy(&mut b);
    s.check_empty();
}

#[test]
fn discarded_copy_frees_everything() {
    let mut s = Sim::new();
    let mut a = Sim::map();
    let src = a.allocate(0, 2 * P, true).unwrap();
    s.write(&mut a, src, 1);
    let ci = s.copyin(&mut a, src, 2 * P).unwrap();
    s.destroy(&mut a);
    let r = ci.copy.discard(&mut s.objects);
    s.reclaim(r);
    s.check_empty();
}

#[test]
fn copy_spanning_entries_and_copyout_full_map() {
    let mut s = Sim::new();
    let (mut a, mut b) = (Sim::map(), VmMap::with_max_entries(MIN, MIN + 3 * P, 8).unwrap());
    let src = a.allocate(0, 4 * P, true).unwrap();
    s.protect(&mut a, src + P, P, false, VmProt::READ).unwrap();
    s.write(&mut a, src, 1);
    let ci = s.copyin(&mut a, src, 4 * P).unwrap();
    assert_eq!(ci.copy.entries().len(), 3);
    // Only the writable parts need write protection.
    let wp: Vec<(u64, u64)> = ci.write_protect.clone();
    assert_eq!(wp, vec![(src, src + P), (src + 2 * P, src + 4 * P)]);
    // Four pages do not fit in a three-page map: the copy comes back intact.
    let (err, copy) = b.copyout(&mut s.objects, ci.copy, 0).unwrap_err();
    assert_eq!(err, VmError::NoSpace);
    let mut c = Sim::map();
    let dst = c.copyout(&mut s.objects, copy, 0).unwrap();
    assert_eq!(s.read(&mut c, dst), 1);
    // The receiver's copy is writable even where the sender's was read-only.
    s.write(&mut c, dst + P, 2);
    s.check(&[&a, &b, &c]);
    s.destroy(&mut a);
    s.destroy(&mut c);
    s.check_empty();
}

#[test]
fn copyin_errors_leave_nothing_held() {
    let mut s = Sim::new();
    let mut a = Sim::map();
    let src = a.allocate(0, 2 * P, true).unwrap();
    s.dealloc(&mut a, src + P, P).unwrap();
    assert_eq!(s.copyin(&mut a, src, 2 * P).unwrap_err(), VmError::InvalidAddress);
    assert_eq!(s.copyin(&mut a, src, 0).unwrap_err(), VmError::InvalidArgument);
    assert_eq!(
        s.copyin(&mut a, u64::MAX - 10, 100).unwrap_err(),
        VmError::InvalidArgument
    );
    s.protect(&mut a, src, P, false, VmProt::NONE).unwrap();
    assert_eq!(s.copyin(&mut a, src, P).unwrap_err(), VmError::ProtectionFailure);
    s.check(&[&a]);
    s.destroy(&mut a);
    s.check_empty();
}

#[test]
fn overwrite_replaces_contents_and_keeps_attributes() {
    let mut s = Sim::new();
    let mut m = Sim::map();
    let src = m.allocate(0, 2 * P, true).unwrap();
    let dst = m.allocate(0, 4 * P, true).unwrap();
    s.write(&mut m, src, 1);
    s.write(&mut m, src + P, 2);
    s.write(&mut m, dst + P, 9);
    s.write(&mut m, dst + 3 * P, 8);
    m.inherit(&mut s.objects, dst, 4 * P, VmInherit::Share).unwrap();
    let ci = s.copyin(&mut m, src, 2 * P).unwrap();
    let d = s.copy_overwrite(&mut m, ci.copy, dst + P).unwrap();
    s.reclaim(d.reclaim.clone());
    assert!(d.unmapped.iter().all(|u| u.start >= dst + P && u.end <= dst + 3 * P));
    assert_eq!(s.read(&mut m, dst + P), 1);
    assert_eq!(s.read(&mut m, dst + 2 * P), 2);
    assert_eq!(s.read(&mut m, dst + 3 * P), 8, "outside the range untouched");
    assert_eq!(m.lookup(dst + P).unwrap().inheritance, VmInherit::Share);
    // Copy-on-write both ways.
    s.write(&mut m, dst + P, 5);
    assert_eq!(s.read(&mut m, src), 1);
    s.write(&mut m, src + P, 6);
    assert_eq!(s.read(&mut m, dst + 2 * P), 2);
    s.check(&[&m]);
    s.destroy(&mut m);
    s.check_empty();
}

#[test]
fn overwrite_errors_hand_the_copy_back() {
    let mut s = Sim::new();
    let mut m = Sim::map();
    let src = m.allocate(0, 2 * P, true).unwrap();
    let dst = m.allocate(0, 3 * P, true).unwrap();
    s.write(&mut m, src, 4);
    let mut copy = s.copyin(&mut m, src, 2 * P).unwrap().copy;
    s.protect(&mut m, dst + P, P, false, VmProt::READ).unwrap();
    for (at, want) in [
        (dst + 1, VmError::InvalidArgument),
        (dst, VmError::ProtectionFailure),
        (dst + 2 * P, VmError::InvalidAddress),
        (!(P - 1), VmError::InvalidArgument),
    ] {
        let (err, back) = s.copy_overwrite(&mut m, copy, at).unwrap_err();
        assert_eq!(err, want, "at {at:#x}");
        copy = back;
    }
    let r = copy.discard(&mut s.objects);
    s.reclaim(r);
    s.check(&[&m]);
    s.destroy(&mut m);
    s.check_empty();
}

#[test]
fn copy_from_object_writes_new_pages() {
    let mut s = Sim::new();
    let mut m = Sim::map();
    let dst = m.allocate(0, 2 * P, true).unwrap();
    s.write(&mut m, dst, 3);
    let obj = s.objects.create(2 * P, None).unwrap();
    let f = s.frame(42);
    s.objects.insert_page(obj, P, f).unwrap();
    let copy = VmCopy::from_object(&s.objects, obj).unwrap();
    let d = s.copy_overwrite(&mut m, copy, dst).unwrap();
    s.reclaim(d.reclaim);
    assert_eq!(s.read(&mut m, dst), 0);
    assert_eq!(s.read(&mut m, dst + P), 42);
    s.check(&[&m]);
    s.destroy(&mut m);
    s.check_empty();
}

/// A copy of two pages in two pieces that stay apart (different objects).
fn two_piece_copy(s: &mut Sim, a: &mut VmMap) -> VmCopy {
    let src = a.allocate(0, 2 * P, true).unwrap();
    s.protect(a, src + P, P, false, VmProt::READ).unwrap();
    s.write(a, src, 1);
    let copy = s.copyin(a, src, 2 * P).unwrap().copy;
    assert_eq!(copy.entries().len(), 2);
    copy
}

#[test]
fn copyout_needs_room_for_every_piece() {
    let mut s = Sim::new();
    let mut a = Sim::map();
    let copy = two_piece_copy(&mut s, &mut a);
    // One entry used of two: the two pieces do not fit.
    let mut b = VmMap::with_max_entries(MIN, MAX, 2).unwrap();
    b.allocate(0, P, true).unwrap();
    let (err, copy) = b.copyout(&mut s.objects, copy, 0).unwrap_err();
    assert_eq!(err, VmError::NoSpace);
    assert_eq!(b.len(), 1);
    // With room for both they land.
    b.set_max_entries(3);
    let dst = b.copyout(&mut s.objects, copy, 0).unwrap();
    assert_eq!(b.len(), 3);
    assert_eq!(s.read(&mut b, dst), 1);
    s.check(&[&a, &b]);
    s.destroy(&mut a);
    s.destroy(&mut b);
    s.check_empty();
}

#[test]
fn overwrite_needs_room_for_its_cuts_exactly() {
    let mut s = Sim::new();
    let mut a = Sim::map();
    let copy = two_piece_copy(&mut s, &mut a);
    // Overwriting the middle of one entry with two pieces cuts it three
    // times: three more entries.
    let mut b = VmMap::with_max_entries(MIN, MAX, 3).unwrap();
    let dst = b.allocate(0, 4 * P, true).unwrap();
    let (err, copy) = s.copy_overwrite(&mut b, copy, dst + P).unwrap_err();
    assert_eq!(err, VmError::NoSpace);
    assert_eq!(b.len(), 1);
    b.set_max_entries(4);
    let d = s.copy_overwrite(&mut b, copy, dst + P).unwrap();
    s.reclaim(d.reclaim);
    assert_eq!(b.len(), 4);
    assert_eq!(s.read(&mut b, dst + P), 1);
    assert_eq!(s.read(&mut b, dst + 3 * P), 0);
    s.check(&[&a, &b]);
    s.destroy(&mut a);
    s.destroy(&mut b);
    s.check_empty();
}
