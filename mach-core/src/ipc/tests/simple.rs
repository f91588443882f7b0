//! The decode step of simple messages (`check_simple`): each reason a
//! message declines the fast paths, checked to change nothing and to be
//! decided by the general path as Mach specifies; the simple path compared
//! with the general one byte for byte; and the statistics that tell which
//! path a message took.

use super::harness::*;
use crate::ipc::handoff::{BlockedReceiver, HANDOFF_SIZE, HandoffSend};
use crate::ipc::msg::{ReceiveOutcome, SendOutcome};
use crate::ipc::simple::{Decline, MAX_INLINE};
use crate::ipc::{KObject, KRight, NoMemory, SpaceId, WaitKey};
use mach_abi::kern_return::*;
use mach_abi::message::*;
use mach_abi::port::*;
use std::vec;
use std::vec::Vec;

/// A receives on `p`; B holds a send right `s` for it and a receive right `reply`.
fn rpc_world() -> (World, u32, u32, u32) {
    let mut w = World::new();
    let p = w.port(A);
    let s = w.give_send(A, p, B);
    let reply = w.port(B);
    (w, p, s, reply)
}

fn request(s: u32, reply: u32) -> Vec<u8> {
    MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, reply, MACH_MSG_TYPE_MAKE_SEND_ONCE, 77).build()
}

fn sets_bits(msg: &mut [u8], extra: u32) {
    let bits = word(msg, 0) | extra;
    msg[0..4].copy_from_slice(&bits.to_le_bytes());
}

/// Everything a test compares: both spaces' names, the message memory, and
/// the messages queued for every receive right and set (drained).
fn state(w: &mut World) -> Vec<(SpaceId, u32, Vec<u8>)> {
    let mut all = Vec::new();
    for space in [A, B] {
        for (name, _, _) in w.snapshot(space) {
            while let Ok(ReceiveOutcome::Message { bytes, status }) = w.recv(space, name) {
                assert_eq!(status, MACH_MSG_SUCCESS);
                all.push((space, name, bytes));
            }
        }
    }
    all
}

/// `msg` from `space` declines for `reason`: the decode step says so, the
/// handoff send and the RPC fast path decline without asking for a
/// receiver, and nothing changed. Then the general path sends it (counting
/// the reason); its result is returned.
fn declines(w: &mut World, space: SpaceId, msg: &[u8], reason: Decline) -> Result<SendOutcome, MachMsgReturn> {
    let before = (w.snapshot(A), w.snapshot(B), w.ipc.message_memory());
    assert_eq!(w.ipc.check_simple(space, msg), Err(reason));
    let mut out = Vec::new();
    let none = |_: WaitKey, _: SpaceId, _: usize| -> Option<(u32, BlockedReceiver)> { panic!("declined after asking") };
    assert!(w.ipc.msg_send_handoff(space, msg, &mut out, none).is_none());
    let mut ends = [0u8; HANDOFF_SIZE];
    assert_eq!(w.ipc.try_rpc_fast(space, msg, 0, &mut ends, none).err(), Some(reason));
    let counted = w.ipc.stats.rpc_declines[reason as usize];
    assert!(w.ipc.msg_rpc_fast(space, msg, 0, &mut ends, none).is_none());
    assert_eq!(w.ipc.stats.rpc_declines[reason as usize], counted + 1);
    assert_eq!(before, (w.snapshot(A), w.snapshot(B), w.ipc.message_memory()));
    let stats = w.ipc.stats;
    let r = w.ipc.msg_send(space, msg, &mut NoMemory);
    assert_eq!(
        w.ipc.stats.declines[reason as usize],
        stats.declines[reason as usize] + 1
    );
    assert_eq!(w.ipc.stats.general, stats.general + 1);
    assert_eq!(w.ipc.stats.simple_queued, stats.simple_queued);
    r
}

#[test]
fn reasons_are_numbered_in_order() {
    for (i, d) in Decline::ALL.iter().enumerate() {
        assert_eq!(*d as usize, i);
    }
    assert_eq!(Decline::COUNT, Decline::ALL.len());
}

#[test]
fn size_declines() {
    let (mut w, p, s, reply) = rpc_world();
    let req = request(s, reply);
    assert_eq!(
        declines(&mut w, B, &req[..20], Decline::Size),
        Err(MACH_SEND_MSG_TOO_SMALL)
    );
    let mut odd = req.clone();
    odd.extend_from_slice(&[0, 0]);
    assert_eq!(declines(&mut w, B, &odd, Decline::Size), Err(MACH_SEND_MSG_TOO_SMALL));
    // Past the fast paths' limit: a good message all the same.
    let big = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 5)
        .data(&vec![3u8; MAX_INLINE - MACH_MSG_HEADER_SIZE + 4])
        .build();
    assert_eq!(big.len(), MAX_INLINE + 4);
    assert_eq!(declines(&mut w, B, &big, Decline::Size), Ok(SendOutcome::Sent));
    let got = w.recv_ok(A, p);
    assert_eq!(&got[MACH_MSG_HEADER_SIZE..big.len()], &big[MACH_MSG_HEADER_SIZE..]);
    // The limit itself takes the simple path.
    let max = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 5)
        .data(&vec![3u8; MAX_INLINE - MACH_MSG_HEADER_SIZE])
        .build();
    assert!(w.ipc.check_simple(B, &max).is_ok());
    w.assert_audit();
}

#[test]
fn bits_decline() {
    let (mut w, p, s, reply) = rpc_world();
    let complex = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 5)
        .port(reply, MACH_MSG_TYPE_MAKE_SEND)
        .build();
    assert_eq!(declines(&mut w, B, &complex, Decline::Bits), Ok(SendOutcome::Sent));
    let got = w.recv_ok(A, p);
    assert_ne!(word(&got, 0) & MACH_MSGH_BITS_COMPLEX, 0);
    let mut voucher = request(s, reply);
    sets_bits(&mut voucher, MACH_MSGH_BITS_VOUCHER_MASK & 0x1_0000);
    assert_eq!(
        declines(&mut w, B, &voucher, Decline::Bits),
        Err(MACH_SEND_INVALID_HEADER)
    );
    let mut unknown = request(s, reply);
    sets_bits(&mut unknown, 0x2000);
    assert_eq!(
        declines(&mut w, B, &unknown, Decline::Bits),
        Err(MACH_SEND_INVALID_HEADER)
    );
    w.assert_audit();
}

#[test]
fn same_name_declines() {
    let (mut w, p, s, _) = rpc_world();
    // Two copies of one send right: the receiver gets both under one name.
    let twice = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, s, MACH_MSG_TYPE_COPY_SEND, 5).build();
    assert_eq!(declines(&mut w, B, &twice, Decline::SameName), Ok(SendOutcome::Sent));
    let got = w.recv_ok(A, p);
    assert_eq!((word(&got, 8), word(&got, 12)), (p, p));
    assert_eq!(w.ipc.port_get_refs(A, p, MACH_PORT_RIGHT_SEND), Ok(1));
    // A send-once right cannot be moved twice.
    let (mut w, _, _, reply) = rpc_world();
    let so = w
        .ipc
        .port_extract_right(B, reply, MACH_MSG_TYPE_MAKE_SEND_ONCE as u32)
        .unwrap();
    let n = w.ipc.port_allocate(B, MACH_PORT_RIGHT_DEAD_NAME).unwrap();
    w.ipc.port_mod_refs(B, n, MACH_PORT_RIGHT_DEAD_NAME, -1).unwrap();
    w.ipc.port_insert_right(B, n + 1, so).unwrap();
    let both = MsgBuilder::new(
        n + 1,
        MACH_MSG_TYPE_MOVE_SEND_ONCE,
        n + 1,
        MACH_MSG_TYPE_MOVE_SEND_ONCE,
        5,
    )
    .build();
    assert_eq!(
        declines(&mut w, B, &both, Decline::SameName),
        Err(MACH_SEND_INVALID_REPLY)
    );
    // A did-nothing error: the right is still there, and no notification.
    assert_eq!(w.ipc.port_type(B, n + 1), Ok(MACH_PORT_TYPE_SEND_ONCE));
    w.assert_empty(B, reply);
    w.assert_audit();
}

#[test]
fn reply_disposition_declines() {
    let (mut w, p, s, reply) = rpc_world();
    let make_send = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, reply, MACH_MSG_TYPE_MAKE_SEND, 5).build();
    assert_eq!(
        declines(&mut w, B, &make_send, Decline::ReplyDisposition),
        Ok(SendOutcome::Sent)
    );
    let got = w.recv_ok(A, p);
    assert_eq!(mach_msgh_bits_remote(word(&got, 0)), MACH_MSG_TYPE_PORT_SEND);
    assert_eq!(w.ipc.port_type(A, word(&got, 8)), Ok(MACH_PORT_TYPE_SEND));
    // MAKE_SEND_ONCE of the null name: no reply right at all.
    let null = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, MACH_MSG_TYPE_MAKE_SEND_ONCE, 5).build();
    assert_eq!(
        declines(&mut w, B, &null, Decline::ReplyDisposition),
        Ok(SendOutcome::Sent)
    );
    let got = w.recv_ok(A, p);
    assert_eq!((mach_msgh_bits_remote(word(&got, 0)), word(&got, 8)), (0, 0));
    // A reply name without a disposition.
    let bare = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, reply, 0, 5).build();
    assert_eq!(
        declines(&mut w, B, &bare, Decline::ReplyDisposition),
        Err(MACH_SEND_INVALID_HEADER)
    );
    w.assert_audit();
}

#[test]
fn missing_space_and_bad_names_decline() {
    let (mut w, _, s, reply) = rpc_world();
    assert_eq!(
        declines(&mut w, 99, &request(s, reply), Decline::NoSpace),
        Err(MACH_SEND_INVALID_DEST)
    );
    assert_eq!(
        declines(&mut w, B, &request(s + 4, reply), Decline::DestName),
        Err(MACH_SEND_INVALID_DEST)
    );
    let set = w.ipc.port_allocate(B, MACH_PORT_RIGHT_PORT_SET).unwrap();
    assert_eq!(
        declines(&mut w, B, &request(set, reply), Decline::DestName),
        Err(MACH_SEND_INVALID_DEST)
    );
    // The reply must be a receive right.
    assert_eq!(
        declines(&mut w, B, &request(reply, s), Decline::DestRight),
        Err(MACH_SEND_INVALID_DEST)
    );
    let other = w.port(B);
    let to_self = w.give_send(B, other, B);
    let bad_reply = request(s, to_self);
    let to_self_only = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, s + 8, MACH_MSG_TYPE_MAKE_SEND_ONCE, 1).build();
    assert_eq!(
        declines(&mut w, B, &to_self_only, Decline::ReplyName),
        Err(MACH_SEND_INVALID_REPLY)
    );
    w.ipc.port_mod_refs(B, other, MACH_PORT_RIGHT_RECEIVE, -1).unwrap();
    // `to_self` now names a send right to a dead port: not a receive right.
    assert_eq!(
        declines(&mut w, B, &bad_reply, Decline::ReplyName),
        Err(MACH_SEND_INVALID_REPLY)
    );
    w.assert_audit();
}

#[test]
fn dest_right_declines() {
    let (mut w, p, s, reply) = rpc_world();
    // MOVE_SEND: the sender's right goes with the message.
    let mv = MsgBuilder::new(s, MACH_MSG_TYPE_MOVE_SEND, 0, 0, 5).build();
    assert_eq!(declines(&mut w, B, &mv, Decline::DestRight), Ok(SendOutcome::Sent));
    assert_eq!(w.ipc.port_type(B, s), Err(KERN_INVALID_NAME));
    assert_eq!(id_of(&w.recv_ok(A, p)), 5);
    // MAKE_SEND_ONCE of the sender's own receive right.
    let so = MsgBuilder::new(reply, MACH_MSG_TYPE_MAKE_SEND_ONCE, 0, 0, 6).build();
    assert_eq!(declines(&mut w, B, &so, Decline::DestRight), Ok(SendOutcome::Sent));
    let got = w.recv_ok(B, reply);
    assert_eq!(mach_msgh_bits_local(word(&got, 0)), MACH_MSG_TYPE_PORT_SEND_ONCE);
    // MOVE_SEND_ONCE of a send right, or of a receive right.
    let (mut w2, p2, s2, reply2) = rpc_world();
    let once = MsgBuilder::new(s2, MACH_MSG_TYPE_MOVE_SEND_ONCE, 0, 0, 8).build();
    assert_eq!(
        declines(&mut w2, B, &once, Decline::DestRight),
        Err(MACH_SEND_INVALID_DEST)
    );
    let once = MsgBuilder::new(reply2, MACH_MSG_TYPE_MOVE_SEND_ONCE, 0, 0, 8).build();
    assert_eq!(
        declines(&mut w2, B, &once, Decline::DestRight),
        Err(MACH_SEND_INVALID_DEST)
    );
    assert_eq!(w2.ipc.port_type(B, s2), Ok(MACH_PORT_TYPE_SEND));
    let _ = p2;
    w2.assert_audit();
    // MAKE_SEND without the receive right.
    let (mut w, _, s, _) = rpc_world();
    let make = MsgBuilder::new(s, MACH_MSG_TYPE_MAKE_SEND, 0, 0, 7).build();
    assert_eq!(
        declines(&mut w, B, &make, Decline::DestRight),
        Err(MACH_SEND_INVALID_DEST)
    );
    w.assert_audit();
}

#[test]
fn dead_destination_declines_and_turns_into_a_dead_name() {
    let (mut w, p, s, reply) = rpc_world();
    w.ipc.port_destroy(A, p).unwrap();
    // Nothing has looked at `s` since its port died: it still reads as a
    // send right to the model, and only the general path converts it.
    let req = request(s, reply);
    assert_eq!(w.ipc.check_simple(B, &req), Err(Decline::DestDead));
    let mut out = Vec::new();
    assert!(
        w.ipc
            .msg_send_handoff(B, &req, &mut out, |_, _, _| None::<(u32, _)>)
            .is_none()
    );
    assert_eq!(
        try_rpc(&mut w, B, &req, reply, blocked(A, p)).err(),
        Some(Decline::DestDead)
    );
    assert_eq!(w.ipc.check_simple(B, &req), Err(Decline::DestDead));
    assert_eq!(w.send(B, &req), Err(MACH_SEND_INVALID_DEST));
    assert_eq!(w.ipc.stats.declines[Decline::DestDead as usize], 1);
    assert_eq!(w.ipc.port_type(B, s), Ok(MACH_PORT_TYPE_DEAD_NAME));
    assert_eq!(w.ipc.check_simple(B, &req), Err(Decline::DestName));
    w.assert_audit();
}

#[test]
fn full_queue_declines_and_waits() {
    let (mut w, p, s, reply) = rpc_world();
    w.ipc.port_set_qlimit(A, p, 1).unwrap();
    w.send(B, &request(s, reply)).unwrap();
    let port = w.ipc.port_of(A, p).unwrap();
    assert_eq!(
        declines(&mut w, B, &request(s, reply), Decline::QueueFull),
        Ok(SendOutcome::WouldBlock(WaitKey::Space(port)))
    );
    // A send-once right is never held back by the queue limit.
    let got = w.recv_ok(A, p);
    w.send(B, &request(s, reply)).unwrap();
    let rep = MsgBuilder::new(word(&got, 8), MACH_MSG_TYPE_MOVE_SEND_ONCE, 0, 0, 1).build();
    w.ipc.port_set_qlimit(B, reply, 1).unwrap();
    let to_self = w.give_send(B, reply, B);
    w.send(B, &MsgBuilder::new(to_self, MACH_MSG_TYPE_COPY_SEND, 0, 0, 2).build())
        .unwrap();
    assert!(w.ipc.check_simple(A, &rep).is_ok());
    assert_eq!(w.send(A, &rep), Ok(SendOutcome::Sent));
    w.assert_audit();
}

#[test]
fn exhausted_message_memory_declines() {
    let (mut w, _, s, reply) = rpc_world();
    w.ipc.set_message_memory_limit(MACH_MSG_HEADER_SIZE as u64 + 159);
    assert_eq!(
        declines(&mut w, B, &request(s, reply), Decline::NoBuffer),
        Err(MACH_SEND_NO_BUFFER)
    );
    w.ipc.set_message_memory_limit(MACH_MSG_HEADER_SIZE as u64 + 160);
    assert!(w.ipc.check_simple(B, &request(s, reply)).is_ok());
    assert_eq!(w.send(B, &request(s, reply)), Ok(SendOutcome::Sent));
    assert_eq!(w.ipc.stats.simple_queued, 1);
    assert_eq!(w.ipc.message_memory(), MACH_MSG_HEADER_SIZE as u64 + 160);
    w.assert_audit();
}

/// The RPC fast path from `space`, receiving on `rcv`, with `r` blocked on the destination.
fn try_rpc(
    w: &mut World,
    space: SpaceId,
    msg: &[u8],
    rcv: u32,
    r: Option<BlockedReceiver>,
) -> Result<crate::ipc::rpc_fast::RpcHandoff<u32>, Decline> {
    let mut ends = [0u8; HANDOFF_SIZE];
    w.ipc.try_rpc_fast(space, msg, rcv, &mut ends, |_, rs, needed| {
        r.filter(|r| r.space == rs && r.capacity as usize >= needed)
            .map(|r| (1, r))
    })
}

fn blocked(space: SpaceId, name: u32) -> Option<BlockedReceiver> {
    Some(BlockedReceiver {
        space,
        name,
        capacity: 1024,
    })
}

/// The RPC fast path declines `msg` for `reason` and changes nothing.
fn rpc_declines(w: &mut World, space: SpaceId, msg: &[u8], rcv: u32, r: Option<BlockedReceiver>, reason: Decline) {
    let before = (w.snapshot(A), w.snapshot(B), w.ipc.message_memory());
    assert_eq!(try_rpc(w, space, msg, rcv, r).err(), Some(reason));
    assert_eq!(before, (w.snapshot(A), w.snapshot(B), w.ipc.message_memory()));
}

#[test]
fn rpc_fast_path_declines_for_the_receive_and_the_receiver() {
    let (mut w, p, s, reply) = rpc_world();
    let req = request(s, reply);
    rpc_declines(&mut w, B, &req, reply, None, Decline::NoReceiver);
    // Receiving on a send right, an unknown name, or a member of a set.
    rpc_declines(&mut w, B, &req, s, blocked(A, p), Decline::ReceiveName);
    rpc_declines(&mut w, B, &req, 0x777, blocked(A, p), Decline::ReceiveName);
    let q = w.port(A);
    let to_q = w.give_send(A, q, B);
    rpc_declines(&mut w, B, &req, to_q, blocked(A, p), Decline::ReceiveName);
    let set = w.ipc.port_allocate(B, MACH_PORT_RIGHT_PORT_SET).unwrap();
    let member = w.port(B);
    w.ipc.port_move_member(B, member, set).unwrap();
    rpc_declines(&mut w, B, &req, member, blocked(A, p), Decline::ReceiveName);
    // Receiving on the destination itself (the sender holds its receive right).
    let own = w.port(B);
    let own_send = w.give_send(B, own, B);
    let to_own = MsgBuilder::new(own_send, MACH_MSG_TYPE_COPY_SEND, 0, 0, 3).build();
    rpc_declines(&mut w, B, &to_own, own, blocked(B, own), Decline::ReceiveName);
    // A set holding the destination.
    w.ipc.port_move_member(B, own, set).unwrap();
    rpc_declines(&mut w, B, &to_own, set, blocked(B, set), Decline::ReceiveName);
    // Something queued for the sender's receive, on a port or in a set.
    let to_reply = w.give_send(B, reply, B);
    w.send(B, &MsgBuilder::new(to_reply, MACH_MSG_TYPE_COPY_SEND, 0, 0, 4).build())
        .unwrap();
    rpc_declines(&mut w, B, &req, reply, blocked(A, p), Decline::ReceiveQueued);
    let to_member = w.give_send(B, member, B);
    w.send(B, &MsgBuilder::new(to_member, MACH_MSG_TYPE_COPY_SEND, 0, 0, 4).build())
        .unwrap();
    rpc_declines(&mut w, B, &req, set, blocked(A, p), Decline::ReceiveQueued);
    // Something queued on the destination.
    let quiet = w.port(B);
    w.send(B, &req).unwrap();
    rpc_declines(&mut w, B, &req, quiet, blocked(A, p), Decline::DestQueued);
    assert_eq!(id_of(&w.recv_ok(A, p)), 77);
    assert!(try_rpc(&mut w, B, &req, quiet, blocked(A, p)).is_ok());
    w.assert_audit();
}

#[test]
fn kernel_ports_take_the_simple_queue_not_the_rpc_fast_path() {
    let mk = || {
        let mut w = World::new();
        let port = w.ipc.kobject_port_create(KObject::Host);
        let k = w.ipc.insert_make_send(B, port).unwrap();
        let reply = w.port(B);
        (w, k, reply)
    };
    let msg = |k, reply| {
        MsgBuilder::new(k, MACH_MSG_TYPE_COPY_SEND, reply, MACH_MSG_TYPE_MAKE_SEND_ONCE, 200)
            .data(&[1, 2, 3, 4, 5, 6, 7, 8])
            .build()
    };
    let (mut w1, k, reply) = mk();
    rpc_declines(&mut w1, B, &msg(k, reply), reply, blocked(A, 1), Decline::NotTaskPort);
    assert!(w1.ipc.check_simple(B, &msg(k, reply)).is_ok());
    assert_eq!(w1.send(B, &msg(k, reply)), Ok(SendOutcome::Sent));
    assert_eq!(w1.ipc.stats.simple_queued, 1);
    let (mut w2, ..) = mk();
    let general = w2.ipc.msg_send_general(B, &msg(k, reply), &mut NoMemory, Decline::Bits);
    assert_eq!(general, Ok(SendOutcome::Sent));
    let (a, b) = (w1.ipc.take_kernel_messages(), w2.ipc.take_kernel_messages());
    assert_eq!(a.len(), 1);
    assert_eq!(std::format!("{a:?}"), std::format!("{b:?}"));
    assert_eq!(w1.ipc.message_memory(), w2.ipc.message_memory());
    for (_, m) in a {
        w1.ipc.kernel_send(m);
    }
}

/// The messages a test sends both ways, with their sender and receive name.
fn simple_messages(s: u32, reply: u32) -> Vec<Vec<u8>> {
    vec![
        request(s, reply),
        MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1).build(),
        MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, reply, MACH_MSG_TYPE_MAKE_SEND_ONCE, 2)
            .data(&[9; 64])
            .build(),
        MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 3)
            .data(&vec![7; MAX_INLINE - MACH_MSG_HEADER_SIZE])
            .build(),
        MsgBuilder::new(reply, MACH_MSG_TYPE_MAKE_SEND, 0, 0, 4)
            .data(b"self")
            .build(),
        MsgBuilder::new(reply, MACH_MSG_TYPE_MAKE_SEND_ONCE, 0, 0, 5).build(),
        MsgBuilder::new(s + 4, MACH_MSG_TYPE_COPY_SEND, 0, 0, 6).build(),
    ]
}

#[test]
fn simple_path_equals_the_general_path() {
    let (mut w1, _, s, reply) = rpc_world();
    let (mut w2, ..) = rpc_world();
    for m in simple_messages(s, reply) {
        let r1 = w1.send(B, &m);
        let r2 = w2.ipc.msg_send_general(B, &m, &mut NoMemory, Decline::Bits);
        assert_eq!(r1, r2, "message {}", id_of(&m));
        assert_eq!(w1.ipc.message_memory(), w2.ipc.message_memory());
        w1.assert_audit();
    }
    assert_eq!(w1.ipc.stats.simple_queued, 5);
    assert_eq!(w1.ipc.stats.declines[Decline::DestRight as usize], 1);
    assert_eq!(w1.ipc.stats.declines[Decline::DestName as usize], 1);
    assert_eq!(w1.snapshot(B), w2.snapshot(B));
    assert_eq!(state(&mut w1), state(&mut w2));
    assert_eq!(w1.snapshot(A), w2.snapshot(A));
    assert_eq!(w1.ipc.message_memory(), 0);
    w1.assert_audit();
    w2.assert_audit();
}

/// A replies to a request of B with a send-once right on which A has a
/// dead-name request: (world, A's receive p, B's reply port, A's send-once
/// name, A's notification port).
fn dnrequest_world() -> (World, u32, u32, u32, u32) {
    let (mut w, p, s, reply) = rpc_world();
    w.send(B, &request(s, reply)).unwrap();
    let so = word(&w.recv_ok(A, p), 8);
    let np = w.port(A);
    let r = w
        .ipc
        .port_extract_right(A, np, MACH_MSG_TYPE_MAKE_SEND_ONCE as u32)
        .unwrap();
    assert_eq!(
        w.ipc.port_request_notification(A, so, MACH_NOTIFY_DEAD_NAME, 0, r),
        Ok(KRight::NULL)
    );
    // The request's send-once right counts on the notification port.
    w.assert_audit();
    (w, p, reply, so, np)
}

#[test]
fn send_once_right_with_a_dead_name_request_goes_the_general_way() {
    // The general path: the request is cancelled with a port-deleted notification.
    let (mut w0, p, reply, so, np) = dnrequest_world();
    let rep = MsgBuilder::new(so, MACH_MSG_TYPE_MOVE_SEND_ONCE, 0, 0, 78).build();
    let general = w0
        .ipc
        .msg_send_general(A, &rep, &mut NoMemory, Decline::DeadNameRequest);
    assert_eq!(general, Ok(SendOutcome::Sent));
    let note = w0.recv_ok(A, np);
    assert_eq!((id_of(&note), word(&note, 24)), (MACH_NOTIFY_PORT_DELETED, so));
    let want = state(&mut w0);
    w0.assert_audit();

    // Each fast entry, falling back as the kernel does, gives the same.
    for entry in 0..3 {
        let (mut w, ..) = dnrequest_world();
        let mut ends = [0u8; HANDOFF_SIZE];
        let mut out = Vec::new();
        let taken = match entry {
            0 => w
                .ipc
                .msg_rpc_fast(A, &rep, p, &mut ends, |_, _, _| blocked(B, reply).map(|r| (1, r)))
                .is_some(),
            1 => w
                .ipc
                .msg_send_handoff(A, &rep, &mut out, |_, _, _| blocked(B, reply).map(|r| (1, r)))
                .is_some(),
            _ => false,
        };
        assert!(!taken, "entry {entry} took the fast path");
        assert_eq!(w.send(A, &rep), Ok(SendOutcome::Sent));
        let got = w.recv_ok(A, np);
        assert_eq!(got, note);
        assert_eq!(state(&mut w), want);
        w.assert_audit();
    }
}

#[test]
fn statistics_say_which_path_messages_took() {
    let (mut w, p, s, reply) = rpc_world();
    let mut ends = [0u8; HANDOFF_SIZE];
    let h = w
        .ipc
        .msg_rpc_fast(B, &request(s, reply), reply, &mut ends, |_, _, _| {
            blocked(A, p).map(|r| (1, r))
        })
        .expect("fast path");
    assert_eq!(h.status, MACH_MSG_SUCCESS);
    let rep = MsgBuilder::new(word(&ends, 8), MACH_MSG_TYPE_MOVE_SEND_ONCE, 0, 0, 78).build();
    assert!(
        w.ipc
            .msg_rpc_fast(A, &rep, p, &mut ends, |_, _, _| blocked(B, reply).map(|r| (1, r)))
            .is_some()
    );
    assert_eq!(w.ipc.stats.rpc_fast, 2);
    assert_eq!(w.ipc.messages_sent(), 2);
    // A handoff, a simple message queued, a complex one through the general path.
    let mut out = Vec::new();
    let r = w
        .ipc
        .msg_send_with_handoff(B, &request(s, reply), &mut NoMemory, &mut out, |_, _, _| {
            blocked(A, p).map(|r| (1, r))
        });
    assert!(matches!(r, Ok(HandoffSend::HandedOff { .. })));
    w.send(B, &request(s, reply)).unwrap();
    let complex = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 5)
        .port(reply, MACH_MSG_TYPE_MAKE_SEND)
        .build();
    w.send(B, &complex).unwrap();
    let st = w.ipc.stats;
    assert_eq!((st.rpc_fast, st.handoffs, st.simple_queued, st.general), (2, 1, 1, 1));
    assert_eq!(st.queued, 2);
    assert_eq!(w.ipc.messages_sent(), 5);
    assert_eq!(st.declines[Decline::Bits as usize], 1);
    assert_eq!(st.declines.iter().sum::<u64>(), 1);
    assert_eq!(st.rpc_declines.iter().sum::<u64>(), 0);
    // A declined RPC is counted under its reason.
    assert!(
        w.ipc
            .msg_rpc_fast(B, &request(s, reply), reply, &mut ends, |_, _, _| None::<(u32, _)>)
            .is_none()
    );
    assert_eq!(w.ipc.stats.rpc_declines[Decline::DestQueued as usize], 1);
    assert_eq!(w.ipc.stats.rpc_fast, 2);
}

#[test]
fn received_messages_are_the_message_and_one_trailer() {
    assert_eq!(HANDOFF_SIZE, MACH_MSG_HEADER_SIZE + MACH_MSG_TRAILER_SIZE);
    let (mut w, p, s, reply) = rpc_world();
    let msg = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, reply, MACH_MSG_TYPE_MAKE_SEND_ONCE, 3)
        .data(&[5; 12])
        .build();
    let check = |got: &[u8], seqno: u32| {
        assert_eq!(got.len(), msg.len() + MACH_MSG_TRAILER_SIZE);
        assert_eq!(word(got, 4) as usize, msg.len());
        assert_eq!(&got[MACH_MSG_HEADER_SIZE..msg.len()], &msg[MACH_MSG_HEADER_SIZE..]);
        let t = &got[msg.len()..];
        assert_eq!(word(t, 0), MACH_MSG_TRAILER_FORMAT_0);
        assert_eq!(word(t, 4) as usize, MACH_MSG_TRAILER_SIZE);
        assert_eq!(word(t, 8), seqno);
        assert_eq!(word(t, 12) as u64 | (word(t, 16) as u64) << 32, B);
        assert_eq!(word(got, 16), 0);
    };
    // Queued, then received.
    w.send(B, &msg).unwrap();
    check(&w.recv_ok(A, p), 0);
    // Handed off, into an empty buffer: one allocation of the exact size.
    let mut out = Vec::new();
    let r = w
        .ipc
        .msg_send_with_handoff(B, &msg, &mut NoMemory, &mut out, |_, _, _| {
            blocked(A, p).map(|r| (1, r))
        });
    assert!(matches!(r, Ok(HandoffSend::HandedOff { .. })));
    check(&out, 1);
    assert_eq!(out.capacity(), out.len());
    // Through the RPC fast path: header and trailer around the sender's data.
    let mut ends = [0xffu8; HANDOFF_SIZE];
    let quiet = w.port(B);
    let r = w
        .ipc
        .msg_rpc_fast(B, &msg, quiet, &mut ends, |_, _, _| blocked(A, p).map(|r| (1, r)));
    assert!(r.is_some());
    let mut got = ends[..MACH_MSG_HEADER_SIZE].to_vec();
    got.extend_from_slice(&msg[MACH_MSG_HEADER_SIZE..]);
    got.extend_from_slice(&ends[MACH_MSG_HEADER_SIZE..]);
    check(&got, 2);
    w.assert_audit();
}

#[test]
fn a_missing_space_is_reported_before_a_malformed_message() {
    let (mut w, _, s, reply) = rpc_world();
    let short = &request(s, reply)[..20];
    assert_eq!(w.ipc.msg_send(99, short, &mut NoMemory), Err(MACH_SEND_INVALID_DEST));
    assert_eq!(w.ipc.msg_send(B, short, &mut NoMemory), Err(MACH_SEND_MSG_TOO_SMALL));
}

#[test]
fn no_room_for_the_reply_right_is_a_header_error_on_every_path() {
    // A's space has room for its receive right and nothing more.
    let world = || {
        let mut w = World::new();
        w.ipc.space_create(A, 1);
        let p = w.port(A);
        let s = w.give_send(A, p, B);
        let reply = w.port(B);
        (w, p, s, reply)
    };
    let (mut w1, p, s, reply) = world();
    w1.send(B, &request(s, reply)).unwrap();
    let Ok(ReceiveOutcome::Message { bytes: general, status }) = w1.recv(A, p) else {
        panic!("no message")
    };
    assert_eq!(status, MACH_RCV_HEADER_ERROR);
    assert_eq!(word(&general, 8), MACH_PORT_DEAD);
    let want = state(&mut w1);
    // The released reply right's send-once notification.
    assert_eq!(want.len(), 1);
    assert_eq!(id_of(&want[0].2), MACH_NOTIFY_SEND_ONCE);
    w1.assert_audit();

    let (mut w2, ..) = world();
    let mut ends = [0u8; HANDOFF_SIZE];
    let h = w2
        .ipc
        .msg_rpc_fast(B, &request(s, reply), reply, &mut ends, |_, _, _| {
            blocked(A, p).map(|r| (1, r))
        })
        .expect("fast path");
    assert_eq!(h.status, MACH_RCV_HEADER_ERROR);
    let mut got = ends[..MACH_MSG_HEADER_SIZE].to_vec();
    got.extend_from_slice(&ends[MACH_MSG_HEADER_SIZE..]);
    assert_eq!(got, general);
    assert_eq!(state(&mut w2), want);
    w2.assert_audit();

    let (mut w3, ..) = world();
    let mut out = Vec::new();
    let r = w3
        .ipc
        .msg_send_with_handoff(B, &request(s, reply), &mut NoMemory, &mut out, |_, _, _| {
            blocked(A, p).map(|r| (1, r))
        });
    assert_eq!(
        r,
        Ok(HandoffSend::HandedOff {
            to: 1,
            status: MACH_RCV_HEADER_ERROR
        })
    );
    assert_eq!(out, general);
    assert_eq!(state(&mut w3), want);
    w3.assert_audit();
}

#[test]
fn a_receiver_registered_under_another_name_gets_the_port_name() {
    // The kernel's receiver was registered on the port under a name that no
    // longer denotes it: the message names the port as the space does.
    let (mut w, p, s, reply) = rpc_world();
    let other = w.port(A);
    let mut out = Vec::new();
    let r = w
        .ipc
        .msg_send_with_handoff(B, &request(s, reply), &mut NoMemory, &mut out, |_, _, _| {
            blocked(A, other).map(|r| (1, r))
        });
    assert!(matches!(r, Ok(HandoffSend::HandedOff { .. })));
    assert_eq!(word(&out, 12), p);
    w.assert_audit();
}
