//! Ports (message queues with rights accounting) and port sets.

use super::kmsg::KMsg;
use super::{PortId, PsetId, SpaceId};
use alloc::collections::VecDeque;
use alloc::vec::Vec;

/// What a port's receive right belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Receiver {
    /// Held by a task's space.
    Space(SpaceId),
    /// Carried in a message queued on the given port (or being built: `None`).
    InTransit(Option<PortId>),
    /// Implemented by the kernel (task, thread, host, host_priv and device ports).
    Kernel(KObject),
    /// The receive right was destroyed.
    Dead,
}

/// A kernel object behind a kernel-owned port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KObject {
    Task(u64),
    Thread(u64),
    /// The host name port (`mach_host_self()`): harmless information.
    Host,
    /// The privileged host port: what changes or inspects the system.
    HostPriv,
    /// The reply port of an exception message the kernel sent for a thread.
    ExceptionReply(u64),
    /// The control port of a pager-backed VM object (pagers answer on it).
    MemoryControl(u64),
    /// The device master port (`device_open` is sent to it).
    DeviceMaster,
    /// A device's port (the index of a device of `kern::device`).
    Device(u64),
}

pub struct Port {
    pub receiver: Receiver,
    pub messages: VecDeque<KMsg>,
    pub qlimit: u32,
    pub seqno: u32,
    /// Make-send count: send rights ever made from the receive right.
    pub mscount: u32,
    /// Send rights in existence: one per space entry holding one, one per
    /// right carried in a message, one per right the kernel holds.
    pub srights: u32,
    /// Send-once rights in existence.
    pub sorights: u32,
    /// No-senders request: a send-once right to the notify port.
    pub nsrequest: Option<PortId>,
    /// Port-destroyed request: a send-once right to the notify port.
    pub pdrequest: Option<PortId>,
    /// Dead-name requests: (space, name) pairs whose entries hold a request.
    pub dnrequests: Vec<(SpaceId, u32)>,
    pub pset: Option<PsetId>,
    /// Send rights the kernel itself holds (counted in `srights`).
    pub kernel_srights: u32,
    /// The kernel's dead-name request: a send-once right to a kernel port
    /// that hears `MACH_NOTIFY_DEAD_NAME` (name 0) when this port dies (the
    /// kernel watches the pagers it holds send rights to this way).
    pub kernel_dnrequest: Option<PortId>,
}

impl Port {
    pub fn new(receiver: Receiver, qlimit: u32) -> Self {
        Port {
            receiver,
            messages: VecDeque::new(),
            qlimit,
            seqno: 0,
            mscount: 0,
            srights: 0,
            sorights: 0,
            nsrequest: None,
            pdrequest: None,
            dnrequests: Vec::new(),
            pset: None,
            kernel_srights: 0,
            kernel_dnrequest: None,
        }
    }

    pub fn is_dead(&self) -> bool {
        self.receiver == Receiver::Dead
    }

    pub fn is_full(&self) -> bool {
        self.messages.len() >= self.qlimit as usize
    }
}

pub struct PortSet {
    pub owner: SpaceId,
    pub members: Vec<PortId>,
}
