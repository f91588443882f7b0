//! The machine-independent kernel, in layers. Each layer calls only the
//! layers below it; what a lower layer finds that a higher one must act on
//! (pagers to tell, threads to wake, kernel messages to serve) it returns
//! instead of calling up.
//!
//! ```text
//!  6  entry/       every way into the kernel: traps, the mach_msg trap, user
//!                  page faults, exceptions, the boot flow and the idle loop.
//!                  The only code that takes the kernel-state lock (entry::lock).
//!  5  kobject/     the kernel-object servers: task, thread, host and host_priv ports,
//!                  device ports, memory-object control ports, exception
//!                  replies; loader (ELF images into new tasks)
//!  4  lifecycle    creating and ending tasks and threads; state (what the
//!                  lock protects: the IPC model, the pager table, exception
//!                  replies, the host ports)
//!  3  ipc/         the kernel side of IPC: spaces and kernel ports of tasks and
//!                  threads, user memory for messages, per-thread IPC state;
//!     pager        external pagers and the default pager (memory_object_*);
//!     exception    exception_raise messages and their replies;
//!     device       the devices found at boot (the disk, the console)
//!  2  vm/          task VM on page tables and frames: faults, fork, virtual
//!                  copies, page-out (`PageoutIo` is how it reaches pagers),
//!                  boot data modules
//!  1  thread, task, sched, wait, waitq: execution and waiting;
//!     clock        the system and calendar clocks
//!  0  crate::arch, crate::mem, prof: the machine, frames and the heap
//! ```
//!
//! Functions below `entry` that need the IPC state take it as an argument
//! (`&mut Ipc`, or the narrow piece of [`state::KernelState`] they need); none
//! of them locks it. No call goes upwards. Two type-only references do, each
//! to a leaf module that depends on nothing else in `kern`: `thread` holds
//! the IPC layer's per-thread state (`ipc::thread_state`) and `task` holds
//! its VM map (`vm::task_vm`). The one import circle is inside layer 1 and
//! type-only: a `Thread` names its `Task` and a `Task` lists its `Thread`s
//! (Mach's `thread->task` and `task->threads`); neither module calls the
//! other. `scripts/kern_layers.py` (run by `make test`) checks all of this:
//! every reference goes to the same or a lower layer, and no other circle.
//!
//! # Lock order
//!
//! Taken in this order, never the other way round (interrupts are off in the
//! kernel, so a lock is never held across a switch or an interrupt):
//!
//! 1. the kernel-state lock (`entry::lock`: the IPC model, pagers, exception replies);
//! 2. a task's VM map (`Task::vm`);
//! 3. the VM objects (`vm::OBJECTS`);
//! 4. a task's page tables (`Task::with_space`);
//! 5. the disk (`device::DISK`) or the console (`device::CONSOLE_STATE`),
//!    taken only by the device server and the console's input;
//! 6. the wait queues (`wait::QUEUES`), then a thread's `waiting`, then `wait::SLEEPERS`
//!    (a thread taken off its wait first, by `wait::resume` or `wait::abort`,
//!    has its `waiting` released before the queues are taken);
//! 7. a CPU's scheduler state (`sched::CPUS`);
//! 8. leaves, held only for a lookup or an update: the task table
//!    (`task::TASKS`), a task's thread list, a thread's IPC buffers, the
//!    frame allocator and the kernel heap.
//!
//! No `unsafe` here: everything that touches the CPU goes through `crate::arch`;
//! the scheduler's context switch is the one `unsafe` call (see `sched`).

pub mod clock;
pub mod device;
pub mod entry;
pub mod exception;
pub mod ipc;
pub mod kobject;
pub mod lifecycle;
pub mod loader;
pub mod pager;
pub mod prof;
pub mod sched;
pub mod state;
pub mod task;
pub mod thread;
pub mod vm;
pub mod wait;
pub mod waitq;
