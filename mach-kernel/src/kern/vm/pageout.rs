//! Page-out: reclaiming resident pages of objects backed by a pager.
//!
//! A victim page is unmapped from every task that maps it (found by scanning
//! the maps whose entries name its object, as `kern::vm` does for
//! copy-on-write), taken out of its object, handed back to the object's pager
//! with `memory_object_data_return` when it was written (a page-table dirty
//! bit or the object's own dirty flag), and its frame freed. The next touch
//! faults and asks the pager again (`data_request`).
//!
//! Only pages nobody depends on in place are taken: an object with shadows,
//! with copy-on-write mappings of it (`needs_copy`), with references from
//! copies in flight or wired mappings keeps its pages, so a pager that
//! re-supplies different data can never change what a copy saw.
//!
//! Anonymous memory goes to the default pager (registered with
//! `vm_set_default_memory_manager`): the first page-out of an anonymous
//! object gives it a memory object there (`memory_object_create`), after
//! which its missing pages are asked for like any pager's (never-written
//! ones come back as `data_unavailable`, zero-filled). Its pages are always
//! written out: the default pager has no other copy.
//!
//! [`reclaim`] runs when free memory falls below [`LOW_WATER`] (checked on
//! each user fault) and on `host_vm_pageout`. Messages to pagers go through
//! [`PageoutIo`], so this module sends nothing itself.

use super::with_objects;
use crate::arch::paging::PAGE_SIZE;
use crate::kern::task;
use crate::mem;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use mach_core::vm::{VmError, VmProt};

/// Below this many free frames a fault first pages something out.
pub const LOW_WATER: usize = 256;
/// Pages taken per low-memory reclaim.
pub const BATCH: usize = 32;

/// PTE bits the CPU sets on an access and on a write.
const ACCESSED: u64 = 1 << 5;
const DIRTY: u64 = 1 << 6;

/// What page-out needs from the pager layer (implemented by `pager::PagerIo`
/// over the IPC state the caller holds).
pub trait PageoutIo {
    /// Whether anonymous memory can go to a default pager.
    fn have_default_pager(&mut self) -> bool;
    /// Gives anonymous `object` (`size` bytes) a default-pager memory object;
    /// returns its port.
    fn attach_default_pager(&mut self, object: u64, size: u64) -> Option<u64>;
    /// Sends `memory_object_data_return` of page `offset` to `pager`
    /// (`kept`: the kernel keeps its copy).
    fn data_return(&mut self, pager: u64, offset: u64, data: Vec<u8>, kept: bool);
}

/// Pages out up to `max` pages through `io`; returns how many.
///
/// Second chance: a first pass clears the referenced bits of the pages it
/// meets and keeps those that had one (a reactivation); a second pass, if
/// still needed, takes pages not referenced since.
pub fn reclaim(max: usize, io: &mut dyn PageoutIo) -> usize {
    let mut done = 0;
    let anonymous = io.have_default_pager();
    for pass in 0..2 {
        for (object, pager, size) in candidates(anonymous) {
            if done >= max {
                return done;
            }
            let Some(mappings) = mappings_if_evictable(object) else {
                continue;
            };
            let pages: Vec<(u64, u64, bool)> = with_objects(|o| {
                o.get(object)
                    .map(|obj| obj.resident().map(|(off, p)| (off, p.page, p.dirty)).collect())
                    .unwrap_or_default()
            });
            // Anonymous memory exists nowhere else: every page must be written out.
            let mut target = pager.map(|p| (p, false));
            for (offset, frame, model_dirty) in pages {
                if done >= max {
                    break;
                }
                let owner = mappings.first().map(|m| &*m.task);
                if pass == 0 && take_referenced(&mappings, offset, frame) {
                    super::count_reactivation(owner);
                    continue;
                }
                if target.is_none() {
                    target = io.attach_default_pager(object, size).map(|p| (p, true));
                }
                let Some((pager, all_dirty)) = target else { break };
                let dirty = unmap_everywhere(&mappings, offset, frame) | model_dirty | all_dirty;
                if with_objects(|o| o.remove_page(object, offset)).ok().flatten().is_none() {
                    continue;
                }
                if dirty {
                    io.data_return(pager, offset, frame_bytes(frame), false);
                }
                mem::free_page(frame);
                super::count_pageout(owner);
                done += 1;
            }
        }
    }
    done
}

/// A copy of a resident page's bytes.
fn frame_bytes(page: u64) -> Vec<u8> {
    let mut data = vec![0u8; PAGE_SIZE as usize];
    mem::read_page(page, &mut data);
    data
}

/// `memory_object_lock_request`'s work on the pages of `object` resident in
/// `range`: return them (`should_return` 1: those written since supplied,
/// 2: all) and, with `flush`, drop them. Pages a copy depends on (see the
/// module doc) are returned but not flushed.
pub fn clean(
    io: &mut dyn PageoutIo,
    object: u64,
    pager: u64,
    range: core::ops::Range<u64>,
    should_return: u32,
    flush: bool,
) {
    let (maps, evictable) = mappings(object);
    let flush = flush && evictable;
    let pages: Vec<(u64, u64, bool)> = with_objects(|o| {
        o.get(object)
            .map(|obj| {
                obj.resident()
                    .filter(|(off, _)| range.contains(off))
                    .map(|(off, p)| (off, p.page, p.dirty))
                    .collect()
            })
            .unwrap_or_default()
    });
    for (offset, frame, model_dirty) in pages {
        let dirty = if flush {
            unmap_everywhere(&maps, offset, frame)
        } else {
            clear_dirty(&maps, offset, frame)
        } | model_dirty;
        if should_return == 2 || (should_return == 1 && dirty) {
            io.data_return(pager, offset, frame_bytes(frame), !flush);
        }
        if flush {
            if with_objects(|o| o.remove_page(object, offset)).ok().flatten().is_some() {
                mem::free_page(frame);
            }
        } else {
            let _ = with_objects(|o| o.set_dirty(object, offset, false));
        }
    }
}

/// Sets the pager's lock `lock` on the pages of `object` resident in
/// `range`, and takes the locked access away from their mappings (a write
/// lock write-protects, a read lock unmaps); the next such access faults and
/// asks the pager to unlock (`memory_object_data_unlock`).
pub fn lock(object: u64, range: core::ops::Range<u64>, lock: VmProt) {
    let offsets: Vec<(u64, u64)> = with_objects(|o| {
        o.get(object)
            .map(|obj| {
                obj.resident()
                    .filter(|(off, _)| range.contains(off))
                    .map(|(off, p)| (off, p.page))
                    .collect()
            })
            .unwrap_or_default()
    });
    if offsets.is_empty() {
        return;
    }
    let (maps, _) = mappings(object);
    for (offset, frame) in offsets {
        let _ = with_objects(|o| o.set_lock(object, offset, lock));
        if lock.contains(VmProt::READ) {
            unmap_everywhere(&maps, offset, frame);
        } else if lock.contains(VmProt::WRITE) {
            take_bit(&maps, offset, frame, crate::arch::paging::PageFlags::WRITABLE);
        }
    }
}

/// Objects with resident pages and no shadows: those with a pager, and with
/// `anonymous` also those without one (for the default pager): (object,
/// pager, size).
fn candidates(anonymous: bool) -> Vec<(u64, Option<u64>, u64)> {
    with_objects(|o| {
        o.iter()
            .filter(|(_, obj)| obj.resident_count() > 0 && obj.shadowers().is_empty())
            .filter(|(_, obj)| anonymous || obj.pager().is_some())
            .map(|(id, obj)| (id, obj.pager(), obj.size()))
            .collect()
    })
}

/// One mapping of an object: `[start, end)` of `task` shows the object from `offset`.
struct Mapping {
    task: Arc<task::Task>,
    start: u64,
    end: u64,
    offset: u64,
}

impl Mapping {
    /// Where page `offset` of the object appears in this mapping, if it does.
    /// (Offsets come from user `vm_map` calls, so the sum is checked.)
    fn address_of(&self, offset: u64) -> Option<u64> {
        offset
            .checked_sub(self.offset)
            .and_then(|d| self.start.checked_add(d))
            .filter(|&va| va < self.end)
    }
}

/// Where `object` is mapped. `None` when some reference to it is not a
/// plain mapping (copy-on-write, wired, or a copy in flight).
fn mappings_if_evictable(object: u64) -> Option<Vec<Mapping>> {
    let (maps, evictable) = mappings(object);
    evictable.then_some(maps)
}

/// Every direct mapping of `object`, and whether its pages may leave memory:
/// no copy-on-write, wired or default-pager mapping of it, and no reference
/// from elsewhere (a copy in flight, a shadow).
fn mappings(object: u64) -> (Vec<Mapping>, bool) {
    let mut out = Vec::new();
    let mut evictable = true;
    for t in task::all() {
        let privileged = t.is_vm_privileged();
        let vm = t.vm.lock();
        for e in vm.map.entries().filter(|e| e.object == Some(object)) {
            evictable &= !(e.needs_copy || e.wired_count > 0 || privileged);
            out.push(Mapping {
                task: t.clone(),
                start: e.start,
                end: e.end,
                offset: e.offset,
            });
        }
    }
    let refs = with_objects(|o| {
        o.get(object)
            .map(|obj| (obj.ref_count() as usize, obj.shadowers().is_empty()))
    });
    evictable &= refs.is_some_and(|(n, unshadowed)| n == out.len() && unshadowed);
    (out, evictable)
}

/// Clears the referenced bit of every mapping of page `offset` (frame
/// `frame`); returns whether any was set.
fn take_referenced(mappings: &[Mapping], offset: u64, frame: u64) -> bool {
    take_bit(mappings, offset, frame, ACCESSED)
}

/// Clears the written bit of every mapping of page `offset` (frame `frame`);
/// returns whether any was set.
fn clear_dirty(mappings: &[Mapping], offset: u64, frame: u64) -> bool {
    take_bit(mappings, offset, frame, DIRTY)
}

fn take_bit(mappings: &[Mapping], offset: u64, frame: u64, bit: u64) -> bool {
    let mut was = false;
    for m in mappings {
        let Some(va) = m.address_of(offset) else {
            continue;
        };
        m.task.with_space(|space| {
            if let Some((pa, flags)) = space.translate(va)
                && pa == frame
                && flags.0 & bit != 0
            {
                was = true;
                let _ = space.set_flags(va, crate::arch::paging::PageFlags(flags.0 & !bit));
            }
        });
    }
    was
}

/// Unmaps page `offset` (frame `frame`) wherever it is mapped; returns
/// whether any mapping had written it.
fn unmap_everywhere(mappings: &[Mapping], offset: u64, frame: u64) -> bool {
    let mut dirty = false;
    for m in mappings {
        let Some(va) = m.address_of(offset) else {
            continue;
        };
        m.task.with_space(|space| {
            if let Some((pa, flags)) = space.translate(va)
                && pa == frame
            {
                dirty |= flags.0 & DIRTY != 0;
                let _ = space.unmap(va);
            }
        });
    }
    dirty
}

/// `vm_msync` of `[addr, addr + size)` in `task`: writes back (and with
/// `invalidate` drops) the resident pages of every object mapped there.
pub fn msync(io: &mut dyn PageoutIo, task: &task::Task, addr: u64, size: u64, invalidate: bool) -> Result<(), VmError> {
    let (start, end) = mach_core::vm::page_range(addr, size)?.ok_or(VmError::InvalidArgument)?;
    // (object, object range) for each piece of the address range.
    let mut pieces = Vec::new();
    {
        let vm = task.vm.lock();
        let mut at = start;
        while at < end {
            let e = vm.map.lookup(at).ok_or(VmError::InvalidAddress)?;
            let to = e.end.min(end);
            if let Some(obj) = e.object {
                let from = e.offset + (at - e.start);
                pieces.push((obj, from..from + (to - at)));
            }
            at = to;
        }
    }
    for (object, range) in pieces {
        let pager = with_objects(|o| o.get(object).map(|x| x.pager())).ok_or(VmError::InvalidObject)?;
        let (pager, all) = match pager {
            Some(p) => (p, false),
            None if !io.have_default_pager() => return Err(VmError::MemoryFailure),
            None => {
                if !mappings(object).1 {
                    continue;
                }
                let size = with_objects(|o| o.get(object).map(|x| x.size())).unwrap_or(0);
                (
                    io.attach_default_pager(object, size).ok_or(VmError::MemoryFailure)?,
                    true,
                )
            }
        };
        clean(io, object, pager, range, if all { 2 } else { 1 }, invalidate);
    }
    Ok(())
}
