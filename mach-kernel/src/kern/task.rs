//! Tasks: an address space plus the threads that run in it, and the global
//! table of live tasks.
//!
//! This module only keeps the task's own state; `lifecycle` ends tasks (a
//! task ends when its last thread ends, or when it is terminated, which ends
//! all of its threads). Its page tables are freed when the last reference
//! goes, which is after its last thread has left the CPU.

use super::thread::{Thread, ThreadId};
use super::vm::task_vm::{TaskVm, VmLock};
use crate::arch::paging::AddressSpace;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use hashbrown::HashMap;
use mach_core::emulation::EmulationVector;
use spin::Mutex;

pub type TaskId = u64;

/// Threads one task may have at once.
pub const MAX_THREADS_PER_TASK: usize = 64;

/// Tasks alive at once, and tasks alive at once that one task created
/// (`task_create` fails with KERN_RESOURCE_SHORTAGE past either): each holds
/// page tables, a map and an IPC space, so a task creating them in a loop
/// must stop long before the kernel's memory does.
pub const MAX_TASKS: usize = 512;
pub const MAX_CHILDREN_PER_TASK: usize = 128;

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

/// The path a message took through the kernel (for [`Task::count_message`]).
#[derive(Clone, Copy)]
pub enum MessagePath {
    RpcFast = 0,
    Handoff = 1,
    General = 2,
}

pub struct Task {
    pub id: TaskId,
    pub name: String,
    space: Mutex<AddressSpace>,
    /// The space's top-level table, for switching to it without the lock.
    root: u64,
    /// The task's virtual memory map (the range `kern::vm` manages).
    pub vm: VmLock,
    /// The task's kernel port and the name of its send right in its own space.
    pub port: AtomicU64,
    /// The port exceptions are sent to (a send right the kernel holds), or 0.
    pub exception_port: AtomicU64,
    threads: Mutex<Vec<Arc<Thread>>>,
    terminated: AtomicBool,
    /// See [`Task::is_vm_privileged`].
    vm_privileged: AtomicBool,
    /// Messages sent, by path (`task_ipc_statistics`): RPC fast path,
    /// other hand-overs, general path.
    pub ipc_counts: [AtomicU64; 3],
    pub expectation: Option<Expectation>,
    /// The task that created this one with `task_create` (0: made by the
    /// kernel at boot), for [`children_of`].
    pub parent: AtomicU64,
    /// Where its non-negative `syscall` numbers go (`task_set_emulation_vector`).
    pub emulation: Mutex<EmulationVector>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);
static TASKS: Mutex<Option<HashMap<TaskId, Arc<Task>>>> = Mutex::new(None);
static LIVE_THREADS: AtomicUsize = AtomicUsize::new(0);

impl Task {
    /// Registers a new task owning `space`; it has no threads and no IPC
    /// space yet (`lifecycle::create_task` gives it both).
    pub fn create(name: String, space: AddressSpace, expectation: Option<Expectation>) -> Arc<Task> {
        let root = space.root();
        let task = Arc::new(Task {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            name,
            space: Mutex::new(space),
            root,
            vm: VmLock::new(TaskVm::new()),
            port: AtomicU64::new(0),
            exception_port: AtomicU64::new(0),
            threads: Mutex::new(Vec::new()),
            terminated: AtomicBool::new(false),
            vm_privileged: AtomicBool::new(false),
            ipc_counts: [const { AtomicU64::new(0) }; 3],
            expectation,
            parent: AtomicU64::new(0),
            emulation: Mutex::new(EmulationVector::new()),
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
    #[inline(always)]
    pub fn with_space<R>(&self, f: impl FnOnce(&mut AddressSpace) -> R) -> R {
        f(&mut self.space.lock())
    }

    pub fn is_terminated(&self) -> bool {
        self.terminated.load(Ordering::Acquire)
    }

    /// Whether the task may take frames from the reserve kept for the default
    /// pager, and is exempt from page-out (Mach's `vm_privilege`).
    pub fn is_vm_privileged(&self) -> bool {
        self.vm_privileged.load(Ordering::Relaxed)
    }

    pub fn set_vm_privileged(&self, on: bool) {
        self.vm_privileged.store(on, Ordering::Relaxed);
    }

    /// Counts one message sent by `path` (see `ipc_counts`).
    #[inline(always)]
    pub fn count_message(&self, path: MessagePath) {
        self.ipc_counts[path as usize].fetch_add(1, Ordering::Relaxed);
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

    /// Its threads now (for a debugging dump).
    pub fn threads_now(&self) -> Vec<Arc<Thread>> {
        self.threads.lock().clone()
    }

    /// Whether the task has any thread.
    pub fn has_threads(&self) -> bool {
        !self.threads.lock().is_empty()
    }

    /// Removes one thread; returns it and whether it was the last.
    pub fn remove_thread(&self, id: ThreadId) -> Option<(Arc<Thread>, bool)> {
        let mut threads = self.threads.lock();
        let at = threads.iter().position(|t| t.id == id)?;
        let t = threads.swap_remove(at);
        LIVE_THREADS.fetch_sub(1, Ordering::Relaxed);
        Some((t, threads.is_empty()))
    }

    /// Takes every thread off the task (it is being terminated).
    pub fn take_threads(&self) -> Vec<Arc<Thread>> {
        let threads: Vec<Arc<Thread>> = core::mem::take(&mut *self.threads.lock());
        LIVE_THREADS.fetch_sub(threads.len(), Ordering::Relaxed);
        threads
    }

    /// Marks the task ended and takes it out of the task table; false if it
    /// already was (the caller then does nothing more).
    pub fn mark_finished(&self) -> bool {
        if self.terminated.swap(true, Ordering::AcqRel) {
            return false;
        }
        if let Some(tasks) = TASKS.lock().as_mut() {
            tasks.remove(&self.id);
        }
        true
    }
}

/// Logs how `task` ended and, for a test task, reports its expectation.
pub fn report_exit(task: &Task, exit: TaskExit) {
    match exit {
        TaskExit::Exited(status) => log::info!("task {} '{}' exited with status {status}", task.id, task.name),
        TaskExit::Terminated => log::info!("task {} '{}' terminated", task.id, task.name),
        TaskExit::Exception(_) => log::info!("task {} '{}' terminated by an exception", task.id, task.name),
    }
    if let Some(e) = &task.expectation {
        report_expectation(e, exit);
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

/// Live tasks that `parent` created.
pub fn children_of(parent: TaskId) -> usize {
    TASKS.lock().as_ref().map_or(0, |t| {
        t.values()
            .filter(|c| c.parent.load(Ordering::Relaxed) == parent)
            .count()
    })
}

/// Gives back the task table's memory once no task is left.
pub fn shrink() {
    let mut t = TASKS.lock();
    if t.as_ref().is_some_and(|m| m.is_empty()) {
        *t = None;
    }
}

/// Live tasks.
pub fn task_count() -> usize {
    TASKS.lock().as_ref().map_or(0, |t| t.len())
}

/// Live user threads.
pub fn thread_count() -> usize {
    LIVE_THREADS.load(Ordering::Relaxed)
}
