//! Out-of-line message memory as virtual copies: a region of a page or more is
//! taken from the sender as a copy-on-write `VmCopy` (its pages are not
//! copied; the sender's mappings lose write access) and mapped into the
//! receiver, which sees the data as it was at send time. Smaller regions are
//! copied as bytes by the IPC layer.
//!
//! Copies in flight live here under the handle the IPC model carries in the
//! message; a message destroyed unreceived gives its handle back and the copy
//! is discarded ([`discard`], run after the IPC lock is released).

use super::task::Task;
use super::vm::{self, ANYWHERE_BASE, with_objects};
use crate::arch::paging::PAGE_SIZE;
use alloc::collections::BTreeMap;
use core::sync::atomic::{AtomicU64, Ordering};
use mach_core::vm::VmCopy;
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
/// from `task` with `dealloc`); `None` for a region to copy as bytes. `Err`
/// when the range is not mapped readable.
pub fn copyin(task: &Task, addr: u64, size: u64, dealloc: bool) -> Result<Option<u64>, ()> {
    if size < VIRTUAL_COPY_MIN {
        return Ok(None);
    }
    if !vm::in_range(addr, size) {
        return Err(());
    }
    let ci = {
        let mut map = task.vm.lock();
        with_objects(|o| map.map.copyin(o, addr, size)).map_err(|_| ())?
    };
    vm::write_protect(task, &ci.write_protect);
    if dealloc {
        let _ = vm::deallocate(task, addr, size);
    }
    let handle = NEXT.fetch_add(1, Ordering::Relaxed);
    let page_offset = addr & (PAGE_SIZE - 1);
    COPIES.lock().insert(handle, InFlight { copy: ci.copy, page_offset });
    Ok(Some(handle))
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

/// Drops a copy whose message died unreceived.
pub fn discard(handle: u64) {
    let Some(f) = COPIES.lock().remove(&handle) else {
        return;
    };
    let reclaim = with_objects(|o| f.copy.discard(o));
    vm::release(reclaim);
}

/// Copies in flight (for the end-of-run audit).
pub fn in_flight() -> usize {
    COPIES.lock().len()
}
