//! Dead names and dead ports in messages: moving or copying a dead name,
//! a send-once name whose port died, a right whose port dies while it is
//! in flight, and dispositions a name's right does not allow.

use super::harness::*;
use crate::ipc::name;
use mach_abi::kern_return::*;
use mach_abi::message::*;
use mach_abi::port::*;

/// A receives on `p`; B holds a send right named `s`.
fn pair() -> (World, u32, u32) {
    let mut w = World::new();
    let p = w.port(A);
    let s = w.give_send(A, p, B);
    (w, p, s)
}

/// A dead name with `urefs` user references in B (the send right of a
/// port of A that was destroyed).
fn dead_name(w: &mut World, urefs: u32) -> u32 {
    let q = w.port(A);
    let d = w.give_send(A, q, B);
    if urefs > 1 {
        w.ipc
            .port_mod_refs(B, d, MACH_PORT_RIGHT_SEND, urefs as i32 - 1)
            .unwrap();
    }
    w.ipc.port_destroy(A, q).unwrap();
    assert_eq!(w.ipc.port_type(B, d), Ok(MACH_PORT_TYPE_DEAD_NAME));
    d
}

fn send_port(w: &mut World, s: u32, name: u32, disposition: u8) -> std::vec::Vec<u8> {
    let msg = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1)
        .port(name, disposition)
        .build();
    assert_eq!(w.send(B, &msg), Ok(crate::ipc::msg::SendOutcome::Sent));
    msg
}

#[test]
fn moving_a_dead_name_takes_one_reference_and_copying_takes_none() {
    let (mut w, p, s) = pair();
    let d = dead_name(&mut w, 2);
    send_port(&mut w, s, d, MACH_MSG_TYPE_COPY_SEND);
    assert_eq!(w.ipc.port_get_refs(B, d, MACH_PORT_RIGHT_DEAD_NAME), Ok(2));
    send_port(&mut w, s, d, MACH_MSG_TYPE_MOVE_SEND);
    assert_eq!(w.ipc.port_get_refs(B, d, MACH_PORT_RIGHT_DEAD_NAME), Ok(1));
    send_port(&mut w, s, d, MACH_MSG_TYPE_MOVE_SEND);
    assert_eq!(
        w.ipc.port_type(B, d),
        Err(KERN_INVALID_NAME),
        "the last reference moved"
    );
    for _ in 0..3 {
        let got = w.recv_ok(A, p);
        assert_eq!(word(&got, 28), MACH_PORT_DEAD, "a dead name arrives as MACH_PORT_DEAD");
    }
    w.assert_audit();
}

#[test]
fn moving_a_dead_send_once_name_frees_it() {
    let (mut w, p, s) = pair();
    let q = w.port(A);
    let so = w
        .ipc
        .port_extract_right(A, q, MACH_MSG_TYPE_MAKE_SEND_ONCE as u32)
        .unwrap();
    let n = name::make(700, 0);
    w.ipc.port_insert_right(B, n, so).unwrap();
    w.ipc.port_destroy(A, q).unwrap();
    assert_eq!(w.ipc.port_type(B, n), Ok(MACH_PORT_TYPE_DEAD_NAME));
    send_port(&mut w, s, n, MACH_MSG_TYPE_MOVE_SEND_ONCE);
    assert_eq!(w.ipc.port_type(B, n), Err(KERN_INVALID_NAME));
    let got = w.recv_ok(A, p);
    assert_eq!(word(&got, 28), MACH_PORT_DEAD);
    w.assert_audit();
}

#[test]
fn a_send_once_name_whose_port_died_frees_the_port_when_it_turns_dead() {
    let mut w = World::new();
    let _keep = w.port(A);
    let q = w.port(A);
    let so = w
        .ipc
        .port_extract_right(A, q, MACH_MSG_TYPE_MAKE_SEND_ONCE as u32)
        .unwrap();
    let n = name::make(700, 0);
    w.ipc.port_insert_right(B, n, so).unwrap();
    w.ipc.port_destroy(A, q).unwrap();
    assert_eq!(
        w.ipc.object_counts().0,
        2,
        "the send-once right still holds the dead port"
    );
    assert_eq!(w.ipc.port_type(B, n), Ok(MACH_PORT_TYPE_DEAD_NAME));
    assert_eq!(w.ipc.port_get_refs(B, n, MACH_PORT_RIGHT_DEAD_NAME), Ok(1));
    assert_eq!(w.ipc.object_counts().0, 1, "the dead port is freed");
    w.assert_audit();
}

#[test]
fn a_send_right_whose_port_dies_in_flight_arrives_as_dead() {
    let (mut w, p, s) = pair();
    let q = w.port(B);
    send_port(&mut w, s, q, MACH_MSG_TYPE_MAKE_SEND);
    w.ipc.port_destroy(B, q).unwrap();
    let before = w.ipc.port_names(A).unwrap();
    let got = w.recv_ok(A, p);
    assert_eq!(word(&got, 28), MACH_PORT_DEAD);
    assert_eq!(w.ipc.port_names(A).unwrap(), before, "no name for the dead port");
    assert_eq!(w.ipc.object_counts(), (1, 0, 0));
    w.assert_audit();
}

#[test]
fn move_send_of_a_send_once_name_is_an_invalid_right() {
    let (mut w, p, s) = pair();
    let q = w.port(A);
    let so = w
        .ipc
        .port_extract_right(A, q, MACH_MSG_TYPE_MAKE_SEND_ONCE as u32)
        .unwrap();
    let n = name::make(700, 0);
    w.ipc.port_insert_right(B, n, so).unwrap();
    let before = w.snapshot(B);
    for disposition in [MACH_MSG_TYPE_MOVE_SEND, MACH_MSG_TYPE_COPY_SEND] {
        let msg = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1)
            .port(n, disposition)
            .build();
        assert_eq!(
            w.send(B, &msg),
            Err(MACH_SEND_INVALID_RIGHT),
            "disposition {disposition}"
        );
        assert_eq!(w.snapshot(B), before);
    }
    w.assert_empty(A, p);
    w.assert_audit();
}
