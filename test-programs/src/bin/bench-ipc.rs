//! IPC benchmarks (run by `make bench`, never by tests): guest instructions
//! per null trap and per RPC round trip, inside one task (two threads).
//! The inter-task figures come from the `client` role of this program talking
//! to its `server` role in another task.
#![no_std]
#![no_main]

use mach_interfaces::{Dispatch, Release, bench};
use mach_user::abi::message::*;
use mach_user::ipc::{MsgBuf, mach_msg, mach_reply_port};
use mach_user::println;
use mach_user::thread::{StaticStack, thread_create_running};
use mach_user::trap::raw_trap;
use test_programs::bench::{measure, report};

mach_user::entry!(main);

const PER_BATCH: u32 = 200;
static SERVER_STACK: StaticStack<16384> = StaticStack::new();

/// Serves RPCs on `port` until a QUIT message arrives: a `bench` subsystem
/// request (`mach.mig_rpc_small`) goes through the generated dispatch
/// function, which writes its reply into a second buffer, copied back (a
/// fixed `MAX_REPLY_SIZE` bytes, a few moves) to be sent from the receive
/// buffer; any other request is answered in place with a bare header
/// (handing back a carried send right). Each reply is sent in the same trap
/// that waits for the next request.
fn serve_requests(port: u32) {
    let mut buf: MsgBuf<2048> = MsgBuf::new();
    let mut spare = [0u8; bench::MAX_REPLY_SIZE];
    let mut server = BenchServer {
        rpc: mach_user::rpc::Rpc::new(),
    };
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
        if h.id == bench::BENCH_SYSCALL_ID {
            let size = (h.size as usize + MACH_MSG_TRAILER_SIZE).min(buf.0.len());
            kr = match bench::bench_server(&mut server, &buf.0[..size], &mut spare) {
                Dispatch::Reply(n) => {
                    buf.0[..bench::MAX_REPLY_SIZE].copy_from_slice(&spare);
                    mach_msg(&mut buf, MACH_SEND_MSG | MACH_RCV_MSG, n as u32, port, 0)
                }
                _ => mach_msg(&mut buf, MACH_RCV_MSG, 0, port, 0),
            };
            continue;
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

/// The server side of `interfaces/bench.defs`.
struct BenchServer {
    rpc: mach_user::rpc::Rpc,
}

impl bench::BenchServer for BenchServer {
    fn bench_syscall(
        &mut self,
        _server: u32,
        number: u64,
        a0: u64,
        a1: u64,
        a2: u64,
        a3: u64,
        a4: u64,
        a5: u64,
    ) -> Result<u64, i32> {
        Ok(syscall_result(number, [a0, a1, a2, a3, a4, a5]))
    }
}

/// What `bench_syscall` returns: the wrapping sum of its seven words.
fn syscall_result(number: u64, args: [u64; 6]) -> u64 {
    args.iter().fold(number, |s, a| s.wrapping_add(*a))
}

impl Release for BenchServer {
    fn release_port(&mut self, name: u32, _received_type: u8) {
        let _ = mach_user::rpc::mach_port::mach_port_deallocate(&mut self.rpc, mach_user::ipc::mach_task_self(), name);
    }
    fn release_ool(&mut self, address: u64, size: u64) {
        let _ = mach_user::rpc::vm::vm_deallocate(&mut self.rpc, mach_user::ipc::mach_task_self(), address, size);
    }
    fn release_ool_ports(&mut self, address: u64, count: u32, _received_type: u8) {
        let size = u64::from(count) * 4;
        let _ = mach_user::rpc::vm::vm_deallocate(&mut self.rpc, mach_user::ipc::mach_task_self(), address, size);
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

/// Tells the benchmark server to quit.
fn quit(buf: &mut MsgBuf<2048>, remote: u32) {
    buf.set_header(&MachMsgHeader {
        bits: mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, 0),
        size: 24,
        remote_port: remote,
        local_port: 0,
        voucher_port: 0,
        id: QUIT,
    });
    mach_msg(buf, MACH_SEND_MSG, 24, 0, 0);
}

/// A short fixed run for instruction tracing (`make profile`, QEMU `-d
/// exec`): `traceN` makes N null RPCs to the server, `tracemigN` N
/// `bench_syscall` RPCs through the generated stubs, `tracevmN` N zero-fill
/// faults, `tracecowN` N copy-on-write faults after `task_create`, `tracekcallN` N
/// `mach_port_type` calls served by the kernel, `traceoolN` N 4 KiB
/// out-of-line virtual copies to our own port (N is 100 when left out); then the server is told to quit.
fn trace(args: &mach_user::start::Args, mode: &str) {
    let (kind, runs) = match mode.strip_prefix("mig") {
        Some(n) => ("mig", n),
        None => match mode.strip_prefix("vm") {
            Some(n) => ("vm", n),
            None => match mode.strip_prefix("cow") {
                Some(n) => ("cow", n),
                None => match mode.strip_prefix("kcall") {
                    Some(n) => ("kcall", n),
                    None => match mode.strip_prefix("ool") {
                        Some(n) => ("ool", n),
                        None => ("null", mode),
                    },
                },
            },
        },
    };
    let runs: u32 = runs.parse().unwrap_or(100);
    let mut buf: MsgBuf<2048> = MsgBuf::new();
    let Some(remote) = find_server(args) else { return };
    match kind {
        "vm" => {
            let mut rpc = mach_user::rpc::Rpc::new();
            let task = mach_user::ipc::mach_task_self();
            let size = u64::from(runs) * 4096;
            if let Ok(base) = mach_user::rpc::vm::vm_allocate(&mut rpc, task, 0, size, 1) {
                for i in 0..u64::from(runs) {
                    // SAFETY: inside the region just allocated.
                    unsafe { core::ptr::write_volatile((base + i * 4096) as *mut u8, 1) };
                }
            }
        }
        "cow" => {
            let mut rpc = mach_user::rpc::Rpc::new();
            let task = mach_user::ipc::mach_task_self();
            let size = u64::from(runs) * 4096;
            if let Ok(base) = mach_user::rpc::vm::vm_allocate(&mut rpc, task, 0, size, 1) {
                for i in 0..u64::from(runs) {
                    // SAFETY: inside the region just allocated.
                    unsafe { core::ptr::write_volatile((base + i * 4096) as *mut u8, 1) };
                }
                let child = mach_user::rpc::task::task_create(&mut rpc, task, 1);
                for i in 0..u64::from(runs) {
                    // SAFETY: as above; now copy-on-write with the child.
                    unsafe { core::ptr::write_volatile((base + i * 4096) as *mut u8, 2) };
                }
                if let Ok(c) = child {
                    let _ = mach_user::rpc::task::task_terminate(&mut rpc, c);
                }
            }
        }
        "ool" => test_programs::bench::ool_runs(4096, mach_user::abi::message::MACH_MSG_VIRTUAL_COPY, runs),
        "kcall" => {
            let mut rpc = mach_user::rpc::Rpc::new();
            let task = mach_user::ipc::mach_task_self();
            let name = mach_reply_port();
            for _ in 0..runs {
                let _ = mach_user::rpc::mach_port::mach_port_type(&mut rpc, task, name);
            }
        }
        "mig" => {
            let mut rpc = mach_user::rpc::Rpc::new();
            for _ in 0..runs {
                let _ = bench::bench_syscall(&mut rpc, remote, 39, 1, 2, 3, 4, 5, 6);
            }
        }
        _ => {
            let reply = mach_reply_port();
            for _ in 0..runs {
                rpc(&mut buf, remote, MACH_MSG_TYPE_COPY_SEND, reply, 24, None);
            }
        }
    }
    quit(&mut buf, remote);
}

fn main(args: mach_user::start::Args) -> i32 {
    if args.get(1) == Some("server") {
        return server(&args);
    }
    if let Some(mode) = args.iter().find_map(|a| a.strip_prefix("trace")) {
        trace(&args, mode);
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
    let mut stub = mach_user::rpc::Rpc::new();
    let args7 = (39, [1, 2, 3, 4, 5, 6]);
    let call = |stub: &mut mach_user::rpc::Rpc| {
        let (n, a) = args7;
        bench::bench_syscall(stub, remote, n, a[0], a[1], a[2], a[3], a[4], a[5])
    };
    let want = syscall_result(args7.0, args7.1);
    match call(&mut stub) {
        Ok(got) if got == want => {}
        other => {
            println!("bench-ipc: bench_syscall returned {other:?}, want Ok({want})");
            return 1;
        }
    }
    report(
        "mach.mig_rpc_small",
        measure(PER_BATCH, || {
            let _ = call(&mut stub);
        }),
        PER_BATCH,
    );
    println!(
        "#   mach.mig_rpc_small: request {} bytes, reply {} bytes (24-byte header included)",
        bench::BENCH_SYSCALL_REQUEST_SIZE,
        bench::BENCH_SYSCALL_REPLY_SIZE
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
    quit(&mut buf, remote);
    // The server has quit: nothing else runs while memory is measured.
    test_programs::bench::zero_fill_fault();
    test_programs::bench::cow_fault();
    test_programs::bench::ool_transfers();
    test_programs::bench::pager_fault();
    test_programs::bench::default_pageout_pagein();
    0
}
