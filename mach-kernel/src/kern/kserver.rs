//! In-kernel servers: messages sent to task, thread and host ports are
//! handled here, synchronously, in the sender's context, the way Mach's
//! `ipc_kobject_server` does it. Decoding, the reply layout and the ownership
//! rule come from the generated code in `mach-interfaces`; this module only
//! implements the calls.
//!
//! A task port serves the `mach_port` subsystem on that task's IPC space (so
//! whoever holds a task's port can manage its names); the host port serves
//! the `host` subsystem; the device master port and device ports serve the
//! `device` subsystem (implemented in `kern::device`).

use alloc::vec::Vec;
use mach_abi::kern_return::*;
use mach_abi::message::*;
use mach_core::ipc::kimage::{KernelReplyParts, KernelRequest};
use mach_core::ipc::kmsg::KMsg;
use mach_core::ipc::{Ipc, KObject, KRight, PortRef, RightKind, SpaceId};
use mach_core::vm::{VmError, VmInherit, VmProt};
use mach_interfaces::host::{self, HostInfoBasicReply, HostIpcAuditReply, HostServer, HostVmStatisticsReply};
use mach_interfaces::mach_port::{self, MachPortNamesReply, MachPortServer};
use mach_interfaces::task::{self, TaskServer};
use mach_interfaces::thread::{ThreadGetStateReply, ThreadServer};
use mach_interfaces::vm::{self, TaskFaultCountsReply, VmObjectChainReply, VmRegionReply, VmServer};
use mach_interfaces::{Dispatch, OolArray, PolyPort, Release};

/// Largest reply any kernel subsystem produces, plus room.
const REPLY_MAX: usize = 512;

/// What a server works with: the IPC state, the request's rights and
/// memory, and what it puts in its reply.
pub(super) struct Ctx<'a> {
    pub(super) ipc: &'a mut Ipc,
    /// The request's reply right, held aside until the reply goes out.
    pub(super) reply: KRight,
    pub(super) req: KernelRequest,
    pub(super) out: KernelReplyParts,
}

impl Release for Ctx<'_> {
    fn release_port(&mut self, name: u32, _received_type: u8) {
        if let Some(r) = self.req.take_right(name) {
            self.ipc.release_right(r);
        }
    }
    fn release_ool(&mut self, address: u64, _size: u64) {
        let _ = self.req.take_ool(address);
    }
    fn release_ool_ports(&mut self, address: u64, _count: u32, _received_type: u8) {
        for r in self.req.take_ool_ports(address).unwrap_or_default() {
            self.ipc.release_right(r);
        }
    }
}

/// Servers give back what they do not keep through their context.
macro_rules! delegate_release {
    ($server:ident) => {
        impl Release for $server<'_> {
            fn release_port(&mut self, name: u32, t: u8) {
                self.ctx.release_port(name, t)
            }
            fn release_ool(&mut self, address: u64, size: u64) {
                self.ctx.release_ool(address, size)
            }
            fn release_ool_ports(&mut self, address: u64, count: u32, t: u8) {
                self.ctx.release_ool_ports(address, count, t)
            }
        }
    };
}
pub(super) use delegate_release;

/// A task port's server: port management in that task's space.
struct TaskPortServer<'a> {
    ctx: Ctx<'a>,
    space: SpaceId,
}

delegate_release!(TaskPortServer);

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

impl MachPortServer for TaskPortServer<'_> {
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

impl TaskPortServer<'_> {
    fn task(&self) -> Result<alloc::sync::Arc<super::task::Task>, i32> {
        super::task::lookup(self.space).ok_or(KERN_INVALID_TASK)
    }
}

impl VmServer for TaskPortServer<'_> {
    fn vm_allocate(&mut self, _task: u32, address: u64, size: u64, anywhere: u32) -> Result<u64, i32> {
        super::vm::allocate(&*self.task()?, address, size, anywhere != 0)
    }
    fn vm_deallocate(&mut self, _task: u32, address: u64, size: u64) -> Result<(), i32> {
        super::vm::deallocate(&*self.task()?, address, size)
    }
    fn vm_protect(&mut self, _task: u32, address: u64, size: u64, set_maximum: u32, prot: u32) -> Result<(), i32> {
        super::vm::protect(&*self.task()?, address, size, set_maximum != 0, prot)
    }
    fn vm_inherit(&mut self, _task: u32, address: u64, size: u64, inheritance: u32) -> Result<(), i32> {
        super::vm::inherit(&*self.task()?, address, size, inheritance)
    }
    fn vm_region(&mut self, _task: u32, address: u64) -> Result<VmRegionReply, i32> {
        let r = super::vm::region(&*self.task()?, address).ok_or(KERN_INVALID_ADDRESS)?;
        Ok(VmRegionReply {
            start: r.start,
            size: r.end - r.start,
            protection: r.protection.bits(),
            max_protection: r.max_protection.bits(),
            inheritance: r.inheritance.raw(),
        })
    }
    #[allow(clippy::too_many_arguments)]
    fn vm_map(
        &mut self,
        _task: u32,
        address: u64,
        size: u64,
        anywhere: u32,
        object: u32,
        offset: u64,
        copy: u32,
        protection: u32,
        max_protection: u32,
        inheritance: u32,
    ) -> Result<u64, i32> {
        let task = self.task()?;
        let prot = VmProt::from_bits(protection).ok_or(KERN_INVALID_ARGUMENT)?;
        let max = VmProt::from_bits(max_protection).ok_or(KERN_INVALID_ARGUMENT)?;
        let inherit = VmInherit::from_raw(inheritance).ok_or(KERN_INVALID_ARGUMENT)?;
        let right = self.ctx.req.peek_right(object).ok_or(KERN_INVALID_CAPABILITY)?;
        let at = super::pager::map(
            self.ctx.ipc,
            &task,
            address,
            size,
            anywhere != 0,
            right,
            offset,
            copy != 0,
            prot,
            max,
            inherit,
        )?;
        self.ctx.req.take_right(object);
        Ok(at)
    }
    fn vm_read(&mut self, _task: u32, address: u64, size: u64) -> Result<OolArray, i32> {
        // The reply's count is 32 bits: check before a copy exists to leak.
        let count = u32::try_from(size).map_err(|_| KERN_INVALID_ARGUMENT)?;
        let copy = super::vm_copy::read(&*self.task()?, address, size)?;
        Ok(OolArray {
            address: self.ctx.out.ool_copy(copy),
            count,
        })
    }
    fn vm_write(&mut self, _task: u32, address: u64, data: OolArray) -> Result<(), i32> {
        let bytes = self.ctx.req.take_ool(data.address).unwrap_or_default();
        super::vm_copy::write(&*self.task()?, address, &bytes)
    }
    fn vm_copy(&mut self, _task: u32, source: u64, size: u64, dest: u64) -> Result<(), i32> {
        super::vm_copy::copy(&*self.task()?, source, size, dest)
    }
    fn vm_wire(&mut self, _task: u32, address: u64, size: u64, access: u32) -> Result<(), i32> {
        super::vm::wire(&*self.task()?, address, size, access)
    }
    fn vm_msync(&mut self, _task: u32, address: u64, size: u64, flags: u32) -> Result<(), i32> {
        const ASYNC: u32 = 1;
        const SYNC: u32 = 2;
        const INVALIDATE: u32 = 4;
        if flags & !(ASYNC | SYNC | INVALIDATE) != 0 || flags & (ASYNC | SYNC) == ASYNC | SYNC {
            return Err(KERN_INVALID_ARGUMENT);
        }
        let task = self.task()?;
        let mut io = super::pageout::Locked(self.ctx.ipc);
        super::pageout::msync(&mut io, &task, address, size, flags & INVALIDATE != 0).map_err(|e| match e {
            VmError::MemoryFailure => KERN_FAILURE,
            e => e.kr(),
        })
    }
    fn vm_object_chain(&mut self, _task: u32, address: u64) -> Result<VmObjectChainReply, i32> {
        let (depth, resident_pages) = super::vm::chain_info(&*self.task()?, address).ok_or(KERN_INVALID_ADDRESS)?;
        Ok(VmObjectChainReply { depth, resident_pages })
    }
    fn task_fault_counts(&mut self, _task: u32) -> Result<TaskFaultCountsReply, i32> {
        let s = self.task()?.vm.lock().stats;
        Ok(TaskFaultCountsReply {
            zero_fill: s.zero_fill,
            cow_copy: s.cow_copy,
            pager_request: s.pager_request,
            soft: s.soft,
            default_pagein: s.default_pagein,
            pageout: s.pageout,
            reactivation: s.reactivation,
        })
    }
}

impl TaskServer for TaskPortServer<'_> {
    fn task_set_exception_port(&mut self, _task: u32, port: PolyPort) -> Result<(), i32> {
        let task = self.task()?;
        let right = self.ctx.req.peek_right(port.name).ok_or(KERN_INVALID_CAPABILITY)?;
        let new = match right.port {
            PortRef::Null | PortRef::Dead => 0,
            PortRef::Port(_) if right.kind == RightKind::Send => {
                self.ctx.ipc.kernel_hold_send(right).ok_or(KERN_INVALID_CAPABILITY)?
            }
            PortRef::Port(_) => return Err(KERN_INVALID_CAPABILITY),
        };
        self.ctx.req.take_right(port.name);
        if right.port == PortRef::Dead {
            self.ctx.ipc.release_right(right);
        }
        let old = task.exception_port.swap(new, core::sync::atomic::Ordering::AcqRel);
        if old != 0 {
            self.ctx.ipc.kernel_release_send(old);
        }
        Ok(())
    }
    fn task_create(&mut self, _parent: u32, inherit_memory: u32) -> Result<u32, i32> {
        let parent = self.task()?;
        let space = crate::arch::paging::AddressSpace::new().map_err(|_| KERN_RESOURCE_SHORTAGE)?;
        let name = alloc::format!("{}-child", parent.name);
        let child = super::task::Task::create_in(self.ctx.ipc, name, space);
        if inherit_memory != 0
            && let Err(e) = super::vm::fork(&parent, &child)
        {
            super::ipc::terminate_later(child);
            return Err(e);
        }
        let port = child.port.load(core::sync::atomic::Ordering::Relaxed);
        let right = self.ctx.ipc.make_send_right(port).ok_or(KERN_RESOURCE_SHORTAGE)?;
        Ok(self.ctx.out.right(right))
    }
    fn task_terminate(&mut self, _task: u32) -> Result<(), i32> {
        super::ipc::terminate_later(self.task()?);
        Ok(())
    }
    fn thread_create_running(&mut self, _task: u32, entry: u64, stack: u64, arg: u64) -> Result<u32, i32> {
        if entry >= mach_abi::layout::USER_END || stack > mach_abi::layout::USER_END {
            return Err(KERN_INVALID_ADDRESS);
        }
        let task = self.task()?;
        let frame = crate::arch::trapframe::TrapFrame::new_user(entry, stack, arg);
        let thread = super::thread::Thread::new_user(task.clone(), &frame).map_err(|_| KERN_RESOURCE_SHORTAGE)?;
        let port = self.ctx.ipc.kobject_port_create(KObject::Thread(thread.id));
        thread.port.store(port, core::sync::atomic::Ordering::Relaxed);
        task.add_thread(thread.clone()).map_err(|_| {
            self.ctx.ipc.kobject_port_destroy(port);
            KERN_RESOURCE_SHORTAGE
        })?;
        let right = self.ctx.ipc.make_send_right(port).ok_or(KERN_RESOURCE_SHORTAGE)?;
        super::sched::make_runnable(thread);
        Ok(self.ctx.out.right(right))
    }
}

/// A thread port's server.
struct ThreadPortServer<'a> {
    ctx: Ctx<'a>,
    thread: u64,
}

delegate_release!(ThreadPortServer);

impl ThreadPortServer<'_> {
    fn thread(&self) -> Result<alloc::sync::Arc<super::thread::Thread>, i32> {
        super::task::find_thread(self.thread).ok_or(KERN_INVALID_ARGUMENT)
    }

    /// A thread whose registers may be read or written: not the caller.
    fn stopped(&self) -> Result<alloc::sync::Arc<super::thread::Thread>, i32> {
        let t = self.thread()?;
        if alloc::sync::Arc::ptr_eq(&t, &super::sched::current()) {
            return Err(KERN_INVALID_ARGUMENT);
        }
        Ok(t)
    }
}

impl ThreadServer for ThreadPortServer<'_> {
    fn thread_terminate(&mut self, _t: u32) -> Result<(), i32> {
        let t = self.thread()?;
        super::ipc::defer(super::ipc::Deferred::TerminateThread(t));
        Ok(())
    }
    fn thread_get_state(&mut self, _t: u32) -> Result<ThreadGetStateReply, i32> {
        let f = self.stopped()?.user_state().ok_or(KERN_INVALID_ARGUMENT)?;
        Ok(ThreadGetStateReply {
            rip: f.rip,
            rsp: f.rsp,
            rflags: f.rflags,
            rax: f.rax,
            rbx: f.rbx,
            rcx: f.rcx,
            rdx: f.rdx,
            rsi: f.rsi,
            rdi: f.rdi,
            rbp: f.rbp,
            r8: f.r8,
            r9: f.r9,
            r10: f.r10,
            r11: f.r11,
            r12: f.r12,
            r13: f.r13,
            r14: f.r14,
            r15: f.r15,
        })
    }
    #[allow(clippy::too_many_arguments)]
    fn thread_set_state(
        &mut self,
        _t: u32,
        rip: u64,
        rsp: u64,
        rflags: u64,
        rax: u64,
        rbx: u64,
        rcx: u64,
        rdx: u64,
        rsi: u64,
        rdi: u64,
        rbp: u64,
        r8: u64,
        r9: u64,
        r10: u64,
        r11: u64,
        r12: u64,
        r13: u64,
        r14: u64,
        r15: u64,
    ) -> Result<(), i32> {
        if rip >= mach_abi::layout::USER_END || rsp > mach_abi::layout::USER_END {
            return Err(KERN_INVALID_ADDRESS);
        }
        let t = self.stopped()?;
        let mut f = t.user_state().ok_or(KERN_INVALID_ARGUMENT)?;
        // Only the arithmetic flags, direction and trap flag are the user's.
        const USER_FLAGS: u64 = 0xcd5 | (1 << 8) | (1 << 10) | (1 << 11);
        (f.rip, f.rsp, f.rflags) = (rip, rsp, (rflags & USER_FLAGS) | crate::arch::trapframe::RFLAGS_IF | 2);
        (f.rax, f.rbx, f.rcx, f.rdx, f.rsi, f.rdi, f.rbp) = (rax, rbx, rcx, rdx, rsi, rdi, rbp);
        (f.r8, f.r9, f.r10, f.r11, f.r12, f.r13, f.r14, f.r15) = (r8, r9, r10, r11, r12, r13, r14, r15);
        if t.set_user_state(&f) {
            Ok(())
        } else {
            Err(KERN_INVALID_ARGUMENT)
        }
    }
    fn thread_suspend(&mut self, _t: u32) -> Result<(), i32> {
        self.thread()?.suspend().map_err(|_| KERN_FAILURE)
    }
    fn thread_resume(&mut self, _t: u32) -> Result<(), i32> {
        let t = self.thread()?;
        match t.resume() {
            Ok(true) => {
                super::sched::make_runnable(t);
                Ok(())
            }
            Ok(false) => Ok(()),
            Err(()) => Err(KERN_FAILURE),
        }
    }
}

/// The host port's server.
struct HostPortServer<'a> {
    ctx: Ctx<'a>,
}

delegate_release!(HostPortServer);

impl HostServer for HostPortServer<'_> {
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
        let (objects, resident_pages, max_chain_depth) = super::vm::object_stats();
        let f = super::vm::global_stats();
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
        let n = super::pageout::reclaim_with(pages as usize, &mut super::pageout::Locked(self.ctx.ipc));
        Ok(n as u32)
    }
    fn vm_set_default_memory_manager(&mut self, _host: u32, manager: u32) -> Result<(), i32> {
        let right = self.ctx.req.peek_right(manager).ok_or(KERN_INVALID_CAPABILITY)?;
        super::pager::set_default_pager(self.ctx.ipc, self.ctx.req.sender, right)?;
        let _ = self.ctx.req.take_right(manager);
        Ok(())
    }
    fn host_get_io_master(&mut self, _host: u32) -> Result<u32, i32> {
        let right = super::device::master_send_right(self.ctx.ipc).ok_or(KERN_RESOURCE_SHORTAGE)?;
        Ok(self.ctx.out.right(right))
    }
}

/// Serves one message addressed to a kernel object and sends the reply.
pub fn serve(ipc: &mut Ipc, obj: KObject, kmsg: KMsg) {
    if let KObject::ExceptionReply(thread) = obj {
        return super::exception::reply_arrived(ipc, thread, kmsg);
    }
    if let KObject::MemoryControl(object) = obj {
        return super::pager::control_message(ipc, object, kmsg);
    }
    let mut req = ipc.kernel_request(kmsg);
    let image = core::mem::take(&mut req.image);
    let reply_right = core::mem::replace(&mut req.reply, KRight::NULL);
    let mut reply = [0u8; REPLY_MAX];
    let ctx = Ctx {
        ipc,
        reply: reply_right,
        req,
        out: KernelReplyParts::default(),
    };
    let (dispatch, ctx) = match obj {
        KObject::Task(id) => {
            let mut s = TaskPortServer { ctx, space: id };
            let d = match mach_port::mach_port_server(&mut s, &image, &mut reply) {
                Dispatch::BadId(_) => match vm::vm_server(&mut s, &image, &mut reply) {
                    Dispatch::BadId(_) => task::task_server(&mut s, &image, &mut reply),
                    d => d,
                },
                d => d,
            };
            (d, s.ctx)
        }
        KObject::Host => {
            let mut s = HostPortServer { ctx };
            let d = host::host_server(&mut s, &image, &mut reply);
            (d, s.ctx)
        }
        KObject::DeviceMaster | KObject::Device(_) => {
            let mut s = super::device::DevicePortServer { ctx, obj };
            let d = mach_interfaces::device::device_server(&mut s, &image, &mut reply);
            (d, s.ctx)
        }
        // Handled before the request is taken apart (see the top of `serve`).
        KObject::ExceptionReply(_) | KObject::MemoryControl(_) => (Dispatch::NoReply, ctx),
        KObject::Thread(thread) => {
            let mut s = ThreadPortServer { ctx, thread };
            let d = mach_interfaces::thread::thread_server(&mut s, &image, &mut reply);
            (d, s.ctx)
        }
    };
    let Ctx { ipc, req, out, .. } = ctx;
    // Whatever the server did not keep goes back (BadId: the whole request).
    ipc.kernel_request_done(req);
    match dispatch {
        Dispatch::Reply(n) | Dispatch::BadId(n) if n > 0 => ipc.kernel_reply(reply_right, &reply[..n], out),
        _ => ipc.release_right(reply_right),
    }
}
