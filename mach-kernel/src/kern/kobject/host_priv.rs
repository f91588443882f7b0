//! The `host_priv` subsystem (`interfaces/host_priv.defs`): what changes or
//! inspects the whole system — the default memory manager, page-out on
//! demand, the device master port, the IPC audit, the task dump, boot data.
//! Served by [`super::host`]'s server on both host ports; every routine
//! first checks that the request came on the privileged one, and answers
//! `KERN_INVALID_HOST` (releasing whatever the request carried, by the
//! ownership rule) when it came on the host name port.

use super::host::HostPortServer;
use crate::kern::pager::{self, PagerIo};
use crate::kern::vm::{boot_data, pageout};
use core::sync::atomic::Ordering;
use mach_abi::kern_return::*;
use mach_interfaces::OolArray;
use mach_interfaces::host_priv::{HostBootDataReply, HostIpcAuditReply, HostPrivServer};

impl HostPortServer<'_, '_> {
    /// `KERN_INVALID_HOST` unless the request came on the host_priv port.
    fn privileged(&self) -> Result<(), i32> {
        if self.privileged {
            Ok(())
        } else {
            Err(KERN_INVALID_HOST)
        }
    }
}

impl HostPrivServer for HostPortServer<'_, '_> {
    fn vm_set_default_memory_manager(&mut self, _host: u32, manager: u32) -> Result<(), i32> {
        self.privileged()?;
        let right = self.ctx.req.peek_right(manager).ok_or(KERN_INVALID_CAPABILITY)?;
        pager::set_default_pager(self.ctx.ipc, self.ctx.pagers, self.ctx.req.sender, right)?;
        let _ = self.ctx.req.take_right(manager);
        Ok(())
    }
    fn host_get_io_master(&mut self, _host: u32) -> Result<u32, i32> {
        self.privileged()?;
        let right = crate::kern::device::master_send_right(self.ctx.ipc).ok_or(KERN_RESOURCE_SHORTAGE)?;
        Ok(self.ctx.out.right(right))
    }
    fn host_vm_pageout(&mut self, _host: u32, pages: u32) -> Result<u32, i32> {
        self.privileged()?;
        let mut io = PagerIo {
            ipc: self.ctx.ipc,
            pagers: self.ctx.pagers,
        };
        let n = pageout::reclaim(pages as usize, &mut io);
        Ok(n as u32)
    }
    fn host_ipc_audit(&mut self, _host: u32) -> Result<HostIpcAuditReply, i32> {
        self.privileged()?;
        let r = self.ctx.ipc.audit_with(&[self.ctx.reply]);
        for v in r.violations.iter().take(8) {
            log::error!("ipc audit: {v}");
        }
        Ok(HostIpcAuditReply {
            ports: r.ports as u32,
            port_sets: r.port_sets as u32,
            messages: r.messages as u32,
            violations: r.violations.len() as u32,
        })
    }
    fn host_tasks_dump(&mut self, _host: u32) -> Result<(), i32> {
        self.privileged()?;
        dump_tasks(self.ctx.ipc, self.ctx.pagers);
        Ok(())
    }
    fn host_boot_data(&mut self, _host: u32, index: u32) -> Result<HostBootDataReply, i32> {
        self.privileged()?;
        let d = boot_data::copy(index)?;
        let address = match d.copy {
            Some(handle) => self.ctx.out.ool_copy(handle),
            None => self.ctx.out.ool(alloc::vec::Vec::new()),
        };
        Ok(HostBootDataReply {
            name: d.name,
            data: OolArray { address, count: d.len },
        })
    }
}

/// Logs every live task, its kernel port and its threads (the
/// `host_tasks_dump` call).
fn dump_tasks(ipc: &mach_core::ipc::Ipc, pagers: &pager::Pagers) {
    let tasks = crate::kern::task::all();
    for t in &tasks {
        let threads = t.threads_now();
        log::info!(
            "task {} '{}' created by {} terminated {} threads {} port {:#x}",
            t.id,
            t.name,
            t.parent.load(Ordering::Relaxed),
            t.is_terminated(),
            threads.len(),
            t.port.load(Ordering::Relaxed),
        );
        let port = t.port.load(Ordering::Relaxed);
        let exc: alloc::vec::Vec<u64> = tasks
            .iter()
            .filter(|o| o.exception_port.load(Ordering::Relaxed) == port)
            .map(|o| o.id)
            .collect();
        log::info!(
            "  {}; kernel: {}, exception port of {exc:?}",
            ipc.describe_port(port),
            pagers.describe(port)
        );
        for th in threads {
            log::info!("  {}", th.describe());
        }
    }
}
