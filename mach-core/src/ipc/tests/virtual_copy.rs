//! Out-of-line memory carried as virtual copies: the handle reaches the
//! receiver's memory, and every way a message can die without being received
//! hands the copy back through `take_released_copies`.

use super::harness::*;
use crate::ipc::msg::ReceiveOutcome;
use mach_abi::message::*;

fn ool_addr(got: &[u8]) -> u64 {
    u64::from(word(got, 28)) | (u64::from(word(got, 32)) << 32)
}

fn setup(dealloc: bool) -> (World, u32, u64, std::vec::Vec<u8>) {
    let mut w = World::new();
    let p = w.port(A);
    let s = w.give_send(A, p, B);
    w.mem[B as usize].virtual_copies = true;
    let data: std::vec::Vec<u8> = (0..9000u32).map(|i| (i * 7) as u8).collect();
    let addr = w.mem[B as usize].put(&data);
    let msg = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1)
        .ool_virtual(addr, data.len() as u32, dealloc)
        .build();
    w.send(B, &msg).unwrap();
    (w, p, addr, data)
}

#[test]
fn virtual_copy_is_mapped_by_the_receiver() {
    let (mut w, p, addr, data) = setup(true);
    assert_eq!(copies_in_flight(), 1);
    assert!(
        w.mem[B as usize].region(addr).is_none(),
        "deallocate flag moved the region"
    );
    let got = w.recv_ok(A, p);
    assert_eq!(w.mem[A as usize].region(ool_addr(&got)).unwrap(), &data);
    assert_eq!(word(&got, 40), data.len() as u32, "size field kept");
    assert_eq!(copies_in_flight(), 0);
    assert!(!w.ipc.has_released_copies());
    w.assert_audit();
}

#[test]
fn small_regions_stay_physical() {
    let mut w = World::new();
    let p = w.port(A);
    let s = w.give_send(A, p, B);
    w.mem[B as usize].virtual_copies = true;
    let addr = w.mem[B as usize].put(&[5; 100]);
    let msg = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1)
        .ool_virtual(addr, 100, false)
        .build();
    w.send(B, &msg).unwrap();
    assert_eq!(copies_in_flight(), 0);
    let got = w.recv_ok(A, p);
    assert_eq!(w.mem[A as usize].region(ool_addr(&got)).unwrap(), &[5; 100]);
}

#[test]
fn destroyed_message_releases_its_copy() {
    let (mut w, p, addr, _) = setup(false);
    assert!(
        w.mem[B as usize].region(addr).is_some(),
        "no deallocate flag: the sender keeps it"
    );
    w.ipc.port_destroy(A, p).unwrap();
    assert!(w.ipc.has_released_copies() && w.ipc.has_follow_up());
    let released = w.ipc.take_released_copies();
    assert_eq!(released.len(), 1);
    COPIES.with(|c| assert!(c.borrow().contains_key(&released[0])));
    assert!(!w.ipc.has_released_copies());
    w.assert_audit();
}

#[test]
fn failed_copyout_reports_body_error_and_releases() {
    let (mut w, p, _, _) = setup(true);
    w.mem[A as usize].refuse_copies = true;
    match w.recv(A, p) {
        Ok(ReceiveOutcome::Message { bytes, status }) => {
            assert_eq!(status, MACH_RCV_BODY_ERROR);
            assert_eq!(ool_addr(&bytes), 0);
        }
        other => panic!("expected a message, got {other:?}"),
    }
    assert_eq!(w.ipc.take_released_copies().len(), 1);
    assert_eq!(w.ipc.port_destroy(A, p), Ok(()));
    assert!(!w.ipc.has_released_copies());
    w.assert_audit();
}

#[test]
fn physical_copy_is_honoured_unless_deallocating() {
    let mut w = World::new();
    let p = w.port(A);
    let s = w.give_send(A, p, B);
    w.mem[B as usize].virtual_copies = true;
    let addr = w.mem[B as usize].put(&[1; 8192]);
    // MACH_MSG_PHYSICAL_COPY: the bytes are copied at send time.
    let msg = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1)
        .ool(addr, 8192, false)
        .build();
    w.send(B, &msg).unwrap();
    assert_eq!(copies_in_flight(), 0);
    // With the deallocate flag the region moves, so a virtual copy is as good.
    let msg = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1)
        .ool(addr, 8192, true)
        .build();
    w.send(B, &msg).unwrap();
    assert_eq!(copies_in_flight(), 1);
    for _ in 0..2 {
        let got = w.recv_ok(A, p);
        assert_eq!(w.mem[A as usize].region(ool_addr(&got)).unwrap(), &[1; 8192]);
    }
    assert_eq!(copies_in_flight(), 0);
    w.assert_audit();
}
