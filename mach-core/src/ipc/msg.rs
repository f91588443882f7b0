//! `mach_msg`'s two halves on the IPC model: sending a message from a task's
//! bytes, and receiving the next message of a port or port set.
//!
//! Neither half blocks: when the destination queue is full, or nothing is
//! queued, they say what to wait for ([`WaitKey`]) and the kernel parks the
//! thread, then calls again.

use super::kmsg::{KMSG_OVERHEAD, KMsg, SendHeader, parse_send};
use super::port::Receiver;
use super::right::{copyin_allowed, kind_of};
use super::simple::Decline;
use super::space::{Entry, Object, bits};
use super::{Ipc, KRight, Name, PortId, SpaceId, UserMemory, WaitKey};
use alloc::vec::Vec;
use mach_abi::message::*;

#[derive(Debug, PartialEq, Eq)]
pub enum SendOutcome {
    /// Queued (or handed to the kernel, or destroyed as a dead letter).
    Sent,
    /// The destination queue is full; nothing was done. Wait on the key and retry.
    WouldBlock(WaitKey),
}

#[derive(Debug, PartialEq, Eq)]
pub enum ReceiveOutcome {
    /// The message in the receiver's terms, trailer included, and the status
    /// to return (success, or a copyout error that left names dead).
    Message { bytes: Vec<u8>, status: MachMsgReturn },
    /// Nothing queued: wait on the key and retry.
    WouldBlock(WaitKey),
    /// The next message needs `needed` bytes (with trailer); it stays queued.
    TooLarge { needed: usize },
}

/// What [`Ipc::msg_receive_into`] did; a received message is in the
/// caller's buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum ReceiveStatus {
    /// The buffer holds the message, trailer included; the status to return.
    Message(MachMsgReturn),
    /// Nothing queued: wait on the key and retry.
    WouldBlock(WaitKey),
    /// The next message needs `needed` bytes (with trailer); it stays queued.
    TooLarge { needed: usize },
}

impl Ipc {
    /// Sends the message `msg` (exactly the bytes the task passed, `send_size`
    /// long) from `space`.
    ///
    /// The header's rights are checked first (changing nothing but names that
    /// lazily turn dead), then room in the queue, and only then are they
    /// taken, so a failure before that point leaves the space as it was.
    pub fn msg_send(
        &mut self,
        space: SpaceId,
        msg: &[u8],
        mem: &mut dyn UserMemory,
    ) -> Result<SendOutcome, MachMsgReturn> {
        let declined = match self.check_simple(space, msg) {
            Ok(plan) => match self.queue_simple(space, msg, &plan) {
                Ok(()) => return Ok(SendOutcome::Sent),
                Err(d) => d,
            },
            Err(d) => d,
        };
        self.msg_send_general(space, msg, mem, declined)
    }

    /// The general path of [`Self::msg_send`], for a message that declined
    /// the simple one (counted under `declined`): decides every case.
    pub(crate) fn msg_send_general(
        &mut self,
        space: SpaceId,
        msg: &[u8],
        mem: &mut dyn UserMemory,
        declined: Decline,
    ) -> Result<SendOutcome, MachMsgReturn> {
        self.stats.general = self.stats.general.wrapping_add(1);
        self.stats.declines[declined as usize] = self.stats.declines[declined as usize].wrapping_add(1);
        let h = match parse_send(msg) {
            Ok(h) => h,
            // A missing space is reported before a malformed message.
            Err(_) if !self.spaces.contains_key(&space) => return Err(MACH_SEND_INVALID_DEST),
            Err(e) => return Err(e),
        };
        let checked = self.check_header(space, &h)?;
        let dest_disp = mach_msgh_bits_remote(h.bits);
        let send_once = matches!(dest_disp, MACH_MSG_TYPE_MOVE_SEND_ONCE | MACH_MSG_TYPE_MAKE_SEND_ONCE);
        if !send_once && self.queue_full(checked.dest_port) {
            return Ok(SendOutcome::WouldBlock(WaitKey::Space(checked.dest_port)));
        }
        // The inline part must fit the message-memory budget (and that of the
        // task it is queued for) before anything is taken.
        let account = self.account_of(checked.dest_port);
        let charge = msg.len() as u64 + KMSG_OVERHEAD;
        if !self.reply_has_room(checked.dest_port, checked.reply.as_ref())
            || !self.charge_message_memory(account, charge)
        {
            return Err(MACH_SEND_NO_BUFFER);
        }
        let (dest, reply) = match self.take_header_rights(space, &h, &checked) {
            Ok(r) => r,
            Err(e) => {
                self.uncharge_message_memory(account, charge);
                return Err(e);
            }
        };
        let Some(body) = copy_body(msg) else {
            self.uncharge_message_memory(account, charge);
            self.release_right(dest);
            self.release_right(reply);
            return Err(MACH_SEND_NO_BUFFER);
        };
        let mut kmsg = KMsg {
            complex: h.bits & MACH_MSGH_BITS_COMPLEX != 0,
            id: h.id,
            dest,
            reply,
            body,
            descs: Vec::new(),
            sender: space,
            seqno: 0,
            charge,
            account,
        };
        if h.descs != 0
            && let Err(e) = self.copyin_body(space, msg, &h, &mut kmsg, mem)
        {
            self.garbage.push(kmsg);
            self.collect_garbage();
            return Err(e);
        }
        self.deliver(kmsg);
        self.collect_garbage();
        Ok(SendOutcome::Sent)
    }

    /// Checks that the header's rights can be copied in (without taking
    /// them); returns what [`Self::take_header_rights`] needs.
    fn check_header(&mut self, space: SpaceId, h: &SendHeader) -> Result<CheckedHeader, MachMsgReturn> {
        let dest_disp = mach_msgh_bits_remote(h.bits);
        let reply_disp = mach_msgh_bits_local(h.bits);
        if !mach_port_valid(h.remote) {
            return Err(MACH_SEND_INVALID_DEST);
        }
        let same = h.remote == h.local;
        if same && dest_disp == MACH_MSG_TYPE_MOVE_SEND_ONCE && reply_disp == MACH_MSG_TYPE_MOVE_SEND_ONCE {
            return Err(MACH_SEND_INVALID_REPLY);
        }
        let extra = header_extra_urefs(h);
        let dest = self.lookup_entry(space, h.remote).ok_or(MACH_SEND_INVALID_DEST)?;
        copyin_allowed(&dest, dest_disp, extra).map_err(|_| MACH_SEND_INVALID_DEST)?;
        let dest_port = dest
            .port()
            .filter(|p| dest.bits & bits::DEAD_NAME == 0 && self.ports.get(p).is_some_and(|port| !port.is_dead()))
            .ok_or(MACH_SEND_INVALID_DEST)?;
        let mut reply = None;
        if mach_port_valid(h.local) {
            let e = self.lookup_entry(space, h.local).ok_or(MACH_SEND_INVALID_REPLY)?;
            copyin_allowed(&e, reply_disp, extra).map_err(|_| MACH_SEND_INVALID_REPLY)?;
            reply = Some(e);
        }
        Ok(CheckedHeader { dest_port, dest, reply })
    }

    /// For a request to a kernel object (`dest`), whether the holder of its
    /// reply port (`reply`, the entry of the reply name) can be charged for
    /// the reply: kernel replies ignore limits, so a request whose reply
    /// would go to a task over its limit is refused before it is served.
    #[inline]
    pub(crate) fn reply_has_room(&self, dest: PortId, reply: Option<&Entry>) -> bool {
        let to_kernel = self
            .ports
            .get(&dest)
            .is_some_and(|p| matches!(p.receiver, Receiver::Kernel(_)));
        !to_kernel
            || reply
                .and_then(|e| e.port())
                .is_none_or(|r| self.message_memory_fits(self.account_of(r), KMSG_OVERHEAD))
    }

    /// Is the queue of the live port `dest` full for a message sent with a
    /// send right? (Kernel ports take every message.)
    fn queue_full(&self, dest: PortId) -> bool {
        self.ports
            .get(&dest)
            .is_some_and(|p| !matches!(p.receiver, Receiver::Kernel(_)) && !p.is_dead() && p.is_full())
    }

    /// Takes the header's rights, which [`Self::check_header`] accepted.
    fn take_header_rights(
        &mut self,
        space: SpaceId,
        h: &SendHeader,
        checked: &CheckedHeader,
    ) -> Result<(KRight, KRight), MachMsgReturn> {
        let dest_disp = mach_msgh_bits_remote(h.bits);
        let reply_disp = mach_msgh_bits_local(h.bits);
        // One name, a moved destination and a copied or made reply (MOVE_SEND
        // and COPY_SEND of one user reference): the copy is taken first, as in
        // XNU, so the move cannot take away the right it copies from.
        if h.local == h.remote
            && let Some(e) = checked.reply
            && moves(dest_disp)
            && !moves(reply_disp)
        {
            let reply = self
                .take_checked_right(space, h.local, &e, reply_disp)
                .map_err(|_| MACH_SEND_INVALID_REPLY)?;
            return match self.take_checked_right(space, h.remote, &checked.dest, dest_disp) {
                Ok(dest) => Ok((dest, reply)),
                Err(_) => {
                    self.release_right(reply);
                    Err(MACH_SEND_INVALID_DEST)
                }
            };
        }
        let dest = self
            .take_checked_right(space, h.remote, &checked.dest, dest_disp)
            .map_err(|_| MACH_SEND_INVALID_DEST)?;
        let reply = match checked.reply {
            None if reply_disp == 0 => return Ok((dest, KRight::NULL)),
            // Taking the destination may have changed the entry of the same name.
            Some(e) if h.local != h.remote => self.take_checked_right(space, h.local, &e, reply_disp),
            _ => self.take_right(space, h.local, reply_disp, kind_of(reply_disp)),
        };
        match reply {
            Ok(reply) => Ok((dest, reply)),
            Err(_) => {
                self.release_right(dest);
                Err(MACH_SEND_INVALID_REPLY)
            }
        }
    }

    /// Receives the next message for the receive right or port set `name`
    /// into a buffer of `capacity` bytes (trailer included). With `large`, a
    /// message that does not fit stays queued and its size is reported;
    /// without it, such a message is destroyed and `MACH_RCV_TOO_LARGE` returned.
    pub fn msg_receive(
        &mut self,
        space: SpaceId,
        name: Name,
        capacity: usize,
        large: bool,
        mem: &mut dyn UserMemory,
    ) -> Result<ReceiveOutcome, MachMsgReturn> {
        let mut bytes = Vec::new();
        Ok(
            match self.msg_receive_into(space, name, capacity, large, mem, &mut bytes)? {
                ReceiveStatus::Message(status) => ReceiveOutcome::Message { bytes, status },
                ReceiveStatus::WouldBlock(key) => ReceiveOutcome::WouldBlock(key),
                ReceiveStatus::TooLarge { needed } => ReceiveOutcome::TooLarge { needed },
            },
        )
    }

    /// [`Self::msg_receive`] into the caller's buffer `out`, whose contents
    /// are replaced by the message when one is received (and left alone
    /// otherwise). A buffer reused from call to call keeps its capacity, so
    /// receiving does not allocate once it is large enough.
    pub fn msg_receive_into(
        &mut self,
        space: SpaceId,
        name: Name,
        capacity: usize,
        large: bool,
        mem: &mut dyn UserMemory,
        out: &mut Vec<u8>,
    ) -> Result<ReceiveStatus, MachMsgReturn> {
        let (source, key) = self.receive_source(space, name)?;
        let Some(port) = source else {
            return Ok(ReceiveStatus::WouldBlock(key));
        };
        let p = self.ports.get_mut(&port).expect("port");
        let needed = p.messages.front().map_or(0, |m| m.size()) + MACH_MSG_TRAILER_SIZE;
        if needed > capacity && large {
            return Ok(ReceiveStatus::TooLarge { needed });
        }
        let was_full = p.is_full();
        let m = p.messages.pop_front().expect("message");
        // Only a sender that found the queue full can be waiting for room.
        if was_full {
            self.wake(WaitKey::Space(port));
        }
        if needed > capacity {
            self.garbage.push(m);
            self.collect_garbage();
            return Err(MACH_RCV_TOO_LARGE);
        }
        // Received on the port's own name: that is the receiver's name for it.
        let local = matches!(key, WaitKey::Port(_)).then_some(name);
        let status = self.copyout_kmsg(space, m, local, mem, out);
        self.maybe_free_port(port);
        Ok(ReceiveStatus::Message(status))
    }

    /// The port `name` (a receive right or a port set) would receive from
    /// now: the first with a message queued, if any; and the key to wait on.
    fn receive_source(&self, space: SpaceId, name: Name) -> Result<(Option<PortId>, WaitKey), MachMsgReturn> {
        let e = self
            .spaces
            .get(&space)
            .and_then(|s| s.get(name))
            .ok_or(MACH_RCV_INVALID_NAME)?;
        let has_message = |p: &PortId| self.ports.get(p).is_some_and(|port| !port.messages.is_empty());
        match e.object {
            Object::Port(p) if e.bits & bits::RECEIVE != 0 => {
                if self.ports.get(&p).is_some_and(|port| port.pset.is_some()) {
                    return Err(MACH_RCV_IN_SET);
                }
                Ok((Some(p).filter(has_message), WaitKey::Port(p)))
            }
            Object::Set(s) => {
                let members = self.psets.get(&s).map_or(&[][..], |set| &set.members[..]);
                Ok((members.iter().copied().find(has_message), WaitKey::Set(s)))
            }
            _ => Err(MACH_RCV_INVALID_NAME),
        }
    }

    /// Sends a message built by the kernel (a notification or a kernel
    /// server's reply): no queue limit applies.
    pub fn kernel_send(&mut self, kmsg: KMsg) {
        self.deliver(kmsg);
        self.collect_garbage();
    }
}

/// What checking a header's rights found: the destination port, and the
/// entries of the destination and reply names as checked.
struct CheckedHeader {
    dest_port: PortId,
    dest: Entry,
    reply: Option<Entry>,
}

/// Does the disposition take the right out of the sender's entry?
fn moves(disposition: u8) -> bool {
    matches!(disposition, MACH_MSG_TYPE_MOVE_SEND | MACH_MSG_TYPE_MOVE_SEND_ONCE)
}

/// User references a header needs beyond one when it names the same send
/// right twice with MOVE_SEND.
fn header_extra_urefs(h: &SendHeader) -> u32 {
    u32::from(
        h.remote == h.local
            && mach_msgh_bits_remote(h.bits) == MACH_MSG_TYPE_MOVE_SEND
            && mach_msgh_bits_local(h.bits) == MACH_MSG_TYPE_MOVE_SEND,
    )
}

/// A copy of everything after the header (no allocation for a header-only
/// message); `None` when memory runs out.
fn copy_body(msg: &[u8]) -> Option<Vec<u8>> {
    let bytes = &msg[MACH_MSG_HEADER_SIZE..];
    let mut body = Vec::new();
    if !bytes.is_empty() {
        body.try_reserve_exact(bytes.len()).ok()?;
        body.extend_from_slice(bytes);
    }
    Some(body)
}
