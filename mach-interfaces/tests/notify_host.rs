//! Round trips of the `notify` simpleroutines and the `host` and `host_priv` routines, the
//! ownership rule for notifications, and their wire layouts.

mod common;

use common::{Loopback, Released, Releases, ret_code, to_received};
use mach_abi::kern_return::{KERN_FAILURE, KERN_INVALID_HOST};
use mach_abi::message::*;
use mach_abi::port;
use mach_interfaces::host::{self, HostInfoBasicReply, HostServer, HostVmStatisticsReply, host_server};
use mach_interfaces::host_priv::{self, HostBootDataReply, HostIpcAuditReply, HostPrivServer, host_priv_server};
use mach_interfaces::notify::{self, NotifyServer, notify_server};
use mach_interfaces::{Dispatch, Release, wire};

const NOTIFY_PORT: u32 = 0x0000_1207;

#[derive(Default)]
struct FakeNotify {
    calls: Vec<String>,
    fail: Option<i32>,
    releases: Releases,
}

impl FakeNotify {
    fn answer(&mut self, call: String) -> Result<(), i32> {
        self.calls.push(call);
        self.fail.map_or(Ok(()), Err)
    }
}

impl NotifyServer for FakeNotify {
    fn mach_notify_port_deleted(&mut self, notify: u32, name: u32) -> Result<(), i32> {
        self.answer(format!("port_deleted {notify:#x} {name:#x}"))
    }
    fn mach_notify_port_destroyed(&mut self, notify: u32, rights: u32) -> Result<(), i32> {
        self.answer(format!("port_destroyed {notify:#x} {rights:#x}"))
    }
    fn mach_notify_no_senders(&mut self, notify: u32, mscount: u32) -> Result<(), i32> {
        self.answer(format!("no_senders {notify:#x} {mscount}"))
    }
    fn mach_notify_send_once(&mut self, notify: u32) -> Result<(), i32> {
        self.answer(format!("send_once {notify:#x}"))
    }
    fn mach_notify_dead_name(&mut self, notify: u32, name: u32) -> Result<(), i32> {
        self.answer(format!("dead_name {notify:#x} {name:#x}"))
    }
}

impl Release for FakeNotify {
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

fn notify_loopback(fail: Option<i32>) -> Loopback<FakeNotify> {
    Loopback::new(
        FakeNotify {
            fail,
            ..Default::default()
        },
        notify_server::<FakeNotify>,
    )
}

#[test]
fn every_notification_is_delivered() {
    let mut t = notify_loopback(None);
    notify::mach_notify_port_deleted(&mut t, NOTIFY_PORT, 0x303).unwrap();
    notify::mach_notify_port_destroyed(&mut t, NOTIFY_PORT, 0x403).unwrap();
    notify::mach_notify_no_senders(&mut t, NOTIFY_PORT, 4).unwrap();
    notify::mach_notify_send_once(&mut t, NOTIFY_PORT).unwrap();
    notify::mach_notify_dead_name(&mut t, NOTIFY_PORT, 0x503).unwrap();
    assert_eq!(
        t.server.calls,
        [
            "port_deleted 0x1207 0x303",
            "port_destroyed 0x1207 0x403",
            "no_senders 0x1207 4",
            "send_once 0x1207",
            "dead_name 0x1207 0x503"
        ]
    );
    assert!(t.server.releases.0.is_empty());
    // As received: the notification came through a send-once right, no reply right.
    let h = wire::read_header(&t.last_request).unwrap();
    assert_eq!(mach_msgh_bits_local(h.bits), MACH_MSG_TYPE_PORT_SEND_ONCE);
    assert_eq!(mach_msgh_bits_remote(h.bits), 0);
    assert_eq!(
        wire::request_trailer(&t.last_request).map(|tr| tr.trailer_size),
        Some(20)
    );
}

#[test]
fn notification_ids_and_layouts_are_machs() {
    assert_eq!(notify::SUBSYSTEM_BASE, port::MACH_NOTIFY_FIRST);
    assert_eq!(notify::MACH_NOTIFY_PORT_DELETED_ID, port::MACH_NOTIFY_PORT_DELETED);
    assert_eq!(notify::MACH_NOTIFY_PORT_DESTROYED_ID, port::MACH_NOTIFY_PORT_DESTROYED);
    assert_eq!(notify::MACH_NOTIFY_NO_SENDERS_ID, port::MACH_NOTIFY_NO_SENDERS);
    assert_eq!(notify::MACH_NOTIFY_SEND_ONCE_ID, port::MACH_NOTIFY_SEND_ONCE);
    assert_eq!(notify::MACH_NOTIFY_DEAD_NAME_ID, port::MACH_NOTIFY_DEAD_NAME);
    assert_eq!(
        notify::MACH_NOTIFY_NO_SENDERS_REQUEST_SIZE,
        size_of::<port::MachNoSendersNotification>()
    );
    assert_eq!(
        notify::MACH_NOTIFY_DEAD_NAME_REQUEST_SIZE,
        size_of::<port::MachNameNotification>()
    );

    let mut buf = [0u8; 64];
    let n = notify::encode_mach_notify_no_senders_request(&mut buf, NOTIFY_PORT, 9).unwrap();
    assert_eq!(n, 28);
    assert_eq!(wire::get_u32(&buf, 0), Some(MACH_MSG_TYPE_MOVE_SEND_ONCE as u32));
    assert_eq!(wire::get_u32(&buf, 8), Some(NOTIFY_PORT));
    assert_eq!(wire::get_u32(&buf, 24), Some(9));

    let n = notify::encode_mach_notify_port_destroyed_request(&mut buf, NOTIFY_PORT, 0x403).unwrap();
    assert_eq!(n, 40);
    assert_eq!(
        wire::get_u32(&buf, 0),
        Some(MACH_MSGH_BITS_COMPLEX | MACH_MSG_TYPE_MOVE_SEND_ONCE as u32)
    );
    assert_eq!(
        (buf[38], buf[39]),
        (MACH_MSG_TYPE_MOVE_RECEIVE, MACH_MSG_PORT_DESCRIPTOR)
    );
}

#[test]
fn failed_port_destroyed_gives_the_receive_right_back() {
    let mut t = notify_loopback(Some(KERN_INVALID_HOST));
    notify::mach_notify_port_destroyed(&mut t, NOTIFY_PORT, 0x403).unwrap();
    assert_eq!(
        t.server.releases.0,
        vec![Released::Port(0x403, MACH_MSG_TYPE_PORT_RECEIVE)]
    );

    // Scalar-only notifications have nothing to release.
    t.server.releases.0.clear();
    notify::mach_notify_dead_name(&mut t, NOTIFY_PORT, 0x503).unwrap();
    assert!(t.server.releases.0.is_empty());

    // MIG_NO_REPLY: the server kept the right.
    let mut t = notify_loopback(Some(MIG_NO_REPLY));
    notify::mach_notify_port_destroyed(&mut t, NOTIFY_PORT, 0x403).unwrap();
    assert!(t.server.releases.0.is_empty());
}

#[test]
fn a_reply_right_sent_with_a_notification_is_released() {
    let mut buf = [0u8; 64];
    let n = notify::encode_mach_notify_no_senders_request(&mut buf, NOTIFY_PORT, 1).unwrap();
    let bits = wire::get_u32(&buf, 0).unwrap() | mach_msgh_bits(0, MACH_MSG_TYPE_MAKE_SEND_ONCE);
    wire::put_u32(&mut buf, 0, bits).unwrap();
    wire::put_u32(&mut buf, 12, 0x0000_0803).unwrap();
    let req = to_received(&buf[..n]).unwrap();
    let mut server = FakeNotify::default();
    let mut reply = [0u8; 64];
    assert_eq!(notify_server(&mut server, &req, &mut reply), Dispatch::NoReply);
    assert_eq!(server.calls, ["no_senders 0x1207 1"]);
    assert_eq!(
        server.releases.0,
        vec![Released::Port(0x803, MACH_MSG_TYPE_PORT_SEND_ONCE)]
    );
}

#[test]
fn unknown_notification_id_is_bad_id() {
    let mut buf = [0u8; 64];
    let n = notify::encode_mach_notify_no_senders_request(&mut buf, NOTIFY_PORT, 1).unwrap();
    wire::put_i32(&mut buf, 20, 66).unwrap();
    let req = to_received(&buf[..n]).unwrap();
    let mut server = FakeNotify::default();
    let mut reply = [0u8; 64];
    assert_eq!(notify_server(&mut server, &req, &mut reply), Dispatch::BadId(28));
    assert_eq!(ret_code(&reply), MIG_BAD_ID);
    assert_eq!(wire::get_i32(&reply, 20), Some(166));
    assert!(server.calls.is_empty() && server.releases.0.is_empty());
}

// ---- host and host_priv ----

#[derive(Default)]
struct FakeHost {
    fail: Option<i32>,
    targets: Vec<u32>,
}

impl HostServer for FakeHost {
    fn host_info_basic(&mut self, host: u32) -> Result<HostInfoBasicReply, i32> {
        self.targets.push(host);
        let out = HostInfoBasicReply {
            max_cpus: 4,
            avail_cpus: 1,
            memory_frames: 0x1_0000_0002,
        };
        self.fail.map_or(Ok(out), Err)
    }
    fn host_vm_statistics(&mut self, host: u32) -> Result<HostVmStatisticsReply, i32> {
        self.targets.push(host);
        Err(KERN_FAILURE)
    }
}

impl HostPrivServer for FakeHost {
    fn host_ipc_audit(&mut self, host: u32) -> Result<HostIpcAuditReply, i32> {
        self.targets.push(host);
        let out = HostIpcAuditReply {
            ports: 11,
            port_sets: 2,
            messages: 3,
            violations: 0,
        };
        self.fail.map_or(Ok(out), Err)
    }
    fn host_vm_pageout(&mut self, host: u32, _pages: u32) -> Result<u32, i32> {
        self.targets.push(host);
        Err(KERN_FAILURE)
    }
    fn vm_set_default_memory_manager(&mut self, host: u32, _manager: u32) -> Result<(), i32> {
        self.targets.push(host);
        Err(KERN_FAILURE)
    }
    fn host_get_io_master(&mut self, host: u32) -> Result<u32, i32> {
        self.targets.push(host);
        self.fail.map_or(Ok(0), Err)
    }
    fn host_tasks_dump(&mut self, host: u32) -> Result<(), i32> {
        self.targets.push(host);
        self.fail.map_or(Ok(()), Err)
    }
    fn host_boot_data(&mut self, host: u32, index: u32) -> Result<HostBootDataReply, i32> {
        self.targets.push(host);
        let _ = index;
        Err::<HostBootDataReply, i32>(self.fail.unwrap_or(KERN_FAILURE))
    }
}

impl Release for FakeHost {
    fn release_port(&mut self, _: u32, _: u8) {
        panic!("host requests carry no rights");
    }
    fn release_ool(&mut self, _: u64, _: u64) {
        panic!("host requests carry no memory");
    }
    fn release_ool_ports(&mut self, _: u64, _: u32, _: u8) {
        panic!("host requests carry no memory");
    }
}

#[test]
fn host_routines_round_trip() {
    let mut t = Loopback::new(FakeHost::default(), host_server::<FakeHost>);
    let info = host::host_info_basic(&mut t, 0x0000_0207).unwrap();
    assert_eq!(
        info,
        HostInfoBasicReply {
            max_cpus: 4,
            avail_cpus: 1,
            memory_frames: 0x1_0000_0002
        }
    );
    assert_eq!(t.server.targets, [0x207]);
    // header, RetCode@24, max_cpus@28, avail_cpus@32, memory_frames@36 (a u64 at a 4-aligned offset).
    let r = &t.last_reply;
    assert_eq!(r.len(), host::HOST_INFO_BASIC_REPLY_SIZE);
    assert_eq!(r.len(), 44);
    assert_eq!(wire::get_i32(r, 24), Some(0));
    assert_eq!(wire::get_u32(r, 28), Some(4));
    assert_eq!(wire::get_u32(r, 32), Some(1));
    assert_eq!(wire::get_u64(r, 36), Some(0x1_0000_0002));
    assert_eq!(wire::get_i32(r, 20), Some(211 + 100));
}

#[test]
fn host_priv_routines_round_trip() {
    let mut t = Loopback::new(FakeHost::default(), host_priv_server::<FakeHost>);
    let audit = host_priv::host_ipc_audit(&mut t, 0x0000_0307).unwrap();
    assert_eq!(
        audit,
        HostIpcAuditReply {
            ports: 11,
            port_sets: 2,
            messages: 3,
            violations: 0
        }
    );
    assert_eq!(t.last_reply.len(), 44);
    assert_eq!(wire::get_i32(&t.last_reply, 20), Some(452 + 100));
    assert_eq!(host_priv::host_tasks_dump(&mut t, 0x0000_0307), Ok(()));
    assert_eq!(t.server.targets, [0x307, 0x307]);
}

#[test]
fn host_errors_reach_the_client() {
    let mut t = Loopback::new(
        FakeHost {
            fail: Some(KERN_INVALID_HOST),
            ..Default::default()
        },
        host_server::<FakeHost>,
    );
    assert_eq!(host::host_info_basic(&mut t, 1), Err(KERN_INVALID_HOST));
    assert_eq!(t.last_reply.len(), 28);
    let mut t = Loopback::new(
        FakeHost {
            fail: Some(KERN_INVALID_HOST),
            ..Default::default()
        },
        host_priv_server::<FakeHost>,
    );
    assert_eq!(host_priv::host_ipc_audit(&mut t, 1), Err(KERN_INVALID_HOST));
    assert_eq!(host_priv::host_boot_data(&mut t, 1, 0), Err(KERN_INVALID_HOST));
    assert_eq!(t.last_reply.len(), 28);
}
