//! The thread port's server: `thread_terminate`, register state (and the
//! thread-local storage bases), suspend, resume and `thread_abort`.
//!
//! `thread_abort` breaks the thread's kernel wait (`wait::abort`); the
//! interrupted call returns its interrupted code on the thread's way out of
//! the kernel (`entry::trap`). A suspended thread aborted in the kernel is let
//! run to that way out and stops there; the call is answered only then (the
//! kernel holds the reply right, `ThreadIpc::defer_stop_reply`), so that the
//! caller's next `thread_get_state` sees the registers the thread will resume
//! with. The way out never waits for anything an abort cannot break but a
//! kernel copy waiting for a page, which answers the call too (the thread is
//! stopped there): an abort never keeps its caller waiting on a pager.

use super::{Ctx, delegate_release};
use crate::arch::switch::TlsBase;
use crate::kern::ipc::thread_state::{STOP_REPLY_SIZE, StopReply};
use crate::kern::wait::{self, Abort};
use crate::kern::{lifecycle, sched, task, thread::Thread};
use alloc::sync::Arc;
use mach_abi::kern_return::*;
use mach_abi::message::MIG_NO_REPLY;
use mach_core::ipc::{KRight, PortRef};
use mach_interfaces::Dispatch;
use mach_interfaces::thread::{ThreadGetStateReply, ThreadGetTlsStateReply, ThreadServer};

/// Serves a request on the port of thread `thread`.
pub fn serve(ctx: &mut Ctx<'_>, thread: u64, image: &[u8], reply: &mut [u8]) -> Dispatch {
    let mut s = ThreadPortServer { ctx, thread, image };
    let d = mach_interfaces::thread::thread_server(&mut s, image, reply);
    d
}

/// A thread port's server.
struct ThreadPortServer<'a, 'b> {
    ctx: &'a mut Ctx<'b>,
    thread: u64,
    /// The request (for an answer given later).
    image: &'a [u8],
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

    /// Keeps this request's reply right until `t` stops on its way out of
    /// the kernel (`Err(MIG_NO_REPLY)`); `Ok` (answer now) when there is no
    /// reply right or no memory to keep it.
    fn answer_when_stopped(&mut self, t: &Thread) -> Result<(), i32> {
        let Some(hdr) = mach_interfaces::wire::read_header(self.image) else {
            return Ok(());
        };
        let mut image = [0u8; STOP_REPLY_SIZE];
        if mach_interfaces::wire::write_error_reply(&hdr, &mut image, KERN_SUCCESS).is_none()
            || self.ctx.reply.port == PortRef::Null
        {
            return Ok(());
        }
        let right = core::mem::replace(&mut self.ctx.reply, KRight::NULL);
        let reply = match self.ctx.ipc.hold_right(right) {
            Ok(h) => h,
            Err(right) => {
                self.ctx.reply = right;
                return Ok(());
            }
        };
        if let Err(r) = t.ipc.defer_stop_reply(StopReply { reply, image }) {
            self.ctx.reply = self.ctx.ipc.take_held(r.reply).unwrap_or(KRight::NULL);
            return Ok(());
        }
        Err(MIG_NO_REPLY)
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
    fn thread_abort(&mut self, _t: u32) -> Result<(), i32> {
        let t = self.thread()?;
        // The caller is in user mode as far as it can tell: nothing to break.
        if Arc::ptr_eq(&t, &sched::current()) {
            return Ok(());
        }
        if t.is_terminated() {
            return Err(KERN_TERMINATED);
        }
        let found = wait::abort(&t);
        if found == Abort::NotInKernel || !t.is_suspended() {
            return Ok(());
        }
        // Suspended in the kernel: it runs on to its way out and stops
        // there; the caller hears back then.
        t.set_run_to_stop();
        if t.unpark() {
            sched::make_runnable(t.clone());
        }
        if found == Abort::Unabortable {
            // Stopped where it waits (a kernel copy waiting for a page).
            return Ok(());
        }
        self.answer_when_stopped(&t)
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
