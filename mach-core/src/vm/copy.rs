//! `VmCopy`: a copy-on-write snapshot of a range of one address map, taken by
//! [`VmMap::copyin`] and placed in another map (or the same one) by
//! [`VmMap::copyout`]. This is how out-of-line message data of a page or more
//! travels: the sender's pages become copy-on-write instead of being copied,
//! and the receiver maps the same objects.
//!
//! A copy holds one reference to each object it names, exactly like a map
//! entry; [`VmCopy::discard`] drops them (a message destroyed unreceived).
//! Copy-on-write stays symmetric: the source entries and the copy's entries
//! both get `needs_copy`, so whichever side writes first pushes a shadow, and a
//! side left alone with an anonymous object (the sender deallocated its range)
//! writes to it in place.

use alloc::vec::Vec;

use super::map::{Deallocation, MapRequest, Unmapped, VmMap, VmMapEntry};
use super::object::{ObjectId, Reclaim, VmObjects};
use super::types::{VmError, VmInherit, VmProt, page_aligned};

/// One piece of a [`VmCopy`]: `size` bytes at `offset` from the copy's start,
/// mapping `object` at `object_offset` (or fresh zero-fill memory when `None`).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CopyEntry {
    pub offset: u64,
    pub size: u64,
    pub object: Option<ObjectId>,
    pub object_offset: u64,
}

/// A page-granular snapshot of `size` bytes of address space.
#[derive(Debug, PartialEq, Eq)]
pub struct VmCopy {
    size: u64,
    entries: Vec<CopyEntry>,
}

/// The result of [`VmMap::copyin`].
#[derive(Debug)]
pub struct CopyIn {
    pub copy: VmCopy,
    /// Source ranges that just became copy-on-write: the kernel must remove
    /// write permission from their hardware mappings (and flush the TLB).
    pub write_protect: Vec<(u64, u64)>,
}

impl VmCopy {
    /// Length in bytes (whole pages).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The pieces, in address order.
    pub fn entries(&self) -> &[CopyEntry] {
        &self.entries
    }

    /// A copy of all of `object` (`size` bytes, whole pages), taking over the
    /// caller's reference to it (`vm_write`'s data, built by the kernel).
    pub fn from_object(objects: &VmObjects, object: ObjectId) -> Result<VmCopy, VmError> {
        let size = objects.get(object).ok_or(VmError::InvalidObject)?.size();
        if size == 0 || !page_aligned(size) {
            return Err(VmError::InvalidArgument);
        }
        Ok(VmCopy {
            size,
            entries: alloc::vec![CopyEntry {
                offset: 0,
                size,
                object: Some(object),
                object_offset: 0,
            }],
        })
    }

    /// Drops the copy's object references; returns what became free.
    pub fn discard(self, objects: &mut VmObjects) -> Reclaim {
        let mut out = Reclaim::default();
        for e in self.entries {
            if let Some(obj) = e.object
                && let Ok(r) = objects.deallocate(obj)
            {
                out.merge(r);
            }
        }
        out
    }
}

impl VmMap {
    /// Takes a copy-on-write snapshot of the pages covering `[addr, addr + size)`.
    /// The range must be mapped without holes (`InvalidAddress`) and readable
    /// (`ProtectionFailure`); `size == 0` is `InvalidArgument`. Untouched
    /// anonymous entries get their object now so both sides see the same
    /// (zero) pages. On error the map is unchanged but for clipping.
    pub fn copyin(&mut self, objects: &mut VmObjects, addr: u64, size: u64) -> Result<CopyIn, VmError> {
        let (start, end) = self.mapped_range(addr, size)?.ok_or(VmError::InvalidArgument)?;
        let first = self.lookup(start).map_or(start, |e| e.start);
        if self
            .entries
            .range(first..end)
            .any(|(_, e)| !e.protection.contains(VmProt::READ))
        {
            return Err(VmError::ProtectionFailure);
        }
        self.check_room(self.clips_needed(start, end))?;
        self.clip(objects, start)?;
        self.clip(objects, end)?;
        let mut copy = VmCopy {
            size: end - start,
            entries: Vec::new(),
        };
        let mut write_protect = Vec::new();
        let mut result = Ok(());
        for (_, e) in self.entries.range_mut(start..end) {
            if let Err(err) = copy_entry(objects, e, start, &mut copy, &mut write_protect) {
                result = Err(err);
                break;
            }
        }
        self.coalesce_and_release(objects, start, end);
        if let Err(err) = result {
            let _ = copy.discard(objects);
            return Err(err);
        }
        Ok(CopyIn { copy, write_protect })
    }

    /// Maps `copy` anywhere at or above `hint` (first fit), read/write, max
    /// all, inherit copy; returns the start address. On error the copy is
    /// handed back untouched so the caller can discard it or try elsewhere.
    pub fn copyout(&mut self, objects: &mut VmObjects, copy: VmCopy, hint: u64) -> Result<u64, (VmError, VmCopy)> {
        // Each piece may become an entry of its own.
        let placed = self
            .check_room(copy.entries.len())
            .and_then(|_| self.place(hint, copy.size, true));
        let (start, end) = match placed {
            Ok(r) => r,
            Err(e) => return Err((e, copy)),
        };
        let req = MapRequest {
            object: None,
            offset: 0,
            copy: true,
            protection: VmProt::READ | VmProt::WRITE,
            max_protection: VmProt::ALL,
            inheritance: VmInherit::Copy,
        };
        for e in copy.entries {
            let at = start + e.offset;
            self.insert_entry(at, at + e.size, e.object, e.object_offset, e.object.is_some(), &req);
        }
        self.coalesce_and_release(objects, start, end);
        Ok(start)
    }

    /// Replaces the contents of `[addr, addr + copy.size())` with `copy`
    /// (`vm_write`, `vm_copy`): every page there must be mapped
    /// (`InvalidAddress`) and writable (`ProtectionFailure`), and `addr` page
    /// aligned (`InvalidArgument`). The destination keeps its entries'
    /// protection and inheritance; their objects are replaced by copy-on-write
    /// references to the copy's. The copy is consumed on success; on error it
    /// is handed back and the map is unchanged but for clipping. The result
    /// says which hardware mappings to remove and what became free.
    pub fn copy_overwrite(
        &mut self,
        objects: &mut VmObjects,
        copy: VmCopy,
        addr: u64,
    ) -> Result<Deallocation, (VmError, VmCopy)> {
        match self.overwrite_checks(&copy, addr) {
            Ok(()) => {}
            Err(e) => return Err((e, copy)),
        }
        let end = addr + copy.size;
        let cuts = core::iter::once(addr)
            .chain(copy.entries.iter().map(|c| addr + c.offset))
            .chain(core::iter::once(end));
        for at in cuts {
            if let Err(e) = self.clip(objects, at) {
                return Err((e, copy));
            }
        }
        let mut out = Deallocation::default();
        let mut drops = Vec::new();
        for (_, e) in self.entries.range_mut(addr..end) {
            let rel = e.start - addr;
            let Some(c) = copy.entries.iter().find(|c| c.offset <= rel && rel < c.offset + c.size) else {
                continue;
            };
            out.unmapped.push(Unmapped::of(e));
            drops.extend(e.object);
            if let Some(obj) = c.object
                && objects.reference(obj).is_ok()
            {
                e.object = Some(obj);
                e.offset = c.object_offset + (rel - c.offset);
                e.needs_copy = true;
            } else {
                e.object = None;
                e.offset = 0;
                e.needs_copy = false;
            }
        }
        for o in drops {
            if let Ok(r) = objects.deallocate(o) {
                out.reclaim.merge(r);
            }
        }
        out.reclaim.merge(copy.discard(objects));
        self.coalesce_and_release(objects, addr, end);
        Ok(out)
    }

    fn overwrite_checks(&self, copy: &VmCopy, addr: u64) -> Result<(), VmError> {
        if !page_aligned(addr) {
            return Err(VmError::InvalidArgument);
        }
        let (start, end) = self.mapped_range(addr, copy.size)?.ok_or(VmError::InvalidArgument)?;
        let first = self.lookup(start).map_or(start, |e| e.start);
        if self
            .entries
            .range(first..end)
            .any(|(_, e)| !e.protection.contains(VmProt::WRITE))
        {
            return Err(VmError::ProtectionFailure);
        }
        // Cuts at `addr`, between pieces and at the end: each splits at most
        // one entry.
        self.check_room(copy.entries.len() + 1)
    }
}

fn copy_entry(
    objects: &mut VmObjects,
    e: &mut VmMapEntry,
    base: u64,
    copy: &mut VmCopy,
    write_protect: &mut Vec<(u64, u64)>,
) -> Result<(), VmError> {
    if e.object.is_none() {
        e.object = Some(objects.create(e.size(), None)?);
        e.offset = 0;
    }
    let obj = e.object.ok_or(VmError::InvalidObject)?;
    objects.reference(obj)?;
    if !e.needs_copy && e.protection.contains(VmProt::WRITE) {
        write_protect.push((e.start, e.end));
    }
    e.needs_copy = true;
    copy.entries.push(CopyEntry {
        offset: e.start - base,
        size: e.size(),
        object: Some(obj),
        object_offset: e.offset,
    });
    Ok(())
}
