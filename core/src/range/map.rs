//! A node's map from keys to range descriptors: what routing consults.
//!
//! Entries are keyed by start key; the range holding a key is the one with the
//! greatest start at or below it, if its span reaches the key. Learning a newer
//! descriptor (after a split, or from a `RangeError`) evicts every older entry it
//! overlaps, so the map never holds two ranges for one key.

use std::collections::BTreeMap;

use super::descriptor::RangeDescriptor;
use crate::keys::{Key, KeyEnd};

/// Known ranges, by start key.
#[derive(Clone, Debug, Default)]
pub struct RangeMap {
    by_start: BTreeMap<Key, RangeDescriptor>,
}

fn overlaps(a: &RangeDescriptor, b: &RangeDescriptor) -> bool {
    a.end.is_above(&b.start) && b.end.is_above(&a.start)
}

impl RangeMap {
    /// The range holding `key`, if known.
    pub fn lookup(&self, key: &Key) -> Option<&RangeDescriptor> {
        self.by_start.range(..=key.clone()).next_back().map(|(_, descriptor)| descriptor).filter(|d| d.contains(key))
    }

    /// Records `descriptor` unless a newer one overlaps it; evicts the older ones
    /// it overlaps. Returns whether it was recorded.
    pub fn learn(&mut self, descriptor: RangeDescriptor) -> bool {
        let overlapping: Vec<Key> = self
            .by_start
            .values()
            .filter(|known| overlaps(known, &descriptor))
            .map(|known| known.start.clone())
            .collect();
        if overlapping.iter().any(|start| self.by_start[start].generation > descriptor.generation) {
            return false;
        }
        for start in overlapping {
            self.by_start.remove(&start);
        }
        self.by_start.insert(descriptor.start.clone(), descriptor);
        true
    }

    /// Every known range, in key order.
    pub fn ranges(&self) -> impl Iterator<Item = &RangeDescriptor> {
        self.by_start.values()
    }

    /// Whether the known ranges cover the whole key space without gaps.
    pub fn covers_key_space(&self) -> bool {
        let mut expected_start = Key::MIN;
        for descriptor in self.by_start.values() {
            if descriptor.start != expected_start {
                return false;
            }
            match &descriptor.end {
                KeyEnd::Before(end) => expected_start = end.clone(),
                KeyEnd::Unbounded => return true,
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{NodeId, RangeId};
    use proptest::prelude::*;

    fn whole() -> RangeDescriptor {
        RangeDescriptor::whole_key_space(RangeId(1), [NodeId(1)].into())
    }

    #[test]
    fn a_split_learned_replaces_the_old_range_and_a_stale_one_is_refused() {
        let mut map = RangeMap::default();
        map.learn(whole());
        let (left, right) = whole().split(&Key(b"m".to_vec()), RangeId(2)).unwrap();
        assert!(map.learn(left.clone()));
        assert!(!map.learn(whole()), "an older descriptor must not come back");
        assert!(map.learn(right.clone()));
        assert_eq!(map.lookup(&Key(b"a".to_vec())), Some(&left));
        assert_eq!(map.lookup(&Key(b"x".to_vec())), Some(&right));
        assert!(map.covers_key_space());
    }

    proptest! {
        /// Random splits, learned in any order, always leave a map in which every key
        /// belongs to exactly one range.
        #[test]
        fn splits_keep_one_range_per_key(
            split_keys in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..4), 1..20),
            probes in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..5), 1..20),
        ) {
            let mut ranges = vec![whole()];
            let mut learned = Vec::new();
            for (offset, split_key) in split_keys.into_iter().enumerate() {
                let key = Key(split_key);
                let Some(position) = ranges.iter().position(|range| range.contains(&key)) else { continue };
                let Ok((left, right)) = ranges[position].split(&key, RangeId(offset as u64 + 2)) else { continue };
                learned.push(left.clone());
                learned.push(right.clone());
                ranges[position] = left;
                ranges.push(right);
            }
            let mut map = RangeMap::default();
            map.learn(whole());
            // Learn the descriptors newest first: older ones must then be refused.
            for descriptor in learned.iter().rev() {
                map.learn(descriptor.clone());
            }
            for descriptor in &ranges {
                map.learn(descriptor.clone());
            }
            prop_assert!(map.covers_key_space());
            for probe in probes {
                let key = Key(probe);
                let holders: Vec<&RangeDescriptor> = ranges.iter().filter(|range| range.contains(&key)).collect();
                prop_assert_eq!(holders.len(), 1);
                prop_assert_eq!(map.lookup(&key), Some(holders[0]));
            }
        }
    }
}
