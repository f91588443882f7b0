//! The RPC fast path: one `mach_msg(SEND|RCV)` whose message is simple (a
//! header and inline data, no descriptors), sent to a port a thread is
//! already blocked receiving on, by a thread that then receives on a port
//! with nothing queued. That is both halves of an RPC in steady state: the
//! client's request (copy-send to the service port, make-send-once of its
//! reply port, then wait for the reply) and the server's reply
//! (move-send-once to the reply port, then wait for the next request).
//!
//! Like Mach's `mach_msg_trap` fast path, it builds no kernel message: the
//! message is decoded by `simple.rs`'s check (which changes nothing), the
//! sender's receive is checked, then the receiver is taken and the message
//! committed and received in one step, the receiver's header and trailer
//! written straight into the buffer the kernel gives that thread (the inline
//! data goes across unchanged). The outcome is exactly what a send through
//! `msg_send`, a queued message and a receive through `msg_receive_into`
//! would have produced (the host tests compare them byte for byte); anything
//! else declines (nothing changed) and the general path decides.

use super::handoff::{BlockedReceiver, HANDOFF_SIZE};
use super::idmap::IdMap;
use super::port::{Port, PortSet};
use super::simple::{Decline, SimpleHeader, check_in, take_sender_right};
use super::space::{IpcSpace, Object, bits};
use super::{Ipc, Name, PortId, SpaceId, WaitKey};
use mach_abi::message::*;

pub use super::simple::MAX_INLINE;

/// What the fast path did: the request went to the blocked thread `to`, whose
/// receive returns `status` with the message the caller was given; the
/// caller now waits on `key` for its own message.
#[derive(Debug, PartialEq, Eq)]
pub struct RpcHandoff<T> {
    pub to: T,
    pub status: MachMsgReturn,
    pub key: WaitKey,
}

impl Ipc {
    /// Sends the simple message `msg` (a header and at most [`MAX_INLINE`]
    /// bytes in all, no descriptors) from `space` straight to a thread
    /// blocked receiving on its destination (found by `take`, as for
    /// [`Self::msg_send_handoff`]), when the sender's own receive on
    /// `rcv_name` would then have to wait. The receiver's header and trailer
    /// are written to `out`; its body is the sender's, unchanged
    /// (`msg[MACH_MSG_HEADER_SIZE..]`), between them.
    ///
    /// `None`: the call does not qualify and nothing was done (the reason is
    /// counted in [`super::simple::IpcStats::rpc_declines`]).
    #[inline(always)]
    pub fn msg_rpc_fast<T>(
        &mut self,
        space: SpaceId,
        msg: &[u8],
        rcv_name: Name,
        out: &mut [u8; HANDOFF_SIZE],
        take: impl FnOnce(WaitKey, SpaceId, usize) -> Option<(T, BlockedReceiver)>,
    ) -> Option<RpcHandoff<T>> {
        match self.try_rpc_fast(space, msg, rcv_name, out, take) {
            Ok(h) => Some(h),
            Err(d) => {
                self.stats.rpc_declines[d as usize] = self.stats.rpc_declines[d as usize].wrapping_add(1);
                None
            }
        }
    }

    /// [`Self::msg_rpc_fast`], saying why it declined (not counted).
    #[inline(always)]
    pub fn try_rpc_fast<T>(
        &mut self,
        space: SpaceId,
        msg: &[u8],
        rcv_name: Name,
        out: &mut [u8; HANDOFF_SIZE],
        take: impl FnOnce(WaitKey, SpaceId, usize) -> Option<(T, BlockedReceiver)>,
    ) -> Result<RpcHandoff<T>, Decline> {
        let h = SimpleHeader::decode(msg)?;
        let s = self.spaces.get_mut(&space).ok_or(Decline::NoSpace)?;
        let plan = check_in(s, &self.ports, self.message_memory, self.message_memory_limit, &h)?;
        // The destination: a live port of a task with nothing queued (a
        // queued message must be received first).
        let Some(rspace) = plan.task else {
            return Err(Decline::NotTaskPort);
        };
        if plan.queued {
            return Err(Decline::DestQueued);
        }
        let rcv_key = quiet_receive(s, &self.ports, &self.psets, rcv_name, plan.dest)?;
        let (to, receiver) = take(plan.key(), rspace, plan.size + MACH_MSG_TRAILER_SIZE).ok_or(Decline::NoReceiver)?;
        // Checked: from here on nothing declines.
        take_sender_right(s, &plan);
        let status = self.receive_simple(space, &plan, &receiver, out);
        self.stats.rpc_fast = self.stats.rpc_fast.wrapping_add(1);
        Ok(RpcHandoff {
            to,
            status,
            key: rcv_key,
        })
    }
}

/// The key the sender's receive on `name` would wait on: a receive right
/// outside any set, or a set, with nothing queued (or it would not wait),
/// and not the destination `dest`.
#[inline(always)]
fn quiet_receive(
    s: &IpcSpace,
    ports: &IdMap<Port>,
    psets: &IdMap<PortSet>,
    name: Name,
    dest: PortId,
) -> Result<WaitKey, Decline> {
    let quiet = |p: &PortId| ports.get(p).is_some_and(|port| port.messages.is_empty());
    let re = s.get(name).ok_or(Decline::ReceiveName)?;
    match re.object {
        Object::Port(p) if re.bits & bits::RECEIVE != 0 && p != dest => match ports.get(&p) {
            Some(port) if port.pset.is_some() => Err(Decline::ReceiveName),
            Some(port) if port.messages.is_empty() => Ok(WaitKey::Port(p)),
            Some(_) => Err(Decline::ReceiveQueued),
            None => Err(Decline::ReceiveName),
        },
        Object::Set(set) => {
            let members = &psets.get(&set).ok_or(Decline::ReceiveName)?.members;
            if members.contains(&dest) {
                return Err(Decline::ReceiveName);
            }
            if members.iter().all(quiet) {
                Ok(WaitKey::Set(set))
            } else {
                Err(Decline::ReceiveQueued)
            }
        }
        _ => Err(Decline::ReceiveName),
    }
}
