//! Page faults on user memory, from user mode or from a kernel copy of user
//! memory: resolved through the task's VM map (`kern::vm::fault`); a page
//! that must come from a pager is asked for (`kern::pager::request`) and
//! waited for, then mapped by this same fault, so a pager page costs one
//! hardware fault. A `_nowait` user copy (made with the kernel-state lock
//! held) never waits: a page that needs a pager fails the copy.

use super::lock;
use crate::arch::trapframe::TrapFrame;
use crate::arch::usercopy;
use crate::kern::pager::{self, PagerIo, Request};
use crate::kern::sched;
use crate::kern::task::Task;
use crate::kern::thread::WakeReason;
use crate::kern::vm::{self, FaultOutcome, pageout};
use crate::kern::wait;
use mach_core::ipc::{PortId, WaitKey};

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
                let may_wait = frame.is_user_mode() || !usercopy::in_nowait_copy();
                if !may_wait || !wait_for_page(&task, object, pager, offset, access, unlock) {
                    return false;
                }
                // The page is there now: look again, and map it.
            }
            Err(_) => return false,
        }
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

/// Asks `pager` for page `offset` of `object` (unless a request is out) and
/// waits for the answer. Returns false if the fault must fail.
#[inline(never)]
fn wait_for_page(task: &Task, object: u64, pager: PortId, offset: u64, access: u32, unlock: bool) -> bool {
    let asked = lock::with(|k| pager::request(&mut k.ipc, &mut k.pagers, task, object, pager, offset, access, unlock));
    if asked == Request::Failed {
        return false;
    }
    loop {
        // An answer (or the pager's death, which fails the page) wakes us.
        if let Some(failed) = lock::with(|k| k.pagers.answer(object, offset)) {
            return !failed;
        }
        if wait::block(Some(WaitKey::Memory(object, offset)), None) == WakeReason::Interrupted {
            return false;
        }
    }
}
