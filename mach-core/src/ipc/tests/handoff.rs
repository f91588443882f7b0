//! Handing a header-only message straight to a blocked receiver
//! (`msg_send_handoff`): what the receiver gets is exactly what a queued
//! receive would have given, and the rights accounting is the same.

use super::harness::*;
use crate::ipc::NoMemory as NoMem;
use crate::ipc::WaitKey;
use crate::ipc::handoff::{BlockedReceiver, HANDOFF_SIZE, HandoffSend};
use crate::ipc::rpc_fast::RpcHandoff;
use mach_abi::message::*;
use mach_abi::port::*;
use std::vec;
use std::vec::Vec;

/// A receives on `p`; B holds a send right named `s` and a reply port.
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

/// What `msg_send_handoff` returned in these tests.
type Sent = Option<Result<HandoffSend<u32>, MachMsgReturn>>;

/// Sends `msg` from `space` with a receiver `r` blocked on whatever key is asked.
fn handoff(
    w: &mut World,
    space: u64,
    msg: &[u8],
    r: Option<BlockedReceiver>,
) -> (Sent, Vec<u8>, Option<(WaitKey, u64, usize)>) {
    let mut out = Vec::new();
    let mut asked = None;
    let res = w.ipc.msg_send_handoff(space, msg, &mut out, |key, rs, needed| {
        asked = Some((key, rs, needed));
        r.filter(|r| r.space == rs && r.capacity as usize >= needed)
            .map(|r| (7u32, r))
    });
    (res, out, asked)
}

#[test]
fn handed_off_message_equals_queued_one() {
    // The same request, once queued and received, once handed off.
    let (mut w1, p1, s1, reply1) = rpc_world();
    w1.send(B, &request(s1, reply1)).unwrap();
    let queued = w1.recv_ok(A, p1);

    let (mut w2, p2, s2, reply2) = rpc_world();
    assert_eq!((p1, s1, reply1), (p2, s2, reply2));
    let r = BlockedReceiver {
        space: A,
        name: p2,
        capacity: 1024,
    };
    let (res, out, asked) = handoff(&mut w2, B, &request(s2, reply2), Some(r));
    assert_eq!(
        res,
        Some(Ok(HandoffSend::HandedOff {
            to: 7,
            status: MACH_MSG_SUCCESS
        }))
    );
    let (key, rs, needed) = asked.unwrap();
    assert!(matches!(key, WaitKey::Port(_)));
    assert_eq!((rs, needed), (A, MACH_MSG_HEADER_SIZE + MACH_MSG_TRAILER_SIZE));
    assert_eq!(out, queued);
    // Nothing stayed queued; the reply right is the receiver's and works.
    w2.assert_empty(A, p2);
    w2.assert_audit();
    let so = word(&out, 8);
    assert_eq!(w2.ipc.port_type(A, so), Ok(MACH_PORT_TYPE_SEND_ONCE));
    let rep = MsgBuilder::new(so, MACH_MSG_TYPE_MOVE_SEND_ONCE, 0, 0, 78).build();
    let r = BlockedReceiver {
        space: B,
        name: reply2,
        capacity: 1024,
    };
    let (res, out, _) = handoff(&mut w2, A, &rep, Some(r));
    assert!(matches!(res, Some(Ok(HandoffSend::HandedOff { .. }))));
    assert_eq!(id_of(&out), 78);
    assert_eq!(mach_msgh_bits_local(word(&out, 0)), MACH_MSG_TYPE_PORT_SEND_ONCE);
    assert_eq!(word(&out, 12), reply2);
    assert_eq!(w2.ipc.port_type(A, so), Err(mach_abi::kern_return::KERN_INVALID_NAME));
    w2.assert_audit();
}

#[test]
fn sequence_numbers_count_handed_off_messages() {
    let (mut w, p, s, reply) = rpc_world();
    let r = BlockedReceiver {
        space: A,
        name: p,
        capacity: 1024,
    };
    let (_, first, _) = handoff(&mut w, B, &request(s, reply), Some(r));
    w.send(B, &request(s, reply)).unwrap();
    let second = w.recv_ok(A, p);
    assert_eq!(word(&first, 32), 0);
    assert_eq!(word(&second, 32), 1);
}

#[test]
fn no_receiver_or_no_room_queues_the_message() {
    let (mut w, p, s, reply) = rpc_world();
    let (res, out, asked) = handoff(&mut w, B, &request(s, reply), None);
    assert_eq!(res, Some(Ok(HandoffSend::Sent)));
    assert!(out.is_empty() && asked.is_some());
    let small = BlockedReceiver {
        space: A,
        name: p,
        capacity: MACH_MSG_HEADER_SIZE as u32,
    };
    let (res, _, _) = handoff(&mut w, B, &request(s, reply), Some(small));
    assert_eq!(res, Some(Ok(HandoffSend::Sent)));
    // A queue with messages is never overtaken.
    let big = BlockedReceiver {
        capacity: 1024,
        ..small
    };
    let (res, _, asked) = handoff(&mut w, B, &request(s, reply), Some(big));
    assert_eq!(res, Some(Ok(HandoffSend::Sent)));
    assert!(asked.is_none());
    for _ in 0..3 {
        assert_eq!(id_of(&w.recv_ok(A, p)), 77);
    }
    w.assert_audit();
}

#[test]
fn port_set_receivers_get_the_member_name() {
    let (mut w, p, s, reply) = rpc_world();
    let set = w.ipc.port_allocate(A, MACH_PORT_RIGHT_PORT_SET).unwrap();
    w.ipc.port_move_member(A, p, set).unwrap();
    let r = BlockedReceiver {
        space: A,
        name: set,
        capacity: 1024,
    };
    let (res, out, asked) = handoff(&mut w, B, &request(s, reply), Some(r));
    assert!(matches!(res, Some(Ok(HandoffSend::HandedOff { .. }))));
    assert!(matches!(asked, Some((WaitKey::Set(_), A, _))));
    assert_eq!(word(&out, 12), p);
    w.assert_audit();
}

#[test]
fn unusual_messages_and_errors_take_the_general_path() {
    let (mut w, _, s, reply) = rpc_world();
    let r = BlockedReceiver {
        space: A,
        name: 0,
        capacity: 1024,
    };
    let complex = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, reply, MACH_MSG_TYPE_MAKE_SEND_ONCE, 1)
        .port(reply, MACH_MSG_TYPE_MAKE_SEND)
        .build();
    assert!(handoff(&mut w, B, &complex, Some(r)).0.is_none());
    let bad_dest = request(s + 4, reply);
    assert!(handoff(&mut w, B, &bad_dest, Some(r)).0.is_none());
    let before = w.snapshot(B);
    let move_send = MsgBuilder::new(s, MACH_MSG_TYPE_MOVE_SEND, reply, MACH_MSG_TYPE_MAKE_SEND_ONCE, 1).build();
    assert!(handoff(&mut w, B, &move_send, Some(r)).0.is_none());
    assert_eq!(w.snapshot(B), before);
    w.assert_audit();
}

#[test]
fn full_queue_says_would_block_and_takes_nothing() {
    let (mut w, p, s, _) = rpc_world();
    w.ipc.port_set_qlimit(A, p, 1).unwrap();
    let plain = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 5).build();
    w.send(B, &plain).unwrap();
    let before = w.snapshot(B);
    // The handoff send declines; the general path says to wait.
    let (res, _, _) = handoff(&mut w, B, &plain, None);
    assert!(res.is_none());
    assert_eq!(w.snapshot(B), before);
    let mut out = Vec::new();
    let res = w
        .ipc
        .msg_send_with_handoff(B, &plain, &mut w.mem[B as usize], &mut out, |_, _, _| None::<(u32, _)>);
    assert!(matches!(res, Ok(HandoffSend::WouldBlock(WaitKey::Space(_)))));
    assert_eq!(w.snapshot(B), before);
    w.assert_audit();
}

#[test]
fn handed_off_inline_data_equals_queued_message() {
    let data: Vec<u8> = (0..100u8).collect();
    let req = |s, reply| {
        MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, reply, MACH_MSG_TYPE_MAKE_SEND_ONCE, 9)
            .data(&data)
            .build()
    };
    let (mut w1, p, s, reply) = rpc_world();
    w1.send(B, &req(s, reply)).unwrap();
    let queued = w1.recv_ok(A, p);
    let (mut w2, ..) = rpc_world();
    let r = BlockedReceiver {
        space: A,
        name: p,
        capacity: 1024,
    };
    let mut out = vec![0xAA; 3];
    let mut asked = None;
    let res = w2
        .ipc
        .msg_send_with_handoff(B, &req(s, reply), &mut NoMem, &mut out, |k, rs, n| {
            asked = Some((k, rs, n));
            Some((7u32, r))
        });
    assert_eq!(
        res,
        Ok(HandoffSend::HandedOff {
            to: 7,
            status: MACH_MSG_SUCCESS
        })
    );
    assert_eq!(asked.map(|a| a.2), Some(req(s, reply).len() + MACH_MSG_TRAILER_SIZE));
    assert_eq!(out, queued);
    assert_eq!(w1.snapshot(A), w2.snapshot(A));
    assert_eq!(w1.snapshot(B), w2.snapshot(B));
    assert_eq!(w2.ipc.message_memory(), 0);
    w2.assert_audit();
}

/// The RPC fast path from `space`, receiving on `rcv`, with receiver `r` blocked.
fn rpc_fast(
    w: &mut World,
    space: u64,
    msg: &[u8],
    rcv: u32,
    r: Option<BlockedReceiver>,
) -> (Option<RpcHandoff<u32>>, Vec<u8>) {
    let mut out = [0u8; HANDOFF_SIZE];
    let res = w.ipc.msg_rpc_fast(space, msg, rcv, &mut out, |_, rs, needed| {
        r.filter(|r| r.space == rs && r.capacity as usize >= needed)
            .map(|r| (9u32, r))
    });
    // The receiver's message: header, the sender's body unchanged, trailer.
    let mut got = Vec::new();
    if res.is_some() {
        got.extend_from_slice(&out[..MACH_MSG_HEADER_SIZE]);
        got.extend_from_slice(&msg[MACH_MSG_HEADER_SIZE..]);
        got.extend_from_slice(&out[MACH_MSG_HEADER_SIZE..]);
    }
    (res, got)
}

fn blocked(space: u64, name: u32) -> Option<BlockedReceiver> {
    Some(BlockedReceiver {
        space,
        name,
        capacity: 1024,
    })
}

#[test]
fn rpc_fast_path_equals_the_general_path() {
    // General path: request queued and received, reply queued and received.
    let (mut w1, p, s, reply) = rpc_world();
    w1.send(B, &request(s, reply)).unwrap();
    let req1 = w1.recv_ok(A, p);
    let so = word(&req1, 8);
    let rep = MsgBuilder::new(so, MACH_MSG_TYPE_MOVE_SEND_ONCE, 0, 0, 78).build();
    w1.send(A, &rep).unwrap();
    let rep1 = w1.recv_ok(B, reply);

    // Fast path: the same two messages, each handed to the blocked peer.
    let (mut w2, ..) = rpc_world();
    let (res, req2) = rpc_fast(&mut w2, B, &request(s, reply), reply, blocked(A, p));
    let h = res.expect("request takes the fast path");
    assert_eq!((h.to, h.status), (9, MACH_MSG_SUCCESS));
    assert!(matches!(h.key, WaitKey::Port(_)));
    assert_eq!(req2, req1);
    w2.assert_audit();
    let (res, rep2) = rpc_fast(&mut w2, A, &rep, p, blocked(B, reply));
    assert!(res.is_some());
    assert_eq!(rep2, rep1);
    w2.assert_audit();
    assert_eq!(w1.snapshot(A), w2.snapshot(A));
    assert_eq!(w1.snapshot(B), w2.snapshot(B));
    // Sequence numbers go on from there on the general path.
    w2.send(B, &request(s, reply)).unwrap();
    w1.send(B, &request(s, reply)).unwrap();
    assert_eq!(w2.recv_ok(A, p), w1.recv_ok(A, p));
    w2.assert_empty(A, p);
    w2.assert_audit();
}

#[test]
fn rpc_fast_path_declines_without_changing_anything() {
    let (mut w, p, s, reply) = rpc_world();
    let snap = |w: &mut World| (w.snapshot(A), w.snapshot(B));
    let before = snap(&mut w);
    // No blocked receiver, or one with too little room.
    assert!(rpc_fast(&mut w, B, &request(s, reply), reply, None).0.is_none());
    let small = Some(BlockedReceiver {
        space: A,
        name: p,
        capacity: MACH_MSG_HEADER_SIZE as u32,
    });
    assert!(rpc_fast(&mut w, B, &request(s, reply), reply, small).0.is_none());
    // A receive name that is not a receive right, or not a name at all.
    assert!(rpc_fast(&mut w, B, &request(s, reply), s, blocked(A, p)).0.is_none());
    assert!(
        rpc_fast(&mut w, B, &request(s, reply), 0x777, blocked(A, p))
            .0
            .is_none()
    );
    // Dispositions the fast path leaves alone.
    let make_send = MsgBuilder::new(reply, MACH_MSG_TYPE_MAKE_SEND, 0, 0, 1).build();
    assert!(rpc_fast(&mut w, B, &make_send, reply, blocked(A, p)).0.is_none());
    assert_eq!(snap(&mut w), before);
    // A message queued on the sender's receive port: it would not wait.
    let to_self = w.give_send(B, reply, B);
    let note = MsgBuilder::new(to_self, MACH_MSG_TYPE_COPY_SEND, 0, 0, 2).build();
    w.send(B, &note).unwrap();
    let before = snap(&mut w);
    assert!(
        rpc_fast(&mut w, B, &request(s, reply), reply, blocked(A, p))
            .0
            .is_none()
    );
    assert_eq!(snap(&mut w), before);
    assert_eq!(id_of(&w.recv_ok(B, reply)), 2);
    // A message queued on the destination: it must be received first.
    w.send(B, &request(s, reply)).unwrap();
    let before = snap(&mut w);
    assert!(
        rpc_fast(&mut w, B, &request(s, reply), reply, blocked(A, p))
            .0
            .is_none()
    );
    assert_eq!(snap(&mut w), before);
    w.assert_audit();
}

#[test]
fn rpc_fast_path_through_port_sets() {
    let (mut w, p, s, reply) = rpc_world();
    let set = w.ipc.port_allocate(A, MACH_PORT_RIGHT_PORT_SET).unwrap();
    w.ipc.port_move_member(A, p, set).unwrap();
    let (res, req) = rpc_fast(&mut w, B, &request(s, reply), reply, blocked(A, set));
    assert!(res.is_some());
    assert_eq!(word(&req, 12), p);
    // The server replies and waits on its set.
    let so = word(&req, 8);
    let rep = MsgBuilder::new(so, MACH_MSG_TYPE_MOVE_SEND_ONCE, 0, 0, 78).build();
    let (res, _) = rpc_fast(&mut w, A, &rep, set, blocked(B, reply));
    assert!(matches!(
        res,
        Some(RpcHandoff {
            key: WaitKey::Set(_),
            ..
        })
    ));
    // Receiving on a member of a set directly is not the fast path's business.
    assert!(rpc_fast(&mut w, A, &rep, p, blocked(B, reply)).0.is_none());
    w.assert_audit();
}

#[test]
fn rpc_fast_path_with_a_made_send_right() {
    // Client and server in one space: the request makes a send right from
    // the service port's receive right.
    let mut w1 = World::new();
    let p = w1.port(A);
    let reply = w1.port(A);
    let req = MsgBuilder::new(p, MACH_MSG_TYPE_MAKE_SEND, reply, MACH_MSG_TYPE_MAKE_SEND_ONCE, 5).build();
    w1.send(A, &req).unwrap();
    let general = w1.recv_ok(A, p);

    let mut w2 = World::new();
    assert_eq!((w2.port(A), w2.port(A)), (p, reply));
    let (res, fast) = rpc_fast(&mut w2, A, &req, reply, blocked(A, p));
    assert!(res.is_some());
    assert_eq!(fast, general);
    assert_eq!(mach_msgh_bits_local(word(&fast, 0)), MACH_MSG_TYPE_PORT_SEND);
    assert_eq!(w1.snapshot(A), w2.snapshot(A));
    w2.assert_audit();

    // With a no-senders request and no send right left, the made right's
    // release at receipt is a notification: the general path's business.
    let mut w3 = World::new();
    assert_eq!((w3.port(A), w3.port(A)), (p, reply));
    let notify = w3.port(B);
    let so = w3
        .ipc
        .port_extract_right(B, notify, MACH_MSG_TYPE_MAKE_SEND_ONCE as u32)
        .unwrap();
    // sync 1: armed, not fired, since no send right was ever made.
    w3.ipc
        .port_request_notification(A, p, MACH_NOTIFY_NO_SENDERS, 1, so)
        .unwrap();
    // The fast path sends it as well, with the same notification.
    let (res, fast) = rpc_fast(&mut w3, A, &req, reply, blocked(A, p));
    assert!(res.is_some());
    let fast_note = w3.recv_ok(B, notify);
    assert_eq!(id_of(&fast_note), MACH_NOTIFY_NO_SENDERS);
    w3.assert_empty(B, notify);
    w3.assert_audit();
    let mut w4 = World::new();
    assert_eq!((w4.port(A), w4.port(A), w4.port(B)), (p, reply, notify));
    let so = w4
        .ipc
        .port_extract_right(B, notify, MACH_MSG_TYPE_MAKE_SEND_ONCE as u32)
        .unwrap();
    w4.ipc
        .port_request_notification(A, p, MACH_NOTIFY_NO_SENDERS, 1, so)
        .unwrap();
    w4.send(A, &req).unwrap();
    assert_eq!(w4.recv_ok(A, p), fast);
    assert_eq!(w4.recv_ok(B, notify), fast_note);
    assert_eq!(word(&fast_note, 24), 1);
    assert_eq!(w3.snapshot(A), w4.snapshot(A));
    w4.assert_audit();
}

#[test]
fn rpc_fast_path_carries_inline_data() {
    let (mut w1, p, s, reply) = rpc_world();
    let data: Vec<u8> = (0..200u8).collect();
    let req = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, reply, MACH_MSG_TYPE_MAKE_SEND_ONCE, 9)
        .data(&data)
        .build();
    w1.send(B, &req).unwrap();
    let general = w1.recv_ok(A, p);

    let (mut w2, ..) = rpc_world();
    let (res, fast) = rpc_fast(&mut w2, B, &req, reply, blocked(A, p));
    assert!(res.is_some());
    assert_eq!(fast, general);
    assert_eq!(word(&fast, 4) as usize, req.len());
    w2.assert_audit();
    // Too little room for the data: the general path's business.
    let (mut w3, ..) = rpc_world();
    let room = Some(BlockedReceiver {
        space: A,
        name: p,
        capacity: (req.len() + MACH_MSG_TRAILER_SIZE - 4) as u32,
    });
    assert!(rpc_fast(&mut w3, B, &req, reply, room).0.is_none());
    // Messages past the fast path's limit, and complex ones, decline too.
    let big = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 9)
        .data(&vec![1u8; crate::ipc::simple::MAX_INLINE])
        .build();
    assert!(rpc_fast(&mut w3, B, &big, reply, blocked(A, p)).0.is_none());
    let complex = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 9)
        .port(reply, MACH_MSG_TYPE_MAKE_SEND)
        .build();
    assert!(rpc_fast(&mut w3, B, &complex, reply, blocked(A, p)).0.is_none());
    w3.assert_audit();
}
