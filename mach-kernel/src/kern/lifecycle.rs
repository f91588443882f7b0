//! Creating and ending tasks and threads (layer 4): what ties a task's
//! threads, IPC space, VM map and pagers together when it starts or ends.
//!
//! A task ends when its last thread ends, or when it is terminated
//! (`task_terminate`, `task_exit`, an unhandled exception), which ends all of
//! its threads: each is marked terminated, taken out of any wait and made
//! runnable, so that it leaves the kernel at its next exit (the scheduler
//! frees it there). Then its IPC space and kernel port are destroyed, its VM
//! map torn down, and the pagers of objects that died are told.

use super::ipc;
use super::pager::{self, Pagers};
use super::sched;
use super::task::{self, Expectation, Task, TaskExit};
use super::thread::{Thread, ThreadId, ThreadState};
use super::vm;
use super::wait;
use crate::arch::paging::AddressSpace;
use crate::arch::trapframe::TrapFrame;
use alloc::string::String;
use alloc::sync::Arc;
use mach_abi::kern_return::{KERN_INVALID_ADDRESS, KERN_RESOURCE_SHORTAGE, KernReturn};
use mach_abi::layout::USER_END;
use mach_core::ipc::Ipc;

/// Creates a task owning `space`, with its IPC space and kernel port; it
/// has no threads yet.
pub fn create_task(ipc: &mut Ipc, name: String, space: AddressSpace, expectation: Option<Expectation>) -> Arc<Task> {
    let task = Task::create(name, space, expectation);
    ipc::attach(ipc, &task);
    task
}

/// A new thread of `task` that starts at `entry` with stack `stack` and
/// `rdi = arg`, added to the task but not yet runnable.
pub fn create_thread(task: &Arc<Task>, entry: u64, stack: u64, arg: u64) -> Result<Arc<Thread>, KernReturn> {
    if entry >= USER_END || stack > USER_END {
        return Err(KERN_INVALID_ADDRESS);
    }
    let frame = TrapFrame::new_user(entry, stack, arg);
    let thread = Thread::new_user(task.clone(), &frame).map_err(|_| KERN_RESOURCE_SHORTAGE)?;
    task.add_thread(thread.clone()).map_err(|_| KERN_RESOURCE_SHORTAGE)?;
    Ok(thread)
}

/// Ends every thread of `task` and the task itself.
pub fn terminate_task(ipc: &mut Ipc, pagers: &mut Pagers, task: &Arc<Task>, exit: TaskExit) {
    for t in task.take_threads() {
        ipc::thread_finished(ipc, &t);
        t.mark_terminated();
        release_thread(&t);
    }
    finish(ipc, pagers, task, exit);
}

/// Removes thread `id` from `task` (it ended); the task ends with its last
/// thread, with `exit`.
pub fn thread_ended(ipc: &mut Ipc, pagers: &mut Pagers, task: &Arc<Task>, id: ThreadId, exit: TaskExit) {
    let Some((t, last)) = task.remove_thread(id) else {
        return;
    };
    ipc::thread_finished(ipc, &t);
    if last {
        finish(ipc, pagers, task, exit);
    }
}

/// Ends a thread that may be blocked, parked or runnable (`thread_terminate`);
/// its task ends with its last thread. The running thread ends at its next
/// kernel exit.
pub fn terminate_thread(ipc: &mut Ipc, pagers: &mut Pagers, thread: &Arc<Thread>) {
    if !thread.mark_terminated() {
        return;
    }
    if let Some(task) = thread.task.clone() {
        thread_ended(ipc, pagers, &task, thread.id, TaskExit::Exited(0));
    }
    release_thread(thread);
}

/// Takes a thread marked terminated out of any wait or park, so that it runs
/// to its kernel exit and ends there.
fn release_thread(t: &Arc<Thread>) {
    if t.state() == ThreadState::Blocked {
        wait::interrupt(t);
    }
    if t.unpark() {
        sched::make_runnable(t.clone());
    }
}

/// Ends the task itself: its IPC space, kernel port and memory.
fn finish(ipc: &mut Ipc, pagers: &mut Pagers, task: &Arc<Task>, exit: TaskExit) {
    if !task.mark_finished() {
        return;
    }
    ipc::task_finished(ipc, task);
    let gone = vm::task_destroyed(task);
    pager::objects_gone(ipc, pagers, gone);
    task::report_exit(task, exit);
}
