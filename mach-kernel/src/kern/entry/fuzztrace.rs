//! The last Mach traps the kernel saw, for a panic report: with `fuzztrace`
//! on the kernel command line, each `syscall` is written at entry into a
//! ring of [`SLOTS`] records (trap number, the first four arguments, the
//! user `rip`), which the panic handler prints after the backtrace. A crash
//! found by test-fuzz is then readable without a rerun.
//!
//! Only in the tests' kernel (built with debug assertions, Makefile
//! `test-kernel`): the release kernel that `make bench` and `make run` boot
//! has no recording code on its syscall path (the check cost null_trap 3
//! and null_rpc 6 instructions). Off by default there too: the syscall path
//! then pays one relaxed load of [`ENABLED`] and a not-taken branch. One ring for the machine: the kernel runs on one CPU (QEMU
//! `-smp 1`); with more, a record could interleave with another CPU's,
//! which a debugging aid can live with (each word is written atomically).

use crate::arch::trapframe::TrapFrame;
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

/// Whether the kernel can record traps at all (the tests' kernel).
pub const BUILT: bool = cfg!(debug_assertions);

/// Whether traps are recorded (`fuzztrace` on the command line).
pub static ENABLED: AtomicBool = AtomicBool::new(false);

/// Records kept.
pub const SLOTS: usize = 32;
const WORDS: usize = 6;
static RING: [AtomicU64; SLOTS * WORDS] = [const { AtomicU64::new(0) }; SLOTS * WORDS];
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Records a trap (called at syscall entry when [`ENABLED`]).
#[cold]
pub fn record(frame: &TrapFrame) {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let at = (n % SLOTS) * WORDS;
    let words = [
        frame.rax,
        frame.arg(0),
        frame.arg(1),
        frame.arg(2),
        frame.arg(3),
        frame.rcx,
    ];
    for (i, w) in words.into_iter().enumerate() {
        RING[at + i].store(w, Ordering::Relaxed);
    }
}

/// Prints the recorded traps, oldest first (the panic handler calls this).
pub fn print(out: &mut impl Write) {
    if !ENABLED.load(Ordering::Relaxed) {
        return;
    }
    let n = NEXT.load(Ordering::Relaxed);
    let kept = n.min(SLOTS);
    let _ = writeln!(
        out,
        "fuzztrace: the last {kept} of {n} traps (number, args 0-3, user rip):"
    );
    for k in n - kept..n {
        let at = (k % SLOTS) * WORDS;
        let w = |i: usize| RING[at + i].load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "fuzztrace: #{k} {} {:#x} {:#x} {:#x} {:#x} rip={:#x}",
            w(0) as i64,
            w(1),
            w(2),
            w(3),
            w(4),
            w(5)
        );
    }
}
