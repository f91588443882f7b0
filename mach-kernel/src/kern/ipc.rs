//! The kernel's one IPC state (`mach_core::ipc::Ipc`) and its glue: spaces and
//! kernel ports for tasks, threads and the host; user memory for out-of-line
//! data; wakeups of blocked threads; and messages for kernel objects, which
//! are served right away by `kern::kserver`.
//!
//! Every IPC operation runs inside [`with`], which holds the IPC lock, serves
//! kernel-object messages the operation produced, and wakes the threads whose
//! wait keys fired, before it returns.

use super::task::Task;
use super::thread::Thread;
use super::wait;
use crate::arch::usercopy::{copy_from_user, copy_to_user};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};
use mach_core::ipc::{Ipc, KObject, Name, PortId, UserMemory};
use spin::Mutex;

static IPC: Mutex<Option<Ipc>> = Mutex::new(None);
static HOST_PORT: Mutex<Option<PortId>> = Mutex::new(None);

/// Names one task may hold.
pub const NAME_LIMIT: usize = 16 * 1024;

/// Creates the IPC state and the host port. Messages in flight may hold at
/// most a quarter of the kernel heap, so a task that floods queues gets
/// MACH_SEND_NO_BUFFER while the rest of the kernel keeps its memory.
pub fn init(heap_bytes: usize) {
    let mut ipc = Ipc::new();
    ipc.set_message_memory_limit(heap_bytes as u64 / 4);
    let host = ipc.kobject_port_create(KObject::Host);
    *HOST_PORT.lock() = Some(host);
    *IPC.lock() = Some(ipc);
}

/// Runs `f` on the IPC state, then serves kernel-object messages and wakes
/// the threads whose wait keys fired.
pub fn with<R>(f: impl FnOnce(&mut Ipc) -> R) -> R {
    let r = with_locked(f);
    if DEFERRED_PENDING.load(Ordering::Acquire) {
        run_deferred();
    }
    r
}

/// `with` without the deferred work (which may itself call `with`).
fn with_locked<R>(f: impl FnOnce(&mut Ipc) -> R) -> R {
    let mut guard = IPC.lock();
    let ipc = guard.as_mut().expect("IPC not initialised");
    let r = f(ipc);
    if ipc.has_follow_up() {
        follow_up(ipc);
    }
    drop(guard);
    r
}

/// Serves the kernel-object messages an operation produced, hands the
/// virtual copies of destroyed messages to the deferred work and wakes the
/// threads whose wait keys fired (wait queues are locked after the IPC lock,
/// never the other way round).
#[inline(never)]
fn follow_up(ipc: &mut Ipc) {
    while ipc.has_kernel_messages() {
        for (obj, kmsg) in ipc.take_kernel_messages() {
            super::kserver::serve(ipc, obj, kmsg);
        }
    }
    if ipc.has_released_copies() {
        for copy in ipc.take_released_copies() {
            defer(Deferred::DiscardCopy(copy));
        }
    }
    let t = super::prof::start();
    ipc.drain_wakeups(wait::wake_all);
    super::prof::end(6, t);
}

/// Whether the IPC lock is held (on this single CPU: by the running thread).
pub fn locked() -> bool {
    IPC.is_locked()
}

/// Does the work kernel servers deferred until the IPC lock was free.
fn run_deferred() {
    while DEFERRED_PENDING.swap(false, Ordering::AcqRel) {
        let pending = core::mem::take(&mut *DEFERRED.lock());
        for work in pending {
            match work {
                Deferred::Terminate(task) => task.terminate(super::task::TaskExit::Terminated),
                Deferred::PagerGone(port) => with_locked(|ipc| super::pager::object_gone(ipc, port)),
                Deferred::TerminateThread(thread) => super::task::terminate_thread(&thread),
                Deferred::DiscardCopy(copy) => super::vm_copy::discard(copy),
            }
        }
    }
}

/// Gives a new task its IPC space and kernel port.
pub fn task_created(task: &Arc<Task>) {
    with(|ipc| attach(ipc, task));
}

/// Gives a new task its IPC space and kernel port, with the IPC state in hand
/// (a kernel server creating a task).
pub fn attach(ipc: &mut Ipc, task: &Task) {
    ipc.space_create(task.id, NAME_LIMIT);
    let port = ipc.kobject_port_create(KObject::Task(task.id));
    task.port.store(port, Ordering::Relaxed);
}

/// Work that needs the IPC lock but was found while it was held (by a kernel
/// server): done as soon as `with` lets go of it.
pub enum Deferred {
    /// End a task (`task_terminate`).
    Terminate(Arc<Task>),
    /// A pager-backed VM object died: let its pager go.
    PagerGone(PortId),
    /// End one thread (`thread_terminate`).
    TerminateThread(Arc<super::thread::Thread>),
    /// Drop the virtual copy of a message that died unreceived.
    DiscardCopy(u64),
}

static DEFERRED: Mutex<Vec<Deferred>> = Mutex::new(Vec::new());
static DEFERRED_PENDING: AtomicBool = AtomicBool::new(false);

pub fn defer(work: Deferred) {
    DEFERRED.lock().push(work);
    DEFERRED_PENDING.store(true, Ordering::Release);
}

/// Ends `task` as soon as the IPC lock is free.
pub fn terminate_later(task: Arc<Task>) {
    defer(Deferred::Terminate(task));
}

/// Destroys a finished task's space and kernel port.
pub fn task_finished(task: &Task) {
    let port = task.port.swap(0, Ordering::Relaxed);
    let exc = task.exception_port.swap(0, Ordering::AcqRel);
    with(|ipc| {
        if exc != 0 {
            ipc.kernel_release_send(exc);
        }
        ipc.space_destroy(task.id);
        if port != 0 {
            ipc.kobject_port_destroy(port);
        }
    });
}

/// Destroys a finished thread's kernel port.
pub fn thread_finished(thread: &Thread) {
    let port = thread.port.swap(0, Ordering::Relaxed);
    if port != 0 {
        with(|ipc| ipc.kobject_port_destroy(port));
    }
}

/// A new send right for `space` to a kernel port; MACH_PORT_NULL if it cannot be made.
fn self_right(space: u64, port: PortId) -> Name {
    with(|ipc| ipc.insert_make_send(space, port).unwrap_or(0))
}

/// `mach_task_self()`.
pub fn task_self(task: &Task) -> Name {
    self_right(task.id, task.port.load(Ordering::Relaxed))
}

/// `mach_thread_self()`: the thread's port is made on first use.
pub fn thread_self(task: &Task, thread: &Thread) -> Name {
    let mut port = thread.port.load(Ordering::Relaxed);
    if port == 0 {
        port = with(|ipc| ipc.kobject_port_create(KObject::Thread(thread.id)));
        thread.port.store(port, Ordering::Relaxed);
    }
    self_right(task.id, port)
}

/// `mach_host_self()`.
pub fn host_self(task: &Task) -> Name {
    let host = HOST_PORT.lock().expect("host port");
    self_right(task.id, host)
}

/// The memory of the task the current thread belongs to, for out-of-line data.
pub struct TaskMemory<'a> {
    pub task: &'a Task,
}

impl UserMemory for TaskMemory<'_> {
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> Result<(), ()> {
        copy_from_user(buf, addr).map_err(|_| ())
    }
    fn write(&mut self, addr: u64, buf: &[u8]) -> Result<(), ()> {
        copy_to_user(addr, buf).map_err(|_| ())
    }
    fn allocate(&mut self, size: u64) -> Result<u64, ()> {
        super::vm::allocate(self.task, 0, size, true).map_err(|_| ())
    }
    fn deallocate(&mut self, addr: u64, size: u64) -> Result<(), ()> {
        super::vm::deallocate(self.task, addr, size).map_err(|_| ())
    }
    fn copyin_virtual(&mut self, addr: u64, size: u64, dealloc: bool) -> Result<Option<u64>, ()> {
        super::vm_copy::copyin(self.task, addr, size, dealloc)
    }
    fn copyout_virtual(&mut self, copy: u64) -> Result<u64, ()> {
        super::vm_copy::copyout(self.task, copy)
    }
}
