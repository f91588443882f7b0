//! The `vm` subsystem on a task port: the task's address map (`kern::vm`),
//! memory objects (`kern::pager`), virtual copies and page-out.

use super::task::{TaskPortServer, pagers_gone};
use crate::kern::pager::{self, PagerIo};
use crate::kern::vm::{self, pageout};
use mach_abi::kern_return::*;
use mach_core::vm::{VmError, VmInherit, VmProt};
use mach_interfaces::OolArray;
use mach_interfaces::vm::{TaskFaultCountsReply, VmObjectChainReply, VmRegionReply, VmServer};

impl VmServer for TaskPortServer<'_, '_> {
    fn vm_allocate(&mut self, _task: u32, address: u64, size: u64, anywhere: u32) -> Result<u64, i32> {
        vm::allocate(&*self.task()?, address, size, anywhere != 0)
    }
    fn vm_deallocate(&mut self, _task: u32, address: u64, size: u64) -> Result<(), i32> {
        let gone = vm::deallocate(&*self.task()?, address, size)?;
        pagers_gone(self.ctx, gone);
        Ok(())
    }
    fn vm_protect(&mut self, _task: u32, address: u64, size: u64, set_maximum: u32, prot: u32) -> Result<(), i32> {
        vm::protect(&*self.task()?, address, size, set_maximum != 0, prot)
    }
    fn vm_inherit(&mut self, _task: u32, address: u64, size: u64, inheritance: u32) -> Result<(), i32> {
        vm::inherit(&*self.task()?, address, size, inheritance)
    }
    fn vm_region(&mut self, _task: u32, address: u64) -> Result<VmRegionReply, i32> {
        let r = vm::region(&*self.task()?, address).ok_or(KERN_INVALID_ADDRESS)?;
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
        let at = pager::map(
            self.ctx.ipc,
            self.ctx.pagers,
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
        let copy = vm::copy::read(&*self.task()?, address, size)?;
        Ok(OolArray {
            address: self.ctx.out.ool_copy(copy),
            count,
        })
    }
    fn vm_write(&mut self, _task: u32, address: u64, data: OolArray) -> Result<(), i32> {
        let bytes = self.ctx.take_ool_bytes(data.address);
        let gone = vm::copy::write(&*self.task()?, address, &bytes)?;
        pagers_gone(self.ctx, gone);
        Ok(())
    }
    fn vm_copy(&mut self, _task: u32, source: u64, size: u64, dest: u64) -> Result<(), i32> {
        let gone = vm::copy::copy(&*self.task()?, source, size, dest)?;
        pagers_gone(self.ctx, gone);
        Ok(())
    }
    fn vm_wire(&mut self, _task: u32, address: u64, size: u64, access: u32) -> Result<(), i32> {
        vm::wire(&*self.task()?, address, size, access)
    }
    fn vm_msync(&mut self, _task: u32, address: u64, size: u64, flags: u32) -> Result<(), i32> {
        const ASYNC: u32 = 1;
        const SYNC: u32 = 2;
        const INVALIDATE: u32 = 4;
        if flags & !(ASYNC | SYNC | INVALIDATE) != 0 || flags & (ASYNC | SYNC) == ASYNC | SYNC {
            return Err(KERN_INVALID_ARGUMENT);
        }
        let task = self.task()?;
        let mut io = PagerIo {
            ipc: self.ctx.ipc,
            pagers: self.ctx.pagers,
        };
        pageout::msync(&mut io, &task, address, size, flags & INVALIDATE != 0).map_err(|e| match e {
            VmError::MemoryFailure => KERN_FAILURE,
            e => e.kr(),
        })
    }
    fn vm_object_chain(&mut self, _task: u32, address: u64) -> Result<VmObjectChainReply, i32> {
        let (depth, resident_pages) = vm::chain_info(&*self.task()?, address).ok_or(KERN_INVALID_ADDRESS)?;
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
