//! Virtual memory of tasks: the sparse maps and objects of `mach_core::vm`,
//! carried out on page tables and frames.
//!
//! Each task has a `VmMap` over [`VM_MIN`, `VM_MAX`) (its program image and
//! initial stack, mapped by the loader, lie outside it). Memory there is
//! allocated lazily: `vm_allocate` only records an entry, and the first touch
//! of a page faults into [`fault`], which follows the model's four steps and
//! enters the page. Pages of VM objects are marked in the page tables so that
//! tearing an address space down leaves them to the objects, which give them
//! back when their last reference goes.
//!
//! Not yet here (the rest of the VM issue): copy-on-write between tasks
//! (task_create), external and default pagers, page-out.

use super::task::Task;
use crate::arch::paging::{self, PAGE_SIZE, PageFlags};
use crate::mem;
use mach_abi::kern_return::*;
use mach_core::vm::{FaultAction, FaultStats, Region, VmError, VmInherit, VmMap, VmObjects, VmProt, resolve_fault};
use spin::Mutex;

/// The part of every task's address space the VM map manages.
pub const VM_MIN: u64 = 0x0000_1000_0000_0000;
pub const VM_MAX: u64 = 0x0000_7000_0000_0000;

static OBJECTS: Mutex<Option<VmObjects>> = Mutex::new(None);
static FAULTS: Mutex<FaultStats> = Mutex::new(FaultStats {
    faults: 0,
    soft: 0,
    zero_fill: 0,
    cow_copy: 0,
    pager_request: 0,
});

/// A task's map and fault counts.
pub struct TaskVm {
    pub map: VmMap,
    pub stats: FaultStats,
}

impl TaskVm {
    pub fn new() -> Self {
        TaskVm {
            map: VmMap::new(VM_MIN, VM_MAX).expect("VM bounds"),
            stats: FaultStats::default(),
        }
    }
}

impl Default for TaskVm {
    fn default() -> Self {
        Self::new()
    }
}

fn with_objects<R>(f: impl FnOnce(&mut VmObjects) -> R) -> R {
    let mut g = OBJECTS.lock();
    f(g.get_or_insert_with(VmObjects::new))
}

/// Whether `[addr, addr + size)` lies inside the managed range.
pub fn in_range(addr: u64, size: u64) -> bool {
    addr >= VM_MIN && addr.checked_add(size).is_some_and(|end| end <= VM_MAX)
}

fn page_flags(prot: VmProt) -> PageFlags {
    let f = PageFlags::user(prot.contains(VmProt::WRITE), prot.contains(VmProt::EXECUTE));
    PageFlags(f.0 | PageFlags::OBJECT_PAGE)
}

/// `vm_allocate`.
pub fn allocate(task: &Task, addr: u64, size: u64, anywhere: bool) -> Result<u64, KernReturn> {
    task.vm.lock().map.allocate(addr, size, anywhere).map_err(VmError::kr)
}

/// Removes the hardware mappings of `[start, end)` (pages stay with their objects).
fn unmap_range(task: &Task, start: u64, end: u64) {
    task.with_space(|space| {
        let mut va = start;
        while va < end {
            let _ = space.unmap(va);
            va += PAGE_SIZE;
        }
    });
}

/// `vm_deallocate` within the managed range.
pub fn deallocate(task: &Task, addr: u64, size: u64) -> Result<(), KernReturn> {
    let d = {
        let mut vm = task.vm.lock();
        with_objects(|o| vm.map.deallocate(o, addr, size)).map_err(VmError::kr)?
    };
    for u in &d.unmapped {
        unmap_range(task, u.start, u.end);
    }
    for p in d.reclaim.pages {
        mem::free_frame(p);
    }
    Ok(())
}

/// `vm_protect`.
pub fn protect(task: &Task, addr: u64, size: u64, set_max: bool, prot: u32) -> Result<(), KernReturn> {
    let prot = VmProt::from_bits(prot).ok_or(KERN_INVALID_ARGUMENT)?;
    let changes = {
        let mut vm = task.vm.lock();
        with_objects(|o| vm.map.protect(o, addr, size, set_max, prot)).map_err(VmError::kr)?
    };
    task.with_space(|space| {
        for r in changes {
            let mut va = r.start;
            while va < r.end {
                if space.translate(va).is_some() {
                    if r.protection.contains(VmProt::READ) {
                        let _ = space.set_flags(va, page_flags(r.protection));
                    } else {
                        // x86 cannot map a page without read access: leave it unmapped.
                        let _ = space.unmap(va);
                    }
                }
                va += PAGE_SIZE;
            }
        }
    });
    Ok(())
}

/// `vm_inherit`.
pub fn inherit(task: &Task, addr: u64, size: u64, inheritance: u32) -> Result<(), KernReturn> {
    let inheritance = VmInherit::from_raw(inheritance).ok_or(KERN_INVALID_ARGUMENT)?;
    let mut vm = task.vm.lock();
    with_objects(|o| vm.map.inherit(o, addr, size, inheritance)).map_err(VmError::kr)
}

/// `vm_region`.
pub fn region(task: &Task, addr: u64) -> Option<Region> {
    task.vm.lock().map.region(addr)
}

/// Resolves a page fault at `addr` in `task`; `Ok` means the access can be retried.
pub fn fault(task: &Task, addr: u64, write: bool) -> Result<(), VmError> {
    if !in_range(addr, 1) {
        return Err(VmError::InvalidAddress);
    }
    let access = if write {
        VmProt::READ | VmProt::WRITE
    } else {
        VmProt::READ
    };
    let page_va = addr & !(PAGE_SIZE - 1);
    let mut vm = task.vm.lock();
    let mut objects = OBJECTS.lock();
    let objects = objects.get_or_insert_with(VmObjects::new);
    let action = resolve_fault(&mut vm.map, objects, addr, access)?;
    let kind = action.kind();
    let (frame, writable) = match action {
        FaultAction::Map { page, writable } => (page, writable),
        FaultAction::ZeroFill {
            object,
            offset,
            writable,
        } => {
            let frame = mem::alloc_frame().ok_or(VmError::ResourceShortage)?;
            paging::zero_frame(frame);
            if let Err(e) = objects.insert_page(object, offset, frame) {
                mem::free_frame(frame);
                return Err(e);
            }
            (frame, writable)
        }
        FaultAction::CopyPage {
            from,
            into_object,
            offset,
            then_map_writable,
        } => {
            let frame = mem::alloc_frame().ok_or(VmError::ResourceShortage)?;
            paging::copy_frame(from, frame);
            if let Err(e) = objects.insert_page(into_object, offset, frame) {
                mem::free_frame(frame);
                return Err(e);
            }
            (frame, then_map_writable)
        }
        // No pagers yet: the memory cannot be had.
        FaultAction::AskPager { .. } => return Err(VmError::MemoryFailure),
    };
    let prot = if writable {
        VmProt::READ | VmProt::WRITE
    } else {
        VmProt::READ
    };
    task.with_space(|space| space.enter(page_va, frame, page_flags(prot)))
        .map_err(|_| VmError::ResourceShortage)?;
    vm.stats.record(kind);
    FAULTS.lock().record(kind);
    Ok(())
}

/// Faults counted since boot, all tasks.
pub fn global_stats() -> FaultStats {
    *FAULTS.lock()
}

/// Tears down a dying task's map: unmaps everything and frees the pages no
/// other object holds.
pub fn task_destroyed(task: &Task) {
    let d = {
        let mut vm = task.vm.lock();
        with_objects(|o| vm.map.destroy(o))
    };
    for u in &d.unmapped {
        unmap_range(task, u.start, u.end);
    }
    for p in d.reclaim.pages {
        mem::free_frame(p);
    }
}
