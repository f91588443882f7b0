//! Optional path-length profiling of kernel phases (`profile` on the kernel
//! command line). Under `-icount shift=0` the TSC counts guest instructions,
//! so each phase's total is the instructions it executed. Printed when the run
//! ends. Costs nothing but a flag test when off.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

pub static ENABLED: AtomicBool = AtomicBool::new(false);

/// The phases of the `mach_msg` path that can be timed.
#[derive(Clone, Copy)]
pub enum Phase {
    /// Copying the message in from user memory.
    SendCopyin,
    /// One send attempt (fast path or general), under the lock.
    SendIpc,
    /// The receive-buffer writability check.
    RecvProbe,
    /// One receive attempt under the lock.
    RecvIpc,
    /// Copying the received message out.
    RecvCopyout,
    /// Blocking in a receive until woken.
    Block,
    /// Waking the threads whose wait keys fired.
    Wakeups,
    /// The general send in the IPC model.
    SendModel,
}

const PHASES: [(Phase, &str); 8] = [
    (Phase::SendCopyin, "send.copyin"),
    (Phase::SendIpc, "send.ipc"),
    (Phase::RecvProbe, "recv.probe"),
    (Phase::RecvIpc, "recv.ipc"),
    (Phase::RecvCopyout, "recv.copyout"),
    (Phase::Block, "block"),
    (Phase::Wakeups, "with.wakeups"),
    (Phase::SendModel, "send.model"),
];
static TOTAL: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];
static COUNT: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];

/// Starts timing; pass the result to [`end`].
#[inline]
pub fn start() -> u64 {
    if ENABLED.load(Ordering::Relaxed) {
        crate::arch::cpu::rdtsc()
    } else {
        0
    }
}

#[inline]
pub fn end(phase: Phase, t0: u64) {
    if t0 != 0 {
        let dt = crate::arch::cpu::rdtsc().wrapping_sub(t0);
        TOTAL[phase as usize].fetch_add(dt, Ordering::Relaxed);
        COUNT[phase as usize].fetch_add(1, Ordering::Relaxed);
    }
}

pub fn report() {
    if !ENABLED.load(Ordering::Relaxed) {
        return;
    }
    for (phase, name) in PHASES {
        let i = phase as usize;
        let n = COUNT[i].load(Ordering::Relaxed);
        if let Some(per_call) = TOTAL[i].load(Ordering::Relaxed).checked_div(n) {
            crate::kprintln!("profile {name}: {per_call} per call over {n} calls");
        }
    }
}
