//! IPC benchmarks (run by `make bench`, never by tests): guest instructions
//! per null trap and per RPC round trip, inside one task (two threads).
//! The inter-task figures come from the `client` role of this program talking
//! to its `server` role in another task.
#![no_std]
#![no_main]

use mach_user::abi::message::*;
use mach_user::ipc::{MsgBuf, mach_msg, mach_reply_port};
use mach_user::println;
use mach_user::thread::{StaticStack, thread_create_running};
use mach_user::trap::raw_trap;
use test_programs::bench::{measure, report};

mach_user::entry!(main);

const PER_BATCH: u32 = 200;
static SERVER_STACK: StaticStack<16384> = StaticStack::new();

/// Serves RPCs on `port`: replies to each request on its reply right
/// (handing back a carried send right) and waits for the next one in the
/// same trap, until a QUIT message arrives.
fn serve_requests(port: u32) {
    let mut buf: MsgBuf<2048> = MsgBuf::new();
    let mut kr = mach_msg(&mut buf, MACH_RCV_MSG, 0, port, 0);
    loop {
        if kr != MACH_MSG_SUCCESS {
            kr = mach_msg(&mut buf, MACH_RCV_MSG, 0, port, 0);
            continue;
        }
        let h = buf.header();
        if h.id == QUIT {
            return;
        }
        let reply_type = mach_msgh_bits_remote(h.bits);
        let mut out = MachMsgHeader {
            bits: mach_msgh_bits(reply_type, 0),
            size: 24,
            remote_port: h.remote_port,
            local_port: 0,
            voucher_port: 0,
            id: h.id + 100,
        };
        if h.bits & MACH_MSGH_BITS_COMPLEX != 0 {
            out.bits |= MACH_MSGH_BITS_COMPLEX;
            buf.0[24 + 4 + 10] = MACH_MSG_TYPE_MOVE_SEND;
            out.size = 24 + 4 + 12;
        }
        buf.set_header(&out);
        kr = mach_msg(&mut buf, MACH_SEND_MSG | MACH_RCV_MSG, out.size, port, 0);
    }
}

/// Thread entry for the local benchmark's server thread.
pub extern "C" fn serve(port: u64) -> ! {
    serve_requests(port as u32);
    mach_user::trap::thread_exit()
}

/// One RPC: `size` bytes of request to `dest` (sent as `dest_disp`), reply on `reply`.
fn rpc(buf: &mut MsgBuf<2048>, dest: u32, dest_disp: u8, reply: u32, size: u32, carry: Option<u32>) -> MachMsgReturn {
    let mut bits = mach_msgh_bits(dest_disp, MACH_MSG_TYPE_MAKE_SEND_ONCE);
    if let Some(p) = carry {
        bits |= MACH_MSGH_BITS_COMPLEX;
        buf.put32(24, 1);
        buf.put32(28, p);
        buf.put32(32, 0);
        buf.0[36] = 0;
        buf.0[37] = 0;
        buf.0[38] = MACH_MSG_TYPE_MAKE_SEND;
        buf.0[39] = MACH_MSG_PORT_DESCRIPTOR;
    }
    buf.set_header(&MachMsgHeader {
        bits,
        size,
        remote_port: dest,
        local_port: reply,
        voucher_port: 0,
        id: 500,
    });
    mach_msg(buf, MACH_SEND_MSG | MACH_RCV_MSG, size, reply, 0)
}

const SERVICE: u64 = mach_interfaces::bootstrap::service_key(b"benchsrv");
const QUIT: i32 = 999;

/// The `server` role: registers a port with the bootstrap task and serves
/// null RPCs on it until a QUIT message arrives.
fn server(args: &mach_user::start::Args) -> i32 {
    let Some(bp) = mach_user::start::bootstrap_port(args) else {
        return 1;
    };
    let port = mach_reply_port();
    let mut rpc = mach_user::rpc::Rpc::new();
    let poly = mach_interfaces::PolyPort {
        name: port,
        disposition: MACH_MSG_TYPE_MAKE_SEND,
    };
    if mach_interfaces::bootstrap::bootstrap_register(&mut rpc, bp, SERVICE, poly).is_err() {
        println!("bench-ipc: cannot register");
        return 1;
    }
    serve_requests(port);
    0
}

/// Looks the benchmark server up, retrying until it has registered.
fn find_server(args: &mach_user::start::Args) -> Option<u32> {
    let bp = mach_user::start::bootstrap_port(args)?;
    let mut rpc = mach_user::rpc::Rpc::new();
    for _ in 0..10_000 {
        match mach_interfaces::bootstrap::bootstrap_look_up(&mut rpc, bp, SERVICE) {
            Ok(p) => return Some(p),
            Err(_) => {
                mach_user::trap::swtch();
            }
        }
    }
    None
}

fn main(args: mach_user::start::Args) -> i32 {
    if args.get(1) == Some("server") {
        return server(&args);
    }
    if args.iter().any(|a| a == "tracevm") {
        // A short fixed run for instruction tracing: 100 zero-fill faults.
        let mut rpc = mach_user::rpc::Rpc::new();
        let task = mach_user::ipc::mach_task_self();
        if let Ok(base) = mach_user::rpc::vm::vm_allocate(&mut rpc, task, 0, 100 * 4096, 1) {
            for i in 0..100u64 {
                // SAFETY: inside the region just allocated.
                unsafe { core::ptr::write_volatile((base + i * 4096) as *mut u8, 1) };
            }
        }
        return 0;
    }
    if let Some(runs) = args.iter().find_map(|a| a.strip_prefix("trace")) {
        // A short fixed run for instruction tracing (QEMU -d exec): `traceN`
        // makes N null RPCs (100 for a bare `trace`).
        let runs: u32 = runs.parse().unwrap_or(100);
        let reply = mach_reply_port();
        let mut buf: MsgBuf<2048> = MsgBuf::new();
        if let Some(remote) = find_server(&args) {
            for _ in 0..runs {
                rpc(&mut buf, remote, MACH_MSG_TYPE_COPY_SEND, reply, 24, None);
            }
            buf.set_header(&MachMsgHeader {
                bits: mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, 0),
                size: 24,
                remote_port: remote,
                local_port: 0,
                voucher_port: 0,
                id: QUIT,
            });
            mach_msg(&mut buf, MACH_SEND_MSG, 24, 0, 0);
        }
        return 0;
    }

    println!("bench-ipc: guest instructions per operation (QEMU -icount shift=0)");
    // SAFETY: trap -1 is unassigned: the kernel returns KERN_INVALID_ARGUMENT at once.
    report(
        "mach.null_trap",
        measure(PER_BATCH, || unsafe {
            raw_trap(-1, [0; 6]);
        }),
        PER_BATCH,
    );

    let port = mach_reply_port();
    let reply = mach_reply_port();
    let Some(stack) = SERVER_STACK.take() else { return 1 };
    if thread_create_running(serve, stack, port as u64).is_err() {
        println!("bench-ipc: cannot start the server thread");
        return 1;
    }
    let mut buf: MsgBuf<2048> = MsgBuf::new();
    let ok = rpc(&mut buf, port, MACH_MSG_TYPE_MAKE_SEND, reply, 24, None);
    if ok != MACH_MSG_SUCCESS {
        println!("bench-ipc: local RPC failed: {}", msg_return_name(ok));
        return 1;
    }
    report(
        "mach.null_rpc_local",
        measure(PER_BATCH, || {
            rpc(&mut buf, port, MACH_MSG_TYPE_MAKE_SEND, reply, 24, None);
        }),
        PER_BATCH,
    );

    let Some(remote) = find_server(&args) else {
        println!("bench-ipc: no server registered");
        return 1;
    };
    let ok = rpc(&mut buf, remote, MACH_MSG_TYPE_COPY_SEND, reply, 24, None);
    if ok != MACH_MSG_SUCCESS {
        println!("bench-ipc: inter-task RPC failed: {}", msg_return_name(ok));
        return 1;
    }
    report(
        "mach.null_rpc",
        measure(PER_BATCH, || {
            rpc(&mut buf, remote, MACH_MSG_TYPE_COPY_SEND, reply, 24, None);
        }),
        PER_BATCH,
    );
    report(
        "mach.rpc_1k",
        measure(PER_BATCH, || {
            rpc(&mut buf, remote, MACH_MSG_TYPE_COPY_SEND, reply, 24 + 1024, None);
        }),
        PER_BATCH,
    );
    let carried = mach_reply_port();
    report(
        "mach.port_transfer",
        measure(PER_BATCH, || {
            rpc(
                &mut buf,
                remote,
                MACH_MSG_TYPE_COPY_SEND,
                reply,
                24 + 4 + 12,
                Some(carried),
            );
        }),
        PER_BATCH,
    );
    buf.set_header(&MachMsgHeader {
        bits: mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, 0),
        size: 24,
        remote_port: remote,
        local_port: 0,
        voucher_port: 0,
        id: QUIT,
    });
    mach_msg(&mut buf, MACH_SEND_MSG, 24, 0, 0);
    // The server has quit: nothing else runs while memory is measured.
    test_programs::bench::zero_fill_fault();
    test_programs::bench::cow_fault();
    test_programs::bench::ool_transfers();
    test_programs::bench::pager_fault();
    test_programs::bench::default_pageout_pagein();
    0
}
