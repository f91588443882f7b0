//! Kernel messages: a message in flight, its parsing and copyin from a
//! sender's bytes, its copyout into a receiver's space, and its destruction.
//!
//! Error classes on send, as the Mach documentation groups them:
//! - **did nothing**: `MACH_SEND_MSG_TOO_SMALL`, `MACH_SEND_TOO_LARGE`,
//!   `MACH_SEND_INVALID_HEADER`, `MACH_SEND_INVALID_DEST`,
//!   `MACH_SEND_INVALID_REPLY`, `MACH_SEND_INVALID_TYPE` (the descriptor area is
//!   checked for structure before anything is copied in), and a full queue
//!   (`MACH_SEND_TIMED_OUT`, `MACH_SEND_INTERRUPTED`: the message is copied in
//!   only once there is room, so the sender's space is exactly as before);
//! - **message destroyed**: `MACH_SEND_INVALID_RIGHT`, `MACH_SEND_INVALID_MEMORY`,
//!   `MACH_SEND_NO_BUFFER` in a descriptor: everything copied in up to that
//!   point (the header's rights and earlier descriptors) is destroyed; later
//!   descriptors are untouched.

use super::handoff::HANDOFF_SIZE;
use super::{Ipc, KRight, Name, PortId, PortRef, Receiver, RightKind, SpaceId, UserMemory, WaitKey};
use alloc::vec::Vec;
use mach_abi::message::*;

/// A descriptor's payload while the message is in flight.
#[derive(Debug)]
pub enum KDesc {
    Port(KRight),
    Ool(Vec<u8>),
    /// Out-of-line memory carried as a handle the [`UserMemory`] that took it
    /// gave back: a virtual copy (`UserMemory::copyin_virtual`) or, in a
    /// message to a kernel object, kernel pages
    /// (`UserMemory::copyin_kernel_pages`). Either is released through
    /// [`super::Ipc::take_released_copies`] when the message dies unused.
    OolCopy(u64),
    OolPorts(Vec<KRight>),
}

#[derive(Debug)]
pub struct KMsg {
    pub complex: bool,
    pub id: i32,
    /// The right the message was sent with (send or send-once).
    pub dest: KRight,
    pub reply: KRight,
    /// Everything after the header, as sent (descriptors are rewritten on copyout).
    pub body: Vec<u8>,
    /// Offset in `body` of each descriptor, with its payload.
    pub descs: Vec<(usize, KDesc)>,
    pub sender: SpaceId,
    pub seqno: u32,
    /// Kernel memory this message holds against the message-memory budget
    /// (0 for notifications).
    pub charge: u64,
    /// The space `charge` is counted against besides the global budget: the
    /// holder of the destination's receive right when the message was made
    /// (0: none, for a message to a kernel object or a port in transit).
    pub account: SpaceId,
}

/// What a queued message costs beyond its bytes (the structure and its queue slot).
pub const KMSG_OVERHEAD: u64 = 160;

/// What an out-of-line region that may travel as a virtual copy is charged
/// beyond its descriptor: the kernel's copy record (its entries and its
/// handle), an estimate that holds for a copy of one map entry.
pub const COPY_RECORD_CHARGE: u64 = 128;

impl KMsg {
    /// Size of the message without trailer.
    pub fn size(&self) -> usize {
        MACH_MSG_HEADER_SIZE + self.body.len()
    }

    /// Every right the message carries (for audits).
    pub fn rights(&self) -> impl Iterator<Item = KRight> + '_ {
        let descs = self.descs.iter().flat_map(|(_, d)| match d {
            KDesc::Port(r) => core::slice::from_ref(r).iter().copied(),
            KDesc::OolPorts(v) => v.iter().copied(),
            KDesc::Ool(_) | KDesc::OolCopy(_) => [].iter().copied(),
        });
        [self.dest, self.reply].into_iter().chain(descs)
    }

    /// Could the message carry a receive right? (Cheap: header rights are
    /// send or send-once rights, so only a message with descriptors can.)
    pub fn may_carry_receive(&self) -> bool {
        !self.descs.is_empty() || self.dest.kind == RightKind::Receive || self.reply.kind == RightKind::Receive
    }

    /// The ports whose receive rights the message carries.
    pub fn receive_rights(&self) -> impl Iterator<Item = PortId> + '_ {
        self.rights()
            .filter(|r| r.kind == RightKind::Receive)
            .filter_map(|r| r.port_id())
    }
}

pub(crate) fn rd32(b: &[u8], off: usize) -> u32 {
    b.get(off..off + 4)
        .map_or(0, |s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

pub(crate) fn rd64(b: &[u8], off: usize) -> u64 {
    rd32(b, off) as u64 | ((rd32(b, off + 4) as u64) << 32)
}

pub(crate) fn wr32(b: &mut [u8], off: usize, v: u32) {
    if let Some(s) = b.get_mut(off..off + 4) {
        s.copy_from_slice(&v.to_le_bytes());
    }
}

pub(crate) fn wr64(b: &mut [u8], off: usize, v: u64) {
    wr32(b, off, v as u32);
    wr32(b, off + 4, (v >> 32) as u32);
}

/// A received message's header and trailer in the receiver's terms. Its
/// [`Received::write`] is the one writer of both, for queued messages
/// (`copyout_kmsg`) and those received at once (`simple::receive_simple`).
pub(crate) struct Received {
    pub bits: u32,
    /// The message's size without the trailer.
    pub size: u32,
    /// The reply right's name (`msgh_remote_port`).
    pub remote: Name,
    /// The destination's name (`msgh_local_port`).
    pub local: Name,
    pub id: i32,
    pub seqno: u32,
    pub sender: SpaceId,
}

impl Received {
    /// Writes the header, then the trailer, into `out` (the body goes
    /// between them).
    #[inline]
    pub fn write(&self, out: &mut [u8; HANDOFF_SIZE]) {
        wr32(out, 0, self.bits);
        wr32(out, 4, self.size);
        wr32(out, 8, self.remote);
        wr32(out, 12, self.local);
        wr32(out, 16, 0);
        wr32(out, 20, self.id as u32);
        let t = MACH_MSG_HEADER_SIZE;
        wr32(out, t, MACH_MSG_TRAILER_FORMAT_0);
        wr32(out, t + 4, MACH_MSG_TRAILER_SIZE as u32);
        wr32(out, t + 8, self.seqno);
        wr64(out, t + 12, self.sender);
    }

    /// Replaces the contents of `out` with the whole message: header,
    /// `body`, trailer (an empty `out` gets one allocation of exactly that size).
    pub fn put(&self, out: &mut Vec<u8>, body: &[u8]) {
        let mut ends = [0u8; HANDOFF_SIZE];
        self.write(&mut ends);
        let total = HANDOFF_SIZE + body.len();
        out.clear();
        if out.capacity() == 0 {
            // The common case (msg_receive): one allocation of the exact size.
            *out = Vec::with_capacity(total);
        } else {
            out.reserve_exact(total);
        }
        out.extend_from_slice(&ends[..MACH_MSG_HEADER_SIZE]);
        out.extend_from_slice(body);
        out.extend_from_slice(&ends[MACH_MSG_HEADER_SIZE..]);
    }
}

/// The parsed, structurally valid header of a message being sent.
pub(crate) struct SendHeader {
    pub bits: u32,
    pub remote: u32,
    pub local: u32,
    pub id: i32,
    /// Number of descriptors (0 for a simple message); [`parse_send`] has
    /// checked that [`SendHeader::descriptors`] walks them without error.
    pub descs: u32,
}

impl SendHeader {
    /// The descriptors of `msg` (the message this header was parsed from).
    pub fn descriptors<'a>(&self, msg: &'a [u8]) -> Descriptors<'a> {
        Descriptors {
            msg,
            off: MACH_MSG_HEADER_SIZE + MACH_MSG_BODY_SIZE,
            left: self.descs,
        }
    }
}

/// Walks the descriptor area of a complex message, yielding the offset (in
/// the whole message) and type of each descriptor, or the structural error
/// that stops the walk.
pub(crate) struct Descriptors<'a> {
    msg: &'a [u8],
    off: usize,
    left: u32,
}

impl Iterator for Descriptors<'_> {
    type Item = Result<(usize, u8), MachMsgReturn>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let off = self.off;
        let Some(&ty) = self.msg.get(off + MACH_MSG_DESCRIPTOR_TYPE_OFFSET) else {
            self.left = 0;
            return Some(Err(MACH_SEND_MSG_TOO_SMALL));
        };
        let size = match ty {
            MACH_MSG_PORT_DESCRIPTOR => MACH_MSG_PORT_DESCRIPTOR_SIZE,
            MACH_MSG_OOL_DESCRIPTOR | MACH_MSG_OOL_VOLATILE_DESCRIPTOR | MACH_MSG_OOL_PORTS_DESCRIPTOR => {
                MACH_MSG_OOL_DESCRIPTOR_SIZE
            }
            _ => {
                self.left = 0;
                return Some(Err(MACH_SEND_INVALID_TYPE));
            }
        };
        if off + size > self.msg.len() {
            self.left = 0;
            return Some(Err(MACH_SEND_MSG_TOO_SMALL));
        }
        self.off += size;
        Some(Ok((off, ty)))
    }
}

fn is_header_send_disposition(d: u8) -> bool {
    matches!(
        d,
        MACH_MSG_TYPE_MOVE_SEND
            | MACH_MSG_TYPE_MOVE_SEND_ONCE
            | MACH_MSG_TYPE_COPY_SEND
            | MACH_MSG_TYPE_MAKE_SEND
            | MACH_MSG_TYPE_MAKE_SEND_ONCE
    )
}

/// Structural checks that change nothing: sizes, header bits, descriptor area.
/// Allocates nothing.
pub(crate) fn parse_send(msg: &[u8]) -> Result<SendHeader, MachMsgReturn> {
    if msg.len() < MACH_MSG_HEADER_SIZE || !msg.len().is_multiple_of(4) {
        return Err(MACH_SEND_MSG_TOO_SMALL);
    }
    if msg.len() > MACH_MSG_SIZE_MAX as usize {
        return Err(MACH_SEND_TOO_LARGE);
    }
    let bits = rd32(msg, 0);
    let remote = rd32(msg, 8);
    let local = rd32(msg, 12);
    let id = rd32(msg, 20) as i32;
    if bits & !MACH_MSGH_BITS_USER != 0 || mach_msgh_bits_voucher(bits) != 0 {
        return Err(MACH_SEND_INVALID_HEADER);
    }
    if !is_header_send_disposition(mach_msgh_bits_remote(bits)) {
        return Err(MACH_SEND_INVALID_HEADER);
    }
    let ld = mach_msgh_bits_local(bits);
    if (mach_port_valid(local) || ld != 0) && !is_header_send_disposition(ld) {
        return Err(MACH_SEND_INVALID_HEADER);
    }
    let mut h = SendHeader {
        bits,
        remote,
        local,
        id,
        descs: 0,
    };
    if bits & MACH_MSGH_BITS_COMPLEX != 0 {
        if msg.len() < MACH_MSG_HEADER_SIZE + MACH_MSG_BODY_SIZE {
            return Err(MACH_SEND_MSG_TOO_SMALL);
        }
        let count = rd32(msg, MACH_MSG_HEADER_SIZE);
        if count > MACH_MSG_DESCRIPTORS_MAX {
            return Err(MACH_SEND_MSG_TOO_SMALL);
        }
        h.descs = count;
        for d in h.descriptors(msg) {
            let (off, ty) = d?;
            let disposition = msg[off + 10];
            if (ty == MACH_MSG_PORT_DESCRIPTOR || ty == MACH_MSG_OOL_PORTS_DESCRIPTOR)
                && !is_send_disposition(disposition)
            {
                return Err(MACH_SEND_INVALID_TYPE);
            }
        }
    }
    Ok(h)
}

/// The received type for a carried right.
pub(crate) fn received_type(kind: RightKind) -> u8 {
    match kind {
        RightKind::Send => MACH_MSG_TYPE_PORT_SEND,
        RightKind::SendOnce => MACH_MSG_TYPE_PORT_SEND_ONCE,
        RightKind::Receive => MACH_MSG_TYPE_PORT_RECEIVE,
    }
}

impl Ipc {
    /// Copies in the descriptors of a message whose header rights are already
    /// in `kmsg`. On error the caller destroys `kmsg`.
    pub(crate) fn copyin_body(
        &mut self,
        space: SpaceId,
        msg: &[u8],
        h: &SendHeader,
        kmsg: &mut KMsg,
        mem: &mut dyn UserMemory,
    ) -> Result<(), MachMsgReturn> {
        let mut ool_total: u64 = 0;
        // Kernel servers read out-of-line data as bytes: no virtual copies for them.
        let to_kernel = kmsg
            .dest
            .port_id()
            .and_then(|p| self.ports.get(&p))
            .is_some_and(|p| matches!(p.receiver, Receiver::Kernel(_)));
        kmsg.descs
            .try_reserve_exact(h.descs as usize)
            .map_err(|_| MACH_SEND_NO_BUFFER)?;
        for d in h.descriptors(msg) {
            let (off, ty) = d?;
            let body_off = off - MACH_MSG_HEADER_SIZE;
            let disposition = msg[off + 10];
            match ty {
                MACH_MSG_PORT_DESCRIPTOR => {
                    let name = rd32(msg, off);
                    let r = self
                        .copyin_right(space, name, disposition)
                        .map_err(|_| MACH_SEND_INVALID_RIGHT)?;
                    kmsg.descs.push((body_off, KDesc::Port(r)));
                }
                MACH_MSG_OOL_DESCRIPTOR | MACH_MSG_OOL_VOLATILE_DESCRIPTOR => {
                    let addr = rd64(msg, off);
                    let size = rd32(msg, off + 12) as u64;
                    let dealloc = msg[off + 8] != 0;
                    // As in Mach: MACH_MSG_PHYSICAL_COPY without deallocation
                    // asks for the bytes to be copied during the send.
                    let may_be_virtual = dealloc || msg[off + 9] != MACH_MSG_PHYSICAL_COPY;
                    ool_total = ool_total.saturating_add(size);
                    if ool_total > MACH_MSG_OOL_SIZE_MAX {
                        return Err(MACH_SEND_TOO_LARGE);
                    }
                    if addr.checked_add(size).is_none() {
                        return Err(MACH_SEND_INVALID_MEMORY);
                    }
                    if size > 0 && may_be_virtual && !to_kernel {
                        if !self.charge_message_memory(kmsg.account, COPY_RECORD_CHARGE) {
                            return Err(MACH_SEND_NO_BUFFER);
                        }
                        kmsg.charge += COPY_RECORD_CHARGE;
                        match mem.copyin_virtual(addr, size, dealloc) {
                            Ok(Some(copy)) => {
                                kmsg.descs.push((body_off, KDesc::OolCopy(copy)));
                                continue;
                            }
                            Ok(None) => {}
                            Err(()) => return Err(MACH_SEND_INVALID_MEMORY),
                        }
                    }
                    // For a kernel object, a page or more is copied once, into
                    // pages the kernel keeps (a pager's data_supply makes them
                    // resident as they are), when the memory can.
                    if to_kernel && size >= crate::PAGE_SIZE {
                        match mem.copyin_kernel_pages(addr, size, dealloc) {
                            Ok(Some(pages)) => {
                                kmsg.descs.push((body_off, KDesc::OolCopy(pages)));
                                continue;
                            }
                            Ok(None) => {}
                            Err(()) => return Err(MACH_SEND_INVALID_MEMORY),
                        }
                    }
                    let mut data = Vec::new();
                    if !self.charge_message_memory(kmsg.account, size) {
                        return Err(MACH_SEND_NO_BUFFER);
                    }
                    kmsg.charge += size;
                    data.try_reserve_exact(size as usize).map_err(|_| MACH_SEND_NO_BUFFER)?;
                    data.resize(size as usize, 0);
                    if size > 0 {
                        mem.read(addr, &mut data).map_err(|_| MACH_SEND_INVALID_MEMORY)?;
                        if dealloc {
                            let _ = mem.deallocate(addr, size);
                        }
                    }
                    kmsg.descs.push((body_off, KDesc::Ool(data)));
                }
                MACH_MSG_OOL_PORTS_DESCRIPTOR => {
                    let addr = rd64(msg, off);
                    let count = rd32(msg, off + 12);
                    let dealloc = msg[off + 8] != 0;
                    if count > MACH_MSG_OOL_PORTS_MAX {
                        return Err(MACH_SEND_TOO_LARGE);
                    }
                    let bytes = count as usize * 4;
                    let mut names = Vec::new();
                    // Charged as kept: a right each (the names are read into
                    // a buffer freed before the send returns).
                    let kept = count as u64 * core::mem::size_of::<KRight>() as u64;
                    if !self.charge_message_memory(kmsg.account, kept) {
                        return Err(MACH_SEND_NO_BUFFER);
                    }
                    kmsg.charge += kept;
                    names.try_reserve_exact(bytes).map_err(|_| MACH_SEND_NO_BUFFER)?;
                    names.resize(bytes, 0);
                    if bytes > 0 {
                        mem.read(addr, &mut names).map_err(|_| MACH_SEND_INVALID_MEMORY)?;
                    }
                    // All names are checked before any is taken, so a bad one
                    // leaves the array untouched.
                    for i in 0..count as usize {
                        let name = rd32(&names, i * 4);
                        self.check_copyin(space, name, disposition, 0)
                            .map_err(|_| MACH_SEND_INVALID_RIGHT)?;
                    }
                    let mut rights = Vec::new();
                    rights
                        .try_reserve_exact(count as usize)
                        .map_err(|_| MACH_SEND_NO_BUFFER)?;
                    let mut failed = false;
                    for i in 0..count as usize {
                        match self.copyin_right(space, rd32(&names, i * 4), disposition) {
                            Ok(r) => rights.push(r),
                            Err(_) => {
                                failed = true;
                                break;
                            }
                        }
                    }
                    kmsg.descs.push((body_off, KDesc::OolPorts(rights)));
                    if failed {
                        return Err(MACH_SEND_INVALID_RIGHT);
                    }
                    if dealloc && bytes > 0 {
                        let _ = mem.deallocate(addr, bytes as u64);
                    }
                }
                _ => return Err(MACH_SEND_INVALID_TYPE),
            }
        }
        Ok(())
    }

    /// Queues a message on its destination (or hands it to the kernel, or
    /// destroys it when the destination is dead or the message would make a
    /// cycle of receive rights that nobody could ever receive).
    pub(crate) fn deliver(&mut self, kmsg: KMsg) {
        let receiver = kmsg
            .dest
            .port_id()
            .and_then(|dest| self.ports.get(&dest).map(|p| (dest, p.receiver)));
        match receiver {
            None | Some((_, Receiver::Dead)) => {
                self.garbage.push(kmsg);
                self.collect_garbage();
            }
            Some((_, Receiver::Kernel(obj))) => self.kernel_messages.push((obj, kmsg)),
            Some((dest, _)) => {
                if kmsg.may_carry_receive() && !self.put_receive_rights_in_transit(&kmsg, dest) {
                    self.garbage.push(kmsg);
                    self.collect_garbage();
                    return;
                }
                self.enqueue(dest, kmsg);
            }
        }
    }

    /// Appends a message to the queue of the live port `dest` and wakes its
    /// receivers.
    fn enqueue(&mut self, dest: PortId, mut kmsg: KMsg) {
        let p = self.ports.get_mut(&dest).expect("port");
        kmsg.seqno = p.seqno;
        p.seqno = p.seqno.wrapping_add(1);
        p.messages.push_back(kmsg);
        let set = p.pset;
        self.stats.queued = self.stats.queued.wrapping_add(1);
        self.wake(WaitKey::Port(dest));
        if let Some(s) = set {
            self.wake(WaitKey::Set(s));
        }
    }

    /// Marks the receive rights `kmsg` carries as in transit to `dest`;
    /// returns false (changing nothing) when that would make a cycle.
    fn put_receive_rights_in_transit(&mut self, kmsg: &KMsg, dest: PortId) -> bool {
        if self.is_circular(kmsg, dest) {
            return false;
        }
        for r in kmsg.receive_rights() {
            if let Some(p) = self.ports.get_mut(&r) {
                p.receiver = Receiver::InTransit(Some(dest));
            }
        }
        true
    }

    /// Would queuing `kmsg` on `dest` put a receive right inside its own queue
    /// (directly or through a chain of in-transit ports)?
    fn is_circular(&self, kmsg: &KMsg, dest: PortId) -> bool {
        for carried in kmsg.receive_rights() {
            let mut at = dest;
            let mut steps = 0;
            loop {
                if at == carried {
                    return true;
                }
                match self.ports.get(&at).map(|p| p.receiver) {
                    Some(Receiver::InTransit(Some(next))) if steps < 1_000_000 => {
                        at = next;
                        steps += 1;
                    }
                    _ => break,
                }
            }
        }
        false
    }

    /// Destroys a message and every right in it.
    pub(crate) fn destroy_kmsg_now(&mut self, kmsg: KMsg) {
        self.uncharge_message_memory(kmsg.account, kmsg.charge);
        self.release_copies(&kmsg);
        // Released straight from the message (no list of them is made:
        // destroying allocates nothing for it).
        for r in kmsg.rights() {
            let PortRef::Port(port) = r.port else {
                continue;
            };
            match r.kind {
                RightKind::Send => self.release_send(port),
                RightKind::SendOnce => self.release_send_once(port),
                RightKind::Receive => self.destroy_receive(port, true),
            }
        }
    }

    /// Writes a message into `space`'s terms: rights become names there,
    /// out-of-line data is copied into fresh memory. Replaces the contents of
    /// `out` with the bytes (header, body, trailer; an empty `out` gets one
    /// allocation of exactly that size). Returns MACH_MSG_SUCCESS, or
    /// MACH_RCV_HEADER_ERROR / MACH_RCV_BODY_ERROR when some right or region
    /// could not be placed (it reads as MACH_PORT_DEAD or 0).
    /// `local` is the receiver's name for the destination port when the
    /// caller knows it (it received on that name), saving a lookup.
    pub(crate) fn copyout_kmsg(
        &mut self,
        space: SpaceId,
        kmsg: KMsg,
        local: Option<Name>,
        mem: &mut dyn UserMemory,
        out: &mut Vec<u8>,
    ) -> MachMsgReturn {
        self.uncharge_message_memory(kmsg.account, kmsg.charge);
        let mut status = MACH_MSG_SUCCESS;
        let dest = kmsg.dest;
        let local = dest.port_id().map_or(0, |p| {
            local
                .or_else(|| self.spaces.get(&space).and_then(|s| s.name_of_port(p)))
                .unwrap_or(0)
        });
        match dest.port {
            PortRef::Port(p) if dest.kind == RightKind::Send => self.release_send(p),
            PortRef::Port(p) => self.consume_send_once(p),
            _ => {}
        }
        let reply_type = if kmsg.reply.port == PortRef::Null {
            0
        } else {
            received_type(kmsg.reply.kind)
        };
        let remote = self.copyout_right(space, kmsg.reply).unwrap_or_else(|_| {
            status = MACH_RCV_HEADER_ERROR;
            MACH_PORT_DEAD
        });
        let mut bits = mach_msgh_bits(reply_type, received_type(dest.kind));
        if kmsg.complex {
            bits |= MACH_MSGH_BITS_COMPLEX;
        }
        let received = Received {
            bits,
            size: kmsg.size() as u32,
            remote,
            local,
            id: kmsg.id,
            seqno: kmsg.seqno,
            sender: kmsg.sender,
        };
        received.put(out, &kmsg.body);
        if !kmsg.descs.is_empty() && self.copyout_descriptors(space, kmsg.descs, out, mem).is_err() {
            status = MACH_RCV_BODY_ERROR;
        }
        self.collect_garbage();
        status
    }

    /// Rewrites the descriptors of a message being received (in `out`, header
    /// and body) in `space`'s terms. `Err` when some right or region could not
    /// be placed (the rest are still placed).
    fn copyout_descriptors(
        &mut self,
        space: SpaceId,
        descs: Vec<(usize, KDesc)>,
        out: &mut [u8],
        mem: &mut dyn UserMemory,
    ) -> Result<(), ()> {
        let mut ok = true;
        for (off, desc) in descs {
            let at = MACH_MSG_HEADER_SIZE + off;
            match desc {
                KDesc::Port(r) => {
                    let name = self.copyout_right(space, r).unwrap_or_else(|_| {
                        ok = false;
                        MACH_PORT_DEAD
                    });
                    wr32(out, at, name);
                    out[at + 10] = received_type(r.kind);
                }
                KDesc::Ool(data) => {
                    let addr = copyout_region(&data, mem).unwrap_or_else(|_| {
                        ok = false;
                        0
                    });
                    wr64(out, at, addr);
                    out[at + 8] = 0;
                }
                KDesc::OolCopy(copy) => {
                    let addr = mem.copyout_virtual(copy).unwrap_or_else(|_| {
                        self.released_copies.push(copy);
                        ok = false;
                        0
                    });
                    wr64(out, at, addr);
                    out[at + 8] = 0;
                }
                KDesc::OolPorts(rights) => {
                    let mut names = Vec::with_capacity(rights.len() * 4);
                    let mut ty = MACH_MSG_TYPE_PORT_SEND;
                    for r in rights {
                        ty = received_type(r.kind);
                        let n = self.copyout_right(space, r).unwrap_or_else(|_| {
                            ok = false;
                            MACH_PORT_DEAD
                        });
                        names.extend_from_slice(&n.to_le_bytes());
                    }
                    let addr = copyout_region(&names, mem).unwrap_or_else(|_| {
                        ok = false;
                        0
                    });
                    wr64(out, at, addr);
                    out[at + 8] = 0;
                    out[at + 10] = ty;
                }
            }
        }
        if ok { Ok(()) } else { Err(()) }
    }
}

/// Copies out-of-line data into fresh memory of the receiver; returns its
/// address (0 for no data).
fn copyout_region(data: &[u8], mem: &mut dyn UserMemory) -> Result<u64, ()> {
    if data.is_empty() {
        return Ok(0);
    }
    let a = mem.allocate(data.len() as u64)?;
    mem.write(a, data)?;
    Ok(a)
}
