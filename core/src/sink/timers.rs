//! A set of keyed deadlines (one per key; rescheduling replaces), fired in time order.

use std::collections::{BTreeMap, BTreeSet};

use crate::machine::Instant;

#[derive(Debug, Clone)]
pub(crate) struct Timers<K: Ord + Clone> {
    by_time: BTreeSet<(Instant, K)>,
    by_key: BTreeMap<K, Instant>,
}

impl<K: Ord + Clone> Default for Timers<K> {
    fn default() -> Self {
        Self {
            by_time: BTreeSet::new(),
            by_key: BTreeMap::new(),
        }
    }
}

impl<K: Ord + Clone> Timers<K> {
    /// Sets `key` to fire at `at` (replacing an earlier deadline of the same key).
    pub(crate) fn set(&mut self, key: K, at: Instant) {
        self.cancel(&key);
        self.by_time.insert((at, key.clone()));
        self.by_key.insert(key, at);
    }

    /// Sets `key` unless it already has a deadline.
    pub(crate) fn set_if_absent(&mut self, key: K, at: Instant) {
        if !self.by_key.contains_key(&key) {
            self.set(key, at);
        }
    }

    pub(crate) fn cancel(&mut self, key: &K) {
        if let Some(at) = self.by_key.remove(key) {
            self.by_time.remove(&(at, key.clone()));
        }
    }

    /// The earliest key due at `now`, removed.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<K> {
        let (at, _) = self.by_time.first()?;
        if *at > now {
            return None;
        }
        let (_, key) = self.by_time.pop_first()?;
        self.by_key.remove(&key);
        Some(key)
    }

    pub(crate) fn next(&self) -> Option<Instant> {
        self.by_time.first().map(|(at, _)| *at)
    }

    pub(crate) fn clear(&mut self) {
        self.by_time.clear();
        self.by_key.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_and_replace() {
        let mut t = Timers::default();
        t.set("a", Instant::from_millis(30));
        t.set("b", Instant::from_millis(10));
        t.set("a", Instant::from_millis(5));
        t.set_if_absent("b", Instant::from_millis(1));
        assert_eq!(t.next(), Some(Instant::from_millis(5)));
        assert_eq!(t.pop_due(Instant::from_millis(4)), None);
        assert_eq!(t.pop_due(Instant::from_millis(100)), Some("a"));
        t.cancel(&"b");
        assert_eq!(t.pop_due(Instant::from_millis(100)), None);
        assert_eq!(t.next(), None);
    }
}
