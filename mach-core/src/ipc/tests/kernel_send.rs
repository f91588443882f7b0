//! Messages the kernel builds itself: a port created for transfer moves its
//! receive right to a task (a new memory object for the default pager), and
//! the kernel's own send right to it keeps working.

use super::harness::*;
use crate::ipc::kimage::KernelReplyParts;
use crate::ipc::{KRight, PortRef, RightKind};
use mach_abi::message::*;
use mach_abi::port::*;
use std::vec;

#[test]
fn receive_right_created_for_transfer_arrives() {
    let mut w = World::new();
    let p = w.port(A);
    let dest_port = w.ipc.port_extract_right(A, p, MACH_MSG_TYPE_MAKE_SEND as u32).unwrap();
    let (port, recv) = w.ipc.port_create_for_transfer();
    let held = w
        .ipc
        .make_send_right(port)
        .and_then(|r| w.ipc.kernel_hold_send(r))
        .unwrap();
    // A complex message with one port descriptor moving the receive right (handle 1).
    let mut image = vec![0u8; 24 + 4 + 12];
    let bits = mach_msgh_bits(MACH_MSG_TYPE_MOVE_SEND, 0) | MACH_MSGH_BITS_COMPLEX;
    image[0..4].copy_from_slice(&bits.to_le_bytes());
    let len = image.len() as u32;
    image[4..8].copy_from_slice(&len.to_le_bytes());
    image[20..24].copy_from_slice(&7i32.to_le_bytes());
    image[24..28].copy_from_slice(&1u32.to_le_bytes());
    image[28..32].copy_from_slice(&1u32.to_le_bytes());
    image[38] = MACH_MSG_TYPE_MOVE_RECEIVE;
    image[39] = MACH_MSG_PORT_DESCRIPTOR;
    let parts = KernelReplyParts {
        rights: vec![recv],
        ..Default::default()
    };
    w.ipc.kernel_send_image(dest_port, KRight::NULL, &image, parts);
    let got = w.recv_ok(A, p);
    let name = word(&got, 28);
    assert_eq!(w.ipc.port_type(A, name), Ok(MACH_PORT_TYPE_RECEIVE));
    w.assert_audit();
    // The kernel's send right reaches the task's new receive right.
    let r = w.ipc.copy_kernel_send(held).unwrap();
    assert_eq!(r.port, PortRef::Port(port));
    assert_eq!(r.kind, RightKind::Send);
    w.ipc.release_right(r);
    w.ipc.kernel_release_send(held);
    w.assert_audit();
}

#[test]
fn ool_descriptors_are_numbered_as_handles() {
    use crate::ipc::kimage::number_ool_handles;
    // A port descriptor, two out-of-line regions, truncated garbage after.
    let msg = MsgBuilder::new(5, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1)
        .port(6, MACH_MSG_TYPE_COPY_SEND)
        .ool(0xdead_0000, 10, false)
        .ool(0xbeef_0000, 20, true)
        .build();
    let mut image = msg.clone();
    assert_eq!(number_ool_handles(&mut image), 2);
    assert_eq!(word(&image, 40), 1);
    assert_eq!(word(&image, 56), 2);
    // Everything else is untouched.
    assert_eq!(image[..40], msg[..40]);
    // A simple message has none; descriptors cut off by the end are left alone.
    let mut simple = MsgBuilder::new(5, MACH_MSG_TYPE_COPY_SEND, 0, 0, 1).build();
    assert_eq!(number_ool_handles(&mut simple), 0);
    let mut cut = msg[..44].to_vec();
    assert_eq!(number_ool_handles(&mut cut), 0);
    assert_eq!(cut, msg[..44]);
}
