//! The kernel heap: small allocations come from per-size-class free lists
//! (constant time, which matters on the IPC and fault paths); large ones and
//! the refills of the classes come from a first-fit `linked_list_allocator`
//! heap. Freed small blocks go back to their class list; they are never
//! returned to the large heap.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::{self, NonNull};
use linked_list_allocator::Heap;
use spin::Mutex;

/// Block sizes of the classes; every block is aligned to its size (up to 4 KiB refills).
const CLASSES: [usize; 8] = [16, 32, 64, 128, 256, 512, 1024, 2048];
/// Bytes carved from the large heap at a time to refill a class.
const REFILL: usize = 4096;

struct State {
    large: Heap,
    /// Head of each class's free list (a freed block stores the next pointer).
    free: [*mut u8; CLASSES.len()],
}

// SAFETY: the raw pointers are only touched under the mutex.
unsafe impl Send for State {}

pub struct KernelHeap(Mutex<State>);

impl KernelHeap {
    pub const fn empty() -> Self {
        KernelHeap(Mutex::new(State {
            large: Heap::empty(),
            free: [ptr::null_mut(); CLASSES.len()],
        }))
    }

    /// # Safety
    /// `[start, start + size)` must be writable memory owned by the heap from now on.
    pub unsafe fn init(&self, start: *mut u8, size: usize) {
        // SAFETY: guaranteed by the caller.
        unsafe { self.0.lock().large.init(start, size) }
    }

    pub fn usage(&self) -> (usize, usize) {
        let s = self.0.lock();
        (s.large.used(), s.large.free())
    }
}

fn class_of(layout: &Layout) -> Option<usize> {
    let need = layout.size().max(layout.align());
    CLASSES.iter().position(|&c| c >= need)
}

// SAFETY: blocks handed out are disjoint (each comes either from the large heap
// or from a class list that only holds freed blocks of exactly that class), are
// at least `layout.size()` long and aligned to the class size, which is at
// least `layout.align()` because the class covers max(size, align) and class
// blocks are carved at multiples of their size from 4 KiB-aligned runs.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let mut s = self.0.lock();
        let Some(c) = class_of(&layout) else {
            return s
                .large
                .allocate_first_fit(layout)
                .map_or(ptr::null_mut(), |p| p.as_ptr());
        };
        if s.free[c].is_null() {
            let Ok(run) = s
                .large
                .allocate_first_fit(Layout::from_size_align(REFILL, REFILL).expect("layout"))
            else {
                return ptr::null_mut();
            };
            let size = CLASSES[c];
            let base = run.as_ptr();
            let mut off = 0;
            while off < REFILL {
                // SAFETY: base + off lies inside the fresh run; the block is
                // pushed on the class list, storing the old head in its first word.
                unsafe {
                    let block = base.add(off);
                    (block as *mut *mut u8).write(s.free[c]);
                    s.free[c] = block;
                }
                off += size;
            }
        }
        let block = s.free[c];
        // SAFETY: the head is a free block of this class; its first word holds the next.
        s.free[c] = unsafe { (block as *mut *mut u8).read() };
        block
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let mut s = self.0.lock();
        match class_of(&layout) {
            Some(c) => {
                // SAFETY: ptr came from alloc with the same layout, so it is a
                // block of class c that nobody uses any more.
                unsafe { (ptr as *mut *mut u8).write(s.free[c]) };
                s.free[c] = ptr;
            }
            None => {
                if let Some(p) = NonNull::new(ptr) {
                    // SAFETY: ptr came from the large heap with this layout.
                    unsafe { s.large.deallocate(p, layout) };
                }
            }
        }
    }
}
