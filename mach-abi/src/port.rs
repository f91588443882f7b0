//! Port rights, port types and notification message ids.

use crate::message::MachPortName;

/// `mach_port_right_t`.
pub type MachPortRight = u32;
pub const MACH_PORT_RIGHT_SEND: MachPortRight = 0;
pub const MACH_PORT_RIGHT_RECEIVE: MachPortRight = 1;
pub const MACH_PORT_RIGHT_SEND_ONCE: MachPortRight = 2;
pub const MACH_PORT_RIGHT_PORT_SET: MachPortRight = 3;
pub const MACH_PORT_RIGHT_DEAD_NAME: MachPortRight = 4;
pub const MACH_PORT_RIGHT_NUMBER: MachPortRight = 5;

/// `mach_port_type_t`: one bit per right a name denotes.
pub type MachPortType = u32;
pub const fn mach_port_type(right: MachPortRight) -> MachPortType {
    1 << (right + 16)
}
pub const MACH_PORT_TYPE_NONE: MachPortType = 0;
pub const MACH_PORT_TYPE_SEND: MachPortType = mach_port_type(MACH_PORT_RIGHT_SEND);
pub const MACH_PORT_TYPE_RECEIVE: MachPortType = mach_port_type(MACH_PORT_RIGHT_RECEIVE);
pub const MACH_PORT_TYPE_SEND_ONCE: MachPortType = mach_port_type(MACH_PORT_RIGHT_SEND_ONCE);
pub const MACH_PORT_TYPE_PORT_SET: MachPortType = mach_port_type(MACH_PORT_RIGHT_PORT_SET);
pub const MACH_PORT_TYPE_DEAD_NAME: MachPortType = mach_port_type(MACH_PORT_RIGHT_DEAD_NAME);
pub const MACH_PORT_TYPE_SEND_RECEIVE: MachPortType = MACH_PORT_TYPE_SEND | MACH_PORT_TYPE_RECEIVE;
/// A dead-name request is registered on this name.
pub const MACH_PORT_TYPE_DNREQUEST: MachPortType = 0x8000_0000;

/// Most user references a name may hold for one right (send or dead name).
pub const MACH_PORT_UREFS_MAX: u32 = 0xffff;

/// Queue limits (`mach_port_set_qlimit` / `mach_port_set_attributes`).
pub const MACH_PORT_QLIMIT_DEFAULT: u32 = 5;
pub const MACH_PORT_QLIMIT_MAX: u32 = 64;

// ---- Notifications (msgh_id values, as in Mach) ----
pub const MACH_NOTIFY_FIRST: i32 = 0o100;
/// A send or send-once right's name was deleted (its port died and the name was destroyed).
pub const MACH_NOTIFY_PORT_DELETED: i32 = MACH_NOTIFY_FIRST + 0o1;
/// A receive right would have been destroyed; it is sent back in the notification.
pub const MACH_NOTIFY_PORT_DESTROYED: i32 = MACH_NOTIFY_FIRST + 0o5;
/// No more send rights exist; carries the make-send count.
pub const MACH_NOTIFY_NO_SENDERS: i32 = MACH_NOTIFY_FIRST + 0o6;
/// A send-once right was destroyed without being used.
pub const MACH_NOTIFY_SEND_ONCE: i32 = MACH_NOTIFY_FIRST + 0o7;
/// A send right became a dead name.
pub const MACH_NOTIFY_DEAD_NAME: i32 = MACH_NOTIFY_FIRST + 0o10;

/// Body of port-deleted and dead-name notifications: header, then the name.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct MachNameNotification {
    pub header: crate::message::MachMsgHeader,
    pub name: MachPortName,
}

/// Body of a no-senders notification: header, then the make-send count.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct MachNoSendersNotification {
    pub header: crate::message::MachMsgHeader,
    pub mscount: u32,
}
