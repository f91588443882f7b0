//! IPC spaces: each task's table of names and the rights they denote.
//!
//! An entry holds at most one receive right, one send right (with user
//! references) or a dead name for one port; send-once rights get an entry each.
//! A port set is an entry of its own. The space also keeps a reverse map from
//! port to the entry holding its send/receive rights, so that a right arriving
//! in a message merges into the name the task already has for that port.
//! An entry enters the reverse map when it is made with a send or receive
//! right and leaves it when it is freed or turns into a dead name: a right
//! joining an existing name joins the one the map gives (or a send-once
//! name, which nothing joins), so the map needs no other upkeep
//! ([`super::Ipc::audit`] checks it).

use super::idmap::FastMap;
use super::name;
use super::{Name, PortId, PsetId};
use crate::budget::Budget;
use alloc::sync::Arc;
use alloc::vec::Vec;
use mach_abi::kern_return::*;

/// Right bits of an entry.
pub mod bits {
    pub const SEND: u8 = 1;
    pub const RECEIVE: u8 = 2;
    pub const SEND_ONCE: u8 = 4;
    pub const PORT_SET: u8 = 8;
    pub const DEAD_NAME: u8 = 16;
}

/// What an entry's name denotes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Object {
    None,
    Port(PortId),
    Set(PsetId),
}

#[derive(Clone, Copy, Debug)]
pub struct Entry {
    pub generation: u32,
    pub bits: u8,
    /// User references: for send rights and dead names; 1 for send-once.
    pub urefs: u32,
    pub object: Object,
    /// Send-once right to notify when this name's port dies (dead-name request).
    pub dnrequest: Option<PortId>,
    pub in_use: bool,
    /// For a vacant slot on the free list: the next one (0 ends the list).
    next_free: u32,
}

impl Entry {
    const VACANT: Entry = Entry {
        generation: 0,
        bits: 0,
        urefs: 0,
        object: Object::None,
        dnrequest: None,
        in_use: false,
        next_free: 0,
    };

    pub fn port(&self) -> Option<PortId> {
        match self.object {
            Object::Port(p) => Some(p),
            _ => None,
        }
    }
}

const ENTRY_BYTES: usize = core::mem::size_of::<Entry>();

pub struct IpcSpace {
    entries: Vec<Entry>,
    /// The first vacant slot to reuse (0: none); the rest are linked through
    /// `Entry::next_free`, most recently freed first.
    free_head: u32,
    /// Port -> index of the entry holding its send and/or receive right.
    by_port: FastMap<PortId, u32>,
    /// Most entries this space may hold.
    limit: usize,
    live: usize,
    /// Kernel memory held by messages charged to this space (see
    /// `KMsg::account`).
    pub(crate) message_memory: u64,
    /// What this space's tables hold of the budget all spaces share
    /// (bytes, at capacity: growth past it, or one the heap cannot give,
    /// fails with `KERN_RESOURCE_SHORTAGE`).
    budget: Arc<Budget>,
    charged: usize,
}

impl Drop for IpcSpace {
    fn drop(&mut self) {
        self.budget.give(self.charged);
    }
}

impl IpcSpace {
    /// A space of at most `limit` names, without a shared budget.
    pub fn new(limit: usize) -> Self {
        Self::with_budget(limit, Arc::new(Budget::new(usize::MAX)))
    }

    /// A space of at most `limit` names whose tables draw on `budget`.
    pub fn with_budget(limit: usize, budget: Arc<Budget>) -> Self {
        // Index 0 is never used.
        let entries = alloc::vec![Entry::VACANT];
        let charged = entries.capacity() * ENTRY_BYTES;
        budget.add(charged);
        IpcSpace {
            entries,
            free_head: 0,
            by_port: FastMap::new(),
            limit,
            live: 0,
            message_memory: 0,
            budget,
            charged,
        }
    }

    /// Grows the entry table to hold `needed` entries in all (amortised
    /// doubling), charging the growth to the budget; nothing changes on failure.
    fn grow_entries(&mut self, needed: usize) -> Result<(), KernReturn> {
        let cap = self.entries.capacity();
        if needed <= cap {
            return Ok(());
        }
        let new_cap = needed.max(cap.saturating_mul(2)).max(8);
        let bytes = (new_cap - cap) * ENTRY_BYTES;
        self.budget.take(bytes).map_err(|_| KERN_RESOURCE_SHORTAGE)?;
        if self.entries.try_reserve_exact(new_cap - self.entries.len()).is_err() {
            self.budget.give(bytes);
            return Err(KERN_RESOURCE_SHORTAGE);
        }
        let grown = (self.entries.capacity() - cap) * ENTRY_BYTES;
        // try_reserve_exact may give more than asked: charge what it gave.
        if grown > bytes {
            self.budget.add(grown - bytes);
        }
        self.charged += grown.max(bytes);
        Ok(())
    }

    pub fn live_names(&self) -> usize {
        self.live
    }

    /// Allocates a fresh entry; returns its name.
    #[inline(always)]
    pub fn alloc(&mut self, bits: u8, urefs: u32, object: Object) -> Result<Name, KernReturn> {
        if self.live >= self.limit {
            return Err(KERN_NO_SPACE);
        }
        self.reserve_reverse(bits, object)?;
        let index = match self.free_head {
            0 => {
                let i = self.entries.len() as u32;
                if i > name::MAX_INDEX {
                    return Err(KERN_NO_SPACE);
                }
                if self.entries.len() == self.entries.capacity() {
                    self.grow_entries(self.entries.len() + 1)?;
                }
                self.entries.push(Entry::VACANT);
                i
            }
            i => {
                self.free_head = self.entries[i as usize].next_free;
                i
            }
        };
        let generation = self.entries[index as usize].generation;
        self.occupy(index, generation, bits, urefs, object);
        Ok(name::make(index, generation))
    }

    /// Room in the reverse map for an entry of `bits` on `object`, made
    /// before the entry is, so that filling it never allocates.
    #[inline(always)]
    fn reserve_reverse(&mut self, bits: u8, object: Object) -> Result<(), KernReturn> {
        if matches!(object, Object::Port(_)) && bits & (bits::SEND | bits::RECEIVE) != 0 {
            let grow = self.by_port.growth_for_one();
            if grow > 0 {
                self.budget.take(grow).map_err(|_| KERN_RESOURCE_SHORTAGE)?;
                if self.by_port.try_reserve_one().is_err() {
                    self.budget.give(grow);
                    return Err(KERN_RESOURCE_SHORTAGE);
                }
                self.charged += grow;
            }
        }
        Ok(())
    }

    /// Fills the vacant slot `index` with a right.
    #[inline(always)]
    fn occupy(&mut self, index: u32, generation: u32, bits: u8, urefs: u32, object: Object) {
        self.entries[index as usize] = Entry {
            generation,
            bits,
            urefs,
            object,
            dnrequest: None,
            in_use: true,
            next_free: 0,
        };
        self.live += 1;
        if let Object::Port(p) = object
            && bits & (bits::SEND | bits::RECEIVE) != 0
        {
            self.by_port.insert(p, index);
        }
    }

    /// Allocates the specific name `n` (mach_port_allocate_name).
    pub fn alloc_named(&mut self, n: Name, bits: u8, urefs: u32, object: Object) -> Result<(), KernReturn> {
        let index = name::index(n);
        if index == 0 || index > name::MAX_INDEX || !mach_abi::message::mach_port_valid(n) {
            return Err(KERN_INVALID_VALUE);
        }
        if self.live >= self.limit || index as usize >= self.limit.saturating_mul(4) {
            return Err(KERN_NO_SPACE);
        }
        if (index as usize) < self.entries.len() && self.entries[index as usize].in_use {
            return Err(KERN_NAME_EXISTS);
        }
        // The table grows to the index: fallibly, as a task names the size.
        self.grow_entries(index as usize + 1)?;
        self.reserve_reverse(bits, object)?;
        while self.entries.len() <= index as usize {
            let i = self.entries.len() as u32;
            self.entries.push(Entry::VACANT);
            self.push_free(i);
        }
        if self.entries[index as usize].in_use {
            return Err(KERN_NAME_EXISTS);
        }
        self.unlink_free(index);
        self.occupy(index, name::generation(n), bits, urefs, object);
        Ok(())
    }

    #[inline]
    fn slot(&self, n: Name) -> Option<u32> {
        let index = name::index(n);
        let e = self.entries.get(index as usize)?;
        (index != 0 && e.in_use && e.generation == name::generation(n)).then_some(index)
    }

    #[inline]
    pub fn get(&self, n: Name) -> Option<&Entry> {
        self.slot(n).map(|i| &self.entries[i as usize])
    }

    #[inline]
    pub fn get_mut(&mut self, n: Name) -> Option<&mut Entry> {
        self.slot(n).map(|i| &mut self.entries[i as usize])
    }

    /// Whether `n` names the receive right of `port`.
    #[inline]
    pub fn receives_on(&self, n: Name, port: PortId) -> bool {
        self.get(n)
            .is_some_and(|e| e.bits & bits::RECEIVE != 0 && e.port() == Some(port))
    }

    /// The name under which this space holds send/receive rights for `port`.
    pub fn name_of_port(&self, port: PortId) -> Option<Name> {
        let i = *self.by_port.get(&port)?;
        let e = &self.entries[i as usize];
        Some(name::make(i, e.generation))
    }

    /// The reverse map: each port with the name holding its send/receive rights.
    pub fn reverse_map(&self) -> impl Iterator<Item = (PortId, Name)> + '_ {
        self.by_port.iter().map(|(&p, &i)| {
            let generation = self.entries.get(i as usize).map_or(0, |e| e.generation);
            (p, name::make(i, generation))
        })
    }

    /// Drops the reverse-map entry of `port` if it pointed at `n` (the entry
    /// just stopped denoting the port).
    pub fn update_index_dead(&mut self, n: Name, port: PortId) {
        if let Some(i) = self.slot(n)
            && self.by_port.get(&port) == Some(&i)
        {
            self.by_port.remove(&port);
        }
    }

    /// Puts the vacant slot `i` at the head of the free list.
    fn push_free(&mut self, i: u32) {
        self.entries[i as usize].next_free = self.free_head;
        self.free_head = i;
    }

    /// Takes the vacant slot `i` off the free list, if it is there
    /// (`mach_port_allocate_name`; a walk, as that call is rare).
    fn unlink_free(&mut self, i: u32) {
        let next = self.entries[i as usize].next_free;
        if self.free_head == i {
            self.free_head = next;
            return;
        }
        let mut at = self.free_head;
        while at != 0 {
            let after = self.entries[at as usize].next_free;
            if after == i {
                self.entries[at as usize].next_free = next;
                return;
            }
            at = after;
        }
    }

    /// Frees the entry `n`, known to hold just a send-once right with no
    /// dead-name request (never in the reverse map): [`Self::free`] without
    /// handing back the old entry.
    #[inline(always)]
    pub fn free_send_once(&mut self, n: Name) {
        let Some(i) = self.slot(n) else { return };
        let e = &mut self.entries[i as usize];
        debug_assert!(e.bits == bits::SEND_ONCE && e.dnrequest.is_none());
        let generation = e.generation + 1;
        *e = Entry {
            generation,
            ..Entry::VACANT
        };
        self.live -= 1;
        if generation < name::GEN_LIMIT {
            self.push_free(i);
        }
    }

    /// Frees the entry named `n`; returns what it held.
    #[inline]
    pub fn free(&mut self, n: Name) -> Option<Entry> {
        let i = self.slot(n)?;
        let e = &mut self.entries[i as usize];
        let old = *e;
        // Send-once entries are never in the reverse map.
        if let Object::Port(p) = old.object
            && old.bits & bits::SEND_ONCE == 0
            && self.by_port.get(&p) == Some(&i)
        {
            self.by_port.remove(&p);
        }
        let e = &mut self.entries[i as usize];
        e.in_use = false;
        e.bits = 0;
        e.urefs = 0;
        e.object = Object::None;
        e.dnrequest = None;
        e.generation += 1;
        self.live -= 1;
        // A slot whose generation would wrap is retired: a stale name must never
        // denote a new right.
        if e.generation < name::GEN_LIMIT {
            self.push_free(i);
        }
        Some(old)
    }

    /// All live names, in table order.
    pub fn names(&self) -> impl Iterator<Item = (Name, &Entry)> + '_ {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.in_use)
            .map(|(i, e)| (name::make(i as u32, e.generation), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeSet;

    /// Names handed out, freed, taken by name and handed out again never
    /// collide, and every live name finds its entry.
    #[test]
    fn free_list_survives_named_allocations() {
        let mut s = IpcSpace::new(1 << 16);
        let mut live = BTreeSet::new();
        let mut x = 7u64;
        for step in 0..5000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            match (x >> 33) % 4 {
                0 | 1 => {
                    let n = s
                        .alloc(bits::SEND_ONCE, 1, Object::Port(step))
                        .unwrap_or_else(|e| panic!("step {step}: {e}, live {}, entries {}", s.live, s.entries.len()));
                    assert!(live.insert(n), "name {n:#x} handed out twice");
                }
                2 if !live.is_empty() => {
                    let n = *live.iter().nth((x as usize >> 8) % live.len()).unwrap();
                    live.remove(&n);
                    if n % 2 == 0 {
                        s.free_send_once(n);
                    } else {
                        s.free(n).unwrap();
                    }
                }
                _ => {
                    // Take a specific vacant index under a fresh name.
                    let index = 1 + (x >> 20) as u32 % 300;
                    let n = name::make(index, 0x40);
                    if s.alloc_named(n, bits::SEND_ONCE, 1, Object::Port(step)).is_ok() {
                        assert!(live.insert(n));
                    }
                }
            }
            assert_eq!(s.live_names(), live.len());
        }
        for n in &live {
            assert!(s.get(*n).is_some());
        }
        assert_eq!(s.names().count(), live.len());
    }
}
