//! The in-guest fuzzer's pieces (used by `test-fuzz`): a seeded PRNG, the
//! ring of recent calls printed when a check fails, the address ranges the
//! fuzzer must not destroy, and the pools arguments are drawn from (boundary
//! sizes; good, null, unmapped, kernel-half, read-only and wrapping
//! pointers). [`calls`] holds the calls themselves, [`sweep`] what brings a
//! task's space and map back to its start between batches.
//!
//! # What the fuzzer leaves alone
//! It makes every call on every port it can name, with one class of
//! exceptions: calls that would destroy what the fuzzer needs to go on, whose
//! effect is the caller's own suicide rather than a kernel question.
//! * `vm_deallocate`, `vm_protect`, `vm_inherit`, `vm_write`, `vm_copy`
//!   (destination), `vm_map` at a fixed address and raw `vm_*` messages to its own task never
//!   name a range that meets a [`protected`] range: the program image
//!   (`IMAGE_LO..IMAGE_HI`), the initial stack, and each fuzzing thread's
//!   message buffers. A range whose end wraps past 2^64 is passed as it is:
//!   the kernel must refuse it.
//! * Its own task is never terminated (`task_terminate`, the `task_exit`
//!   trap, raw `task_terminate` messages), its own threads never suspended or
//!   terminated (`thread_exit` only from threads made to exit), and a thread
//!   it starts in its own task starts at a function that exits at once, on a
//!   stack of its own (a bad entry or stack is tried in child tasks, which
//!   then die of the fault).
//! * The names it calls through (task, host, host_priv, thread, device
//!   master, the transport's reply port) are never destroyed, deallocated or
//!   moved; they are used as targets and copied.
//! * `vm_set_default_memory_manager` is given only names that are not send
//!   rights, and never sent raw to host_priv: becoming the default pager
//!   would make the fuzzer the pager of its own paged-out memory. (The main
//!   fuzzer is a boot task and holds host_priv; its children, made with
//!   `task_create`, hold none, so their privileged calls must all fail.)
//! * `hd0` is never opened (the paging disk and test-device's own).
//! * `mach_print` reads only a one-byte newline, or memory it cannot read
//!   (the harness reads the console).
//! * Non-negative trap numbers (the Unix personality) end the task by design.
//! * Tasks are made only through the typed `task_create` (never a raw
//!   request), and the main fuzzer keeps a copy of each one's send right in
//!   its vault (a task without threads whose name is never handed to a
//!   call), so that every task it made can be ended however its own name was
//!   lost: Mach has no parent-child link, and a task with a thread nobody can
//!   name would outlive the run and its counts.

pub mod calls;
pub mod sweep;
pub mod transport;

use core::sync::atomic::{AtomicU64, Ordering};
use mach_user::println;

/// Where user programs are linked (mach-user/user.ld); the image of
/// test-fuzz (text, data and its static stacks) lies below `IMAGE_HI`.
pub const IMAGE_LO: u64 = 0x40_0000;
pub const IMAGE_HI: u64 = 0x40_0000 + 64 * 1024 * 1024;
pub const PAGE: u64 = 4096;

/// xorshift64: small, fast and reproducible from the seed.
pub struct Rng(pub u64);
impl Rng {
    pub fn new(seed: u64) -> Self {
        // Spread small seeds (1, 2, 3) over all bits.
        let mut r = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        for _ in 0..4 {
            r.next();
        }
        r
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }
    pub fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[self.below(v.len() as u64) as usize]
    }
}

/// The last calls a fuzzing thread made: (call number, operation, two
/// arguments). Printed when a check fails, so the failing call and the
/// calls before it are known without a rerun.
pub struct Ring {
    entries: [(u64, u16, u64, u64); 64],
    next: usize,
}

impl Ring {
    pub const fn new() -> Self {
        Ring {
            entries: [(0, 0, 0, 0); 64],
            next: 0,
        }
    }
    pub fn record(&mut self, call: u64, op: u16, a: u64, b: u64) {
        self.entries[self.next % 64] = (call, op, a, b);
        self.next += 1;
    }
    pub fn print(&self, who: &str) {
        let n = self.next.min(64);
        println!("test-fuzz: {who}: the last {n} calls (call, op, args):");
        for k in 0..n {
            let (c, op, a, b) = self.entries[(self.next - n + k) % 64];
            println!("test-fuzz: {who}:   #{c} op {op} {a:#x} {b:#x}");
        }
    }
}

impl Default for Ring {
    fn default() -> Self {
        Self::new()
    }
}

/// Extra protected ranges (start, end): each fuzzing thread's buffers.
static PROTECTED: [AtomicU64; 32] = [const { AtomicU64::new(0) }; 32];

/// Adds `[start, end)` to the ranges destructive calls keep away from.
pub fn protect(start: u64, end: u64) {
    for k in 0..PROTECTED.len() / 2 {
        if PROTECTED[2 * k]
            .compare_exchange(0, start, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            PROTECTED[2 * k + 1].store(end, Ordering::Release);
            return;
        }
    }
}

/// True if `[addr, addr + size)` (not wrapping) meets a range the fuzzer
/// needs: the image, the initial stack or a registered buffer. A wrapping
/// range is not "protected": the kernel must refuse it.
pub fn protected(addr: u64, size: u64) -> bool {
    let Some(end) = addr.checked_add(size.max(1)) else {
        return false;
    };
    // Calls round to pages: widen by a page either side.
    let (lo, hi) = (addr.saturating_sub(PAGE), end.saturating_add(PAGE));
    let meets = |s: u64, e: u64| lo < e && s < hi;
    let stack = mach_user::abi::layout::USER_STACK_TOP;
    if meets(IMAGE_LO, IMAGE_HI) || meets(stack - mach_user::abi::layout::USER_STACK_SIZE - PAGE, stack + PAGE) {
        return true;
    }
    (0..PROTECTED.len() / 2).any(|k| {
        let s = PROTECTED[2 * k].load(Ordering::Acquire);
        s != 0 && meets(s, PROTECTED[2 * k + 1].load(Ordering::Acquire))
    })
}

/// A size: 0, 1, a page and its neighbours, many pages, huge, and sizes that
/// overflow when added to an address.
pub fn size(r: &mut Rng) -> u64 {
    match r.below(12) {
        0 => 0,
        1 => 1,
        2 => PAGE - 1,
        3 => PAGE,
        4 => PAGE + 1,
        5 => 16 * PAGE,
        6 => 1 << 40,
        7 => u64::MAX,
        8 => u64::MAX - PAGE + 2,
        9 => (r.below(64) + 1) * PAGE,
        10 => r.next(),
        _ => r.below(3 * PAGE),
    }
}

/// A user address: `good` (memory the caller owns), null, unmapped,
/// kernel-half, the read-only text, near the top of the address space,
/// unaligned, or random.
pub fn pointer(r: &mut Rng, good: u64) -> u64 {
    match r.below(10) {
        0 => 0,
        1 => 0x5000_0000_0000,
        2 => 0xffff_ffff_8010_0000,
        3 => IMAGE_LO + 0x1000,
        4 => u64::MAX - 8,
        5 => 0x0000_7fff_ffff_f000,
        6 => good + 1 + r.below(PAGE),
        7 => r.next(),
        _ => good,
    }
}
