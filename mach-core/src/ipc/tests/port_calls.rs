//! The mach_port_* calls' edge cases: each error Mach documents, reference
//! counts at their limits, and the rights each variant of `mod_refs` and
//! `get_refs` looks at.

use super::harness::*;
use crate::ipc::{KRight, PortRef, RightKind};
use mach_abi::kern_return::*;
use mach_abi::message::*;
use mach_abi::port::*;

#[test]
fn calls_on_a_missing_space_or_bad_names() {
    let mut w = World::new();
    assert_eq!(w.ipc.port_allocate(9, MACH_PORT_RIGHT_RECEIVE), Err(KERN_INVALID_TASK));
    assert_eq!(
        w.ipc.port_allocate_name(9, MACH_PORT_RIGHT_RECEIVE, 0x107),
        Err(KERN_INVALID_TASK)
    );
    assert_eq!(
        w.ipc.port_allocate_name(9, MACH_PORT_RIGHT_RECEIVE, 0),
        Err(KERN_INVALID_TASK)
    );
    assert_eq!(
        w.ipc.port_allocate_name(A, MACH_PORT_RIGHT_RECEIVE, 0),
        Err(KERN_INVALID_VALUE)
    );
    assert_eq!(
        w.ipc.port_allocate_name(A, MACH_PORT_RIGHT_RECEIVE, MACH_PORT_DEAD),
        Err(KERN_INVALID_VALUE)
    );
    assert_eq!(w.ipc.port_allocate(A, MACH_PORT_RIGHT_SEND), Err(KERN_INVALID_VALUE));
    assert_eq!(w.ipc.port_names(9), Err(KERN_INVALID_TASK));
    assert_eq!(w.ipc.port_type(9, 0x103), Err(KERN_INVALID_TASK));
    assert_eq!(w.ipc.port_insert_right(9, 0x103, KRight::NULL), Err(KERN_INVALID_TASK));
    assert_eq!(w.ipc.port_of(9, 0x103), None);
    assert_eq!(w.ipc.port_of(A, 0x103), None);
    // A set and a dead name have no port.
    let set = w.ipc.port_allocate(A, MACH_PORT_RIGHT_PORT_SET).unwrap();
    let dead = w.ipc.port_allocate(A, MACH_PORT_RIGHT_DEAD_NAME).unwrap();
    assert_eq!((w.ipc.port_of(A, set), w.ipc.port_of(A, dead)), (None, None));
    let p = w.port(A);
    assert!(w.ipc.port_of(A, p).is_some());
    let q = w.port(B);
    assert_ne!(w.ipc.port_of(A, p), w.ipc.port_of(B, q));
    // Named allocation of each kind, and a name in use.
    w.ipc.port_allocate_name(B, MACH_PORT_RIGHT_RECEIVE, 0x1007).unwrap();
    assert_eq!(w.ipc.port_type(B, 0x1007), Ok(MACH_PORT_TYPE_RECEIVE));
    assert_eq!(
        w.ipc.port_allocate_name(B, MACH_PORT_RIGHT_PORT_SET, 0x1007),
        Err(KERN_NAME_EXISTS)
    );
    w.ipc.port_allocate_name(B, MACH_PORT_RIGHT_PORT_SET, 0x2007).unwrap();
    assert_eq!(w.ipc.port_type(B, 0x2007), Ok(MACH_PORT_TYPE_PORT_SET));
    // Failed named allocations leave no port or set behind.
    let counts = w.ipc.object_counts();
    assert!(w.ipc.port_allocate_name(B, MACH_PORT_RIGHT_RECEIVE, 0x1007).is_err());
    assert!(w.ipc.port_allocate_name(B, MACH_PORT_RIGHT_PORT_SET, 0x2007).is_err());
    assert_eq!(w.ipc.object_counts(), counts);
    assert_eq!(w.audit_counts(), (counts.0, counts.1));
    w.assert_audit();
}

#[test]
fn deallocate_counts_references() {
    let mut w = World::new();
    let p = w.port(A);
    let s = w.give_send(A, p, B);
    w.ipc.port_mod_refs(B, s, MACH_PORT_RIGHT_SEND, 2).unwrap();
    assert_eq!(w.ipc.port_get_refs(B, s, MACH_PORT_RIGHT_SEND), Ok(3));
    w.ipc.port_deallocate(B, s).unwrap();
    assert_eq!(w.ipc.port_get_refs(B, s, MACH_PORT_RIGHT_SEND), Ok(2));
    w.ipc.port_deallocate(B, s).unwrap();
    w.ipc.port_deallocate(B, s).unwrap();
    assert_eq!(w.ipc.port_type(B, s), Err(KERN_INVALID_NAME));
    // Dead names: one reference at a time.
    let d = w.ipc.port_allocate(B, MACH_PORT_RIGHT_DEAD_NAME).unwrap();
    w.ipc.port_mod_refs(B, d, MACH_PORT_RIGHT_DEAD_NAME, 1).unwrap();
    w.ipc.port_deallocate(B, d).unwrap();
    assert_eq!(w.ipc.port_get_refs(B, d, MACH_PORT_RIGHT_DEAD_NAME), Ok(1));
    w.ipc.port_deallocate(B, d).unwrap();
    assert_eq!(w.ipc.port_type(B, d), Err(KERN_INVALID_NAME));
    // A receive right cannot be deallocated.
    assert_eq!(w.ipc.port_deallocate(A, p), Err(KERN_INVALID_RIGHT));
    w.assert_audit();
}

#[test]
fn mod_refs_of_each_right() {
    let mut w = World::new();
    let p = w.port(A);
    let s = w.give_send(A, p, B);
    assert_eq!(
        w.ipc.port_mod_refs(B, s, MACH_PORT_RIGHT_NUMBER, 1),
        Err(KERN_INVALID_VALUE)
    );
    assert_eq!(
        w.ipc.port_mod_refs(B, s, MACH_PORT_RIGHT_SEND, -2),
        Err(KERN_INVALID_VALUE)
    );
    assert_eq!(
        w.ipc
            .port_mod_refs(B, s, MACH_PORT_RIGHT_SEND, MACH_PORT_UREFS_MAX as i32),
        Err(KERN_UREFS_OVERFLOW)
    );
    w.ipc
        .port_mod_refs(B, s, MACH_PORT_RIGHT_SEND, MACH_PORT_UREFS_MAX as i32 - 1)
        .unwrap();
    assert_eq!(w.ipc.port_get_refs(B, s, MACH_PORT_RIGHT_SEND), Ok(MACH_PORT_UREFS_MAX));
    // The wrong right for the name.
    assert_eq!(
        w.ipc.port_mod_refs(B, s, MACH_PORT_RIGHT_DEAD_NAME, 1),
        Err(KERN_INVALID_RIGHT)
    );
    assert_eq!(
        w.ipc.port_mod_refs(B, s, MACH_PORT_RIGHT_RECEIVE, 0),
        Err(KERN_INVALID_RIGHT)
    );
    assert_eq!(
        w.ipc.port_mod_refs(B, s, MACH_PORT_RIGHT_SEND_ONCE, -1),
        Err(KERN_INVALID_RIGHT)
    );
    assert_eq!(
        w.ipc.port_mod_refs(B, s, MACH_PORT_RIGHT_PORT_SET, -1),
        Err(KERN_INVALID_RIGHT)
    );
    assert_eq!(
        w.ipc.port_mod_refs(A, p, MACH_PORT_RIGHT_SEND, 1),
        Err(KERN_INVALID_RIGHT)
    );
    // Receive rights: 0 changes nothing, +1 overflows, below -1 is invalid.
    assert_eq!(w.ipc.port_mod_refs(A, p, MACH_PORT_RIGHT_RECEIVE, 0), Ok(()));
    assert_eq!(w.ipc.port_type(A, p), Ok(MACH_PORT_TYPE_RECEIVE));
    assert_eq!(
        w.ipc.port_mod_refs(A, p, MACH_PORT_RIGHT_RECEIVE, 1),
        Err(KERN_UREFS_OVERFLOW)
    );
    assert_eq!(
        w.ipc.port_mod_refs(A, p, MACH_PORT_RIGHT_RECEIVE, -2),
        Err(KERN_INVALID_VALUE)
    );
    assert_eq!(w.ipc.port_type(A, p), Ok(MACH_PORT_TYPE_RECEIVE));
    // A receive right that also holds send rights keeps its name.
    let own = w.give_send(A, p, A);
    assert_eq!(own, p);
    w.ipc.port_mod_refs(A, p, MACH_PORT_RIGHT_RECEIVE, -1).unwrap();
    assert_eq!(w.ipc.port_type(A, p), Ok(MACH_PORT_TYPE_DEAD_NAME));
    assert_eq!(w.ipc.port_type(B, s), Ok(MACH_PORT_TYPE_DEAD_NAME));
    // Send-once rights and sets go at -1 and only then.
    let q = w.port(A);
    let so = w
        .ipc
        .port_extract_right(A, q, MACH_MSG_TYPE_MAKE_SEND_ONCE as u32)
        .unwrap();
    w.ipc.port_insert_right(B, 0x5007, so).unwrap();
    assert_eq!(w.ipc.port_mod_refs(B, 0x5007, MACH_PORT_RIGHT_SEND_ONCE, 0), Ok(()));
    assert_eq!(w.ipc.port_type(B, 0x5007), Ok(MACH_PORT_TYPE_SEND_ONCE));
    w.ipc.port_mod_refs(B, 0x5007, MACH_PORT_RIGHT_SEND_ONCE, -1).unwrap();
    assert_eq!(w.ipc.port_type(B, 0x5007), Err(KERN_INVALID_NAME));
    // Destroying it sent a send-once notification to q.
    assert_eq!(id_of(&w.recv_ok(A, q)), MACH_NOTIFY_SEND_ONCE);
    let set = w.ipc.port_allocate(A, MACH_PORT_RIGHT_PORT_SET).unwrap();
    w.ipc.port_mod_refs(A, set, MACH_PORT_RIGHT_PORT_SET, -1).unwrap();
    assert_eq!(w.ipc.port_type(A, set), Err(KERN_INVALID_NAME));
    // Dead names: counted, freed at zero.
    let d = w.ipc.port_allocate(B, MACH_PORT_RIGHT_DEAD_NAME).unwrap();
    w.ipc.port_mod_refs(B, d, MACH_PORT_RIGHT_DEAD_NAME, 2).unwrap();
    assert_eq!(w.ipc.port_get_refs(B, d, MACH_PORT_RIGHT_DEAD_NAME), Ok(3));
    w.ipc.port_mod_refs(B, d, MACH_PORT_RIGHT_DEAD_NAME, -3).unwrap();
    assert_eq!(w.ipc.port_type(B, d), Err(KERN_INVALID_NAME));
    w.assert_audit();
}

#[test]
fn get_refs_of_each_right() {
    let mut w = World::new();
    let p = w.port(A);
    let s = w.give_send(A, p, B);
    assert_eq!(
        w.ipc.port_get_refs(B, s, MACH_PORT_RIGHT_NUMBER),
        Err(KERN_INVALID_VALUE)
    );
    let refs = |w: &mut World, space, name| {
        [
            MACH_PORT_RIGHT_SEND,
            MACH_PORT_RIGHT_RECEIVE,
            MACH_PORT_RIGHT_SEND_ONCE,
            MACH_PORT_RIGHT_PORT_SET,
            MACH_PORT_RIGHT_DEAD_NAME,
        ]
        .map(|r| w.ipc.port_get_refs(space, name, r).unwrap())
    };
    w.ipc.port_mod_refs(B, s, MACH_PORT_RIGHT_SEND, 1).unwrap();
    assert_eq!(refs(&mut w, B, s), [2, 0, 0, 0, 0]);
    assert_eq!(refs(&mut w, A, p), [0, 1, 0, 0, 0]);
    let set = w.ipc.port_allocate(A, MACH_PORT_RIGHT_PORT_SET).unwrap();
    assert_eq!(refs(&mut w, A, set), [0, 0, 0, 1, 0]);
    let d = w.ipc.port_allocate(A, MACH_PORT_RIGHT_DEAD_NAME).unwrap();
    w.ipc.port_mod_refs(A, d, MACH_PORT_RIGHT_DEAD_NAME, 3).unwrap();
    assert_eq!(refs(&mut w, A, d), [0, 0, 0, 0, 4]);
    let so = w
        .ipc
        .port_extract_right(A, p, MACH_MSG_TYPE_MAKE_SEND_ONCE as u32)
        .unwrap();
    w.ipc.port_insert_right(B, 0x5007, so).unwrap();
    assert_eq!(refs(&mut w, B, 0x5007), [0, 0, 1, 0, 0]);
    let both = w.give_send(A, p, A);
    assert_eq!(refs(&mut w, A, both), [1, 1, 0, 0, 0]);
    w.assert_audit();
}

#[test]
fn types_of_names() {
    let mut w = World::new();
    let p = w.port(A);
    let both = w.give_send(A, p, A);
    assert_eq!(
        w.ipc.port_type(A, both),
        Ok(MACH_PORT_TYPE_SEND | MACH_PORT_TYPE_RECEIVE)
    );
    let names = w.ipc.port_names(A).unwrap();
    assert_eq!(names, [(p, MACH_PORT_TYPE_SEND | MACH_PORT_TYPE_RECEIVE)]);
    assert_eq!(w.ipc.port_type(A, MACH_PORT_NULL), Err(KERN_INVALID_NAME));
}

#[test]
fn move_member_and_queue_limits() {
    let mut w = World::new();
    let p = w.port(A);
    let s = w.give_send(A, p, B);
    let set = w.ipc.port_allocate(A, MACH_PORT_RIGHT_PORT_SET).unwrap();
    assert_eq!(w.ipc.port_move_member(B, s, set), Err(KERN_INVALID_RIGHT));
    assert_eq!(w.ipc.port_move_member(A, p, p), Err(KERN_INVALID_RIGHT));
    assert_eq!(w.ipc.port_move_member(A, p, 0x7777), Err(KERN_INVALID_NAME));
    let dead = w.ipc.port_allocate(A, MACH_PORT_RIGHT_DEAD_NAME).unwrap();
    assert_eq!(w.ipc.port_move_member(A, p, dead), Err(KERN_INVALID_RIGHT));
    assert_eq!(w.ipc.port_move_member(A, p, 0), Err(KERN_NOT_IN_SET));
    w.ipc.port_move_member(A, p, set).unwrap();
    w.ipc.port_move_member(A, p, 0).unwrap();
    assert_eq!(w.ipc.port_move_member(A, p, 0), Err(KERN_NOT_IN_SET));
    // Queue limits: at most MACH_PORT_QLIMIT_MAX, on receive rights only.
    assert_eq!(
        w.ipc.port_set_qlimit(A, p, MACH_PORT_QLIMIT_MAX + 1),
        Err(KERN_INVALID_VALUE)
    );
    w.ipc.port_set_qlimit(A, p, MACH_PORT_QLIMIT_MAX).unwrap();
    assert_eq!(w.ipc.port_get_qlimit(A, p), Ok(MACH_PORT_QLIMIT_MAX));
    assert_eq!(w.ipc.port_set_qlimit(B, s, 1), Err(KERN_INVALID_RIGHT));
    // The make-send count is what a no-senders notification reports.
    w.ipc.port_set_mscount(A, p, 41).unwrap();
    assert_eq!(w.ipc.port_set_mscount(B, s, 1), Err(KERN_INVALID_RIGHT));
    let np = w.port(A);
    let r = w
        .ipc
        .port_extract_right(A, np, MACH_MSG_TYPE_MAKE_SEND_ONCE as u32)
        .unwrap();
    w.ipc
        .port_request_notification(A, p, MACH_NOTIFY_NO_SENDERS, 0, r)
        .unwrap();
    w.ipc.port_deallocate(B, s).unwrap();
    let n = w.recv_ok(A, np);
    assert_eq!((id_of(&n), word(&n, 24)), (MACH_NOTIFY_NO_SENDERS, 41));
    w.assert_audit();
}

#[test]
fn request_notification_arguments() {
    let mut w = World::new();
    let p = w.port(A);
    let s = w.give_send(A, p, B);
    let np = w.port(B);
    let send = w.ipc.port_extract_right(B, np, MACH_MSG_TYPE_MAKE_SEND as u32).unwrap();
    // The notify right must be a send-once right (or null, or dead).
    assert_eq!(
        w.ipc.port_request_notification(B, s, MACH_NOTIFY_DEAD_NAME, 0, send),
        Err(KERN_INVALID_CAPABILITY)
    );
    let dead_send = KRight {
        port: PortRef::Dead,
        kind: RightKind::Send,
    };
    assert_eq!(
        w.ipc
            .port_request_notification(B, s, MACH_NOTIFY_DEAD_NAME, 0, dead_send),
        Err(KERN_INVALID_CAPABILITY)
    );
    let dead_once = KRight {
        port: PortRef::Dead,
        kind: RightKind::SendOnce,
    };
    assert_eq!(
        w.ipc
            .port_request_notification(B, s, MACH_NOTIFY_DEAD_NAME, 0, dead_once),
        Ok(KRight::NULL)
    );
    assert_eq!(w.ipc.port_type(B, s), Ok(MACH_PORT_TYPE_SEND));
    assert_eq!(
        w.ipc
            .port_request_notification(B, s, MACH_NOTIFY_DEAD_NAME, 0, KRight::NULL),
        Ok(KRight::NULL)
    );
    // Unknown variants; port-destroyed with a sync value.
    let so = w
        .ipc
        .port_extract_right(B, np, MACH_MSG_TYPE_MAKE_SEND_ONCE as u32)
        .unwrap();
    assert_eq!(
        w.ipc.port_request_notification(B, s, MACH_NOTIFY_SEND_ONCE, 0, so),
        Err(KERN_INVALID_VALUE)
    );
    assert_eq!(
        w.ipc.port_request_notification(A, p, MACH_NOTIFY_PORT_DESTROYED, 1, so),
        Err(KERN_INVALID_VALUE)
    );
    assert_eq!(
        w.ipc.port_request_notification(B, s, MACH_NOTIFY_PORT_DESTROYED, 0, so),
        Err(KERN_INVALID_RIGHT)
    );
    // Dead-name requests need a send or send-once right.
    assert_eq!(
        w.ipc.port_request_notification(A, p, MACH_NOTIFY_DEAD_NAME, 0, so),
        Err(KERN_INVALID_RIGHT)
    );
    // A registered request comes back when replaced.
    assert_eq!(
        w.ipc.port_request_notification(B, s, MACH_NOTIFY_DEAD_NAME, 0, so),
        Ok(KRight::NULL)
    );
    assert_eq!(
        w.ipc
            .port_request_notification(B, s, MACH_NOTIFY_DEAD_NAME, 0, KRight::NULL),
        Ok(so)
    );
    w.ipc.release_right(so);
    w.ipc.release_right(send);
    // No-senders with a sync above the make-send count stays armed.
    let r = w
        .ipc
        .port_extract_right(B, np, MACH_MSG_TYPE_MAKE_SEND_ONCE as u32)
        .unwrap();
    let q = w.port(A);
    assert_eq!(
        w.ipc.port_request_notification(A, q, MACH_NOTIFY_NO_SENDERS, 1, r),
        Ok(KRight::NULL)
    );
    assert_eq!(
        w.ipc
            .port_request_notification(A, q, MACH_NOTIFY_NO_SENDERS, 0, KRight::NULL),
        Ok(r)
    );
    w.ipc.release_right(r);
    // Drain the send-once notifications of the released rights.
    while let Ok(crate::ipc::msg::ReceiveOutcome::Message { .. }) = w.recv(B, np) {}
    w.assert_audit();
}

impl World {
    fn audit_counts(&self) -> (usize, usize) {
        let r = self.ipc.audit();
        (r.ports, r.port_sets)
    }
}

#[test]
fn dead_name_requests_of_several_names_on_one_port() {
    let mut w = World::new();
    let p = w.port(A);
    let sb = w.give_send(A, p, B);
    let sa = w.give_send(A, p, A);
    let nb = w.port(B);
    let request = |w: &mut World, space, name, notify| {
        let r = w
            .ipc
            .port_extract_right(space, notify, MACH_MSG_TYPE_MAKE_SEND_ONCE as u32)
            .unwrap();
        w.ipc
            .port_request_notification(space, name, MACH_NOTIFY_DEAD_NAME, 0, r)
            .unwrap()
    };
    assert_eq!(request(&mut w, B, sb, nb), KRight::NULL);
    // A second name's request, replaced once: each name keeps its own.
    let so = w
        .ipc
        .port_extract_right(A, p, MACH_MSG_TYPE_MAKE_SEND_ONCE as u32)
        .unwrap();
    w.ipc.port_insert_right(B, 0x7007, so).unwrap();
    assert_eq!(request(&mut w, B, 0x7007, nb), KRight::NULL);
    let old = request(&mut w, B, 0x7007, nb);
    assert_ne!(old, KRight::NULL);
    w.ipc.release_right(old);
    assert_eq!(id_of(&w.recv_ok(B, nb)), MACH_NOTIFY_SEND_ONCE);
    let _ = sa;
    // The port dies: both names' requests fire.
    w.ipc.port_destroy(A, p).unwrap();
    let mut names = [word(&w.recv_ok(B, nb), 24), word(&w.recv_ok(B, nb), 24)];
    names.sort();
    let mut want = [sb, 0x7007];
    want.sort();
    assert_eq!(names, want);
    w.assert_empty(B, nb);
    w.assert_audit();
}

#[test]
fn dead_name_requests_under_one_name_in_two_spaces() {
    let mut w = World::new();
    let p = w.port(A);
    let na = w.port(A);
    let nb = w.port(B);
    // The same name in both spaces, each a send-once right to p.
    for (space, notify) in [(A, na), (B, nb)] {
        let so = w
            .ipc
            .port_extract_right(A, p, MACH_MSG_TYPE_MAKE_SEND_ONCE as u32)
            .unwrap();
        w.ipc.port_insert_right(space, 0x7007, so).unwrap();
        let r = w
            .ipc
            .port_extract_right(space, notify, MACH_MSG_TYPE_MAKE_SEND_ONCE as u32)
            .unwrap();
        assert_eq!(
            w.ipc
                .port_request_notification(space, 0x7007, MACH_NOTIFY_DEAD_NAME, 0, r),
            Ok(KRight::NULL)
        );
    }
    // Re-registering in B leaves A's request alone.
    let r = w
        .ipc
        .port_extract_right(B, nb, MACH_MSG_TYPE_MAKE_SEND_ONCE as u32)
        .unwrap();
    let old = w
        .ipc
        .port_request_notification(B, 0x7007, MACH_NOTIFY_DEAD_NAME, 0, r)
        .unwrap();
    w.ipc.release_right(old);
    assert_eq!(id_of(&w.recv_ok(B, nb)), MACH_NOTIFY_SEND_ONCE);
    w.ipc.port_destroy(A, p).unwrap();
    assert_eq!(word(&w.recv_ok(A, na), 24), 0x7007);
    assert_eq!(word(&w.recv_ok(B, nb), 24), 0x7007);
    w.assert_audit();
}

#[test]
fn a_receive_right_inserted_under_the_name_of_its_send_right() {
    let mut w = World::new();
    let p = w.port(A);
    let s = w.give_send(A, p, B);
    let r = w
        .ipc
        .port_extract_right(A, p, MACH_MSG_TYPE_MOVE_RECEIVE as u32)
        .unwrap();
    assert_eq!(w.ipc.port_type(A, p), Err(KERN_INVALID_NAME));
    // Under another name it would be a second name for the port.
    assert_eq!(w.ipc.port_insert_right(B, s + 4, r), Err(KERN_RIGHT_EXISTS));
    w.ipc.port_insert_right(B, s, r).unwrap();
    assert_eq!(w.ipc.port_type(B, s), Ok(MACH_PORT_TYPE_SEND | MACH_PORT_TYPE_RECEIVE));
    w.send(B, &MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 4).build())
        .unwrap();
    assert_eq!(id_of(&w.recv_ok(B, s)), 4);
    w.assert_audit();
}
