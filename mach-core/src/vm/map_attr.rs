//! Attribute changes on a [`VmMap`]: `vm_protect`, `vm_inherit` and `vm_wire`.
//! Each validates the whole range first (it must be mapped without holes), so a
//! failed call changes nothing; then it clips the entries at the range ends,
//! updates them and coalesces neighbours that became identical.

use alloc::vec::Vec;

use super::map::VmMap;
use super::object::VmObjects;
use super::types::{VmError, VmInherit, VmProt};

/// A range whose protection changed; the kernel lowers the hardware mappings to
/// `protection` (raising them is left to later faults).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Reprotect {
    pub start: u64,
    pub end: u64,
    pub protection: VmProt,
}

impl VmMap {
    /// Clips at both ends of a validated range after checking the entry limit,
    /// applies `f` to every entry inside, and coalesces.
    fn update_range(
        &mut self,
        objects: &mut VmObjects,
        start: u64,
        end: u64,
        mut f: impl FnMut(&mut super::map::VmMapEntry),
    ) -> Result<(), VmError> {
        self.check_room(self.clips_needed(start, end))?;
        self.clip(objects, start)?;
        self.clip(objects, end)?;
        for (_, e) in self.entries.range_mut(start..end) {
            f(e);
        }
        self.coalesce_and_release(objects, start, end);
        Ok(())
    }

    /// `vm_protect`: sets the current protection (or, with `set_max`, the
    /// maximum protection, lowering the current one to fit) of every page in
    /// the range. `prot` beyond an entry's maximum is `ProtectionFailure`; a hole
    /// or a range outside the map is `InvalidAddress`. Returns the ranges whose
    /// protection changed.
    pub fn protect(
        &mut self,
        objects: &mut VmObjects,
        addr: u64,
        size: u64,
        set_max: bool,
        prot: VmProt,
    ) -> Result<Vec<Reprotect>, VmError> {
        let Some((start, end)) = self.mapped_range(addr, size)? else {
            return Ok(Vec::new());
        };
        let first = self.lookup(start).map(|e| e.start).unwrap_or(start);
        if self
            .entries
            .range(first..end)
            .any(|(_, e)| !e.max_protection.contains(prot))
        {
            return Err(VmError::ProtectionFailure);
        }
        let mut changed = Vec::new();
        self.update_range(objects, start, end, |e| {
            let new = if set_max {
                e.max_protection = prot;
                e.protection & prot
            } else {
                prot
            };
            if new != e.protection {
                changed.push(Reprotect {
                    start: e.start,
                    end: e.end,
                    protection: new,
                });
            }
            e.protection = new;
        })?;
        // Any change counts (raising one would not need to: kept simple).
        if !changed.is_empty() {
            self.revocations = self.revocations.wrapping_add(1);
        }
        Ok(changed)
    }

    /// `vm_inherit`: sets the inheritance of every page in the range (which must
    /// be mapped without holes).
    pub fn inherit(
        &mut self,
        objects: &mut VmObjects,
        addr: u64,
        size: u64,
        inheritance: VmInherit,
    ) -> Result<(), VmError> {
        let Some((start, end)) = self.mapped_range(addr, size)? else {
            return Ok(());
        };
        self.update_range(objects, start, end, |e| e.inheritance = inheritance)
    }

    /// `vm_wire`: wires (`wire = true`, counted) or unwires the range. Unwiring
    /// a page that is not wired is `InvalidArgument`; a wire count that would
    /// overflow is `ResourceShortage`. After wiring, the kernel faults every page
    /// of the range in and keeps it resident.
    pub fn wire(&mut self, objects: &mut VmObjects, addr: u64, size: u64, wire: bool) -> Result<(), VmError> {
        let Some((start, end)) = self.mapped_range(addr, size)? else {
            return Ok(());
        };
        let first = self.lookup(start).map(|e| e.start).unwrap_or(start);
        for (_, e) in self.entries.range(first..end) {
            if wire && e.wired_count == u32::MAX {
                return Err(VmError::ResourceShortage);
            }
            if !wire && e.wired_count == 0 {
                return Err(VmError::InvalidArgument);
            }
        }
        self.update_range(objects, start, end, |e| {
            e.wired_count = if wire {
                e.wired_count.saturating_add(1)
            } else {
                e.wired_count.saturating_sub(1)
            };
        })
    }
}
