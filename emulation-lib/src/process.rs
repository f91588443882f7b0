//! Process calls: fork, vfork and clone (of processes, not threads),
//! execve, wait4, and the calls that read or set a process's limits, usage,
//! identity and sleep.

use crate::calls::{self, EFAULT, INLINE_DATA, err};
use crate::trampoline::{self, StrError, copy_in, copy_in_str, copy_out};
use linux_raw_sys::general as nr;
use unix_abi::Regs;

const RUSAGE_SIZE: usize = 144;
const UTSNAME_SIZE: usize = 390;
const RLIMIT_SIZE: usize = 16;
const TMS_SIZE: usize = 32;
const SYSINFO_SIZE: usize = 112;
const TIMESPEC_SIZE: usize = 16;

pub fn call(number: u32, a: [u64; 6], regs: &Regs, program_rsp: u64) -> i64 {
    match number {
        nr::__NR_fork | nr::__NR_vfork => fork(number, regs, program_rsp, None, 0, 0),
        nr::__NR_clone => clone(a, regs, program_rsp),
        nr::__NR_execve => execve(a[0], a[1], a[2]),
        nr::__NR_wait4 => wait4(a),
        nr::__NR_uname => out(number, [0; 4], a[0], UTSNAME_SIZE),
        nr::__NR_getrlimit => out(number, [a[0], 0, 0, 0], a[1], RLIMIT_SIZE),
        nr::__NR_setrlimit => {
            if a[1] == 0 {
                return EFAULT;
            }
            calls::write_inline(number, [a[0], 0, 0], a[1], RLIMIT_SIZE)
        }
        nr::__NR_prlimit64 => prlimit64(a),
        nr::__NR_getrusage => out(number, [a[0], 0, 0, 0], a[1], RUSAGE_SIZE),
        nr::__NR_times => {
            let mut b = [0u8; TMS_SIZE];
            let (r, n) = calls::read_into(number, [0; 4], &mut b);
            if r >= 0 && a[0] != 0 {
                let _ = copy_out(a[0], &b[..n.min(TMS_SIZE)]);
            }
            r
        }
        nr::__NR_sysinfo => out(number, [0; 4], a[0], SYSINFO_SIZE),
        nr::__NR_nanosleep => sleep(number, [0, 0], a[0], a[1]),
        nr::__NR_clock_nanosleep => sleep(number, [a[0], a[1]], a[2], a[3]),
        nr::__NR_getrandom => {
            let n = (a[1] as usize).min(INLINE_DATA);
            calls::read_inline(number, [n as u64, a[2], 0, 0], a[0], n)
        }
        nr::__NR_prctl => prctl(number, a),
        _ => calls::scalar(number, a),
    }
}

fn out(number: u32, a: [u64; 4], ptr: u64, size: usize) -> i64 {
    if ptr == 0 {
        return EFAULT;
    }
    calls::read_inline(number, a, ptr, size)
}

/// fork, vfork and process clones: the child's registers are this call's
/// with rax = 0 (kept where the child's copy of memory holds them), on
/// `child_stack` if given, with `fs` as its FS base if given, its pid
/// written at `ctid` if not 0. The server makes the child and starts its
/// thread at the library's fork entry.
fn fork(number: u32, regs: &Regs, program_rsp: u64, fs: Option<u64>, child_stack: u64, ctid: u64) -> i64 {
    let rsp = if child_stack != 0 { child_stack } else { program_rsp };
    let start = trampoline::save_for_fork(regs, rsp, fs, ctid);
    calls::scalar(number, [start, 0, 0, 0, 0, 0])
}

/// clone(flags, newsp, parent_tid, child_tid, tls) for new processes (no
/// CLONE_VM, or CLONE_VM with CLONE_VFORK, which the server runs as a
/// vfork of a copy); threads are refused with ENOSYS.
fn clone(a: [u64; 6], regs: &Regs, program_rsp: u64) -> i64 {
    let flags = a[0];
    let vm = flags & nr::CLONE_VM as u64 != 0;
    let vfork = flags & nr::CLONE_VFORK as u64 != 0;
    if flags & nr::CLONE_THREAD as u64 != 0 || (vm && !vfork) {
        return calls::ENOSYS;
    }
    let fs = (flags & nr::CLONE_SETTLS as u64 != 0).then_some(a[4]);
    let ctid = if flags & nr::CLONE_CHILD_SETTID as u64 != 0 {
        a[3]
    } else {
        0
    };
    let number = if vfork { nr::__NR_vfork } else { nr::__NR_fork };
    let r = fork(number, regs, program_rsp, fs, a[1], ctid);
    if r > 0 && flags & nr::CLONE_PARENT_SETTID as u64 != 0 && a[2] != 0 {
        let _ = copy_out(a[2], &(r as u32).to_le_bytes());
    }
    r
}

/// Reads the NULL-terminated pointer array at `list` as strings into
/// `image` from `at`; returns the new end and the count.
fn gather(list: u64, image: &mut [u8], mut at: usize) -> Result<(usize, u32), i64> {
    let mut count = 0u32;
    if list == 0 {
        return Ok((at, 0));
    }
    loop {
        let mut p = [0u8; 8];
        copy_in(list.wrapping_add(count as u64 * 8), &mut p).map_err(|_| EFAULT)?;
        let s = u64::from_le_bytes(p);
        if s == 0 {
            return Ok((at, count));
        }
        let room = image.get_mut(at..).ok_or(err(linux_raw_sys::errno::E2BIG))?;
        let n = copy_in_str(s, room).map_err(|e| match e {
            StrError::TooLong => err(linux_raw_sys::errno::E2BIG),
            StrError::Fault => EFAULT,
        })?;
        image[at + n] = 0;
        at += n + 1;
        count += 1;
    }
}

fn execve(path: u64, argv: u64, envp: u64) -> i64 {
    if path == 0 {
        return EFAULT;
    }
    let image = trampoline::exec_buffer();
    let n = match copy_in_str(path, &mut image[..calls::PATH_MAX]) {
        Ok(n) => n,
        Err(StrError::TooLong) => return err(linux_raw_sys::errno::ENAMETOOLONG),
        Err(StrError::Fault) => return EFAULT,
    };
    image[n] = 0;
    let (at, argc) = match gather(argv, image, n + 1) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let (end, envc) = match gather(envp, image, at) {
        Ok(x) => x,
        Err(e) => return e,
    };
    calls::execve(argc, envc, &image[..end])
}

/// wait4(pid, status *, options, rusage *): both come back in-line,
/// status first.
fn wait4(a: [u64; 6]) -> i64 {
    let mut b = [0u8; 4 + RUSAGE_SIZE];
    let (r, n) = calls::read_into(nr::__NR_wait4, [a[0], a[2], 0, 0], &mut b);
    if r > 0 && n >= b.len() {
        if a[1] != 0 {
            let _ = copy_out(a[1], &b[..4]);
        }
        if a[3] != 0 {
            let _ = copy_out(a[3], &b[4..]);
        }
    }
    r
}

fn prlimit64(a: [u64; 6]) -> i64 {
    let mut input = [0u8; RLIMIT_SIZE];
    let inp: &[u8] = if a[2] != 0 {
        if copy_in(a[2], &mut input).is_err() {
            return EFAULT;
        }
        &input
    } else {
        &[]
    };
    let mut output = [0u8; RLIMIT_SIZE];
    let (r, n) = calls::exchange(
        nr::__NR_prlimit64,
        [a[0], a[1], (a[2] != 0) as u64, (a[3] != 0) as u64],
        inp,
        &mut output,
    );
    if r >= 0 && a[3] != 0 {
        let _ = copy_out(a[3], &output[..n.min(RLIMIT_SIZE)]);
    }
    r
}

/// nanosleep and clock_nanosleep: the request in, the time left back
/// (copied when the sleep was interrupted).
fn sleep(number: u32, lead: [u64; 2], req: u64, rem: u64) -> i64 {
    if req == 0 {
        return EFAULT;
    }
    let mut input = [0u8; TIMESPEC_SIZE];
    if copy_in(req, &mut input).is_err() {
        return EFAULT;
    }
    let mut output = [0u8; TIMESPEC_SIZE];
    let (r, n) = calls::exchange(number, [lead[0], lead[1], 0, 0], &input, &mut output);
    if r == err(linux_raw_sys::errno::EINTR) && rem != 0 {
        let _ = copy_out(rem, &output[..n.min(TIMESPEC_SIZE)]);
    }
    r
}

/// prctl: PR_SET_NAME and PR_GET_NAME carry the 16-byte name.
fn prctl(number: u32, a: [u64; 6]) -> i64 {
    const PR_SET_NAME: u64 = linux_raw_sys::prctl::PR_SET_NAME as u64;
    const PR_GET_NAME: u64 = linux_raw_sys::prctl::PR_GET_NAME as u64;
    match a[0] {
        PR_SET_NAME if a[1] != 0 => {
            let mut name = [0u8; 16];
            let n = match copy_in_str(a[1], &mut name[..15]) {
                Ok(n) => n,
                Err(StrError::TooLong) => 15,
                Err(StrError::Fault) => return EFAULT,
            };
            calls::write_bytes(number, [PR_SET_NAME, 0, 0], &name[..n])
        }
        PR_GET_NAME if a[1] != 0 => calls::read_inline(number, [PR_GET_NAME, 0, 0, 0], a[1], 16),
        PR_SET_NAME | PR_GET_NAME => EFAULT,
        _ => calls::scalar(number, a),
    }
}
