//! Out-of-line memory of a page or more sent to a kernel object: the sender's
//! memory copies it once into pages the kernel keeps
//! (`UserMemory::copyin_kernel_pages`), the request carries their handle, and
//! pages no server takes, or of a message that fails, are released.

use super::harness::*;
use crate::ipc::kimage::OOL_COPY_HANDLE;
use crate::ipc::{KObject, Name};
use mach_abi::message::*;
use std::vec::Vec;

fn kernel_port(w: &mut World) -> Name {
    let kport = w.ipc.kobject_port_create(KObject::Host);
    w.ipc.insert_make_send(B, kport).unwrap()
}

fn handle_at_28(image: &[u8]) -> u64 {
    u64::from(word(image, 28)) | (u64::from(word(image, 32)) << 32)
}

fn data(n: usize) -> Vec<u8> {
    (0..n as u32).map(|i| (i * 13 + 1) as u8).collect()
}

/// Sends `bytes` out of line to the host port; returns the request.
fn send_to_kernel(w: &mut World, bytes: &[u8], dealloc: bool) -> (u64, crate::ipc::kimage::KernelRequest) {
    let k = kernel_port(w);
    let addr = w.mem[B as usize].put(bytes);
    let msg = MsgBuilder::new(k, MACH_MSG_TYPE_COPY_SEND, 0, 0, 9)
        .ool(addr, bytes.len() as u32, dealloc)
        .build();
    w.send(B, &msg).unwrap();
    let mut msgs = w.ipc.take_kernel_messages();
    assert_eq!(msgs.len(), 1);
    let (_, kmsg) = msgs.pop().unwrap();
    (addr, w.ipc.kernel_request(kmsg))
}

#[test]
fn a_page_or_more_reaches_the_server_as_kernel_pages() {
    let mut w = World::new();
    w.mem[B as usize].kernel_pages = true;
    let bytes = data(2 * 4096 + 100);
    let (addr, mut req) = send_to_kernel(&mut w, &bytes, true);
    assert!(w.mem[B as usize].region(addr).is_none(), "deallocated by the copy");
    let h = handle_at_28(&req.image);
    assert_ne!(h & OOL_COPY_HANDLE, 0, "the image marks a pages handle");
    assert_eq!(req.take_ool(h), None, "not bytes");
    let pages = req.take_ool_pages(h).expect("the pages");
    assert_eq!(req.take_ool_pages(h), None, "taken once");
    COPIES.with(|c| assert_eq!(c.borrow_mut().remove(&pages).unwrap(), bytes));
    w.ipc.kernel_request_done(req);
    assert!(!w.ipc.has_released_copies(), "the server took them");
    w.assert_audit();
}

#[test]
fn pages_no_server_takes_are_released() {
    let mut w = World::new();
    w.mem[B as usize].kernel_pages = true;
    let (addr, req) = send_to_kernel(&mut w, &data(4096), false);
    assert!(w.mem[B as usize].region(addr).is_some(), "no deallocate flag");
    assert_eq!(copies_in_flight(), 1);
    w.ipc.kernel_request_done(req);
    let released = w.ipc.take_released_copies();
    assert_eq!(released.len(), 1);
    COPIES.with(|c| assert!(c.borrow().contains_key(&released[0])));
    w.assert_audit();
}

#[test]
fn less_than_a_page_stays_bytes() {
    let mut w = World::new();
    w.mem[B as usize].kernel_pages = true;
    let bytes = data(4095);
    let (_, mut req) = send_to_kernel(&mut w, &bytes, false);
    let h = handle_at_28(&req.image);
    assert_eq!(h & OOL_COPY_HANDLE, 0);
    assert_eq!(req.take_ool_pages(h), None);
    assert_eq!(req.take_ool(h).unwrap(), bytes);
    assert_eq!(copies_in_flight(), 0);
    w.ipc.kernel_request_done(req);
    assert!(!w.ipc.has_released_copies());
    w.assert_audit();
}

#[test]
fn memory_that_cannot_keep_pages_sends_bytes() {
    let mut w = World::new();
    let bytes = data(3 * 4096);
    let (_, mut req) = send_to_kernel(&mut w, &bytes, false);
    let h = handle_at_28(&req.image);
    assert_eq!(req.take_ool(h).unwrap(), bytes);
    w.ipc.kernel_request_done(req);
    w.assert_audit();
}

#[test]
fn a_failed_send_releases_the_pages_it_took() {
    let mut w = World::new();
    w.mem[B as usize].kernel_pages = true;
    let k = kernel_port(&mut w);
    let addr = w.mem[B as usize].put(&data(4096));
    // The second descriptor names no right: the send fails after the copy.
    let msg = MsgBuilder::new(k, MACH_MSG_TYPE_COPY_SEND, 0, 0, 9)
        .ool(addr, 4096, false)
        .port(0x777, MACH_MSG_TYPE_COPY_SEND)
        .build();
    assert_eq!(w.send(B, &msg).unwrap_err(), MACH_SEND_INVALID_RIGHT);
    assert!(w.ipc.take_kernel_messages().is_empty());
    let released = w.ipc.take_released_copies();
    assert_eq!(released.len(), 1);
    COPIES.with(|c| assert!(c.borrow().contains_key(&released[0])));
    w.assert_audit();
}

#[test]
fn messages_to_tasks_never_take_kernel_pages() {
    let mut w = World::new();
    w.mem[B as usize].kernel_pages = true;
    let p = w.port(A);
    let s = w.give_send(A, p, B);
    let addr = w.mem[B as usize].put(&data(8192));
    let msg = MsgBuilder::new(s, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1)
        .ool(addr, 8192, false)
        .build();
    w.send(B, &msg).unwrap();
    assert_eq!(copies_in_flight(), 0);
    let got = w.recv_ok(A, p);
    let a = handle_at_28(&got);
    assert_eq!(w.mem[A as usize].region(a).unwrap(), &data(8192));
}
