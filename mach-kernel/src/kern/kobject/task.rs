//! The task port's server: the `task` subsystem here, `mach_port` on the
//! task's IPC space in [`super::mach_port`] and `vm` on its map in
//! [`super::vm`] (one server, three subsystems, as in Mach).

use super::{Ctx, delegate_release};
use crate::kern::lifecycle;
use crate::kern::task::{self, Task, TaskExit};
use crate::kern::vm;
use crate::kern::{pager, sched};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;
use mach_abi::emulation::EMULATION_VECTOR_MAX;
use mach_abi::kern_return::*;
use mach_abi::layout::USER_END;
use mach_core::ipc::{PortRef, RightKind, SpaceId};
use mach_interfaces::task::{TaskGetEmulationVectorReply, TaskServer};
use mach_interfaces::{Dispatch, OolArray, PolyPort};

/// A task port's server: `space` is the task's id (and its IPC space's).
pub struct TaskPortServer<'a, 'b> {
    pub ctx: &'a mut Ctx<'b>,
    pub space: SpaceId,
}

delegate_release!(TaskPortServer);

impl TaskPortServer<'_, '_> {
    pub fn task(&self) -> Result<Arc<Task>, i32> {
        task::lookup(self.space).ok_or(KERN_INVALID_TASK)
    }
}

/// Serves a request on the port of task `id`, trying the three subsystems.
pub fn serve(ctx: &mut Ctx<'_>, id: SpaceId, image: &[u8], reply: &mut [u8]) -> Dispatch {
    let mut s = TaskPortServer { ctx, space: id };
    let d = match mach_interfaces::mach_port::mach_port_server(&mut s, image, reply) {
        Dispatch::BadId(_) => match mach_interfaces::vm::vm_server(&mut s, image, reply) {
            Dispatch::BadId(_) => mach_interfaces::task::task_server(&mut s, image, reply),
            d => d,
        },
        d => d,
    };
    d
}

impl TaskServer for TaskPortServer<'_, '_> {
    fn task_set_exception_port(&mut self, _task: u32, port: PolyPort) -> Result<(), i32> {
        let task = self.task()?;
        let right = self.ctx.req.peek_right(port.name).ok_or(KERN_INVALID_CAPABILITY)?;
        let new = match right.port {
            PortRef::Null | PortRef::Dead => 0,
            // The kernel cannot answer exception_raise (and a task that is
            // its own exception port would keep itself alive).
            PortRef::Port(p) if self.ctx.ipc.is_kernel_port(p) => return Err(KERN_INVALID_ARGUMENT),
            PortRef::Port(_) if right.kind == RightKind::Send => {
                self.ctx.ipc.kernel_hold_send(right).ok_or(KERN_INVALID_CAPABILITY)?
            }
            PortRef::Port(_) => return Err(KERN_INVALID_CAPABILITY),
        };
        self.ctx.req.take_right(port.name);
        if right.port == PortRef::Dead {
            self.ctx.ipc.release_right(right);
        }
        let old = task.exception_port.swap(new, Ordering::AcqRel);
        if old != 0 {
            self.ctx.ipc.kernel_release_send(old);
        }
        Ok(())
    }
    fn task_create(&mut self, _parent: u32, inherit_memory: u32) -> Result<u32, i32> {
        let parent = self.task()?;
        if task::task_count() >= task::MAX_TASKS || task::children_of(parent.id) >= task::MAX_CHILDREN_PER_TASK {
            return Err(KERN_RESOURCE_SHORTAGE);
        }
        let space = crate::arch::paging::AddressSpace::new().map_err(|_| KERN_RESOURCE_SHORTAGE)?;
        // "NAME-child" once: a child's child keeps its parent's name, so
        // names do not grow with the depth of creation.
        let name = if parent.name.ends_with("-child") {
            parent.name.clone()
        } else {
            alloc::format!("{}-child", parent.name)
        };
        let child = lifecycle::create_task(self.ctx.ipc, name, space, None);
        child.parent.store(parent.id, Ordering::Relaxed);
        if inherit_memory != 0 {
            if let Err(e) = vm::fork(&parent, &child) {
                lifecycle::terminate_task(self.ctx.ipc, self.ctx.pagers, &child, TaskExit::Terminated);
                return Err(e);
            }
            // The emulation library came along with the memory: so does its vector.
            *child.emulation.lock() = parent.emulation.lock().clone();
        }
        let port = child.port.load(Ordering::Relaxed);
        let Some(right) = self.ctx.ipc.make_send_right(port) else {
            lifecycle::terminate_task(self.ctx.ipc, self.ctx.pagers, &child, TaskExit::Terminated);
            return Err(KERN_RESOURCE_SHORTAGE);
        };
        Ok(self.ctx.out.right(right))
    }
    fn task_ipc_statistics(&mut self, _task: u32) -> Result<mach_interfaces::task::TaskIpcStatisticsReply, i32> {
        let t = self.task()?;
        let [rpc_fast, handoff, general] = t.ipc_counts.each_ref().map(|c| c.load(Ordering::Relaxed));
        Ok(mach_interfaces::task::TaskIpcStatisticsReply {
            rpc_fast,
            handoff,
            general,
        })
    }
    fn task_set_emulation_vector(&mut self, _task: u32, start: i32, vector: OolArray) -> Result<(), i32> {
        let task = self.task()?;
        // Bounded before the data is taken in: no longer than the whole vector.
        if vector.count > EMULATION_VECTOR_MAX as u32 + 1 {
            return Err(KERN_INVALID_ARGUMENT);
        }
        let bytes = self.ctx.take_ool_bytes(vector.address);
        if bytes.len() != vector.count as usize * 8 {
            return Err(KERN_INVALID_ARGUMENT);
        }
        let entries: Vec<u64> = bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect();
        let r = task.emulation.lock().set(start, &entries, USER_END);
        r.map_err(|_| KERN_INVALID_ARGUMENT)
    }
    fn task_get_emulation_vector(&mut self, _task: u32) -> Result<TaskGetEmulationVectorReply, i32> {
        let task = self.task()?;
        let (start, entries) = task.emulation.lock().get();
        let count = entries.len() as u32;
        let bytes: Vec<u8> = entries.iter().flat_map(|e| e.to_le_bytes()).collect();
        let address = self.ctx.out.ool(bytes);
        Ok(TaskGetEmulationVectorReply {
            vector_start: start,
            emulation_vector: OolArray { address, count },
        })
    }
    fn task_terminate(&mut self, _task: u32) -> Result<(), i32> {
        let task = self.task()?;
        lifecycle::terminate_task(self.ctx.ipc, self.ctx.pagers, &task, TaskExit::Terminated);
        Ok(())
    }
    fn thread_create_running(&mut self, _task: u32, entry: u64, stack: u64, arg: u64) -> Result<u32, i32> {
        let task = self.task()?;
        let thread = lifecycle::create_thread(&task, entry, stack, arg)?;
        let port = crate::kern::ipc::thread_port(self.ctx.ipc, &thread);
        let Some(right) = self.ctx.ipc.make_send_right(port) else {
            lifecycle::terminate_thread(self.ctx.ipc, self.ctx.pagers, &thread);
            return Err(KERN_RESOURCE_SHORTAGE);
        };
        sched::make_runnable(thread);
        Ok(self.ctx.out.right(right))
    }
}

/// The last send right to task `id`'s port went (the kernel's own
/// no-senders request): a task with no threads is destroyed, since nobody
/// could give it one; one with threads runs on, and the request is renewed.
pub fn no_senders(ipc: &mut mach_core::ipc::Ipc, pagers: &mut crate::kern::pager::Pagers, id: SpaceId) {
    let Some(task) = task::lookup(id) else { return };
    if task.has_threads() {
        ipc.kernel_request_no_senders(task.port.load(Ordering::Relaxed));
    } else {
        lifecycle::terminate_task(ipc, pagers, &task, TaskExit::Terminated);
    }
}

/// Tells the pagers of objects a call ended.
pub(super) fn pagers_gone(ctx: &mut Ctx<'_>, gone: vm::PagersGone) {
    pager::objects_gone(ctx.ipc, ctx.pagers, gone);
}
