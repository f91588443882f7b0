//! The kernel-state lock: the one lock around the IPC model and the tables
//! that change with it (`state::KernelState`). Only `entry` takes it.
//!
//! [`with`] runs an operation on the state and then does what the
//! operation left for the kernel: it serves the messages sent to kernel
//! objects (`kobject::serve`, which may send more), discards the virtual
//! copies of messages that died (telling the pagers of objects that died
//! with them) and wakes the threads whose wait keys fired, all before the
//! lock is released.

use crate::kern::prof::{self, Phase};
use crate::kern::state::KernelState;
use crate::kern::{kobject, pager, vm, wait};
use spin::Mutex;

static STATE: Mutex<Option<KernelState>> = Mutex::new(None);

pub(super) fn init(heap_bytes: usize) {
    *STATE.lock() = Some(KernelState::new(heap_bytes));
}

/// Runs `f` on the kernel state, then its follow-up (see the module doc).
pub(super) fn with<R>(f: impl FnOnce(&mut KernelState) -> R) -> R {
    let mut g = lock();
    f(&mut g)
}

/// The kernel state, locked until the guard goes; dropping it runs the
/// follow-up (see the module doc). [`with`] is the usual way in; the guard
/// is for the RPC fast path, whose code must stay in one piece.
pub(super) struct Guard(spin::MutexGuard<'static, Option<KernelState>>);

#[inline(always)]
pub(super) fn lock() -> Guard {
    Guard(STATE.lock())
}

impl core::ops::Deref for Guard {
    type Target = KernelState;
    #[inline(always)]
    fn deref(&self) -> &KernelState {
        self.0.as_ref().expect("kernel state not initialised")
    }
}

impl core::ops::DerefMut for Guard {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut KernelState {
        self.0.as_mut().expect("kernel state not initialised")
    }
}

impl Drop for Guard {
    #[inline(always)]
    fn drop(&mut self) {
        if let Some(k) = self.0.as_mut()
            && k.ipc.has_follow_up()
        {
            follow_up(k);
        }
    }
}

/// Serves kernel messages, drops released copies and wakes threads.
#[inline(never)]
fn follow_up(k: &mut KernelState) {
    loop {
        if k.ipc.has_kernel_messages() {
            for (obj, kmsg) in k.ipc.take_kernel_messages() {
                kobject::serve(k, obj, kmsg);
            }
        } else if k.ipc.has_released_copies() {
            for copy in k.ipc.take_released_copies() {
                let gone = vm::copy::discard(copy);
                pager::objects_gone(&mut k.ipc, &mut k.pagers, gone);
            }
        } else {
            break;
        }
    }
    let t = prof::start();
    k.ipc.drain_wakeups(wait::wake_all);
    prof::end(Phase::Wakeups, t);
}
