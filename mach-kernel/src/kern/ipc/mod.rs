//! The kernel side of IPC (layer 3): the IPC spaces and kernel ports of tasks
//! and threads, the send rights behind `mach_task_self()` and its kind, user
//! memory for out-of-line data, each thread's IPC state
//! ([`thread_state`]), and the answers owed once a thread stops.
//!
//! The IPC state itself (`mach_core::ipc::Ipc`) lives in
//! `state::KernelState`, locked only by `entry::lock`; everything here takes
//! it as an argument.

pub mod thread_state;

use super::task::Task;
use super::thread::Thread;
use super::vm::{self, PagersGone};
use crate::arch::usercopy::{UserAddr, copy_from_user_nowait, copy_to_user_nowait};
use core::sync::atomic::Ordering;
use mach_core::ipc::{Ipc, KObject, Name, PortId, UserMemory};

/// Names one task may hold.
pub const NAME_LIMIT: usize = 16 * 1024;

/// Gives a new task its IPC space and kernel port, and asks to hear when
/// the port's last send right goes (a task with no threads that nobody can
/// name any more is destroyed then, as Mach does when its last reference goes).
pub fn attach(ipc: &mut Ipc, task: &Task) {
    ipc.space_create(task.id, NAME_LIMIT);
    let port = ipc.kobject_port_create(KObject::Task(task.id));
    ipc.kernel_request_no_senders(port);
    task.port.store(port, Ordering::Relaxed);
}

/// Destroys a finished task's space, kernel port and exception-port right.
pub fn task_finished(ipc: &mut Ipc, task: &Task) {
    let port = task.port.swap(0, Ordering::Relaxed);
    let exc = task.exception_port.swap(0, Ordering::AcqRel);
    if exc != 0 {
        ipc.kernel_release_send(exc);
    }
    ipc.space_destroy(task.id);
    if port != 0 {
        ipc.kobject_port_destroy(port);
    }
}

/// Destroys a finished thread's kernel port, and sends the answers owed
/// for its stop (a `thread_abort` waiting for it: it will not stop now).
pub fn thread_finished(ipc: &mut Ipc, thread: &Thread) {
    answer_stop_replies(ipc, thread);
    let port = thread.port.swap(0, Ordering::Relaxed);
    if port != 0 {
        ipc.kobject_port_destroy(port);
    }
}

/// Sends the answers the kernel owed until `thread` stopped (`thread_abort`
/// of a suspended thread is answered once the thread has stopped on its way
/// out of the kernel, or waits where an abort cannot reach, or ends).
pub fn answer_stop_replies(ipc: &mut Ipc, thread: &Thread) {
    for r in thread.ipc.take_stop_replies() {
        if let Some(right) = ipc.take_held(r.reply) {
            ipc.kernel_reply(right, &r.image, Default::default());
        }
    }
}

/// The thread's kernel port, made on first use.
pub fn thread_port(ipc: &mut Ipc, thread: &Thread) -> PortId {
    let mut port = thread.port.load(Ordering::Relaxed);
    if port == 0 {
        port = ipc.kobject_port_create(KObject::Thread(thread.id));
        thread.port.store(port, Ordering::Relaxed);
    }
    port
}

/// A new send right for `space` to a kernel port; MACH_PORT_NULL if it cannot be made.
fn self_right(ipc: &mut Ipc, space: u64, port: PortId) -> Name {
    ipc.insert_make_send(space, port).unwrap_or(0)
}

/// `mach_task_self()`.
pub fn task_self(ipc: &mut Ipc, task: &Task) -> Name {
    self_right(ipc, task.id, task.port.load(Ordering::Relaxed))
}

/// `mach_thread_self()`.
pub fn thread_self(ipc: &mut Ipc, task: &Task, thread: &Thread) -> Name {
    let port = thread_port(ipc, thread);
    self_right(ipc, task.id, port)
}

/// `mach_host_self()`, given the host port.
pub fn host_self(ipc: &mut Ipc, host: PortId, task: &Task) -> Name {
    self_right(ipc, task.id, host)
}

/// The memory of the task the current thread belongs to, for out-of-line
/// data. It is used under the kernel-state lock, so its copies never wait for
/// a pager (a page that must come from one fails the copy); objects that die
/// when it deallocates are collected in `gone`, for the caller to tell their
/// pagers once the IPC operation is done.
pub struct TaskMemory<'a> {
    pub task: &'a Task,
    pub gone: PagersGone,
}

impl<'a> TaskMemory<'a> {
    pub fn new(task: &'a Task) -> Self {
        TaskMemory {
            task,
            gone: PagersGone::default(),
        }
    }
}

impl UserMemory for TaskMemory<'_> {
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> Result<(), ()> {
        copy_from_user_nowait(buf, UserAddr::new(addr)).map_err(|_| ())
    }
    fn write(&mut self, addr: u64, buf: &[u8]) -> Result<(), ()> {
        copy_to_user_nowait(UserAddr::new(addr), buf).map_err(|_| ())
    }
    fn allocate(&mut self, size: u64) -> Result<u64, ()> {
        vm::allocate(self.task, 0, size, true).map_err(|_| ())
    }
    fn deallocate(&mut self, addr: u64, size: u64) -> Result<(), ()> {
        let gone = vm::deallocate(self.task, addr, size).map_err(|_| ())?;
        self.gone.merge(gone);
        Ok(())
    }
    fn copyin_virtual(&mut self, addr: u64, size: u64, dealloc: bool) -> Result<Option<u64>, ()> {
        vm::copy::copyin(self.task, addr, size, dealloc, &mut self.gone)
    }
    fn copyout_virtual(&mut self, copy: u64) -> Result<u64, ()> {
        vm::copy::copyout(self.task, copy)
    }
    fn copyin_kernel_pages(&mut self, addr: u64, size: u64, dealloc: bool) -> Result<Option<u64>, ()> {
        vm::kpages::copyin(self.task, addr, size, dealloc, &mut self.gone)
    }
}
