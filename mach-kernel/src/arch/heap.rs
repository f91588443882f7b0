//! The kernel heap: small allocations come from per-size-class free lists
//! (constant time, which matters on the IPC and fault paths); large ones and
//! the refills of the classes come from a first-fit `linked_list_allocator`
//! heap.
//!
//! A class is refilled a slab at a time: one 4 KiB run of the large heap,
//! cut into blocks of the class. A table beside the heap (one entry per
//! 4 KiB of the heap's region, carved from its start at boot) says which runs
//! are slabs of which class, so that [`KernelHeap::reclaim`] can count each
//! slab's free blocks, take the slabs whose blocks are all free off their
//! class's free list and give them back to the large heap: memory freed
//! returns to the pool it came from, and a flood of messages leaves nothing
//! behind once it is gone. Allocation and freeing stay a list operation; the
//! reclaim, which walks the free lists, runs when the kernel is idle after a
//! drop in use, and when a large allocation finds no room.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::{self, NonNull};
use linked_list_allocator::Heap;
use spin::Mutex;

/// Block sizes of the classes; every block is aligned to its size.
const CLASSES: [usize; 8] = [16, 32, 64, 128, 256, 512, 1024, 2048];
/// A slab: one run of the large heap, aligned to its size.
const SLAB: usize = 4096;
/// `Slab::class` of a 4 KiB run that is not a slab.
const NOT_A_SLAB: u8 = u8::MAX;

/// What the heap knows of one 4 KiB run of its region.
#[derive(Clone, Copy)]
struct Slab {
    /// Free blocks, counted by `reclaim` (not kept up to date otherwise).
    free: u16,
    class: u8,
}

const UNUSED: Slab = Slab {
    free: 0,
    class: NOT_A_SLAB,
};

struct State {
    large: Heap,
    /// Head of each class's free list (a freed block stores the next pointer).
    free: [*mut u8; CLASSES.len()],
    /// Start of the heap's region (4 KiB aligned) and the table of its runs.
    base: usize,
    slabs: *mut Slab,
    runs: usize,
    /// Small-block bytes freed since the last reclaim.
    freed_since_reclaim: usize,
}

// SAFETY: the raw pointers (the slab table and the free blocks) are only
// touched under the mutex.
unsafe impl Send for State {}

pub struct KernelHeap(Mutex<State>);

fn class_of(layout: &Layout) -> Option<usize> {
    let need = layout.size().max(layout.align());
    CLASSES.iter().position(|&c| c >= need)
}

fn slab_layout() -> Layout {
    // A power of two no larger than isize::MAX: always a valid layout.
    Layout::from_size_align(SLAB, SLAB).unwrap_or(Layout::new::<u8>())
}

impl State {
    /// The table entry of the slab holding `block`.
    #[inline(always)]
    fn slab(&mut self, block: *mut u8) -> &mut Slab {
        let i = (block as usize - self.base) / SLAB;
        debug_assert!(i < self.runs);
        // SAFETY: `slabs` points at `runs` entries carved from the heap's
        // region at `init` and owned by this state; every block the heap
        // hands out lies in the region, so `i < runs`, and `&mut self` makes
        // this the only reference.
        unsafe { &mut *self.slabs.add(i) }
    }

    /// Cuts a new slab of the large heap into blocks of class `c`.
    fn refill(&mut self, c: usize) -> bool {
        let Ok(run) = self.large.allocate_first_fit(slab_layout()) else {
            return false;
        };
        let run = run.as_ptr();
        *self.slab(run) = Slab {
            free: 0,
            class: c as u8,
        };
        let size = CLASSES[c];
        let mut off = SLAB;
        while off >= size {
            off -= size;
            // SAFETY: run + off lies inside the fresh run, which nothing
            // else uses; the block is pushed on the class list, storing the
            // old head in its first word.
            unsafe {
                let block = run.add(off);
                (block as *mut *mut u8).write(self.free[c]);
                self.free[c] = block;
            }
        }
        true
    }

    fn alloc_small(&mut self, c: usize) -> *mut u8 {
        if self.free[c].is_null() && !self.refill(c) {
            return ptr::null_mut();
        }
        let block = self.free[c];
        // SAFETY: the head is a free block of this class; its first word holds the next.
        self.free[c] = unsafe { (block as *mut *mut u8).read() };
        block
    }

    fn free_small(&mut self, block: *mut u8, c: usize) {
        // SAFETY: `block` came from `alloc_small` with this class (the
        // caller's layout says so), so it is a block nobody uses any more.
        unsafe { (block as *mut *mut u8).write(self.free[c]) };
        self.free[c] = block;
        self.freed_since_reclaim += CLASSES[c];
    }

    fn alloc_large(&mut self, layout: Layout) -> *mut u8 {
        let p = match self.large.allocate_first_fit(layout) {
            Ok(p) => p,
            Err(()) if self.reclaim() > 0 => match self.large.allocate_first_fit(layout) {
                Ok(p) => p,
                Err(()) => return ptr::null_mut(),
            },
            Err(()) => return ptr::null_mut(),
        };
        p.as_ptr()
    }

    /// Counts each slab's free blocks (into the table); returns the bytes
    /// the free lists hold.
    fn count_free(&mut self) -> usize {
        for i in 0..self.runs {
            // SAFETY: i < runs (see `slab`).
            unsafe { (*self.slabs.add(i)).free = 0 };
        }
        let mut bytes = 0;
        for c in 0..CLASSES.len() {
            let mut block = self.free[c];
            while !block.is_null() {
                self.slab(block).free += 1;
                bytes += CLASSES[c];
                // SAFETY: a free block's first word holds the next one.
                block = unsafe { (block as *mut *mut u8).read() };
            }
        }
        bytes
    }

    /// Whether the slab holding `block` (of class `c`) has all its blocks free.
    fn all_free(&mut self, block: *mut u8, c: usize) -> bool {
        self.slab(block).free as usize == SLAB / CLASSES[c]
    }

    /// Takes the slabs whose blocks are all free off their class lists and
    /// gives them back to the large heap; returns how many.
    #[cold]
    fn reclaim(&mut self) -> usize {
        self.freed_since_reclaim = 0;
        self.count_free();
        for c in 0..CLASSES.len() {
            // Rebuild the list without the blocks of empty slabs.
            let mut head = ptr::null_mut();
            let mut block = self.free[c];
            while !block.is_null() {
                // SAFETY: a free block's first word holds the next one.
                let next = unsafe { (block as *mut *mut u8).read() };
                if !self.all_free(block, c) {
                    // SAFETY: as above; the block stays free, relinked.
                    unsafe { (block as *mut *mut u8).write(head) };
                    head = block;
                }
                block = next;
            }
            self.free[c] = head;
        }
        let mut given = 0;
        for i in 0..self.runs {
            // SAFETY: i < runs (see `slab`).
            let s = unsafe { &mut *self.slabs.add(i) };
            let c = s.class as usize;
            if s.class == NOT_A_SLAB || s.free as usize != SLAB / CLASSES[c] {
                continue;
            }
            *s = UNUSED;
            if let Some(p) = NonNull::new((self.base + i * SLAB) as *mut u8) {
                // SAFETY: the slab came from the large heap with this layout
                // in `refill`, none of its blocks is in use, and none is on
                // a free list any more.
                unsafe { self.large.deallocate(p, slab_layout()) };
                given += 1;
            }
        }
        given
    }
}

impl KernelHeap {
    pub const fn empty() -> Self {
        KernelHeap(Mutex::new(State {
            large: Heap::empty(),
            free: [ptr::null_mut(); CLASSES.len()],
            base: 0,
            slabs: ptr::null_mut(),
            runs: 0,
            freed_since_reclaim: 0,
        }))
    }

    /// # Safety
    /// `[start, start + size)` must be writable memory owned by the heap from
    /// now on, `start` 4 KiB aligned.
    pub unsafe fn init(&self, start: *mut u8, size: usize) {
        let mut s = self.0.lock();
        let runs = size / SLAB;
        let table = (runs * core::mem::size_of::<Slab>()).next_multiple_of(SLAB);
        let slabs = start as *mut Slab;
        for i in 0..runs {
            // SAFETY: the table's `runs` entries fit in its first `table`
            // bytes of the region, which the caller gives the heap.
            unsafe { slabs.add(i).write(UNUSED) };
        }
        s.base = start as usize;
        s.slabs = slabs;
        s.runs = runs;
        // SAFETY: guaranteed by the caller; the large heap gets the region
        // past the table.
        unsafe { s.large.init(start.add(table), size - table) }
    }

    /// Bytes handed out (small blocks at their class sizes) and bytes the
    /// large heap has free. Walks the free lists: not for a hot path.
    pub fn usage(&self) -> (usize, usize) {
        let mut s = self.0.lock();
        let free_blocks = s.count_free();
        (s.large.used().saturating_sub(free_blocks), s.large.free())
    }

    /// [`Self::reclaim`] if at least `freed` bytes of small blocks were
    /// freed since the last one (the idle loop calls this, so the walk of
    /// the free lists happens only after a real drop in use).
    pub fn reclaim_if_freed(&self, freed: usize) -> usize {
        let mut s = self.0.lock();
        if s.freed_since_reclaim < freed { 0 } else { s.reclaim() }
    }
}

// SAFETY: blocks handed out are disjoint (each comes either from the large
// heap or from a class list that only holds freed blocks of exactly that
// class), are at least `layout.size()` long and aligned to the class size,
// which is at least `layout.align()` because the class covers max(size,
// align) and class blocks are carved at multiples of their size from 4
// KiB-aligned runs. A block is freed with the layout it was allocated with
// (GlobalAlloc's contract), so `free_small` finds its class.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let mut s = self.0.lock();
        match class_of(&layout) {
            Some(c) => s.alloc_small(c),
            None => s.alloc_large(layout),
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let mut s = self.0.lock();
        match class_of(&layout) {
            Some(c) => s.free_small(ptr, c),
            None => {
                if let Some(p) = NonNull::new(ptr) {
                    // SAFETY: ptr came from the large heap with this layout.
                    unsafe { s.large.deallocate(p, layout) };
                }
            }
        }
    }
}
