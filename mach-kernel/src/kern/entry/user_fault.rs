//! Page faults on user memory, from user mode or from a kernel copy of user
//! memory: resolved through the task's VM map (`kern::vm::fault`); a page
//! that must come from a pager is asked for (`kern::pager::request`) by the
//! first fault on it and waited for by it and every later one (the VM
//! model's page state says which), then mapped by this same fault, so a
//! pager page costs one hardware fault. A fault that finds no free frame
//! waits for memory and tries again; it does not ask the pager again. A
//! `_nowait` user copy (made with the kernel-state lock held) never waits:
//! a page that needs a pager or memory fails the copy.

use super::lock;
use crate::arch::trapframe::TrapFrame;
use crate::arch::usercopy;
use crate::kern::pager::{self, PagerIo, Request};
use crate::kern::sched;
use crate::kern::thread::WakeReason;
use crate::kern::vm::{self, FaultOutcome, pageout};
use crate::kern::wait;
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
    let may_wait = frame.is_user_mode() || !usercopy::in_nowait_copy();
    let mut memory_waits = 0;
    loop {
        match vm::fault(&task, addr, write, exec) {
            Ok(FaultOutcome::Mapped) => return true,
            Ok(FaultOutcome::NeedPager {
                object,
                pager,
                offset,
                access,
                unlock,
            }) => {
                if !ask_pager(&task, may_wait, object, pager, offset, access, unlock) {
                    return false;
                }
                // The answer is in: look again, and map the page (or fail).
            }
            Ok(FaultOutcome::WaitPager { object, offset }) => {
                if !may_wait || !wait_for_answer(object, offset) {
                    return false;
                }
            }
            Ok(FaultOutcome::NoMemory) => {
                if !may_wait || memory_waits == MEMORY_WAITS || !wait_for_memory(frame.is_user_mode()) {
                    return false;
                }
                memory_waits += 1;
            }
            Err(_) => return false,
        }
    }
}

/// Sends the data request (or unlock) for page `offset` of `object` that the
/// model asked this fault to send, and waits for the answer; false if the
/// fault must fail. A fault that may not wait withdraws the request instead.
/// Out of line: the common faults (zero fill, copy-on-write) never get here.
#[cold]
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn ask_pager(
    task: &crate::kern::task::Task,
    may_wait: bool,
    object: u64,
    pager: mach_core::ipc::PortId,
    offset: u64,
    access: u32,
    unlock: bool,
) -> bool {
    if !may_wait {
        vm::cancel_request(object, offset);
        return false;
    }
    let asked = lock::with(|k| pager::request(&mut k.ipc, &mut k.pagers, task, object, pager, offset, access, unlock));
    asked != Request::Failed && wait_for_answer(object, offset)
}

/// How often one fault waits for memory before it fails (a task whose
/// memory cannot be found even after page-out, e.g. with no default pager).
const MEMORY_WAITS: u32 = 8;
/// Ticks a fault waits for memory each time.
const MEMORY_WAIT_TICKS: u64 = 2;

/// Waits for free frames: pages some out (from user mode, where this thread
/// holds nothing) and lets others run for a moment (frames are freed by
/// page-out, exits and deallocations, none of which wakes a waiter by
/// name). False if the thread is being terminated.
#[cold]
#[inline(never)]
fn wait_for_memory(user_mode: bool) -> bool {
    if user_mode {
        reclaim();
    }
    if crate::mem::free_frames() > vm::DEFAULT_PAGER_RESERVE {
        return true;
    }
    wait::block(None, Some(sched::ticks() + MEMORY_WAIT_TICKS)) != WakeReason::Interrupted
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
/// answer, or the pager's death, wakes us). False if the thread is being
/// terminated; otherwise the fault looks again and finds what the answer was.
#[inline(never)]
fn wait_for_answer(object: u64, offset: u64) -> bool {
    loop {
        if !lock::with(|_| vm::page_waits_for_pager(object, offset)) {
            return true;
        }
        if wait::block(Some(WaitKey::Memory(object, offset)), None) == WakeReason::Interrupted {
            return false;
        }
    }
}
