//! Calls that describe the system or the process: uname, sysinfo, times,
//! getrusage, the resource limits, getrandom. Struct layouts are Linux's
//! x86_64 ones, written field by field.

use crate::server::Unix;
use linux_raw_sys::general as g;
use unix_core::errno::Errno;

/// `struct utsname`: six fields of 65 bytes.
pub fn utsname(out: &mut [u8]) -> usize {
    const FIELD: usize = 65;
    let fields: [&[u8]; 6] = [
        b"Linux",
        b"mach",
        b"6.1.0-mach",
        b"#1 Mach 3.0 Unix server",
        b"x86_64",
        b"(none)",
    ];
    let len = (FIELD * 6).min(out.len());
    out[..len].fill(0);
    for (i, f) in fields.iter().enumerate() {
        let at = i * FIELD;
        if at + f.len() <= len {
            out[at..at + f.len()].copy_from_slice(f);
        }
    }
    len
}

fn put(out: &mut [u8], at: usize, v: u64) {
    if let Some(s) = out.get_mut(at..at + 8) {
        s.copy_from_slice(&v.to_le_bytes());
    }
}

/// A resource limit, as `struct rlimit` (current, maximum).
pub fn rlimit(resource: u64, out: &mut [u8]) -> Result<usize, Errno> {
    const INFINITY: u64 = u64::MAX;
    let (cur, max) = match u32::try_from(resource).map_err(|_| Errno::EINVAL)? {
        g::RLIMIT_STACK => (unix_abi::STACK_SIZE, INFINITY),
        g::RLIMIT_NOFILE => (1024, 4096),
        g::RLIMIT_NPROC => (256, 256),
        g::RLIMIT_CORE => (0, INFINITY),
        r if r < g::RLIM_NLIMITS => (INFINITY, INFINITY),
        _ => return Err(Errno::EINVAL),
    };
    put(out, 0, cur);
    put(out, 8, max);
    Ok(16)
}

impl Unix {
    /// A limit of the calling process (getrlimit, prlimit64's old value):
    /// RLIMIT_NOFILE's current value is its descriptor table's.
    pub fn get_rlimit(&self, port: u32, resource: u64, out: &mut [u8]) -> Result<usize, Errno> {
        let n = rlimit(resource, out)?;
        if resource == u64::from(g::RLIMIT_NOFILE) {
            if let Some(p) = self.procs.by_port(port) {
                put(out, 0, u64::from(p.fds.limit()));
            }
        }
        Ok(n)
    }

    /// setrlimit, prlimit64's new value (`struct rlimit`): RLIMIT_NOFILE
    /// bounds the process's descriptor table (descriptors already open
    /// above it stay open, as on Linux); the others are accepted and not
    /// enforced.
    pub fn set_rlimit(&mut self, port: u32, resource: u64, data: &[u8]) -> Result<(), Errno> {
        let word = |at: usize| -> Result<u64, Errno> {
            let b = data.get(at..at + 8).ok_or(Errno::EFAULT)?;
            Ok(u64::from_le_bytes(b.try_into().map_err(|_| Errno::EFAULT)?))
        };
        let (cur, max) = (word(0)?, word(8)?);
        let resource = u32::try_from(resource).map_err(|_| Errno::EINVAL)?;
        if resource >= g::RLIM_NLIMITS || cur > max {
            return Err(Errno::EINVAL);
        }
        if resource == g::RLIMIT_NOFILE {
            if max > u64::from(unix_core::fdtable::LIMIT_MAX) {
                return Err(Errno::EPERM);
            }
            let p = self.procs.by_port_mut(port).ok_or(Errno::ESRCH)?;
            p.fds.set_limit(cur as u32)?;
        }
        Ok(())
    }

    /// getrandom's bytes (at most `out.len()`).
    pub fn fill_random(&mut self, out: &mut [u8]) -> usize {
        for chunk in out.chunks_mut(8) {
            let r = self.random().to_le_bytes();
            chunk.copy_from_slice(&r[..chunk.len()]);
        }
        out.len()
    }
}
