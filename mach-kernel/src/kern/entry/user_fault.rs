//! Page faults on user memory, from user mode or from a kernel copy of user
//! memory: resolved through the task's VM map (`kern::vm::fault`); a page
//! that must come from a pager is asked for (`kern::pager::request`) by the
//! first fault on it and waited for by it and every later one (the VM
//! model's page state says which), then mapped by this same fault, so a
//! pager page costs one hardware fault. A fault that finds no free frame
//! waits for memory and tries again; it does not ask the pager again. A
//! `_nowait` user copy (made with the kernel-state lock held) never waits:
//! a page that needs a pager or memory fails the copy.
//!
//! `thread_abort` breaks a user-mode fault's wait: the fault returns as
//! resolved, so the thread re-executes the instruction, which faults again
//! and waits for the same answer (the request is not sent twice): nothing is
//! lost, and a suspended thread stops first with the instruction's registers.
//! A kernel copy's wait is not abortable (only termination breaks it); it
//! counts as the place where an aborted suspended thread stops.

use super::lock;
use crate::arch::trapframe::TrapFrame;
use crate::arch::usercopy;
use crate::kern::pager::{self, PagerIo, Request};
use crate::kern::thread::WakeReason;
use crate::kern::vm::{self, FaultOutcome, pageout};
use crate::kern::wait;
use crate::kern::{ipc, sched};
use mach_core::ipc::WaitKey;

/// Tries to resolve a page fault at `addr`; true if the access can be retried.
pub fn resolve_user_fault(frame: &TrapFrame, addr: u64) -> bool {
    let write = frame.error_code & 2 != 0;
    let exec = frame.error_code & 0x10 != 0;
    let Some(task) = sched::current_task() else {
        return false;
    };
    // Short of memory: page something out first (only from user mode, where
    // this thread holds nothing at all).
    if frame.is_user_mode() && crate::mem::free_frames() < pageout::LOW_WATER {
        reclaim();
    }
    let user = frame.is_user_mode();
    let may_wait = user || !usercopy::in_nowait_copy();
    let mut memory_waits = 0;
    let mut waited = false;
    let resolved = loop {
        let w = match vm::fault(&task, addr, write, exec) {
            Ok(FaultOutcome::Mapped) => break true,
            Ok(FaultOutcome::NeedPager {
                object,
                pager,
                offset,
                access,
                unlock,
            }) => {
                waited = true;
                // Then look again, and map the page (or fail).
                ask_pager(&task, may_wait, user, object, pager, offset, access, unlock)
            }
            Ok(FaultOutcome::WaitPager { object, offset }) => {
                if !may_wait {
                    break false;
                }
                waited = true;
                wait_for_answer(object, offset, user)
            }
            Ok(FaultOutcome::NoMemory) => {
                if !may_wait || memory_waits == MEMORY_WAITS {
                    break false;
                }
                memory_waits += 1;
                waited = true;
                wait_for_memory(user)
            }
            Err(_) => break false,
        };
        match w {
            Waited::Done => {}
            Waited::Failed => break false,
            // Re-executed, the instruction faults again and waits again.
            Waited::Aborted => break true,
        }
    };
    // A thread that waited may have been aborted or suspended meanwhile.
    if waited && user && resolved {
        drop(task);
        super::leave::leave_kernel();
    }
    resolved
}

/// How a fault's wait ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Waited {
    /// Look at the page again.
    Done,
    /// The fault fails (the thread is ending, or the wait was not possible).
    Failed,
    /// `thread_abort` broke the wait of a user-mode fault: retry the access.
    Aborted,
}

/// What an interrupted wait means: a user-mode fault was aborted unless its
/// thread is ending; a kernel copy's wait is broken only by termination.
fn interrupted(user: bool) -> Waited {
    if user && !sched::current_terminated() {
        Waited::Aborted
    } else {
        Waited::Failed
    }
}

/// Blocks for a fault: abortably from user mode; from a kernel copy not, and
/// an aborted suspended thread (`Thread::set_run_to_stop`) counts as stopped
/// there (its `thread_abort` is answered).
fn block(user: bool, key: Option<WaitKey>, deadline: Option<u64>) -> WakeReason {
    if user {
        return wait::block(key, deadline);
    }
    let me = sched::current();
    if me.is_running_to_stop() {
        lock::with(|k| ipc::answer_stop_replies(&mut k.ipc, &me));
    }
    drop(me);
    wait::block_unabortable(key, deadline)
}

/// Sends the data request (or unlock) for page `offset` of `object` that the
/// model asked this fault to send, and waits for the answer. A fault that may
/// not wait withdraws the request instead. Out of line: the common faults
/// (zero fill, copy-on-write) never get here.
#[cold]
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn ask_pager(
    task: &crate::kern::task::Task,
    may_wait: bool,
    user: bool,
    object: u64,
    pager: mach_core::ipc::PortId,
    offset: u64,
    access: u32,
    unlock: bool,
) -> Waited {
    if !may_wait {
        vm::cancel_request(object, offset);
        return Waited::Failed;
    }
    let asked = lock::with(|k| pager::request(&mut k.ipc, &mut k.pagers, task, object, pager, offset, access, unlock));
    if asked == Request::Failed {
        return Waited::Failed;
    }
    wait_for_answer(object, offset, user)
}

/// How often one fault waits for memory before it fails (a task whose
/// memory cannot be found even after page-out, e.g. with no default pager).
const MEMORY_WAITS: u32 = 8;
/// Ticks a fault waits for memory each time.
const MEMORY_WAIT_TICKS: u64 = 2;

/// Waits for free frames: pages some out (from user mode, where this thread
/// holds nothing) and lets others run for a moment (frames are freed by
/// page-out, exits and deallocations, none of which wakes a waiter by
/// name).
#[cold]
#[inline(never)]
fn wait_for_memory(user: bool) -> Waited {
    if user {
        reclaim();
    }
    if crate::mem::free_frames() > vm::DEFAULT_PAGER_RESERVE {
        return Waited::Done;
    }
    match block(user, None, Some(sched::ticks() + MEMORY_WAIT_TICKS)) {
        WakeReason::Interrupted => interrupted(user),
        _ => Waited::Done,
    }
}

/// Pages out a batch (memory is short).
#[cold]
#[inline(never)]
fn reclaim() {
    lock::with(|k| {
        let mut io = PagerIo {
            ipc: &mut k.ipc,
            pagers: &mut k.pagers,
        };
        pageout::reclaim(pageout::BATCH, &mut io)
    });
}

/// Waits until page `offset` of `object` no longer waits for its pager (an
/// answer, or the pager's death, wakes us); then the fault looks again and
/// finds what the answer was.
#[inline(never)]
fn wait_for_answer(object: u64, offset: u64, user: bool) -> Waited {
    loop {
        if !lock::with(|_| vm::page_waits_for_pager(object, offset)) {
            return Waited::Done;
        }
        if block(user, Some(WaitKey::Memory(object, offset)), None) == WakeReason::Interrupted {
            return interrupted(user);
        }
    }
}
