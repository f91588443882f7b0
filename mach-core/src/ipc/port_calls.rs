//! The port-management calls (`mach_port_*`), as operations on a space.
//!
//! Each call validates its arguments before it changes anything, and returns
//! the `kern_return_t` Mach documents for each failure.

use super::port::Receiver;
use super::space::{Object, bits};
use super::{Ipc, KRight, Name, PortRef, RightKind, SpaceId, WaitKey};
use alloc::vec::Vec;
use mach_abi::kern_return::*;
use mach_abi::message::mach_port_valid;
use mach_abi::port::*;

impl Ipc {
    fn space_has(&self, space: SpaceId) -> Result<(), KernReturn> {
        if self.spaces.contains_key(&space) {
            Ok(())
        } else {
            Err(KERN_INVALID_TASK)
        }
    }

    /// The port a name in `space` denotes (kernel use: setting up special ports).
    pub fn port_of(&self, space: SpaceId, name: Name) -> Option<u64> {
        self.spaces.get(&space)?.get(name)?.port()
    }

    /// `mach_port_allocate`.
    pub fn port_allocate(&mut self, space: SpaceId, right: MachPortRight) -> Result<Name, KernReturn> {
        self.allocate_right(space, right, None)
    }

    /// `mach_port_allocate_name`.
    pub fn port_allocate_name(&mut self, space: SpaceId, right: MachPortRight, name: Name) -> Result<(), KernReturn> {
        if !mach_port_valid(name) {
            self.space_has(space)?;
            return Err(KERN_INVALID_VALUE);
        }
        self.allocate_right(space, right, Some(name)).map(|_| ())
    }

    /// A new receive right, port set or dead name in `space`, under `name` or
    /// a fresh name; the port or set is undone if no name can be had.
    fn allocate_right(&mut self, space: SpaceId, right: MachPortRight, name: Option<Name>) -> Result<Name, KernReturn> {
        self.space_has(space)?;
        let (bits, urefs, object) = match right {
            MACH_PORT_RIGHT_RECEIVE => (bits::RECEIVE, 0, Object::Port(self.new_port(Receiver::Space(space)))),
            MACH_PORT_RIGHT_PORT_SET => (bits::PORT_SET, 0, Object::Set(self.new_pset(space))),
            MACH_PORT_RIGHT_DEAD_NAME => (bits::DEAD_NAME, 1, Object::None),
            _ => return Err(KERN_INVALID_VALUE),
        };
        let s = self.spaces.get_mut(&space).ok_or(KERN_INVALID_TASK)?;
        let r = match name {
            None => s.alloc(bits, urefs, object),
            Some(n) => s.alloc_named(n, bits, urefs, object).map(|_| n),
        };
        if r.is_err() {
            match object {
                Object::Port(port) => {
                    self.ports.remove(&port);
                }
                Object::Set(set) => {
                    self.psets.remove(&set);
                }
                _ => {}
            }
        }
        r
    }

    /// Looks a name up (turning it into a dead name if its port died).
    fn entry_bits(&mut self, space: SpaceId, name: Name) -> Result<u8, KernReturn> {
        self.space_has(space)?;
        if !mach_port_valid(name) {
            return Err(KERN_INVALID_NAME);
        }
        self.check_dead(space, name);
        self.spaces[&space].get(name).map(|e| e.bits).ok_or(KERN_INVALID_NAME)
    }

    /// Removes the send right from an entry, freeing it if nothing else is left.
    fn drop_send_bit(&mut self, space: SpaceId, name: Name) {
        let s = self.spaces.get_mut(&space).expect("space");
        let e = s.get_mut(name).expect("entry");
        let port = e.port().expect("send right names a port");
        e.bits &= !bits::SEND;
        e.urefs = 0;
        let request = e.dnrequest.take();
        if e.bits == 0 {
            s.free(name);
        }
        if let Some(r) = request {
            self.cancel_dnrequest(space, name, port, r, true);
        }
        self.release_send(port);
    }

    /// `mach_port_deallocate`: drops one user reference of a send right,
    /// send-once right or dead name.
    pub fn port_deallocate(&mut self, space: SpaceId, name: Name) -> Result<(), KernReturn> {
        let b = self.entry_bits(space, name)?;
        if b & bits::SEND != 0 {
            let e = self
                .spaces
                .get_mut(&space)
                .expect("space")
                .get_mut(name)
                .expect("entry");
            if e.urefs > 1 {
                e.urefs -= 1;
            } else {
                self.drop_send_bit(space, name);
            }
        } else if b & bits::SEND_ONCE != 0 {
            self.destroy_name(space, name);
        } else if b & bits::DEAD_NAME != 0 {
            let s = self.spaces.get_mut(&space).expect("space");
            let e = s.get_mut(name).expect("entry");
            e.urefs -= 1;
            if e.urefs == 0 {
                s.free(name);
            }
        } else {
            return Err(KERN_INVALID_RIGHT);
        }
        self.collect_garbage();
        Ok(())
    }

    /// Destroys everything `name` denotes.
    fn destroy_name(&mut self, space: SpaceId, name: Name) {
        let e = self.spaces.get_mut(&space).expect("space").free(name).expect("entry");
        self.terminate_entry(space, name, e);
    }

    /// `mach_port_destroy`.
    pub fn port_destroy(&mut self, space: SpaceId, name: Name) -> Result<(), KernReturn> {
        self.entry_bits(space, name)?;
        self.destroy_name(space, name);
        self.collect_garbage();
        Ok(())
    }

    /// `mach_port_mod_refs`.
    pub fn port_mod_refs(
        &mut self,
        space: SpaceId,
        name: Name,
        right: MachPortRight,
        delta: i32,
    ) -> Result<(), KernReturn> {
        if right >= MACH_PORT_RIGHT_NUMBER {
            return Err(KERN_INVALID_VALUE);
        }
        let b = self.entry_bits(space, name)?;
        let urefs = self.spaces[&space].get(name).map_or(0, |e| e.urefs);
        let new_refs = |has: bool| -> Result<u32, KernReturn> {
            if !has {
                return Err(KERN_INVALID_RIGHT);
            }
            let n = urefs as i64 + delta as i64;
            if n < 0 {
                Err(KERN_INVALID_VALUE)
            } else if n > MACH_PORT_UREFS_MAX as i64 {
                Err(KERN_UREFS_OVERFLOW)
            } else {
                Ok(n as u32)
            }
        };
        match right {
            MACH_PORT_RIGHT_SEND => {
                let n = new_refs(b & bits::SEND != 0)?;
                if n == 0 {
                    self.drop_send_bit(space, name);
                } else {
                    self.spaces
                        .get_mut(&space)
                        .expect("space")
                        .get_mut(name)
                        .expect("entry")
                        .urefs = n;
                }
            }
            MACH_PORT_RIGHT_DEAD_NAME => {
                let n = new_refs(b & bits::DEAD_NAME != 0)?;
                let s = self.spaces.get_mut(&space).expect("space");
                if n == 0 {
                    s.free(name);
                } else {
                    s.get_mut(name).expect("entry").urefs = n;
                }
            }
            MACH_PORT_RIGHT_RECEIVE | MACH_PORT_RIGHT_SEND_ONCE | MACH_PORT_RIGHT_PORT_SET => {
                let bit = match right {
                    MACH_PORT_RIGHT_RECEIVE => bits::RECEIVE,
                    MACH_PORT_RIGHT_SEND_ONCE => bits::SEND_ONCE,
                    _ => bits::PORT_SET,
                };
                if b & bit == 0 {
                    return Err(KERN_INVALID_RIGHT);
                }
                match delta {
                    0 => {}
                    -1 if right == MACH_PORT_RIGHT_RECEIVE => {
                        let s = self.spaces.get_mut(&space).expect("space");
                        let e = s.get_mut(name).expect("entry");
                        let port = e.port().expect("receive right names a port");
                        e.bits &= !bits::RECEIVE;
                        if e.bits == 0 {
                            s.free(name);
                        }
                        self.destroy_receive(port, true);
                    }
                    -1 => self.destroy_name(space, name),
                    d if d < -1 => return Err(KERN_INVALID_VALUE),
                    _ => return Err(KERN_UREFS_OVERFLOW),
                }
            }
            _ => return Err(KERN_INVALID_VALUE),
        }
        self.collect_garbage();
        Ok(())
    }

    /// `mach_port_get_refs`.
    pub fn port_get_refs(&mut self, space: SpaceId, name: Name, right: MachPortRight) -> Result<u32, KernReturn> {
        if right >= MACH_PORT_RIGHT_NUMBER {
            return Err(KERN_INVALID_VALUE);
        }
        let b = self.entry_bits(space, name)?;
        let e = self.spaces[&space].get(name).expect("entry");
        Ok(match right {
            MACH_PORT_RIGHT_SEND if b & bits::SEND != 0 => e.urefs,
            MACH_PORT_RIGHT_DEAD_NAME if b & bits::DEAD_NAME != 0 => e.urefs,
            MACH_PORT_RIGHT_RECEIVE => u32::from(b & bits::RECEIVE != 0),
            MACH_PORT_RIGHT_SEND_ONCE => u32::from(b & bits::SEND_ONCE != 0),
            MACH_PORT_RIGHT_PORT_SET => u32::from(b & bits::PORT_SET != 0),
            _ => 0,
        })
    }

    fn type_of(b: u8, dnrequest: bool) -> MachPortType {
        let mut t = 0;
        if b & bits::SEND != 0 {
            t |= MACH_PORT_TYPE_SEND;
        }
        if b & bits::RECEIVE != 0 {
            t |= MACH_PORT_TYPE_RECEIVE;
        }
        if b & bits::SEND_ONCE != 0 {
            t |= MACH_PORT_TYPE_SEND_ONCE;
        }
        if b & bits::PORT_SET != 0 {
            t |= MACH_PORT_TYPE_PORT_SET;
        }
        if b & bits::DEAD_NAME != 0 {
            t |= MACH_PORT_TYPE_DEAD_NAME;
        }
        if dnrequest {
            t |= MACH_PORT_TYPE_DNREQUEST;
        }
        t
    }

    /// `mach_port_type`.
    pub fn port_type(&mut self, space: SpaceId, name: Name) -> Result<MachPortType, KernReturn> {
        let b = self.entry_bits(space, name)?;
        let dn = self.spaces[&space].get(name).is_some_and(|e| e.dnrequest.is_some());
        Ok(Self::type_of(b, dn))
    }

    /// `mach_port_names`: every name and its type.
    pub fn port_names(&mut self, space: SpaceId) -> Result<Vec<(Name, MachPortType)>, KernReturn> {
        self.space_has(space)?;
        let names: Vec<Name> = self.spaces[&space].names().map(|(n, _)| n).collect();
        for &n in &names {
            self.check_dead(space, n);
        }
        Ok(self.spaces[&space]
            .names()
            .map(|(n, e)| (n, Self::type_of(e.bits, e.dnrequest.is_some())))
            .collect())
    }

    /// `mach_port_move_member`: puts receive right `member` into port set
    /// `after`, or takes it out of its set when `after` is null.
    pub fn port_move_member(&mut self, space: SpaceId, member: Name, after: Name) -> Result<(), KernReturn> {
        let b = self.entry_bits(space, member)?;
        if b & bits::RECEIVE == 0 {
            return Err(KERN_INVALID_RIGHT);
        }
        let port = self.spaces[&space]
            .get(member)
            .and_then(|e| e.port())
            .expect("receive right names a port");
        let target = if after == mach_abi::message::MACH_PORT_NULL {
            None
        } else {
            // (A name the space does not have is KERN_INVALID_NAME; any
            // name but a port set's, KERN_INVALID_RIGHT.)
            self.entry_bits(space, after)?;
            match self.spaces[&space].get(after).map(|e| e.object) {
                Some(Object::Set(s)) => Some(s),
                _ => return Err(KERN_INVALID_RIGHT),
            }
        };
        if target.is_none() && self.ports[&port].pset.is_none() {
            return Err(KERN_NOT_IN_SET);
        }
        self.leave_pset(port);
        if let Some(set) = target {
            self.psets.get_mut(&set).expect("set").members.push(port);
            self.ports.get_mut(&port).expect("port").pset = Some(set);
            self.wake(WaitKey::Set(set));
        }
        self.wake(WaitKey::Port(port));
        Ok(())
    }

    fn receive_port(&mut self, space: SpaceId, name: Name) -> Result<u64, KernReturn> {
        let b = self.entry_bits(space, name)?;
        if b & bits::RECEIVE == 0 {
            return Err(KERN_INVALID_RIGHT);
        }
        Ok(self.spaces[&space]
            .get(name)
            .and_then(|e| e.port())
            .expect("receive right names a port"))
    }

    /// `mach_port_set_qlimit`.
    pub fn port_set_qlimit(&mut self, space: SpaceId, name: Name, qlimit: u32) -> Result<(), KernReturn> {
        let port = self.receive_port(space, name)?;
        if qlimit > MACH_PORT_QLIMIT_MAX {
            return Err(KERN_INVALID_VALUE);
        }
        self.ports.get_mut(&port).expect("port").qlimit = qlimit;
        self.wake(WaitKey::Space(port));
        Ok(())
    }

    /// `mach_port_get_qlimit`.
    pub fn port_get_qlimit(&mut self, space: SpaceId, name: Name) -> Result<u32, KernReturn> {
        let port = self.receive_port(space, name)?;
        Ok(self.ports[&port].qlimit)
    }

    /// `mach_port_set_mscount`.
    pub fn port_set_mscount(&mut self, space: SpaceId, name: Name, mscount: u32) -> Result<(), KernReturn> {
        let port = self.receive_port(space, name)?;
        self.ports.get_mut(&port).expect("port").mscount = mscount;
        Ok(())
    }

    /// `mach_port_request_notification`. `notify` is a send-once right (or
    /// null, to cancel); on success the previous request's send-once right
    /// (or null) is returned. On error `notify` is still the caller's.
    pub fn port_request_notification(
        &mut self,
        space: SpaceId,
        name: Name,
        msgid: i32,
        sync: u32,
        notify: KRight,
    ) -> Result<KRight, KernReturn> {
        let notify_port = match notify.port {
            PortRef::Null => None,
            PortRef::Port(p) if notify.kind == RightKind::SendOnce => Some(p),
            PortRef::Dead if notify.kind == RightKind::SendOnce => None,
            _ => return Err(KERN_INVALID_CAPABILITY),
        };
        let so = |p: Option<u64>| match p {
            Some(p) => KRight {
                port: PortRef::Port(p),
                kind: RightKind::SendOnce,
            },
            None => KRight::NULL,
        };
        match msgid {
            MACH_NOTIFY_NO_SENDERS => {
                let port = self.receive_port(space, name)?;
                let p = self.ports.get_mut(&port).expect("port");
                let previous = core::mem::replace(&mut p.nsrequest, notify_port);
                if p.srights == 0 && sync <= p.mscount && p.nsrequest.is_some() {
                    let n = p.nsrequest.take().expect("request");
                    let mscount = p.mscount;
                    self.notify_no_senders(n, mscount);
                }
                Ok(so(previous))
            }
            MACH_NOTIFY_PORT_DESTROYED => {
                if sync != 0 {
                    return Err(KERN_INVALID_VALUE);
                }
                let port = self.receive_port(space, name)?;
                let p = self.ports.get_mut(&port).expect("port");
                Ok(so(core::mem::replace(&mut p.pdrequest, notify_port)))
            }
            MACH_NOTIFY_DEAD_NAME => {
                let b = self.entry_bits(space, name)?;
                if b & bits::DEAD_NAME != 0 {
                    if let Some(n) = notify_port {
                        // Already dead: the notification goes out at once, and the
                        // dead name gains the reference the notification names.
                        let e = self
                            .spaces
                            .get_mut(&space)
                            .expect("space")
                            .get_mut(name)
                            .expect("entry");
                        if e.urefs >= MACH_PORT_UREFS_MAX {
                            return Err(KERN_UREFS_OVERFLOW);
                        }
                        e.urefs += 1;
                        self.notify_dead_name(n, name);
                    }
                    return Ok(KRight::NULL);
                }
                if b & (bits::SEND | bits::SEND_ONCE) == 0 {
                    return Err(KERN_INVALID_RIGHT);
                }
                let e = self
                    .spaces
                    .get_mut(&space)
                    .expect("space")
                    .get_mut(name)
                    .expect("entry");
                let port = e.port().expect("send right names a port");
                let previous = core::mem::replace(&mut e.dnrequest, notify_port);
                let p = self.ports.get_mut(&port).expect("port");
                p.dnrequests.retain(|&(s, n)| !(s == space && n == name));
                if notify_port.is_some() {
                    p.dnrequests.push((space, name));
                }
                Ok(so(previous))
            }
            _ => Err(KERN_INVALID_VALUE),
        }
    }

    /// `mach_port_insert_right`: gives `space` the carried right under `name`.
    /// On error the right is still the caller's.
    pub fn port_insert_right(&mut self, space: SpaceId, name: Name, right: KRight) -> Result<(), KernReturn> {
        self.space_has(space)?;
        if !mach_port_valid(name) {
            return Err(KERN_INVALID_VALUE);
        }
        let port = match right.port {
            PortRef::Port(p) => p,
            PortRef::Null => return Err(KERN_INVALID_CAPABILITY),
            PortRef::Dead => {
                return self
                    .spaces
                    .get_mut(&space)
                    .expect("space")
                    .alloc_named(name, bits::DEAD_NAME, 1, Object::None);
            }
        };
        self.check_dead(space, name);
        let existing = self.spaces[&space].get(name).map(|e| (e.bits, e.object, e.urefs));
        let other_name = self.spaces[&space].name_of_port(port).filter(|&n| n != name);
        match (right.kind, existing) {
            (_, Some((_, Object::Port(p), _))) if p != port => Err(KERN_NAME_EXISTS),
            (_, Some((_, Object::Set(_) | Object::None, _))) => Err(KERN_NAME_EXISTS),
            (RightKind::SendOnce, Some(_)) => Err(KERN_NAME_EXISTS),
            // A send-once right has its name to itself (as in Mach, where
            // such a name is not in the reverse map and counts as in use).
            (_, Some((b, _, _))) if b & bits::SEND_ONCE != 0 => Err(KERN_NAME_EXISTS),
            (RightKind::Send | RightKind::Receive, None) if other_name.is_some() => Err(KERN_RIGHT_EXISTS),
            (RightKind::Send, Some((b, _, urefs))) => {
                let s = self.spaces.get_mut(&space).expect("space");
                let e = s.get_mut(name).expect("entry");
                if b & bits::SEND != 0 {
                    if urefs >= MACH_PORT_UREFS_MAX {
                        return Err(KERN_UREFS_OVERFLOW);
                    }
                    e.urefs += 1;
                    self.ports.get_mut(&port).expect("port").srights -= 1;
                } else {
                    e.bits |= bits::SEND;
                    e.urefs = 1;
                }
                Ok(())
            }
            (RightKind::Receive, Some((b, _, _))) => {
                if b & bits::RECEIVE != 0 {
                    return Err(KERN_RIGHT_EXISTS);
                }
                let s = self.spaces.get_mut(&space).expect("space");
                s.get_mut(name).expect("entry").bits |= bits::RECEIVE;
                self.ports.get_mut(&port).expect("port").receiver = Receiver::Space(space);
                Ok(())
            }
            (kind, None) => {
                let (b, urefs) = match kind {
                    RightKind::Send => (bits::SEND, 1),
                    RightKind::SendOnce => (bits::SEND_ONCE, 1),
                    RightKind::Receive => (bits::RECEIVE, 0),
                };
                self.spaces
                    .get_mut(&space)
                    .expect("space")
                    .alloc_named(name, b, urefs, Object::Port(port))?;
                if kind == RightKind::Receive {
                    self.ports.get_mut(&port).expect("port").receiver = Receiver::Space(space);
                }
                Ok(())
            }
        }
    }

    /// `mach_port_extract_right`: takes a right out of `space` as `msgt_name`
    /// (a message disposition) says.
    pub fn port_extract_right(&mut self, space: SpaceId, name: Name, msgt_name: u32) -> Result<KRight, KernReturn> {
        self.space_has(space)?;
        let d = u8::try_from(msgt_name).map_err(|_| KERN_INVALID_VALUE)?;
        if !mach_abi::message::is_send_disposition(d) {
            return Err(KERN_INVALID_VALUE);
        }
        if !mach_port_valid(name) {
            return Err(KERN_INVALID_NAME);
        }
        self.check_dead(space, name);
        if self.spaces[&space].get(name).is_none() {
            return Err(KERN_INVALID_NAME);
        }
        let r = self.copyin_right(space, name, d)?;
        self.collect_garbage();
        Ok(r)
    }
}
