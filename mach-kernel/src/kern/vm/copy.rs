//! Out-of-line message memory as virtual copies: a region of a page or more is
//! taken from the sender as a copy-on-write `VmCopy` (its pages are not
//! copied; the sender's mappings lose write access) and mapped into the
//! receiver, which sees the data as it was at send time. Smaller regions are
//! copied as bytes by the IPC layer.
//!
//! Copies in flight live here under the handle the IPC model carries in the
//! message; a message destroyed unreceived gives its handle back and the copy
//! is discarded ([`discard`]).
//!
//! The same copies implement `vm_read` (a copy of the target task's range,
//! carried by the reply), `vm_write` (a new object holding the request's
//! bytes, laid over the destination) and `vm_copy` (a copy laid over another
//! range of the same task).

use super::{ANYWHERE_BASE, PagersGone, with_objects};
use crate::arch::paging::PAGE_SIZE;
use crate::kern::task::Task;
use crate::mem;
use alloc::collections::BTreeMap;
use core::sync::atomic::{AtomicU64, Ordering};
use mach_abi::kern_return::*;
use mach_core::vm::{VmCopy, VmError};
use spin::Mutex;

/// Regions at least this large travel as virtual copies.
pub const VIRTUAL_COPY_MIN: u64 = PAGE_SIZE;

/// A copy in flight and the offset of the sender's first byte in its first page.
struct InFlight {
    copy: VmCopy,
    page_offset: u64,
}

static COPIES: Mutex<BTreeMap<u64, InFlight>> = Mutex::new(BTreeMap::new());
static NEXT: AtomicU64 = AtomicU64::new(1);

/// Takes `[addr, addr + size)` of `task` as a virtual copy (deallocating it
/// from `task` with `dealloc`, which may end objects whose pagers go to
/// `gone`); `None` for a region to copy as bytes. `Err` when the range is
/// not mapped readable.
pub fn copyin(task: &Task, addr: u64, size: u64, dealloc: bool, gone: &mut PagersGone) -> Result<Option<u64>, ()> {
    if size < VIRTUAL_COPY_MIN {
        return Ok(None);
    }
    if !super::in_range(addr, size) {
        return Err(());
    }
    let ci = {
        let mut map = task.vm.lock();
        with_objects(|o| map.map.copyin(o, addr, size)).map_err(|_| ())?
    };
    super::write_protect(task, &ci.write_protect);
    if dealloc && let Ok(g) = super::deallocate(task, addr, size) {
        gone.merge(g);
    }
    Ok(Some(keep(ci.copy, addr & (PAGE_SIZE - 1))))
}

/// Keeps `copy` in flight under a new handle (the receiver sees its first
/// byte `page_offset` into the first page).
pub(super) fn keep(copy: VmCopy, page_offset: u64) -> u64 {
    let handle = NEXT.fetch_add(1, Ordering::Relaxed);
    COPIES.lock().insert(handle, InFlight { copy, page_offset });
    handle
}

/// `vm_read`: a copy of the pages covering `[addr, addr + size)` of `task`,
/// as a handle for the reply (the caller receives the bytes at `addr`'s
/// offset within the first page).
pub fn read(task: &Task, addr: u64, size: u64) -> Result<u64, KernReturn> {
    if size == 0 {
        return Err(KERN_INVALID_ARGUMENT);
    }
    let ci = {
        let mut map = task.vm.lock();
        with_objects(|o| map.map.copyin(o, addr, size)).map_err(VmError::kr)?
    };
    super::write_protect(task, &ci.write_protect);
    Ok(keep(ci.copy, addr & (PAGE_SIZE - 1)))
}

/// `vm_write`: lays whole pages of `data` over `task`'s memory at `addr`.
pub fn write(task: &Task, addr: u64, data: &[u8]) -> Result<PagersGone, KernReturn> {
    let len = data.len() as u64;
    if len == 0 || !len.is_multiple_of(PAGE_SIZE) || !addr.is_multiple_of(PAGE_SIZE) {
        return Err(KERN_INVALID_ARGUMENT);
    }
    let obj = with_objects(|o| o.create(len, None)).map_err(VmError::kr)?;
    for (i, chunk) in data.chunks(PAGE_SIZE as usize).enumerate() {
        let page = mem::alloc_frame().map(|mut f| {
            f.fill(chunk);
            f.into_page()
        });
        let inserted = page.map(|p| (p, with_objects(|o| o.insert_page(obj, i as u64 * PAGE_SIZE, p))));
        match inserted {
            Some((_, Ok(()))) => {}
            failed => {
                if let Some((p, Err(_))) = failed {
                    mem::free_page(p);
                }
                // A fresh anonymous object: no pager to tell.
                let _ = super::release(with_objects(|o| o.deallocate(obj)).unwrap_or_default());
                return Err(KERN_RESOURCE_SHORTAGE);
            }
        }
    }
    let copy = match with_objects(|o| VmCopy::from_object(o, obj)) {
        Ok(c) => c,
        Err(e) => {
            let _ = super::release(with_objects(|o| o.deallocate(obj)).unwrap_or_default());
            return Err(e.kr());
        }
    };
    overwrite(task, copy, addr)
}

/// `vm_copy`: lays a copy of `[source, source + size)` over `[dest, dest + size)`.
pub fn copy(task: &Task, source: u64, size: u64, dest: u64) -> Result<PagersGone, KernReturn> {
    let aligned = |x: u64| x.is_multiple_of(PAGE_SIZE);
    if size == 0 || !aligned(source) || !aligned(size) || !aligned(dest) {
        return Err(KERN_INVALID_ARGUMENT);
    }
    let ci = {
        let mut map = task.vm.lock();
        with_objects(|o| map.map.copyin(o, source, size)).map_err(VmError::kr)?
    };
    super::write_protect(task, &ci.write_protect);
    overwrite(task, ci.copy, dest)
}

/// Lays `copy` over `task`'s memory at `addr`; objects it replaced may die.
fn overwrite(task: &Task, copy: VmCopy, addr: u64) -> Result<PagersGone, KernReturn> {
    let placed = {
        let mut map = task.vm.lock();
        with_objects(|o| map.map.copy_overwrite(o, copy, addr))
    };
    match placed {
        Ok(d) => {
            for u in &d.unmapped {
                super::unmap_range(task, u.start, u.end);
            }
            Ok(super::release(d.reclaim))
        }
        Err((e, copy)) => {
            // Only the copy's own references go: its objects are a fresh
            // anonymous one (vm_write) or still named by the range it was
            // taken from (vm_copy), so none dies with a pager.
            let _ = super::release(with_objects(|o| copy.discard(o)));
            Err(e.kr())
        }
    }
}

/// Maps copy `handle` into `task`; returns the address of the first byte.
/// On error the copy stays in flight (the IPC layer releases it).
pub fn copyout(task: &Task, handle: u64) -> Result<u64, ()> {
    let f = COPIES.lock().remove(&handle).ok_or(())?;
    let placed = {
        let mut map = task.vm.lock();
        with_objects(|o| map.map.copyout(o, f.copy, ANYWHERE_BASE))
    };
    match placed {
        Ok(start) => Ok(start + f.page_offset),
        Err((_, copy)) => {
            let page_offset = f.page_offset;
            COPIES.lock().insert(handle, InFlight { copy, page_offset });
            Err(())
        }
    }
}

/// Drops a copy whose message died unreceived (or the kernel pages of a
/// message to a kernel object that no server took: `kpages`).
pub fn discard(handle: u64) -> PagersGone {
    if super::kpages::discard(handle) {
        return PagersGone::default();
    }
    let Some(f) = COPIES.lock().remove(&handle) else {
        return PagersGone::default();
    };
    let reclaim = with_objects(|o| f.copy.discard(o));
    super::release(reclaim)
}

/// Copies in flight (for the end-of-run audit).
pub fn in_flight() -> usize {
    COPIES.lock().len()
}
