//! Thread calls on thread ports: suspend stops a CPU-bound thread, get_state
//! reads its registers, set_state moves it to another function with another
//! argument, resume runs it there, terminate ends a thread, and the rules
//! (resume of a running thread, state of the caller itself) hold.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU64, Ordering};
use mach_user::abi::kern_return::*;
use mach_user::rpc::{task, thread};
use test_programs::check_eq;
use test_programs::ipc_env::Env;

mach_user::entry!(main);

static COUNTER: AtomicU64 = AtomicU64::new(0);
static LANDED: AtomicU64 = AtomicU64::new(0);
#[repr(C, align(16))]
struct Stack([u8; 16384]);
static mut STACK_A: Stack = Stack([0; 16384]);
static mut STACK_B: Stack = Stack([0; 16384]);

extern "C" fn spin(_: u64) -> ! {
    loop {
        COUNTER.fetch_add(1, Ordering::Relaxed);
    }
}

extern "C" fn landing(arg: u64) -> ! {
    LANDED.store(arg, Ordering::Release);
    mach_user::trap::thread_exit()
}

fn settle() {
    for _ in 0..20 {
        mach_user::trap::swtch();
    }
}

fn main(_args: mach_user::start::Args) -> i32 {
    let mut e = Env::new();
    let mut ok = true;
    let top_a = &raw const STACK_A as u64 + 16384 - 8;
    let worker =
        task::thread_create_running(&mut e.rpc, e.task, spin as *const () as usize as u64, top_a, 0).unwrap_or(0);
    settle();
    ok &= check_eq!("worker_runs", COUNTER.load(Ordering::Relaxed) > 0, true);
    ok &= check_eq!(
        "thread_resume_not_suspended",
        thread::thread_resume(&mut e.rpc, worker),
        Err(KERN_FAILURE)
    );
    ok &= check_eq!("thread_suspend", thread::thread_suspend(&mut e.rpc, worker), Ok(()));
    settle();
    let c1 = COUNTER.load(Ordering::Relaxed);
    settle();
    ok &= check_eq!("suspended_thread_does_not_run", COUNTER.load(Ordering::Relaxed), c1);
    let st = thread::thread_get_state(&mut e.rpc, worker);
    let in_stack = st.as_ref().is_ok_and(|s| s.rsp <= top_a && s.rsp > top_a - 16384);
    ok &= check_eq!("thread_get_state_sees_its_stack", in_stack, true);
    let self_port = mach_user::ipc::mach_thread_self();
    ok &= check_eq!(
        "thread_get_state_of_caller",
        thread::thread_get_state(&mut e.rpc, self_port).map(|_| ()),
        Err(KERN_INVALID_ARGUMENT)
    );
    if let Ok(s) = st {
        let r = thread::thread_set_state(
            &mut e.rpc,
            worker,
            landing as *const () as usize as u64,
            s.rsp & !15,
            s.rflags,
            0,
            0,
            0,
            0,
            0,
            77,
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
        ok &= check_eq!("thread_set_state", r, Ok(()));
    }
    let bad = thread::thread_set_state(
        &mut e.rpc,
        worker,
        u64::MAX,
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
        0,
        0,
        0,
    );
    ok &= check_eq!("thread_set_state_kernel_rip", bad, Err(KERN_INVALID_ADDRESS));
    ok &= check_eq!("thread_resume", thread::thread_resume(&mut e.rpc, worker), Ok(()));
    for _ in 0..1000 {
        if LANDED.load(Ordering::Acquire) != 0 {
            break;
        }
        mach_user::trap::swtch();
    }
    ok &= check_eq!("resumed_thread_runs_new_state", LANDED.load(Ordering::Acquire), 77);
    // thread_terminate ends a spinning thread.
    let top_b = &raw const STACK_B as u64 + 16384 - 8;
    let victim =
        task::thread_create_running(&mut e.rpc, e.task, spin as *const () as usize as u64, top_b, 0).unwrap_or(0);
    settle();
    ok &= check_eq!("thread_terminate", thread::thread_terminate(&mut e.rpc, victim), Ok(()));
    settle();
    let c2 = COUNTER.load(Ordering::Relaxed);
    settle();
    ok &= check_eq!("terminated_thread_stops", COUNTER.load(Ordering::Relaxed), c2);
    ok &= check_eq!(
        "dead_thread_port",
        e.ptype(victim),
        Ok(mach_user::abi::port::MACH_PORT_TYPE_DEAD_NAME)
    );
    ok &= check_eq!("thread_audit", e.violations(), Ok(0));
    if ok { 0 } else { 1 }
}
