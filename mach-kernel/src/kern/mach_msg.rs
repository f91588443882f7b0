//! The `mach_msg` trap: send, receive, or send then receive in one kernel
//! entry (the RPC path), with timeouts and blocking.
//!
//! Arguments: `(msg, option, send_size, rcv_size, rcv_name, timeout)`; the
//! timeout is in milliseconds and applies when `MACH_SEND_TIMEOUT` /
//! `MACH_RCV_TIMEOUT` is set (0 polls). The send size given here is the truth;
//! the header's own size field is ignored. A receive first checks that the
//! whole buffer is writable, so a bad buffer fails before any message is taken.

use super::ipc::{self, TaskMemory};
use super::prof;
use super::sched;
use super::task::Task;
use super::thread::WakeReason;
use super::wait;
use crate::arch::apic::TIMER_HZ;
use crate::arch::usercopy::{copy_from_user, copy_to_user};
use alloc::vec::Vec;
use mach_abi::message::*;
use mach_core::ipc::msg::{ReceiveStatus, SendOutcome};

/// Messages up to this size are copied in on the kernel stack.
const SMALL_MSG: usize = 128;

/// Ticks from now at which a timeout of `ms` milliseconds expires.
fn deadline(ms: u32) -> u64 {
    let ticks = (ms as u64 * TIMER_HZ).div_ceil(1000).max(1);
    sched::ticks() + ticks
}

pub fn mach_msg(msg: u64, option: u32, send_size: u32, rcv_size: u32, rcv_name: u32, timeout: u32) -> MachMsgReturn {
    let Some(task) = sched::current().task.clone() else {
        return MACH_SEND_INVALID_DEST;
    };
    let mut r = MACH_MSG_SUCCESS;
    if option & MACH_SEND_MSG != 0 {
        r = send(&task, msg, option, send_size, timeout);
        if r != MACH_MSG_SUCCESS {
            return r;
        }
    }
    if option & MACH_RCV_MSG != 0 {
        r = receive(&task, msg, option, rcv_size, rcv_name, timeout);
    }
    r
}

fn send(task: &Task, msg: u64, option: u32, size: u32, timeout: u32) -> MachMsgReturn {
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
    prof::end(0, t);
    let until = (option & MACH_SEND_TIMEOUT != 0).then(|| deadline(timeout));
    loop {
        let t = prof::start();
        let out = ipc::with(|ipc| {
            let t = prof::start();
            let r = ipc.msg_send(task.id, buf, &mut TaskMemory { task });
            prof::end(7, t);
            r
        });
        prof::end(1, t);
        match out {
            Ok(SendOutcome::Sent) => return MACH_MSG_SUCCESS,
            Err(e) => return e,
            Ok(SendOutcome::WouldBlock(key)) => {
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

/// Checks that `[addr, addr + size)` is writable memory of the task (in its
/// VM map, faulted in or not), without touching it.
fn probe_writable(task: &Task, addr: u64, size: u32) -> bool {
    super::vm::writable(task, addr, size as u64)
}

fn receive(task: &Task, msg: u64, option: u32, size: u32, name: u32, timeout: u32) -> MachMsgReturn {
    if (size as usize) < MACH_MSG_HEADER_SIZE {
        return MACH_RCV_TOO_LARGE;
    }
    let t = prof::start();
    if !probe_writable(task, msg, size) {
        return MACH_RCV_INVALID_DATA;
    }
    prof::end(2, t);
    let large = option & MACH_RCV_LARGE != 0;
    // The message in the receiver's terms; one buffer for all retries.
    let mut bytes = Vec::new();
    let until = (option & MACH_RCV_TIMEOUT != 0).then(|| deadline(timeout));
    loop {
        let t = prof::start();
        let out = ipc::with(|ipc| {
            ipc.msg_receive_into(
                task.id,
                name,
                size as usize,
                large,
                &mut TaskMemory { task },
                &mut bytes,
            )
        });
        prof::end(3, t);
        match out {
            Ok(ReceiveStatus::Message(status)) => {
                let t = prof::start();
                if copy_to_user(msg, &bytes).is_err() {
                    return MACH_RCV_INVALID_DATA;
                }
                prof::end(4, t);
                return status;
            }
            Ok(ReceiveStatus::TooLarge { needed }) => {
                let _ = copy_to_user(msg + 4, &(needed as u32).to_le_bytes());
                return MACH_RCV_TOO_LARGE;
            }
            Err(e) => return e,
            Ok(ReceiveStatus::WouldBlock(key)) => {
                if option & MACH_RCV_TIMEOUT != 0 && timeout == 0 {
                    return MACH_RCV_TIMED_OUT;
                }
                let t = prof::start();
                let r = wait::block(Some(key), until);
                prof::end(5, t);
                match r {
                    WakeReason::Timeout => return MACH_RCV_TIMED_OUT,
                    WakeReason::Interrupted => return MACH_RCV_INTERRUPTED,
                    _ => {}
                }
            }
        }
    }
}
