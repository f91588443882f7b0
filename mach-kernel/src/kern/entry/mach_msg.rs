//! The `mach_msg` trap: send, receive, or send then receive in one kernel
//! entry (the RPC path), with timeouts and blocking.
//!
//! Arguments: `(msg, option, send_size, rcv_size, rcv_name, timeout)`; the
//! timeout is in milliseconds and applies when `MACH_SEND_TIMEOUT` /
//! `MACH_RCV_TIMEOUT` is set (0 polls). The send size given here is the truth;
//! the header's own size field is ignored. A message is copied in once, and
//! the fast path and the general path both work on those bytes. A receive
//! first checks that the whole buffer is writable, so a bad buffer fails
//! before any message is taken.

use super::lock;
use crate::arch::apic::TIMER_HZ;
use crate::arch::usercopy::{UserAddr, copy_from_user, copy_from_user_append, copy_from_user_uninit, copy_to_user};
use crate::kern::ipc::TaskMemory;
use crate::kern::ipc::thread_state::SMALL_MSG;
use crate::kern::pager;
use crate::kern::prof::{self, Phase};
use crate::kern::sched;
use crate::kern::task::{MessagePath, Task};
use crate::kern::thread::{Thread, WakeReason};
use crate::kern::wait;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::mem::MaybeUninit;
use mach_abi::message::*;
use mach_core::ipc::WaitKey;
use mach_core::ipc::handoff::{BlockedReceiver, HANDOFF_SIZE, HandoffSend};
use mach_core::ipc::msg::ReceiveStatus;
use mach_core::ipc::rpc_fast::MAX_INLINE;

/// Ticks from now at which a timeout of `ms` milliseconds expires.
fn deadline(ms: u32) -> u64 {
    let ticks = (ms as u64 * TIMER_HZ).div_ceil(1000).max(1);
    sched::ticks() + ticks
}

/// `mach_msg` for `me`, the running thread.
pub fn mach_msg(
    me: &Arc<Thread>,
    msg: UserAddr,
    option: u32,
    send_size: u32,
    rcv_size: u32,
    rcv_name: u32,
    timeout: u32,
) -> MachMsgReturn {
    let Some(task) = me.task.as_ref() else {
        return MACH_SEND_INVALID_DEST;
    };
    // A receiver this call's send handed its message to: it runs as soon as
    // this thread blocks in its receive, or is made runnable on the way out.
    let mut handoff = None;
    let mut r = MACH_MSG_SUCCESS;
    if option & MACH_SEND_MSG != 0 {
        let call = Call {
            me,
            task,
            msg,
            option,
            rcv_size,
            rcv_name,
            timeout,
        };
        // The message is copied in once, to the kernel stack when small: the
        // fast path and, if it declines, the general path work on those bytes.
        let sent = if send_size as usize == MACH_MSG_HEADER_SIZE {
            // A bare header (the null RPC): on the stack.
            let mut header = [0u8; MACH_MSG_HEADER_SIZE];
            match copy_from_user(&mut header, msg) {
                Ok(()) => call.send(&header, &mut handoff),
                Err(_) => Err(MACH_SEND_INVALID_DATA),
            }
        } else if let Some(size) = small_size(send_size) {
            // A small message (the null RPC, most MIG calls): on the stack,
            // in a buffer not set up first.
            let mut small = [const { MaybeUninit::<u8>::uninit() }; SMALL_MSG];
            match copy_from_user_uninit(&mut small, msg, size) {
                Ok(buf) => call.send(buf, &mut handoff),
                Err(_) => Err(MACH_SEND_INVALID_DATA),
            }
        } else {
            let mut buf = me.ipc.take_buffer();
            let r = match copy_in(&mut buf, msg, send_size) {
                Ok(()) => call.send(&buf, &mut handoff),
                Err(e) => Err(e),
            };
            me.ipc.put_buffer(buf);
            r
        };
        match sent {
            // The fast path sent and received.
            Ok(done) => return done,
            Err(e) => r = e,
        }
    }
    if r == MACH_MSG_SUCCESS && option & MACH_RCV_MSG != 0 {
        r = receive(me, task, msg, option, rcv_size, rcv_name, timeout, &mut handoff);
    }
    if let Some(t) = handoff {
        sched::wake(t);
    }
    r
}

/// The size of a message small enough to be sent from the stack, if it is
/// one and valid.
#[inline(always)]
fn small_size(size: u32) -> Option<usize> {
    let size = size as usize;
    (MACH_MSG_HEADER_SIZE..=SMALL_MSG)
        .contains(&size)
        .then_some(size)
        .filter(|s| s.is_multiple_of(4))
}

/// Copies the `size`-byte message at `msg` into `buf`, checking the size
/// first (the send size given to the trap is the truth; the header's own
/// size field is ignored).
fn copy_in(buf: &mut Vec<u8>, msg: UserAddr, size: u32) -> Result<(), MachMsgReturn> {
    if size > MACH_MSG_SIZE_MAX {
        return Err(MACH_SEND_TOO_LARGE);
    }
    let size = size as usize;
    if size < MACH_MSG_HEADER_SIZE || !size.is_multiple_of(4) {
        return Err(MACH_SEND_MSG_TOO_SMALL);
    }
    buf.clear();
    if buf.try_reserve(size).is_err() {
        return Err(MACH_SEND_NO_BUFFER);
    }
    let t = prof::start();
    let r = copy_from_user_append(buf, msg, size).map_err(|_| MACH_SEND_INVALID_DATA);
    prof::end(Phase::SendCopyin, t);
    r
}

/// Whether the message carries descriptors (which the fast path never takes:
/// checked before it probes the receive buffer).
#[inline(always)]
fn is_complex(buf: &[u8]) -> bool {
    buf.first_chunk::<4>()
        .is_some_and(|b| u32::from_le_bytes(*b) & MACH_MSGH_BITS_COMPLEX != 0)
}

/// One `mach_msg` call with a send: its arguments.
struct Call<'a> {
    me: &'a Arc<Thread>,
    task: &'a Task,
    msg: UserAddr,
    option: u32,
    rcv_size: u32,
    rcv_name: u32,
    timeout: u32,
}

impl Call<'_> {
    /// Sends the message copied in to `buf`: through the RPC fast path when
    /// it qualifies (`Ok`: that path also received, and this is the call's
    /// result), else through the general send (`Err`: its result; a receive
    /// follows when asked for).
    #[inline(always)]
    fn send(&self, buf: &[u8], handoff: &mut Option<Arc<Thread>>) -> Result<MachMsgReturn, MachMsgReturn> {
        if self.option == MACH_SEND_MSG | MACH_RCV_MSG
            && buf.len() <= MAX_INLINE
            && !is_complex(buf)
            && let Some(r) = self.rpc_fast(buf)
        {
            return Ok(r);
        }
        Err(send(self.me, self.task, buf, self.option, self.timeout, handoff))
    }

    /// The RPC fast path (see `mach_core::ipc::rpc_fast`): a simple request
    /// or reply (a header and inline data) handed to the thread blocked on
    /// its destination, then a switch straight to that thread while this one
    /// waits for its own message. `None` when the call does not qualify
    /// (nothing was done): the general path runs on the same bytes.
    #[inline(always)]
    fn rpc_fast(&self, buf: &[u8]) -> Option<MachMsgReturn> {
        let (me, task, msg) = (self.me, self.task, self.msg);
        if (self.rcv_size as usize) < HANDOFF_SIZE || !probe_writable(me, task, msg, self.rcv_size) {
            return None;
        }
        let mut ends = [0u8; HANDOFF_SIZE];
        let mut k = lock::lock();
        let h = k.ipc.msg_rpc_fast(task.id, buf, self.rcv_name, &mut ends, |k, s, n| {
            wait::take_receiver(k, s, n)
        });
        drop(k);
        let h = h?;
        task.count_message(MessagePath::RpcFast);
        // The receiver's message: its header, the body unchanged, its trailer.
        let body = buf.get(MACH_MSG_HEADER_SIZE..).unwrap_or_default();
        if !h.to.ipc.give_small_handoff(&ends, body, h.status) {
            let mut large = me.ipc.take_spare();
            large.clear();
            large.extend_from_slice(&ends[..MACH_MSG_HEADER_SIZE]);
            large.extend_from_slice(body);
            large.extend_from_slice(&ends[MACH_MSG_HEADER_SIZE..]);
            h.to.ipc.give_handoff(&mut large, h.status);
            me.ipc.put_spare(large);
        }
        let receiver = BlockedReceiver {
            space: task.id,
            name: self.rcv_name,
            capacity: self.rcv_size,
        };
        Some(match wait::block_receive(me, h.key, None, receiver, Some(h.to)) {
            WakeReason::Handoff => take_handoff(me, msg),
            WakeReason::Interrupted => MACH_RCV_INTERRUPTED,
            // Something changed on the port (a message queued, the right
            // moved): the general receive sorts it out.
            _ => receive(me, task, msg, MACH_RCV_MSG, self.rcv_size, self.rcv_name, 0, &mut None),
        })
    }
}

/// Copies the message handed to this thread to its receive buffer. Only a
/// sender handing this thread a message writes the slot, and only while the
/// thread is blocked receiving, so holding the slot across the copy (which
/// may fault the buffer in, even wait for a pager) keeps nobody waiting.
#[inline(always)]
fn take_handoff(me: &Thread, msg: UserAddr) -> MachMsgReturn {
    let (h, status) = me.ipc.handoff();
    copy_out(msg, h.bytes(), status)
}

fn send(
    me: &Arc<Thread>,
    task: &Task,
    buf: &[u8],
    option: u32,
    timeout: u32,
    handoff: &mut Option<Arc<Thread>>,
) -> MachMsgReturn {
    let until = (option & MACH_SEND_TIMEOUT != 0).then(|| deadline(timeout));
    loop {
        let t = prof::start();
        let out = try_send(me, task, buf, handoff);
        prof::end(Phase::SendIpc, t);
        match out {
            Ok(None) => return MACH_MSG_SUCCESS,
            Err(e) => return e,
            Ok(Some(key)) => {
                if option & MACH_SEND_TIMEOUT != 0 && timeout == 0 {
                    return MACH_SEND_TIMED_OUT;
                }
                match wait::block(Some(key), until) {
                    WakeReason::Timeout => return MACH_SEND_TIMED_OUT,
                    WakeReason::Interrupted => return MACH_SEND_INTERRUPTED,
                    _ => {}
                }
            }
        }
    }
}

/// One attempt at sending `buf`: `Ok(None)` when sent (to a receiver now in
/// `handoff`, or queued), `Ok(Some(key))` when the queue is full. A simple
/// message is handed to a thread blocked on its destination when there is
/// one (decoded once, by the model's simple path; anything else, by its
/// general path).
fn try_send(
    me: &Thread,
    task: &Task,
    buf: &[u8],
    handoff: &mut Option<Arc<Thread>>,
) -> Result<Option<WaitKey>, MachMsgReturn> {
    let mut out = me.ipc.take_spare();
    let r = lock::with(|k| {
        let t = prof::start();
        let mut mem = TaskMemory::new(task);
        let r = k
            .ipc
            .msg_send_with_handoff(task.id, buf, &mut mem, &mut out, wait::take_receiver);
        pager::objects_gone(&mut k.ipc, &mut k.pagers, mem.gone);
        prof::end(Phase::SendModel, t);
        r
    });
    let r = match r {
        Ok(HandoffSend::HandedOff { to, status }) => {
            task.count_message(MessagePath::Handoff);
            to.ipc.give_handoff_bytes(&mut out, status);
            *handoff = Some(to);
            Ok(None)
        }
        Ok(HandoffSend::Sent) => {
            task.count_message(MessagePath::General);
            Ok(None)
        }
        Ok(HandoffSend::WouldBlock(key)) => Ok(Some(key)),
        Err(e) => Err(e),
    };
    me.ipc.put_spare(out);
    r
}

/// Checks that `[addr, addr + size)` is writable memory of the task (in its
/// VM map, faulted in or not), without touching it. The answer for the
/// thread's last buffer is remembered until the task's map changes.
#[inline(always)]
fn probe_writable(me: &Thread, task: &Task, addr: UserAddr, size: u32) -> bool {
    let version = task.vm.version();
    me.ipc.probe_remembered(addr.get(), size, version) || probe_again(me, task, addr.get(), size, version)
}

#[inline(never)]
fn probe_again(me: &Thread, task: &Task, addr: u64, size: u32, version: u64) -> bool {
    let ok = crate::kern::vm::writable(task, addr, size as u64);
    if ok {
        me.ipc.remember_probe(addr, size, version);
    }
    ok
}

#[allow(clippy::too_many_arguments)]
fn receive(
    me: &Arc<Thread>,
    task: &Task,
    msg: UserAddr,
    option: u32,
    size: u32,
    name: u32,
    timeout: u32,
    handoff: &mut Option<Arc<Thread>>,
) -> MachMsgReturn {
    if (size as usize) < MACH_MSG_HEADER_SIZE {
        return MACH_RCV_TOO_LARGE;
    }
    let t = prof::start();
    if !probe_writable(me, task, msg, size) {
        return MACH_RCV_INVALID_DATA;
    }
    prof::end(Phase::RecvProbe, t);
    let large = option & MACH_RCV_LARGE != 0;
    let until = (option & MACH_RCV_TIMEOUT != 0).then(|| deadline(timeout));
    loop {
        let t = prof::start();
        // The message in the receiver's terms goes to the thread's buffer.
        let mut bytes = me.ipc.take_buffer();
        let out = lock::with(|k| {
            let mut mem = TaskMemory::new(task);
            let r = k
                .ipc
                .msg_receive_into(task.id, name, size as usize, large, &mut mem, &mut bytes);
            pager::objects_gone(&mut k.ipc, &mut k.pagers, mem.gone);
            r
        });
        prof::end(Phase::RecvIpc, t);
        let r = match out {
            Ok(ReceiveStatus::Message(status)) => {
                let t = prof::start();
                let r = copy_out(msg, &bytes, status);
                prof::end(Phase::RecvCopyout, t);
                r
            }
            Ok(ReceiveStatus::TooLarge { needed }) => {
                if let Some(size_field) = msg.offset(4) {
                    let _ = copy_to_user(size_field, &(needed as u32).to_le_bytes());
                }
                MACH_RCV_TOO_LARGE
            }
            Err(e) => e,
            Ok(ReceiveStatus::WouldBlock(key)) => {
                me.ipc.put_buffer(bytes);
                if option & MACH_RCV_TIMEOUT != 0 && timeout == 0 {
                    return MACH_RCV_TIMED_OUT;
                }
                let t = prof::start();
                let receiver = BlockedReceiver {
                    space: task.id,
                    name,
                    capacity: size,
                };
                let r = wait::block_receive(me, key, until, receiver, handoff.take());
                prof::end(Phase::Block, t);
                match r {
                    WakeReason::Handoff => return take_handoff(me, msg),
                    WakeReason::Timeout => return MACH_RCV_TIMED_OUT,
                    WakeReason::Interrupted => return MACH_RCV_INTERRUPTED,
                    // Checked again before the next attempt: another thread
                    // may have taken the buffer away while this one waited
                    // (remembered until the task's map changes).
                    _ if !probe_writable(me, task, msg, size) => return MACH_RCV_INVALID_DATA,
                    _ => continue,
                }
            }
        };
        me.ipc.put_buffer(bytes);
        return r;
    }
}

/// Copies a received message to the user's buffer; returns the receive's status.
#[inline(always)]
fn copy_out(msg: UserAddr, bytes: &[u8], status: MachMsgReturn) -> MachMsgReturn {
    if copy_to_user(msg, bytes).is_err() {
        MACH_RCV_INVALID_DATA
    } else {
        status
    }
}
