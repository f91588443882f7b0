//! Signals: each process's actions and mask (rt_sigaction,
//! rt_sigprocmask) and kill. Delivery into handlers is not here yet: a
//! signal whose action is the default that terminates ends the process
//! with that signal; an ignored one is dropped; one with a handler is
//! dropped too (until delivery through the emulation library's signal
//! trampoline exists).

use crate::process::killed_by;
use crate::server::Unix;
use linux_raw_sys::general as g;
use unix_core::errno::Errno;

/// The handler values that are not addresses (asm-generic/signal-defs.h).
const SIG_DFL: u64 = 0;
const SIG_IGN: u64 = 1;

/// `struct kernel_sigaction` bytes: handler, flags, restorer, mask.
pub const ACTION_SIZE: usize = 32;

/// A process's signal state.
#[derive(Clone)]
pub struct Signals {
    pub actions: [[u8; ACTION_SIZE]; 64],
    pub mask: u64,
    /// Caught signals posted and not yet delivered.
    pub pending: u64,
    /// rt_sigsuspend's caller's own mask, while its temporary one applies.
    pub saved_mask: Option<u64>,
}

impl Default for Signals {
    fn default() -> Self {
        Signals {
            actions: [[0; ACTION_SIZE]; 64],
            mask: 0,
            pending: 0,
            saved_mask: None,
        }
    }
}

fn bit(sig: u32) -> u64 {
    1u64.checked_shl(sig.wrapping_sub(1)).unwrap_or(0)
}

/// SIGKILL and SIGSTOP are never blocked.
const UNBLOCKABLE: u64 = 1 << (g::SIGKILL - 1) | 1 << (g::SIGSTOP - 1);

impl Signals {
    fn word(&self, sig: usize, i: usize) -> u64 {
        let Some(a) = self.actions.get(sig.wrapping_sub(1)) else {
            return 0;
        };
        u64::from_le_bytes(a[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]))
    }

    /// A caught signal that is pending and not blocked, the lowest first.
    pub fn deliverable(&self) -> Option<u32> {
        let ready = self.pending & !self.mask;
        (ready != 0).then(|| ready.trailing_zeros() + 1)
    }

    /// fork: the child has the actions and mask, nothing pending.
    pub fn for_child(&self) -> Signals {
        Signals {
            actions: self.actions,
            mask: self.mask,
            pending: 0,
            saved_mask: None,
        }
    }

    fn handler(&self, sig: usize) -> u64 {
        let Some(a) = self.actions.get(sig.wrapping_sub(1)) else {
            return SIG_DFL;
        };
        u64::from_le_bytes(a[..8].try_into().unwrap_or([0; 8]))
    }

    /// exec: caught signals go back to their default (ignored ones stay).
    pub fn reset_for_exec(&mut self) {
        for a in self.actions.iter_mut() {
            let h = u64::from_le_bytes(a[..8].try_into().unwrap_or([0; 8]));
            if h != SIG_IGN as u64 {
                *a = [0; ACTION_SIZE];
            }
        }
    }
}

/// Signals whose default action is to be ignored.
fn ignored_by_default(sig: u32) -> bool {
    matches!(sig, g::SIGCHLD | g::SIGURG | g::SIGWINCH | g::SIGCONT)
}

impl Unix {
    #[allow(clippy::too_many_arguments)]
    pub fn sigaction(
        &mut self,
        port: u32,
        sig: u64,
        size: u64,
        has_new: bool,
        has_old: bool,
        new: &[u8],
        out: &mut [u8],
    ) -> (i64, usize) {
        if size != 8 || sig == 0 || sig > 64 {
            return (Errno::EINVAL.as_return(), 0);
        }
        let sig = sig as usize;
        if has_new && (sig == g::SIGKILL as usize || sig == g::SIGSTOP as usize) {
            return (Errno::EINVAL.as_return(), 0);
        }
        if has_new && new.len() < ACTION_SIZE {
            return (Errno::EFAULT.as_return(), 0);
        }
        let Some(p) = self.procs.by_port_mut(port) else {
            return (Errno::ESRCH.as_return(), 0);
        };
        let mut n = 0;
        if has_old {
            out[..ACTION_SIZE].copy_from_slice(&p.signals.actions[sig - 1]);
            n = ACTION_SIZE;
        }
        if has_new {
            p.signals.actions[sig - 1].copy_from_slice(&new[..ACTION_SIZE]);
        }
        (0, n)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn sigprocmask(
        &mut self,
        port: u32,
        how: u64,
        size: u64,
        has_new: bool,
        has_old: bool,
        new: &[u8],
        out: &mut [u8],
    ) -> (i64, usize) {
        if size != 8 {
            return (Errno::EINVAL.as_return(), 0);
        }
        let Some(p) = self.procs.by_port_mut(port) else {
            return (Errno::ESRCH.as_return(), 0);
        };
        let old = p.signals.mask;
        if has_new {
            let Some(set) = new.get(..8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes) else {
                return (Errno::EFAULT.as_return(), 0);
            };
            let unblockable = UNBLOCKABLE;
            p.signals.mask = match how as u32 {
                g::SIG_BLOCK => old | set,
                g::SIG_UNBLOCK => old & !set,
                g::SIG_SETMASK => set,
                _ => return (Errno::EINVAL.as_return(), 0),
            } & !unblockable;
        }
        if has_old {
            out[..8].copy_from_slice(&old.to_le_bytes());
            return (0, 8);
        }
        (0, 0)
    }

    /// kill(pid, sig): pid > 0 that process, 0 the caller's group, -1 every
    /// process but init, < -1 group -pid. None when the caller itself ended
    /// (its request gets no reply).
    pub fn kill(&mut self, caller: u32, pid: i32, sig: i32) -> Option<i64> {
        if !(0..=64).contains(&sig) {
            return Some(Errno::EINVAL.as_return());
        }
        let me = self.procs.by_port(caller)?.pid;
        let targets = match self.procs.unix.kill_targets(me, pid) {
            Ok(t) => t,
            Err(e) => return Some(e.as_return()),
        };
        let ports: alloc::vec::Vec<u32> = targets.iter().filter_map(|&p| self.procs.port_of(p)).collect();
        if ports.is_empty() {
            return Some(Errno::ESRCH.as_return());
        }
        if sig == 0 {
            return Some(0);
        }
        let mut caller_ended = false;
        for port in ports {
            caller_ended |= self.deliver(port, sig as u32) && port == caller;
        }
        if caller_ended { None } else { Some(0) }
    }

    /// A signal the server itself raises for the process on `port` (SIGPIPE
    /// for a write with no reader): if it ends the process and that process
    /// made the request being served, the request gets no reply.
    pub fn signal(&mut self, port: u32, sig: u32) {
        if self.deliver(port, sig) && self.current.header.local_port == port {
            self.current.deferred = true;
        }
    }

    /// Acts on `sig` for the process on `port`: its default action if that
    /// ends the process (true is returned: the process is gone); ignored, or
    /// caught (handlers are not run yet), it is dropped.
    fn deliver(&mut self, port: u32, sig: u32) -> bool {
        let Some(p) = self.procs.by_port(port) else {
            return false;
        };
        let handler = p.signals.handler(sig as usize);
        let ignore = handler == SIG_IGN || (handler == SIG_DFL && ignored_by_default(sig));
        if sig != g::SIGKILL && ignore {
            return false;
        }
        if sig != g::SIGKILL && handler != SIG_DFL {
            if let Some(p) = self.procs.by_port_mut(port) {
                p.signals.pending |= bit(sig);
            }
            self.interrupt(port);
            return false;
        }
        if port == self.current.header.local_port {
            self.drop_reply();
        }
        self.end_process(port, killed_by(sig));
        true
    }

    /// If the process on `port` has a signal to deliver and is waiting in a
    /// call, the call ends with EINTR (its emulation library then asks for
    /// the signal, TAKE_SIGNAL, and runs the handler).
    pub fn interrupt(&mut self, port: u32) {
        if self.procs.by_port(port).and_then(|p| p.signals.deliverable()).is_none() {
            return;
        }
        let eintr = Errno::EINTR.as_return();
        if let Some(i) = self.blocked.list.iter().position(|w| w.port == port) {
            let w = self.blocked.list.remove(i);
            match w.wait {
                crate::blocking::Wait::PipeRead { .. } | crate::blocking::Wait::ConsoleRead { .. } => {
                    self.reply_read_later(&w.header, eintr, &[])
                }
                crate::blocking::Wait::PipeWrite { done, .. } if done > 0 => {
                    self.reply_scalar_later(&w.header, done as i64)
                }
                crate::blocking::Wait::Sleep { deadline } => {
                    let left = deadline.saturating_sub(crate::blocking::now());
                    let mut ts = [0u8; 16];
                    ts[..8].copy_from_slice(&(left / 1_000_000_000).to_le_bytes());
                    ts[8..].copy_from_slice(&(left % 1_000_000_000).to_le_bytes());
                    self.reply_exchange_later(&w.header, eintr, &ts);
                }
                crate::blocking::Wait::Poll { .. } => self.reply_exchange_later(&w.header, eintr, &[]),
                _ => self.reply_scalar_later(&w.header, eintr),
            }
            return;
        }
        let token = self
            .procs
            .waits
            .iter()
            .find(|(_, h)| h.local_port == port)
            .map(|(t, _)| *t);
        if let Some(t) = token {
            let _ = self.procs.unix.cancel_wait(t);
            if let Some(h) = self.procs.waits.remove(&t) {
                self.reply_read_later(&h, eintr, &[]);
            }
        }
    }

    /// rt_sigsuspend: `mask` applies until a signal is delivered; the call
    /// waits (it always ends with EINTR).
    pub fn sigsuspend(&mut self, port: u32, data: &[u8]) -> i64 {
        let Some(mask) = data.get(..8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes) else {
            return Errno::EFAULT.as_return();
        };
        let Some(p) = self.procs.by_port_mut(port) else {
            return Errno::ESRCH.as_return();
        };
        p.signals.saved_mask = Some(p.signals.mask);
        p.signals.mask = mask & !UNBLOCKABLE;
        self.block(port, crate::blocking::Wait::Suspend);
        0
    }

    /// TAKE_SIGNAL: the next caught signal to deliver (0: none), its action
    /// in-line (`unix_abi::SignalTaken`); the mask the handler runs with
    /// becomes the process's.
    pub fn take_signal(&mut self, port: u32, out: &mut [u8]) -> (i64, usize) {
        let Some(p) = self.procs.by_port_mut(port) else {
            return (0, 0);
        };
        let s = &mut p.signals;
        let Some(sig) = s.deliverable() else { return (0, 0) };
        s.pending &= !bit(sig);
        let (handler, flags, restorer, sa_mask) = (
            s.word(sig as usize, 0),
            s.word(sig as usize, 1),
            s.word(sig as usize, 2),
            s.word(sig as usize, 3),
        );
        let saved = s.saved_mask.take().unwrap_or(s.mask);
        let mut during = s.mask | sa_mask;
        if flags & g::SA_NODEFER as u64 == 0 {
            during |= bit(sig);
        }
        s.mask = during & !UNBLOCKABLE;
        if flags & g::SA_RESETHAND as u64 != 0 {
            s.actions[sig as usize - 1] = [0; ACTION_SIZE];
        }
        let t = unix_abi::SignalTaken {
            handler,
            flags,
            restorer,
            saved_mask: saved,
        };
        let b = t.encode();
        out[..b.len()].copy_from_slice(&b);
        (sig as i64, b.len())
    }
}
