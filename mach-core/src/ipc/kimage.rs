//! Messages to and from kernel objects as byte images, so the kernel can run
//! the generated server code (`mach-interfaces`) on them.
//!
//! A request image is the message in received form; its port descriptor
//! names, out-of-line addresses and out-of-line port array addresses are
//! *handles*: 1-based indices into the tables of [`KernelRequest`]. A reply
//! image uses handles into the server's output tables in the same way.

use super::kmsg::{COPY_RECORD_CHARGE, KDesc, KMSG_OVERHEAD, KMsg, rd32, received_type, wr32, wr64};
use super::{Ipc, KERNEL_SPACE, KRight, PortRef, RightKind};
use alloc::vec::Vec;
use mach_abi::message::*;

/// A request taken apart for a kernel server.
pub struct KernelRequest {
    pub image: Vec<u8>,
    /// The request's reply right (kept aside; the image says only whether there is one).
    pub reply: KRight,
    pub sender: u64,
    pub rights: Vec<Option<KRight>>,
    pub ools: Vec<Option<Vec<u8>>>,
    pub ool_ports: Vec<Option<Vec<KRight>>>,
    /// Out-of-line memory the sender's memory copied into pages the kernel
    /// keeps (`UserMemory::copyin_kernel_pages`), by handle; their handle
    /// in the image has [`OOL_COPY_HANDLE`] set.
    pub pages: Vec<Option<u64>>,
}

impl KernelRequest {
    /// The right behind handle `h`, left in place (it is taken with [`Self::take_right`]
    /// once the server has used it successfully).
    pub fn peek_right(&self, h: u32) -> Option<KRight> {
        if h == 0 {
            return Some(KRight::NULL);
        }
        self.rights.get(h as usize - 1).copied().flatten()
    }

    pub fn take_right(&mut self, h: u32) -> Option<KRight> {
        if h == 0 {
            return Some(KRight::NULL);
        }
        self.rights.get_mut(h as usize - 1)?.take()
    }

    pub fn take_ool(&mut self, h: u64) -> Option<Vec<u8>> {
        self.ools.get_mut((h as usize).checked_sub(1)?)?.take()
    }

    pub fn take_ool_ports(&mut self, h: u64) -> Option<Vec<KRight>> {
        self.ool_ports.get_mut((h as usize).checked_sub(1)?)?.take()
    }

    /// The kernel pages behind out-of-line handle `h`, when the data came as
    /// pages (see [`Self::pages`]); `None` for data that came as bytes.
    pub fn take_ool_pages(&mut self, h: u64) -> Option<u64> {
        if h & OOL_COPY_HANDLE == 0 {
            return None;
        }
        self.pages
            .get_mut(((h & !OOL_COPY_HANDLE) as usize).checked_sub(1)?)?
            .take()
    }
}

/// What a kernel server produced besides the reply bytes.
#[derive(Default)]
pub struct KernelReplyParts {
    pub rights: Vec<KRight>,
    pub ools: Vec<Vec<u8>>,
    /// Virtual copies (see `UserMemory::copyin_virtual`) for the reply.
    pub copies: Vec<Option<u64>>,
}

/// Marks an out-of-line handle in a reply image as an index into
/// [`KernelReplyParts::copies`] rather than `ools`.
pub const OOL_COPY_HANDLE: u64 = 1 << 63;

impl KernelReplyParts {
    /// Stores a right for the reply; returns its handle (0 for a null right).
    pub fn right(&mut self, r: KRight) -> u32 {
        if r.port == PortRef::Null {
            return 0;
        }
        self.rights.push(r);
        self.rights.len() as u32
    }

    /// Stores out-of-line data for the reply; returns its handle.
    pub fn ool(&mut self, data: Vec<u8>) -> u64 {
        self.ools.push(data);
        self.ools.len() as u64
    }

    /// Stores a virtual copy for the reply (the receiver maps it); returns
    /// its handle. A copy the reply does not carry is released.
    pub fn ool_copy(&mut self, copy: u64) -> u64 {
        self.copies.push(Some(copy));
        self.copies.len() as u64 | OOL_COPY_HANDLE
    }
}

/// Numbers the out-of-line memory descriptors of a message image the kernel
/// encoded with client stubs (which write buffer addresses) as handles 1, 2,
/// ... in order, so that they name `KernelReplyParts::ools` in that order.
/// Returns how many there were.
pub fn number_ool_handles(image: &mut [u8]) -> usize {
    if rd32(image, 0) & MACH_MSGH_BITS_COMPLEX == 0 {
        return 0;
    }
    let count = rd32(image, MACH_MSG_HEADER_SIZE) as usize;
    let mut off = MACH_MSG_HEADER_SIZE + MACH_MSG_BODY_SIZE;
    let mut n = 0;
    for _ in 0..count {
        match image.get(off + MACH_MSG_DESCRIPTOR_TYPE_OFFSET).copied() {
            Some(MACH_MSG_PORT_DESCRIPTOR) => off += MACH_MSG_PORT_DESCRIPTOR_SIZE,
            Some(MACH_MSG_OOL_DESCRIPTOR | MACH_MSG_OOL_VOLATILE_DESCRIPTOR) => {
                n += 1;
                wr64(image, off, n as u64);
                off += MACH_MSG_OOL_DESCRIPTOR_SIZE;
            }
            Some(MACH_MSG_OOL_PORTS_DESCRIPTOR) => off += MACH_MSG_OOL_DESCRIPTOR_SIZE,
            _ => break,
        }
    }
    n
}

impl Ipc {
    /// Turns a message that arrived at a kernel port into a request image.
    /// The destination right is consumed here (the kernel received the message).
    pub fn kernel_request(&mut self, kmsg: KMsg) -> KernelRequest {
        self.uncharge_message_memory(kmsg.account, kmsg.charge);
        match kmsg.dest.port {
            PortRef::Port(p) if kmsg.dest.kind == RightKind::Send => self.release_send(p),
            PortRef::Port(p) => self.consume_send_once(p),
            _ => {}
        }
        let mut body = kmsg.body;
        let mut req = KernelRequest {
            image: Vec::new(),
            reply: kmsg.reply,
            sender: kmsg.sender,
            rights: Vec::new(),
            ools: Vec::new(),
            ool_ports: Vec::new(),
            pages: Vec::new(),
        };
        for (off, desc) in kmsg.descs {
            match desc {
                KDesc::Port(r) => {
                    req.rights.push(Some(r));
                    wr32(&mut body, off, req.rights.len() as u32);
                    if let Some(b) = body.get_mut(off + 10) {
                        *b = received_type(r.kind);
                    }
                }
                KDesc::Ool(data) => {
                    req.ools.push(Some(data));
                    wr64(&mut body, off, req.ools.len() as u64);
                }
                KDesc::OolCopy(copy) => {
                    // Kernel pages (`copyin_kernel_pages`: messages to kernel
                    // ports carry no virtual copies).
                    req.pages.push(Some(copy));
                    wr64(&mut body, off, req.pages.len() as u64 | OOL_COPY_HANDLE);
                }
                KDesc::OolPorts(v) => {
                    let ty = v.first().map_or(MACH_MSG_TYPE_PORT_SEND, |r| received_type(r.kind));
                    req.ool_ports.push(Some(v));
                    wr64(&mut body, off, req.ool_ports.len() as u64);
                    if let Some(b) = body.get_mut(off + 10) {
                        *b = ty;
                    }
                }
            }
        }
        let reply_type = if kmsg.reply.port == PortRef::Null {
            0
        } else {
            received_type(kmsg.reply.kind)
        };
        let mut bits = mach_msgh_bits(reply_type, received_type(kmsg.dest.kind));
        if kmsg.complex {
            bits |= MACH_MSGH_BITS_COMPLEX;
        }
        let mut image = Vec::with_capacity(MACH_MSG_HEADER_SIZE + body.len());
        image.resize(MACH_MSG_HEADER_SIZE, 0);
        wr32(&mut image, 0, bits);
        wr32(&mut image, 4, (MACH_MSG_HEADER_SIZE + body.len()) as u32);
        wr32(&mut image, 8, u32::from(reply_type != 0));
        wr32(&mut image, 20, kmsg.id as u32);
        image.extend_from_slice(&body);
        req.image = image;
        req
    }

    /// Destroys whatever a kernel request still holds (not its reply right,
    /// which the caller either replies on or releases).
    pub fn kernel_request_done(&mut self, req: KernelRequest) {
        for r in req.rights.into_iter().flatten() {
            self.release_right(r);
        }
        // Pages no server took go back with the released copies.
        self.released_copies.extend(req.pages.into_iter().flatten());
        for v in req.ool_ports.into_iter().flatten() {
            for r in v {
                self.release_right(r);
            }
        }
    }

    /// Sends a kernel server's reply image on `reply` (a request's reply right).
    pub fn kernel_reply(&mut self, reply: KRight, image: &[u8], parts: KernelReplyParts) {
        self.kernel_send_image(reply, KRight::NULL, image, parts);
    }

    /// Sends a message the kernel built as an image (port names and
    /// out-of-line addresses are handles into `parts`) to `dest`, with reply
    /// right `reply`.
    pub fn kernel_send_image(&mut self, dest: KRight, reply: KRight, image: &[u8], mut parts: KernelReplyParts) {
        let mut descs = Vec::new();
        let bits = rd32(image, 0);
        let complex = bits & MACH_MSGH_BITS_COMPLEX != 0;
        let size = (rd32(image, 4) as usize)
            .min(image.len())
            .max(MACH_MSG_HEADER_SIZE.min(image.len()));
        let body = image
            .get(MACH_MSG_HEADER_SIZE..size)
            .map(|b| b.to_vec())
            .unwrap_or_default();
        if complex {
            let count = rd32(&body, 0) as usize;
            let mut off = MACH_MSG_BODY_SIZE;
            for _ in 0..count {
                let Some(&ty) = body.get(off + MACH_MSG_DESCRIPTOR_TYPE_OFFSET) else {
                    break;
                };
                match ty {
                    MACH_MSG_PORT_DESCRIPTOR => {
                        let h = rd32(&body, off) as usize;
                        // A null right keeps the kind its disposition names, so
                        // the receiver sees the declared type.
                        let kind = super::right::kind_of(body.get(off + 10).copied().unwrap_or(0));
                        let null = KRight {
                            port: PortRef::Null,
                            kind,
                        };
                        let r = h
                            .checked_sub(1)
                            .and_then(|i| parts.rights.get_mut(i))
                            .map(|r| core::mem::replace(r, null));
                        descs.push((off, KDesc::Port(r.unwrap_or(null))));
                        off += MACH_MSG_PORT_DESCRIPTOR_SIZE;
                    }
                    MACH_MSG_OOL_DESCRIPTOR | MACH_MSG_OOL_VOLATILE_DESCRIPTOR => {
                        let raw = super::kmsg::rd64(&body, off);
                        let copy = (raw & OOL_COPY_HANDLE != 0)
                            .then_some((raw & !OOL_COPY_HANDLE) as usize)
                            .and_then(|h| h.checked_sub(1))
                            .and_then(|i| parts.copies.get_mut(i))
                            .and_then(Option::take);
                        let desc = match copy {
                            Some(c) => KDesc::OolCopy(c),
                            None => {
                                let data = (raw as usize)
                                    .checked_sub(1)
                                    .and_then(|i| parts.ools.get_mut(i))
                                    .map(core::mem::take);
                                KDesc::Ool(data.unwrap_or_default())
                            }
                        };
                        descs.push((off, desc));
                        off += MACH_MSG_OOL_DESCRIPTOR_SIZE;
                    }
                    _ => break,
                }
            }
        }
        // Rights and copies the reply did not carry go back.
        for r in parts.rights.drain(..) {
            self.release_right(r);
        }
        self.released_copies.extend(parts.copies.into_iter().flatten());
        // Charged to the task it goes to, whatever its limit: a request
        // whose reply port's holder was over it was refused at the send
        // (`Ipc::reply_has_room`), so a task passes its limit by at most
        // the replies to requests it had in flight.
        let account = dest.port_id().map_or(0, |p| self.account_of(p));
        let charge = reply_charge(image.len(), &descs);
        self.charge_message_memory_always(account, charge);
        let kmsg = KMsg {
            complex,
            id: rd32(image, 20) as i32,
            dest,
            reply,
            body,
            descs,
            sender: KERNEL_SPACE,
            seqno: 0,
            charge,
            account,
        };
        if dest.port_id().is_none() {
            self.garbage.push(kmsg);
            self.collect_garbage();
            return;
        }
        self.kernel_send(kmsg);
    }
}

/// What a kernel reply of `len` bytes with `descs` holds: as a message a
/// task sends (its bytes and [`KMSG_OVERHEAD`], out-of-line bytes, a right
/// per out-of-line port, a copy record per virtual copy).
fn reply_charge(len: usize, descs: &[(usize, KDesc)]) -> u64 {
    let rights = |n: usize| (n * core::mem::size_of::<KRight>()) as u64;
    descs.iter().fold(len as u64 + KMSG_OVERHEAD, |c, (_, d)| {
        c + match d {
            KDesc::Port(_) => 0,
            KDesc::Ool(v) => v.len() as u64,
            KDesc::OolCopy(_) => COPY_RECORD_CHARGE,
            KDesc::OolPorts(v) => rights(v.len()),
        }
    })
}
