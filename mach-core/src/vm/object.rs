//! `VmObjects`: the arena of VM objects (`vm_object`), their reference counts,
//! resident-page caches, pagers and shadow chains, plus chain collapse.
//!
//! Reference counting rule (checked by [`super::invariants`]): an object's
//! `ref_count` is the number of map entries that name it, plus the number of
//! objects whose `shadow` is it, plus references held outside the VM model
//! (e.g. by a memory-object port), taken with [`VmObjects::reference`].
//! When the count reaches zero the object is destroyed: its resident pages and
//! its pager are handed back in a [`Reclaim`] and its shadow loses a reference.
//!
//! Copy-on-write is symmetric (Mach's `MEMORY_OBJECT_COPY_SYMMETRIC`): both
//! sides of a copy keep naming the original object with `needs_copy` set, and a
//! shadow object is only pushed in front of it on the first write.

use alloc::vec::Vec;

use super::pager::PagerPage;
use super::types::{PAGE_SIZE, VmError, VmProt, page_aligned};
use crate::ipc::idmap::{FastHashMap, IdMap};

/// Name of a VM object in a [`VmObjects`] arena (never 0).
pub type ObjectId = u64;

/// A physical page, as the kernel names it (e.g. its frame address). Opaque here.
pub type PageId = u64;

/// How copies of an object are made.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum CopyStrategy {
    /// Both the source and the copy mark their mappings `needs_copy`; whichever
    /// writes first gets a shadow object (`MEMORY_OBJECT_COPY_SYMMETRIC`).
    #[default]
    Symmetric,
}

/// A page cached in an object.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ResidentPage {
    pub page: PageId,
    /// Modified since it was supplied (must be returned to the pager before reuse).
    pub dirty: bool,
    /// Accesses the pager prohibits until it unlocks the page
    /// (`memory_object_lock_request`'s lock value; pager-backed objects only).
    pub lock: VmProt,
}

/// One VM object: a range of pages, some resident, backed by a pager, by the
/// object it shadows, or by zero fill.
#[derive(Debug)]
pub struct VmObject {
    pub(super) size: u64,
    pub(super) pager: Option<u64>,
    pub(super) shadow: Option<(ObjectId, u64)>,
    pub(super) shadowers: Vec<ObjectId>,
    pub(super) resident: FastHashMap<u64, ResidentPage>,
    pub(super) copy_strategy: CopyStrategy,
    pub(super) ref_count: u32,
    /// Protocol state of pages of a pager-backed object that are not plainly
    /// absent or resident (`super::pager`).
    pub(super) pager_pages: FastHashMap<u64, PagerPage>,
    /// Of `pager_pages`, the requests outstanding.
    pub(super) outstanding: u32,
    /// The pager died: faults on absent pages fail.
    pub(super) pager_dead: bool,
}

impl VmObject {
    /// Size in bytes (a multiple of the page size).
    pub fn size(&self) -> u64 {
        self.size
    }
    /// The pager (memory manager port) backing this object; `None` = anonymous.
    pub fn pager(&self) -> Option<u64> {
        self.pager
    }
    /// The object this one copies on write from, and the offset of this object's
    /// page 0 within it.
    pub fn shadow(&self) -> Option<(ObjectId, u64)> {
        self.shadow
    }
    pub fn ref_count(&self) -> u32 {
        self.ref_count
    }
    pub fn copy_strategy(&self) -> CopyStrategy {
        self.copy_strategy
    }
    /// The page cached at `offset` (a page-aligned offset into this object).
    pub fn page(&self, offset: u64) -> Option<ResidentPage> {
        self.resident.get(&offset).copied()
    }
    /// Number of resident pages.
    pub fn resident_count(&self) -> usize {
        self.resident.len()
    }
    /// The resident pages as `(offset, page)`, in no particular order.
    pub fn resident(&self) -> impl Iterator<Item = (u64, ResidentPage)> + '_ {
        self.resident.iter().map(|(&o, &p)| (o, p))
    }
    /// Objects whose shadow this object is.
    pub fn shadowers(&self) -> &[ObjectId] {
        &self.shadowers
    }
    fn fully_resident(&self) -> bool {
        self.resident.len() as u64 == self.size / PAGE_SIZE
    }
}

/// What the kernel must release after references were dropped: physical pages
/// no longer reachable from any object, and pagers to send
/// `memory_object_terminate` to. Pages may still be entered in hardware page
/// tables (e.g. read-only mappings of a shadowed page in another task); the
/// kernel removes every mapping of them before reusing the frames.
#[derive(Clone, Default, PartialEq, Eq, Debug)]
pub struct Reclaim {
    pub pages: Vec<PageId>,
    pub pagers: Vec<u64>,
}

impl Reclaim {
    pub fn is_empty(&self) -> bool {
        self.pages.is_empty() && self.pagers.is_empty()
    }
    /// Appends everything in `other`.
    pub fn merge(&mut self, other: Reclaim) {
        self.pages.extend(other.pages);
        self.pagers.extend(other.pagers);
    }
}

/// Where the page at an offset of an object comes from (the result of walking
/// the shadow chain, step (2) of fault resolution).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Lookup {
    /// Resident in `object`; `in_top` when that is the object asked about.
    Found {
        object: ObjectId,
        page: PageId,
        in_top: bool,
    },
    /// Not resident down to `object`, which has a pager: ask it for the page at
    /// `offset` (an offset into `object`), then [`VmObjects::insert_page`] it there.
    NeedsPager { object: ObjectId, pager: u64, offset: u64 },
    /// Nobody has the page: a zero-filled page belongs in `object` (the object
    /// asked about, the top of the chain).
    ZeroFill { object: ObjectId },
}

/// The arena of VM objects.
#[derive(Default)]
pub struct VmObjects {
    objects: IdMap<VmObject>,
}

impl VmObjects {
    pub fn new() -> Self {
        VmObjects { objects: IdMap::new() }
    }

    /// Number of live objects.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// Gives back the table's memory for objects since gone (see
    /// `IdMap::shrink`); true if it shrank.
    pub fn shrink(&mut self, slack: usize) -> bool {
        self.objects.shrink(slack)
    }

    pub fn get(&self, id: ObjectId) -> Option<&VmObject> {
        self.objects.get(&id)
    }

    /// All live objects.
    pub fn iter(&self) -> impl Iterator<Item = (ObjectId, &VmObject)> + '_ {
        self.objects.iter()
    }

    fn obj(&self, id: ObjectId) -> Result<&VmObject, VmError> {
        self.objects.get(&id).ok_or(VmError::InvalidObject)
    }

    pub(super) fn obj_mut(&mut self, id: ObjectId) -> Result<&mut VmObject, VmError> {
        self.objects.get_mut(&id).ok_or(VmError::InvalidObject)
    }

    /// Reference count of `id`, or 0 if it does not exist.
    pub fn ref_count(&self, id: ObjectId) -> u32 {
        self.objects.get(&id).map_or(0, |o| o.ref_count)
    }

    /// Creates an object of `size` bytes (page-aligned, non-zero) with one
    /// reference, held by the caller. `pager` is the memory manager backing it;
    /// `None` makes an anonymous, zero-fill object.
    pub fn create(&mut self, size: u64, pager: Option<u64>) -> Result<ObjectId, VmError> {
        if size == 0 || !page_aligned(size) {
            return Err(VmError::InvalidArgument);
        }
        Ok(self.objects.insert(VmObject {
            size,
            pager,
            shadow: None,
            shadowers: Vec::new(),
            resident: FastHashMap::default(),
            copy_strategy: CopyStrategy::Symmetric,
            ref_count: 1,
            pager_pages: FastHashMap::default(),
            outstanding: 0,
            pager_dead: false,
        }))
    }

    /// Adds a reference to `id`.
    pub fn reference(&mut self, id: ObjectId) -> Result<(), VmError> {
        let o = self.obj_mut(id)?;
        o.ref_count = o.ref_count.checked_add(1).ok_or(VmError::ResourceShortage)?;
        Ok(())
    }

    /// Attaches a pager to an anonymous object (the default pager taking over
    /// memory it will page out). Fails if the object already has one. From then
    /// on a lookup that misses this object asks its pager and no longer looks
    /// at its shadow, and the object is never collapsed; a default pager
    /// attached to a shadow object must therefore be given the pages it does
    /// not have before they are evicted from the shadowed object.
    pub fn set_pager(&mut self, id: ObjectId, pager: u64) -> Result<(), VmError> {
        let o = self.obj_mut(id)?;
        if o.pager.is_some() {
            return Err(VmError::InvalidArgument);
        }
        o.pager = Some(pager);
        Ok(())
    }

    /// Drops a reference to `id`. When it was the last one the object is
    /// destroyed (its pages and pager are returned) and its shadow loses a
    /// reference, recursively. When the drop leaves an anonymous object referenced
    /// only by the one object shadowing it, that chain is collapsed.
    pub fn deallocate(&mut self, id: ObjectId) -> Result<Reclaim, VmError> {
        self.obj(id)?;
        let mut reclaim = Reclaim::default();
        let mut pending = Vec::new();
        self.drop_ref(id, None, &mut reclaim, &mut pending);
        self.run_pending(&mut reclaim, &mut pending);
        Ok(reclaim)
    }

    /// Drops a reference that is known not to be the last one (merging two map
    /// entries that name the same object). Never destroys or collapses.
    pub(super) fn drop_duplicate_ref(&mut self, id: ObjectId) {
        if let Some(o) = self.objects.get_mut(&id)
            && o.ref_count > 1
        {
            o.ref_count -= 1;
        }
    }

    /// Drops one reference to `id`, held by the shadow link of `from` if given.
    /// Objects that survive with a changed count are pushed on `pending` as
    /// collapse candidates.
    fn drop_ref(&mut self, id: ObjectId, from: Option<ObjectId>, reclaim: &mut Reclaim, pending: &mut Vec<ObjectId>) {
        let mut next = Some((id, from));
        while let Some((cur, from)) = next.take() {
            let Some(o) = self.objects.get_mut(&cur) else { return };
            if let Some(f) = from
                && let Some(i) = o.shadowers.iter().position(|&s| s == f)
            {
                o.shadowers.swap_remove(i);
            }
            o.ref_count = o.ref_count.saturating_sub(1);
            if o.ref_count > 0 {
                pending.push(cur);
                return;
            }
            let Some(dead) = self.objects.remove(&cur) else { return };
            reclaim.pages.extend(dead.resident.values().map(|r| r.page));
            reclaim.pagers.extend(dead.pager);
            next = dead.shadow.map(|(s, _)| (s, Some(cur)));
        }
    }

    fn run_pending(&mut self, reclaim: &mut Reclaim, pending: &mut Vec<ObjectId>) {
        while let Some(b) = pending.pop() {
            let Some(o) = self.objects.get(&b) else { continue };
            if o.pager.is_none() && o.ref_count == 1 && o.shadowers.len() == 1 {
                let top = o.shadowers[0];
                self.collapse_one(top, reclaim, pending);
            }
        }
    }

    /// Walks the shadow chain from `id` for the page at `offset` (rounded down to
    /// a page; must lie inside the object).
    pub fn lookup_page(&self, id: ObjectId, offset: u64) -> Result<Lookup, VmError> {
        let top = self.obj(id)?;
        let mut off = offset & !(PAGE_SIZE - 1);
        if off >= top.size {
            return Err(VmError::InvalidArgument);
        }
        let mut cur = id;
        // A chain can visit each object at most once; more steps mean a cycle.
        for _ in 0..=self.objects.len() {
            let o = self.obj(cur)?;
            if off >= o.size {
                return Err(VmError::MemoryFailure);
            }
            if let Some(r) = o.resident.get(&off) {
                return Ok(Lookup::Found {
                    object: cur,
                    page: r.page,
                    in_top: cur == id,
                });
            }
            if let Some(pager) = o.pager {
                return Ok(Lookup::NeedsPager {
                    object: cur,
                    pager,
                    offset: off,
                });
            }
            match o.shadow {
                Some((s, so)) => {
                    off = off.checked_add(so).ok_or(VmError::MemoryFailure)?;
                    cur = s;
                }
                None => return Ok(Lookup::ZeroFill { object: id }),
            }
        }
        Err(VmError::MemoryFailure)
    }

    fn check_page_offset(o: &VmObject, offset: u64) -> Result<(), VmError> {
        if !page_aligned(offset) || offset >= o.size {
            return Err(VmError::InvalidArgument);
        }
        Ok(())
    }

    /// Caches `page` at `offset` of `id` (after a zero fill, a copy, or pager
    /// data): a request, zero-fill or error state of the page ends.
    pub fn insert_page(&mut self, id: ObjectId, offset: u64, page: PageId) -> Result<(), VmError> {
        let o = self.obj_mut(id)?;
        Self::check_page_offset(o, offset)?;
        if o.resident.contains_key(&offset) {
            return Err(VmError::MemoryPresent);
        }
        o.set_pager_page(offset, None);
        o.resident.insert(
            offset,
            ResidentPage {
                page,
                dirty: false,
                lock: VmProt::NONE,
            },
        );
        Ok(())
    }

    /// Removes the page cached at `offset` of `id` (pageout or discard) and
    /// returns it; the kernel unmaps it everywhere and frees or pages it out.
    /// An unlock request for it is dropped (the page is absent now: the
    /// waiting fault, once woken, asks for it again).
    pub fn remove_page(&mut self, id: ObjectId, offset: u64) -> Result<Option<ResidentPage>, VmError> {
        let o = self.obj_mut(id)?;
        Self::check_page_offset(o, offset)?;
        if o.pager_page(offset) == Some(PagerPage::UnlockRequested) {
            o.set_pager_page(offset, None);
        }
        Ok(o.resident.remove(&offset))
    }

    /// Sets the accesses prohibited on the page resident at `offset` of the
    /// pager-backed object `id` (`InvalidArgument` for anonymous objects or a
    /// page not resident). This is the pager's answer to an unlock request:
    /// the request ends.
    pub fn set_lock(&mut self, id: ObjectId, offset: u64, lock: VmProt) -> Result<(), VmError> {
        let o = self.obj_mut(id)?;
        Self::check_page_offset(o, offset)?;
        if o.pager.is_none() {
            return Err(VmError::InvalidArgument);
        }
        o.resident.get_mut(&offset).ok_or(VmError::InvalidArgument)?.lock = lock;
        if o.pager_page(offset) == Some(PagerPage::UnlockRequested) {
            o.set_pager_page(offset, None);
        }
        Ok(())
    }

    /// The lock on the page that [`Self::lookup_page`] found in `found` for
    /// `offset` of `top`, and the page's offset in `found` (`NONE` for
    /// anonymous objects, which never lock).
    pub fn found_lock(&self, top: ObjectId, offset: u64, found: ObjectId) -> (VmProt, u64) {
        if self.get(found).is_none_or(|o| o.pager.is_none()) {
            return (VmProt::NONE, 0);
        }
        let mut off = offset & !(PAGE_SIZE - 1);
        let mut cur = top;
        for _ in 0..=self.objects.len() {
            let Some(o) = self.get(cur) else {
                return (VmProt::NONE, 0);
            };
            if cur == found {
                return (o.resident.get(&off).map_or(VmProt::NONE, |r| r.lock), off);
            }
            match o.shadow {
                Some((s, so)) => {
                    off = off.saturating_add(so);
                    cur = s;
                }
                None => return (VmProt::NONE, 0),
            }
        }
        (VmProt::NONE, 0)
    }

    /// Sets or clears the dirty flag of the page resident at `offset`.
    pub fn set_dirty(&mut self, id: ObjectId, offset: u64, dirty: bool) -> Result<(), VmError> {
        let o = self.obj_mut(id)?;
        Self::check_page_offset(o, offset)?;
        let r = o.resident.get_mut(&offset).ok_or(VmError::InvalidArgument)?;
        r.dirty = dirty;
        Ok(())
    }

    /// Creates a shadow object of `size` bytes in front of `[offset, offset +
    /// size)` of `id`, for copy-on-write. The caller's reference to `id` is
    /// transferred to the shadow link (`vm_object_shadow` semantics); the new
    /// object has one reference, which the caller now holds instead.
    pub fn shadow(&mut self, id: ObjectId, offset: u64, size: u64) -> Result<ObjectId, VmError> {
        let backing = self.obj(id)?;
        if size == 0 || !page_aligned(size) || !page_aligned(offset) {
            return Err(VmError::InvalidArgument);
        }
        let end = offset.checked_add(size).ok_or(VmError::InvalidArgument)?;
        if end > backing.size {
            return Err(VmError::InvalidArgument);
        }
        let new = self.objects.insert(VmObject {
            size,
            pager: None,
            shadow: Some((id, offset)),
            shadowers: Vec::new(),
            resident: FastHashMap::default(),
            copy_strategy: CopyStrategy::Symmetric,
            ref_count: 1,
            pager_pages: FastHashMap::default(),
            outstanding: 0,
            pager_dead: false,
        });
        self.obj_mut(id)?.shadowers.push(new);
        Ok(new)
    }

    /// Number of objects in the chain starting at `id` (1 = no shadow).
    pub fn chain_depth(&self, id: ObjectId) -> Result<usize, VmError> {
        let mut cur = self.obj(id)?;
        let mut depth = 1;
        while let Some((s, _)) = cur.shadow {
            depth += 1;
            if depth > self.objects.len() {
                return Err(VmError::MemoryFailure);
            }
            cur = self.obj(s)?;
        }
        Ok(depth)
    }

    /// Shortens the shadow chain below `top` as far as possible:
    ///
    /// * **collapse**: an anonymous shadow referenced only by `top` is merged
    ///   into it (pages `top` lacks move up, the rest are freed) and unlinked;
    /// * **bypass**: an anonymous shadow with other references, none of whose
    ///   pages is visible through `top`, is skipped (`top` shadows its shadow);
    /// * **cover**: when `top` has every page resident its shadow is dropped.
    ///
    /// Returns the pages and pagers that became unreachable.
    pub fn collapse(&mut self, top: ObjectId) -> Result<Reclaim, VmError> {
        self.obj(top)?;
        let mut reclaim = Reclaim::default();
        let mut pending = Vec::new();
        self.collapse_one(top, &mut reclaim, &mut pending);
        self.run_pending(&mut reclaim, &mut pending);
        Ok(reclaim)
    }

    fn collapse_one(&mut self, top: ObjectId, reclaim: &mut Reclaim, pending: &mut Vec<ObjectId>) {
        // Each round removes one object or one link from the chain, so this ends.
        loop {
            let Some(t) = self.objects.get(&top) else { return };
            let Some((backing_id, boff)) = t.shadow else { return };
            if t.fully_resident() {
                if let Some(t) = self.objects.get_mut(&top) {
                    t.shadow = None;
                }
                self.drop_ref(backing_id, Some(top), reclaim, pending);
                return;
            }
            let Some(b) = self.objects.get(&backing_id) else { return };
            if b.pager.is_some() {
                return;
            }
            let new_shadow = match b.shadow {
                Some((s, so)) => match so.checked_add(boff) {
                    Some(o) => Some((s, o)),
                    None => return,
                },
                None => None,
            };
            if b.ref_count == 1 {
                self.merge_backing(top, backing_id, boff, new_shadow, reclaim);
            } else if self.bypassable(t, b, boff) {
                if let Some((s, _)) = new_shadow {
                    let Some(so) = self.objects.get_mut(&s) else { return };
                    let Some(n) = so.ref_count.checked_add(1) else { return };
                    so.ref_count = n;
                    so.shadowers.push(top);
                }
                if let Some(t) = self.objects.get_mut(&top) {
                    t.shadow = new_shadow;
                }
                self.drop_ref(backing_id, Some(top), reclaim, pending);
            } else {
                return;
            }
        }
    }

    /// True when no page of `b` (the shadow of `t` at offset `boff`) is visible
    /// through `t`: each one in `t`'s window is hidden by a page of `t`.
    fn bypassable(&self, t: &VmObject, b: &VmObject, boff: u64) -> bool {
        b.resident.keys().all(|&off| match off.checked_sub(boff) {
            Some(rel) if rel < t.size => t.resident.contains_key(&rel),
            _ => true,
        })
    }

    /// Merges `backing_id` (referenced only by `top`'s shadow link) into `top`.
    fn merge_backing(
        &mut self,
        top: ObjectId,
        backing_id: ObjectId,
        boff: u64,
        new_shadow: Option<(ObjectId, u64)>,
        reclaim: &mut Reclaim,
    ) {
        let Some(backing) = self.objects.remove(&backing_id) else {
            return;
        };
        if let Some((s, _)) = new_shadow
            && let Some(so) = self.objects.get_mut(&s)
        {
            // The link from `backing` becomes a link from `top`: same count.
            for x in so.shadowers.iter_mut() {
                if *x == backing_id {
                    *x = top;
                }
            }
        }
        let Some(t) = self.objects.get_mut(&top) else { return };
        for (off, r) in backing.resident {
            match off.checked_sub(boff) {
                Some(rel) if rel < t.size && !t.resident.contains_key(&rel) => {
                    t.resident.insert(rel, r);
                }
                _ => reclaim.pages.push(r.page),
            }
        }
        t.shadow = new_shadow;
    }
}
