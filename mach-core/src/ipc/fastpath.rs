//! The fast path for the commonest message: a bare header sent on a send or
//! send-once right, with no reply right or a reply right made send-once from
//! a receive right the sender holds (the RPC request and its reply).
//!
//! It does exactly what the general path in `msg.rs` would do for such a
//! message, with one lookup per name and no intermediate structures, and
//! declines (`None`) for anything else, including every error, so the
//! general path stays the one place where unusual cases are decided.

use super::kmsg::{KMSG_OVERHEAD, KMsg, rd32};
use super::msg::SendOutcome;
use super::port::Receiver;
use super::space::bits;
use super::{Ipc, KRight, PortRef, RightKind, SpaceId, WaitKey};
use alloc::vec::Vec;
use mach_abi::message::*;

impl Ipc {
    /// Sends a header-only message if it qualifies; `None` means "use the general path".
    pub(crate) fn send_simple(&mut self, space: SpaceId, msg: &[u8]) -> Option<Result<SendOutcome, MachMsgReturn>> {
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
            return Some(Ok(SendOutcome::WouldBlock(WaitKey::Space(dest))));
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
                    p.mscount += 1;
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
        self.deliver(kmsg);
        Some(Ok(SendOutcome::Sent))
    }
}
