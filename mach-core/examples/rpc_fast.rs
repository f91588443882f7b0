//! N round trips through the RPC fast path (`msg_rpc_fast`) between two
//! spaces, for measuring its path length on the host:
//! `valgrind --tool=callgrind target/release/examples/rpc_fast [N]`.

use mach_abi::message::*;
use mach_abi::port::MACH_PORT_RIGHT_RECEIVE;
use mach_core::ipc::Ipc;
use mach_core::ipc::fastpath::{BlockedReceiver, HANDOFF_SIZE};

fn header(bits: u32, remote: u32, local: u32, id: i32) -> [u8; MACH_MSG_HEADER_SIZE] {
    let mut h = [0u8; MACH_MSG_HEADER_SIZE];
    h[0..4].copy_from_slice(&bits.to_le_bytes());
    h[4..8].copy_from_slice(&(MACH_MSG_HEADER_SIZE as u32).to_le_bytes());
    h[8..12].copy_from_slice(&remote.to_le_bytes());
    h[12..16].copy_from_slice(&local.to_le_bytes());
    h[20..24].copy_from_slice(&id.to_le_bytes());
    h
}

fn main() {
    let n: u32 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(10000);
    let mut ipc = Ipc::new();
    ipc.space_create(1, 1024);
    ipc.space_create(2, 1024);
    let service = ipc.port_allocate(2, MACH_PORT_RIGHT_RECEIVE).unwrap();
    let reply = ipc.port_allocate(1, MACH_PORT_RIGHT_RECEIVE).unwrap();
    let port = ipc.port_of(2, service).unwrap();
    let send = ipc.insert_make_send(1, port).unwrap();
    let req = header(
        mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE),
        send,
        reply,
        1,
    );
    let mut out = [0u8; HANDOFF_SIZE];
    let server = BlockedReceiver {
        space: 2,
        name: service,
        capacity: 1024,
    };
    let client = BlockedReceiver {
        space: 1,
        name: reply,
        capacity: 1024,
    };
    for _ in 0..n {
        ipc.msg_rpc_fast(1, &req, reply, &mut out, |_, _, _| Some(((), server)))
            .expect("request takes the fast path");
        let so = u32::from_le_bytes(out[8..12].try_into().unwrap());
        let rep = header(mach_msgh_bits(MACH_MSG_TYPE_MOVE_SEND_ONCE, 0), so, 0, 2);
        ipc.msg_rpc_fast(2, &rep, service, &mut out, |_, _, _| Some(((), client)))
            .expect("reply takes the fast path");
    }
    std::hint::black_box(&out);
}
