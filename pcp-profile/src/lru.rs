//! A small least-recently-used map: the symbol and process caches are a
//! few dozen to a few thousand entries, evicted rarely, so eviction scans
//! for the oldest entry instead of keeping a linked list.

use std::collections::HashMap;
use std::hash::Hash;

/// A map of at most `capacity` entries; inserting into a full map evicts
/// the entry used least recently.
#[derive(Debug)]
pub struct Lru<K, V> {
    map: HashMap<K, (V, u64)>,
    capacity: usize,
    tick: u64,
    evictions: u64,
}

impl<K: Hash + Eq + Clone, V> Lru<K, V> {
    /// An empty map holding at most `capacity` (at least 1) entries.
    pub fn new(capacity: usize) -> Lru<K, V> {
        Lru {
            map: HashMap::new(),
            capacity: capacity.max(1),
            tick: 0,
            evictions: 0,
        }
    }

    /// The value of `k`, marked as just used.
    pub fn get(&mut self, k: &K) -> Option<&mut V> {
        self.tick += 1;
        let t = self.tick;
        self.map.get_mut(k).map(|(v, used)| {
            *used = t;
            v
        })
    }

    /// Whether `k` is present (not marked as used).
    pub fn contains(&self, k: &K) -> bool {
        self.map.contains_key(k)
    }

    /// Inserts or replaces `k`, evicting the least recently used entry if
    /// the map is full.
    pub fn insert(&mut self, k: K, v: V) -> &mut V {
        self.tick += 1;
        if !self.map.contains_key(&k) && self.map.len() >= self.capacity {
            if let Some(oldest) = self
                .map
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone())
            {
                self.map.remove(&oldest);
                self.evictions += 1;
            }
        }
        let t = self.tick;
        self.map.insert(k.clone(), (v, t));
        &mut self.map.get_mut(&k).expect("just inserted").0
    }

    /// Removes `k`.
    pub fn remove(&mut self, k: &K) -> Option<V> {
        self.map.remove(k).map(|(v, _)| v)
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Entries evicted so far.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_the_least_recently_used() {
        let mut l = Lru::new(2);
        l.insert(1, "a");
        l.insert(2, "b");
        assert_eq!(l.get(&1).copied(), Some("a"));
        l.insert(3, "c");
        assert!(l.contains(&1) && l.contains(&3) && !l.contains(&2));
        assert_eq!(l.evictions(), 1);
        // Replacing an entry evicts nothing.
        l.insert(3, "d");
        assert_eq!(l.len(), 2);
        assert_eq!(l.get(&3).copied(), Some("d"));
        assert_eq!(l.remove(&1), Some("a"));
        assert_eq!(l.len(), 1);
    }
}
