//! Dead-name requests of several names on one port: cancelling one (by
//! moving its right away or destroying its space) leaves every other
//! request registered, so each still fires when the port dies.

use super::harness::*;
use crate::ipc::{KRight, Name, SpaceId, name};
use mach_abi::message::*;
use mach_abi::port::*;

const C: SpaceId = 3;
/// The same name in B and C.
const SHARED: Name = name::make(800, 0);
const SEND_ONCE: Name = name::make(801, 0);

/// Registers a dead-name request on `name` in `space`, notifying A's `notify`.
fn request(w: &mut World, space: SpaceId, name: Name, notify: Name) {
    let r = w
        .ipc
        .port_extract_right(A, notify, MACH_MSG_TYPE_MAKE_SEND_ONCE as u32)
        .unwrap();
    assert_eq!(
        w.ipc
            .port_request_notification(space, name, MACH_NOTIFY_DEAD_NAME, 0, r),
        Ok(KRight::NULL)
    );
}

/// Port `p` of A; B holds a send right (SHARED) and a send-once right
/// (SEND_ONCE) for it, C a send right under the same name SHARED; each has
/// a dead-name request notifying `notify` (in A). Returns (p, notify).
fn three_requests() -> (World, Name, Name) {
    let mut w = World::new();
    w.ipc.space_create(C, 1024);
    let p = w.port(A);
    let notify = w.port(A);
    for (space, n, disp) in [
        (B, SHARED, MACH_MSG_TYPE_MAKE_SEND),
        (B, SEND_ONCE, MACH_MSG_TYPE_MAKE_SEND_ONCE),
        (C, SHARED, MACH_MSG_TYPE_MAKE_SEND),
    ] {
        let r = w.ipc.port_extract_right(A, p, disp as u32).unwrap();
        w.ipc.port_insert_right(space, n, r).unwrap();
        request(&mut w, space, n, notify);
    }
    (w, p, notify)
}

/// Destroys `p` and returns the (id, name) of every notification `notify` got.
fn die_and_collect(w: &mut World, p: Name, notify: Name) -> std::vec::Vec<(i32, u32)> {
    w.ipc.port_destroy(A, p).unwrap();
    let mut got = std::vec::Vec::new();
    while let Ok(crate::ipc::msg::ReceiveOutcome::Message { bytes, .. }) = w.recv(A, notify) {
        got.push((id_of(&bytes), word(&bytes, 24)));
    }
    got.sort();
    got
}

#[test]
fn moving_one_named_right_away_cancels_only_its_request() {
    let (mut w, p, notify) = three_requests();
    let sink = w.port(A);
    let to_sink = w.give_send(A, sink, B);
    let msg = MsgBuilder::new(to_sink, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1)
        .port(SHARED, MACH_MSG_TYPE_MOVE_SEND)
        .build();
    w.send(B, &msg).unwrap();
    let got = die_and_collect(&mut w, p, notify);
    assert_eq!(
        got,
        [
            (MACH_NOTIFY_PORT_DELETED, SHARED),
            (MACH_NOTIFY_DEAD_NAME, SHARED),
            (MACH_NOTIFY_DEAD_NAME, SEND_ONCE),
        ],
        "B's SHARED was cancelled; B's SEND_ONCE and C's SHARED fire"
    );
    w.assert_audit();
}

#[test]
fn destroying_one_space_cancels_only_its_requests() {
    let (mut w, p, notify) = three_requests();
    w.ipc.space_destroy(B);
    let got = die_and_collect(&mut w, p, notify);
    assert_eq!(
        got,
        [
            (MACH_NOTIFY_PORT_DELETED, SHARED),
            (MACH_NOTIFY_PORT_DELETED, SEND_ONCE),
            (MACH_NOTIFY_DEAD_NAME, SHARED),
        ],
        "B's requests were cancelled; C's fires"
    );
    w.assert_audit();
}
