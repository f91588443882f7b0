//! Calls the library answers without the server: the thread's FS/GS base
//! (a kernel trap), the clocks (a kernel trap: the server would only ask
//! the same clock), and calls a single-threaded process makes that need
//! nobody (rseq, robust futex lists, futexes nobody else waits on).

use crate::calls::{EFAULT, EINVAL, ENOSYS, err};
use crate::trampoline::{clock, copy_in, copy_out, tls};
use linux_raw_sys::general as nr;
use mach_abi::clock::{CALENDAR_CLOCK, NSEC_PER_SEC, SYSTEM_CLOCK};
use mach_abi::emulation::tls as op;

pub fn call(number: u32, a: [u64; 6]) -> i64 {
    match number {
        nr::__NR_arch_prctl => arch_prctl(a[0], a[1]),
        nr::__NR_rseq => ENOSYS,
        nr::__NR_set_robust_list => {
            if a[1] == 24 {
                0
            } else {
                EINVAL
            }
        }
        nr::__NR_clock_gettime => match now(a[0]) {
            Some(ns) if a[1] != 0 => {
                let _ = copy_out(a[1], &timespec(ns));
                0
            }
            Some(_) => EFAULT,
            None => EINVAL,
        },
        nr::__NR_clock_getres => match now(a[0]) {
            Some(_) => {
                if a[1] != 0 {
                    let _ = copy_out(a[1], &timespec(1));
                }
                0
            }
            None => EINVAL,
        },
        nr::__NR_gettimeofday => {
            let ns = clock(CALENDAR_CLOCK).unwrap_or(0);
            if a[0] != 0 {
                let mut tv = [0u8; 16];
                tv[..8].copy_from_slice(&(ns / NSEC_PER_SEC).to_le_bytes());
                tv[8..].copy_from_slice(&(ns % NSEC_PER_SEC / 1000).to_le_bytes());
                let _ = copy_out(a[0], &tv);
            }
            if a[1] != 0 {
                let _ = copy_out(a[1], &[0u8; 8]);
            }
            0
        }
        nr::__NR_time => {
            let secs = clock(CALENDAR_CLOCK).unwrap_or(0) / NSEC_PER_SEC;
            if a[0] != 0 {
                let _ = copy_out(a[0], &secs.to_le_bytes());
            }
            secs as i64
        }
        nr::__NR_sched_yield => 0,
        nr::__NR_futex => futex(a[0], a[1] as u32, a[2] as u32),
        _ => ENOSYS,
    }
}

/// The time of a Linux clock in nanoseconds: CLOCK_REALTIME (and its
/// coarse and alarm forms, and TAI) on the calendar clock, the monotonic
/// ones and the CPU-time ones (which a process cannot tell apart from
/// elapsed time here) on the system clock.
fn now(clock_id: u64) -> Option<u64> {
    let c = match u32::try_from(clock_id).ok()? {
        nr::CLOCK_REALTIME | nr::CLOCK_REALTIME_COARSE | nr::CLOCK_REALTIME_ALARM | nr::CLOCK_TAI => CALENDAR_CLOCK,
        nr::CLOCK_MONOTONIC
        | nr::CLOCK_MONOTONIC_RAW
        | nr::CLOCK_MONOTONIC_COARSE
        | nr::CLOCK_BOOTTIME
        | nr::CLOCK_BOOTTIME_ALARM
        | nr::CLOCK_PROCESS_CPUTIME_ID
        | nr::CLOCK_THREAD_CPUTIME_ID => SYSTEM_CLOCK,
        _ => return None,
    };
    clock(c).ok()
}

fn timespec(ns: u64) -> [u8; 16] {
    let mut ts = [0u8; 16];
    ts[..8].copy_from_slice(&(ns / NSEC_PER_SEC).to_le_bytes());
    ts[8..].copy_from_slice(&(ns % NSEC_PER_SEC).to_le_bytes());
    ts
}

/// asm/prctl.h's codes beside ARCH_SET_FS (linux-raw-sys has only that one).
const ARCH_SET_GS: u32 = nr::ARCH_SET_FS - 1;
const ARCH_GET_FS: u32 = nr::ARCH_SET_FS + 1;
const ARCH_GET_GS: u32 = nr::ARCH_SET_FS + 2;

fn arch_prctl(code: u64, addr: u64) -> i64 {
    let set = |o| match tls(o, addr) {
        Ok(_) => 0,
        Err(_) => err(linux_raw_sys::errno::EPERM),
    };
    let get = |o| match tls(o, 0) {
        Ok(v) => {
            let _ = copy_out(addr, &v.to_le_bytes());
            0
        }
        Err(_) => EFAULT,
    };
    match u32::try_from(code).unwrap_or(0) {
        nr::ARCH_SET_FS => set(op::SET_FS),
        ARCH_SET_GS => set(op::SET_GS),
        ARCH_GET_FS if addr != 0 => get(op::GET_FS),
        ARCH_GET_GS if addr != 0 => get(op::GET_GS),
        ARCH_GET_FS | ARCH_GET_GS => EFAULT,
        _ => EINVAL,
    }
}

/// Futexes of a single-threaded process: nobody else can wake a waiter, so
/// a wait whose value still matches would never end (EAGAIN is what a
/// changed value gives; it is the least wrong answer); a wake wakes nobody.
fn futex(uaddr: u64, op: u32, val: u32) -> i64 {
    let cmd = op & !(nr::FUTEX_PRIVATE_FLAG | nr::FUTEX_CLOCK_REALTIME);
    match cmd {
        nr::FUTEX_WAIT | nr::FUTEX_WAIT_BITSET => {
            if uaddr == 0 {
                return EFAULT;
            }
            let mut b = [0u8; 4];
            if copy_in(uaddr, &mut b).is_err() {
                return EFAULT;
            }
            let _ = val;
            err(linux_raw_sys::errno::EAGAIN)
        }
        nr::FUTEX_WAKE | nr::FUTEX_WAKE_BITSET => 0,
        _ => ENOSYS,
    }
}
