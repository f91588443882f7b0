//! Notifications: messages the kernel sends on a send-once right when
//! something happens to a port or a name. Each fires at most once, because
//! sending one consumes the send-once right it was registered with.
//!
//! Layouts (matching `interfaces/notify.defs`): header, then one `u32` (the
//! name, or the make-send count); port-destroyed is a complex message carrying
//! the receive right in one port descriptor; send-once has no body.

use super::kmsg::{KDesc, KMsg};
use super::{Ipc, KERNEL_SPACE, KRight, Name, PortId, PortRef, RightKind};
use alloc::vec::Vec;
use mach_abi::message::*;
use mach_abi::port::*;

impl Ipc {
    fn notification(&mut self, notify: PortId, id: i32, body: Vec<u8>, descs: Vec<(usize, KDesc)>) {
        let msg = KMsg {
            complex: !descs.is_empty(),
            id,
            dest: KRight {
                port: PortRef::Port(notify),
                kind: RightKind::SendOnce,
            },
            reply: KRight::NULL,
            body,
            descs,
            sender: KERNEL_SPACE,
            seqno: 0,
            charge: 0,
            account: 0,
        };
        self.deliver(msg);
    }

    pub(crate) fn notify_no_senders(&mut self, notify: PortId, mscount: u32) {
        self.notification(
            notify,
            MACH_NOTIFY_NO_SENDERS,
            mscount.to_le_bytes().to_vec(),
            Vec::new(),
        );
    }

    pub(crate) fn notify_send_once(&mut self, notify: PortId) {
        self.notification(notify, MACH_NOTIFY_SEND_ONCE, Vec::new(), Vec::new());
    }

    pub(crate) fn notify_dead_name(&mut self, notify: PortId, name: Name) {
        self.notification(notify, MACH_NOTIFY_DEAD_NAME, name.to_le_bytes().to_vec(), Vec::new());
    }

    pub(crate) fn notify_port_deleted(&mut self, notify: PortId, name: Name) {
        self.notification(
            notify,
            MACH_NOTIFY_PORT_DELETED,
            name.to_le_bytes().to_vec(),
            Vec::new(),
        );
    }

    /// Sends the receive right of `port` (already marked in transit) to the requester.
    pub(crate) fn notify_port_destroyed(&mut self, notify: PortId, port: PortId) {
        let mut body = Vec::with_capacity(MACH_MSG_BODY_SIZE + MACH_MSG_PORT_DESCRIPTOR_SIZE);
        body.extend_from_slice(&1u32.to_le_bytes());
        let mut d = [0u8; MACH_MSG_PORT_DESCRIPTOR_SIZE];
        d[10] = MACH_MSG_TYPE_PORT_RECEIVE;
        d[MACH_MSG_DESCRIPTOR_TYPE_OFFSET] = MACH_MSG_PORT_DESCRIPTOR;
        body.extend_from_slice(&d);
        let right = KRight {
            port: PortRef::Port(port),
            kind: RightKind::Receive,
        };
        self.notification(
            notify,
            MACH_NOTIFY_PORT_DESTROYED,
            body,
            alloc::vec![(MACH_MSG_BODY_SIZE, KDesc::Port(right))],
        );
    }
}
