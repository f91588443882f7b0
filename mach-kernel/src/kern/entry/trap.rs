//! What happens on every entry to the kernel: interrupts, exceptions and traps.
//! Device interrupts: the LAPIC timer (ticks, deadlines, preemption) and
//! COM1's receive interrupt (input for the console device, which answers
//! the reads waiting for it: `kobject::console`).
//!
//! A page fault on user memory goes to [`super::user_fault`]. Any other
//! user-mode exception is sent to the task's exception port as
//! `exception_raise` (`kern::exception`) and the thread waits for the
//! handler's answer; without a handler, or when the handler says no, it
//! ends the task that caused it and only that task, and the kernel reports
//! the vector, error code, `rip`, `cr2` and the task and thread. A fault in
//! kernel mode is a kernel bug, except a page fault inside the user-copy
//! routine, which becomes an error return.
//!
//! Every way back to user mode passes `leave::leave_kernel` (the `mach_msg`
//! trap its inlined equivalent).
//!
//! `thread_abort` (`kobject::thread`) and an exception: a thread waiting for
//! its handler's reply stops waiting, its reply port is destroyed (a late
//! reply is dropped) and it returns to user mode with the registers it had
//! when the exception was raised, so that it raises the exception again when
//! it resumes: a fault re-executes its instruction; an `EXC_SYSCALL` thread
//! is put back on its `syscall` instruction. (A trap-type exception, a
//! breakpoint, reports the instruction after it: an aborted one is not raised
//! again.) A reply that arrived before the abort is still the answer.

use super::leave;
use super::lock;
use super::mach_traps;
use super::user_fault::resolve_user_fault;
use crate::arch::apic;
use crate::arch::idt::{VECTOR_COM1, VECTOR_SPURIOUS, VECTOR_TIMER};
use crate::arch::trapframe::TrapFrame;
use crate::arch::usercopy;
use crate::kern::exception as kexception;
use crate::kern::sched;
use crate::kern::task::{Task, TaskExit};
use crate::kern::thread::{Thread, WakeReason};
use crate::kern::wait;
use crate::kern::{kobject, lifecycle};
use alloc::sync::Arc;
use mach_abi::exception::{self, ExceptionType};
use mach_core::ipc::WaitKey;
use x86_64::registers::control::Cr2;

pub fn handle_trap(frame: &mut TrapFrame) {
    // Read CR2 before anything can block: another thread's fault would overwrite it.
    let cr2 = if frame.vector == 14 { Cr2::read_raw() } else { 0 };
    match frame.vector {
        v if v == VECTOR_TIMER as u64 => {
            apic::eoi();
            wait::expire(sched::tick());
            sched::preempt();
            if frame.is_user_mode() {
                wait::exit_if_terminated();
            }
        }
        v if v == VECTOR_COM1 as u64 => {
            apic::eoi();
            console_interrupt();
        }
        v if v == VECTOR_SPURIOUS as u64 => {}
        14 if !frame.is_user_mode() => match usercopy::fixup_for(frame.rip) {
            // A user copy touched memory not yet faulted in: resolve it and retry.
            Some(_) if resolve_user_fault(frame, cr2) => {}
            Some(fixup) => frame.rip = fixup,
            None => kernel_fault(frame, cr2),
        },
        14 if resolve_user_fault(frame, cr2) => {}
        0..=31 if frame.is_user_mode() => user_exception(frame, cr2),
        0..=31 => kernel_fault(frame, cr2),
        v => {
            apic::eoi();
            log::warn!("unexpected interrupt vector {v}");
        }
    }
}

/// Handles a `syscall`; returns true when the user frame can only have been
/// changed by this trap's results (rax, rdx), so that it still returns as
/// `syscall` entered it (the `sysret` check can then be a short one).
#[inline(always)]
pub fn handle_syscall(frame: &mut TrapFrame) -> bool {
    if super::fuzztrace::BUILT && super::fuzztrace::ENABLED.load(core::sync::atomic::Ordering::Relaxed) {
        super::fuzztrace::record(frame);
    }
    let number = frame.rax as i64;
    if number >= 0 {
        return unix_syscall(frame, number);
    }
    if number == mach_abi::traps::MACH_MSG_TRAP {
        // The IPC trap, with the running thread looked up once.
        let me = sched::current();
        let kr = mach_traps::mach_msg_trap(&me, frame);
        frame.rax = kr as i64 as u64;
        let mut end = me.is_terminated();
        // thread_set_state of this thread while it waited here, or thread_abort.
        let work = me.take_exit_work();
        if work && !end {
            end = leave::stop_point(&me);
        }
        drop(me);
        if end {
            wait::exit_current();
        }
        return !work;
    }
    let r = mach_traps::dispatch(number, frame);
    frame.rax = r.kr as i64 as u64;
    if let Some(v) = r.rdx {
        frame.rdx = v;
    }
    leave::leave_kernel();
    false
}

/// The UART received input: into the console device, which answers the
/// reads waiting for it.
#[cold]
#[inline(never)]
fn console_interrupt() {
    let mut bytes = [0u8; 64];
    loop {
        let n = crate::arch::serial::Serial::read_input(&mut bytes);
        if n == 0 {
            break;
        }
        lock::with(|k| kobject::console::console_input(&mut k.ipc, &bytes[..n]));
    }
}

/// Mach's exception type for a CPU exception vector (as in XNU's i386 trap code).
fn exception_type(vector: u64) -> ExceptionType {
    match vector {
        0 | 16 | 19 => exception::EXC_ARITHMETIC,
        1 | 3 => exception::EXC_BREAKPOINT,
        14 | 17 => exception::EXC_BAD_ACCESS,
        _ => exception::EXC_BAD_INSTRUCTION,
    }
}

fn vector_name(vector: u64) -> &'static str {
    const NAMES: [&str; 22] = [
        "#DE divide error",
        "#DB debug",
        "NMI",
        "#BP breakpoint",
        "#OF overflow",
        "#BR bound range",
        "#UD invalid opcode",
        "#NM device not available",
        "#DF double fault",
        "coprocessor segment overrun",
        "#TS invalid TSS",
        "#NP segment not present",
        "#SS stack fault",
        "#GP general protection",
        "#PF page fault",
        "reserved",
        "#MF x87 floating point",
        "#AC alignment check",
        "#MC machine check",
        "#XM SIMD floating point",
        "#VE virtualization",
        "#CP control protection",
    ];
    NAMES.get(vector as usize).copied().unwrap_or("reserved")
}

fn user_exception(frame: &TrapFrame, cr2: u64) {
    let exc = exception_type(frame.vector);
    let me = sched::current();
    // A thread whose task is ending (its fault's wait was interrupted for
    // that) just ends: no handler hears of it, nothing is reported.
    if me.is_terminated() {
        drop(me);
        wait::exit_current();
    }
    let task = me.task.clone().expect("user exception on a kernel thread");
    // A handler on the task's exception port may resume the thread; an
    // aborted wait returns to the faulting instruction, to raise it again.
    if raise(&task, &me, exc, frame.vector as i64, cr2 as i64) != Raised::Fail {
        drop(task);
        drop(me);
        leave::leave_kernel();
        return;
    }
    crate::kprintln!(
        "exception: task {} '{}' thread {}: {} ({}, vector {}) error=0x{:x} rip=0x{:x} cr2=0x{:x} rsp=0x{:x}: no handler, task terminated",
        task.id,
        task.name,
        me.id,
        exception::name(exc),
        vector_name(frame.vector),
        frame.vector,
        frame.error_code,
        frame.rip,
        cr2,
        frame.rsp
    );
    drop(me);
    end_task(&task, TaskExit::Exception(Some(frame.vector)));
    drop(task);
    wait::exit_current()
}

/// How an `exception_raise` ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Raised {
    /// The handler asked for the thread to resume.
    Resume,
    /// No handler, a handler that said no, or the thread is ending.
    Fail,
    /// `thread_abort` broke the wait before any reply came.
    Aborted,
}

/// Sends `exception_raise` for `thread` and waits for the answer.
fn raise(task: &Arc<Task>, thread: &Arc<Thread>, exc: u32, code: i64, subcode: i64) -> Raised {
    let Some(rp) = lock::with(|k| kexception::send_raise(&mut k.ipc, task, thread, exc, code, subcode)) else {
        return Raised::Fail;
    };
    let result = loop {
        if let Some(r) = lock::with(|k| k.exceptions.take(thread.id)) {
            break Some(r);
        }
        if wait::block(Some(WaitKey::Port(rp)), None) == WakeReason::Interrupted {
            // A reply that came before the interruption is still the answer.
            break lock::with(|k| k.exceptions.take(thread.id));
        }
    };
    lock::with(|k| {
        k.ipc.kobject_port_destroy(rp);
        // A reply that raced an interruption must not answer a later exception.
        let _ = k.exceptions.take(thread.id);
    });
    match result {
        Some(mach_abi::kern_return::KERN_SUCCESS) => Raised::Resume,
        None if !thread.is_terminated() => Raised::Aborted,
        _ => Raised::Fail,
    }
}

/// Ends `task` (the current thread's) with `exit`.
fn end_task(task: &Arc<Task>, exit: TaskExit) {
    lock::with(|k| lifecycle::terminate_task(&mut k.ipc, &mut k.pagers, task, exit));
}

/// A `syscall` with a non-negative number (the Unix personality's): into
/// the task's emulation library when its vector has an entry for the
/// number, with every register as the program left it and `rsp` below the
/// red zone (`mach_abi::emulation`), if that is a user address; otherwise
/// `EXC_SYSCALL` (code: the number, subcode: the return `rip`) to the
/// exception port, and without a handler that resumes it the task ends. Returns false: the frame goes back
/// through `iretq`, since `sysret` would overwrite `rcx` and `r11`.
#[cold]
#[inline(never)]
fn unix_syscall(frame: &mut TrapFrame, number: i64) -> bool {
    let me = sched::current();
    let task = me.task.clone().expect("syscall from a kernel thread");
    let entry = task.emulation.lock().entry(number as u64);
    // The entry's stack: below the red zone, and still in the user half (a
    // program whose rsp leaves no room there gets the exception instead).
    let rsp = frame.rsp.wrapping_sub(mach_abi::emulation::EMULATION_RED_ZONE);
    if let Some(entry) = entry
        && rsp < frame.rsp
        && rsp < mach_abi::layout::USER_END
    {
        frame.rip = entry;
        frame.rsp = rsp;
        drop(task);
        drop(me);
        leave::leave_kernel();
        return false;
    }
    if me.is_terminated() {
        drop(task);
        drop(me);
        wait::exit_current();
    }
    let rip = frame.rip;
    match raise(&task, &me, exception::EXC_SYSCALL, number, rip as i64) {
        Raised::Fail => {}
        raised => {
            // Aborted: back on the `syscall` instruction (2 bytes), to raise
            // it again when resumed, unless thread_set_state moved it.
            if raised == Raised::Aborted && frame.rip == rip {
                frame.rip = rip.wrapping_sub(2);
            }
            drop(task);
            drop(me);
            leave::leave_kernel();
            return false;
        }
    }
    crate::kprintln!(
        "exception: task {} '{}' thread {}: {} (Unix system call {number} at rip=0x{:x}, no emulation library): no handler, task terminated",
        task.id,
        task.name,
        me.id,
        exception::name(exception::EXC_SYSCALL),
        frame.rip
    );
    drop(me);
    end_task(&task, TaskExit::Exception(None));
    drop(task);
    wait::exit_current()
}

fn kernel_fault(frame: &TrapFrame, cr2: u64) -> ! {
    crate::panic::kernel_fault(
        format_args!(
            "kernel-mode exception {} (vector {}) error=0x{:x} cr2=0x{:x} rsp=0x{:x}",
            vector_name(frame.vector),
            frame.vector,
            frame.error_code,
            cr2,
            frame.rsp
        ),
        frame.rip,
        frame.rbp,
    )
}
