//! The `unix` interface (`interfaces/unix.defs`) served: each routine is a
//! shape Linux calls come in, and the Linux number picks the call within
//! it. The caller is the process whose port the request came in on (the
//! routine's target); a request on a port that is not a process's never
//! gets here. Results are Linux's: a value, or -errno; an unknown number is
//! ENOSYS, counted.

use crate::server::Unix;
use linux_raw_sys::general as nr;
use mach_interfaces::OolArray;
use mach_interfaces::unix::*;
use mach_user::abi::message::MIG_NO_REPLY;
use mach_user::ool::OolRegion;
use unix_core::errno::Errno;

/// A unix_core result as rax.
fn ret<T: Into<i64>>(r: Result<T, Errno>) -> i64 {
    match r {
        Ok(v) => v.into(),
        Err(e) => e.as_return(),
    }
}

fn n32(number: u64) -> u32 {
    u32::try_from(number).unwrap_or(u32::MAX)
}

impl Unix {
    /// The reply now, or none if the handler kept the request for later.
    fn answer<T>(&mut self, out: T) -> Result<T, i32> {
        if self.current.deferred {
            Err(MIG_NO_REPLY)
        } else {
            Ok(out)
        }
    }
}

impl Unix {
    /// nanosleep and clock_nanosleep: the request is answered when the time
    /// is up (TIMER_ABSTIME: at that time of `clock`).
    fn nanosleep(&mut self, process: u32, clock: u64, flags: u64, data: &[u8]) -> (i64, usize) {
        let word = |i: usize| {
            data.get(i * 8..i * 8 + 8)
                .and_then(|b| b.try_into().ok())
                .map(i64::from_le_bytes)
        };
        let (Some(sec), Some(nsec)) = (word(0), word(1)) else {
            return (Errno::EFAULT.as_return(), 0);
        };
        if sec < 0 || !(0..1_000_000_000).contains(&nsec) {
            return (Errno::EINVAL.as_return(), 0);
        }
        let ns = (sec as u64).saturating_mul(1_000_000_000).saturating_add(nsec as u64);
        let now = crate::blocking::now();
        let deadline = if flags & linux_raw_sys::general::TIMER_ABSTIME as u64 != 0 {
            if clock == linux_raw_sys::general::CLOCK_REALTIME as u64 {
                let cal = mach_user::trap::clock_get_time(mach_user::abi::clock::CALENDAR_CLOCK).unwrap_or(0);
                now.saturating_add(ns.saturating_sub(cal))
            } else {
                ns
            }
        } else {
            now.saturating_add(ns)
        };
        if deadline > now {
            self.block(process, crate::blocking::Wait::Sleep { deadline });
        }
        (0, 0)
    }
}

impl UnixServer for Unix {
    fn unix_scalar(
        &mut self,
        process: u32,
        number: u64,
        a0: u64,
        a1: u64,
        a2: u64,
        a3: u64,
        a4: u64,
        a5: u64,
    ) -> Result<i64, i32> {
        let a = [a0, a1, a2, a3, a4, a5];
        let pid = self.procs.by_port(process).ok_or(MIG_NO_REPLY)?.pid;
        let unix = &mut self.procs.unix;
        let r = match n32(number) {
            nr::__NR_getpid | nr::__NR_gettid | nr::__NR_set_tid_address => pid as i64,
            nr::__NR_getppid => ret(unix.getppid(pid)),
            nr::__NR_getpgrp => ret(unix.getpgid(pid, 0)),
            nr::__NR_getpgid => ret(unix.getpgid(pid, a0 as i32)),
            nr::__NR_getsid => ret(unix.getsid(pid, a0 as i32)),
            nr::__NR_setpgid => ret(unix.setpgid(pid, a0 as i32, a1 as i32).map(|_| 0)),
            nr::__NR_setsid => ret(unix.setsid(pid)),
            nr::__NR_getuid | nr::__NR_geteuid | nr::__NR_getgid | nr::__NR_getegid => 0,
            // pause: a sigsuspend with the mask it already has.
            nr::__NR_pause => {
                let mask = self.procs.by_port(process).map_or(0, |p| p.signals.mask);
                self.sigsuspend(process, &mask.to_le_bytes())
            }
            nr::__NR_setuid | nr::__NR_setgid | nr::__NR_setreuid | nr::__NR_setregid => {
                if a0 == 0 {
                    0
                } else {
                    Errno::EPERM.as_return()
                }
            }
            nr::__NR_umask => {
                let p = self.procs.by_port_mut(process).ok_or(MIG_NO_REPLY)?;
                let old = p.umask;
                p.umask = (a0 as u32) & 0o777;
                old as i64
            }
            nr::__NR_exit | nr::__NR_exit_group => {
                self.exit(process, a0 as i32);
                return Err(MIG_NO_REPLY);
            }
            nr::__NR_fork => ret(self.fork(process, a0, false)),
            nr::__NR_vfork => ret(self.fork(process, a0, true)),
            nr::__NR_brk => self.brk(process, a0),
            nr::__NR_mmap => self.mmap(process, a),
            nr::__NR_munmap => self.munmap(process, a0, a1),
            nr::__NR_mprotect => self.mprotect(process, a0, a1, a2),
            nr::__NR_msync => 0,
            nr::__NR_kill => self.kill(process, a0 as i32, a1 as i32).ok_or(MIG_NO_REPLY)?,
            nr::__NR_tkill => self.kill(process, a0 as i32, a1 as i32).ok_or(MIG_NO_REPLY)?,
            nr::__NR_tgkill => self.kill(process, a1 as i32, a2 as i32).ok_or(MIG_NO_REPLY)?,
            _ => match self.file_scalar(process, n32(number), a) {
                Some(r) => r,
                None => self.enosys(number),
            },
        };
        self.answer(r)
    }

    fn unix_path(
        &mut self,
        process: u32,
        number: u64,
        a0: u64,
        a1: u64,
        a2: u64,
        a3: u64,
        path: &[u8],
    ) -> Result<i64, i32> {
        self.procs.by_port(process).ok_or(MIG_NO_REPLY)?;
        Ok(match self.file_path(process, n32(number), [a0, a1, a2, a3], path) {
            Some(r) => r,
            None => self.enosys(number),
        })
    }

    fn unix_path2(
        &mut self,
        process: u32,
        number: u64,
        a0: u64,
        a1: u64,
        a2: u64,
        path1: &[u8],
        path2: &[u8],
    ) -> Result<i64, i32> {
        self.procs.by_port(process).ok_or(MIG_NO_REPLY)?;
        Ok(
            match self.file_path2(process, n32(number), [a0, a1, a2], path1, path2) {
                Some(r) => r,
                None => self.enosys(number),
            },
        )
    }

    fn unix_path_out(
        &mut self,
        process: u32,
        number: u64,
        a0: u64,
        a1: u64,
        a2: u64,
        path: &[u8],
        data: &mut [u8],
    ) -> Result<UnixPathOutReply, i32> {
        self.procs.by_port(process).ok_or(MIG_NO_REPLY)?;
        let (result, len) = match self.file_path_out(process, n32(number), [a0, a1, a2], path, data) {
            Some(r) => r,
            None => (self.enosys(number), 0),
        };
        Ok(UnixPathOutReply { result, data: len })
    }

    fn unix_write(&mut self, process: u32, number: u64, a0: u64, a1: u64, a2: u64, data: &[u8]) -> Result<i64, i32> {
        self.procs.by_port(process).ok_or(MIG_NO_REPLY)?;
        let r = match self.file_write(process, n32(number), [a0, a1, a2], data) {
            Some(r) => r,
            None => match n32(number) {
                nr::__NR_rt_sigsuspend => self.sigsuspend(process, data),
                nr::__NR_setrlimit => match self.set_rlimit(process, a0, data) {
                    Ok(()) => 0,
                    Err(e) => e.as_return(),
                },
                nr::__NR_prctl if a0 == linux_raw_sys::prctl::PR_SET_NAME as u64 => {
                    if let Some(p) = self.procs.by_port_mut(process) {
                        let n = data.len().min(15);
                        p.name = [0; 16];
                        p.name[..n].copy_from_slice(&data[..n]);
                    }
                    0
                }
                _ => self.enosys(number),
            },
        };
        self.answer(r)
    }

    fn unix_read(
        &mut self,
        process: u32,
        number: u64,
        a0: u64,
        a1: u64,
        a2: u64,
        a3: u64,
        data: &mut [u8],
    ) -> Result<UnixReadReply, i32> {
        let p = self.procs.by_port(process).ok_or(MIG_NO_REPLY)?;
        let name = p.name;
        let (result, len) = match n32(number) {
            nr::__NR_uname => {
                let n = crate::info::utsname(data);
                (0, n)
            }
            nr::__NR_getrandom => {
                let n = (a0 as usize).min(data.len());
                (self.fill_random(&mut data[..n]) as i64, n)
            }
            nr::__NR_getrlimit => match self.get_rlimit(process, a0, data) {
                Ok(n) => (0, n),
                Err(e) => (e.as_return(), 0),
            },
            _ if number == unix_abi::TAKE_SIGNAL => self.take_signal(process, data),
            nr::__NR_wait4 => self.wait4(process, a0 as i32, a1 as u32, data).ok_or(MIG_NO_REPLY)?,
            nr::__NR_prctl if a0 == linux_raw_sys::prctl::PR_GET_NAME as u64 => {
                data[..16].copy_from_slice(&name);
                (0, 16)
            }
            n => match self.file_read(process, n, [a0, a1, a2, a3], data) {
                Some(r) => r,
                None => (self.enosys(number), 0),
            },
        };
        self.answer(UnixReadReply { result, data: len })
    }

    fn unix_exchange(
        &mut self,
        process: u32,
        number: u64,
        a0: u64,
        a1: u64,
        a2: u64,
        a3: u64,
        data: &[u8],
        data_out: &mut [u8],
    ) -> Result<UnixExchangeReply, i32> {
        self.procs.by_port(process).ok_or(MIG_NO_REPLY)?;
        let (result, len) = match n32(number) {
            nr::__NR_prlimit64 => {
                // The old value is read before the new one is set.
                let pid = self.procs.by_port(process).map_or(0, |p| p.pid);
                let old = if a3 != 0 {
                    self.get_rlimit(process, a1, data_out)
                } else {
                    Ok(0)
                };
                if a0 != 0 && a0 as i64 != i64::from(pid) {
                    (Errno::ESRCH.as_return(), 0)
                } else {
                    match old.and_then(|n| {
                        if a2 != 0 {
                            self.set_rlimit(process, a1, data)?;
                        }
                        Ok(n)
                    }) {
                        Ok(n) => (0, n),
                        Err(e) => (e.as_return(), 0),
                    }
                }
            }
            nr::__NR_nanosleep => self.nanosleep(process, 0, 0, data),
            nr::__NR_clock_nanosleep => self.nanosleep(process, a0, a1, data),
            nr::__NR_rt_sigaction => self.sigaction(process, a0, a1, a2 != 0, a3 != 0, data, data_out),
            nr::__NR_rt_sigprocmask => self.sigprocmask(process, a0, a1, a2 != 0, a3 != 0, data, data_out),
            n => match self.file_exchange(process, n, [a0, a1, a2, a3], data, data_out) {
                Some(r) => r,
                None => (self.enosys(number), 0),
            },
        };
        self.answer(UnixExchangeReply { result, data_out: len })
    }

    fn unix_write_ool(
        &mut self,
        process: u32,
        number: u64,
        a0: u64,
        a1: u64,
        a2: u64,
        data: OolArray,
    ) -> Result<i64, i32> {
        let region = OolRegion::bytes(data);
        self.procs.by_port(process).ok_or(MIG_NO_REPLY)?;
        let bytes = &region[..];
        let r = match self.file_write(process, n32(number), [a0, a1, a2], bytes) {
            Some(r) => r,
            None => self.enosys(number),
        };
        self.answer(r)
    }

    fn unix_read_ool(&mut self, process: u32, number: u64, a0: u64, a1: u64, a2: u64) -> Result<UnixReadOolReply, i32> {
        self.procs.by_port(process).ok_or(MIG_NO_REPLY)?;
        // The reply hands its out-of-line memory over (the kernel unmaps it
        // from this task as it sends), so the data goes in fresh pages.
        let count = (a1 as usize).min(16 << 20);
        let size = crate::exec::page_up(count as u64).unwrap_or(0).max(crate::exec::PAGE);
        let Ok(address) = mach_interfaces::vm::vm_allocate(&mut self.rpc, self.task, 0, size, 1) else {
            return Ok(UnixReadOolReply {
                result: Errno::ENOMEM.as_return(),
                data: OolArray { address: 0, count: 0 },
            });
        };
        let mut region = OolRegion::from_received(address, size);
        let (result, len) = match self.file_read(process, n32(number), [a0, a1, a2, 0], &mut region[..count]) {
            Some(r) => r,
            None => (self.enosys(number), 0),
        };
        let (address, _) = region.into_raw();
        if self.current.deferred {
            let _ = mach_interfaces::vm::vm_deallocate(&mut self.rpc, self.task, address, size);
            return Err(MIG_NO_REPLY);
        }
        let kept = crate::exec::page_up(len as u64).unwrap_or(size);
        if kept < size {
            let _ = mach_interfaces::vm::vm_deallocate(&mut self.rpc, self.task, address + kept, size - kept);
        }
        self.answer(UnixReadOolReply {
            result,
            data: OolArray {
                address,
                count: len as u32,
            },
        })
    }

    fn unix_execve(&mut self, process: u32, argc: u32, envc: u32, image: OolArray) -> Result<i64, i32> {
        let region = OolRegion::bytes(image);
        self.procs.by_port(process).ok_or(MIG_NO_REPLY)?;
        match self.execve(process, argc, envc, &region[..]) {
            Ok(()) => Err(MIG_NO_REPLY),
            Err(e) => Ok(e.as_return()),
        }
    }
}
