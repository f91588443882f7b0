//! `mach_msg`'s two halves on the IPC model: sending a message from a task's
//! bytes, and receiving the next message of a port or port set.
//!
//! Neither half blocks: when the destination queue is full, or nothing is
//! queued, they say what to wait for ([`WaitKey`]) and the kernel parks the
//! thread, then calls again.

use super::kmsg::{KMsg, parse_send, rd32};
use super::port::Receiver;
use super::right::kind_of;
use super::space::{Object, bits};
use super::{Ipc, KRight, Name, PortId, RightKind, SpaceId, UserMemory, WaitKey};
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

impl Ipc {
    /// Sends the message `msg` (exactly the bytes the task passed, `send_size`
    /// long) from `space`.
    pub fn msg_send(
        &mut self,
        space: SpaceId,
        msg: &[u8],
        mem: &mut dyn UserMemory,
    ) -> Result<SendOutcome, MachMsgReturn> {
        if !self.spaces.contains_key(&space) {
            return Err(MACH_SEND_INVALID_DEST);
        }
        let h = parse_send(msg)?;
        let dest_disp = mach_msgh_bits_remote(h.bits);
        let reply_disp = mach_msgh_bits_local(h.bits);
        if !mach_port_valid(h.remote) {
            return Err(MACH_SEND_INVALID_DEST);
        }
        let same = h.remote == h.local;
        if same && dest_disp == MACH_MSG_TYPE_MOVE_SEND_ONCE && reply_disp == MACH_MSG_TYPE_MOVE_SEND_ONCE {
            return Err(MACH_SEND_INVALID_REPLY);
        }
        let extra = u32::from(same && dest_disp == MACH_MSG_TYPE_MOVE_SEND && reply_disp == MACH_MSG_TYPE_MOVE_SEND);
        self.check_copyin(space, h.remote, dest_disp, extra)
            .map_err(|_| MACH_SEND_INVALID_DEST)?;
        let dest_port = self.dest_port(space, h.remote).ok_or(MACH_SEND_INVALID_DEST)?;
        if mach_port_valid(h.local) {
            self.check_copyin(space, h.local, reply_disp, extra)
                .map_err(|_| MACH_SEND_INVALID_REPLY)?;
        }
        // Room in the queue is checked before anything is copied in.
        let send_once = matches!(dest_disp, MACH_MSG_TYPE_MOVE_SEND_ONCE | MACH_MSG_TYPE_MAKE_SEND_ONCE);
        let p = self.ports.get(&dest_port).ok_or(MACH_SEND_INVALID_DEST)?;
        let kernel_port = matches!(p.receiver, Receiver::Kernel(_));
        if !send_once && !kernel_port && !p.is_dead() && p.is_full() {
            return Ok(SendOutcome::WouldBlock(WaitKey::Space(dest_port)));
        }
        let dest = self
            .take_right(space, h.remote, dest_disp, kind_of(dest_disp))
            .map_err(|_| MACH_SEND_INVALID_DEST)?;
        let reply = if mach_port_valid(h.local) || reply_disp != 0 {
            match self.take_right(space, h.local, reply_disp, kind_of(reply_disp)) {
                Ok(r) => r,
                Err(_) => {
                    self.release_right(dest);
                    return Err(MACH_SEND_INVALID_REPLY);
                }
            }
        } else {
            KRight::NULL
        };
        let mut body = Vec::new();
        if body.try_reserve_exact(msg.len() - MACH_MSG_HEADER_SIZE).is_err() {
            self.release_right(dest);
            self.release_right(reply);
            return Err(MACH_SEND_NO_BUFFER);
        }
        body.extend_from_slice(&msg[MACH_MSG_HEADER_SIZE..]);
        let mut kmsg = KMsg {
            complex: h.bits & MACH_MSGH_BITS_COMPLEX != 0,
            id: h.id,
            dest,
            reply,
            body,
            descs: Vec::new(),
            sender: space,
            seqno: 0,
        };
        if let Err(e) = self.copyin_body(space, msg, &h.descs, &mut kmsg, mem) {
            self.garbage.push(kmsg);
            self.collect_garbage();
            return Err(e);
        }
        self.deliver(kmsg);
        self.collect_garbage();
        Ok(SendOutcome::Sent)
    }

    /// The live port a send right named `name` in `space` denotes.
    fn dest_port(&self, space: SpaceId, name: Name) -> Option<PortId> {
        let e = self.spaces.get(&space)?.get(name)?;
        if e.bits & bits::DEAD_NAME != 0 {
            return None;
        }
        let p = e.port()?;
        self.ports.get(&p).filter(|port| !port.is_dead()).map(|_| p)
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
        let e = self
            .spaces
            .get(&space)
            .and_then(|s| s.get(name))
            .ok_or(MACH_RCV_INVALID_NAME)?;
        let (candidates, key): (Vec<PortId>, WaitKey) = match e.object {
            Object::Port(p) if e.bits & bits::RECEIVE != 0 => {
                if self.ports.get(&p).is_some_and(|port| port.pset.is_some()) {
                    return Err(MACH_RCV_IN_SET);
                }
                (alloc::vec![p], WaitKey::Port(p))
            }
            Object::Set(s) => (
                self.psets.get(&s).map(|set| set.members.clone()).unwrap_or_default(),
                WaitKey::Set(s),
            ),
            _ => return Err(MACH_RCV_INVALID_NAME),
        };
        let Some(port) = candidates
            .into_iter()
            .find(|p| self.ports.get(p).is_some_and(|port| !port.messages.is_empty()))
        else {
            return Ok(ReceiveOutcome::WouldBlock(key));
        };
        let p = self.ports.get_mut(&port).expect("port");
        let needed = p.messages.front().map_or(0, |m| m.size()) + MACH_MSG_TRAILER_SIZE;
        if needed > capacity {
            if large {
                return Ok(ReceiveOutcome::TooLarge { needed });
            }
            let m = p.messages.pop_front().expect("message");
            self.wake(WaitKey::Space(port));
            self.garbage.push(m);
            self.collect_garbage();
            return Err(MACH_RCV_TOO_LARGE);
        }
        let m = p.messages.pop_front().expect("message");
        self.wake(WaitKey::Space(port));
        let (bytes, status) = self.copyout_kmsg(space, m, mem);
        self.maybe_free_port(port);
        Ok(ReceiveOutcome::Message { bytes, status })
    }

    /// Sends a message built by the kernel (a notification or a kernel
    /// server's reply): no queue limit applies.
    pub fn kernel_send(&mut self, kmsg: KMsg) {
        self.deliver(kmsg);
        self.collect_garbage();
    }

    /// The id of the message at the head of a port's queue (tests, debugging).
    pub fn peek_id(&self, port: PortId) -> Option<i32> {
        self.ports.get(&port)?.messages.front().map(|m| m.id)
    }

    /// Reads a u32 of a received message (test helper).
    pub fn word(bytes: &[u8], off: usize) -> u32 {
        rd32(bytes, off)
    }

    /// The kind of right `name` holds for a port (test helper).
    pub fn right_kind(&self, space: SpaceId, name: Name) -> Option<RightKind> {
        let e = self.spaces.get(&space)?.get(name)?;
        if e.bits & bits::RECEIVE != 0 {
            Some(RightKind::Receive)
        } else if e.bits & bits::SEND_ONCE != 0 {
            Some(RightKind::SendOnce)
        } else if e.bits & bits::SEND != 0 {
            Some(RightKind::Send)
        } else {
            None
        }
    }
}
