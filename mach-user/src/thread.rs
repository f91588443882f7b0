//! Threads in the calling task.

use mach_abi::kern_return::{KERN_SUCCESS, KernReturn};
use mach_abi::traps;

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

/// A stack for a thread: caller-provided memory, 16-byte aligned.
#[repr(C, align(16))]
pub struct Stack<const N: usize>(pub [u8; N]);

/// A statically allocated thread stack that can be handed out exactly once.
pub struct StaticStack<const N: usize> {
    taken: AtomicBool,
    stack: UnsafeCell<Stack<N>>,
}

// SAFETY: the stack is reachable only through `take`, which hands out the one
// mutable reference at most once.
unsafe impl<const N: usize> Sync for StaticStack<N> {}

impl<const N: usize> StaticStack<N> {
    pub const fn new() -> Self {
        StaticStack {
            taken: AtomicBool::new(false),
            stack: UnsafeCell::new(Stack([0; N])),
        }
    }

    /// The stack, the first time; `None` afterwards.
    #[allow(clippy::mut_from_ref)] // guarded by `taken`: at most one reference ever
    pub fn take(&'static self) -> Option<&'static mut Stack<N>> {
        if self.taken.swap(true, Ordering::AcqRel) {
            return None;
        }
        // SAFETY: `taken` was false, so no other reference to the stack exists
        // and none will be made.
        Some(unsafe { &mut *self.stack.get() })
    }
}

impl<const N: usize> Default for StaticStack<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// Starts `entry(arg)` on a new thread of this task, running on `stack`, which
/// must stay reserved for that thread for as long as it runs.
pub fn thread_create_running<const N: usize>(
    entry: extern "C" fn(u64) -> !,
    stack: &'static mut Stack<N>,
    arg: u64,
) -> Result<u64, KernReturn> {
    let top = stack.0.as_mut_ptr() as u64 + N as u64;
    // The entry sees rsp % 16 == 8, as after a call.
    let sp = top - 8;
    // SAFETY: the new thread runs only on the stack the caller handed over for
    // good ('static mut), and entry never returns.
    let (rax, rdx) =
        unsafe { crate::trap::raw_trap(traps::THREAD_CREATE_RUNNING, [entry as usize as u64, sp, arg, 0, 0, 0]) };
    if rax as KernReturn == KERN_SUCCESS {
        Ok(rdx)
    } else {
        Err(rax as KernReturn)
    }
}
