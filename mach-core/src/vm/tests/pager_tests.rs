//! The external-pager protocol's page states (`vm::pager`): one request per
//! page however many faults, duplicate and out-of-range supplies refused,
//! `data_error`, `data_unavailable`, pager death with waiters, and the bound
//! on outstanding requests.

use super::harness::*;
use crate::vm::invariants::check;
use crate::vm::*;

const PAGER: u64 = 70;

/// A map with `pages` pages of a new object of `PAGER` mapped at the
/// returned address (read-write, shared); the object's own reference is
/// kept in `s.external`.
fn pager_map(s: &mut Sim, pages: u64) -> (VmMap, ObjectId, u64) {
    let mut m = Sim::map();
    let obj = s.objects.create(pages * P, Some(PAGER)).unwrap();
    s.external.push(obj);
    let req = MapRequest {
        object: Some(obj),
        offset: 0,
        copy: false,
        protection: VmProt::DEFAULT,
        max_protection: VmProt::ALL,
        inheritance: VmInherit::Share,
    };
    let a = m.map_object(&mut s.objects, 0, pages * P, true, req).unwrap();
    (m, obj, a)
}

fn ok(s: &Sim, m: &VmMap) {
    check(&s.objects, &[m], &s.external).unwrap();
}

#[test]
fn second_fault_while_requested_waits() {
    let mut s = Sim::new();
    let (mut m, obj, a) = pager_map(&mut s, 2);
    let first = resolve_fault(&mut m, &mut s.objects, a + P, VmProt::READ).unwrap();
    assert!(matches!(first, FaultAction::AskPager { object, offset, .. } if object == obj && offset == P));
    assert_eq!(s.objects.page_state(obj, P), Ok(PageState::Requested));
    // Another fault on the page (a write this time) sends nothing.
    for access in [VmProt::READ, VmProt::WRITE] {
        assert_eq!(
            resolve_fault(&mut m, &mut s.objects, a + P + 8, access),
            Ok(FaultAction::WaitPager { object: obj, offset: P })
        );
    }
    assert_eq!(s.objects.get(obj).unwrap().outstanding(), 1);
    ok(&s, &m);
    // The supply ends the request and says there were waiters; the fault maps it.
    let f = s.frame(5);
    assert_eq!(s.objects.supply_page(obj, P, f), Ok(true));
    assert_eq!(s.objects.get(obj).unwrap().outstanding(), 0);
    assert_eq!(
        resolve_fault(&mut m, &mut s.objects, a + P, VmProt::READ),
        Ok(FaultAction::Map {
            page: f,
            writable: true
        })
    );
    // A request the fault could not send is withdrawn: the next fault asks again.
    assert!(matches!(
        resolve_fault(&mut m, &mut s.objects, a, VmProt::READ),
        Ok(FaultAction::AskPager { .. })
    ));
    s.objects.cancel_request(obj, 0).unwrap();
    assert_eq!(s.objects.page_state(obj, 0), Ok(PageState::Absent));
    assert!(matches!(
        resolve_fault(&mut m, &mut s.objects, a, VmProt::READ),
        Ok(FaultAction::AskPager { .. })
    ));
    ok(&s, &m);
    s.destroy(&mut m);
    s.release(obj);
    s.check_empty();
}

#[test]
fn duplicate_supply_is_refused() {
    let mut s = Sim::new();
    let (mut m, obj, a) = pager_map(&mut s, 2);
    assert!(matches!(
        resolve_fault(&mut m, &mut s.objects, a, VmProt::READ),
        Ok(FaultAction::AskPager { .. })
    ));
    let first = s.frame(1);
    assert_eq!(s.objects.supply_page(obj, 0, first), Ok(true));
    // The second supply of a resident page changes nothing: the caller frees it.
    let dup = s.frame(2);
    assert_eq!(s.objects.supply_page(obj, 0, dup), Err(VmError::MemoryPresent));
    s.live.remove(&dup);
    s.contents.remove(&dup);
    assert_eq!(s.objects.get(obj).unwrap().page(0).map(|r| r.page), Some(first));
    assert_eq!(s.read(&mut m, a), 1);
    // Unsolicited data for an absent page is taken (and there were no waiters).
    let extra = s.frame(3);
    assert_eq!(s.objects.supply_page(obj, P, extra), Ok(false));
    assert_eq!(s.read(&mut m, a + P), 3);
    // data_error and data_unavailable leave a resident page alone.
    assert_eq!(s.objects.data_error(obj, 0), Err(VmError::MemoryPresent));
    assert_eq!(s.objects.data_unavailable(obj, 0), Err(VmError::MemoryPresent));
    assert_eq!(s.read(&mut m, a), 1);
    s.check(&[&m]);
    s.destroy(&mut m);
    s.release(obj);
    s.check_empty();
}

#[test]
fn supply_outside_the_object_is_refused() {
    let mut s = Sim::new();
    let (m, obj, _) = pager_map(&mut s, 2);
    for offset in [2 * P, 100 * P, !(P - 1), P + 1] {
        let f = s.frame(9);
        assert_eq!(s.objects.supply_page(obj, offset, f), Err(VmError::InvalidArgument));
        s.live.remove(&f);
        s.contents.remove(&f);
        assert_eq!(s.objects.data_error(obj, offset), Err(VmError::InvalidArgument));
        assert_eq!(s.objects.data_unavailable(obj, offset), Err(VmError::InvalidArgument));
    }
    // Pager states exist only for pager-backed objects.
    let anon = s.objects.create(P, None).unwrap();
    assert_eq!(s.objects.request_page(anon, 0), Err(VmError::InvalidArgument));
    assert_eq!(s.objects.data_error(anon, 0), Err(VmError::InvalidArgument));
    let r = s.objects.deallocate(anon).unwrap();
    s.reclaim(r);
    assert_eq!(s.objects.get(obj).unwrap().resident_count(), 0);
    s.check(&[&m]);
    let mut m = m;
    s.destroy(&mut m);
    s.release(obj);
    s.check_empty();
}

#[test]
fn data_error_fails_waiters_and_later_faults() {
    let mut s = Sim::new();
    let (mut m, obj, a) = pager_map(&mut s, 2);
    assert!(matches!(
        resolve_fault(&mut m, &mut s.objects, a, VmProt::READ),
        Ok(FaultAction::AskPager { .. })
    ));
    // An error for a page nobody asked for is ignored, as in Mach.
    assert_eq!(s.objects.data_error(obj, P), Ok(false));
    assert_eq!(s.objects.page_state(obj, P), Ok(PageState::Absent));
    assert_eq!(s.objects.data_error(obj, 0), Ok(true));
    assert_eq!(s.objects.page_state(obj, 0), Ok(PageState::Error));
    // A second error (or zero fill) for it answers nothing.
    assert_eq!(s.objects.data_unavailable(obj, 0), Ok(false));
    assert_eq!(s.objects.page_state(obj, 0), Ok(PageState::Error));
    assert_eq!(s.objects.get(obj).unwrap().outstanding(), 0);
    ok(&s, &m);
    // The waiter, looking again, fails; so does every later fault: no new request.
    for access in [VmProt::READ, VmProt::WRITE] {
        assert_eq!(
            resolve_fault(&mut m, &mut s.objects, a, access),
            Err(VmError::MemoryError)
        );
    }
    assert_eq!(VmError::MemoryError.kr(), mach_abi::kern_return::KERN_MEMORY_ERROR);
    // The other page is not affected.
    assert_eq!(s.read(&mut m, a + P), 0);
    // The pager changing its mind (a supply) clears the error.
    let f = s.frame(4);
    assert_eq!(s.objects.supply_page(obj, 0, f), Ok(false));
    assert_eq!(s.read(&mut m, a), 4);
    s.check(&[&m]);
    s.destroy(&mut m);
    s.release(obj);
    s.check_empty();
}

#[test]
fn data_unavailable_zero_fills_in_the_fault() {
    let mut s = Sim::new();
    let (mut m, obj, a) = pager_map(&mut s, 1);
    assert!(matches!(
        resolve_fault(&mut m, &mut s.objects, a, VmProt::WRITE),
        Ok(FaultAction::AskPager { .. })
    ));
    assert_eq!(s.objects.data_unavailable(obj, 0), Ok(true));
    assert_eq!(s.objects.page_state(obj, 0), Ok(PageState::Unavailable));
    ok(&s, &m);
    // The fault itself zero-fills (where it can wait for memory), then maps.
    assert_eq!(
        resolve_fault(&mut m, &mut s.objects, a, VmProt::WRITE),
        Ok(FaultAction::FillAbsent { object: obj, offset: 0 })
    );
    s.write(&mut m, a, 6);
    assert!(matches!(s.objects.page_state(obj, 0), Ok(PageState::Resident(_))));
    assert_eq!(s.read(&mut m, a), 6);
    s.check(&[&m]);
    s.destroy(&mut m);
    s.release(obj);
    s.check_empty();
}

#[test]
fn pager_death_fails_waiters_and_new_faults() {
    let mut s = Sim::new();
    let (mut m, obj, a) = pager_map(&mut s, 4);
    // Page 0 resident, page 1 requested with waiters, page 3 locked with an
    // unlock request out, page 2 never touched.
    s.write(&mut m, a, 8);
    assert!(matches!(
        resolve_fault(&mut m, &mut s.objects, a + P, VmProt::READ),
        Ok(FaultAction::AskPager { .. })
    ));
    assert!(matches!(
        resolve_fault(&mut m, &mut s.objects, a + P, VmProt::READ),
        Ok(FaultAction::WaitPager { .. })
    ));
    let f = s.frame(3);
    s.objects.supply_page(obj, 3 * P, f).unwrap();
    s.objects.set_lock(obj, 3 * P, VmProt::WRITE).unwrap();
    assert!(matches!(
        resolve_fault(&mut m, &mut s.objects, a + 3 * P, VmProt::WRITE),
        Ok(FaultAction::AskUnlock { .. })
    ));
    assert_eq!(s.objects.get(obj).unwrap().outstanding(), 2);
    ok(&s, &m);
    let death = s.objects.pager_died(obj).unwrap();
    assert_eq!(death.woken, std::vec![P, 3 * P]);
    let o = s.objects.get(obj).unwrap();
    assert!(o.pager_dead());
    assert_eq!(o.outstanding(), 0);
    assert_eq!(s.objects.page_state(obj, P), Ok(PageState::Error));
    assert!(matches!(s.objects.page_state(obj, 3 * P), Ok(PageState::Resident(_))));
    ok(&s, &m);
    // The waiters fail at once, and so do faults on pages never asked for.
    assert_eq!(
        resolve_fault(&mut m, &mut s.objects, a + P, VmProt::READ),
        Err(VmError::MemoryError)
    );
    assert_eq!(
        resolve_fault(&mut m, &mut s.objects, a + 2 * P, VmProt::READ),
        Err(VmError::MemoryError)
    );
    assert_eq!(
        resolve_fault(&mut m, &mut s.objects, a + 3 * P, VmProt::WRITE),
        Err(VmError::MemoryError)
    );
    // Resident pages stay readable (and writable where unlocked).
    assert_eq!(s.read(&mut m, a), 8);
    s.write(&mut m, a, 9);
    assert_eq!(s.read(&mut m, a + 3 * P), 3);
    s.check(&[&m]);
    s.destroy(&mut m);
    s.release(obj);
    s.check_empty();
}

#[test]
fn outstanding_requests_are_bounded() {
    let mut s = Sim::new();
    let pages = u64::from(MAX_PAGER_PAGES) + 2;
    let (mut m, obj, a) = pager_map(&mut s, pages);
    for i in 0..u64::from(MAX_PAGER_PAGES) {
        assert!(matches!(
            resolve_fault(&mut m, &mut s.objects, a + i * P, VmProt::READ),
            Ok(FaultAction::AskPager { .. })
        ));
    }
    let over = a + u64::from(MAX_PAGER_PAGES) * P;
    assert_eq!(
        resolve_fault(&mut m, &mut s.objects, over, VmProt::READ),
        Err(VmError::ResourceShortage)
    );
    // Faults on pages already requested still wait.
    assert!(matches!(
        resolve_fault(&mut m, &mut s.objects, a, VmProt::READ),
        Ok(FaultAction::WaitPager { .. })
    ));
    ok(&s, &m);
    // One answer makes room for one more request.
    s.objects.data_unavailable(obj, 0).unwrap();
    assert!(matches!(
        resolve_fault(&mut m, &mut s.objects, over, VmProt::READ),
        Ok(FaultAction::AskPager { .. })
    ));
    ok(&s, &m);
    let death = s.objects.pager_died(obj).unwrap();
    assert_eq!(death.woken.len(), MAX_PAGER_PAGES as usize);
    ok(&s, &m);
    s.destroy(&mut m);
    s.release(obj);
    s.check_empty();
}

#[test]
fn invariants_catch_bad_pager_states() {
    use crate::vm::invariants::Violation;
    let mut s = Sim::new();
    let (mut m, obj, a) = pager_map(&mut s, 2);
    s.write(&mut m, a, 1);
    let bad = |s: &Sim, m: &VmMap| {
        matches!(
            check(&s.objects, &[m], &s.external),
            Err(Violation::BadPagerState { .. })
        )
    };
    // Requested while resident.
    s.objects
        .obj_mut(obj)
        .unwrap()
        .set_pager_page(0, Some(PagerPage::Requested));
    assert!(bad(&s, &m));
    s.objects.obj_mut(obj).unwrap().set_pager_page(0, None);
    ok(&s, &m);
    // Unlock-requested while absent.
    s.objects
        .obj_mut(obj)
        .unwrap()
        .set_pager_page(P, Some(PagerPage::UnlockRequested));
    assert!(bad(&s, &m));
    s.objects
        .obj_mut(obj)
        .unwrap()
        .set_pager_page(P, Some(PagerPage::Requested));
    ok(&s, &m);
    // A miscounted request, and a request of a dead pager.
    s.objects.obj_mut(obj).unwrap().outstanding = 2;
    assert!(bad(&s, &m));
    s.objects.obj_mut(obj).unwrap().outstanding = 1;
    s.objects.obj_mut(obj).unwrap().pager_dead = true;
    assert!(bad(&s, &m));
    s.objects.obj_mut(obj).unwrap().pager_dead = false;
    ok(&s, &m);
    s.destroy(&mut m);
    s.release(obj);
    s.check_empty();
}

#[test]
fn answer_ranges_are_bounded() {
    let mut s = Sim::new();
    let (mut m, obj, a) = pager_map(&mut s, 4);
    assert_eq!(s.objects.answer_range(obj, P, 1), Ok((P, 2 * P)));
    assert_eq!(s.objects.answer_range(obj, 0, 2 * P), Ok((0, 2 * P)));
    // Cut at the object's end, however large the size.
    assert_eq!(s.objects.answer_range(obj, P, u64::MAX), Ok((P, 4 * P)));
    for (off, len) in [(4 * P, P), (1, P), (0, 0), (!(P - 1), P)] {
        assert_eq!(s.objects.answer_range(obj, off, len), Err(VmError::InvalidArgument));
    }
    // Cut after MAX_ANSWER_PAGES pages in a large object.
    let big = s.objects.create(1 << 40, Some(PAGER)).unwrap();
    assert_eq!(
        s.objects.answer_range(big, P, u64::MAX),
        Ok((P, P + MAX_ANSWER_PAGES * P))
    );
    let r = s.objects.deallocate(big).unwrap();
    s.reclaim(r);
    // Unlock requests in a range.
    s.write(&mut m, a + 2 * P, 1);
    s.objects.set_lock(obj, 2 * P, VmProt::WRITE).unwrap();
    assert!(matches!(
        resolve_fault(&mut m, &mut s.objects, a + 2 * P, VmProt::WRITE),
        Ok(FaultAction::AskUnlock { .. })
    ));
    assert_eq!(s.objects.unlock_requests_in(obj, 0, 4 * P), std::vec![2 * P]);
    assert!(s.objects.unlock_requests_in(obj, 3 * P, 4 * P).is_empty());
    s.objects.set_lock(obj, 2 * P, VmProt::NONE).unwrap();
    s.destroy(&mut m);
    s.release(obj);
    s.check_empty();
}

#[test]
fn unasked_supplies_are_refused_while_memory_is_short() {
    let mut s = Sim::new();
    let (mut m, obj, a) = pager_map(&mut s, 3);
    // Page 1 asked for, pages 0 and 2 not.
    assert!(matches!(
        resolve_fault(&mut m, &mut s.objects, a + P, VmProt::READ),
        Ok(FaultAction::AskPager { .. })
    ));
    let f = s.frame(1);
    assert_eq!(
        s.objects.supply_answer(obj, 0, f, true),
        Err(VmError::ResourceShortage),
        "unasked, memory short"
    );
    s.reclaim(Reclaim {
        pages: std::vec![f],
        pagers: std::vec![],
    });
    assert_eq!(s.objects.get(obj).unwrap().page(0), None);
    let f = s.frame(2);
    assert_eq!(
        s.objects.supply_answer(obj, P, f, true),
        Ok(true),
        "asked: taken however short"
    );
    let f = s.frame(3);
    assert_eq!(
        s.objects.supply_answer(obj, 2 * P, f, false),
        Ok(false),
        "unasked, memory plentiful"
    );
    assert_eq!(s.objects.get(obj).unwrap().page(2 * P).map(|p| p.page), Some(f));
    ok(&s, &m);
}

#[test]
fn only_requested_pages_are_waited_for() {
    let r = ResidentPage {
        page: 1,
        dirty: false,
        lock: VmProt::WRITE,
    };
    assert!(PageState::Requested.is_waiting());
    assert!(PageState::UnlockRequested(r).is_waiting());
    for st in [
        PageState::Absent,
        PageState::Resident(r),
        PageState::Unavailable,
        PageState::Error,
    ] {
        assert!(!st.is_waiting(), "{st:?}");
    }
}
