//! What the kernel-state lock protects (layer 4): the IPC model and the
//! tables of the layer-3 subsystems whose state changes only together with
//! it. `entry::lock` owns the one instance; code below `entry` gets it, or
//! the piece it needs, as an argument.

use super::exception::ExceptionReplies;
use super::pager::Pagers;
use mach_core::ipc::{Ipc, KObject, PortId};

pub struct KernelState {
    pub ipc: Ipc,
    /// Memory objects the kernel maps and the default pager.
    pub pagers: Pagers,
    /// Exception replies not yet collected by their threads.
    pub exceptions: ExceptionReplies,
    /// The host name port (`mach_host_self()`).
    pub host: PortId,
    /// The privileged host port: boot tasks get a send right to it
    /// (`entry::bootstrap`); nothing else hands it out.
    pub host_priv: PortId,
}

impl KernelState {
    /// The IPC state with the host ports. Messages in flight may hold at most
    /// a quarter of the kernel heap, so a task that floods queues gets
    /// MACH_SEND_NO_BUFFER while the rest of the kernel keeps its memory;
    /// the messages queued for one task (kernel replies included) at most a
    /// sixteenth, so one task that never receives stops sends to itself, not
    /// everyone's.
    pub fn new(heap_bytes: usize) -> Self {
        let mut ipc = Ipc::new();
        ipc.set_message_memory_limit(heap_bytes as u64 / 4);
        ipc.set_space_message_limit(heap_bytes as u64 / 16);
        // Name tables, together, a quarter of the heap (16,384 names of one
        // task take about 1 MiB).
        ipc.set_name_table_limit(heap_bytes / 4);
        // Map entries, together, a quarter of the heap too (65,536 entries
        // with the 32 MiB heap: sixteen tasks at their own limit of 4,096).
        super::vm::task_vm::set_entry_budget(heap_bytes / 4);
        let host = ipc.kobject_port_create(KObject::Host);
        let host_priv = ipc.kobject_port_create(KObject::HostPriv);
        KernelState {
            ipc,
            pagers: Pagers::default(),
            exceptions: ExceptionReplies::default(),
            host,
            host_priv,
        }
    }
}
