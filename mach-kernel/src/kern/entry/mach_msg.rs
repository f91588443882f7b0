//! The `mach_msg` trap: send, receive, or send then receive in one kernel
//! entry (the RPC path), with timeouts and blocking.
//!
//! Arguments: `(msg, option, send_size, rcv_size, rcv_name, timeout)`; the
//! timeout is in milliseconds and applies when `MACH_SEND_TIMEOUT` /
//! `MACH_RCV_TIMEOUT` is set (0 polls). The send size given here is the truth;
//! the header's own size field is ignored. A receive first checks that the
//! whole buffer is writable, so a bad buffer fails before any message is taken.

use super::lock;
use crate::arch::apic::TIMER_HZ;
use crate::arch::usercopy::{UserAddr, copy_from_user, copy_to_user};
use crate::kern::ipc::TaskMemory;
use crate::kern::pager;
use crate::kern::prof::{self, Phase};
use crate::kern::sched;
use crate::kern::task::Task;
use crate::kern::thread::{Thread, WakeReason};
use crate::kern::wait;
use alloc::sync::Arc;
use alloc::vec::Vec;
use mach_abi::message::*;
use mach_core::ipc::WaitKey;
use mach_core::ipc::fastpath::{BlockedReceiver, HANDOFF_SIZE, HandoffSend};
use mach_core::ipc::msg::{ReceiveStatus, SendOutcome};

/// Messages up to this size are copied in on the kernel stack.
const SMALL_MSG: usize = 128;

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
    if option == MACH_SEND_MSG | MACH_RCV_MSG
        && send_size as usize == MACH_MSG_HEADER_SIZE
        && let Some(r) = rpc_fast(me, task, msg, rcv_size, rcv_name)
    {
        return r;
    }
    // A receiver this call's send handed its message to: it runs as soon as
    // this thread blocks in its receive, or is made runnable on the way out.
    let mut handoff = None;
    let mut r = MACH_MSG_SUCCESS;
    if option & MACH_SEND_MSG != 0 {
        r = send(me, task, msg, option, send_size, timeout, &mut handoff);
    }
    if r == MACH_MSG_SUCCESS && option & MACH_RCV_MSG != 0 {
        r = receive(me, task, msg, option, rcv_size, rcv_name, timeout, &mut handoff);
    }
    if let Some(t) = handoff {
        sched::wake(t);
    }
    r
}

/// The RPC fast path (see `mach_core::ipc::rpc`): a header-only request or
/// reply handed to the thread blocked on its destination, then a switch
/// straight to that thread while this one waits for its own message. `None`
/// when the call does not qualify (nothing was done): the general path runs.
/// (The model's fast path also takes inline data; why the kernel does not
/// pass it any yet is in docs/BENCHMARKS.md.)
fn rpc_fast(me: &Arc<Thread>, task: &Task, msg: UserAddr, rcv_size: u32, rcv_name: u32) -> Option<MachMsgReturn> {
    let mut header = [0u8; MACH_MSG_HEADER_SIZE];
    copy_from_user(&mut header, msg).ok()?;
    if (rcv_size as usize) < HANDOFF_SIZE || !probe_writable(me, task, msg, rcv_size) {
        return None;
    }
    let mut out = [0u8; HANDOFF_SIZE];
    let h = lock::with(|k| {
        k.ipc.msg_rpc_fast(task.id, &header, rcv_name, &mut out, |k, s, n| {
            wait::take_receiver(k, s, n)
        })
    })?;
    h.to.ipc.set_handoff(&out, h.status);
    let receiver = BlockedReceiver {
        space: task.id,
        name: rcv_name,
        capacity: rcv_size,
    };
    Some(match wait::block_receive(me, h.key, None, receiver, Some(h.to)) {
        WakeReason::Handoff => take_handoff(me, msg),
        WakeReason::Interrupted => MACH_RCV_INTERRUPTED,
        // Something changed on the port (a message queued, the right
        // moved): the general receive sorts it out.
        _ => receive(me, task, msg, MACH_RCV_MSG, rcv_size, rcv_name, 0, &mut None),
    })
}

/// Copies the message handed to this thread to its receive buffer.
fn take_handoff(me: &Thread, msg: UserAddr) -> MachMsgReturn {
    // Copied out of the lock first: the copy to the user may fault and wait.
    let bytes = *me.ipc.handoff_msg.lock();
    copy_out(msg, &bytes[..], me.ipc.handoff_status())
}

fn send(
    me: &Arc<Thread>,
    task: &Task,
    msg: UserAddr,
    option: u32,
    size: u32,
    timeout: u32,
    handoff: &mut Option<Arc<Thread>>,
) -> MachMsgReturn {
    if size > MACH_MSG_SIZE_MAX {
        return MACH_SEND_TOO_LARGE;
    }
    if (size as usize) < MACH_MSG_HEADER_SIZE || !size.is_multiple_of(4) {
        return MACH_SEND_MSG_TOO_SMALL;
    }
    let t = prof::start();
    // Small messages are copied to the stack; larger ones to the heap.
    let mut small = [0u8; SMALL_MSG];
    let mut large = Vec::new();
    let buf: &mut [u8] = if size as usize <= SMALL_MSG {
        &mut small[..size as usize]
    } else {
        if large.try_reserve_exact(size as usize).is_err() {
            return MACH_SEND_NO_BUFFER;
        }
        large.resize(size as usize, 0);
        &mut large
    };
    if copy_from_user(buf, msg).is_err() {
        return MACH_SEND_INVALID_DATA;
    }
    prof::end(Phase::SendCopyin, t);
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
/// `handoff`, or queued), `Ok(Some(key))` when the queue is full.
fn try_send(
    me: &Thread,
    task: &Task,
    buf: &[u8],
    handoff: &mut Option<Arc<Thread>>,
) -> Result<Option<WaitKey>, MachMsgReturn> {
    if buf.len() == MACH_MSG_HEADER_SIZE {
        let mut out = me.ipc.take_buffer();
        let r = lock::with(|k| k.ipc.msg_send_handoff(task.id, buf, &mut out, wait::take_receiver));
        let r = match r {
            Some(Ok(HandoffSend::HandedOff { to, status })) => {
                // A header-only message: exactly HANDOFF_SIZE bytes.
                if let Some(m) = out.first_chunk::<HANDOFF_SIZE>() {
                    to.ipc.set_handoff(m, status);
                }
                *handoff = Some(to);
                Some(Ok(None))
            }
            Some(Ok(HandoffSend::Sent)) => Some(Ok(None)),
            Some(Ok(HandoffSend::WouldBlock(key))) => Some(Ok(Some(key))),
            Some(Err(e)) => Some(Err(e)),
            None => None,
        };
        me.ipc.put_buffer(out);
        if let Some(r) = r {
            return r;
        }
    }
    let out = lock::with(|k| {
        let t = prof::start();
        let mut mem = TaskMemory::new(task);
        let r = k.ipc.msg_send(task.id, buf, &mut mem);
        pager::objects_gone(&mut k.ipc, &mut k.pagers, mem.gone);
        prof::end(Phase::SendModel, t);
        r
    });
    match out {
        Ok(SendOutcome::Sent) => Ok(None),
        Ok(SendOutcome::WouldBlock(key)) => Ok(Some(key)),
        Err(e) => Err(e),
    }
}

/// Checks that `[addr, addr + size)` is writable memory of the task (in its
/// VM map, faulted in or not), without touching it. The answer for the
/// thread's last buffer is remembered until the task's map changes.
fn probe_writable(me: &Thread, task: &Task, addr: UserAddr, size: u32) -> bool {
    let addr = addr.get();
    let version = task.vm.version();
    if me.ipc.probe_remembered(addr, size, version) {
        return true;
    }
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
fn copy_out(msg: UserAddr, bytes: &[u8], status: MachMsgReturn) -> MachMsgReturn {
    if copy_to_user(msg, bytes).is_err() {
        MACH_RCV_INVALID_DATA
    } else {
        status
    }
}
