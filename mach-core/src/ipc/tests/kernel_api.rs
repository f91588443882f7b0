//! The calls the kernel makes around IPC (kernel-held rights, follow-up
//! work, counts) and the audit itself: each corruption the audit exists to
//! find is made by hand and must be reported.

use super::harness::*;
use crate::ipc::{Ipc, KObject, KRight, NoMemory, PortRef, Receiver, RightKind, UserMemory, WaitKey};
use mach_abi::message::*;
use mach_abi::port::*;
use std::vec::Vec;

/// Memory with only the required methods: the virtual-copy ones default.
struct Plain;

impl UserMemory for Plain {
    fn read(&mut self, _: u64, _: &mut [u8]) -> Result<(), ()> {
        Ok(())
    }
    fn write(&mut self, _: u64, _: &[u8]) -> Result<(), ()> {
        Ok(())
    }
    fn allocate(&mut self, _: u64) -> Result<u64, ()> {
        Ok(0x1000)
    }
    fn deallocate(&mut self, _: u64, _: u64) -> Result<(), ()> {
        Ok(())
    }
}

#[test]
fn memories_that_refuse_and_defaults() {
    let mut m = NoMemory;
    let mut b = [0u8; 4];
    assert_eq!(m.read(0x1000, &mut b), Err(()));
    assert_eq!(m.write(0x1000, &b), Err(()));
    assert_eq!(m.allocate(4096), Err(()));
    assert_eq!(m.deallocate(0x1000, 4096), Err(()));
    let mut p = Plain;
    assert_eq!(p.copyin_virtual(0x1000, 8192, true), Ok(None));
    assert_eq!(p.copyout_virtual(3), Err(()));
}

#[test]
fn counts_and_follow_up() {
    let mut w = World::new();
    assert!(w.ipc.space_exists(A) && !w.ipc.space_exists(9));
    assert!(!w.ipc.has_follow_up() && !w.ipc.has_kernel_messages() && !w.ipc.has_released_copies());
    let p = w.port(A);
    let s = w.give_send(A, p, B);
    let set = w.ipc.port_allocate(A, MACH_PORT_RIGHT_PORT_SET).unwrap();
    let _ = set;
    w.send(B, &MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1).build())
        .unwrap();
    assert_eq!(w.ipc.object_counts(), (1, 1, 1));
    assert_eq!(w.ipc.message_memory(), MACH_MSG_HEADER_SIZE as u64 + 160);
    // The send woke the port's receivers: follow-up work, kept in order.
    assert!(w.ipc.has_follow_up());
    let mut keys = Vec::new();
    w.ipc.drain_wakeups(|k| keys.push(k));
    assert_eq!(keys, [WaitKey::Port(w.ipc.port_of(A, p).unwrap())]);
    assert!(!w.ipc.has_follow_up());
    w.ipc.drain_wakeups(|_| panic!("nothing left"));
    // A message to a kernel object is follow-up work too.
    let kport = w.ipc.kobject_port_create(KObject::Host);
    let k = w.ipc.insert_make_send(B, kport).unwrap();
    assert_eq!(w.ipc.port_of(B, k), Some(kport));
    w.send(B, &MsgBuilder::new(k, MACH_MSG_TYPE_COPY_SEND, 0, 0, 2).build())
        .unwrap();
    assert!(w.ipc.has_kernel_messages() && w.ipc.has_follow_up());
    // Queued and kernel messages both hold message memory.
    assert_eq!(w.ipc.message_memory(), 2 * (MACH_MSG_HEADER_SIZE as u64 + 160));
    w.assert_audit();
    let msgs = w.ipc.take_kernel_messages();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].0, KObject::Host);
    assert!(!w.ipc.has_kernel_messages());
    for (_, m) in msgs {
        w.ipc.kernel_send(m);
    }
    w.assert_audit();
}

#[test]
fn kernel_held_rights() {
    let mut ipc = Ipc::new();
    ipc.space_create(A, 64);
    let port = ipc.kobject_port_create(KObject::Task(5));
    let other = ipc.kobject_port_create(KObject::Task(6));
    assert_ne!(port, other);
    assert!(ipc.port_is_alive(port));
    let r = ipc.make_send_right(port).unwrap();
    assert_eq!(ipc.kernel_hold_send(r), Some(port));
    let copy = ipc.copy_kernel_send(port).unwrap();
    assert_eq!((copy.port, copy.kind), (PortRef::Port(port), RightKind::Send));
    let so = ipc.make_send_once_right(port).unwrap();
    assert_eq!(so.kind, RightKind::SendOnce);
    assert!(ipc.audit_with(&[copy, so]).violations.is_empty());
    // Counted on the port: without them in hand the audit disagrees.
    assert!(!ipc.audit_with(&[copy]).violations.is_empty());
    assert!(!ipc.audit_with(&[so]).violations.is_empty());
    ipc.release_right(copy);
    ipc.release_right(so);
    let name = ipc.insert_make_send(A, port).unwrap();
    assert_eq!(ipc.port_of(A, name), Some(port));
    ipc.kernel_release_send(port);
    assert!(ipc.audit().violations.is_empty());
    ipc.kobject_port_destroy(port);
    assert!(!ipc.port_is_alive(port));
    assert_eq!(ipc.copy_kernel_send(port), None);
    assert_eq!(ipc.make_send_once_right(port), None);
    assert_eq!(ipc.make_send_right(port), None);
    assert_eq!(
        ipc.insert_make_send(A, port),
        Err(mach_abi::kern_return::KERN_INVALID_CAPABILITY)
    );
    // The task's name turns dead; releasing it frees the port.
    assert_eq!(ipc.port_type(A, name), Ok(MACH_PORT_TYPE_DEAD_NAME));
    ipc.port_deallocate(A, name).unwrap();
    assert!(ipc.audit().violations.is_empty());
    // (The released send-once right's notification still refers to it.)
    assert_eq!(ipc.take_kernel_messages().len(), 1);
    assert_eq!(ipc.kernel_hold_send(KRight::NULL), None);
}

fn violations(w: &World) -> Vec<std::string::String> {
    w.ipc.audit().violations
}

#[test]
fn the_audit_finds_broken_counts() {
    let mut w = World::new();
    let p = w.port(A);
    let s = w.give_send(A, p, B);
    let port = w.ipc.port_of(A, p).unwrap();
    let r = w.audit_report_counts();
    assert_eq!(r, (1, 0, 0));
    w.ipc.ports.get_mut(&port).unwrap().srights += 1;
    assert_eq!(violations(&w).len(), 1);
    w.ipc.ports.get_mut(&port).unwrap().srights -= 1;
    w.ipc.ports.get_mut(&port).unwrap().kernel_srights += 1;
    assert_eq!(violations(&w).len(), 1);
    w.ipc.ports.get_mut(&port).unwrap().srights += 1;
    assert!(violations(&w).is_empty());
    w.ipc.ports.get_mut(&port).unwrap().kernel_srights = 0;
    w.ipc.ports.get_mut(&port).unwrap().srights = 1;
    w.ipc.ports.get_mut(&port).unwrap().sorights += 1;
    assert_eq!(violations(&w).len(), 1);
    w.ipc.ports.get_mut(&port).unwrap().sorights -= 1;
    // A send right with no user references, or too many.
    w.ipc.spaces.get_mut(&B).unwrap().get_mut(s).unwrap().urefs = 0;
    assert_eq!(violations(&w).len(), 1);
    w.ipc.spaces.get_mut(&B).unwrap().get_mut(s).unwrap().urefs = MACH_PORT_UREFS_MAX + 1;
    assert_eq!(violations(&w).len(), 1);
    w.ipc.spaces.get_mut(&B).unwrap().get_mut(s).unwrap().urefs = MACH_PORT_UREFS_MAX;
    assert!(violations(&w).is_empty());
    // A receive right the port does not know, or two holders.
    w.ipc.ports.get_mut(&port).unwrap().receiver = Receiver::Space(B);
    assert_eq!(violations(&w).len(), 1);
    w.ipc.ports.get_mut(&port).unwrap().receiver = Receiver::Kernel(KObject::Host);
    assert_eq!(violations(&w).len(), 2);
    w.ipc.ports.get_mut(&port).unwrap().receiver = Receiver::Space(A);
    assert!(violations(&w).is_empty());
    // An entry with no rights (the send right is missing from the count,
    // and the reverse map gives a name that holds no right).
    let bits = w.ipc.spaces.get(&B).unwrap().get(s).unwrap().bits;
    w.ipc.spaces.get_mut(&B).unwrap().get_mut(s).unwrap().bits = 0;
    assert_eq!(violations(&w).len(), 3);
    w.ipc.spaces.get_mut(&B).unwrap().get_mut(s).unwrap().bits = bits;
    // Message memory that queued messages do not account for.
    w.ipc.message_memory += 1;
    assert_eq!(violations(&w).len(), 1);
    w.ipc.message_memory -= 1;
    w.send(B, &MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1).build())
        .unwrap();
    assert_eq!(w.audit_report_counts(), (1, 0, 1));
    // (the global budget's and its receiver's)
    w.ipc.ports.get_mut(&port).unwrap().messages[0].charge += 1;
    assert_eq!(violations(&w).len(), 2);
    w.ipc.ports.get_mut(&port).unwrap().messages[0].charge -= 1;
    // A space charged for more than its messages hold.
    w.ipc.spaces.get_mut(&A).unwrap().message_memory += 1;
    assert_eq!(violations(&w).len(), 1);
    w.ipc.spaces.get_mut(&A).unwrap().message_memory -= 1;
    assert!(violations(&w).is_empty());
    // A right carried by a queued message counts.
    w.ipc.ports.get_mut(&port).unwrap().srights -= 1;
    assert_eq!(violations(&w).len(), 1);
    w.ipc.ports.get_mut(&port).unwrap().srights += 1;
    // Far more messages sent with send rights than the queue limit: 64 over
    // it is tolerated (the limit may have been lowered), more is not.
    w.ipc.ports.get_mut(&port).unwrap().qlimit = 0;
    assert!(violations(&w).is_empty());
    w.ipc.ports.get_mut(&port).unwrap().qlimit = 1;
    for _ in 0..64 {
        let m = crate::ipc::kmsg::KMsg {
            complex: false,
            id: 9,
            dest: w.ipc.make_send_right(port).unwrap(),
            reply: KRight::NULL,
            body: Vec::new(),
            descs: Vec::new(),
            sender: 0,
            seqno: 0,
            charge: 0,
            account: 0,
        };
        w.ipc.kernel_send(m);
    }
    assert_eq!(w.audit_report_counts(), (1, 0, 65));
    assert!(violations(&w).is_empty());
    w.ipc.ports.get_mut(&port).unwrap().qlimit = 0;
    assert_eq!(violations(&w).len(), 1);
    w.ipc.ports.get_mut(&port).unwrap().qlimit = 1;
    w.assert_audit();
}

#[test]
fn the_audit_finds_broken_links() {
    let mut w = World::new();
    let p = w.port(A);
    let port = w.ipc.port_of(A, p).unwrap();
    let set = w.ipc.port_allocate(A, MACH_PORT_RIGHT_PORT_SET).unwrap();
    w.ipc.port_move_member(A, p, set).unwrap();
    assert_eq!(w.audit_report_counts(), (1, 1, 0));
    assert!(violations(&w).is_empty());
    // A port in a set that does not list it.
    let sid = w.ipc.ports.get(&port).unwrap().pset.unwrap();
    w.ipc.psets.get_mut(&sid).unwrap().members.clear();
    assert_eq!(violations(&w).len(), 1);
    w.ipc.psets.get_mut(&sid).unwrap().members.push(port);
    // A name for a freed set.
    let gone = w.ipc.psets.remove(&sid).unwrap();
    assert!(violations(&w).len() >= 2);
    let sid2 = w.ipc.psets.insert(gone);
    let _ = sid2;
    // A dead port nobody refers to, never freed.
    let mut w = World::new();
    let p = w.port(A);
    let port = w.ipc.port_of(A, p).unwrap();
    w.ipc.spaces.get_mut(&A).unwrap().free(p);
    w.ipc.ports.get_mut(&port).unwrap().receiver = Receiver::Dead;
    assert_eq!(violations(&w).len(), 1);
    // Rights for a freed port.
    let mut w = World::new();
    let p = w.port(A);
    let s = w.give_send(A, p, B);
    let port = w.ipc.port_of(A, p).unwrap();
    w.ipc.ports.remove(&port);
    let v = violations(&w);
    assert!(v.iter().any(|l| l.contains("freed port")), "{v:?}");
    let _ = s;
}

impl World {
    /// The audit's object counts: (ports, port sets, messages).
    fn audit_report_counts(&self) -> (usize, usize, usize) {
        let r = self.ipc.audit();
        (r.ports, r.port_sets, r.messages)
    }
}

#[test]
fn the_kernel_releasing_the_last_send_right_is_a_no_senders_notification() {
    let mut w = World::new();
    let p = w.port(A);
    let port = w.ipc.port_of(A, p).unwrap();
    let r = w.ipc.make_send_right(port).unwrap();
    assert_eq!(w.ipc.kernel_hold_send(r), Some(port));
    let np = w.port(A);
    let so = w
        .ipc
        .port_extract_right(A, np, MACH_MSG_TYPE_MAKE_SEND_ONCE as u32)
        .unwrap();
    w.ipc
        .port_request_notification(A, p, MACH_NOTIFY_NO_SENDERS, 0, so)
        .unwrap();
    w.assert_empty(A, np);
    w.ipc.kernel_release_send(port);
    assert_eq!(id_of(&w.recv_ok(A, np)), MACH_NOTIFY_NO_SENDERS);
    assert_eq!(w.ipc.ports.get(&port).unwrap().kernel_srights, 0);
    w.assert_audit();
}

#[test]
fn the_audit_counts_receive_rights_in_flight() {
    let mut w = World::new();
    let p = w.port(A);
    let s = w.give_send(A, p, B);
    let q = w.port(B);
    let msg = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1)
        .port(q, MACH_MSG_TYPE_MOVE_RECEIVE)
        .build();
    w.send(B, &msg).unwrap();
    // Queued in a message: one holder, the message.
    w.assert_audit();
    // Held by the kernel: counted only when the caller says so.
    let (port, right) = w.ipc.port_create_for_transfer();
    assert!(!w.ipc.audit().violations.is_empty());
    assert!(w.ipc.audit_with(&[right]).violations.is_empty());
    assert!(!w.ipc.audit_with(&[right, right]).violations.is_empty());
    let _ = port;
    w.ipc.release_right(right);
    w.assert_audit();
}

#[test]
fn the_audit_finds_a_stale_reverse_map_and_dead_names_that_denote_ports() {
    use crate::ipc::space::{Object, bits};
    let mut w = World::new();
    let p = w.port(A);
    let s = w.give_send(A, p, B);
    let port = w.ipc.port_of(A, p).unwrap();
    assert!(violations(&w).is_empty());
    // A send right the reverse map does not give (it is dropped from the map).
    w.ipc.spaces.get_mut(&B).unwrap().update_index_dead(s, port);
    let v = violations(&w);
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].contains("reverse map does not give"), "{v:?}");
    // A dead name still denoting the port (and in the map under it).
    let mut w = World::new();
    let p = w.port(A);
    let s = w.give_send(A, p, B);
    w.ipc.spaces.get_mut(&B).unwrap().get_mut(s).unwrap().bits = bits::DEAD_NAME;
    let v = violations(&w);
    assert!(v.iter().any(|l| l.contains("dead name that denotes")), "{v:?}");
    assert!(v.iter().any(|l| l.contains("reverse map gives port")), "{v:?}");
    // A dead name with a right beside it.
    let mut w = World::new();
    let d = w.ipc.port_allocate(A, MACH_PORT_RIGHT_DEAD_NAME).unwrap();
    w.ipc.spaces.get_mut(&A).unwrap().get_mut(d).unwrap().bits |= bits::SEND_ONCE;
    let v = violations(&w);
    assert!(v.iter().any(|l| l.contains("dead name that denotes")), "{v:?}");
    w.ipc.spaces.get_mut(&A).unwrap().get_mut(d).unwrap().bits = bits::DEAD_NAME;
    assert_eq!(w.ipc.spaces.get(&A).unwrap().get(d).unwrap().object, Object::None);
    assert!(violations(&w).is_empty());
}
