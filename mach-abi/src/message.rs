//! The `mach_msg` wire format, options and return codes (XNU/OSF layout).
//!
//! A message is a [`MachMsgHeader`]; if `MACH_MSGH_BITS_COMPLEX` is set in its
//! bits, a [`MachMsgBody`] (the descriptor count) and that many descriptors
//! follow, then inline data. Descriptors are packed to 4 bytes and come in two
//! sizes: a port descriptor is 12 bytes, an out-of-line memory or out-of-line
//! ports descriptor is 16. The descriptor type is always the byte at offset 11,
//! so a reader looks at it first. A received message is followed by a
//! [`MachMsgTrailer`] that says who sent it.

pub type MachPortName = u32;
pub type MachMsgReturn = i32;
pub type MachMsgBits = u32;
pub type MachMsgOption = u32;

pub const MACH_PORT_NULL: MachPortName = 0;
pub const MACH_PORT_DEAD: MachPortName = !0;

/// Is `name` a name that can denote a right (neither null nor dead)?
pub const fn mach_port_valid(name: MachPortName) -> bool {
    name != MACH_PORT_NULL && name != MACH_PORT_DEAD
}

// ---- Dispositions (what to do with a right when sending) and received types ----
pub const MACH_MSG_TYPE_PORT_NAME: u8 = 15;
pub const MACH_MSG_TYPE_MOVE_RECEIVE: u8 = 16;
pub const MACH_MSG_TYPE_MOVE_SEND: u8 = 17;
pub const MACH_MSG_TYPE_MOVE_SEND_ONCE: u8 = 18;
pub const MACH_MSG_TYPE_COPY_SEND: u8 = 19;
pub const MACH_MSG_TYPE_MAKE_SEND: u8 = 20;
pub const MACH_MSG_TYPE_MAKE_SEND_ONCE: u8 = 21;
/// Received types: what the receiver holds after copyout.
pub const MACH_MSG_TYPE_PORT_RECEIVE: u8 = MACH_MSG_TYPE_MOVE_RECEIVE;
pub const MACH_MSG_TYPE_PORT_SEND: u8 = MACH_MSG_TYPE_MOVE_SEND;
pub const MACH_MSG_TYPE_PORT_SEND_ONCE: u8 = MACH_MSG_TYPE_MOVE_SEND_ONCE;

/// Is `d` a disposition that can be sent?
pub const fn is_send_disposition(d: u8) -> bool {
    d >= MACH_MSG_TYPE_MOVE_RECEIVE && d <= MACH_MSG_TYPE_MAKE_SEND_ONCE
}

// ---- Header bits ----
pub const MACH_MSGH_BITS_ZERO: MachMsgBits = 0;
pub const MACH_MSGH_BITS_REMOTE_MASK: MachMsgBits = 0x1f;
pub const MACH_MSGH_BITS_LOCAL_MASK: MachMsgBits = 0x1f00;
pub const MACH_MSGH_BITS_VOUCHER_MASK: MachMsgBits = 0x1f_0000;
pub const MACH_MSGH_BITS_COMPLEX: MachMsgBits = 0x8000_0000;
/// Bits a sender may set.
pub const MACH_MSGH_BITS_USER: MachMsgBits = 0x801f_1f1f;

pub const fn mach_msgh_bits(remote: u8, local: u8) -> MachMsgBits {
    remote as u32 | ((local as u32) << 8)
}
pub const fn mach_msgh_bits_remote(bits: MachMsgBits) -> u8 {
    (bits & MACH_MSGH_BITS_REMOTE_MASK) as u8
}
pub const fn mach_msgh_bits_local(bits: MachMsgBits) -> u8 {
    ((bits & MACH_MSGH_BITS_LOCAL_MASK) >> 8) as u8
}
pub const fn mach_msgh_bits_voucher(bits: MachMsgBits) -> u8 {
    ((bits & MACH_MSGH_BITS_VOUCHER_MASK) >> 16) as u8
}

/// `mach_msg_header_t`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MachMsgHeader {
    pub bits: MachMsgBits,
    /// Total size of the message (header, body, descriptors, inline data), without trailer.
    pub size: u32,
    /// Sending: the destination. Received: the reply port.
    pub remote_port: MachPortName,
    /// Sending: the reply port. Received: the receive right the message came through.
    pub local_port: MachPortName,
    pub voucher_port: MachPortName,
    pub id: i32,
}
pub const MACH_MSG_HEADER_SIZE: usize = 24;

/// `mach_msg_body_t`: present when the header is complex.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MachMsgBody {
    pub descriptor_count: u32,
}
pub const MACH_MSG_BODY_SIZE: usize = 4;

// ---- Descriptors ----
pub const MACH_MSG_PORT_DESCRIPTOR: u8 = 0;
pub const MACH_MSG_OOL_DESCRIPTOR: u8 = 1;
pub const MACH_MSG_OOL_PORTS_DESCRIPTOR: u8 = 2;
pub const MACH_MSG_OOL_VOLATILE_DESCRIPTOR: u8 = 3;
/// Byte offset of the type within every descriptor.
pub const MACH_MSG_DESCRIPTOR_TYPE_OFFSET: usize = 11;
pub const MACH_MSG_PORT_DESCRIPTOR_SIZE: usize = 12;
pub const MACH_MSG_OOL_DESCRIPTOR_SIZE: usize = 16;

/// `mach_msg_port_descriptor_t` (12 bytes).
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MachMsgPortDescriptor {
    pub name: MachPortName,
    pub pad1: u32,
    pub pad2: u16,
    pub disposition: u8,
    pub type_: u8,
}

/// `mach_msg_ool_descriptor_t` (16 bytes, 64-bit layout).
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MachMsgOolDescriptor {
    pub address: u64,
    pub deallocate: u8,
    /// `MACH_MSG_PHYSICAL_COPY` or `MACH_MSG_VIRTUAL_COPY`.
    pub copy: u8,
    pub pad1: u8,
    pub type_: u8,
    pub size: u32,
}

/// `mach_msg_ool_ports_descriptor_t` (16 bytes, 64-bit layout).
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MachMsgOolPortsDescriptor {
    pub address: u64,
    pub deallocate: u8,
    pub copy: u8,
    pub disposition: u8,
    pub type_: u8,
    pub count: u32,
}

pub const MACH_MSG_PHYSICAL_COPY: u8 = 0;
pub const MACH_MSG_VIRTUAL_COPY: u8 = 1;

// ---- Trailer ----
pub const MACH_MSG_TRAILER_FORMAT_0: u32 = 0;

/// The trailer the kernel appends to every received message (the security
/// trailer of XNU): `sender[0..2]` is the sending task's id (0 = the kernel),
/// so a server can tell a real kernel notification from a forged one.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MachMsgTrailer {
    pub trailer_type: u32,
    pub trailer_size: u32,
    pub seqno: u32,
    pub sender: [u32; 2],
}
pub const MACH_MSG_TRAILER_SIZE: usize = 20;

impl MachMsgTrailer {
    /// The sending task's id; 0 for messages the kernel sent.
    pub fn sender_task(&self) -> u64 {
        self.sender[0] as u64 | ((self.sender[1] as u64) << 32)
    }
}

/// Largest message (header to end of inline data) `mach_msg` accepts.
pub const MACH_MSG_SIZE_MAX: u32 = 64 * 1024;
/// Most descriptors in one message.
pub const MACH_MSG_DESCRIPTORS_MAX: u32 = 1024;
/// Most out-of-line bytes in one message, virtual copies included.
pub const MACH_MSG_OOL_SIZE_MAX: u64 = 16 * 1024 * 1024;
/// Most rights in one out-of-line ports array.
pub const MACH_MSG_OOL_PORTS_MAX: u32 = 4096;

// ---- Options ----
pub const MACH_MSG_OPTION_NONE: MachMsgOption = 0;
pub const MACH_SEND_MSG: MachMsgOption = 0x1;
pub const MACH_RCV_MSG: MachMsgOption = 0x2;
pub const MACH_RCV_LARGE: MachMsgOption = 0x4;
pub const MACH_SEND_TIMEOUT: MachMsgOption = 0x10;
pub const MACH_SEND_INTERRUPT: MachMsgOption = 0x40;
pub const MACH_RCV_TIMEOUT: MachMsgOption = 0x100;
pub const MACH_RCV_INTERRUPT: MachMsgOption = 0x400;
/// Options a user may pass.
pub const MACH_MSG_OPTION_USER: MachMsgOption = MACH_SEND_MSG
    | MACH_RCV_MSG
    | MACH_RCV_LARGE
    | MACH_SEND_TIMEOUT
    | MACH_SEND_INTERRUPT
    | MACH_RCV_TIMEOUT
    | MACH_RCV_INTERRUPT;
/// Timeouts are in milliseconds; `MACH_MSG_TIMEOUT_NONE` with a timeout option polls.
pub const MACH_MSG_TIMEOUT_NONE: u32 = 0;

// ---- Return codes ----
pub const MACH_MSG_SUCCESS: MachMsgReturn = 0;
pub const MACH_SEND_IN_PROGRESS: MachMsgReturn = 0x1000_0001;
pub const MACH_SEND_INVALID_DATA: MachMsgReturn = 0x1000_0002;
pub const MACH_SEND_INVALID_DEST: MachMsgReturn = 0x1000_0003;
pub const MACH_SEND_TIMED_OUT: MachMsgReturn = 0x1000_0004;
pub const MACH_SEND_INVALID_VOUCHER: MachMsgReturn = 0x1000_0005;
pub const MACH_SEND_INTERRUPTED: MachMsgReturn = 0x1000_0007;
pub const MACH_SEND_MSG_TOO_SMALL: MachMsgReturn = 0x1000_0008;
pub const MACH_SEND_INVALID_REPLY: MachMsgReturn = 0x1000_0009;
pub const MACH_SEND_INVALID_RIGHT: MachMsgReturn = 0x1000_000a;
pub const MACH_SEND_INVALID_NOTIFY: MachMsgReturn = 0x1000_000b;
pub const MACH_SEND_INVALID_MEMORY: MachMsgReturn = 0x1000_000c;
pub const MACH_SEND_NO_BUFFER: MachMsgReturn = 0x1000_000d;
pub const MACH_SEND_TOO_LARGE: MachMsgReturn = 0x1000_000e;
pub const MACH_SEND_INVALID_TYPE: MachMsgReturn = 0x1000_000f;
pub const MACH_SEND_INVALID_HEADER: MachMsgReturn = 0x1000_0010;
pub const MACH_SEND_INVALID_TRAILER: MachMsgReturn = 0x1000_0011;
pub const MACH_SEND_INVALID_OPTIONS: MachMsgReturn = 0x1000_0013;
pub const MACH_RCV_IN_PROGRESS: MachMsgReturn = 0x1000_4001;
pub const MACH_RCV_INVALID_NAME: MachMsgReturn = 0x1000_4002;
pub const MACH_RCV_TIMED_OUT: MachMsgReturn = 0x1000_4003;
pub const MACH_RCV_TOO_LARGE: MachMsgReturn = 0x1000_4004;
pub const MACH_RCV_INTERRUPTED: MachMsgReturn = 0x1000_4005;
pub const MACH_RCV_PORT_CHANGED: MachMsgReturn = 0x1000_4006;
pub const MACH_RCV_INVALID_NOTIFY: MachMsgReturn = 0x1000_4007;
pub const MACH_RCV_INVALID_DATA: MachMsgReturn = 0x1000_4008;
pub const MACH_RCV_PORT_DIED: MachMsgReturn = 0x1000_4009;
pub const MACH_RCV_IN_SET: MachMsgReturn = 0x1000_400a;
pub const MACH_RCV_HEADER_ERROR: MachMsgReturn = 0x1000_400b;
pub const MACH_RCV_BODY_ERROR: MachMsgReturn = 0x1000_400c;
pub const MACH_RCV_INVALID_TYPE: MachMsgReturn = 0x1000_400d;

/// Symbolic name of a `mach_msg` return code.
pub fn msg_return_name(mr: MachMsgReturn) -> &'static str {
    match mr {
        MACH_MSG_SUCCESS => "MACH_MSG_SUCCESS",
        MACH_SEND_INVALID_DATA => "MACH_SEND_INVALID_DATA",
        MACH_SEND_INVALID_DEST => "MACH_SEND_INVALID_DEST",
        MACH_SEND_TIMED_OUT => "MACH_SEND_TIMED_OUT",
        MACH_SEND_INTERRUPTED => "MACH_SEND_INTERRUPTED",
        MACH_SEND_MSG_TOO_SMALL => "MACH_SEND_MSG_TOO_SMALL",
        MACH_SEND_INVALID_REPLY => "MACH_SEND_INVALID_REPLY",
        MACH_SEND_INVALID_RIGHT => "MACH_SEND_INVALID_RIGHT",
        MACH_SEND_INVALID_MEMORY => "MACH_SEND_INVALID_MEMORY",
        MACH_SEND_NO_BUFFER => "MACH_SEND_NO_BUFFER",
        MACH_SEND_TOO_LARGE => "MACH_SEND_TOO_LARGE",
        MACH_SEND_INVALID_TYPE => "MACH_SEND_INVALID_TYPE",
        MACH_SEND_INVALID_HEADER => "MACH_SEND_INVALID_HEADER",
        MACH_SEND_INVALID_OPTIONS => "MACH_SEND_INVALID_OPTIONS",
        MACH_RCV_INVALID_NAME => "MACH_RCV_INVALID_NAME",
        MACH_RCV_TIMED_OUT => "MACH_RCV_TIMED_OUT",
        MACH_RCV_TOO_LARGE => "MACH_RCV_TOO_LARGE",
        MACH_RCV_INTERRUPTED => "MACH_RCV_INTERRUPTED",
        MACH_RCV_PORT_CHANGED => "MACH_RCV_PORT_CHANGED",
        MACH_RCV_INVALID_DATA => "MACH_RCV_INVALID_DATA",
        MACH_RCV_PORT_DIED => "MACH_RCV_PORT_DIED",
        MACH_RCV_IN_SET => "MACH_RCV_IN_SET",
        MACH_RCV_HEADER_ERROR => "MACH_RCV_HEADER_ERROR",
        MACH_RCV_BODY_ERROR => "MACH_RCV_BODY_ERROR",
        MACH_RCV_INVALID_TYPE => "MACH_RCV_INVALID_TYPE",
        _ => crate::kern_return::name(mr),
    }
}

// ---- MIG conventions ----
/// A reply's `msgh_id` is the request's plus this.
pub const MIG_REPLY_ID_OFFSET: i32 = 100;
pub const MIG_TYPE_ERROR: i32 = -300;
pub const MIG_REPLY_MISMATCH: i32 = -301;
pub const MIG_REMOTE_ERROR: i32 = -302;
pub const MIG_BAD_ID: i32 = -303;
pub const MIG_BAD_ARGUMENTS: i32 = -304;
pub const MIG_NO_REPLY: i32 = -305;
pub const MIG_EXCEPTION: i32 = -306;
pub const MIG_ARRAY_TOO_LARGE: i32 = -307;
pub const MIG_SERVER_DIED: i32 = -308;
