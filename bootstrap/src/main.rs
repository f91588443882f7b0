//! The bootstrap task: the first user task the kernel starts.
//!
//! It receives on the bootstrap port (named by `--bootstrap-receive=NAME` on
//! its command line) and serves the `bootstrap` interface there: tasks
//! register services and look them up. Every other boot task holds a send
//! right to this port, so when the last of them is gone the kernel's
//! no-senders notification arrives and the bootstrap task exits, which ends
//! the run. Later the bootstrap task will also start the default pager and the
//! Unix server.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU64, Ordering};
use mach_interfaces::bootstrap::{self, BOOTSTRAP_NO_MEMORY, BOOTSTRAP_UNKNOWN_SERVICE, BootstrapServer};
use mach_interfaces::{Dispatch, PolyPort, Release};
use mach_user::abi::kern_return::KERN_SUCCESS;
use mach_user::abi::message::*;
use mach_user::abi::port::MACH_NOTIFY_NO_SENDERS;
use mach_user::abi::traps::BootInfoKind;
use mach_user::ipc::{MsgBuf, mach_msg, mach_task_self};
use mach_user::println;
use mach_user::rpc::{Rpc, mach_port};
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

/// Registered services: (key, send right name).
struct Names {
    rpc: Rpc,
    task: u32,
    table: [(u64, u32); 64],
    used: usize,
}

impl Release for Names {
    fn release_port(&mut self, name: u32, _received_type: u8) {
        let _ = mach_port::mach_port_deallocate(&mut self.rpc, self.task, name);
    }
    fn release_ool(&mut self, _address: u64, _size: u64) {}
    fn release_ool_ports(&mut self, _address: u64, _count: u32, _received_type: u8) {}
}

impl BootstrapServer for Names {
    fn bootstrap_register(&mut self, _bp: u32, service: u64, port: PolyPort) -> Result<(), i32> {
        if let Some(slot) = self.table[..self.used].iter_mut().find(|(k, _)| *k == service) {
            let old = core::mem::replace(&mut slot.1, port.name);
            let _ = mach_port::mach_port_deallocate(&mut self.rpc, self.task, old);
            return Ok(());
        }
        if self.used == self.table.len() {
            return Err(BOOTSTRAP_NO_MEMORY);
        }
        self.table[self.used] = (service, port.name);
        self.used += 1;
        Ok(())
    }

    fn bootstrap_look_up(&mut self, _bp: u32, service: u64) -> Result<u32, i32> {
        self.table[..self.used]
            .iter()
            .find(|(k, _)| *k == service)
            .map(|&(_, n)| n)
            .ok_or(BOOTSTRAP_UNKNOWN_SERVICE)
    }
}

fn demo() {
    let stat = |k| boot_info(k).unwrap_or(0);
    println!(
        "bootstrap: {} of {} physical frames free, {} tasks, {} threads, timer at {} Hz",
        stat(BootInfoKind::FreeFrames),
        stat(BootInfoKind::TotalFrames),
        stat(BootInfoKind::Tasks),
        stat(BootInfoKind::Threads),
        stat(BootInfoKind::TickHz)
    );
    let Some(stack) = WORKER_STACK.take() else { return };
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
    println!("bootstrap: worker computed {}", WORKER_RESULT.load(Ordering::Acquire));
}

fn main(args: mach_user::start::Args) -> i32 {
    println!("bootstrap: running in user mode as a Mach task");
    let Some(port) = mach_user::start::port_arg(&args, "--bootstrap-receive=") else {
        println!("bootstrap: no bootstrap port given");
        return 1;
    };
    demo();
    let mut names = Names {
        rpc: Rpc::new(),
        task: mach_task_self(),
        table: [(0, 0); 64],
        used: 0,
    };
    // Exit when nobody holds a send right to the bootstrap port any more.
    let notify = PolyPort {
        name: port,
        disposition: MACH_MSG_TYPE_MAKE_SEND_ONCE,
    };
    let kr =
        mach_port::mach_port_request_notification(&mut names.rpc, names.task, port, MACH_NOTIFY_NO_SENDERS, 0, notify);
    if kr.is_err() {
        println!("bootstrap: cannot request no-senders: {kr:?}");
        return 1;
    }
    println!("bootstrap: serving names on port {port:#x}");
    let mut req: MsgBuf<1024> = MsgBuf::new();
    let mut reply: MsgBuf<1024> = MsgBuf::new();
    loop {
        if mach_msg(&mut req, MACH_RCV_MSG, 0, port, 0) != MACH_MSG_SUCCESS {
            continue;
        }
        let h = req.header();
        if h.id == MACH_NOTIFY_NO_SENDERS && req.trailer().sender_task() == 0 {
            break;
        }
        let size = (h.size as usize + MACH_MSG_TRAILER_SIZE).min(req.0.len());
        match bootstrap::bootstrap_server(&mut names, &req.0[..size], &mut reply.0) {
            Dispatch::Reply(n) | Dispatch::BadId(n) if n > 0 => {
                let _ = mach_msg(&mut reply, MACH_SEND_MSG | MACH_SEND_TIMEOUT, n as u32, 0, 0);
            }
            _ => {}
        }
    }
    println!(
        "bootstrap: no task holds the bootstrap port any more; {} services were registered",
        names.used
    );
    // Every other task is gone: the kernel's IPC state must be consistent.
    // The audit is a host_priv call: the kernel gave this boot task the port.
    let host_priv = mach_user::start::host_priv_port(&args).unwrap_or(0);
    match mach_user::rpc::host_priv::host_ipc_audit(&mut names.rpc, host_priv) {
        Ok(a) if a.violations == 0 => println!("test ipc_audit_after_all_tasks ... ok"),
        Ok(a) => println!("test ipc_audit_after_all_tasks ... FAILED: {} violations", a.violations),
        Err(e) => println!("test ipc_audit_after_all_tasks ... FAILED: host_ipc_audit returned {e}"),
    }
    let _ = KERN_SUCCESS;
    0
}
