//! Trap stubs: the `syscall` instruction with Mach's register convention, and
//! safe wrappers for each trap.

use core::arch::asm;
use mach_abi::kern_return::{KERN_SUCCESS, KernReturn};
use mach_abi::traps;

/// Enters the kernel with trap `number` and up to six arguments; returns
/// (`rax`, `rdx`).
///
/// # Safety
/// Traps that end the thread or task do not return, and a trap may write user
/// memory named by its arguments; the caller vouches for both.
#[inline(always)]
pub unsafe fn raw_trap(number: i64, args: [u64; 6]) -> (i64, u64) {
    let rax: i64;
    let rdx: u64;
    // SAFETY: `syscall` clobbers rcx and r11 only; the kernel preserves every
    // other register except the results in rax and rdx.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") number => rax,
            in("rdi") args[0],
            in("rsi") args[1],
            inlateout("rdx") args[2] => rdx,
            in("r10") args[3],
            in("r8") args[4],
            in("r9") args[5],
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack)
        );
    }
    (rax, rdx)
}

fn kr_of(rax: i64) -> KernReturn {
    rax as KernReturn
}

/// Writes bytes to the kernel console.
pub fn mach_print(bytes: &[u8]) -> KernReturn {
    // SAFETY: the kernel only reads `bytes`.
    let (rax, _) = unsafe {
        raw_trap(
            traps::MACH_PRINT,
            [bytes.as_ptr() as u64, bytes.len() as u64, 0, 0, 0, 0],
        )
    };
    kr_of(rax)
}

/// Ends the calling task.
pub fn task_exit(status: i32) -> ! {
    // SAFETY: ending the task is what the caller asked for.
    unsafe { raw_trap(traps::TASK_EXIT, [status as u64, 0, 0, 0, 0, 0]) };
    unreachable!("task_exit returned")
}

/// Ends the calling thread.
pub fn thread_exit() -> ! {
    // SAFETY: ending the thread is what the caller asked for.
    unsafe { raw_trap(traps::THREAD_EXIT, [0; 6]) };
    unreachable!("thread_exit returned")
}

/// Gives up the processor; true if another thread was runnable.
pub fn swtch() -> bool {
    // SAFETY: swtch has no memory effects.
    let (rax, _) = unsafe { raw_trap(traps::SWTCH, [0; 6]) };
    rax != 0
}

/// Reads one kernel statistic.
pub fn boot_info(kind: traps::BootInfoKind) -> Result<u64, KernReturn> {
    // SAFETY: mach_boot_info has no memory effects.
    let (rax, rdx) = unsafe { raw_trap(traps::MACH_BOOT_INFO, [kind as u64, 0, 0, 0, 0, 0]) };
    if kr_of(rax) == KERN_SUCCESS {
        Ok(rdx)
    } else {
        Err(kr_of(rax))
    }
}

/// `thread_tls_base(op, value)`: sets (op `tls::SET_FS` / `SET_GS`) or reads
/// (`GET_FS` / `GET_GS`, value ignored) the calling thread's user FS or GS
/// base; returns the base read (0 for a set).
pub fn thread_tls_base(op: u64, value: u64) -> Result<u64, KernReturn> {
    // SAFETY: only the thread's FS/GS base changes, which this runtime does
    // not use (the caller decides what its code reads through %fs / %gs).
    let (rax, rdx) = unsafe { raw_trap(traps::THREAD_TLS_BASE, [op, value, 0, 0, 0, 0]) };
    match kr_of(rax) {
        KERN_SUCCESS if op == mach_abi::emulation::tls::GET_FS || op == mach_abi::emulation::tls::GET_GS => Ok(rdx),
        KERN_SUCCESS => Ok(0),
        kr => Err(kr),
    }
}

/// `clock_get_time(clock)`: nanoseconds on `clock::SYSTEM_CLOCK` (since
/// boot) or `clock::CALENDAR_CLOCK` (since the Unix epoch).
pub fn clock_get_time(clock: u64) -> Result<u64, KernReturn> {
    // SAFETY: clock_get_time has no memory effects.
    let (rax, rdx) = unsafe { raw_trap(traps::CLOCK_GET_TIME, [clock, 0, 0, 0, 0, 0]) };
    if kr_of(rax) == KERN_SUCCESS {
        Ok(rdx)
    } else {
        Err(kr_of(rax))
    }
}
