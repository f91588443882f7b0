//! Signal state of a process, per the Linux x86_64 ABI.
//!
//! This module owns what `rt_sigaction`, `rt_sigprocmask`, `rt_sigpending`,
//! `rt_sigsuspend` and `sigaltstack` see and change: the 64 dispositions
//! ([`SigAction`], with the byte layout of the kernel's `struct
//! kernel_sigaction`), the blocked mask, the pending set, the alternate
//! signal stack ([`altstack`]), and the choice of the next signal to deliver
//! with the action that follows ([`SignalState::next_deliverable`]).
//! What exec and fork do to that state is here too.
//!
//! Submodules: [`altstack`] (the `stack_t` state and layout), [`siginfo`]
//! (the 128-byte `siginfo_t`), [`frame`] (the `rt_sigframe` the handler runs
//! on, built and read back without allocating).
//!
//! Pending signals are a set: a second instance of a pending signal, real-time
//! ones included, is merged with the first (Linux queues real-time signals).
//! Processes are single-threaded, so the mask is the process's.

use crate::errno::{Errno, Result};
use linux_raw_sys::general::{
    SA_EXPOSE_TAGBITS, SA_NOCLDSTOP, SA_NOCLDWAIT, SA_NODEFER, SA_ONSTACK, SA_RESETHAND, SA_RESTART, SA_RESTORER,
    SA_SIGINFO, SIG_BLOCK, SIG_SETMASK, SIG_UNBLOCK, SIGABRT, SIGBUS, SIGCHLD, SIGCONT, SIGFPE, SIGILL, SIGKILL,
    SIGQUIT, SIGSEGV, SIGSTOP, SIGSYS, SIGTRAP, SIGTSTP, SIGTTIN, SIGTTOU, SIGURG, SIGWINCH, SIGXCPU, SIGXFSZ,
};

pub mod altstack;
pub mod frame;
pub mod siginfo;

pub use altstack::{AltStack, StackT};

/// Number of signals (1..=64).
pub const NSIG: u32 = 64;

/// The only `sigsetsize` the rt_sig* calls accept on x86_64.
pub const SIGSET_SIZE: usize = 8;

/// Size of `struct kernel_sigaction` (handler, flags, restorer, mask).
pub const KERNEL_SIGACTION_SIZE: usize = 32;

/// `sa_flags` bits the kernel keeps (others are cleared, so programs can
/// detect unsupported flags, as Linux does since 5.11).
pub const KNOWN_SA_FLAGS: u64 = (SA_NOCLDSTOP
    | SA_NOCLDWAIT
    | SA_SIGINFO
    | SA_ONSTACK
    | SA_RESTART
    | SA_NODEFER
    | SA_RESETHAND
    | SA_EXPOSE_TAGBITS
    | SA_RESTORER) as u64;

/// A set of signals: bit `sig - 1` for signal `sig`, as in `sigset_t`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SigSet(pub u64);

const fn bit(sig: u32) -> u64 {
    if sig >= 1 && sig <= NSIG { 1 << (sig - 1) } else { 0 }
}

impl SigSet {
    pub const EMPTY: SigSet = SigSet(0);
    /// SIGKILL and SIGSTOP, which cannot be blocked, caught or ignored.
    pub const UNBLOCKABLE: SigSet = SigSet(bit(SIGKILL) | bit(SIGSTOP));
    /// Faults the kernel delivers before other pending signals.
    pub const SYNCHRONOUS: SigSet =
        SigSet(bit(SIGSEGV) | bit(SIGBUS) | bit(SIGILL) | bit(SIGTRAP) | bit(SIGFPE) | bit(SIGSYS));
    /// The stop signals.
    pub const STOP: SigSet = SigSet(bit(SIGSTOP) | bit(SIGTSTP) | bit(SIGTTIN) | bit(SIGTTOU));

    /// The set holding only `sig` (empty if `sig` is not 1..=64).
    pub const fn of(sig: u32) -> SigSet {
        SigSet(bit(sig))
    }

    pub const fn contains(self, sig: u32) -> bool {
        self.0 & bit(sig) != 0
    }

    pub const fn with(self, sig: u32) -> SigSet {
        SigSet(self.0 | bit(sig))
    }

    pub const fn without(self, sig: u32) -> SigSet {
        SigSet(self.0 & !bit(sig))
    }

    pub const fn union(self, other: SigSet) -> SigSet {
        SigSet(self.0 | other.0)
    }

    pub const fn minus(self, other: SigSet) -> SigSet {
        SigSet(self.0 & !other.0)
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The lowest-numbered signal in the set.
    pub const fn lowest(self) -> Option<u32> {
        if self.0 == 0 {
            None
        } else {
            Some(self.0.trailing_zeros() + 1)
        }
    }

    /// The set as a blocked mask may hold it (without SIGKILL and SIGSTOP).
    pub const fn blockable(self) -> SigSet {
        self.minus(SigSet::UNBLOCKABLE)
    }
}

/// Checks a signal number (1..=64; EINVAL otherwise).
pub fn check_signal(sig: u32) -> Result<()> {
    if (1..=NSIG).contains(&sig) {
        Ok(())
    } else {
        Err(Errno::EINVAL)
    }
}

/// `sa_handler`: SIG_DFL (0), SIG_IGN (1) or a handler's address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Handler {
    #[default]
    Default,
    Ignore,
    At(u64),
}

impl Handler {
    pub const fn from_raw(raw: u64) -> Handler {
        match raw {
            0 => Handler::Default,
            1 => Handler::Ignore,
            a => Handler::At(a),
        }
    }

    pub const fn raw(self) -> u64 {
        match self {
            Handler::Default => 0,
            Handler::Ignore => 1,
            Handler::At(a) => a,
        }
    }
}

/// A disposition, as `rt_sigaction` takes and gives it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigAction {
    pub handler: Handler,
    /// `SA_*` bits.
    pub flags: u64,
    /// Where the handler returns to (libc's `__restore_rt`), with SA_RESTORER.
    pub restorer: u64,
    /// Signals blocked while the handler runs (besides the signal itself).
    pub mask: SigSet,
}

impl SigAction {
    /// Reads a `struct kernel_sigaction` (handler at 0, flags at 8, restorer
    /// at 16, mask at 24). EFAULT if `bytes` is shorter than 32.
    pub fn decode(bytes: &[u8]) -> Result<SigAction> {
        let word = |i: usize| read_u64(bytes, i * 8).ok_or(Errno::EFAULT);
        Ok(SigAction {
            handler: Handler::from_raw(word(0)?),
            flags: word(1)?,
            restorer: word(2)?,
            mask: SigSet(word(3)?),
        })
    }

    /// The `struct kernel_sigaction` bytes.
    pub fn encode(&self) -> [u8; KERNEL_SIGACTION_SIZE] {
        let mut out = [0u8; KERNEL_SIGACTION_SIZE];
        for (chunk, w) in out
            .chunks_exact_mut(8)
            .zip([self.handler.raw(), self.flags, self.restorer, self.mask.0])
        {
            chunk.copy_from_slice(&w.to_le_bytes());
        }
        out
    }

    pub const fn has(&self, flag: u32) -> bool {
        self.flags & flag as u64 != 0
    }
}

pub(crate) fn read_u64(bytes: &[u8], off: usize) -> Option<u64> {
    let b: [u8; 8] = bytes.get(off..)?.get(..8)?.try_into().ok()?;
    Some(u64::from_le_bytes(b))
}

/// What a signal does when its handler is SIG_DFL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultAction {
    Terminate,
    /// Terminate with a core dump (status 0x80 bit).
    Core,
    Ignore,
    Stop,
    /// Continue a stopped process (done when the signal is sent), else ignore.
    Continue,
}

/// The default action of `sig` (1..=64), None for other numbers.
pub fn default_action(sig: u32) -> Option<DefaultAction> {
    check_signal(sig).ok()?;
    Some(match sig {
        SIGQUIT | SIGILL | SIGTRAP | SIGABRT | SIGBUS | SIGFPE | SIGSEGV | SIGXCPU | SIGXFSZ | SIGSYS => {
            DefaultAction::Core
        }
        SIGCHLD | SIGURG | SIGWINCH => DefaultAction::Ignore,
        SIGSTOP | SIGTSTP | SIGTTIN | SIGTTOU => DefaultAction::Stop,
        SIGCONT => DefaultAction::Continue,
        _ => DefaultAction::Terminate,
    })
}

/// What the server does with the signal [`SignalState::next_deliverable`] took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Run the handler on an rt_sigframe ([`frame`]). `action` is the
    /// disposition it was delivered with (SA_RESETHAND has already reset the
    /// stored one); `saved_mask` goes into the frame (restored by
    /// rt_sigreturn); the blocked mask is now `handler_mask`.
    Handle {
        sig: u32,
        action: SigAction,
        saved_mask: SigSet,
        handler_mask: SigSet,
    },
    /// Terminate the process: wait status Signaled { sig, core }.
    Terminate { sig: u32, core: bool },
    /// Stop the process (its parent learns of it through the process table).
    Stop { sig: u32 },
    /// Nothing to do; ask again for the next one.
    Ignore { sig: u32 },
}

/// What sending a signal did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Posted {
    /// Ignored and not blocked: dropped.
    Discarded,
    /// Pending but blocked: nothing to do until it is unblocked.
    Blocked,
    /// Pending and deliverable: interrupt the process (a blocked call ends
    /// with EINTR or restarts per SA_RESTART; user code is redirected).
    Deliverable,
}

/// The signal state of one process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignalState {
    actions: [SigAction; NSIG as usize],
    blocked: SigSet,
    pending: SigSet,
    altstack: AltStack,
    /// The mask rt_sigsuspend replaced, until a handler's frame takes it.
    suspended: Option<SigSet>,
}

impl Default for SignalState {
    fn default() -> Self {
        SignalState::new()
    }
}

impl SignalState {
    /// Every disposition SIG_DFL, nothing blocked or pending, no altstack.
    pub const fn new() -> SignalState {
        SignalState {
            actions: [SigAction {
                handler: Handler::Default,
                flags: 0,
                restorer: 0,
                mask: SigSet::EMPTY,
            }; NSIG as usize],
            blocked: SigSet::EMPTY,
            pending: SigSet::EMPTY,
            altstack: AltStack::DISABLED,
            suspended: None,
        }
    }

    /// The disposition of `sig` (EINVAL for a bad number).
    pub fn action(&self, sig: u32) -> Result<SigAction> {
        check_signal(sig)?;
        self.actions.get(sig as usize - 1).copied().ok_or(Errno::EINVAL)
    }

    /// The blocked mask.
    pub fn blocked(&self) -> SigSet {
        self.blocked
    }

    /// The pending set (`rt_sigpending` reports `pending & blocked`).
    pub fn pending(&self) -> SigSet {
        self.pending
    }

    /// The alternate signal stack.
    pub fn altstack(&self) -> AltStack {
        self.altstack
    }

    /// Whether `sig` would be dropped if sent now (ignored, explicitly or by
    /// default, and not blocked).
    pub fn is_ignored(&self, sig: u32) -> bool {
        !self.blocked.contains(sig) && self.ignores(sig)
    }

    fn ignores(&self, sig: u32) -> bool {
        match self.action(sig).map(|a| a.handler) {
            Ok(Handler::Ignore) => true,
            Ok(Handler::Default) => {
                matches!(
                    default_action(sig),
                    Some(DefaultAction::Ignore | DefaultAction::Continue)
                )
            }
            _ => false,
        }
    }

    /// Whether children of this process are reaped at exit without becoming
    /// zombies (SIGCHLD set to SIG_IGN, or SA_NOCLDWAIT); SIGCHLD's default
    /// disposition ignores the signal but keeps zombies.
    /// See [`crate::process::ProcessTable::set_autoreap`].
    pub fn reaps_children(&self) -> bool {
        let a = self.actions[SIGCHLD as usize - 1];
        a.handler == Handler::Ignore || a.has(SA_NOCLDWAIT)
    }

    /// Whether a child's stop or continue sends SIGCHLD (no SA_NOCLDSTOP).
    pub fn wants_child_stops(&self) -> bool {
        !self.actions[SIGCHLD as usize - 1].has(SA_NOCLDSTOP)
    }

    /// `rt_sigaction(sig, new, &old)`: returns the old disposition and, if
    /// `new` is given, installs it (unknown flags cleared, SIGKILL/SIGSTOP
    /// removed from its mask). EINVAL for a bad number or for changing
    /// SIGKILL or SIGSTOP. Making a signal ignored discards it if pending.
    pub fn sigaction(&mut self, sig: u32, new: Option<SigAction>) -> Result<SigAction> {
        let old = self.action(sig)?;
        let Some(mut new) = new else {
            return Ok(old);
        };
        if SigSet::UNBLOCKABLE.contains(sig) {
            return Err(Errno::EINVAL);
        }
        new.flags &= KNOWN_SA_FLAGS;
        new.mask = new.mask.blockable();
        if let Some(slot) = self.actions.get_mut(sig as usize - 1) {
            *slot = new;
        }
        if self.ignores(sig) {
            self.pending = self.pending.without(sig);
        }
        Ok(old)
    }

    /// The system call: `rt_sigaction(sig, act, oact, sigsetsize)` with the
    /// `act` bytes if given; returns the old disposition's bytes. EINVAL if
    /// `sigsetsize` is not 8; EFAULT if `act` is short.
    pub fn rt_sigaction(
        &mut self,
        sig: u32,
        act: Option<&[u8]>,
        sigsetsize: usize,
    ) -> Result<[u8; KERNEL_SIGACTION_SIZE]> {
        if sigsetsize != SIGSET_SIZE {
            return Err(Errno::EINVAL);
        }
        let new = act.map(SigAction::decode).transpose()?;
        self.sigaction(sig, new).map(|old| old.encode())
    }

    /// `rt_sigprocmask(how, set, &old, sigsetsize)`: returns the old mask and,
    /// with a set, blocks (SIG_BLOCK), unblocks (SIG_UNBLOCK) or replaces
    /// (SIG_SETMASK); SIGKILL and SIGSTOP are never blocked. EINVAL for a
    /// `sigsetsize` other than 8 or an unknown `how` (only checked with a set).
    pub fn sigprocmask(&mut self, how: u32, set: Option<SigSet>, sigsetsize: usize) -> Result<SigSet> {
        if sigsetsize != SIGSET_SIZE {
            return Err(Errno::EINVAL);
        }
        let old = self.blocked;
        if let Some(set) = set {
            let new = match how {
                SIG_BLOCK => old.union(set),
                SIG_UNBLOCK => old.minus(set),
                SIG_SETMASK => set,
                _ => return Err(Errno::EINVAL),
            };
            self.blocked = new.blockable();
        }
        Ok(old)
    }

    /// Sends `sig` to this process. SIGCONT discards pending stop signals and
    /// a stop signal discards a pending SIGCONT (whatever this returns,
    /// SIGCONT continues a stopped process: the server tells the process
    /// table). An ignored, unblocked signal is dropped. EINVAL for a bad number.
    pub fn post(&mut self, sig: u32) -> Result<Posted> {
        check_signal(sig)?;
        if sig == SIGCONT {
            self.pending = self.pending.minus(SigSet::STOP);
        } else if SigSet::STOP.contains(sig) {
            self.pending = self.pending.without(SIGCONT);
        }
        if self.is_ignored(sig) {
            return Ok(Posted::Discarded);
        }
        self.pending = self.pending.with(sig);
        Ok(if self.blocked.contains(sig) {
            Posted::Blocked
        } else {
            Posted::Deliverable
        })
    }

    /// Sends a fault the process cannot block or ignore (a synchronous
    /// SIGSEGV, or SIGSEGV because a handler's frame could not be written):
    /// if blocked or ignored it is unblocked and its disposition reset to
    /// SIG_DFL first, as Linux's force_sig does.
    pub fn force(&mut self, sig: u32) -> Result<Posted> {
        let action = self.action(sig)?;
        if self.blocked.contains(sig) || action.handler == Handler::Ignore {
            self.blocked = self.blocked.without(sig);
            if let Some(slot) = self.actions.get_mut(sig as usize - 1) {
                slot.handler = Handler::Default;
            }
        }
        self.post(sig)
    }

    /// The signal to deliver next, taken off the pending set: among pending,
    /// unblocked signals, a synchronous fault first, else the lowest number.
    /// For a handler this applies SA_RESETHAND and the handler's mask
    /// (the signal itself added unless SA_NODEFER) and ends an rt_sigsuspend
    /// (its saved mask goes into the frame).
    pub fn next_deliverable(&mut self) -> Option<Delivery> {
        let ready = self.pending.minus(self.blocked);
        let pick = if ready.0 & SigSet::SYNCHRONOUS.0 != 0 {
            SigSet(ready.0 & SigSet::SYNCHRONOUS.0)
        } else {
            ready
        };
        let sig = pick.lowest()?;
        self.pending = self.pending.without(sig);
        let action = self.action(sig).ok()?;
        Some(match action.handler {
            Handler::Ignore => Delivery::Ignore { sig },
            Handler::Default => match default_action(sig)? {
                DefaultAction::Terminate => Delivery::Terminate { sig, core: false },
                DefaultAction::Core => Delivery::Terminate { sig, core: true },
                DefaultAction::Stop => Delivery::Stop { sig },
                DefaultAction::Ignore | DefaultAction::Continue => Delivery::Ignore { sig },
            },
            Handler::At(_) => {
                if action.has(SA_RESETHAND) {
                    // Linux resets only the handler; the flags and mask stay.
                    if let Some(slot) = self.actions.get_mut(sig as usize - 1) {
                        slot.handler = Handler::Default;
                    }
                }
                let saved_mask = self.suspended.take().unwrap_or(self.blocked);
                let mut handler_mask = self.blocked.union(action.mask);
                if !action.has(SA_NODEFER) {
                    handler_mask = handler_mask.with(sig);
                }
                self.blocked = handler_mask.blockable();
                Delivery::Handle {
                    sig,
                    action,
                    saved_mask,
                    handler_mask: self.blocked,
                }
            }
        })
    }

    /// `rt_sigsuspend(mask, sigsetsize)`: blocks exactly `mask` (less SIGKILL
    /// and SIGSTOP) until a signal is delivered. The handler's frame saves the
    /// mask from before the call; if the call ends without a handler, the
    /// server calls [`SignalState::end_suspend`]. EINVAL if `sigsetsize` is not 8.
    pub fn suspend(&mut self, mask: SigSet, sigsetsize: usize) -> Result<()> {
        if sigsetsize != SIGSET_SIZE {
            return Err(Errno::EINVAL);
        }
        if self.suspended.is_none() {
            self.suspended = Some(self.blocked);
        }
        self.blocked = mask.blockable();
        Ok(())
    }

    /// Whether an rt_sigsuspend is in progress.
    pub fn is_suspended(&self) -> bool {
        self.suspended.is_some()
    }

    /// Puts back the mask rt_sigsuspend replaced, if no handler took it.
    pub fn end_suspend(&mut self) {
        if let Some(m) = self.suspended.take() {
            self.blocked = m;
        }
    }

    /// `sigaltstack(ss, &old)` with the caller's stack pointer `sp`: see
    /// [`AltStack::set`] for the rules.
    pub fn sigaltstack(&mut self, new: Option<StackT>, sp: u64) -> Result<StackT> {
        let old = self.altstack.report(sp);
        if let Some(ss) = new {
            self.altstack = self.altstack.set(ss, sp)?;
        }
        Ok(old)
    }

    /// A handler's frame was written on the altstack with SS_AUTODISARM set:
    /// the altstack is disabled until rt_sigreturn puts it back.
    pub fn disarm_altstack(&mut self) {
        self.altstack = AltStack::DISABLED;
    }

    /// `rt_sigreturn`: the mask and altstack saved in the frame come back (see
    /// [`frame::read_frame`]). A bad saved altstack is ignored, as in Linux.
    pub fn sigreturn(&mut self, mask: SigSet, uc_stack: StackT, sp: u64) {
        self.blocked = mask.blockable();
        if let Ok(a) = self.altstack.set(uc_stack, sp) {
            self.altstack = a;
        }
    }

    /// execve: handlers become SIG_DFL, ignored signals stay ignored, every
    /// disposition loses its flags, restorer and mask; the blocked mask and the
    /// pending set are kept; the altstack is gone with the old memory.
    pub fn exec(&mut self) {
        for a in self.actions.iter_mut() {
            let handler = if a.handler == Handler::Ignore {
                Handler::Ignore
            } else {
                Handler::Default
            };
            *a = SigAction {
                handler,
                ..SigAction::default()
            };
        }
        self.altstack = AltStack::DISABLED;
        self.suspended = None;
    }

    /// fork: the child has the same dispositions, mask and altstack, and
    /// nothing pending.
    pub fn fork(&self) -> SignalState {
        SignalState {
            pending: SigSet::EMPTY,
            suspended: None,
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests;
