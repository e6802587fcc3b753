//! Streamed snapshots: how a leader sends a follower its state machine's
//! state in bounded chunks, and how the follower swaps it in at once.
//!
//! Raft decides *when* a follower needs a snapshot and names it by its
//! metadata (index, term, configuration); it never holds the data. The node
//! around Raft moves the data:
//! - **Sending** ([`outgoing`]). When Raft sends `InstallSnapshot`, the node
//!   takes a point-in-time view of its engine (`Engine::view`) before applying
//!   anything more, so the view is the state as of Raft's applied index, and
//!   streams the state machine's spans from it: each chunk an `InstallSnapshot`
//!   whose data is a [`frame::ChunkFrame`] (transfer id, sequence, the state
//!   machine's header, one span and its pairs), bounded by a byte size, a few
//!   unacknowledged at a time. The follower acknowledges each chunk it staged
//!   (`SnapshotChunkAck`). When Raft asks again (it resends a snapshot after a
//!   few heartbeats without news), a transfer that was acknowledged since is
//!   kept; a stalled one (a chunk lost, or a follower that restarted) starts
//!   over with a fresh view.
//! - **Receiving** ([`incoming`]). The follower stages chunks in order
//!   (`Engine::stage`, outside its live keys) and hands only the last one to
//!   Raft. If Raft restores it, the node stages clear-only chunks for what the
//!   old state held outside the new spans, and the group's `installed` record
//!   (`raft::persistence`), then ingests everything in one atomic, durable
//!   step, reloads the state machine (whose applied index must not pass the
//!   snapshot's), and only then writes Raft's batch (log deleted, snapshot
//!   marker). A crash before the ingestion leaves the old state; a crash
//!   between the ingestion and Raft's batch is rolled forward at recovery from
//!   the `installed` record.
//!
//! Every message stays bounded by the chunk size, whatever the state's size,
//! and neither side ever holds more of it than the chunks in flight.

pub mod frame;
pub(super) mod incoming;
pub(super) mod outgoing;

/// How big a chunk is and how many may be unacknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotLimits {
    /// A chunk stops growing once its keys and values reach this many bytes
    /// (one pair may take it past).
    pub chunk_bytes_max: usize,
    pub chunks_in_flight_max: usize,
}

impl Default for SnapshotLimits {
    /// Production sizes: a megabyte a chunk, four in flight.
    fn default() -> SnapshotLimits {
        SnapshotLimits { chunk_bytes_max: 1 << 20, chunks_in_flight_max: 4 }
    }
}

/// A span of engine keys, `[start, end)`.
pub type Span = (Vec<u8>, Vec<u8>);

/// The parts of `spans` that no span of `removed` covers, in order. Both lists
/// are of disjoint spans; the answer is what an install must clear because the
/// old state held it and the new one does not.
pub fn subtract(spans: &[Span], removed: &[Span]) -> Vec<Span> {
    let mut removed: Vec<&Span> = removed.iter().collect();
    removed.sort();
    let mut rest = Vec::new();
    for (start, end) in spans {
        let mut from = start.clone();
        for (cut_start, cut_end) in &removed {
            if cut_end <= &from || cut_start >= end {
                continue;
            }
            if cut_start > &from {
                rest.push((from.clone(), cut_start.clone()));
            }
            from = cut_end.clone();
        }
        if &from < end {
            rest.push((from, end.clone()));
        }
    }
    rest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(start: &str, end: &str) -> Span {
        (start.as_bytes().to_vec(), end.as_bytes().to_vec())
    }

    #[test]
    fn subtracting_spans_keeps_exactly_the_uncovered_parts() {
        let old = [span("a", "f"), span("m", "p")];
        let new = [span("n", "o"), span("b", "c"), span("e", "h")];
        assert_eq!(subtract(&old, &new), vec![span("a", "b"), span("c", "e"), span("m", "n"), span("o", "p")]);
        assert_eq!(subtract(&old, &[]), old.to_vec());
        assert_eq!(subtract(&old, &[span("a", "z")]), Vec::<Span>::new());
    }
}
