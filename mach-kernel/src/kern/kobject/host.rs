//! The host port's server: host information, the IPC audit, VM
//! statistics and page-out, the default memory manager, the device master port.

use super::{Ctx, delegate_release};
use crate::kern::pager::{self, PagerIo};
use crate::kern::vm::{self, pageout};
use core::sync::atomic::Ordering;
use mach_abi::kern_return::*;
use mach_interfaces::Dispatch;
use mach_interfaces::host::{HostInfoBasicReply, HostIpcAuditReply, HostServer, HostVmStatisticsReply};

/// Serves a request on the host port.
pub fn serve(ctx: &mut Ctx<'_>, image: &[u8], reply: &mut [u8]) -> Dispatch {
    let mut s = HostPortServer { ctx };
    let d = mach_interfaces::host::host_server(&mut s, image, reply);
    d
}

/// The host port's server.
struct HostPortServer<'a, 'b> {
    ctx: &'a mut Ctx<'b>,
}

delegate_release!(HostPortServer);

impl HostServer for HostPortServer<'_, '_> {
    fn host_ipc_audit(&mut self, _host: u32) -> Result<HostIpcAuditReply, i32> {
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
    fn host_info_basic(&mut self, _host: u32) -> Result<HostInfoBasicReply, i32> {
        Ok(HostInfoBasicReply {
            max_cpus: 1,
            avail_cpus: 1,
            memory_frames: crate::mem::usable_frames() as u64,
        })
    }
    fn host_vm_statistics(&mut self, _host: u32) -> Result<HostVmStatisticsReply, i32> {
        let (objects, resident_pages, max_chain_depth) = vm::object_stats();
        let f = vm::global_stats();
        Ok(HostVmStatisticsReply {
            free_frames: crate::mem::free_frames() as u64,
            objects,
            resident_pages,
            max_chain_depth,
            faults: f.faults,
            zero_fill: f.zero_fill,
            cow_copy: f.cow_copy,
            pager_request: f.pager_request,
            soft: f.soft,
            pageouts: f.pageout,
            default_pageins: f.default_pagein,
            reactivations: f.reactivation,
        })
    }
    fn host_vm_pageout(&mut self, _host: u32, pages: u32) -> Result<u32, i32> {
        let mut io = PagerIo {
            ipc: self.ctx.ipc,
            pagers: self.ctx.pagers,
        };
        let n = pageout::reclaim(pages as usize, &mut io);
        Ok(n as u32)
    }
    fn vm_set_default_memory_manager(&mut self, _host: u32, manager: u32) -> Result<(), i32> {
        let right = self.ctx.req.peek_right(manager).ok_or(KERN_INVALID_CAPABILITY)?;
        pager::set_default_pager(self.ctx.ipc, self.ctx.pagers, self.ctx.req.sender, right)?;
        let _ = self.ctx.req.take_right(manager);
        Ok(())
    }
    fn host_tasks_dump(&mut self, _host: u32) -> Result<(), i32> {
        dump_tasks(self.ctx.ipc, self.ctx.pagers);
        Ok(())
    }
    fn host_get_io_master(&mut self, _host: u32) -> Result<u32, i32> {
        let right = crate::kern::device::master_send_right(self.ctx.ipc).ok_or(KERN_RESOURCE_SHORTAGE)?;
        Ok(self.ctx.out.right(right))
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
