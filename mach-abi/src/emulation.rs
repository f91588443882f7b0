//! System call redirection (Mach's emulation vector) and the thread-local
//! storage bases, as user code and the kernel both see them.
//!
//! A task's emulation vector maps non-negative `syscall` numbers (the Unix
//! personality's; Mach traps are negative) to entry points in the task's own
//! memory, set with `task_set_emulation_vector(task, vector_start, entries)`.
//! Index [`EMULATION_CATCH_ALL`] is the entry for every number that has none
//! of its own. A redirected `syscall` enters user mode at the entry with
//! every register as the program left it (`rcx` = the return `rip`, `r11` =
//! `rflags`, as the instruction leaves them) and `rsp` moved down by
//! [`EMULATION_RED_ZONE`] bytes, past the program's red zone; the kernel does
//! nothing else. (A `syscall` made with an `rsp` that leaves no user address
//! below the red zone raises `EXC_SYSCALL` instead, as without an entry.) The entry returns to the program itself (at `rcx`, with
//! `rsp + EMULATION_RED_ZONE`), without entering the kernel.

/// The vector index of the catch-all entry (`vector_start = -1` sets it).
pub const EMULATION_CATCH_ALL: i32 = -1;

/// Numbers `0 .. EMULATION_VECTOR_MAX` may have entries of their own;
/// larger ones only reach the catch-all entry.
pub const EMULATION_VECTOR_MAX: i32 = 1024;

/// How far below the program's `rsp` a redirected `syscall` enters the
/// emulation entry: the System V red zone.
pub const EMULATION_RED_ZONE: u64 = 128;

/// `thread_set_tls_base` operations (the trap's first argument).
pub mod tls {
    /// Sets the FS base (`arch_prctl(ARCH_SET_FS)`).
    pub const SET_FS: u64 = 0;
    /// Sets the user GS base (`arch_prctl(ARCH_SET_GS)`).
    pub const SET_GS: u64 = 1;
    /// Returns the FS base in `rdx` (`arch_prctl(ARCH_GET_FS)`).
    pub const GET_FS: u64 = 2;
    /// Returns the user GS base in `rdx` (`arch_prctl(ARCH_GET_GS)`).
    pub const GET_GS: u64 = 3;
}
