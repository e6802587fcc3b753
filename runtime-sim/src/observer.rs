//! What the simulated nodes report to the test's checkers: applied entries,
//! leadership, and a trace of events.

use shardforge_core::raft::{Entry, Status};
use shardforge_core::types::NodeId;

/// Receives every node's observations. Implemented by the chaos suite's recorder.
pub trait Observer: Send + Sync {
    /// `node` applied these committed entries of Raft group `group`, in order.
    fn applied(&self, node: NodeId, group: u64, entries: &[Entry]);
    /// `node` replaced its state of `group` with a snapshot up to `index`.
    fn restored_snapshot(&self, node: NodeId, group: u64, index: shardforge_core::types::LogIndex);
    /// `node`'s state machine of `group`, having applied everything up to
    /// `replica.applied_index`, serializes to bytes whose hash is
    /// `replica.digest`. Replicas must agree at every index, including states
    /// reached through a snapshot.
    fn state(&self, node: NodeId, group: u64, replica: &crate::program::ReplicaState);
    /// `node` sent a vote for `candidate` in `term` of `group` (after persisting
    /// whatever the vote promises, as every message).
    fn vote_sent(&self, node: NodeId, group: u64, term: shardforge_core::types::Term, candidate: NodeId);
    /// `node` told the leader of `term` of `group` that its log matches the
    /// leader's up to `match_index` (after persisting those entries, as every
    /// message): it may never be in that term again with a shorter log.
    fn acknowledged(
        &self,
        node: NodeId,
        group: u64,
        term: shardforge_core::types::Term,
        match_index: shardforge_core::types::LogIndex,
    );
    /// `node` deleted its replica of `group`, which the configuration at
    /// `removal` left out (reported after the entries it applied in the same turn).
    fn replica_removed(&self, node: NodeId, group: u64, removal: shardforge_core::types::LogIndex);
    /// `node` started from its disk, holding this status of the first group
    /// (`None`: no replica of it, as after a removal that a crash kept the
    /// turn from reporting).
    fn started(&self, node: NodeId, status: Option<&Status>);
    /// `node`'s Raft status of the first group after handling a batch of inputs.
    fn status(&self, node: NodeId, status: &Status);
    /// Whether `event` lines are wanted (formatting them costs time).
    fn tracing(&self) -> bool;
    /// One line of the trace.
    fn event(&self, line: String);
}
