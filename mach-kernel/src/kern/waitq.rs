//! The table of wait queues, by wait key.
//!
//! Ports and port sets are the keys of every receive, so their queues live in
//! tables indexed by the slot of their id (the low 32 bits of a `PortId` or
//! `PsetId`): a lookup is an index and a compare, no hashing. A slot is
//! reused when its port or set is freed and another takes the slot; any
//! thread still queued under the old id is woken then (what it waited for is
//! gone), so a slot never holds two queues. Other keys (queue room, pages of
//! memory objects) and ids beyond the tables' reach go to a hash map, swept
//! of empty queues now and then.

use super::thread::Thread;
use alloc::sync::Arc;
use alloc::vec::Vec;
use mach_core::ipc::WaitKey;
use mach_core::ipc::idmap::FastMap;

/// Slots below this are kept in the direct tables (at most 128 KiB each, so a
/// task with many ports cannot make a wait grow them without bound).
const DIRECT_SLOTS: usize = 4096;

type Queue = Vec<Arc<Thread>>;

pub struct Queues {
    ports: Vec<(u64, Queue)>,
    sets: Vec<(u64, Queue)>,
    other: FastMap<WaitKey, Queue>,
}

impl Queues {
    pub const fn new() -> Self {
        Queues {
            ports: Vec::new(),
            sets: Vec::new(),
            other: FastMap::new(),
        }
    }

    /// Which direct table (`true`: sets), slot and id `key` has, if any.
    fn direct(key: &WaitKey) -> Option<(bool, usize, u64)> {
        let (set, id) = match *key {
            WaitKey::Port(p) => (false, p),
            WaitKey::Set(s) => (true, s),
            _ => return None,
        };
        let slot = (id & 0xffff_ffff) as usize;
        (slot < DIRECT_SLOTS).then_some((set, slot, id))
    }

    fn table(&mut self, set: bool) -> &mut Vec<(u64, Queue)> {
        if set { &mut self.sets } else { &mut self.ports }
    }

    /// The queue of `key`, if one exists.
    pub fn get_mut(&mut self, key: &WaitKey) -> Option<&mut Queue> {
        let Some((set, slot, id)) = Self::direct(key) else {
            return self.other.get_mut(key);
        };
        match self.table(set).get_mut(slot) {
            Some((owner, q)) if *owner == id => Some(q),
            _ => None,
        }
    }

    /// The queue of `key`, made if there is none. Threads still queued in
    /// the slot under an older id are handed to `evicted` (to be woken).
    pub fn get_or_insert(&mut self, key: WaitKey, mut evicted: impl FnMut(Arc<Thread>)) -> &mut Queue {
        let Some((set, slot, id)) = Self::direct(&key) else {
            return self.other.get_or_insert_with(key, Vec::new);
        };
        let table = self.table(set);
        if slot >= table.len() {
            table.resize_with(slot + 1, || (0, Vec::new()));
        }
        let (owner, q) = &mut table[slot];
        if *owner != id {
            *owner = id;
            while let Some(t) = q.pop() {
                evicted(t);
            }
        }
        q
    }

    /// Keys in the hash map (the part that can grow without bound).
    pub fn other_len(&self) -> usize {
        self.other.len()
    }

    /// Drops the hash map's empty queues.
    pub fn sweep(&mut self) {
        self.other.retain(|_, q| !q.is_empty());
    }

    /// Gives back the memory of empty queues: the direct tables end at
    /// their last non-empty queue (a slot past it has no one to evict) and
    /// empty queues lose their capacity. O(table) when called: on idle.
    pub fn shrink(&mut self) {
        for table in [&mut self.ports, &mut self.sets] {
            for (_, q) in table.iter_mut() {
                if q.is_empty() && q.capacity() > 0 {
                    *q = Vec::new();
                }
            }
            let keep = table.iter().rposition(|(_, q)| !q.is_empty()).map_or(0, |i| i + 1);
            table.truncate(keep);
            table.shrink_to_fit();
        }
        self.sweep();
        if self.other.is_empty() {
            self.other = FastMap::new();
        }
    }
}
