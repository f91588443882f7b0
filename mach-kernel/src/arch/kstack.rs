//! Kernel thread stacks, each mapped in the kernel stack region below an
//! unmapped guard page, so an overflow faults (and is reported through the
//! double-fault stack) instead of silently corrupting a neighbour.

use super::frame;
use super::paging::{self, KSTACK_REGION, PAGE_SIZE};
use alloc::vec::Vec;
use spin::Mutex;

/// Usable size of a kernel stack.
pub const KSTACK_SIZE: u64 = 16 * 1024;
/// Virtual space per stack: the stack plus guard pages below it.
const SLOT_SIZE: u64 = 2 * KSTACK_SIZE;
/// Slots in the region (1 GiB worth).
const MAX_SLOTS: usize = (1 << 30) / SLOT_SIZE as usize;

struct Slots {
    next_unused: usize,
    free: Vec<usize>,
}

static SLOTS: Mutex<Slots> = Mutex::new(Slots {
    next_unused: 0,
    free: Vec::new(),
});

/// A mapped kernel stack; unmapped and its frames freed on drop.
pub struct KernelStack {
    slot: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfStacks;

impl KernelStack {
    pub fn new() -> Result<Self, OutOfStacks> {
        let slot = {
            let mut s = SLOTS.lock();
            match s.free.pop() {
                Some(slot) => slot,
                None if s.next_unused < MAX_SLOTS => {
                    s.next_unused += 1;
                    s.next_unused - 1
                }
                None => return Err(OutOfStacks),
            }
        };
        let stack = KernelStack { slot };
        let base = stack.bottom();
        let mut va = base;
        while va < base + KSTACK_SIZE {
            let Some(frame) = frame::alloc_frame() else {
                stack.release_pages(va);
                SLOTS.lock().free.push(slot);
                core::mem::forget(stack);
                return Err(OutOfStacks);
            };
            if paging::kernel_map(va, frame.phys(), true).is_ok() {
                let _ = frame.into_page();
            } else {
                frame::free_frame(frame);
                stack.release_pages(va);
                SLOTS.lock().free.push(slot);
                core::mem::forget(stack);
                return Err(OutOfStacks);
            }
            va += PAGE_SIZE;
        }
        Ok(stack)
    }

    fn bottom(&self) -> u64 {
        KSTACK_REGION + self.slot as u64 * SLOT_SIZE + (SLOT_SIZE - KSTACK_SIZE)
    }

    /// One past the highest byte of the stack (16-byte aligned).
    pub fn top(&self) -> u64 {
        self.bottom() + KSTACK_SIZE
    }

    /// Unmaps and frees the pages in [bottom, end).
    fn release_pages(&self, end: u64) {
        let mut va = self.bottom();
        while va < end {
            if let Ok(page) = paging::kernel_unmap(va) {
                frame::free_page(page);
            }
            va += PAGE_SIZE;
        }
    }
}

impl Drop for KernelStack {
    fn drop(&mut self) {
        self.release_pages(self.top());
        SLOTS.lock().free.push(self.slot);
    }
}
