//! Requests to kernel objects as images (`kernel_request`): the header in
//! received form, every descriptor numbered as a handle into the request's
//! tables, and the rights and memory behind handles a server does not take
//! released (`kernel_request_done`). Replies built as images
//! (`kernel_reply`, `kernel_send_image`): handles become the rights and
//! memory of `KernelReplyParts`, and what the image does not carry is
//! released.

use super::harness::*;
use crate::ipc::kimage::{KernelReplyParts, KernelRequest, OOL_COPY_HANDLE};
use crate::ipc::{KObject, KRight, Name, PortRef, RightKind, UserMemory};
use mach_abi::message::*;
use mach_abi::port::*;
use std::vec;
use std::vec::Vec;

fn kernel_port(w: &mut World) -> (u64, Name) {
    let kport = w.ipc.kobject_port_create(KObject::Host);
    (kport, w.ipc.insert_make_send(B, kport).unwrap())
}

fn take_request(w: &mut World) -> KernelRequest {
    let mut msgs = w.ipc.take_kernel_messages();
    assert_eq!(msgs.len(), 1);
    let (_, kmsg) = msgs.pop().unwrap();
    w.ipc.kernel_request(kmsg)
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from(word(b, off)) | (u64::from(word(b, off + 4)) << 32)
}

/// B sends the host port a request with a send-once reply right, two port
/// descriptors, out-of-line bytes and an out-of-line port array, all
/// naming B's ports `q` and `r`.
fn full_request(w: &mut World) -> (KernelRequest, Name, Name, Name, Vec<u8>) {
    let (_, k) = kernel_port(w);
    let q = w.port(B);
    let r = w.port(B);
    let reply = w.port(B);
    let data: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
    let addr = w.mem[B as usize].put(&data);
    let arr = w.mem[B as usize].put(&[q.to_le_bytes(), r.to_le_bytes()].concat());
    let msg = MsgBuilder::new(
        k,
        MACH_MSG_TYPE_COPY_SEND,
        reply,
        MACH_MSG_TYPE_MAKE_SEND_ONCE,
        0x0304_0506,
    )
    .port(q, MACH_MSG_TYPE_MAKE_SEND)
    .port(r, MACH_MSG_TYPE_MAKE_SEND_ONCE)
    .ool(addr, 300, false)
    .ool_ports(arr, 2, MACH_MSG_TYPE_MAKE_SEND)
    .data(b"tail")
    .build();
    w.send(B, &msg).unwrap();
    let req = take_request(w);
    (req, q, r, reply, msg)
}

#[test]
fn a_request_image_is_the_message_in_received_form_with_handles() {
    let mut w = World::new();
    let (req, _q, _r, _reply, msg) = full_request(&mut w);
    let img = &req.image;
    assert_eq!(img.len(), msg.len());
    assert_eq!(
        word(img, 0),
        mach_msgh_bits(MACH_MSG_TYPE_PORT_SEND_ONCE, MACH_MSG_TYPE_PORT_SEND) | MACH_MSGH_BITS_COMPLEX
    );
    assert_eq!(word(img, 4) as usize, msg.len());
    assert_eq!(word(img, 8), 1, "there is a reply right");
    assert_eq!(word(img, 12), 0);
    assert_eq!(word(img, 20), 0x0304_0506);
    assert_eq!(word(img, 24), 4, "descriptor count");
    // Port descriptors: handles 1 and 2, with their received types.
    assert_eq!((word(img, 28), img[38]), (1, MACH_MSG_TYPE_PORT_SEND));
    assert_eq!((word(img, 40), img[50]), (2, MACH_MSG_TYPE_PORT_SEND_ONCE));
    // Out-of-line bytes: handle 1, size kept.
    assert_eq!(u64_at(img, 52), 1);
    assert_eq!(word(img, 64), 300);
    // Out-of-line ports: handle 1, received type, count kept.
    assert_eq!(u64_at(img, 68), 1);
    assert_eq!(img[78], MACH_MSG_TYPE_PORT_SEND);
    assert_eq!(word(img, 80), 2);
    assert_eq!(&img[84..88], b"tail");
    assert_eq!(req.sender, B);
    assert_eq!(req.reply.kind, RightKind::SendOnce);
    assert_eq!(w.ipc.message_memory(), 0, "the request's memory is given back");
    let reply = req.reply;
    w.ipc.kernel_request_done(req);
    assert!(w.ipc.audit_with(&[reply]).violations.is_empty());
    w.ipc.release_right(reply);
    w.assert_audit();
}

#[test]
fn request_handles_give_each_right_and_region_once() {
    let mut w = World::new();
    let (mut req, q, r, _reply, _) = full_request(&mut w);
    let qp = w.ipc.port_of(B, q).unwrap();
    let rp = w.ipc.port_of(B, r).unwrap();
    let send_q = KRight {
        port: PortRef::Port(qp),
        kind: RightKind::Send,
    };
    let once_r = KRight {
        port: PortRef::Port(rp),
        kind: RightKind::SendOnce,
    };
    // Handle 0 is the null right; handles past the table are nothing.
    assert_eq!(req.peek_right(0), Some(KRight::NULL));
    assert_eq!(req.take_right(0), Some(KRight::NULL));
    assert_eq!((req.peek_right(3), req.take_right(3)), (None, None));
    // Peeking leaves the right; taking takes it once.
    assert_eq!(req.peek_right(1), Some(send_q));
    assert_eq!(req.peek_right(1), Some(send_q));
    assert_eq!(req.peek_right(2), Some(once_r));
    assert_eq!(req.take_right(2), Some(once_r));
    assert_eq!((req.peek_right(2), req.take_right(2)), (None, None));
    // Out-of-line bytes and ports, by handle, once.
    assert_eq!(req.take_ool(0), None);
    assert_eq!(req.take_ool(2), None);
    assert_eq!(req.take_ool(1).unwrap().len(), 300);
    assert_eq!(req.take_ool(1), None);
    assert_eq!(req.take_ool_ports(0), None);
    let ports = req.take_ool_ports(1).unwrap();
    assert_eq!(ports.len(), 2);
    assert_eq!(ports[0].port, PortRef::Port(qp));
    assert_eq!(ports[1].port, PortRef::Port(rp));
    assert_eq!(req.take_ool_ports(1), None);
    // Bytes are not pages.
    assert_eq!(req.take_ool_pages(1), None);
    assert_eq!(req.take_ool_pages(1 | OOL_COPY_HANDLE), None);
    let reply = req.reply;
    w.ipc.kernel_request_done(req);
    // What the test took is still held: the audit counts it.
    let mut held = vec![reply, once_r];
    held.extend(ports.iter().copied());
    assert!(w.ipc.audit_with(&held).violations.is_empty());
    for r in held {
        w.ipc.release_right(r);
    }
    w.assert_audit();
}

#[test]
fn finishing_a_request_releases_what_the_server_did_not_take() {
    let mut w = World::new();
    let (req, q, r, reply_port, _) = full_request(&mut w);
    let reply = req.reply;
    w.ipc.kernel_request_done(req);
    w.ipc.release_right(reply);
    // The made send rights for q are gone (B's q is a bare receive right
    // again), and r's send-once right was released with a notification.
    assert_eq!(w.ipc.port_type(B, q), Ok(MACH_PORT_TYPE_RECEIVE));
    assert_eq!(id_of(&w.recv_ok(B, r)), MACH_NOTIFY_SEND_ONCE);
    assert_eq!(id_of(&w.recv_ok(B, reply_port)), MACH_NOTIFY_SEND_ONCE);
    w.assert_empty(B, r);
    w.assert_audit();
}

#[test]
fn a_request_on_a_send_once_right_consumes_it() {
    let mut w = World::new();
    let (kport, _) = kernel_port(&mut w);
    let so = w.ipc.make_send_once_right(kport).unwrap();
    let n = crate::ipc::name::make(600, 0);
    w.ipc.port_insert_right(B, n, so).unwrap();
    let msg = MsgBuilder::new(n, MACH_MSG_TYPE_MOVE_SEND_ONCE, 0, 0, 1).build();
    w.send(B, &msg).unwrap();
    let req = take_request(&mut w);
    assert_eq!(
        word(&req.image, 0),
        mach_msgh_bits(0, MACH_MSG_TYPE_PORT_SEND_ONCE),
        "no reply; received on a send-once right"
    );
    assert_eq!(word(&req.image, 8), 0, "no reply right");
    assert_eq!(req.reply, KRight::NULL);
    w.ipc.kernel_request_done(req);
    // No send-once notification: the right was used, not destroyed.
    assert!(w.ipc.take_kernel_messages().is_empty());
    w.assert_audit();
}

#[test]
fn reply_parts_number_their_handles() {
    let mut parts = KernelReplyParts::default();
    let mut w = World::new();
    let p = w.port(A);
    let r1 = w.ipc.port_extract_right(A, p, MACH_MSG_TYPE_MAKE_SEND as u32).unwrap();
    let r2 = w
        .ipc
        .port_extract_right(A, p, MACH_MSG_TYPE_MAKE_SEND_ONCE as u32)
        .unwrap();
    assert_eq!(parts.right(KRight::NULL), 0, "a null right needs no handle");
    assert_eq!(parts.right(r1), 1);
    assert_eq!(parts.right(r2), 2);
    assert_eq!(parts.ool(vec![1]), 1);
    assert_eq!(parts.ool(vec![2]), 2);
    assert_eq!(parts.ool_copy(40), 1 | OOL_COPY_HANDLE);
    assert_eq!(parts.ool_copy(41), 2 | OOL_COPY_HANDLE);
    assert_eq!(parts.rights, [r1, r2]);
    for r in parts.rights {
        w.ipc.release_right(r);
    }
}

/// A reply image: header, body count, then `descs` (each 12 or 16 bytes), then `tail`.
fn image(id: i32, descs: &[&[u8]], tail: &[u8]) -> Vec<u8> {
    let mut img = vec![0u8; 24];
    let complex = if descs.is_empty() { 0 } else { MACH_MSGH_BITS_COMPLEX };
    img[0..4].copy_from_slice(&(mach_msgh_bits(MACH_MSG_TYPE_MOVE_SEND_ONCE, 0) | complex).to_le_bytes());
    img[20..24].copy_from_slice(&id.to_le_bytes());
    if !descs.is_empty() {
        img.extend_from_slice(&(descs.len() as u32).to_le_bytes());
    }
    for d in descs {
        img.extend_from_slice(d);
    }
    img.extend_from_slice(tail);
    let n = img.len() as u32;
    img[4..8].copy_from_slice(&n.to_le_bytes());
    img
}

fn port_desc(handle: u32, disposition: u8) -> Vec<u8> {
    let mut d = vec![0u8; 12];
    d[0..4].copy_from_slice(&handle.to_le_bytes());
    d[10] = disposition;
    d[11] = MACH_MSG_PORT_DESCRIPTOR;
    d
}

fn ool_desc(handle: u64, size: u32) -> Vec<u8> {
    let mut d = vec![0u8; 16];
    d[0..8].copy_from_slice(&handle.to_le_bytes());
    d[11] = MACH_MSG_OOL_DESCRIPTOR;
    d[12..16].copy_from_slice(&size.to_le_bytes());
    d
}

/// A receives on `p`; returns a send-once right to it (a request's reply right).
fn reply_right(w: &mut World) -> (Name, KRight) {
    let p = w.port(A);
    let r = w
        .ipc
        .port_extract_right(A, p, MACH_MSG_TYPE_MAKE_SEND_ONCE as u32)
        .unwrap();
    (p, r)
}

#[test]
fn a_reply_image_carries_the_parts_its_handles_name() {
    let mut w = World::new();
    let (p, reply) = reply_right(&mut w);
    let q = w.port(B);
    let mut parts = KernelReplyParts::default();
    let send_q = w.ipc.port_extract_right(B, q, MACH_MSG_TYPE_MAKE_SEND as u32).unwrap();
    let unused = w
        .ipc
        .port_extract_right(B, q, MACH_MSG_TYPE_MAKE_SEND_ONCE as u32)
        .unwrap();
    let hq = parts.right(send_q);
    let hu = parts.right(unused);
    let _ = hu;
    let hb = parts.ool(vec![7; 50]);
    let copy_data = vec![8u8; 5000];
    let copy = w.mem[B as usize].put(&copy_data);
    w.mem[B as usize].virtual_copies = true;
    let copy = w.mem[B as usize].copyin_virtual(copy, 5000, true).unwrap().unwrap();
    let hc = parts.ool_copy(copy);
    let unused_copy = parts.ool_copy(999);
    let _ = unused_copy;
    let img = image(
        0x0a0b,
        &[
            &port_desc(hq, MACH_MSG_TYPE_MOVE_SEND),
            &port_desc(0, MACH_MSG_TYPE_MOVE_SEND_ONCE),
            &ool_desc(hb, 50),
            &ool_desc(hc, 5000),
            &ool_desc(77, 3),
        ],
        b"abcd",
    );
    w.ipc.kernel_reply(reply, &img, parts);
    assert_eq!(w.ipc.take_released_copies(), [999], "the copy the image does not carry");
    // The unused send-once right to q was released: a notification on q.
    assert_eq!(id_of(&w.recv_ok(B, q)), MACH_NOTIFY_SEND_ONCE);
    let got = w.recv_ok(A, p);
    assert_eq!(word(&got, 4) as usize, img.len());
    assert_eq!(id_of(&got), 0x0a0b);
    assert_ne!(word(&got, 0) & MACH_MSGH_BITS_COMPLEX, 0);
    let nq = word(&got, 28);
    assert_eq!(w.ipc.port_type(A, nq), Ok(MACH_PORT_TYPE_SEND));
    assert_eq!(got[38], MACH_MSG_TYPE_PORT_SEND);
    assert_eq!(word(&got, 40), MACH_PORT_NULL);
    assert_eq!(
        got[50], MACH_MSG_TYPE_PORT_SEND_ONCE,
        "a null right keeps its declared type"
    );
    assert_eq!(w.mem[A as usize].region(u64_at(&got, 52)).unwrap(), &vec![7; 50]);
    assert_eq!(w.mem[A as usize].region(u64_at(&got, 68)).unwrap(), &copy_data);
    assert_eq!(u64_at(&got, 84), 0, "a handle naming nothing arrives as no memory");
    assert_eq!(&got[100..104], b"abcd");
    w.assert_audit();
}

#[test]
fn a_reply_image_shorter_than_its_buffer_is_cut_at_its_size() {
    let mut w = World::new();
    let (p, reply) = reply_right(&mut w);
    let mut img = image(5, &[], b"12345678");
    // The image says 28 bytes; the buffer behind it is longer.
    img[4..8].copy_from_slice(&28u32.to_le_bytes());
    w.ipc.kernel_reply(reply, &img, KernelReplyParts::default());
    let got = w.recv_ok(A, p);
    assert_eq!(word(&got, 4), 28);
    assert_eq!(
        word(&got, 0) & MACH_MSGH_BITS_COMPLEX,
        0,
        "a simple image sends a simple message"
    );
    assert_eq!(&got[24..28], b"1234");
    assert_eq!(word(&got, 28), MACH_MSG_TRAILER_FORMAT_0, "the trailer follows at once");
    w.assert_audit();
}

#[test]
fn a_reply_on_no_right_is_destroyed_with_its_parts() {
    let mut w = World::new();
    let q = w.port(B);
    let mut parts = KernelReplyParts::default();
    let so = w
        .ipc
        .port_extract_right(B, q, MACH_MSG_TYPE_MAKE_SEND_ONCE as u32)
        .unwrap();
    let h = parts.right(so);
    let img = image(1, &[&port_desc(h, MACH_MSG_TYPE_MOVE_SEND_ONCE)], &[]);
    w.ipc.kernel_reply(KRight::NULL, &img, parts);
    assert_eq!(
        id_of(&w.recv_ok(B, q)),
        MACH_NOTIFY_SEND_ONCE,
        "the carried right was released"
    );
    assert_eq!(w.ipc.object_counts(), (1, 0, 0));
    w.assert_audit();
}

#[test]
fn out_of_line_handles_are_numbered_past_port_arrays() {
    use crate::ipc::kimage::number_ool_handles;
    let msg = MsgBuilder::new(5, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1)
        .ool_ports(0xaaaa_0000, 2, MACH_MSG_TYPE_COPY_SEND)
        .ool(0xdead_0000, 10, false)
        .port(6, MACH_MSG_TYPE_COPY_SEND)
        .ool(0xbeef_0000, 20, true)
        .build();
    let mut image = msg.clone();
    assert_eq!(number_ool_handles(&mut image), 2);
    assert_eq!(u64_at(&image, 28), 0xaaaa_0000, "port arrays keep their address");
    assert_eq!(u64_at(&image, 44), 1);
    assert_eq!(u64_at(&image, 72), 2);
    let mut rest = image.clone();
    rest[28..36].copy_from_slice(&msg[28..36]);
    rest[44..52].copy_from_slice(&msg[44..52]);
    rest[72..80].copy_from_slice(&msg[72..80]);
    assert_eq!(rest, msg, "nothing else changes");
}

#[test]
fn a_bytes_handle_never_gives_pages() {
    let mut w = World::new();
    w.mem[B as usize].kernel_pages = true;
    let (_, k) = kernel_port(&mut w);
    let big = w.mem[B as usize].put(&vec![1; 8192]);
    let small = w.mem[B as usize].put(&[2; 10]);
    let msg = MsgBuilder::new(k, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1)
        .ool(big, 8192, false)
        .ool(small, 10, false)
        .build();
    w.send(B, &msg).unwrap();
    let mut req = take_request(&mut w);
    let (hp, hb) = (u64_at(&req.image, 28), u64_at(&req.image, 44));
    assert_eq!((hp, hb), (1 | OOL_COPY_HANDLE, 1), "both are the first of their kind");
    assert_eq!(req.take_ool_pages(hb), None, "bytes are not pages");
    assert_eq!(req.take_ool(hp), None, "pages are not bytes");
    assert_eq!(req.take_ool(hb).unwrap(), [2; 10]);
    let pages = req.take_ool_pages(hp).unwrap();
    w.ipc.kernel_request_done(req);
    assert!(!w.ipc.has_released_copies());
    COPIES.with(|c| c.borrow_mut().remove(&pages)).unwrap();
    w.assert_audit();
}

#[test]
fn a_simple_message_has_no_handles_whatever_its_data_looks_like() {
    use crate::ipc::kimage::number_ool_handles;
    // Inline data shaped like a descriptor count and an out-of-line descriptor.
    let mut looks_like = vec![0u8; 20];
    looks_like[0..4].copy_from_slice(&1u32.to_le_bytes());
    looks_like[4..12].copy_from_slice(&0xdead_0000u64.to_le_bytes());
    looks_like[15] = MACH_MSG_OOL_DESCRIPTOR;
    let msg = MsgBuilder::new(5, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1)
        .data(&looks_like)
        .build();
    let mut image = msg.clone();
    assert_eq!(number_ool_handles(&mut image), 0);
    assert_eq!(image, msg);
}
