//! Physical memory: the global frame allocator, the frames it hands out, and
//! the kernel heap's size.
//!
//! The allocator logic itself is `mach_core::frame` (tested on the host); this
//! module owns the one global instance, decides where its bitmap lives, and
//! carves the kernel heap out of it at boot.
//!
//! A frame's bytes are reached through the direct map, and only through a
//! [`Frame`]: an owned, non-`Copy` handle that only this allocator creates.
//! Holding a `Frame` is owning that RAM; `&mut Frame` is writing it alone.
//! When a frame goes to a VM object or a page table it becomes a plain page
//! number ([`Frame::into_page`]); the VM model names pages that way, and the
//! kernel reads such a page ([`read_page`], [`alloc_copy_of`]) only after
//! checking that it is an allocated frame outside everything the kernel
//! claimed at boot (its image, the boot data, the bitmap, the heap). Frames
//! the kernel keeps for itself (page tables, kernel stacks) are allocated
//! frames too: that they never reach a VM object rests on the VM model
//! naming only pages it was given, which its host tests and audit check.

use super::paging::phys_to_virt;
use super::phys;
use super::usercopy::{BadUserAddress, UserAddr, copy_from_user_nowait};
use core::sync::atomic::{AtomicUsize, Ordering};
use mach_core::PAGE_SIZE;
use mach_core::frame::{FrameAllocator, PhysRange};
use spin::Mutex;

/// Physical memory above this is ignored (the bitmap is sized for it).
pub const MAX_PHYS: u64 = 64 << 30;
/// The bitmap must lie in the first 4 GiB, which the boot page tables map.
const BITMAP_LIMIT: u64 = 4 << 30;

const MAX_RESERVED: usize = 48;
/// Ranges claimed at boot: the reserved ones, the bitmap and the heap.
const MAX_CLAIMED: usize = MAX_RESERVED + 2;

struct Frames {
    alloc: FrameAllocator<'static>,
    /// What the kernel holds outside the allocator's frames (see the module doc).
    claimed: [PhysRange; MAX_CLAIMED],
    nclaimed: usize,
}

impl Frames {
    fn is_claimed(&self, page: u64) -> bool {
        self.claimed[..self.nclaimed]
            .iter()
            .any(|r| page >= r.start && page < r.end)
    }

    /// Records `r` as claimed, keeping the list sorted and merged (boot
    /// modules usually follow the kernel image, so a few ranges remain and
    /// [`Self::is_claimed`] stays short).
    fn claim(&mut self, r: PhysRange) {
        if r.start >= r.end || self.nclaimed >= MAX_CLAIMED {
            return;
        }
        let r = PhysRange {
            start: r.start & !(PAGE_SIZE - 1),
            end: r.end.next_multiple_of(PAGE_SIZE),
        };
        self.claimed[self.nclaimed] = r;
        self.nclaimed += 1;
        let list = &mut self.claimed[..self.nclaimed];
        list.sort_unstable_by_key(|r| r.start);
        let mut n = 0;
        for i in 0..list.len() {
            if n > 0 && list[i].start <= list[n - 1].end {
                list[n - 1].end = list[n - 1].end.max(list[i].end);
            } else {
                list[n] = list[i];
                n += 1;
            }
        }
        self.nclaimed = n;
    }

    fn take(&mut self, reserve: usize) -> Option<Frame> {
        if self.alloc.free_count() <= reserve {
            return None;
        }
        let phys = self.alloc.alloc()?;
        FREE.store(self.alloc.free_count(), Ordering::Relaxed);
        Some(Frame { phys })
    }

    /// Whether `page` is a frame this allocator handed out.
    fn is_user_page(&self, page: u64) -> bool {
        page.is_multiple_of(PAGE_SIZE) && self.alloc.is_allocated(page) && !self.is_claimed(page)
    }
}

static FRAMES: Mutex<Option<Frames>> = Mutex::new(None);

/// Free frames, mirrored outside the lock so that the fault path can check
/// for memory pressure without taking it.
static FREE: AtomicUsize = AtomicUsize::new(0);

/// A physical frame owned by its holder (see the module doc).
#[derive(Debug)]
pub struct Frame {
    phys: u64,
}

impl Frame {
    /// Its physical address.
    pub fn phys(&self) -> u64 {
        self.phys
    }

    /// Hands the frame to a VM object or a page table, which name it by its
    /// page number from now on; [`free_page`] gives it back.
    pub fn into_page(self) -> u64 {
        self.phys
    }

    fn bytes_mut(&mut self) -> &mut [u8; PAGE_SIZE as usize] {
        // SAFETY: a `Frame` is only made by `Frames::take` from a frame the
        // allocator just handed out: RAM below MAX_PHYS (so direct-mapped),
        // page-aligned, and outside everything Rust code reaches otherwise
        // (the kernel image, boot data, the bitmap and the heap are claimed
        // at boot and never handed out). `Frame` is neither `Copy` nor
        // `Clone` and gives its page away only by value (`into_page`), and
        // until then no page table or VM object names it, so `&mut self` is
        // the only access to those bytes while the reference lives.
        unsafe { &mut *(phys_to_virt(self.phys) as *mut [u8; PAGE_SIZE as usize]) }
    }

    /// Its bytes (a shared borrow of the owner: only reads).
    pub fn bytes(&self) -> &[u8; PAGE_SIZE as usize] {
        // SAFETY: as in `bytes_mut`; `&self` allows only reads, and nothing
        // else reaches the frame while its owner holds it.
        unsafe { &*(phys_to_virt(self.phys) as *const [u8; PAGE_SIZE as usize]) }
    }

    /// Fills the frame with the `len` (at most a page) bytes at user address
    /// `src`, zeroes past them; a `_nowait` copy (see `arch::usercopy`).
    pub fn fill_from_user_nowait(&mut self, src: UserAddr, len: usize) -> Result<(), BadUserAddress> {
        let page = self.bytes_mut();
        let len = len.min(page.len());
        copy_from_user_nowait(&mut page[..len], src)?;
        page[len..].fill(0);
        Ok(())
    }

    /// Fills the frame with zeroes.
    pub fn zero(&mut self) {
        self.bytes_mut().fill(0);
    }

    /// Copies `bytes` into the frame at `offset`, as much as fits; returns
    /// how many bytes were copied.
    pub fn write(&mut self, offset: usize, bytes: &[u8]) -> usize {
        let page = self.bytes_mut();
        let Some(room) = page.get_mut(offset..) else {
            return 0;
        };
        let n = bytes.len().min(room.len());
        room[..n].copy_from_slice(&bytes[..n]);
        n
    }

    /// Fills the frame with `data` (up to a page), zeroes past its end.
    pub fn fill(&mut self, data: &[u8]) {
        let page = self.bytes_mut();
        let n = data.len().min(page.len());
        page[..n].copy_from_slice(&data[..n]);
        page[n..].fill(0);
    }
}

/// Copies page `page` (a frame handed out earlier, now named by a VM object)
/// into `buf`; false (nothing copied) if `page` is not such a frame.
pub fn read_page(page: u64, buf: &mut [u8]) -> bool {
    let frames = FRAMES.lock();
    if !frames.as_ref().is_some_and(|f| f.is_user_page(page)) {
        return false;
    }
    drop(frames);
    let n = buf.len().min(PAGE_SIZE as usize);
    // SAFETY: the source must be readable for `n` bytes and not overlap
    // `buf`. `page` is a page-aligned frame the allocator handed out
    // (checked above), so `n <= PAGE_SIZE` bytes from it are direct-mapped
    // RAM; it is not the heap (claimed at boot), and a VM object never names
    // a kernel-stack frame, so it is not `buf` either. While a VM object
    // holds the page nothing in the kernel writes it (only user mappings,
    // and no user code runs during this copy on this single CPU).
    unsafe { core::ptr::copy_nonoverlapping(phys_to_virt(page) as *const u8, buf.as_mut_ptr(), n) }
    true
}

/// A new frame (unless that would leave `reserve` or fewer free) holding a
/// copy of page `page` (see [`read_page`]); `None` when memory is short or
/// `page` is not a frame the allocator handed out.
pub fn alloc_copy_of(page: u64, reserve: usize) -> Option<Frame> {
    let mut frames = FRAMES.lock();
    let f = frames.as_mut()?;
    if !f.is_user_page(page) {
        return None;
    }
    let mut to = f.take(reserve)?;
    drop(frames);
    // SAFETY: `page` is an allocated, page-aligned, direct-mapped frame
    // outside the kernel's claimed memory (checked above), readable for a
    // page; `to` was just allocated, so the two differ, and `&mut` on `to`
    // makes this the only access to it. No user code runs during the copy.
    unsafe {
        core::ptr::copy_nonoverlapping(
            phys_to_virt(page) as *const u8,
            to.bytes_mut().as_mut_ptr(),
            PAGE_SIZE as usize,
        )
    };
    Some(to)
}

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
    let alloc = FrameAllocator::new(bitmap, usable, &all[..=n]);
    FREE.store(alloc.free_count(), Ordering::Relaxed);
    let mut frames = Frames {
        alloc,
        claimed: [PhysRange { start: 0, end: 0 }; MAX_CLAIMED],
        nclaimed: 0,
    };
    for r in &all[..=n] {
        frames.claim(*r);
    }
    *FRAMES.lock() = Some(frames);
}

/// Gives the kernel heap a contiguous run of frames: an eighth of memory,
/// between 4 and 64 MiB.
pub fn init_heap() -> usize {
    let frames = (usable_frames() / 8).clamp(1024, 16 * 1024);
    let phys = FRAMES
        .lock()
        .as_mut()
        .and_then(|f| {
            let run = f.alloc.alloc_contiguous(frames, 1)?;
            FREE.store(f.alloc.free_count(), Ordering::Relaxed);
            f.claim(PhysRange {
                start: run,
                end: run + (frames as u64) * PAGE_SIZE,
            });
            Some(run)
        })
        .expect("no room for the kernel heap");
    let size = frames * PAGE_SIZE as usize;
    phys::init_heap(phys, size);
    size
}

/// One free frame (not zeroed), or `None` when memory is exhausted.
pub fn alloc_frame() -> Option<Frame> {
    alloc_frame_keeping(0)
}

/// One free frame, unless that would leave `reserve` or fewer free.
#[inline(always)]
pub fn alloc_frame_keeping(reserve: usize) -> Option<Frame> {
    FRAMES.lock().as_mut()?.take(reserve)
}

/// One zeroed frame, or `None` when memory is exhausted.
pub fn alloc_zeroed() -> Option<Frame> {
    let mut f = alloc_frame()?;
    f.zero();
    Some(f)
}

/// Returns a frame.
pub fn free_frame(frame: Frame) {
    free_page(frame.into_page());
}

/// Returns page `page`, handed out earlier and given to a VM object or a
/// page table, which have let it go. Freeing a page that is not allocated
/// (twice, or never handed out) is a kernel bug and panics.
pub fn free_page(page: u64) {
    if let Some(f) = FRAMES.lock().as_mut() {
        f.alloc.free(page).expect("freeing a frame that is not allocated");
        FREE.store(f.alloc.free_count(), Ordering::Relaxed);
    }
}

/// Free frames now (no lock taken).
pub fn free_frames() -> usize {
    FREE.load(Ordering::Relaxed)
}

pub fn usable_frames() -> usize {
    FRAMES.lock().as_ref().map_or(0, |f| f.alloc.usable_count())
}
