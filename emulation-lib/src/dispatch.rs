//! From a Linux system call number to the family that handles it. Numbers
//! are linux-raw-sys's; one the library does not know goes to the server
//! as a scalar call, which answers ENOSYS and counts it.

use crate::calls;
use crate::{files, local, memory, process, signals};
use linux_raw_sys::general as nr;
use unix_abi::Regs;

/// Handles the system call in `regs` (number in rax) for a program whose
/// stack pointer was `program_rsp`; the result goes to `regs.rax`. True if
/// the call returns elsewhere (a signal handler, or rt_sigreturn's context:
/// `trampoline::set_restore` holds it).
pub fn syscall(regs: &mut Regs, program_rsp: u64) -> bool {
    let a = regs.args();
    let Ok(number) = u32::try_from(regs.rax) else {
        regs.rax = calls::ENOSYS as u64;
        return false;
    };
    let _ = crate::trampoline::take_fault();
    if number == nr::__NR_rt_sigreturn {
        return crate::delivery::sigreturn(regs, program_rsp);
    }
    let result = match number {
        nr::__NR_read
        | nr::__NR_write
        | nr::__NR_pread64
        | nr::__NR_pwrite64
        | nr::__NR_readv
        | nr::__NR_writev
        | nr::__NR_open
        | nr::__NR_openat
        | nr::__NR_creat
        | nr::__NR_stat
        | nr::__NR_lstat
        | nr::__NR_fstat
        | nr::__NR_newfstatat
        | nr::__NR_statx
        | nr::__NR_getdents64
        | nr::__NR_getcwd
        | nr::__NR_readlink
        | nr::__NR_readlinkat
        | nr::__NR_ioctl
        | nr::__NR_pipe
        | nr::__NR_pipe2
        | nr::__NR_mkdir
        | nr::__NR_mkdirat
        | nr::__NR_rmdir
        | nr::__NR_unlink
        | nr::__NR_unlinkat
        | nr::__NR_rename
        | nr::__NR_renameat
        | nr::__NR_renameat2
        | nr::__NR_link
        | nr::__NR_linkat
        | nr::__NR_symlink
        | nr::__NR_symlinkat
        | nr::__NR_chdir
        | nr::__NR_access
        | nr::__NR_faccessat
        | nr::__NR_faccessat2
        | nr::__NR_chmod
        | nr::__NR_fchmodat
        | nr::__NR_chown
        | nr::__NR_lchown
        | nr::__NR_fchownat
        | nr::__NR_truncate
        | nr::__NR_statfs
        | nr::__NR_fstatfs
        | nr::__NR_poll
        | nr::__NR_ppoll
        | nr::__NR_select
        | nr::__NR_pselect6
        | nr::__NR_sendfile
        | nr::__NR_utimensat
        | nr::__NR_mknod
        | nr::__NR_mknodat => files::call(number, a),
        nr::__NR_mmap
        | nr::__NR_munmap
        | nr::__NR_mprotect
        | nr::__NR_brk
        | nr::__NR_mremap
        | nr::__NR_madvise
        | nr::__NR_msync => memory::call(number, a),
        nr::__NR_rt_sigaction
        | nr::__NR_rt_sigprocmask
        | nr::__NR_rt_sigpending
        | nr::__NR_rt_sigsuspend
        | nr::__NR_sigaltstack
        | nr::__NR_setitimer
        | nr::__NR_getitimer => signals::call(number, a),
        nr::__NR_fork
        | nr::__NR_vfork
        | nr::__NR_clone
        | nr::__NR_execve
        | nr::__NR_wait4
        | nr::__NR_uname
        | nr::__NR_getrlimit
        | nr::__NR_setrlimit
        | nr::__NR_prlimit64
        | nr::__NR_getrusage
        | nr::__NR_times
        | nr::__NR_sysinfo
        | nr::__NR_nanosleep
        | nr::__NR_clock_nanosleep
        | nr::__NR_getrandom
        | nr::__NR_prctl => process::call(number, a, regs, program_rsp),
        nr::__NR_arch_prctl
        | nr::__NR_rseq
        | nr::__NR_set_robust_list
        | nr::__NR_clock_gettime
        | nr::__NR_clock_getres
        | nr::__NR_gettimeofday
        | nr::__NR_time
        | nr::__NR_sched_yield
        | nr::__NR_futex => local::call(number, a),
        _ => calls::scalar(number, a),
    };
    // A copy of the program's memory faulted: EFAULT, whatever the family
    // made of it.
    let result = if crate::trampoline::take_fault() {
        calls::EFAULT
    } else {
        result
    };
    regs.rax = result as u64;
    // A call the server cut short for a signal: its handler runs now.
    result == calls::EINTR && crate::delivery::deliver(regs, program_rsp, number)
}
