//! `siginfo_t` for x86_64: 128 bytes, `si_signo` at 0, `si_errno` at 4,
//! `si_code` at 8, then the union at 16 whose member depends on how the
//! signal came (kill, a child's change, a fault, a timer, sigqueue). The
//! offsets are checked against the C library's `siginfo_t` in the tests.

use linux_raw_sys::general::{SI_KERNEL, SI_USER};

/// Size of `siginfo_t`.
pub const SIGINFO_SIZE: usize = 128;

/// The union member of a `siginfo_t`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SigFields {
    /// Nothing (SI_KERNEL signals): the union is zero.
    #[default]
    None,
    /// kill, tkill, tgkill, raise: the sender.
    Kill { pid: i32, uid: u32 },
    /// SIGCHLD: the child, its real uid, `si_status`, and its user and system
    /// times in clock ticks.
    Child {
        pid: i32,
        uid: u32,
        status: i32,
        utime: i64,
        stime: i64,
    },
    /// SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP: the faulting address.
    Fault { addr: u64 },
    /// POSIX timers: timer id, overrun count and the timer's `sigval`.
    Timer { tid: i32, overrun: i32, value: u64 },
    /// sigqueue / rt_sigqueueinfo: the sender and its `sigval`.
    Queue { pid: i32, uid: u32, value: u64 },
}

/// A `siginfo_t`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigInfo {
    pub signo: u32,
    pub errno: i32,
    pub code: i32,
    pub fields: SigFields,
}

fn put(out: &mut [u8; SIGINFO_SIZE], off: usize, bytes: &[u8]) {
    if let Some(dst) = out.get_mut(off..).and_then(|d| d.get_mut(..bytes.len())) {
        dst.copy_from_slice(bytes);
    }
}

impl SigInfo {
    /// A signal sent by `kill` from `pid` (SI_USER).
    pub const fn user(sig: u32, pid: i32, uid: u32) -> SigInfo {
        SigInfo {
            signo: sig,
            errno: 0,
            code: SI_USER as i32,
            fields: SigFields::Kill { pid, uid },
        }
    }

    /// A signal the system raised itself (SI_KERNEL, e.g. SIGSEGV for a
    /// frame that could not be written).
    pub const fn kernel(sig: u32) -> SigInfo {
        SigInfo {
            signo: sig,
            errno: 0,
            code: SI_KERNEL as i32,
            fields: SigFields::None,
        }
    }

    /// The 128 bytes; every byte not named by a field is zero.
    pub fn encode(&self) -> [u8; SIGINFO_SIZE] {
        let mut out = [0u8; SIGINFO_SIZE];
        put(&mut out, 0, &self.signo.to_le_bytes());
        put(&mut out, 4, &self.errno.to_le_bytes());
        put(&mut out, 8, &self.code.to_le_bytes());
        match self.fields {
            SigFields::None => {}
            SigFields::Kill { pid, uid } => {
                put(&mut out, 16, &pid.to_le_bytes());
                put(&mut out, 20, &uid.to_le_bytes());
            }
            SigFields::Child {
                pid,
                uid,
                status,
                utime,
                stime,
            } => {
                put(&mut out, 16, &pid.to_le_bytes());
                put(&mut out, 20, &uid.to_le_bytes());
                put(&mut out, 24, &status.to_le_bytes());
                put(&mut out, 32, &utime.to_le_bytes());
                put(&mut out, 40, &stime.to_le_bytes());
            }
            SigFields::Fault { addr } => put(&mut out, 16, &addr.to_le_bytes()),
            SigFields::Timer { tid, overrun, value } => {
                put(&mut out, 16, &tid.to_le_bytes());
                put(&mut out, 20, &overrun.to_le_bytes());
                put(&mut out, 24, &value.to_le_bytes());
            }
            SigFields::Queue { pid, uid, value } => {
                put(&mut out, 16, &pid.to_le_bytes());
                put(&mut out, 20, &uid.to_le_bytes());
                put(&mut out, 24, &value.to_le_bytes());
            }
        }
        out
    }
}
