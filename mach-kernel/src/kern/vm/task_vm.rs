//! A task's VM map behind its lock ([`VmLock`]), with a version that tells
//! when the map may have changed, and the task's fault counts. A leaf: `Task`
//! holds it by value, and it depends on nothing else in `kern`.

use alloc::sync::Arc;
use core::sync::atomic::{AtomicU64, Ordering};
use mach_core::budget::Budget;
use mach_core::vm::{FaultStats, VmMap};
use spin::Mutex;

/// The part of every task's address space the VM map manages: all of the
/// user half but page zero.
pub const VM_MIN: u64 = mach_abi::layout::USER_MIN;
pub const VM_MAX: u64 = mach_abi::layout::USER_END;

/// A task's [`TaskVm`] behind its lock, with a version that changes whenever
/// access to mapped memory may have been taken away: when the map's
/// [`VmMap::revocations`] count moved while the guard was held (a
/// deallocation, a lowered protection), or the map was replaced. Checks that
/// a range is mapped writable (the receive-buffer probe of `mach_msg`) can be
/// remembered for as long as the version stays the same; faults and new
/// mappings leave it alone.
pub struct VmLock {
    inner: Mutex<TaskVm>,
    version: AtomicU64,
}

impl VmLock {
    pub fn new(vm: TaskVm) -> Self {
        VmLock {
            inner: Mutex::new(vm),
            version: AtomicU64::new(0),
        }
    }

    pub fn lock(&self) -> VmGuard<'_> {
        let guard = self.inner.lock();
        let revocations = guard.map.revocations();
        VmGuard {
            guard,
            version: &self.version,
            revocations,
        }
    }

    /// The current version (see the type's documentation).
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }
}

/// The locked [`TaskVm`]; the version moves on unlock if the map's
/// revocation count did (or the map was replaced: see [`VmGuard::replace_map`]).
pub struct VmGuard<'a> {
    guard: spin::MutexGuard<'a, TaskVm>,
    version: &'a AtomicU64,
    /// The map's revocation count when locked.
    revocations: u64,
}

impl VmGuard<'_> {
    /// Puts `map` in place of the task's map (a fork's child map): every
    /// remembered check is void.
    pub fn replace_map(&mut self, map: VmMap) {
        self.guard.map = map;
        self.version.fetch_add(1, Ordering::AcqRel);
    }
}

impl Drop for VmGuard<'_> {
    fn drop(&mut self) {
        if self.guard.map.revocations() != self.revocations {
            self.version.fetch_add(1, Ordering::AcqRel);
        }
    }
}

impl core::ops::Deref for VmGuard<'_> {
    type Target = TaskVm;
    fn deref(&self) -> &TaskVm {
        &self.guard
    }
}

impl core::ops::DerefMut for VmGuard<'_> {
    fn deref_mut(&mut self) -> &mut TaskVm {
        &mut self.guard
    }
}

/// A task's map, fault counts and wired pages.
pub struct TaskVm {
    pub map: VmMap,
    pub stats: FaultStats,
    /// Pages wired by `vm_wire` (limited per task).
    pub wired_pages: u64,
}

impl TaskVm {
    pub fn new() -> Self {
        TaskVm {
            map: VmMap::with_budget(
                VM_MIN,
                VM_MAX,
                mach_core::vm::map::DEFAULT_MAX_ENTRIES,
                entry_budget().clone(),
            )
            .expect("VM bounds"),
            stats: FaultStats::default(),
            wired_pages: 0,
        }
    }
}

impl Default for TaskVm {
    fn default() -> Self {
        Self::new()
    }
}

/// Kernel heap bytes one map entry is counted as (the entry and its share
/// of the ordered map's nodes, rounded up).
pub const ENTRY_COST: usize = 128;

static ENTRY_BUDGET: spin::Once<Arc<Budget>> = spin::Once::new();

/// The map entries all tasks together may hold (unlimited until
/// [`set_entry_budget`]).
pub fn entry_budget() -> &'static Arc<Budget> {
    ENTRY_BUDGET.call_once(|| Arc::new(Budget::new(usize::MAX)))
}

/// Lets all tasks' maps together hold `bytes` of kernel heap in entries.
pub fn set_entry_budget(bytes: usize) {
    entry_budget().set_limit(bytes / ENTRY_COST);
}
