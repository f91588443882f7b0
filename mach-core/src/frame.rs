//! Physical frame allocator.
//!
//! This module owns the bookkeeping of physical memory: a caller-provided bitmap with
//! one bit per 4 KiB frame (bit set = in use, bit clear = free), built from the
//! firmware/bootloader memory map, plus single-frame (next-fit) and contiguous
//! (first-fit, aligned) allocation and freeing.
//!
//! The allocator never hands out physical page 0 and never touches memory itself; it
//! only returns physical addresses.

use crate::PAGE_SIZE;

const FRAME_SHIFT: u32 = 12;
const WORD_BITS: usize = 64;

/// Frames at or above this index have addresses that do not fit in a `u64`.
const ADDRESSABLE_FRAMES: u64 = 1 << (64 - FRAME_SHIFT);

/// A half-open physical address range `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PhysRange {
    pub start: u64,
    pub end: u64,
}

/// Why a free request was rejected. The allocator state is unchanged on error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The address is not a multiple of [`PAGE_SIZE`].
    NotAligned,
    /// The address (or the end of the run) lies beyond the memory the bitmap covers.
    OutOfRange,
    /// The frame is currently free (double free), or it is frame 0, which is never
    /// handed out.
    NotAllocated,
}

/// Bitmap allocator for 4 KiB physical frames.
///
/// Freeing a frame that was reserved (never usable) but is marked in use cannot be
/// told apart from freeing an allocated frame: it is a caller bug this allocator does
/// not detect, and it would make that frame allocatable. Only frame 0 is protected.
pub struct FrameAllocator<'a> {
    bitmap: &'a mut [u64],
    /// Number of frames the bitmap manages (bits beyond stay set forever).
    frames: usize,
    free: usize,
    usable: usize,
    /// Word index where the next single-frame search starts (next-fit).
    hint: usize,
}

impl<'a> FrameAllocator<'a> {
    /// Number of u64 words needed for a bitmap covering physical addresses `[0, max_phys)`.
    pub fn bitmap_words(max_phys: u64) -> usize {
        let frames = (max_phys >> FRAME_SHIFT) + u64::from(!max_phys.is_multiple_of(PAGE_SIZE));
        let words = frames / WORD_BITS as u64 + u64::from(!frames.is_multiple_of(WORD_BITS as u64));
        usize::try_from(words).unwrap_or(usize::MAX)
    }

    /// Builds the allocator over `bitmap`.
    ///
    /// Every frame starts in use; frames fully inside a `usable` range (rounded inward
    /// to pages) become free, then every frame touching a `reserved` range (rounded
    /// outward) is marked in use again. Frame 0 is never handed out. Frames beyond the
    /// bitmap are ignored. Empty or inverted ranges are ignored.
    pub fn new(bitmap: &'a mut [u64], usable: &[PhysRange], reserved: &[PhysRange]) -> Self {
        bitmap.fill(u64::MAX);
        let max = usize::try_from(ADDRESSABLE_FRAMES).unwrap_or(usize::MAX);
        let frames = bitmap.len().saturating_mul(WORD_BITS).min(max);
        let mut alloc = FrameAllocator {
            bitmap,
            frames,
            free: 0,
            usable: 0,
            hint: 0,
        };
        for r in usable {
            let start = frame_ceil(r.start);
            let end = frame_floor(r.end).min(frames);
            if start < end {
                alloc.fill(start, end, false);
            }
        }
        for r in reserved {
            if r.start >= r.end {
                continue;
            }
            let start = frame_floor(r.start);
            let end = frame_ceil(r.end).min(frames);
            if start < end {
                alloc.fill(start, end, true);
            }
        }
        alloc.fill(0, 1.min(frames), true);
        let free = alloc
            .bitmap
            .iter()
            .map(|w| w.count_zeros() as usize)
            .fold(0usize, usize::saturating_add);
        alloc.free = free;
        alloc.usable = free;
        alloc
    }

    /// Allocates one frame and returns its physical address, or `None` when memory is
    /// exhausted. Next-fit: the search resumes where the previous one succeeded.
    pub fn alloc(&mut self) -> Option<u64> {
        if self.free == 0 {
            return None;
        }
        let words = self.bitmap.len();
        let start = if self.hint < words { self.hint } else { 0 };
        let found = (start..words)
            .chain(0..start)
            .find(|&i| self.bitmap.get(i).is_some_and(|w| *w != u64::MAX))?;
        let word = self.bitmap.get_mut(found)?;
        let bit = word.trailing_ones() as usize;
        let frame = found.checked_mul(WORD_BITS)?.checked_add(bit)?;
        if frame >= self.frames {
            return None;
        }
        let addr = frame_addr(frame)?;
        *word |= 1u64 << bit;
        self.free = self.free.saturating_sub(1);
        self.hint = found;
        Some(addr)
    }

    /// Allocates `count` physically contiguous frames whose first address is aligned
    /// to `align_frames * 4096` (an alignment of 0 is treated as 1). First-fit from
    /// the bottom of memory. Returns `None` for `count == 0` or when no such run exists.
    pub fn alloc_contiguous(&mut self, count: usize, align_frames: usize) -> Option<u64> {
        if count == 0 || count > self.free {
            return None;
        }
        let align = align_frames.max(1);
        let mut cand = 0usize;
        loop {
            let end = cand.checked_add(count)?;
            if end > self.frames {
                return None;
            }
            match self.first_in(cand, end, true) {
                None => {
                    let addr = frame_addr(cand)?;
                    self.fill(cand, end, true);
                    self.free = self.free.saturating_sub(count);
                    return Some(addr);
                }
                Some(used) => cand = align_up(used.checked_add(1)?, align)?,
            }
        }
    }

    /// Frees the frame at `addr`.
    pub fn free(&mut self, addr: u64) -> Result<(), FrameError> {
        self.free_contiguous(addr, 1)
    }

    /// Frees `count` contiguous frames starting at `addr`. Every frame is validated
    /// before any is freed, so on error nothing changes. `count == 0` only validates
    /// `addr`'s alignment and range.
    pub fn free_contiguous(&mut self, addr: u64, count: usize) -> Result<(), FrameError> {
        let start = self.checked_frame(addr)?;
        let end = start.checked_add(count).ok_or(FrameError::OutOfRange)?;
        if end > self.frames {
            return Err(FrameError::OutOfRange);
        }
        if count == 0 {
            return Ok(());
        }
        if start == 0 || self.first_in(start, end, false).is_some() {
            return Err(FrameError::NotAllocated);
        }
        self.fill(start, end, false);
        self.free = self.free.saturating_add(count);
        Ok(())
    }

    /// Number of frames currently free.
    pub fn free_count(&self) -> usize {
        self.free
    }

    /// Number of frames that were free right after [`FrameAllocator::new`].
    pub fn usable_count(&self) -> usize {
        self.usable
    }

    /// Number of frames the bitmap covers (free or not).
    pub fn total_frames(&self) -> usize {
        self.frames
    }

    /// Whether the frame containing `addr` is currently marked in use. Addresses
    /// beyond the bitmap count as in use.
    pub fn is_allocated(&self, addr: u64) -> bool {
        let frame = frame_floor(addr);
        frame >= self.frames || self.bit(frame)
    }

    /// Validates alignment and range of a frame address and returns its index.
    fn checked_frame(&self, addr: u64) -> Result<usize, FrameError> {
        if !addr.is_multiple_of(PAGE_SIZE) {
            return Err(FrameError::NotAligned);
        }
        let frame = frame_floor(addr);
        if frame >= self.frames {
            return Err(FrameError::OutOfRange);
        }
        Ok(frame)
    }

    fn bit(&self, frame: usize) -> bool {
        self.bitmap
            .get(frame / WORD_BITS)
            .is_none_or(|w| w & (1u64 << (frame % WORD_BITS)) != 0)
    }

    /// Sets (`used`) or clears every bit of frames `[start, end)`.
    fn fill(&mut self, start: usize, end: usize, used: bool) {
        let mut f = start;
        while f < end {
            let bit = f % WORD_BITS;
            let n = (WORD_BITS - bit).min(end - f);
            let mask = run_mask(bit, n);
            if let Some(w) = self.bitmap.get_mut(f / WORD_BITS) {
                if used {
                    *w |= mask;
                } else {
                    *w &= !mask;
                }
            }
            f += n;
        }
    }

    /// First frame in `[start, end)` whose bit equals `used`.
    fn first_in(&self, start: usize, end: usize, used: bool) -> Option<usize> {
        let mut f = start;
        while f < end {
            let bit = f % WORD_BITS;
            let n = (WORD_BITS - bit).min(end - f);
            let word = self.bitmap.get(f / WORD_BITS).copied().unwrap_or(u64::MAX);
            let word = if used { word } else { !word };
            let hits = word & run_mask(bit, n);
            if hits != 0 {
                return Some(f - bit + hits.trailing_zeros() as usize);
            }
            f += n;
        }
        None
    }
}

/// Mask of `n` bits (1..=64) starting at bit `bit`, with `bit + n <= 64`.
fn run_mask(bit: usize, n: usize) -> u64 {
    let ones = if n >= WORD_BITS { u64::MAX } else { (1u64 << n) - 1 };
    ones << bit
}

/// Index of the frame containing `addr`.
fn frame_floor(addr: u64) -> usize {
    usize::try_from(addr >> FRAME_SHIFT).unwrap_or(usize::MAX)
}

/// Index of the first frame starting at or after `addr`.
fn frame_ceil(addr: u64) -> usize {
    let f = (addr >> FRAME_SHIFT) + u64::from(!addr.is_multiple_of(PAGE_SIZE));
    usize::try_from(f).unwrap_or(usize::MAX)
}

fn frame_addr(frame: usize) -> Option<u64> {
    u64::try_from(frame).ok()?.checked_mul(PAGE_SIZE)
}

fn align_up(x: usize, align: usize) -> Option<usize> {
    x.checked_next_multiple_of(align)
}

#[cfg(test)]
mod tests;
