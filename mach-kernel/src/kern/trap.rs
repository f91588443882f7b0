//! What happens on every entry to the kernel: interrupts, exceptions and traps.
//!
//! A user-mode exception has no handler yet (exception ports arrive with the
//! IPC issue), so it ends the task that caused it and only that task; the kernel
//! reports the vector, error code, `rip`, `cr2` and the task and thread. A fault
//! in kernel mode is a kernel bug, except a page fault inside the user-copy
//! routine, which becomes an error return.

use super::mach_traps;
use super::sched;
use super::task::TaskExit;
use crate::arch::apic;
use crate::arch::idt::{VECTOR_SPURIOUS, VECTOR_TIMER};
use crate::arch::trapframe::TrapFrame;
use crate::arch::usercopy;
use mach_abi::exception::{self, ExceptionType};
use x86_64::registers::control::Cr2;

pub fn handle_trap(frame: &mut TrapFrame) {
    // Read CR2 before anything can block: another thread's fault would overwrite it.
    let cr2 = if frame.vector == 14 { Cr2::read_raw() } else { 0 };
    match frame.vector {
        v if v == VECTOR_TIMER as u64 => {
            apic::eoi();
            sched::tick();
            sched::preempt();
            if frame.is_user_mode() {
                sched::exit_if_terminated();
            }
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

pub fn handle_syscall(frame: &mut TrapFrame) {
    let number = frame.rax as i64;
    if number >= 0 {
        unix_syscall_without_emulator(frame, number);
    }
    if number == mach_abi::traps::MACH_MSG_TRAP {
        // The IPC trap, with the running thread looked up once.
        let me = sched::current();
        let kr = mach_traps::mach_msg_trap(&me, frame);
        frame.rax = kr as i64 as u64;
        let terminated = me.is_terminated();
        drop(me);
        if terminated {
            sched::exit_current();
        }
        return;
    }
    let r = mach_traps::dispatch(number, frame);
    frame.rax = r.kr as i64 as u64;
    if let Some(v) = r.rdx {
        frame.rdx = v;
    }
    sched::exit_if_terminated();
}

/// Tries to resolve a page fault on a user address through the task's VM map.
/// A page that must come from a pager is waited for, also in a kernel copy
/// of user memory unless that runs under the IPC lock.
fn resolve_user_fault(frame: &TrapFrame, addr: u64) -> bool {
    let write = frame.error_code & 2 != 0;
    let exec = frame.error_code & 0x10 != 0;
    let Some(task) = sched::current().task.clone() else {
        return false;
    };
    // Short of memory: page something out first (only from user mode, where
    // this thread holds no kernel locks).
    if frame.is_user_mode() && crate::mem::free_frames() < super::pageout::LOW_WATER {
        super::pageout::reclaim(super::pageout::BATCH);
    }
    match super::vm::fault(&task, addr, write, exec) {
        Ok(super::vm::FaultOutcome::Mapped) => true,
        Ok(super::vm::FaultOutcome::NeedPager {
            object,
            pager,
            offset,
            access,
            unlock,
        }) => {
            drop(task);
            // A kernel copy of user memory may wait for the pager as well,
            // unless it runs under the IPC lock (the pager's answer needs it):
            // such copies (out-of-line data copied physically) fail instead.
            (frame.is_user_mode() || !super::ipc::locked())
                && super::pager::wait_for_page(object, pager, offset, access, unlock)
        }
        Err(_) => false,
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
    let task = me.task.clone().expect("user exception on a kernel thread");
    // A handler on the task's exception port may resume the thread.
    if super::exception::raise(&task, &me, exc, frame.vector as i64, cr2 as i64) {
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
    task.terminate(TaskExit::Exception(Some(frame.vector)));
    drop(task);
    sched::exit_current()
}

fn unix_syscall_without_emulator(frame: &TrapFrame, number: i64) -> ! {
    let me = sched::current();
    let task = me.task.clone().expect("syscall from a kernel thread");
    crate::kprintln!(
        "exception: task {} '{}' thread {}: {} (Unix system call {number} at rip=0x{:x}, no emulation library): no handler, task terminated",
        task.id,
        task.name,
        me.id,
        exception::name(exception::EXC_SYSCALL),
        frame.rip
    );
    drop(me);
    task.terminate(TaskExit::Exception(None));
    drop(task);
    sched::exit_current()
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
