//! `IdMap`: a slab of objects named by 64-bit ids (`generation << 32 | index`),
//! for ports and port sets. Lookups are an index and a generation compare,
//! much cheaper than hashing on the IPC path; a freed slot is reused with a
//! new generation, so a stale id never finds the new object.

use alloc::vec::Vec;
use core::hash::{BuildHasherDefault, Hasher};

struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

pub struct IdMap<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    len: usize,
    /// The generation slots pushed from now on start at: at least the next
    /// generation of every slot [`IdMap::shrink`] cut off, so an id of an
    /// object that lived there never finds a new one.
    floor: u32,
}

impl<T> Default for IdMap<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> IdMap<T> {
    pub fn new() -> Self {
        // Slot 0 is never used, so no id is 0.
        IdMap {
            slots: alloc::vec![Slot {
                generation: 0,
                value: None
            }],
            free: Vec::new(),
            len: 0,
            floor: 0,
        }
    }

    fn split(id: u64) -> (usize, u32) {
        ((id & 0xffff_ffff) as usize, (id >> 32) as u32)
    }

    /// Stores `value`; returns its id (never 0).
    pub fn insert(&mut self, value: T) -> u64 {
        self.len += 1;
        if let Some(i) = self.free.pop() {
            let s = &mut self.slots[i as usize];
            s.value = Some(value);
            return ((s.generation as u64) << 32) | i as u64;
        }
        let i = self.slots.len();
        let generation = self.floor;
        self.slots.push(Slot {
            generation,
            value: Some(value),
        });
        ((generation as u64) << 32) | i as u64
    }

    /// Gives back the memory of the vacant slots at the end (those past the
    /// last live object) and of unused capacity, once they are more than
    /// `slack` slots; ids stay unique (see `floor`). True if it shrank.
    pub fn shrink(&mut self, slack: usize) -> bool {
        if self.slots.capacity() - self.len <= slack + 1 {
            return false;
        }
        let keep = self.slots.iter().rposition(|s| s.value.is_some()).map_or(1, |i| i + 1);
        if self.slots.capacity() - keep <= slack {
            return false;
        }
        for s in &self.slots[keep..] {
            self.floor = self.floor.max(s.generation);
        }
        self.slots.truncate(keep);
        self.slots.shrink_to_fit();
        self.free.retain(|&i| (i as usize) < keep);
        self.free.shrink_to_fit();
        true
    }

    pub fn get(&self, id: &u64) -> Option<&T> {
        let (i, g) = Self::split(*id);
        let s = self.slots.get(i)?;
        if s.generation == g { s.value.as_ref() } else { None }
    }

    pub fn get_mut(&mut self, id: &u64) -> Option<&mut T> {
        let (i, g) = Self::split(*id);
        let s = self.slots.get_mut(i)?;
        if s.generation == g { s.value.as_mut() } else { None }
    }

    pub fn contains_key(&self, id: &u64) -> bool {
        self.get(id).is_some()
    }

    pub fn remove(&mut self, id: &u64) -> Option<T> {
        let (i, g) = Self::split(*id);
        let s = self.slots.get_mut(i)?;
        if s.generation != g {
            return None;
        }
        let v = s.value.take()?;
        self.len -= 1;
        // A slot whose generation would wrap is retired.
        if let Some(next) = s.generation.checked_add(1) {
            s.generation = next;
            self.free.push(i as u32);
        }
        Some(v)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = (u64, &T)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.value.as_ref().map(|v| (((s.generation as u64) << 32) | i as u64, v)))
    }

    pub fn values(&self) -> impl Iterator<Item = &T> + '_ {
        self.slots.iter().filter_map(|s| s.value.as_ref())
    }
}

impl<T> core::ops::Index<&u64> for IdMap<T> {
    type Output = T;
    fn index(&self, id: &u64) -> &T {
        self.get(id).expect("IdMap: no such id")
    }
}

/// A hasher for integer keys (task ids, wait keys, page offsets): one
/// multiply and a fold.
#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ b as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        // Multiply, then fold the high half down: the table index comes from
        // the low bits, and keys such as page offsets (multiples of 4096)
        // would otherwise all land in the same bucket.
        let x = (self.0 ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = x ^ (x >> 32);
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(n as u64);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

pub type FastHashMap<K, V> = hashbrown::HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// A map for small copyable keys on the IPC path (task ids, port ids, wait
/// keys): open addressing with linear probing, at most half full, deletion
/// by backward shift. A hit on the first probe is a multiply, a mask and a
/// compare, several times cheaper than `FastHashMap`'s group probing, which
/// has no SIMD to use on the kernel's target.
pub struct FastMap<K, V> {
    slots: Vec<Option<(K, V)>>,
    len: usize,
}

impl<K, V> Default for FastMap<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K, V> FastMap<K, V> {
    pub const fn new() -> Self {
        FastMap {
            slots: Vec::new(),
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> + '_ {
        self.slots.iter().filter_map(|s| s.as_ref().map(|(k, v)| (k, v)))
    }

    pub fn values(&self) -> impl Iterator<Item = &V> + '_ {
        self.slots.iter().filter_map(|s| s.as_ref().map(|(_, v)| v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &K> + '_ {
        self.slots.iter().filter_map(|s| s.as_ref().map(|(k, _)| k))
    }
}

impl<K: Copy + Eq + core::hash::Hash, V> FastMap<K, V> {
    fn home(&self, k: &K) -> usize {
        let mut h = IdHasher::default();
        k.hash(&mut h);
        h.finish() as usize & (self.slots.len() - 1)
    }

    /// The slot holding `k`, if any.
    fn find(&self, k: &K) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut i = self.home(k);
        // Never full, so the probe ends at an empty slot.
        loop {
            match &self.slots[i] {
                None => return None,
                Some((key, _)) if key == k => return Some(i),
                Some(_) => i = (i + 1) & mask,
            }
        }
    }

    pub fn get(&self, k: &K) -> Option<&V> {
        let i = self.find(k)?;
        self.slots[i].as_ref().map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        let i = self.find(k)?;
        self.slots[i].as_mut().map(|(_, v)| v)
    }

    pub fn contains_key(&self, k: &K) -> bool {
        self.find(k).is_some()
    }

    /// Stores `v` under `k`; returns the value it replaced.
    pub fn insert(&mut self, k: K, v: V) -> Option<V> {
        if let Some(i) = self.find(&k) {
            return self.slots[i].replace((k, v)).map(|(_, old)| old);
        }
        self.place(k, v);
        None
    }

    /// The value under `k`, made with `f` if there is none.
    pub fn get_or_insert_with(&mut self, k: K, f: impl FnOnce() -> V) -> &mut V {
        let i = match self.find(&k) {
            Some(i) => i,
            None => self.place(k, f()),
        };
        &mut self.slots[i].as_mut().expect("occupied slot").1
    }

    /// Puts a key known to be absent; returns its slot.
    fn place(&mut self, k: K, v: V) -> usize {
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut i = self.home(&k);
        while self.slots[i].is_some() {
            i = (i + 1) & mask;
        }
        self.slots[i] = Some((k, v));
        self.len += 1;
        i
    }

    /// Bytes the table grows by when room for one more key is made (0 when
    /// there is room already).
    pub fn growth_for_one(&self) -> usize {
        if (self.len + 1) * 2 <= self.slots.len() {
            return 0;
        }
        let len = (self.slots.len() * 2).max(8);
        (len - self.slots.len()) * core::mem::size_of::<Option<(K, V)>>()
    }

    /// Makes room for one more key without allocating at the insert; `Err`
    /// when the heap has no room for the larger table (nothing changes).
    pub fn try_reserve_one(&mut self) -> Result<(), ()> {
        if (self.len + 1) * 2 <= self.slots.len() {
            return Ok(());
        }
        let cap = (self.slots.len() * 2).max(8);
        let mut slots = Vec::new();
        slots.try_reserve_exact(cap).map_err(|_| ())?;
        slots.resize_with(cap, || None);
        self.rehash_into(slots);
        Ok(())
    }

    fn grow(&mut self) {
        let cap = (self.slots.len() * 2).max(8);
        self.rehash_into((0..cap).map(|_| None).collect());
    }

    /// Moves every entry into `slots` (empty, a power of two long).
    fn rehash_into(&mut self, slots: Vec<Option<(K, V)>>) {
        let old = core::mem::replace(&mut self.slots, slots);
        self.len = 0;
        for (k, v) in old.into_iter().flatten() {
            self.place(k, v);
        }
    }

    /// Keeps only the entries for which `keep` holds.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &V) -> bool) {
        let gone: Vec<K> = self.iter().filter(|(k, v)| !keep(k, v)).map(|(k, _)| *k).collect();
        for k in gone {
            self.remove(&k);
        }
    }

    pub fn remove(&mut self, k: &K) -> Option<V> {
        let mut hole = self.find(k)?;
        let (_, v) = self.slots[hole].take().expect("found slot");
        self.len -= 1;
        // Shift back the entries after the hole that probed past it.
        let mask = self.slots.len() - 1;
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let Some((key, _)) = &self.slots[j] else { break };
            let home = self.home(key);
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                self.slots[hole] = self.slots[j].take();
                hole = j;
            }
        }
        Some(v)
    }
}

impl<K: Copy + Eq + core::hash::Hash, V> core::ops::Index<&K> for FastMap<K, V> {
    type Output = V;
    fn index(&self, k: &K) -> &V {
        self.get(k).expect("FastMap: no such key")
    }
}

impl<'a, K, V> IntoIterator for &'a FastMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter =
        core::iter::FilterMap<core::slice::Iter<'a, Option<(K, V)>>, fn(&'a Option<(K, V)>) -> Option<(&'a K, &'a V)>>;
    fn into_iter(self) -> Self::IntoIter {
        self.slots.iter().filter_map(|s| s.as_ref().map(|(k, v)| (k, v)))
    }
}

/// Values keyed by ids that are handed out in sequence and mostly few alive
/// at a time (task ids, for the IPC spaces, which every message looks up
/// twice): the live value of `id` sits in slot `id % DIRECT` of a table when
/// that slot is free, and in a [`FastMap`] otherwise. A lookup is usually an
/// index and a compare.
pub struct DirectMap<V> {
    direct: Vec<Option<(u64, V)>>,
    other: FastMap<u64, V>,
}

const DIRECT: usize = 256;

impl<V> Default for DirectMap<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V> DirectMap<V> {
    pub const fn new() -> Self {
        DirectMap {
            direct: Vec::new(),
            other: FastMap::new(),
        }
    }

    fn slot(id: u64) -> usize {
        id as usize % DIRECT
    }

    #[inline(always)]
    pub fn get(&self, id: &u64) -> Option<&V> {
        match self.direct.get(Self::slot(*id)) {
            Some(Some((k, v))) if k == id => Some(v),
            _ => self.other.get(id),
        }
    }

    #[inline(always)]
    pub fn get_mut(&mut self, id: &u64) -> Option<&mut V> {
        let slot = Self::slot(*id);
        if matches!(self.direct.get(slot), Some(Some((k, _))) if k == id) {
            return self.direct[slot].as_mut().map(|(_, v)| v);
        }
        self.other.get_mut(id)
    }

    pub fn contains_key(&self, id: &u64) -> bool {
        self.get(id).is_some()
    }

    /// Stores `v` under `id`; returns the value it replaced.
    pub fn insert(&mut self, id: u64, v: V) -> Option<V> {
        if let Some(old) = self.get_mut(&id) {
            return Some(core::mem::replace(old, v));
        }
        if self.direct.is_empty() {
            self.direct.resize_with(DIRECT, || None);
        }
        let slot = &mut self.direct[Self::slot(id)];
        if slot.is_none() {
            *slot = Some((id, v));
            return None;
        }
        self.other.insert(id, v)
    }

    pub fn remove(&mut self, id: &u64) -> Option<V> {
        let slot = Self::slot(*id);
        if matches!(self.direct.get(slot), Some(Some((k, _))) if k == id) {
            return self.direct[slot].take().map(|(_, v)| v);
        }
        self.other.remove(id)
    }

    pub fn len(&self) -> usize {
        self.direct.iter().flatten().count() + self.other.len()
    }

    /// Gives back the tables' memory when nothing is left in them.
    pub fn shrink(&mut self) {
        if self.direct.iter().all(Option::is_none) {
            self.direct = Vec::new();
        }
        if self.other.is_empty() {
            self.other = FastMap::new();
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = (&u64, &V)> + '_ {
        self.direct
            .iter()
            .flatten()
            .map(|(k, v)| (k, v))
            .chain(self.other.iter())
    }
}

impl<V> core::ops::Index<&u64> for DirectMap<V> {
    type Output = V;
    fn index(&self, id: &u64) -> &V {
        self.get(id).expect("DirectMap: no such id")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shrink_gives_back_the_tail_and_keeps_ids_unique() {
        let mut m = IdMap::new();
        let ids: Vec<u64> = (0..100u32).map(|v| m.insert(v)).collect();
        for id in &ids[10..] {
            m.remove(id);
        }
        // Little slack: nothing to do; more: the tail goes.
        assert!(!m.shrink(1000));
        assert!(m.shrink(0));
        assert_eq!(m.slots.len(), 11, "slot 0 and the ten live objects");
        assert!(m.slots.capacity() < 20);
        assert!(m.free.iter().all(|&i| i < 11));
        assert!(!m.shrink(0), "nothing left to give back");
        // The live objects keep their ids; new ones never take an old id.
        for (v, id) in ids[..10].iter().enumerate() {
            assert_eq!(m.get(id), Some(&(v as u32)));
        }
        let fresh: Vec<u64> = (0..200u32).map(|v| m.insert(1000 + v)).collect();
        for old in &ids[10..] {
            assert_eq!(m.get(old), None, "stale id {old:#x} found something");
            assert!(!fresh.contains(old));
        }
        let mut all = fresh.clone();
        all.extend_from_slice(&ids[..10]);
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 210);
        // A middle vacancy stays (only the tail goes).
        let mut m = IdMap::new();
        let a = m.insert(1);
        let b = m.insert(2);
        m.remove(&a);
        m.shrink(0);
        assert_eq!(m.get(&b), Some(&2));
        let c = m.insert(3);
        assert_ne!(c, a);
        assert_eq!(m.get(&a), None);
    }

    #[test]
    fn page_offsets_spread_over_buckets() {
        use core::hash::BuildHasher;
        let b = BuildHasherDefault::<IdHasher>::default();
        let mut low = alloc::collections::BTreeSet::new();
        for i in 0..1024u64 {
            low.insert(b.hash_one(i * 4096) & 1023);
        }
        assert!(low.len() > 512, "only {} of 1024 buckets used", low.len());
    }

    #[test]
    fn fast_map_agrees_with_a_btree_map() {
        let mut m = FastMap::new();
        let mut r = alloc::collections::BTreeMap::new();
        let mut x = 12345u64;
        for step in 0..20_000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            // Few distinct keys, some of them colliding in the low bits.
            let k = (x >> 40) % 97 * if step % 2 == 0 { 4096 } else { 1 };
            if x & (1 << 20) != 0 {
                assert_eq!(m.insert(k, step), r.insert(k, step));
            } else {
                assert_eq!(m.remove(&k), r.remove(&k));
            }
            assert_eq!(m.len(), r.len());
            if step % 1000 == 0 {
                for (k, v) in &r {
                    assert_eq!(m.get(k), Some(v));
                }
                assert_eq!(m.iter().count(), r.len());
            }
        }
        for k in 0..100_000u64 {
            assert_eq!(m.get(&k), r.get(&k));
        }
        *m.get_or_insert_with(1_000_000, || 7) += 1;
        assert_eq!(m.get(&1_000_000), Some(&8));
        m.retain(|k, _| k % 2 == 0);
        r.retain(|k, _| k % 2 == 0);
        r.insert(1_000_000, 8);
        assert_eq!(m.len(), r.len());
        for k in 0..100_000u64 {
            assert_eq!(m.get(&k), r.get(&k));
        }
    }

    #[test]
    fn direct_map_agrees_with_a_btree_map() {
        let mut m = DirectMap::new();
        let mut r = alloc::collections::BTreeMap::new();
        let mut x = 99u64;
        for step in 0..20_000u32 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            // Ids that share slots (multiples of 256 apart) and ids that do not.
            let k = (x >> 40) % 50 * if step % 3 == 0 { 256 } else { 7 };
            if x & (1 << 20) != 0 {
                assert_eq!(m.insert(k, step), r.insert(k, step));
            } else {
                assert_eq!(m.remove(&k), r.remove(&k));
            }
            assert_eq!(m.len(), r.len());
        }
        for k in 0..20_000u64 {
            assert_eq!(m.get(&k), r.get(&k));
        }
        let mut seen: alloc::vec::Vec<_> = m.iter().map(|(k, v)| (*k, *v)).collect();
        seen.sort();
        assert_eq!(seen, r.into_iter().collect::<alloc::vec::Vec<_>>());
    }

    #[test]
    fn stale_ids_miss() {
        let mut m = IdMap::new();
        let a = m.insert(1);
        assert_ne!(a, 0);
        assert_eq!(m.remove(&a), Some(1));
        let b = m.insert(2);
        assert_ne!(a, b);
        assert_eq!(m.get(&a), None);
        assert_eq!(m.get(&b), Some(&2));
        assert_eq!(m.len(), 1);
        assert_eq!(m.iter().collect::<alloc::vec::Vec<_>>(), alloc::vec![(b, &2)]);
    }

    #[test]
    fn id_map_counts_indexes_and_iterates_what_it_holds() {
        let mut m = IdMap::new();
        assert!(m.is_empty());
        let a = m.insert("a");
        let b = m.insert("b");
        assert!(!m.is_empty());
        assert_eq!(m.len(), 2);
        assert_eq!((m[&a], m[&b]), ("a", "b"));
        assert!(m.contains_key(&a) && !m.contains_key(&0) && !m.contains_key(&(a + (1 << 32))));
        *m.get_mut(&b).unwrap() = "B";
        assert_eq!(m.get_mut(&(b + (1 << 32))), None, "a wrong generation finds nothing");
        assert_eq!(m.remove(&(b + (1 << 32))), None);
        assert_eq!(m.values().copied().collect::<alloc::vec::Vec<_>>(), ["a", "B"]);
        assert_eq!(m.remove(&a), Some("a"));
        assert_eq!(m.remove(&a), None, "removed once");
        assert_eq!(m.len(), 1);
        let c = m.insert("c");
        assert_eq!(c & 0xffff_ffff, a & 0xffff_ffff, "the slot is reused");
        assert_eq!(c >> 32, 1, "under the next generation");
        let mut all: alloc::vec::Vec<_> = m.iter().map(|(id, v)| (id, *v)).collect();
        all.sort();
        let mut want = alloc::vec![(b, "B"), (c, "c")];
        want.sort();
        assert_eq!(all, want);
    }

    #[test]
    fn id_map_retires_a_slot_whose_generation_would_wrap() {
        let mut m = IdMap::new();
        let a = m.insert(1);
        let i = (a & 0xffff_ffff) as usize;
        m.slots[i].generation = u32::MAX;
        let last = (u64::from(u32::MAX) << 32) | i as u64;
        assert_eq!(m.remove(&last), Some(1));
        assert!(m.is_empty());
        let b = m.insert(2);
        assert_ne!(b & 0xffff_ffff, i as u64, "the retired slot is not reused");
        assert_eq!(m.get(&last), None);
        assert_eq!(m.get(&(i as u64)), None, "generation 0 of the retired slot is gone too");
    }

    #[test]
    fn fast_map_basics() {
        let mut m: FastMap<u64, u32> = FastMap::default();
        assert!(m.is_empty());
        assert_eq!(m.get(&1), None);
        assert!(!m.contains_key(&1));
        assert_eq!(m.remove(&1), None);
        assert_eq!(m.insert(1, 10), None);
        assert_eq!(m.insert(1, 11), Some(10), "the replaced value");
        assert_eq!(m.insert(2, 20), None);
        assert!(!m.is_empty() && m.contains_key(&2));
        *m.get_mut(&2).unwrap() += 1;
        assert_eq!(m[&2], 21);
        assert_eq!(*m.get_or_insert_with(1, || 99), 11, "present: not made");
        let mut keys: alloc::vec::Vec<_> = m.keys().copied().collect();
        keys.sort();
        assert_eq!(keys, [1, 2]);
        let mut values: alloc::vec::Vec<_> = m.values().copied().collect();
        values.sort();
        assert_eq!(values, [11, 21]);
        let mut pairs: alloc::vec::Vec<_> = (&m).into_iter().map(|(k, v)| (*k, *v)).collect();
        pairs.sort();
        assert_eq!(pairs, [(1, 11), (2, 21)]);
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn fast_map_stays_at_most_half_full() {
        let mut m = FastMap::new();
        for k in 0..1000u64 {
            m.insert(k * 4096, k);
            assert!(m.slots.len() >= 2 * m.len(), "{} in {} slots", m.len(), m.slots.len());
            assert!(m.slots.len().is_power_of_two());
        }
        assert_eq!(
            FastMap::<u64, u64>::new().slots.len(),
            0,
            "no table until the first insert"
        );
        let mut one = FastMap::new();
        one.insert(5u64, 5u64);
        assert_eq!(one.slots.len(), 8);
        // Exactly half full is allowed: it grows for the fifth key, not the fourth.
        for k in 6..9u64 {
            one.insert(k, k);
        }
        assert_eq!((one.len(), one.slots.len()), (4, 8));
        one.insert(9, 9);
        assert_eq!(one.slots.len(), 16);
    }

    #[test]
    fn fast_map_finds_most_keys_at_their_first_probe() {
        let mut m = FastMap::new();
        for k in 0..1000u64 {
            m.insert(k * 4096, ());
        }
        let at_home = m
            .slots
            .iter()
            .enumerate()
            .filter(|(i, s)| s.as_ref().is_some_and(|(k, _)| m.home(k) == *i))
            .count();
        assert!(at_home > 500, "only {at_home} of 1000 keys in their home slot");
    }

    #[test]
    fn direct_map_holds_ids_in_sequence_in_its_table() {
        let mut m = DirectMap::new();
        for id in 1000..1000 + DIRECT as u64 {
            m.insert(id, ());
        }
        assert_eq!(m.other.len(), 0, "a table's worth of consecutive ids needs no overflow");
        m.insert(1000 + DIRECT as u64, ());
        assert_eq!(m.other.len(), 1);
    }

    #[test]
    fn direct_map_basics_and_ids_of_any_size() {
        let mut m: DirectMap<u32> = DirectMap::default();
        assert!(m.is_empty());
        assert_eq!(m.remove(&3), None);
        for (i, id) in [3u64, 259, 1 << 40, u64::MAX, u64::MAX - 255].into_iter().enumerate() {
            assert_eq!(m.insert(id, i as u32), None);
            assert_eq!(m[&id], i as u32);
            assert!(m.contains_key(&id));
        }
        assert!(!m.is_empty());
        assert_eq!(m.len(), 5);
        assert_eq!(m.insert(259, 70), Some(1), "an id in the overflow map");
        *m.get_mut(&u64::MAX).unwrap() += 100;
        assert_eq!(m.get(&u64::MAX), Some(&103));
        *m.get_mut(&(u64::MAX - 255)).unwrap() += 100;
        assert_eq!(m.get(&(u64::MAX - 255)), Some(&104));
        assert_eq!(m.remove(&3), Some(0));
        assert_eq!(m.get(&3), None);
        assert_eq!(m.get_mut(&3), None);
        // 259 shares 3's slot: it moves in only when inserted again.
        assert_eq!(m.get(&259), Some(&70));
        assert_eq!(m.remove(&259), Some(70));
        assert_eq!(m.len(), 3);
        assert!(!m.contains_key(&259));
    }

    #[test]
    fn id_hasher_separates_byte_strings() {
        let hash = |b: &[u8]| {
            let mut h = IdHasher::default();
            h.write(b);
            h.finish()
        };
        let mut seen = alloc::collections::BTreeSet::new();
        let mut low = alloc::collections::BTreeSet::new();
        for i in 0..1000u32 {
            let h = hash(&i.to_le_bytes());
            seen.insert(h);
            low.insert(h & 1023);
        }
        assert_eq!(seen.len(), 1000, "distinct strings, distinct hashes");
        assert!(low.len() > 512, "only {} of 1024 buckets", low.len());
        assert_ne!(hash(&[1, 2]), hash(&[2, 1]), "order counts");
    }

    #[test]
    fn id_hasher_mixes_every_write() {
        use core::hash::{BuildHasher, Hash};
        let b = BuildHasherDefault::<IdHasher>::default();
        // Pairs of words (as tuple keys hash): both halves count, in order.
        let pair = |x: u64, y: u64| b.hash_one((x, y));
        assert_ne!(pair(1, 2), pair(2, 1));
        assert_ne!(pair(1, 2), pair(1, 3));
        assert_ne!(pair(0, 4096), pair(4096, 0));
        let mut low = alloc::collections::BTreeSet::new();
        for i in 0..1024u64 {
            low.insert(pair(7, i * 4096) & 1023);
        }
        assert!(low.len() > 512, "only {} of 1024 buckets", low.len());
        // u32 and usize keys hash as the same u64.
        let mut h32 = IdHasher::default();
        5u32.hash(&mut h32);
        let mut hs = IdHasher::default();
        5usize.hash(&mut hs);
        assert_eq!(h32.finish(), b.hash_one(5u64));
        assert_eq!(hs.finish(), b.hash_one(5u64));
        assert_ne!(b.hash_one(5u64), b.hash_one(6u64));
    }
}
