//! One fuzzing thread: its pools of names (live, freed, dead, a port set,
//! names made by traps, names valid only in other tasks, random) and the
//! calls it makes: every Mach trap, `mach_msg` with random headers and
//! descriptors, and every call on task, thread, host, host_priv, device,
//! memory-object-control and port-space ports, plus raw requests with
//! random ids and bodies to the kernel's servers. What it never does is
//! listed in the [`super`] module docs.

use super::transport::FuzzRpc;
use super::{PAGE, Ring, Rng, pointer, protect, protected, size};
use crate::ipc_env::Env;
use mach_interfaces::PolyPort;
use mach_interfaces::memory_object_control as moc;
use mach_user::abi::kern_return::KERN_NAME_EXISTS;
use mach_user::abi::message::*;
use mach_user::abi::port::*;
use mach_user::abi::traps;
use mach_user::ipc::{MsgBuf, mach_msg, mach_msg_raw};
use mach_user::ool::OolRegion;
use mach_user::rpc::{device, host, host_priv, mach_port as mp, task, thread, vm};
use mach_user::trap::raw_trap;

/// Bytes of each message buffer (send and receive).
pub const BUF: u64 = 128 * 1024;
/// Operations (the `op` in the call ring).
pub const OPS: u64 = 17;

/// Stacks for threads the fuzzer starts in its own task (they exit at once).
#[repr(C, align(16))]
struct Stacks([[u8; 4096]; 4]);
static mut OWN_STACKS: Stacks = Stacks([[0; 4096]; 4]);

/// Print every call before it is made (`trace` argument).
pub static TRACE: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

static NEWLINE: [u8; 1] = *b"\n";

/// Where threads started in the fuzzer's own task go: straight out.
pub extern "C" fn exit_thread(_: u64) -> ! {
    mach_user::trap::thread_exit()
}

pub struct Fuzzer {
    pub r: Rng,
    /// Names and housekeeping on this task (kernel calls that never wait).
    pub e: Env,
    /// The transport of the fuzzed calls.
    pub t: FuzzRpc,
    pub ring: Ring,
    /// Calls made so far.
    pub calls: u64,
    pub live: [u32; 8],
    pub freed: [u32; 8],
    pub nfreed: usize,
    pub set: u32,
    pub dead: u32,
    /// Names made by traps and allocations (the sweep destroys them).
    pub extra: [u32; 16],
    pub nextra: usize,
    /// Names valid only in another task (given by whoever made this fuzzer).
    pub foreign: [u32; 4],
    pub thread_self: u32,
    pub dev_master: u32,
    /// Task and thread ports of other tasks (children); 0 = empty slot.
    pub tasks: [u32; 4],
    pub threads: [u32; 4],
    /// Memory objects this fuzzer serves (receive rights) and the control
    /// ports the kernel gave it for them.
    pub objects: [u32; 2],
    pub controls: [u32; 4],
    /// Regions it mapped from its own objects: only non-faulting calls
    /// (deallocate, protect, region, inherit) may name them, as touching them
    /// would wait for this very thread.
    pub mapped: [(u64, u64); 4],
    /// Regions it allocated.
    pub regions: [(u64, u64); 8],
    pub send: u64,
    pub recv: u64,
    pub scratch: u64,
    /// Whether this fuzzer may make more threads in its own task, and sweep.
    pub main: bool,
    /// The main fuzzer's vault: a task without threads whose space keeps a
    /// send right to every task this fuzzer made (see [`Fuzzer::retire_all`]).
    /// Its name is never handed to a call.
    pub vault: u32,
    /// Names given in the vault so far.
    pub vaulted: u32,
}

const SCRATCH: u64 = 32 * PAGE;

impl Fuzzer {
    pub fn new(seed: u64, main: bool) -> Self {
        let mut e = Env::new();
        let task = e.task;
        let alloc = |e: &mut Env, n: u64| vm::vm_allocate(&mut e.rpc, task, 0, n, 1).unwrap_or(0);
        // Each buffer has a guard page after it, inside its protected range.
        let send = alloc(&mut e, BUF + PAGE);
        let recv = alloc(&mut e, BUF + PAGE);
        protect(send, send + BUF + PAGE);
        protect(recv, recv + BUF + PAGE);
        let scratch = alloc(&mut e, SCRATCH);
        // 0 in a child: only boot tasks hold host_priv.
        let dev_master = host_priv::host_get_io_master(&mut e.rpc, e.host_priv).unwrap_or(0);
        let mut f = Fuzzer {
            r: Rng::new(seed),
            e,
            t: FuzzRpc::new(),
            ring: Ring::new(),
            calls: 0,
            live: [0; 8],
            freed: [0; 8],
            nfreed: 0,
            set: 0,
            dead: 0,
            extra: [0; 16],
            nextra: 0,
            foreign: [0; 4],
            thread_self: mach_user::ipc::mach_thread_self(),
            dev_master,
            tasks: [0; 4],
            threads: [0; 4],
            objects: [0; 2],
            controls: [0; 4],
            mapped: [(0, 0); 4],
            regions: [(0, 0); 8],
            send,
            recv,
            scratch,
            main,
            vault: 0,
            vaulted: 0,
        };
        if main {
            f.vault = task::task_create(&mut f.e.rpc, task, 0).unwrap_or(0);
        }
        f.refill();
        f
    }

    /// Makes the pools whole again (after a sweep or at the start).
    pub fn refill(&mut self) {
        for i in 0..8 {
            if self.live[i] == 0 {
                self.live[i] = self.e.port();
                if i % 2 == 0 {
                    self.e.make_send(self.live[i]);
                }
            }
        }
        if self.set == 0 {
            self.set = mp::mach_port_allocate(&mut self.t, self.e.task, MACH_PORT_RIGHT_PORT_SET).unwrap_or(0);
        }
        if self.dead == 0 {
            // A send right whose receive right is destroyed becomes a dead name.
            let p = self.e.port();
            self.e.make_send(p);
            let _ = mp::mach_port_mod_refs(&mut self.t, self.e.task, p, MACH_PORT_RIGHT_RECEIVE, -1);
            self.dead = p;
        }
        for k in 0..2 {
            if self.objects[k] == 0 {
                let p = self.e.port();
                self.e.make_send(p);
                self.objects[k] = p;
            }
        }
        if self.scratch == 0 {
            self.scratch = vm::vm_allocate(&mut self.t, self.e.task, 0, SCRATCH, 1).unwrap_or(0);
        }
    }

    /// The names this fuzzer calls through: never destroyed or moved.
    pub fn critical(&self, n: u32) -> bool {
        n != 0
            && (n == self.e.task
                || n == self.e.host
                || n == self.e.host_priv
                || n == self.thread_self
                || n == self.dev_master
                || n == self.e.rpc.reply_port()
                || n == self.vault
                || self.t.names().contains(&n))
    }

    fn remember(&mut self, n: u32) {
        if n != 0 && n != MACH_PORT_DEAD {
            self.extra[self.nextra % 16] = n;
            self.nextra += 1;
        }
    }

    /// Any name: the pools, the critical names, foreign and random ones
    /// (never the vault: a random name that is the vault's gives null).
    pub fn name(&mut self) -> u32 {
        let n = self.any_name();
        if n == self.vault && n != 0 { MACH_PORT_NULL } else { n }
    }

    fn any_name(&mut self) -> u32 {
        match self.r.below(16) {
            0 => MACH_PORT_NULL,
            1 => MACH_PORT_DEAD,
            2 => self.freed[self.r.below(self.nfreed.clamp(1, 8) as u64) as usize],
            3 => self.set,
            4 => self.r.next() as u32,
            5 => self.dead,
            6 => self.r.pick(&self.extra),
            7 => self.r.pick(&self.foreign),
            8 => self.r.pick(&[
                self.e.task,
                self.e.host,
                self.e.host_priv,
                self.thread_self,
                self.dev_master,
            ]),
            9 => self.r.pick(&self.tasks),
            10 => self.r.pick(&self.threads),
            11 => self.r.pick(&self.controls),
            12 => self.r.pick(&self.objects),
            13 => self.r.next() as u32 & 0xffff,
            _ => self.r.pick(&self.live),
        }
    }

    /// A name that may be destroyed, moved or have references taken away.
    pub fn victim(&mut self) -> u32 {
        let n = self.name();
        if self.critical(n) { self.r.pick(&self.live) } else { n }
    }

    /// A target for port-space, VM and task calls: this task, another, or junk.
    fn task_target(&mut self) -> u32 {
        match self.r.below(8) {
            0 => self.name(),
            1 | 2 => self.r.pick(&self.tasks),
            _ => self.e.task,
        }
    }

    fn disposition(&mut self) -> u8 {
        if self.r.chance(4) {
            self.r.below(32) as u8
        } else {
            16 + self.r.below(6) as u8
        }
    }

    fn poly(&mut self) -> PolyPort {
        PolyPort {
            name: self.victim(),
            disposition: self.disposition(),
        }
    }

    /// An address for VM calls: scratch, regions it allocated, its own
    /// pager mappings (only if `may_fault` is false), and junk.
    fn address(&mut self, may_fault: bool) -> u64 {
        match self.r.below(8) {
            0 => self.scratch + self.r.below(SCRATCH / PAGE) * PAGE,
            1 => self.scratch + self.r.below(SCRATCH),
            2 => self.r.pick(&self.regions).0,
            3 if !may_fault => self.r.pick(&self.mapped).0,
            4 => pointer(&mut self.r, self.scratch),
            5 => self.r.next() & 0x0000_7fff_ffff_f000,
            _ => self.scratch,
        }
    }

    /// `(addr, size)` for a call that may take access away: never a
    /// protected range of this task (another task's ranges are fair game).
    fn destructive_range(&mut self, target: u32, may_fault: bool) -> (u64, u64) {
        let (a, s) = (self.address(may_fault), size(&mut self.r));
        if target == self.e.task && protected(a, s) {
            (self.scratch, PAGE * (1 + self.r.below(SCRATCH / PAGE)))
        } else {
            (a, s)
        }
    }

    /// One call, chosen and argued from the seed.
    pub fn step(&mut self) {
        let op = self.r.below(OPS) as u16;
        let k = self.r.next();
        self.ring.record(self.calls, op, k & 0xff, 0);
        if TRACE.load(core::sync::atomic::Ordering::Relaxed) {
            mach_user::println!(
                "fuzz{}: #{} op {op} k {}",
                if self.main { "-main" } else { "" },
                self.calls,
                k & 0xff
            );
        }
        self.calls += 1;
        match op {
            0 | 1 => self.msg_send(),
            2 => self.msg_receive(),
            3 => self.port_rights(k),
            4 => self.port_calls(k),
            5 => self.replace_live(),
            6 | 7 => self.trap(k),
            8 => self.vm_calls(k),
            9 => self.pager_calls(k),
            10 => self.control_calls(k),
            11 => self.task_calls(k),
            12 => self.thread_calls(k),
            13 => self.host_calls(k),
            14 => self.device_calls(k),
            _ => self.raw_request(),
        }
    }

    fn fill_send(&mut self) {
        // SAFETY: `send` is this fuzzer's own BUF-byte region.
        let buf = unsafe { core::slice::from_raw_parts_mut(self.send as *mut u8, BUF as usize) };
        let w = |b: &mut [u8], off: usize, v: u32| b[off..off + 4].copy_from_slice(&v.to_le_bytes());
        let (d1, d2) = (self.disposition(), self.disposition());
        let mut bits = mach_msgh_bits(d1, if self.r.chance(3) { 0 } else { d2 });
        let complex = self.r.chance(2);
        if complex {
            bits |= MACH_MSGH_BITS_COMPLEX;
        }
        if self.r.chance(10) {
            bits ^= 1 << self.r.below(32);
        }
        w(buf, 0, bits);
        w(buf, 4, self.r.next() as u32);
        let (a, b) = (self.victim(), self.victim());
        w(buf, 8, a);
        w(buf, 12, b);
        w(buf, 16, 0);
        w(buf, 20, self.r.next() as u32);
        if !complex {
            return;
        }
        let count = self.r.pick(&[0u32, 1, 2, 3, 5, 1000, u32::MAX]);
        w(buf, 24, count);
        let mut off = 28;
        for _ in 0..count.min(6) {
            let ty = if self.r.chance(5) {
                self.r.below(8) as u8
            } else {
                self.r.below(3) as u8
            };
            let disp = self.disposition();
            if ty == MACH_MSG_PORT_DESCRIPTOR {
                let n = self.victim();
                w(buf, off, n);
                w(buf, off + 4, 0);
                buf[off + 8..off + 12].copy_from_slice(&[0, 0, disp, ty]);
                off += 12;
            } else {
                let addr = if ty == MACH_MSG_OOL_PORTS_DESCRIPTOR {
                    // A small array of pool names.
                    let at = 4096;
                    for i in 0..8 {
                        let n = self.victim();
                        w(buf, at + i * 4, n);
                    }
                    self.send + at as u64
                } else {
                    let good = self.send;
                    pointer(&mut self.r, good)
                };
                buf[off..off + 8].copy_from_slice(&addr.to_le_bytes());
                let n = if ty == MACH_MSG_OOL_PORTS_DESCRIPTOR {
                    self.r.below(10) as u32
                } else {
                    size(&mut self.r) as u32
                };
                // Deallocate-on-send only of memory the fuzzer can lose (test-fuzz
                // deallocated its own send buffer this way: seed 4).
                let dealloc = (self.r.chance(4) && !protected(addr, n as u64 * 4)) as u8;
                buf[off + 8..off + 12].copy_from_slice(&[dealloc, 0, disp, ty]);
                w(buf, off + 12, n);
                off += 16;
            }
        }
    }

    fn msg_size(&mut self) -> u32 {
        let random = self.r.below(200) as u32 * 4;
        self.r.pick(&[
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

    fn msg_send(&mut self) {
        self.fill_send();
        // A bad message address is one the kernel cannot read, or one whose
        // header lies in the buffer's zeroed tail: never the buffer at an
        // offset, where garbage descriptors could deallocate the fuzzer's own
        // memory.
        let addr = if self.r.chance(6) {
            self.r.pick(&[
                0,
                0x5000_0000_0000,
                0xffff_ffff_8010_0000,
                u64::MAX - 8,
                self.send + BUF + PAGE - 8,
            ])
        } else {
            self.send
        };
        let size = self.msg_size();
        // SAFETY: send-only, never blocks; the kernel reads at most `size` bytes.
        unsafe { mach_msg_raw(addr, MACH_SEND_MSG | MACH_SEND_TIMEOUT, size, 0, 0, 0) };
    }

    fn msg_receive(&mut self) {
        // The kernel writes at most `rcv` bytes from `addr`: inside the
        // buffer and its guard page for the good addresses.
        let (addr, rcv) = if self.r.chance(4) {
            let a = pointer(&mut self.r, self.recv);
            (a, (self.msg_size() as u64).min(BUF - PAGE))
        } else {
            (self.recv, (self.msg_size() as u64).min(BUF))
        };
        let opt = MACH_RCV_MSG | MACH_RCV_TIMEOUT | if self.r.chance(2) { MACH_RCV_LARGE } else { 0 };
        let n = self.name();
        // SAFETY: as above; the kernel writes only writable user memory.
        unsafe { mach_msg_raw(addr, opt, 0, rcv as u32, n, 0) };
    }

    fn port_rights(&mut self, k: u64) {
        let t = self.task_target();
        let n = self.victim();
        match k % 4 {
            0 => {
                let (right, delta) = (self.r.below(6) as u32, self.r.below(5) as i32 - 2);
                let _ = mp::mach_port_mod_refs(&mut self.t, t, n, right, delta);
            }
            1 => {
                let poly = self.poly();
                let _ = mp::mach_port_insert_right(&mut self.t, t, n, poly);
                let id = 64 + self.r.below(10) as i32;
                let _ = mp::mach_port_request_notification(&mut self.t, t, n, id, self.r.below(3) as u32, poly);
            }
            2 => {
                let after = if self.r.chance(2) { self.set } else { self.name() };
                let _ = mp::mach_port_move_member(&mut self.t, t, n, after);
            }
            _ => {
                let d = self.disposition() as u32;
                if let Ok(p) = mp::mach_port_extract_right(&mut self.t, t, n, d) {
                    self.remember(p.name);
                }
            }
        }
    }

    fn port_calls(&mut self, k: u64) {
        let t = self.task_target();
        let n = self.name();
        let v = self.victim();
        let x = self.r.next() as u32;
        let small = self.r.pick(&[0u32, 1, 5, 16, 1024, 65535, 65536, u32::MAX]);
        let rpc = &mut self.t;
        match k % 10 {
            0 => {
                if let Ok(r) = mp::mach_port_names(rpc, t) {
                    drop((OolRegion::u32s(r.names), OolRegion::u32s(r.types)));
                }
            }
            1 => drop(mp::mach_port_type(rpc, t, n)),
            2 => {
                let name = if x & 1 == 0 { x } else { (x & 0xffff) << 8 | 0xff };
                if mp::mach_port_allocate_name(rpc, t, small % 6, name).is_ok() && t == self.e.task {
                    self.remember(name);
                }
            }
            3 => {
                if let Ok(p) = mp::mach_port_allocate(rpc, t, small % 7) {
                    if t == self.e.task {
                        self.remember(p);
                    }
                }
            }
            4 => drop(mp::mach_port_destroy(rpc, t, v)),
            5 => drop(mp::mach_port_deallocate(rpc, t, v)),
            6 => drop(mp::mach_port_get_refs(rpc, t, n, small % 6)),
            7 => drop(mp::mach_port_set_mscount(rpc, t, n, x)),
            8 => drop(mp::mach_port_set_qlimit(rpc, t, n, small)),
            _ => drop(mp::mach_port_get_qlimit(rpc, t, n)),
        }
    }

    fn replace_live(&mut self) {
        // Destroy a live receive right: its name joins the freed pool.
        let k = self.r.below(8) as usize;
        let _ = self.e.destroy(self.live[k]);
        self.freed[self.nfreed % 8] = self.live[k];
        self.nfreed += 1;
        self.live[k] = self.e.port();
    }

    /// A Mach trap by number, with arguments from the pools. Not made:
    /// `task_exit`, `thread_exit` (from this thread) and non-negative
    /// numbers, which end the caller by design.
    fn trap(&mut self, k: u64) {
        let numbers = [
            traps::MACH_REPLY_PORT,
            traps::THREAD_SELF_TRAP,
            traps::TASK_SELF_TRAP,
            traps::HOST_SELF_TRAP,
            traps::MACH_MSG_TRAP,
            traps::SWTCH_PRI,
            traps::SWTCH,
            traps::MACH_PRINT,
            traps::THREAD_CREATE_RUNNING,
            traps::MACH_BOOT_INFO,
            traps::THREAD_TLS_BASE,
            traps::CLOCK_GET_TIME,
            -1,
            -2,
            -(traps::MACH_TRAP_COUNT - 1),
            -traps::MACH_TRAP_COUNT,
            -traps::MACH_TRAP_COUNT - 1,
            i64::MIN,
            -(1 << 32),
        ];
        let mut number = if k % 8 == 0 {
            -(self.r.below(200) as i64) - 1
        } else {
            self.r.pick(&numbers)
        };
        if number == traps::TASK_EXIT || number == traps::THREAD_EXIT {
            number = traps::SWTCH;
        }
        let mut a = [0u64; 6];
        for x in a.iter_mut() {
            *x = match self.r.below(6) {
                0 => self.name() as u64,
                1 => size(&mut self.r),
                2 => pointer(&mut self.r, self.recv),
                _ => self.r.next(),
            };
        }
        self.ring.record(self.calls - 1, 100, number as u64, a[0]);
        if TRACE.load(core::sync::atomic::Ordering::Relaxed) && self.main {
            mach_user::println!("fuzz-main: trap {number} {:x?}", a);
        }
        match number {
            traps::MACH_MSG_TRAP => {
                // Any options, but never blocking; buffers as in msg_receive.
                a[0] = if self.r.chance(3) {
                    pointer(&mut self.r, self.recv)
                } else {
                    self.recv
                };
                a[1] = (a[1] as u32 | MACH_SEND_TIMEOUT | MACH_RCV_TIMEOUT) as u64;
                a[2] = self.msg_size() as u64;
                a[3] = (self.msg_size() as u64).min(BUF - PAGE);
                a[4] = self.name() as u64;
                a[5] = 0;
                // SAFETY: the kernel writes at most a[3] bytes at a[0], inside
                // the receive buffer and its guard for the good address.
                unsafe { mach_msg_raw(a[0], a[1] as u32, a[2] as u32, a[3] as u32, a[4] as u32, 0) };
                return;
            }
            traps::MACH_PRINT => {
                // Readable memory only a newline (the harness reads the console).
                a[0] = match self.r.below(5) {
                    0 => NEWLINE.as_ptr() as u64,
                    1 => 0,
                    2 => 0xffff_ffff_8010_0000,
                    3 => 0x5000_0000_0000,
                    _ => u64::MAX - 8,
                };
                a[1] = self.r.pick(&[0, 1, 8, 64, traps::MACH_PRINT_MAX + 1, u64::MAX]);
                if a[0] == NEWLINE.as_ptr() as u64 {
                    a[1] = a[1].min(1);
                }
            }
            traps::THREAD_CREATE_RUNNING => {
                if !self.main {
                    return;
                }
                let s = self.r.below(4) as usize;
                a[0] = exit_thread as *const () as usize as u64;
                a[1] = (&raw const OWN_STACKS) as u64 + (s as u64 + 1) * 4096 - 8;
            }
            _ => {}
        }
        // SAFETY: the traps left are name, yield, print (reads only), thread
        // creation at `exit_thread` on a stack of its own, statistics, the
        // clocks, and this thread's TLS bases (nothing the fuzzer runs reads
        // through %fs or %gs, so any base is harmless to it).
        let (rax, _) = unsafe { raw_trap(number, a) };
        if matches!(number, traps::MACH_REPLY_PORT) {
            self.remember(rax as u32);
        }
    }

    fn vm_calls(&mut self, k: u64) {
        let t = self.task_target();
        let prot = self.r.below(8) as u32;
        let flag = self.r.pick(&[0u32, 1, 2, 3, 0xffff_ffff]);
        match k % 12 {
            0 => {
                let (a, s) = (self.address(true), size(&mut self.r));
                let anywhere = self.r.chance(2) as u32;
                let (a, s) = if anywhere == 0 && t == self.e.task && protected(a, s) {
                    (0, s)
                } else {
                    (a, s)
                };
                if let Ok(at) = vm::vm_allocate(&mut self.t, t, a, s, anywhere) {
                    if t == self.e.task {
                        let slot = self.r.below(8) as usize;
                        let old = self.regions[slot];
                        if old.1 != 0 {
                            let _ = vm::vm_deallocate(&mut self.t, t, old.0, old.1);
                        }
                        self.regions[slot] = (at, s);
                    }
                }
            }
            1 => {
                let (a, s) = self.destructive_range(t, false);
                let _ = vm::vm_deallocate(&mut self.t, t, a, s);
            }
            2 => {
                let (a, s) = self.destructive_range(t, false);
                let _ = vm::vm_protect(&mut self.t, t, a, s, self.r.below(2) as u32, prot);
            }
            3 => {
                // Never over a protected range of this task: made shared, the
                // image and stack would be shared with the children made
                // next, whose writes to their statics (the cached task-self
                // name first) would then land in this task (finding 6).
                let (a, s) = self.destructive_range(t, false);
                let _ = vm::vm_inherit(&mut self.t, t, a, s, flag);
            }
            4 => {
                let a = self.address(false);
                let _ = vm::vm_region(&mut self.t, t, a);
            }
            5 => {
                let (a, s) = (self.address(true), size(&mut self.r) & 0xf_ffff);
                if let Ok(d) = vm::vm_read(&mut self.t, t, a, s) {
                    drop(OolRegion::bytes(d));
                }
            }
            6 => {
                let (a, _) = self.destructive_range(t, true);
                let n = self.r.pick(&[0usize, 1, 4095, 4096, 4097, 3 * 4096]);
                // SAFETY: `send` is this fuzzer's own BUF-byte region.
                let data = unsafe { core::slice::from_raw_parts(self.send as *const u8, n) };
                let _ = vm::vm_write(&mut self.t, t, a, data);
            }
            7 => {
                let src = self.address(true);
                let (dst, s) = self.destructive_range(t, true);
                let _ = vm::vm_copy(&mut self.t, t, src, s, dst);
            }
            8 => {
                let (a, s) = (self.address(true), size(&mut self.r));
                let _ = vm::vm_wire(&mut self.t, t, a, s, prot);
            }
            9 => {
                let (a, s) = (self.address(true), size(&mut self.r));
                let _ = vm::vm_msync(&mut self.t, t, a, s, flag);
            }
            10 => {
                let a = self.address(false);
                let _ = vm::vm_object_chain(&mut self.t, t, a);
            }
            _ => {
                let _ = vm::task_fault_counts(&mut self.t, t);
            }
        }
    }

    /// `vm_map` of objects this fuzzer serves or of any other name, and the
    /// pager's side: reading the kernel's init/request/terminate messages and
    /// answering them or not.
    fn pager_calls(&mut self, k: u64) {
        let t = self.task_target();
        match k % 3 {
            0 => {
                let obj = if self.r.chance(4) {
                    self.name()
                } else {
                    self.r.pick(&self.objects)
                };
                let s = if self.r.chance(4) {
                    size(&mut self.r)
                } else {
                    PAGE * (1 + self.r.below(8))
                };
                let off = if self.r.chance(4) {
                    size(&mut self.r)
                } else {
                    PAGE * self.r.below(4)
                };
                // In this task, only where nothing else is: a region of its own
                // object at an address other calls use would make them wait
                // for this thread.
                let (anywhere, at) = if t != self.e.task && self.r.chance(4) {
                    let (a, _) = self.destructive_range(t, false);
                    (0, a)
                } else {
                    (1, 0)
                };
                let (copy, prot, maxp, inh) = (
                    if t == self.e.task { 0 } else { self.r.below(3) as u32 },
                    self.r.below(8) as u32,
                    self.r.below(8) as u32,
                    self.r.below(4) as u32,
                );
                if let Ok(a) = vm::vm_map(&mut self.t, t, at, s, anywhere, obj, off, copy, prot, maxp, inh) {
                    if t == self.e.task {
                        let slot = self.r.below(4) as usize;
                        let old = self.mapped[slot];
                        if old.1 != 0 {
                            let _ = vm::vm_deallocate(&mut self.t, t, old.0, old.1);
                        }
                        self.mapped[slot] = (a, s);
                    }
                }
            }
            _ => {
                let obj = self.r.pick(&self.objects);
                self.serve_once(obj);
            }
        }
    }

    /// Reads one message for a memory object (without waiting) and answers
    /// it at random.
    pub fn serve_once(&mut self, obj: u32) -> bool {
        let mut b: MsgBuf<8192> = MsgBuf::new();
        if mach_msg(&mut b, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, obj, 0) != MACH_MSG_SUCCESS {
            return false;
        }
        let h = b.header();
        match h.id {
            2200 => {
                // The newest control port first; the oldest is given up.
                let control = b.get32(28);
                let old = self.controls[3];
                self.controls.copy_within(0..3, 1);
                self.controls[0] = control;
                if old != 0 && !self.controls.contains(&old) {
                    let _ = self.e.dealloc(old);
                }
                if self.r.chance(2) {
                    let _ = moc::memory_object_ready(&mut self.t, control, 1, 0);
                }
            }
            2202 => {
                let (off, len) = (b.get64(24), b.get64(32));
                self.answer(off, len);
            }
            _ => {
                // Anything else (terminate, returns, lock replies): drop its
                // rights and memory with the message.
                if h.bits & MACH_MSGH_BITS_COMPLEX != 0 {
                    self.drop_received(&b);
                }
            }
        }
        true
    }

    fn drop_received(&mut self, b: &MsgBuf<8192>) {
        let count = b.get32(24).min(8) as usize;
        let mut off = 28;
        for _ in 0..count {
            let ty = b.0[off + 11];
            if ty == MACH_MSG_PORT_DESCRIPTOR {
                let _ = self.e.dealloc(b.get32(off));
                off += 12;
            } else {
                if ty == MACH_MSG_OOL_DESCRIPTOR {
                    drop(OolRegion::from_received(b.get64(off), b.get32(off + 12) as u64));
                }
                off += 16;
            }
        }
    }

    fn answer(&mut self, off: u64, len: u64) {
        let control = if self.r.chance(4) {
            self.r.pick(&self.controls)
        } else {
            self.controls[0]
        };
        let off = if self.r.chance(8) { size(&mut self.r) } else { off };
        let len = if self.r.chance(8) { size(&mut self.r) } else { len };
        match self.r.below(5) {
            0 | 1 => {
                let n = self.r.pick(&[4096usize, 4096, 1, 4095, 8192, 0]);
                // SAFETY: `send` is this fuzzer's own BUF-byte region.
                let data = unsafe { core::slice::from_raw_parts(self.send as *const u8, n) };
                let _ = moc::memory_object_data_supply(&mut self.t, control, off, data, self.r.below(8) as u32);
            }
            2 => drop(moc::memory_object_data_unavailable(&mut self.t, control, off, len)),
            3 => drop(moc::memory_object_data_error(
                &mut self.t,
                control,
                off,
                len,
                self.r.next() as i32,
            )),
            _ => {} // Never answered.
        }
    }

    fn control_calls(&mut self, k: u64) {
        let c = if self.r.chance(4) {
            self.name()
        } else {
            self.r.pick(&self.controls)
        };
        let (off, len) = (size(&mut self.r) & !(PAGE - 1) | self.r.below(2), size(&mut self.r));
        let reply = if self.r.chance(2) { 0 } else { self.r.pick(&self.live) };
        let (a, b2, lock) = (self.r.below(3) as u32, self.r.below(3) as u32, self.r.below(8) as u32);
        let rpc = &mut self.t;
        match k % 6 {
            0 => {
                let n = self.r.pick(&[0usize, 1, 4096, 8192]);
                // SAFETY: `send` is this fuzzer's own BUF-byte region.
                let data = unsafe { core::slice::from_raw_parts(self.send as *const u8, n) };
                let _ = moc::memory_object_data_supply(rpc, c, off, data, lock);
            }
            1 => drop(moc::memory_object_data_unavailable(rpc, c, off, len)),
            2 => drop(moc::memory_object_data_error(rpc, c, off, len, lock as i32 - 3)),
            3 => drop(moc::memory_object_lock_request(rpc, c, off, len, a, b2, lock, reply)),
            4 => drop(moc::memory_object_ready(rpc, c, a, b2)),
            _ => drop(moc::memory_object_change_attributes(rpc, c, a, b2, reply)),
        }
    }

    fn task_calls(&mut self, k: u64) {
        let slot = self.r.below(2) as usize;
        match k % 7 {
            // Only the main fuzzer makes tasks: it ends each one it made
            // before forgetting it. Mach has no parent-child link, so a task
            // made by a child that is then killed would have nobody to end
            // it, and the run could not finish.
            0 if self.main => {
                let parent = if self.r.chance(4) { self.name() } else { self.e.task };
                let inherit = self.r.pick(&[0u32, 1, 2, 0xffff_ffff]);
                if let Ok(child) = task::task_create(&mut self.t, parent, inherit) {
                    self.retire_task(slot);
                    self.tasks[slot] = child;
                    self.keep_in_vault(child);
                }
            }
            1 => {
                let t = self.r.pick(&self.tasks[..2]);
                if t != 0 && self.r.chance(2) {
                    self.retire_task(self.tasks[..2].iter().position(|&x| x == t).unwrap_or(0));
                } else {
                    let n = self.name();
                    if n != self.e.task {
                        let _ = task::task_terminate(&mut self.t, n);
                    }
                }
            }
            2 => {
                // A thread in another task, good or bad entry and stack.
                let t = if self.r.chance(6) {
                    self.name()
                } else {
                    self.r.pick(&self.tasks)
                };
                if t == self.e.task && !self.main {
                    return;
                }
                let good = t == self.e.task || self.r.chance(2);
                let entry = if good {
                    exit_thread as *const () as usize as u64
                } else {
                    pointer(&mut self.r, exit_thread as *const () as usize as u64)
                };
                let stack = if good {
                    (&raw const OWN_STACKS) as u64 + 4096 - 8
                } else {
                    pointer(&mut self.r, self.scratch)
                };
                if let Ok(th) = task::thread_create_running(&mut self.t, t, entry, stack, self.r.next()) {
                    if t == self.e.task {
                        // Not in the pool: thread_set_state on it before it
                        // ran gave it a read-only stack and killed this task
                        // (seed 1, call 314,000 of 1,000,000).
                        let _ = self.e.dealloc(th);
                        return;
                    }
                    let s = self.r.below(4) as usize;
                    if self.threads[s] != 0 {
                        let _ = self.e.dealloc(self.threads[s]);
                    }
                    self.threads[s] = th;
                }
            }
            3 => {
                // Exception ports of other tasks; this one's only cleared or junk.
                let t = self.task_target();
                let mut poly = self.poly();
                if t == self.e.task {
                    poly.name = self.r.pick(&[MACH_PORT_NULL, MACH_PORT_DEAD, self.dead, self.set]);
                }
                let _ = task::task_set_exception_port(&mut self.t, t, poly);
            }
            4 => {
                // Emulation vectors of other tasks (this one never makes a
                // non-negative syscall, so its own would only be data too,
                // but a child's is what a Unix server sets).
                let t = self.task_target();
                if t == self.e.task {
                    return;
                }
                let start = self.r.pick(&[-1i32, 0, 1, 39, 1023, 1024, i32::MIN, i32::MAX]);
                let mut v = [0u64; 8];
                for x in v.iter_mut() {
                    *x = pointer(&mut self.r, exit_thread as *const () as usize as u64);
                }
                let n = self.r.below(9) as usize;
                if self.r.chance(2) {
                    let _ = task::task_set_emulation_vector(&mut self.t, t, start, &v[..n]);
                } else {
                    let _ = task::task_get_emulation_vector(&mut self.t, t);
                }
            }
            _ => {
                let t = self.task_target();
                let _ = task::task_ipc_statistics(&mut self.t, t);
            }
        }
    }

    /// Gives the vault a send right to `child`, so that the task can be
    /// ended however its name here is lost (destroyed, moved away in a
    /// message, given to another task). Mach has no parent-child link: a
    /// task with a thread that nobody can name runs for ever.
    pub fn keep_in_vault(&mut self, child: u32) {
        if self.vault == 0 {
            return;
        }
        let poly = PolyPort {
            name: child,
            disposition: MACH_MSG_TYPE_COPY_SEND,
        };
        // Names at low table indices (the kernel refuses a far-out name
        // with KERN_NO_SPACE); one in use is passed over.
        for _ in 0..8 {
            self.vaulted = self.vaulted.wrapping_add(1);
            let name = (1 + self.vaulted % 8000) << 8;
            match mp::mach_port_insert_right(&mut self.e.rpc, self.vault, name, poly) {
                Err(KERN_NAME_EXISTS) => continue,
                r => {
                    if r.is_err() {
                        mach_user::println!("test-fuzz: the vault refused task {child:#x}: {r:?}");
                    }
                    return;
                }
            }
        }
    }

    /// Ends every task this fuzzer made (the vault's rights), and empties the vault.
    pub fn retire_all(&mut self) {
        if self.vault == 0 {
            return;
        }
        loop {
            let Ok(r) = mp::mach_port_names(&mut self.e.rpc, self.vault) else {
                return;
            };
            let names = OolRegion::u32s(r.names);
            let mut n = 0;
            for name in names.words() {
                n += 1;
                match mp::mach_port_extract_right(&mut self.e.rpc, self.vault, name, MACH_MSG_TYPE_MOVE_SEND as u32) {
                    Ok(p) if p.name != 0 && p.name != MACH_PORT_DEAD => {
                        let _ = task::task_terminate(&mut self.e.rpc, p.name);
                        let _ = self.e.dealloc(p.name);
                    }
                    _ => {
                        let _ = mp::mach_port_destroy(&mut self.e.rpc, self.vault, name);
                    }
                }
            }
            if n == 0 {
                return;
            }
        }
    }

    /// Ends every task this fuzzer made, then the vault itself.
    pub fn end_vault(&mut self) {
        self.retire_all();
        let v = core::mem::take(&mut self.vault);
        if v != 0 {
            let _ = task::task_terminate(&mut self.e.rpc, v);
            let _ = self.e.dealloc(v);
        }
    }

    /// Ends and forgets a task this fuzzer made.
    pub fn retire_task(&mut self, slot: usize) {
        let t = core::mem::take(&mut self.tasks[slot]);
        if t != 0 {
            let _ = task::task_terminate(&mut self.t, t);
            let _ = self.e.dealloc(t);
        }
    }

    fn thread_calls(&mut self, k: u64) {
        let th = match self.r.below(4) {
            0 => self.name(),
            1 => self.thread_self,
            _ => self.r.pick(&self.threads),
        };
        let own = th == self.thread_self;
        let rpc = &mut self.t;
        match k % 6 {
            0 if !own => drop(thread::thread_terminate(rpc, th)),
            1 => drop(thread::thread_get_state(rpc, th)),
            2 if !own => {
                let mut v = [0u64; 4];
                for x in v.iter_mut() {
                    *x = pointer(&mut self.r, self.scratch);
                }
                let _ = thread::thread_set_state(
                    &mut self.t,
                    th,
                    v[0],
                    v[1],
                    v[2],
                    v[3],
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                );
            }
            3 if !own => drop(thread::thread_suspend(rpc, th)),
            4 if !own => {
                let (fs, gs) = (pointer(&mut self.r, self.scratch), self.r.next());
                if self.r.chance(2) {
                    let _ = thread::thread_set_tls_state(rpc, th, fs, gs);
                } else {
                    let _ = thread::thread_get_tls_state(rpc, th);
                }
            }
            _ => drop(thread::thread_resume(rpc, th)),
        }
    }

    /// Calls on the host ports: every one on the host name port, the
    /// host_priv port (a boot task's; a child has none) or any name, so the
    /// privileged calls are also tried where they must fail
    /// (KERN_INVALID_HOST). `host_tasks_dump` is left out (it only logs).
    fn host_calls(&mut self, k: u64) {
        let h = match self.r.below(5) {
            0 => self.name(),
            1 | 2 => self.e.host,
            _ => self.e.host_priv,
        };
        let pages = self.r.pick(&[0u32, 1, 16, 1024, u32::MAX]);
        let index = self.r.pick(&[0u32, 1, 2, u32::MAX]);
        let rpc = &mut self.t;
        match k % 7 {
            0 => drop(host_priv::host_ipc_audit(rpc, h)),
            1 => drop(host::host_info_basic(rpc, h)),
            2 => drop(host::host_vm_statistics(rpc, h)),
            3 => drop(host_priv::host_vm_pageout(rpc, h, pages)),
            4 => {
                if let Ok(m) = host_priv::host_get_io_master(rpc, h) {
                    if m != self.dev_master {
                        self.remember(m);
                    }
                }
            }
            5 => {
                if let Ok(d) = host_priv::host_boot_data(rpc, h, index) {
                    drop(OolRegion::bytes(d.data));
                }
            }
            _ => {
                // Names that are not send rights only (see the module docs).
                let m = self
                    .r
                    .pick(&[MACH_PORT_NULL, MACH_PORT_DEAD, self.dead, self.set, 0xffff_fff0]);
                let _ = host_priv::vm_set_default_memory_manager(rpc, h, m);
            }
        }
    }

    fn device_calls(&mut self, k: u64) {
        let d = if self.r.chance(3) { self.dev_master } else { self.name() };
        let recnum = size(&mut self.r);
        let mode = self.r.below(4) as u32;
        let rpc = &mut self.t;
        match k % 5 {
            0 => {
                // Never hd0 (see the module docs).
                let hd0 = mach_interfaces::bootstrap::service_key(b"hd0");
                let random = self.r.next();
                let name = self
                    .r
                    .pick(&[0u64, u64::MAX, mach_interfaces::bootstrap::service_key(b"hd1"), random]);
                if name != hd0 {
                    if let Ok(p) = device::device_open(rpc, d, mode, name) {
                        self.remember(p);
                    }
                }
            }
            1 => drop(device::device_close(rpc, d)),
            2 => {
                let n = self.r.pick(&[0usize, 1, 512, 4096]);
                // SAFETY: `send` is this fuzzer's own BUF-byte region.
                let data = unsafe { core::slice::from_raw_parts(self.send as *const u8, n) };
                let _ = device::device_write(&mut self.t, d, mode, recnum, data);
            }
            3 => {
                let want = self.r.pick(&[0u32, 1, 512, 4096, 1 << 20, u32::MAX]);
                if let Ok(data) = device::device_read(rpc, d, mode, recnum, want) {
                    drop(OolRegion::bytes(data));
                }
            }
            _ => drop(device::device_get_status(rpc, d, self.r.below(4) as u32)),
        }
    }

    /// A request with a random id near a kernel subsystem's and a random
    /// body, sent to a kernel port with a reply right to one of the live
    /// ports. Requests that would end or unmap the fuzzer itself are not
    /// sent to its own task and thread.
    fn raw_request(&mut self) {
        let base = self.r.pick(&[200i32, 400, 2000, 2200, 2800, 3200, 3400, 3600, 4800]);
        let id = if self.r.chance(10) {
            self.r.next() as i32
        } else {
            base + self.r.below(60) as i32
        };
        let target = match self.r.below(7) {
            0 => self.e.task,
            1 => self.e.host,
            2 => self.thread_self,
            3 => self.dev_master,
            4 => self.r.pick(&self.controls),
            5 => self.e.host_priv,
            _ => self.r.pick(&self.tasks),
        };
        let own_task_danger = [3401, 4801, 4802, 4803, 4806, 4807, 4811, 3205, 3206, 3208, 3215];
        // task_create only through the typed call, so that the vault holds
        // every task this fuzzer makes (a task made here could live on with
        // a thread nobody can name).
        if id == 3400
            || (target == self.e.task && own_task_danger.contains(&id))
            || (target == self.thread_self && matches!(id, 3600 | 3604 | 3605))
            || (target == self.e.host_priv && id == 403)
        {
            return;
        }
        // SAFETY: `send` is this fuzzer's own BUF-byte region.
        let buf = unsafe { core::slice::from_raw_parts_mut(self.send as *mut u8, 4096) };
        let size = (24 + self.r.below(200) as usize) & !3;
        for i in (24..size).step_by(4) {
            let v = match self.r.below(4) {
                0 => self.r.next() as u32 & 0xfff,
                1 => 0,
                _ => self.r.next() as u32,
            };
            // Never a name this fuzzer calls through: a body read as a port
            // descriptor would move or copy it (a raw insert_right gave a
            // child the main task's port, and the child started a thread in
            // it on a bad stack, which killed the fuzzer: seed 1, call 314,000).
            let v = if self.critical(v) { 0 } else { v };
            buf[i..i + 4].copy_from_slice(&v.to_le_bytes());
        }
        let reply = if self.r.chance(3) { 0 } else { self.r.pick(&self.live) };
        let mut bits = mach_msgh_bits(
            MACH_MSG_TYPE_COPY_SEND,
            if reply == 0 { 0 } else { MACH_MSG_TYPE_MAKE_SEND_ONCE },
        );
        if self.r.chance(8) {
            // Complex with whatever the body says: descriptors of junk.
            bits |= MACH_MSGH_BITS_COMPLEX;
            buf[24..28].copy_from_slice(&0u32.to_le_bytes());
        }
        let h = [bits, size as u32, target, reply, 0, id as u32];
        for (i, w) in h.iter().enumerate() {
            buf[i * 4..i * 4 + 4].copy_from_slice(&w.to_le_bytes());
        }
        self.ring.record(self.calls - 1, 115, id as u64, target as u64);
        // SAFETY: send-only, never blocks; the kernel reads `size` bytes of the buffer.
        unsafe { mach_msg_raw(self.send, MACH_SEND_MSG | MACH_SEND_TIMEOUT, size as u32, 0, 0, 0) };
    }
}
