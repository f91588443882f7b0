//! Provokes one CPU exception (named by the first argument) while a second
//! thread of the same task is running. The kernel must end this task, both
//! threads, and nothing else: it checks the exception against the module's
//! `expect=` word and reports `test NAME ... ok`.
#![no_std]
#![no_main]

use core::arch::asm;
use mach_user::println;
use mach_user::thread::{StaticStack, thread_create_running};
use mach_user::trap::swtch;

mach_user::entry!(main);

static SPINNER_STACK: StaticStack<8192> = StaticStack::new();

extern "C" fn spinner(block: u64) -> ! {
    if block != 0 {
        // Wait in the kernel, with no timeout, for a message that never comes:
        // the task's death must interrupt this thread.
        let port = mach_user::ipc::mach_reply_port();
        let mut buf: mach_user::ipc::MsgBuf<256> = mach_user::ipc::MsgBuf::new();
        mach_user::ipc::mach_msg(&mut buf, mach_user::abi::message::MACH_RCV_MSG, 0, port, 0);
    }
    loop {
        core::hint::spin_loop();
    }
}

/// Leaves rights and memory in flight: a port with a queued message that
/// carries a receive right (with its own queued message), a send-once
/// right and out-of-line memory. Task death must clean all of it up.
fn leave_messages_in_flight() {
    use mach_user::abi::message::*;
    use mach_user::ipc::{MsgBuf, mach_msg, mach_reply_port};
    let a = mach_reply_port();
    let b = mach_reply_port();
    let mut m: MsgBuf<256> = MsgBuf::new();
    let data = [7u8; 5000];
    m.set_header(&MachMsgHeader {
        bits: mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, 0),
        size: 24,
        remote_port: b,
        local_port: 0,
        voucher_port: 0,
        id: 1,
    });
    mach_msg(&mut m, MACH_SEND_MSG, 24, 0, 0);
    m.put32(24, 3);
    m.put32(28, b);
    m.put32(32, 0);
    m.0[36..40].copy_from_slice(&[0, 0, MACH_MSG_TYPE_MOVE_RECEIVE, MACH_MSG_PORT_DESCRIPTOR]);
    m.put32(40, a);
    m.put32(44, 0);
    m.0[48..52].copy_from_slice(&[0, 0, MACH_MSG_TYPE_MAKE_SEND_ONCE, MACH_MSG_PORT_DESCRIPTOR]);
    m.put64(52, data.as_ptr() as u64);
    m.0[60..64].copy_from_slice(&[0, 0, 0, MACH_MSG_OOL_DESCRIPTOR]);
    m.put32(64, data.len() as u32);
    m.set_header(&MachMsgHeader {
        bits: mach_msgh_bits(MACH_MSG_TYPE_MAKE_SEND, MACH_MSG_TYPE_MAKE_SEND_ONCE) | MACH_MSGH_BITS_COMPLEX,
        size: 68,
        remote_port: a,
        local_port: a,
        voucher_port: 0,
        id: 2,
    });
    mach_msg(&mut m, MACH_SEND_MSG, 68, 0, 0);
}

/// Touches VM memory it may not: a read-only page, or a deallocated one.
fn vm_fault(kind: &str) {
    use mach_user::rpc::{Rpc, vm};
    let mut rpc = Rpc::new();
    let task = mach_user::ipc::mach_task_self();
    let a = vm::vm_allocate(&mut rpc, task, 0, 4096, 1).unwrap_or(0);
    // SAFETY: `a` is a fresh writable page; the second access is the fault under test.
    unsafe {
        core::ptr::write_volatile(a as *mut u8, 1);
        if kind == "vm_write_protected" {
            let _ = vm::vm_protect(&mut rpc, task, a, 4096, 0, 1);
            core::ptr::write_volatile(a as *mut u8, 2);
        } else {
            let _ = vm::vm_deallocate(&mut rpc, task, a, 4096);
            let v = core::ptr::read_volatile(a as *const u8);
            println!("read {v}");
        }
    }
}

static DYING_PAGER_STACK: StaticStack<16384> = StaticStack::new();

/// A "pager" that takes the init and the first data request, then destroys
/// its memory object port without answering.
extern "C" fn dying_pager(port: u64) -> ! {
    use mach_user::abi::message::MACH_RCV_MSG;
    let mut b: mach_user::ipc::MsgBuf<512> = mach_user::ipc::MsgBuf::new();
    for _ in 0..2 {
        mach_user::ipc::mach_msg(&mut b, MACH_RCV_MSG, 0, port as u32, 0);
    }
    let mut rpc = mach_user::rpc::Rpc::new();
    let _ = mach_user::rpc::mach_port::mach_port_destroy(&mut rpc, mach_user::ipc::mach_task_self(), port as u32);
    loop {
        mach_user::trap::swtch();
    }
}

/// Touches pager-backed memory whose pager fails: it answers with an error,
/// is already dead, or dies while the fault waits. The fault must end the task.
fn pager_fault(kind: &str) {
    use mach_user::rpc::{Rpc, mach_port, vm};
    let mut rpc = Rpc::new();
    let task = mach_user::ipc::mach_task_self();
    let object = mach_user::ipc::mach_reply_port();
    let poly = mach_interfaces::PolyPort {
        name: object,
        disposition: mach_user::abi::message::MACH_MSG_TYPE_MAKE_SEND,
    };
    let _ = mach_port::mach_port_insert_right(&mut rpc, task, object, poly);
    match kind {
        "pager_error" => {
            test_programs::pager::start(object);
        }
        "pager_dies_mid_fault" => {
            if let Some(stack) = DYING_PAGER_STACK.take() {
                let _ = thread_create_running(dying_pager, stack, object as u64);
            }
        }
        _ => {}
    }
    let mapped = vm::vm_map(&mut rpc, task, 0, 4 * 4096, 1, object, 0, 0, 3, 7, 1);
    let at = mapped.unwrap_or(0);
    if kind == "pager_dead" {
        let _ = mach_port::mach_port_mod_refs(&mut rpc, task, object, 1, -1);
    }
    let page = if kind == "pager_error" { 3 } else { 0 };
    // SAFETY: mapped above; the read is the fault under test.
    let v = unsafe { core::ptr::read_volatile((at + page * 4096) as *const u8) };
    println!("read {v}");
}

fn main(args: mach_user::start::Args) -> i32 {
    let kind = args.get(1).unwrap_or("");
    let stack = SPINNER_STACK.take().expect("stack taken once");
    let block = matches!(kind, "divide_error" | "invalid_opcode" | "unix_syscall");
    leave_messages_in_flight();
    if thread_create_running(spinner, stack, block as u64).is_err() {
        println!("test-fault: could not start the spinner thread");
    }
    swtch();
    println!("test-fault: provoking {kind}");
    // SAFETY: each arm deliberately faults; that is the test.
    unsafe {
        match kind {
            "page_fault" => {
                let v = core::ptr::read_volatile(0x10 as *const u64);
                println!("read {v}");
            }
            "write_text" => core::ptr::write_volatile(main as *const () as *mut u8, 0),
            "kernel_read" => {
                let v = core::ptr::read_volatile(0xffff_ffff_8010_0000u64 as *const u64);
                println!("read {v}");
            }
            "exec_stack" => {
                let code = [0xc3u8; 16];
                let f: extern "C" fn() = core::mem::transmute(code.as_ptr());
                f();
            }
            "general_protection" => asm!("hlt"),
            "vm_write_protected" | "vm_deallocated" => vm_fault(kind),
            "pager_error" | "pager_dead" | "pager_dies_mid_fault" => pager_fault(kind),
            "divide_error" => {
                asm!("xor edx, edx", "xor eax, eax", "xor ecx, ecx", "div ecx", out("eax") _, out("edx") _, out("ecx") _)
            }
            "invalid_opcode" => asm!("ud2"),
            "unix_syscall" => {
                asm!("syscall", inlateout("rax") 39u64 => _, lateout("rcx") _, lateout("r11") _)
            }
            _ => println!("test-fault: unknown kind '{kind}'"),
        }
    }
    println!("test-fault: {kind} did not fault");
    0
}
