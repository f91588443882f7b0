//! Round trips of every argument kind (the test-only `tests/defs/kinds.defs`):
//! scalars, each port disposition, `port_poly`, out-of-line memory and ports,
//! simpleroutines with rights, implicit ids; the ownership rule for each kind;
//! replies that cannot be written.

mod common;

use common::{Loopback, REPLY_PORT, Released, Releases, ret_code, to_received};
use mach_abi::kern_return::{KERN_INVALID_ARGUMENT, KERN_RESOURCE_SHORTAGE};
use mach_abi::message::*;
use mach_interfaces::{Dispatch, OolArray, OolPorts, PolyPort, Release, wire};

#[allow(dead_code)]
mod kinds {
    include!(concat!(env!("OUT_DIR"), "/tests/kinds.rs"));
}
use kinds::{
    ArraysReply, InlinePairReply, InlinePortsReply, KindsServer, PolyReply, PortsReply, ScalarsReply, kinds_server,
};

const T: u32 = 0x0000_2003;

#[derive(Default)]
struct FakeKinds {
    calls: Vec<String>,
    fail: Option<i32>,
    releases: Releases,
}

impl FakeKinds {
    fn answer<R>(&mut self, call: String, ok: R) -> Result<R, i32> {
        self.calls.push(call);
        self.fail.map_or(Ok(ok), Err)
    }
}

impl KindsServer for FakeKinds {
    fn scalars(&mut self, t: u32, a: u32, b: i32, c: u64, d: i64) -> Result<ScalarsReply, i32> {
        let out = ScalarsReply {
            w: !a,
            x: b.wrapping_neg(),
            y: c.rotate_left(8),
            z: d,
        };
        self.answer(format!("scalars {t:#x} {a:#x} {b} {c:#x} {d}"), out)
    }
    fn ports(
        &mut self,
        t: u32,
        recv: u32,
        send: u32,
        once: u32,
        copy: u32,
        make: u32,
        make_once: u32,
    ) -> Result<PortsReply, i32> {
        let out = PortsReply {
            out_recv: recv + 1,
            out_send: send + 1,
            out_once: once + 1,
        };
        self.answer(
            format!("ports {t:#x} {recv} {send} {once} {copy} {make} {make_once}"),
            out,
        )
    }
    fn poly(&mut self, t: u32, p: PolyPort, tag: u32) -> Result<PolyReply, i32> {
        let out = PolyReply {
            q: PolyPort {
                name: p.name + 1,
                disposition: MACH_MSG_TYPE_MOVE_SEND,
            },
            tag_out: u64::from(tag) << 32,
        };
        self.answer(format!("poly {t:#x} {}/{} {tag}", p.name, p.disposition), out)
    }
    fn arrays(
        &mut self,
        t: u32,
        bytes: OolArray,
        words: OolArray,
        names: OolPorts,
        n: u32,
    ) -> Result<ArraysReply, i32> {
        let out = ArraysReply {
            out_bytes: OolArray {
                address: 0x9000,
                count: 7,
            },
            out_words: OolArray {
                address: 0xA000,
                count: 2,
            },
            out_names: OolPorts {
                address: 0xB000,
                count: 3,
            },
            total: bytes.count + words.count + names.count,
        };
        let call = format!(
            "arrays {t:#x} {:#x}/{} {:#x}/{} {:#x}/{} {n}",
            bytes.address, bytes.count, words.address, words.count, names.address, names.count
        );
        self.answer(call, out)
    }
    fn oneway(&mut self, t: u32, r: u32, data: OolArray, names: OolPorts, v: u64) -> Result<(), i32> {
        let call = format!(
            "oneway {t:#x} {r} {:#x}/{} {:#x}/{} {v:#x}",
            data.address, data.count, names.address, names.count
        );
        self.answer(call, ())
    }
    fn ping(&mut self, t: u32) -> Result<(), i32> {
        self.answer(format!("ping {t:#x}"), ())
    }
    fn nothing(&mut self, t: u32) -> Result<(), i32> {
        self.answer(format!("nothing {t:#x}"), ())
    }
    // In-line arrays have their own tests (`tests/inline.rs`); these only count.
    fn inline_echo(&mut self, t: u32, tag: u32, data: &[u8], _out: &mut [u8]) -> Result<usize, i32> {
        self.answer(format!("inline_echo {t:#x} {tag} {}", data.len()), 0)
    }
    fn inline_pair(
        &mut self,
        t: u32,
        a: &[u8],
        x: u64,
        b: &[u8],
        _: &mut [u8],
        _: &mut [u8],
    ) -> Result<InlinePairReply, i32> {
        let call = format!("inline_pair {t:#x} {} {x} {}", a.len(), b.len());
        self.answer(call, InlinePairReply::default())
    }
    fn inline_ports(&mut self, t: u32, p: u32, path: &[u8], _name: &mut [u8]) -> Result<InlinePortsReply, i32> {
        self.answer(
            format!("inline_ports {t:#x} {p} {}", path.len()),
            InlinePortsReply::default(),
        )
    }
    fn inline_note(&mut self, t: u32, msg: &[u8]) -> Result<(), i32> {
        self.answer(format!("inline_note {t:#x} {}", msg.len()), ())
    }
}

impl Release for FakeKinds {
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

fn loopback(fail: Option<i32>) -> Loopback<FakeKinds> {
    Loopback::new(
        FakeKinds {
            fail,
            ..Default::default()
        },
        kinds_server::<FakeKinds>,
    )
}

fn addr<E>(s: &[E]) -> u64 {
    s.as_ptr() as usize as u64
}

#[test]
fn implicit_ids_count_routines_and_skips() {
    assert_eq!(kinds::SCALARS_ID, 5000);
    assert_eq!(kinds::PORTS_ID, 5001);
    assert_eq!(kinds::POLY_ID, 5003);
    assert_eq!(kinds::ARRAYS_ID, 5010);
    assert_eq!(kinds::ONEWAY_ID, 5011);
    assert_eq!(kinds::PING_ID, 5006);
    assert_eq!(kinds::NOTHING_ID, 5007);
}

#[test]
fn scalars_round_trip_with_extreme_values() {
    let mut t = loopback(None);
    for (a, b, c, d) in [
        (0, 0, 0, 0),
        (u32::MAX, i32::MIN, u64::MAX, i64::MIN),
        (1, -1, 0x0123_4567_89ab_cdef, i64::MAX),
    ] {
        let got = kinds::scalars(&mut t, T, a, b, c, d).unwrap();
        assert_eq!(
            got,
            ScalarsReply {
                w: !a,
                x: b.wrapping_neg(),
                y: c.rotate_left(8),
                z: d
            }
        );
        assert_eq!(
            t.server.calls.last().unwrap(),
            &format!("scalars {T:#x} {a:#x} {b} {c:#x} {d}")
        );
    }
    // Request a@24 b@28 c@32 d@40; reply RetCode@24 w@28 x@32 y@36 (4-aligned u64) z@44.
    assert_eq!(kinds::SCALARS_REQUEST_SIZE, 48);
    assert_eq!(kinds::SCALARS_REPLY_SIZE, 52);
    assert_eq!(wire::get_i64(&t.last_request, 40), Some(i64::MAX));
    assert_eq!(
        wire::get_u64(&t.last_reply, 36),
        Some(0x0123_4567_89ab_cdefu64.rotate_left(8))
    );
}

#[test]
fn every_fixed_disposition_arrives_as_its_received_type() {
    let mut t = loopback(None);
    let out = kinds::ports(&mut t, T, 10, 20, 30, 40, 50, 60).unwrap();
    assert_eq!(
        out,
        PortsReply {
            out_recv: 11,
            out_send: 21,
            out_once: 31
        }
    );
    assert_eq!(t.server.calls, [format!("ports {T:#x} 10 20 30 40 50 60")]);
    let req = &t.last_request;
    let types: Vec<u8> = (0..6).map(|i| req[28 + 12 * i + 10]).collect();
    assert_eq!(types, [16, 17, 18, 17, 17, 18]);
    // The target was sent with make_send: the receiver sees a send right.
    assert_eq!(
        mach_msgh_bits_local(wire::read_header(req).unwrap().bits),
        MACH_MSG_TYPE_PORT_SEND
    );
    // The reply carries the declared dispositions.
    let rep = &t.last_reply;
    let disps: Vec<u8> = (0..3).map(|i| rep[28 + 12 * i + 10]).collect();
    assert_eq!(
        disps,
        [
            MACH_MSG_TYPE_MOVE_RECEIVE,
            MACH_MSG_TYPE_MAKE_SEND,
            MACH_MSG_TYPE_MAKE_SEND_ONCE
        ]
    );
}

#[test]
fn port_poly_carries_the_run_time_disposition_both_ways() {
    let mut t = loopback(None);
    let cases = [
        (MACH_MSG_TYPE_MOVE_RECEIVE, MACH_MSG_TYPE_PORT_RECEIVE),
        (MACH_MSG_TYPE_MOVE_SEND, MACH_MSG_TYPE_PORT_SEND),
        (MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_PORT_SEND),
        (MACH_MSG_TYPE_MAKE_SEND, MACH_MSG_TYPE_PORT_SEND),
        (MACH_MSG_TYPE_MOVE_SEND_ONCE, MACH_MSG_TYPE_PORT_SEND_ONCE),
        (MACH_MSG_TYPE_MAKE_SEND_ONCE, MACH_MSG_TYPE_PORT_SEND_ONCE),
    ];
    for (sent, received) in cases {
        let out = kinds::poly(
            &mut t,
            T,
            PolyPort {
                name: 70,
                disposition: sent,
            },
            9,
        )
        .unwrap();
        assert_eq!(t.server.calls.last().unwrap(), &format!("poly {T:#x} 70/{received} 9"));
        assert_eq!(
            out,
            PolyReply {
                q: PolyPort {
                    name: 71,
                    disposition: MACH_MSG_TYPE_PORT_SEND
                },
                tag_out: 9 << 32
            }
        );
    }
}

#[test]
fn out_of_line_arrays_round_trip() {
    let mut t = loopback(None);
    let bytes = b"hello";
    let words = [1u32, 2, 3];
    let names = [0x10u32, 0x20];
    let out = kinds::arrays(&mut t, T, bytes, &words, &names, 4).unwrap();
    assert_eq!(
        out,
        ArraysReply {
            out_bytes: OolArray {
                address: 0x9000,
                count: 7
            },
            out_words: OolArray {
                address: 0xA000,
                count: 2
            },
            out_names: OolPorts {
                address: 0xB000,
                count: 3
            },
            total: 10,
        }
    );
    let call = format!(
        "arrays {T:#x} {:#x}/5 {:#x}/3 {:#x}/2 4",
        addr(bytes),
        addr(&words),
        addr(&names)
    );
    assert_eq!(t.server.calls, [call]);
    let req = &t.last_request;
    assert_eq!(wire::get_u32(req, 28 + 12), Some(5), "bytes: size in bytes");
    assert_eq!(wire::get_u32(req, 44 + 12), Some(12), "words: size in bytes");
    assert_eq!(wire::get_u32(req, 60 + 12), Some(2), "names: a count");
    assert_eq!(req[60 + 10], MACH_MSG_TYPE_PORT_SEND);
    assert_eq!(
        (req[28 + 8], req[44 + 8], req[60 + 8]),
        (0, 0, 0),
        "client slices are not deallocated"
    );
    let rep = &t.last_reply;
    assert_eq!(rep.len(), 84);
    assert_eq!(
        (rep[28 + 8], rep[44 + 8], rep[60 + 8]),
        (1, 1, 1),
        "server hands the memory over"
    );
    assert_eq!(wire::get_u32(rep, 44 + 12), Some(8));
    assert_eq!(rep[60 + 10], MACH_MSG_TYPE_MOVE_SEND);

    // Empty arrays are fine.
    kinds::arrays(&mut t, T, &[], &[], &[], 0).unwrap();
}

#[test]
fn ownership_rule_for_every_kind() {
    // Err: exactly the rights and memory of the request are released, in order.
    let mut t = loopback(Some(KERN_INVALID_ARGUMENT));
    let (bytes, words, names) = (b"abc", [7u32; 4], [1u32, 2, 3]);
    assert_eq!(
        kinds::arrays(&mut t, T, bytes, &words, &names, 0),
        Err(KERN_INVALID_ARGUMENT)
    );
    let want = [
        Released::Ool(addr(bytes), 3),
        Released::Ool(addr(&words), 16),
        Released::OolPorts(addr(&names), 3, MACH_MSG_TYPE_PORT_SEND),
    ];
    assert_eq!(t.server.releases.0, want);

    t.server.releases.0.clear();
    assert_eq!(kinds::ports(&mut t, T, 1, 2, 3, 4, 5, 6), Err(KERN_INVALID_ARGUMENT));
    let want: Vec<Released> = [(1, 16), (2, 17), (3, 18), (4, 17), (5, 17), (6, 18)]
        .into_iter()
        .map(|(n, ty)| Released::Port(n, ty))
        .collect();
    assert_eq!(t.server.releases.0, want);

    t.server.releases.0.clear();
    let data = [9u8; 33];
    kinds::oneway(&mut t, T, 77, &data, &names, 5).unwrap();
    let want = [
        Released::Port(77, MACH_MSG_TYPE_PORT_RECEIVE),
        Released::Ool(addr(&data), 33),
        Released::OolPorts(addr(&names), 3, MACH_MSG_TYPE_PORT_SEND_ONCE),
    ];
    assert_eq!(t.server.releases.0, want);

    t.server.releases.0.clear();
    assert_eq!(kinds::scalars(&mut t, T, 1, 2, 3, 4), Err(KERN_INVALID_ARGUMENT));
    assert_eq!(kinds::nothing(&mut t, T), Err(KERN_INVALID_ARGUMENT));
    kinds::ping(&mut t, T).unwrap();
    assert!(t.server.releases.0.is_empty());

    // Ok: nothing is released.
    let mut t = loopback(None);
    kinds::arrays(&mut t, T, bytes, &words, &names, 0).unwrap();
    kinds::ports(&mut t, T, 1, 2, 3, 4, 5, 6).unwrap();
    kinds::poly(
        &mut t,
        T,
        PolyPort {
            name: 1,
            disposition: MACH_MSG_TYPE_MOVE_SEND,
        },
        0,
    )
    .unwrap();
    kinds::oneway(&mut t, T, 77, &data, &names, 5).unwrap();
    kinds::nothing(&mut t, T).unwrap();
    kinds::ping(&mut t, T).unwrap();
    assert!(t.server.releases.0.is_empty());
    assert_eq!(t.server.calls.len(), 6);
}

/// A valid `arrays` request in received form (reply right included).
fn arrays_request() -> Vec<u8> {
    let mut buf = [0u8; 128];
    let n = kinds::encode_arrays_request(&mut buf, T, &[1, 2], &[3], &[4, 5, 6], 0).unwrap();
    let bits = wire::get_u32(&buf, 0).unwrap() | mach_msgh_bits(0, MACH_MSG_TYPE_MAKE_SEND_ONCE);
    wire::put_u32(&mut buf, 0, bits).unwrap();
    wire::put_u32(&mut buf, 12, REPLY_PORT).unwrap();
    to_received(&buf[..n]).unwrap()
}

#[test]
fn a_reply_buffer_too_small_refuses_and_releases() {
    let req = arrays_request();
    let mut server = FakeKinds::default();
    let mut reply = [0u8; 83];
    assert_eq!(kinds_server(&mut server, &req, &mut reply), Dispatch::Reply(28));
    assert_eq!(ret_code(&reply), KERN_RESOURCE_SHORTAGE);
    assert!(server.calls.is_empty());
    assert_eq!(server.releases.0.len(), 3);

    // Not even an error reply fits: the reply right goes too.
    let mut server = FakeKinds::default();
    let mut reply = [0u8; 27];
    assert_eq!(kinds_server(&mut server, &req, &mut reply), Dispatch::NoReply);
    assert_eq!(server.releases.0.len(), 4);
    assert_eq!(
        server.releases.0[3],
        Released::Port(REPLY_PORT, MACH_MSG_TYPE_PORT_SEND_ONCE)
    );

    // Unknown id with no room: BadId(0), nothing released.
    let mut bad = req.clone();
    wire::put_i32(&mut bad, 20, 4999).unwrap();
    let mut server = FakeKinds::default();
    assert_eq!(kinds_server(&mut server, &bad, &mut reply), Dispatch::BadId(0));
    assert!(server.releases.0.is_empty());
}

#[test]
fn a_routine_without_reply_right_still_runs_but_its_reply_has_no_destination() {
    let mut buf = [0u8; 64];
    let n = kinds::encode_nothing_request(&mut buf, T).unwrap();
    let req = to_received(&buf[..n]).unwrap();
    let mut server = FakeKinds::default();
    let mut reply = [0u8; 64];
    assert_eq!(kinds_server(&mut server, &req, &mut reply), Dispatch::Reply(28));
    assert_eq!(server.calls, [format!("nothing {T:#x}")]);
    let h = wire::read_header(&reply).unwrap();
    assert_eq!(mach_msgh_bits_remote(h.bits), 0);
}

#[test]
fn a_send_reply_right_is_answered_with_move_send() {
    let mut buf = [0u8; 64];
    let n = kinds::encode_nothing_request(&mut buf, T).unwrap();
    let mut req = to_received(&buf[..n]).unwrap();
    let bits = wire::get_u32(&req, 0).unwrap() | u32::from(MACH_MSG_TYPE_PORT_SEND);
    wire::put_u32(&mut req, 0, bits).unwrap();
    wire::put_u32(&mut req, 8, 0x0000_3003).unwrap();
    let mut reply = [0u8; 64];
    assert_eq!(
        kinds_server(&mut FakeKinds::default(), &req, &mut reply),
        Dispatch::Reply(28)
    );
    let h = wire::read_header(&reply).unwrap();
    assert_eq!(
        (h.remote_port, mach_msgh_bits_remote(h.bits)),
        (0x3003, MACH_MSG_TYPE_MOVE_SEND)
    );
    assert_eq!(h.id, kinds::NOTHING_ID + 100);
}
