//! Signal delivery on the way out of a system call (the seed's "Signal
//! Delivery": a process blocked in a call is woken by the server's answer,
//! EINTR, and the emulation library runs the handler on the way out), and
//! rt_sigreturn. The frame is Linux's `rt_sigframe`, built by
//! `unix_core::signal::frame`; a handler with SA_RESTART comes back to the
//! interrupted `syscall`, run again.
//!
//! Not yet: signals for a process that is running its own code wait until
//! it next makes a call that would block; the FPU/vector state is not saved
//! in the frame (the interrupted code is inside a system call wrapper, where
//! no vector register is live across the call); sigaltstack is not used.

use crate::calls;
use crate::trampoline::{copy_in, copy_out, set_restore};
use linux_raw_sys::general as nr;
use unix_abi::{Regs, SignalTaken, TAKE_SIGNAL};
use unix_core::signal::frame::{self, FRAME_SIZE, FrameSetup, Registers, UserSelectors};
use unix_core::signal::siginfo::SigInfo;
use unix_core::signal::{AltStack, SigSet};

/// The selectors the kernel runs user code with (rt_sigframe records them).
const USER: UserSelectors = UserSelectors { cs: 0x2b, ss: 0x23 };

/// The program's context at this call's return: `regs` as the trampoline
/// saved them (rax the call's result), on `rsp`, at rcx.
fn context(regs: &Regs, rsp: u64) -> Registers {
    Registers {
        r8: regs.r8,
        r9: regs.r9,
        r10: regs.r10,
        r11: regs.r11,
        r12: regs.r12,
        r13: regs.r13,
        r14: regs.r14,
        r15: regs.r15,
        rdi: regs.rdi,
        rsi: regs.rsi,
        rbp: regs.rbp,
        rbx: regs.rbx,
        rdx: regs.rdx,
        rax: regs.rax,
        rcx: regs.rcx,
        rsp,
        rip: regs.rcx,
        rflags: regs.r11,
        cs: USER.cs,
        ss: USER.ss,
        fs_base: 0,
        gs_base: 0,
    }
}

/// Calls an SA_RESTART handler's return runs again (Linux restarts these;
/// the waits with a timeout or a mask of their own it does not).
fn restartable(number: u32) -> bool {
    !matches!(
        number,
        nr::__NR_rt_sigsuspend
            | nr::__NR_pause
            | nr::__NR_nanosleep
            | nr::__NR_clock_nanosleep
            | nr::__NR_poll
            | nr::__NR_ppoll
            | nr::__NR_select
            | nr::__NR_pselect6
    )
}

/// Asks the server for the signal to deliver; if there is one, writes its
/// frame on the program's stack and makes the call return into the handler.
pub fn deliver(regs: &Regs, rsp: u64, number: u32) -> bool {
    let mut data = [0u8; SignalTaken::SIZE];
    let (sig, n) = calls::read_into(TAKE_SIGNAL as u32, [0; 4], &mut data);
    let Some(taken) = SignalTaken::decode(&data[..n]) else {
        return false;
    };
    if sig <= 0 || sig > 64 {
        return false;
    }
    let mut cur = context(regs, rsp);
    if taken.flags & nr::SA_RESTART as u64 != 0 && restartable(number) {
        // Back onto the `syscall` instruction (2 bytes: 0f 05), number in rax.
        let mut op = [0u8; 2];
        let _ = copy_in(regs.rcx.wrapping_sub(2), &mut op);
        if op == [0x0f, 0x05] {
            cur.rip = regs.rcx - 2;
            cur.rax = number as u64;
        }
    }
    let setup = FrameSetup {
        regs: cur,
        info: SigInfo::user(sig as u32, 0, 0),
        mask: SigSet(taken.saved_mask),
        altstack: AltStack::default(),
        onstack: false,
        restorer: taken.restorer,
        fpu: None,
        fault: Default::default(),
    };
    let mut bytes = [0u8; FRAME_SIZE];
    let Ok(plan) = frame::build_frame(&setup, &mut bytes) else {
        return false;
    };
    // A stack the frame cannot be written to: the handler cannot run
    // (Linux then forces SIGSEGV; here the call answers EINTR unhandled).
    if copy_out(plan.frame, &bytes).is_err() {
        return false;
    }
    let h = frame::handler_registers(&cur, &plan, sig as u32, taken.handler);
    set_restore(&h);
    true
}

/// rt_sigreturn: the context and mask the frame at the program's stack
/// saved come back (the mask through the server).
pub fn sigreturn(regs: &mut Regs, rsp: u64) -> bool {
    let Some(at) = frame::frame_at_sigreturn(rsp) else {
        regs.rax = calls::EFAULT as u64;
        return false;
    };
    let mut bytes = [0u8; FRAME_SIZE];
    if copy_in(at, &mut bytes).is_err() {
        regs.rax = calls::EFAULT as u64;
        return false;
    }
    let Ok(back) = frame::read_frame(&bytes, &context(regs, rsp), USER) else {
        regs.rax = calls::EFAULT as u64;
        return false;
    };
    let mut out = [0u8; 8];
    let how = nr::SIG_SETMASK as u64;
    calls::exchange(
        nr::__NR_rt_sigprocmask,
        [how, 8, 1, 0],
        &back.mask.0.to_le_bytes(),
        &mut out,
    );
    set_restore(&back.regs);
    true
}
