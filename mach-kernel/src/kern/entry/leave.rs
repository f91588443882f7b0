//! The way back to user mode: every return from a trap, fault or exception
//! to user code passes [`leave_kernel`] (the `mach_msg` trap does the same
//! inline). A terminated thread ends there; a thread with exit work
//! (`Thread::take_exit_work`: its registers were replaced, or it was aborted)
//! does it at [`stop_point`], where its registers are final: the abort's
//! mark is cleared, the `thread_abort` calls waiting for it to stop are
//! answered, and a suspended thread stops until resumed, so that
//! `thread_get_state` sees the registers it will resume with.

use super::lock;
use crate::kern::thread::Thread;
use crate::kern::{ipc, sched, wait};
use alloc::sync::Arc;

/// The running thread is about to return to user mode: it ends if it is
/// terminated, and does its exit work if it has some ([`stop_point`]).
#[inline(always)]
pub fn leave_kernel() {
    // One flag to look at: termination sets it too.
    if !sched::current_exit_work() {
        return;
    }
    leave_slow();
}

/// [`leave_kernel`] with work to do.
#[cold]
#[inline(never)]
fn leave_slow() {
    let me = sched::current();
    let end = me.is_terminated() || stop_point(&me);
    drop(me);
    if end {
        wait::exit_current();
    }
}

/// Exit work of `me`, the running thread, on its way to user mode with its
/// registers final: an abort's mark is cleared (its aborted call has
/// returned), the answers owed for its stop go out, and a suspended thread
/// stops here until resumed. Returns true if the thread must end (the caller
/// drops its references, then `wait::exit_current`).
#[cold]
#[inline(never)]
pub(super) fn stop_point(me: &Arc<Thread>) -> bool {
    me.clear_aborted();
    if me.take_run_to_stop() {
        lock::with(|k| ipc::answer_stop_replies(&mut k.ipc, me));
    }
    if me.is_suspended() && !me.is_terminated() {
        sched::park_current();
    }
    me.is_terminated()
}
