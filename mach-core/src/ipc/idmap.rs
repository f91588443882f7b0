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
        self.slots.push(Slot {
            generation: 0,
            value: Some(value),
        });
        i as u64
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
