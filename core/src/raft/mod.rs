//! Raft consensus for one group, as a deterministic sans-IO state machine.
//!
//! # Shape
//! A [`RaftNode`] is driven by four inputs — [`RaftNode::tick`] (one unit of
//! logical time), [`RaftNode::handle_message`], proposals
//! ([`RaftNode::propose`], [`RaftNode::propose_configuration_change`],
//! [`RaftNode::transfer_leadership`], [`RaftNode::read_index`]) and the storage
//! completion [`RaftNode::advance`] — and emits its work as a [`Ready`]: state to
//! persist (with a sync flag), messages, committed entries and confirmed reads. The
//! runtime persists, then sends, then applies, then advances (etcd-raft's
//! `Ready`/`Advance` contract). Nothing inside reads a clock, a socket or a global
//! random generator; election jitter comes from a ChaCha8 generator seeded in the
//! config, so one seed gives one behaviour.
//!
//! # What is implemented
//! - Leader election with **pre-vote** and **check-quorum** (`election.rs`).
//! - Log replication with **batching** (entries and bytes per append),
//!   **pipelining** (a bounded window of unanswered appends per follower) and
//!   **fast backtracking** by conflicting term (`replication.rs`, `progress.rs`,
//!   `follower.rs`).
//! - The commit rule that a leader counts replicas only for entries of its own term.
//! - **Snapshots and log compaction**: the runtime compacts applied entries into a
//!   snapshot; a follower whose next entry was compacted receives the snapshot.
//! - **Membership change one voter at a time** (`configuration.rs`) and **leader
//!   transfer** (`TimeoutNow`). A configuration takes effect once appended; a
//!   node it removes campaigns until it knows the removal committed, and a
//!   leader tells a removed node that asks for votes what was committed
//!   (`removed.rs`).
//! - **Linearizable reads by read index** (`read_index.rs`). Leases are not used
//!   for reads: the simulator skews clocks, and read index does not depend on them.
//!
//! # Durability
//! Votes and append acknowledgements are messages in the same `Ready` as the
//! state they promise; the runtime sends them only after persisting (and syncing)
//! that state. The leader counts itself towards a commit only up to its own
//! persisted index.
//!
//! # Left out, for now
//! Learners (non-voting members), joint consensus, snapshot chunking (a transport
//! concern), asynchronous storage writes, and leases.

mod configuration;
mod election;
mod follower;
mod log;
mod message;
mod node;
pub mod persistence;
mod progress;
mod read_index;
mod ready;
mod removed;
mod replication;

#[cfg(test)]
mod tests;

pub use configuration::ConfigurationHistory;
pub use message::{
    AppendResult, Configuration, ConfigurationChange, Entry, EntryPayload, HardState, Message, MessageBody, Snapshot,
    SnapshotMetadata,
};
pub use node::{RaftConfig, RaftError, RaftNode, RecoveredState, Role, Status, TestingKnobs};
pub use progress::{Progress, ReplicationState, SNAPSHOT_RESEND_HEARTBEATS};
pub use ready::{ReadState, Ready, SnapshotToPersist};
