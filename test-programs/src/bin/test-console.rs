//! The console as a Mach device (`device_open(master, mode, "console")`):
//! `device_write` prints; `device_read` with `D_NOWAIT` on an empty buffer
//! says D_WOULD_BLOCK; waiting reads are limited per task; reads waiting
//! for input are served in the order they came, a read whose reply port
//! died is dropped, and blocking reads then get the scripted input (written
//! by the harness after the marker line, `iso/grub-test.input`) in order;
//! input beyond the 4 KiB buffer is dropped and counted, the oldest kept.
//!
//! With the argument `nostdin` (a boot whose serial input is /dev/null):
//! nothing arrives, a waiting read just waits, and nothing breaks.
#![no_std]
#![no_main]

use mach_user::abi::device::*;
use mach_user::abi::message::*;
use mach_user::ipc::{MsgBuf, mach_msg, mach_reply_port};
use mach_user::ool::OolRegion;
use mach_user::println;
use mach_user::rpc::{device, host_priv};
use test_programs::check_eq;
use test_programs::ipc_env::Env;

mach_user::entry!(main);

/// What the harness writes after the first marker, in three chunks.
const INPUT: &[u8] = b"abcdefgh\r\n0123456789\n";
/// The second marker's flood: "0123456789" 500 times.
const FLOOD: usize = 5000;
/// Bytes the console buffers.
const BUFFER: usize = 4096;

/// Sends a `device_read` of `wanted` bytes on `dev` without waiting for
/// the reply, which will come to `reply`: the send's result.
fn read_request(dev: u32, mode: u32, wanted: u32, reply: u32) -> i32 {
    let mut buf: MsgBuf<256> = MsgBuf::new();
    let Some(n) = device::encode_device_read_request(&mut buf.0, dev, mode, 0, wanted) else {
        return MACH_SEND_INVALID_HEADER;
    };
    let mut h = buf.header();
    h.bits |= u32::from(MACH_MSG_TYPE_MAKE_SEND_ONCE) << 8;
    h.local_port = reply;
    buf.set_header(&h);
    mach_msg(&mut buf, MACH_SEND_MSG, n as u32, 0, 0)
}

/// The reply to a `device_read` on `reply`, waiting up to `ms`: the bytes,
/// or the error (MACH_RCV_TIMED_OUT if none came).
fn read_reply(reply: u32, ms: u32) -> Result<OolRegion, i32> {
    let mut buf: MsgBuf<256> = MsgBuf::new();
    let r = mach_msg(&mut buf, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, reply, ms);
    if r != MACH_MSG_SUCCESS {
        return Err(r);
    }
    let size = (buf.header().size as usize).min(256);
    device::decode_device_read_reply(&buf.0[..size]).map(OolRegion::bytes)
}

fn nowait_read(e: &mut Env, dev: u32, wanted: u32) -> Result<OolRegion, i32> {
    device::device_read(&mut e.rpc, dev, D_NOWAIT, 0, wanted).map(OolRegion::bytes)
}

/// (bytes buffered, bytes dropped since boot).
fn input_counts(e: &mut Env, dev: u32) -> (u64, u64) {
    device::device_get_status(&mut e.rpc, dev, DEV_GET_INPUT).map_or((u64::MAX, 0), |s| (s.status_0, s.status_1))
}

fn main(args: mach_user::start::Args) -> i32 {
    let mut e = Env::new();
    let mut ok = true;
    let master = host_priv::host_get_io_master(&mut e.rpc, e.host_priv).unwrap_or(0);
    let opened = device::device_open(&mut e.rpc, master, D_READ | D_WRITE, DEVICE_NAME_CONSOLE);
    ok &= check_eq!("console_open", opened.is_ok(), true);
    let Ok(dev) = opened else { return 1 };
    if args.get(1) == Some("nostdin") {
        ok &= without_input(&mut e, dev);
        ok &= check_eq!("console_nostdin_audit", e.violations(), Ok(0));
        return if ok { 0 } else { 1 };
    }
    ok &= basics(&mut e, master, dev);
    ok &= scripted_input(&mut e, dev);
    ok &= flood(&mut e, dev);
    ok &= check_eq!("console_audit", e.violations(), Ok(0));
    if ok { 0 } else { 1 }
}

fn basics(e: &mut Env, master: u32, dev: u32) -> bool {
    let mut ok = true;
    let line = b"console: a line by device_write\n";
    ok &= check_eq!(
        "console_write",
        device::device_write(&mut e.rpc, dev, 0, 0, line),
        Ok(line.len() as u32)
    );
    ok &= check_eq!(
        "console_open_on_device_port",
        device::device_open(&mut e.rpc, dev, D_READ, DEVICE_NAME_CONSOLE),
        Err(D_INVALID_OPERATION)
    );
    // A second opener, read-only: counted, and closed again.
    let again = device::device_open(&mut e.rpc, master, D_READ, DEVICE_NAME_CONSOLE);
    ok &= check_eq!("console_open_twice_same_port", again, Ok(dev));
    let _ = e.dealloc(dev);
    ok &= check_eq!("console_close", device::device_close(&mut e.rpc, dev), Ok(()));
    let status = device::device_get_status(&mut e.rpc, dev, DEV_GET_SIZE).map(|s| (s.status_0, s.status_1));
    ok &= check_eq!("console_status_size", status, Ok((0, 1)));
    ok &= check_eq!(
        "console_status_bad_flavor",
        device::device_get_status(&mut e.rpc, dev, 99).map(|_| ()),
        Err(D_INVALID_OPERATION)
    );
    ok &= check_eq!(
        "console_read_nowait_empty",
        nowait_read(e, dev, 16).map(|r| r.len()),
        Err(D_WOULD_BLOCK)
    );
    ok &= check_eq!(
        "console_read_zero_bytes",
        nowait_read(e, dev, 0).map(|r| r.len()),
        Err(D_INVALID_SIZE)
    );
    ok &= check_eq!(
        "console_read_bad_mode",
        device::device_read(&mut e.rpc, dev, 0x1000, 0, 16).map(|d| OolRegion::bytes(d).len()),
        Err(D_INVALID_OPERATION)
    );
    ok
}

fn scripted_input(e: &mut Env, dev: u32) -> bool {
    let mut ok = true;
    // A reader whose reply port dies before input comes: dropped.
    let dead = mach_reply_port();
    ok &= check_eq!(
        "console_read_dead_reader",
        read_request(dev, 0, 3, dead),
        MACH_MSG_SUCCESS
    );
    let _ = e.destroy(dead);
    // Two readers, in this order.
    let first = mach_reply_port();
    let second = mach_reply_port();
    let sent = (read_request(dev, 0, 4, first), read_request(dev, 0, 100, second));
    ok &= check_eq!("console_two_readers_wait", sent, (MACH_MSG_SUCCESS, MACH_MSG_SUCCESS));
    ok &= check_eq!(
        "console_reader_waits",
        read_reply(first, 0).map(|r| r.len()),
        Err(MACH_RCV_TIMED_OUT)
    );
    // Two more fill this task's share; the next is refused at once.
    let extra = [mach_reply_port(), mach_reply_port(), mach_reply_port()];
    for r in &extra[..2] {
        let _ = read_request(dev, 0, 1, *r);
    }
    let _ = read_request(dev, 0, 1, extra[2]);
    ok &= check_eq!(
        "console_reads_limited_per_task",
        read_reply(extra[2], 2000).map(|r| r.len()),
        Err(D_NO_MEMORY)
    );
    for r in extra {
        let _ = e.destroy(r);
    }
    println!("test-console: ready for input");
    let a = read_reply(first, 30_000);
    let b = read_reply(second, 30_000);
    let (a, b) = match (a, b) {
        (Ok(a), Ok(b)) => (a, b),
        (a, b) => {
            let got = (a.map(|r| r.len()), b.map(|r| r.len()));
            return check_eq!("console_readers_served", got, (Ok(4), Ok(1)));
        }
    };
    let mut got = [0u8; INPUT.len()];
    let mut n = 0;
    for &byte in a.iter().chain(b.iter()) {
        if n < got.len() {
            got[n] = byte;
        }
        n += 1;
    }
    ok &= check_eq!(
        "console_readers_served_in_order",
        (
            (1..=4).contains(&a.len()),
            !b.is_empty(),
            n <= INPUT.len() && got[..n] == INPUT[..n]
        ),
        (true, true, true)
    );
    drop((a, b));
    // Blocking reads get the rest, in order.
    while n < INPUT.len() {
        let Ok(r) = device::device_read(&mut e.rpc, dev, 0, 0, 64).map(OolRegion::bytes) else {
            break;
        };
        for &byte in r.iter() {
            if n < got.len() {
                got[n] = byte;
            }
            n += 1;
        }
    }
    ok &= check_eq!("console_read_blocking_gets_input_in_order", &got[..], INPUT);
    ok &= check_eq!("console_read_nothing_more", n, INPUT.len());
    ok &= check_eq!(
        "console_read_nowait_after_drain",
        nowait_read(e, dev, 16).map(|r| r.len()),
        Err(D_WOULD_BLOCK)
    );
    let _ = e.destroy(first);
    let _ = e.destroy(second);
    ok
}

/// More input than the buffer holds, nobody reading: the oldest 4 KiB are
/// kept, the rest dropped and counted.
fn flood(e: &mut Env, dev: u32) -> bool {
    let mut ok = true;
    let (_, dropped_before) = input_counts(e, dev);
    println!("test-console: ready for a flood");
    let mut counts = (0, 0);
    for _ in 0..3000 {
        counts = input_counts(e, dev);
        if counts.0 + (counts.1 - dropped_before) >= FLOOD as u64 {
            break;
        }
        // Sleep a little: a receive that times out.
        let _ = read_reply(mach_reply_port_once(), 10);
    }
    ok &= check_eq!(
        "console_input_bounded",
        (counts.0, counts.1 - dropped_before),
        (BUFFER as u64, (FLOOD - BUFFER) as u64)
    );
    let kept = nowait_read(e, dev, BUFFER as u32 + 100);
    let pattern_ok = kept
        .as_ref()
        .is_ok_and(|r| r.len() == BUFFER && r.iter().enumerate().all(|(i, &b)| b == b"0123456789"[i % 10]));
    ok &= check_eq!("console_overflow_keeps_oldest", pattern_ok, true);
    drop(kept);
    ok &= check_eq!(
        "console_empty_after_flood",
        nowait_read(e, dev, 16).map(|r| r.len()),
        Err(D_WOULD_BLOCK)
    );
    ok
}

/// A port to time out on (made once).
fn mach_reply_port_once() -> u32 {
    use core::sync::atomic::{AtomicU32, Ordering};
    static PORT: AtomicU32 = AtomicU32::new(0);
    match PORT.load(Ordering::Relaxed) {
        0 => {
            let p = mach_reply_port();
            PORT.store(p, Ordering::Relaxed);
            p
        }
        p => p,
    }
}

/// No input at all: nothing buffered, a waiting read waits (and its reply
/// port's death drops it), and the console still prints.
fn without_input(e: &mut Env, dev: u32) -> bool {
    let mut ok = true;
    ok &= check_eq!(
        "console_nostdin_nowait",
        nowait_read(e, dev, 16).map(|r| r.len()),
        Err(D_WOULD_BLOCK)
    );
    let reply = mach_reply_port();
    ok &= check_eq!(
        "console_nostdin_read_waits",
        read_request(dev, 0, 16, reply),
        MACH_MSG_SUCCESS
    );
    ok &= check_eq!(
        "console_nostdin_nothing_arrives",
        read_reply(reply, 300).map(|r| r.len()),
        Err(MACH_RCV_TIMED_OUT)
    );
    let _ = e.destroy(reply);
    ok &= check_eq!("console_nostdin_counts", input_counts(e, dev), (0, 0));
    ok &= check_eq!(
        "console_nostdin_write",
        device::device_write(&mut e.rpc, dev, 0, 0, b"console: still printing\n"),
        Ok(24)
    );
    ok
}
