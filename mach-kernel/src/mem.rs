//! Physical memory: the global frame allocator and the kernel heap's size.
//!
//! The allocator logic itself is `mach_core::frame` (tested on the host); this
//! module owns the one global instance, decides where its bitmap lives, and
//! carves the kernel heap out of it at boot.

use crate::arch::phys;
use core::sync::atomic::{AtomicUsize, Ordering};
use mach_core::PAGE_SIZE;
use mach_core::frame::{FrameAllocator, PhysRange};
use spin::Mutex;

/// Physical memory above this is ignored (the bitmap is sized for it).
pub const MAX_PHYS: u64 = 64 << 30;
/// The bitmap must lie in the first 4 GiB, which the boot page tables map.
const BITMAP_LIMIT: u64 = 4 << 30;

static FRAMES: Mutex<Option<FrameAllocator<'static>>> = Mutex::new(None);

const MAX_RESERVED: usize = 48;

/// Finds `size` bytes of page-aligned usable RAM below `limit` that overlap no
/// reserved range.
fn find_free_run(usable: &[PhysRange], reserved: &[PhysRange], size: u64, limit: u64) -> Option<u64> {
    for r in usable {
        let mut start = r.start.next_multiple_of(PAGE_SIZE).max(PAGE_SIZE);
        let end = r.end.min(limit) & !(PAGE_SIZE - 1);
        'candidate: while start.checked_add(size)? <= end {
            for res in reserved {
                if res.start < start + size && start < res.end {
                    start = res.end.next_multiple_of(PAGE_SIZE);
                    continue 'candidate;
                }
            }
            return Some(start);
        }
    }
    None
}

/// Sets up the frame allocator. `reserved` lists memory in use before the
/// kernel runs (its image, the boot information, the modules).
pub fn init(usable: &[PhysRange], reserved: &[PhysRange], max_phys: u64) {
    let max = max_phys.min(MAX_PHYS);
    let words = FrameAllocator::bitmap_words(max);
    let bytes = ((words * 8) as u64).next_multiple_of(PAGE_SIZE);
    let at = find_free_run(usable, reserved, bytes, BITMAP_LIMIT).expect("no room for the frame bitmap");
    let mut all = [PhysRange { start: 0, end: 0 }; MAX_RESERVED];
    let n = reserved.len().min(MAX_RESERVED - 1);
    all[..n].copy_from_slice(&reserved[..n]);
    all[n] = PhysRange {
        start: at,
        end: at + bytes,
    };
    let bitmap = phys::claim_bitmap(at, words);
    let f = FrameAllocator::new(bitmap, usable, &all[..=n]);
    FREE.store(f.free_count(), Ordering::Relaxed);
    *FRAMES.lock() = Some(f);
}

/// Gives the kernel heap a contiguous run of frames: an eighth of memory,
/// between 4 and 64 MiB.
pub fn init_heap() -> usize {
    let frames = (usable_frames() / 8).clamp(1024, 16 * 1024);
    let phys = FRAMES
        .lock()
        .as_mut()
        .and_then(|f| {
            let run = f.alloc_contiguous(frames, 1);
            FREE.store(f.free_count(), Ordering::Relaxed);
            run
        })
        .expect("no room for the kernel heap");
    let size = frames * PAGE_SIZE as usize;
    phys::init_heap(phys, size);
    size
}

/// Free frames, mirrored outside the lock so that the fault path can check
/// for memory pressure without taking it.
static FREE: AtomicUsize = AtomicUsize::new(0);

/// One free frame (not zeroed), or `None` when memory is exhausted.
pub fn alloc_frame() -> Option<u64> {
    alloc_frame_keeping(0)
}

/// One free frame, unless that would leave `reserve` or fewer free.
pub fn alloc_frame_keeping(reserve: usize) -> Option<u64> {
    let mut g = FRAMES.lock();
    let f = g.as_mut()?;
    if f.free_count() <= reserve {
        return None;
    }
    let frame = f.alloc();
    FREE.store(f.free_count(), Ordering::Relaxed);
    frame
}

/// Returns a frame. Freeing a frame twice is a kernel bug and panics.
pub fn free_frame(frame: u64) {
    if let Some(f) = FRAMES.lock().as_mut() {
        f.free(frame).expect("freeing a frame that is not allocated");
        FREE.store(f.free_count(), Ordering::Relaxed);
    }
}

/// Free frames now (no lock taken).
pub fn free_frames() -> usize {
    FREE.load(Ordering::Relaxed)
}

pub fn usable_frames() -> usize {
    FRAMES.lock().as_ref().map_or(0, |f| f.usable_count())
}
