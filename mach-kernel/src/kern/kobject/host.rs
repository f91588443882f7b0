//! The host ports' server. Both ports are served here: the host name port
//! (`KObject::Host`, what `mach_host_self()` names) and the privileged host
//! port (`KObject::HostPriv`, given only to boot tasks). Each tries the
//! `host` subsystem first (harmless information, served on both ports, as
//! Mach's host_priv port works wherever a host port does), then
//! `host_priv` ([`super::host_priv`]), whose routines fail with
//! `KERN_INVALID_HOST` unless they came on the privileged port.

use super::{Ctx, delegate_release};
use crate::kern::vm;
use mach_interfaces::Dispatch;
use mach_interfaces::host::{HostInfoBasicReply, HostServer, HostVmStatisticsReply};

/// Serves a request on a host port; `privileged` for the host_priv port.
pub fn serve(ctx: &mut Ctx<'_>, privileged: bool, image: &[u8], reply: &mut [u8]) -> Dispatch {
    let mut s = HostPortServer { ctx, privileged };
    match mach_interfaces::host::host_server(&mut s, image, reply) {
        Dispatch::BadId(_) => mach_interfaces::host_priv::host_priv_server(&mut s, image, reply),
        d => d,
    }
}

/// A host port's server.
pub(super) struct HostPortServer<'a, 'b> {
    pub(super) ctx: &'a mut Ctx<'b>,
    /// The request came on the host_priv port.
    pub(super) privileged: bool,
}

delegate_release!(HostPortServer);

impl HostServer for HostPortServer<'_, '_> {
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
}
