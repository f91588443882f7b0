//! The memory manager's side of the external-pager protocol, shared by the
//! pagers of this system (the default pager, the test pagers, and later the
//! Unix server's file pager): the receive loop over a port (or port set) of
//! memory object ports, decoding through the generated `memory_object`
//! dispatch, the per-object state the protocol needs, and the answers.
//!
//! The protocol (`interfaces/memory_object.defs`): the kernel gives the pager
//! a send right to an object's control port once, with `memory_object_init`
//! (or, at the default pager, with `memory_object_create`); the requests
//! that follow (`data_request`, `data_unlock`, `data_return`, `terminate`)
//! come on the object's port and carry no right. [`Objects`] keeps each
//! object's control right from init and releases it at terminate, when the
//! kernel has destroyed the control port; the pager answers through the
//! [`MemoryObject`] it is handed (`data_supply`, `data_unavailable`, ...).
//!
//! A pager implements [`MemoryManager`] and runs a [`Server`]:
//!
//! ```ignore
//! struct Zeroes;
//! impl MemoryManager for Zeroes {
//!     fn data_request(&mut self, object: MemoryObject, offset: u64, length: u64, _access: u32) -> Result<(), i32> {
//!         object.data_unavailable(offset, length)
//!     }
//!     fn data_return(&mut self, _object: MemoryObject, _offset: u64, _data: OolRegion, _dirty: bool, _kept: bool) -> Result<(), i32> {
//!         Ok(()) // dropping `_data` deallocates it
//!     }
//! }
//! Server::new(object_port, Zeroes).run();
//! ```
//!
//! Requests the server refuses — for an object it has no control right for
//! (never initialised, or already terminated), a second init, or one the
//! manager answers with `Err` — cannot be answered (they are one-way); they
//! are counted ([`Objects::rejected`]) and whatever rights and memory they
//! carried are released. Answers go out with a zero send timeout
//! ([`NoWait`]), so a task that passes a full port of its own as a control
//! port cannot stall the pager.

use crate::ipc::{MsgBuf, mach_msg};
use crate::ool::OolRegion;
use crate::rpc::{Discard, NoWait, mach_port_deallocate_no_reply};
use mach_abi::kern_return::*;
use mach_abi::message::*;
use mach_interfaces::memory_object::{self as mo, MemoryObjectServer};
use mach_interfaces::memory_object_control as moc;
use mach_interfaces::{Dispatch, OolArray, Release, wire};

/// Objects one server keeps control rights for at once.
pub const MAX_OBJECTS: usize = 256;
/// Size of the server's receive buffer (messages and trailer); larger
/// messages are destroyed by the kernel at receive.
pub const REQUEST_BUFFER: usize = 1024;

/// An object the pager serves: its port (a receive right of the pager) and
/// the send right to its control port it got at init. The answer methods send
/// `memory_object_control` messages on that right.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryObject {
    port: u32,
    control: u32,
}

impl MemoryObject {
    /// The object's port (the pager's name for it).
    pub fn port(&self) -> u32 {
        self.port
    }

    /// The pager's name for the object's control port.
    pub fn control(&self) -> u32 {
        self.control
    }

    /// `memory_object_data_supply`: `data` (whole pages) becomes resident at
    /// `offset`; `lock_value` is the access the kernel must ask to unlock.
    pub fn data_supply(&self, offset: u64, data: &[u8], lock_value: u32) -> Result<(), i32> {
        moc::memory_object_data_supply(&mut NoWait, self.control, offset, data, lock_value)
    }

    /// `memory_object_data_unavailable`: the kernel zero-fills the range.
    pub fn data_unavailable(&self, offset: u64, length: u64) -> Result<(), i32> {
        moc::memory_object_data_unavailable(&mut NoWait, self.control, offset, length)
    }

    /// `memory_object_data_error`: faults on the range fail.
    pub fn data_error(&self, offset: u64, length: u64, error_value: i32) -> Result<(), i32> {
        moc::memory_object_data_error(&mut NoWait, self.control, offset, length, error_value)
    }

    /// `memory_object_lock_request` (see `memory_object_control.defs`); the
    /// completion goes to `reply_to` (a receive right of the pager, made
    /// send-once; 0 for none) as `memory_object_lock_completed`.
    pub fn lock_request(
        &self,
        offset: u64,
        size: u64,
        should_return: u32,
        should_flush: u32,
        lock_value: u32,
        reply_to: u32,
    ) -> Result<(), i32> {
        moc::memory_object_lock_request(
            &mut NoWait,
            self.control,
            offset,
            size,
            should_return,
            should_flush,
            lock_value,
            reply_to,
        )
    }

    /// `memory_object_ready`: the answer to init, with the object's attributes.
    pub fn ready(&self, may_cache: bool, copy_strategy: u32) -> Result<(), i32> {
        moc::memory_object_ready(&mut NoWait, self.control, u32::from(may_cache), copy_strategy)
    }

    /// `memory_object_change_attributes`; completes on `reply_to` (0: none).
    pub fn change_attributes(&self, may_cache: bool, copy_strategy: u32, reply_to: u32) -> Result<(), i32> {
        moc::memory_object_change_attributes(&mut NoWait, self.control, u32::from(may_cache), copy_strategy, reply_to)
    }
}

/// The objects a server has control rights for, by port, and the count of
/// requests it refused.
pub struct Objects {
    slots: [MemoryObject; MAX_OBJECTS],
    len: usize,
    rejected: u32,
}

impl Objects {
    pub const fn new() -> Self {
        Objects {
            slots: [MemoryObject { port: 0, control: 0 }; MAX_OBJECTS],
            len: 0,
            rejected: 0,
        }
    }

    fn live(&self) -> &[MemoryObject] {
        &self.slots[..self.len]
    }

    /// The object on `port`, if the server has its control right.
    pub fn get(&self, port: u32) -> Option<MemoryObject> {
        if !mach_port_valid(port) {
            return None;
        }
        self.live().iter().find(|o| o.port == port).copied()
    }

    /// Whether [`Objects::insert`] of `port` with `control` would succeed.
    pub fn check_insert(&self, port: u32, control: u32) -> Result<(), i32> {
        if !mach_port_valid(port) || !mach_port_valid(control) {
            Err(KERN_INVALID_NAME)
        } else if self.get(port).is_some() {
            Err(KERN_NAME_EXISTS)
        } else if self.len == MAX_OBJECTS {
            Err(KERN_RESOURCE_SHORTAGE)
        } else {
            Ok(())
        }
    }

    /// Keeps the control right `control` for the object on `port` (a right
    /// the pager got with init or `memory_object_create`). On error the
    /// right stays the caller's: a null or dead name (`KERN_INVALID_NAME`),
    /// a port already known (`KERN_NAME_EXISTS`), a full table
    /// (`KERN_RESOURCE_SHORTAGE`).
    pub fn insert(&mut self, port: u32, control: u32) -> Result<MemoryObject, i32> {
        self.check_insert(port, control)?;
        let o = MemoryObject { port, control };
        self.slots[self.len] = o;
        self.len += 1;
        Ok(o)
    }

    /// Forgets the object on `port` and releases its control right; returns
    /// what it was. (At terminate the kernel has destroyed the control port,
    /// so the right is a dead name by now, or soon.)
    pub fn remove(&mut self, port: u32) -> Option<MemoryObject> {
        let i = self
            .live()
            .iter()
            .position(|o| o.port == port && mach_port_valid(port))?;
        let o = self.slots[i];
        self.len -= 1;
        self.slots[i] = self.slots[self.len];
        let _ = mach_port_deallocate_no_reply(crate::ipc::task_self(), o.control);
        Some(o)
    }

    /// How many objects the server has control rights for.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The objects the server has control rights for.
    pub fn iter(&self) -> impl Iterator<Item = MemoryObject> + '_ {
        self.live().iter().copied()
    }

    /// Requests refused so far (see the module docs).
    pub fn rejected(&self) -> u32 {
        self.rejected
    }

    /// Counts one refused request (for a manager's own refusals in
    /// [`MemoryManager::other`]).
    pub fn reject(&mut self) {
        self.rejected = self.rejected.saturating_add(1);
    }
}

impl Default for Objects {
    fn default() -> Self {
        Self::new()
    }
}

/// What [`MemoryManager::other`] did with a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Done with it; receive the next.
    Continue,
    /// Send `reply[..n]` (its destination is the request's reply right), then
    /// receive the next.
    Reply(usize),
    /// Not a message this server knows: the server counts it as refused,
    /// releases what it carried and answers `MIG_BAD_ID` if it can.
    Unknown,
    /// Stop serving: [`Server::run`] returns.
    Stop,
}

/// A memory manager: what the kernel's requests on its objects become.
///
/// Every method gets the object as a [`MemoryObject`] (its port and control
/// right) and answers through it. Returning `Err` counts the request as
/// refused ([`Objects::rejected`]); nothing else happens (one-way requests
/// have nobody to tell), except for `init`, where the server then keeps no
/// state and releases the control right.
pub trait MemoryManager {
    /// The kernel maps `object` for the first time. `Ok` keeps its control
    /// right until terminate (answering `ready` is up to the manager).
    fn init(&mut self, object: MemoryObject, page_size: u64) -> Result<(), i32> {
        let _ = (object, page_size);
        Ok(())
    }

    /// The kernel needs `[offset, offset + length)` with `desired_access`:
    /// answer with `data_supply`, `data_unavailable` or `data_error`.
    fn data_request(&mut self, object: MemoryObject, offset: u64, length: u64, desired_access: u32) -> Result<(), i32>;

    /// A fault needs `desired_access` to a range the manager locked; the
    /// answer is a `lock_request` that lifts (or keeps) the lock. By default
    /// refused: a manager that never locks pages never gets one rightly.
    fn data_unlock(&mut self, object: MemoryObject, offset: u64, length: u64, desired_access: u32) -> Result<(), i32> {
        let _ = (object, offset, length, desired_access);
        Err(KERN_INVALID_ARGUMENT)
    }

    /// Page-out: `data` (whole pages) of the object at `offset` comes back;
    /// `dirty` if it changed since it was supplied, `kernel_copy` if the
    /// kernel kept a copy. Dropping `data` deallocates it.
    fn data_return(
        &mut self,
        object: MemoryObject,
        offset: u64,
        data: OolRegion,
        dirty: bool,
        kernel_copy: bool,
    ) -> Result<(), i32>;

    /// The kernel no longer uses the object on `port`. The server has
    /// already released the control right and forgotten the object (a later
    /// init starts it afresh); the port itself stays the manager's.
    fn terminate(&mut self, port: u32) -> Result<(), i32> {
        let _ = port;
        Ok(())
    }

    /// A `lock_request` (or `change_attributes`) that named `port` as its
    /// reply_to is done. By default refused: a manager that sends none
    /// should get none.
    fn lock_completed(&mut self, port: u32, offset: u64, length: u64) -> Result<(), i32> {
        let _ = (port, offset, length);
        Err(KERN_INVALID_ARGUMENT)
    }

    /// Any other message on the server's port (another subsystem, a
    /// notification): `request` is the message with its trailer, `reply` a
    /// buffer of [`REQUEST_BUFFER`] bytes for an answer. The manager owns
    /// what the message carried unless it returns [`Flow::Unknown`].
    fn other(&mut self, objects: &mut Objects, request: &[u8], reply: &mut [u8]) -> Flow {
        let _ = (objects, request, reply);
        Flow::Unknown
    }
}

/// The generated `memory_object` dispatch's view of a manager and its objects.
struct Adapter<'a, M> {
    manager: &'a mut M,
    objects: &'a mut Objects,
}

impl<M> Adapter<'_, M> {
    fn object(&mut self, port: u32) -> Result<MemoryObject, i32> {
        self.objects.get(port).ok_or_else(|| {
            self.objects.reject();
            KERN_INVALID_ARGUMENT
        })
    }

    /// Counts a manager's refusal; the request itself was taken (its memory
    /// is the manager's, already dropped), so the dispatch releases nothing.
    fn taken(&mut self, r: Result<(), i32>) -> Result<(), i32> {
        if r.is_err() {
            self.objects.reject();
        }
        Ok(())
    }
}

impl<M> Release for Adapter<'_, M> {
    fn release_port(&mut self, name: u32, received_type: u8) {
        Discard.release_port(name, received_type);
    }
    fn release_ool(&mut self, address: u64, size: u64) {
        Discard.release_ool(address, size);
    }
    fn release_ool_ports(&mut self, address: u64, count: u32, received_type: u8) {
        Discard.release_ool_ports(address, count, received_type);
    }
}

impl<M: MemoryManager> MemoryObjectServer for Adapter<'_, M> {
    fn memory_object_init(&mut self, port: u32, control: u32, page_size: u64) -> Result<(), i32> {
        // A second init, or a control right that cannot be kept: refused,
        // and the dispatch releases the right.
        let r = self
            .objects
            .check_insert(port, control)
            .and_then(|()| self.manager.init(MemoryObject { port, control }, page_size))
            .and_then(|()| self.objects.insert(port, control).map(|_| ()));
        if r.is_err() {
            self.objects.reject();
        }
        r
    }

    fn memory_object_data_request(&mut self, port: u32, offset: u64, length: u64, access: u32) -> Result<(), i32> {
        let object = self.object(port)?;
        let r = self.manager.data_request(object, offset, length, access);
        self.taken(r)
    }

    fn memory_object_terminate(&mut self, port: u32) -> Result<(), i32> {
        if self.objects.remove(port).is_none() {
            self.objects.reject();
            return Err(KERN_INVALID_ARGUMENT);
        }
        let r = self.manager.terminate(port);
        self.taken(r)
    }

    fn memory_object_data_return(
        &mut self,
        port: u32,
        offset: u64,
        data: OolArray,
        dirty: u32,
        kernel_copy: u32,
    ) -> Result<(), i32> {
        // Refused before the region is taken: the dispatch deallocates it.
        let object = self.object(port)?;
        let data = OolRegion::bytes(data);
        let r = self
            .manager
            .data_return(object, offset, data, dirty != 0, kernel_copy != 0);
        self.taken(r)
    }

    fn memory_object_lock_completed(&mut self, port: u32, offset: u64, length: u64) -> Result<(), i32> {
        let r = self.manager.lock_completed(port, offset, length);
        self.taken(r)
    }

    fn memory_object_data_unlock(&mut self, port: u32, offset: u64, length: u64, access: u32) -> Result<(), i32> {
        let object = self.object(port)?;
        let r = self.manager.data_unlock(object, offset, length, access);
        self.taken(r)
    }
}

/// Serves a [`MemoryManager`] on a port or port set.
pub struct Server<M> {
    pub manager: M,
    pub objects: Objects,
    port: u32,
}

impl<M: MemoryManager> Server<M> {
    /// A server receiving on `port` (an object port or a port set of them
    /// and whatever else the manager serves in [`MemoryManager::other`]).
    pub fn new(port: u32, manager: M) -> Self {
        Server {
            manager,
            objects: Objects::new(),
            port,
        }
    }

    /// The port or port set it receives on.
    pub fn port(&self) -> u32 {
        self.port
    }

    /// Handles one received message (`request`: the message and its
    /// trailer); returns [`Flow::Reply`] with the answer in `reply`,
    /// [`Flow::Continue`] or [`Flow::Stop`] (never [`Flow::Unknown`]: an
    /// unknown message is refused here).
    pub fn serve(&mut self, request: &[u8], reply: &mut [u8]) -> Flow {
        let mut a = Adapter {
            manager: &mut self.manager,
            objects: &mut self.objects,
        };
        match mo::memory_object_server(&mut a, request, reply) {
            Dispatch::Reply(n) => return Flow::Reply(n),
            Dispatch::NoReply => return Flow::Continue,
            Dispatch::BadId(_) => {}
        }
        match self.manager.other(&mut self.objects, request, reply) {
            Flow::Unknown => {
                self.objects.reject();
                wire::release_descriptors(&mut Discard, request);
                match wire::read_header(request).and_then(|h| wire::write_error_reply(&h, reply, MIG_BAD_ID)) {
                    Some(n) => Flow::Reply(n),
                    None => Flow::Continue,
                }
            }
            f => f,
        }
    }

    /// Receives and serves messages until the manager says [`Flow::Stop`] or
    /// the port goes away.
    pub fn run(&mut self) {
        let mut req: MsgBuf<REQUEST_BUFFER> = MsgBuf::new();
        let mut reply: MsgBuf<REQUEST_BUFFER> = MsgBuf::new();
        loop {
            match mach_msg(&mut req, MACH_RCV_MSG, 0, self.port, 0) {
                MACH_MSG_SUCCESS => {}
                MACH_RCV_INVALID_NAME | MACH_RCV_PORT_DIED => return,
                // Too large (destroyed by the kernel), interrupted: go on.
                _ => continue,
            }
            let size = (req.header().size as usize)
                .saturating_add(MACH_MSG_TRAILER_SIZE)
                .min(REQUEST_BUFFER);
            match self.serve(&req.0[..size], &mut reply.0) {
                Flow::Reply(n) => send_reply(&mut reply, n),
                Flow::Stop => return,
                Flow::Continue | Flow::Unknown => {}
            }
        }
    }
}

/// Sends `reply[..n]` without waiting; if it cannot go (no reply right, a
/// full or dead reply port), its reply right is released rather than kept.
fn send_reply(reply: &mut MsgBuf<REQUEST_BUFFER>, n: usize) {
    let n = n.min(REQUEST_BUFFER) as u32;
    if mach_msg(reply, MACH_SEND_MSG | MACH_SEND_TIMEOUT, n, 0, 0) != MACH_MSG_SUCCESS {
        let h = reply.header();
        Discard.release_port(h.remote_port, mach_msgh_bits_remote(h.bits));
    }
}
