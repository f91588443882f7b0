//! The RPC fast path: one `mach_msg(SEND|RCV)` whose message is a bare
//! header, sent to a port a thread is already blocked receiving on, by a
//! thread that then receives on a port with nothing queued. That is both
//! halves of a null RPC in steady state: the client's request (copy-send to
//! the service port, make-send-once of its reply port, then wait for the
//! reply) and the server's reply (move-send-once to the reply port, then wait
//! for the next request).
//!
//! Like Mach's `mach_msg_trap` fast path, it builds no kernel message: every
//! check is made first, then the sender's rights are taken and the receiver's
//! rights made in one step, and the receiver's header and trailer are written
//! straight into the buffer the kernel gives that thread. The outcome is
//! exactly what a send through `msg_send`, a queued message and a receive
//! through `msg_receive_into` would have produced (the host tests compare
//! them byte for byte); anything else declines (`None`, nothing changed) and
//! the general path decides.

use super::fastpath::BlockedReceiver;
use super::kmsg::{KMSG_OVERHEAD, rd32, received_type, wr32, wr64};
use super::port::Receiver;
use super::space::{Object, bits};
use super::{Ipc, KRight, Name, PortRef, RightKind, SpaceId, WaitKey};
use alloc::vec::Vec;
use mach_abi::message::*;

/// What the fast path did: the request went to the blocked thread `to`, whose
/// receive returns `status` with the message in the buffer; the caller now
/// waits on `key` for its own message.
#[derive(Debug, PartialEq, Eq)]
pub struct RpcHandoff<T> {
    pub to: T,
    pub status: MachMsgReturn,
    pub key: WaitKey,
}

/// The checked header of a fast-path message.
struct Checked {
    remote: Name,
    dest: u64,
    reply: Option<u64>,
    send_once: bool,
    make_send: bool,
    id: i32,
    rcv_key: WaitKey,
}

impl Ipc {
    /// Sends the header-only message `msg` from `space` straight to a thread
    /// blocked receiving on its destination (found by `take`, as for
    /// [`Self::msg_send_handoff`]), when the sender's own receive on
    /// `rcv_name` would then have to wait. The receiver's message replaces the
    /// contents of `out`.
    pub fn msg_rpc_fast<T>(
        &mut self,
        space: SpaceId,
        msg: &[u8],
        rcv_name: Name,
        out: &mut Vec<u8>,
        take: impl FnOnce(WaitKey, SpaceId, usize) -> Option<(T, BlockedReceiver)>,
    ) -> Option<RpcHandoff<T>> {
        let c = self.rpc_check(space, msg, rcv_name)?;
        let p = self.ports.get(&c.dest)?;
        let Receiver::Space(rspace) = p.receiver else {
            return None;
        };
        let key = p.pset.map_or(WaitKey::Port(c.dest), WaitKey::Set);
        let needed = MACH_MSG_HEADER_SIZE + MACH_MSG_TRAILER_SIZE;
        let (to, receiver) = take(key, rspace, needed)?;
        // Checked: from here on nothing declines.
        let seqno = {
            let p = self.ports.get_mut(&c.dest).expect("checked port");
            // The receipt consumes the right the message carried: a copied
            // or made send right would be made and released at once (a made
            // one still counts in the make-send count), a moved send-once
            // right is used up.
            if c.send_once {
                p.sorights = p.sorights.saturating_sub(1);
            }
            if c.make_send {
                p.mscount = p.mscount.wrapping_add(1);
            }
            let seqno = p.seqno;
            p.seqno = p.seqno.wrapping_add(1);
            seqno
        };
        if c.send_once {
            self.spaces.get_mut(&space).expect("checked space").free(c.remote);
        }
        self.messages_sent += 1;
        let mut status = MACH_MSG_SUCCESS;
        let (reply_name, reply_type) = match c.reply {
            Some(r) => {
                self.ports.get_mut(&r).expect("checked reply port").sorights += 1;
                let right = KRight {
                    port: PortRef::Port(r),
                    kind: RightKind::SendOnce,
                };
                let name = self.copyout_right(receiver.space, right).unwrap_or_else(|_| {
                    status = MACH_RCV_HEADER_ERROR;
                    MACH_PORT_DEAD
                });
                (name, MACH_MSG_TYPE_PORT_SEND_ONCE)
            }
            None => (MACH_PORT_NULL, 0),
        };
        let local = self.local_name(receiver, key, c.dest);
        let dest_type = received_type(if c.send_once {
            RightKind::SendOnce
        } else {
            RightKind::Send
        });
        write_header_only(
            out,
            mach_msgh_bits(reply_type, dest_type),
            reply_name,
            local,
            c.id,
            seqno,
            space,
        );
        Some(RpcHandoff {
            to,
            status,
            key: c.rcv_key,
        })
    }

    /// Every check of the fast path that needs no receiver; `None` declines.
    fn rpc_check(&self, space: SpaceId, msg: &[u8], rcv_name: Name) -> Option<Checked> {
        if msg.len() != MACH_MSG_HEADER_SIZE {
            return None;
        }
        let bits = rd32(msg, 0);
        let (remote, local, id) = (rd32(msg, 8), rd32(msg, 12), rd32(msg, 20) as i32);
        let dest_disp = mach_msgh_bits_remote(bits);
        let reply_disp = mach_msgh_bits_local(bits);
        if bits & !(MACH_MSGH_BITS_REMOTE_MASK | MACH_MSGH_BITS_LOCAL_MASK) != 0 || remote == local {
            return None;
        }
        let s = self.spaces.get(&space)?;
        let de = s.get(remote)?;
        let dest = de.port()?;
        let (send_once, make_send) = match dest_disp {
            MACH_MSG_TYPE_COPY_SEND if de.bits & bits::SEND != 0 => (false, false),
            MACH_MSG_TYPE_MAKE_SEND if de.bits & bits::RECEIVE != 0 => (false, true),
            MACH_MSG_TYPE_MOVE_SEND_ONCE if de.bits & bits::SEND_ONCE != 0 && de.dnrequest.is_none() => (true, false),
            _ => return None,
        };
        let reply = match (local, reply_disp) {
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
        // The destination: a live port of a task, nothing queued (a queued
        // message must be received first), room for a message, and the
        // message-memory budget not exhausted. A send right made for the
        // message and released at its receipt must not be the port's last
        // (that would be a no-senders notification).
        let p = self.ports.get(&dest)?;
        if !matches!(p.receiver, Receiver::Space(_))
            || (make_send && p.srights == 0 && p.nsrequest.is_some())
            || !p.messages.is_empty()
            || (!send_once && p.is_full())
            || self.message_memory + (MACH_MSG_HEADER_SIZE as u64 + KMSG_OVERHEAD) > self.message_memory_limit
        {
            return None;
        }
        // The sender's receive: a receive right outside any set, or a set,
        // with nothing queued (or it would not wait).
        let re = s.get(rcv_name)?;
        let has_message = |p: &u64| self.ports.get(p).is_none_or(|port| !port.messages.is_empty());
        let rcv_key = match re.object {
            Object::Port(p) if re.bits & bits::RECEIVE != 0 => {
                let port = self.ports.get(&p)?;
                if port.pset.is_some() || has_message(&p) || p == dest {
                    return None;
                }
                WaitKey::Port(p)
            }
            Object::Set(set) => {
                if self
                    .psets
                    .get(&set)?
                    .members
                    .iter()
                    .any(|m| has_message(m) || *m == dest)
                {
                    return None;
                }
                WaitKey::Set(set)
            }
            _ => return None,
        };
        Some(Checked {
            remote,
            dest,
            reply,
            send_once,
            make_send,
            id,
            rcv_key,
        })
    }

    /// The receiver's name for the port a message arrived on: the name it
    /// receives on, if that still denotes the receive right; looked up
    /// otherwise (a port-set receive).
    fn local_name(&self, receiver: BlockedReceiver, key: WaitKey, dest: u64) -> Name {
        let s = self.spaces.get(&receiver.space);
        let direct = match key {
            WaitKey::Port(_) => s
                .and_then(|s| s.get(receiver.name))
                .filter(|e| e.bits & bits::RECEIVE != 0 && e.port() == Some(dest))
                .map(|_| receiver.name),
            _ => None,
        };
        direct.or_else(|| s.and_then(|s| s.name_of_port(dest))).unwrap_or(0)
    }
}

/// Writes a received header-only message, trailer included, into `out`.
pub(crate) fn write_header_only(
    out: &mut Vec<u8>,
    bits: u32,
    remote: Name,
    local: Name,
    id: i32,
    seqno: u32,
    sender: SpaceId,
) {
    let mut m = [0u8; MACH_MSG_HEADER_SIZE + MACH_MSG_TRAILER_SIZE];
    wr32(&mut m, 0, bits);
    wr32(&mut m, 4, MACH_MSG_HEADER_SIZE as u32);
    wr32(&mut m, 8, remote);
    wr32(&mut m, 12, local);
    wr32(&mut m, 20, id as u32);
    let t = MACH_MSG_HEADER_SIZE;
    wr32(&mut m, t, MACH_MSG_TRAILER_FORMAT_0);
    wr32(&mut m, t + 4, MACH_MSG_TRAILER_SIZE as u32);
    wr32(&mut m, t + 8, seqno);
    wr64(&mut m, t + 12, sender);
    out.clear();
    out.extend_from_slice(&m);
}
