//! The context switch between kernel threads, and FPU/SSE state.
//!
//! A thread that is not running is described by one saved kernel stack pointer:
//! `switch_context` pushes the callee-saved registers, stores `rsp`, loads the
//! next thread's `rsp`, pops its registers and returns into it. The SSE/x87
//! state travels in each thread's [`FxArea`], saved and restored on every switch.
//! A new thread's stack is prepared by [`Context::new_user`] so that its first
//! "return" lands in `trap_return` and from there in user mode.
//!
//! The thread-local storage bases (user FS base and user GS base) are part of
//! the context too. The CPU's registers always hold the running context's
//! values (while in the kernel the user GS base sits in `IA32_KERNEL_GS_BASE`,
//! `swapgs` having put the kernel's in `GS`), so a switch writes an MSR only
//! when the next thread's base differs from the last one's: threads without
//! thread-local storage (all of Mach's own) pay two compares per switch.

use super::trapframe::TrapFrame;
use core::arch::global_asm;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU64, Ordering};

/// The 512-byte `fxsave` area.
#[repr(C, align(16))]
#[derive(Clone)]
pub struct FxArea(pub [u8; 512]);

impl FxArea {
    /// The reset state: x87 control word 0x37f, MXCSR 0x1f80 (all exceptions masked).
    pub fn new() -> Self {
        let mut a = [0u8; 512];
        a[0..2].copy_from_slice(&0x037fu16.to_le_bytes());
        a[24..28].copy_from_slice(&0x1f80u32.to_le_bytes());
        FxArea(a)
    }
}

impl Default for FxArea {
    fn default() -> Self {
        Self::new()
    }
}

global_asm!(
    r#"
    .section .text.switch, "ax"
    .global switch_context_raw
// rdi = &mut old_rsp, rsi = new_rsp, rdx = old fx area, rcx = new fx area;
// each context's TLS bases lie {fs} and {gs} bytes after its fx area.
switch_context_raw:
    fxsave64 (%rdx)
    mov {fs}(%rcx), %rax
    cmp {fs}(%rdx), %rax
    jne 1f
    mov {gs}(%rcx), %rax
    cmp {gs}(%rdx), %rax
    jne 1f
2:
    push %rbp
    push %rbx
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, (%rdi)
    mov %rsi, %rsp
    fxrstor64 (%rcx)
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbx
    pop %rbp
    ret
1:  /* The next thread's TLS bases differ from the last one's: load both. */
    mov %rcx, %r8
    mov %rdx, %r9
    mov {fs}(%r8), %rax
    mov %rax, %rdx
    shr $32, %rdx
    mov ${msr_fs}, %ecx
    wrmsr
    mov {gs}(%r8), %rax
    mov %rax, %rdx
    shr $32, %rdx
    mov ${msr_kgs}, %ecx
    wrmsr
    mov %r8, %rcx
    mov %r9, %rdx
    jmp 2b
    "#,
    fs = const core::mem::offset_of!(Context, tls) - core::mem::offset_of!(Context, fx),
    gs = const core::mem::offset_of!(Context, tls) - core::mem::offset_of!(Context, fx) + 8,
    msr_fs = const MSR_FS_BASE,
    msr_kgs = const MSR_KERNEL_GS_BASE,
    options(att_syntax)
);

unsafe extern "C" {
    fn switch_context_raw(old_rsp: *mut u64, new_rsp: u64, old_fx: *mut FxArea, new_fx: *const FxArea);
}

/// What a thread that is not running needs to resume: its saved kernel stack
/// pointer, its FPU/SSE state and its TLS bases (`repr(C)`: the switch code
/// finds the bases by their offset from the fx area).
#[repr(C)]
pub struct Context {
    rsp: AtomicU64,
    /// Written by `fxsave` when the thread leaves the CPU, read by `fxrstor`
    /// when it returns; nothing else touches it.
    fx: UnsafeCell<FxArea>,
    /// The user FS and GS bases ([`TlsBase`]); user addresses only.
    tls: [AtomicU64; 2],
}

/// One of a thread's thread-local storage bases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsBase {
    Fs = 0,
    Gs = 1,
}

const MSR_FS_BASE: u32 = 0xC000_0100;
/// Holds the user GS base while the CPU is in the kernel (after `swapgs`).
const MSR_KERNEL_GS_BASE: u32 = 0xC000_0102;

/// Loads `value` as the running thread's user base `which`.
fn load_tls(which: TlsBase, value: u64) {
    let msr = match which {
        TlsBase::Fs => MSR_FS_BASE,
        TlsBase::Gs => MSR_KERNEL_GS_BASE,
    };
    // SAFETY: the value is a user (canonical) address, checked by every
    // setter of a context's bases, so the write cannot fault; the FS base is
    // not used by the kernel and IA32_KERNEL_GS_BASE holds the user GS base
    // only until the next `swapgs` to user mode, which is what it is for.
    unsafe { x86_64::registers::model_specific::Msr::new(msr).write(value) }
}

// SAFETY: `fx` is only accessed by `switch`, whose contract guarantees that a
// context is saved or restored by one CPU at a time (the thread it belongs to
// runs on at most one CPU, and only the CPU switching it touches its area).
unsafe impl Sync for Context {}

impl Context {
    /// The context of a new user thread: its first switch enters user mode with
    /// the registers in `frame`.
    pub fn new_user(kstack: &mut super::kstack::KernelStack, frame: &TrapFrame) -> Self {
        // SAFETY: `&mut KernelStack` means no thread runs on this stack (a running
        // thread's stack is only reachable through a shared reference), and a
        // KernelStack is always fully mapped and writable.
        let rsp = unsafe { prepare_stack(kstack.top(), frame) };
        Context {
            rsp: AtomicU64::new(rsp),
            fx: UnsafeCell::new(FxArea::new()),
            tls: [AtomicU64::new(0), AtomicU64::new(0)],
        }
    }

    /// The context of the code running now (a CPU's boot/idle thread); it is
    /// filled in the first time the CPU switches away.
    pub fn new_running() -> Self {
        Context {
            rsp: AtomicU64::new(0),
            fx: UnsafeCell::new(FxArea::new()),
            tls: [AtomicU64::new(0), AtomicU64::new(0)],
        }
    }

    /// The user base `which` the thread runs with.
    pub fn tls_base(&self, which: TlsBase) -> u64 {
        self.tls[which as usize].load(Ordering::Relaxed)
    }

    /// Sets the user base `which` of a thread that is off the CPU (it takes
    /// effect when the thread is next switched to); `value` must be a user
    /// address (the caller checks).
    pub fn set_tls_base(&self, which: TlsBase, value: u64) {
        debug_assert!(value < mach_abi::layout::USER_END);
        self.tls[which as usize].store(value, Ordering::Relaxed);
    }

    /// Sets the user base `which` of the thread running now, in its context
    /// and in the CPU; `value` must be a user address (the caller checks).
    ///
    /// The caller guarantees this is the running thread's context (with
    /// interrupts off, so no switch comes between the two writes).
    pub fn set_running_tls_base(&self, which: TlsBase, value: u64) {
        self.set_tls_base(which, value);
        load_tls(which, value);
    }
}

/// The user registers of a thread that is off the CPU: the frame saved at the
/// top of its kernel stack when it last entered the kernel from user mode.
///
/// The caller guarantees the thread is not running (on this single-CPU kernel:
/// it is not the current thread), so nothing writes the frame meanwhile.
pub fn user_frame(kstack: &super::kstack::KernelStack) -> TrapFrame {
    let at = kstack.top() - core::mem::size_of::<TrapFrame>() as u64;
    // SAFETY: every user thread's kernel stack holds its user frame at the
    // top (prepare_stack put it there; entries from user mode rewrite it), the
    // stack is mapped while the KernelStack lives, and the thread is off the
    // CPU (caller's guarantee), so this read races with nothing.
    unsafe { core::ptr::read(at as *const TrapFrame) }
}

/// Replaces the user registers of a thread that is off the CPU (see [`user_frame`]).
pub fn set_user_frame(kstack: &super::kstack::KernelStack, frame: &TrapFrame) {
    let at = kstack.top() - core::mem::size_of::<TrapFrame>() as u64;
    // SAFETY: as in user_frame; the thread is off the CPU, and it reads the
    // frame only when it next returns to user mode.
    unsafe { core::ptr::write(at as *mut TrapFrame, *frame) }
}

/// Saves the running context into `old` and resumes `new`; returns when
/// something switches back to `old`.
///
/// # Safety
/// `old` must be the context of the code running now on this CPU and `new` a
/// context that runs nowhere, built by [`Context::new_user`] or saved by an
/// earlier switch. Both must stay allocated until the switch has completed,
/// that is until the code resumed in `new` runs (the scheduler keeps a dying
/// thread in its CPU's zombie slot for exactly that reason).
pub unsafe fn switch(old: *const Context, new: *const Context) {
    // SAFETY: guaranteed by the caller (see above): both pointers are live, the
    // FPU areas are not touched by anyone else while their threads are off the
    // CPU, and new's rsp is a valid saved or prepared stack. The TLS bases the
    // raw switch may load into the MSRs are user addresses (every setter
    // checks), so its wrmsr cannot fault.
    unsafe {
        let old = &*old;
        let new = &*new;
        switch_context_raw(
            old.rsp.as_ptr(),
            new.rsp.load(Ordering::Acquire),
            old.fx.get(),
            new.fx.get(),
        )
    }
}

/// Number of callee-saved registers `switch_context` keeps on the stack.
const SAVED_REGS: usize = 6;

/// Writes `frame` at the top of the stack ending at `stack_top` plus a switch
/// frame that returns into `trap_return`; returns the `rsp` to switch to.
///
/// # Safety
/// `[stack_top - 4 KiB, stack_top)` must be a mapped, writable kernel stack
/// owned by the new thread and not in use.
unsafe fn prepare_stack(stack_top: u64, frame: &TrapFrame) -> u64 {
    let frame_addr = stack_top - core::mem::size_of::<TrapFrame>() as u64;
    let ret_addr = super::idt::trap_return as *const () as u64;
    let rsp = frame_addr - 8 - (SAVED_REGS as u64) * 8;
    // SAFETY: the caller guarantees the stack is mapped and unused.
    unsafe {
        core::ptr::write(frame_addr as *mut TrapFrame, *frame);
        core::ptr::write((frame_addr - 8) as *mut u64, ret_addr);
        for i in 0..SAVED_REGS {
            core::ptr::write((rsp + (i as u64) * 8) as *mut u64, 0);
        }
    }
    rsp
}
