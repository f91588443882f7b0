//! The edges of a message being sent and received: the size and count
//! limits (exactly at a limit passes, one past it fails), truncated
//! descriptors, empty regions and arrays, the deallocate flag of port
//! arrays, addresses above 4 GiB, the message-memory charge of a message in
//! flight, and the caller's receive buffer.

use super::harness::*;
use crate::ipc::kmsg::KMSG_OVERHEAD;
use crate::ipc::msg::{ReceiveStatus, SendOutcome};
use mach_abi::message::*;
use std::vec::Vec;

/// A receives on `p`; B holds a send right named `s`.
fn pair() -> (World, u32, u32) {
    let mut w = World::new();
    let p = w.port(A);
    let s = w.give_send(A, p, B);
    (w, p, s)
}

fn names_bytes(names: &[u32]) -> Vec<u8> {
    names.iter().flat_map(|n| n.to_le_bytes()).collect()
}

fn addr_at(got: &[u8], off: usize) -> u64 {
    u64::from(word(got, off)) | (u64::from(word(got, off + 4)) << 32)
}

#[test]
fn a_message_of_exactly_the_size_limit_is_sent() {
    let (mut w, p, s) = pair();
    let max = MACH_MSG_SIZE_MAX as usize;
    let msg = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1)
        .data(&std::vec![7; max - MACH_MSG_HEADER_SIZE])
        .build();
    assert_eq!(msg.len(), max);
    assert_eq!(w.send(B, &msg), Ok(SendOutcome::Sent));
    let got = w
        .ipc
        .msg_receive(A, p, max + MACH_MSG_TRAILER_SIZE, false, &mut w.mem[A as usize])
        .unwrap();
    let crate::ipc::msg::ReceiveOutcome::Message { bytes, status } = got else {
        panic!("expected the message, got {got:?}");
    };
    assert_eq!(status, MACH_MSG_SUCCESS);
    assert_eq!(word(&bytes, 4) as usize, max);
    w.assert_audit();
}

#[test]
fn a_complex_message_with_no_descriptors_is_sent() {
    let (mut w, p, s) = pair();
    let mut msg = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 4).build();
    let bits = word(&msg, 0) | MACH_MSGH_BITS_COMPLEX;
    msg[0..4].copy_from_slice(&bits.to_le_bytes());
    msg.extend_from_slice(&0u32.to_le_bytes());
    let n = msg.len() as u32;
    msg[4..8].copy_from_slice(&n.to_le_bytes());
    assert_eq!(w.send(B, &msg), Ok(SendOutcome::Sent));
    let got = w.recv_ok(A, p);
    assert_ne!(word(&got, 0) & MACH_MSGH_BITS_COMPLEX, 0);
    assert_eq!(word(&got, 4) as usize, MACH_MSG_HEADER_SIZE + MACH_MSG_BODY_SIZE);
    assert_eq!(word(&got, 24), 0, "descriptor count");
    w.assert_audit();
}

/// A message carrying `n` null port descriptors.
fn null_ports(s: u32, n: u32) -> Vec<u8> {
    let mut b = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1);
    for _ in 0..n {
        b = b.port(MACH_PORT_NULL, MACH_MSG_TYPE_COPY_SEND);
    }
    b.build()
}

#[test]
fn the_descriptor_count_limit_is_inclusive() {
    let (mut w, p, s) = pair();
    let at_limit = null_ports(s, MACH_MSG_DESCRIPTORS_MAX);
    assert_eq!(w.send(B, &at_limit), Ok(SendOutcome::Sent));
    let got = w.recv_ok(A, p);
    assert_eq!(word(&got, 24), MACH_MSG_DESCRIPTORS_MAX);
    let before = w.snapshot(B);
    let over = null_ports(s, MACH_MSG_DESCRIPTORS_MAX + 1);
    assert!(over.len() <= MACH_MSG_SIZE_MAX as usize);
    assert_eq!(w.send(B, &over), Err(MACH_SEND_MSG_TOO_SMALL));
    assert_eq!(w.snapshot(B), before);
    w.assert_empty(A, p);
    w.assert_audit();
}

#[test]
fn a_descriptor_cut_short_is_too_small() {
    let (mut w, p, s) = pair();
    let addr = w.mem[B as usize].put(&[1; 64]);
    let full = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1)
        .ool(addr, 64, false)
        .build();
    // Keep the descriptor's first 12 of 16 bytes (its type byte is still there).
    let mut cut = full[..full.len() - 4].to_vec();
    let n = cut.len() as u32;
    cut[4..8].copy_from_slice(&n.to_le_bytes());
    let before = w.snapshot(B);
    assert_eq!(w.send(B, &cut), Err(MACH_SEND_MSG_TOO_SMALL));
    assert_eq!(w.snapshot(B), before);
    w.assert_empty(A, p);
    assert_eq!(w.send(B, &full), Ok(SendOutcome::Sent));
    w.assert_audit();
}

#[test]
fn out_of_line_total_limit_is_inclusive() {
    let (mut w, p, s) = pair();
    let max = MACH_MSG_OOL_SIZE_MAX;
    let big = w.mem[B as usize].put(&std::vec![3; max as usize - 4096]);
    let rest = w.mem[B as usize].put(&[4; 4096 + 4]);
    let at_limit = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1)
        .ool(big, (max - 4096) as u32, false)
        .ool(rest, 4096, false)
        .build();
    assert_eq!(w.send(B, &at_limit), Ok(SendOutcome::Sent));
    let got = w.recv_ok(A, p);
    assert_eq!(w.mem[A as usize].region(addr_at(&got, 44)).unwrap().len(), 4096);
    let over = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1)
        .ool(big, (max - 4096) as u32, false)
        .ool(rest, 4096 + 4, false)
        .build();
    assert_eq!(w.send(B, &over), Err(MACH_SEND_TOO_LARGE));
    w.assert_empty(A, p);
    assert_eq!(w.ipc.message_memory(), 0);
    w.assert_audit();
}

#[test]
fn empty_regions_and_arrays_need_no_memory() {
    let (mut w, p, s) = pair();
    w.mem[B as usize].virtual_copies = true;
    // Neither address is mapped: nothing is read, nothing deallocated.
    let msg = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1)
        .ool(0xdead_0000, 0, true)
        .ool_virtual(0xbeef_0000, 0, false)
        .ool_ports(0xfeed_0000, 0, MACH_MSG_TYPE_COPY_SEND)
        .build();
    let mut msg = msg;
    msg[28 + 32 + 8] = 1; // the port array's deallocate flag
    assert_eq!(w.send(B, &msg), Ok(SendOutcome::Sent));
    assert!(
        w.mem[B as usize].deallocated.is_empty(),
        "{:?}",
        w.mem[B as usize].deallocated
    );
    assert_eq!(copies_in_flight(), 0);
    let got = w.recv_ok(A, p);
    for d in 0..3 {
        let at = 28 + 16 * d;
        assert_eq!(addr_at(&got, at), 0, "descriptor {d} address");
        assert_eq!(word(&got, at + 12), 0, "descriptor {d} size");
    }
    w.assert_audit();
}

#[test]
fn the_deallocate_flag_of_a_port_array_frees_the_senders_array() {
    let (mut w, p, s) = pair();
    let q = w.port(B);
    for dealloc in [false, true] {
        let arr = w.mem[B as usize].put(&names_bytes(&[q, q]));
        let mut msg = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1)
            .ool_ports(arr, 2, MACH_MSG_TYPE_MAKE_SEND)
            .build();
        msg[28 + 8] = dealloc as u8;
        assert_eq!(w.send(B, &msg), Ok(SendOutcome::Sent));
        assert_eq!(w.mem[B as usize].region(arr).is_none(), dealloc, "deallocate {dealloc}");
        let expected: &[(u64, u64)] = if dealloc { &[(arr, 8)] } else { &[] };
        assert_eq!(w.mem[B as usize].deallocated, expected);
        w.recv_ok(A, p);
    }
    w.assert_audit();
}

#[test]
fn the_port_array_limit_is_inclusive() {
    let (mut w, p, s) = pair();
    let max = MACH_MSG_OOL_PORTS_MAX;
    let arr = w.mem[B as usize].put(&std::vec![0; (max as usize + 1) * 4]);
    let at_limit = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1)
        .ool_ports(arr, max, MACH_MSG_TYPE_COPY_SEND)
        .build();
    assert_eq!(w.send(B, &at_limit), Ok(SendOutcome::Sent));
    let got = w.recv_ok(A, p);
    assert_eq!(word(&got, 28 + 12), max);
    let over = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1)
        .ool_ports(arr, max + 1, MACH_MSG_TYPE_COPY_SEND)
        .build();
    assert_eq!(w.send(B, &over), Err(MACH_SEND_TOO_LARGE));
    w.assert_empty(A, p);
    w.assert_audit();
}

#[test]
fn a_bad_name_in_a_port_array_leaves_every_name_untouched() {
    let (mut w, p, s) = pair();
    let q = w.port(B);
    let r = w.port(B);
    let sq = w.give_send(B, q, B);
    let sr = w.give_send(B, r, B);
    // The bad name comes after good names moved out of the space.
    let arr = w.mem[B as usize].put(&names_bytes(&[sq, sr, 0x4444_4400]));
    let before = w.snapshot(B);
    let msg = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1)
        .ool_ports(arr, 3, MACH_MSG_TYPE_MOVE_SEND)
        .build();
    assert_eq!(w.send(B, &msg), Err(MACH_SEND_INVALID_RIGHT));
    assert_eq!(w.snapshot(B), before);
    w.assert_empty(A, p);
    w.assert_audit();
}

#[test]
fn message_memory_holds_each_messages_port_arrays_until_it_is_received() {
    let (mut w, p, s) = pair();
    let arr = w.mem[B as usize].put(&names_bytes(&[MACH_PORT_NULL; 8]));
    let m1 = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1)
        .ool_ports(arr, 8, MACH_MSG_TYPE_COPY_SEND)
        .build();
    let m2 = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 2)
        .ool_ports(arr, 3, MACH_MSG_TYPE_COPY_SEND)
        .build();
    let charge = |m: &[u8], count: u64| {
        m.len() as u64 + KMSG_OVERHEAD + core::mem::size_of::<crate::ipc::KRight>() as u64 * count
    };
    w.send(B, &m1).unwrap();
    assert_eq!(w.ipc.message_memory(), charge(&m1, 8));
    w.send(B, &m2).unwrap();
    assert_eq!(w.ipc.message_memory(), charge(&m1, 8) + charge(&m2, 3));
    assert_eq!(id_of(&w.recv_ok(A, p)), 1);
    assert_eq!(w.ipc.message_memory(), charge(&m2, 3));
    assert_eq!(id_of(&w.recv_ok(A, p)), 2);
    assert_eq!(w.ipc.message_memory(), 0);
}

#[test]
fn message_memory_holds_out_of_line_bytes_until_received() {
    let (mut w, p, s) = pair();
    let addr = w.mem[B as usize].put(&[9; 100]);
    let m1 = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1)
        .ool(addr, 100, false)
        .build();
    let m2 = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 2).build();
    w.send(B, &m1).unwrap();
    w.send(B, &m2).unwrap();
    let c2 = m2.len() as u64 + KMSG_OVERHEAD;
    assert_eq!(w.ipc.message_memory(), m1.len() as u64 + KMSG_OVERHEAD + 100 + c2);
    w.recv_ok(A, p);
    assert_eq!(w.ipc.message_memory(), c2);
}

#[test]
fn out_of_line_data_above_4_gib_is_read_from_its_address() {
    let (mut w, p, s) = pair();
    let high = 0x0000_0012_3456_0000u64;
    let data: Vec<u8> = (0..200u32).map(|i| i as u8).collect();
    w.mem[B as usize].regions.insert(high, data.clone());
    let msg = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1)
        .ool(high, 200, false)
        .build();
    assert_eq!(w.send(B, &msg), Ok(SendOutcome::Sent));
    let got = w.recv_ok(A, p);
    assert_eq!(w.mem[A as usize].region(addr_at(&got, 28)).unwrap(), &data);
}

#[test]
fn a_fresh_receive_buffer_is_allocated_at_exactly_the_message_size() {
    let (mut w, p, s) = pair();
    for body in [0usize, 4, 100] {
        let msg = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1)
            .data(&std::vec![1; body])
            .build();
        w.send(B, &msg).unwrap();
        let mut out = Vec::new();
        let st = w
            .ipc
            .msg_receive_into(A, p, 1 << 16, false, &mut w.mem[A as usize], &mut out)
            .unwrap();
        assert_eq!(st, ReceiveStatus::Message(MACH_MSG_SUCCESS));
        assert_eq!(out.len(), msg.len() + MACH_MSG_TRAILER_SIZE);
        assert_eq!(out.capacity(), out.len(), "body of {body}");
    }
}

#[test]
fn a_reused_receive_buffer_keeps_its_allocation() {
    let (mut w, p, s) = pair();
    let mut out = std::vec![0xee; 100];
    out.reserve_exact(4000);
    let (ptr, cap) = (out.as_ptr(), out.capacity());
    let msg = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 9)
        .data(b"abcd")
        .build();
    w.send(B, &msg).unwrap();
    w.ipc
        .msg_receive_into(A, p, 1 << 16, false, &mut w.mem[A as usize], &mut out)
        .unwrap();
    assert_eq!(out.len(), msg.len() + MACH_MSG_TRAILER_SIZE, "contents replaced");
    assert_eq!(&out[24..28], b"abcd");
    assert_eq!((out.as_ptr(), out.capacity()), (ptr, cap));
}

#[test]
fn a_kernel_message_carrying_a_receive_right_as_reply_to_its_own_port_is_destroyed() {
    // A receive right in a message queued on its own port could never be
    // received: header rights count as carried receive rights too.
    let mut w = World::new();
    let (port, right) = w.ipc.port_create_for_transfer();
    let to_self = w.ipc.make_send_right(port).unwrap();
    assert_eq!(right.kind, crate::ipc::RightKind::Receive);
    let m = crate::ipc::kmsg::KMsg {
        complex: false,
        id: 5,
        dest: to_self,
        reply: right,
        body: Vec::new(),
        descs: Vec::new(),
        sender: crate::ipc::KERNEL_SPACE,
        seqno: 0,
        charge: 0,
        account: 0,
    };
    w.ipc.kernel_send(m);
    assert!(!w.ipc.port_is_alive(port), "the cycle was destroyed");
    w.assert_audit();
}

#[test]
fn received_descriptors_say_what_arrived_and_nothing_else_changes() {
    let (mut w, p, s) = pair();
    w.mem[B as usize].virtual_copies = true;
    let q = w.port(B);
    let small = w.mem[B as usize].put(&[1; 40]);
    let large = w.mem[B as usize].put(&std::vec![2; 8192]);
    let arr = w.mem[B as usize].put(&names_bytes(&[q]));
    let mut msg = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 0x0102_0304)
        .port(q, MACH_MSG_TYPE_MAKE_SEND)
        .ool(small, 40, true)
        .ool_virtual(large, 8192, true)
        .port(q, MACH_MSG_TYPE_MAKE_SEND_ONCE)
        .ool_ports(arr, 1, MACH_MSG_TYPE_MAKE_SEND)
        .build();
    let ports_at = 28 + 12 + 16 + 16 + 12;
    msg[ports_at + 8] = 1; // deallocate the port array
    w.send(B, &msg).unwrap();
    assert_eq!(copies_in_flight(), 1);
    let got = w.recv_ok(A, p);
    // What the receiver's descriptors must say, field by field (names and
    // addresses are checked apart).
    let mut want = msg.clone();
    want[0..4].copy_from_slice(&(mach_msgh_bits(0, MACH_MSG_TYPE_PORT_SEND) | MACH_MSGH_BITS_COMPLEX).to_le_bytes());
    want[8..12].copy_from_slice(&MACH_PORT_NULL.to_le_bytes());
    want[12..16].copy_from_slice(&p.to_le_bytes());
    want[28 + 10] = MACH_MSG_TYPE_PORT_SEND;
    want[40 + 8] = 0;
    want[56 + 8] = 0;
    want[72 + 10] = MACH_MSG_TYPE_PORT_SEND_ONCE;
    want[ports_at + 8] = 0;
    want[ports_at + 10] = MACH_MSG_TYPE_PORT_SEND;
    let names_and_addrs = [28..32, 40..48, 56..64, 72..76, ports_at..ports_at + 8];
    let mut masked = got[..msg.len()].to_vec();
    for r in names_and_addrs.iter().cloned() {
        masked[r.clone()].copy_from_slice(&want[r]);
    }
    assert_eq!(masked, want);
    assert_eq!(w.mem[A as usize].region(addr_at(&got, 40)).unwrap(), &[1; 40]);
    assert_eq!(
        w.mem[A as usize].region(addr_at(&got, 56)).unwrap(),
        &std::vec![2; 8192]
    );
    let arr_got = w.mem[A as usize].region(addr_at(&got, ports_at)).unwrap();
    assert_eq!(word(arr_got, 0), word(&got, 28), "one name for the port's send rights");
    w.assert_audit();
}
