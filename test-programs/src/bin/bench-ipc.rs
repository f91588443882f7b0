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

/// Serves null RPCs on `port` forever: replies to each request on its
/// send-once reply right and waits for the next one in the same trap.
pub extern "C" fn serve(port: u64) -> ! {
    let mut buf: MsgBuf<2048> = MsgBuf::new();
    let mut kr = mach_msg(&mut buf, MACH_RCV_MSG, 0, port as u32, 0);
    loop {
        if kr != MACH_MSG_SUCCESS {
            kr = mach_msg(&mut buf, MACH_RCV_MSG, 0, port as u32, 0);
            continue;
        }
        let h = buf.header();
        let reply_type = mach_msgh_bits_remote(h.bits);
        let mut out = MachMsgHeader {
            bits: mach_msgh_bits(reply_type, 0),
            size: 24,
            remote_port: h.remote_port,
            local_port: 0,
            voucher_port: 0,
            id: h.id + 100,
        };
        let mut size = 24;
        if h.bits & MACH_MSGH_BITS_COMPLEX != 0 {
            // Hand the carried send right back.
            out.bits |= MACH_MSGH_BITS_COMPLEX;
            buf.0[24 + 4 + 10] = MACH_MSG_TYPE_MOVE_SEND;
            size = 24 + 4 + 12;
            out.size = size;
        }
        buf.set_header(&out);
        kr = mach_msg(&mut buf, MACH_SEND_MSG | MACH_RCV_MSG, size, port as u32, 0);
    }
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
    buf.set_header(&MachMsgHeader { bits, size, remote_port: dest, local_port: reply, voucher_port: 0, id: 500 });
    mach_msg(buf, MACH_SEND_MSG | MACH_RCV_MSG, size, reply, 0)
}

fn main(_args: mach_user::start::Args) -> i32 {
    println!("bench-ipc: guest instructions per operation (QEMU -icount shift=0)");
    // SAFETY: trap -1 is unassigned: the kernel returns KERN_INVALID_ARGUMENT at once.
    report("mach.null_trap", measure(PER_BATCH, || unsafe { raw_trap(-1, [0; 6]); }), PER_BATCH);

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
    report("mach.null_rpc_local", measure(PER_BATCH, || { rpc(&mut buf, port, MACH_MSG_TYPE_MAKE_SEND, reply, 24, None); }), PER_BATCH);
    0
}
