//! Out-of-line data of messages to kernel objects, copied once from the
//! sender into frames the kernel keeps (`UserMemory::copyin_kernel_pages`),
//! under a handle the message carries until a kernel server takes the
//! frames: a pager's `memory_object_data_supply` makes them resident as they
//! are, so its data is copied once, from the pager's memory to the page that
//! will be mapped. A message that dies before being served gives its handle
//! back and the frames are freed ([`discard`]).

use super::PagersGone;
use crate::arch::usercopy::UserAddr;
use crate::kern::task::Task;
use crate::mem::{self, Frame};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};
use mach_abi::layout::USER_END;
use mach_core::PAGE_SIZE;
use spin::Mutex;

/// Handles of page lists have this bit set (virtual copies' handles do not),
/// so one release path serves both.
const HANDLE_BIT: u64 = 1 << 62;

/// The pages of one out-of-line region and its length in bytes.
pub struct KernelPages {
    pub frames: Vec<Frame>,
    pub len: u64,
}

impl KernelPages {
    /// The data as bytes (a server that wants them so, such as `vm_write`
    /// or `device_write`); the frames go back to the allocator.
    pub fn into_bytes(self) -> Vec<u8> {
        let mut out = Vec::new();
        if out.try_reserve_exact(self.len as usize).is_err() {
            self.frames.into_iter().for_each(mem::free_frame);
            return out;
        }
        let mut left = self.len as usize;
        for f in self.frames {
            let n = left.min(PAGE_SIZE as usize);
            out.extend_from_slice(&f.bytes()[..n]);
            left -= n;
            mem::free_frame(f);
        }
        out
    }
}

static PAGES: Mutex<BTreeMap<u64, KernelPages>> = Mutex::new(BTreeMap::new());
static NEXT: AtomicU64 = AtomicU64::new(1);

/// Copies `[addr, addr + size)` of `task` (the current task) into new frames
/// (leaving the default pager's reserve alone unless `task` is the default
/// pager's); `dealloc` deallocates the region afterwards, which may end
/// objects whose pagers go to `gone`. `None` when memory is short (the bytes
/// are then copied into the message instead); `Err` when the region cannot
/// be read without waiting for a pager.
pub fn copyin(task: &Task, addr: u64, size: u64, dealloc: bool, gone: &mut PagersGone) -> Result<Option<u64>, ()> {
    if addr.checked_add(size).is_none_or(|end| end > USER_END) {
        return Err(());
    }
    let reserve = if task.is_vm_privileged() {
        0
    } else {
        super::DEFAULT_PAGER_RESERVE
    };
    let count = size.div_ceil(PAGE_SIZE) as usize;
    let mut frames = Vec::new();
    if frames.try_reserve_exact(count).is_err() {
        return Ok(None);
    }
    let mut at = 0u64;
    while at < size {
        let Some(mut f) = mem::alloc_frame_keeping(reserve) else {
            frames.into_iter().for_each(mem::free_frame);
            return Ok(None);
        };
        let n = (size - at).min(PAGE_SIZE);
        if f.fill_from_user_nowait(UserAddr::new(addr + at), n as usize).is_err() {
            mem::free_frame(f);
            frames.into_iter().for_each(mem::free_frame);
            return Err(());
        }
        frames.push(f);
        at += n;
    }
    if dealloc && let Ok(g) = super::deallocate(task, addr, size) {
        gone.merge(g);
    }
    let handle = NEXT.fetch_add(1, Ordering::Relaxed) | HANDLE_BIT;
    PAGES.lock().insert(handle, KernelPages { frames, len: size });
    Ok(Some(handle))
}

/// Takes the pages behind `handle` (a kernel server's use of them).
pub fn take(handle: u64) -> Option<KernelPages> {
    PAGES.lock().remove(&handle)
}

/// Frees the pages behind `handle` if it is a page list's (their message
/// died unserved); false for another handle (a virtual copy's).
pub fn discard(handle: u64) -> bool {
    if handle & HANDLE_BIT == 0 {
        return false;
    }
    if let Some(p) = PAGES.lock().remove(&handle) {
        p.frames.into_iter().for_each(mem::free_frame);
    }
    true
}

/// Page lists in flight (for the end-of-run audit).
pub fn in_flight() -> usize {
    PAGES.lock().len()
}
