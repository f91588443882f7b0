//! The alternate signal stack (`sigaltstack`): its state, the rules for
//! changing it, and the byte layout of `stack_t` (`ss_sp` at 0, `ss_flags`
//! at 8, `ss_size` at 16; 24 bytes).
//!
//! As in Linux, the flags given to `sigaltstack` are kept as given
//! (SS_AUTODISARM and the mode bits), the frame's `uc_stack` records them so,
//! and `sigaltstack`'s old value reports SS_ONSTACK / SS_DISABLE computed
//! from the stack pointer plus SS_AUTODISARM.

use crate::errno::{Errno, Result};
use crate::signal::read_u64;
use linux_raw_sys::general::{MINSIGSTKSZ, SS_AUTODISARM, SS_DISABLE, SS_FLAG_BITS, SS_ONSTACK};

/// Size of `stack_t`.
pub const STACK_T_SIZE: usize = 24;

/// A `stack_t` as the program reads or writes it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StackT {
    pub sp: u64,
    pub flags: u32,
    pub size: u64,
}

impl StackT {
    /// Reads a `stack_t`. EFAULT if `bytes` is shorter than 24.
    pub fn decode(bytes: &[u8]) -> Result<StackT> {
        let flags: [u8; 4] = bytes.get(8..12).and_then(|b| b.try_into().ok()).ok_or(Errno::EFAULT)?;
        Ok(StackT {
            sp: read_u64(bytes, 0).ok_or(Errno::EFAULT)?,
            flags: u32::from_le_bytes(flags),
            size: read_u64(bytes, 16).ok_or(Errno::EFAULT)?,
        })
    }

    /// The `stack_t` bytes (the padding after `ss_flags` is zero).
    pub fn encode(&self) -> [u8; STACK_T_SIZE] {
        let mut out = [0u8; STACK_T_SIZE];
        out[0..8].copy_from_slice(&self.sp.to_le_bytes());
        out[8..12].copy_from_slice(&self.flags.to_le_bytes());
        out[16..24].copy_from_slice(&self.size.to_le_bytes());
        out
    }
}

/// A process's alternate signal stack: `[sp, sp + size)`, disabled when
/// `size` is 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AltStack {
    pub sp: u64,
    pub size: u64,
    /// The flags as given to `sigaltstack`.
    pub flags: u32,
}

impl AltStack {
    pub const DISABLED: AltStack = AltStack {
        sp: 0,
        size: 0,
        flags: 0,
    };

    pub const fn is_enabled(&self) -> bool {
        self.size != 0
    }

    /// Whether SS_AUTODISARM was given: entering the stack for a handler
    /// disables it until rt_sigreturn.
    pub const fn autodisarm(&self) -> bool {
        self.flags & SS_AUTODISARM != 0
    }

    /// Whether `sp` lies in the stack (`sp > base && sp - base <= size`: a
    /// stack pointer at the very top counts, one at the base does not).
    pub const fn contains(&self, sp: u64) -> bool {
        sp > self.sp && sp - self.sp <= self.size
    }

    /// Linux's `on_sig_stack`: [`AltStack::contains`], but never with
    /// SS_AUTODISARM (such a stack is disarmed while in use).
    pub const fn on_stack(&self, sp: u64) -> bool {
        !self.autodisarm() && self.contains(sp)
    }

    /// The end of the stack (`sp + size`), None if it wraps.
    pub const fn top(&self) -> Option<u64> {
        self.sp.checked_add(self.size)
    }

    /// `SS_DISABLE` if disabled, `SS_ONSTACK` if `sp` is on it, else 0.
    pub const fn ss_flags(&self, sp: u64) -> u32 {
        if !self.is_enabled() {
            SS_DISABLE
        } else if self.on_stack(sp) {
            SS_ONSTACK
        } else {
            0
        }
    }

    /// What `sigaltstack`'s old value reports with stack pointer `sp`.
    pub const fn report(&self, sp: u64) -> StackT {
        StackT {
            sp: self.sp,
            flags: self.ss_flags(sp) | (self.flags & SS_FLAG_BITS),
            size: self.size,
        }
    }

    /// What a signal frame's `uc_stack` records (the stored values).
    pub const fn saved(&self) -> StackT {
        StackT {
            sp: self.sp,
            flags: self.flags,
            size: self.size,
        }
    }

    /// The stack after `sigaltstack(ss)` with stack pointer `sp`. EPERM while
    /// on the stack; EINVAL for a mode other than 0, SS_ONSTACK or SS_DISABLE
    /// (SS_AUTODISARM may be added); ENOMEM if smaller than MINSIGSTKSZ. With
    /// SS_DISABLE the address and size become 0.
    pub fn set(&self, ss: StackT, sp: u64) -> Result<AltStack> {
        if self.on_stack(sp) {
            return Err(Errno::EPERM);
        }
        let mode = ss.flags & !SS_FLAG_BITS;
        if mode != 0 && mode != SS_ONSTACK && mode != SS_DISABLE {
            return Err(Errno::EINVAL);
        }
        if mode == SS_DISABLE {
            return Ok(AltStack {
                sp: 0,
                size: 0,
                flags: ss.flags,
            });
        }
        if ss.size < u64::from(MINSIGSTKSZ) {
            return Err(Errno::ENOMEM);
        }
        Ok(AltStack {
            sp: ss.sp,
            size: ss.size,
            flags: ss.flags,
        })
    }
}
