//! The invariant audit: recounts every right from scratch and compares with
//! the ports' own counters (hostile-input checklist, "invariant audit").

use super::port::Receiver;
use super::space::{Object, bits};
use super::{Ipc, PortId, RightKind, SpaceId};
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;
use hashbrown::HashMap;

#[derive(Debug, Default, Clone)]
pub struct AuditReport {
    pub ports: usize,
    pub port_sets: usize,
    pub messages: usize,
    /// One line per broken invariant (empty when all hold).
    pub violations: Vec<String>,
}

#[derive(Default)]
struct Counts {
    send: u32,
    send_once: u32,
    receive_holders: u32,
}

/// Adds one carried right to the recount.
fn count_right(counts: &mut HashMap<PortId, Counts>, port: PortId, kind: RightKind) {
    let c = counts.entry(port).or_default();
    match kind {
        RightKind::Send => c.send += 1,
        RightKind::SendOnce => c.send_once += 1,
        RightKind::Receive => c.receive_holders += 1,
    }
}

impl Ipc {
    pub fn audit(&self) -> AuditReport {
        self.audit_with(&[])
    }

    /// The audit, counting `in_flight` rights the caller holds outside any
    /// space or queue (a kernel server's request reply right, for example),
    /// besides the rights held for later answers ([`Ipc::hold_right`]).
    pub fn audit_with(&self, in_flight: &[super::KRight]) -> AuditReport {
        let mut counts: HashMap<PortId, Counts> = HashMap::new();
        for r in in_flight.iter().chain(self.held.rights()) {
            let Some(p) = r.port_id() else { continue };
            count_right(&mut counts, p, r.kind);
        }
        let mut v = Vec::new();
        for (sid, space) in self.spaces.iter() {
            for (p, name) in space.reverse_map() {
                let ok = space
                    .get(name)
                    .is_some_and(|e| e.object == Object::Port(p) && e.bits & (bits::SEND | bits::RECEIVE) != 0);
                if !ok {
                    v.push(alloc::format!(
                        "space {sid}: reverse map gives port {p} name {name:#x}, which holds no send/receive right for it"
                    ));
                }
            }
            for (name, e) in space.names() {
                if e.urefs > mach_abi::port::MACH_PORT_UREFS_MAX {
                    v.push(alloc::format!(
                        "space {sid} name {name:#x}: urefs {} over the maximum",
                        e.urefs
                    ));
                }
                match e.object {
                    Object::Port(p) => {
                        let c = counts.entry(p).or_default();
                        if e.bits & bits::SEND != 0 {
                            c.send += 1;
                            if e.urefs == 0 {
                                v.push(alloc::format!("space {sid} name {name:#x}: send right with no urefs"));
                            }
                        }
                        if e.bits & bits::SEND_ONCE != 0 {
                            c.send_once += 1;
                        }
                        if e.bits & bits::RECEIVE != 0 {
                            c.receive_holders += 1;
                            if self.ports.get(&p).map(|port| port.receiver) != Some(Receiver::Space(*sid)) {
                                v.push(alloc::format!(
                                    "space {sid} name {name:#x}: holds a receive right the port does not know"
                                ));
                            }
                        }
                        if !self.ports.contains_key(&p) {
                            v.push(alloc::format!("space {sid} name {name:#x}: names a freed port"));
                        }
                        if let Some(r) = e.dnrequest {
                            counts.entry(r).or_default().send_once += 1;
                        }
                    }
                    Object::Set(s) if !self.psets.contains_key(&s) => {
                        v.push(alloc::format!("space {sid} name {name:#x}: names a freed port set"));
                    }
                    _ => {}
                }
                if e.bits == 0 {
                    v.push(alloc::format!("space {sid} name {name:#x}: entry with no rights"));
                }
                if let Object::Port(p) = e.object
                    && e.bits & (bits::SEND | bits::RECEIVE) != 0
                    && space.name_of_port(p) != Some(name)
                {
                    v.push(alloc::format!(
                        "space {sid} name {name:#x}: send/receive rights the reverse map does not give"
                    ));
                }
                if e.bits & bits::DEAD_NAME != 0 && (e.bits != bits::DEAD_NAME || e.object != Object::None) {
                    v.push(alloc::format!(
                        "space {sid} name {name:#x}: a dead name that denotes something"
                    ));
                }
            }
        }
        let mut messages = 0;
        for (id, port) in self.ports.iter() {
            for m in &port.messages {
                messages += 1;
                for r in m.rights() {
                    let Some(p) = r.port_id() else { continue };
                    count_right(&mut counts, p, r.kind);
                }
            }
            for r in [port.nsrequest, port.pdrequest, port.kernel_dnrequest]
                .into_iter()
                .flatten()
            {
                counts.entry(r).or_default().send_once += 1;
            }
            // Messages sent with send rights stop at the queue limit (64 over
            // it tolerated: the limit may have been lowered under a full
            // queue). Send-once messages (replies, notifications) pass it:
            // they are bounded by their receiver's message-memory charge.
            let with_send = port.messages.iter().filter(|m| m.dest.kind == RightKind::Send).count();
            if with_send > port.qlimit as usize + 64 {
                v.push(alloc::format!(
                    "port {id}: {with_send} messages sent with send rights, queue limit {}",
                    port.qlimit
                ));
            }
        }
        for (obj, m) in &self.kernel_messages {
            for r in m.rights() {
                let Some(p) = r.port_id() else { continue };
                count_right(&mut counts, p, r.kind);
            }
            let _ = obj;
        }
        for (id, port) in self.ports.iter() {
            let c = counts.remove(&id).unwrap_or_default();
            let extra_send = port.kernel_srights;
            if c.send + extra_send != port.srights {
                v.push(alloc::format!(
                    "port {id}: srights {} but {} send rights found",
                    port.srights,
                    c.send + extra_send
                ));
            }
            if c.send_once != port.sorights {
                v.push(alloc::format!(
                    "port {id}: sorights {} but {} send-once rights found",
                    port.sorights,
                    c.send_once
                ));
            }
            let expect_receivers = match port.receiver {
                Receiver::Space(_) | Receiver::InTransit(_) => 1,
                Receiver::Kernel(_) | Receiver::Dead => 0,
            };
            if c.receive_holders != expect_receivers {
                v.push(alloc::format!(
                    "port {id}: {} receive rights held, expected {expect_receivers}",
                    c.receive_holders
                ));
            }
            if port.is_dead() && port.srights == 0 && port.sorights == 0 && port.messages.is_empty() {
                v.push(alloc::format!("port {id}: dead and unreferenced but not freed"));
            }
            if let Some(s) = port.pset
                && !self.psets.get(&s).is_some_and(|set| set.members.contains(&id))
            {
                v.push(alloc::format!("port {id}: in set {s}, which does not list it"));
            }
        }
        for (p, _) in counts {
            let mut s = String::new();
            let _ = write!(s, "rights found for freed port {p}");
            v.push(s);
        }
        let charged: u64 = self
            .ports
            .values()
            .flat_map(|p| p.messages.iter())
            .map(|m| m.charge)
            .sum::<u64>()
            + self.kernel_messages.iter().map(|(_, m)| m.charge).sum::<u64>();
        if charged != self.message_memory {
            v.push(alloc::format!(
                "message memory {} but queued messages hold {charged}",
                self.message_memory
            ));
        }
        // Each space's charge is what the messages charged to it hold.
        let mut by_account: BTreeMap<SpaceId, u64> = BTreeMap::new();
        let queued = self.ports.values().flat_map(|p| p.messages.iter());
        for m in queued.chain(self.kernel_messages.iter().map(|(_, m)| m)) {
            *by_account.entry(m.account).or_default() += m.charge;
        }
        for (id, s) in self.spaces.iter() {
            let held = by_account.get(id).copied().unwrap_or(0);
            if s.message_memory != held {
                v.push(alloc::format!(
                    "space {id}: charged {} but its messages hold {held}",
                    s.message_memory
                ));
            }
        }
        AuditReport {
            ports: self.ports.len(),
            port_sets: self.psets.len(),
            messages,
            violations: v,
        }
    }
}

impl Ipc {
    /// One line on `port` for a debugging dump: its counts, and the spaces
    /// and queues that hold rights to it.
    pub fn describe_port(&self, port: PortId) -> String {
        let Some(p) = self.ports.get(&port) else {
            return alloc::format!("port {port}: freed");
        };
        let mut s = alloc::format!(
            "port {port}: send {} (kernel {}) send-once {} messages {} no-senders request {}; held by",
            p.srights,
            p.kernel_srights,
            p.sorights,
            p.messages.len(),
            p.nsrequest.is_some()
        );
        for (sid, space) in self.spaces.iter() {
            for (name, e) in space.names() {
                if e.object == Object::Port(port) {
                    let _ = write!(s, " space {sid} name {name:#x} bits {:#x} urefs {};", e.bits, e.urefs);
                }
            }
        }
        for (id, q) in self.ports.iter() {
            let n = q
                .messages
                .iter()
                .flat_map(|m| m.rights())
                .filter(|r| r.port_id() == Some(port))
                .count();
            if n > 0 {
                let _ = write!(s, " {n} in messages queued on port {id};");
            }
        }
        s
    }
}
