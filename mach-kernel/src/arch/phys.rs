//! Claiming physical memory at boot: the frame bitmap and the kernel heap.
//!
//! Both are runs of RAM taken out of the frame allocator's hands before or as it
//! starts, and reached through the direct map for the life of the kernel.

use super::heap::KernelHeap;
use super::paging::phys_slice_mut;

#[global_allocator]
static HEAP: KernelHeap = KernelHeap::empty();

/// Turns the physical run `[phys, phys + words*8)` into the frame bitmap.
///
/// Called once at boot with a run that `arch::frame::init` found inside usable
/// RAM and excluded from the frames it hands out.
pub fn claim_bitmap(phys: u64, words: usize) -> &'static mut [u64] {
    // SAFETY: the run is usable RAM below 4 GiB (mapped by the boot tables and
    // the kernel's direct map), reserved from the frame allocator, and claimed
    // only once, so this is the only reference to it.
    unsafe { phys_slice_mut::<u64>(phys, words) }
}

/// Hands `[phys, phys + size)` to the kernel heap.
///
/// Called once at boot with contiguous frames taken from the frame allocator
/// and never returned to it.
pub fn init_heap(phys: u64, size: usize) {
    let mem = claim_bytes(phys, size);
    // SAFETY: the run is owned by the heap from now on (see claim_bytes) and
    // the heap is initialised exactly once, before the first allocation.
    unsafe { HEAP.init(mem.as_mut_ptr(), mem.len()) };
}

fn claim_bytes(phys: u64, size: usize) -> &'static mut [u8] {
    // SAFETY: the run was just taken from the frame allocator for the heap
    // alone (and recorded as claimed, so no `arch::frame` access reaches it
    // either), it is never given back, and the direct map covers all RAM.
    unsafe { phys_slice_mut::<u8>(phys, size) }
}

/// Heap bytes in use and free.
pub fn heap_usage() -> (usize, usize) {
    HEAP.usage()
}

/// Gives the heap's free slabs back to its large pool once at least `freed`
/// bytes of small blocks were freed since the last time.
pub fn heap_reclaim(freed: usize) -> usize {
    HEAP.reclaim_if_freed(freed)
}

/// The bytes of a boot module.
///
/// Modules are reserved from the frame allocator for the life of the kernel
/// and nothing writes them, so a shared `'static` view is sound.
pub fn module_bytes(range: mach_core::frame::PhysRange) -> &'static [u8] {
    let len = range.end.saturating_sub(range.start) as usize;
    // SAFETY: see above; the direct map covers all RAM where GRUB put modules.
    unsafe { super::paging::phys_slice(range.start, len) }
}
