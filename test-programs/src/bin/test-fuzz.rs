//! An IPC fuzzer inside the guest: a seeded PRNG (the seed is printed, and can
//! be set with `seed=N`) picks mach_msg and mach_port_* calls and their
//! arguments from pools of live, dead, freed and random names, boundary sizes
//! and good, null, unmapped, kernel and read-only pointers. Sends and receives
//! never block (timeout 0). After every batch the kernel's IPC audit must be
//! clean; the kernel must never panic. A crash is reproducible from the seed.
#![no_std]
#![no_main]

use mach_interfaces::PolyPort;
use mach_user::abi::message::*;
use mach_user::abi::port::*;
use mach_user::ipc::mach_msg_raw;
use mach_user::println;
use mach_user::rpc::mach_port as mp;
use test_programs::ipc_env::Env;

mach_user::entry!(main);

const ITERATIONS: u32 = 4000;
const BATCH: u32 = 500;
const BUF_SIZE: usize = 128 * 1024;

#[repr(C, align(4096))]
struct Region([u8; BUF_SIZE]);
static mut RECV: Region = Region([0; BUF_SIZE]);
static mut SEND: Region = Region([0; BUF_SIZE]);

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[self.below(v.len() as u64) as usize]
    }
}

struct Pools {
    live: [u32; 8],
    freed: [u32; 8],
    set: u32,
    nfreed: usize,
}

fn name(r: &mut Rng, p: &Pools) -> u32 {
    match r.below(8) {
        0 => MACH_PORT_NULL,
        1 => MACH_PORT_DEAD,
        2 => p.freed[r.below(p.nfreed.clamp(1, 8) as u64) as usize],
        3 => p.set,
        4 => r.next() as u32,
        _ => r.pick(&p.live),
    }
}

fn pointer(r: &mut Rng, send: u64) -> u64 {
    let text = main as *const () as u64;
    match r.below(8) {
        0 => 0,
        1 => 0x5000_0000_0000,
        2 => 0xffff_ffff_8010_0000,
        3 => text,
        4 => u64::MAX - 8,
        5 => send + BUF_SIZE as u64 - 8,
        _ => send,
    }
}

fn size(r: &mut Rng) -> u32 {
    let random = r.below(200) as u32 * 4;
    r.pick(&[
        0,
        4,
        23,
        24,
        28,
        40,
        44,
        100,
        4096,
        MACH_MSG_SIZE_MAX,
        MACH_MSG_SIZE_MAX + 4,
        u32::MAX,
        random,
    ])
}

fn disposition(r: &mut Rng) -> u8 {
    if r.below(4) == 0 {
        r.below(32) as u8
    } else {
        16 + r.below(6) as u8
    }
}

fn fill_send(r: &mut Rng, p: &Pools, send: &mut [u8], send_addr: u64) {
    let w = |b: &mut [u8], off: usize, v: u32| b[off..off + 4].copy_from_slice(&v.to_le_bytes());
    let mut bits = mach_msgh_bits(disposition(r), if r.below(3) == 0 { 0 } else { disposition(r) });
    let complex = r.below(2) == 0;
    if complex {
        bits |= MACH_MSGH_BITS_COMPLEX;
    }
    if r.below(10) == 0 {
        bits ^= 1 << r.below(32);
    }
    w(send, 0, bits);
    w(send, 4, r.next() as u32);
    w(send, 8, name(r, p));
    w(send, 12, name(r, p));
    w(send, 16, 0);
    w(send, 20, r.next() as u32);
    if complex {
        let count = r.pick(&[0u32, 1, 2, 3, 5, 1000, u32::MAX]);
        w(send, 24, count);
        let mut off = 28;
        for _ in 0..count.min(6) {
            let ty = if r.below(5) == 0 {
                r.below(8) as u8
            } else {
                r.below(3) as u8
            };
            if ty == MACH_MSG_PORT_DESCRIPTOR {
                w(send, off, name(r, p));
                w(send, off + 4, 0);
                send[off + 8..off + 12].copy_from_slice(&[0, 0, disposition(r), ty]);
                off += 12;
            } else {
                let addr = if ty == MACH_MSG_OOL_PORTS_DESCRIPTOR {
                    // A small array of pool names.
                    let at = 4096;
                    for i in 0..8 {
                        w(send, at + i * 4, name(r, p));
                    }
                    send_addr + at as u64
                } else {
                    pointer(r, send_addr)
                };
                send[off..off + 8].copy_from_slice(&addr.to_le_bytes());
                send[off + 8..off + 12].copy_from_slice(&[0, 0, disposition(r), ty]);
                let n = if ty == MACH_MSG_OOL_PORTS_DESCRIPTOR {
                    r.below(10) as u32
                } else {
                    size(r)
                };
                w(send, off + 12, n);
                off += 16;
            }
        }
    }
}

fn main(args: mach_user::start::Args) -> i32 {
    let seed = args
        .iter()
        .find_map(|a| a.strip_prefix("seed="))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0x5eed_1234_abcd_0001);
    println!("test-fuzz: seed={seed}, {ITERATIONS} calls");
    let mut r = Rng(seed | 1);
    let mut e = Env::new();
    let mut p = Pools {
        live: [0; 8],
        freed: [0; 8],
        set: 0,
        nfreed: 0,
    };
    for i in 0..8 {
        p.live[i] = e.port();
        if i % 2 == 0 {
            e.make_send(p.live[i]);
        }
    }
    p.set = mp::mach_port_allocate(&mut e.rpc, e.task, MACH_PORT_RIGHT_PORT_SET).unwrap_or(0);
    // SAFETY: only this thread uses the two regions.
    let (send, recv) = unsafe { (&mut (*(&raw mut SEND)).0, &mut (*(&raw mut RECV)).0) };
    let send_addr = send.as_ptr() as u64;
    let recv_addr = recv.as_ptr() as u64;
    let mut ok = true;
    let mut prev_op = 99;
    for i in 0..ITERATIONS {
        let op = r.below(10);
        // A message on the transport's reply port between calls is a kernel bug.
        {
            let mut b: mach_user::ipc::MsgBuf<1024> = mach_user::ipc::MsgBuf::new();
            if mach_user::ipc::mach_msg(&mut b, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, e.rpc.reply_port(), 0)
                == MACH_MSG_SUCCESS
            {
                println!(
                    "test fuzz_no_stray_replies ... FAILED: seed {seed}: id {} before call {i} (op {prev_op})",
                    b.header().id
                );
                ok = false;
                break;
            }
        }
        prev_op = op;
        match op {
            0..=3 => {
                fill_send(&mut r, &p, send, send_addr);
                let addr = if r.below(6) == 0 {
                    pointer(&mut r, send_addr)
                } else {
                    send_addr
                };
                // SAFETY: send-only, never blocks; the kernel reads at most the given size.
                unsafe { mach_msg_raw(addr, MACH_SEND_MSG | MACH_SEND_TIMEOUT, size(&mut r), 0, 0, 0) };
            }
            4..=5 => {
                let addr = if r.below(4) == 0 {
                    pointer(&mut r, recv_addr)
                } else {
                    recv_addr
                };
                let opt = MACH_RCV_MSG | MACH_RCV_TIMEOUT | if r.below(2) == 0 { MACH_RCV_LARGE } else { 0 };
                let rcv = (size(&mut r) as usize).min(BUF_SIZE) as u32;
                let n = name(&mut r, &p);
                // SAFETY: the kernel writes at most `rcv` <= BUF_SIZE bytes, and
                // only into writable user memory, which for the good address is RECV.
                unsafe { mach_msg_raw(addr, opt, 0, rcv, n, 0) };
            }
            6 => {
                let n = name(&mut r, &p);
                let _ = mp::mach_port_mod_refs(&mut e.rpc, e.task, n, r.below(6) as u32, r.below(5) as i32 - 2);
            }
            7 => {
                let n = name(&mut r, &p);
                let poly = PolyPort {
                    name: name(&mut r, &p),
                    disposition: disposition(&mut r),
                };
                let _ = mp::mach_port_insert_right(&mut e.rpc, e.task, n, poly);
                let _ = mp::mach_port_request_notification(&mut e.rpc, e.task, n, 64 + r.below(10) as i32, 0, poly);
            }
            8 => {
                let n = name(&mut r, &p);
                let _ = mp::mach_port_move_member(&mut e.rpc, e.task, n, if r.below(2) == 0 { p.set } else { 0 });
                let _ = mp::mach_port_extract_right(&mut e.rpc, e.task, n, disposition(&mut r) as u32);
            }
            _ => {
                // Replace a live receive right: destroy it (its name joins the freed pool).
                let k = r.below(8) as usize;
                let _ = e.destroy(p.live[k]);
                p.freed[p.nfreed % 8] = p.live[k];
                p.nfreed += 1;
                p.live[k] = e.port();
            }
        }
        if (i + 1) % BATCH == 0 {
            // Anything waiting on the transport's reply port is a stray.
            let mut b: mach_user::ipc::MsgBuf<1024> = mach_user::ipc::MsgBuf::new();
            while mach_user::ipc::mach_msg(&mut b, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, e.rpc.reply_port(), 0)
                == MACH_MSG_SUCCESS
            {
                let h = b.header();
                println!(
                    "test-fuzz: stray message id {} size {} bits {:#x} on the reply port (sender {})",
                    h.id,
                    h.size,
                    h.bits,
                    b.trailer().sender_task()
                );
            }
            let v = e.violations();
            println!("test-fuzz: heartbeat after {} calls, audit {:?}", i + 1, v);
            if v != Ok(0) {
                ok = false;
                println!(
                    "test fuzz_ipc_audit_clean_seed_{seed} ... FAILED: after {} calls: {:?}",
                    i + 1,
                    v
                );
                break;
            }
        }
    }
    if ok {
        println!("test fuzz_ipc_audit_clean_seed_{seed} ... ok");
    }
    if ok { 0 } else { 1 }
}
