//! The timestamp cache: the highest timestamp at which each key (or span) of a
//! range was read. A write below it would change what an earlier read saw, so the
//! range moves such a write above it (and the writer refreshes at commit).
//!
//! It is part of the replicated range state — reads are Raft commands — so every
//! replica, and every new leader, holds the same cache. Its size is bounded: when
//! it passes its entry limit (`ENTRIES_MAX_DEFAULT` unless the store says
//! otherwise), everything folds into the low-water mark, which is conservative
//! (it pushes more writes than needed) and never unsafe. The simulator draws
//! limits of a few entries, so that folding and low-water marks (and their
//! passage through splits and snapshots) happen in every seed.

use std::collections::BTreeMap;

use crate::keys::{Key, KeyEnd};
use crate::types::Timestamp;

/// Entries kept before folding into the low-water mark, unless set otherwise.
pub const ENTRIES_MAX_DEFAULT: usize = 4096;

/// What one recorded read changed, for the range to persist (see `range::stored`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CacheWrite {
    /// The key's entry now holds this timestamp.
    Key(Key, Timestamp),
    /// A span was appended at this position of [`TimestampCache::spans`].
    Span(usize),
    /// Every entry folded into the low-water mark: the cache holds nothing else.
    Folded,
}

/// Read timestamps of keys and spans.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimestampCache {
    keys: BTreeMap<Key, Timestamp>,
    spans: Vec<(Key, KeyEnd, Timestamp)>,
    low_water: Timestamp,
    entries_max: usize,
}

impl Default for TimestampCache {
    fn default() -> TimestampCache {
        TimestampCache::new([], Timestamp::default())
    }
}

impl TimestampCache {
    /// A cache holding `keys` above `low_water`.
    pub fn new(keys: impl IntoIterator<Item = (Key, Timestamp)>, low_water: Timestamp) -> TimestampCache {
        TimestampCache {
            keys: keys.into_iter().collect(),
            spans: Vec::new(),
            low_water,
            entries_max: ENTRIES_MAX_DEFAULT,
        }
    }

    /// A cache exactly as persisted: no folding, whatever its size.
    pub fn from_parts(
        keys: BTreeMap<Key, Timestamp>,
        spans: Vec<(Key, KeyEnd, Timestamp)>,
        low_water: Timestamp,
        entries_max: usize,
    ) -> TimestampCache {
        TimestampCache { keys, spans, low_water, entries_max }
    }

    pub fn entries_max(&self) -> usize {
        self.entries_max
    }

    /// Bounds the cache to `entries_max` entries from now on (folding at once if
    /// it holds more). Every replica of a range must use the same limit.
    pub fn set_entries_max(&mut self, entries_max: usize) {
        assert!(entries_max > 0, "a timestamp cache holds at least one entry");
        self.entries_max = entries_max;
        self.bound_size();
    }

    pub fn record_key(&mut self, key: &Key, timestamp: Timestamp) -> CacheWrite {
        let entry = self.keys.entry(key.clone()).or_default();
        *entry = (*entry).max(timestamp);
        let recorded = *entry;
        match self.bound_size() {
            true => CacheWrite::Folded,
            false => CacheWrite::Key(key.clone(), recorded),
        }
    }

    pub fn record_span(&mut self, start: &Key, end: &KeyEnd, timestamp: Timestamp) -> CacheWrite {
        self.spans.push((start.clone(), end.clone(), timestamp));
        match self.bound_size() {
            true => CacheWrite::Folded,
            false => CacheWrite::Span(self.spans.len() - 1),
        }
    }

    /// The highest timestamp `key` may have been read at.
    pub fn read_timestamp(&self, key: &Key) -> Timestamp {
        let spans = self.spans.iter().filter(|(start, end, _)| start <= key && end.is_above(key));
        let span_maximum = spans.map(|(_, _, timestamp)| *timestamp).max().unwrap_or_default();
        let key_maximum = self.keys.get(key).copied().unwrap_or_default();
        self.low_water.max(span_maximum).max(key_maximum)
    }

    /// Folds everything into the low-water mark when over the limit; says whether it did.
    fn bound_size(&mut self) -> bool {
        if self.keys.len() + self.spans.len() <= self.entries_max {
            return false;
        }
        self.fold_spans();
        self.low_water = self.keys.values().copied().fold(self.low_water, Timestamp::max);
        self.keys.clear();
        true
    }

    /// Folds span entries into the low-water mark.
    fn fold_spans(&mut self) {
        let highest = self.spans.iter().map(|(_, _, timestamp)| *timestamp).max().unwrap_or_default();
        self.low_water = self.low_water.max(highest);
        self.spans.clear();
    }

    /// The part of the cache at or above `at`, moved out (a split's right half).
    /// Spans crossing `at` stay in both halves.
    pub fn split_off(&mut self, at: &Key) -> TimestampCache {
        let keys = self.keys.split_off(at);
        let spans = self.spans.iter().filter(|(_, end, _)| end.is_above(at)).cloned().collect();
        TimestampCache { keys, spans, low_water: self.low_water, entries_max: self.entries_max }
    }

    pub fn keys(&self) -> impl Iterator<Item = (&Key, &Timestamp)> {
        self.keys.iter()
    }

    pub fn spans(&self) -> &[(Key, KeyEnd, Timestamp)] {
        &self.spans
    }

    pub fn low_water(&self) -> Timestamp {
        self.low_water
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(wall_nanos: u64) -> Timestamp {
        Timestamp { wall_nanos, logical: 0 }
    }

    #[test]
    fn a_small_limit_folds_into_the_low_water_mark_and_a_split_keeps_both() {
        let mut cache = TimestampCache::default();
        cache.set_entries_max(2);
        for (number, wall_nanos) in [(1u8, 10), (2, 30), (3, 20)] {
            cache.record_key(&Key(vec![number]), at(wall_nanos));
        }
        assert_eq!(cache.low_water(), at(30), "a third entry folds every entry into the mark");
        assert_eq!(cache.keys().count(), 0);
        assert_eq!(cache.read_timestamp(&Key(vec![9])), at(30));

        let mut right = cache.split_off(&Key(vec![5]));
        assert_eq!(right.low_water(), at(30), "the right half inherits the mark");
        right.record_key(&Key(vec![6]), at(40));
        right.record_key(&Key(vec![7]), at(50));
        right.record_key(&Key(vec![8]), at(45));
        assert_eq!(right.low_water(), at(50), "the right half inherits the limit");
    }
}
