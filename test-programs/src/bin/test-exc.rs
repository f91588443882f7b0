//! Exceptions as messages: a thread of this task writes to a read-only page;
//! the kernel sends exception_raise to the task's exception port; a handler
//! thread (serving the generated `exc` interface) makes the page writable and
//! replies KERN_SUCCESS; the faulting write is retried and succeeds.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU32, Ordering};
use mach_interfaces::PolyPort;
use mach_user::abi::exception::EXC_BAD_ACCESS;
use mach_user::abi::message::*;
use mach_user::rpc::{Rpc, task, vm};
use mach_user::thread::{StaticStack, thread_create_running};
use test_programs::check_eq;
use test_programs::exc_handler;
use test_programs::ipc_env::Env;

mach_user::entry!(main);

static EXC_PORT: AtomicU32 = AtomicU32::new(0);
static HANDLER_STACK: StaticStack<32768> = StaticStack::new();

/// Fixes the fault through the task port the message carried.
fn fix_fault(rpc: &mut Rpc, task: u32, subcode: i64) -> Result<(), i32> {
    let page = (subcode as u64) & !0xfff;
    vm::vm_protect(rpc, task, page, 4096, 0, 3)
}

extern "C" fn handler(_: u64) -> ! {
    exc_handler::serve(EXC_PORT.load(Ordering::Acquire), 1, fix_fault);
    mach_user::trap::thread_exit()
}

fn main(_args: mach_user::start::Args) -> i32 {
    let mut e = Env::new();
    let mut ok = true;
    let port = e.port();
    EXC_PORT.store(port, Ordering::Release);
    let poly = PolyPort {
        name: port,
        disposition: MACH_MSG_TYPE_MAKE_SEND,
    };
    ok &= check_eq!(
        "task_set_exception_port",
        task::task_set_exception_port(&mut e.rpc, e.task, poly),
        Ok(())
    );
    let page = vm::vm_allocate(&mut e.rpc, e.task, 0, 4096, 1).unwrap_or(0);
    // SAFETY: a fresh page of ours.
    unsafe { core::ptr::write_volatile(page as *mut u64, 42) };
    let _ = vm::vm_protect(&mut e.rpc, e.task, page, 4096, 0, 1);
    let Some(stack) = HANDLER_STACK.take() else { return 1 };
    let _ = thread_create_running(handler, stack, 0);
    // This write faults; the handler makes the page writable and it is retried.
    // SAFETY: the page is ours; the write is the fault under test.
    unsafe { core::ptr::write_volatile(page as *mut u64, 43) };
    // SAFETY: as above.
    ok &= check_eq!(
        "faulting_write_retried_after_handler",
        unsafe { core::ptr::read_volatile(page as *const u64) },
        43
    );
    ok &= check_eq!(
        "exception_type_is_bad_access",
        exc_handler::SEEN.exception.load(Ordering::Acquire),
        EXC_BAD_ACCESS as i64
    );
    ok &= check_eq!(
        "exception_code_is_page_fault_vector",
        exc_handler::SEEN.code.load(Ordering::Acquire),
        14
    );
    ok &= check_eq!(
        "exception_subcode_is_address",
        exc_handler::SEEN.subcode.load(Ordering::Acquire) as u64,
        page
    );
    let none = PolyPort {
        name: 0,
        disposition: MACH_MSG_TYPE_COPY_SEND,
    };
    ok &= check_eq!(
        "clear_exception_port",
        task::task_set_exception_port(&mut e.rpc, e.task, none),
        Ok(())
    );
    let bad = PolyPort {
        name: port,
        disposition: MACH_MSG_TYPE_MAKE_SEND_ONCE,
    };
    ok &= check_eq!(
        "exception_port_must_be_send_right",
        task::task_set_exception_port(&mut e.rpc, e.task, bad),
        Err(mach_user::abi::kern_return::KERN_INVALID_CAPABILITY)
    );
    // A kernel port (here the task's own, which would also keep a task
    // without threads alive) handles no exceptions.
    let own = PolyPort {
        name: e.task,
        disposition: MACH_MSG_TYPE_COPY_SEND,
    };
    ok &= check_eq!(
        "exception_port_not_a_kernel_port",
        task::task_set_exception_port(&mut e.rpc, e.task, own),
        Err(mach_user::abi::kern_return::KERN_INVALID_ARGUMENT)
    );
    ok &= check_eq!("exc_audit", e.violations(), Ok(0));
    if ok { 0 } else { 1 }
}
