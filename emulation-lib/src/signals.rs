//! Signal calls: actions, masks, the pending set, the alternate stack and
//! interval timers are the server's state; their structs travel in-line.

use crate::calls::{self, EFAULT};
use crate::trampoline::{copy_in, copy_out};
use linux_raw_sys::general as nr;

/// `struct kernel_sigaction` (handler, flags, restorer, mask).
const SIGACTION_SIZE: usize = 32;
const SIGSET_SIZE: usize = 8;
const STACK_T_SIZE: usize = 24;
const ITIMERVAL_SIZE: usize = 32;

/// Passes the `size` bytes at `new` (if not null) and copies what comes
/// back to `old` (if not null); `a` gets the presence of each as 0 or 1
/// after the call's own numbers.
fn exchange(number: u32, lead: [u64; 2], new: u64, old: u64, size: usize) -> i64 {
    let mut input = [0u8; 32];
    let inp = if new != 0 {
        if copy_in(new, &mut input[..size]).is_err() {
            return EFAULT;
        }
        &input[..size]
    } else {
        &input[..0]
    };
    let mut output = [0u8; 32];
    let (r, n) = calls::exchange(
        number,
        [lead[0], lead[1], (new != 0) as u64, (old != 0) as u64],
        inp,
        &mut output,
    );
    if r >= 0 && old != 0 {
        let _ = copy_out(old, &output[..n.min(size)]);
    }
    r
}

pub fn call(number: u32, a: [u64; 6]) -> i64 {
    match number {
        nr::__NR_rt_sigaction => exchange(number, [a[0], a[3]], a[1], a[2], SIGACTION_SIZE),
        nr::__NR_rt_sigprocmask => exchange(number, [a[0], a[3]], a[1], a[2], SIGSET_SIZE),
        nr::__NR_sigaltstack => exchange(number, [0, 0], a[0], a[1], STACK_T_SIZE),
        nr::__NR_setitimer => exchange(number, [a[0], 0], a[1], a[2], ITIMERVAL_SIZE),
        nr::__NR_getitimer => {
            if a[1] == 0 {
                return EFAULT;
            }
            calls::read_inline(number, [a[0], 0, 0, 0], a[1], ITIMERVAL_SIZE)
        }
        nr::__NR_rt_sigpending => {
            if a[0] == 0 {
                return EFAULT;
            }
            calls::read_inline(number, [a[1], 0, 0, 0], a[0], SIGSET_SIZE)
        }
        nr::__NR_rt_sigsuspend => {
            if a[0] == 0 {
                return EFAULT;
            }
            calls::write_inline(number, [a[1], 0, 0], a[0], SIGSET_SIZE)
        }
        _ => calls::scalar(number, a),
    }
}
