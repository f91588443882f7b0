//! Round trips of every `mach_port` routine through the generated client
//! stubs, the in-memory loopback and the generated dispatch; error replies;
//! the ownership rule; the exact request bytes.

mod common;

use common::{Loopback, REPLY_PORT, Released, Releases, ret_code};
use mach_abi::kern_return::{KERN_FAILURE, KERN_INVALID_NAME, KERN_SUCCESS};
use mach_abi::message::*;
use mach_interfaces::mach_port::{self, MachPortNamesReply, MachPortServer, mach_port_server};
use mach_interfaces::{Dispatch, OolArray, PolyPort, Release};

const TASK: u32 = 0x0000_0103;

#[derive(Default)]
struct FakeTask {
    calls: Vec<String>,
    fail: Option<i32>,
    releases: Releases,
}

impl FakeTask {
    fn answer<T>(&mut self, call: String, ok: T) -> Result<T, i32> {
        self.calls.push(call);
        match self.fail {
            Some(code) => Err(code),
            None => Ok(ok),
        }
    }
}

impl MachPortServer for FakeTask {
    fn mach_port_names(&mut self, task: u32) -> Result<MachPortNamesReply, i32> {
        let out = MachPortNamesReply {
            names: OolArray {
                address: 0x7000_0000,
                count: 3,
            },
            types: OolArray {
                address: 0x7000_1000,
                count: 3,
            },
        };
        self.answer(format!("names {task:#x}"), out)
    }
    fn mach_port_type(&mut self, task: u32, name: u32) -> Result<u32, i32> {
        self.answer(format!("type {task:#x} {name:#x}"), 0x0003_0000)
    }
    fn mach_port_allocate_name(&mut self, task: u32, right: u32, name: u32) -> Result<(), i32> {
        self.answer(format!("allocate_name {task:#x} {right} {name:#x}"), ())
    }
    fn mach_port_allocate(&mut self, task: u32, right: u32) -> Result<u32, i32> {
        self.answer(format!("allocate {task:#x} {right}"), 0x0000_0a03)
    }
    fn mach_port_destroy(&mut self, task: u32, name: u32) -> Result<(), i32> {
        self.answer(format!("destroy {task:#x} {name:#x}"), ())
    }
    fn mach_port_deallocate(&mut self, task: u32, name: u32) -> Result<(), i32> {
        self.answer(format!("deallocate {task:#x} {name:#x}"), ())
    }
    fn mach_port_get_refs(&mut self, task: u32, name: u32, right: u32) -> Result<u32, i32> {
        self.answer(format!("get_refs {task:#x} {name:#x} {right}"), 7)
    }
    fn mach_port_mod_refs(&mut self, task: u32, name: u32, right: u32, delta: i32) -> Result<(), i32> {
        self.answer(format!("mod_refs {task:#x} {name:#x} {right} {delta}"), ())
    }
    fn mach_port_set_mscount(&mut self, task: u32, name: u32, mscount: u32) -> Result<(), i32> {
        self.answer(format!("set_mscount {task:#x} {name:#x} {mscount}"), ())
    }
    fn mach_port_move_member(&mut self, task: u32, member: u32, after: u32) -> Result<(), i32> {
        self.answer(format!("move_member {task:#x} {member:#x} {after:#x}"), ())
    }
    fn mach_port_request_notification(
        &mut self,
        task: u32,
        name: u32,
        msgid: i32,
        sync: u32,
        notify: PolyPort,
    ) -> Result<u32, i32> {
        let call = format!(
            "request_notification {task:#x} {name:#x} {msgid} {sync} {:#x}/{}",
            notify.name, notify.disposition
        );
        self.answer(call, 0x0000_0e07)
    }
    fn mach_port_insert_right(&mut self, task: u32, name: u32, poly: PolyPort) -> Result<(), i32> {
        self.answer(
            format!("insert_right {task:#x} {name:#x} {:#x}/{}", poly.name, poly.disposition),
            (),
        )
    }
    fn mach_port_extract_right(&mut self, task: u32, name: u32, msgt_name: u32) -> Result<PolyPort, i32> {
        let out = PolyPort {
            name: 0x0000_0f03,
            disposition: MACH_MSG_TYPE_MOVE_RECEIVE,
        };
        self.answer(format!("extract_right {task:#x} {name:#x} {msgt_name}"), out)
    }
    fn mach_port_set_qlimit(&mut self, task: u32, name: u32, qlimit: u32) -> Result<(), i32> {
        self.answer(format!("set_qlimit {task:#x} {name:#x} {qlimit}"), ())
    }
    fn mach_port_get_qlimit(&mut self, task: u32, name: u32) -> Result<u32, i32> {
        self.answer(format!("get_qlimit {task:#x} {name:#x}"), 5)
    }
}

impl Release for FakeTask {
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

fn loopback(fail: Option<i32>) -> Loopback<FakeTask> {
    Loopback::new(
        FakeTask {
            fail,
            ..Default::default()
        },
        mach_port_server::<FakeTask>,
    )
}

fn last_call(t: &Loopback<FakeTask>) -> &str {
    t.server.calls.last().map(String::as_str).unwrap_or("")
}

#[test]
fn every_routine_round_trips() {
    let mut t = loopback(None);
    let names = mach_port::mach_port_names(&mut t, TASK).unwrap();
    assert_eq!(
        names.names,
        OolArray {
            address: 0x7000_0000,
            count: 3
        }
    );
    assert_eq!(
        names.types,
        OolArray {
            address: 0x7000_1000,
            count: 3
        }
    );
    assert_eq!(last_call(&t), "names 0x103");

    assert_eq!(mach_port::mach_port_type(&mut t, TASK, 0x203), Ok(0x0003_0000));
    assert_eq!(last_call(&t), "type 0x103 0x203");
    assert_eq!(mach_port::mach_port_allocate_name(&mut t, TASK, 1, 0x303), Ok(()));
    assert_eq!(last_call(&t), "allocate_name 0x103 1 0x303");
    assert_eq!(mach_port::mach_port_allocate(&mut t, TASK, 1), Ok(0xa03));
    assert_eq!(last_call(&t), "allocate 0x103 1");
    assert_eq!(mach_port::mach_port_destroy(&mut t, TASK, 0x403), Ok(()));
    assert_eq!(last_call(&t), "destroy 0x103 0x403");
    assert_eq!(mach_port::mach_port_deallocate(&mut t, TASK, 0x503), Ok(()));
    assert_eq!(last_call(&t), "deallocate 0x103 0x503");
    assert_eq!(mach_port::mach_port_get_refs(&mut t, TASK, 0x603, 0), Ok(7));
    assert_eq!(last_call(&t), "get_refs 0x103 0x603 0");
    assert_eq!(mach_port::mach_port_mod_refs(&mut t, TASK, 0x603, 0, -2), Ok(()));
    assert_eq!(last_call(&t), "mod_refs 0x103 0x603 0 -2");
    assert_eq!(mach_port::mach_port_set_mscount(&mut t, TASK, 0x703, 9), Ok(()));
    assert_eq!(last_call(&t), "set_mscount 0x103 0x703 9");
    assert_eq!(mach_port::mach_port_move_member(&mut t, TASK, 0x803, 0x903), Ok(()));
    assert_eq!(last_call(&t), "move_member 0x103 0x803 0x903");

    let notify = PolyPort {
        name: 0x0000_0d03,
        disposition: MACH_MSG_TYPE_MAKE_SEND_ONCE,
    };
    assert_eq!(
        mach_port::mach_port_request_notification(&mut t, TASK, 0x203, 0o110, 0, notify),
        Ok(0xe07)
    );
    assert_eq!(last_call(&t), "request_notification 0x103 0x203 72 0 0xd03/18");

    let poly = PolyPort {
        name: 0x0000_0c03,
        disposition: MACH_MSG_TYPE_MAKE_SEND,
    };
    assert_eq!(mach_port::mach_port_insert_right(&mut t, TASK, 0x0c03, poly), Ok(()));
    assert_eq!(last_call(&t), "insert_right 0x103 0xc03 0xc03/17");

    let got = mach_port::mach_port_extract_right(&mut t, TASK, 0x0b03, 16).unwrap();
    assert_eq!(
        got,
        PolyPort {
            name: 0xf03,
            disposition: MACH_MSG_TYPE_PORT_RECEIVE
        }
    );
    assert_eq!(last_call(&t), "extract_right 0x103 0xb03 16");

    assert_eq!(mach_port::mach_port_set_qlimit(&mut t, TASK, 0x203, 3), Ok(()));
    assert_eq!(last_call(&t), "set_qlimit 0x103 0x203 3");
    assert_eq!(mach_port::mach_port_get_qlimit(&mut t, TASK, 0x203), Ok(5));
    assert_eq!(last_call(&t), "get_qlimit 0x103 0x203");

    assert_eq!(t.server.calls.len(), 15);
    assert!(
        t.server.releases.0.is_empty(),
        "Ok keeps everything: {:?}",
        t.server.releases.0
    );
    assert_eq!(t.discarded, 0);
}

/// Calls every routine once; returns each result's error code (0 for Ok).
fn call_all(t: &mut Loopback<FakeTask>) -> Vec<i32> {
    let p = PolyPort {
        name: 0x55,
        disposition: MACH_MSG_TYPE_MAKE_SEND,
    };
    let code = |r: Result<(), i32>| r.err().unwrap_or(0);
    vec![
        code(mach_port::mach_port_names(t, TASK).map(drop)),
        code(mach_port::mach_port_type(t, TASK, 1).map(drop)),
        code(mach_port::mach_port_allocate_name(t, TASK, 1, 2)),
        code(mach_port::mach_port_allocate(t, TASK, 1).map(drop)),
        code(mach_port::mach_port_destroy(t, TASK, 1)),
        code(mach_port::mach_port_deallocate(t, TASK, 1)),
        code(mach_port::mach_port_get_refs(t, TASK, 1, 0).map(drop)),
        code(mach_port::mach_port_mod_refs(t, TASK, 1, 0, 1)),
        code(mach_port::mach_port_set_mscount(t, TASK, 1, 0)),
        code(mach_port::mach_port_move_member(t, TASK, 1, 2)),
        code(mach_port::mach_port_request_notification(t, TASK, 1, 0o110, 0, p).map(drop)),
        code(mach_port::mach_port_insert_right(t, TASK, 1, p)),
        code(mach_port::mach_port_extract_right(t, TASK, 1, 17).map(drop)),
        code(mach_port::mach_port_set_qlimit(t, TASK, 1, 1)),
        code(mach_port::mach_port_get_qlimit(t, TASK, 1).map(drop)),
    ]
}

#[test]
fn error_replies_reach_the_client() {
    let mut t = loopback(Some(KERN_INVALID_NAME));
    assert_eq!(call_all(&mut t), vec![KERN_INVALID_NAME; 15]);
    let reply = &t.last_reply;
    assert_eq!(reply.len(), 28, "an error reply is header + RetCode");
    let h = mach_interfaces::wire::read_header(reply).unwrap();
    assert_eq!(h.bits & MACH_MSGH_BITS_COMPLEX, 0);
    assert_eq!(h.id, mach_port::MACH_PORT_GET_QLIMIT_ID + 100);
    assert_eq!(ret_code(reply), KERN_INVALID_NAME);
    assert_eq!(t.discarded, 0);
}

#[test]
fn err_success_is_sent_as_failure() {
    let mut t = loopback(Some(KERN_SUCCESS));
    assert_eq!(call_all(&mut t), vec![KERN_FAILURE; 15]);
}

#[test]
fn ownership_err_releases_exactly_the_rights_passed() {
    let mut t = loopback(Some(KERN_INVALID_NAME));
    let notify = PolyPort {
        name: 0x0d03,
        disposition: MACH_MSG_TYPE_MAKE_SEND_ONCE,
    };
    assert_eq!(
        mach_port::mach_port_request_notification(&mut t, TASK, 1, 0o110, 0, notify),
        Err(KERN_INVALID_NAME)
    );
    assert_eq!(
        t.server.releases.0,
        vec![Released::Port(0x0d03, MACH_MSG_TYPE_PORT_SEND_ONCE)]
    );

    t.server.releases.0.clear();
    let poly = PolyPort {
        name: 0x0c03,
        disposition: MACH_MSG_TYPE_COPY_SEND,
    };
    assert_eq!(
        mach_port::mach_port_insert_right(&mut t, TASK, 0x0c03, poly),
        Err(KERN_INVALID_NAME)
    );
    assert_eq!(
        t.server.releases.0,
        vec![Released::Port(0x0c03, MACH_MSG_TYPE_PORT_SEND)]
    );

    // Routines without rights or memory in the request release nothing.
    t.server.releases.0.clear();
    call_all(&mut t);
    assert_eq!(
        t.server.releases.0.len(),
        2,
        "only request_notification and insert_right carry a right"
    );
}

#[test]
fn ownership_ok_releases_nothing() {
    let mut t = loopback(None);
    assert_eq!(call_all(&mut t), vec![0; 15]);
    assert!(t.server.releases.0.is_empty());
}

#[test]
fn mig_no_reply_keeps_everything_and_sends_nothing() {
    let mut t = loopback(Some(MIG_NO_REPLY));
    let poly = PolyPort {
        name: 0x0c03,
        disposition: MACH_MSG_TYPE_MOVE_SEND,
    };
    assert_eq!(
        mach_port::mach_port_insert_right(&mut t, TASK, 1, poly),
        Err(MACH_RCV_TIMED_OUT)
    );
    assert_eq!(t.last_dispatch, Some(Dispatch::NoReply));
    assert!(t.server.releases.0.is_empty());
    assert_eq!(
        mach_interfaces::wire::reply_port(&t.last_request),
        Some((REPLY_PORT, MACH_MSG_TYPE_PORT_SEND_ONCE))
    );
}

#[test]
fn request_bytes_are_the_wire_format() {
    let mut buf = [0xEEu8; 64];
    let n = mach_port::encode_mach_port_allocate_request(&mut buf, TASK, 1).unwrap();
    let mut want = Vec::new();
    for w in [MACH_MSG_TYPE_COPY_SEND as u32, 28, TASK, 0, 0, 3204, 1] {
        want.extend_from_slice(&w.to_le_bytes());
    }
    assert_eq!(&buf[..n], &want[..]);

    let notify = PolyPort {
        name: 0x0d03,
        disposition: MACH_MSG_TYPE_MAKE_SEND_ONCE,
    };
    let n = mach_port::encode_mach_port_request_notification_request(&mut buf, TASK, 0x203, 0o110, 1, notify).unwrap();
    assert_eq!(n, 52);
    let mut want = Vec::new();
    for w in [
        MACH_MSGH_BITS_COMPLEX | MACH_MSG_TYPE_COPY_SEND as u32,
        52,
        TASK,
        0,
        0,
        3213,
        1,
        0x0d03,
        0,
    ] {
        want.extend_from_slice(&w.to_le_bytes());
    }
    want.extend_from_slice(&[0, 0, MACH_MSG_TYPE_MAKE_SEND_ONCE, MACH_MSG_PORT_DESCRIPTOR]);
    for w in [0x203u32, 0o110, 1] {
        want.extend_from_slice(&w.to_le_bytes());
    }
    assert_eq!(&buf[..n], &want[..]);

    // Too small a buffer is refused, not overrun.
    assert_eq!(
        mach_port::encode_mach_port_request_notification_request(&mut buf[..51], TASK, 0, 0, 0, notify),
        None
    );
}

#[test]
fn ool_reply_descriptors_hand_the_memory_over() {
    let mut t = loopback(None);
    mach_port::mach_port_names(&mut t, TASK).unwrap();
    let r = &t.last_reply;
    assert_eq!(r.len(), mach_port::MACH_PORT_NAMES_REPLY_SIZE);
    assert_eq!(&r[24..28], &2u32.to_le_bytes());
    for off in [28, 44] {
        assert_eq!(r[off + 8], 1, "deallocate");
        assert_eq!(r[off + 9], MACH_MSG_VIRTUAL_COPY);
        assert_eq!(r[off + 11], MACH_MSG_OOL_DESCRIPTOR);
        assert_eq!(&r[off + 12..off + 16], &12u32.to_le_bytes(), "3 u32s = 12 bytes");
    }
    assert_eq!(&r[60..64], &0i32.to_le_bytes(), "RetCode after the descriptors");
}

#[test]
fn constants_and_names() {
    assert_eq!(mach_port::SUBSYSTEM_BASE, 3200);
    assert_eq!(mach_port::MACH_PORT_INSERT_RIGHT_ID, 3214);
    assert_eq!(mach_port::routine_name(3204), Some("mach_port_allocate"));
    assert_eq!(mach_port::routine_name(3202), None);
    const { assert!(mach_port::MAX_REPLY_SIZE >= mach_port::MACH_PORT_NAMES_REPLY_SIZE) };
    assert_eq!(core::mem::align_of::<mach_interfaces::MsgBuf<72>>(), 8);
}
