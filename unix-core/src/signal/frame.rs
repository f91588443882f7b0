//! The x86_64 `rt_sigframe` a signal handler runs on, as pure functions that
//! never allocate (the emulation library, which has no heap, can use them).
//!
//! Layout, from the handler's initial `rsp` (8 mod 16, as after a `call`):
//!
//! ```text
//!   0  pretcode       u64: the return address, sa_restorer (libc's __restore_rt)
//!   8  ucontext       uc_flags u64, uc_link u64, uc_stack (stack_t, 24 bytes),
//!                     uc_mcontext (struct sigcontext, 256 bytes), uc_sigmask u64
//! 312  siginfo        128 bytes
//! 440  (end; the FPU area, if any, lies above, 64-byte aligned)
//! ```
//!
//! `struct sigcontext` holds r8..r15, rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp,
//! rip, eflags (u64 each), cs, gs, fs, ss (u16 each), err, trapno, oldmask,
//! cr2, the fpstate pointer and 8 reserved words. The offsets are checked
//! against `<asm/sigcontext.h>`/`<asm/ucontext.h>` and frames are compared
//! with ones the host kernel built (tests).
//!
//! Placement follows Linux's `get_sigframe`: skip the 128-byte red zone below
//! the interrupted `rsp`; with SA_ONSTACK and an enabled altstack not in use,
//! start at the altstack's top instead; reserve the FPU area (64-aligned);
//! then the frame, at `round_down(sp - 440, 16) - 8`. A frame on the
//! altstack that would not fit in it is an error (Linux sends SIGSEGV).

use super::altstack::{AltStack, STACK_T_SIZE, StackT};
use super::siginfo::{SIGINFO_SIZE, SigInfo};
use super::{SigSet, read_u64};
use crate::errno::{Errno, Result};
use linux_raw_sys::ptrace::{
    X86_EFLAGS_AC_BIT, X86_EFLAGS_AF_BIT, X86_EFLAGS_CF_BIT, X86_EFLAGS_DF_BIT, X86_EFLAGS_FIXED_BIT,
    X86_EFLAGS_IF_BIT, X86_EFLAGS_OF_BIT, X86_EFLAGS_PF_BIT, X86_EFLAGS_RF_BIT, X86_EFLAGS_SF_BIT, X86_EFLAGS_TF_BIT,
    X86_EFLAGS_ZF_BIT,
};

/// Size of the frame proper (pretcode, ucontext, siginfo).
pub const FRAME_SIZE: usize = 440;
/// Offset of the `ucontext` in the frame (the handler's third argument).
pub const UCONTEXT_OFFSET: usize = 8;
/// Offset of the `siginfo` in the frame (the handler's second argument).
pub const SIGINFO_OFFSET: usize = 312;
/// Offset of `uc_mcontext` (the `struct sigcontext`) in the frame.
pub const SIGCONTEXT_OFFSET: usize = UCONTEXT_OFFSET + 40;
/// Offset of `uc_sigmask` in the frame.
pub const SIGMASK_OFFSET: usize = UCONTEXT_OFFSET + 296;
/// Bytes below `rsp` that code may use without moving `rsp`.
pub const RED_ZONE: u64 = 128;

/// `uc_flags`: the FPU area is in XSAVE format.
pub const UC_FP_XSTATE: u64 = 1;
/// `uc_flags`: `sigcontext.ss` holds the saved ss.
pub const UC_SIGCONTEXT_SS: u64 = 2;
/// `uc_flags`: rt_sigreturn restores ss as saved.
pub const UC_STRICT_RESTORE_SS: u64 = 4;

// Offsets inside the ucontext and the sigcontext, relative to the frame.
const UC_FLAGS: usize = UCONTEXT_OFFSET;
const UC_LINK: usize = UCONTEXT_OFFSET + 8;
const UC_STACK: usize = UCONTEXT_OFFSET + 16;
const SC: usize = SIGCONTEXT_OFFSET;
const SC_CS: usize = SC + 144;
const SC_GS: usize = SC + 146;
const SC_FS: usize = SC + 148;
const SC_SS: usize = SC + 150;
const SC_ERR: usize = SC + 152;
const SC_TRAPNO: usize = SC + 160;
const SC_OLDMASK: usize = SC + 168;
const SC_CR2: usize = SC + 176;
const SC_FPSTATE: usize = SC + 184;

const fn flag(bit: u32) -> u64 {
    1 << bit
}

/// The rflags bits a program may set through rt_sigreturn (Linux's FIX_EFLAGS).
pub const USER_RFLAGS: u64 = flag(X86_EFLAGS_CF_BIT)
    | flag(X86_EFLAGS_PF_BIT)
    | flag(X86_EFLAGS_AF_BIT)
    | flag(X86_EFLAGS_ZF_BIT)
    | flag(X86_EFLAGS_SF_BIT)
    | flag(X86_EFLAGS_TF_BIT)
    | flag(X86_EFLAGS_DF_BIT)
    | flag(X86_EFLAGS_OF_BIT)
    | flag(X86_EFLAGS_RF_BIT)
    | flag(X86_EFLAGS_AC_BIT);
/// The rflags bits always set after rt_sigreturn: IF and the fixed bit 1.
pub const FORCED_RFLAGS: u64 = flag(X86_EFLAGS_IF_BIT) | flag(X86_EFLAGS_FIXED_BIT);
/// Cleared on entry to a handler: DF, RF and TF.
const HANDLER_CLEARED_RFLAGS: u64 = flag(X86_EFLAGS_DF_BIT) | flag(X86_EFLAGS_RF_BIT) | flag(X86_EFLAGS_TF_BIT);

/// One past the highest user address (the lower canonical half).
pub const USER_ADDRESS_END: u64 = 1 << 47;

/// The general registers of an interrupted thread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Registers {
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rbp: u64,
    pub rbx: u64,
    pub rdx: u64,
    pub rax: u64,
    pub rcx: u64,
    pub rsp: u64,
    pub rip: u64,
    pub rflags: u64,
    pub cs: u16,
    pub ss: u16,
    /// Not in the frame: rt_sigreturn keeps the thread's.
    pub fs_base: u64,
    pub gs_base: u64,
}

impl Registers {
    /// The 18 words of the sigcontext in its order (r8 .. r15, rdi, rsi, rbp,
    /// rbx, rdx, rax, rcx, rsp, rip, eflags).
    fn sigcontext_words(&self) -> [u64; 18] {
        [
            self.r8,
            self.r9,
            self.r10,
            self.r11,
            self.r12,
            self.r13,
            self.r14,
            self.r15,
            self.rdi,
            self.rsi,
            self.rbp,
            self.rbx,
            self.rdx,
            self.rax,
            self.rcx,
            self.rsp,
            self.rip,
            self.rflags,
        ]
    }

    fn from_sigcontext_words(w: [u64; 18]) -> Registers {
        let [
            r8,
            r9,
            r10,
            r11,
            r12,
            r13,
            r14,
            r15,
            rdi,
            rsi,
            rbp,
            rbx,
            rdx,
            rax,
            rcx,
            rsp,
            rip,
            rflags,
        ] = w;
        Registers {
            r8,
            r9,
            r10,
            r11,
            r12,
            r13,
            r14,
            r15,
            rdi,
            rsi,
            rbp,
            rbx,
            rdx,
            rax,
            rcx,
            rsp,
            rip,
            rflags,
            ..Registers::default()
        }
    }
}

/// The user code and stack selectors the kernel gives user threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserSelectors {
    pub cs: u16,
    pub ss: u16,
}

/// Fault details recorded in the sigcontext (zero for other signals).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultInfo {
    /// The exception's error code.
    pub err: u64,
    /// The exception vector (14 for a page fault).
    pub trapno: u64,
    /// The faulting address of a page fault.
    pub cr2: u64,
}

/// Room for the FPU state above the frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FpuArea {
    /// Bytes to reserve (512 for FXSAVE; the XSAVE size plus 4 for XSAVE).
    pub size: u64,
    /// The area holds XSAVE state (`uc_flags` gets UC_FP_XSTATE).
    pub xstate: bool,
}

/// Everything a handler's frame is made from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameSetup {
    /// The interrupted registers (what rt_sigreturn restores).
    pub regs: Registers,
    pub info: SigInfo,
    /// The mask rt_sigreturn restores ([`super::Delivery::Handle`]'s `saved_mask`).
    pub mask: SigSet,
    /// The altstack as it is before the frame is set up.
    pub altstack: AltStack,
    /// The handler has SA_ONSTACK.
    pub onstack: bool,
    /// The return address: sa_restorer.
    pub restorer: u64,
    /// The FPU area to reserve, if the caller saves the FPU state there.
    pub fpu: Option<FpuArea>,
    pub fault: FaultInfo,
}

/// Where a frame goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FramePlan {
    /// The frame's address: the handler's `rsp`, where the restorer is.
    pub frame: u64,
    /// The FPU area's address (0 if none was asked for).
    pub fpstate: u64,
    /// The frame starts a stay on the altstack.
    pub entered_altstack: bool,
    /// The altstack has SS_AUTODISARM and was entered: disable it now
    /// ([`super::SignalState::disarm_altstack`]).
    pub disarm_altstack: bool,
}

impl FramePlan {
    pub fn ucontext(&self) -> u64 {
        self.frame.saturating_add(UCONTEXT_OFFSET as u64)
    }

    pub fn siginfo(&self) -> u64 {
        self.frame.saturating_add(SIGINFO_OFFSET as u64)
    }
}

/// Where the frame for `setup` goes. EFAULT if the stack pointer arithmetic
/// leaves the address space or a frame on the altstack would not fit in it.
pub fn place_frame(setup: &FrameSetup) -> Result<FramePlan> {
    let fault = Errno::EFAULT;
    let alt = setup.altstack;
    let nested = alt.on_stack(setup.regs.rsp);
    let mut sp = setup.regs.rsp.checked_sub(RED_ZONE).ok_or(fault)?;
    let mut entering = false;
    if setup.onstack && alt.ss_flags(sp) == 0 {
        sp = alt.top().ok_or(fault)?;
        entering = true;
    }
    let mut fpstate = 0;
    if let Some(fpu) = setup.fpu {
        sp = sp.checked_sub(fpu.size).ok_or(fault)? & !63;
        fpstate = sp;
    }
    let frame = (sp.checked_sub(FRAME_SIZE as u64).ok_or(fault)? & !15)
        .checked_sub(8)
        .ok_or(fault)?;
    if (nested || entering) && !alt.contains(frame) {
        return Err(fault);
    }
    Ok(FramePlan {
        frame,
        fpstate,
        entered_altstack: entering,
        disarm_altstack: entering && alt.autodisarm(),
    })
}

fn put(out: &mut [u8], off: usize, bytes: &[u8]) -> Result<()> {
    out.get_mut(off..)
        .and_then(|d| d.get_mut(..bytes.len()))
        .ok_or(Errno::EINVAL)?
        .copy_from_slice(bytes);
    Ok(())
}

/// Places the frame and writes its [`FRAME_SIZE`] bytes to `out[..440]`
/// (copy them to `plan.frame`). EINVAL if `out` is shorter; EFAULT as for
/// [`place_frame`]. Bytes Linux leaves as they were (the sigcontext's
/// reserved words) are zero.
pub fn build_frame(setup: &FrameSetup, out: &mut [u8]) -> Result<FramePlan> {
    let out = out.get_mut(..FRAME_SIZE).ok_or(Errno::EINVAL)?;
    let plan = place_frame(setup)?;
    out.fill(0);
    put(out, 0, &setup.restorer.to_le_bytes())?;
    let mut uc_flags = UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS;
    if setup.fpu.is_some_and(|f| f.xstate) {
        uc_flags |= UC_FP_XSTATE;
    }
    put(out, UC_FLAGS, &uc_flags.to_le_bytes())?;
    put(out, UC_LINK, &0u64.to_le_bytes())?;
    put(out, UC_STACK, &setup.altstack.saved().encode())?;
    for (i, w) in setup.regs.sigcontext_words().iter().enumerate() {
        put(out, SC + 8 * i, &w.to_le_bytes())?;
    }
    put(out, SC_CS, &setup.regs.cs.to_le_bytes())?;
    put(out, SC_GS, &0u16.to_le_bytes())?;
    put(out, SC_FS, &0u16.to_le_bytes())?;
    put(out, SC_SS, &setup.regs.ss.to_le_bytes())?;
    put(out, SC_ERR, &setup.fault.err.to_le_bytes())?;
    put(out, SC_TRAPNO, &setup.fault.trapno.to_le_bytes())?;
    put(out, SC_OLDMASK, &setup.mask.0.to_le_bytes())?;
    put(out, SC_CR2, &setup.fault.cr2.to_le_bytes())?;
    put(out, SC_FPSTATE, &plan.fpstate.to_le_bytes())?;
    put(out, SIGMASK_OFFSET, &setup.mask.0.to_le_bytes())?;
    let info: [u8; SIGINFO_SIZE] = setup.info.encode();
    put(out, SIGINFO_OFFSET, &info)?;
    Ok(plan)
}

/// The registers the handler starts with: `rip` = handler, `rsp` = the
/// frame, `rdi` = signal, `rsi` = &siginfo, `rdx` = &ucontext, `rax` = 0,
/// DF, RF and TF cleared; the rest as interrupted.
pub fn handler_registers(regs: &Registers, plan: &FramePlan, sig: u32, handler: u64) -> Registers {
    Registers {
        rip: handler,
        rsp: plan.frame,
        rdi: u64::from(sig),
        rsi: plan.siginfo(),
        rdx: plan.ucontext(),
        rax: 0,
        rflags: regs.rflags & !HANDLER_CLEARED_RFLAGS,
        ..*regs
    }
}

/// Where the frame is when the restorer calls rt_sigreturn: the handler's
/// `ret` popped the pretcode, so `rsp - 8`.
pub fn frame_at_sigreturn(rsp: u64) -> Option<u64> {
    rsp.checked_sub(8)
}

/// What rt_sigreturn restores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sigreturn {
    /// The saved registers, sanitised: rflags keeps only [`USER_RFLAGS`]
    /// from the frame (plus IF and bit 1), cs/ss are the user selectors,
    /// fs_base/gs_base are the thread's current ones.
    pub regs: Registers,
    /// The saved mask (SIGKILL and SIGSTOP removed).
    pub mask: SigSet,
    /// The saved `uc_stack`, for [`super::SignalState::sigreturn`].
    pub uc_stack: StackT,
    /// The FPU area's address (0: none saved); restore from it per `uc_flags`.
    pub fpstate: u64,
    pub uc_flags: u64,
}

/// Reads a frame back at rt_sigreturn: `frame` is the [`FRAME_SIZE`] bytes at
/// [`frame_at_sigreturn`] (the program may have changed them). `current` are
/// the thread's registers now. EFAULT if `frame` is short or the saved `rip`
/// is not a user address (Linux's return to it would fault: SIGSEGV).
pub fn read_frame(frame: &[u8], current: &Registers, user: UserSelectors) -> Result<Sigreturn> {
    let frame = frame.get(..FRAME_SIZE).ok_or(Errno::EFAULT)?;
    let word = |off: usize| read_u64(frame, off).ok_or(Errno::EFAULT);
    let mut w = [0u64; 18];
    for (i, slot) in w.iter_mut().enumerate() {
        *slot = word(SC + 8 * i)?;
    }
    let mut regs = Registers::from_sigcontext_words(w);
    if regs.rip >= USER_ADDRESS_END {
        return Err(Errno::EFAULT);
    }
    regs.rflags = (regs.rflags & USER_RFLAGS) | FORCED_RFLAGS;
    regs.cs = user.cs;
    regs.ss = user.ss;
    regs.fs_base = current.fs_base;
    regs.gs_base = current.gs_base;
    let stack = frame.get(UC_STACK..UC_STACK + STACK_T_SIZE).ok_or(Errno::EFAULT)?;
    Ok(Sigreturn {
        regs,
        mask: SigSet(word(SIGMASK_OFFSET)?).blockable(),
        uc_stack: StackT::decode(stack)?,
        fpstate: word(SC_FPSTATE)?,
        uc_flags: word(UC_FLAGS)?,
    })
}

#[cfg(test)]
mod tests;
