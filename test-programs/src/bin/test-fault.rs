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

extern "C" fn spinner(_arg: u64) -> ! {
    loop {
        core::hint::spin_loop();
    }
}

fn main(args: mach_user::start::Args) -> i32 {
    let kind = args.get(1).unwrap_or("");
    let stack = SPINNER_STACK.take().expect("stack taken once");
    if thread_create_running(spinner, stack, 0).is_err() {
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
