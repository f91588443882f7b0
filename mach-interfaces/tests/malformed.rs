//! Hostile requests against every generated dispatch function: truncation at
//! every length, lying sizes, a flipped complex bit, wrong descriptor types,
//! dispositions and counts, unknown ids, and random mutation. None may panic;
//! routines answer `MIG_BAD_ARGUMENTS` / `MIG_BAD_ID`, simpleroutines stay
//! silent, the server is never called, and exactly the descriptors that
//! arrived whole are released.

mod common;

use common::{REPLY_PORT, Released, Releases, Rng, ret_code, to_received};
use mach_abi::message::*;
use mach_interfaces::host::{self, HostInfoBasicReply, HostServer, HostVmStatisticsReply, host_server};
use mach_interfaces::host_priv::{self, HostBootDataReply, HostIpcAuditReply, HostPrivServer, host_priv_server};
use mach_interfaces::mach_port::{self, MachPortNamesReply, MachPortServer, mach_port_server};
use mach_interfaces::notify::{self, NotifyServer, notify_server};
use mach_interfaces::{Dispatch, OolArray, OolPorts, PolyPort, Release, wire};

#[allow(dead_code)]
mod kinds {
    include!(concat!(env!("OUT_DIR"), "/tests/kinds.rs"));
}
use kinds::{
    ArraysReply, InlinePairReply, InlinePortsReply, KindsServer, PolyReply, PortsReply, ScalarsReply, kinds_server,
};

/// A server for every subsystem that counts calls and records releases.
#[derive(Default)]
struct Count {
    calls: usize,
    releases: Releases,
}

macro_rules! counting {
    ($($name:ident($($arg:ident: $ty:ty),*) -> $out:ty;)*) => {
        $(fn $name(&mut self, $($arg: $ty),*) -> Result<$out, i32> {
            let _ = ($($arg,)*);
            self.calls += 1;
            Ok(<$out>::default())
        })*
    };
}

impl MachPortServer for Count {
    counting! {
        mach_port_names(t: u32) -> MachPortNamesReply;
        mach_port_type(t: u32, n: u32) -> u32;
        mach_port_allocate_name(t: u32, r: u32, n: u32) -> ();
        mach_port_allocate(t: u32, r: u32) -> u32;
        mach_port_destroy(t: u32, n: u32) -> ();
        mach_port_deallocate(t: u32, n: u32) -> ();
        mach_port_get_refs(t: u32, n: u32, r: u32) -> u32;
        mach_port_mod_refs(t: u32, n: u32, r: u32, d: i32) -> ();
        mach_port_set_mscount(t: u32, n: u32, m: u32) -> ();
        mach_port_move_member(t: u32, m: u32, a: u32) -> ();
        mach_port_request_notification(t: u32, n: u32, i: i32, s: u32, p: PolyPort) -> u32;
        mach_port_insert_right(t: u32, n: u32, p: PolyPort) -> ();
        mach_port_extract_right(t: u32, n: u32, m: u32) -> PolyPort;
        mach_port_set_qlimit(t: u32, n: u32, q: u32) -> ();
        mach_port_get_qlimit(t: u32, n: u32) -> u32;
    }
}

impl NotifyServer for Count {
    counting! {
        mach_notify_port_deleted(t: u32, n: u32) -> ();
        mach_notify_port_destroyed(t: u32, r: u32) -> ();
        mach_notify_no_senders(t: u32, m: u32) -> ();
        mach_notify_send_once(t: u32) -> ();
        mach_notify_dead_name(t: u32, n: u32) -> ();
    }
}

impl HostServer for Count {
    counting! {
        host_info_basic(t: u32) -> HostInfoBasicReply;
        host_vm_statistics(t: u32) -> HostVmStatisticsReply;
    }
}

impl HostPrivServer for Count {
    counting! {
        host_ipc_audit(t: u32) -> HostIpcAuditReply;
        host_vm_pageout(t: u32, p: u32) -> u32;
        vm_set_default_memory_manager(t: u32, m: u32) -> ();
        host_get_io_master(t: u32) -> u32;
        host_tasks_dump(t: u32) -> ();
        host_boot_data(t: u32, i: u32) -> HostBootDataReply;
    }
}

impl KindsServer for Count {
    counting! {
        scalars(t: u32, a: u32, b: i32, c: u64, d: i64) -> ScalarsReply;
        ports(t: u32, a: u32, b: u32, c: u32, d: u32, e: u32, f: u32) -> PortsReply;
        poly(t: u32, p: PolyPort, g: u32) -> PolyReply;
        arrays(t: u32, a: OolArray, b: OolArray, c: OolPorts, n: u32) -> ArraysReply;
        oneway(t: u32, r: u32, d: OolArray, n: OolPorts, v: u64) -> ();
        ping(t: u32) -> ();
        nothing(t: u32) -> ();
        inline_echo(t: u32, g: u32, d: &[u8], o: &mut [u8]) -> usize;
        inline_pair(t: u32, a: &[u8], x: u64, b: &[u8], c: &mut [u8], d: &mut [u8]) -> InlinePairReply;
        inline_ports(t: u32, p: u32, a: &[u8], n: &mut [u8]) -> InlinePortsReply;
        inline_note(t: u32, m: &[u8]) -> ();
    }
}

impl Release for Count {
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

#[derive(Clone, Copy, Debug, PartialEq)]
enum Sub {
    MachPort,
    Notify,
    Host,
    HostPriv,
    Kinds,
}

struct Case {
    name: &'static str,
    sub: Sub,
    simple: bool,
    /// A valid request in received form, trailer included.
    bytes: Vec<u8>,
}

fn dispatch(sub: Sub, req: &[u8], reply: &mut [u8]) -> (Dispatch, Count) {
    let mut s = Count::default();
    let d = match sub {
        Sub::MachPort => mach_port_server(&mut s, req, reply),
        Sub::Notify => notify_server(&mut s, req, reply),
        Sub::Host => host_server(&mut s, req, reply),
        Sub::HostPriv => host_priv_server(&mut s, req, reply),
        Sub::Kinds => kinds_server(&mut s, req, reply),
    };
    (d, s)
}

/// Turns a request as encoded by a client encoder into its received form,
/// with a send-once reply right for routines.
fn received(buf: &mut [u8], n: Option<usize>, simple: bool) -> Vec<u8> {
    let n = n.unwrap();
    if !simple {
        let bits = wire::get_u32(buf, 0).unwrap() | mach_msgh_bits(0, MACH_MSG_TYPE_MAKE_SEND_ONCE);
        wire::put_u32(buf, 0, bits).unwrap();
        wire::put_u32(buf, 12, REPLY_PORT).unwrap();
    }
    to_received(&buf[..n]).unwrap()
}

fn cases() -> Vec<Case> {
    let p = PolyPort {
        name: 0x55,
        disposition: MACH_MSG_TYPE_MAKE_SEND,
    };
    let mut out = Vec::new();
    let mut add = |name, sub, simple, f: &dyn Fn(&mut [u8]) -> Option<usize>| {
        let mut buf = [0u8; 256];
        let n = f(&mut buf);
        out.push(Case {
            name,
            sub,
            simple,
            bytes: received(&mut buf, n, simple),
        });
    };
    use Sub::*;
    add("names", MachPort, false, &|b| {
        mach_port::encode_mach_port_names_request(b, 1)
    });
    add("type", MachPort, false, &|b| {
        mach_port::encode_mach_port_type_request(b, 1, 2)
    });
    add("allocate_name", MachPort, false, &|b| {
        mach_port::encode_mach_port_allocate_name_request(b, 1, 2, 3)
    });
    add("allocate", MachPort, false, &|b| {
        mach_port::encode_mach_port_allocate_request(b, 1, 2)
    });
    add("destroy", MachPort, false, &|b| {
        mach_port::encode_mach_port_destroy_request(b, 1, 2)
    });
    add("deallocate", MachPort, false, &|b| {
        mach_port::encode_mach_port_deallocate_request(b, 1, 2)
    });
    add("get_refs", MachPort, false, &|b| {
        mach_port::encode_mach_port_get_refs_request(b, 1, 2, 3)
    });
    add("mod_refs", MachPort, false, &|b| {
        mach_port::encode_mach_port_mod_refs_request(b, 1, 2, 3, -1)
    });
    add("set_mscount", MachPort, false, &|b| {
        mach_port::encode_mach_port_set_mscount_request(b, 1, 2, 3)
    });
    add("move_member", MachPort, false, &|b| {
        mach_port::encode_mach_port_move_member_request(b, 1, 2, 3)
    });
    add("request_notification", MachPort, false, &|b| {
        mach_port::encode_mach_port_request_notification_request(b, 1, 2, 0o110, 1, p)
    });
    add("insert_right", MachPort, false, &|b| {
        mach_port::encode_mach_port_insert_right_request(b, 1, 2, p)
    });
    add("extract_right", MachPort, false, &|b| {
        mach_port::encode_mach_port_extract_right_request(b, 1, 2, 17)
    });
    add("set_qlimit", MachPort, false, &|b| {
        mach_port::encode_mach_port_set_qlimit_request(b, 1, 2, 3)
    });
    add("get_qlimit", MachPort, false, &|b| {
        mach_port::encode_mach_port_get_qlimit_request(b, 1, 2)
    });
    add("port_deleted", Notify, true, &|b| {
        notify::encode_mach_notify_port_deleted_request(b, 1, 2)
    });
    add("port_destroyed", Notify, true, &|b| {
        notify::encode_mach_notify_port_destroyed_request(b, 1, 0x66)
    });
    add("no_senders", Notify, true, &|b| {
        notify::encode_mach_notify_no_senders_request(b, 1, 2)
    });
    add("send_once", Notify, true, &|b| {
        notify::encode_mach_notify_send_once_request(b, 1)
    });
    add("dead_name", Notify, true, &|b| {
        notify::encode_mach_notify_dead_name_request(b, 1, 2)
    });
    add("ipc_audit", HostPriv, false, &|b| {
        host_priv::encode_host_ipc_audit_request(b, 1)
    });
    add("default_memory_manager", HostPriv, false, &|b| {
        host_priv::encode_vm_set_default_memory_manager_request(b, 1, 0x55)
    });
    add("boot_data", HostPriv, false, &|b| {
        host_priv::encode_host_boot_data_request(b, 1, 3)
    });
    add("info_basic", Host, false, &|b| {
        host::encode_host_info_basic_request(b, 1)
    });
    add("scalars", Kinds, false, &|b| {
        kinds::encode_scalars_request(b, 1, 2, 3, 4, 5)
    });
    add("ports", Kinds, false, &|b| {
        kinds::encode_ports_request(b, 1, 11, 12, 13, 14, 15, 16)
    });
    add("poly", Kinds, false, &|b| kinds::encode_poly_request(b, 1, p, 7));
    add("arrays", Kinds, false, &|b| {
        kinds::encode_arrays_request(b, 1, &[1, 2, 3], &[4, 5], &[6], 8)
    });
    add("oneway", Kinds, true, &|b| {
        kinds::encode_oneway_request(b, 1, 0x77, &[1; 9], &[2, 3], 4)
    });
    add("ping", Kinds, true, &|b| kinds::encode_ping_request(b, 1));
    add("nothing", Kinds, false, &|b| kinds::encode_nothing_request(b, 1));
    add("inline_echo", Kinds, false, &|b| {
        kinds::encode_inline_echo_request(b, 1, 2, b"hello")
    });
    add("inline_echo_empty", Kinds, false, &|b| {
        kinds::encode_inline_echo_request(b, 1, 2, b"")
    });
    add("inline_pair", Kinds, false, &|b| {
        kinds::encode_inline_pair_request(b, 1, b"old name", 3, b"new")
    });
    add("inline_ports", Kinds, false, &|b| {
        kinds::encode_inline_ports_request(b, 1, 0x66, b"/etc/passwd")
    });
    add("inline_note", Kinds, true, &|b| {
        kinds::encode_inline_note_request(b, 1, b"x")
    });
    out
}

/// The descriptors of a valid received request: (end offset, release).
fn descriptors(req: &[u8]) -> Vec<(usize, Released)> {
    let h = wire::read_header(req).unwrap();
    if h.bits & MACH_MSGH_BITS_COMPLEX == 0 {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut off = 28;
    for _ in 0..wire::get_u32(req, 24).unwrap() {
        let (addr, disp, size) = (
            wire::get_u64(req, off).unwrap(),
            req[off + 10],
            wire::get_u32(req, off + 12),
        );
        match req[off + 11] {
            MACH_MSG_PORT_DESCRIPTOR => {
                out.push((off + 12, Released::Port(wire::get_u32(req, off).unwrap(), disp)));
                off += 12;
            }
            MACH_MSG_OOL_DESCRIPTOR => {
                out.push((off + 16, Released::Ool(addr, u64::from(size.unwrap()))));
                off += 16;
            }
            _ => {
                out.push((off + 16, Released::OolPorts(addr, size.unwrap(), disp)));
                off += 16;
            }
        }
    }
    out
}

/// Checks the answer to a malformed request of `case`.
fn assert_refused(case: &Case, req: &[u8], d: Dispatch, s: &Count, reply: &[u8], what: &str) {
    assert_eq!(s.calls, 0, "{}: {what}: server called", case.name);
    if req.len() < 24 {
        assert_eq!(d, Dispatch::NoReply, "{}: {what}", case.name);
        return;
    }
    if case.simple {
        assert_eq!(d, Dispatch::NoReply, "{}: {what}", case.name);
    } else {
        assert_eq!(d, Dispatch::Reply(28), "{}: {what}", case.name);
        assert_eq!(ret_code(reply), MIG_BAD_ARGUMENTS, "{}: {what}", case.name);
        let id = wire::get_i32(req, 20).unwrap();
        assert_eq!(wire::get_i32(reply, 20), Some(id.wrapping_add(100)));
        assert_eq!(wire::get_u32(reply, 4), Some(28));
    }
}

fn msg_size(c: &Case) -> usize {
    c.bytes.len() - common::TRAILER
}

#[test]
fn valid_requests_are_accepted() {
    for c in cases() {
        let mut reply = vec![0u8; 8192];
        let (d, s) = dispatch(c.sub, &c.bytes, &mut reply);
        assert_eq!(s.calls, 1, "{}", c.name);
        assert!(s.releases.0.is_empty(), "{}", c.name);
        if c.simple {
            assert_eq!(d, Dispatch::NoReply, "{}", c.name);
        } else {
            assert!(matches!(d, Dispatch::Reply(n) if n >= 28), "{}: {d:?}", c.name);
        }
    }
}

#[test]
fn truncated_at_every_length() {
    for c in cases() {
        let full = descriptors(&c.bytes);
        for len in 0..msg_size(&c) {
            for fix_size in [false, true] {
                let mut req = c.bytes[..len].to_vec();
                if fix_size && len >= 8 {
                    wire::put_u32(&mut req, 4, len as u32).unwrap();
                }
                let mut reply = [0u8; 256];
                let (d, s) = dispatch(c.sub, &req, &mut reply);
                let what = format!("truncated to {len} (size fixed: {fix_size})");
                assert_refused(&c, &req, d, &s, &reply, &what);
                let want: Vec<Released> = if len < 28 {
                    Vec::new()
                } else {
                    full.iter().filter(|(end, _)| *end <= len).map(|x| x.1).collect()
                };
                assert_eq!(s.releases.0, want, "{}: {what}", c.name);
            }
        }
    }
}

#[test]
fn lying_sizes() {
    for c in cases() {
        let size = msg_size(&c) as u32;
        for lie in [
            0,
            4,
            23,
            24,
            size - 1,
            size + 1,
            size + 4,
            size + 20,
            size + 24,
            0x1_0000,
            u32::MAX,
        ] {
            if lie == size {
                continue;
            }
            let mut req = c.bytes.clone();
            wire::put_u32(&mut req, 4, lie).unwrap();
            let mut reply = [0u8; 256];
            let (d, s) = dispatch(c.sub, &req, &mut reply);
            assert_refused(&c, &req, d, &s, &reply, &format!("msgh_size {lie}"));
            // Only what lies within both msgh_size and the buffer is released.
            let limit = (lie as usize).min(req.len());
            let want: Vec<Released> = descriptors(&c.bytes)
                .into_iter()
                .filter(|(end, _)| limit >= 28 && *end <= limit)
                .map(|x| x.1)
                .collect();
            assert_eq!(s.releases.0, want, "{}: msgh_size {lie}", c.name);
        }
    }
}

#[test]
fn flipped_complex_bit() {
    for c in cases() {
        let mut req = c.bytes.clone();
        req[3] ^= 0x80;
        let mut reply = [0u8; 256];
        let (d, s) = dispatch(c.sub, &req, &mut reply);
        assert_refused(&c, &req, d, &s, &reply, "complex bit flipped");
        if !descriptors(&c.bytes).is_empty() {
            assert!(
                s.releases.0.is_empty(),
                "{}: a simple message carries no rights",
                c.name
            );
        }
    }
}

#[test]
fn wrong_descriptor_types_and_dispositions() {
    for c in cases() {
        let mut off = 28;
        for (end, _) in descriptors(&c.bytes) {
            let original_type = c.bytes[off + 11];
            for t in [0u8, 1, 2, 3, 4, 0x7f, 0xff]
                .into_iter()
                .filter(|t| *t != original_type)
            {
                let mut req = c.bytes.clone();
                req[off + 11] = t;
                let mut reply = [0u8; 256];
                let (d, s) = dispatch(c.sub, &req, &mut reply);
                assert_refused(&c, &req, d, &s, &reply, &format!("descriptor type {t} at {off}"));
            }
            if original_type != MACH_MSG_OOL_DESCRIPTOR {
                let poly = c.name == "poly" || c.name == "insert_right" || c.name == "request_notification";
                for disp in 0u8..=25 {
                    let accepted = if poly {
                        wire::is_port_type(disp)
                    } else {
                        disp == c.bytes[off + 10]
                    };
                    if accepted {
                        continue;
                    }
                    let mut req = c.bytes.clone();
                    req[off + 10] = disp;
                    let mut reply = [0u8; 256];
                    let (d, s) = dispatch(c.sub, &req, &mut reply);
                    assert_refused(&c, &req, d, &s, &reply, &format!("disposition {disp} at {off}"));
                    // Every release names a descriptor of the request, at most once.
                    let mut seen = s.releases.0.clone();
                    seen.dedup();
                    assert_eq!(seen.len(), s.releases.0.len(), "{}: double release", c.name);
                    let wrong_type_released = s.releases.0.len() == descriptors(&c.bytes).len();
                    assert_eq!(
                        wrong_type_released,
                        wire::is_port_type(disp),
                        "{}: disposition {disp}",
                        c.name
                    );
                }
            }
            off = end;
        }
        // An OOL size that is not a whole number of u32s.
        if c.name == "arrays" {
            let mut req = c.bytes.clone();
            wire::put_u32(&mut req, 44 + 12, 7).unwrap();
            let mut reply = [0u8; 256];
            let (d, s) = dispatch(c.sub, &req, &mut reply);
            assert_refused(&c, &req, d, &s, &reply, "ool<u32> of 7 bytes");
            assert_eq!(s.releases.0.len(), 3);
        }
    }
}

#[test]
fn wrong_descriptor_counts() {
    for c in cases() {
        let full = descriptors(&c.bytes);
        if full.is_empty() {
            continue;
        }
        let n = full.len() as u32;
        for count in [0, n - 1, n + 1, n + 2, 1000, MACH_MSG_DESCRIPTORS_MAX + 1, u32::MAX] {
            if count == n {
                continue;
            }
            let mut req = c.bytes.clone();
            wire::put_u32(&mut req, 24, count).unwrap();
            let mut reply = [0u8; 256];
            let (d, s) = dispatch(c.sub, &req, &mut reply);
            assert_refused(&c, &req, d, &s, &reply, &format!("descriptor count {count}"));
            let want: Vec<Released> = full.iter().take(count.min(n) as usize).map(|x| x.1).collect();
            assert_eq!(s.releases.0, want, "{}: count {count}", c.name);
        }
    }
}

#[test]
fn unknown_ids_get_mig_bad_id() {
    let probes: [(Sub, &[i32]); 5] = [
        (Sub::MachPort, &[3199, 3202, 3209, 3216, 3300, 3304]),
        (Sub::Notify, &[64, 66, 73, 165, 170]),
        // The host subsystem knows none of host_priv's ids, and host_priv
        // none of host's: the kernel tries both on the host ports.
        (Sub::Host, &[200, 205, 209, 210, 213, 216, 310, 403, 450, 454]),
        (Sub::HostPriv, &[211, 212, 400, 402, 404, 449, 455, 503]),
        (Sub::Kinds, &[5002, 5004, 5008, 5012]),
    ];
    let extremes = [0, -1, i32::MIN, i32::MAX, i32::MAX - 99];
    for (sub, ids) in probes {
        let c = cases().into_iter().find(|c| c.sub == sub).unwrap();
        for &id in ids.iter().chain(&extremes) {
            let mut req = c.bytes.clone();
            wire::put_i32(&mut req, 20, id).unwrap();
            let mut reply = [0u8; 64];
            let (d, s) = dispatch(sub, &req, &mut reply);
            assert_eq!(d, Dispatch::BadId(28), "{sub:?} id {id}");
            assert_eq!(ret_code(&reply), MIG_BAD_ID);
            assert_eq!(wire::get_i32(&reply, 20), Some(id.wrapping_add(100)));
            assert_eq!((s.calls, s.releases.0.len()), (0, 0));
        }
    }
}

#[test]
fn leftover_descriptors_can_be_released_by_the_caller() {
    let c = cases().into_iter().find(|c| c.name == "arrays").unwrap();
    let mut req = c.bytes.clone();
    wire::put_i32(&mut req, 20, 4242).unwrap();
    let mut r = Releases::default();
    wire::release_descriptors(&mut r, &req);
    assert_eq!(r.0, descriptors(&c.bytes).into_iter().map(|x| x.1).collect::<Vec<_>>());
}

#[test]
fn random_mutations_never_panic() {
    let all = cases();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..40_000 {
        let c = &all[rng.below(all.len())];
        let mut req = c.bytes.clone();
        for _ in 0..1 + rng.below(6) {
            let i = if rng.below(2) == 0 {
                rng.below(req.len().min(48))
            } else {
                rng.below(req.len())
            };
            req[i] = rng.next() as u8;
        }
        match rng.below(4) {
            0 => req.truncate(rng.below(req.len() + 1)),
            1 => {
                let size = [0, 24, 28, rng.below(200) as u32, u32::MAX][rng.below(5)];
                wire::put_u32(&mut req, 4, size).unwrap();
            }
            _ => {}
        }
        let mut reply = vec![0u8; rng.below(128)];
        let (d, s) = dispatch(c.sub, &req, &mut reply);
        match d {
            Dispatch::Reply(n) | Dispatch::BadId(n) => {
                assert!(n <= reply.len());
                if n > 0 {
                    let id = wire::get_i32(&req, 20).unwrap();
                    assert_eq!(wire::get_i32(&reply, 20), Some(id.wrapping_add(100)));
                    assert_eq!(wire::get_u32(&reply, 4), Some(n as u32));
                }
            }
            Dispatch::NoReply => {}
        }
        // Each descriptor takes at least 12 bytes, plus the reply right.
        assert!(s.releases.0.len() <= req.len().saturating_sub(28) / 12 + 1);
    }
}
