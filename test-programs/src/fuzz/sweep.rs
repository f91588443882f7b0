//! Bringing the fuzzer's task back to where it started: every name but the
//! ones it calls through destroyed, every region outside the protected
//! ranges deallocated, and the system-wide counts a clean run must return to.

use super::calls::Fuzzer;
use super::protected;
use mach_user::abi::traps::BootInfoKind;
use mach_user::ool::OolRegion;
use mach_user::rpc::{host_priv, mach_port as mp, vm};

/// System-wide counts that must be back at their start once the fuzzer's
/// tasks are gone: ports, port sets, queued messages, tasks, threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counts {
    pub ports: u32,
    pub port_sets: u32,
    pub messages: u32,
    pub tasks: u64,
    pub threads: u64,
}

pub fn boot_info(kind: BootInfoKind) -> u64 {
    // SAFETY: mach_boot_info only returns a number.
    unsafe { mach_user::trap::raw_trap(mach_user::abi::traps::MACH_BOOT_INFO, [kind as u64, 0, 0, 0, 0, 0]).1 }
}

pub fn counts(e: &mut crate::ipc_env::Env) -> Option<Counts> {
    let a = host_priv::host_ipc_audit(&mut e.rpc, e.host_priv).ok()?;
    Some(Counts {
        ports: a.ports,
        port_sets: a.port_sets,
        messages: a.messages,
        tasks: boot_info(BootInfoKind::Tasks),
        threads: boot_info(BootInfoKind::Threads),
    })
}

impl Fuzzer {
    /// Destroys every name not in `keep`, forgets the pools (refilled by
    /// [`Fuzzer::refill`]) and deallocates every unprotected region.
    pub fn sweep(&mut self, keep: &[u32]) {
        // Tasks this fuzzer made end before their names go (the vault
        // keeps a right to each, whatever became of the names here).
        for slot in 0..self.tasks.len() {
            if !keep.contains(&self.tasks[slot]) {
                self.retire_task(slot);
            }
        }
        self.retire_all();
        let task = self.e.task;
        let mut doomed = [0u32; 512];
        let mut n = 0;
        if let Ok(r) = mp::mach_port_names(&mut self.e.rpc, task) {
            let names = OolRegion::u32s(r.names);
            for name in names.words() {
                if !self.critical(name) && !keep.contains(&name) && n < doomed.len() {
                    doomed[n] = name;
                    n += 1;
                }
            }
        }
        for &name in &doomed[..n] {
            let _ = mp::mach_port_destroy(&mut self.e.rpc, task, name);
        }
        self.live = [0; 8];
        self.set = 0;
        self.dead = 0;
        self.objects = [0; 2];
        self.controls = [0; 4];
        self.extra = [0; 16];
        self.tasks = [0; 4];
        self.threads = [0; 4];
        self.mapped = [(0, 0); 4];
        self.regions = [(0, 0); 8];
        // Regions: walk the map and drop what is not protected.
        let mut at = 0u64;
        for _ in 0..256 {
            let Ok(r) = vm::vm_region(&mut self.e.rpc, task, at) else {
                break;
            };
            let end = r.start.saturating_add(r.size);
            if end <= at {
                break;
            }
            if !protected(r.start, r.size) {
                let _ = vm::vm_deallocate(&mut self.e.rpc, task, r.start, r.size);
            }
            at = end;
        }
        self.scratch = 0;
        if n == doomed.len() {
            // More names than one pass holds: go again.
            self.sweep(keep);
        }
    }
}
