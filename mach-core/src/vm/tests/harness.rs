//! Test harness: a simulated kernel around the VM model. It owns the object
//! arena, hands out fake physical frames, carries out [`FaultAction`]s (copying
//! page "contents", a single `u64` per page), keeps a [`Pmap`] per map (the
//! hardware mappings: reads and writes go through them without faulting when
//! they allow it, as on a CPU) and checks invariants plus frame accounting
//! (every live frame is cached in exactly one object).

use std::collections::{HashMap, HashSet};
use std::vec::Vec;

use crate::vm::invariants::{check, check_pmap, resident_pages};
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
    /// The hardware mappings of each map, by [`VmMap::id`].
    pub pmaps: HashMap<u64, Pmap>,
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
            pmaps: HashMap::new(),
        }
    }

    /// The hardware mappings of `map`.
    pub fn pmap(&mut self, map: &VmMap) -> &mut Pmap {
        self.pmaps.entry(map.id()).or_default()
    }

    /// Removes every hardware mapping of `page`, in every map.
    pub fn unmap_page(&mut self, page: PageId) {
        for p in self.pmaps.values_mut() {
            p.remove_page(page);
        }
    }

    /// Removes the hardware mappings of the ranges a deallocation unmapped.
    pub fn unmap(&mut self, map: &VmMap, d: &Deallocation) {
        let p = self.pmap(map);
        for u in &d.unmapped {
            p.remove(u.start, u.end);
        }
    }

    /// Write-protects the hardware mappings of `ranges`.
    pub fn write_protect(&mut self, map: &VmMap, ranges: &[(u64, u64)]) {
        let p = self.pmap(map);
        for &(start, end) in ranges {
            p.write_protect(start, end);
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

    /// Frees the pages of `r` (after removing their hardware mappings, as
    /// the kernel does before reusing a frame).
    pub fn reclaim(&mut self, r: Reclaim) {
        for p in r.pages {
            assert!(self.live.remove(&p), "frame {p:#x} freed twice or never allocated");
            self.contents.remove(&p);
            self.unmap_page(p);
        }
        self.terminated.extend(r.pagers);
    }

    /// Resolves faults until the page at `addr` is mapped; enters the
    /// mapping in the map's pmap and returns it. The fake pagers answer at
    /// once, with `pager_data` (zero where absent).
    pub fn access(&mut self, map: &mut VmMap, addr: u64, access: VmProt) -> Result<(PageId, bool), VmError> {
        let (page, writable) = self.resolve(map, addr, access)?;
        self.pmap(map).enter(addr, page, writable);
        Ok((page, writable))
    }

    fn resolve(&mut self, map: &mut VmMap, addr: u64, access: VmProt) -> Result<(PageId, bool), VmError> {
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
                    // The kernel removes the mappings of `from` made through
                    // `into_object`; removing all of them is simpler and
                    // only costs later faults.
                    self.unmap_page(from);
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
                    assert!(self.objects.supply_page(object, offset, f).unwrap());
                }
                FaultAction::FillAbsent { object, offset } => {
                    let f = self.frame(0);
                    self.objects.supply_page(object, offset, f).unwrap();
                }
                // The fake pager unlocks at once.
                FaultAction::AskUnlock { object, offset, .. } => {
                    self.objects.set_lock(object, offset, VmProt::NONE).unwrap();
                }
                FaultAction::WaitPager { object, offset } => {
                    panic!("the fake pager answers at once: nothing to wait for at {object}/{offset:#x}")
                }
            }
        }
        panic!("fault did not converge");
    }

    /// A read, as the CPU does it: through the hardware mapping if there is
    /// one, else after a fault.
    pub fn read(&mut self, map: &mut VmMap, addr: u64) -> u64 {
        self.try_read(map, addr).unwrap()
    }

    /// [`Self::read`], returning the fault's error.
    pub fn try_read(&mut self, map: &mut VmMap, addr: u64) -> Result<u64, VmError> {
        let page = match self.pmap(map).lookup(addr) {
            Some(m) => m.page,
            None => self.access(map, addr, VmProt::READ)?.0,
        };
        Ok(self.contents[&page])
    }

    /// A write, as the CPU does it: through a writable hardware mapping if
    /// there is one, else after a write fault (which must map it writable).
    pub fn write(&mut self, map: &mut VmMap, addr: u64, value: u64) {
        self.try_write(map, addr, value).unwrap();
    }

    /// [`Self::write`], returning the fault's error.
    pub fn try_write(&mut self, map: &mut VmMap, addr: u64, value: u64) -> Result<(), VmError> {
        let page = match self.pmap(map).lookup(addr) {
            Some(m) if m.writable => m.page,
            _ => {
                let (page, writable) = self.access(map, addr, VmProt::WRITE)?;
                assert!(writable, "write fault mapped read-only");
                page
            }
        };
        self.contents.insert(page, value);
        Ok(())
    }

    pub fn dealloc(&mut self, map: &mut VmMap, addr: u64, size: u64) -> Result<Deallocation, VmError> {
        let d = map.deallocate(&mut self.objects, addr, size)?;
        self.unmap(map, &d);
        self.reclaim(d.reclaim.clone());
        Ok(d)
    }

    pub fn destroy(&mut self, map: &mut VmMap) {
        let d = map.destroy(&mut self.objects);
        self.unmap(map, &d);
        self.reclaim(d.reclaim);
        assert!(map.is_empty());
        let gone = self.pmaps.remove(&map.id());
        assert!(gone.is_none_or(|p| p.is_empty()), "mappings left after destroy");
    }

    pub fn fork(&mut self, map: &mut VmMap) -> VmMap {
        self.fork_with(map).unwrap().child
    }

    /// `fork`, write-protecting the parent's mappings that became copy-on-write.
    pub fn fork_with(&mut self, map: &mut VmMap) -> Result<Fork, VmError> {
        let f = map.fork(&mut self.objects)?;
        self.write_protect(map, &f.write_protect);
        Ok(f)
    }

    /// `vm_protect`, lowering the hardware mappings as the kernel does.
    pub fn protect(
        &mut self,
        map: &mut VmMap,
        addr: u64,
        size: u64,
        set_max: bool,
        prot: VmProt,
    ) -> Result<Vec<Reprotect>, VmError> {
        let changes = map.protect(&mut self.objects, addr, size, set_max, prot)?;
        let p = self.pmap(map);
        for r in &changes {
            p.lower(r.start, r.end, r.protection);
        }
        Ok(changes)
    }

    /// Copies `[addr, addr + size)` of `map` in (out-of-line memory),
    /// write-protecting what became copy-on-write.
    pub fn copyin(&mut self, map: &mut VmMap, addr: u64, size: u64) -> Result<CopyIn, VmError> {
        let ci = map.copyin(&mut self.objects, addr, size)?;
        self.write_protect(map, &ci.write_protect);
        Ok(ci)
    }

    /// Overwrites memory of `map` at `at` with `copy`, removing the hardware
    /// mappings of what it replaced (the caller releases `reclaim`).
    pub fn copy_overwrite(
        &mut self,
        map: &mut VmMap,
        copy: VmCopy,
        at: u64,
    ) -> Result<Deallocation, (VmError, VmCopy)> {
        let d = map.copy_overwrite(&mut self.objects, copy, at)?;
        self.unmap(map, &d);
        Ok(d)
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
        for m in maps {
            if let Some(p) = self.pmaps.get(&m.id())
                && let Err(v) = check_pmap(&self.objects, m, p)
            {
                panic!("pmap invariant violated: {v:?}");
            }
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
            self.unmap_page(r.page);
        }
    }
}

/// Entries of a map as `(start, end)` pairs.
pub fn spans(map: &VmMap) -> Vec<(u64, u64)> {
    map.entries().map(|e| (e.start, e.end)).collect()
}
