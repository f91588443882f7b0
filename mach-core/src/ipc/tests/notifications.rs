//! Notifications fire exactly once, carry the right payload, and say who sent them.

use super::harness::*;
use crate::ipc::{KERNEL_SPACE, KRight, Name};
use mach_abi::kern_return::*;
use mach_abi::message::*;
use mach_abi::port::*;

/// A send-once right to a fresh notify port of `space`; returns (port name, right).
fn notify_port(w: &mut World, space: u64) -> (Name, KRight) {
    let n = w.port(space);
    let r = w
        .ipc
        .port_extract_right(space, n, MACH_MSG_TYPE_MAKE_SEND_ONCE as u32)
        .unwrap();
    (n, r)
}

fn sender_of(msg: &[u8]) -> u64 {
    let size = word(msg, 4) as usize;
    u64::from(word(msg, size + 12)) | (u64::from(word(msg, size + 16)) << 32)
}

#[test]
fn no_senders_fires_once_with_mscount() {
    let mut w = World::new();
    let p = w.port(A);
    let (np, r) = notify_port(&mut w, A);
    // sync 1: not before the first send right has been made.
    assert_eq!(
        w.ipc.port_request_notification(A, p, MACH_NOTIFY_NO_SENDERS, 1, r),
        Ok(KRight::NULL)
    );
    w.assert_empty(A, np);
    let s1 = w.give_send(A, p, B);
    w.ipc.port_mod_refs(B, s1, MACH_PORT_RIGHT_SEND, 1).unwrap();
    w.ipc.port_deallocate(B, s1).unwrap();
    w.assert_empty(A, np);
    w.ipc.port_deallocate(B, s1).unwrap();
    let n = w.recv_ok(A, np);
    assert_eq!(id_of(&n), MACH_NOTIFY_NO_SENDERS);
    assert_eq!(word(&n, 24), 1);
    assert_eq!(sender_of(&n), KERNEL_SPACE);
    // A new send right and its death do not fire again: the request was used up.
    let s2 = w.give_send(A, p, B);
    w.ipc.port_deallocate(B, s2).unwrap();
    w.assert_empty(A, np);
    w.assert_audit();
}

#[test]
fn no_senders_fires_at_once_when_already_without_senders() {
    let mut w = World::new();
    let p = w.port(A);
    let (np, r) = notify_port(&mut w, A);
    w.ipc
        .port_request_notification(A, p, MACH_NOTIFY_NO_SENDERS, 0, r)
        .unwrap();
    assert_eq!(id_of(&w.recv_ok(A, np)), MACH_NOTIFY_NO_SENDERS);
    w.assert_audit();
}

#[test]
fn dead_name_on_receive_death_and_port_deleted_on_deallocate() {
    let mut w = World::new();
    let p = w.port(A);
    let s = w.give_send(A, p, B);
    let (np, r) = notify_port(&mut w, B);
    assert_eq!(
        w.ipc.port_request_notification(B, s, MACH_NOTIFY_DEAD_NAME, 0, r),
        Ok(KRight::NULL)
    );
    assert_eq!(
        w.ipc.port_type(B, s),
        Ok(MACH_PORT_TYPE_SEND | MACH_PORT_TYPE_DNREQUEST)
    );
    w.ipc.port_destroy(A, p).unwrap();
    let n = w.recv_ok(B, np);
    assert_eq!(id_of(&n), MACH_NOTIFY_DEAD_NAME);
    assert_eq!(word(&n, 24), s);
    w.assert_empty(B, np);
    w.ipc.port_deallocate(B, s).unwrap();
    w.assert_empty(B, np);

    // A request on a live name, then the name is deleted: port-deleted.
    let p2 = w.port(A);
    let s2 = w.give_send(A, p2, B);
    let (np2, r2) = notify_port(&mut w, B);
    w.ipc
        .port_request_notification(B, s2, MACH_NOTIFY_DEAD_NAME, 0, r2)
        .unwrap();
    w.ipc.port_deallocate(B, s2).unwrap();
    let n = w.recv_ok(B, np2);
    assert_eq!(id_of(&n), MACH_NOTIFY_PORT_DELETED);
    assert_eq!(word(&n, 24), s2);
    w.ipc.port_destroy(A, p2).unwrap();
    w.assert_empty(B, np2);
    w.assert_audit();
}

#[test]
fn dead_name_request_on_dead_name_fires_immediately() {
    let mut w = World::new();
    let p = w.port(A);
    let s = w.give_send(A, p, B);
    w.ipc.port_destroy(A, p).unwrap();
    let (np, r) = notify_port(&mut w, B);
    assert_eq!(
        w.ipc.port_request_notification(B, s, MACH_NOTIFY_DEAD_NAME, 0, r),
        Ok(KRight::NULL)
    );
    let n = w.recv_ok(B, np);
    assert_eq!(id_of(&n), MACH_NOTIFY_DEAD_NAME);
    assert_eq!(
        word(&n, 0),
        mach_msgh_bits(0, MACH_MSG_TYPE_PORT_SEND_ONCE),
        "a simple message"
    );
    assert_eq!(word(&n, 4), 28, "the header and the name");
    assert_eq!(w.ipc.port_get_refs(B, s, MACH_PORT_RIGHT_DEAD_NAME), Ok(2));
    w.assert_audit();
}

#[test]
fn port_destroyed_returns_the_receive_right() {
    let mut w = World::new();
    let p = w.port(B);
    let (np, r) = notify_port(&mut w, A);
    w.ipc
        .port_request_notification(B, p, MACH_NOTIFY_PORT_DESTROYED, 0, r)
        .unwrap();
    let sp = w.give_send(B, p, B);
    assert_eq!(sp, p);
    w.ipc.space_destroy(B);
    let n = w.recv_ok(A, np);
    assert_eq!(id_of(&n), MACH_NOTIFY_PORT_DESTROYED);
    assert_ne!(word(&n, 0) & MACH_MSGH_BITS_COMPLEX, 0, "it carries a descriptor");
    assert_eq!(word(&n, 24), 1, "one descriptor");
    let got = word(&n, 28);
    assert_eq!(n[28 + 10], MACH_MSG_TYPE_PORT_RECEIVE);
    assert_eq!(w.ipc.port_type(A, got), Ok(MACH_PORT_TYPE_RECEIVE));
    w.assert_audit();
}

#[test]
fn send_once_notification_when_unused() {
    let mut w = World::new();
    let p = w.port(A);
    let r = w
        .ipc
        .port_extract_right(A, p, MACH_MSG_TYPE_MAKE_SEND_ONCE as u32)
        .unwrap();
    let so = crate::ipc::name::make(300, 0);
    w.ipc.port_insert_right(B, so, r).unwrap();
    w.ipc.port_deallocate(B, so).unwrap();
    let n = w.recv_ok(A, p);
    assert_eq!(id_of(&n), MACH_NOTIFY_SEND_ONCE);
    assert_eq!(word(&n, 4), 24);
    // Task death destroys unused send-once rights the same way.
    let r = w
        .ipc
        .port_extract_right(A, p, MACH_MSG_TYPE_MAKE_SEND_ONCE as u32)
        .unwrap();
    w.ipc.port_insert_right(B, so, r).unwrap();
    w.ipc.space_destroy(B);
    assert_eq!(id_of(&w.recv_ok(A, p)), MACH_NOTIFY_SEND_ONCE);
    w.assert_audit();
}

#[test]
fn request_returns_previous_and_rejects_bad_requests() {
    let mut w = World::new();
    let p = w.port(A);
    let (_n1, r1) = notify_port(&mut w, A);
    let (_n2, r2) = notify_port(&mut w, A);
    w.ipc
        .port_request_notification(A, p, MACH_NOTIFY_PORT_DESTROYED, 0, r1)
        .unwrap();
    let prev = w
        .ipc
        .port_request_notification(A, p, MACH_NOTIFY_PORT_DESTROYED, 0, r2)
        .unwrap();
    assert_eq!(prev, r1);
    w.ipc.release_right(prev);
    let (_n3, r3) = notify_port(&mut w, A);
    assert_eq!(
        w.ipc.port_request_notification(A, p, 12345, 0, r3),
        Err(KERN_INVALID_VALUE)
    );
    assert_eq!(
        w.ipc.port_request_notification(A, p, MACH_NOTIFY_PORT_DESTROYED, 1, r3),
        Err(KERN_INVALID_VALUE)
    );
    let s = w.give_send(A, p, B);
    assert_eq!(
        w.ipc.port_request_notification(B, s, MACH_NOTIFY_NO_SENDERS, 0, r3),
        Err(KERN_INVALID_RIGHT)
    );
    let send = w.ipc.port_extract_right(A, p, MACH_MSG_TYPE_MAKE_SEND as u32).unwrap();
    assert_eq!(
        w.ipc.port_request_notification(A, p, MACH_NOTIFY_NO_SENDERS, 0, send),
        Err(KERN_INVALID_CAPABILITY)
    );
    w.ipc.release_right(send);
    w.ipc.release_right(r3);
    w.assert_audit();
}

#[test]
fn forged_notification_shows_its_sender() {
    let mut w = World::new();
    let p = w.port(A);
    let s = w.give_send(A, p, B);
    let msg = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, MACH_NOTIFY_DEAD_NAME)
        .data(&5u32.to_le_bytes())
        .build();
    w.send(B, &msg).unwrap();
    let n = w.recv_ok(A, p);
    assert_eq!(id_of(&n), MACH_NOTIFY_DEAD_NAME);
    assert_eq!(sender_of(&n), B, "the trailer names the forger");
}

/// The kernel's own dead-name request (how it watches pagers): fires once,
/// from the kernel, when the watched receive right dies; cancelling it
/// releases its right; the audit counts it while registered.
#[test]
fn kernel_dead_name_request_fires_once_from_the_kernel() {
    let mut w = World::new();
    let watched = w.port(A);
    let port = w.ipc.port_of(A, watched).unwrap();
    let held = w
        .ipc
        .make_send_right(port)
        .and_then(|r| w.ipc.kernel_hold_send(r))
        .unwrap();
    let (np, r) = notify_port(&mut w, B);
    w.ipc.kernel_request_dead_name(port, r);
    w.assert_audit();
    w.assert_empty(B, np);
    w.ipc.port_destroy(A, watched).unwrap();
    let n = w.recv_ok(B, np);
    assert_eq!(id_of(&n), MACH_NOTIFY_DEAD_NAME);
    assert_eq!(word(&n, 24), 0);
    assert_eq!(sender_of(&n), KERNEL_SPACE);
    w.assert_empty(B, np);
    w.ipc.kernel_release_send(held);
    w.assert_audit();
}

#[test]
fn kernel_dead_name_request_cancelled_or_on_a_dead_port() {
    let mut w = World::new();
    let watched = w.port(A);
    let port = w.ipc.port_of(A, watched).unwrap();
    let held = w
        .ipc
        .make_send_right(port)
        .and_then(|r| w.ipc.kernel_hold_send(r))
        .unwrap();
    let (np, r) = notify_port(&mut w, B);
    w.ipc.kernel_request_dead_name(port, r);
    w.ipc.kernel_cancel_dead_name(port);
    // The released request is a send-once notification, not a dead name.
    assert_eq!(id_of(&w.recv_ok(B, np)), MACH_NOTIFY_SEND_ONCE);
    w.ipc.port_destroy(A, watched).unwrap();
    w.assert_empty(B, np);
    w.assert_audit();
    // A request on a port already dead fires at once.
    let (np2, r2) = notify_port(&mut w, B);
    w.ipc.kernel_request_dead_name(port, r2);
    assert_eq!(id_of(&w.recv_ok(B, np2)), MACH_NOTIFY_DEAD_NAME);
    w.ipc.kernel_release_send(held);
    w.assert_audit();
}

/// The kernel's no-senders request on a kernel port (how it hears that a
/// task nobody can name any more is gone): fires on the port itself, from
/// the kernel, when its last send right goes, not before; the audit counts it.
#[test]
fn kernel_no_senders_request_fires_on_the_port_itself() {
    use crate::ipc::KObject;
    let mut w = World::new();
    let port = w.ipc.kobject_port_create(KObject::Task(7));
    w.ipc.kernel_request_no_senders(port);
    assert!(w.ipc.take_kernel_messages().is_empty());
    w.assert_audit();
    let name = w.ipc.insert_make_send(A, port).unwrap();
    w.ipc.port_mod_refs(A, name, MACH_PORT_RIGHT_SEND, 1).unwrap();
    w.ipc.port_deallocate(A, name).unwrap();
    assert!(w.ipc.take_kernel_messages().is_empty());
    w.ipc.port_deallocate(A, name).unwrap();
    let msgs = w.ipc.take_kernel_messages();
    assert_eq!(msgs.len(), 1);
    let (obj, kmsg) = &msgs[0];
    assert_eq!(*obj, KObject::Task(7));
    assert_eq!((kmsg.id, kmsg.sender), (MACH_NOTIFY_NO_SENDERS, KERNEL_SPACE));
    for (_, kmsg) in msgs {
        let req = w.ipc.kernel_request(kmsg);
        w.ipc.kernel_request_done(req);
    }
    w.assert_audit();
    w.ipc.kobject_port_destroy(port);
    w.assert_audit();
}
