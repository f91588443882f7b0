//! The RPC fast path: one `mach_msg(SEND|RCV)` whose message is simple (a
//! header and inline data, no descriptors), sent to a port a thread is
//! already blocked receiving on, by a thread that then receives on a port
//! with nothing queued. That is both halves of an RPC in steady state: the
//! client's request (copy-send to the service port, make-send-once of its
//! reply port, then wait for the reply) and the server's reply
//! (move-send-once to the reply port, then wait for the next request).
//!
//! Like Mach's `mach_msg_trap` fast path, it builds no kernel message: every
//! check is made first, then the sender's rights are taken and the receiver's
//! rights made in one step, and the receiver's header and trailer are written
//! straight into the buffer the kernel gives that thread (the inline data
//! goes across unchanged). The outcome is
//! exactly what a send through `msg_send`, a queued message and a receive
//! through `msg_receive_into` would have produced (the host tests compare
//! them byte for byte); anything else declines (`None`, nothing changed) and
//! the general path decides.

use super::fastpath::{BlockedReceiver, HANDOFF_SIZE};
use super::kmsg::{KMSG_OVERHEAD, rd32, received_type, wr32, wr64};
use super::port::Receiver;
use super::space::{Object, bits};
use super::{Ipc, KRight, Name, PortRef, RightKind, SpaceId, WaitKey};
use mach_abi::message::*;

/// The largest message (header and inline body) the fast path carries; the
/// kernel keeps a buffer this size per thread at most.
pub const MAX_INLINE: usize = 4096;

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
    /// One lookup of each space, one of each name and port: every check is
    /// made first (declining changes nothing), then the receiver is taken,
    /// then the rights are moved.
    pub fn msg_rpc_fast<T>(
        &mut self,
        space: SpaceId,
        msg: &[u8],
        rcv_name: Name,
        out: &mut [u8; HANDOFF_SIZE],
        take: impl FnOnce(WaitKey, SpaceId, usize) -> Option<(T, BlockedReceiver)>,
    ) -> Option<RpcHandoff<T>> {
        if !(MACH_MSG_HEADER_SIZE..=MAX_INLINE).contains(&msg.len()) || !msg.len().is_multiple_of(4) {
            return None;
        }
        let bits = rd32(msg, 0);
        let (remote, local, id) = (rd32(msg, 8), rd32(msg, 12), rd32(msg, 20) as i32);
        if bits & !(MACH_MSGH_BITS_REMOTE_MASK | MACH_MSGH_BITS_LOCAL_MASK) != 0 || remote == local {
            return None;
        }
        let s = self.spaces.get_mut(&space)?;
        let de = s.get(remote)?;
        let dest = de.port()?;
        let (send_once, make_send) = match mach_msgh_bits_remote(bits) {
            MACH_MSG_TYPE_COPY_SEND if de.bits & bits::SEND != 0 => (false, false),
            MACH_MSG_TYPE_MAKE_SEND if de.bits & bits::RECEIVE != 0 => (false, true),
            MACH_MSG_TYPE_MOVE_SEND_ONCE if de.bits & bits::SEND_ONCE != 0 && de.dnrequest.is_none() => (true, false),
            _ => return None,
        };
        let reply = match (local, mach_msgh_bits_local(bits)) {
            (MACH_PORT_NULL, 0) => None,
            (l, MACH_MSG_TYPE_MAKE_SEND_ONCE) => {
                let re = s.get(l)?;
                if re.bits & bits::RECEIVE == 0 {
                    return None;
                }
                Some(re.port()?)
            }
            _ => return None,
        };
        // The sender's receive: a receive right outside any set, or a set,
        // with nothing queued (or it would not wait), and not the destination.
        let ports = &self.ports;
        let quiet = |p: &u64| *p != dest && ports.get(p).is_some_and(|port| port.messages.is_empty());
        let re = s.get(rcv_name)?;
        let rcv_key = match re.object {
            Object::Port(p) if re.bits & bits::RECEIVE != 0 => {
                if !quiet(&p) || ports.get(&p)?.pset.is_some() {
                    return None;
                }
                WaitKey::Port(p)
            }
            Object::Set(set) if self.psets.get(&set)?.members.iter().all(quiet) => WaitKey::Set(set),
            _ => return None,
        };
        // The destination: a live port of a task, nothing queued (a queued
        // message must be received first), room for a message, and the
        // message-memory budget not exhausted. A send right made for the
        // message and released at its receipt must not be the port's last
        // (that would be a no-senders notification).
        let p = ports.get(&dest)?;
        let Receiver::Space(rspace) = p.receiver else {
            return None;
        };
        if !p.messages.is_empty()
            || (!send_once && p.is_full())
            || (make_send && p.srights == 0 && p.nsrequest.is_some())
            || self.message_memory + (msg.len() as u64 + KMSG_OVERHEAD) > self.message_memory_limit
        {
            return None;
        }
        let key = p.pset.map_or(WaitKey::Port(dest), WaitKey::Set);
        let (to, receiver) = take(key, rspace, msg.len() + MACH_MSG_TRAILER_SIZE)?;

        // Checked: from here on nothing declines. The receipt consumes the
        // right the message carried: a copied or made send right would be
        // made and released at once (a made one still counts in the
        // make-send count), a moved send-once right is used up.
        if send_once {
            s.free_send_once(remote);
        }
        let p = self.ports.get_mut(&dest).expect("checked port");
        if send_once {
            p.sorights = p.sorights.saturating_sub(1);
        }
        if make_send {
            p.mscount = p.mscount.wrapping_add(1);
        }
        let seqno = p.seqno;
        p.seqno = p.seqno.wrapping_add(1);
        self.messages_sent += 1;
        // The receiver's side, with one lookup of its space: the reply right
        // gets a new send-once name, and the port's name is the one it
        // receives on if that still denotes the receive right (looked up
        // otherwise: port sets).
        if let Some(r) = reply
            && let Some(p) = self.ports.get_mut(&r)
        {
            p.sorights += 1;
        }
        let mut reply_name = Ok(MACH_PORT_NULL);
        let mut local = 0;
        if let Some(rs) = self.spaces.get_mut(&receiver.space) {
            if let Some(r) = reply {
                reply_name = rs.alloc(bits::SEND_ONCE, 1, Object::Port(r)).map_err(|_| r);
            }
            let direct = matches!(key, WaitKey::Port(_)) && rs.receives_on(receiver.name, dest);
            local = if direct {
                receiver.name
            } else {
                rs.name_of_port(dest).unwrap_or(0)
            };
        } else if let Some(r) = reply {
            reply_name = Err(r);
        }
        let (reply_name, status) = match reply_name {
            Ok(name) => (name, MACH_MSG_SUCCESS),
            Err(r) => self.reply_right_failed(receiver.space, r),
        };
        let reply_type = if reply.is_some() {
            MACH_MSG_TYPE_PORT_SEND_ONCE
        } else {
            0
        };
        let dest_type = received_type(if send_once {
            RightKind::SendOnce
        } else {
            RightKind::Send
        });
        write_header_only(
            out,
            msg.len(),
            mach_msgh_bits(reply_type, dest_type),
            reply_name,
            local,
            id,
            seqno,
            space,
        );
        Some(RpcHandoff {
            to,
            status,
            key: rcv_key,
        })
    }

    /// The receiver's space had no room for the reply right (counted in the
    /// port already): the general copy-out fails the same way and releases
    /// the right (a send-once notification). The name and receive status.
    #[cold]
    fn reply_right_failed(&mut self, space: SpaceId, reply: u64) -> (Name, MachMsgReturn) {
        let right = KRight {
            port: PortRef::Port(reply),
            kind: RightKind::SendOnce,
        };
        match self.copyout_right(space, right) {
            Ok(name) => (name, MACH_MSG_SUCCESS),
            Err(()) => (MACH_PORT_DEAD, MACH_RCV_HEADER_ERROR),
        }
    }
}

/// Writes the header (for a message of `size` bytes) and the trailer of a
/// received message into `out`; a body goes between them, unchanged.
pub(crate) fn write_header_only(
    out: &mut [u8; HANDOFF_SIZE],
    size: usize,
    bits: u32,
    remote: Name,
    local: Name,
    id: i32,
    seqno: u32,
    sender: SpaceId,
) {
    let m = out;
    m[16..20].fill(0);
    wr32(m, 0, bits);
    wr32(m, 4, size as u32);
    wr32(m, 8, remote);
    wr32(m, 12, local);
    wr32(m, 20, id as u32);
    let t = MACH_MSG_HEADER_SIZE;
    wr32(m, t, MACH_MSG_TRAILER_FORMAT_0);
    wr32(m, t + 4, MACH_MSG_TRAILER_SIZE as u32);
    wr32(m, t + 8, seqno);
    wr64(m, t + 12, sender);
}
