//! Names, rights and the mach_port_* calls.

use super::harness::*;
use crate::ipc::name;
use mach_abi::kern_return::*;
use mach_abi::message::*;
use mach_abi::port::*;

#[test]
fn allocate_receive_and_inspect() {
    let mut w = World::new();
    let p = w.port(A);
    assert_eq!(w.ipc.port_type(A, p), Ok(MACH_PORT_TYPE_RECEIVE));
    assert_eq!(w.ipc.port_get_refs(A, p, MACH_PORT_RIGHT_RECEIVE), Ok(1));
    assert_eq!(w.ipc.port_get_refs(A, p, MACH_PORT_RIGHT_SEND), Ok(0));
    assert_eq!(w.ipc.port_names(A).unwrap(), std::vec![(p, MACH_PORT_TYPE_RECEIVE)]);
    assert_eq!(w.ipc.port_allocate(A, 99), Err(KERN_INVALID_VALUE));
    w.assert_audit();
}

#[test]
fn make_send_merges_with_receive() {
    let mut w = World::new();
    let p = w.port(A);
    let n = w.give_send(A, p, A);
    assert_eq!(n, p);
    assert_eq!(w.ipc.port_type(A, p), Ok(MACH_PORT_TYPE_SEND_RECEIVE));
    let r = w.ipc.port_extract_right(A, p, MACH_MSG_TYPE_MAKE_SEND as u32).unwrap();
    w.ipc.port_insert_right(A, p, r).unwrap();
    assert_eq!(w.ipc.port_get_refs(A, p, MACH_PORT_RIGHT_SEND), Ok(2));
    w.assert_audit();
}

#[test]
fn bad_names_give_documented_errors() {
    let mut w = World::new();
    let p = w.port(A);
    for bad in [MACH_PORT_NULL, MACH_PORT_DEAD, 0x1234_5600, p + 1] {
        assert_eq!(w.ipc.port_type(A, bad), Err(KERN_INVALID_NAME), "name {bad:#x}");
        assert_eq!(w.ipc.port_deallocate(A, bad), Err(KERN_INVALID_NAME));
        assert_eq!(
            w.ipc.port_mod_refs(A, bad, MACH_PORT_RIGHT_SEND, 1),
            Err(KERN_INVALID_NAME)
        );
    }
    // A name valid only in another task.
    assert_eq!(w.ipc.port_type(B, p), Err(KERN_INVALID_NAME));
    // Wrong right type.
    assert_eq!(w.ipc.port_deallocate(A, p), Err(KERN_INVALID_RIGHT));
    assert_eq!(
        w.ipc.port_mod_refs(A, p, MACH_PORT_RIGHT_SEND, 1),
        Err(KERN_INVALID_RIGHT)
    );
    let set = w.ipc.port_allocate(A, MACH_PORT_RIGHT_PORT_SET).unwrap();
    assert_eq!(w.ipc.port_move_member(A, set, p), Err(KERN_INVALID_RIGHT));
    assert_eq!(w.ipc.port_set_qlimit(A, set, 3), Err(KERN_INVALID_RIGHT));
    w.assert_audit();
}

#[test]
fn urefs_overflow_is_an_error_never_a_wrap() {
    let mut w = World::new();
    let p = w.port(A);
    w.give_send(A, p, A);
    w.ipc
        .port_mod_refs(A, p, MACH_PORT_RIGHT_SEND, (MACH_PORT_UREFS_MAX - 1) as i32)
        .unwrap();
    assert_eq!(w.ipc.port_get_refs(A, p, MACH_PORT_RIGHT_SEND), Ok(MACH_PORT_UREFS_MAX));
    assert_eq!(
        w.ipc.port_mod_refs(A, p, MACH_PORT_RIGHT_SEND, 1),
        Err(KERN_UREFS_OVERFLOW)
    );
    assert_eq!(
        w.ipc.port_mod_refs(A, p, MACH_PORT_RIGHT_SEND, i32::MAX),
        Err(KERN_UREFS_OVERFLOW)
    );
    assert_eq!(
        w.ipc.port_mod_refs(A, p, MACH_PORT_RIGHT_SEND, i32::MIN),
        Err(KERN_INVALID_VALUE)
    );
    assert_eq!(w.ipc.port_get_refs(A, p, MACH_PORT_RIGHT_SEND), Ok(MACH_PORT_UREFS_MAX));
    // Inserting one more send right also refuses instead of wrapping.
    let r = w.ipc.port_extract_right(A, p, MACH_MSG_TYPE_MAKE_SEND as u32).unwrap();
    assert_eq!(w.ipc.port_insert_right(A, p, r), Err(KERN_UREFS_OVERFLOW));
    w.ipc.release_right(r);
    w.assert_audit();
}

#[test]
fn copyout_saturates_urefs() {
    let mut w = World::new();
    let p = w.port(A);
    let s = w.give_send(A, p, B);
    w.ipc
        .port_mod_refs(B, s, MACH_PORT_RIGHT_SEND, (MACH_PORT_UREFS_MAX - 1) as i32)
        .unwrap();
    let q = w.port(B);
    // A sends B another send right for p: B's urefs stay pegged, the right is released.
    let dest = w.give_send(B, q, A);
    let msg = MsgBuilder::new(dest, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1)
        .port(p, MACH_MSG_TYPE_MAKE_SEND)
        .build();
    w.send(A, &msg).unwrap();
    let got = w.recv_ok(B, q);
    assert_eq!(word(&got, 28), s);
    assert_eq!(w.ipc.port_get_refs(B, s, MACH_PORT_RIGHT_SEND), Ok(MACH_PORT_UREFS_MAX));
    w.assert_audit();
}

#[test]
fn stale_names_never_resolve_to_new_rights() {
    let mut w = World::new();
    let first = w.port(A);
    w.ipc.port_mod_refs(A, first, MACH_PORT_RIGHT_RECEIVE, -1).unwrap();
    let mut stale = std::vec![first];
    for _ in 0..(name::GEN_LIMIT + 10) {
        let n = w.port(A);
        for &old in &stale {
            assert_ne!(old, n, "a freed name was handed out again");
            assert_eq!(w.ipc.port_type(A, old), Err(KERN_INVALID_NAME));
        }
        w.ipc.port_mod_refs(A, n, MACH_PORT_RIGHT_RECEIVE, -1).unwrap();
        stale.push(n);
        if stale.len() > 8 {
            stale.remove(1);
        }
    }
    // The first slot's name never came back after its generation ran out.
    assert_eq!(w.ipc.port_type(A, first), Err(KERN_INVALID_NAME));
    w.assert_audit();
}

#[test]
fn receive_death_turns_send_rights_into_dead_names() {
    let mut w = World::new();
    let p = w.port(A);
    let s = w.give_send(A, p, B);
    w.ipc.port_mod_refs(B, s, MACH_PORT_RIGHT_SEND, 2).unwrap();
    w.ipc.port_destroy(A, p).unwrap();
    assert_eq!(w.ipc.port_type(B, s), Ok(MACH_PORT_TYPE_DEAD_NAME));
    assert_eq!(w.ipc.port_get_refs(B, s, MACH_PORT_RIGHT_DEAD_NAME), Ok(3));
    w.ipc.port_mod_refs(B, s, MACH_PORT_RIGHT_DEAD_NAME, -3).unwrap();
    assert_eq!(w.ipc.port_type(B, s), Err(KERN_INVALID_NAME));
    assert_eq!(w.ipc.object_counts(), (0, 0, 0));
    w.assert_audit();
}

#[test]
fn port_sets_move_members() {
    let mut w = World::new();
    let set = w.ipc.port_allocate(A, MACH_PORT_RIGHT_PORT_SET).unwrap();
    let p = w.port(A);
    let q = w.port(A);
    assert_eq!(w.ipc.port_move_member(A, p, MACH_PORT_NULL), Err(KERN_NOT_IN_SET));
    w.ipc.port_move_member(A, p, set).unwrap();
    w.ipc.port_move_member(A, q, set).unwrap();
    let sq = w.give_send(A, q, B);
    let msg = MsgBuilder::new(sq, MACH_MSG_TYPE_COPY_SEND, 0, 0, 77).build();
    w.send(B, &msg).unwrap();
    assert_eq!(w.recv(A, q), Err(MACH_RCV_IN_SET));
    let got = w.recv_ok(A, set);
    assert_eq!(id_of(&got), 77);
    assert_eq!(
        word(&got, 12),
        q,
        "local port names the member the message came through"
    );
    w.ipc.port_move_member(A, q, MACH_PORT_NULL).unwrap();
    w.ipc.port_destroy(A, set).unwrap();
    w.assert_audit();
    w.ipc.space_destroy(A);
    w.ipc.space_destroy(B);
    assert_eq!(w.ipc.object_counts(), (0, 0, 0));
    w.assert_audit();
}

#[test]
fn insert_right_rules() {
    let mut w = World::new();
    let p = w.port(A);
    let q = w.port(A);
    let r = w.ipc.port_extract_right(A, p, MACH_MSG_TYPE_MAKE_SEND as u32).unwrap();
    // Name taken by another port.
    assert_eq!(w.ipc.port_insert_right(A, q, r), Err(KERN_NAME_EXISTS));
    // Port already named differently in this space.
    let other = name::make(500, 0);
    assert_eq!(w.ipc.port_insert_right(A, other, r), Err(KERN_RIGHT_EXISTS));
    assert_eq!(w.ipc.port_insert_right(A, MACH_PORT_NULL, r), Err(KERN_INVALID_VALUE));
    w.ipc.port_insert_right(B, other, r).unwrap();
    assert_eq!(w.ipc.port_type(B, other), Ok(MACH_PORT_TYPE_SEND));
    assert_eq!(w.ipc.port_extract_right(A, p, 3), Err(KERN_INVALID_VALUE));
    assert_eq!(
        w.ipc.port_extract_right(A, p, MACH_MSG_TYPE_MOVE_SEND as u32),
        Err(KERN_INVALID_RIGHT)
    );
    w.assert_audit();
}

#[test]
fn no_right_joins_the_name_of_a_send_once_right() {
    let mut w = World::new();
    let p = w.port(A);
    let so = w
        .ipc
        .port_extract_right(A, p, MACH_MSG_TYPE_MAKE_SEND_ONCE as u32)
        .unwrap();
    let n = name::make(700, 0);
    w.ipc.port_insert_right(B, n, so).unwrap();
    let send = w.ipc.port_extract_right(A, p, MACH_MSG_TYPE_MAKE_SEND as u32).unwrap();
    assert_eq!(w.ipc.port_insert_right(B, n, send), Err(KERN_NAME_EXISTS));
    let recv = w
        .ipc
        .port_extract_right(A, p, MACH_MSG_TYPE_MOVE_RECEIVE as u32)
        .unwrap();
    assert_eq!(w.ipc.port_insert_right(B, n, recv), Err(KERN_NAME_EXISTS));
    assert_eq!(w.ipc.port_type(B, n), Ok(MACH_PORT_TYPE_SEND_ONCE));
    // Under names of their own, both rights join one fresh name.
    let fresh = name::make(701, 0);
    w.ipc.port_insert_right(B, fresh, recv).unwrap();
    w.ipc.port_insert_right(B, fresh, send).unwrap();
    assert_eq!(w.ipc.port_type(B, fresh), Ok(MACH_PORT_TYPE_SEND_RECEIVE));
    // The send-once right is used up as a message's destination, its name with it.
    let m = MsgBuilder::new(n, MACH_MSG_TYPE_MOVE_SEND_ONCE, 0, 0, 3).build();
    w.send(B, &m).unwrap();
    assert_eq!(w.ipc.port_type(B, n), Err(KERN_INVALID_NAME));
    assert_eq!(id_of(&w.recv_ok(B, fresh)), 3);
    w.assert_audit();
}

#[test]
fn qlimit_bounds() {
    let mut w = World::new();
    let p = w.port(A);
    assert_eq!(w.ipc.port_get_qlimit(A, p), Ok(MACH_PORT_QLIMIT_DEFAULT));
    assert_eq!(
        w.ipc.port_set_qlimit(A, p, MACH_PORT_QLIMIT_MAX + 1),
        Err(KERN_INVALID_VALUE)
    );
    w.ipc.port_set_qlimit(A, p, 1).unwrap();
    assert_eq!(w.ipc.port_get_qlimit(A, p), Ok(1));
}

#[test]
fn a_received_receive_right_joins_the_name_of_its_send_right() {
    let mut w = World::new();
    let q = w.port(A);
    let sq = w.give_send(A, q, B);
    // A sends q's receive right to B, which already holds a send right for q.
    let r = w.port(B);
    let to_b = w.give_send(B, r, A);
    let msg = MsgBuilder::new(to_b, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1)
        .port(q, MACH_MSG_TYPE_MOVE_RECEIVE)
        .build();
    w.send(A, &msg).unwrap();
    let got = w.recv_ok(B, r);
    assert_eq!(
        word(&got, 28),
        sq,
        "the receive right arrives under the send right's name"
    );
    assert_eq!(w.ipc.port_type(B, sq), Ok(MACH_PORT_TYPE_SEND_RECEIVE));
    assert_eq!(w.ipc.port_get_refs(B, sq, MACH_PORT_RIGHT_SEND), Ok(1));
    w.assert_audit();
}
