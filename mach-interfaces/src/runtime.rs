//! The hand-written half of the interfaces that generated code builds on: the
//! client [`Transport`], the server-side [`Release`] hooks and [`Dispatch`]
//! result, the value types for ports and out-of-line data, and the aligned
//! stack buffer [`MsgBuf`] that client stubs use.

/// How a client stub exchanges messages. Implemented by the user runtime (with
/// `mach_msg`) and by tests (in memory).
pub trait Transport {
    /// Sends `buf[..send_size]` and waits for the reply, which it receives into `buf`.
    ///
    /// The stub has filled in the whole request except the reply part of the
    /// header: the transport supplies the reply port, setting
    /// `msgh_local_port` and the local disposition bits (normally
    /// `MACH_MSG_TYPE_MAKE_SEND_ONCE` of a reply port it owns). Returns the number
    /// of bytes received (the message, optionally followed by its trailer).
    /// Errors are `mach_msg_return_t` / `kern_return_t` codes and are handed
    /// to the stub's caller unchanged.
    fn call(&mut self, buf: &mut [u8], send_size: usize) -> Result<usize, i32>;

    /// Sends `buf[..send_size]` one way (simpleroutines). The local port and
    /// its bits are left zero by the stub.
    fn send(&mut self, buf: &mut [u8], send_size: usize) -> Result<(), i32>;

    /// Called with a received reply that the stub rejected (wrong id, wrong
    /// size or layout: `MIG_REPLY_MISMATCH` / `MIG_TYPE_ERROR`). Any rights
    /// or out-of-line memory it carried are the caller's and nobody else will
    /// free them, so a real transport should destroy the message
    /// (`mach_msg_destroy`). The default does nothing.
    fn discard_reply(&mut self, reply: &[u8]) {
        let _ = reply;
    }
}

/// How generated server code gives back what a request brought in, when the
/// server will not keep it (see the ownership rule in the crate docs).
///
/// Names and addresses are opaque: the kernel, which runs the same server
/// code, passes indices into its table of in-transit rights and its own
/// handles for out-of-line memory. Implementations must cope with any value,
/// including `MACH_PORT_NULL` and `MACH_PORT_DEAD`.
pub trait Release {
    /// Release one right. `received_type` is `MACH_MSG_TYPE_PORT_RECEIVE`,
    /// `MACH_MSG_TYPE_PORT_SEND` or `MACH_MSG_TYPE_PORT_SEND_ONCE`.
    fn release_port(&mut self, name: u32, received_type: u8);

    /// Release an out-of-line memory region of `size` bytes.
    fn release_ool(&mut self, address: u64, size: u64);

    /// Release an out-of-line ports array: each of the `count` names stored at
    /// `address` (4 bytes each, rights of `received_type`), then the
    /// `count * 4`-byte region itself. Generated code cannot read the names
    /// (they live in memory only the implementation can reach), so this hook
    /// does both steps.
    fn release_ool_ports(&mut self, address: u64, count: u32, received_type: u8);
}

/// What a generated server dispatch function did with a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dispatch {
    /// Send `reply[..n]`. Its `msgh_remote_port` is the request's reply right
    /// (moved with `MOVE_SEND_ONCE` or `MOVE_SEND`). If the request carried no
    /// reply right the remote disposition bits are 0: the reply cannot be sent
    /// and must be destroyed (its rights and memory released), as
    /// `mach_msg_server` does on `MACH_SEND_INVALID_DEST`.
    Reply(usize),
    /// Nothing to send: a simpleroutine, a server method that answered
    /// `MIG_NO_REPLY` (it keeps the request, reply right included, and replies
    /// later), a request shorter than a header, or a reply buffer shorter than
    /// an error reply.
    NoReply,
    /// The id is not one of this subsystem's. `reply[..n]` holds a `MIG_BAD_ID`
    /// error reply (`n` is 0 if the reply buffer was too small for it).
    /// Nothing in the request was released, so another subsystem's dispatch
    /// may still take it; whoever finally gives up sends the error reply and
    /// calls [`crate::wire::release_descriptors`] on the request.
    BadId(usize),
}

/// A right whose disposition is chosen at run time (`port_poly`).
///
/// Sending, `disposition` is a `MACH_MSG_TYPE_MOVE_*`/`COPY_*`/`MAKE_*` value;
/// received, it is the received type (`MACH_MSG_TYPE_PORT_RECEIVE`,
/// `_PORT_SEND` or `_PORT_SEND_ONCE`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PolyPort {
    pub name: u32,
    pub disposition: u8,
}

/// An out-of-line array (`ool<u8>` / `ool<u32>`): `count` elements at
/// `address`. Whoever receives one owns the memory (`count * element size`
/// bytes) and must deallocate it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct OolArray {
    pub address: u64,
    pub count: u32,
}

/// An out-of-line array of `count` port names (4 bytes each) at `address`
/// (`ool_ports<...>`). Whoever receives one owns both the rights and the memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct OolPorts {
    pub address: u64,
    pub count: u32,
}

/// An 8-byte-aligned message buffer of `N` bytes, as client stubs keep on the
/// stack (big enough for the request or the reply plus a trailer).
#[repr(C, align(8))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MsgBuf<const N: usize>(pub [u8; N]);

impl<const N: usize> MsgBuf<N> {
    pub const fn new() -> Self {
        MsgBuf([0; N])
    }
}

impl<const N: usize> Default for MsgBuf<N> {
    fn default() -> Self {
        Self::new()
    }
}
