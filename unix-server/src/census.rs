//! The baseline check: what the server's tables and the kernel hold before
//! the first process starts and after the last has ended. A process's death
//! must release everything it held (descriptors, pipe ends, waits, its
//! task and ports), so when every process is gone the server's tables are
//! empty again and the kernel's counts are what they were at start; the
//! server prints the comparison when it shuts down (`unix: baseline: ok`,
//! or each count that differs), and the Unix tests check that line after
//! running every test program in one boot.

use crate::server::Unix;
use alloc::vec::Vec;
use core::fmt::Write;
use mach_interfaces::{host, host_priv, mach_port};

/// Counts that must come back (the kernel's and the server's own port
/// space) and counts that must be zero (the server's per-process tables).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Census {
    pub ports: u32,
    pub port_sets: u32,
    pub messages: u32,
    pub vm_objects: u64,
    pub own_names: u32,
    pub processes: usize,
    pub open_files: usize,
    pub pipes: usize,
    pub waits: usize,
    pub parked_waits: usize,
}

impl Census {
    /// The fields that differ from `base` (kernel and own port space) or
    /// from zero (tables), as "name was A now B".
    pub fn differences(&self, base: &Census) -> Vec<(&'static str, u64, u64)> {
        let mut d = Vec::new();
        let mut check = |name, was: u64, now: u64| {
            if was != now {
                d.push((name, was, now));
            }
        };
        check("kernel ports", base.ports.into(), self.ports.into());
        check("kernel port sets", base.port_sets.into(), self.port_sets.into());
        check("kernel messages", base.messages.into(), self.messages.into());
        check("kernel vm objects", base.vm_objects, self.vm_objects);
        check("server port names", base.own_names.into(), self.own_names.into());
        check("processes", 0, self.processes as u64);
        check("open files", 0, self.open_files as u64);
        check("pipes", 0, self.pipes as u64);
        check("waits", 0, self.waits as u64);
        check("parked wait4s", 0, self.parked_waits as u64);
        d
    }
}

impl Unix {
    /// What is held now; `None` if the kernel would not say.
    pub fn census(&mut self) -> Option<Census> {
        let hp = mach_user::start::host_priv()?;
        let audit = host_priv::host_ipc_audit(&mut self.rpc, hp).ok()?;
        let vm = host::host_vm_statistics(&mut self.rpc, mach_user::ipc::mach_host_self()).ok()?;
        let names = mach_port::mach_port_names(&mut self.rpc, self.task).ok()?;
        let own_names = names.names.count;
        drop(mach_user::ool::OolRegion::u32s(names.names));
        drop(mach_user::ool::OolRegion::u32s(names.types));
        Some(Census {
            ports: audit.ports,
            port_sets: audit.port_sets,
            messages: audit.messages,
            vm_objects: vm.objects,
            own_names,
            processes: self.procs.unix.len(),
            open_files: self.files.open_count(),
            pipes: self.files.pipes.len(),
            waits: self.blocked.list.len(),
            parked_waits: self.procs.waits.len(),
        })
    }

    /// At shutdown, every process ended: prints how the census compares
    /// with the one taken before the first process. The kernel finishes
    /// tearing a task down after `task_terminate` returns for some of its
    /// objects, so a difference is looked at again a few times, 10 ms apart.
    pub fn report_baseline(&mut self) {
        let Some(base) = self.baseline else {
            mach_user::println!("unix: baseline: not taken");
            return;
        };
        let mut diff = Vec::new();
        for _ in 0..50 {
            diff = match self.census() {
                Some(now) => now.differences(&base),
                None => alloc::vec![("census", 0, 1)],
            };
            if diff.is_empty() {
                break;
            }
            self.pause_ms(10);
        }
        let mut line = alloc::string::String::from("unix: baseline:");
        if diff.is_empty() {
            line.push_str(" ok");
        }
        for (name, was, now) in diff {
            let _ = write!(line, " {name} was {was} now {now};");
        }
        mach_user::println!("{line}");
    }

    /// Waits `ms` milliseconds: a receive with a timeout on the RPC reply
    /// port, where nothing arrives outside an RPC.
    fn pause_ms(&mut self, ms: u32) {
        let mut buf: mach_user::ipc::MsgBuf<64> = mach_user::ipc::MsgBuf::new();
        let port = self.rpc.reply_port();
        let _ = mach_user::ipc::mach_msg(
            &mut buf,
            mach_user::abi::message::MACH_RCV_MSG | mach_user::abi::message::MACH_RCV_TIMEOUT,
            0,
            port,
            ms,
        );
    }
}
