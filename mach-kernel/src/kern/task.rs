//! Tasks: an address space plus the threads that run in it, and the global
//! table of live tasks.
//!
//! A task ends when its last thread ends (or when it is terminated, which ends
//! all of its threads); its address space and every frame in it are freed when
//! the last reference goes, which is after its last thread has left the CPU.

use super::thread::{Thread, ThreadId};
use crate::arch::paging::AddressSpace;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use hashbrown::HashMap;
use spin::Mutex;

pub type TaskId = u64;

/// Threads one task may have at once.
pub const MAX_THREADS_PER_TASK: usize = 64;

/// What a test task expects to end it (module command line `expect=` and
/// `ktest=`): the kernel reports `test NAME ... ok` when it happens.
#[derive(Clone, Debug)]
pub struct Expectation {
    pub test_name: String,
    /// An exception vector, or `None` for "a Unix system call".
    pub vector: Option<u64>,
}

/// How a task ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskExit {
    /// `task_exit(status)`.
    Exited(i32),
    /// An exception with no handler: (vector, or None for an unhandled Unix syscall).
    Exception(Option<u64>),
    /// `task_terminate` on its port.
    Terminated,
}

pub struct Task {
    pub id: TaskId,
    pub name: String,
    space: Mutex<AddressSpace>,
    /// The space's top-level table, for switching to it without the lock.
    root: u64,
    /// The task's virtual memory map (the range `kern::vm` manages).
    pub vm: super::vm::VmLock,
    /// The task's kernel port and the name of its send right in its own space.
    pub port: AtomicU64,
    /// The port exceptions are sent to (a send right the kernel holds), or 0.
    pub exception_port: AtomicU64,
    threads: Mutex<Vec<Arc<Thread>>>,
    terminated: AtomicBool,
    pub expectation: Option<Expectation>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);
static TASKS: Mutex<Option<HashMap<TaskId, Arc<Task>>>> = Mutex::new(None);
static LIVE_THREADS: AtomicUsize = AtomicUsize::new(0);

impl Task {
    /// Registers a new task owning `space`; it has no threads yet.
    pub fn create(name: String, space: AddressSpace, expectation: Option<Expectation>) -> Arc<Task> {
        let task = Self::new_registered(name, space, expectation);
        super::ipc::task_created(&task);
        task
    }

    /// `create` for a kernel server that already holds the IPC state.
    pub fn create_in(ipc: &mut mach_core::ipc::Ipc, name: String, space: AddressSpace) -> Arc<Task> {
        let task = Self::new_registered(name, space, None);
        super::ipc::attach(ipc, &task);
        task
    }

    fn new_registered(name: String, space: AddressSpace, expectation: Option<Expectation>) -> Arc<Task> {
        let root = space.root();
        let task = Arc::new(Task {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            name,
            space: Mutex::new(space),
            root,
            vm: super::vm::VmLock::new(super::vm::TaskVm::new()),
            port: AtomicU64::new(0),
            exception_port: AtomicU64::new(0),
            threads: Mutex::new(Vec::new()),
            terminated: AtomicBool::new(false),
            expectation,
        });
        TASKS
            .lock()
            .get_or_insert_with(HashMap::new)
            .insert(task.id, task.clone());
        task
    }

    /// Makes this task's address space current.
    pub fn activate(&self) {
        crate::arch::paging::activate_root(self.root);
    }

    /// Runs `f` on the task's address space.
    pub fn with_space<R>(&self, f: impl FnOnce(&mut AddressSpace) -> R) -> R {
        f(&mut self.space.lock())
    }

    pub fn is_terminated(&self) -> bool {
        self.terminated.load(Ordering::Acquire)
    }

    /// Adds a thread; fails when the task is terminated or at its thread limit.
    pub fn add_thread(&self, thread: Arc<Thread>) -> Result<(), Arc<Thread>> {
        let mut threads = self.threads.lock();
        if self.is_terminated() || threads.len() >= MAX_THREADS_PER_TASK {
            return Err(thread);
        }
        threads.push(thread);
        LIVE_THREADS.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Removes one thread; when it was the last, the task ends with `exit`.
    pub fn remove_thread(self: &Arc<Self>, id: ThreadId, exit: TaskExit) {
        let now_empty = {
            let mut threads = self.threads.lock();
            let before = threads.len();
            threads.retain(|t| {
                if t.id == id {
                    super::ipc::thread_finished(t);
                }
                t.id != id
            });
            if threads.len() < before {
                LIVE_THREADS.fetch_sub(1, Ordering::Relaxed);
            }
            threads.is_empty()
        };
        if now_empty {
            self.finish(exit);
        }
    }

    /// Ends every thread of the task and the task itself.
    pub fn terminate(self: &Arc<Self>, exit: TaskExit) {
        let threads: Vec<Arc<Thread>> = core::mem::take(&mut *self.threads.lock());
        LIVE_THREADS.fetch_sub(threads.len(), Ordering::Relaxed);
        for t in &threads {
            super::ipc::thread_finished(t);
            t.mark_terminated();
            if t.state() == super::thread::ThreadState::Blocked {
                super::wait::interrupt(t);
            }
            if t.unpark() {
                super::sched::make_runnable(t.clone());
            }
        }
        self.finish(exit);
    }

    fn finish(self: &Arc<Self>, exit: TaskExit) {
        if self.terminated.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Some(tasks) = TASKS.lock().as_mut() {
            tasks.remove(&self.id);
        }
        super::ipc::task_finished(self);
        super::vm::task_destroyed(self);
        match exit {
            TaskExit::Exited(status) => log::info!("task {} '{}' exited with status {status}", self.id, self.name),
            TaskExit::Terminated => log::info!("task {} '{}' terminated", self.id, self.name),
            TaskExit::Exception(_) => log::info!("task {} '{}' terminated by an exception", self.id, self.name),
        }
        if let Some(e) = &self.expectation {
            report_expectation(e, exit);
        }
    }
}

fn report_expectation(e: &Expectation, exit: TaskExit) {
    match exit {
        TaskExit::Exception(v) if v == e.vector => crate::kprintln!("test {} ... ok", e.test_name),
        TaskExit::Exception(v) => crate::kprintln!(
            "test {} ... FAILED: ended by {} instead of {}",
            e.test_name,
            describe(v),
            describe(e.vector)
        ),
        TaskExit::Exited(s) => {
            crate::kprintln!(
                "test {} ... FAILED: exited with status {s} instead of {}",
                e.test_name,
                describe(e.vector)
            )
        }
        TaskExit::Terminated => {
            crate::kprintln!(
                "test {} ... FAILED: terminated instead of {}",
                e.test_name,
                describe(e.vector)
            )
        }
    }
}

fn describe(v: Option<u64>) -> alloc::string::String {
    match v {
        Some(v) => alloc::format!("exception vector {v}"),
        None => String::from("an unhandled Unix system call"),
    }
}

/// The live task with this id.
pub fn lookup(id: TaskId) -> Option<Arc<Task>> {
    TASKS.lock().as_ref()?.get(&id).cloned()
}

/// Ends a thread that may be blocked, parked or runnable; its task ends with
/// its last thread. (The current thread ends at its next kernel exit.)
pub fn terminate_thread(thread: &Arc<Thread>) {
    if !thread.mark_terminated() {
        return;
    }
    if let Some(task) = thread.task.clone() {
        task.remove_thread(thread.id, TaskExit::Exited(0));
    }
    if thread.state() == super::thread::ThreadState::Blocked {
        super::wait::interrupt(thread);
    }
    if thread.unpark() {
        super::sched::make_runnable(thread.clone());
    }
}

/// The live thread with this id.
pub fn find_thread(id: ThreadId) -> Option<Arc<Thread>> {
    let tasks = TASKS.lock();
    tasks
        .as_ref()?
        .values()
        .find_map(|t| t.threads.lock().iter().find(|th| th.id == id).cloned())
}

/// Every live task.
pub fn all() -> alloc::vec::Vec<Arc<Task>> {
    TASKS
        .lock()
        .as_ref()
        .map_or_else(alloc::vec::Vec::new, |t| t.values().cloned().collect())
}

/// Live tasks.
pub fn task_count() -> usize {
    TASKS.lock().as_ref().map_or(0, |t| t.len())
}

/// Live user threads.
pub fn thread_count() -> usize {
    LIVE_THREADS.load(Ordering::Relaxed)
}
