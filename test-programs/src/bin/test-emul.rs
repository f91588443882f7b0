//! System call redirection (`task_set_emulation_vector`): a `syscall` with a
//! non-negative number enters this program's own emulation entry (an asm
//! stub below) with the program's registers, `rcx` = the return address,
//! `r11` = `rflags` and `rsp` below the red zone; the stub returns to the
//! program with a result without entering the kernel. A number without an
//! entry raises `EXC_SYSCALL` to the exception port; the catch-all entry
//! takes every number; bad vectors are refused; a child made with
//! `task_create(inherit_memory)` inherits the vector and its `syscall`s are
//! redirected too.
#![no_std]
#![no_main]

use core::arch::{asm, global_asm};
use core::sync::atomic::{AtomicU32, Ordering};
use mach_interfaces::PolyPort;
use mach_user::abi::emulation::{EMULATION_CATCH_ALL, EMULATION_RED_ZONE, EMULATION_VECTOR_MAX};
use mach_user::abi::exception::EXC_SYSCALL;
use mach_user::abi::kern_return::*;
use mach_user::abi::message::*;
use mach_user::ipc::{MsgBuf, mach_msg};
use mach_user::ool::OolRegion;
use mach_user::rpc::{Rpc, mach_port as mp, task};
use mach_user::thread::{StaticStack, thread_create_running};
use test_programs::check_eq;
use test_programs::exc_handler;
use test_programs::ipc_env::Env;

mach_user::entry!(main);

/// What the emulation entry saw, in this order: rax, rdi, rsi, rdx, r10,
/// r8, r9, rcx, r11, rsp, r12, r13, r14, r15; then the number of entries.
static mut EMUL_SEEN: [u64; 15] = [0; 15];

global_asm!(
    r#"
    .text
    .global test_emul_entry
test_emul_entry:
    mov %rax, {seen}+0(%rip)
    mov %rdi, {seen}+8(%rip)
    mov %rsi, {seen}+16(%rip)
    mov %rdx, {seen}+24(%rip)
    mov %r10, {seen}+32(%rip)
    mov %r8, {seen}+40(%rip)
    mov %r9, {seen}+48(%rip)
    mov %rcx, {seen}+56(%rip)
    mov %r11, {seen}+64(%rip)
    mov %rsp, {seen}+72(%rip)
    mov %r12, {seen}+80(%rip)
    mov %r13, {seen}+88(%rip)
    mov %r14, {seen}+96(%rip)
    mov %r15, {seen}+104(%rip)
    incq {seen}+112(%rip)
    /* The result: the first two arguments' sum. */
    mov %rdi, %rax
    add %rsi, %rax
    /* Back to the program: its flags, its stack, its next instruction. */
    push %r11
    popfq
    lea {red}(%rsp), %rsp
    jmp *%rcx
    "#,
    seen = sym EMUL_SEEN,
    red = const EMULATION_RED_ZONE,
    options(att_syntax)
);

unsafe extern "C" {
    fn test_emul_entry();
}

fn entry_address() -> u64 {
    test_emul_entry as *const () as usize as u64
}

fn seen() -> [u64; 15] {
    // SAFETY: EMUL_SEEN is only written by the emulation entry, which runs
    // on this thread in the middle of `unix_syscall` and has returned.
    unsafe { core::ptr::read_volatile(&raw const EMUL_SEEN) }
}

/// One `syscall` as a Linux program makes it, and what the program saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Call {
    result: u64,
    /// The address of the instruction after `syscall`.
    return_address: u64,
    /// rflags just before `syscall`.
    flags: u64,
    /// rsp just before `syscall`.
    rsp: u64,
    /// rcx after the call (the emulation entry returns through it).
    rcx_after: u64,
    /// r12 and r13 after the call (set to KEPT before it).
    kept: [u64; 2],
}

const ARGS: [u64; 6] = [
    0x1111_0000_0000_0001,
    0x2222_0000_0000_0002,
    0x3333_0000_0000_0003,
    0x4444_0000_0000_0004,
    0x5555_0000_0000_0005,
    0x6666_0000_0000_0006,
];
const KEPT: [u64; 2] = [0x1212, 0x1313];

fn unix_syscall(number: u64) -> Call {
    let (result, rcx_after, r12, r13): (u64, u64, u64, u64);
    // Written by the asm before `syscall`: return address, rflags, rsp.
    let mut before = [0u64; 3];
    // SAFETY: a `syscall` with a non-negative number: the kernel redirects
    // it to test_emul_entry (which keeps every register but rax, rcx and
    // r11, and returns here with rsp as it was), raises EXC_SYSCALL (the
    // handler resumes the thread here with its registers unchanged) or ends
    // the task. pushfq/pop use the stack, which the asm may (no `nostack`);
    // `out` points at `before`, three writable words.
    unsafe {
        asm!(
            "lea 3f(%rip), %rcx",
            "mov %rcx, 0({out})",
            "pushfq",
            "pop %rcx",
            "mov %rcx, 8({out})",
            "mov %rsp, 16({out})",
            "syscall",
            "3:",
            out = in(reg) before.as_mut_ptr(),
            inout("rax") number => result,
            in("rdi") ARGS[0],
            in("rsi") ARGS[1],
            in("rdx") ARGS[2],
            in("r10") ARGS[3],
            in("r8") ARGS[4],
            in("r9") ARGS[5],
            inout("r12") KEPT[0] => r12,
            inout("r13") KEPT[1] => r13,
            out("rcx") rcx_after,
            out("r11") _,
            options(att_syntax)
        );
    }
    Call {
        result,
        return_address: before[0],
        flags: before[1],
        rsp: before[2],
        rcx_after,
        kept: [r12, r13],
    }
}

static mut SAVED_RSP: u64 = 0;

/// `syscall` `number` made with `rsp` = `rsp`; returns rax after it.
fn syscall_with_rsp(number: u64, rsp: u64) -> u64 {
    let result: u64;
    // SAFETY: the stack pointer is parked in SAVED_RSP across the `syscall`
    // and restored right after it; nothing touches the stack in between (the
    // kernel, which does not redirect this call, raises EXC_SYSCALL and the
    // handler resumes the thread after the instruction, registers unchanged).
    unsafe {
        asm!(
            "mov %rsp, {saved}(%rip)",
            "mov {sp}, %rsp",
            "syscall",
            "mov {saved}(%rip), %rsp",
            saved = sym SAVED_RSP,
            sp = in(reg) rsp,
            inout("rax") number => result,
            out("rcx") _,
            out("r11") _,
            options(att_syntax)
        );
    }
    result
}

static EXC_PORT: AtomicU32 = AtomicU32::new(0);
static HANDLER_STACK: StaticStack<32768> = StaticStack::new();

/// Answers two exception_raise messages with "resume".
extern "C" fn handler(_: u64) -> ! {
    exc_handler::serve(EXC_PORT.load(Ordering::Acquire), 2, |_, _, _| Ok(()));
    mach_user::trap::thread_exit()
}

/// The vector as task_get_emulation_vector reports it.
fn vector_of(rpc: &mut Rpc, task: u32) -> Result<(i32, [u64; 4], usize), i32> {
    let r = task::task_get_emulation_vector(rpc, task)?;
    let count = r.emulation_vector.count as usize;
    let region = OolRegion::u64s(r.emulation_vector);
    let mut first = [0u64; 4];
    for (d, w) in first.iter_mut().zip(region.words64()) {
        *d = w;
    }
    Ok((r.vector_start, first, count))
}

/// A redirected call: the entry saw the program's registers and returned the result.
fn check_redirected(name: &str, number: u64, entries_before: u64) -> bool {
    let c = unix_syscall(number);
    let s = seen();
    let mut ok = true;
    let n = |what: &str| {
        let mut b = heapless_name::Name::new();
        b.push(name);
        b.push("_");
        b.push(what);
        b
    };
    ok &= check_eq!(n("entered_once").as_str(), s[14], entries_before + 1);
    ok &= check_eq!(n("entry_saw_rax_number").as_str(), s[0], number);
    ok &= check_eq!(
        n("entry_saw_arguments").as_str(),
        [s[1], s[2], s[3], s[4], s[5], s[6]],
        ARGS
    );
    ok &= check_eq!(n("entry_saw_rcx_return_address").as_str(), s[7], c.return_address);
    ok &= check_eq!(n("entry_saw_r11_rflags").as_str(), s[8], c.flags);
    ok &= check_eq!(n("entry_rsp_below_red_zone").as_str(), s[9], c.rsp - EMULATION_RED_ZONE);
    ok &= check_eq!(n("entry_saw_callee_registers").as_str(), [s[10], s[11]], KEPT);
    ok &= check_eq!(n("result_returned").as_str(), c.result, ARGS[0].wrapping_add(ARGS[1]));
    ok &= check_eq!(n("registers_kept").as_str(), c.kept, KEPT);
    ok &= check_eq!(n("rcx_after_is_return_address").as_str(), c.rcx_after, c.return_address);
    ok
}

/// Test names built from parts, without an allocator.
mod heapless_name {
    pub struct Name {
        buf: [u8; 96],
        len: usize,
    }
    impl Name {
        pub fn new() -> Self {
            Name { buf: [0; 96], len: 0 }
        }
        pub fn push(&mut self, s: &str) {
            for &b in s.as_bytes() {
                if self.len < self.buf.len() {
                    self.buf[self.len] = b;
                    self.len += 1;
                }
            }
        }
        pub fn as_str(&self) -> &str {
            core::str::from_utf8(&self.buf[..self.len]).unwrap_or("?")
        }
    }
}

#[repr(C, align(16))]
struct ChildStack([u8; 16384]);
static mut CHILD_STACK: ChildStack = ChildStack([0; 16384]);

/// Runs in a child task made with inherit_memory: one redirected `syscall`
/// (through the vector the child inherited), reported to `report_port`.
extern "C" fn child_main(report_port: u64) -> ! {
    let before = seen()[14];
    let c = unix_syscall(39);
    let s = seen();
    let words = [c.result, s[14] - before, s[7] ^ c.return_address];
    let size = 24 + 8 * words.len() as u32;
    let mut b: MsgBuf<128> = MsgBuf::new();
    b.set_header(&MachMsgHeader {
        bits: mach_msgh_bits(MACH_MSG_TYPE_COPY_SEND, 0),
        size,
        remote_port: report_port as u32,
        local_port: 0,
        voucher_port: 0,
        id: 90,
    });
    for (i, &w) in words.iter().enumerate() {
        b.put64(24 + 8 * i, w);
    }
    mach_msg(&mut b, MACH_SEND_MSG, size, 0, 0);
    mach_user::trap::task_exit(0)
}

fn inheritance(e: &mut Env) -> bool {
    let report = e.port();
    let child = task::task_create(&mut e.rpc, e.task, 1).unwrap_or(0);
    let empty_child = task::task_create(&mut e.rpc, e.task, 0).unwrap_or(0);
    let mut ok = check_eq!(
        "emul_child_inherits_vector",
        vector_of(&mut e.rpc, child),
        vector_of(&mut e.rpc, e.task)
    );
    ok &= check_eq!(
        "emul_child_without_memory_has_no_vector",
        vector_of(&mut e.rpc, empty_child),
        Ok((EMULATION_CATCH_ALL, [0; 4], 1))
    );
    let name = 0x10_00;
    let poly = PolyPort {
        name: report,
        disposition: MACH_MSG_TYPE_MAKE_SEND,
    };
    let _ = mp::mach_port_insert_right(&mut e.rpc, child, name, poly);
    let stack_top = (&raw const CHILD_STACK as u64) + 16384 - 8;
    let th = task::thread_create_running(
        &mut e.rpc,
        child,
        child_main as *const () as usize as u64,
        stack_top,
        name as u64,
    );
    let mut b: MsgBuf<128> = MsgBuf::new();
    let kr = mach_msg(&mut b, MACH_RCV_MSG | MACH_RCV_TIMEOUT, 0, report, 5000);
    ok &= check_eq!(
        "emul_child_syscall_redirected",
        (kr, b.header().id, b.get64(24), b.get64(32), b.get64(40)),
        (MACH_MSG_SUCCESS, 90, ARGS[0].wrapping_add(ARGS[1]), 1, 0)
    );
    for t in [child, empty_child] {
        let _ = task::task_terminate(&mut e.rpc, t);
        let _ = e.dealloc(t);
    }
    if let Ok(t) = th {
        let _ = e.dealloc(t);
    }
    let _ = e.destroy(report);
    ok
}

fn main(_args: mach_user::start::Args) -> i32 {
    let mut e = Env::new();
    let mut ok = true;
    let entry = entry_address();

    ok &= check_eq!(
        "emul_no_vector_at_start",
        vector_of(&mut e.rpc, e.task),
        Ok((EMULATION_CATCH_ALL, [0; 4], 1))
    );
    // Number 39 (Linux getpid) gets an entry of its own.
    ok &= check_eq!(
        "emul_set_vector_entry",
        task::task_set_emulation_vector(&mut e.rpc, e.task, 39, &[entry]),
        Ok(())
    );
    ok &= check_redirected("emul_own_entry", 39, 0);

    // Number 40 has none and there is no catch-all: EXC_SYSCALL to the
    // exception port, whose handler resumes the thread after the `syscall`.
    let port = e.port();
    EXC_PORT.store(port, Ordering::Release);
    let poly = PolyPort {
        name: port,
        disposition: MACH_MSG_TYPE_MAKE_SEND,
    };
    let _ = task::task_set_exception_port(&mut e.rpc, e.task, poly);
    if let Some(stack) = HANDLER_STACK.take() {
        let _ = thread_create_running(handler, stack, 0);
    }
    let c = unix_syscall(40);
    ok &= check_eq!(
        "emul_no_entry_raises_exc_syscall",
        (
            exc_handler::SEEN.exception.load(Ordering::Acquire),
            exc_handler::SEEN.code.load(Ordering::Acquire),
            exc_handler::SEEN.subcode.load(Ordering::Acquire) as u64
        ),
        (EXC_SYSCALL as i64, 40, c.return_address)
    );
    ok &= check_eq!(
        "emul_no_entry_resumed_unchanged",
        (c.result, c.kept, seen()[14]),
        (40, KEPT, 1)
    );

    // The catch-all takes every number without an entry of its own, even
    // numbers past the vector's end.
    ok &= check_eq!(
        "emul_set_catch_all",
        task::task_set_emulation_vector(&mut e.rpc, e.task, EMULATION_CATCH_ALL, &[entry]),
        Ok(())
    );
    ok &= check_redirected("emul_catch_all", 40, 1);
    ok &= check_redirected("emul_catch_all_large_number", 1 << 40, 2);
    // An rsp with no user address below the red zone: not redirected, but
    // EXC_SYSCALL (the handler's second exception), resumed unchanged.
    let (result, entered) = (syscall_with_rsp(40, 64), seen()[14]);
    ok &= check_eq!(
        "emul_no_room_below_red_zone_raises_exc_syscall",
        (
            exc_handler::SEEN.exception.load(Ordering::Acquire),
            exc_handler::SEEN.code.load(Ordering::Acquire),
            result,
            entered
        ),
        (EXC_SYSCALL as i64, 40, 40, 3)
    );
    let none = PolyPort {
        name: 0,
        disposition: MACH_MSG_TYPE_COPY_SEND,
    };
    let _ = task::task_set_exception_port(&mut e.rpc, e.task, none);
    let _ = e.destroy(port);
    let got = task::task_get_emulation_vector(&mut e.rpc, e.task);
    let (start, words) = match got {
        Ok(r) => {
            let count = r.emulation_vector.count;
            let region = OolRegion::u64s(r.emulation_vector);
            let nonzero: u32 = region.words64().filter(|&w| w != 0).count() as u32;
            let at40 = region.words64().nth(40).unwrap_or(0);
            (
                r.vector_start,
                (count, nonzero, region.words64().next().unwrap_or(0), at40),
            )
        }
        Err(e) => (e, (0, 0, 0, 0)),
    };
    ok &= check_eq!(
        "emul_get_vector",
        (start, words),
        (EMULATION_CATCH_ALL, (41, 2, entry, entry))
    );

    // Refused, changing nothing.
    ok &= check_eq!(
        "emul_refuses_start_below_catch_all",
        task::task_set_emulation_vector(&mut e.rpc, e.task, -2, &[entry]),
        Err(KERN_INVALID_ARGUMENT)
    );
    ok &= check_eq!(
        "emul_refuses_range_past_max",
        task::task_set_emulation_vector(&mut e.rpc, e.task, EMULATION_VECTOR_MAX, &[entry]),
        Err(KERN_INVALID_ARGUMENT)
    );
    ok &= check_eq!(
        "emul_refuses_kernel_entry",
        task::task_set_emulation_vector(&mut e.rpc, e.task, 39, &[0xffff_8000_0000_1000]),
        Err(KERN_INVALID_ARGUMENT)
    );
    ok &= check_eq!(
        "emul_refused_requests_changed_nothing",
        vector_of(&mut e.rpc, e.task).map(|(s, _, n)| (s, n)),
        Ok((EMULATION_CATCH_ALL, 41))
    );

    ok &= inheritance(&mut e);

    // Cleared: back to no vector.
    let _ = task::task_set_emulation_vector(&mut e.rpc, e.task, EMULATION_CATCH_ALL, &[0]);
    let _ = task::task_set_emulation_vector(&mut e.rpc, e.task, 39, &[0]);
    ok &= check_eq!(
        "emul_cleared",
        vector_of(&mut e.rpc, e.task),
        Ok((EMULATION_CATCH_ALL, [0; 4], 1))
    );
    ok &= check_eq!("emul_audit", e.violations(), Ok(0));
    if ok { 0 } else { 1 }
}
