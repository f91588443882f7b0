//! The bootstrap task: the first user task the kernel starts.
//!
//! In Mach it starts the system's servers (the default pager, the Unix server)
//! and hands them their ports. Until those exist it shows the system working:
//! its arguments, the kernel's statistics, and a second thread.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU64, Ordering};
use mach_user::abi::traps::BootInfoKind;
use mach_user::println;
use mach_user::thread::{StaticStack, thread_create_running};
use mach_user::trap::{boot_info, swtch, thread_exit};

mach_user::entry!(main);

static WORKER_RESULT: AtomicU64 = AtomicU64::new(0);
static WORKER_STACK: StaticStack<16384> = StaticStack::new();

extern "C" fn worker(n: u64) -> ! {
    // Sum of the first n integers, the slow way.
    let sum = (1..=n).fold(0u64, |a, b| a.wrapping_add(b));
    WORKER_RESULT.store(sum, Ordering::Release);
    thread_exit()
}

fn main(args: mach_user::start::Args) -> i32 {
    println!("bootstrap: running in user mode as a Mach task");
    for (i, a) in args.iter().enumerate() {
        println!("bootstrap: argv[{i}] = {a}");
    }
    let stat = |k| boot_info(k).unwrap_or(0);
    println!(
        "bootstrap: {} of {} physical frames free, {} tasks, {} threads, timer at {} Hz",
        stat(BootInfoKind::FreeFrames),
        stat(BootInfoKind::TotalFrames),
        stat(BootInfoKind::Tasks),
        stat(BootInfoKind::Threads),
        stat(BootInfoKind::TickHz)
    );
    let stack = WORKER_STACK.take().expect("stack taken once");
    match thread_create_running(worker, stack, 1_000_000) {
        Ok(id) => println!("bootstrap: started worker thread {id}"),
        Err(kr) => println!(
            "bootstrap: thread_create_running failed: {}",
            mach_user::abi::kern_return::name(kr)
        ),
    }
    while WORKER_RESULT.load(Ordering::Acquire) == 0 {
        swtch();
    }
    println!(
        "bootstrap: worker computed {} after {} ticks",
        WORKER_RESULT.load(Ordering::Acquire),
        stat(BootInfoKind::Ticks)
    );
    println!(
        "bootstrap: the default pager and the Unix server are not part of this system yet; done"
    );
    0
}
