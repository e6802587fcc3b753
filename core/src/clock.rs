//! The hybrid logical clock (HLC) and the uncertainty intervals of reads.
//!
//! # The clock
//! Every node keeps one [`HybridClock`]. Its timestamps pair a physical reading in
//! nanoseconds with a logical counter, so they stay close to real time yet order
//! events as Lamport clocks do. The core never reads a clock: the runtime passes
//! the node's physical reading ([`Time`]) into every call.
//!
//! - [`HybridClock::now`] returns a timestamp strictly greater than every timestamp
//!   the clock returned or accepted before. When the physical reading moved past the
//!   latest timestamp, the result is `(physical, 0)`; otherwise (the reading stood
//!   still, went backwards, or a remote timestamp pushed the clock ahead) the logical
//!   counter advances instead. The wall part therefore never falls below the
//!   physical reading.
//! - [`HybridClock::update`] takes a timestamp carried by a message from another
//!   node and ratchets the clock up to it, so that anything this node does after
//!   receiving the message is ordered after whatever the sender did before sending
//!   it: causality through messages is preserved without synchronised clocks.
//!
//! # The maximum offset, and what happens beyond it
//! The cluster is configured with `max_offset_nanos`: the largest difference
//! between any two nodes' physical clocks that the system tolerates. Uncertainty
//! intervals (below) are sound only while every pair of clocks stays within that
//! bound. A remote timestamp whose wall part exceeds our physical reading plus the
//! maximum offset is proof that the bound is broken, on the sender's side or ours.
//! The clock then refuses it: [`HybridClock::update`] returns a [`ClockOffsetError`]
//! and leaves the clock untouched, for two reasons:
//! - accepting it would drag this node's clock (and, through its messages, every
//!   other node's) into the future of the faulty clock, and
//! - the request the message carries would be served with uncertainty intervals
//!   that no longer cover the real skew, so a read could miss a write that finished
//!   before it began in real time: a stale read, which breaks serializability.
//!
//! Policy: the **receiving node refuses to serve** the message that carried the
//! timestamp; it replies with an error instead of a result. Availability is given
//! up to keep isolation. The clock cannot tell which side is wrong, so it does not
//! decide to crash; the runtime, which sees the error repeat across peers, decides
//! whether its own clock is the outlier and the node must stop.
//!
//! # Uncertainty, by a worked example
//! A reader cannot order a version whose timestamp lies a little above its read
//! timestamp: the writer's clock may simply have been ahead. Take two nodes with a
//! maximum offset of 5 ms, where node A's clock runs 3 ms ahead of node B's:
//!
//! 1. At real time 100 ms, node A (its clock reads 103 ms) commits a write of key
//!    `k` at version `(103 ms, 0)` and acknowledges it to a client.
//! 2. At real time 101 ms, the client, having seen the acknowledgement, reads `k`
//!    through node B, whose clock reads 101 ms. No message went from A to B, so
//!    [`HybridClock::update`] never ran: B's read timestamp is `(101 ms, 0)`, which
//!    is *below* the write.
//! 3. Read naively, the write is in the read's future and invisible: the client
//!    sees the old value although its write finished first. The read's uncertainty
//!    interval is `(101 ms, 106 ms]` (read plus the maximum offset); the version
//!    `(103 ms, 0)` falls inside it, so it [`UncertaintyInterval::is_uncertain`]
//!    and the reader restarts with a read timestamp at or above it, and sees it.
//! 4. A version at `(107 ms, 0)` lies beyond the limit and is safely ignored: when
//!    its writer's clock read 107 ms, B's clock read at least 107 - 5 = 102 ms, so
//!    the write happened after the read began in real time.
//!
//! The limit stays fixed for the whole transaction, restarts included, so restarts
//! end: every restart moves the read timestamp up towards a limit that does not move.
//!
//! # Left out, for now
//! Detecting our own clock jumping far backwards or forwards (the runtime compares
//! clocks with peers), narrowing the limit with observed timestamps per node, and
//! persisting an upper bound of issued wall times across restarts.

use std::fmt;

use crate::types::{Time, Timestamp};

/// A node's hybrid logical clock: monotonic timestamps close to physical time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HybridClock {
    max_offset_nanos: u64,
    /// The greatest timestamp this clock returned or accepted so far.
    latest: Timestamp,
}

/// A remote timestamp lay further ahead of our physical clock than the maximum
/// offset allows; it was refused and the clock left unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockOffsetError {
    /// The timestamp the message carried.
    pub remote: Timestamp,
    /// Our physical clock reading when the message arrived.
    pub physical: Time,
    /// The configured bound that `remote` broke.
    pub max_offset_nanos: u64,
}

/// The timestamps a read sees: versions at or below `read` are visible; versions
/// in `(read, limit]` may have been written before the read in real time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UncertaintyInterval {
    /// The timestamp the read is served at.
    pub read: Timestamp,
    /// The highest timestamp a write finished before the read could carry.
    pub limit: Timestamp,
}

impl HybridClock {
    /// A clock that has issued nothing yet, tolerating `max_offset_nanos` of skew.
    pub fn new(max_offset_nanos: u64) -> HybridClock {
        HybridClock { max_offset_nanos, latest: Timestamp::default() }
    }

    /// The greatest timestamp returned or accepted so far.
    pub fn latest(&self) -> Timestamp {
        self.latest
    }

    /// The largest clock skew between nodes this clock tolerates.
    pub fn max_offset_nanos(&self) -> u64 {
        self.max_offset_nanos
    }

    /// A new timestamp, greater than any returned or accepted before, and whose
    /// wall part is at least `physical`.
    pub fn now(&mut self, physical: Time) -> Timestamp {
        self.latest = if physical.0 > self.latest.wall_nanos {
            Timestamp { wall_nanos: physical.0, logical: 0 }
        } else {
            // Physical time stood still or went backwards: the counter keeps order.
            self.latest.next()
        };
        self.latest
    }

    /// Accepts a timestamp from another node's message, so that later `now()`
    /// results exceed it; refuses it, changing nothing, when it is further ahead of
    /// `physical` than the maximum offset (see the module doc for the policy).
    pub fn update(&mut self, physical: Time, remote: Timestamp) -> Result<(), ClockOffsetError> {
        if remote.wall_nanos > physical.0.saturating_add(self.max_offset_nanos) {
            return Err(ClockOffsetError { remote, physical, max_offset_nanos: self.max_offset_nanos });
        }
        self.latest = self.latest.max(remote);
        Ok(())
    }

    /// Starts a read: a fresh read timestamp, and a limit the maximum offset above
    /// it, beyond which no write that finished before the read can lie.
    pub fn uncertainty_interval(&mut self, physical: Time) -> UncertaintyInterval {
        let read = self.now(physical);
        let limit = Timestamp { wall_nanos: read.wall_nanos.saturating_add(self.max_offset_nanos), ..read };
        UncertaintyInterval { read, limit }
    }
}

impl UncertaintyInterval {
    /// Whether the read sees `version`: it was written at or before the read.
    pub fn is_visible(&self, version: Timestamp) -> bool {
        version <= self.read
    }

    /// Whether `version` is above the read yet may have been written before it in
    /// real time; the reader must restart at or above it rather than skip it.
    pub fn is_uncertain(&self, version: Timestamp) -> bool {
        self.read < version && version <= self.limit
    }
}

impl fmt::Display for ClockOffsetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ahead_nanos = self.remote.wall_nanos.saturating_sub(self.physical.0);
        write!(
            f,
            "remote timestamp {} is {} ns ahead of the local clock, beyond the maximum offset of {} ns; \
             refusing it, since uncertainty intervals are only sound within that bound",
            self.remote, ahead_nanos, self.max_offset_nanos
        )
    }
}

impl std::error::Error for ClockOffsetError {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MILLISECOND_NANOS: u64 = 1_000_000;

    fn at_milliseconds(milliseconds: u64) -> Time {
        Time(milliseconds * MILLISECOND_NANOS)
    }

    fn stamp(milliseconds: u64, logical: u32) -> Timestamp {
        Timestamp { wall_nanos: milliseconds * MILLISECOND_NANOS, logical }
    }

    #[test]
    fn now_follows_physical_time_when_it_moves_ahead() {
        let mut clock = HybridClock::new(5 * MILLISECOND_NANOS);
        assert_eq!(clock.now(at_milliseconds(100)), stamp(100, 0));
        assert_eq!(clock.now(at_milliseconds(101)), stamp(101, 0));
    }

    #[test]
    fn now_counts_logically_when_physical_time_stands_still_or_goes_backwards() {
        let mut clock = HybridClock::new(5 * MILLISECOND_NANOS);
        clock.now(at_milliseconds(100));
        assert_eq!(clock.now(at_milliseconds(100)), stamp(100, 1));
        assert_eq!(clock.now(at_milliseconds(90)), stamp(100, 2));
    }

    #[test]
    fn logical_counter_overflow_carries_into_the_wall_time() {
        let mut clock = HybridClock::new(0);
        clock.update(Time(7), Timestamp { wall_nanos: 7, logical: u32::MAX }).unwrap();
        assert_eq!(clock.now(Time(7)), Timestamp { wall_nanos: 8, logical: 0 });
    }

    /// Node B, 3 ms behind node A, receives A's timestamp within the 5 ms bound.
    #[test]
    fn remote_timestamp_within_the_offset_orders_later_events_after_it() {
        let mut node_b = HybridClock::new(5 * MILLISECOND_NANOS);
        node_b.update(at_milliseconds(100), stamp(103, 0)).unwrap();
        assert_eq!(node_b.now(at_milliseconds(100)), stamp(103, 1));
        assert_eq!(node_b.now(at_milliseconds(104)), stamp(104, 0));
    }

    #[test]
    fn remote_timestamp_exactly_at_the_offset_is_accepted() {
        let mut clock = HybridClock::new(5 * MILLISECOND_NANOS);
        assert_eq!(clock.update(at_milliseconds(100), stamp(105, 9)), Ok(()));
        assert_eq!(clock.latest(), stamp(105, 9));
    }

    #[test]
    fn remote_timestamp_beyond_the_offset_is_refused_and_changes_nothing() {
        let mut clock = HybridClock::new(5 * MILLISECOND_NANOS);
        clock.now(at_milliseconds(100));
        let before = clock.clone();
        let error = clock.update(at_milliseconds(100), stamp(108, 0)).unwrap_err();
        assert_eq!(
            error,
            ClockOffsetError {
                remote: stamp(108, 0),
                physical: at_milliseconds(100),
                max_offset_nanos: 5 * MILLISECOND_NANOS
            }
        );
        assert_eq!(clock, before);
        assert_eq!(
            error.to_string(),
            "remote timestamp 0.108000000,0 is 8000000 ns ahead of the local clock, beyond the maximum offset of \
             5000000 ns; refusing it, since uncertainty intervals are only sound within that bound"
        );
    }

    /// The module doc's example: A's write, acknowledged before B's read began,
    /// carries a timestamp above B's read timestamp because A's clock runs ahead.
    #[test]
    fn write_from_a_clock_ahead_is_uncertain_to_a_later_read() {
        let write = stamp(103, 0);
        let mut node_b = HybridClock::new(5 * MILLISECOND_NANOS);
        let interval = node_b.uncertainty_interval(at_milliseconds(101));
        assert_eq!(interval, UncertaintyInterval { read: stamp(101, 0), limit: stamp(106, 0) });
        assert!(!interval.is_visible(write));
        assert!(interval.is_uncertain(write), "skipping it would be a stale read");
    }

    #[test]
    fn write_beyond_the_limit_happened_after_the_read_began() {
        let mut node_b = HybridClock::new(5 * MILLISECOND_NANOS);
        let interval = node_b.uncertainty_interval(at_milliseconds(101));
        assert!(!interval.is_uncertain(stamp(107, 0)));
        assert!(!interval.is_visible(stamp(107, 0)));
        assert!(interval.is_uncertain(stamp(106, 0)), "the limit itself is uncertain");
        assert!(interval.is_visible(stamp(101, 0)));
    }

    /// One input to the clock in a generated history. Small ranges of nanoseconds
    /// make ties, backwards jumps and refusals common.
    #[derive(Clone, Debug)]
    enum Operation {
        Now { physical: u64 },
        Update { physical: u64, remote: Timestamp },
        Read { physical: u64, version: Timestamp },
    }

    fn timestamp_strategy() -> impl Strategy<Value = Timestamp> {
        let logical = prop_oneof![0..4u32, Just(u32::MAX)];
        (0..300u64, logical).prop_map(|(wall_nanos, logical)| Timestamp { wall_nanos, logical })
    }

    fn operation_strategy() -> impl Strategy<Value = Operation> {
        prop_oneof![
            (0..200u64).prop_map(|physical| Operation::Now { physical }),
            (0..200u64, timestamp_strategy()).prop_map(|(physical, remote)| Operation::Update { physical, remote }),
            (0..200u64, timestamp_strategy()).prop_map(|(physical, version)| Operation::Read { physical, version }),
        ]
    }

    /// Checks one issued timestamp against everything seen before, then records it.
    fn check_issued(issued: Timestamp, physical: u64, highest_seen: &mut Timestamp) -> Result<(), TestCaseError> {
        prop_assert!(issued > *highest_seen, "{issued} not above {highest_seen}");
        prop_assert!(issued.wall_nanos >= physical, "{issued} below physical {physical}");
        *highest_seen = issued;
        Ok(())
    }

    fn check_update(
        clock: &mut HybridClock,
        physical: u64,
        remote: Timestamp,
        highest_seen: &mut Timestamp,
    ) -> Result<(), TestCaseError> {
        let before = clock.clone();
        match clock.update(Time(physical), remote) {
            Ok(()) => {
                prop_assert!(remote.wall_nanos <= physical + clock.max_offset_nanos());
                *highest_seen = (*highest_seen).max(remote);
            }
            Err(_) => {
                prop_assert!(remote.wall_nanos > physical + clock.max_offset_nanos());
                prop_assert_eq!(&*clock, &before);
            }
        }
        Ok(())
    }

    /// Checks the read's interval against an arbitrary version and its edges.
    fn check_read(
        interval: UncertaintyInterval,
        version: Timestamp,
        max_offset_nanos: u64,
    ) -> Result<(), TestCaseError> {
        prop_assert_eq!(interval.limit.wall_nanos - interval.read.wall_nanos, max_offset_nanos);
        let edges = [interval.read, interval.read.next(), interval.limit, interval.limit.next()];
        for version in std::iter::once(version).chain(edges) {
            prop_assert!(
                !(interval.is_visible(version) && interval.is_uncertain(version)),
                "{version} is both visible and uncertain"
            );
            prop_assert_eq!(interval.is_visible(version), version <= interval.read);
            prop_assert_eq!(interval.is_uncertain(version), interval.read < version && version <= interval.limit);
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn any_history_keeps_the_clock_monotonic_and_reads_consistent(
            max_offset_nanos in 0..100u64,
            operations in prop::collection::vec(operation_strategy(), 1..64),
        ) {
            let mut clock = HybridClock::new(max_offset_nanos);
            let mut highest_seen = Timestamp::default();
            for operation in operations {
                match operation {
                    Operation::Now { physical } => check_issued(clock.now(Time(physical)), physical, &mut highest_seen)?,
                    Operation::Update { physical, remote } => check_update(&mut clock, physical, remote, &mut highest_seen)?,
                    Operation::Read { physical, version } => {
                        let interval = clock.uncertainty_interval(Time(physical));
                        check_issued(interval.read, physical, &mut highest_seen)?;
                        check_read(interval, version, max_offset_nanos)?;
                    }
                }
                prop_assert_eq!(clock.latest(), highest_seen);
            }
        }
    }
}
