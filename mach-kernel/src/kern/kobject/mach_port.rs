//! The `mach_port` subsystem on a task port: port management in the
//! task's IPC space (the calls themselves are `mach_core::ipc`'s).

use super::task::TaskPortServer;
use alloc::vec::Vec;
use mach_abi::kern_return::*;
use mach_abi::message::*;
use mach_core::ipc::{PortRef, RightKind};
use mach_interfaces::mach_port::{MachPortNamesReply, MachPortServer};
use mach_interfaces::{OolArray, PolyPort};

fn words(v: &[u32]) -> Vec<u8> {
    v.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// The disposition that moves a right of this kind.
fn move_disposition(kind: RightKind) -> u8 {
    match kind {
        RightKind::Send => MACH_MSG_TYPE_MOVE_SEND,
        RightKind::SendOnce => MACH_MSG_TYPE_MOVE_SEND_ONCE,
        RightKind::Receive => MACH_MSG_TYPE_MOVE_RECEIVE,
    }
}

impl MachPortServer for TaskPortServer<'_, '_> {
    fn mach_port_names(&mut self, _task: u32) -> Result<MachPortNamesReply, i32> {
        let list = self.ctx.ipc.port_names(self.space)?;
        let names: Vec<u32> = list.iter().map(|&(n, _)| n).collect();
        let types: Vec<u32> = list.iter().map(|&(_, t)| t).collect();
        let count = names.len() as u32;
        let names = self.ctx.out.ool(words(&names));
        let types = self.ctx.out.ool(words(&types));
        Ok(MachPortNamesReply {
            names: OolArray { address: names, count },
            types: OolArray { address: types, count },
        })
    }
    fn mach_port_type(&mut self, _task: u32, name: u32) -> Result<u32, i32> {
        self.ctx.ipc.port_type(self.space, name)
    }
    fn mach_port_allocate_name(&mut self, _task: u32, right: u32, name: u32) -> Result<(), i32> {
        self.ctx.ipc.port_allocate_name(self.space, right, name)
    }
    fn mach_port_allocate(&mut self, _task: u32, right: u32) -> Result<u32, i32> {
        self.ctx.ipc.port_allocate(self.space, right)
    }
    fn mach_port_destroy(&mut self, _task: u32, name: u32) -> Result<(), i32> {
        self.ctx.ipc.port_destroy(self.space, name)
    }
    fn mach_port_deallocate(&mut self, _task: u32, name: u32) -> Result<(), i32> {
        self.ctx.ipc.port_deallocate(self.space, name)
    }
    fn mach_port_get_refs(&mut self, _task: u32, name: u32, right: u32) -> Result<u32, i32> {
        self.ctx.ipc.port_get_refs(self.space, name, right)
    }
    fn mach_port_mod_refs(&mut self, _task: u32, name: u32, right: u32, delta: i32) -> Result<(), i32> {
        self.ctx.ipc.port_mod_refs(self.space, name, right, delta)
    }
    fn mach_port_set_mscount(&mut self, _task: u32, name: u32, mscount: u32) -> Result<(), i32> {
        self.ctx.ipc.port_set_mscount(self.space, name, mscount)
    }
    fn mach_port_move_member(&mut self, _task: u32, member: u32, after: u32) -> Result<(), i32> {
        self.ctx.ipc.port_move_member(self.space, member, after)
    }
    fn mach_port_request_notification(
        &mut self,
        _task: u32,
        name: u32,
        msgid: i32,
        sync: u32,
        notify: PolyPort,
    ) -> Result<u32, i32> {
        let right = self.ctx.req.peek_right(notify.name).ok_or(KERN_INVALID_CAPABILITY)?;
        let previous = self
            .ctx
            .ipc
            .port_request_notification(self.space, name, msgid, sync, right)?;
        self.ctx.req.take_right(notify.name);
        Ok(self.ctx.out.right(previous))
    }
    fn mach_port_insert_right(&mut self, _task: u32, name: u32, poly: PolyPort) -> Result<(), i32> {
        let right = self.ctx.req.peek_right(poly.name).ok_or(KERN_INVALID_CAPABILITY)?;
        self.ctx.ipc.port_insert_right(self.space, name, right)?;
        self.ctx.req.take_right(poly.name);
        Ok(())
    }
    fn mach_port_extract_right(&mut self, _task: u32, name: u32, msgt_name: u32) -> Result<PolyPort, i32> {
        let right = self.ctx.ipc.port_extract_right(self.space, name, msgt_name)?;
        let disposition = if right.port == PortRef::Null {
            0
        } else {
            move_disposition(right.kind)
        };
        Ok(PolyPort {
            name: self.ctx.out.right(right),
            disposition,
        })
    }
    fn mach_port_set_qlimit(&mut self, _task: u32, name: u32, qlimit: u32) -> Result<(), i32> {
        self.ctx.ipc.port_set_qlimit(self.space, name, qlimit)
    }
    fn mach_port_get_qlimit(&mut self, _task: u32, name: u32) -> Result<u32, i32> {
        self.ctx.ipc.port_get_qlimit(self.space, name)
    }
}
