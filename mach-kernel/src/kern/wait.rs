//! Wait queues: threads blocked in the kernel until an IPC event (a message
//! arrived, a queue has room, a port changed) or a deadline.
//!
//! A blocked thread is on at most one queue and remembers which (`Thread::waiting`),
//! so it can be taken off when it is woken, times out or is aborted. A thread
//! blocked in a receive also records where it receives, so that a sender can
//! hand it a message directly ([`take_receiver`]) and switch to it.
//!
//! Whoever takes a thread off its wait takes its `waiting` record first, and
//! only one can: a thread is woken once, whether by an event, its deadline, a
//! sender handing it a message, its termination or `thread_abort` ([`abort`]).
//! An abort breaks only waits marked abortable (`mach_msg`, a user-mode fault
//! waiting for its pager, an exception waiting for its reply); a kernel copy
//! of user memory waiting for a page finishes first.

use super::sched;
use super::thread::{Thread, ThreadState, Wait, WakeReason};
use super::waitq::Queues;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};
use mach_core::ipc::WaitKey;
use mach_core::ipc::fastpath::BlockedReceiver;
use spin::Mutex;

/// Waiters by key (see `waitq`). A key's vector keeps its capacity when
/// emptied, so blocking and waking do not allocate once a key has been used.
static QUEUES: Mutex<Queues> = Mutex::new(Queues::new());
/// Size of the hash part of the table at which its empty queues are dropped.
static SWEEP_AT: AtomicUsize = AtomicUsize::new(SWEEP_MIN);
const SWEEP_MIN: usize = 1024;
/// How often (in timer ticks) the table's size is checked.
const SWEEP_TICKS: u64 = 64;
static SLEEPERS: Mutex<Vec<(u64, Arc<Thread>)>> = Mutex::new(Vec::new());

/// Blocks the running thread on `key` until woken or until tick `deadline`;
/// `thread_abort` breaks the wait. Returns why it resumed.
pub fn block(key: Option<WaitKey>, deadline: Option<u64>) -> WakeReason {
    block_for(&sched::current(), key, deadline, None, None, true)
}

/// [`block`], for a wait `thread_abort` must not break (a kernel copy of
/// user memory waiting for its page): only termination does.
pub fn block_unabortable(key: Option<WaitKey>, deadline: Option<u64>) -> WakeReason {
    block_for(&sched::current(), key, deadline, None, None, false)
}

/// Blocks the running thread in a receive on `key` (see [`block`]); a sender
/// may hand it a message meanwhile (`WakeReason::Handoff`). With `handoff`,
/// a thread just given a message, the CPU goes straight to that thread.
pub fn block_receive(
    me: &Arc<Thread>,
    key: WaitKey,
    deadline: Option<u64>,
    receiver: BlockedReceiver,
    handoff: Option<Arc<Thread>>,
) -> WakeReason {
    block_for(me, Some(key), deadline, Some(receiver), handoff, true)
}

/// Blocks `me`, the running thread.
fn block_for(
    me: &Arc<Thread>,
    key: Option<WaitKey>,
    deadline: Option<u64>,
    receiver: Option<BlockedReceiver>,
    handoff: Option<Arc<Thread>>,
    abortable: bool,
) -> WakeReason {
    // Ending, or aborted and not yet out of the kernel: no wait.
    if me.wait_broken(abortable) {
        if let Some(t) = handoff {
            sched::wake(t);
        }
        return WakeReason::Interrupted;
    }
    *me.waiting.lock() = Some(Wait {
        key,
        deadline,
        receiver,
        abortable,
    });
    if let Some(k) = key {
        // A slot reused by a new port first wakes whoever waited on the old one.
        QUEUES
            .lock()
            .get_or_insert(k, |t| wake_one(t, WakeReason::Event))
            .push(me.clone());
    }
    if let Some(d) = deadline {
        SLEEPERS.lock().push((d, me.clone()));
    }
    me.set_wake_reason(WakeReason::None);
    me.set_state(ThreadState::Blocked);
    match handoff {
        Some(t) => sched::block_current_handoff(t),
        None => sched::block_current(),
    }
    let reason = me.take_wake_reason();
    // A handed-off message is received even by a thread about to end: its
    // rights are already in the space.
    if me.is_terminated() && reason != WakeReason::Handoff {
        WakeReason::Interrupted
    } else {
        reason
    }
}

/// Drops the empty queues of the table's hash part (keys long gone, which
/// would otherwise stay for ever); the next sweep comes when it has doubled.
/// Run from the timer tick, off the IPC path.
#[cold]
#[inline(never)]
fn sweep(queues: &mut Queues) {
    queues.sweep();
    SWEEP_AT.store((queues.other_len() * 2).max(SWEEP_MIN), Ordering::Relaxed);
}

/// Gives back the memory of empty wait queues (the idle loop's, when the
/// system is quiet).
pub fn shrink() {
    QUEUES.lock().shrink();
}

/// Takes `thread` off its queues and makes it runnable with `reason`.
fn resume(thread: &Arc<Thread>, reason: WakeReason) {
    let Some(w) = thread.waiting.lock().take() else { return };
    resume_taken(thread, w, reason);
}

/// [`resume`], for a thread whose wait `w` the caller took.
fn resume_taken(thread: &Arc<Thread>, w: Wait, reason: WakeReason) {
    if let Some(k) = w.key
        && let Some(q) = QUEUES.lock().get_mut(&k)
    {
        q.retain(|t| !Arc::ptr_eq(t, thread));
    }
    if w.deadline.is_some() {
        SLEEPERS.lock().retain(|(_, t)| !Arc::ptr_eq(t, thread));
    }
    thread.set_wake_reason(reason);
    sched::wake(thread.clone());
}

/// Takes off its wait the first thread blocked receiving on `key` in `space`
/// with room for `needed` bytes, for a sender to hand it a message. The
/// thread is left `Blocked` with `WakeReason::Handoff`: the caller fills its
/// handoff buffer (`ThreadIpc::give_handoff`) and then wakes it or blocks
/// handing off to it.
pub fn take_receiver(key: WaitKey, space: u64, needed: usize) -> Option<(Arc<Thread>, BlockedReceiver)> {
    let mut queues = QUEUES.lock();
    let q = queues.get_mut(&key)?;
    let first = q.first()?;
    let mut waiting = first.waiting.lock();
    // Not to a thread whose task's map changed since it checked its receive
    // buffer (its buffer may be gone): that one wakes, checks again and
    // leaves the message queued if it must.
    let receiver = waiting.as_ref()?.receiver.filter(|r| {
        r.space == space
            && r.capacity as usize >= needed
            && !first.is_suspended()
            && first
                .task
                .as_ref()
                .is_some_and(|t| first.ipc.probe_current(t.vm.version()))
    })?;
    let w = waiting.take()?;
    drop(waiting);
    // The longest waiter; usually the only one.
    let t = if q.len() == 1 { q.pop()? } else { q.remove(0) };
    drop(queues);
    if w.deadline.is_some() {
        SLEEPERS.lock().retain(|(_, s)| !Arc::ptr_eq(s, &t));
    }
    t.set_wake_reason(WakeReason::Handoff);
    Some((t, receiver))
}

/// Wakes every thread waiting on `key`.
pub fn wake_all(key: WaitKey) {
    let mut queues = QUEUES.lock();
    let Some(q) = queues.get_mut(&key) else {
        return;
    };
    while let Some(t) = q.pop() {
        wake_one(t, WakeReason::Event);
    }
}

/// Makes `t`, just taken off its wait queue (whose lock the caller may
/// hold), runnable with `reason`, unless something else already resumed it.
fn wake_one(t: Arc<Thread>, reason: WakeReason) {
    let Some(w) = t.waiting.lock().take() else { return };
    if w.deadline.is_some() {
        SLEEPERS.lock().retain(|(_, s)| !Arc::ptr_eq(s, &t));
    }
    t.set_wake_reason(reason);
    sched::wake(t);
}

/// Wakes threads whose deadline is at or before tick `now` (called on
/// every timer tick).
pub fn expire(now: u64) {
    if now.is_multiple_of(SWEEP_TICKS) {
        let mut queues = QUEUES.lock();
        if queues.other_len() >= SWEEP_AT.load(Ordering::Relaxed) {
            sweep(&mut queues);
        }
    }
    let due: Vec<Arc<Thread>> = {
        let mut s = SLEEPERS.lock();
        if s.is_empty() {
            return;
        }
        let due = s.iter().filter(|(d, _)| *d <= now).map(|(_, t)| t.clone()).collect();
        s.retain(|(d, _)| *d > now);
        due
    };
    for t in due {
        if let Some(w) = t.waiting.lock().as_mut() {
            w.deadline = None;
        }
        resume(&t, WakeReason::Timeout);
    }
}

/// Aborts a blocked thread (it is terminated), whatever it waits for: it
/// resumes with `Interrupted`.
pub fn interrupt(thread: &Arc<Thread>) {
    resume(thread, WakeReason::Interrupted);
}

/// What [`abort`] found the thread doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Abort {
    /// Not in the kernel (in user mode, preempted there, or not started):
    /// nothing to break, nothing marked.
    NotInKernel,
    /// Blocked in an abortable wait: taken off it, it resumes with
    /// `Interrupted`.
    Broken,
    /// Woken in the kernel but not yet run: marked, so that no abortable
    /// wait holds it on its way out.
    Marked,
    /// Blocked where an abort cannot reach (a kernel copy waiting for a
    /// page): marked, it goes on waiting until that wait ends.
    Unabortable,
}

/// `thread_abort`'s part here: breaks `thread`'s wait if it is abortable, and
/// marks a thread that is in the kernel (`Thread::mark_aborted`) so that no
/// abortable wait holds it until it has left the kernel. A wait already
/// ended (a sender handed the thread its message, its deadline passed) is not
/// touched: the thread returns what that gave it.
pub fn abort(thread: &Arc<Thread>) -> Abort {
    let mut waiting = thread.waiting.lock();
    match waiting.as_ref().map(|w| w.abortable) {
        Some(true) => {
            let Some(w) = waiting.take() else {
                return Abort::NotInKernel;
            };
            drop(waiting);
            thread.mark_aborted();
            resume_taken(thread, w, WakeReason::Interrupted);
            Abort::Broken
        }
        Some(false) => {
            drop(waiting);
            thread.mark_aborted();
            Abort::Unabortable
        }
        None if thread.state() == ThreadState::Blocked || thread.wake_pending() => {
            drop(waiting);
            thread.mark_aborted();
            Abort::Marked
        }
        None => Abort::NotInKernel,
    }
}

/// Ends the running thread (`sched::exit_current`) after taking it off any
/// queue it may still be on.
pub fn exit_current() -> ! {
    cancel(&sched::current());
    sched::exit_current()
}

/// Ends the running thread if it has been marked to end. Called where a
/// thread is about to leave the kernel, with nothing of its own on the stack.
pub fn exit_if_terminated() {
    if sched::current_terminated() {
        exit_current();
    }
}

/// Removes `thread` from any queue (it is exiting).
fn cancel(thread: &Arc<Thread>) {
    let Some(w) = thread.waiting.lock().take() else { return };
    if let Some(k) = w.key
        && let Some(q) = QUEUES.lock().get_mut(&k)
    {
        q.retain(|t| !Arc::ptr_eq(t, thread));
    }
    SLEEPERS.lock().retain(|(_, t)| !Arc::ptr_eq(t, thread));
}
