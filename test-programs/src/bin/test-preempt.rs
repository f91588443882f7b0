//! Preemption: two CPU-bound threads that never yield both make progress.
//!
//! The main thread spins until the second thread has finished; the second
//! thread spins until it has seen the main thread advance. Neither ever enters
//! the kernel while spinning, so without timer preemption one of them would
//! spin forever and the run would time out.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use mach_user::abi::traps::BootInfoKind;
use mach_user::thread::{StaticStack, thread_create_running};
use mach_user::trap::{boot_info, thread_exit};
use test_programs::{check_eq, report};

mach_user::entry!(main);

static MAIN_COUNT: AtomicU64 = AtomicU64::new(0);
static SECOND_COUNT: AtomicU64 = AtomicU64::new(0);
static SECOND_DONE: AtomicBool = AtomicBool::new(false);
static SECOND_STACK: StaticStack<16384> = StaticStack::new();

const PROGRESS: u64 = 200_000;

extern "C" fn second(_arg: u64) -> ! {
    let start = MAIN_COUNT.load(Ordering::Relaxed);
    while MAIN_COUNT.load(Ordering::Relaxed) < start + PROGRESS {
        SECOND_COUNT.fetch_add(1, Ordering::Relaxed);
    }
    SECOND_DONE.store(true, Ordering::Release);
    thread_exit()
}

fn main(_args: mach_user::start::Args) -> i32 {
    let stack = SECOND_STACK.take().expect("stack taken once");
    let id = thread_create_running(second, stack, 0);
    let mut ok = check_eq!("thread_create_running", id.is_ok(), true);
    let threads_during = boot_info(BootInfoKind::Threads).unwrap_or(0);
    // Other tasks start and end threads meanwhile, so only a lower bound holds.
    ok &= check_eq!("thread_count_includes_both_threads", threads_during >= 2, true);
    let switches_before = boot_info(BootInfoKind::ContextSwitches).unwrap_or(0);
    while !SECOND_DONE.load(Ordering::Acquire) {
        MAIN_COUNT.fetch_add(1, Ordering::Relaxed);
    }
    let switches_after = boot_info(BootInfoKind::ContextSwitches).unwrap_or(0);
    let second_count = SECOND_COUNT.load(Ordering::Relaxed);
    ok &= report(
        "preempt_two_cpu_bound_threads",
        second_count > 0 && switches_after > switches_before,
        format_args!("second thread count {second_count}, switches {switches_before}..{switches_after}"),
    );
    if ok { 0 } else { 1 }
}
