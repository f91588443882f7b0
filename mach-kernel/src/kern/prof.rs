//! Optional path-length profiling of kernel phases (`profile` on the kernel
//! command line). Under `-icount shift=0` the TSC counts guest instructions,
//! so each phase's total is the instructions it executed. Printed when the run
//! ends. Costs nothing but a flag test when off.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

pub static ENABLED: AtomicBool = AtomicBool::new(false);

pub const PHASES: [&str; 8] = [
    "send.copyin",
    "send.ipc",
    "recv.probe",
    "recv.ipc",
    "recv.copyout",
    "block",
    "with.wakeups",
    "send.model",
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
pub fn end(phase: usize, t0: u64) {
    if t0 != 0 {
        let dt = crate::arch::cpu::rdtsc().wrapping_sub(t0);
        TOTAL[phase].fetch_add(dt, Ordering::Relaxed);
        COUNT[phase].fetch_add(1, Ordering::Relaxed);
    }
}

pub fn report() {
    if !ENABLED.load(Ordering::Relaxed) {
        return;
    }
    for (i, name) in PHASES.iter().enumerate() {
        let n = COUNT[i].load(Ordering::Relaxed);
        if n > 0 {
            crate::kprintln!(
                "profile {name}: {} per call over {n} calls",
                TOTAL[i].load(Ordering::Relaxed) / n
            );
        }
    }
}
