//! A heap for programs that use `alloc` (feature `heap`): one region of
//! [`HEAP_RESERVE`] bytes of the task's address space, allocated from the
//! kernel on first use (demand-zero: only the pages the heap touches ever
//! get frames), managed first-fit by `linked_list_allocator`.
//!
//! An allocation the region cannot satisfy returns null, which `alloc`
//! turns into its out-of-memory handler (a panic report and the task's
//! end); programs that must survive it use `try_reserve`.

use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{AtomicU8, Ordering};
use linked_list_allocator::LockedHeap;

/// The heap's size: virtual space, not memory.
pub const HEAP_RESERVE: u64 = 512 << 20;

struct Heap {
    inner: LockedHeap,
    /// 0: not yet made; 1: being made; 2: ready; 3: the kernel refused.
    state: AtomicU8,
}

#[global_allocator]
static HEAP: Heap = Heap {
    inner: LockedHeap::empty(),
    state: AtomicU8::new(0),
};

impl Heap {
    fn ready(&self) -> bool {
        loop {
            match self.state.compare_exchange(0, 1, Ordering::Acquire, Ordering::Acquire) {
                Ok(_) => {
                    let mut rpc = crate::rpc::Rpc::new();
                    let task = crate::ipc::mach_task_self();
                    let made = mach_interfaces::vm::vm_allocate(&mut rpc, task, 0, HEAP_RESERVE, 1);
                    let reply = rpc.reply_port();
                    let _ = mach_interfaces::mach_port::mach_port_destroy(&mut rpc, task, reply);
                    let Ok(base) = made else {
                        self.state.store(3, Ordering::Release);
                        return false;
                    };
                    // SAFETY: [base, base + HEAP_RESERVE) was just allocated
                    // for this heap alone and nothing else uses it.
                    unsafe { self.inner.lock().init(base as *mut u8, HEAP_RESERVE as usize) };
                    self.state.store(2, Ordering::Release);
                    return true;
                }
                Err(2) => return true,
                Err(3) => return false,
                Err(_) => core::hint::spin_loop(),
            }
        }
    }
}

// SAFETY: delegates to LockedHeap, a GlobalAlloc, once its region exists;
// before that (or if the kernel refused the region) it returns null, which
// GlobalAlloc allows.
unsafe impl GlobalAlloc for Heap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !self.ready() {
            return core::ptr::null_mut();
        }
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { self.inner.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above, so the heap is ready.
        unsafe { self.inner.dealloc(ptr, layout) }
    }
}
