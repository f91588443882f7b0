//! Message memory charged to the task a message is queued for (the holder
//! of the destination's receive right, `KMsg::account`), against a per-task
//! limit: a task that never receives stops others' sends to it with
//! MACH_SEND_NO_BUFFER (nothing taken), kernel replies to it included,
//! and everything comes back when the messages go.

use super::harness::*;
use crate::ipc::kimage::KernelReplyParts;
use crate::ipc::kmsg::{COPY_RECORD_CHARGE, KMSG_OVERHEAD};
use crate::ipc::{KObject, KRight};
use mach_abi::message::*;
use mach_abi::port::*;

const HEADER: u64 = MACH_MSG_HEADER_SIZE as u64;

fn charged(w: &World, s: crate::ipc::SpaceId) -> u64 {
    w.ipc.space_message_memory(s).unwrap()
}

#[test]
fn a_queued_message_is_charged_to_its_receiver() {
    let mut w = World::new();
    let p = w.port(A);
    let s = w.give_send(A, p, B);
    w.send(B, &MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1).build())
        .unwrap();
    w.send(
        B,
        &MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 2)
            .inline(&[7; 40])
            .build(),
    )
    .unwrap();
    assert_eq!(charged(&w, A), 2 * (HEADER + KMSG_OVERHEAD) + 40);
    assert_eq!(charged(&w, B), 0, "not the sender");
    assert_eq!(w.ipc.message_memory(), charged(&w, A));
    w.assert_audit();
    w.recv_ok(A, p);
    assert_eq!(charged(&w, A), HEADER + KMSG_OVERHEAD + 40);
    w.recv_ok(A, p);
    assert_eq!(charged(&w, A), 0);
    w.assert_audit();
}

#[test]
fn a_receiver_at_its_limit_refuses_more_and_nothing_is_taken() {
    let mut w = World::new();
    let one = HEADER + KMSG_OVERHEAD;
    w.ipc.set_space_message_limit(2 * one);
    let p = w.port(A);
    w.ipc.port_set_qlimit(A, p, MACH_PORT_QLIMIT_MAX).unwrap();
    let s = w.give_send(A, p, B);
    let reply = w.port(B);
    // Header-only (the simple path) and with a descriptor (the general path).
    let simple = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, reply, MACH_MSG_TYPE_MAKE_SEND_ONCE, 1).build();
    w.send(B, &simple).unwrap();
    w.send(B, &simple).unwrap();
    let before = w.snapshot(B);
    assert_eq!(w.send(B, &simple).unwrap_err(), MACH_SEND_NO_BUFFER);
    let addr = w.mem[B as usize].put(&[1; 10]);
    let complex = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 2)
        .ool(addr, 10, false)
        .build();
    assert_eq!(w.send(B, &complex).unwrap_err(), MACH_SEND_NO_BUFFER);
    assert_eq!(w.snapshot(B), before, "no right taken");
    assert_eq!(charged(&w, A), 2 * one);
    w.assert_audit();
    // Others are not held up: B still gets messages.
    let q = w.port(B);
    let t = w.give_send(B, q, A);
    w.send(A, &MsgBuilder::new(t, MACH_MSG_TYPE_COPY_SEND, 0, 0, 3).build())
        .unwrap();
    assert_eq!(id_of(&w.recv_ok(B, q)), 3);
    // Receiving makes room again.
    w.recv_ok(A, p);
    w.send(B, &simple).unwrap();
    w.assert_audit();
}

#[test]
fn destroying_the_port_gives_the_charge_back() {
    let mut w = World::new();
    let p = w.port(A);
    let s = w.give_send(A, p, B);
    let addr = w.mem[B as usize].put(&[1; 100]);
    let msg = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1)
        .ool(addr, 100, false)
        .build();
    w.send(B, &msg).unwrap();
    assert!(charged(&w, A) > HEADER + KMSG_OVERHEAD + 100 - 1);
    w.ipc.port_destroy(A, p).unwrap();
    assert_eq!(charged(&w, A), 0);
    assert_eq!(w.ipc.message_memory(), 0);
    w.assert_audit();
}

#[test]
fn port_arrays_and_virtual_copies_are_charged_as_kept() {
    let mut w = World::new();
    let p = w.port(A);
    let s = w.give_send(A, p, B);
    let names: std::vec::Vec<u8> = [s, s, s].iter().flat_map(|n| n.to_le_bytes()).collect();
    let arr = w.mem[B as usize].put(&names);
    w.mem[B as usize].virtual_copies = true;
    let region = w.mem[B as usize].put(&[3; 8192]);
    let msg = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1)
        .ool_ports(arr, 3, MACH_MSG_TYPE_COPY_SEND)
        .ool_virtual(region, 8192, false)
        .build();
    let len = msg.len() as u64;
    w.send(B, &msg).unwrap();
    let right = core::mem::size_of::<KRight>() as u64;
    assert_eq!(charged(&w, A), len + KMSG_OVERHEAD + 3 * right + COPY_RECORD_CHARGE);
    w.assert_audit();
    w.recv_ok(A, p);
    assert_eq!(charged(&w, A), 0);
    w.assert_audit();
}

/// A request from `B` to a kernel port with reply port `reply` (B's);
/// `complex` adds a port descriptor (the general path).
fn request_with(w: &mut World, reply: u32, complex: bool) -> Result<crate::ipc::msg::SendOutcome, MachMsgReturn> {
    let kport = w.ipc.kobject_port_create(KObject::Host);
    let k = w.ipc.insert_make_send(B, kport).unwrap();
    let mut m = MsgBuilder::new(k, MACH_MSG_TYPE_COPY_SEND, reply, MACH_MSG_TYPE_MAKE_SEND_ONCE, 200);
    if complex {
        m = m.port(k, MACH_MSG_TYPE_COPY_SEND);
    }
    w.send(B, &m.build())
}

fn request(w: &mut World, reply: u32) -> Result<crate::ipc::msg::SendOutcome, MachMsgReturn> {
    request_with(w, reply, false)
}

/// Serves the kernel messages as a kernel server would: a 36-byte reply each.
fn serve(w: &mut World) {
    for (_, kmsg) in w.ipc.take_kernel_messages() {
        let mut req = w.ipc.kernel_request(kmsg);
        let mut image = std::vec![0u8; 36];
        image[0..4].copy_from_slice(&mach_msgh_bits(MACH_MSG_TYPE_MOVE_SEND_ONCE, 0).to_le_bytes());
        image[4..8].copy_from_slice(&36u32.to_le_bytes());
        image[20..24].copy_from_slice(&300i32.to_le_bytes());
        let reply = core::mem::replace(&mut req.reply, KRight::NULL);
        w.ipc
            .kernel_send_image(reply, KRight::NULL, &image, KernelReplyParts::default());
        w.ipc.kernel_request_done(req);
    }
}

#[test]
fn kernel_replies_are_charged_and_refused_past_the_limit() {
    let mut w = World::new();
    let one = 36 + KMSG_OVERHEAD;
    w.ipc.set_space_message_limit(2 * one);
    let reply = w.port(B);
    for _ in 0..2 {
        request(&mut w, reply).unwrap();
        serve(&mut w);
    }
    assert_eq!(
        charged(&w, B),
        2 * one,
        "the replies, charged to the reply port's holder"
    );
    w.assert_audit();
    // Over the limit: the request is refused before it is served; nothing taken.
    let before = w.snapshot(B);
    assert_eq!(request(&mut w, reply).unwrap_err(), MACH_SEND_NO_BUFFER);
    assert_eq!(request_with(&mut w, reply, true).unwrap_err(), MACH_SEND_NO_BUFFER);
    assert!(w.ipc.take_kernel_messages().is_empty());
    let mut after = w.snapshot(B);
    after.retain(|e| before.iter().any(|b| b.0 == e.0));
    assert_eq!(after, before);
    // Reading a reply makes room for the next request.
    assert_eq!(id_of(&w.recv_ok(B, reply)), 300);
    request(&mut w, reply).unwrap();
    serve(&mut w);
    assert_eq!(charged(&w, B), 2 * one);
    w.assert_audit();
}
