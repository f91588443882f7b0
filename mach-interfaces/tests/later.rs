//! Replies built later (`reply_<routine>`, for a server method that kept its
//! request with `MIG_NO_REPLY`) are the same bytes as the reply the dispatch
//! builds at once: for a routine without outputs, one with scalar outputs,
//! and one with two in-line output arrays; and a reply buffer too small for
//! the routine's largest reply is refused.

mod common;

use common::{REPLY_PORT, TRAILER, to_received};
use mach_abi::message::*;
use mach_interfaces::{Dispatch, OolArray, OolPorts, PolyPort, Release, wire};

#[allow(dead_code)]
mod kinds {
    include!(concat!(env!("OUT_DIR"), "/tests/kinds.rs"));
}
use kinds::{ArraysReply, InlinePairReply, InlinePortsReply, KindsServer, PolyReply, PortsReply, ScalarsReply};

const T: u32 = 0x0000_2003;

/// Answers at once, or (with `keep`) keeps every request.
struct Server {
    keep: bool,
}

impl KindsServer for Server {
    fn scalars(&mut self, _t: u32, a: u32, b: i32, c: u64, d: i64) -> Result<ScalarsReply, i32> {
        if self.keep {
            return Err(MIG_NO_REPLY);
        }
        Ok(ScalarsReply {
            w: a + 1,
            x: b - 1,
            y: c * 2,
            z: -d,
        })
    }
    fn ports(&mut self, _t: u32, _a: u32, _b: u32, _c: u32, _d: u32, _e: u32, _f: u32) -> Result<PortsReply, i32> {
        Err(MIG_BAD_ID)
    }
    fn poly(&mut self, _t: u32, _p: PolyPort, _g: u32) -> Result<PolyReply, i32> {
        Err(MIG_BAD_ID)
    }
    fn arrays(&mut self, _t: u32, _a: OolArray, _b: OolArray, _c: OolPorts, _n: u32) -> Result<ArraysReply, i32> {
        Err(MIG_BAD_ID)
    }
    fn oneway(&mut self, _t: u32, _r: u32, _d: OolArray, _n: OolPorts, _v: u64) -> Result<(), i32> {
        Ok(())
    }
    fn ping(&mut self, _t: u32) -> Result<(), i32> {
        Ok(())
    }
    fn nothing(&mut self, _t: u32) -> Result<(), i32> {
        if self.keep { Err(MIG_NO_REPLY) } else { Ok(()) }
    }
    fn inline_echo(&mut self, _t: u32, _tag: u32, _data: &[u8], _out: &mut [u8]) -> Result<usize, i32> {
        Err(MIG_BAD_ID)
    }
    fn inline_pair(
        &mut self,
        _t: u32,
        a: &[u8],
        x: u64,
        b: &[u8],
        c: &mut [u8],
        d: &mut [u8],
    ) -> Result<InlinePairReply, i32> {
        if self.keep {
            return Err(MIG_NO_REPLY);
        }
        Ok(pair(a, x, b, c, d))
    }
    fn inline_ports(&mut self, _t: u32, _p: u32, _path: &[u8], _name: &mut [u8]) -> Result<InlinePortsReply, i32> {
        Err(MIG_BAD_ID)
    }
    fn inline_note(&mut self, _t: u32, _msg: &[u8]) -> Result<(), i32> {
        Ok(())
    }
}

/// inline_pair's answer: b into c, a into d, x's low half flipped.
fn pair(a: &[u8], x: u64, b: &[u8], c: &mut [u8], d: &mut [u8]) -> InlinePairReply {
    c[..b.len()].copy_from_slice(b);
    d[..a.len()].copy_from_slice(a);
    InlinePairReply {
        c: b.len(),
        y: (x as u32) ^ 0xFFFF,
        d: a.len(),
    }
}

impl Release for Server {
    fn release_port(&mut self, _name: u32, _received_type: u8) {}
    fn release_ool(&mut self, _address: u64, _size: u64) {}
    fn release_ool_ports(&mut self, _address: u64, _count: u32, _received_type: u8) {}
}

/// A request as the server receives it (reply right: a send-once to
/// REPLY_PORT), with a trailer.
fn received(encode: impl FnOnce(&mut [u8]) -> Option<usize>) -> Vec<u8> {
    let mut buf = vec![0u8; 8192];
    let n = encode(&mut buf).unwrap();
    let bits = wire::get_u32(&buf, 0).unwrap() | (MACH_MSG_TYPE_MAKE_SEND_ONCE as u32) << 8;
    wire::put_u32(&mut buf, 0, bits).unwrap();
    wire::put_u32(&mut buf, 12, REPLY_PORT).unwrap();
    let mut r = to_received(&buf[..n]).unwrap();
    r.extend_from_slice(&[0; TRAILER]);
    r
}

/// The reply the dispatch sends at once, and the bytes it wrote.
fn at_once(request: &[u8]) -> Vec<u8> {
    let mut reply = vec![0xAAu8; 8192];
    match kinds::kinds_server(&mut Server { keep: false }, request, &mut reply) {
        Dispatch::Reply(n) => reply[..n].to_vec(),
        _ => panic!("no reply at once"),
    }
}

/// The request is kept (no reply now); returns its header as received.
fn kept(request: &[u8]) -> MachMsgHeader {
    let mut reply = vec![0u8; 8192];
    assert!(matches!(
        kinds::kinds_server(&mut Server { keep: true }, request, &mut reply),
        Dispatch::NoReply
    ));
    wire::read_header(request).unwrap()
}

#[test]
fn a_later_reply_without_outputs_is_the_one_sent_at_once() {
    let req = received(|b| kinds::encode_nothing_request(b, T));
    let want = at_once(&req);
    let h = kept(&req);
    let mut buf = vec![0x55u8; 8192];
    let n = kinds::reply_nothing(&mut buf, &h).unwrap();
    assert_eq!(&buf[..n], &want[..]);
    assert_eq!(wire::read_header(&buf).unwrap().remote_port, REPLY_PORT);
}

#[test]
fn a_later_reply_with_scalars_is_the_one_sent_at_once() {
    let req = received(|b| kinds::encode_scalars_request(b, T, 41, -5, 1 << 40, 9));
    let want = at_once(&req);
    let h = kept(&req);
    let mut buf = vec![0x55u8; 8192];
    let n = kinds::reply_scalars(&mut buf, &h, || ScalarsReply {
        w: 42,
        x: -6,
        y: 1 << 41,
        z: -9,
    })
    .unwrap();
    assert_eq!(&buf[..n], &want[..]);
}

#[test]
fn a_later_reply_with_inline_arrays_is_the_one_sent_at_once() {
    for (a, b) in [
        (&b""[..], &b""[..]),
        (&b"abc"[..], &b"xyzzy12"[..]),
        (&b"0123456789abc"[..], &b"q"[..]),
    ] {
        let req = received(|buf| kinds::encode_inline_pair_request(buf, T, a, 0x1234_5678, b));
        let want = at_once(&req);
        let h = kept(&req);
        let mut buf = vec![0x55u8; 8192];
        let n = kinds::reply_inline_pair(&mut buf, &h, |c, d| pair(a, 0x1234_5678, b, c, d)).unwrap();
        assert_eq!(&buf[..n], &want[..], "a = {a:?}, b = {b:?}");
    }
}

#[test]
fn a_reply_buffer_too_small_for_the_largest_reply_is_refused() {
    let req = received(|b| kinds::encode_inline_pair_request(b, T, b"a", 1, b"b"));
    let h = kept(&req);
    let mut small = vec![0u8; kinds::INLINE_PAIR_REPLY_MAX_SIZE - 1];
    assert_eq!(
        kinds::reply_inline_pair(&mut small, &h, |c, d| pair(b"a", 1, b"b", c, d)),
        None
    );
    let mut tiny = vec![0u8; 8];
    assert_eq!(kinds::reply_nothing(&mut tiny, &h), None);
}
