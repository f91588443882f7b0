//! Measuring in the guest: guest instructions per operation, read from the
//! time-stamp counter, which counts guest instructions when QEMU runs with
//! `-icount shift=0` (see ../shared/notes/measuring.md). Results are printed as
//! `bench NAME VALUE UNIT` lines with the median of batches, plus min, max and n.

use mach_user::println;

/// `lfence; rdtsc`.
pub fn tsc() -> u64 {
    // SAFETY: reads the time-stamp counter; user mode may (CR4.TSD is clear).
    unsafe {
        core::arch::x86_64::_mm_lfence();
        core::arch::x86_64::_rdtsc()
    }
}

pub const BATCHES: usize = 15;

/// Runs `op` in `BATCHES` batches of `per_batch` after one warm-up batch and
/// returns per-operation (median, min, max), with the empty-loop cost removed.
pub fn measure(per_batch: u32, mut op: impl FnMut()) -> (u64, u64, u64) {
    let overhead = batch_cost(per_batch, || {});
    for _ in 0..per_batch {
        op();
    }
    let mut v = [0u64; BATCHES];
    for slot in v.iter_mut() {
        *slot = batch_cost(per_batch, &mut op).saturating_sub(overhead) / per_batch as u64;
    }
    v.sort_unstable();
    (v[BATCHES / 2], v[0], v[BATCHES - 1])
}

fn batch_cost(per_batch: u32, mut op: impl FnMut()) -> u64 {
    let t0 = tsc();
    for _ in 0..per_batch {
        op();
        core::hint::black_box(());
    }
    tsc() - t0
}

/// Prints one result line.
pub fn report(name: &str, (median, min, max): (u64, u64, u64), per_batch: u32) {
    println!("bench {name} {median} instructions");
    println!("#   {name}: median of {BATCHES} batches of {per_batch}; min {min}, max {max}");
}
