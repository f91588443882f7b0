//! Moving single rights between spaces and messages, and destroying them.
//!
//! `copyin_right` takes a right out of a space according to a message
//! disposition; `copyout_right` puts a carried right into a space, merging
//! send and receive rights for one port under one name (user references
//! saturate at `MACH_PORT_UREFS_MAX`; the surplus right is released, never
//! wrapped). `release_right` destroys a carried right with its consequences:
//! no-senders and send-once notifications, and port destruction for receive
//! rights (or a port-destroyed notification when one was requested).

use super::port::Receiver;
use super::space::{Entry, Object, bits};
use super::{Ipc, KRight, Name, PortId, PortRef, RightKind, SpaceId, WaitKey};
use mach_abi::kern_return::*;
use mach_abi::message::*;
use mach_abi::port::MACH_PORT_UREFS_MAX;

/// The kind of right a disposition produces.
pub(crate) fn kind_of(disposition: u8) -> RightKind {
    match disposition {
        MACH_MSG_TYPE_MOVE_RECEIVE => RightKind::Receive,
        MACH_MSG_TYPE_MOVE_SEND_ONCE | MACH_MSG_TYPE_MAKE_SEND_ONCE => RightKind::SendOnce,
        _ => RightKind::Send,
    }
}

/// Can `disposition` be applied to the (already dead-checked) entry `e`,
/// with `extra_send_urefs` user references to spare?
pub(crate) fn copyin_allowed(e: &Entry, disposition: u8, extra_send_urefs: u32) -> Result<(), KernReturn> {
    let ok = match disposition {
        MACH_MSG_TYPE_MOVE_RECEIVE | MACH_MSG_TYPE_MAKE_SEND | MACH_MSG_TYPE_MAKE_SEND_ONCE => {
            e.bits & bits::RECEIVE != 0
        }
        MACH_MSG_TYPE_MOVE_SEND => e.bits & (bits::SEND | bits::DEAD_NAME) != 0 && e.urefs > extra_send_urefs,
        MACH_MSG_TYPE_COPY_SEND => e.bits & (bits::SEND | bits::DEAD_NAME) != 0,
        MACH_MSG_TYPE_MOVE_SEND_ONCE => e.bits & (bits::SEND_ONCE | bits::DEAD_NAME) != 0,
        _ => false,
    };
    if ok { Ok(()) } else { Err(KERN_INVALID_RIGHT) }
}

impl Ipc {
    /// Does `e` hold a send or send-once right for a port that has died (so
    /// that it should read as a dead name)?
    fn names_dead_port(&self, e: &Entry) -> bool {
        e.bits & (bits::SEND | bits::SEND_ONCE) != 0
            && e.port()
                .is_some_and(|port| self.ports.get(&port).is_none_or(|p| p.is_dead()))
    }

    /// Turns a name whose port has died into a dead name (lazily, as Mach does).
    pub(crate) fn check_dead(&mut self, space: SpaceId, name: Name) {
        let Some(&e) = self.spaces.get(&space).and_then(|s| s.get(name)) else {
            return;
        };
        if self.names_dead_port(&e) {
            self.make_dead_name(space, name, e);
        }
    }

    /// The dead-name conversion of [`Self::check_dead`], for an entry `e`
    /// whose port is known to be dead.
    #[cold]
    fn make_dead_name(&mut self, space: SpaceId, name: Name, e: Entry) {
        let Some(port) = e.port() else { return };
        let (was_send, urefs) = (e.bits & bits::SEND != 0, e.urefs);
        if let Some(p) = self.ports.get_mut(&port) {
            if was_send {
                p.srights = p.srights.saturating_sub(1);
            } else {
                p.sorights = p.sorights.saturating_sub(1);
            }
        }
        let s = self.spaces.get_mut(&space).expect("space");
        let e = s.get_mut(name).expect("entry");
        e.bits = bits::DEAD_NAME;
        e.urefs = if was_send { urefs } else { 1 };
        e.object = Object::None;
        // A dead-name request on this name was fired when the port died.
        e.dnrequest = None;
        s.update_index_dead(name, port);
        self.maybe_free_port(port);
    }

    /// The entry `name` denotes in `space` (a copy), once [`Self::check_dead`]
    /// has run on it: one space lookup when the name's port is alive.
    pub(crate) fn lookup_entry(&mut self, space: SpaceId, name: Name) -> Option<Entry> {
        let e = *self.spaces.get(&space)?.get(name)?;
        if !self.names_dead_port(&e) {
            return Some(e);
        }
        self.make_dead_name(space, name, e);
        self.spaces.get(&space)?.get(name).copied()
    }

    /// Checks that `disposition` can be applied to `name` in `space` without
    /// changing anything; `extra_send_urefs` more user references are needed
    /// (when the same name appears twice in a header).
    pub(crate) fn check_copyin(
        &mut self,
        space: SpaceId,
        name: Name,
        disposition: u8,
        extra_send_urefs: u32,
    ) -> Result<(), KernReturn> {
        if !mach_port_valid(name) {
            // Null and dead names travel as themselves, whatever the disposition.
            return if is_send_disposition(disposition) {
                Ok(())
            } else {
                Err(KERN_INVALID_RIGHT)
            };
        }
        let e = self.lookup_entry(space, name).ok_or(KERN_INVALID_NAME)?;
        copyin_allowed(&e, disposition, extra_send_urefs)
    }

    /// Takes a right out of `space` as `disposition` says.
    pub(crate) fn copyin_right(&mut self, space: SpaceId, name: Name, disposition: u8) -> Result<KRight, KernReturn> {
        let kind = kind_of(disposition);
        if name == MACH_PORT_NULL {
            return Ok(KRight {
                port: PortRef::Null,
                kind,
            });
        }
        if name == MACH_PORT_DEAD {
            return Ok(KRight {
                port: PortRef::Dead,
                kind,
            });
        }
        self.check_copyin(space, name, disposition, 0)?;
        self.take_right(space, name, disposition, kind)
    }

    /// `copyin_right` for a name and disposition `check_copyin` has accepted
    /// (nothing changed in between).
    pub(crate) fn take_right(
        &mut self,
        space: SpaceId,
        name: Name,
        disposition: u8,
        kind: RightKind,
    ) -> Result<KRight, KernReturn> {
        if !mach_port_valid(name) {
            return Ok(KRight {
                port: if name == MACH_PORT_DEAD {
                    PortRef::Dead
                } else {
                    PortRef::Null
                },
                kind,
            });
        }
        let s = self.spaces.get_mut(&space).ok_or(KERN_INVALID_TASK)?;
        let e = s.get_mut(name).ok_or(KERN_INVALID_NAME)?;
        if e.bits & bits::DEAD_NAME != 0 {
            if disposition == MACH_MSG_TYPE_MOVE_SEND || disposition == MACH_MSG_TYPE_MOVE_SEND_ONCE {
                e.urefs -= 1;
                if e.urefs == 0 {
                    s.free(name);
                }
            }
            return Ok(KRight {
                port: PortRef::Dead,
                kind,
            });
        }
        let port = e.port().ok_or(KERN_INVALID_RIGHT)?;
        match disposition {
            MACH_MSG_TYPE_MOVE_RECEIVE => {
                e.bits &= !bits::RECEIVE;
                // What is left (a send right) keeps the entry in the reverse map.
                if e.bits == 0 {
                    let old = s.free(name).expect("entry");
                    debug_assert!(old.dnrequest.is_none());
                }
                self.leave_pset(port);
                let p = self.ports.get_mut(&port).expect("port");
                p.receiver = Receiver::InTransit(None);
                self.wake(WaitKey::Port(port));
            }
            MACH_MSG_TYPE_MOVE_SEND => {
                e.urefs -= 1;
                if e.urefs == 0 {
                    e.bits &= !bits::SEND;
                    let request = e.dnrequest.take();
                    if e.bits == 0 {
                        s.free(name);
                    }
                    if let Some(r) = request {
                        self.cancel_dnrequest(space, name, port, r, false);
                    }
                } else {
                    self.ports.get_mut(&port).expect("port").srights += 1;
                }
            }
            MACH_MSG_TYPE_COPY_SEND | MACH_MSG_TYPE_MAKE_SEND | MACH_MSG_TYPE_MAKE_SEND_ONCE => {
                self.count_new_right(port, disposition);
            }
            MACH_MSG_TYPE_MOVE_SEND_ONCE => {
                let request = e.dnrequest.take();
                s.free(name);
                if let Some(r) = request {
                    self.cancel_dnrequest(space, name, port, r, false);
                }
            }
            _ => return Err(KERN_INVALID_RIGHT),
        }
        Ok(KRight {
            port: PortRef::Port(port),
            kind,
        })
    }

    /// [`Self::take_right`] for a name whose entry `e` [`Self::lookup_entry`]
    /// returned and [`copyin_allowed`] accepted, nothing having changed since:
    /// copying or making a right leaves the entry alone and only counts the
    /// new right on the port, so no space lookup is needed.
    pub(crate) fn take_checked_right(
        &mut self,
        space: SpaceId,
        name: Name,
        e: &Entry,
        disposition: u8,
    ) -> Result<KRight, KernReturn> {
        let kind = kind_of(disposition);
        let copies = matches!(
            disposition,
            MACH_MSG_TYPE_COPY_SEND | MACH_MSG_TYPE_MAKE_SEND | MACH_MSG_TYPE_MAKE_SEND_ONCE
        );
        // A dead name denotes no port (its object is `Object::None`), so
        // `e.port()` already leaves dead names to `take_right`.
        match e.port() {
            Some(port) if copies => {
                self.count_new_right(port, disposition);
                Ok(KRight {
                    port: PortRef::Port(port),
                    kind,
                })
            }
            _ => self.take_right(space, name, disposition, kind),
        }
    }

    /// Counts on `port` the right a COPY_SEND, MAKE_SEND or MAKE_SEND_ONCE
    /// disposition makes.
    fn count_new_right(&mut self, port: PortId, disposition: u8) {
        let p = self.ports.get_mut(&port).expect("port");
        match disposition {
            MACH_MSG_TYPE_MAKE_SEND_ONCE => p.sorights += 1,
            MACH_MSG_TYPE_MAKE_SEND => {
                p.srights += 1;
                p.mscount = p.mscount.wrapping_add(1);
            }
            _ => p.srights += 1,
        }
    }

    /// Puts a carried right into `space`; returns its name there. When the
    /// space has no room the right is destroyed and `Err(())` returned.
    pub(crate) fn copyout_right(&mut self, space: SpaceId, right: KRight) -> Result<Name, ()> {
        let port = match right.port {
            PortRef::Null => return Ok(MACH_PORT_NULL),
            PortRef::Dead => return Ok(MACH_PORT_DEAD),
            PortRef::Port(p) => p,
        };
        let dead = self.ports.get(&port).is_none_or(|p| p.is_dead());
        if dead && right.kind != RightKind::Receive {
            self.release_right(right);
            return Ok(MACH_PORT_DEAD);
        }
        let Some(s) = self.spaces.get_mut(&space) else {
            self.release_right(right);
            return Err(());
        };
        match right.kind {
            RightKind::Send => {
                if let Some(name) = s.name_of_port(port) {
                    let e = s.get_mut(name).expect("indexed entry");
                    if e.bits & bits::SEND != 0 {
                        // Merge: the entry already counts as one send right.
                        if e.urefs < MACH_PORT_UREFS_MAX {
                            e.urefs += 1;
                        }
                        self.ports.get_mut(&port).expect("port").srights -= 1;
                    } else {
                        e.bits |= bits::SEND;
                        e.urefs = 1;
                    }
                    Ok(name)
                } else {
                    match s.alloc(bits::SEND, 1, Object::Port(port)) {
                        Ok(n) => Ok(n),
                        Err(_) => {
                            self.release_right(right);
                            Err(())
                        }
                    }
                }
            }
            RightKind::SendOnce => match s.alloc(bits::SEND_ONCE, 1, Object::Port(port)) {
                Ok(n) => Ok(n),
                Err(_) => {
                    self.release_right(right);
                    Err(())
                }
            },
            RightKind::Receive => {
                let name = if let Some(name) = s.name_of_port(port) {
                    let e = s.get_mut(name).expect("indexed entry");
                    e.bits |= bits::RECEIVE;
                    name
                } else {
                    match s.alloc(bits::RECEIVE, 0, Object::Port(port)) {
                        Ok(n) => n,
                        Err(_) => {
                            self.release_right(right);
                            return Err(());
                        }
                    }
                };
                let p = self.ports.get_mut(&port).expect("port");
                p.receiver = Receiver::Space(space);
                Ok(name)
            }
        }
    }

    /// Destroys a carried right.
    pub fn release_right(&mut self, right: KRight) {
        let PortRef::Port(port) = right.port else {
            return;
        };
        match right.kind {
            RightKind::Send => self.release_send(port),
            RightKind::SendOnce => self.release_send_once(port),
            RightKind::Receive => self.destroy_receive(port, true),
        }
        self.collect_garbage();
    }

    /// Drops one send right; the last one fires the no-senders request.
    pub(crate) fn release_send(&mut self, port: PortId) {
        let Some(p) = self.ports.get_mut(&port) else {
            return;
        };
        p.srights = p.srights.saturating_sub(1);
        if p.srights == 0
            && !p.is_dead()
            && let Some(notify) = p.nsrequest.take()
        {
            let mscount = p.mscount;
            self.notify_no_senders(notify, mscount);
        }
        self.maybe_free_port(port);
    }

    /// Destroys an unused send-once right: it carries a send-once notification.
    pub(crate) fn release_send_once(&mut self, port: PortId) {
        let alive = self.ports.get(&port).is_some_and(|p| !p.is_dead());
        if alive {
            self.notify_send_once(port);
        } else {
            if let Some(p) = self.ports.get_mut(&port) {
                p.sorights = p.sorights.saturating_sub(1);
            }
            self.maybe_free_port(port);
        }
    }

    /// A send-once right consumed by delivering a message through it.
    pub(crate) fn consume_send_once(&mut self, port: PortId) {
        if let Some(p) = self.ports.get_mut(&port) {
            p.sorights = p.sorights.saturating_sub(1);
        }
        self.maybe_free_port(port);
    }

    /// Destroys a receive right. With a port-destroyed request (and
    /// `allow_pd`), the right goes to the requester instead.
    pub(crate) fn destroy_receive(&mut self, port: PortId, allow_pd: bool) {
        let Some(p) = self.ports.get_mut(&port) else {
            return;
        };
        if p.is_dead() {
            return;
        }
        if allow_pd && let Some(notify) = p.pdrequest.take() {
            self.leave_pset(port);
            self.ports.get_mut(&port).expect("port").receiver = Receiver::InTransit(None);
            self.notify_port_destroyed(notify, port);
            return;
        }
        self.leave_pset(port);
        let p = self.ports.get_mut(&port).expect("port");
        p.receiver = Receiver::Dead;
        let messages = core::mem::take(&mut p.messages);
        let nsrequest = p.nsrequest.take();
        let pdrequest = p.pdrequest.take();
        let dnrequests = core::mem::take(&mut p.dnrequests);
        let kernel_dnrequest = p.kernel_dnrequest.take();
        self.garbage.extend(messages);
        if let Some(n) = nsrequest {
            self.release_send_once(n);
        }
        if let Some(n) = pdrequest {
            self.release_send_once(n);
        }
        for (space, name) in dnrequests {
            let request = self
                .spaces
                .get_mut(&space)
                .and_then(|s| s.get_mut(name))
                .and_then(|e| e.dnrequest.take());
            if let Some(r) = request {
                self.notify_dead_name(r, name);
            }
        }
        if let Some(r) = kernel_dnrequest {
            self.notify_dead_name(r, 0);
        }
        self.wake(WaitKey::Port(port));
        self.wake(WaitKey::Space(port));
        self.maybe_free_port(port);
    }

    /// Removes a port from its port set, if any.
    pub(crate) fn leave_pset(&mut self, port: PortId) {
        let Some(p) = self.ports.get_mut(&port) else {
            return;
        };
        if let Some(set) = p.pset.take() {
            if let Some(s) = self.psets.get_mut(&set) {
                s.members.retain(|&m| m != port);
            }
            self.wake(WaitKey::Set(set));
        }
    }

    /// Frees a port nothing refers to any more.
    pub(crate) fn maybe_free_port(&mut self, port: PortId) {
        if let Some(p) = self.ports.get(&port)
            && p.is_dead()
            && p.srights == 0
            && p.sorights == 0
            && p.messages.is_empty()
        {
            self.ports.remove(&port);
        }
    }

    /// Cancels a dead-name request registered on `name`: the request's
    /// send-once right carries a port-deleted notification (`deleted`) or is
    /// simply released.
    pub(crate) fn cancel_dnrequest(
        &mut self,
        space: SpaceId,
        name: Name,
        port: PortId,
        request: PortId,
        deleted_only: bool,
    ) {
        if let Some(p) = self.ports.get_mut(&port) {
            p.dnrequests.retain(|&(s, n)| !(s == space && n == name));
        }
        let _ = deleted_only;
        self.notify_port_deleted(request, name);
    }

    /// Destroys what one entry of a dying space held.
    pub(crate) fn terminate_entry(&mut self, space: SpaceId, name: Name, e: Entry) {
        match e.object {
            Object::Set(set) => {
                if let Some(s) = self.psets.remove(&set) {
                    for m in s.members {
                        if let Some(p) = self.ports.get_mut(&m) {
                            p.pset = None;
                        }
                    }
                    // Threads receiving on the set must find out it is gone.
                    self.wake(WaitKey::Set(set));
                }
            }
            Object::Port(port) => {
                if let Some(r) = e.dnrequest {
                    if let Some(p) = self.ports.get_mut(&port) {
                        p.dnrequests.retain(|&(s, n)| !(s == space && n == name));
                    }
                    self.notify_port_deleted(r, name);
                }
                if e.bits & bits::RECEIVE != 0 {
                    self.destroy_receive(port, true);
                }
                if e.bits & bits::SEND != 0 {
                    self.release_send(port);
                }
                if e.bits & bits::SEND_ONCE != 0 {
                    self.release_send_once(port);
                }
            }
            Object::None => {}
        }
    }
}
