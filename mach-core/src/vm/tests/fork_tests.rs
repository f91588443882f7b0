//! Tests of inheritance and fork: SHARE, COPY and NONE semantics, copy-on-write
//! isolation through fault resolution, and bounded shadow chains over many
//! fork/write/exit generations.

use super::harness::*;
use crate::vm::*;
use std::vec;

#[test]
fn inherit_none_is_left_out() {
    let mut s = Sim::new();
    let mut m = Sim::map();
    let a = m.allocate(0, 3 * P, true).unwrap();
    s.write(&mut m, a + P, 1);
    m.inherit(&mut s.objects, a + P, P, VmInherit::None).unwrap();
    let mut c = s.fork(&mut m);
    assert_eq!(spans(&c), vec![(a, a + P), (a + 2 * P, a + 3 * P)]);
    assert!(c.lookup(a + P).is_none());
    assert_eq!(s.access(&mut c, a + P, VmProt::READ), Err(VmError::InvalidAddress));
    s.check(&[&m, &c]);
    s.destroy(&mut c);
    s.destroy(&mut m);
    s.check_empty();
}

#[test]
fn inherit_share_shares_writes_both_ways() {
    let mut s = Sim::new();
    let mut m = Sim::map();
    let a = m.allocate(0, 2 * P, true).unwrap();
    m.inherit(&mut s.objects, a, 2 * P, VmInherit::Share).unwrap();
    // Untouched anonymous memory gets its object at fork so both sides share it.
    let mut c = s.fork(&mut m);
    let obj = m.lookup(a).unwrap().object.unwrap();
    assert_eq!(c.lookup(a).unwrap().object, Some(obj));
    assert_eq!(s.objects.ref_count(obj), 2);
    s.write(&mut c, a, 7);
    assert_eq!(s.read(&mut m, a), 7);
    s.write(&mut m, a + P, 8);
    assert_eq!(s.read(&mut c, a + P), 8);
    assert_eq!(s.stats.cow_copy, 0);
    s.check(&[&m, &c]);
    s.destroy(&mut m);
    assert_eq!(s.read(&mut c, a), 7);
    s.destroy(&mut c);
    s.check_empty();
}

#[test]
fn inherit_copy_isolates_through_faults() {
    let mut s = Sim::new();
    let mut m = Sim::map();
    let a = m.allocate(0, 2 * P, true).unwrap();
    s.write(&mut m, a, 1);
    let obj = m.lookup(a).unwrap().object.unwrap();
    let original = match s.objects.lookup_page(obj, 0).unwrap() {
        Lookup::Found { page, .. } => page,
        other => panic!("{other:?}"),
    };
    let f = s.fork_with(&mut m).unwrap();
    let mut c = f.child;
    assert_eq!(f.write_protect, vec![(a, a + 2 * P)]);
    assert!(m.lookup(a).unwrap().needs_copy && c.lookup(a).unwrap().needs_copy);
    assert_eq!(c.lookup(a).unwrap().object, Some(obj));
    // The child reads the parent's page, read-only.
    assert_eq!(s.access(&mut c, a, VmProt::READ), Ok((original, false)));
    // The child writes: a shadow object is pushed and the page copied into it.
    let act = resolve_fault(&mut c, &mut s.objects, a, VmProt::WRITE).unwrap();
    let child_top = c.lookup(a).unwrap().object.unwrap();
    assert_ne!(child_top, obj);
    assert_eq!(
        act,
        FaultAction::CopyPage {
            from: original,
            into_object: child_top,
            offset: 0,
            then_map_writable: true
        }
    );
    let copy = s.frame(s.contents[&original]);
    s.objects.insert_page(child_top, 0, copy).unwrap();
    s.pmap(&c).enter(a, copy, true);
    s.contents.insert(copy, 2);
    // The parent still finds the original page, with the original contents.
    let parent_top = m.lookup(a).unwrap().object.unwrap();
    assert_eq!(parent_top, obj);
    assert_eq!(
        s.objects.lookup_page(parent_top, 0),
        Ok(Lookup::Found {
            object: obj,
            page: original,
            in_top: true
        })
    );
    assert_eq!(s.read(&mut m, a), 1);
    assert_eq!(s.read(&mut c, a), 2);
    // The parent writes too: it gets its own shadow; the child is unaffected.
    s.write(&mut m, a, 3);
    assert_eq!(s.read(&mut c, a), 2);
    assert_eq!(s.read(&mut m, a), 3);
    // A page nobody touched stays zero on both sides, independently.
    s.write(&mut c, a + P, 4);
    assert_eq!(s.read(&mut m, a + P), 0);
    s.check(&[&m, &c]);
    s.destroy(&mut c);
    s.check(&[&m]);
    s.destroy(&mut m);
    s.check_empty();
}

#[test]
fn fork_of_untouched_memory_stays_lazy() {
    let mut s = Sim::new();
    let mut m = Sim::map();
    let a = m.allocate(0, 2 * P, true).unwrap();
    let f = s.fork_with(&mut m).unwrap();
    let mut c = f.child;
    assert!(f.write_protect.is_empty());
    assert!(c.lookup(a).unwrap().object.is_none());
    s.write(&mut c, a, 5);
    assert_eq!(s.read(&mut m, a), 0);
    assert_eq!(s.objects.len(), 2);
    s.check(&[&m, &c]);
    s.destroy(&mut c);
    s.destroy(&mut m);
    s.check_empty();
}

#[test]
fn share_after_copy_performs_the_pending_copy() {
    let mut s = Sim::new();
    let mut m = Sim::map();
    let a = m.allocate(0, P, true).unwrap();
    s.write(&mut m, a, 1);
    let mut c1 = s.fork(&mut m); // m and c1: copy-on-write
    m.inherit(&mut s.objects, a, P, VmInherit::Share).unwrap();
    let mut c2 = s.fork(&mut m); // m and c2 share the post-copy object
    assert!(!m.lookup(a).unwrap().needs_copy);
    assert_eq!(m.lookup(a).unwrap().object, c2.lookup(a).unwrap().object);
    s.write(&mut c2, a, 2);
    assert_eq!(s.read(&mut m, a), 2);
    assert_eq!(s.read(&mut c1, a), 1);
    s.write(&mut c1, a, 3);
    assert_eq!(s.read(&mut m, a), 2);
    assert_eq!(s.read(&mut c2, a), 2);
    s.check(&[&m, &c1, &c2]);
    for map in [&mut c1, &mut m, &mut c2] {
        s.destroy(map);
    }
    s.check_empty();
}

#[test]
fn child_does_not_inherit_wiring() {
    let mut s = Sim::new();
    let mut m = Sim::map();
    let a = m.allocate(0, 2 * P, true).unwrap();
    m.wire(&mut s.objects, a, P, true).unwrap();
    let c = s.fork(&mut m);
    assert_eq!(spans(&c), vec![(a, a + 2 * P)]);
    assert_eq!(c.lookup(a).unwrap().wired_count, 0);
    s.check(&[&m, &c]);
}

/// Runs `gens` generations of fork + writes + child exit and checks the
/// parent's chain depth and the object count after each.
fn generations(gens: u64, parent_writes: bool, child_writes: bool) {
    let mut s = Sim::new();
    let mut m = Sim::map();
    let a = m.allocate(0, 4 * P, true).unwrap();
    for i in 0..4 {
        s.write(&mut m, a + i * P, i);
    }
    let baseline = s.objects.len();
    let mut max_depth = 0;
    for g in 1..=gens {
        let mut c = s.fork(&mut m);
        if child_writes {
            s.write(&mut c, a + (g % 4) * P, 1000 + g);
            assert_eq!(s.read(&mut c, a + (g % 4) * P), 1000 + g);
        }
        if parent_writes {
            s.write(&mut m, a + ((g + 1) % 4) * P, g);
        }
        s.check(&[&m, &c]);
        s.destroy(&mut c);
        s.check(&[&m]);
        let top = m.lookup(a).unwrap().object.unwrap();
        let depth = s.objects.chain_depth(top).unwrap();
        max_depth = max_depth.max(depth);
        assert!(depth <= 2, "generation {g}: depth {depth}");
        assert_eq!(s.objects.len(), baseline, "generation {g}");
        assert_eq!(s.live.len(), 4, "generation {g}: frames");
    }
    assert!(max_depth <= 2);
    s.destroy(&mut m);
    s.check_empty();
}

#[test]
fn chains_stay_bounded_child_writes() {
    generations(1000, false, true);
}

#[test]
fn chains_stay_bounded_parent_writes() {
    generations(1000, true, false);
}

#[test]
fn chains_stay_bounded_both_write() {
    generations(1000, true, true);
}

#[test]
fn long_lived_children_collapse_when_they_exit() {
    let mut s = Sim::new();
    let mut m = Sim::map();
    let a = m.allocate(0, P, true).unwrap();
    s.write(&mut m, a, 0);
    let mut kids = std::vec::Vec::new();
    for g in 1..=20 {
        let mut c = s.fork(&mut m);
        s.write(&mut m, a, g);
        s.write(&mut c, a, 100 + g);
        kids.push(c);
    }
    let top = m.lookup(a).unwrap().object.unwrap();
    assert!(s.objects.chain_depth(top).unwrap() > 2);
    for (i, c) in kids.iter_mut().enumerate() {
        assert_eq!(s.read(c, a), 101 + i as u64);
    }
    while !kids.is_empty() {
        let mut c = kids.remove(0);
        s.destroy(&mut c);
        let mut all: std::vec::Vec<&VmMap> = kids.iter().collect();
        all.push(&m);
        s.check(&all);
    }
    let top = m.lookup(a).unwrap().object.unwrap();
    assert_eq!(s.objects.chain_depth(top).unwrap(), 1);
    assert_eq!(s.objects.len(), 1);
    assert_eq!(s.read(&mut m, a), 20);
    s.destroy(&mut m);
    s.check_empty();
}

/// A read fault in a forked child maps the parent's page read-only, so the
/// child's later write (through the CPU, i.e. the pmap) faults and copies;
/// likewise a read of a page still only in the shadowed object after the
/// child's first write pushed its shadow. The parent keeps its values.
#[test]
fn fork_read_then_write_keeps_parent() {
    let mut s = Sim::new();
    let mut m = Sim::map();
    let a = m.allocate(0, 3 * P, true).unwrap();
    for i in 0..3 {
        s.write(&mut m, a + i * P, 10 + i);
    }
    let mut c = s.fork(&mut m);
    // Read first (a read fault of the parent's page), then write.
    assert_eq!(s.read(&mut c, a + P), 11);
    s.check(&[&m, &c]);
    s.write(&mut c, a + P, 21);
    // The first write pushed the child's shadow; a page still only in the
    // parent's object is read through it, then written.
    assert_eq!(s.read(&mut c, a + 2 * P), 12);
    s.check(&[&m, &c]);
    s.write(&mut c, a + 2 * P, 22);
    s.write(&mut c, a, 20);
    s.check(&[&m, &c]);
    for i in 0..3 {
        assert_eq!(s.read(&mut m, a + i * P), 10 + i, "parent page {i}");
        assert_eq!(s.read(&mut c, a + i * P), 20 + i, "child page {i}");
    }
    // And the parent's writes do not reach the child either.
    s.write(&mut m, a + P, 31);
    assert_eq!(s.read(&mut c, a + P), 21);
    s.check(&[&m, &c]);
    s.destroy(&mut c);
    s.destroy(&mut m);
    s.check_empty();
}

#[test]
fn read_through_a_shadow_shares_the_lower_page() {
    let mut s = Sim::new();
    let mut m = Sim::map();
    let a = m.allocate(0, 2 * P, true).unwrap();
    s.write(&mut m, a, 1);
    s.write(&mut m, a + P, 2);
    let obj = m.lookup(a).unwrap().object.unwrap();
    let lower = match s.objects.lookup_page(obj, P).unwrap() {
        Lookup::Found { page, .. } => page,
        other => panic!("{other:?}"),
    };
    let mut c = s.fork(&mut m);
    // The child's write pushes its shadow; page 1 stays below it.
    s.write(&mut c, a, 3);
    assert_ne!(c.lookup(a).unwrap().object, Some(obj));
    let (copies, frames) = (s.stats.cow_copy, s.live.len());
    // A read of page 1 maps the lower object's page read-only: no copy.
    assert_eq!(
        resolve_fault(&mut c, &mut s.objects, a + P, VmProt::READ),
        Ok(FaultAction::Map {
            page: lower,
            writable: false
        })
    );
    assert_eq!(s.read(&mut c, a + P), 2);
    assert_eq!((s.stats.cow_copy, s.live.len()), (copies, frames));
    s.check(&[&m, &c]);
    s.destroy(&mut c);
    s.destroy(&mut m);
    s.check_empty();
}

#[test]
fn fork_write_protects_only_what_became_copy_on_write() {
    let mut s = Sim::new();
    let mut m = Sim::map();
    let a = m.allocate(0, 3 * P, true).unwrap();
    s.write(&mut m, a, 1);
    s.write(&mut m, a + 2 * P, 1);
    s.protect(&mut m, a + P, P, false, VmProt::READ).unwrap();
    // The read-only middle has nothing writable to protect.
    let f = s.fork_with(&mut m).unwrap();
    assert_eq!(f.write_protect, vec![(a, a + P), (a + 2 * P, a + 3 * P)]);
    let mut c1 = f.child;
    // A second fork finds the copies still pending: nothing new to protect.
    let f = s.fork_with(&mut m).unwrap();
    assert_eq!(f.write_protect, vec![]);
    let mut c2 = f.child;
    s.check(&[&m, &c1, &c2]);
    s.destroy(&mut c1);
    s.destroy(&mut c2);
    s.destroy(&mut m);
    s.check_empty();
}
