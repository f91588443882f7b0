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
                let res = m.protect(&mut s.objects, addr, size, set_max, prot);
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
                match s.access(m, a, access) {
                    Ok((page, writable)) => {
                        assert!(s.live.contains(&page));
                        if access == VmProt::WRITE {
                            assert!(writable);
                            s.contents.insert(page, r.next());
                        }
                    }
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
                let Ok(ci) = m.copyin(&mut s.objects, addr, size) else {
                    continue;
                };
                let mj = r.below(maps.len() as u64) as usize;
                let at = r.addr(LO, HI) & !(P - 1);
                let placed = if op == 14 {
                    maps[mj]
                        .copyout(&mut s.objects, ci.copy, at)
                        .map(|_| Deallocation::default())
                } else {
                    maps[mj].copy_overwrite(&mut s.objects, ci.copy, at)
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
