//! Trap numbers and the trap calling convention.
//!
//! A thread enters the kernel with the `syscall` instruction. Mach traps are
//! **negative** numbers in `rax` (as in XNU); non-negative numbers belong to the
//! Unix personality: the kernel redirects them to the task's emulation library
//! when its emulation vector has an entry for them (see [`crate::emulation`]),
//! and raises `EXC_SYSCALL` otherwise (the task ends without a handler).
//!
//! Arguments travel in `rdi, rsi, rdx, r10, r8, r9` (the `syscall` instruction
//! clobbers `rcx` and `r11`). The `kern_return_t` comes back in `rax`; a trap with
//! a second result returns it in `rdx`. All other registers are preserved.

/// Number of slots in the Mach trap table: valid trap numbers are `-1 ..= -(MACH_TRAP_COUNT-1)`.
pub const MACH_TRAP_COUNT: i64 = 128;

/// `mach_reply_port()`: a new receive right in the caller's space (XNU number).
pub const MACH_REPLY_PORT: i64 = -26;
/// `mach_thread_self()`: a send right to the calling thread's port (XNU number).
pub const THREAD_SELF_TRAP: i64 = -27;
/// `mach_task_self()`: a send right to the calling task's port (XNU number).
pub const TASK_SELF_TRAP: i64 = -28;
/// `mach_host_self()`: a send right to the host port (XNU number).
pub const HOST_SELF_TRAP: i64 = -29;
/// `mach_msg_trap(msg, option, send_size, rcv_size, rcv_name, timeout)` (XNU number).
pub const MACH_MSG_TRAP: i64 = -31;
/// `swtch_pri(pri)`: give up the processor (XNU number). Returns whether other threads were runnable.
pub const SWTCH_PRI: i64 = -59;
/// `swtch()`: give up the processor (XNU number). Returns whether other threads were runnable.
pub const SWTCH: i64 = -60;

/// `mach_print(ptr, len)`: write bytes to the kernel console (GNU Mach has the
/// same debugging trap). Returns `KERN_INVALID_ADDRESS` for memory the caller
/// cannot read, `KERN_INVALID_ARGUMENT` for `len > MACH_PRINT_MAX`.
pub const MACH_PRINT: i64 = -100;
/// Longest string `mach_print` accepts in one call.
pub const MACH_PRINT_MAX: u64 = 64 * 1024;

/// `task_exit(status)`: end the calling task. Bootstrap-era trap: it becomes
/// `task_terminate(mach_task_self())` once task ports exist. Never returns.
pub const TASK_EXIT: i64 = -101;

/// `thread_create_running(entry, stack, arg)`: start a new thread in the caller's
/// task at `entry` with `rsp = stack` and `rdi = arg`. Bootstrap-era trap: it
/// becomes `thread_create` + `thread_set_state` + `thread_resume` on the task port.
/// Returns the new thread's id in `rdx`.
pub const THREAD_CREATE_RUNNING: i64 = -102;

/// `thread_exit()`: end the calling thread (the task ends with its last thread).
/// Bootstrap-era trap, becomes `thread_terminate(mach_thread_self())`. Never returns.
pub const THREAD_EXIT: i64 = -103;

/// `mach_boot_info(kind)`: read one kernel statistic (see [`BootInfoKind`]) into `rdx`.
/// A debugging trap for tests and the bootstrap task.
pub const MACH_BOOT_INFO: i64 = -104;

/// `thread_tls_base(op, value)`: the calling thread's thread-local storage
/// bases, for `arch_prctl`: op `tls::SET_FS` / `SET_GS` sets the user FS / GS
/// base to `value` (a user address, else `KERN_INVALID_ADDRESS`); `GET_FS` /
/// `GET_GS` return it in `rdx` (see [`crate::emulation::tls`]). The bases are
/// part of the thread's state: they survive context switches, and another
/// task reads and sets them with `thread_get_tls_state` / `thread_set_tls_state`.
pub const THREAD_TLS_BASE: i64 = -105;

/// `clock_get_time(clock)`: the time of clock `clock::SYSTEM_CLOCK` or
/// `clock::CALENDAR_CLOCK` in nanoseconds, in `rdx` (see [`crate::clock`]);
/// another clock id is `KERN_INVALID_ARGUMENT`.
pub const CLOCK_GET_TIME: i64 = -106;

/// What `mach_boot_info` reports.
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootInfoKind {
    /// Free physical frames now.
    FreeFrames = 0,
    /// Physical frames the kernel manages.
    TotalFrames = 1,
    /// Timer ticks since boot.
    Ticks = 2,
    /// Timer ticks per second.
    TickHz = 3,
    /// Live tasks.
    Tasks = 4,
    /// Live threads (not counting idle threads).
    Threads = 5,
    /// Context switches since boot.
    ContextSwitches = 6,
}

impl BootInfoKind {
    /// Decodes a user-supplied selector.
    pub fn from_raw(raw: u64) -> Option<Self> {
        Some(match raw {
            0 => Self::FreeFrames,
            1 => Self::TotalFrames,
            2 => Self::Ticks,
            3 => Self::TickHz,
            4 => Self::Tasks,
            5 => Self::Threads,
            6 => Self::ContextSwitches,
            _ => return None,
        })
    }
}
