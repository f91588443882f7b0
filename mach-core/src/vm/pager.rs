//! The external-pager protocol's per-page state of pager-backed objects
//! (Mach's `busy`, `absent` and `error` page bits, and `unlock_request`),
//! kept in each [`VmObject`](super::VmObject) and changed only here.
//!
//! A page of a pager-backed object is in exactly one state:
//!
//! * **absent**: neither resident nor in [`PagerPage`]: the next fault asks
//!   the pager (`memory_object_data_request`) and the page becomes requested;
//! * **requested** ([`PagerPage::Requested`], Mach's `busy` + `absent`): a
//!   request is out; faults on the page wait, and no second request is sent;
//! * **resident**: in the object's resident pages, possibly locked by the
//!   pager ([`ResidentPage::lock`](super::ResidentPage)); a fault the lock
//!   forbids asks `memory_object_data_unlock` once
//!   ([`PagerPage::UnlockRequested`]) and waits for the `lock_request`;
//! * **unavailable** ([`PagerPage::Unavailable`]): the pager answered a
//!   request with `memory_object_data_unavailable`: the page is zero-filled by the next
//!   fault (which can wait for memory), as in Mach's `vm_fault_page`;
//! * **error** ([`PagerPage::Error`], Mach's `error` bit): the pager
//!   answered a request with `memory_object_data_error`, or died with the
//!   request out.
//!
//! The error state is sticky here, where Mach 3 frees the error page so
//! that the next fault asks again: a pager that fails a page is not asked in
//! a loop, and faults on the page fail at once with
//! [`VmError::MemoryError`]. A later `data_supply` of the page (the pager
//! changed its mind) clears it.
//!
//! As in Mach (`memory_object_data_error` and `_unavailable` touch only pages
//! that are busy and absent), an error or zero-fill answer applies only to a
//! page asked for; for any other page it does nothing. A supply is taken for
//! any absent page (a pager may push data unasked).
//!
//! When the pager dies ([`VmObjects::pager_died`]) every requested page
//! becomes an error page and the object is marked pager-dead: faults on its
//! absent pages fail at once; resident pages stay readable.
//!
//! At most [`MAX_PAGER_PAGES`] requests (data and unlock) are outstanding per
//! object; a fault that would send one more fails with
//! [`VmError::ResourceShortage`] (it does not wait: a pager that never
//! answers cannot make the kernel keep unbounded state).

use super::object::{ObjectId, PageId, ResidentPage, VmObject, VmObjects};
use super::types::{PAGE_SIZE, VmError, page_aligned};

/// Requests (data and unlock) outstanding per object at most.
pub const MAX_PAGER_PAGES: u32 = 1024;

/// Pages one pager answer over a range (`data_error`, `data_unavailable`)
/// covers at most ([`VmObjects::answer_range`]): a longer range is cut, so a
/// hostile pager's huge size costs bounded work. The kernel asks for one
/// page at a time, so a pager answering what it was asked never hits this.
pub const MAX_ANSWER_PAGES: u64 = 1024;

/// The protocol state of a page of a pager-backed object that is not plainly
/// absent or resident.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PagerPage {
    /// `memory_object_data_request` is out (the page is absent).
    Requested,
    /// `memory_object_data_unlock` is out (the page is resident and locked).
    UnlockRequested,
    /// The pager has no data: the next fault zero-fills the page.
    Unavailable,
    /// The pager cannot provide the page: faults on it fail.
    Error,
}

/// The whole state of one page, as [`VmObjects::page_state`] reports it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PageState {
    Absent,
    Requested,
    Resident(ResidentPage),
    /// Resident, and a `data_unlock` for it is out.
    UnlockRequested(ResidentPage),
    Unavailable,
    Error,
}

impl PageState {
    /// Whether a fault on the page waits for the pager.
    pub fn is_waiting(self) -> bool {
        matches!(self, PageState::Requested | PageState::UnlockRequested(_))
    }
}

/// What a fault must do about a page its lookup did not find resident in a
/// pager-backed object ([`VmObjects::request_page`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PagerStep {
    /// The page is now requested: send the request, then wait.
    Send,
    /// A request is already out: wait for its answer (send nothing).
    Wait,
    /// The pager said it has no data: zero-fill the page.
    Fill,
}

/// What [`VmObjects::pager_died`] did.
#[derive(Clone, Default, PartialEq, Eq, Debug)]
pub struct PagerDeath {
    /// Offsets whose requests were out: their waiters must wake (and fail).
    pub woken: alloc::vec::Vec<u64>,
}

impl VmObject {
    /// The protocol state of page `offset`, if it is not plainly absent or
    /// resident (see [`VmObjects::page_state`] for the whole state).
    pub fn pager_page(&self, offset: u64) -> Option<PagerPage> {
        self.pager_pages.get(&offset).copied()
    }
    /// Requests outstanding (data and unlock).
    pub fn outstanding(&self) -> u32 {
        self.outstanding
    }
    /// Whether the pager died (faults on absent pages fail).
    pub fn pager_dead(&self) -> bool {
        self.pager_dead
    }
    /// The pages in a protocol state, as `(offset, state)`.
    pub fn pager_pages(&self) -> impl Iterator<Item = (u64, PagerPage)> + '_ {
        self.pager_pages.iter().map(|(&o, &s)| (o, s))
    }

    /// Sets the state of `offset` (None: plain), keeping `outstanding` exact.
    #[inline(always)]
    pub(super) fn set_pager_page(&mut self, offset: u64, state: Option<PagerPage>) {
        // Most objects (anonymous memory) never have a pager page: a page
        // made plain there costs one test.
        if state.is_none() && self.pager_pages.is_empty() {
            return;
        }
        self.change_pager_page(offset, state);
    }

    fn change_pager_page(&mut self, offset: u64, state: Option<PagerPage>) {
        let waits = |s: Option<PagerPage>| matches!(s, Some(PagerPage::Requested | PagerPage::UnlockRequested));
        let old = match state {
            Some(s) => self.pager_pages.insert(offset, s),
            None => self.pager_pages.remove(&offset),
        };
        if waits(old) {
            self.outstanding = self.outstanding.saturating_sub(1);
        }
        if waits(state) {
            self.outstanding = self.outstanding.saturating_add(1);
        }
    }

    fn check_pager_offset(&self, offset: u64) -> Result<(), VmError> {
        if self.pager.is_none() {
            return Err(VmError::InvalidArgument);
        }
        if !page_aligned(offset) || offset >= self.size {
            return Err(VmError::InvalidArgument);
        }
        Ok(())
    }

    /// Takes one more outstanding request, if the bound allows.
    fn mark(&mut self, offset: u64, state: PagerPage) -> Result<PagerStep, VmError> {
        if self.outstanding >= MAX_PAGER_PAGES {
            return Err(VmError::ResourceShortage);
        }
        self.set_pager_page(offset, Some(state));
        Ok(PagerStep::Send)
    }
}

impl VmObjects {
    /// The whole protocol state of page `offset` of `id`.
    pub fn page_state(&self, id: ObjectId, offset: u64) -> Result<PageState, VmError> {
        let o = self.get(id).ok_or(VmError::InvalidObject)?;
        let offset = offset & !(PAGE_SIZE - 1);
        Ok(match (o.resident.get(&offset), o.pager_page(offset)) {
            (Some(&r), Some(PagerPage::UnlockRequested)) => PageState::UnlockRequested(r),
            (Some(&r), _) => PageState::Resident(r),
            (None, None) => PageState::Absent,
            (None, Some(PagerPage::Requested)) => PageState::Requested,
            (None, Some(PagerPage::Unavailable)) => PageState::Unavailable,
            (None, Some(PagerPage::Error | PagerPage::UnlockRequested)) => PageState::Error,
        })
    }

    /// A fault needs page `offset` of the pager-backed `id`, not resident:
    /// the first such fault makes it requested and is told to send the
    /// request; later ones wait. Fails with `MemoryError` for an error page
    /// or a dead pager, `ResourceShortage` past [`MAX_PAGER_PAGES`],
    /// `MemoryPresent` if the page is resident.
    pub fn request_page(&mut self, id: ObjectId, offset: u64) -> Result<PagerStep, VmError> {
        let o = self.obj_mut(id)?;
        o.check_pager_offset(offset)?;
        if o.resident.contains_key(&offset) {
            return Err(VmError::MemoryPresent);
        }
        match o.pager_page(offset) {
            Some(PagerPage::Requested) => Ok(PagerStep::Wait),
            Some(PagerPage::Unavailable) => Ok(PagerStep::Fill),
            Some(PagerPage::Error | PagerPage::UnlockRequested) => Err(VmError::MemoryError),
            None if o.pager_dead => Err(VmError::MemoryError),
            None => o.mark(offset, PagerPage::Requested),
        }
    }

    /// A fault needs access the pager's lock forbids on the resident page
    /// `offset` of `id`: the first makes it unlock-requested and sends
    /// `data_unlock`; later ones wait. A dead pager cannot unlock:
    /// `MemoryError`.
    pub fn request_unlock(&mut self, id: ObjectId, offset: u64) -> Result<PagerStep, VmError> {
        let o = self.obj_mut(id)?;
        o.check_pager_offset(offset)?;
        if !o.resident.contains_key(&offset) {
            return Err(VmError::InvalidArgument);
        }
        match o.pager_page(offset) {
            Some(PagerPage::UnlockRequested) => Ok(PagerStep::Wait),
            _ if o.pager_dead => Err(VmError::MemoryError),
            _ => o.mark(offset, PagerPage::UnlockRequested),
        }
    }

    /// Withdraws a request the fault that made it did not send (a fault that
    /// may not wait): the page is absent (or plainly resident) again.
    pub fn cancel_request(&mut self, id: ObjectId, offset: u64) -> Result<(), VmError> {
        let o = self.obj_mut(id)?;
        if matches!(
            o.pager_page(offset),
            Some(PagerPage::Requested | PagerPage::UnlockRequested)
        ) {
            o.set_pager_page(offset, None);
        }
        Ok(())
    }

    /// `memory_object_data_supply` (or the zero fill after
    /// `data_unavailable`) of `page` at `offset` of `id`: the page becomes
    /// resident, whatever protocol state it was in. Refused with
    /// `MemoryPresent` when a page is resident there already (a duplicate
    /// supply never overwrites: the caller frees `page`), `InvalidArgument`
    /// outside the object. Returns whether a request was out (waiters to wake).
    pub fn supply_page(&mut self, id: ObjectId, offset: u64, page: PageId) -> Result<bool, VmError> {
        let was = self.get(id).and_then(|o| o.pager_page(offset));
        self.insert_page(id, offset, page)?;
        Ok(was == Some(PagerPage::Requested))
    }

    /// A pager's `data_supply` of `page` at `offset` of `id`: as
    /// [`Self::supply_page`], but when `memory_short` a page the kernel never
    /// asked for (no protocol state) is refused with `ResourceShortage` (the
    /// caller frees `page`), so a pager cannot fill memory that is running
    /// out with data nobody wanted.
    pub fn supply_answer(
        &mut self,
        id: ObjectId,
        offset: u64,
        page: PageId,
        memory_short: bool,
    ) -> Result<bool, VmError> {
        if memory_short && self.get(id).and_then(|o| o.pager_page(offset)).is_none() {
            return Err(VmError::ResourceShortage);
        }
        self.supply_page(id, offset, page)
    }

    /// The pages `[start, end)` a pager's answer for `[offset, offset +
    /// length)` of the pager-backed `id` covers: `offset` page-aligned and
    /// inside the object and `length` non-zero (else `InvalidArgument`); the
    /// range is cut at the object's end and after [`MAX_ANSWER_PAGES`] pages.
    pub fn answer_range(&self, id: ObjectId, offset: u64, length: u64) -> Result<(u64, u64), VmError> {
        let o = self.get(id).ok_or(VmError::InvalidObject)?;
        o.check_pager_offset(offset)?;
        if length == 0 {
            return Err(VmError::InvalidArgument);
        }
        let end = offset
            .saturating_add(length)
            .min(o.size)
            .min(offset.saturating_add(MAX_ANSWER_PAGES * PAGE_SIZE));
        // Whole pages: a partial last page counts.
        let end = super::types::round_page(end).unwrap_or(o.size).min(o.size);
        Ok((offset, end))
    }

    /// The pages of `[start, end)` of `id` with an unlock request out (at
    /// most [`MAX_PAGER_PAGES`]), in offset order.
    pub fn unlock_requests_in(&self, id: ObjectId, start: u64, end: u64) -> alloc::vec::Vec<u64> {
        let Some(o) = self.get(id) else {
            return alloc::vec::Vec::new();
        };
        let mut v: alloc::vec::Vec<u64> = o
            .pager_pages()
            .filter(|&(off, st)| st == PagerPage::UnlockRequested && (start..end).contains(&off))
            .map(|(off, _)| off)
            .collect();
        v.sort_unstable();
        v
    }

    /// `memory_object_data_unavailable` for `offset` of `id`: a requested
    /// page is zero-filled by its next fault. As in Mach, only a page asked
    /// for is answered: for another absent page this does nothing
    /// (`Ok(false)`); a resident page is left alone (`MemoryPresent`).
    /// Returns whether the page was requested (its waiters must wake).
    pub fn data_unavailable(&mut self, id: ObjectId, offset: u64) -> Result<bool, VmError> {
        self.answer(id, offset, PagerPage::Unavailable)
    }

    /// `memory_object_data_error` for `offset` of `id`: a requested page
    /// becomes an error page; the faults waiting for it, and later ones, fail
    /// with `MemoryError`. Like [`Self::data_unavailable`], it answers only a
    /// page asked for.
    pub fn data_error(&mut self, id: ObjectId, offset: u64) -> Result<bool, VmError> {
        self.answer(id, offset, PagerPage::Error)
    }

    fn answer(&mut self, id: ObjectId, offset: u64, state: PagerPage) -> Result<bool, VmError> {
        let o = self.obj_mut(id)?;
        o.check_pager_offset(offset)?;
        if o.resident.contains_key(&offset) {
            return Err(VmError::MemoryPresent);
        }
        if o.pager_page(offset) != Some(PagerPage::Requested) {
            return Ok(false);
        }
        o.set_pager_page(offset, Some(state));
        Ok(true)
    }

    /// The pager of `id` died: every requested page becomes an error page,
    /// unlock requests are dropped (the page stays locked), and the object
    /// is marked pager-dead so that faults on absent pages fail at once.
    pub fn pager_died(&mut self, id: ObjectId) -> Result<PagerDeath, VmError> {
        let o = self.obj_mut(id)?;
        o.pager_dead = true;
        let mut woken: alloc::vec::Vec<u64> = o
            .pager_pages
            .iter()
            .filter(|(_, s)| matches!(s, PagerPage::Requested | PagerPage::UnlockRequested))
            .map(|(&off, _)| off)
            .collect();
        woken.sort_unstable();
        for &off in &woken {
            let next = match o.pager_page(off) {
                Some(PagerPage::Requested) => Some(PagerPage::Error),
                _ => None,
            };
            o.set_pager_page(off, next);
        }
        Ok(PagerDeath { woken })
    }
}
