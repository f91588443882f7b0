//! Sending a simple message by handing it to a thread already blocked
//! receiving on its destination, as Mach's `ipc_mqueue_send` does: the
//! server waiting for a request, the client waiting for its reply. The
//! message never enters the queue: it is received at once into a buffer the
//! kernel gives that thread, and the kernel can switch straight to it.
//!
//! The message is decoded and committed by the steps of `simple.rs`, so the
//! outcome is exactly what the general path would give (a queued message,
//! then a receive); with nobody waiting, the message is queued.

use super::msg::SendOutcome;
use super::simple::{Decline, Plan, take_sender_right};
use super::{Ipc, Name, SpaceId, UserMemory, WaitKey};
use alloc::vec::Vec;
use mach_abi::message::*;

/// The size of a received header-only message: the header and the trailer
/// (the buffer that the one writer of both, `Received::write`, fills).
pub const HANDOFF_SIZE: usize = MACH_MSG_HEADER_SIZE + MACH_MSG_TRAILER_SIZE;

/// A thread blocked in a receive, as the kernel registered it: the space and
/// name it receives on and how many bytes its buffer holds (trailer included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockedReceiver {
    pub space: SpaceId,
    pub name: Name,
    pub capacity: u32,
}

/// What [`Ipc::msg_send_handoff`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum HandoffSend<T> {
    /// Queued (or handed to the kernel, or destroyed as a dead letter).
    Sent,
    /// The destination queue is full; nothing was done.
    WouldBlock(WaitKey),
    /// Received by the blocked thread `to`: the message in its terms is in
    /// the buffer, and `status` is what its receive returns.
    HandedOff { to: T, status: MachMsgReturn },
}

impl Ipc {
    /// Sends the simple message `msg` (a header and at most
    /// [`super::simple::MAX_INLINE`] bytes of inline data) like
    /// [`Self::msg_send`], but hands it straight to a thread blocked
    /// receiving on the destination when there is one. `take` is asked for
    /// such a thread: given the key receivers of the destination wait on, the
    /// space that holds its receive right and the bytes the message needs
    /// (trailer included), it returns a thread registered on that key in that
    /// space with room enough, and takes it off its wait. The message in that
    /// thread's terms, trailer included, replaces the contents of `out`.
    ///
    /// `None` means the message does not qualify (see
    /// [`Self::check_simple`]; every error is such a case): nothing was done,
    /// use [`Self::msg_send`], which decides those cases.
    pub fn msg_send_handoff<T>(
        &mut self,
        space: SpaceId,
        msg: &[u8],
        out: &mut Vec<u8>,
        take: impl FnOnce(WaitKey, SpaceId, usize) -> Option<(T, BlockedReceiver)>,
    ) -> Option<Result<HandoffSend<T>, MachMsgReturn>> {
        let plan = self.check_simple(space, msg).ok()?;
        self.send_planned(space, msg, &plan, out, take).ok().map(Ok)
    }

    /// [`Self::msg_send_handoff`] for every message: one that declines the
    /// simple path is sent by the general path (decoded once by each), so
    /// the kernel needs only this call. The outcomes are [`Self::msg_send`]'s.
    pub fn msg_send_with_handoff<T>(
        &mut self,
        space: SpaceId,
        msg: &[u8],
        mem: &mut dyn UserMemory,
        out: &mut Vec<u8>,
        take: impl FnOnce(WaitKey, SpaceId, usize) -> Option<(T, BlockedReceiver)>,
    ) -> Result<HandoffSend<T>, MachMsgReturn> {
        let declined = match self.check_simple(space, msg) {
            Ok(plan) => match self.send_planned(space, msg, &plan, out, take) {
                Ok(sent) => return Ok(sent),
                Err(d) => d,
            },
            Err(d) => d,
        };
        Ok(match self.msg_send_general(space, msg, mem, declined)? {
            SendOutcome::Sent => HandoffSend::Sent,
            SendOutcome::WouldBlock(key) => HandoffSend::WouldBlock(key),
        })
    }

    /// Sends a checked simple message: to a blocked receiver if `take`
    /// finds one (only when nothing is queued, which must be received
    /// first), else into the queue. `Err` (nothing done) only when there is
    /// no memory to queue it.
    fn send_planned<T>(
        &mut self,
        space: SpaceId,
        msg: &[u8],
        plan: &Plan,
        out: &mut Vec<u8>,
        take: impl FnOnce(WaitKey, SpaceId, usize) -> Option<(T, BlockedReceiver)>,
    ) -> Result<HandoffSend<T>, Decline> {
        if let Some(rspace) = plan.task
            && !plan.queued
            && let Some((to, receiver)) = take(plan.key(), rspace, plan.size + MACH_MSG_TRAILER_SIZE)
        {
            let mut ends = [0u8; HANDOFF_SIZE];
            if let Some(s) = self.spaces.get_mut(&space) {
                take_sender_right(s, plan);
            }
            let status = self.receive_simple(space, plan, &receiver, &mut ends);
            self.stats.handoffs = self.stats.handoffs.wrapping_add(1);
            out.clear();
            out.reserve_exact(plan.size + MACH_MSG_TRAILER_SIZE);
            out.extend_from_slice(&ends[..MACH_MSG_HEADER_SIZE]);
            out.extend_from_slice(msg.get(MACH_MSG_HEADER_SIZE..).unwrap_or_default());
            out.extend_from_slice(&ends[MACH_MSG_HEADER_SIZE..]);
            return Ok(HandoffSend::HandedOff { to, status });
        }
        self.queue_simple(space, msg, plan)?;
        Ok(HandoffSend::Sent)
    }
}
