//! Threads: the unit of execution. A thread belongs to one task, owns a kernel
//! stack (idle threads run on a CPU's boot stack instead) and, while not
//! running, is described by its saved kernel stack pointer and FPU state.

use super::task::Task;
use crate::arch::kstack::KernelStack;
use crate::arch::switch::Context;
use crate::arch::trapframe::TrapFrame;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicU8, AtomicU64, Ordering};

pub type ThreadId = u64;

/// Scheduling priorities: higher runs first (as in XNU).
pub const NUM_PRIORITIES: usize = 32;
pub const BASEPRI_USER: u8 = 16;

#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadState {
    Runnable = 0,
    Terminated = 1,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

pub struct Thread {
    pub id: ThreadId,
    /// The owning task; `None` for idle threads.
    pub task: Option<Arc<Task>>,
    pub priority: u8,
    state: AtomicU8,
    /// Where the thread resumes when it is off the CPU.
    pub context: Context,
    kstack: Option<KernelStack>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadError {
    NoKernelStack,
}

impl Thread {
    /// A user thread of `task` that starts with the registers in `frame`.
    pub fn new_user(task: Arc<Task>, frame: &TrapFrame) -> Result<Arc<Thread>, ThreadError> {
        let mut kstack = KernelStack::new().map_err(|_| ThreadError::NoKernelStack)?;
        let context = Context::new_user(&mut kstack, frame);
        Ok(Arc::new(Thread {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            task: Some(task),
            priority: BASEPRI_USER,
            state: AtomicU8::new(ThreadState::Runnable as u8),
            context,
            kstack: Some(kstack),
        }))
    }

    /// The idle thread of a CPU: it runs on the stack the CPU booted on.
    pub fn new_idle() -> Arc<Thread> {
        Arc::new(Thread {
            id: 0,
            task: None,
            priority: 0,
            state: AtomicU8::new(ThreadState::Runnable as u8),
            context: Context::new_running(),
            kstack: None,
        })
    }

    pub fn state(&self) -> ThreadState {
        match self.state.load(Ordering::Acquire) {
            0 => ThreadState::Runnable,
            _ => ThreadState::Terminated,
        }
    }

    /// Marks the thread terminated; returns false if it already was.
    pub fn mark_terminated(&self) -> bool {
        self.state
            .swap(ThreadState::Terminated as u8, Ordering::AcqRel)
            != ThreadState::Terminated as u8
    }

    pub fn is_idle(&self) -> bool {
        self.task.is_none()
    }

    /// Top of the kernel stack used on entry from user mode.
    pub fn kernel_stack_top(&self) -> Option<u64> {
        self.kstack.as_ref().map(|k| k.top())
    }
}
