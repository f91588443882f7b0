//! mach_msg on the model: delivery, queue limits, sizes, error classes,
//! right and memory transfer, cycles.

use super::harness::*;
use crate::ipc::WaitKey;
use crate::ipc::msg::{ReceiveOutcome, SendOutcome};
use mach_abi::message::*;
use mach_abi::port::*;

/// A receives on `p`; B holds a send right named `s`.
fn pair() -> (World, u32, u32) {
    let mut w = World::new();
    let p = w.port(A);
    let s = w.give_send(A, p, B);
    (w, p, s)
}

#[test]
fn rpc_with_send_once_reply() {
    let (mut w, p, s) = pair();
    let reply = w.port(B);
    let msg = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, reply, MACH_MSG_TYPE_MAKE_SEND_ONCE, 1000)
        .data(b"hi")
        .build();
    assert_eq!(w.send(B, &msg), Ok(SendOutcome::Sent));
    let got = w.recv_ok(A, p);
    let bits = word(&got, 0);
    assert_eq!(mach_msgh_bits_remote(bits), MACH_MSG_TYPE_PORT_SEND_ONCE);
    assert_eq!(mach_msgh_bits_local(bits), MACH_MSG_TYPE_PORT_SEND);
    assert_eq!(word(&got, 4), 28);
    assert_eq!(word(&got, 12), p);
    assert_eq!(&got[24..26], b"hi");
    // Trailer: format 0, size 20, seqno 0, sender B.
    assert_eq!(word(&got, 28), 0);
    assert_eq!(word(&got, 32), MACH_MSG_TRAILER_SIZE as u32);
    assert_eq!(word(&got, 40), B as u32);
    let so = word(&got, 8);
    assert_eq!(w.ipc.port_type(A, so), Ok(MACH_PORT_TYPE_SEND_ONCE));
    let rep = MsgBuilder::new(so, MACH_MSG_TYPE_MOVE_SEND_ONCE, 0, 0, 1100).build();
    w.send(A, &rep).unwrap();
    assert_eq!(w.ipc.port_type(A, so), Err(mach_abi::kern_return::KERN_INVALID_NAME));
    let got = w.recv_ok(B, reply);
    assert_eq!(id_of(&got), 1100);
    assert_eq!(mach_msgh_bits_local(word(&got, 0)), MACH_MSG_TYPE_PORT_SEND_ONCE);
    w.assert_audit();
}

#[test]
fn queue_limit_blocks_but_send_once_gets_through() {
    let (mut w, p, s) = pair();
    for i in 0..MACH_PORT_QLIMIT_DEFAULT {
        let msg = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, i as i32).build();
        assert_eq!(w.send(B, &msg), Ok(SendOutcome::Sent));
    }
    let before = w.snapshot(B);
    let reply = w.port(B);
    let before_with_reply = w.snapshot(B);
    let msg = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, reply, MACH_MSG_TYPE_MAKE_SEND, 99).build();
    let pid = w.ipc.spaces[&A].get(p).unwrap().port().unwrap();
    assert_eq!(w.send(B, &msg), Ok(SendOutcome::WouldBlock(WaitKey::Space(pid))));
    assert_eq!(w.snapshot(B), before_with_reply, "a blocked send changes nothing");
    assert_ne!(before, before_with_reply);
    // A send-once message is not held back by the limit.
    let so = w
        .ipc
        .port_extract_right(A, p, MACH_MSG_TYPE_MAKE_SEND_ONCE as u32)
        .unwrap();
    let so_name = crate::ipc::name::make(900, 0);
    w.ipc.port_insert_right(B, so_name, so).unwrap();
    let msg = MsgBuilder::new(so_name, MACH_MSG_TYPE_MOVE_SEND_ONCE, 0, 0, 7).build();
    assert_eq!(w.send(B, &msg), Ok(SendOutcome::Sent));
    for i in 0..MACH_PORT_QLIMIT_DEFAULT {
        assert_eq!(id_of(&w.recv_ok(A, p)), i as i32);
    }
    assert_eq!(id_of(&w.recv_ok(A, p)), 7);
    w.assert_empty(A, p);
    w.assert_audit();
}

#[test]
fn rcv_large_keeps_message_and_small_buffer_destroys_it() {
    let (mut w, p, s) = pair();
    let notify = w.port(A);
    let r = w
        .ipc
        .port_extract_right(A, notify, MACH_MSG_TYPE_MAKE_SEND_ONCE as u32)
        .unwrap();
    let q = w.port(B);
    let prev = w
        .ipc
        .port_request_notification(B, q, MACH_NOTIFY_NO_SENDERS, 1, r)
        .unwrap();
    assert_eq!(prev, crate::ipc::KRight::NULL);
    let msg = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 5)
        .port(q, MACH_MSG_TYPE_MAKE_SEND)
        .data(&[1; 64])
        .build();
    w.send(B, &msg).unwrap();
    let size = msg.len() + MACH_MSG_TRAILER_SIZE;
    let out = w.ipc.msg_receive(A, p, 40, true, &mut w.mem[1]).unwrap();
    assert_eq!(out, ReceiveOutcome::TooLarge { needed: size });
    assert_eq!(
        w.ipc.msg_receive(A, p, 40, false, &mut w.mem[1]),
        Err(MACH_RCV_TOO_LARGE)
    );
    // The destroyed message's send right was the last: no-senders fired.
    let n = w.recv_ok(A, notify);
    assert_eq!(id_of(&n), MACH_NOTIFY_NO_SENDERS);
    assert_eq!(word(&n, 24), 1, "make-send count");
    w.assert_empty(A, p);
    w.assert_audit();
}

#[test]
fn header_errors_do_nothing() {
    let (mut w, _p, s) = pair();
    let before = w.snapshot(B);
    let good = MsgBuilder::new(s, MACH_MSG_TYPE_MOVE_SEND, 0, 0, 1).build();
    assert_eq!(w.send(B, &[]), Err(MACH_SEND_MSG_TOO_SMALL));
    assert_eq!(w.send(B, &good[..20]), Err(MACH_SEND_MSG_TOO_SMALL));
    let mut unaligned = good.clone();
    unaligned.push(0);
    assert_eq!(w.send(B, &unaligned), Err(MACH_SEND_MSG_TOO_SMALL));
    let huge = std::vec![0u8; MACH_MSG_SIZE_MAX as usize + 4];
    assert_eq!(w.send(B, &huge), Err(MACH_SEND_TOO_LARGE));
    let mut bad_bits = good.clone();
    bad_bits[0..4].copy_from_slice(&(mach_msgh_bits(MACH_MSG_TYPE_MOVE_SEND, 0) | 0x4000_0000).to_le_bytes());
    assert_eq!(w.send(B, &bad_bits), Err(MACH_SEND_INVALID_HEADER));
    let bad_disp = MsgBuilder::new(s, 3, 0, 0, 1).build();
    assert_eq!(w.send(B, &bad_disp), Err(MACH_SEND_INVALID_HEADER));
    let recv_dest = MsgBuilder::new(s, MACH_MSG_TYPE_MOVE_RECEIVE, 0, 0, 1).build();
    assert_eq!(w.send(B, &recv_dest), Err(MACH_SEND_INVALID_HEADER));
    for dest in [MACH_PORT_NULL, MACH_PORT_DEAD, s + 1, 0x7777_7700] {
        let m = MsgBuilder::new(dest, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1).build();
        assert_eq!(w.send(B, &m), Err(MACH_SEND_INVALID_DEST), "dest {dest:#x}");
    }
    let bad_reply = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0x5555_5500, MACH_MSG_TYPE_MAKE_SEND_ONCE, 1).build();
    assert_eq!(w.send(B, &bad_reply), Err(MACH_SEND_INVALID_REPLY));
    // Same name as destination and reply, MOVE_SEND twice with one uref.
    let twice = MsgBuilder::new(s, MACH_MSG_TYPE_MOVE_SEND, s, MACH_MSG_TYPE_MOVE_SEND, 1).build();
    assert_eq!(w.send(B, &twice), Err(MACH_SEND_INVALID_DEST));
    // Descriptor area problems.
    let mut too_many = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1)
        .port(s, MACH_MSG_TYPE_COPY_SEND)
        .build();
    too_many[24..28].copy_from_slice(&2u32.to_le_bytes());
    assert_eq!(w.send(B, &too_many), Err(MACH_SEND_MSG_TOO_SMALL));
    too_many[24..28].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(w.send(B, &too_many), Err(MACH_SEND_MSG_TOO_SMALL));
    let mut bad_type = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1)
        .port(s, MACH_MSG_TYPE_COPY_SEND)
        .build();
    bad_type[28 + 11] = 9;
    assert_eq!(w.send(B, &bad_type), Err(MACH_SEND_INVALID_TYPE));
    let bad_desc_disp = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1).port(s, 2).build();
    assert_eq!(w.send(B, &bad_desc_disp), Err(MACH_SEND_INVALID_TYPE));
    let mut no_body = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1).build();
    no_body[0..4].copy_from_slice(&(mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, 0) | MACH_MSGH_BITS_COMPLEX).to_le_bytes());
    assert_eq!(w.send(B, &no_body), Err(MACH_SEND_MSG_TOO_SMALL));
    assert_eq!(w.snapshot(B), before);
    w.assert_audit();
}

#[test]
fn body_errors_destroy_the_message() {
    let (mut w, p, s) = pair();
    w.ipc.port_mod_refs(B, s, MACH_PORT_RIGHT_SEND, 2).unwrap();
    let q = w.port(B);
    // Destination moved (one uref), then a good descriptor, then a bad one.
    let msg = MsgBuilder::new(s, MACH_MSG_TYPE_MOVE_SEND, 0, 0, 1)
        .port(q, MACH_MSG_TYPE_MAKE_SEND)
        .port(0x4444_4400, MACH_MSG_TYPE_COPY_SEND)
        .build();
    assert_eq!(w.send(B, &msg), Err(MACH_SEND_INVALID_RIGHT));
    assert_eq!(
        w.ipc.port_get_refs(B, s, MACH_PORT_RIGHT_SEND),
        Ok(2),
        "the destination's reference was consumed"
    );
    assert_eq!(
        w.ipc.port_type(B, q),
        Ok(MACH_PORT_TYPE_RECEIVE),
        "the made send right was destroyed"
    );
    w.assert_empty(A, p);
    let ool = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1)
        .ool(0xdead_0000, 100, false)
        .build();
    assert_eq!(w.send(B, &ool), Err(MACH_SEND_INVALID_MEMORY));
    let wrap = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1)
        .ool(u64::MAX - 10, 100, false)
        .build();
    assert_eq!(w.send(B, &wrap), Err(MACH_SEND_INVALID_MEMORY));
    w.assert_audit();
}

#[test]
fn receive_right_moves_with_its_queue() {
    let (mut w, p, s) = pair();
    let q = w.port(B);
    let sq = w.give_send(B, q, B);
    let m1 = MsgBuilder::new(sq, MACH_MSG_TYPE_COPY_SEND, 0, 0, 11).build();
    w.send(B, &m1).unwrap();
    let msg = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1)
        .port(q, MACH_MSG_TYPE_MOVE_RECEIVE)
        .build();
    w.send(B, &msg).unwrap();
    // B keeps only its send right.
    assert_eq!(w.ipc.port_type(B, sq), Ok(MACH_PORT_TYPE_SEND));
    let got = w.recv_ok(A, p);
    let nq = word(&got, 28);
    assert_eq!(got[28 + 10], MACH_MSG_TYPE_PORT_RECEIVE);
    assert_eq!(w.ipc.port_type(A, nq), Ok(MACH_PORT_TYPE_RECEIVE));
    assert_eq!(id_of(&w.recv_ok(A, nq)), 11);
    w.assert_audit();
}

#[test]
fn out_of_line_memory_and_ports() {
    let (mut w, p, s) = pair();
    let data: std::vec::Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
    let addr = w.mem[B as usize].put(&data);
    let q = w.port(B);
    let names = [q, q, MACH_PORT_NULL];
    let mut nb = std::vec::Vec::new();
    for n in names {
        nb.extend_from_slice(&n.to_le_bytes());
    }
    let arr = w.mem[B as usize].put(&nb);
    let msg = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 3)
        .ool(addr, data.len() as u32, true)
        .ool_ports(arr, 3, MACH_MSG_TYPE_MAKE_SEND)
        .build();
    w.send(B, &msg).unwrap();
    assert!(
        w.mem[B as usize].region(addr).is_none(),
        "deallocate moved the region out of the sender"
    );
    let got = w.recv_ok(A, p);
    let raddr = u64::from(word(&got, 28)) | (u64::from(word(&got, 32)) << 32);
    assert_eq!(w.mem[A as usize].region(raddr).unwrap(), &data);
    let paddr = u64::from(word(&got, 44)) | (u64::from(word(&got, 48)) << 32);
    let pn = w.mem[A as usize].region(paddr).unwrap().clone();
    let (n0, n1, n2) = (word(&pn, 0), word(&pn, 4), word(&pn, 8));
    assert_eq!(n0, n1, "two send rights for one port merge under one name");
    assert_eq!(n2, MACH_PORT_NULL);
    assert_eq!(w.ipc.port_get_refs(A, n0, MACH_PORT_RIGHT_SEND), Ok(2));
    w.assert_audit();
}

#[test]
fn receive_right_sent_to_itself_is_collected() {
    let mut w = World::new();
    let p = w.port(A);
    let s = w.give_send(A, p, A);
    assert_eq!(s, p);
    let msg = MsgBuilder::new(p, MACH_MSG_TYPE_MAKE_SEND, 0, 0, 1)
        .port(p, MACH_MSG_TYPE_MOVE_RECEIVE)
        .build();
    assert_eq!(w.send(A, &msg), Ok(SendOutcome::Sent));
    // The send right A kept is now a dead name; nothing else is left.
    assert_eq!(w.ipc.port_type(A, p), Ok(MACH_PORT_TYPE_DEAD_NAME));
    w.ipc.port_deallocate(A, p).unwrap();
    assert_eq!(w.ipc.object_counts(), (0, 0, 0));
    w.assert_audit();
}

#[test]
fn cycle_of_receive_rights_is_collected() {
    let mut w = World::new();
    let a = w.port(A);
    let b = w.port(A);
    w.give_send(A, b, A);
    // b's receive right goes into a's queue...
    let m1 = MsgBuilder::new(a, MACH_MSG_TYPE_MAKE_SEND, 0, 0, 1)
        .port(b, MACH_MSG_TYPE_MOVE_RECEIVE)
        .build();
    w.send(A, &m1).unwrap();
    // ...then a's receive right into b's queue: a cycle nobody can receive from.
    let m2 = MsgBuilder::new(b, MACH_MSG_TYPE_COPY_SEND, 0, 0, 2)
        .port(a, MACH_MSG_TYPE_MOVE_RECEIVE)
        .build();
    assert_eq!(w.send(A, &m2), Ok(SendOutcome::Sent));
    assert_eq!(w.ipc.port_type(A, b), Ok(MACH_PORT_TYPE_DEAD_NAME));
    w.ipc.port_deallocate(A, b).unwrap();
    assert_eq!(w.ipc.object_counts(), (0, 0, 0));
    w.assert_audit();
}

#[test]
fn space_destruction_returns_to_baseline() {
    let (mut w, p, s) = pair();
    let reply = w.port(B);
    for i in 0..3 {
        let msg = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, reply, MACH_MSG_TYPE_MAKE_SEND_ONCE, i)
            .port(reply, MACH_MSG_TYPE_MAKE_SEND)
            .build();
        w.send(B, &msg).unwrap();
    }
    let set = w.ipc.port_allocate(A, MACH_PORT_RIGHT_PORT_SET).unwrap();
    let _ = p;
    let _ = set;
    w.ipc.space_destroy(A);
    w.assert_audit();
    w.ipc.space_destroy(B);
    assert_eq!(w.ipc.object_counts(), (0, 0, 0));
    w.assert_audit();
}

#[test]
fn dead_destination_gives_invalid_dest() {
    let (mut w, p, s) = pair();
    w.ipc.port_destroy(A, p).unwrap();
    let msg = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1).build();
    assert_eq!(w.send(B, &msg), Err(MACH_SEND_INVALID_DEST));
    w.assert_audit();
}

#[test]
fn truncations_and_corruptions_never_panic() {
    let (mut w, _p, s) = pair();
    let q = w.port(B);
    let msg = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, q, MACH_MSG_TYPE_MAKE_SEND_ONCE, 1)
        .port(q, MACH_MSG_TYPE_MAKE_SEND)
        .ool(0x1000, 16, false)
        .data(&[9; 8])
        .build();
    for len in 0..msg.len() {
        let _ = w.send(B, &msg[..len]);
    }
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..3000 {
        let mut m = msg.clone();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let i = (x as usize) % m.len();
        m[i] = (x >> 32) as u8;
        let _ = w.send(B, &m);
        let _ = w.ipc.msg_receive(A, _p, 1 << 16, false, &mut w.mem[1]);
    }
    w.assert_audit();
    w.ipc.space_destroy(A);
    w.ipc.space_destroy(B);
    assert_eq!(w.ipc.object_counts(), (0, 0, 0));
    w.assert_audit();
}

#[test]
fn message_memory_budget_refuses_instead_of_exhausting_the_heap() {
    let (mut w, p, s) = pair();
    w.ipc.set_message_memory_limit(3 * 4096);
    w.ipc.port_set_qlimit(A, p, 16).unwrap();
    let data = std::vec![5u8; 4000];
    let addr = w.mem[B as usize].put(&data);
    let msg = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1)
        .ool(addr, 4000, false)
        .build();
    let mut sent = 0;
    let refused = loop {
        match w.send(B, &msg) {
            Ok(SendOutcome::Sent) => sent += 1,
            other => break other,
        }
        assert!(sent < 16, "the budget never ran out");
    };
    assert_eq!(refused, Err(MACH_SEND_NO_BUFFER));
    assert!(sent >= 1);
    w.assert_audit();
    for _ in 0..sent {
        w.recv_ok(A, p);
    }
    assert_eq!(w.ipc.message_memory(), 0, "receiving gives the budget back");
    assert_eq!(w.send(B, &msg), Ok(SendOutcome::Sent));
    w.assert_audit();
}

#[test]
fn destroying_a_port_set_wakes_its_receivers() {
    let mut w = World::new();
    let p = w.port(A);
    let set = w.ipc.port_allocate(A, MACH_PORT_RIGHT_PORT_SET).unwrap();
    w.ipc.port_move_member(A, p, set).unwrap();
    let key = match w.recv(A, set) {
        Ok(ReceiveOutcome::WouldBlock(k)) => k,
        other => panic!("expected to wait, got {other:?}"),
    };
    assert!(matches!(key, WaitKey::Set(_)));
    w.ipc.take_wakeups();
    w.ipc.port_destroy(A, set).unwrap();
    assert!(w.ipc.take_wakeups().contains(&key));
    // The woken receiver's retry fails: the name is gone.
    assert_eq!(w.recv(A, set), Err(MACH_RCV_INVALID_NAME));
    w.assert_audit();
}

#[test]
fn move_send_and_copy_send_of_one_reference_on_one_name() {
    // As XNU: the copy is taken before the move, so one user reference is
    // enough; the receiver gets both send rights (merged under its name).
    let mut w = World::new();
    let p = w.port(A);
    let s = w.give_send(A, p, B);
    let msg = MsgBuilder::new(s, MACH_MSG_TYPE_MOVE_SEND, s, MACH_MSG_TYPE_COPY_SEND, 3).build();
    assert_eq!(w.send(B, &msg), Ok(SendOutcome::Sent));
    assert_eq!(w.ipc.port_type(B, s), Err(mach_abi::kern_return::KERN_INVALID_NAME));
    let got = w.recv_ok(A, p);
    assert_eq!((word(&got, 8), word(&got, 12)), (p, p));
    assert_eq!(w.ipc.port_type(A, p), Ok(MACH_PORT_TYPE_SEND | MACH_PORT_TYPE_RECEIVE));
    assert_eq!(w.ipc.port_get_refs(A, p, MACH_PORT_RIGHT_SEND), Ok(1));
    w.assert_audit();
    // With MAKE_SEND of a receive right that also holds the send right.
    let q = w.port(B);
    let own = w.give_send(B, q, B);
    let msg = MsgBuilder::new(own, MACH_MSG_TYPE_MOVE_SEND, own, MACH_MSG_TYPE_MAKE_SEND, 4).build();
    assert_eq!(w.send(B, &msg), Ok(SendOutcome::Sent));
    assert_eq!(w.ipc.port_type(B, q), Ok(MACH_PORT_TYPE_RECEIVE));
    let got = w.recv_ok(B, q);
    assert_eq!(word(&got, 8), q);
    assert_eq!(w.ipc.port_get_refs(B, q, MACH_PORT_RIGHT_SEND), Ok(1));
    w.assert_audit();
    // Two moves of one reference: refused, and nothing changed.
    let s = w.give_send(A, p, B);
    let before = w.snapshot(B);
    let msg = MsgBuilder::new(s, MACH_MSG_TYPE_MOVE_SEND, s, MACH_MSG_TYPE_MOVE_SEND, 5).build();
    assert_eq!(w.send(B, &msg), Err(MACH_SEND_INVALID_DEST));
    assert_eq!(w.snapshot(B), before);
    w.assert_audit();
}

#[test]
fn a_dead_reply_name_travels_as_itself() {
    let mut w = World::new();
    let p = w.port(A);
    let s = w.give_send(A, p, B);
    let msg = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, MACH_PORT_DEAD, MACH_MSG_TYPE_COPY_SEND, 3).build();
    assert_eq!(w.send(B, &msg), Ok(SendOutcome::Sent));
    let got = w.recv_ok(A, p);
    assert_eq!(word(&got, 8), MACH_PORT_DEAD);
    assert_eq!(mach_msgh_bits_remote(word(&got, 0)), MACH_MSG_TYPE_PORT_SEND);
    // The null name with a disposition is no reply at all.
    let msg = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, MACH_PORT_NULL, MACH_MSG_TYPE_COPY_SEND, 4).build();
    assert_eq!(w.send(B, &msg), Ok(SendOutcome::Sent));
    let got = w.recv_ok(A, p);
    assert_eq!((word(&got, 8), mach_msgh_bits_remote(word(&got, 0))), (0, 0));
    w.assert_audit();
}

#[test]
fn a_buffer_of_exactly_the_size_needed_receives() {
    let mut w = World::new();
    let p = w.port(A);
    let s = w.give_send(A, p, B);
    let msg = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 3)
        .data(&[1; 8])
        .build();
    let needed = msg.len() + MACH_MSG_TRAILER_SIZE;
    for large in [true, false] {
        w.send(B, &msg).unwrap();
        w.send(B, &msg).unwrap();
        match w.ipc.msg_receive(A, p, needed - 4, large, &mut w.mem[1]) {
            Ok(ReceiveOutcome::TooLarge { needed: n }) => assert!(large && n == needed),
            Err(e) => assert!(!large && e == MACH_RCV_TOO_LARGE),
            other => panic!("{other:?}"),
        }
        for _ in 0..if large { 2 } else { 1 } {
            match w.ipc.msg_receive(A, p, needed, large, &mut w.mem[1]) {
                Ok(ReceiveOutcome::Message { bytes, .. }) => assert_eq!(bytes.len(), needed),
                other => panic!("{other:?}"),
            }
        }
    }
    w.assert_empty(A, p);
    w.assert_audit();
}

#[test]
fn receiving_on_a_send_right_is_an_invalid_name() {
    let mut w = World::new();
    let p = w.port(A);
    let s = w.give_send(A, p, B);
    let own = w.give_send(A, p, A);
    assert_eq!(own, p);
    let q = w.port(B);
    let s2 = w.give_send(B, q, B);
    w.send(B, &MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 3).build())
        .unwrap();
    assert_eq!(w.recv(B, s), Err(MACH_RCV_INVALID_NAME));
    assert_eq!(w.recv(B, 0x7777), Err(MACH_RCV_INVALID_NAME));
    assert!(matches!(w.recv(B, s2), Ok(ReceiveOutcome::WouldBlock(_))));
    let d = w.ipc.port_allocate(B, MACH_PORT_RIGHT_DEAD_NAME).unwrap();
    assert_eq!(w.recv(B, d), Err(MACH_RCV_INVALID_NAME));
    assert_eq!(id_of(&w.recv_ok(A, p)), 3);
    w.assert_audit();
}

#[test]
fn a_send_once_right_moved_as_the_reply() {
    let mut w = World::new();
    let p = w.port(A);
    let s = w.give_send(A, p, B);
    let q = w.port(B);
    let so = w
        .ipc
        .port_extract_right(B, q, MACH_MSG_TYPE_MAKE_SEND_ONCE as u32)
        .unwrap();
    w.ipc.port_insert_right(B, 0x9007, so).unwrap();
    let msg = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0x9007, MACH_MSG_TYPE_MOVE_SEND_ONCE, 3).build();
    assert_eq!(w.send(B, &msg), Ok(SendOutcome::Sent));
    assert_eq!(
        w.ipc.port_type(B, 0x9007),
        Err(mach_abi::kern_return::KERN_INVALID_NAME)
    );
    let got = w.recv_ok(A, p);
    assert_eq!(mach_msgh_bits_remote(word(&got, 0)), MACH_MSG_TYPE_PORT_SEND_ONCE);
    assert_eq!(w.ipc.port_type(A, word(&got, 8)), Ok(MACH_PORT_TYPE_SEND_ONCE));
    w.assert_audit();
}
