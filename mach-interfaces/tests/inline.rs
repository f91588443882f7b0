//! In-line byte arrays (`inline<u8, N>`, the test-only `tests/defs/kinds.defs`
//! routines `inline_*`): round trips of 0, 1, N-1 and N bytes each way, two
//! arrays in one message, arrays behind descriptors and in a simpleroutine;
//! the exact size of every message on the wire and its zeroed padding; the
//! client's checks (an input longer than N, an output buffer too short, a
//! reply whose counts lie) and the server's (a count beyond N, past the end
//! of the message or short of it, a truncated message), none of which reaches
//! the server method.

mod common;

use common::{Loopback, REPLY_PORT, Released, Releases, TRAILER, ret_code, to_received};
use mach_abi::kern_return::{KERN_FAILURE, KERN_INVALID_ARGUMENT, KERN_RESOURCE_SHORTAGE};
use mach_abi::message::*;
use mach_interfaces::{Dispatch, OolArray, OolPorts, PolyPort, Release, Transport, wire};

#[allow(dead_code)]
mod kinds {
    include!(concat!(env!("OUT_DIR"), "/tests/kinds.rs"));
}
use kinds::{
    ArraysReply, InlinePairReply, InlinePortsReply, KindsServer, PolyReply, PortsReply, ScalarsReply, kinds_server,
};

const T: u32 = 0x0000_2003;

/// What the server methods saw: routine name and the in-line inputs.
#[derive(Default)]
struct Fake {
    calls: Vec<(&'static str, Vec<Vec<u8>>)>,
    /// A count to report for `out` instead of the true one (a buggy server).
    lie: Option<usize>,
    fail: Option<i32>,
    releases: Releases,
}

/// The routines without in-line arrays are not used here.
macro_rules! unused {
    ($($name:ident($($arg:ident: $ty:ty),*) -> $out:ty;)*) => {
        $(fn $name(&mut self, $($arg: $ty),*) -> Result<$out, i32> {
            let _ = ($($arg,)*);
            Err(KERN_FAILURE)
        })*
    };
}

impl KindsServer for Fake {
    unused! {
        scalars(t: u32, a: u32, b: i32, c: u64, d: i64) -> ScalarsReply;
        ports(t: u32, a: u32, b: u32, c: u32, d: u32, e: u32, f: u32) -> PortsReply;
        poly(t: u32, p: PolyPort, g: u32) -> PolyReply;
        arrays(t: u32, a: OolArray, b: OolArray, c: OolPorts, n: u32) -> ArraysReply;
        oneway(t: u32, r: u32, d: OolArray, n: OolPorts, v: u64) -> ();
        ping(t: u32) -> ();
        nothing(t: u32) -> ();
    }

    fn inline_echo(&mut self, t: u32, tag: u32, data: &[u8], out: &mut [u8]) -> Result<usize, i32> {
        assert_eq!((t, tag), (T, 7));
        assert_eq!(out.len(), kinds::INLINE_ECHO_OUT_MAX, "the window is N bytes");
        self.calls.push(("inline_echo", vec![data.to_vec()]));
        out.get_mut(..data.len())
            .ok_or(KERN_INVALID_ARGUMENT)?
            .copy_from_slice(data);
        self.fail.map_or(Ok(self.lie.unwrap_or(data.len())), Err)
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
        assert_eq!((c.len(), d.len()), (kinds::INLINE_PAIR_C_MAX, kinds::INLINE_PAIR_D_MAX));
        self.calls.push(("inline_pair", vec![a.to_vec(), b.to_vec()]));
        // Swapped: c gets b (both at most 7), d gets a (both at most 13);
        // longer inputs would be the dispatch's bug (the tests say so).
        let (Some(c), Some(d)) = (c.get_mut(..b.len()), d.get_mut(..a.len())) else {
            return Err(KERN_INVALID_ARGUMENT);
        };
        c.copy_from_slice(b);
        d.copy_from_slice(a);
        let y = (x as u32) ^ 0xFFFF_0000;
        Ok(InlinePairReply {
            c: b.len(),
            y,
            d: a.len(),
        })
    }

    fn inline_ports(&mut self, _t: u32, p: u32, path: &[u8], name: &mut [u8]) -> Result<InlinePortsReply, i32> {
        self.calls.push(("inline_ports", vec![path.to_vec()]));
        for (o, i) in name.iter_mut().zip(path.iter().rev()) {
            *o = *i;
        }
        self.fail.map_or(
            Ok(InlinePortsReply {
                q: p + 1,
                name: path.len(),
            }),
            Err,
        )
    }

    fn inline_note(&mut self, _t: u32, msg: &[u8]) -> Result<(), i32> {
        self.calls.push(("inline_note", vec![msg.to_vec()]));
        Ok(())
    }
}

impl Release for Fake {
    fn release_port(&mut self, name: u32, received_type: u8) {
        self.releases.release_port(name, received_type);
    }
    fn release_ool(&mut self, address: u64, size: u64) {
        self.releases.release_ool(address, size);
    }
    fn release_ool_ports(&mut self, address: u64, count: u32, received_type: u8) {
        self.releases.release_ool_ports(address, count, received_type);
    }
}

fn loopback() -> Loopback<Fake> {
    Loopback::new(Fake::default(), kinds_server::<Fake>)
}

/// `n` bytes, none of them zero (so zero padding shows).
fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) | 1)
        .collect()
}

fn pad4(n: usize) -> usize {
    n.div_ceil(4) * 4
}

/// The message of a received request or reply (without the trailer), after
/// checking that `msgh_size` is the number of bytes that travelled.
fn wire_msg(received: &[u8]) -> &[u8] {
    let size = wire::read_header(received).unwrap().size as usize;
    assert_eq!(size + TRAILER, received.len(), "msgh_size is what was sent");
    &received[..size]
}

/// Checks the array with its count at `off` of `m`: count, bytes, zero
/// padding; returns the offset after it.
fn assert_array(m: &[u8], off: usize, want: &[u8]) -> usize {
    assert_eq!(wire::get_u32(m, off), Some(want.len() as u32), "count at {off}");
    let start = off + 4;
    assert_eq!(&m[start..start + want.len()], want);
    let next = start + pad4(want.len());
    assert!(m[start + want.len()..next].iter().all(|b| *b == 0), "padding is zeroed");
    next
}

#[test]
fn constants_give_the_size_range_and_n() {
    assert_eq!(
        (kinds::INLINE_ECHO_REQUEST_MIN_SIZE, kinds::INLINE_ECHO_REQUEST_MAX_SIZE),
        (32, 4128)
    );
    assert_eq!(
        (kinds::INLINE_ECHO_REPLY_MIN_SIZE, kinds::INLINE_ECHO_REPLY_MAX_SIZE),
        (32, 4128)
    );
    assert_eq!((kinds::INLINE_ECHO_DATA_MAX, kinds::INLINE_ECHO_OUT_MAX), (4096, 4096));
    // a (13, padded to 16) and b (7, padded to 8) behind x: 32 + 4 + 4 .. 32 + 20 + 12.
    assert_eq!(
        (kinds::INLINE_PAIR_REQUEST_MIN_SIZE, kinds::INLINE_PAIR_REQUEST_MAX_SIZE),
        (40, 64)
    );
    assert_eq!(
        (kinds::INLINE_PAIR_REPLY_MIN_SIZE, kinds::INLINE_PAIR_REPLY_MAX_SIZE),
        (40, 64)
    );
    assert_eq!(kinds::MAX_REQUEST_SIZE, 4128);
    assert_eq!(kinds::MAX_REPLY_SIZE, 4128);
}

#[test]
fn one_array_each_way_round_trips_0_1_n_minus_1_and_n_bytes() {
    let mut t = loopback();
    for len in [0, 1, 2, 3, 4, 5, 8, 100, 4093, 4095, 4096] {
        let data = bytes(len, 3);
        let mut out = vec![0x55u8; 4096];
        assert_eq!(kinds::inline_echo(&mut t, T, 7, &data, &mut out), Ok(len), "{len}");
        assert_eq!(&out[..len], &data[..]);
        assert!(out[len..].iter().all(|b| *b == 0x55), "{len}: nothing past the count");
        assert_eq!(t.server.calls.last().unwrap(), &("inline_echo", vec![data.clone()]));
        // Request: header, tag @24, count @28, bytes @32, padding: exactly that long.
        let req = wire_msg(&t.last_request);
        assert_eq!(req.len(), 32 + pad4(len), "{len}");
        assert_eq!(wire::get_u32(req, 24), Some(7));
        assert_array(req, 28, &data);
        // Reply: header, RetCode @24, count @28, bytes @32, zero padding although
        // the server's reply buffer was dirty (0xAA) and its window not cleared.
        let rep = &t.last_reply;
        assert_eq!(rep.len(), 32 + pad4(len), "{len}");
        assert_eq!(wire::get_u32(rep, 4), Some(rep.len() as u32));
        assert_eq!(wire::get_i32(rep, 24), Some(0));
        assert_array(rep, 28, &data);
        assert_eq!(rep[3] & 0x80, 0, "a simple message: the fast path's kind");
    }
    // A 5-byte call is a 40-byte message, not a 4128-byte one.
    kinds::inline_echo(&mut t, T, 7, b"hello", &mut [0; 5]).unwrap();
    assert_eq!((t.last_request.len() - TRAILER, t.last_reply.len()), (40, 40));
}

#[test]
fn two_arrays_each_way_keep_their_order_and_padding() {
    let mut t = loopback();
    for (la, lb) in [(0, 0), (1, 0), (0, 1), (12, 6), (13, 7), (5, 3), (13, 0), (4, 4)] {
        let (a, b) = (bytes(la, 1), bytes(lb, 2));
        let (mut c, mut d) = ([0u8; 7], [0u8; 13]);
        let x = 0x1122_3344_5566_7788;
        let out = kinds::inline_pair(&mut t, T, &a, x, &b, &mut c, &mut d).unwrap();
        assert_eq!(
            out,
            InlinePairReply {
                c: lb,
                y: 0xAA99_7788,
                d: la
            }
        );
        assert_eq!((&c[..lb], &d[..la]), (&b[..], &a[..]));
        assert_eq!(
            t.server.calls.last().unwrap(),
            &("inline_pair", vec![a.clone(), b.clone()])
        );
        // Request: x @24 (declared between the arrays, sent before them), a @32, b after a.
        let req = wire_msg(&t.last_request);
        assert_eq!(wire::get_u64(req, 24), Some(x));
        let next = assert_array(req, 32, &a);
        assert_eq!(assert_array(req, next, &b), req.len());
        assert_eq!(req.len(), 40 + pad4(la) + pad4(lb));
        // Reply: RetCode @24, y @28, c @32, d after c.
        let rep = &t.last_reply;
        assert_eq!(wire::get_u32(rep, 28), Some(0xAA99_7788));
        let next = assert_array(rep, 32, &b);
        assert_eq!(assert_array(rep, next, &a), rep.len());
    }
}

#[test]
fn arrays_follow_descriptors_and_need_no_release() {
    let mut t = loopback();
    let mut name = [0u8; 100];
    let out = kinds::inline_ports(&mut t, T, 0x66, b"/etc/passwd", &mut name).unwrap();
    assert_eq!(out, InlinePortsReply { q: 0x67, name: 11 });
    assert_eq!(&name[..11], b"dwssap/cte/");
    let req = wire_msg(&t.last_request);
    assert_ne!(req[3] & 0x80, 0, "complex");
    assert_eq!(wire::get_u32(req, 24), Some(1), "one descriptor");
    assert_eq!(wire::get_port(req, 28, MACH_MSG_TYPE_PORT_SEND), Some(0x66));
    assert_eq!(assert_array(req, 40, b"/etc/passwd"), req.len());
    let rep = &t.last_reply;
    assert_eq!(rep[28 + 10], MACH_MSG_TYPE_MAKE_SEND);
    assert_eq!(wire::get_i32(rep, 40), Some(0), "RetCode after the descriptor");
    assert_eq!(assert_array(rep, 44, b"dwssap/cte/"), rep.len());

    // An error: the port is released, the array has nothing to release.
    t.server.fail = Some(KERN_INVALID_ARGUMENT);
    assert_eq!(
        kinds::inline_ports(&mut t, T, 0x66, b"x", &mut name),
        Err(KERN_INVALID_ARGUMENT)
    );
    assert_eq!(t.server.releases.0, [Released::Port(0x66, MACH_MSG_TYPE_PORT_SEND)]);
}

#[test]
fn a_simpleroutine_carries_an_array() {
    let mut t = loopback();
    for msg in [&b""[..], b"a", &bytes(31, 9), &bytes(32, 9)] {
        kinds::inline_note(&mut t, T, msg).unwrap();
        assert_eq!(t.server.calls.last().unwrap(), &("inline_note", vec![msg.to_vec()]));
        let req = wire_msg(&t.last_request);
        assert_eq!(assert_array(req, 24, msg), req.len());
    }
    assert_eq!(kinds::inline_note(&mut t, T, &[0; 33]), Err(MIG_ARRAY_TOO_LARGE));
}

#[test]
fn an_input_longer_than_n_is_refused_without_sending() {
    let mut t = loopback();
    let mut out = [0u8; 4096];
    assert_eq!(
        kinds::inline_echo(&mut t, T, 7, &[1; 4097], &mut out),
        Err(MIG_ARRAY_TOO_LARGE)
    );
    let (mut c, mut d) = ([0u8; 7], [0u8; 13]);
    assert_eq!(
        kinds::inline_pair(&mut t, T, &[1; 14], 0, b"", &mut c, &mut d),
        Err(MIG_ARRAY_TOO_LARGE)
    );
    assert_eq!(
        kinds::inline_pair(&mut t, T, b"", 0, &[1; 8], &mut c, &mut d),
        Err(MIG_ARRAY_TOO_LARGE)
    );
    assert!(
        t.server.calls.is_empty() && t.last_request.is_empty(),
        "nothing was sent"
    );
    // The encoder alone says the same; a buffer too short for the message too.
    let mut buf = [0u8; 64];
    assert_eq!(kinds::encode_inline_pair_request(&mut buf, T, &[1; 14], 0, b""), None);
    assert_eq!(
        kinds::encode_inline_pair_request(&mut buf[..55], T, &[1; 13], 0, b""),
        None
    );
    assert_eq!(
        kinds::encode_inline_pair_request(&mut buf[..56], T, &[1; 13], 0, b""),
        Some(56)
    );
}

#[test]
fn an_output_buffer_too_short_gets_mig_array_too_large_and_the_reply_is_discarded() {
    let mut t = loopback();
    let mut out = [0x55u8; 4];
    assert_eq!(
        kinds::inline_echo(&mut t, T, 7, b"hello", &mut out),
        Err(MIG_ARRAY_TOO_LARGE)
    );
    assert_eq!(out, [0x55; 4], "nothing copied");
    assert_eq!(t.discarded, 1);
    // With a port in the reply: discarding it is what destroys the right.
    let mut name = [0u8; 3];
    assert_eq!(
        kinds::inline_ports(&mut t, T, 1, b"four", &mut name),
        Err(MIG_ARRAY_TOO_LARGE)
    );
    assert_eq!(t.discarded, 2);
    // Of two arrays, the first fits and the second does not: neither is copied.
    let (mut c, mut d) = ([0u8; 7], [0u8; 2]);
    assert_eq!(
        kinds::inline_pair(&mut t, T, b"abc", 0, b"de", &mut c, &mut d),
        Err(MIG_ARRAY_TOO_LARGE)
    );
    assert_eq!((c, d), ([0; 7], [0; 2]));
    // A buffer exactly as long as the array is enough.
    assert_eq!(kinds::inline_echo(&mut t, T, 7, b"hello", &mut [0; 5]), Ok(5));
    assert_eq!(t.discarded, 3);
}

#[test]
fn a_server_count_beyond_n_becomes_an_error_reply() {
    let mut t = loopback();
    t.server.lie = Some(4097);
    let mut out = [0u8; 4096];
    assert_eq!(
        kinds::inline_echo(&mut t, T, 7, b"hi", &mut out),
        Err(MIG_ARRAY_TOO_LARGE)
    );
    assert_eq!(t.last_reply.len(), 28, "an error reply");
    assert_eq!(t.discarded, 0, "an error reply carries nothing to discard");
    t.server.lie = Some(4096);
    assert_eq!(kinds::inline_echo(&mut t, T, 7, b"hi", &mut out), Ok(4096));
}

#[test]
fn a_reply_buffer_shorter_than_the_largest_reply_is_refused() {
    let req = request(|b| kinds::encode_inline_ports_request(b, T, 0x66, b"p"));
    let mut s = Fake::default();
    let mut reply = vec![0u8; kinds::INLINE_PORTS_REPLY_MAX_SIZE - 1];
    assert_eq!(kinds_server(&mut s, &req, &mut reply), Dispatch::Reply(28));
    assert_eq!(ret_code(&reply), KERN_RESOURCE_SHORTAGE);
    assert!(s.calls.is_empty());
    assert_eq!(s.releases.0, [Released::Port(0x66, MACH_MSG_TYPE_PORT_SEND)]);
}

// ---- Hostile requests ----

/// A request as encoded by `f`, in received form with a send-once reply right.
fn request(f: impl Fn(&mut [u8]) -> Option<usize>) -> Vec<u8> {
    let mut buf = vec![0u8; 8192];
    let n = f(&mut buf).unwrap();
    let bits = wire::get_u32(&buf, 0).unwrap() | mach_msgh_bits(0, MACH_MSG_TYPE_MAKE_SEND_ONCE);
    wire::put_u32(&mut buf, 0, bits).unwrap();
    wire::put_u32(&mut buf, 12, REPLY_PORT).unwrap();
    to_received(&buf[..n]).unwrap()
}

/// Dispatches `req` and checks it was refused with `MIG_BAD_ARGUMENTS`
/// without calling the server; returns what was released.
fn assert_refused(req: &[u8], what: &str) -> Vec<Released> {
    let mut s = Fake::default();
    let mut reply = vec![0xAAu8; 8192];
    let d = kinds_server(&mut s, req, &mut reply);
    assert!(s.calls.is_empty(), "{what}: server called");
    if req.len() >= 24 {
        assert_eq!(d, Dispatch::Reply(28), "{what}");
        assert_eq!(ret_code(&reply), MIG_BAD_ARGUMENTS, "{what}");
    }
    s.releases.0
}

/// Sets `msgh_size` (and cuts the trailer off so the buffer ends there).
fn resized(req: &[u8], size: usize) -> Vec<u8> {
    let mut r = req.to_vec();
    r.resize(size, 0);
    wire::put_u32(&mut r, 4, size as u32).unwrap();
    r
}

#[test]
fn a_count_beyond_n_is_refused_even_when_the_message_holds_the_bytes() {
    // a (N = 13) with 14, 15 or 16 bytes: padded like 13, so the message is
    // no longer than a valid one; only the count check can refuse it.
    for count in [14u32, 15, 16] {
        let mut req = request(|b| kinds::encode_inline_pair_request(b, T, &[1; 13], 5, b""));
        let size = 32 + 4 + 16 + 4;
        assert_eq!(req.len() - TRAILER, size);
        wire::put_u32(&mut req, 32, count).unwrap();
        assert_refused(&req, &format!("a count {count}"));
    }
    // b (N = 7) with 8 bytes.
    let mut req = request(|b| kinds::encode_inline_pair_request(b, T, b"", 5, &[1; 7]));
    wire::put_u32(&mut req, 36, 8).unwrap();
    assert_refused(&req, "b count 8");
    // A count of N is accepted: b's 6 bytes read as 7 (its padding byte too).
    let mut req = request(|b| kinds::encode_inline_pair_request(b, T, &[1; 13], 5, &[2; 6]));
    wire::put_u32(&mut req, 52, 7).unwrap();
    let mut s = Fake::default();
    let mut reply = vec![0u8; 8192];
    assert!(matches!(kinds_server(&mut s, &req, &mut reply), Dispatch::Reply(n) if n > 28));
    assert_eq!(s.calls[0].1, [vec![1; 13], vec![2, 2, 2, 2, 2, 2, 0]]);
}

#[test]
fn a_count_that_does_not_end_at_the_message_end_is_refused() {
    let req = request(|b| kinds::encode_inline_echo_request(b, T, 7, b"hello"));
    assert_eq!(req.len() - TRAILER, 40);
    // Past the end: 9 bytes do not fit 40 - 32; nor does anything bigger.
    for count in [9u32, 12, 13, 4096, 4097, 0x8000_0000, u32::MAX] {
        let mut r = req.clone();
        wire::put_u32(&mut r, 28, count).unwrap();
        assert_refused(&r, &format!("count {count} past the end"));
    }
    // Short of the end: the message is longer than its array.
    for count in [0u32, 1, 4] {
        let mut r = req.clone();
        wire::put_u32(&mut r, 28, count).unwrap();
        assert_refused(&r, &format!("count {count} short of the end"));
    }
    // The second array's count lies (a of 3 bytes, b of 2).
    let req = request(|b| kinds::encode_inline_pair_request(b, T, b"abc", 1, b"de"));
    for count in [0u32, 5, 7, u32::MAX] {
        let mut r = req.clone();
        wire::put_u32(&mut r, 40, count).unwrap();
        assert_refused(&r, &format!("second count {count}"));
    }
    // Behind a descriptor: the port that came along is released.
    let req = request(|b| kinds::encode_inline_ports_request(b, T, 0x66, b"path"));
    let mut r = req.clone();
    wire::put_u32(&mut r, 40, 5).unwrap();
    let released = assert_refused(&r, "ports: count past the end");
    assert_eq!(released, [Released::Port(0x66, MACH_MSG_TYPE_PORT_SEND)]);
}

#[test]
fn truncated_and_resized_requests_are_refused() {
    let req = request(|b| kinds::encode_inline_echo_request(b, T, 7, b"hello"));
    // Cut anywhere (the buffer shorter than msgh_size), or msgh_size moved to
    // match the cut: shorter than the fixed part, mid-count, mid-bytes.
    for len in 0..40 {
        assert_refused(&req[..len], &format!("cut to {len}"));
        if len >= 8 {
            assert_refused(&resized(&req, len), &format!("resized to {len}"));
        }
    }
    // Longer than the array (zeros after it), or beyond the largest request.
    for size in [44, 48, 4128, 4132, 8192] {
        assert_refused(&resized(&req, size), &format!("resized to {size}"));
    }
    // A simpleroutine is refused silently.
    let note = request(|b| kinds::encode_inline_note_request(b, T, b"abcdef"));
    for len in [24, 28, 30, 32] {
        let mut s = Fake::default();
        let d = kinds_server(&mut s, &resized(&note, len), &mut [0u8; 64]);
        assert_eq!(d, Dispatch::NoReply);
        assert!(s.calls.is_empty(), "note resized to {len}");
    }
}

// ---- Hostile replies ----

/// A transport that answers with a canned reply (received form).
struct Canned {
    reply: Vec<u8>,
    discarded: usize,
}

impl Transport for Canned {
    fn call(&mut self, buf: &mut [u8], _send_size: usize) -> Result<usize, i32> {
        buf[..self.reply.len()].copy_from_slice(&self.reply);
        Ok(self.reply.len())
    }
    fn send(&mut self, _buf: &mut [u8], _send_size: usize) -> Result<(), i32> {
        Ok(())
    }
    fn discard_reply(&mut self, _reply: &[u8]) {
        self.discarded += 1;
    }
}

/// A good `inline_pair` reply: c = "abc", d = "0123456789".
fn pair_reply() -> Vec<u8> {
    let mut t = loopback();
    let (mut c, mut d) = ([0u8; 7], [0u8; 13]);
    kinds::inline_pair(&mut t, T, b"0123456789", 0, b"abc", &mut c, &mut d).unwrap();
    to_received(&t.last_reply).unwrap()
}

#[test]
fn replies_whose_counts_lie_are_type_errors_and_discarded() {
    let good = pair_reply();
    assert_eq!(good.len() - TRAILER, 32 + 8 + 16);
    let mut cases: Vec<(String, Vec<u8>)> = Vec::new();
    for (off, counts) in [(32, &[0u32, 5, 8, u32::MAX][..]), (40, &[0, 8, 12, 13, 14, 17])] {
        for &count in counts {
            let mut r = good.clone();
            wire::put_u32(&mut r, off, count).unwrap();
            cases.push((format!("count {count} at {off}"), r));
        }
    }
    for size in [28, 32, 36, 52, 60, 64, 68] {
        let mut r = good.clone();
        wire::put_u32(&mut r, 4, size).unwrap();
        cases.push((format!("msgh_size {size}"), r));
    }
    for (what, reply) in cases {
        let mut t = Canned { reply, discarded: 0 };
        let (mut c, mut d) = ([0x55u8; 7], [0x55u8; 13]);
        let got = kinds::inline_pair(&mut t, T, b"", 0, b"", &mut c, &mut d);
        // d's count 12 instead of 10, within the same padding, is still a good reply.
        if what == "count 12 at 40" {
            assert!(got.is_ok(), "{what}");
            continue;
        }
        assert_eq!(got, Err(MIG_TYPE_ERROR), "{what}");
        assert_eq!(t.discarded, 1, "{what}");
        assert_eq!((c, d), ([0x55; 7], [0x55; 13]), "{what}: nothing copied");
    }
    // The good one decodes.
    let mut t = Canned {
        reply: good,
        discarded: 0,
    };
    let (mut c, mut d) = ([0u8; 7], [0u8; 13]);
    let out = kinds::inline_pair(&mut t, T, b"", 0, b"", &mut c, &mut d).unwrap();
    assert_eq!(
        (out.c, out.d, &c[..3], &d[..10]),
        (3, 10, &b"abc"[..], &b"0123456789"[..])
    );
}

#[test]
fn encoders_write_only_the_message_and_zero_its_padding() {
    let mut buf = [0xAAu8; 80];
    let n = kinds::encode_inline_pair_request(&mut buf, T, b"abcde", 9, b"f").unwrap();
    assert_eq!(n, 32 + 12 + 8);
    assert_eq!(wire::get_u32(&buf, 4), Some(n as u32));
    let next = assert_array(&buf, 32, b"abcde");
    assert_eq!(assert_array(&buf, next, b"f"), n);
    assert!(buf[n..].iter().all(|b| *b == 0xAA), "nothing past the message");
}

#[test]
fn the_size_range_checks_come_first() {
    let req = request(|b| kinds::encode_inline_echo_request(b, T, 7, b"hello"));
    let hdr = wire::read_header(&req).unwrap();
    assert_eq!(wire::request_body_in(&req, &hdr, 40, 40, 0).map(<[u8]>::len), Some(40));
    assert_eq!(wire::request_body_in(&req, &hdr, 41, 4128, 0), None);
    assert_eq!(wire::request_body_in(&req, &hdr, 32, 39, 0), None);
    assert_eq!(wire::request_body_in(&req, &hdr, 32, 4128, 1), None, "not complex");
    let rep = pair_reply();
    let id = kinds::INLINE_PAIR_ID + 100;
    assert_eq!(wire::check_reply_in(&rep, id, 40, 64, 0, 24).map(<[u8]>::len), Ok(56));
    assert_eq!(wire::check_reply_in(&rep, id, 57, 64, 0, 24), Err(MIG_TYPE_ERROR));
    assert_eq!(wire::check_reply_in(&rep, id, 40, 55, 0, 24), Err(MIG_TYPE_ERROR));
    assert_eq!(
        wire::check_reply_in(&rep, id + 1, 40, 64, 0, 24),
        Err(MIG_REPLY_MISMATCH)
    );
}
