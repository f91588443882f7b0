//! Rights the kernel holds to answer later (`Ipc::hold_right`): counted by
//! the audit while held, given back once, alive only while their port has a
//! receiver, and released like any right.

use super::harness::*;
use crate::ipc::msg::ReceiveOutcome;
use mach_abi::message::*;
use mach_abi::port::*;

#[test]
fn held_reply_right_is_counted_and_given_back_once() {
    let mut w = World::new();
    let n = w.port(A);
    let p = w.ipc.port_of(A, n).unwrap();
    let r = w.ipc.make_send_once_right(p).unwrap();
    // A right made but not held anywhere is what the audit must catch...
    assert!(!w.ipc.audit().violations.is_empty());
    // ...and holding it accounts for it.
    let h = w.ipc.hold_right(r).unwrap();
    w.assert_audit();
    assert_eq!(w.ipc.held_count(), 1);
    assert!(w.ipc.held_alive(h));
    assert_eq!(w.ipc.take_held(h), Some(r));
    // A handle used twice finds nothing, even once its slot is reused.
    assert_eq!(w.ipc.take_held(h), None);
    let h2 = w.ipc.hold_right(r).unwrap();
    assert_eq!(w.ipc.take_held(h), None);
    assert!(!w.ipc.held_alive(h));
    assert_eq!(w.ipc.held_count(), 1);
    // An answer sent on the held right reaches the port.
    let r2 = w.ipc.take_held(h2).unwrap();
    let mut reply = [0u8; MACH_MSG_HEADER_SIZE];
    reply[0..4].copy_from_slice(&u32::from(MACH_MSG_TYPE_MOVE_SEND_ONCE).to_le_bytes());
    reply[4..8].copy_from_slice(&(MACH_MSG_HEADER_SIZE as u32).to_le_bytes());
    reply[20..24].copy_from_slice(&1234i32.to_le_bytes());
    w.ipc.kernel_reply(r2, &reply, Default::default());
    let got = w.recv_ok(A, n);
    assert_eq!(id_of(&got), 1234);
    assert_eq!(w.ipc.held_count(), 0);
    w.assert_audit();
}

#[test]
fn held_right_of_a_dead_port_is_not_alive_and_releases_cleanly() {
    let mut w = World::new();
    let n = w.port(A);
    let p = w.ipc.port_of(A, n).unwrap();
    let r = w.ipc.make_send_once_right(p).unwrap();
    let h = w.ipc.hold_right(r).unwrap();
    w.ipc.port_destroy(A, n).unwrap();
    // The port is dead but kept for the held right.
    assert!(!w.ipc.held_alive(h));
    assert_eq!(w.ipc.object_counts().0, 1);
    w.assert_audit();
    w.ipc.release_held(h);
    assert_eq!(w.ipc.held_count(), 0);
    assert_eq!(w.ipc.object_counts().0, 0);
    w.assert_audit();
}

#[test]
fn released_held_send_once_right_notifies() {
    let mut w = World::new();
    let n = w.port(A);
    let p = w.ipc.port_of(A, n).unwrap();
    let r = w.ipc.make_send_once_right(p).unwrap();
    let h = w.ipc.hold_right(r).unwrap();
    w.ipc.release_held(h);
    match w.recv(A, n) {
        Ok(ReceiveOutcome::Message { bytes, .. }) => assert_eq!(id_of(&bytes), MACH_NOTIFY_SEND_ONCE),
        other => panic!("expected a send-once notification, got {other:?}"),
    }
    w.assert_audit();
}
