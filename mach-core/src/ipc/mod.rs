//! Mach IPC as plain data: ports, port sets, IPC spaces, rights, message queues
//! and notifications, with every rule of right accounting, tested on the host.
//!
//! The kernel owns one [`Ipc`] behind a lock and calls into it from its traps;
//! everything that needs the machine (reading user memory, blocking threads,
//! running kernel servers) stays outside, behind [`UserMemory`], the
//! [`WaitKey`]s in [`Ipc::take_wakeups`], and [`Ipc::take_kernel_messages`].
//!
//! Rights accounting (the invariant [`Ipc::audit`] checks): a port's `srights`
//! counts each space entry holding a send right for it, each send right carried
//! in a queued message, and each send right the kernel holds; `sorights` counts
//! send-once rights the same way, plus the notification requests registered
//! with other ports. A port is freed when its receive right is gone and both
//! counts are zero. Dead ports are noticed lazily: a name whose port died turns
//! into a dead name the next time the space looks it up (as Mach does).

pub mod audit;
pub mod handoff;
pub mod held;
pub mod idmap;
pub mod kimage;
pub mod kmsg;
pub mod msg;
pub mod name;
pub mod notify;
pub mod port;
pub mod port_calls;
pub mod right;
pub mod rpc_fast;
pub mod simple;
pub mod space;

// The modules' former names, kept until the kernel's paths follow.
#[doc(hidden)]
pub use handoff as fastpath;
#[doc(hidden)]
pub use port_calls as calls;
#[doc(hidden)]
pub use rpc_fast as rpc;

#[cfg(test)]
mod tests;

use alloc::vec::Vec;
use idmap::{DirectMap, IdMap};
use kmsg::KMsg;
use port::{Port, PortSet};
use space::IpcSpace;

pub use held::Held;
pub use port::{KObject, Receiver};
pub use simple::{Decline, IpcStats};

/// A port name in a space (`mach_port_name_t`).
pub type Name = u32;
/// A kernel-internal port identity (slot and generation, so a stale id
/// never finds a new port); never shown to tasks.
pub type PortId = u64;
pub type PsetId = u64;
/// A task's IPC space is known by the task's id; 0 is the kernel.
pub type SpaceId = u64;

/// The kernel's own "space" in trailers and ownership.
pub const KERNEL_SPACE: SpaceId = 0;

/// A port reference as carried in a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortRef {
    Null,
    Dead,
    Port(PortId),
}

/// The kind of right a message carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RightKind {
    Send,
    SendOnce,
    Receive,
}

/// A right in transit (in a message or in the kernel's hands).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KRight {
    pub port: PortRef,
    pub kind: RightKind,
}

impl KRight {
    pub const NULL: KRight = KRight {
        port: PortRef::Null,
        kind: RightKind::Send,
    };

    pub fn port_id(&self) -> Option<PortId> {
        match self.port {
            PortRef::Port(p) => Some(p),
            _ => None,
        }
    }
}

/// Something a blocked thread can wait for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WaitKey {
    /// A message arrived on the port, or the port changed (died, moved).
    Port(PortId),
    /// A message arrived on a member of the set, or the set changed.
    Set(PsetId),
    /// The port's queue has room again (or the port died).
    Space(PortId),
    /// A pager answered (or failed) for a page of a VM object: (object, page offset).
    Memory(u64, u64),
}

/// Access to the memory of the task on whose behalf an operation runs.
/// Failures carry no detail: the caller maps each to the Mach error its call
/// documents.
#[allow(clippy::result_unit_err)]
pub trait UserMemory {
    /// Copies `buf.len()` bytes from user address `addr`.
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> Result<(), ()>;
    /// Copies `buf` to user address `addr`.
    fn write(&mut self, addr: u64, buf: &[u8]) -> Result<(), ()>;
    /// Allocates zeroed memory of at least `size` bytes anywhere; returns its address.
    fn allocate(&mut self, size: u64) -> Result<u64, ()>;
    /// Releases the whole pages covering `[addr, addr + size)`.
    fn deallocate(&mut self, addr: u64, size: u64) -> Result<(), ()>;
    /// Takes `[addr, addr + size)` as a virtual (copy-on-write) copy for a
    /// message, deallocating it from the sender with `dealloc`. Asked only for
    /// regions sent with `MACH_MSG_VIRTUAL_COPY` or the deallocate flag. Returns a
    /// handle, or `None` to have the bytes copied instead. A handle is later
    /// given to [`Self::copyout_virtual`] of the receiver or, when the message
    /// dies unreceived, comes back from [`Ipc::take_released_copies`].
    fn copyin_virtual(&mut self, _addr: u64, _size: u64, _dealloc: bool) -> Result<Option<u64>, ()> {
        Ok(None)
    }
    /// Maps a virtual copy into this memory; returns the address of its first
    /// byte. On error the handle still needs releasing (the caller does it).
    fn copyout_virtual(&mut self, _copy: u64) -> Result<u64, ()> {
        Err(())
    }
    /// Copies `[addr, addr + size)` (a page or more, for a message to a kernel
    /// object) into pages the kernel keeps, deallocating it with `dealloc`;
    /// returns a handle (released through [`Ipc::take_released_copies`] if no
    /// kernel server takes the pages), or `None` to have the bytes copied
    /// into the message instead.
    fn copyin_kernel_pages(&mut self, _addr: u64, _size: u64, _dealloc: bool) -> Result<Option<u64>, ()> {
        Ok(None)
    }
}

/// Memory that refuses every access: for operations that cannot touch user
/// memory (a header-only message has no out-of-line data) and host tools.
pub struct NoMemory;

impl UserMemory for NoMemory {
    fn read(&mut self, _: u64, _: &mut [u8]) -> Result<(), ()> {
        Err(())
    }
    fn write(&mut self, _: u64, _: &[u8]) -> Result<(), ()> {
        Err(())
    }
    fn allocate(&mut self, _: u64) -> Result<u64, ()> {
        Err(())
    }
    fn deallocate(&mut self, _: u64, _: u64) -> Result<(), ()> {
        Err(())
    }
}

pub struct Ipc {
    pub(crate) ports: IdMap<Port>,
    pub(crate) psets: IdMap<PortSet>,
    pub(crate) spaces: DirectMap<IpcSpace>,
    wakeups: Vec<WaitKey>,
    /// Messages sent to kernel-owned ports, for the kernel to serve.
    kernel_messages: Vec<(KObject, KMsg)>,
    /// Messages to destroy (kept iterative so cycles of in-transit receive
    /// rights cannot recurse without bound).
    garbage: Vec<KMsg>,
    /// Which path messages took (see [`IpcStats`]).
    pub stats: IpcStats,
    /// Kernel memory held by messages tasks sent that are still in flight,
    /// and its limit: past it, sends fail with MACH_SEND_NO_BUFFER instead of
    /// exhausting the kernel heap.
    message_memory: u64,
    message_memory_limit: u64,
    /// Most message memory charged to one space (`KMsg::account`): the
    /// messages queued for a task that does not receive them, kernel
    /// replies included, stop at it.
    space_message_limit: u64,
    /// Virtual copies of destroyed messages, for the kernel to release.
    pub(crate) released_copies: Vec<u64>,
    /// The budget of every space's name table.
    name_tables: alloc::sync::Arc<crate::budget::Budget>,
    /// Reply rights the kernel keeps to answer requests later (`held`).
    held: held::HeldRights,
}

impl Default for Ipc {
    fn default() -> Self {
        Self::new()
    }
}

impl Ipc {
    pub fn new() -> Self {
        Ipc {
            ports: IdMap::new(),
            psets: IdMap::new(),
            spaces: DirectMap::new(),
            wakeups: Vec::new(),
            kernel_messages: Vec::new(),
            garbage: Vec::new(),
            stats: IpcStats::default(),
            message_memory: 0,
            message_memory_limit: u64::MAX,
            space_message_limit: u64::MAX,
            released_copies: Vec::new(),
            name_tables: alloc::sync::Arc::new(crate::budget::Budget::new(usize::MAX)),
            held: held::HeldRights::default(),
        }
    }

    /// Messages queued on ports or received at once since the start.
    pub fn messages_sent(&self) -> u64 {
        self.stats.queued + self.stats.handoffs + self.stats.rpc_fast
    }

    /// Caps the kernel memory that messages in flight may hold.
    pub fn set_message_memory_limit(&mut self, bytes: u64) {
        self.message_memory_limit = bytes;
    }

    /// Kernel memory held by messages in flight.
    pub fn message_memory(&self) -> u64 {
        self.message_memory
    }

    /// Caps the message memory charged to any one space.
    pub fn set_space_message_limit(&mut self, bytes: u64) {
        self.space_message_limit = bytes;
    }

    /// Message memory charged to `space` (`None` for no such space).
    pub fn space_message_memory(&self, space: SpaceId) -> Option<u64> {
        self.spaces.get(&space).map(|s| s.message_memory)
    }

    /// Whether `bytes` more fit in the global budget and in `account`'s.
    #[inline(always)]
    pub(crate) fn message_memory_fits(&self, account: SpaceId, bytes: u64) -> bool {
        let limit = self.space_message_limit;
        self.message_memory
            .checked_add(bytes)
            .is_some_and(|n| n <= self.message_memory_limit)
            && (account == 0
                || self
                    .spaces
                    .get(&account)
                    .is_none_or(|s| s.message_memory.checked_add(bytes).is_some_and(|n| n <= limit)))
    }

    /// Takes `bytes` from the message-memory budget and from `account`'s
    /// (0 or a gone space: the global budget only); false, taking nothing,
    /// if that would pass either limit.
    #[inline]
    pub(crate) fn charge_message_memory(&mut self, account: SpaceId, bytes: u64) -> bool {
        let Some(total) = self
            .message_memory
            .checked_add(bytes)
            .filter(|&n| n <= self.message_memory_limit)
        else {
            return false;
        };
        if account != 0
            && let Some(s) = self.spaces.get_mut(&account)
        {
            let limit = self.space_message_limit;
            let Some(n) = s.message_memory.checked_add(bytes).filter(|&n| n <= limit) else {
                return false;
            };
            s.message_memory = n;
        }
        self.message_memory = total;
        true
    }

    /// Takes `bytes` from the budgets whatever the limits (a kernel reply,
    /// whose request was refused if its receiver was over its limit).
    #[inline]
    pub(crate) fn charge_message_memory_always(&mut self, account: SpaceId, bytes: u64) {
        self.message_memory = self.message_memory.saturating_add(bytes);
        if account != 0
            && let Some(s) = self.spaces.get_mut(&account)
        {
            s.message_memory = s.message_memory.saturating_add(bytes);
        }
    }

    /// Gives back what a message held.
    #[inline]
    pub(crate) fn uncharge_message_memory(&mut self, account: SpaceId, bytes: u64) {
        self.message_memory = self.message_memory.saturating_sub(bytes);
        if account != 0
            && let Some(s) = self.spaces.get_mut(&account)
        {
            s.message_memory = s.message_memory.saturating_sub(bytes);
        }
    }

    /// The space holding the receive right of `port` (0 for a kernel port,
    /// a port in transit or a dead one): whom a message queued there is
    /// charged to.
    pub(crate) fn account_of(&self, port: PortId) -> SpaceId {
        match self.ports.get(&port).map(|p| p.receiver) {
            Some(port::Receiver::Space(s)) => s,
            _ => 0,
        }
    }

    /// Gives back the memory of tables that grew for objects since gone
    /// (more than `slack` vacant port or set slots past the last live one,
    /// and empty work lists' capacity past 64): a flood of ports leaves nothing
    /// behind once its ports are destroyed. Cheap when there is nothing to
    /// give back; the kernel calls it when idle.
    pub fn shrink(&mut self, slack: usize) {
        self.ports.shrink(slack);
        self.psets.shrink(slack);
        self.spaces.shrink();
        fn empty_list<T>(v: &mut Vec<T>) {
            if v.is_empty() && v.capacity() > 64 {
                *v = Vec::new();
            }
        }
        empty_list(&mut self.kernel_messages);
        empty_list(&mut self.garbage);
        empty_list(&mut self.wakeups);
        empty_list(&mut self.released_copies);
    }

    /// Creates the IPC space of a new task.
    pub fn space_create(&mut self, id: SpaceId, name_limit: usize) {
        self.spaces
            .insert(id, IpcSpace::with_budget(name_limit, self.name_tables.clone()));
    }

    /// Caps the kernel memory all name tables together may hold (see
    /// [`crate::budget::Budget`]).
    pub fn set_name_table_limit(&mut self, bytes: usize) {
        self.name_tables.set_limit(bytes);
    }

    /// Kernel memory the name tables hold now.
    pub fn name_table_bytes(&self) -> usize {
        self.name_tables.used()
    }

    pub fn space_exists(&self, id: SpaceId) -> bool {
        self.spaces.contains_key(&id)
    }

    /// Number of live ports, port sets and queued messages.
    pub fn object_counts(&self) -> (usize, usize, usize) {
        let msgs = self.ports.values().map(|p| p.messages.len()).sum();
        (self.ports.len(), self.psets.len(), msgs)
    }

    /// Wait keys whose waiters should re-check, accumulated since the last call.
    pub fn take_wakeups(&mut self) -> Vec<WaitKey> {
        core::mem::take(&mut self.wakeups)
    }

    /// Calls `f` on each wait key accumulated since the last call, in order,
    /// and forgets them. Unlike [`Self::take_wakeups`] this keeps the list's
    /// capacity, so steady-state IPC does not allocate for wakeups.
    pub fn drain_wakeups(&mut self, f: impl FnMut(WaitKey)) {
        if self.wakeups.is_empty() {
            return;
        }
        self.wakeups.drain(..).for_each(f);
    }

    /// Is there anything for the kernel to do after an operation: kernel
    /// messages to serve, released copies to drop, or wakeups to deliver?
    pub fn has_follow_up(&self) -> bool {
        !self.kernel_messages.is_empty() || !self.released_copies.is_empty() || !self.wakeups.is_empty()
    }

    /// Are there messages for kernel objects to serve
    /// ([`Self::take_kernel_messages`])?
    pub fn has_kernel_messages(&self) -> bool {
        !self.kernel_messages.is_empty()
    }

    /// Messages addressed to kernel objects, accumulated since the last call.
    pub fn take_kernel_messages(&mut self) -> Vec<(KObject, KMsg)> {
        core::mem::take(&mut self.kernel_messages)
    }

    pub(crate) fn wake(&mut self, key: WaitKey) {
        if !self.wakeups.contains(&key) {
            self.wakeups.push(key);
        }
    }

    pub(crate) fn new_port(&mut self, receiver: Receiver) -> PortId {
        self.ports
            .insert(Port::new(receiver, mach_abi::port::MACH_PORT_QLIMIT_DEFAULT))
    }

    pub(crate) fn new_pset(&mut self, owner: SpaceId) -> PsetId {
        self.psets.insert(PortSet {
            owner,
            members: Vec::new(),
        })
    }

    /// Creates a port whose receive right the kernel is about to send in a
    /// message (a new memory object for the default pager); returns the port
    /// and that right.
    pub fn port_create_for_transfer(&mut self) -> (PortId, KRight) {
        let port = self.new_port(Receiver::InTransit(None));
        (
            port,
            KRight {
                port: PortRef::Port(port),
                kind: RightKind::Receive,
            },
        )
    }

    /// Creates a port whose receiver is the kernel object `obj`.
    pub fn kobject_port_create(&mut self, obj: KObject) -> PortId {
        self.new_port(Receiver::Kernel(obj))
    }

    /// Gives `space` a send right (made from the receive right) to `port`;
    /// returns the name. Used for the task self, thread and host ports.
    pub fn insert_make_send(&mut self, space: SpaceId, port: PortId) -> Result<Name, i32> {
        let r = self
            .make_send_right(port)
            .ok_or(mach_abi::kern_return::KERN_INVALID_CAPABILITY)?;
        self.copyout_right(space, r)
            .map_err(|_| mach_abi::kern_return::KERN_NO_SPACE)
    }

    /// A new send right made from a live port's receive right.
    pub fn make_send_right(&mut self, port: PortId) -> Option<KRight> {
        let p = self.ports.get_mut(&port)?;
        if p.is_dead() {
            return None;
        }
        p.srights += 1;
        p.mscount = p.mscount.wrapping_add(1);
        Some(KRight {
            port: PortRef::Port(port),
            kind: RightKind::Send,
        })
    }

    /// Keeps a carried send right in the kernel (a task's exception port);
    /// returns its port. Counted in the port's `kernel_srights`.
    pub fn kernel_hold_send(&mut self, right: KRight) -> Option<PortId> {
        let p = right.port_id().filter(|_| right.kind == RightKind::Send)?;
        self.ports.get_mut(&p)?.kernel_srights += 1;
        Some(p)
    }

    /// Registers the kernel's dead-name request on `port` (a port the kernel
    /// holds a send right to): when its receive right dies, the send-once
    /// right `notify` carries `MACH_NOTIFY_DEAD_NAME` with name 0 (sent by
    /// the kernel, so a server can tell it from a forged one). A port already
    /// dead notifies at once; an earlier request is replaced and released.
    pub fn kernel_request_dead_name(&mut self, port: PortId, notify: KRight) {
        let Some(n) = notify.port_id().filter(|_| notify.kind == RightKind::SendOnce) else {
            self.release_right(notify);
            return;
        };
        match self.ports.get_mut(&port) {
            Some(p) if !p.is_dead() => {
                if let Some(old) = p.kernel_dnrequest.replace(n) {
                    self.release_send_once(old);
                }
            }
            _ => self.notify_dead_name(n, 0),
        }
    }

    /// Asks for a no-senders notification on the kernel port `port`, sent to
    /// `port` itself (so the kernel object behind it hears it, from the
    /// kernel) the next time its last send right goes. A no-op for a dead
    /// port or one with a request already; unlike `mach_port_request_notification`
    /// it never fires at once, so a port no right was made for yet can be armed.
    pub fn kernel_request_no_senders(&mut self, port: PortId) {
        if let Some(p) = self.ports.get_mut(&port)
            && !p.is_dead()
            && p.nsrequest.is_none()
        {
            p.sorights += 1;
            p.nsrequest = Some(port);
        }
    }

    /// Cancels the kernel's dead-name request on `port`, releasing its
    /// send-once right (which sends a send-once notification to a live notify port).
    pub fn kernel_cancel_dead_name(&mut self, port: PortId) {
        if let Some(n) = self.ports.get_mut(&port).and_then(|p| p.kernel_dnrequest.take()) {
            self.release_send_once(n);
            self.collect_garbage();
        }
    }

    /// Whether the kernel itself receives on `port` (a task, thread, host,
    /// device or control port): such a port can be neither a pager nor an
    /// exception handler.
    pub fn is_kernel_port(&self, port: PortId) -> bool {
        self.ports
            .get(&port)
            .is_some_and(|p| matches!(p.receiver, port::Receiver::Kernel(_)))
    }

    /// Whether the port's receive right still exists.
    pub fn port_is_alive(&self, port: PortId) -> bool {
        self.ports.get(&port).is_some_and(|p| !p.is_dead())
    }

    /// Gives up a send right the kernel held.
    pub fn kernel_release_send(&mut self, port: PortId) {
        if let Some(p) = self.ports.get_mut(&port) {
            p.kernel_srights = p.kernel_srights.saturating_sub(1);
        }
        self.release_send(port);
        self.collect_garbage();
    }

    /// A new send right copied from one the kernel holds (to send a message
    /// on it); `None` if the port has died.
    pub fn copy_kernel_send(&mut self, port: PortId) -> Option<KRight> {
        let p = self.ports.get_mut(&port)?;
        if p.is_dead() {
            return None;
        }
        p.srights += 1;
        Some(KRight {
            port: PortRef::Port(port),
            kind: RightKind::Send,
        })
    }

    /// A new send-once right made from a port's receive right (kernel ports).
    pub fn make_send_once_right(&mut self, port: PortId) -> Option<KRight> {
        let p = self.ports.get_mut(&port)?;
        if p.is_dead() {
            return None;
        }
        p.sorights += 1;
        Some(KRight {
            port: PortRef::Port(port),
            kind: RightKind::SendOnce,
        })
    }

    /// Destroys a kernel object's port (its object is going away).
    pub fn kobject_port_destroy(&mut self, port: PortId) {
        self.destroy_receive(port, false);
        self.collect_garbage();
    }

    /// Destroys a task's IPC space and every right in it.
    pub fn space_destroy(&mut self, id: SpaceId) {
        let Some(space) = self.spaces.remove(&id) else {
            return;
        };
        // Walked in place (the space is out of the table): teardown
        // allocates nothing for the walk.
        for (name, e) in space.names() {
            self.terminate_entry(id, name, *e);
        }
        drop(space);
        self.collect_garbage();
    }

    /// Virtual copies (see [`UserMemory::copyin_virtual`]) and kernel pages
    /// (see [`UserMemory::copyin_kernel_pages`]) of messages that were
    /// destroyed, could not be received or were not taken by a kernel
    /// server: the kernel releases them.
    pub fn take_released_copies(&mut self) -> Vec<u64> {
        core::mem::take(&mut self.released_copies)
    }

    /// True when [`Self::take_released_copies`] has something.
    pub fn has_released_copies(&self) -> bool {
        !self.released_copies.is_empty()
    }

    pub(crate) fn release_copies(&mut self, kmsg: &kmsg::KMsg) {
        for (_, d) in &kmsg.descs {
            if let kmsg::KDesc::OolCopy(c) = d {
                self.released_copies.push(*c);
            }
        }
    }

    /// Destroys every queued message waiting to be destroyed.
    pub(crate) fn collect_garbage(&mut self) {
        while let Some(m) = self.garbage.pop() {
            self.destroy_kmsg_now(m);
        }
    }
}
