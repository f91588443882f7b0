//! The Mach trap table: negative trap numbers, decoded and carried out.
//!
//! Each trap validates its arguments first and changes nothing when it fails;
//! unassigned and out-of-range numbers return `KERN_INVALID_ARGUMENT`.

use super::sched;
use super::task::TaskExit;
use super::thread::Thread;
use crate::arch::trapframe::TrapFrame;
use crate::arch::usercopy::copy_from_user;
use alloc::sync::Arc;
use alloc::vec::Vec;
use mach_abi::kern_return::*;
use mach_abi::layout::USER_END;
use mach_abi::traps::{self, BootInfoKind};

/// A trap's result: `rax` and, for some traps, `rdx`.
pub struct TrapResult {
    pub kr: KernReturn,
    pub rdx: Option<u64>,
}

impl TrapResult {
    fn kr(kr: KernReturn) -> Self {
        TrapResult { kr, rdx: None }
    }
    fn value(v: u64) -> Self {
        TrapResult {
            kr: KERN_SUCCESS,
            rdx: Some(v),
        }
    }
}

/// `mach_msg_trap` for `me`, the running thread.
pub fn mach_msg_trap(me: &Arc<Thread>, frame: &TrapFrame) -> KernReturn {
    super::mach_msg::mach_msg(
        me,
        frame.arg(0),
        frame.arg(1) as u32,
        frame.arg(2) as u32,
        frame.arg(3) as u32,
        frame.arg(4) as u32,
        frame.arg(5) as u32,
    )
}

pub fn dispatch(number: i64, frame: &TrapFrame) -> TrapResult {
    match number {
        traps::SWTCH | traps::SWTCH_PRI => TrapResult::kr(sched::yield_now() as KernReturn),
        traps::MACH_PRINT => TrapResult::kr(mach_print(frame.arg(0), frame.arg(1))),
        traps::TASK_EXIT => task_exit(frame.arg(0) as i32),
        traps::THREAD_EXIT => thread_exit(),
        traps::THREAD_CREATE_RUNNING => match thread_create_running(frame.arg(0), frame.arg(1), frame.arg(2)) {
            Ok(id) => TrapResult::value(id),
            Err(kr) => TrapResult::kr(kr),
        },
        traps::MACH_MSG_TRAP => TrapResult::kr(mach_msg_trap(&sched::current(), frame)),
        traps::MACH_REPLY_PORT => TrapResult::kr(with_task(|t| {
            super::ipc::with(|ipc| {
                ipc.port_allocate(t.id, mach_abi::port::MACH_PORT_RIGHT_RECEIVE)
                    .unwrap_or(0)
            })
        }) as KernReturn),
        traps::TASK_SELF_TRAP => TrapResult::kr(with_task(super::ipc::task_self) as KernReturn),
        traps::HOST_SELF_TRAP => TrapResult::kr(with_task(super::ipc::host_self) as KernReturn),
        traps::THREAD_SELF_TRAP => {
            let me = sched::current();
            let name = me.task.as_ref().map_or(0, |t| super::ipc::thread_self(t, &me));
            TrapResult::kr(name as KernReturn)
        }
        traps::MACH_BOOT_INFO => match BootInfoKind::from_raw(frame.arg(0)) {
            Some(kind) => TrapResult::value(boot_info(kind)),
            None => TrapResult::kr(KERN_INVALID_ARGUMENT),
        },
        _ => TrapResult::kr(KERN_INVALID_ARGUMENT),
    }
}

/// Runs `f` on the current thread's task (0 for kernel threads).
fn with_task(f: impl FnOnce(&super::task::Task) -> u32) -> u32 {
    match sched::current().task.clone() {
        Some(t) => f(&t),
        None => 0,
    }
}

fn mach_print(ptr: u64, len: u64) -> KernReturn {
    if len > traps::MACH_PRINT_MAX {
        return KERN_INVALID_ARGUMENT;
    }
    let mut buf = Vec::new();
    if buf.try_reserve_exact(len as usize).is_err() {
        return KERN_RESOURCE_SHORTAGE;
    }
    buf.resize(len as usize, 0);
    match copy_from_user(&mut buf, ptr) {
        Ok(()) => {
            crate::console::write_bytes(&buf);
            KERN_SUCCESS
        }
        Err(_) => KERN_INVALID_ADDRESS,
    }
}

fn task_exit(status: i32) -> ! {
    let me = sched::current();
    let task = me.task.clone().expect("task_exit from a kernel thread");
    drop(me);
    task.terminate(TaskExit::Exited(status));
    drop(task);
    sched::exit_current()
}

fn thread_exit() -> ! {
    let me = sched::current();
    let task = me.task.clone().expect("thread_exit from a kernel thread");
    let id = me.id;
    drop(me);
    task.remove_thread(id, TaskExit::Exited(0));
    drop(task);
    sched::exit_current()
}

fn thread_create_running(entry: u64, stack: u64, arg: u64) -> Result<u64, KernReturn> {
    if entry >= USER_END || stack > USER_END {
        return Err(KERN_INVALID_ADDRESS);
    }
    let task = sched::current().task.clone().ok_or(KERN_INVALID_TASK)?;
    let frame = TrapFrame::new_user(entry, stack, arg);
    let thread = Thread::new_user(task.clone(), &frame).map_err(|_| KERN_RESOURCE_SHORTAGE)?;
    let id = thread.id;
    task.add_thread(thread.clone()).map_err(|_| KERN_RESOURCE_SHORTAGE)?;
    sched::make_runnable(thread);
    Ok(id)
}

fn boot_info(kind: BootInfoKind) -> u64 {
    match kind {
        BootInfoKind::FreeFrames => crate::mem::free_frames() as u64,
        BootInfoKind::TotalFrames => crate::mem::usable_frames() as u64,
        BootInfoKind::Ticks => sched::ticks(),
        BootInfoKind::TickHz => crate::arch::apic::TIMER_HZ,
        BootInfoKind::Tasks => super::task::task_count() as u64,
        BootInfoKind::Threads => super::task::thread_count() as u64,
        BootInfoKind::ContextSwitches => sched::context_switches(),
    }
}
