//! Thread-local storage bases: a thread sets its FS and GS bases with the
//! `thread_tls_base` trap (as `arch_prctl(ARCH_SET_FS)` will) and reads
//! through `%fs` / `%gs`; the bases survive context switches to a thread of
//! the same task with other bases and sleeping in `mach_msg`; another thread
//! reads and sets them with `thread_get_tls_state` / `thread_set_tls_state`;
//! bad values are refused.
#![no_std]
#![no_main]

use core::arch::asm;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use mach_user::abi::emulation::tls;
use mach_user::abi::kern_return::*;
use mach_user::abi::message::*;
use mach_user::ipc::{MsgBuf, mach_msg};
use mach_user::rpc::{task, thread};
use mach_user::thread::{StaticStack, thread_create_running};
use mach_user::trap::{swtch, thread_tls_base};
use test_programs::check_eq;
use test_programs::ipc_env::Env;

mach_user::entry!(main);

/// Blocks that threads point their bases at: the first word tells them apart.
#[repr(C, align(64))]
struct Block([u64; 8]);
static MAIN_FS: Block = Block([0xf5_0001, 0, 0, 0, 0, 0, 0, 0]);
static MAIN_GS: Block = Block([0x95_0001, 0, 0, 0, 0, 0, 0, 0]);
static OTHER_FS: Block = Block([0xf5_0002, 0, 0, 0, 0, 0, 0, 0]);
static SET_FS: Block = Block([0xf5_0003, 0, 0, 0, 0, 0, 0, 0]);
static SET_GS: Block = Block([0x95_0003, 0, 0, 0, 0, 0, 0, 0]);

fn addr(b: &'static Block) -> u64 {
    b as *const Block as u64
}

fn read_fs0() -> u64 {
    let v: u64;
    // SAFETY: reads the word at the thread's FS base, which the callers
    // point at one of the blocks above (static, readable) before calling.
    unsafe { asm!("mov %fs:0, {v}", v = out(reg) v, options(att_syntax, nostack, readonly)) };
    v
}

fn read_gs0() -> u64 {
    let v: u64;
    // SAFETY: as read_fs0, for the GS base.
    unsafe { asm!("mov %gs:0, {v}", v = out(reg) v, options(att_syntax, nostack, readonly)) };
    v
}

static OTHER_STACK: StaticStack<16384> = StaticStack::new();
static OTHER_READY: AtomicBool = AtomicBool::new(false);
static OTHER_STOP: AtomicBool = AtomicBool::new(false);
/// Reads of %fs:0 by the other thread that did not see its own block.
static OTHER_WRONG: AtomicU64 = AtomicU64::new(0);
static OTHER_READS: AtomicU64 = AtomicU64::new(0);

/// Runs beside main with its own FS base, yielding, checking it each time.
extern "C" fn other(_: u64) -> ! {
    let _ = thread_tls_base(tls::SET_FS, addr(&OTHER_FS));
    OTHER_READY.store(true, Ordering::Release);
    while !OTHER_STOP.load(Ordering::Acquire) {
        if read_fs0() != OTHER_FS.0[0] {
            OTHER_WRONG.fetch_add(1, Ordering::Relaxed);
        }
        OTHER_READS.fetch_add(1, Ordering::Relaxed);
        swtch();
    }
    mach_user::trap::thread_exit()
}

static WAKE_PORT: AtomicU32 = AtomicU32::new(0);
static WOKEN_FS: AtomicU64 = AtomicU64::new(0);
static WOKEN_GS: AtomicU64 = AtomicU64::new(0);
static WOKEN: AtomicBool = AtomicBool::new(false);

/// Waits for a message, then reports what its (set from outside) bases show.
extern "C" fn waiter(_: u64) -> ! {
    let mut b: MsgBuf<128> = MsgBuf::new();
    let _ = mach_msg(&mut b, MACH_RCV_MSG, 0, WAKE_PORT.load(Ordering::Acquire), 0);
    WOKEN_FS.store(read_fs0(), Ordering::Relaxed);
    WOKEN_GS.store(read_gs0(), Ordering::Relaxed);
    WOKEN.store(true, Ordering::Release);
    mach_user::trap::thread_exit()
}

/// Sleeps `ms` milliseconds in a receive that times out.
fn sleep(port: u32, ms: u32) -> i32 {
    let mut b: MsgBuf<128> = MsgBuf::new();
    mach_msg(&mut b, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, port, ms)
}

fn main(_args: mach_user::start::Args) -> i32 {
    let mut e = Env::new();
    let mut ok = true;

    ok &= check_eq!("tls_fs_base_starts_at_zero", thread_tls_base(tls::GET_FS, 0), Ok(0));
    ok &= check_eq!("tls_set_fs_base", thread_tls_base(tls::SET_FS, addr(&MAIN_FS)), Ok(0));
    ok &= check_eq!("tls_read_through_fs", read_fs0(), MAIN_FS.0[0]);
    ok &= check_eq!("tls_get_fs_base", thread_tls_base(tls::GET_FS, 0), Ok(addr(&MAIN_FS)));
    ok &= check_eq!("tls_set_gs_base", thread_tls_base(tls::SET_GS, addr(&MAIN_GS)), Ok(0));
    ok &= check_eq!("tls_read_through_gs", read_gs0(), MAIN_GS.0[0]);
    ok &= check_eq!("tls_get_gs_base", thread_tls_base(tls::GET_GS, 0), Ok(addr(&MAIN_GS)));
    // Kernel calls in between (which enter with swapgs) leave both alone.
    let _ = task::task_ipc_statistics(&mut e.rpc, e.task);
    ok &= check_eq!(
        "tls_bases_kept_across_calls",
        (read_fs0(), read_gs0()),
        (MAIN_FS.0[0], MAIN_GS.0[0])
    );

    ok &= check_eq!(
        "tls_refuses_kernel_address",
        thread_tls_base(tls::SET_FS, 0xffff_8000_0000_0000),
        Err(KERN_INVALID_ADDRESS)
    );
    ok &= check_eq!(
        "tls_refuses_non_canonical",
        thread_tls_base(tls::SET_GS, 0x0000_8000_0000_0000),
        Err(KERN_INVALID_ADDRESS)
    );
    ok &= check_eq!("tls_refuses_bad_op", thread_tls_base(4, 0), Err(KERN_INVALID_ARGUMENT));
    ok &= check_eq!(
        "tls_refused_sets_changed_nothing",
        (thread_tls_base(tls::GET_FS, 0), thread_tls_base(tls::GET_GS, 0)),
        (Ok(addr(&MAIN_FS)), Ok(addr(&MAIN_GS)))
    );

    // Context switches: another thread with another FS base runs between
    // our yields and our sleeps.
    if let Some(stack) = OTHER_STACK.take() {
        let _ = thread_create_running(other, stack, 0);
    }
    while !OTHER_READY.load(Ordering::Acquire) {
        swtch();
    }
    let port = e.port();
    let mut wrong = 0u64;
    for i in 0..20 {
        if i % 5 == 0 {
            let _ = sleep(port, 10);
        } else {
            swtch();
        }
        if read_fs0() != MAIN_FS.0[0] || read_gs0() != MAIN_GS.0[0] {
            wrong += 1;
        }
    }
    OTHER_STOP.store(true, Ordering::Release);
    ok &= check_eq!("tls_bases_survive_context_switches", wrong, 0);
    ok &= check_eq!(
        "tls_other_thread_keeps_its_own_base",
        (
            OTHER_WRONG.load(Ordering::Relaxed),
            OTHER_READS.load(Ordering::Relaxed) >= 10
        ),
        (0, true)
    );

    // Another thread's bases, through its port, while it waits.
    WAKE_PORT.store(port, Ordering::Release);
    let stack = OTHER_STACK_2
        .take()
        .map_or(0, |s| ((s.0.as_ptr() as u64 + s.0.len() as u64) & !15) - 8);
    let th = task::thread_create_running(&mut e.rpc, e.task, waiter as *const () as usize as u64, stack, 0);
    let th = th.unwrap_or(0);
    // Let it block in its receive.
    for _ in 0..5 {
        swtch();
    }
    ok &= check_eq!(
        "tls_state_of_new_thread_is_zero",
        thread::thread_get_tls_state(&mut e.rpc, th).map(|r| (r.fs_base, r.gs_base)),
        Ok((0, 0))
    );
    ok &= check_eq!(
        "tls_set_state",
        thread::thread_set_tls_state(&mut e.rpc, th, addr(&SET_FS), addr(&SET_GS)),
        Ok(())
    );
    ok &= check_eq!(
        "tls_get_state",
        thread::thread_get_tls_state(&mut e.rpc, th).map(|r| (r.fs_base, r.gs_base)),
        Ok((addr(&SET_FS), addr(&SET_GS)))
    );
    ok &= check_eq!(
        "tls_set_state_refuses_kernel_address",
        thread::thread_set_tls_state(&mut e.rpc, th, addr(&SET_FS), 0xffff_ffff_8000_0000),
        Err(KERN_INVALID_ADDRESS)
    );
    let me = mach_user::ipc::mach_thread_self();
    ok &= check_eq!(
        "tls_set_state_refuses_caller",
        thread::thread_set_tls_state(&mut e.rpc, me, 0, 0),
        Err(KERN_INVALID_ARGUMENT)
    );
    let mut b: MsgBuf<128> = MsgBuf::new();
    b.set_header(&MachMsgHeader {
        bits: mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, 0),
        size: 24,
        remote_port: port,
        local_port: 0,
        voucher_port: 0,
        id: 5,
    });
    let _ = mach_msg(&mut b, MACH_SEND_MSG, 24, 0, 0);
    for _ in 0..50 {
        if WOKEN.load(Ordering::Acquire) {
            break;
        }
        swtch();
    }
    ok &= check_eq!(
        "tls_set_state_seen_by_thread",
        (
            WOKEN.load(Ordering::Acquire),
            WOKEN_FS.load(Ordering::Relaxed),
            WOKEN_GS.load(Ordering::Relaxed)
        ),
        (true, SET_FS.0[0], SET_GS.0[0])
    );
    ok &= check_eq!(
        "tls_own_bases_unchanged",
        (read_fs0(), read_gs0()),
        (MAIN_FS.0[0], MAIN_GS.0[0])
    );
    let _ = e.dealloc(th);
    let _ = e.dealloc(me);
    let _ = e.destroy(port);
    ok &= check_eq!("tls_audit", e.violations(), Ok(0));
    if ok { 0 } else { 1 }
}

static OTHER_STACK_2: StaticStack<16384> = StaticStack::new();
