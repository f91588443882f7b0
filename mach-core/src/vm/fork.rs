//! Address-map inheritance for `task_create(inherit_memory = TRUE)`: building a
//! child map from a parent map entry by entry according to each entry's
//! [`VmInherit`], and resolving a pending copy (`needs_copy`) into a shadow.
//!
//! Copy-on-write is symmetric: a `Copy` entry that is backed by an object ends
//! up naming that same object in both maps with `needs_copy` set in both (one
//! more reference); the shadow object is only created by whichever side writes
//! first (see `fault.rs`). An untouched anonymous entry (no object yet) is simply
//! duplicated: each side will fault in its own zero-filled object.

use alloc::vec::Vec;

use super::map::{VmMap, VmMapEntry};
use super::object::VmObjects;
use super::types::{VmError, VmInherit, VmProt};

/// The result of [`VmMap::fork`].
#[derive(Debug)]
pub struct Fork {
    /// The child's address map.
    pub child: VmMap,
    /// Parent ranges that just became copy-on-write: the kernel must remove
    /// write permission from their hardware mappings (and flush the TLB).
    pub write_protect: Vec<(u64, u64)>,
}

/// Performs the copy an entry has pending: pushes a shadow object in front of
/// its object (which the shadow link now references instead of the entry), or,
/// when the entry holds the only reference to an anonymous object, just clears
/// `needs_copy` (nobody else can see the object any more).
pub(super) fn resolve_needs_copy(objects: &mut VmObjects, e: &mut VmMapEntry) -> Result<(), VmError> {
    if !e.needs_copy {
        return Ok(());
    }
    let Some(obj) = e.object else {
        e.needs_copy = false;
        return Ok(());
    };
    let o = objects.get(obj).ok_or(VmError::InvalidObject)?;
    if o.ref_count() == 1 && o.pager().is_none() {
        e.needs_copy = false;
        return Ok(());
    }
    let shadow = objects.shadow(obj, e.offset, e.size())?;
    e.object = Some(shadow);
    e.offset = 0;
    e.needs_copy = false;
    Ok(())
}

impl VmMap {
    /// Builds the child map of `task_create(inherit_memory)`:
    ///
    /// * `Share`: the child names the same object (one more reference). An
    ///   untouched anonymous entry gets its object now so both sides share it; an
    ///   entry with a pending copy has the copy performed first, so both share
    ///   the post-copy object.
    /// * `Copy`: symmetric copy-on-write (`needs_copy` in parent and child).
    /// * `None`: left out of the child.
    ///
    /// The child does not inherit wiring. On error the child is torn down and
    /// the parent is left valid (some entries may already be marked `needs_copy`).
    pub fn fork(&mut self, objects: &mut VmObjects) -> Result<Fork, VmError> {
        let mut child = VmMap::with_budget(self.min, self.max, self.max_entries, self.budget().clone())?;
        let mut write_protect = Vec::new();
        let mut result = Ok(());
        for e in self.entries.values_mut() {
            if let Err(err) = fork_entry(objects, e, &mut child, &mut write_protect) {
                result = Err(err);
                break;
            }
        }
        if let Err(err) = result {
            child.destroy(objects);
            return Err(err);
        }
        let (min, max) = (self.min, self.max);
        self.coalesce_and_release(objects, min, max);
        child.coalesce_and_release(objects, min, max);
        Ok(Fork { child, write_protect })
    }
}

fn fork_entry(
    objects: &mut VmObjects,
    e: &mut VmMapEntry,
    child: &mut VmMap,
    write_protect: &mut Vec<(u64, u64)>,
) -> Result<(), VmError> {
    let mut copy = match e.inheritance {
        VmInherit::None => return Ok(()),
        VmInherit::Share => {
            if e.object.is_none() {
                e.object = Some(objects.create(e.size(), None)?);
                e.offset = 0;
            }
            resolve_needs_copy(objects, e)?;
            e.clone()
        }
        VmInherit::Copy => {
            let mut c = e.clone();
            if e.object.is_some() {
                c.needs_copy = true;
                if !e.needs_copy && e.protection.contains(VmProt::WRITE) {
                    write_protect.push((e.start, e.end));
                }
                e.needs_copy = true;
            }
            c
        }
    };
    // The child's entries count against the budget every map shares.
    if !child.budget().has_room(1) {
        return Err(VmError::NoSpace);
    }
    if let Some(obj) = copy.object {
        objects.reference(obj)?;
    }
    copy.wired_count = 0;
    child.count_entry(1);
    child.entries.insert(copy.start, copy);
    Ok(())
}
