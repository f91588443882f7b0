//! Tests of fault resolution: protection checks, lazy anonymous objects, zero
//! fill, pager requests, copy-on-write mappings of memory objects, statistics.

use super::harness::*;
use crate::vm::*;

#[test]
fn fault_errors() {
    let mut s = Sim::new();
    let mut m = Sim::map();
    let a = m.allocate(0, 2 * P, true).unwrap();
    assert_eq!(s.access(&mut m, a + 2 * P, VmProt::READ), Err(VmError::InvalidAddress));
    assert_eq!(s.access(&mut m, 0, VmProt::READ), Err(VmError::InvalidAddress));
    assert_eq!(s.access(&mut m, u64::MAX, VmProt::READ), Err(VmError::InvalidAddress));
    assert_eq!(s.access(&mut m, a, VmProt::EXECUTE), Err(VmError::ProtectionFailure));
    s.protect(&mut m, a, P, false, VmProt::NONE).unwrap();
    assert_eq!(s.access(&mut m, a, VmProt::READ), Err(VmError::ProtectionFailure));
    assert_eq!(s.access(&mut m, a, VmProt::NONE), Err(VmError::ProtectionFailure));
    // Failed faults create nothing.
    assert_eq!(s.objects.len(), 0);
    s.check(&[&m]);
}

#[test]
fn zero_fill_then_soft_fault() {
    let mut s = Sim::new();
    let mut m = Sim::map();
    let a = m.allocate(0, 4 * P, true).unwrap();
    assert!(m.lookup(a).unwrap().object.is_none());
    let act = resolve_fault(&mut m, &mut s.objects, a + P + 3, VmProt::READ).unwrap();
    let obj = m.lookup(a).unwrap().object.unwrap();
    assert_eq!(
        act,
        FaultAction::ZeroFill {
            object: obj,
            offset: P,
            writable: true
        }
    );
    assert_eq!(s.objects.get(obj).unwrap().size(), 4 * P);
    let f = s.frame(0);
    s.objects.insert_page(obj, P, f).unwrap();
    let act = resolve_fault(&mut m, &mut s.objects, a + P, VmProt::WRITE).unwrap();
    assert_eq!(
        act,
        FaultAction::Map {
            page: f,
            writable: true
        }
    );
    assert!(s.objects.get(obj).unwrap().page(P).unwrap().dirty);
    s.check(&[&m]);
    s.destroy(&mut m);
    s.check_empty();
}

#[test]
fn pager_backed_mapping() {
    let mut s = Sim::new();
    let mut m = Sim::map();
    let obj = s.objects.create(4 * P, Some(50)).unwrap();
    s.external.push(obj);
    s.pager_data.insert((50, 2 * P), 0xfeed);
    let req = MapRequest {
        object: Some(obj),
        offset: P,
        copy: false,
        protection: VmProt::DEFAULT,
        max_protection: VmProt::ALL,
        inheritance: VmInherit::Share,
    };
    let a = m.map_object(&mut s.objects, 0, 3 * P, true, req).unwrap();
    let act = resolve_fault(&mut m, &mut s.objects, a + P, VmProt::READ).unwrap();
    assert_eq!(
        act,
        FaultAction::AskPager {
            object: obj,
            pager: 50,
            offset: 2 * P,
            length: P,
            desired_access: VmProt::READ
        }
    );
    assert_eq!(act.kind(), FaultKind::PagerRequest);
    // The pager's data_supply arrives: insert, retry, found.
    let f = s.frame(0xfeed);
    s.objects.insert_page(obj, 2 * P, f).unwrap();
    assert_eq!(
        resolve_fault(&mut m, &mut s.objects, a + P, VmProt::READ),
        Ok(FaultAction::Map {
            page: f,
            writable: true
        })
    );
    // Writes go to the object itself (shared mapping).
    s.write(&mut m, a, 5);
    let Lookup::Found { page, in_top, .. } = s.objects.lookup_page(obj, P).unwrap() else {
        panic!()
    };
    assert!(in_top);
    assert_eq!(s.contents[&page], 5);
    s.check(&[&m]);
    s.destroy(&mut m);
    s.release(obj);
    s.check_empty();
}

#[test]
fn copy_mapping_of_memory_object_is_private() {
    let mut s = Sim::new();
    let mut m = Sim::map();
    let obj = s.objects.create(2 * P, Some(60)).unwrap();
    s.external.push(obj);
    s.pager_data.insert((60, 0), 11);
    let req = MapRequest {
        object: Some(obj),
        offset: 0,
        copy: true,
        protection: VmProt::DEFAULT,
        max_protection: VmProt::ALL,
        inheritance: VmInherit::Copy,
    };
    let a = m.map_object(&mut s.objects, 0, 2 * P, true, req).unwrap();
    assert!(m.lookup(a).unwrap().needs_copy);
    // A read maps the object's page read-only (copy pending).
    assert_eq!(s.read(&mut m, a), 11);
    let (page, writable) = s.access(&mut m, a, VmProt::READ).unwrap();
    assert!(!writable);
    // A write pushes a shadow and copies the page into it.
    s.write(&mut m, a, 12);
    let top = m.lookup(a).unwrap().object.unwrap();
    assert_ne!(top, obj);
    assert_eq!(s.objects.get(top).unwrap().shadow(), Some((obj, 0)));
    assert_eq!(s.contents[&page], 11, "the memory object's page is unchanged");
    assert_eq!(s.read(&mut m, a), 12);
    // Even when the map holds the last reference, writes never reach the pager's object.
    s.release(obj);
    s.write(&mut m, a + P, 13);
    assert_eq!(s.objects.get(top).unwrap().resident_count(), 2);
    assert!(
        s.objects
            .get(obj)
            .unwrap()
            .page(P)
            .is_some_and(|r| s.contents[&r.page] == 0)
    );
    s.check(&[&m]);
    s.destroy(&mut m);
    assert_eq!(s.terminated, std::vec![60]);
    s.check_empty();
}

#[test]
fn stats_count_kinds() {
    let mut s = Sim::new();
    let mut m = Sim::map();
    let a = m.allocate(0, 2 * P, true).unwrap();
    s.write(&mut m, a, 1);
    // Through the writable mapping the write entered: no fault.
    s.read(&mut m, a);
    let mut c = s.fork(&mut m);
    s.read(&mut c, a);
    s.write(&mut c, a, 2);
    let st = s.stats;
    assert_eq!(
        (st.zero_fill, st.soft, st.cow_copy, st.pager_request, st.faults),
        (1, 1, 1, 0, 3)
    );
    s.check(&[&m, &c]);
    s.destroy(&mut c);
    s.destroy(&mut m);
    s.check_empty();
}

#[test]
fn pager_page_locks() {
    let mut s = Sim::new();
    let mut m = Sim::map();
    let obj = s.objects.create(4 * P, Some(60)).unwrap();
    s.external.push(obj);
    let req = MapRequest {
        object: Some(obj),
        offset: P,
        copy: false,
        protection: VmProt::DEFAULT,
        max_protection: VmProt::ALL,
        inheritance: VmInherit::Share,
    };
    let a = m.map_object(&mut s.objects, 0, 2 * P, true, req).unwrap();
    let f = s.frame(7);
    s.objects.insert_page(obj, P, f).unwrap();
    // Anonymous objects cannot be locked; a missing page neither.
    let anon = s.objects.create(P, None).unwrap();
    assert_eq!(
        s.objects.set_lock(anon, 0, VmProt::WRITE),
        Err(VmError::InvalidArgument)
    );
    assert_eq!(
        s.objects.set_lock(obj, 2 * P, VmProt::WRITE),
        Err(VmError::InvalidArgument)
    );
    let r = s.objects.deallocate(anon).unwrap();
    s.reclaim(r);
    // Locked against writes: reads map read-only, a write asks for an unlock.
    s.objects.set_lock(obj, P, VmProt::WRITE).unwrap();
    assert_eq!(
        resolve_fault(&mut m, &mut s.objects, a, VmProt::READ),
        Ok(FaultAction::Map {
            page: f,
            writable: false
        })
    );
    assert_eq!(
        resolve_fault(&mut m, &mut s.objects, a, VmProt::WRITE),
        Ok(FaultAction::AskUnlock {
            object: obj,
            pager: 60,
            offset: P,
            desired_access: VmProt::WRITE
        })
    );
    // The unlock request is out: a second fault waits, and asks nothing.
    assert_eq!(
        resolve_fault(&mut m, &mut s.objects, a, VmProt::WRITE),
        Ok(FaultAction::WaitPager { object: obj, offset: P })
    );
    assert_eq!(s.objects.page_state(obj, P).map(|st| st.is_waiting()), Ok(true));
    // The pager answers with a lock_request keeping the lock: the request ends.
    s.objects.set_lock(obj, P, VmProt::WRITE).unwrap();
    assert_eq!(s.objects.get(obj).unwrap().outstanding(), 0);
    // A private copy may still copy a write-locked page (it only reads it)...
    let creq = MapRequest {
        copy: true,
        inheritance: VmInherit::Copy,
        ..req
    };
    let c = m.map_object(&mut s.objects, 0, P, true, creq).unwrap();
    s.write(&mut m, c, 9);
    assert_eq!(s.read(&mut m, a), 7);
    // ...but not a read-locked one.
    s.objects.set_lock(obj, P, VmProt::READ | VmProt::WRITE).unwrap();
    let c2 = m.map_object(&mut s.objects, 0, P, true, creq).unwrap();
    assert!(matches!(
        resolve_fault(&mut m, &mut s.objects, c2, VmProt::WRITE),
        Ok(FaultAction::AskUnlock { offset, desired_access: VmProt::READ, .. }) if offset == P
    ));
    // The pager unlocks: the write goes through.
    s.objects.set_lock(obj, P, VmProt::NONE).unwrap();
    s.write(&mut m, a, 8);
    assert_eq!(s.read(&mut m, a), 8);
    s.check(&[&m]);
    s.destroy(&mut m);
    s.release(obj);
    s.check_empty();
}
