//! Reply validation in the generated client stubs: wrong ids, short or
//! oversized replies, error replies, layout and descriptor mismatches,
//! transport errors, and random replies (which must never panic).

mod common;

use common::{REPLY_PORT, Rng};
use mach_abi::kern_return::KERN_INVALID_NAME;
use mach_abi::message::*;
use mach_interfaces::mach_port::{self, MachPortNamesReply};
use mach_interfaces::{OolArray, PolyPort, Transport, notify, wire};

/// A transport that answers every call with a canned reply.
#[derive(Default)]
struct Scripted {
    reply: Vec<u8>,
    /// Reported received size, if not `reply.len()`.
    size: Option<usize>,
    err: Option<i32>,
    sent: Vec<u8>,
    discarded: usize,
}

impl Transport for Scripted {
    fn call(&mut self, buf: &mut [u8], send_size: usize) -> Result<usize, i32> {
        self.sent = buf[..send_size].to_vec();
        if let Some(e) = self.err {
            return Err(e);
        }
        let n = self.reply.len().min(buf.len());
        buf[..n].copy_from_slice(&self.reply[..n]);
        Ok(self.size.unwrap_or(self.reply.len()))
    }
    fn send(&mut self, buf: &mut [u8], send_size: usize) -> Result<(), i32> {
        self.sent = buf[..send_size].to_vec();
        self.err.map_or(Ok(()), Err)
    }
    fn discard_reply(&mut self, _reply: &[u8]) {
        self.discarded += 1;
    }
}

/// A received reply: header (size = bytes given), then `body` words.
fn reply(id: i32, complex: bool, body: &[u32]) -> Vec<u8> {
    let size = 24 + 4 * body.len() as u32;
    let bits = mach_msgh_bits(0, MACH_MSG_TYPE_PORT_SEND_ONCE) | if complex { MACH_MSGH_BITS_COMPLEX } else { 0 };
    let mut v = Vec::new();
    for w in [bits, size, 0, REPLY_PORT, 0, id as u32].iter().chain(body) {
        v.extend_from_slice(&w.to_le_bytes());
    }
    v
}

/// Port descriptor words: name, pad, (disposition, type) in the last word.
fn port_desc(name: u32, received_type: u8, dtype: u8) -> [u32; 3] {
    [name, 0, (u32::from(received_type) << 16) | (u32::from(dtype) << 24)]
}

fn ool_desc(addr: u64, size: u32, dtype: u8) -> [u32; 4] {
    [
        addr as u32,
        (addr >> 32) as u32,
        (1 | (u32::from(MACH_MSG_VIRTUAL_COPY) << 8)) | (u32::from(dtype) << 24),
        size,
    ]
}

fn script(reply: Vec<u8>) -> Scripted {
    Scripted {
        reply,
        ..Default::default()
    }
}

const ALLOCATE_REPLY: i32 = 3204 + 100;

#[test]
fn good_replies_decode() {
    let mut t = script(reply(ALLOCATE_REPLY, false, &[0, 0x0a03]));
    assert_eq!(mach_port::mach_port_allocate(&mut t, 1, 1), Ok(0x0a03));
    // The request the stub sent.
    assert_eq!(wire::get_u32(&t.sent, 0), Some(u32::from(MACH_MSG_TYPE_COPY_SEND)));
    assert_eq!(wire::get_i32(&t.sent, 20), Some(3204));

    // A trailer after the message is fine.
    let mut r = reply(ALLOCATE_REPLY, false, &[0, 0x0a03]);
    r.extend_from_slice(&[0u8; 20]);
    let mut t = script(r);
    assert_eq!(mach_port::mach_port_allocate(&mut t, 1, 1), Ok(0x0a03));
    assert_eq!(t.discarded, 0);
}

#[test]
fn wrong_id_is_reply_mismatch() {
    for id in [3204, 3305, 0, -1, i32::MAX] {
        let mut t = script(reply(id, false, &[0, 1]));
        assert_eq!(
            mach_port::mach_port_allocate(&mut t, 1, 1),
            Err(MIG_REPLY_MISMATCH),
            "id {id}"
        );
        assert_eq!(t.discarded, 1);
    }
}

#[test]
fn short_replies_are_type_errors() {
    let full = reply(ALLOCATE_REPLY, false, &[0, 1]);
    for n in 0..full.len() {
        // Truncated bytes, size field intact.
        let mut t = script(full[..n].to_vec());
        assert_eq!(
            mach_port::mach_port_allocate(&mut t, 1, 1),
            Err(MIG_TYPE_ERROR),
            "{n} bytes"
        );
        // Truncated bytes, size field matching.
        let mut r = full[..n].to_vec();
        if n >= 8 {
            r[4..8].copy_from_slice(&(n as u32).to_le_bytes());
        }
        let mut t = script(r);
        assert_eq!(
            mach_port::mach_port_allocate(&mut t, 1, 1),
            Err(MIG_TYPE_ERROR),
            "{n} bytes, size {n}"
        );
    }
    // The transport claims more bytes than the buffer holds.
    let mut t = script(full.clone());
    t.size = Some(10_000);
    assert_eq!(mach_port::mach_port_allocate(&mut t, 1, 1), Err(MIG_TYPE_ERROR));
    // A size field larger than what was received.
    let mut r = full;
    r[4..8].copy_from_slice(&36u32.to_le_bytes());
    let mut t = script(r);
    assert_eq!(mach_port::mach_port_allocate(&mut t, 1, 1), Err(MIG_TYPE_ERROR));
}

#[test]
fn error_replies_return_the_code() {
    let mut t = script(reply(ALLOCATE_REPLY, false, &[KERN_INVALID_NAME as u32]));
    assert_eq!(mach_port::mach_port_allocate(&mut t, 1, 1), Err(KERN_INVALID_NAME));
    assert_eq!(t.discarded, 0);
    // An error reply to a routine with descriptor outputs.
    let mut t = script(reply(3213 + 100, false, &[MIG_BAD_ARGUMENTS as u32]));
    let p = PolyPort {
        name: 1,
        disposition: MACH_MSG_TYPE_MAKE_SEND_ONCE,
    };
    assert_eq!(
        mach_port::mach_port_request_notification(&mut t, 1, 2, 3, 4, p),
        Err(MIG_BAD_ARGUMENTS)
    );
    // A 28-byte "success" is only right for routines without outputs.
    let mut t = script(reply(ALLOCATE_REPLY, false, &[0]));
    assert_eq!(mach_port::mach_port_allocate(&mut t, 1, 1), Err(MIG_TYPE_ERROR));
    let mut t = script(reply(3205 + 100, false, &[0]));
    assert_eq!(mach_port::mach_port_destroy(&mut t, 1, 1), Ok(()));
    // A full-size reply with a nonzero RetCode is malformed.
    let mut t = script(reply(ALLOCATE_REPLY, false, &[5, 1]));
    assert_eq!(mach_port::mach_port_allocate(&mut t, 1, 1), Err(MIG_TYPE_ERROR));
    // An error reply marked complex is malformed.
    let mut t = script(reply(ALLOCATE_REPLY, true, &[5]));
    assert_eq!(mach_port::mach_port_allocate(&mut t, 1, 1), Err(MIG_TYPE_ERROR));
}

#[test]
fn layout_mismatches_are_type_errors() {
    // Complex bit on a simple reply, and an extra word.
    for r in [
        reply(ALLOCATE_REPLY, true, &[0, 1]),
        reply(ALLOCATE_REPLY, false, &[0, 1, 2]),
    ] {
        let mut t = script(r);
        assert_eq!(mach_port::mach_port_allocate(&mut t, 1, 1), Err(MIG_TYPE_ERROR));
        assert_eq!(t.discarded, 1);
    }

    let id = 3213 + 100;
    let p = PolyPort {
        name: 1,
        disposition: MACH_MSG_TYPE_MAKE_SEND_ONCE,
    };
    let call = |r: Vec<u8>| mach_port::mach_port_request_notification(&mut script(r), 1, 2, 3, 4, p);
    let with = |count: u32, d: [u32; 3], complex: bool| {
        let body: Vec<u32> = [count].into_iter().chain(d).chain([0]).collect();
        reply(id, complex, &body)
    };
    let good = port_desc(0x0e07, MACH_MSG_TYPE_PORT_SEND_ONCE, MACH_MSG_PORT_DESCRIPTOR);
    assert_eq!(call(with(1, good, true)), Ok(0x0e07));
    assert_eq!(call(with(1, good, false)), Err(MIG_TYPE_ERROR), "not complex");
    assert_eq!(call(with(2, good, true)), Err(MIG_TYPE_ERROR), "count 2");
    assert_eq!(call(with(0, good, true)), Err(MIG_TYPE_ERROR), "count 0");
    for t in [
        MACH_MSG_TYPE_PORT_SEND,
        MACH_MSG_TYPE_PORT_RECEIVE,
        0,
        MACH_MSG_TYPE_MAKE_SEND_ONCE,
    ] {
        let d = port_desc(0x0e07, t, MACH_MSG_PORT_DESCRIPTOR);
        assert_eq!(call(with(1, d, true)), Err(MIG_TYPE_ERROR), "received type {t}");
    }
    for dt in [MACH_MSG_OOL_DESCRIPTOR, MACH_MSG_OOL_PORTS_DESCRIPTOR, 9] {
        let d = port_desc(0x0e07, MACH_MSG_TYPE_PORT_SEND_ONCE, dt);
        assert_eq!(call(with(1, d, true)), Err(MIG_TYPE_ERROR), "descriptor type {dt}");
    }

    // port_poly outputs take any right type, nothing else.
    let extract = |t: u8| {
        let body: Vec<u32> = [1]
            .into_iter()
            .chain(port_desc(9, t, MACH_MSG_PORT_DESCRIPTOR))
            .chain([0])
            .collect();
        mach_port::mach_port_extract_right(&mut script(reply(3215 + 100, true, &body)), 1, 2, 3)
    };
    for t in 0u8..=30 {
        let want = if wire::is_port_type(t) {
            Ok(PolyPort {
                name: 9,
                disposition: t,
            })
        } else {
            Err(MIG_TYPE_ERROR)
        };
        assert_eq!(extract(t), want, "type {t}");
    }

    // ool<u32> outputs must be whole u32s.
    let names = |size: u32, dt: u8| {
        let body: Vec<u32> = [2]
            .into_iter()
            .chain(ool_desc(0x5000, size, dt))
            .chain(ool_desc(0x6000, 8, dt))
            .chain([0])
            .collect();
        mach_port::mach_port_names(&mut script(reply(3300, true, &body)), 1)
    };
    let want = MachPortNamesReply {
        names: OolArray {
            address: 0x5000,
            count: 2,
        },
        types: OolArray {
            address: 0x6000,
            count: 2,
        },
    };
    assert_eq!(names(8, MACH_MSG_OOL_DESCRIPTOR), Ok(want));
    assert_eq!(names(6, MACH_MSG_OOL_DESCRIPTOR), Err(MIG_TYPE_ERROR));
    assert_eq!(names(8, MACH_MSG_OOL_PORTS_DESCRIPTOR), Err(MIG_TYPE_ERROR));
}

#[test]
fn transport_errors_pass_through() {
    let mut t = Scripted {
        err: Some(MACH_SEND_INVALID_DEST),
        ..Default::default()
    };
    assert_eq!(mach_port::mach_port_allocate(&mut t, 1, 1), Err(MACH_SEND_INVALID_DEST));
    assert_eq!(
        notify::mach_notify_no_senders(&mut t, 1, 1),
        Err(MACH_SEND_INVALID_DEST)
    );
    assert_eq!(t.discarded, 0);
    let mut t = Scripted::default();
    notify::mach_notify_dead_name(&mut t, 0x44, 0x55).unwrap();
    assert_eq!(t.sent.len(), 28);
    assert_eq!(wire::get_u32(&t.sent, 0), Some(u32::from(MACH_MSG_TYPE_MOVE_SEND_ONCE)));
    assert_eq!(wire::get_u32(&t.sent, 12), Some(0), "no reply port");
}

#[test]
fn stubs_work_through_dyn_transport() {
    let mut t = script(reply(ALLOCATE_REPLY, false, &[0, 7]));
    let dyn_t: &mut dyn Transport = &mut t;
    assert_eq!(mach_port::mach_port_allocate(dyn_t, 1, 1), Ok(7));
}

#[test]
fn random_replies_never_panic() {
    let mut rng = Rng(0x0123_4567_89AB_CDEF);
    let ids: [i32; 7] = [3300, 3301, 3304, 3305, 3313, 3315, 3331];
    for _ in 0..40_000 {
        let len = rng.below(80);
        let mut r: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if len >= 24 && rng.below(4) != 0 {
            r[20..24].copy_from_slice(&ids[rng.below(ids.len())].to_le_bytes());
            if rng.below(2) == 0 {
                r[4..8].copy_from_slice(&(len as u32 & !3).to_le_bytes());
            }
        }
        let p = PolyPort::default();
        let _ = mach_port::mach_port_names(&mut script(r.clone()), 1);
        let _ = mach_port::mach_port_type(&mut script(r.clone()), 1, 2);
        let _ = mach_port::mach_port_allocate(&mut script(r.clone()), 1, 2);
        let _ = mach_port::mach_port_destroy(&mut script(r.clone()), 1, 2);
        let _ = mach_port::mach_port_request_notification(&mut script(r.clone()), 1, 2, 3, 4, p);
        let _ = mach_port::mach_port_extract_right(&mut script(r.clone()), 1, 2, 3);
        let _ = mach_port::mach_port_get_qlimit(&mut script(r), 1, 2);
    }
}

#[test]
fn ool_sizes_that_do_not_fit_are_refused() {
    assert_eq!(wire::ool_bytes(usize::MAX, 4), None);
    assert_eq!(wire::ool_bytes(1 << 30, 4), None);
    assert_eq!(wire::ool_bytes((1 << 30) - 1, 4), Some(u32::MAX - 3));
}
