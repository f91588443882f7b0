//! The thread port's server: `thread_terminate`, register state (and the
//! thread-local storage bases), suspend and resume.

use super::{Ctx, delegate_release};
use crate::arch::switch::TlsBase;
use crate::kern::{lifecycle, sched, task, thread::Thread};
use alloc::sync::Arc;
use mach_abi::kern_return::*;
use mach_interfaces::Dispatch;
use mach_interfaces::thread::{ThreadGetStateReply, ThreadGetTlsStateReply, ThreadServer};

/// Serves a request on the port of thread `thread`.
pub fn serve(ctx: &mut Ctx<'_>, thread: u64, image: &[u8], reply: &mut [u8]) -> Dispatch {
    let mut s = ThreadPortServer { ctx, thread };
    let d = mach_interfaces::thread::thread_server(&mut s, image, reply);
    d
}

/// A thread port's server.
struct ThreadPortServer<'a, 'b> {
    ctx: &'a mut Ctx<'b>,
    thread: u64,
}

delegate_release!(ThreadPortServer);

impl ThreadPortServer<'_, '_> {
    fn thread(&self) -> Result<Arc<Thread>, i32> {
        task::find_thread(self.thread).ok_or(KERN_INVALID_ARGUMENT)
    }

    /// A thread whose registers may be read or written: not the caller.
    fn stopped(&self) -> Result<Arc<Thread>, i32> {
        let t = self.thread()?;
        if Arc::ptr_eq(&t, &sched::current()) {
            return Err(KERN_INVALID_ARGUMENT);
        }
        Ok(t)
    }
}

impl ThreadServer for ThreadPortServer<'_, '_> {
    fn thread_terminate(&mut self, _t: u32) -> Result<(), i32> {
        let t = self.thread()?;
        lifecycle::terminate_thread(self.ctx.ipc, self.ctx.pagers, &t);
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
    fn thread_get_tls_state(&mut self, _t: u32) -> Result<ThreadGetTlsStateReply, i32> {
        let t = self.stopped()?;
        Ok(ThreadGetTlsStateReply {
            fs_base: t.context.tls_base(TlsBase::Fs),
            gs_base: t.context.tls_base(TlsBase::Gs),
        })
    }
    fn thread_set_tls_state(&mut self, _t: u32, fs_base: u64, gs_base: u64) -> Result<(), i32> {
        if fs_base >= mach_abi::layout::USER_END || gs_base >= mach_abi::layout::USER_END {
            return Err(KERN_INVALID_ADDRESS);
        }
        // Not the caller: its bases are in the CPU, set with the trap.
        let t = self.stopped()?;
        t.context.set_tls_base(TlsBase::Fs, fs_base);
        t.context.set_tls_base(TlsBase::Gs, gs_base);
        Ok(())
    }
    fn thread_suspend(&mut self, _t: u32) -> Result<(), i32> {
        self.thread()?.suspend().map_err(|_| KERN_FAILURE)
    }
    fn thread_resume(&mut self, _t: u32) -> Result<(), i32> {
        let t = self.thread()?;
        match t.resume() {
            Ok(true) => {
                sched::make_runnable(t);
                Ok(())
            }
            Ok(false) => Ok(()),
            Err(()) => Err(KERN_FAILURE),
        }
    }
}
