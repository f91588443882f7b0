//! The fast path for the commonest message: a bare header sent on a send or
//! send-once right, with no reply right or a reply right made send-once from
//! a receive right the sender holds (the RPC request and its reply).
//!
//! It does exactly what the general path in `msg.rs` would do for such a
//! message, with one lookup per name and no intermediate structures, and
//! declines (`None`) for anything else, including every error, so the
//! general path stays the one place where unusual cases are decided.
//!
//! [`Ipc::msg_send_handoff`] goes one step further, as Mach's
//! `ipc_mqueue_send` does: when a thread is already blocked receiving on the
//! destination (the server waiting for a request, the client waiting for its
//! reply), the message never enters the queue. It is copied out into the
//! receiver's space at once, into a buffer the kernel gives that thread, and
//! the kernel can switch straight to it.

use super::kmsg::{KMSG_OVERHEAD, KMsg, rd32};
use super::msg::SendOutcome;
use super::port::Receiver;
use super::space::bits;
use super::{Ipc, KRight, Name, NoMemory, PortId, PortRef, RightKind, SpaceId, WaitKey};
use alloc::vec::Vec;
use mach_abi::message::*;

/// The size of a handed-off message in the receiver's terms: a bare header
/// and the trailer.
pub const HANDOFF_SIZE: usize = MACH_MSG_HEADER_SIZE + MACH_MSG_TRAILER_SIZE;

/// A header-only message taken from its sender, not yet delivered.
enum Simple {
    /// The rights are taken; the message is ready for the port.
    Ready(KMsg, PortId),
    /// The port's queue is full; nothing was taken.
    QueueFull(PortId),
}

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
    /// Sends a header-only message if it qualifies; `None` means "use the general path".
    pub(crate) fn send_simple(&mut self, space: SpaceId, msg: &[u8]) -> Option<Result<SendOutcome, MachMsgReturn>> {
        Some(match self.copyin_simple(space, msg)? {
            Ok(Simple::Ready(kmsg, _)) => {
                self.deliver(kmsg);
                Ok(SendOutcome::Sent)
            }
            Ok(Simple::QueueFull(dest)) => Ok(SendOutcome::WouldBlock(WaitKey::Space(dest))),
            Err(e) => Err(e),
        })
    }

    /// Sends a header-only message like [`Self::msg_send`], but hands it
    /// straight to a thread blocked receiving on the destination when there is
    /// one. `take` is asked for such a thread: given the key receivers of the
    /// destination wait on, the space that holds its receive right and the
    /// bytes the message needs, it returns a thread registered on that key in
    /// that space with room enough, and takes it off its wait. The message in
    /// that thread's terms, trailer included, replaces the contents of `out`.
    ///
    /// `None` means the message does not qualify (it is not header-only, or
    /// something about it is unusual, including every error): use
    /// [`Self::msg_send`], which decides those cases.
    pub fn msg_send_handoff<T>(
        &mut self,
        space: SpaceId,
        msg: &[u8],
        out: &mut Vec<u8>,
        take: impl FnOnce(WaitKey, SpaceId, usize) -> Option<(T, BlockedReceiver)>,
    ) -> Option<Result<HandoffSend<T>, MachMsgReturn>> {
        let (kmsg, dest) = match self.copyin_simple(space, msg)? {
            Ok(Simple::Ready(kmsg, dest)) => (kmsg, dest),
            Ok(Simple::QueueFull(dest)) => return Some(Ok(HandoffSend::WouldBlock(WaitKey::Space(dest)))),
            Err(e) => return Some(Err(e)),
        };
        let needed = kmsg.size() + MACH_MSG_TRAILER_SIZE;
        let target = self.ports.get(&dest).and_then(|p| match p.receiver {
            Receiver::Space(rs) if p.messages.is_empty() => {
                let key = p.pset.map_or(WaitKey::Port(dest), WaitKey::Set);
                Some((rs, key))
            }
            _ => None,
        });
        let Some((rspace, key)) = target else {
            self.deliver(kmsg);
            return Some(Ok(HandoffSend::Sent));
        };
        let Some((to, receiver)) = take(key, rspace, needed) else {
            self.deliver(kmsg);
            return Some(Ok(HandoffSend::Sent));
        };
        Some(Ok(HandoffSend::HandedOff {
            to,
            status: self.handoff_copyout(kmsg, dest, key, receiver, out),
        }))
    }

    /// Gives `kmsg`, addressed to `dest`, to the blocked `receiver` (found on
    /// `key`): numbered as if queued, then copied out into its space.
    fn handoff_copyout(
        &mut self,
        mut kmsg: KMsg,
        dest: PortId,
        key: WaitKey,
        receiver: BlockedReceiver,
        out: &mut Vec<u8>,
    ) -> MachMsgReturn {
        if let Some(p) = self.ports.get_mut(&dest) {
            kmsg.seqno = p.seqno;
            p.seqno = p.seqno.wrapping_add(1);
        }
        self.messages_sent += 1;
        // Received on the port's own name: the receiver's name for it, if
        // that name still denotes the receive right (it is looked up otherwise).
        let direct = matches!(key, WaitKey::Port(_))
            && self
                .spaces
                .get(&receiver.space)
                .is_some_and(|s| s.receives_on(receiver.name, dest));
        let local = direct.then_some(receiver.name);
        let status = self.copyout_kmsg(receiver.space, kmsg, local, &mut NoMemory, out);
        self.maybe_free_port(dest);
        status
    }

    /// Takes the rights of a header-only message if it qualifies; `None`
    /// means "use the general path" (nothing was changed).
    fn copyin_simple(&mut self, space: SpaceId, msg: &[u8]) -> Option<Result<Simple, MachMsgReturn>> {
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
        let with_reply = match (local, reply_disp) {
            (MACH_PORT_NULL, 0) => false,
            (l, MACH_MSG_TYPE_MAKE_SEND_ONCE) if mach_port_valid(l) => true,
            _ => return None,
        };
        let s = self.spaces.get(&space)?;
        let de = *s.get(remote)?;
        let dest = de.port()?;
        let needed = match dest_disp {
            MACH_MSG_TYPE_COPY_SEND => bits::SEND,
            MACH_MSG_TYPE_MAKE_SEND => bits::RECEIVE,
            MACH_MSG_TYPE_MOVE_SEND_ONCE if de.dnrequest.is_none() => bits::SEND_ONCE,
            _ => return None,
        };
        if de.bits & needed == 0 {
            return None;
        }
        let reply_port = if with_reply {
            let re = s.get(local)?;
            if re.bits & bits::RECEIVE == 0 {
                return None;
            }
            Some(re.port()?)
        } else {
            None
        };
        let p = self.ports.get(&dest)?;
        if !matches!(p.receiver, Receiver::Space(_) | Receiver::InTransit(_)) {
            return None;
        }
        let send_once = dest_disp == MACH_MSG_TYPE_MOVE_SEND_ONCE;
        if !send_once && p.is_full() {
            return Some(Ok(Simple::QueueFull(dest)));
        }
        // Everything checked; the message must fit the message-memory budget.
        let charge = MACH_MSG_HEADER_SIZE as u64 + KMSG_OVERHEAD;
        if !self.charge_message_memory(charge) {
            return Some(Err(MACH_SEND_NO_BUFFER));
        }
        // Take the rights.
        let kind = if send_once {
            RightKind::SendOnce
        } else {
            RightKind::Send
        };
        match dest_disp {
            MACH_MSG_TYPE_MOVE_SEND_ONCE => {
                self.spaces.get_mut(&space)?.free(remote);
            }
            d => {
                let p = self.ports.get_mut(&dest)?;
                p.srights += 1;
                if d == MACH_MSG_TYPE_MAKE_SEND {
                    p.mscount = p.mscount.wrapping_add(1);
                }
            }
        }
        let reply = match reply_port {
            Some(r) => {
                self.ports.get_mut(&r)?.sorights += 1;
                KRight {
                    port: PortRef::Port(r),
                    kind: RightKind::SendOnce,
                }
            }
            None => KRight::NULL,
        };
        let kmsg = KMsg {
            complex: false,
            id,
            dest: KRight {
                port: PortRef::Port(dest),
                kind,
            },
            reply,
            body: Vec::new(),
            descs: Vec::new(),
            sender: space,
            seqno: 0,
            charge,
        };
        Some(Ok(Simple::Ready(kmsg, dest)))
    }
}
