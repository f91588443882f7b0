//! The scheduler: per-CPU run queues with preemptive priority round-robin.
//!
//! Each CPU has a run queue per priority (higher runs first; equal priorities
//! take turns at every timer tick), a current thread and an idle thread that
//! halts when nothing is runnable. The kernel runs with interrupts off, so a
//! thread is only preempted in user mode or in the idle loop; locks are never
//! held across a switch.
//!
//! A thread that ends cannot free its own kernel stack while running on it: it
//! is parked in its CPU's zombie slot and reaped by whoever runs next.
//!
//! The dispatch step is the one `unsafe` call outside `arch`: only the
//! scheduler knows which threads are alive and running, which is what the
//! context switch's safety contract is about.

use super::thread::{NUM_PRIORITIES, Thread, ThreadState};
use crate::arch::{cpu, paging, switch};
use alloc::collections::VecDeque;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use spin::Mutex;

struct RunQueue {
    queues: [VecDeque<Arc<Thread>>; NUM_PRIORITIES],
    /// Bit p set when queues[p] is non-empty.
    mask: u32,
}

impl RunQueue {
    const fn new() -> Self {
        RunQueue {
            queues: [const { VecDeque::new() }; NUM_PRIORITIES],
            mask: 0,
        }
    }

    fn push(&mut self, t: Arc<Thread>) {
        let p = (t.priority as usize).min(NUM_PRIORITIES - 1);
        self.queues[p].push_back(t);
        self.mask |= 1 << p;
    }

    fn pop(&mut self) -> Option<Arc<Thread>> {
        if self.mask == 0 {
            return None;
        }
        let p = 31 - self.mask.leading_zeros() as usize;
        let t = self.queues[p].pop_front();
        if self.queues[p].is_empty() {
            self.mask &= !(1 << p);
        }
        t
    }

    fn is_empty(&self) -> bool {
        self.mask == 0
    }

    /// The highest priority with a runnable thread.
    fn top_priority(&self) -> Option<u8> {
        (self.mask != 0).then(|| 31 - self.mask.leading_zeros() as u8)
    }
}

struct CpuSched {
    current: Option<Arc<Thread>>,
    idle: Option<Arc<Thread>>,
    zombie: Option<Arc<Thread>>,
    runq: RunQueue,
    /// Set by `exit_current` for the one `reschedule` that parks the thread as a zombie.
    exiting: bool,
}

static CPUS: [Mutex<CpuSched>; cpu::MAX_CPUS] = [const {
    Mutex::new(CpuSched {
        current: None,
        idle: None,
        zombie: None,
        runq: RunQueue::new(),
        exiting: false,
    })
}; cpu::MAX_CPUS];

static TICKS: AtomicU64 = AtomicU64::new(0);
static CONTEXT_SWITCHES: AtomicU64 = AtomicU64::new(0);
static FIRST_USER_SEEN: AtomicBool = AtomicBool::new(false);

pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

pub fn context_switches() -> u64 {
    CONTEXT_SWITCHES.load(Ordering::Relaxed)
}

/// Called on every timer interrupt: counts time; returns the new tick.
pub fn tick() -> u64 {
    TICKS.fetch_add(1, Ordering::Relaxed) + 1
}

/// Puts a thread on the run queue of this CPU.
pub fn make_runnable(thread: Arc<Thread>) {
    CPUS[cpu::cpu_id()].lock().runq.push(thread);
}

/// The thread running on this CPU.
pub fn current() -> Arc<Thread> {
    CPUS[cpu::cpu_id()].lock().current.clone().expect("no current thread")
}

/// The task of the thread running on this CPU (`None` for the idle thread).
pub fn current_task() -> Option<Arc<super::task::Task>> {
    CPUS[cpu::cpu_id()].lock().current.as_ref()?.task.clone()
}

/// Gives up the CPU to another runnable thread, if any; returns whether there was one.
pub fn yield_now() -> bool {
    let others = !CPUS[cpu::cpu_id()].lock().runq.is_empty();
    reschedule(true);
    others
}

/// Timer preemption: round-robin among runnable threads.
pub fn preempt() {
    reschedule(true);
}

/// Ends the running thread, which must be on no wait queue
/// (`wait::exit_current` makes sure). Its resources are released once
/// another thread runs.
pub fn exit_current() -> ! {
    let me = current();
    me.mark_terminated();
    drop(me);
    CPUS[cpu::cpu_id()].lock().exiting = true;
    reschedule(false);
    unreachable!("a terminated thread was resumed");
}

/// Takes the running thread off the CPU until `wake` puts it back on a run
/// queue (its state must already be `Blocked`).
pub fn block_current() {
    reschedule(false);
}

/// [`block_current`], giving the CPU to `target`, a blocked thread just
/// handed a message (Mach's handoff scheduling: the receiver runs at once,
/// without a trip through the run queue). A suspended target, or one that a
/// runnable thread of higher priority would preempt, is made runnable
/// instead, and the best thread runs. Only for a thread blocked by
/// `wait::block_for`.
pub fn block_current_handoff(target: Arc<Thread>) {
    let cpu = cpu::cpu_id();
    let mut s = CPUS[cpu].lock();
    let direct = target.state() == ThreadState::Blocked
        && !target.is_suspended()
        && !target.is_terminated()
        && !s.exiting
        && s.runq.top_priority() <= Some(target.priority)
        && s.current
            .as_ref()
            .is_some_and(|c| c.state() == ThreadState::Blocked && !c.is_idle());
    if !direct {
        drop(s);
        reschedule_to(false, Some(target));
        return;
    }
    // The common case, without the run queue: the current thread is
    // blocked (its wait queue holds it) and `target` runs next.
    target.set_state(ThreadState::Runnable);
    let cur = s.current.take().expect("no current thread");
    switch_to(s, cpu, cur, target, false);
}

/// Takes the running thread off the CPU until `thread_resume` (or its
/// termination) unparks it: a suspended thread stopping on its way out of the
/// kernel. It stays `Runnable` and holds nothing.
pub fn park_current() {
    current().park();
    reschedule(false);
}

/// Makes a blocked thread runnable again.
pub fn wake(thread: Arc<Thread>) {
    if thread.state() == ThreadState::Blocked {
        thread.set_state(ThreadState::Runnable);
        make_runnable(thread);
    }
}

/// For the running thread leaving the kernel: whether its way out has work
/// (`Thread::take_exit_work`, taken here; a terminated thread always has).
#[inline]
pub fn current_exit_work() -> bool {
    CPUS[cpu::cpu_id()]
        .lock()
        .current
        .as_ref()
        .is_some_and(|t| t.take_exit_work())
}

/// Whether the running thread has been marked to end.
pub fn current_terminated() -> bool {
    CPUS[cpu::cpu_id()]
        .lock()
        .current
        .as_ref()
        .is_some_and(|t| t.is_terminated())
}

/// Set while a CPU's zombie slot holds a thread (checked without its lock).
static ZOMBIES: [AtomicBool; cpu::MAX_CPUS] = [const { AtomicBool::new(false) }; cpu::MAX_CPUS];

/// Frees the thread parked by the last exit on this CPU.
pub fn reap() {
    let cpu = cpu::cpu_id();
    // Read first: the swap's locked exchange is for the rare case.
    if !ZOMBIES[cpu].load(Ordering::Acquire) || !ZOMBIES[cpu].swap(false, Ordering::AcqRel) {
        return;
    }
    let z = CPUS[cpu].lock().zombie.take();
    drop(z);
}

/// Whether this CPU has nothing to run but its idle thread.
pub fn runq_empty() -> bool {
    CPUS[cpu::cpu_id()].lock().runq.is_empty()
}

/// Switches to the best runnable thread. With `requeue`, the current thread
/// (if still runnable) goes to the back of its priority's queue; without it, the
/// current thread leaves the CPU for good (it ended, or something else holds it).
fn reschedule(requeue: bool) {
    reschedule_to(requeue, None);
}

/// [`reschedule`], running `handoff` (a blocked thread being woken) next if
/// nothing more urgent is runnable.
fn reschedule_to(requeue: bool, handoff: Option<Arc<Thread>>) {
    let cpu = cpu::cpu_id();
    let mut s = CPUS[cpu].lock();
    let cur = s.current.take().expect("no current thread");
    let exiting = core::mem::take(&mut s.exiting);
    let cur_runnable = cur.state() == ThreadState::Runnable && !exiting;
    if requeue && cur_runnable && !cur.is_idle() {
        s.runq.push(cur.clone());
    }
    let direct = handoff.and_then(|t| {
        if t.state() != ThreadState::Blocked {
            return None;
        }
        t.set_state(ThreadState::Runnable);
        if t.is_suspended() || t.is_terminated() || s.runq.top_priority() > Some(t.priority) {
            s.runq.push(t);
            None
        } else {
            Some(t)
        }
    });
    let next = if let Some(t) = direct {
        t
    } else {
        loop {
            match s.runq.pop() {
                // A terminated thread that never ran: free it here (one that ran
                // is resumed so that it leaves the kernel cleanly).
                Some(t) if t.is_terminated() && !t.has_run() => drop(t),
                // A suspended thread waits off the run queues until resumed
                // (one that must end, or was aborted in the kernel, runs on to
                // its way out, where it stops: `park_current`).
                Some(t) if t.is_suspended() && !t.runs_while_suspended() => t.park(),
                Some(t) => break t,
                None if cur_runnable && (requeue || cur.is_idle()) => break cur.clone(),
                None => break s.idle.clone().expect("no idle thread"),
            }
        }
    };
    if Arc::ptr_eq(&next, &cur) {
        s.current = Some(cur);
        return;
    }
    switch_to(s, cpu, cur, next, exiting);
}

/// Switches this CPU from `cur` (the running thread) to `next` (another
/// thread, not running anywhere), with the scheduler lock `s` held until just
/// before the switch. With `exiting`, `cur` is parked in the zombie slot.
#[inline(always)]
fn switch_to(mut s: spin::MutexGuard<'_, CpuSched>, cpu: usize, cur: Arc<Thread>, next: Arc<Thread>, exiting: bool) {
    match &next.task {
        Some(task) => task.activate(),
        None => paging::activate_kernel_space(),
    }
    if let Some(top) = next.kernel_stack_top() {
        cpu::set_kernel_stack(top);
    }
    if !FIRST_USER_SEEN.load(Ordering::Relaxed) && !next.is_idle() && !FIRST_USER_SEEN.swap(true, Ordering::Relaxed) {
        crate::kprintln!(
            "mach: first user instruction (thread {}, tsc {})",
            next.id,
            cpu::rdtsc()
        );
    }
    next.mark_ran();
    let old: *const switch::Context = &cur.context;
    let new: *const switch::Context = &next.context;
    if exiting {
        // Keep the dying thread alive until the switch away from it is done.
        s.zombie = Some(cur);
        ZOMBIES[cpu].store(true, Ordering::Release);
    } else {
        // Still owned by the run queue, the idle slot or a wait queue.
        drop(cur);
    }
    s.current = Some(next);
    CONTEXT_SWITCHES.fetch_add(1, Ordering::Relaxed);
    drop(s);
    // SAFETY: `old` is the context of the code running now (it was this CPU's
    // current thread) and `new` is not running anywhere (it came off this CPU's
    // run queue, is its idle thread, which is only ever current here, or is a
    // blocked thread being handed off to). Both stay allocated until the
    // switch completes: `new` is held by `s.current`, and `old` by the run
    // queue, the idle slot, a wait queue (a blocked thread; its own stack also
    // holds an `Arc` to it in `wait::block_for`), its task's thread list and
    // its own stack (a thread parking itself: `park_current`'s callers hold
    // an `Arc` to it), or the zombie slot, which is emptied only by code
    // running after this switch.
    unsafe { switch::switch(old, new) };
    reap();
}

/// Turns the boot flow of this CPU into its idle thread and runs the idle loop
/// forever; `on_idle` is called whenever there is nothing to run.
pub fn run_idle(on_idle: fn()) -> ! {
    let idle = Thread::new_idle();
    {
        let mut s = CPUS[cpu::cpu_id()].lock();
        s.idle = Some(idle.clone());
        s.current = Some(idle);
    }
    loop {
        reap();
        if runq_empty() {
            on_idle();
            cpu::idle_halt();
        } else {
            reschedule(true);
        }
    }
}
