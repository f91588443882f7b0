//! The one decode step and the one commit step of simple messages (a header
//! and at most [`MAX_INLINE`] bytes of inline data, no descriptors), shared by
//! every path that sends one: the RPC fast path (`rpc_fast.rs`), the handoff
//! send (`handoff.rs`) and the simple case of [`Ipc::msg_send`].
//!
//! As in seL4's decode/invoke split, sending is two steps:
//! - [`Ipc::check_simple`] reads the sender's space and the header and
//!   changes nothing. It returns a [`Plan`] (the destination port and the
//!   right the message carries to it, the reply port, the destination's
//!   receiver and queue state) or the [`Decline`] reason: anything unusual,
//!   including every error, declines, and the general path in `msg.rs` (which
//!   decides every case, and so stays the reference) runs instead. A declined
//!   message has had nothing taken from it, so it is copied in once, by the
//!   general path.
//! - The commit step takes the sender's rights as the plan says and cannot
//!   fail (`take_sender_right` for the sender's entry, `commit_simple` for
//!   the ports): the message is then queued (`Ipc::queue_simple`) or
//!   received at once by a thread blocked on the destination
//!   (`Ipc::receive_simple`), in which case the destination right is
//!   consumed in the same step (never counted as carried) and the reply
//!   right goes straight into the receiver's space. The receiver's header
//!   and trailer are written by the one writer, `kmsg::Received::write`,
//!   which the general receive (`copyout_kmsg`) uses too.
//!
//! The check is split in two, `SimpleHeader::decode` (the bytes alone)
//! and `check_in` (the names and ports), so that a complex message declines
//! before any lookup, and so that the RPC fast path can hold the sender's
//! space while it checks. Everything on the way is `#[inline(always)]`:
//! this is the hottest path of the system, and each caller is one function.
//!
//! Issue-9 note: a header that moves and copies one right of one user
//! reference is the general path's (`SameName`), which takes the copy first.
//!
//! Both give exactly what the general path gives for the same message (the
//! host tests compare them byte for byte, and the audit after each).
//! [`IpcStats`] counts which path each message took, and why the fast paths
//! declined, for the kernel to check that the common case stays fast.

use super::handoff::{BlockedReceiver, HANDOFF_SIZE};
use super::idmap::IdMap;
use super::kmsg::{KMSG_OVERHEAD, KMsg, Received};
use super::port::Port;
use super::port::Receiver;
use super::space::{IpcSpace, Object, bits};
use super::{Ipc, KRight, PortId, PortRef, PsetId, RightKind, SpaceId, WaitKey};
use alloc::vec::Vec;
use mach_abi::message::*;

/// The largest simple message (header and inline data) the fast paths
/// carry; the kernel keeps a buffer this size per thread at most.
pub const MAX_INLINE: usize = 4096;

/// Why a message does not take a fast path (the general path decides it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Decline {
    /// Shorter than a header, longer than [`MAX_INLINE`], or not a multiple of 4.
    Size,
    /// Header bits beyond the two dispositions (complex, voucher, unknown).
    Bits,
    /// The destination and reply are the same name.
    SameName,
    /// A reply other than none or MAKE_SEND_ONCE of a valid name.
    ReplyDisposition,
    /// The sender has no space.
    NoSpace,
    /// The destination name denotes no port (unknown, dead name, port set).
    DestName,
    /// The destination disposition is not COPY_SEND, MAKE_SEND or
    /// MOVE_SEND_ONCE, or the name does not hold the right it needs.
    DestRight,
    /// A send-once right moved to the destination has a dead-name request
    /// (its cancellation is a port-deleted notification).
    DeadNameRequest,
    /// The reply name is not a receive right.
    ReplyName,
    /// The destination port has died.
    DestDead,
    /// The destination queue is full (the sender waits).
    QueueFull,
    /// The message would pass the message-memory limit (or no memory for it).
    NoBuffer,
    /// RPC fast path: the destination's receive right is not in a task's
    /// space (a kernel port, or in transit).
    NotTaskPort,
    /// RPC fast path: messages are queued on the destination.
    DestQueued,
    /// RPC fast path: the receive name is not a receive right outside a
    /// set, nor a port set, or it is the destination.
    ReceiveName,
    /// RPC fast path: a message is queued for the sender's receive (it would
    /// not wait).
    ReceiveQueued,
    /// RPC fast path: no thread is blocked receiving on the destination with
    /// room for the message.
    NoReceiver,
}

impl Decline {
    /// Every reason, in order (`ALL[d as usize] == d`).
    pub const ALL: [Decline; 17] = [
        Decline::Size,
        Decline::Bits,
        Decline::SameName,
        Decline::ReplyDisposition,
        Decline::NoSpace,
        Decline::DestName,
        Decline::DestRight,
        Decline::DeadNameRequest,
        Decline::ReplyName,
        Decline::DestDead,
        Decline::QueueFull,
        Decline::NoBuffer,
        Decline::NotTaskPort,
        Decline::DestQueued,
        Decline::ReceiveName,
        Decline::ReceiveQueued,
        Decline::NoReceiver,
    ];
    pub const COUNT: usize = Self::ALL.len();
}

/// Which path messages took, counted as they go (one increment each).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IpcStats {
    /// Messages the RPC fast path ([`Ipc::msg_rpc_fast`]) handed over.
    pub rpc_fast: u64,
    /// RPC fast path declines, by reason (`[d as usize]`).
    pub rpc_declines: [u64; Decline::COUNT],
    /// Simple messages a send handed straight to a blocked receiver.
    pub handoffs: u64,
    /// Messages queued on a port (by any path, notifications included).
    pub queued: u64,
    /// Simple messages a send queued (or gave to a kernel object) through the
    /// commit step.
    pub simple_queued: u64,
    /// Messages [`Ipc::msg_send`] (or [`Ipc::msg_send_with_handoff`]) sent
    /// through the general path, whatever the outcome.
    pub general: u64,
    /// Why those messages declined the simple path, by reason; a message not
    /// meant for it (complex, larger than [`MAX_INLINE`]) counts as `Size` or `Bits`.
    pub declines: [u64; Decline::COUNT],
}

/// The right a simple message carries to its destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DestRight {
    CopySend,
    MakeSend,
    MoveSendOnce,
}

/// What [`Ipc::check_simple`] found: everything the commit step needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The destination port and the sender's name for it.
    pub dest: PortId,
    pub remote: u32,
    pub right: DestRight,
    /// The port a send-once reply right is made for (MAKE_SEND_ONCE of a receive right).
    pub reply: Option<PortId>,
    pub id: i32,
    /// The message's size (header and inline data).
    pub size: usize,
    /// The space holding the destination's receive right, when a task holds
    /// it (not the kernel, nor a message in transit).
    pub task: Option<SpaceId>,
    /// The port set the destination is in.
    pub pset: Option<PsetId>,
    /// Whether messages are queued on the destination.
    pub queued: bool,
}

impl Plan {
    /// The key the destination's receivers wait on (the port, or its set).
    #[inline(always)]
    pub fn key(&self) -> WaitKey {
        self.pset.map_or(WaitKey::Port(self.dest), WaitKey::Set)
    }

    /// Kernel memory the message holds while queued.
    pub fn charge(&self) -> u64 {
        self.size as u64 + KMSG_OVERHEAD
    }

    /// The kind of right the destination receives the message with.
    fn dest_kind(&self) -> RightKind {
        if self.right == DestRight::MoveSendOnce {
            RightKind::SendOnce
        } else {
            RightKind::Send
        }
    }
}

/// The fields of a simple message's header the plan is made of.
#[derive(Clone, Copy)]
pub(crate) struct SimpleHeader {
    msgh_bits: u32,
    remote: u32,
    /// The reply name when the reply is MAKE_SEND_ONCE (a valid name).
    reply_name: Option<u32>,
    id: i32,
    size: usize,
}

impl SimpleHeader {
    /// The checks on the message's bytes alone: size, bits, names and the
    /// reply's disposition.
    #[inline(always)]
    pub(crate) fn decode(msg: &[u8]) -> Result<SimpleHeader, Decline> {
        let size = msg.len();
        let Some(h) = msg.first_chunk::<MACH_MSG_HEADER_SIZE>() else {
            return Err(Decline::Size);
        };
        if size > MAX_INLINE || !size.is_multiple_of(4) {
            return Err(Decline::Size);
        }
        let word = |at: usize| u32::from_le_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]);
        let (msgh_bits, remote, local, id) = (word(0), word(8), word(12), word(20) as i32);
        if msgh_bits & !(MACH_MSGH_BITS_REMOTE_MASK | MACH_MSGH_BITS_LOCAL_MASK) != 0 {
            return Err(Decline::Bits);
        }
        if remote == local {
            return Err(Decline::SameName);
        }
        let reply_name = match (local, mach_msgh_bits_local(msgh_bits)) {
            (MACH_PORT_NULL, 0) => None,
            (l, MACH_MSG_TYPE_MAKE_SEND_ONCE) if mach_port_valid(l) => Some(l),
            _ => return Err(Decline::ReplyDisposition),
        };
        Ok(SimpleHeader {
            msgh_bits,
            remote,
            reply_name,
            id,
            size,
        })
    }
}

impl Ipc {
    /// The decode step: checks that `msg`, sent from `space`, is a simple
    /// message the fast paths carry, changing nothing; returns the plan, or
    /// why not.
    pub fn check_simple(&self, space: SpaceId, msg: &[u8]) -> Result<Plan, Decline> {
        let h = SimpleHeader::decode(msg)?;
        let s = self.spaces.get(&space).ok_or(Decline::NoSpace)?;
        check_in(s, &self.ports, self.message_memory, self.message_memory_limit, &h)
    }

    /// The commit step: takes the sender's rights as `plan` (just checked,
    /// nothing changed since) says. With `received`, the message is received
    /// in the same step, so the destination right is consumed at once: a
    /// copied send right is never counted, a made one only in the make-send
    /// count (its release is the port's no-senders notification if no other
    /// send right exists, as at a receipt), and a moved send-once right is
    /// used up. Without it the right is counted as carried by the message.
    /// A received message is numbered as if it had been queued. Returns the
    /// reply right, counted on its port, and the received message's sequence
    /// number (0 when queued: [`Ipc::deliver`] numbers it).
    #[inline(always)]
    fn commit_simple(&mut self, plan: &Plan, received: bool) -> (KRight, u32) {
        let mut seqno = 0;
        if let Some(p) = self.ports.get_mut(&plan.dest) {
            if received {
                seqno = p.seqno;
                p.seqno = p.seqno.wrapping_add(1);
            }
            match plan.right {
                DestRight::CopySend if !received => p.srights += 1,
                DestRight::CopySend => {}
                DestRight::MakeSend => {
                    p.mscount = p.mscount.wrapping_add(1);
                    if !received {
                        p.srights += 1;
                    } else if p.srights == 0
                        && let Some(notify) = p.nsrequest.take()
                    {
                        let mscount = p.mscount;
                        self.notify_no_senders(notify, mscount);
                    }
                }
                DestRight::MoveSendOnce if received => p.sorights = p.sorights.saturating_sub(1),
                DestRight::MoveSendOnce => {}
            }
        }
        let reply = match plan.reply {
            Some(r) => {
                if let Some(p) = self.ports.get_mut(&r) {
                    p.sorights += 1;
                }
                KRight {
                    port: PortRef::Port(r),
                    kind: RightKind::SendOnce,
                }
            }
            None => KRight::NULL,
        };
        (reply, seqno)
    }

    /// Commits `plan` for `msg` from `space` and queues the message on its
    /// destination (or gives it to its kernel object): what the general
    /// path does with it. `Err` (nothing taken) when there is no memory for
    /// the inline data.
    pub(crate) fn queue_simple(&mut self, space: SpaceId, msg: &[u8], plan: &Plan) -> Result<(), Decline> {
        // Charged to the task it is queued for (`plan.task`; check_in checked
        // the global budget): past that task's limit, or for a request to
        // a kernel object whose reply could not be charged, nothing is taken.
        let account = plan.task.unwrap_or(0);
        if plan.task.is_none()
            && let Some(r) = plan.reply
            && self
                .ports
                .get(&plan.dest)
                .is_some_and(|p| matches!(p.receiver, Receiver::Kernel(_)))
            && !self.message_memory_fits(self.account_of(r), KMSG_OVERHEAD)
        {
            return Err(Decline::NoBuffer);
        }
        let mut body = Vec::new();
        let data = msg.get(MACH_MSG_HEADER_SIZE..).unwrap_or_default();
        if !data.is_empty() {
            body.try_reserve_exact(data.len()).map_err(|_| Decline::NoBuffer)?;
            body.extend_from_slice(data);
        }
        if !self.charge_message_memory(account, plan.charge()) {
            return Err(Decline::NoBuffer);
        }
        if let Some(s) = self.spaces.get_mut(&space) {
            take_sender_right(s, plan);
        }
        let (reply, _) = self.commit_simple(plan, false);
        self.stats.simple_queued = self.stats.simple_queued.wrapping_add(1);
        self.deliver(KMsg {
            complex: false,
            id: plan.id,
            dest: KRight {
                port: PortRef::Port(plan.dest),
                kind: plan.dest_kind(),
            },
            reply,
            body,
            descs: Vec::new(),
            sender: space,
            seqno: 0,
            charge: plan.charge(),
            account,
        });
        Ok(())
    }

    /// Commits `plan` (whose destination's receive right is in a task's
    /// space, nothing queued on it; the caller has done the sender's side,
    /// [`take_sender_right`]) and has the blocked `receiver`, found on
    /// `plan.key()`, receive the message at once: numbered as if queued, the
    /// reply right given a name in its space, the destination named as it
    /// receives it. Writes the receiver's header and trailer to `out` (the
    /// inline data goes between them unchanged) and returns the status of
    /// its receive.
    #[inline(always)]
    pub(crate) fn receive_simple(
        &mut self,
        space: SpaceId,
        plan: &Plan,
        receiver: &BlockedReceiver,
        out: &mut [u8; HANDOFF_SIZE],
    ) -> MachMsgReturn {
        let (reply, seqno) = self.commit_simple(plan, true);
        let mut remote = Ok(MACH_PORT_NULL);
        let mut local = 0;
        if let Some(rs) = self.spaces.get_mut(&receiver.space) {
            if let Some(r) = reply.port_id() {
                remote = rs.alloc(bits::SEND_ONCE, 1, Object::Port(r)).map_err(|_| r);
            }
            // Received on the port's own name: the receiver's name for it, if
            // that name still denotes the receive right (looked up otherwise).
            let direct = plan.pset.is_none() && rs.receives_on(receiver.name, plan.dest);
            local = if direct {
                receiver.name
            } else {
                rs.name_of_port(plan.dest).unwrap_or(0)
            };
        } else if let Some(r) = reply.port_id() {
            remote = Err(r);
        }
        let (remote, status) = match remote {
            Ok(name) => (name, MACH_MSG_SUCCESS),
            Err(r) => self.reply_right_failed(receiver.space, r),
        };
        let reply_type = if plan.reply.is_some() {
            MACH_MSG_TYPE_PORT_SEND_ONCE
        } else {
            0
        };
        let dest_type = if plan.right == DestRight::MoveSendOnce {
            MACH_MSG_TYPE_PORT_SEND_ONCE
        } else {
            MACH_MSG_TYPE_PORT_SEND
        };
        Received {
            bits: mach_msgh_bits(reply_type, dest_type),
            size: plan.size as u32,
            remote,
            local,
            id: plan.id,
            seqno,
            sender: space,
        }
        .write(out);
        status
    }

    /// The receiver's space had no room for the reply right (counted on its
    /// port already): as the general copy-out, the right is released (a
    /// send-once notification). The name and the receive's status.
    #[cold]
    fn reply_right_failed(&mut self, space: SpaceId, reply: PortId) -> (u32, MachMsgReturn) {
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

/// The rest of [`Ipc::check_simple`], for a decoded header, the sender's
/// space, the ports, and the message memory `used` of its `limit` (taken
/// apart so that a caller can hold the sender's space mutably).
#[inline(always)]
pub(crate) fn check_in(
    s: &IpcSpace,
    ports: &IdMap<Port>,
    used: u64,
    limit: u64,
    h: &SimpleHeader,
) -> Result<Plan, Decline> {
    let SimpleHeader {
        msgh_bits,
        remote,
        reply_name,
        id,
        size,
    } = *h;
    let de = s.get(remote).ok_or(Decline::DestName)?;
    let dest = de.port().ok_or(Decline::DestName)?;
    let right = match mach_msgh_bits_remote(msgh_bits) {
        MACH_MSG_TYPE_COPY_SEND if de.bits & bits::SEND != 0 => DestRight::CopySend,
        MACH_MSG_TYPE_MAKE_SEND if de.bits & bits::RECEIVE != 0 => DestRight::MakeSend,
        MACH_MSG_TYPE_MOVE_SEND_ONCE if de.bits & bits::SEND_ONCE != 0 => {
            if de.dnrequest.is_some() {
                return Err(Decline::DeadNameRequest);
            }
            DestRight::MoveSendOnce
        }
        _ => return Err(Decline::DestRight),
    };
    let reply = match reply_name {
        None => None,
        Some(l) => match s.get(l) {
            Some(re) if re.bits & bits::RECEIVE != 0 => re.port(),
            _ => return Err(Decline::ReplyName),
        },
    };
    let p = ports.get(&dest).ok_or(Decline::DestDead)?;
    if p.is_dead() {
        return Err(Decline::DestDead);
    }
    // Kernel objects take every message.
    if right != DestRight::MoveSendOnce && p.is_full() && !matches!(p.receiver, Receiver::Kernel(_)) {
        return Err(Decline::QueueFull);
    }
    let plan = Plan {
        dest,
        remote,
        right,
        reply,
        id,
        size,
        task: match p.receiver {
            Receiver::Space(rs) => Some(rs),
            _ => None,
        },
        pset: p.pset,
        queued: !p.messages.is_empty(),
    };
    if used.checked_add(plan.charge()).is_none_or(|n| n > limit) {
        return Err(Decline::NoBuffer);
    }
    Ok(plan)
}

/// The sender's side of the commit step: a moved send-once right leaves
/// the sender's space (the plan checked it has no dead-name request).
#[inline(always)]
pub(crate) fn take_sender_right(s: &mut IpcSpace, plan: &Plan) {
    if plan.right == DestRight::MoveSendOnce {
        s.free_send_once(plan.remote);
    }
}
