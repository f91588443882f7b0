//! Mach exception types (`exception_type_t`), as in Mach 3.0 and XNU.
//!
//! Until exception ports exist, an exception with no handler ends the task and
//! the kernel reports the type on the console.

pub type ExceptionType = u32;

/// Could not access memory (page fault the map cannot satisfy, #GP on an address).
pub const EXC_BAD_ACCESS: ExceptionType = 1;
/// Illegal or undefined instruction, or privileged instruction.
pub const EXC_BAD_INSTRUCTION: ExceptionType = 2;
/// Arithmetic exception (divide error, FPU, SIMD).
pub const EXC_ARITHMETIC: ExceptionType = 3;
/// Emulation instruction.
pub const EXC_EMULATION: ExceptionType = 4;
/// Software generated exception.
pub const EXC_SOFTWARE: ExceptionType = 5;
/// Trace, breakpoint.
pub const EXC_BREAKPOINT: ExceptionType = 6;
/// A Unix system call with no emulation library registered.
pub const EXC_SYSCALL: ExceptionType = 7;
/// A Mach trap number outside the trap table is *not* an exception (it returns
/// `KERN_INVALID_ARGUMENT`); this type is kept for completeness.
pub const EXC_MACH_SYSCALL: ExceptionType = 8;

/// Symbolic name for console reports and tests.
pub fn name(exc: ExceptionType) -> &'static str {
    match exc {
        EXC_BAD_ACCESS => "EXC_BAD_ACCESS",
        EXC_BAD_INSTRUCTION => "EXC_BAD_INSTRUCTION",
        EXC_ARITHMETIC => "EXC_ARITHMETIC",
        EXC_EMULATION => "EXC_EMULATION",
        EXC_SOFTWARE => "EXC_SOFTWARE",
        EXC_BREAKPOINT => "EXC_BREAKPOINT",
        EXC_SYSCALL => "EXC_SYSCALL",
        EXC_MACH_SYSCALL => "EXC_MACH_SYSCALL",
        _ => "EXC_(unknown)",
    }
}
