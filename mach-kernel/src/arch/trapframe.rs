//! The register frame saved on the kernel stack at every entry from user mode
//! (interrupt, exception or `syscall`) and for kernel-mode interrupts.
//!
//! Its layout is fixed by the entry code in `idt.rs` and `syscall.rs`: general
//! registers pushed by software ([`push_registers`], shared by both), then the vector and error code, then what the
//! CPU pushes for an interrupt (`rip, cs, rflags, rsp, ss`). The `syscall` path
//! builds the same hardware part by hand (vector 256) so that every return goes through one
//! exit path (`trap_return`, ending in `iretq`).

use super::gdt::{USER_CS, USER_DS};

/// The entry code's pushes of the general registers, in the order that
/// builds [`TrapFrame`] (r15 ends up at the lowest address); shared by the
/// interrupt and `syscall` entry paths.
macro_rules! push_registers {
    () => {
        "push %rax; push %rbx; push %rcx; push %rdx; push %rsi; push %rdi; push %rbp; \
         push %r8; push %r9; push %r10; push %r11; push %r12; push %r13; push %r14; push %r15"
    };
}
pub(crate) use push_registers;

/// The exit code's pops matching [`push_registers`].
macro_rules! pop_registers {
    () => {
        "pop %r15; pop %r14; pop %r13; pop %r12; pop %r11; pop %r10; pop %r9; pop %r8; \
         pop %rbp; pop %rdi; pop %rsi; pop %rdx; pop %rcx; pop %rbx; pop %rax"
    };
}
pub(crate) use pop_registers;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct TrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    pub vector: u64,
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

/// RFLAGS.IF
pub const RFLAGS_IF: u64 = 1 << 9;
/// RFLAGS bit 1 is always set.
const RFLAGS_FIXED: u64 = 1 << 1;

impl TrapFrame {
    /// A frame that enters user mode at `rip` with stack `rsp` and `rdi = arg`,
    /// interrupts enabled, every other register zero.
    pub fn new_user(rip: u64, rsp: u64, arg: u64) -> Self {
        TrapFrame {
            rip,
            rsp,
            rdi: arg,
            cs: USER_CS as u64,
            ss: USER_DS as u64,
            rflags: RFLAGS_IF | RFLAGS_FIXED,
            ..Default::default()
        }
    }

    /// Whether the frame was saved while the CPU was in user mode.
    pub fn is_user_mode(&self) -> bool {
        self.cs & 3 == 3
    }

    /// Whether `sysretq` can return to this frame: user selectors, a `rip` in
    /// the user half (so it is canonical), and `rflags` that `sysret` restores
    /// faithfully (no trap flag, no resume flag).
    pub fn sysret_safe(&self) -> bool {
        const TF: u64 = 1 << 8;
        const RF: u64 = 1 << 16;
        self.cs == USER_CS as u64
            && self.ss == USER_DS as u64
            && self.rip < mach_abi::layout::USER_END
            && self.rflags & (TF | RF) == 0
            && self.rcx == self.rip
            && self.r11 == self.rflags
    }

    /// [`Self::sysret_safe`] for a frame that `syscall` built and nothing but
    /// the trap's results (rax, rdx) changed since: the selectors, and `rcx`
    /// and `r11` equal to `rip` and `rflags`, hold by construction (the
    /// entry path pushed them so); what remains is `rip` in the user half
    /// (the instruction after a `syscall` at the very top of it is not) and
    /// no trap or resume flag.
    #[inline(always)]
    pub fn sysret_safe_as_entered(&self) -> bool {
        const TF: u64 = 1 << 8;
        const RF: u64 = 1 << 16;
        self.rip < mach_abi::layout::USER_END && self.rflags & (TF | RF) == 0
    }

    /// The i-th trap argument (System V syscall order: rdi, rsi, rdx, r10, r8, r9).
    pub fn arg(&self, i: usize) -> u64 {
        match i {
            0 => self.rdi,
            1 => self.rsi,
            2 => self.rdx,
            3 => self.r10,
            4 => self.r8,
            5 => self.r9,
            _ => 0,
        }
    }
}
