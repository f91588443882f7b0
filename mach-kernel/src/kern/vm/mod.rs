//! Virtual memory of tasks: the sparse maps and objects of `mach_core::vm`,
//! carried out on page tables and frames (layer 2: below IPC and the pagers).
//!
//! Each task has a `VmMap` over its whole user half: the loader maps the
//! program image and initial stack as objects whose pages are already
//! resident, and other memory is allocated lazily: `vm_allocate` only records
//! an entry, and the first touch of a page faults into [`fault`], which
//! follows the model's four steps and enters the page. Copy-on-write between
//! tasks comes from [`fork`], virtual copies from [`copy`], page-out from
//! [`pageout`], the kernel-held objects of boot data modules from
//! [`boot_data`]. Pages of VM objects are marked in the page tables so that
//! tearing an address space down leaves them to the objects, which give them
//! back when their last reference goes.
//!
//! This layer never sends a message: a fault that needs a pager says so
//! ([`FaultOutcome::NeedPager`]), and an operation after which pager-backed
//! objects died returns them ([`PagersGone`]) for the pager layer to tell.

pub mod boot_data;
pub mod copy;
pub mod kpages;
pub mod pageout;
pub mod task_vm;

use super::task::Task;
use crate::arch::paging::{MapError, PAGE_SIZE, PageFlags};
use crate::mem::{self, Frame};

use alloc::vec::Vec;
use mach_abi::kern_return::*;
use mach_core::ipc::PortId;
use mach_core::vm::{
    FaultAction, FaultStats, MapRequest, Reclaim, Region, VmError, VmInherit, VmObjects, VmProt, resolve_fault,
};
use spin::Mutex;

pub use task_vm::{VM_MAX, VM_MIN};
/// Where memory the kernel places (`vm_allocate` anywhere, received
/// out-of-line data) starts, well above program images.
pub const ANYWHERE_BASE: u64 = 0x0000_1000_0000_0000;

static OBJECTS: Mutex<Option<VmObjects>> = Mutex::new(None);
static FAULTS: Mutex<FaultStats> = Mutex::new(FaultStats {
    faults: 0,
    soft: 0,
    zero_fill: 0,
    cow_copy: 0,
    pager_request: 0,
    pager_wait: 0,
    default_pagein: 0,
    pageout: 0,
    reactivation: 0,
});

pub(in crate::kern) fn with_objects<R>(f: impl FnOnce(&mut VmObjects) -> R) -> R {
    let mut g = OBJECTS.lock();
    f(g.get_or_insert_with(VmObjects::new))
}

/// Gives back the memory of the object table's slots for objects since gone
/// (more than `slack` past the last live one): called when idle, so that a
/// flood of objects leaves no table behind once they die.
pub fn shrink_objects(slack: usize) {
    if let Some(o) = OBJECTS.lock().as_mut() {
        o.shrink(slack);
    }
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
    let hint = if anywhere { addr.max(ANYWHERE_BASE) } else { addr };
    task.vm.lock().map.allocate(hint, size, anywhere).map_err(VmError::kr)
}

/// Maps `[start, start + size)` with protection `prot` to a new anonymous
/// object whose pages at the given offsets are the given frames (a program
/// image or an initial stack). On success the frames belong to the object;
/// on error they are freed.
pub fn map_resident(
    task: &Task,
    start: u64,
    size: u64,
    pages: Vec<(u64, Frame)>,
    prot: VmProt,
) -> Result<(), MapError> {
    let mut vm = task.vm.lock();
    let mut guard = OBJECTS.lock();
    let objects = guard.get_or_insert_with(VmObjects::new);
    let Ok(obj) = objects.create(size, None) else {
        pages.into_iter().for_each(|(_, f)| mem::free_frame(f));
        return Err(MapError::OutOfMemory);
    };
    let mut rest = pages.into_iter();
    let mut all_in = true;
    for (offset, frame) in rest.by_ref() {
        let page = frame.into_page();
        if objects.insert_page(obj, offset, page).is_err() {
            mem::free_page(page);
            all_in = false;
            break;
        }
    }
    let req = MapRequest {
        object: Some(obj),
        offset: 0,
        copy: false,
        protection: prot,
        max_protection: VmProt::ALL,
        inheritance: VmInherit::Copy,
    };
    let mapped = all_in && vm.map.map_object(objects, start, size, false, req).is_ok();
    // Drop the reference `create` gave us: if the map took its own the object
    // lives on; otherwise it dies and gives back the pages it held.
    let reclaim = objects.deallocate(obj).unwrap_or_default();
    drop(guard);
    drop(vm);
    if mapped {
        return Ok(());
    }
    reclaim.pages.into_iter().for_each(mem::free_page);
    rest.for_each(|(_, f)| mem::free_frame(f));
    Err(MapError::AlreadyMapped)
}

/// Removes the hardware mappings of `[start, end)` (pages stay with their objects).
pub(in crate::kern) fn unmap_range(task: &Task, start: u64, end: u64) {
    task.with_space(|space| space.unmap_range(start, end));
}

/// `vm_deallocate` within the managed range.
pub fn deallocate(task: &Task, addr: u64, size: u64) -> Result<PagersGone, KernReturn> {
    let d = {
        let mut vm = task.vm.lock();
        with_objects(|o| vm.map.deallocate(o, addr, size)).map_err(VmError::kr)?
    };
    for u in &d.unmapped {
        unmap_range(task, u.start, u.end);
    }
    Ok(release(d.reclaim))
}

/// The memory objects of pagers whose VM objects died: the pager layer
/// sends them `memory_object_terminate` (`pager::objects_gone`).
#[must_use = "the pagers of dead objects must be told (pager::objects_gone)"]
#[derive(Default)]
pub struct PagersGone(pub Vec<PortId>);

impl PagersGone {
    pub fn merge(&mut self, other: PagersGone) {
        self.0.extend(other.0);
    }
}

/// Frees the pages of dead objects; returns their pagers.
pub(in crate::kern) fn release(reclaim: Reclaim) -> PagersGone {
    for p in reclaim.pages {
        mem::free_page(p);
    }
    PagersGone(reclaim.pagers)
}

/// Frames kept for the default pager: other tasks' faults fail with a
/// resource shortage rather than take the last of them, so the pager can
/// always take in the pages it is sent and page them out.
pub const DEFAULT_PAGER_RESERVE: usize = 64;

/// The free frames `task` must leave: the default pager's reserve, unless
/// it is the default pager's.
fn reserve_for(task: &Task) -> usize {
    if task.is_vm_privileged() {
        0
    } else {
        DEFAULT_PAGER_RESERVE
    }
}

/// What a fault came to.
pub enum FaultOutcome {
    /// The page is mapped: retry the access.
    Mapped,
    /// The page must come from the pager behind `pager` (with `unlock`: it is
    /// resident but the pager locked it against this access). The model now
    /// has the page requested: the caller sends the request and waits, or,
    /// if it may not wait, withdraws it ([`cancel_request`]).
    NeedPager {
        object: u64,
        pager: u64,
        offset: u64,
        access: u32,
        unlock: bool,
    },
    /// An earlier fault's request for page `offset` of `object` is out:
    /// wait for the answer (send nothing), then retry.
    WaitPager { object: u64, offset: u64 },
    /// No frame was free for the page: wait for memory, then retry (the
    /// page's pager, if any, is not asked again).
    NoMemory,
}

/// Withdraws the request a fault made but will not send (it may not wait).
pub fn cancel_request(object: u64, offset: u64) {
    let _ = with_objects(|o| o.cancel_request(object, offset));
}

/// Whether a fault on page `offset` of `object` still waits for its pager
/// (a data or unlock request is out). Once not, the fault is retried and
/// finds the answer: the page, a zero fill, or an error.
pub fn page_waits_for_pager(object: u64, offset: u64) -> bool {
    with_objects(|o| o.page_state(object, offset).is_ok_and(|s| s.is_waiting()))
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
            while let Some(at) = space.next_mapped(va, r.end) {
                va = at;
                if let Some((_, old)) = space.translate(va) {
                    if r.protection.contains(VmProt::READ) {
                        // Never raised to writable here: a page mapped
                        // read-only may be shared copy-on-write (or belong
                        // to a lower object); its write fault decides.
                        let mut flags = page_flags(r.protection);
                        if old.0 & PageFlags::WRITABLE == 0 {
                            flags = PageFlags(flags.0 & !PageFlags::WRITABLE);
                        }
                        let _ = space.set_flags(va, flags);
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

/// Whether every page of `[addr, addr + size)` is mapped writable in the
/// task's VM map (whether or not it has been faulted in yet).
pub fn writable(task: &Task, addr: u64, size: u64) -> bool {
    let Some(end) = addr.checked_add(size) else {
        return false;
    };
    if !in_range(addr, size) {
        return false;
    }
    let vm = task.vm.lock();
    let mut at = addr;
    while at < end {
        match vm.map.lookup(at) {
            Some(e) if e.protection.contains(VmProt::WRITE) => at = e.end,
            _ => return false,
        }
    }
    true
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
pub fn fault(task: &Task, addr: u64, write: bool, exec: bool) -> Result<FaultOutcome, VmError> {
    if !in_range(addr, 1) {
        return Err(VmError::InvalidAddress);
    }
    let mut access = if write {
        VmProt::READ | VmProt::WRITE
    } else {
        VmProt::READ
    };
    if exec {
        access = access | VmProt::EXECUTE;
    }
    let page_va = addr & !(PAGE_SIZE - 1);
    let mut vm = task.vm.lock();
    let mut objects_guard = OBJECTS.lock();
    let objects = objects_guard.get_or_insert_with(VmObjects::new);
    // The pager had no data (data_unavailable): the zero fill is done here,
    // where a shortage of frames can wait; then the fault is resolved again
    // (the page may be the top object's, or one a copy reads), at most twice.
    // (One call site, so that LLVM inlines the model's fault resolution.)
    let mut fills = 0;
    let action = loop {
        match resolve_fault(&mut vm.map, objects, addr, access)? {
            FaultAction::FillAbsent { object, offset } if fills < 2 => {
                fills += 1;
                let Some(mut frame) = mem::alloc_frame_keeping(reserve_for(task)) else {
                    return Ok(FaultOutcome::NoMemory);
                };
                frame.zero();
                let page = frame.into_page();
                if objects.supply_page(object, offset, page).is_err() {
                    mem::free_page(page);
                }
            }
            action => break action,
        }
    };
    let mut stale = None;
    let kind = action.kind();
    let (frame, writable) = match action {
        FaultAction::Map { page, writable } => (page, writable),
        FaultAction::ZeroFill {
            object,
            offset,
            writable,
        } => {
            let Some(mut frame) = mem::alloc_frame_keeping(reserve_for(task)) else {
                return Ok(FaultOutcome::NoMemory);
            };
            frame.zero();
            let page = frame.into_page();
            if let Err(e) = objects.insert_page(object, offset, page) {
                mem::free_page(page);
                return Err(e);
            }
            (page, writable)
        }
        FaultAction::CopyPage {
            from,
            into_object,
            offset,
            then_map_writable,
        } => {
            let Some(frame) = mem::alloc_copy_of(from, reserve_for(task)) else {
                return Ok(FaultOutcome::NoMemory);
            };
            let frame = frame.into_page();
            if let Err(e) = objects.insert_page(into_object, offset, frame) {
                mem::free_page(frame);
                return Err(e);
            }
            // Others mapping `into_object` (or a shadow of it) may have `from`
            // mapped read-only: they must now see the copy instead.
            if objects
                .get(into_object)
                .is_some_and(|o| o.ref_count() > 1 || !o.shadowers().is_empty())
            {
                stale = Some((into_object, offset, from));
            }
            (frame, then_map_writable)
        }
        FaultAction::AskUnlock {
            object,
            pager,
            offset,
            desired_access,
        } => {
            vm.stats.record(kind);
            FAULTS.lock().record(kind);
            return Ok(FaultOutcome::NeedPager {
                object,
                pager,
                offset,
                access: desired_access.bits(),
                unlock: true,
            });
        }
        FaultAction::AskPager {
            object,
            pager,
            offset,
            desired_access,
            ..
        } => {
            vm.stats.record(kind);
            FAULTS.lock().record(kind);
            return Ok(FaultOutcome::NeedPager {
                object,
                pager,
                offset,
                access: desired_access.bits(),
                unlock: false,
            });
        }
        FaultAction::WaitPager { object, offset } => {
            vm.stats.record(kind);
            FAULTS.lock().record(kind);
            return Ok(FaultOutcome::WaitPager { object, offset });
        }
        // Resolved above, twice at most; a third is a model inconsistency.
        FaultAction::FillAbsent { .. } => return Err(VmError::MemoryFailure),
    };
    let mut prot = if writable {
        VmProt::READ | VmProt::WRITE
    } else {
        VmProt::READ
    };
    if vm
        .map
        .lookup(addr)
        .is_some_and(|e| e.protection.contains(VmProt::EXECUTE))
    {
        prot = prot | VmProt::EXECUTE;
    }
    task.with_space(|space| space.enter(page_va, frame, page_flags(prot)))
        .map_err(|_| VmError::ResourceShortage)?;
    vm.stats.record(kind);
    FAULTS.lock().record(kind);
    drop(objects_guard);
    drop(vm);
    if let Some((object, offset, from)) = stale {
        unmap_hidden_page(object, offset, from);
    }
    Ok(FaultOutcome::Mapped)
}

/// Removes every mapping of `from` made through `object` at `offset` (in any
/// task, through any shadow of `object`): `object` now has its own copy of
/// that page, which the next access will find. Mach does this with the
/// pmap's physical-to-virtual lists; here the maps are scanned, which costs
/// a walk over every task's entries but only for copies into shared objects.
fn unmap_hidden_page(object: u64, offset: u64, from: u64) {
    for task in super::task::all() {
        let vas: alloc::vec::Vec<u64> = {
            let vm = task.vm.lock();
            with_objects(|o| {
                vm.map
                    .entries()
                    .filter_map(|e| va_through(o, e, object, offset))
                    .collect()
            })
        };
        if vas.is_empty() {
            continue;
        }
        task.with_space(|space| {
            for va in vas {
                if space.translate(va).is_some_and(|(pa, _)| pa == from) {
                    let _ = space.unmap(va);
                }
            }
        });
    }
}

/// The address at which entry `e` shows page `offset` of `object`, if
/// `object` is in the entry's shadow chain and the page inside the entry.
fn va_through(o: &VmObjects, e: &mach_core::vm::VmMapEntry, object: u64, offset: u64) -> Option<u64> {
    let mut id = e.object?;
    let mut delta = 0u64;
    for _ in 0..=o.len() {
        if id == object {
            let at = offset.checked_sub(delta)?.checked_sub(e.offset)?;
            return (at < e.size()).then(|| e.start + at);
        }
        let (next, shift) = o.get(id)?.shadow()?;
        delta = delta.checked_add(shift)?;
        id = next;
    }
    None
}

/// Maps `[offset, offset + size)` of the pager-backed object `object`.
#[allow(clippy::too_many_arguments)]
pub fn map_object(
    task: &Task,
    addr: u64,
    size: u64,
    anywhere: bool,
    object: u64,
    offset: u64,
    copy: bool,
    prot: VmProt,
    max: VmProt,
    inheritance: VmInherit,
) -> Result<u64, KernReturn> {
    let hint = if anywhere { addr.max(ANYWHERE_BASE) } else { addr };
    let mut vm = task.vm.lock();
    let req = MapRequest {
        object: Some(object),
        offset,
        copy,
        protection: prot,
        max_protection: max,
        inheritance,
    };
    with_objects(|o| vm.map.map_object(o, hint, size, anywhere, req)).map_err(VmError::kr)
}

/// Frames for a pager's supply of `chunks` (one per page, zero-filled past
/// each one's end), all allocated before any is committed; `None` (and
/// nothing allocated) when memory is short. The frames leave the default
/// pager's reserve alone unless `privileged` (the supplier is the default
/// pager).
pub fn supply_frames<'a>(chunks: impl Iterator<Item = &'a [u8]>, privileged: bool) -> Option<Vec<Frame>> {
    let reserve = if privileged { 0 } else { DEFAULT_PAGER_RESERVE };
    let mut frames = Vec::new();
    for data in chunks {
        let Some(mut frame) = mem::alloc_frame_keeping(reserve) else {
            frames.into_iter().for_each(mem::free_frame);
            return None;
        };
        frame.fill(data);
        frames.push(frame);
    }
    Some(frames)
}

/// Free frames below which a pager's supply of a page nobody asked for is
/// refused (see [`supply_frame`]): twice page-out's low-water mark.
pub const UNASKED_SUPPLY_FLOOR: usize = 2 * pageout::LOW_WATER;

/// Makes `frame` page `offset` of `object` (data a pager supplied, already
/// in the frame) through the model's `supply_page`: a page already
/// resident is left alone (a duplicate supply never overwrites) and `frame`
/// freed, as it is for an offset outside the object. A page nobody asked
/// for is taken only while memory is not short (fewer than
/// [`UNASKED_SUPPLY_FLOOR`] free frames: refused), so a pager cannot push
/// the system into page-out with data it was not asked for. Returns whether
/// the page is now the supplied one.
pub fn supply_frame(object: u64, offset: u64, frame: Frame) -> bool {
    let page = frame.into_page();
    let short = mem::free_frames() < UNASKED_SUPPLY_FLOOR;
    match with_objects(|o| o.supply_answer(object, offset, page, short)) {
        Ok(_) => true,
        Err(_) => {
            mem::free_page(page);
            false
        }
    }
}

/// Builds `child`'s map from `parent`'s (task_create with inherit_memory):
/// shared, copy-on-write or left out per each region's inheritance. The
/// parent's mappings of regions that became copy-on-write lose write access.
pub fn fork(parent: &Task, child: &Task) -> Result<(), KernReturn> {
    let f = {
        let mut vm = parent.vm.lock();
        with_objects(|o| vm.map.fork(o)).map_err(VmError::kr)?
    };
    child.vm.lock().replace_map(f.child);
    write_protect(parent, &f.write_protect);
    Ok(())
}

/// Removes write access from `task`'s hardware mappings of `ranges` (regions
/// that just became copy-on-write).
pub(in crate::kern) fn write_protect(task: &Task, ranges: &[(u64, u64)]) {
    task.with_space(|space| {
        for &(start, end) in ranges {
            let mut va = start;
            while va < end {
                if let Some((_, flags)) = space.translate(va)
                    && flags.0 & PageFlags::WRITABLE != 0
                {
                    let _ = space.set_flags(va, PageFlags(flags.0 & !PageFlags::WRITABLE));
                }
                va += PAGE_SIZE;
            }
        }
    });
}

/// `vm_wire`: wires (`access` not none: every page is brought in now with
/// that access) or unwires the range. Pages a pager must supply cannot be
/// brought in from a kernel server (it cannot wait): wiring them fails with
/// KERN_FAILURE and is undone.
pub fn wire(task: &Task, addr: u64, size: u64, access: u32) -> Result<(), KernReturn> {
    let prot = VmProt::from_bits(access).ok_or(KERN_INVALID_ARGUMENT)?;
    let wire = prot != VmProt::NONE;
    let (start, end) = match mach_core::vm::page_range(addr, size) {
        Ok(Some(r)) => r,
        Ok(None) => (0, 0),
        Err(e) => return Err(e.kr()),
    };
    let pages = (end - start) / PAGE_SIZE;
    {
        let mut vm = task.vm.lock();
        // Wiring is limited per task (the default pager's task excepted):
        // wired memory can be neither paged out nor taken back.
        if wire && !task.is_vm_privileged() && vm.wired_pages.saturating_add(pages) > wire_limit() {
            return Err(KERN_RESOURCE_SHORTAGE);
        }
        with_objects(|o| vm.map.wire(o, addr, size, wire)).map_err(VmError::kr)?;
        vm.wired_pages = if wire {
            vm.wired_pages.saturating_add(pages)
        } else {
            vm.wired_pages.saturating_sub(pages)
        };
    }
    if !wire || pages == 0 {
        return Ok(());
    }
    let mut va = start;
    while va < end {
        let err = match fault(task, va, prot.contains(VmProt::WRITE), false) {
            Ok(FaultOutcome::Mapped) => None,
            Ok(FaultOutcome::NeedPager { object, offset, .. }) => {
                cancel_request(object, offset);
                Some(KERN_FAILURE)
            }
            Ok(FaultOutcome::WaitPager { .. }) => Some(KERN_FAILURE),
            Ok(FaultOutcome::NoMemory) => Some(KERN_RESOURCE_SHORTAGE),
            Err(e) => Some(e.kr()),
        };
        if let Some(kr) = err {
            let mut vm = task.vm.lock();
            let _ = with_objects(|o| vm.map.wire(o, addr, size, false));
            vm.wired_pages = vm.wired_pages.saturating_sub(pages);
            return Err(kr);
        }
        va += PAGE_SIZE;
    }
    Ok(())
}

/// Pages one task (other than the default pager's) may have wired: an
/// eighth of memory.
fn wire_limit() -> u64 {
    mem::usable_frames() as u64 / 8
}

/// The shadow chain behind `addr` in `task`: its length and resident pages.
pub fn chain_info(task: &Task, addr: u64) -> Option<(u32, u64)> {
    let vm = task.vm.lock();
    let e = vm.map.lookup(addr)?;
    let Some(mut id) = e.object else { return Some((0, 0)) };
    with_objects(|o| {
        let (mut depth, mut resident) = (0u32, 0u64);
        loop {
            let obj = o.get(id)?;
            depth += 1;
            resident += obj.resident_count() as u64;
            match obj.shadow() {
                Some((next, _)) if (depth as usize) <= o.len() => id = next,
                _ => return Some((depth, resident)),
            }
        }
    })
}

/// Counts one page taken from memory by page-out, for `owner` (the task
/// that mapped it) and globally.
pub fn count_pageout(owner: Option<&Task>) {
    if let Some(t) = owner {
        t.vm.lock().stats.pageout += 1;
    }
    FAULTS.lock().pageout += 1;
}

/// Counts a page page-out passed over because it had been used since its
/// last look (a reactivation, in Mach's terms).
pub fn count_reactivation(owner: Option<&Task>) {
    if let Some(t) = owner {
        t.vm.lock().stats.reactivation += 1;
    }
    FAULTS.lock().reactivation += 1;
}

/// VM objects, their resident pages, and the longest shadow chain.
pub fn object_stats() -> (u64, u64, u32) {
    with_objects(|o| {
        let mut resident = 0u64;
        let mut depth = 0usize;
        for (id, obj) in o.iter() {
            resident += obj.resident_count() as u64;
            depth = depth.max(o.chain_depth(id).unwrap_or(0));
        }
        (o.len() as u64, resident, depth as u32)
    })
}

/// Faults counted since boot, all tasks.
pub fn global_stats() -> FaultStats {
    *FAULTS.lock()
}

/// Counts a page asked of the default pager (a page-in of anonymous memory
/// that was paged out), for `task` and globally.
pub fn count_default_pagein(task: &Task) {
    task.vm.lock().stats.default_pagein += 1;
    FAULTS.lock().default_pagein += 1;
}

/// Tears down a dying task's map: unmaps everything and frees the pages no
/// other object holds.
pub fn task_destroyed(task: &Task) -> PagersGone {
    let d = {
        let mut vm = task.vm.lock();
        with_objects(|o| vm.map.destroy(o))
    };
    for u in &d.unmapped {
        unmap_range(task, u.start, u.end);
    }
    release(d.reclaim)
}
