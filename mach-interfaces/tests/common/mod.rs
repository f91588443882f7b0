//! Test support shared by the integration tests: a kernel-like conversion of
//! sent messages to their received form, an in-memory [`Loopback`] transport
//! that runs a generated dispatch function, and a [`Releases`] recorder.
#![allow(dead_code)]

use mach_abi::message::{
    MACH_MSG_OOL_DESCRIPTOR, MACH_MSG_OOL_PORTS_DESCRIPTOR, MACH_MSG_PORT_DESCRIPTOR, MACH_MSG_TYPE_MAKE_SEND_ONCE,
    MACH_MSG_TYPE_MOVE_SEND_ONCE, MACH_MSGH_BITS_COMPLEX, MACH_RCV_TIMED_OUT, MACH_SEND_INVALID_TYPE, mach_msgh_bits,
    mach_msgh_bits_local, mach_msgh_bits_remote,
};
use mach_interfaces::wire::{self, get_u32, put_u32, read_header, received_type};
use mach_interfaces::{Dispatch, Release, Transport};

/// The reply port the loopback transport supplies.
pub const REPLY_PORT: u32 = 0x0000_0703;
/// Bytes of the fake trailer appended to received messages.
pub const TRAILER: usize = 20;

/// One release a dispatch function asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Released {
    Port(u32, u8),
    Ool(u64, u64),
    OolPorts(u64, u32, u8),
}

/// A `Release` implementation that records every call.
#[derive(Debug, Default)]
pub struct Releases(pub Vec<Released>);

impl Release for Releases {
    fn release_port(&mut self, name: u32, received_type: u8) {
        self.0.push(Released::Port(name, received_type));
    }
    fn release_ool(&mut self, address: u64, size: u64) {
        self.0.push(Released::Ool(address, size));
    }
    fn release_ool_ports(&mut self, address: u64, count: u32, received_type: u8) {
        self.0.push(Released::OolPorts(address, count, received_type));
    }
}

/// Converts a message as sent into the form its receiver sees, as the kernel
/// does: ports swapped (remote = reply right, local = destination), header
/// and descriptor dispositions turned into received types, and a trailer
/// appended. `None` if the message is malformed.
pub fn to_received(sent: &[u8]) -> Option<Vec<u8>> {
    let hdr = read_header(sent)?;
    let mut out = sent.get(..hdr.size as usize)?.to_vec();
    let (remote, local) = (mach_msgh_bits_remote(hdr.bits), mach_msgh_bits_local(hdr.bits));
    let new_remote = if local == 0 { 0 } else { received_type(local)? };
    let new_local = if remote == 0 { 0 } else { received_type(remote)? };
    let bits = (hdr.bits & MACH_MSGH_BITS_COMPLEX) | mach_msgh_bits(new_remote, new_local);
    put_u32(&mut out, 0, bits)?;
    put_u32(&mut out, 8, hdr.local_port)?;
    put_u32(&mut out, 12, hdr.remote_port)?;
    if hdr.bits & MACH_MSGH_BITS_COMPLEX != 0 {
        let count = get_u32(&out, 24)?;
        let mut off = 28;
        for _ in 0..count {
            match *out.get(off + 11)? {
                MACH_MSG_PORT_DESCRIPTOR => {
                    out[off + 10] = received_type(out[off + 10])?;
                    off += 12;
                }
                MACH_MSG_OOL_DESCRIPTOR => off += 16,
                MACH_MSG_OOL_PORTS_DESCRIPTOR => {
                    out[off + 10] = received_type(out[off + 10])?;
                    off += 16;
                }
                _ => return None,
            }
        }
    }
    out.extend_from_slice(&[0, 0, 0, 0, 20, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    Some(out)
}

/// A generated dispatch function, as a plain function pointer.
pub type DispatchFn<S> = fn(&mut S, &[u8], &mut [u8]) -> Dispatch;

/// A transport that hands each request, in received form, straight to a
/// generated dispatch function and returns its reply in received form.
pub struct Loopback<S> {
    pub server: S,
    pub dispatch: DispatchFn<S>,
    /// The last request as the server saw it.
    pub last_request: Vec<u8>,
    /// The last reply as the server wrote it (sent form).
    pub last_reply: Vec<u8>,
    pub last_dispatch: Option<Dispatch>,
    pub discarded: usize,
}

impl<S> Loopback<S> {
    pub fn new(server: S, dispatch: DispatchFn<S>) -> Self {
        Loopback {
            server,
            dispatch,
            last_request: Vec::new(),
            last_reply: Vec::new(),
            last_dispatch: None,
            discarded: 0,
        }
    }

    fn deliver(&mut self, buf: &[u8], send_size: usize) -> Result<(Dispatch, Vec<u8>), i32> {
        let req = to_received(&buf[..send_size]).ok_or(MACH_SEND_INVALID_TYPE)?;
        let mut reply = vec![0xAAu8; 8192];
        let d = (self.dispatch)(&mut self.server, &req, &mut reply);
        self.last_request = req;
        self.last_dispatch = Some(d);
        Ok((d, reply))
    }
}

impl<S> Transport for Loopback<S> {
    fn call(&mut self, buf: &mut [u8], send_size: usize) -> Result<usize, i32> {
        let bits = get_u32(buf, 0).unwrap();
        assert_eq!(
            mach_msgh_bits_local(bits),
            0,
            "stub must leave the local bits to the transport"
        );
        assert_eq!(
            get_u32(buf, 12),
            Some(0),
            "stub must leave the local port to the transport"
        );
        put_u32(buf, 0, bits | mach_msgh_bits(0, MACH_MSG_TYPE_MAKE_SEND_ONCE)).unwrap();
        put_u32(buf, 12, REPLY_PORT).unwrap();
        let (d, reply) = self.deliver(buf, send_size)?;
        let n = match d {
            Dispatch::Reply(n) | Dispatch::BadId(n) => n,
            Dispatch::NoReply => return Err(MACH_RCV_TIMED_OUT),
        };
        let reply = &reply[..n];
        self.last_reply = reply.to_vec();
        let h = read_header(reply).unwrap();
        assert_eq!(h.remote_port, REPLY_PORT, "reply goes to the reply port");
        assert_eq!(
            mach_msgh_bits_remote(h.bits),
            MACH_MSG_TYPE_MOVE_SEND_ONCE,
            "reply uses the send-once right"
        );
        assert_eq!(h.size as usize, n);
        let received = to_received(reply).expect("server wrote a malformed reply");
        buf[..received.len()].copy_from_slice(&received);
        Ok(received.len())
    }

    fn send(&mut self, buf: &mut [u8], send_size: usize) -> Result<(), i32> {
        assert_eq!(mach_msgh_bits_local(get_u32(buf, 0).unwrap()), 0);
        let (d, _) = self.deliver(buf, send_size)?;
        assert_eq!(d, Dispatch::NoReply, "simpleroutines are never answered");
        Ok(())
    }

    fn discard_reply(&mut self, _reply: &[u8]) {
        self.discarded += 1;
    }
}

/// The `RetCode` of an error reply.
pub fn ret_code(reply: &[u8]) -> i32 {
    wire::get_i32(reply, 24).unwrap()
}

/// A deterministic xorshift generator for the fuzz tests.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}
