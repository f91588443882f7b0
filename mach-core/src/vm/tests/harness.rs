//! Test harness: a simulated kernel around the VM model. It owns the object
//! arena, hands out fake physical frames, carries out [`FaultAction`]s (copying
//! page "contents", a single `u64` per page) and checks invariants plus frame
//! accounting (every live frame is cached in exactly one object).

use std::collections::{HashMap, HashSet};
use std::vec::Vec;

use crate::vm::invariants::{check, resident_pages};
use crate::vm::*;

pub const MIN: u64 = 0x1000;
pub const MAX: u64 = 0x1_0000_0000;
pub const P: u64 = PAGE_SIZE;

pub struct Sim {
    pub objects: VmObjects,
    next_frame: u64,
    pub live: HashSet<PageId>,
    pub contents: HashMap<PageId, u64>,
    /// Data the fake pagers return: (pager, offset) -> value.
    pub pager_data: HashMap<(u64, u64), u64>,
    pub terminated: Vec<u64>,
    pub stats: FaultStats,
    /// References held outside the maps (one element per reference).
    pub external: Vec<ObjectId>,
}

impl Sim {
    pub fn new() -> Sim {
        Sim {
            objects: VmObjects::new(),
            next_frame: 0x100,
            live: HashSet::new(),
            contents: HashMap::new(),
            pager_data: HashMap::new(),
            terminated: Vec::new(),
            stats: FaultStats::default(),
            external: Vec::new(),
        }
    }

    pub fn map() -> VmMap {
        VmMap::new(MIN, MAX).unwrap()
    }

    pub fn frame(&mut self, value: u64) -> PageId {
        self.next_frame += 1;
        let f = self.next_frame;
        self.live.insert(f);
        self.contents.insert(f, value);
        f
    }

    pub fn reclaim(&mut self, r: Reclaim) {
        for p in r.pages {
            assert!(self.live.remove(&p), "frame {p:#x} freed twice or never allocated");
            self.contents.remove(&p);
        }
        self.terminated.extend(r.pagers);
    }

    /// Resolves faults until the page at `addr` is mapped; returns it.
    pub fn access(&mut self, map: &mut VmMap, addr: u64, access: VmProt) -> Result<(PageId, bool), VmError> {
        for _ in 0..4 {
            let a = resolve_fault(map, &mut self.objects, addr, access)?;
            self.stats.record(a.kind());
            match a {
                FaultAction::Map { page, writable } => return Ok((page, writable)),
                FaultAction::CopyPage {
                    from,
                    into_object,
                    offset,
                    then_map_writable,
                } => {
                    let v = self.contents[&from];
                    let f = self.frame(v);
                    self.objects.insert_page(into_object, offset, f).unwrap();
                    return Ok((f, then_map_writable));
                }
                FaultAction::ZeroFill {
                    object,
                    offset,
                    writable,
                } => {
                    let f = self.frame(0);
                    self.objects.insert_page(object, offset, f).unwrap();
                    return Ok((f, writable));
                }
                FaultAction::AskPager {
                    object,
                    pager,
                    offset,
                    length,
                    ..
                } => {
                    assert_eq!(length, P);
                    let v = self.pager_data.get(&(pager, offset)).copied().unwrap_or(0);
                    let f = self.frame(v);
                    self.objects.insert_page(object, offset, f).unwrap();
                }
                // The fake pager unlocks at once.
                FaultAction::AskUnlock { object, offset, .. } => {
                    self.objects.set_lock(object, offset, VmProt::NONE).unwrap();
                }
            }
        }
        panic!("fault did not converge");
    }

    pub fn read(&mut self, map: &mut VmMap, addr: u64) -> u64 {
        let (page, _) = self.access(map, addr, VmProt::READ).unwrap();
        self.contents[&page]
    }

    pub fn write(&mut self, map: &mut VmMap, addr: u64, value: u64) {
        let (page, writable) = self.access(map, addr, VmProt::WRITE).unwrap();
        assert!(writable, "write fault mapped read-only");
        self.contents.insert(page, value);
    }

    pub fn dealloc(&mut self, map: &mut VmMap, addr: u64, size: u64) -> Result<Deallocation, VmError> {
        let d = map.deallocate(&mut self.objects, addr, size)?;
        self.reclaim(d.reclaim.clone());
        Ok(d)
    }

    pub fn destroy(&mut self, map: &mut VmMap) {
        let d = map.destroy(&mut self.objects);
        self.reclaim(d.reclaim);
        assert!(map.is_empty());
    }

    pub fn fork(&mut self, map: &mut VmMap) -> VmMap {
        map.fork(&mut self.objects).unwrap().child
    }

    /// Drops an external reference taken earlier.
    pub fn release(&mut self, obj: ObjectId) {
        let i = self.external.iter().position(|&o| o == obj).expect("not held");
        self.external.swap_remove(i);
        let r = self.objects.deallocate(obj).unwrap();
        self.reclaim(r);
    }

    /// Invariants of the model plus frame accounting.
    pub fn check(&self, maps: &[&VmMap]) {
        if let Err(v) = check(&self.objects, maps, &self.external) {
            panic!("invariant violated: {v:?}");
        }
        let cached: HashSet<PageId> = resident_pages(&self.objects).into_iter().collect();
        assert_eq!(cached, self.live, "live frames differ from cached pages");
    }

    /// Checks, and also that nothing is left when no map or reference remains.
    pub fn check_empty(&self) {
        self.check(&[]);
        assert!(self.external.is_empty());
        assert_eq!(self.objects.len(), 0, "objects leaked");
        assert!(self.live.is_empty(), "frames leaked");
    }

    /// Removes a page (pageout) and frees its frame.
    pub fn evict(&mut self, obj: ObjectId, offset: u64) {
        if let Some(r) = self.objects.remove_page(obj, offset).unwrap() {
            self.live.remove(&r.page);
            self.contents.remove(&r.page);
        }
    }
}

/// Entries of a map as `(start, end)` pairs.
pub fn spans(map: &VmMap) -> Vec<(u64, u64)> {
    map.entries().map(|e| (e.start, e.end)).collect()
}
