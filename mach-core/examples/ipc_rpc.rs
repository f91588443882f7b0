//! Drives null RPCs through the IPC model, for profiling the model's path
//! length on the host: `valgrind --tool=callgrind target/release/examples/ipc_rpc`.

use mach_abi::message::*;
use mach_abi::port::MACH_PORT_RIGHT_RECEIVE;
use mach_core::ipc::msg::{ReceiveOutcome, ReceiveStatus};
use mach_core::ipc::{Ipc, NoMemory};

fn header(bits: u32, remote: u32, local: u32, id: i32) -> [u8; 24] {
    let mut h = [0u8; 24];
    h[0..4].copy_from_slice(&bits.to_le_bytes());
    h[4..8].copy_from_slice(&24u32.to_le_bytes());
    h[8..12].copy_from_slice(&remote.to_le_bytes());
    h[12..16].copy_from_slice(&local.to_le_bytes());
    h[20..24].copy_from_slice(&id.to_le_bytes());
    h
}

/// Usage: `ipc_rpc [N] [into]`: N null RPCs (default 10000); with `into`,
/// messages are received with `msg_receive_into` into reused buffers (no
/// allocation per message) instead of `msg_receive`.
fn main() {
    let n: u32 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(10000);
    let into = std::env::args().nth(2).is_some_and(|a| a == "into");
    let mut ipc = Ipc::new();
    ipc.space_create(1, 1024);
    let port = ipc.port_allocate(1, MACH_PORT_RIGHT_RECEIVE).unwrap();
    let reply = ipc.port_allocate(1, MACH_PORT_RIGHT_RECEIVE).unwrap();
    let mut mem = NoMemory;
    let mut buf = Vec::new();
    let mut receive = |ipc: &mut Ipc, name, mem: &mut NoMemory| -> u32 {
        if into {
            let status = ipc.msg_receive_into(1, name, 1024, false, mem, &mut buf).unwrap();
            assert_eq!(status, ReceiveStatus::Message(MACH_MSG_SUCCESS));
            u32::from_le_bytes(buf[8..12].try_into().unwrap())
        } else {
            let ReceiveOutcome::Message { bytes, .. } = ipc.msg_receive(1, name, 1024, false, mem).unwrap() else {
                panic!()
            };
            u32::from_le_bytes(bytes[8..12].try_into().unwrap())
        }
    };
    for _ in 0..n {
        let req = header(
            mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE),
            port,
            reply,
            500,
        );
        ipc.msg_send(1, &req, &mut mem).unwrap();
        let so = receive(&mut ipc, port, &mut mem);
        let rep = header(mach_msgh_bits(MACH_MSG_TYPE_MOVE_SEND_ONCE, 0), so, 0, 600);
        ipc.msg_send(1, &rep, &mut mem).unwrap();
        receive(&mut ipc, reply, &mut mem);
        ipc.drain_wakeups(|_| ());
    }
    assert!(ipc.audit().violations.is_empty());
    println!("{n} RPCs");
}
