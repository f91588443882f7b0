//! Threads: the unit of execution. A thread belongs to one task, owns a kernel
//! stack (idle threads run on a CPU's boot stack instead) and, while not
//! running, is described by its saved kernel stack pointer and FPU state.
//!
//! `Thread` and `Task` name each other (a thread's task, a task's thread
//! list): the kernel's one import circle, type-only; neither module calls the
//! other. A thread's IPC state is the IPC layer's type (`ipc::thread_state`,
//! a leaf module).

use super::ipc::thread_state::ThreadIpc;
use super::task::Task;
use crate::arch::kstack::KernelStack;
use crate::arch::switch::Context;
use crate::arch::trapframe::TrapFrame;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use mach_core::ipc::WaitKey;
use mach_core::ipc::fastpath::BlockedReceiver;

pub type ThreadId = u64;

/// Scheduling priorities: higher runs first (as in XNU).
pub const NUM_PRIORITIES: usize = 32;
pub const BASEPRI_USER: u8 = 16;

#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadState {
    /// Running or on a run queue.
    Runnable = 0,
    /// Waiting in the kernel (see `kern::wait`).
    Blocked = 1,
}

/// Why a blocked thread was resumed.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WakeReason {
    None = 0,
    /// What it waited for happened (or may have: re-check).
    Event = 1,
    /// Its deadline passed.
    Timeout = 2,
    /// Its wait was broken: its task is ending (the thread is terminated),
    /// or `thread_abort` (see [`Thread::mark_aborted`]).
    Interrupted = 3,
    /// It was receiving, and a sender handed it a message: the message and
    /// what its receive returns are in its `ipc` state.
    Handoff = 4,
}

/// What a blocked thread waits for (see `kern::wait`).
#[derive(Clone, Copy, Debug)]
pub struct Wait {
    pub key: Option<WaitKey>,
    /// Tick at which the wait times out.
    pub deadline: Option<u64>,
    /// For a receive: where the thread receives and how much room it has.
    pub receiver: Option<BlockedReceiver>,
    /// Whether `thread_abort` breaks this wait (a `mach_msg`, a user-mode
    /// fault waiting for its pager, an exception waiting for its reply), or
    /// only termination does (a kernel copy of user memory waiting for a page).
    pub abortable: bool,
}

/// [`Thread`] flag bits: the thread must end (at its next kernel exit).
const TERMINATED: u8 = 1;
/// `thread_abort` asked: no abortable wait may hold the thread until it has
/// left the kernel (its way out clears this, see [`Thread::take_exit_work`]).
const ABORTED: u8 = 2;
/// Suspended, but aborted while in the kernel: it runs on until it leaves
/// the kernel (or waits where an abort cannot reach) and stops there, so that
/// its user registers are the ones it will resume with.
const RUN_TO_STOP: u8 = 4;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

pub struct Thread {
    pub id: ThreadId,
    /// The owning task; `None` for idle threads.
    pub task: Option<Arc<Task>>,
    pub priority: u8,
    state: AtomicU8,
    /// `TERMINATED`, `ABORTED`, `RUN_TO_STOP`: what breaks its waits and
    /// what its way out of the kernel must do (one word, so that a block and a
    /// dispatch test them with one load).
    flags: AtomicU8,
    /// Set once the thread has been switched to; a thread that never ran can
    /// be freed straight off a run queue.
    has_run: AtomicBool,
    wake_reason: AtomicU8,
    /// What the thread is blocked on, so it can be taken off that queue.
    pub waiting: spin::Mutex<Option<Wait>>,
    /// The thread's kernel port.
    pub port: AtomicU64,
    /// The IPC layer's state of this thread (receive buffer, handoff, probe memo).
    pub ipc: ThreadIpc,
    /// thread_suspend count; the scheduler parks a suspended thread.
    suspend_count: core::sync::atomic::AtomicU32,
    /// Taken off the run queue because it is suspended.
    parked: AtomicBool,
    /// Set by [`Thread::set_user_state`], [`Thread::mark_aborted`] and
    /// [`Thread::mark_terminated`] (see [`Thread::take_exit_work`]).
    exit_work: AtomicBool,
    /// Where the thread resumes when it is off the CPU.
    pub context: Context,
    kstack: Option<KernelStack>,
    /// Top of `kstack` (0 for idle threads), kept for the context switch.
    kstack_top: u64,
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
            flags: AtomicU8::new(0),
            has_run: AtomicBool::new(false),
            wake_reason: AtomicU8::new(0),
            waiting: spin::Mutex::new(None),
            port: AtomicU64::new(0),
            ipc: ThreadIpc::new(),
            suspend_count: core::sync::atomic::AtomicU32::new(0),
            parked: AtomicBool::new(false),
            exit_work: AtomicBool::new(false),
            context,
            kstack_top: kstack.top(),
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
            flags: AtomicU8::new(0),
            has_run: AtomicBool::new(true),
            wake_reason: AtomicU8::new(0),
            waiting: spin::Mutex::new(None),
            port: AtomicU64::new(0),
            ipc: ThreadIpc::new(),
            suspend_count: core::sync::atomic::AtomicU32::new(0),
            parked: AtomicBool::new(false),
            exit_work: AtomicBool::new(false),
            context: Context::new_running(),
            kstack: None,
            kstack_top: 0,
        })
    }

    pub fn state(&self) -> ThreadState {
        match self.state.load(Ordering::Acquire) {
            0 => ThreadState::Runnable,
            _ => ThreadState::Blocked,
        }
    }

    pub fn set_state(&self, s: ThreadState) {
        self.state.store(s as u8, Ordering::Release);
    }

    /// Marks the thread for termination (its way out of the kernel has work:
    /// ending); returns false if it already was.
    pub fn mark_terminated(&self) -> bool {
        let first = self.flags.fetch_or(TERMINATED, Ordering::AcqRel) & TERMINATED == 0;
        self.exit_work.store(true, Ordering::Release);
        first
    }

    #[inline(always)]
    pub fn is_terminated(&self) -> bool {
        self.flags.load(Ordering::Acquire) & TERMINATED != 0
    }

    /// Whether a wait must not hold the thread: it is terminated, or
    /// (`abortable`) it was aborted and has not left the kernel since.
    #[inline(always)]
    pub fn wait_broken(&self, abortable: bool) -> bool {
        let f = self.flags.load(Ordering::Acquire);
        f != 0 && (f & TERMINATED != 0 || (abortable && f & ABORTED != 0))
    }

    /// `thread_abort` of a thread in the kernel: until it leaves the kernel,
    /// no abortable wait holds it, and its way out clears the mark.
    pub fn mark_aborted(&self) {
        self.flags.fetch_or(ABORTED, Ordering::AcqRel);
        self.exit_work.store(true, Ordering::Release);
    }

    /// The thread has left the kernel (its aborted call returned).
    pub fn clear_aborted(&self) {
        self.flags.fetch_and(!ABORTED, Ordering::AcqRel);
    }

    /// Lets a suspended thread run until it leaves the kernel (or waits
    /// where an abort cannot reach), to stop there (see `RUN_TO_STOP`).
    pub fn set_run_to_stop(&self) {
        self.flags.fetch_or(RUN_TO_STOP, Ordering::AcqRel);
        self.exit_work.store(true, Ordering::Release);
    }

    /// Takes the `RUN_TO_STOP` mark; true if it was set.
    pub fn take_run_to_stop(&self) -> bool {
        self.flags.fetch_and(!RUN_TO_STOP, Ordering::AcqRel) & RUN_TO_STOP != 0
    }

    /// Whether the thread was let run to its stop and has not stopped yet.
    pub fn is_running_to_stop(&self) -> bool {
        self.flags.load(Ordering::Acquire) & RUN_TO_STOP != 0
    }

    /// Whether the scheduler may run the thread although it is suspended:
    /// it must end, or run to its stop.
    #[inline(always)]
    pub fn runs_while_suspended(&self) -> bool {
        self.flags.load(Ordering::Acquire) & (TERMINATED | RUN_TO_STOP) != 0
    }

    /// Whether a wake-up is waiting to be seen by the thread (it was woken
    /// in the kernel and has not run since).
    pub fn wake_pending(&self) -> bool {
        self.wake_reason.load(Ordering::Acquire) != WakeReason::None as u8
    }

    pub fn mark_ran(&self) {
        self.has_run.store(true, Ordering::Relaxed);
    }

    pub fn has_run(&self) -> bool {
        self.has_run.load(Ordering::Relaxed)
    }

    pub fn set_wake_reason(&self, r: WakeReason) {
        self.wake_reason.store(r as u8, Ordering::Release);
    }

    pub fn take_wake_reason(&self) -> WakeReason {
        match self.wake_reason.swap(0, Ordering::AcqRel) {
            1 => WakeReason::Event,
            2 => WakeReason::Timeout,
            3 => WakeReason::Interrupted,
            4 => WakeReason::Handoff,
            _ => WakeReason::None,
        }
    }

    pub fn is_suspended(&self) -> bool {
        self.suspend_count.load(Ordering::Acquire) > 0
    }

    pub fn suspend(&self) -> Result<(), ()> {
        self.suspend_count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_add(1))
            .map(|_| ())
            .map_err(|_| ())
    }

    /// Drops one suspension; returns true when the thread was parked and must
    /// go back on a run queue.
    pub fn resume(&self) -> Result<bool, ()> {
        let prev = self
            .suspend_count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .map_err(|_| ())?;
        Ok(prev == 1 && self.parked.swap(false, Ordering::AcqRel))
    }

    /// The scheduler parks a suspended thread instead of running it.
    pub fn park(&self) {
        self.parked.store(true, Ordering::Release);
    }

    /// Takes the thread out of the parked state; true if it was parked.
    pub fn unpark(&self) -> bool {
        self.parked.swap(false, Ordering::AcqRel)
    }

    /// Its user registers; only for a thread that is not running.
    pub fn user_state(&self) -> Option<crate::arch::trapframe::TrapFrame> {
        self.kstack.as_ref().map(crate::arch::switch::user_frame)
    }

    /// Replaces its user registers; only for a thread that is not running.
    pub fn set_user_state(&self, frame: &crate::arch::trapframe::TrapFrame) -> bool {
        match &self.kstack {
            Some(k) => {
                crate::arch::switch::set_user_frame(k, frame);
                self.exit_work.store(true, Ordering::Release);
                true
            }
            None => false,
        }
    }

    /// Whether its way out of the kernel has work since the last call: its
    /// user registers were replaced (so a `sysret` must not be taken for a
    /// frame `syscall` did not build), it was aborted (the mark is to be
    /// cleared, and a suspended thread stops there), or it must end. One flag for both, so
    /// that a return from a trap tests it with one load.
    #[inline(always)]
    pub fn take_exit_work(&self) -> bool {
        self.exit_work.load(Ordering::Acquire) && self.exit_work.swap(false, Ordering::AcqRel)
    }

    /// One line for a debugging dump: state, suspensions, wait, user rip.
    pub fn describe(&self) -> alloc::string::String {
        let wait = *self.waiting.lock();
        let rip = self.user_state().map_or(0, |f| f.rip);
        alloc::format!(
            "thread {} {:?} flags {:#x} suspended {} parked {} wait {:?} rip {rip:#x}",
            self.id,
            self.state(),
            self.flags.load(Ordering::Acquire),
            self.suspend_count.load(Ordering::Acquire),
            self.parked.load(Ordering::Acquire),
            wait.map(|w| (w.key, w.deadline, w.abortable)),
        )
    }

    pub fn is_idle(&self) -> bool {
        self.task.is_none()
    }

    /// Top of the kernel stack used on entry from user mode.
    pub fn kernel_stack_top(&self) -> Option<u64> {
        (self.kstack_top != 0).then_some(self.kstack_top)
    }
}
