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
//! re-supplies different data can never change what a copy saw. Anonymous
//! memory is not paged out yet: it needs the default pager.
//!
//! [`reclaim`] runs when free memory falls below [`LOW_WATER`] (checked on
//! each fault that needs a frame) and on `host_vm_pageout`.

use super::task;
use super::vm::{self, with_objects};
use crate::arch::paging::{self, PAGE_SIZE};
use crate::mem;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

/// Below this many free frames a fault first pages something out.
pub const LOW_WATER: usize = 256;
/// Pages taken per low-memory reclaim.
pub const BATCH: usize = 32;

/// PTE bit the CPU sets on a write.
const DIRTY: u64 = 1 << 6;

/// Pages out up to `max` pages of pager-backed objects; returns how many.
/// Takes the IPC lock to send each `data_return`: not for callers holding it.
pub fn reclaim(max: usize) -> usize {
    reclaim_with(max, &mut |pager, offset, data| {
        super::ipc::with(|ipc| super::pager::data_return(ipc, pager, offset, data, true));
    })
}

/// [`reclaim`] with `send(pager, offset, data)` sending each
/// `data_return` (a kernel server passes its IPC state).
pub fn reclaim_with(max: usize, send: &mut dyn FnMut(u64, u64, Vec<u8>)) -> usize {
    let mut done = 0;
    for (object, pager) in candidates() {
        if done >= max {
            break;
        }
        let Some(mappings) = mappings_if_evictable(object) else {
            continue;
        };
        let pages: Vec<(u64, u64, bool)> = with_objects(|o| {
            o.get(object)
                .map(|obj| {
                    obj.resident()
                        .map(|(off, p)| (off, p.page, p.dirty))
                        .take(max - done)
                        .collect()
                })
                .unwrap_or_default()
        });
        for (offset, frame, model_dirty) in pages {
            let dirty = unmap_everywhere(&mappings, offset, frame) | model_dirty;
            if with_objects(|o| o.remove_page(object, offset)).ok().flatten().is_none() {
                continue;
            }
            if dirty {
                let mut data = vec![0u8; PAGE_SIZE as usize];
                let page: &mut [u8; PAGE_SIZE as usize] = (&mut data[..]).try_into().expect("one page");
                paging::read_frame(frame, page);
                send(pager, offset, data);
            }
            mem::free_frame(frame);
            vm::count_pageout();
            done += 1;
        }
    }
    done
}

/// Pager-backed objects with resident pages and no shadows.
fn candidates() -> Vec<(u64, u64)> {
    with_objects(|o| {
        o.iter()
            .filter(|(_, obj)| obj.resident_count() > 0 && obj.shadowers().is_empty())
            .filter_map(|(id, obj)| Some((id, obj.pager()?)))
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

/// Where `object` is mapped. `None` when some reference to it is not a
/// plain mapping (copy-on-write, wired, or a copy in flight).
fn mappings_if_evictable(object: u64) -> Option<Vec<Mapping>> {
    let mut out = Vec::new();
    for t in task::all() {
        let vm = t.vm.lock();
        for e in vm.map.entries().filter(|e| e.object == Some(object)) {
            if e.needs_copy || e.wired_count > 0 {
                return None;
            }
            out.push(Mapping {
                task: t.clone(),
                start: e.start,
                end: e.end,
                offset: e.offset,
            });
        }
    }
    let refs = with_objects(|o| o.get(object).map(|obj| obj.ref_count() as usize))?;
    (refs == out.len()).then_some(out)
}

/// Unmaps page `offset` (frame `frame`) wherever it is mapped; returns
/// whether any mapping had written it.
fn unmap_everywhere(mappings: &[Mapping], offset: u64, frame: u64) -> bool {
    let mut dirty = false;
    for m in mappings {
        let Some(va) = offset
            .checked_sub(m.offset)
            .map(|d| m.start + d)
            .filter(|&va| va < m.end)
        else {
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
