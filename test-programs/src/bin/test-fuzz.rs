//! The in-guest fuzzer (issue 9): for each seed, a fuzzing thread here makes
//! random Mach calls (every trap, mach_msg, and every call on task, thread,
//! host, device, memory-object-control and port-space ports; see
//! `test_programs::fuzz`) while child tasks made with `task_create` from this
//! same image fuzz too, each with several threads: one child serves a memory
//! object (answering the kernel's requests or not, at random) that another
//! child maps and touches. This thread is also the killer: it terminates the
//! children at random points and starts new ones.
//!
//! After every batch the kernel's audit must be clean; after each seed, with
//! every child gone and the fuzzer's own names and regions swept, the
//! system's ports, port sets, queued messages, tasks and threads must be back
//! at their count before the seed. When a check fails, the seed, the call
//! number and the last 64 calls are printed.
//!
//! Arguments: `seed=N` or `seeds=A,B,...` (default 1), `calls=N` calls of
//! this thread per seed (default 20000), `children=0` for no child tasks.
//! Prints `test-fuzz: N calls in all` (this thread's and the children's).
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU64, Ordering};
use mach_interfaces::PolyPort;
use mach_user::abi::message::*;
use mach_user::abi::port::*;
use mach_user::ipc::{MsgBuf, mach_msg};
use mach_user::println;
use mach_user::rpc::{mach_port as mp, task, vm};
use test_programs::fuzz::calls::Fuzzer;
use test_programs::fuzz::sweep::{Counts, counts};
use test_programs::fuzz::{PAGE, protect};

mach_user::entry!(main);

const BATCH: u64 = 2000;
/// The child's name for the memory object one child serves and another maps.
const OBJECT: u32 = 0x1100;
/// Child kinds (in the start argument).
const PLAIN: u64 = 0;
const PAGER: u64 = 1;
const MAPPER: u64 = 2;

#[repr(C, align(16))]
struct Stack([u8; 65536]);
/// Stacks of a child's threads (each child has its own copy of this image).
static mut CHILD_STACKS: [Stack; 2] = [const { Stack([0; 65536]) }; 2];
/// Address of a page shared with every child: calls made there (atomic).
static SHARED: AtomicU64 = AtomicU64::new(0);

fn shared_calls() -> &'static AtomicU64 {
    // SAFETY: SHARED holds the address of a page mapped (shared) for the
    // program's life, in this task and every child, never deallocated (it is
    // protected); AtomicU64 has the layout of u64.
    unsafe { &*(SHARED.load(Ordering::Relaxed) as *const AtomicU64) }
}

fn stack_top(k: usize) -> u64 {
    (&raw const CHILD_STACKS) as u64 + (k as u64 + 1) * 65536 - 8
}

/// The start argument of a child thread: kind, seed, calls.
fn pack(kind: u64, seed: u64, calls: u64) -> u64 {
    (seed & 0xffff_ffff) << 32 | (calls & 0xff_ffff) << 8 | kind
}

/// Child task, first thread: starts the second (pager, mapper or another
/// fuzzer), fuzzes, and ends the task.
extern "C" fn child_main(arg: u64) -> ! {
    mach_user::ipc::forget_task_self();
    // Its siblings change its registers and memory at random
    // (thread_set_state, vm_write): a panic here is an outcome, not a bug
    // (seed 3: an index check failed on a register changed under it).
    mach_user::start::panics_are_not_failures();
    let (kind, seed, calls) = (arg & 0xff, arg >> 32, (arg >> 8) & 0xff_ffff);
    let task = mach_user::ipc::task_self();
    let mut rpc = mach_user::rpc::Rpc::new();
    let _ = task::thread_create_running(
        &mut rpc,
        task,
        second_thread as *const () as usize as u64,
        stack_top(1),
        arg,
    );
    let mut f = Fuzzer::new(seed ^ 0xc0ffee, false);
    f.foreign[0] = OBJECT;
    fuzz(&mut f, calls);
    let _ = kind;
    mach_user::trap::task_exit(0)
}

fn fuzz(f: &mut Fuzzer, calls: u64) {
    for i in 0..calls {
        f.step();
        if i % 64 == 63 {
            shared_calls().fetch_add(64, Ordering::Relaxed);
        }
    }
}

/// A child's second thread.
extern "C" fn second_thread(arg: u64) -> ! {
    let (kind, seed, calls) = (arg & 0xff, arg >> 32, (arg >> 8) & 0xff_ffff);
    let mut f = Fuzzer::new(seed ^ 0xbeef, false);
    match kind {
        PAGER => {
            // Serves OBJECT; fuzzes between messages.
            f.objects = [OBJECT, OBJECT];
            for i in 0..calls {
                if !f.serve_once(OBJECT) {
                    f.step();
                }
                if i % 64 == 63 {
                    shared_calls().fetch_add(64, Ordering::Relaxed);
                }
            }
        }
        MAPPER => {
            // Maps OBJECT and touches it: each touch may wait for the pager
            // for ever (until the task is killed) or fault.
            let task = f.e.task;
            for i in 0..calls {
                let pages = 1 + f.r.below(8);
                let off = PAGE * f.r.below(4);
                let copy = f.r.below(2) as u32;
                if let Ok(a) = vm::vm_map(&mut f.e.rpc, task, 0, pages * PAGE, 1, OBJECT, off, copy, 3, 7, 1) {
                    for _ in 0..f.r.below(4) {
                        let p = (a + PAGE * f.r.below(pages)) as *mut u64;
                        // SAFETY: `p` is in the region just mapped read-write.
                        unsafe {
                            if f.r.chance(2) {
                                core::ptr::read_volatile(p);
                            } else {
                                core::ptr::write_volatile(p, i);
                            }
                        }
                    }
                    if f.r.chance(2) {
                        let _ = vm::vm_deallocate(&mut f.e.rpc, task, a, pages * PAGE);
                    }
                }
                if i % 16 == 15 {
                    shared_calls().fetch_add(16, Ordering::Relaxed);
                }
            }
        }
        _ => fuzz(&mut f, calls),
    }
    mach_user::trap::thread_exit()
}

/// The children of one generation: task and first-thread ports.
struct Children {
    tasks: [u32; 3],
    threads: [u32; 3],
    generations: u64,
}

impl Children {
    /// Starts a mapper, the pager of what it maps, and a plain fuzzer.
    fn spawn(&mut self, f: &mut Fuzzer, seed: u64, calls: u64) {
        if test_programs::fuzz::calls::TRACE.load(Ordering::Relaxed) {
            println!("fuzz-main: spawn");
        }
        self.generations += 1;
        let object = f.e.port();
        let gen_seed = seed.wrapping_mul(1000).wrapping_add(self.generations);
        for (k, kind) in [MAPPER, PAGER, PLAIN].into_iter().enumerate() {
            let Ok(child) = task::task_create(&mut f.e.rpc, f.e.task, 1) else {
                continue;
            };
            f.keep_in_vault(child);
            let give = match kind {
                PAGER => Some(MACH_MSG_TYPE_MOVE_RECEIVE),
                MAPPER => Some(MACH_MSG_TYPE_MAKE_SEND),
                _ => None,
            };
            if let Some(disposition) = give {
                // The mapper's send right first: the receive right then leaves this task.
                let poly = PolyPort {
                    name: object,
                    disposition,
                };
                let _ = mp::mach_port_insert_right(&mut f.e.rpc, child, OBJECT, poly);
            }
            let arg = pack(kind, gen_seed + k as u64, calls);
            let th = task::thread_create_running(
                &mut f.e.rpc,
                child,
                child_main as *const () as usize as u64,
                stack_top(0),
                arg,
            );
            self.tasks[k] = child;
            self.threads[k] = th.unwrap_or(0);
        }
        // Still here only if the pager was not made.
        if mp::mach_port_type(&mut f.e.rpc, f.e.task, object).is_ok() {
            let _ = f.e.destroy(object);
        }
        self.share(f);
    }

    /// Lets the fuzzing thread's task and thread calls reach the children.
    fn share(&self, f: &mut Fuzzer) {
        f.tasks[2] = self.tasks[0];
        f.tasks[3] = self.tasks[1];
        f.threads[2] = self.threads[0];
        f.threads[3] = self.threads[2];
    }

    fn kill(&mut self, f: &mut Fuzzer, k: usize) {
        if test_programs::fuzz::calls::TRACE.load(Ordering::Relaxed) {
            println!("fuzz-main: kill {k} {:#x}", self.tasks[k]);
        }
        let t = core::mem::take(&mut self.tasks[k]);
        let th = core::mem::take(&mut self.threads[k]);
        if t != 0 {
            let _ = task::task_terminate(&mut f.e.rpc, t);
            let _ = f.e.dealloc(t);
        }
        if th != 0 {
            let _ = f.e.dealloc(th);
        }
        for x in f.tasks.iter_mut().chain(f.threads.iter_mut()) {
            if *x == t || *x == th {
                *x = 0;
            }
        }
    }

    /// True if every child has ended (its task port is a dead name) or was killed.
    fn all_gone(&self, f: &mut Fuzzer) -> bool {
        self.tasks.iter().all(|&t| {
            t == 0 || mp::mach_port_type(&mut f.e.rpc, f.e.task, t).is_ok_and(|ty| ty & MACH_PORT_TYPE_DEAD_NAME != 0)
        })
    }

    fn kill_all(&mut self, f: &mut Fuzzer) {
        for k in 0..3 {
            self.kill(f, k);
        }
    }

    fn keep(&self) -> [u32; 6] {
        [
            self.tasks[0],
            self.tasks[1],
            self.tasks[2],
            self.threads[0],
            self.threads[1],
            self.threads[2],
        ]
    }
}

/// Waits (yielding) until the counts are `want`, or gives up; returns the last counts.
fn settle(f: &mut Fuzzer, want: Counts) -> Option<Counts> {
    let mut last = None;
    for _ in 0..2000 {
        last = counts(&mut f.e);
        if last == Some(want) {
            break;
        }
        for _ in 0..10 {
            mach_user::trap::swtch();
        }
    }
    last
}

/// A failed check: the seed, the call, the last calls.
fn fail(f: &Fuzzer, test: &str, seed: u64, what: core::fmt::Arguments) -> bool {
    println!(
        "test {test}_seed_{seed} ... FAILED: seed {seed}, call {}: {what}",
        f.calls
    );
    f.ring.print("fuzzer");
    false
}

/// One seed: returns whether every check held.
fn run_seed(seed: u64, calls: u64, with_children: bool) -> bool {
    let mut f = Fuzzer::new(seed, true);
    f.sweep(&[]);
    // The boot's other tasks (bootstrap, default pager) end once nobody
    // needs them: the counts are measured after that, or after a while.
    for _ in 0..20_000 {
        if test_programs::fuzz::sweep::boot_info(mach_user::abi::traps::BootInfoKind::Tasks)
            <= 1 + (f.vault != 0) as u64
        {
            break;
        }
        mach_user::trap::swtch();
    }
    let Some(baseline) = counts(&mut f.e) else {
        return fail(&f, "fuzz_counts", seed, format_args!("host_ipc_audit failed"));
    };
    f.refill();
    let mut ch = Children {
        tasks: [0; 3],
        threads: [0; 3],
        generations: 0,
    };
    let child_calls = (calls / 4).clamp(16, 0xff_ffff);
    if with_children {
        ch.spawn(&mut f, seed, child_calls);
    }
    let mut ok = true;
    for i in 0..calls {
        // A message on the transport's reply port between calls is a kernel bug.
        let mut b: MsgBuf<1024> = MsgBuf::new();
        let [reply, house] = f.t.names();
        if [f.e.rpc.reply_port(), reply, house]
            .into_iter()
            .any(|p| mach_msg(&mut b, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, p, 0) == MACH_MSG_SUCCESS)
        {
            let id = b.header().id;
            ok = fail(
                &f,
                "fuzz_no_stray_replies",
                seed,
                format_args!("message id {id} on a reply port"),
            );
            break;
        }
        f.step();
        if with_children {
            // The killer: now and then a child dies at a random point.
            if f.r.chance(400) {
                let k = f.r.below(3) as usize;
                ch.kill(&mut f, k);
            }
            if i % 256 == 0 && ch.all_gone(&mut f) {
                ch.kill_all(&mut f);
                ch.spawn(&mut f, seed, child_calls);
            }
        }
        if (i + 1) % BATCH == 0 {
            f.sweep(&ch.keep());
            f.refill();
            ch.share(&mut f);
            let v = f.e.violations();
            println!("test-fuzz: seed {seed}: {} calls, audit {v:?}", i + 1);
            if let Some(page) = text_changed() {
                ok = fail(
                    &f,
                    "fuzz_text_intact",
                    seed,
                    format_args!("after {} calls: text page {page:#x} changed", i + 1),
                );
                break;
            }
            if v != Ok(0) {
                ok = fail(
                    &f,
                    "fuzz_audit_clean",
                    seed,
                    format_args!("after {} calls: {v:?}", i + 1),
                );
                break;
            }
        }
    }
    ch.kill_all(&mut f);
    f.sweep(&[]);
    let after = settle(&mut f, baseline);
    let v = f.e.violations();
    let children = shared_calls().swap(0, Ordering::Relaxed);
    println!(
        "test-fuzz: seed {seed}: {} calls here, {children} in {} generations of children; audit {v:?}; counts {after:?}, before {baseline:?}",
        f.calls, ch.generations
    );
    TOTAL.fetch_add(f.calls + children, Ordering::Relaxed);
    if ok && v != Ok(0) {
        ok = fail(&f, "fuzz_audit_clean", seed, format_args!("at the end: {v:?}"));
    }
    if ok && after != Some(baseline) {
        let _ = mach_user::rpc::host_priv::host_tasks_dump(&mut f.e.rpc, f.e.host_priv);
        ok = fail(
            &f,
            "fuzz_counts_back_to_baseline",
            seed,
            format_args!("{after:?}, before {baseline:?}"),
        );
    }
    if ok {
        println!("test fuzz_seed_{seed} ... ok");
    }
    f.end_vault();
    ok
}

static TOTAL: AtomicU64 = AtomicU64::new(0);

unsafe extern "C" {
    /// The end of the program text (mach-user/user.ld).
    static __text_end: u8;
}

/// Pages of text checked, and a hash of each, taken at the start.
const TEXT_PAGES: usize = 64;
static TEXT_HASHES: [AtomicU64; TEXT_PAGES] = [const { AtomicU64::new(0) }; TEXT_PAGES];

/// The hash of text page `k` (FNV-1a over its words).
fn text_page_hash(k: usize) -> u64 {
    let at = test_programs::fuzz::IMAGE_LO + (k as u64) * PAGE;
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for i in 0..(PAGE / 8) {
        // SAFETY: the page lies in the program text (below __text_end, which
        // the callers check), mapped read-only for the program's life.
        let w = unsafe { core::ptr::read_volatile((at + i * 8) as *const u64) };
        h = (h ^ w).wrapping_mul(0x100_0000_01b3);
    }
    h
}

/// Pages of text to check (those wholly below `__text_end`).
fn text_pages() -> usize {
    let end = (&raw const __text_end) as u64;
    (((end - test_programs::fuzz::IMAGE_LO) / PAGE) as usize).min(TEXT_PAGES)
}

/// The first text page whose contents changed since the start, if any:
/// the text is read-only, so a change is memory given to the wrong task.
fn text_changed() -> Option<u64> {
    (0..text_pages())
        .find(|&k| text_page_hash(k) != TEXT_HASHES[k].load(Ordering::Relaxed))
        .map(|k| test_programs::fuzz::IMAGE_LO + k as u64 * PAGE)
}

fn main(args: mach_user::start::Args) -> i32 {
    let arg = |key: &str| args.iter().find_map(|a| a.strip_prefix(key));
    let calls = arg("calls=").and_then(|v| v.parse::<u64>().ok()).unwrap_or(20_000);
    let with_children = arg("children=") != Some("0");
    if args.iter().any(|a| a == "trace") {
        test_programs::fuzz::calls::TRACE.store(true, core::sync::atomic::Ordering::Relaxed);
    }
    // The page the children count their calls on, shared with each of them.
    let mut e = test_programs::ipc_env::Env::new();
    let page = vm::vm_allocate(&mut e.rpc, e.task, 0, PAGE, 1).unwrap_or(0);
    let _ = vm::vm_inherit(&mut e.rpc, e.task, page, PAGE, 0);
    protect(page, page + PAGE);
    SHARED.store(page, Ordering::Relaxed);
    let mut seeds = [0u64; 16];
    let mut n = 0;
    match (arg("seeds="), arg("seed=")) {
        (Some(list), _) => {
            for s in list.split(',').filter_map(|s| s.parse().ok()) {
                if n < seeds.len() {
                    seeds[n] = s;
                    n += 1;
                }
            }
        }
        (None, Some(s)) => {
            seeds[0] = s.parse().unwrap_or(1);
            n = 1;
        }
        _ => {
            seeds[0] = 1;
            n = 1;
        }
    }
    for k in 0..text_pages() {
        TEXT_HASHES[k].store(text_page_hash(k), Ordering::Relaxed);
    }
    let mut ok = true;
    for &seed in &seeds[..n] {
        println!("test-fuzz: seed={seed}, {calls} calls, children {with_children}");
        ok &= run_seed(seed, calls, with_children);
    }
    println!("test-fuzz: {} calls in all", TOTAL.load(Ordering::Relaxed));
    if ok { 0 } else { 1 }
}
