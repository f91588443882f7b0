//! Page-fault resolution as a pure function over a [`VmMap`] and [`VmObjects`]:
//! the four steps of Mach's fault path ((1) find the entry and check protection,
//! (2) look the page up through the shadow chain and ask the pager on a miss,
//! (3) copy on write, (4) enter the mapping), answered with a [`FaultAction`]
//! the kernel carries out, plus [`FaultStats`] counters.

use super::fork::resolve_needs_copy;
use super::map::VmMap;
use super::object::{Lookup, ObjectId, PageId, VmObjects};
use super::pager::PagerStep;
use super::types::{PAGE_SIZE, VmError, VmProt, trunc_page};

/// What the kernel must do to resolve a fault. After `CopyPage` and `ZeroFill`
/// it calls [`VmObjects::insert_page`] with the new page, after `FillAbsent`
/// [`VmObjects::supply_page`]; after `AskPager`, `AskUnlock` and `WaitPager`
/// it retries the fault once the pager has answered (the page's state in
/// `super::pager` says when: it is no longer requested).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FaultAction {
    /// Enter `page` at the faulting page, writable or read-only.
    Map { page: PageId, writable: bool },
    /// Copy-on-write: copy `from` into a new page, insert it in `into_object` at
    /// `offset`, and map it (writable if `then_map_writable`). The kernel also
    /// removes every hardware mapping of `from` made through `into_object`
    /// (another task sharing `into_object` may have it mapped read-only and
    /// must now see the copy).
    CopyPage {
        from: PageId,
        into_object: ObjectId,
        offset: u64,
        then_map_writable: bool,
    },
    /// Allocate a zeroed page, insert it in `object` at `offset`, and map it.
    ZeroFill {
        object: ObjectId,
        offset: u64,
        writable: bool,
    },
    /// Send `memory_object_data_request(pager, offset, length, desired_access)`
    /// for `object` (the page is now requested: a fault that cannot send or
    /// wait withdraws it with [`VmObjects::cancel_request`]); the answer is
    /// supplied to `object` and the fault retried.
    AskPager {
        object: ObjectId,
        pager: u64,
        offset: u64,
        length: u64,
        desired_access: VmProt,
    },
    /// The page at `offset` of `object` is locked against the access: send
    /// `memory_object_data_unlock(pager, offset, length, desired_access)`
    /// (now unlock-requested, withdrawn like `AskPager`); the fault is
    /// retried once the pager's lock_request lifts the lock.
    AskUnlock {
        object: ObjectId,
        pager: u64,
        offset: u64,
        desired_access: VmProt,
    },
    /// A request for page `offset` of `object` is already out (an earlier
    /// fault sent it): send nothing, wait for the answer, retry.
    WaitPager { object: ObjectId, offset: u64 },
    /// The pager of `object` has no data for page `offset`
    /// (`data_unavailable`): allocate a zeroed page, give it to
    /// [`VmObjects::supply_page`], and resolve the fault again.
    FillAbsent { object: ObjectId, offset: u64 },
}

/// The kind of work a fault needed, for statistics.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FaultKind {
    /// The page was resident: only a mapping was entered.
    Soft,
    ZeroFill,
    CowCopy,
    PagerRequest,
    /// The fault waited for a request another fault sent.
    PagerWait,
}

impl FaultAction {
    pub fn kind(&self) -> FaultKind {
        match self {
            FaultAction::Map { .. } => FaultKind::Soft,
            FaultAction::CopyPage { .. } => FaultKind::CowCopy,
            FaultAction::ZeroFill { .. } | FaultAction::FillAbsent { .. } => FaultKind::ZeroFill,
            FaultAction::AskPager { .. } | FaultAction::AskUnlock { .. } => FaultKind::PagerRequest,
            FaultAction::WaitPager { .. } => FaultKind::PagerWait,
        }
    }
}

/// Fault counters (`vm_statistics`-like).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct FaultStats {
    pub faults: u64,
    pub soft: u64,
    pub zero_fill: u64,
    pub cow_copy: u64,
    pub pager_request: u64,
    /// Faults that waited for a request already out (no second request).
    pub pager_wait: u64,
    /// Of `pager_request`, those asked of the default pager.
    pub default_pagein: u64,
    /// Pages taken out of memory by page-out.
    pub pageout: u64,
    /// Pages page-out passed over because they had been used since its last look.
    pub reactivation: u64,
}

impl FaultStats {
    pub fn record(&mut self, kind: FaultKind) {
        self.faults = self.faults.wrapping_add(1);
        let c = match kind {
            FaultKind::Soft => &mut self.soft,
            FaultKind::ZeroFill => &mut self.zero_fill,
            FaultKind::CowCopy => &mut self.cow_copy,
            FaultKind::PagerRequest => &mut self.pager_request,
            FaultKind::PagerWait => &mut self.pager_wait,
        };
        *c = c.wrapping_add(1);
    }
}

/// Resolves a fault at `addr` for `access` (an empty access counts as a read).
///
/// Side effects on the model (all consistent on return): an untouched anonymous
/// entry gets its object; a write to an entry with a pending copy pushes the
/// shadow object; a write hit on a resident top-level page marks it dirty.
///
/// A miss in a pager-backed object moves the page's protocol state
/// (`super::pager`): the first fault makes it requested and gets `AskPager`,
/// later ones `WaitPager`; likewise `AskUnlock` for a locked page.
///
/// Errors: `InvalidAddress` (nothing mapped), `ProtectionFailure` (access not
/// allowed by the entry's current protection), `MemoryError` (the pager
/// failed the page or died), `ResourceShortage` (too many requests out for
/// the object, [`super::pager::MAX_PAGER_PAGES`]).
pub fn resolve_fault(
    map: &mut VmMap,
    objects: &mut VmObjects,
    addr: u64,
    access: VmProt,
) -> Result<FaultAction, VmError> {
    let access = if access.is_empty() { VmProt::READ } else { access };
    let write = access.contains(VmProt::WRITE);
    // (1) Find the entry and check protection.
    let entry = map.lookup_mut(addr).ok_or(VmError::InvalidAddress)?;
    if !entry.protection.contains(access) {
        return Err(VmError::ProtectionFailure);
    }
    if entry.object.is_none() {
        entry.object = Some(objects.create(entry.size(), None)?);
        entry.offset = 0;
        entry.needs_copy = false;
    }
    if write {
        // (3) preparation: a pending copy gets its shadow object now.
        resolve_needs_copy(objects, entry)?;
    }
    let top = entry.object.ok_or(VmError::MemoryFailure)?;
    let offset = entry
        .offset
        .checked_add(trunc_page(addr) - entry.start)
        .ok_or(VmError::MemoryFailure)?;
    let may_write = entry.protection.contains(VmProt::WRITE) && !entry.needs_copy;
    // (2) Look the page up through the shadow chain.
    let lookup = objects.lookup_page(top, offset)?;
    if let Lookup::Found { object, in_top, .. } = lookup {
        // A pager's lock on the page: a copy only reads it.
        let needed = if in_top { access } else { VmProt::READ };
        let (lock, found_offset) = objects.found_lock(top, offset, object);
        if lock & needed != VmProt::NONE {
            let pager = objects
                .get(object)
                .and_then(|o| o.pager())
                .ok_or(VmError::MemoryFailure)?;
            return Ok(match objects.request_unlock(object, found_offset)? {
                PagerStep::Send => FaultAction::AskUnlock {
                    object,
                    pager,
                    offset: found_offset,
                    desired_access: needed,
                },
                _ => FaultAction::WaitPager {
                    object,
                    offset: found_offset,
                },
            });
        }
    }
    let action = match lookup {
        Lookup::Found {
            page,
            in_top: true,
            object,
        } => {
            if write {
                objects.set_dirty(top, offset, true)?;
            }
            let (lock, _) = objects.found_lock(top, offset, object);
            FaultAction::Map {
                page,
                writable: may_write && !lock.contains(VmProt::WRITE),
            }
        }
        // (3) A write to a page of a lower object: copy it into the top object.
        Lookup::Found {
            page, in_top: false, ..
        } if write => FaultAction::CopyPage {
            from: page,
            into_object: top,
            offset,
            then_map_writable: may_write,
        },
        // (4) A read of a lower object's page: map it read-only.
        Lookup::Found {
            page, in_top: false, ..
        } => FaultAction::Map { page, writable: false },
        Lookup::NeedsPager { object, pager, offset } => match objects.request_page(object, offset)? {
            PagerStep::Send => FaultAction::AskPager {
                object,
                pager,
                offset,
                length: PAGE_SIZE,
                desired_access: access,
            },
            PagerStep::Wait => FaultAction::WaitPager { object, offset },
            PagerStep::Fill => FaultAction::FillAbsent { object, offset },
        },
        Lookup::ZeroFill { object } => FaultAction::ZeroFill {
            object,
            offset,
            writable: may_write,
        },
    };
    Ok(action)
}
