//! A map whose entries expire and whose size is capped: bookkeeping fed by watch events (pods that vanished,
//! pods being deleted) must not grow for as long as the process runs when the event that would remove an
//! entry never comes.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Entries older than `ttl` are gone; beyond `capacity` entries the oldest is dropped on insert.
#[derive(Debug)]
pub struct BoundedMap<V> {
    entries: HashMap<String, (Instant, V)>,
    ttl: Duration,
    capacity: usize,
}

impl<V> BoundedMap<V> {
    /// An empty map keeping entries for `ttl`, at most `capacity` of them (at least 1).
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            ttl,
            capacity: capacity.max(1),
        }
    }

    /// Inserts or replaces `key`; first drops expired entries, then the oldest ones while full.
    pub fn insert(&mut self, key: String, value: V) {
        self.insert_at(key, value, Instant::now());
    }

    fn insert_at(&mut self, key: String, value: V, now: Instant) {
        let ttl = self.ttl;
        self.entries
            .retain(|_, (at, _)| now.saturating_duration_since(*at) < ttl);
        while self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            self.entries.remove(&oldest);
        }
        self.entries.insert(key, (now, value));
    }

    /// The value of `key` unless it expired.
    pub fn get(&self, key: &str) -> Option<&V> {
        self.entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, v)| v)
    }

    /// Removes `key`; the value if it was there and not expired.
    pub fn remove(&mut self, key: &str) -> Option<V> {
        self.entries
            .remove(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, v)| v)
    }

    /// Entries held, expired ones not yet dropped included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_drops_the_oldest_entry() {
        let mut map = BoundedMap::new(Duration::from_secs(3600), 3);
        let start = Instant::now();
        for i in 0..10u32 {
            map.insert_at(
                format!("k{i}"),
                i,
                start + Duration::from_millis(u64::from(i)),
            );
        }
        assert_eq!(map.len(), 3);
        assert_eq!(map.get("k9"), Some(&9));
        assert_eq!(map.get("k7"), Some(&7));
        assert_eq!(map.get("k6"), None);
    }

    #[test]
    fn expired_entries_are_not_returned_and_are_dropped_on_insert() {
        let mut map = BoundedMap::new(Duration::from_secs(10), 100);
        let long_ago = Instant::now() - Duration::from_secs(60);
        map.insert_at("old".into(), 1, long_ago);
        assert_eq!(map.get("old"), None);
        assert_eq!(map.len(), 1);
        map.insert("new".into(), 2);
        assert_eq!(map.len(), 1, "the expired entry is dropped");
        assert_eq!(map.remove("new"), Some(2));
        assert!(map.is_empty());
    }

    #[test]
    fn replacing_a_key_in_a_full_map_keeps_the_others() {
        let mut map = BoundedMap::new(Duration::from_secs(3600), 2);
        map.insert("a".into(), 1);
        map.insert("b".into(), 2);
        map.insert("b".into(), 3);
        assert_eq!(map.get("a"), Some(&1));
        assert_eq!(map.get("b"), Some(&3));
    }
}
