//! Wait status words: the `int` that `wait4` stores, encoded as Linux does
//! (exit code in bits 8..15; terminating signal in bits 0..6 with 0x80 for a
//! core dump; a stop as `sig << 8 | 0x7f`; a continue as 0xffff), so that
//! the C library's `WIFEXITED`, `WEXITSTATUS`, `WIFSIGNALED`, `WTERMSIG`,
//! `WCOREDUMP`, `WIFSTOPPED`, `WSTOPSIG` and `WIFCONTINUED` read them.

use crate::errno::{Errno, Result};
use linux_raw_sys::general::{CLD_CONTINUED, CLD_DUMPED, CLD_EXITED, CLD_KILLED, CLD_STOPPED, SIGCONT};

/// How a child changed state, as `wait4` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitStatus {
    /// `_exit(code)`: the low 8 bits of the code.
    Exited(u8),
    /// Killed by signal `sig` (1..=64), with or without a core dump.
    Signaled { sig: u8, core: bool },
    /// Stopped by signal `sig` (reported with WUNTRACED).
    Stopped(u8),
    /// Continued by SIGCONT (reported with WCONTINUED).
    Continued,
}

/// The status of a child that called `_exit(code)`.
pub const fn exited_status(code: u8) -> i32 {
    (code as i32) << 8
}

/// The status of a child killed by `sig`, with 0x80 if it dumped core.
pub const fn signaled_status(sig: u8, core: bool) -> i32 {
    (sig & 0x7f) as i32 | if core { 0x80 } else { 0 }
}

/// The status of a child stopped by `sig`.
pub const fn stopped_status(sig: u8) -> i32 {
    ((sig as i32) << 8) | 0x7f
}

/// The status of a child continued by SIGCONT.
pub const CONTINUED_STATUS: i32 = 0xffff;

impl WaitStatus {
    /// The status word.
    pub const fn encode(self) -> i32 {
        match self {
            WaitStatus::Exited(code) => exited_status(code),
            WaitStatus::Signaled { sig, core } => signaled_status(sig, core),
            WaitStatus::Stopped(sig) => stopped_status(sig),
            WaitStatus::Continued => CONTINUED_STATUS,
        }
    }

    /// Reads a status word back; None for words Linux never produces.
    pub fn decode(raw: i32) -> Option<WaitStatus> {
        if raw == CONTINUED_STATUS {
            return Some(WaitStatus::Continued);
        }
        if raw & !0xffff != 0 {
            return None;
        }
        let low = (raw & 0x7f) as u8;
        let high = ((raw >> 8) & 0xff) as u8;
        match (low, raw & 0x80 != 0) {
            (0, false) => Some(WaitStatus::Exited(high)),
            (0x7f, false) if (1..=64).contains(&high) => Some(WaitStatus::Stopped(high)),
            (sig, core) if high == 0 && (1..=64).contains(&sig) => Some(WaitStatus::Signaled { sig, core }),
            _ => None,
        }
    }

    /// Whether this is a termination (Exited or Signaled).
    pub const fn is_exit(self) -> bool {
        matches!(self, WaitStatus::Exited(_) | WaitStatus::Signaled { .. })
    }

    /// Termination by signal `sig` (1..=64, else EINVAL).
    pub fn signaled(sig: u32, core: bool) -> Result<WaitStatus> {
        Ok(WaitStatus::Signaled {
            sig: signal_byte(sig)?,
            core,
        })
    }
}

impl WaitStatus {
    /// SIGCHLD's `(si_code, si_status)` for this change: CLD_EXITED with the
    /// exit code, CLD_KILLED or CLD_DUMPED with the signal, CLD_STOPPED with
    /// the stop signal, CLD_CONTINUED with SIGCONT.
    pub fn child_code(self) -> (i32, i32) {
        let (code, st) = match self {
            WaitStatus::Exited(c) => (CLD_EXITED, u32::from(c)),
            WaitStatus::Signaled { sig, core: false } => (CLD_KILLED, u32::from(sig)),
            WaitStatus::Signaled { sig, core: true } => (CLD_DUMPED, u32::from(sig)),
            WaitStatus::Stopped(sig) => (CLD_STOPPED, u32::from(sig)),
            WaitStatus::Continued => (CLD_CONTINUED, SIGCONT),
        };
        (code as i32, st as i32)
    }
}

/// A signal number 1..=64 as a byte; EINVAL otherwise.
pub(crate) fn signal_byte(sig: u32) -> Result<u8> {
    match u8::try_from(sig) {
        Ok(s @ 1..=64) => Ok(s),
        _ => Err(Errno::EINVAL),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host_c;
    use linux_raw_sys::general::{SIGINT, SIGSEGV};
    use std::vec::Vec;

    #[test]
    fn status_words_read_back_with_the_c_macros() {
        let cases = [
            WaitStatus::Exited(0),
            WaitStatus::Exited(1),
            WaitStatus::Exited(255),
            WaitStatus::Signaled { sig: 9, core: false },
            WaitStatus::Signaled { sig: 11, core: true },
            WaitStatus::Signaled { sig: 64, core: false },
            WaitStatus::Stopped(19),
            WaitStatus::Stopped(20),
            WaitStatus::Continued,
        ];
        // The definitions of the macros (glibc's bits/waitstatus.h).
        for s in cases {
            let w = s.encode();
            let ifexited = w & 0x7f == 0;
            let ifsignaled = (((w & 0x7f) + 1) as i8 >> 1) > 0;
            let ifstopped = w & 0xff == 0x7f;
            let ifcontinued = w == 0xffff;
            match s {
                WaitStatus::Exited(c) => assert!(ifexited && (w & 0xff00) >> 8 == i32::from(c)),
                WaitStatus::Signaled { sig, core } => {
                    assert!(ifsignaled && !ifexited && w & 0x7f == i32::from(sig) && (w & 0x80 != 0) == core)
                }
                WaitStatus::Stopped(sig) => assert!(ifstopped && !ifsignaled && (w & 0xff00) >> 8 == i32::from(sig)),
                WaitStatus::Continued => assert!(ifcontinued && !ifexited && !ifstopped),
            }
            assert_eq!(WaitStatus::decode(w), Some(s));
        }
        assert_eq!(exited_status(3), 0x300);
        assert_eq!(signaled_status(6, true), 0x86);
        assert_eq!(stopped_status(19), 0x137f);
        assert_eq!(CONTINUED_STATUS, 0xffff);
        for bad in [0x10000, -1, 0x80, 0x7f, 0x417f, 0x0109, 65] {
            assert_eq!(WaitStatus::decode(bad), None, "{bad:#x}");
        }

        // And the real macros, if a C compiler is there.
        let mut prog = std::string::String::from("#include <stdio.h>\n#include <sys/wait.h>\nint main(void) {\n");
        for (i, s) in cases.iter().enumerate() {
            prog += &std::format!(
                "{{ int w = {w}; printf(\"c{i} %d %d %d %d %d %d %d %d\\n\", WIFEXITED(w)?1:0, WEXITSTATUS(w), \
             WIFSIGNALED(w)?1:0, WTERMSIG(w), WCOREDUMP(w)?1:0, WIFSTOPPED(w)?1:0, WSTOPSIG(w), WIFCONTINUED(w)?1:0); }}\n",
                w = s.encode()
            );
        }
        prog += "return 0; }\n";
        let Some(out) = host_c::run("wait", &prog) else {
            return;
        };
        for (i, s) in cases.iter().enumerate() {
            let line = out.lines().find(|l| l.starts_with(&std::format!("c{i} "))).unwrap();
            let v: Vec<i32> = line.split(' ').skip(1).map(|x| x.parse().unwrap()).collect();
            let expect: [i32; 8] = match *s {
                WaitStatus::Exited(c) => [1, c.into(), 0, 0, 0, 0, c.into(), 0],
                WaitStatus::Signaled { sig, core } => [0, 0, 1, sig.into(), core.into(), 0, 0, 0],
                WaitStatus::Stopped(sig) => [0, sig.into(), 0, 0x7f, 0, 1, sig.into(), 0],
                WaitStatus::Continued => [0, 255, 0, 0x7f, 1, 0, 255, 1],
            };
            assert_eq!(v, expect, "{s:?}");
        }
    }

    #[test]
    fn child_codes_for_sigchld() {
        assert_eq!(WaitStatus::Exited(3).child_code(), (CLD_EXITED as i32, 3));
        assert_eq!(
            WaitStatus::Signaled { sig: 2, core: false }.child_code(),
            (CLD_KILLED as i32, 2)
        );
        assert_eq!(
            WaitStatus::Signaled { sig: 11, core: true }.child_code(),
            (CLD_DUMPED as i32, 11)
        );
        assert_eq!(WaitStatus::Stopped(20).child_code(), (CLD_STOPPED as i32, 20));
        assert_eq!(WaitStatus::Continued.child_code(), (CLD_CONTINUED as i32, 18));
        assert_eq!(
            WaitStatus::signaled(SIGSEGV, true),
            Ok(WaitStatus::Signaled { sig: 11, core: true })
        );
        assert_eq!(WaitStatus::signaled(0, false), Err(Errno::EINVAL));
        assert_eq!(WaitStatus::signaled(65, false), Err(Errno::EINVAL));
        assert_eq!(WaitStatus::signaled(64, false).map(|s| s.encode()), Ok(64));
        assert!(!WaitStatus::Stopped(SIGINT as u8).is_exit());
    }
}
