//! Randomized operation sequences (xorshift, fixed seeds) over several maps and
//! shared objects, checking every invariant after every step and that nothing
//! leaks once all maps and references are gone.

use super::harness::*;
use crate::vm::*;
use std::vec::Vec;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// Mostly addresses in and around the map, sometimes anything at all.
    fn addr(&mut self, lo: u64, hi: u64) -> u64 {
        match self.below(10) {
            0 => self.next(),
            1 => u64::MAX - self.below(3 * P),
            _ => lo - P + self.below(hi - lo + 2 * P),
        }
    }
    fn size(&mut self) -> u64 {
        match self.below(12) {
            0 => 0,
            1 => self.next(),
            2 => u64::MAX - self.below(P),
            _ => 1 + self.below(10 * P),
        }
    }
}

const LO: u64 = 0x10_0000;
const HI: u64 = LO + 48 * P;

fn run(seed: u64, steps: usize) {
    let mut r = Rng(seed);
    let mut s = Sim::new();
    let mut maps: Vec<VmMap> = Vec::new();
    maps.push(VmMap::with_max_entries(LO, HI, 24).unwrap());
    let mut next_pager = 1000;
    for step in 0..steps {
        let mi = r.below(maps.len() as u64) as usize;
        let op = r.below(17);
        let (addr, size) = (r.addr(LO, HI), r.size());
        let m = &mut maps[mi];
        match op {
            0 => {
                let _ = m.allocate(addr, 1 + r.below(6 * P), true);
            }
            1 => {
                let _ = m.allocate(addr, size, false);
            }
            2 | 3 => {
                if let Ok(d) = m.deallocate(&mut s.objects, addr, size) {
                    s.unmap(m, &d);
                    for u in &d.unmapped {
                        assert!(u.start < u.end && u.start >= LO && u.end <= HI);
                    }
                    s.reclaim(d.reclaim);
                }
            }
            4 => {
                let prot = VmProt::from_bits_truncate(r.next() as u32);
                let set_max = r.below(4) == 0;
                let before = m.len();
                let res = s.protect(m, addr, size, set_max, prot);
                if res.is_err() {
                    assert_eq!(m.len(), before, "failed protect changed the map");
                }
            }
            5 => {
                let inh = VmInherit::from_raw(r.below(3) as u32).unwrap();
                let _ = m.inherit(&mut s.objects, addr, size, inh);
            }
            6 => {
                let _ = m.wire(&mut s.objects, addr, size, r.below(2) == 0);
            }
            7..=9 => {
                let access = if op == 7 { VmProt::READ } else { VmProt::WRITE };
                let a = LO + r.below(HI - LO);
                // Through the hardware mapping if it allows the access, as a CPU.
                let res = if access == VmProt::WRITE {
                    s.try_write(m, a, r.next())
                } else {
                    s.try_read(m, a).map(|_| ())
                };
                match res {
                    Ok(()) => {}
                    Err(e) => assert!(
                        matches!(e, VmError::InvalidAddress | VmError::ProtectionFailure),
                        "{e:?}"
                    ),
                }
            }
            10 => {
                if maps.len() < 4 {
                    let child = s.fork(&mut maps[mi]);
                    maps.push(child);
                }
            }
            11 => {
                if maps.len() > 1 {
                    let mut gone = maps.swap_remove(mi);
                    s.destroy(&mut gone);
                }
            }
            12 => {
                let pages = 1 + r.below(6);
                next_pager += 1;
                let obj = s.objects.create(pages * P, Some(next_pager)).unwrap();
                let req = MapRequest {
                    object: Some(obj),
                    offset: r.below(pages) * P,
                    copy: r.below(2) == 0,
                    protection: VmProt::DEFAULT,
                    max_protection: VmProt::ALL,
                    inheritance: VmInherit::from_raw(r.below(3) as u32).unwrap(),
                };
                let _ = m.map_object(&mut s.objects, addr, size, r.below(2) == 0, req);
                // Keep the object's own reference for a while, or drop it now.
                if r.below(2) == 0 {
                    s.external.push(obj);
                } else {
                    let rc = s.objects.deallocate(obj).unwrap();
                    s.reclaim(rc);
                }
            }
            14 | 15 => {
                // Out-of-line memory: a snapshot into another (or the same) map,
                // placed anywhere (14) or over existing memory (15).
                let Ok(ci) = s.copyin(m, addr, size) else {
                    continue;
                };
                let mj = r.below(maps.len() as u64) as usize;
                let at = r.addr(LO, HI) & !(P - 1);
                let placed = if op == 14 {
                    maps[mj]
                        .copyout(&mut s.objects, ci.copy, at)
                        .map(|_| Deallocation::default())
                } else {
                    s.copy_overwrite(&mut maps[mj], ci.copy, at)
                };
                match placed {
                    Ok(d) => s.reclaim(d.reclaim),
                    Err((_, copy)) => {
                        let rc = copy.discard(&mut s.objects);
                        s.reclaim(rc);
                    }
                }
            }
            _ => {
                if !s.external.is_empty() && r.below(2) == 0 {
                    let i = r.below(s.external.len() as u64) as usize;
                    let obj = s.external[i];
                    s.release(obj);
                } else {
                    let ids: Vec<ObjectId> = s.objects.iter().map(|(id, _)| id).collect();
                    if !ids.is_empty() {
                        let id = ids[r.below(ids.len() as u64) as usize];
                        let rc = s.objects.collapse(id).unwrap();
                        s.reclaim(rc);
                        // Page out a pager-backed page now and then.
                        if s.objects.get(id).unwrap().pager().is_some() {
                            let size = s.objects.get(id).unwrap().size();
                            s.evict(id, r.below(size / P) * P);
                        }
                    }
                }
            }
        }
        let refs: Vec<&VmMap> = maps.iter().collect();
        if let Err(v) = invariants::check(&s.objects, &refs, &s.external) {
            panic!("seed {seed:#x} step {step} op {op}: {v:?}");
        }
        for m in &maps {
            if let Some(p) = s.pmaps.get(&m.id())
                && let Err(v) = invariants::check_pmap(&s.objects, m, p)
            {
                panic!("seed {seed:#x} step {step} op {op}: {v:?}");
            }
        }
        s.check(&refs);
        for m in &maps {
            for e in m.entries() {
                if let Some(o) = e.object {
                    assert!(s.objects.chain_depth(o).is_ok());
                }
            }
        }
    }
    let st = s.stats;
    std::eprintln!(
        "seed {seed:#x}: {st:?}, {} objects, {} frames",
        s.objects.len(),
        s.live.len()
    );
    assert!(
        st.zero_fill > 0 && st.cow_copy > 0 && st.pager_request > 0 && st.soft > 0,
        "{st:?}"
    );
    for mut m in maps {
        s.destroy(&mut m);
    }
    while let Some(&o) = s.external.last() {
        s.release(o);
    }
    s.check_empty();
}

#[test]
fn random_operations() {
    for seed in [
        0x9e37_79b9_7f4a_7c15,
        1,
        0xdead_beef,
        42,
        0x1234_5678_9abc_def0,
        7,
        99,
        0x5555,
    ] {
        run(seed, 3000);
    }
}

/// The fault side of [`random_pager_protocol`]: resolves one fault and
/// carries out its action; pager requests are recorded in `asked`, which
/// must never get the same page twice while it is out.
fn pager_fault(
    s: &mut Sim,
    m: &mut VmMap,
    a: u64,
    access: VmProt,
    asked: &mut std::collections::HashSet<(ObjectId, u64)>,
) {
    let res = resolve_fault(m, &mut s.objects, a, access);
    if let Ok(act) = &res {
        s.stats.record(act.kind());
    }
    match res {
        Ok(FaultAction::Map { page, writable }) => s.pmap(m).enter(a, page, writable),
        Ok(FaultAction::CopyPage {
            from,
            into_object,
            offset,
            then_map_writable,
        }) => {
            let f = s.frame(s.contents[&from]);
            s.objects.insert_page(into_object, offset, f).unwrap();
            s.unmap_page(from);
            s.pmap(m).enter(a, f, then_map_writable);
        }
        Ok(FaultAction::ZeroFill {
            object,
            offset,
            writable,
        }) => {
            let f = s.frame(0);
            s.objects.insert_page(object, offset, f).unwrap();
            s.pmap(m).enter(a, f, writable);
        }
        Ok(FaultAction::FillAbsent { object, offset }) => {
            let f = s.frame(0);
            s.objects.supply_page(object, offset, f).unwrap();
        }
        Ok(FaultAction::AskPager { object, offset, .. } | FaultAction::AskUnlock { object, offset, .. }) => {
            assert!(
                asked.insert((object, offset)),
                "second request for {object}/{offset:#x}"
            );
        }
        Ok(FaultAction::WaitPager { object, offset }) => {
            assert!(asked.contains(&(object, offset)), "waiting for a request never sent");
        }
        Err(VmError::MemoryError) => {}
        Err(e) => panic!("{e:?}"),
    }
}

/// Randomized faults against pagers that answer late, twice, with errors,
/// zero fill, locks, or die: after every step the model's invariants hold
/// and the requests it has out are exactly those the faults were told to send.
fn run_pager(seed: u64, steps: usize) {
    use std::collections::HashSet;
    let mut r = Rng(seed);
    let mut s = Sim::new();
    let mut maps = std::vec![Sim::map()];
    let mut objs = Vec::new();
    let mut bases = Vec::new();
    for (i, pager) in [(0u64, 81u64), (1, 82)] {
        let obj = s.objects.create(8 * P, Some(pager)).unwrap();
        s.external.push(obj);
        objs.push(obj);
        let req = MapRequest {
            object: Some(obj),
            offset: 0,
            copy: i == 1,
            protection: VmProt::DEFAULT,
            max_protection: VmProt::ALL,
            inheritance: if i == 0 { VmInherit::Share } else { VmInherit::Copy },
        };
        bases.push(maps[0].map_object(&mut s.objects, 0, 8 * P, true, req).unwrap());
    }
    let mut asked: HashSet<(ObjectId, u64)> = HashSet::new();
    let mut errors = 0;
    for step in 0..steps {
        let oi = r.below(2) as usize;
        let (mut obj, mut off) = (objs[oi], r.below(9) * P);
        // The pager's answers mostly go to pages asked for.
        if !asked.is_empty() && r.below(4) != 0 {
            let mut v: Vec<_> = asked.iter().copied().collect();
            v.sort_unstable();
            (obj, off) = v[r.below(v.len() as u64) as usize];
        }
        match r.below(14) {
            0..=4 => {
                let mi = r.below(maps.len() as u64) as usize;
                let a = bases[oi] + r.below(8) * P;
                let access = if r.below(2) == 0 { VmProt::READ } else { VmProt::WRITE };
                let m = &mut maps[mi];
                match s.pmap(m).lookup(a) {
                    Some(e) if e.writable || access == VmProt::READ => {}
                    _ => pager_fault(&mut s, m, a, access, &mut asked),
                }
            }
            5 | 6 => {
                // A supply: usually of a page asked for, sometimes unsolicited,
                // a duplicate, or outside the object.
                let f = s.frame(r.next());
                match s.objects.supply_page(obj, off, f) {
                    Ok(_) => {
                        asked.remove(&(obj, off));
                    }
                    Err(e) => {
                        assert!(matches!(e, VmError::MemoryPresent | VmError::InvalidArgument));
                        s.live.remove(&f);
                        s.contents.remove(&f);
                    }
                }
            }
            7 => {
                if r.below(3) == 0 && s.objects.data_error(obj, off) == Ok(true) {
                    asked.remove(&(obj, off));
                    errors += 1;
                }
            }
            8 => {
                if s.objects.data_unavailable(obj, off) == Ok(true) {
                    asked.remove(&(obj, off));
                }
            }
            9 => {
                // lock_request: a lock (or unlock) of a resident page ends its unlock request.
                let lock = VmProt::from_bits_truncate(r.below(4) as u32);
                if s.objects.set_lock(obj, off, lock).is_ok() {
                    asked.remove(&(obj, off));
                    for p in s.pmaps.values_mut() {
                        if lock.contains(VmProt::WRITE) {
                            let page = s.objects.get(obj).unwrap().page(off).unwrap().page;
                            let vas: Vec<u64> = p.iter().filter(|(_, e)| e.page == page).map(|(va, _)| va).collect();
                            for va in vas {
                                if lock.contains(VmProt::READ) {
                                    p.remove(va, va + P);
                                } else {
                                    p.write_protect(va, va + P);
                                }
                            }
                        }
                    }
                }
            }
            10 | 11 => {
                if off < 8 * P {
                    if s.objects.get(obj).unwrap().pager_page(off) == Some(PagerPage::UnlockRequested) {
                        asked.remove(&(obj, off));
                    }
                    s.evict(obj, off);
                }
            }
            12 => {
                if r.below(100) == 0 {
                    let death = s.objects.pager_died(obj).unwrap();
                    for o in death.woken {
                        assert!(asked.remove(&(obj, o)));
                    }
                }
            }
            _ => {
                if maps.len() < 3 && r.below(2) == 0 {
                    let child = s.fork(&mut maps[0]);
                    maps.push(child);
                } else if maps.len() > 1 {
                    let mut gone = maps.pop().unwrap();
                    s.destroy(&mut gone);
                }
            }
        }
        let out: HashSet<(ObjectId, u64)> = s
            .objects
            .iter()
            .flat_map(|(id, o)| {
                o.pager_pages()
                    .filter(|(_, st)| matches!(st, PagerPage::Requested | PagerPage::UnlockRequested))
                    .map(move |(off, _)| (id, off))
            })
            .collect();
        assert_eq!(out, asked, "seed {seed:#x} step {step}: requests out");
        let refs: Vec<&VmMap> = maps.iter().collect();
        s.check(&refs);
    }
    std::eprintln!("pager seed {seed:#x}: {:?}, {errors} errors", s.stats);
    assert!(s.stats.pager_request > 0 && s.stats.pager_wait > 0 && s.stats.zero_fill > 0);
    for mut m in maps {
        s.destroy(&mut m);
    }
    while let Some(&o) = s.external.last() {
        s.release(o);
    }
    s.check_empty();
}

#[test]
fn random_pager_protocol() {
    for seed in [3, 0xfeed_f00d, 0x9e37_79b9_7f4a_7c15, 12345] {
        run_pager(seed, 2000);
    }
}
