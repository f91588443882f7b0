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
}

impl Default for Signals {
    fn default() -> Self {
        Signals {
            actions: [[0; ACTION_SIZE]; 64],
            mask: 0,
        }
    }
}

impl Signals {
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
            let unblockable = 1u64 << (g::SIGKILL - 1) | 1u64 << (g::SIGSTOP - 1);
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
        if sig != g::SIGKILL && (ignore || handler != SIG_DFL) {
            return false;
        }
        if port == self.current.header.local_port {
            self.drop_reply();
        }
        self.end_process(port, killed_by(sig));
        true
    }
}
