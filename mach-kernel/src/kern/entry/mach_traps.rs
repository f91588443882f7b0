//! The Mach trap table: negative trap numbers, decoded and carried out.
//!
//! Each trap validates its arguments first and changes nothing when it fails;
//! unassigned and out-of-range numbers return `KERN_INVALID_ARGUMENT`.
//! (`mach_msg_trap` is taken before this table, in `trap::handle_syscall`.)

use super::lock;
use crate::arch::trapframe::TrapFrame;
use crate::arch::usercopy::{UserAddr, copy_from_user};
use crate::kern::task::{Task, TaskExit};
use crate::kern::thread::Thread;
use crate::kern::{ipc, lifecycle, sched, wait};
use alloc::sync::Arc;
use alloc::vec::Vec;
use mach_abi::kern_return::*;
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
        UserAddr::new(frame.arg(0)),
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
        traps::MACH_PRINT => TrapResult::kr(mach_print(UserAddr::new(frame.arg(0)), frame.arg(1))),
        traps::TASK_EXIT => task_exit(frame.arg(0) as i32),
        traps::THREAD_EXIT => thread_exit(),
        traps::THREAD_CREATE_RUNNING => match thread_create_running(frame.arg(0), frame.arg(1), frame.arg(2)) {
            Ok(id) => TrapResult::value(id),
            Err(kr) => TrapResult::kr(kr),
        },
        traps::MACH_REPLY_PORT => TrapResult::kr(with_task(|t| {
            lock::with(|k| {
                k.ipc
                    .port_allocate(t.id, mach_abi::port::MACH_PORT_RIGHT_RECEIVE)
                    .unwrap_or(0)
            })
        }) as KernReturn),
        traps::TASK_SELF_TRAP => {
            TrapResult::kr(with_task(|t| lock::with(|k| ipc::task_self(&mut k.ipc, t))) as KernReturn)
        }
        traps::HOST_SELF_TRAP => {
            TrapResult::kr(with_task(|t| lock::with(|k| ipc::host_self(&mut k.ipc, k.host, t))) as KernReturn)
        }
        traps::THREAD_SELF_TRAP => {
            let me = sched::current();
            let name = me
                .task
                .as_ref()
                .map_or(0, |t| lock::with(|k| ipc::thread_self(&mut k.ipc, t, &me)));
            TrapResult::kr(name as KernReturn)
        }
        traps::CLOCK_GET_TIME => match frame.arg(0) {
            mach_abi::clock::SYSTEM_CLOCK => TrapResult::value(crate::kern::clock::system_ns()),
            mach_abi::clock::CALENDAR_CLOCK => TrapResult::value(crate::kern::clock::calendar_ns()),
            _ => TrapResult::kr(KERN_INVALID_ARGUMENT),
        },
        traps::THREAD_TLS_BASE => thread_tls_base(frame.arg(0), frame.arg(1)),
        traps::MACH_BOOT_INFO => match BootInfoKind::from_raw(frame.arg(0)) {
            Some(kind) => TrapResult::value(boot_info(kind)),
            None => TrapResult::kr(KERN_INVALID_ARGUMENT),
        },
        _ => TrapResult::kr(KERN_INVALID_ARGUMENT),
    }
}

/// `thread_tls_base(op, value)` on the calling thread (see `traps::THREAD_TLS_BASE`).
fn thread_tls_base(op: u64, value: u64) -> TrapResult {
    use crate::arch::switch::TlsBase;
    use mach_abi::emulation::tls;
    let me = sched::current();
    let which = match op {
        tls::SET_FS | tls::GET_FS => TlsBase::Fs,
        tls::SET_GS | tls::GET_GS => TlsBase::Gs,
        _ => return TrapResult::kr(KERN_INVALID_ARGUMENT),
    };
    if op == tls::GET_FS || op == tls::GET_GS {
        return TrapResult::value(me.context.tls_base(which));
    }
    if value >= mach_abi::layout::USER_END {
        return TrapResult::kr(KERN_INVALID_ADDRESS);
    }
    // The running thread's context: interrupts are off in the kernel.
    me.context.set_running_tls_base(which, value);
    TrapResult::kr(KERN_SUCCESS)
}

/// Runs `f` on the current thread's task (0 for kernel threads).
fn with_task(f: impl FnOnce(&Task) -> u32) -> u32 {
    match sched::current().task.clone() {
        Some(t) => f(&t),
        None => 0,
    }
}

fn mach_print(ptr: UserAddr, len: u64) -> KernReturn {
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
    lock::with(|k| lifecycle::terminate_task(&mut k.ipc, &mut k.pagers, &task, TaskExit::Exited(status)));
    drop(task);
    wait::exit_current()
}

fn thread_exit() -> ! {
    let me = sched::current();
    let task = me.task.clone().expect("thread_exit from a kernel thread");
    let id = me.id;
    drop(me);
    lock::with(|k| lifecycle::thread_ended(&mut k.ipc, &mut k.pagers, &task, id, TaskExit::Exited(0)));
    drop(task);
    wait::exit_current()
}

fn thread_create_running(entry: u64, stack: u64, arg: u64) -> Result<u64, KernReturn> {
    let task = sched::current().task.clone().ok_or(KERN_INVALID_TASK)?;
    let thread = lifecycle::create_thread(&task, entry, stack, arg)?;
    let id = thread.id;
    sched::make_runnable(thread);
    Ok(id)
}

fn boot_info(kind: BootInfoKind) -> u64 {
    match kind {
        BootInfoKind::FreeFrames => crate::mem::free_frames() as u64,
        BootInfoKind::TotalFrames => crate::mem::usable_frames() as u64,
        BootInfoKind::Ticks => sched::ticks(),
        BootInfoKind::TickHz => crate::arch::apic::TIMER_HZ,
        BootInfoKind::Tasks => crate::kern::task::task_count() as u64,
        BootInfoKind::Threads => crate::kern::task::thread_count() as u64,
        BootInfoKind::ContextSwitches => sched::context_switches(),
    }
}
