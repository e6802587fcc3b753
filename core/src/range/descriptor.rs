//! A range descriptor: the span `[start, end)` a range serves, its replicas, and a
//! generation that every split or merge increments.
//!
//! The generation is how stale routing is caught: a request names the generation
//! of the descriptor it was routed by, and a replica whose descriptor is newer
//! answers [`RangeError::StaleDescriptor`] with the fresh descriptor, so the
//! sender can update its [`super::RangeMap`] and retry. A key outside the span is
//! [`RangeError::KeyOutsideRange`], also carrying the fresh descriptor.

use std::collections::BTreeSet;
use std::fmt;

use crate::encoding::{DecodeError, Reader, Writer};
use crate::keys::{Key, KeyEnd};
use crate::types::{NodeId, RangeId};

/// Which span a range serves and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeDescriptor {
    pub id: RangeId,
    pub start: Key,
    pub end: KeyEnd,
    pub replicas: BTreeSet<NodeId>,
    pub generation: u64,
}

/// A request reached a range that cannot serve it; both are retryable once the
/// sender knows `descriptor`, the replica's current one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RangeError {
    KeyOutsideRange { key: Key, descriptor: RangeDescriptor },
    StaleDescriptor { generation: u64, descriptor: RangeDescriptor },
}

impl fmt::Display for RangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RangeError::KeyOutsideRange { key, descriptor } => {
                write!(
                    f,
                    "key {key:?} is outside range {:?} [{:?}, {:?})",
                    descriptor.id, descriptor.start, descriptor.end
                )
            }
            RangeError::StaleDescriptor { generation, descriptor } => write!(
                f,
                "routed by generation {generation} of range {:?}, which is at generation {}",
                descriptor.id, descriptor.generation
            ),
        }
    }
}

impl std::error::Error for RangeError {}

/// Why a split cannot happen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SplitError {
    /// The split key must lie strictly inside the span.
    KeyNotInside { key: Key },
}

impl RangeDescriptor {
    /// The first range of a new cluster: the whole key space.
    pub fn whole_key_space(id: RangeId, replicas: BTreeSet<NodeId>) -> RangeDescriptor {
        RangeDescriptor { id, start: Key::MIN, end: KeyEnd::Unbounded, replicas, generation: 0 }
    }

    pub fn contains(&self, key: &Key) -> bool {
        *key >= self.start && self.end.is_above(key)
    }

    /// Whether the two spans share a key.
    pub fn overlaps(&self, other: &RangeDescriptor) -> bool {
        self.end.is_above(&other.start) && other.end.is_above(&self.start)
    }

    /// Checks that a request routed by `generation` for `key` belongs here.
    pub fn check(&self, key: &Key, generation: u64) -> Result<(), RangeError> {
        if !self.contains(key) {
            return Err(RangeError::KeyOutsideRange { key: key.clone(), descriptor: self.clone() });
        }
        if generation < self.generation {
            return Err(RangeError::StaleDescriptor { generation, descriptor: self.clone() });
        }
        Ok(())
    }

    /// Splits at `key`: this range keeps `[start, key)`, a new range `right_id`
    /// takes `[key, end)` on the same replicas. Both come out one generation on.
    pub fn split(&self, key: &Key, right_id: RangeId) -> Result<(RangeDescriptor, RangeDescriptor), SplitError> {
        if *key <= self.start || !self.end.is_above(key) {
            return Err(SplitError::KeyNotInside { key: key.clone() });
        }
        let generation = self.generation + 1;
        let left = RangeDescriptor { end: KeyEnd::Before(key.clone()), generation, ..self.clone() };
        let right = RangeDescriptor { id: right_id, start: key.clone(), generation, ..self.clone() };
        Ok((left, right))
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut writer = Writer::default();
        writer.u64(self.id.0).bytes(&self.start.0);
        match &self.end {
            KeyEnd::Before(end) => writer.u8(1).bytes(&end.0),
            KeyEnd::Unbounded => writer.u8(0),
        };
        writer.u64(self.replicas.len() as u64);
        for replica in &self.replicas {
            writer.u64(replica.0);
        }
        writer.u64(self.generation).finish()
    }

    pub fn decode(bytes: &[u8]) -> Result<RangeDescriptor, DecodeError> {
        let mut reader = Reader::new(bytes);
        let id = RangeId(reader.u64()?);
        let start = Key(reader.bytes()?.to_vec());
        let end = match reader.u8()? {
            0 => KeyEnd::Unbounded,
            1 => KeyEnd::Before(Key(reader.bytes()?.to_vec())),
            tag => return Err(DecodeError(format!("unknown key end tag {tag}"))),
        };
        let count = reader.u64()?;
        let mut replicas = BTreeSet::new();
        for _ in 0..count {
            replicas.insert(NodeId(reader.u64()?));
        }
        let generation = reader.u64()?;
        reader.finish()?;
        Ok(RangeDescriptor { id, start, end, replicas, generation })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> Key {
        Key(text.as_bytes().to_vec())
    }

    fn whole() -> RangeDescriptor {
        RangeDescriptor::whole_key_space(RangeId(1), [NodeId(1), NodeId(2), NodeId(3)].into())
    }

    #[test]
    fn a_split_cuts_the_span_in_two_and_bumps_the_generation() {
        let (left, right) = whole().split(&key("m"), RangeId(2)).unwrap();
        assert!(left.contains(&key("a")) && !left.contains(&key("m")));
        assert!(right.contains(&key("m")) && right.contains(&key("zzz")));
        assert_eq!((left.generation, right.generation), (1, 1));
        assert_eq!(right.id, RangeId(2));
        assert_eq!(whole().split(&Key::MIN, RangeId(2)), Err(SplitError::KeyNotInside { key: Key::MIN }));
        assert!(left.split(&key("m"), RangeId(3)).is_err(), "the end is not inside");
    }

    #[test]
    fn misrouted_and_stale_requests_carry_the_fresh_descriptor() {
        let (left, _) = whole().split(&key("m"), RangeId(2)).unwrap();
        match left.check(&key("q"), 1) {
            Err(RangeError::KeyOutsideRange { descriptor, .. }) => assert_eq!(descriptor, left),
            other => panic!("expected a key mismatch, got {other:?}"),
        }
        match left.check(&key("a"), 0) {
            Err(RangeError::StaleDescriptor { descriptor, .. }) => assert_eq!(descriptor.generation, 1),
            other => panic!("expected a stale descriptor, got {other:?}"),
        }
        assert_eq!(left.check(&key("a"), 1), Ok(()));
    }

    #[test]
    fn descriptors_round_trip_and_garbage_is_an_error() {
        let (left, right) = whole().split(&key("m"), RangeId(2)).unwrap();
        for descriptor in [left, right, whole()] {
            assert_eq!(RangeDescriptor::decode(&descriptor.encode()), Ok(descriptor));
        }
        assert!(RangeDescriptor::decode(&[1, 2, 3]).is_err());
    }
}
