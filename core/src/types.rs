//! Identifiers shared by every layer: small newtypes so a term is never mistaken
//! for an index.

use std::fmt;

/// A node (server) of the cluster. Zero is never a valid node id.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub u64);

/// A Raft term: a logical period with at most one leader.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Term(pub u64);

/// The position of an entry in a Raft log; the first entry has index 1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogIndex(pub u64);

/// A range of the key space: one Raft group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RangeId(pub u64);

/// A transaction, named by 128 random bits drawn from its coordinator's seeded
/// generator: unique without coordination.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TransactionId(pub u128);

impl fmt::Display for TransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The first 32 bits are enough to tell transactions apart in a trace.
        write!(f, "txn-{:08x}", (self.0 >> 96) as u32)
    }
}

/// A hybrid logical clock timestamp: physical time in nanoseconds, then a logical
/// counter that orders events within one nanosecond value. Ordered as a pair.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    pub wall_nanos: u64,
    pub logical: u32,
}

impl Timestamp {
    /// The smallest timestamp greater than this one.
    pub fn next(self) -> Timestamp {
        match self.logical.checked_add(1) {
            Some(logical) => Timestamp { wall_nanos: self.wall_nanos, logical },
            None => Timestamp { wall_nanos: self.wall_nanos + 1, logical: 0 },
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:09},{}", self.wall_nanos / 1_000_000_000, self.wall_nanos % 1_000_000_000, self.logical)
    }
}

/// A point in time as the runtime sees it, in nanoseconds since an arbitrary origin.
/// The core only ever receives it as an input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Time(pub u64);

impl LogIndex {
    /// The index after this one.
    pub fn next(self) -> LogIndex {
        LogIndex(self.0 + 1)
    }
    /// The index before this one; the index before 0 is 0.
    pub fn previous(self) -> LogIndex {
        LogIndex(self.0.saturating_sub(1))
    }
}

impl Term {
    /// The term after this one.
    pub fn next(self) -> Term {
        Term(self.0 + 1)
    }
}

impl Time {
    /// Nanoseconds from `earlier` to `self`, zero when `earlier` is later.
    pub fn nanos_since(self, earlier: Time) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
    /// This time plus a number of nanoseconds.
    pub fn plus_nanos(self, nanos: u64) -> Time {
        Time(self.0.saturating_add(nanos))
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t{}", self.0)
    }
}

impl fmt::Display for LogIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "i{}", self.0)
    }
}
