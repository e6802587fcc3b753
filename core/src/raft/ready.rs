//! The batch of work a Raft node hands its runtime, and the order to do it in.
//!
//! The runtime takes a [`Ready`] with `RaftNode::ready`, then:
//! 1. **persists** `hard_state`, `snapshot` and `entries` (an entry at index `i`
//!    replaces every stored entry at `i` and after), and syncs them when `sync`;
//! 2. **sends** `messages` — only now, because votes and append acknowledgements
//!    among them promise that the state above is durable;
//! 3. **applies** `committed_entries` (and restores the state machine first when
//!    `snapshot.restore` is set) and serves `read_states`;
//! 4. **advances** the node with `RaftNode::advance(ready)`.

use super::message::{Entry, HardState, Message, Snapshot};
use crate::types::LogIndex;

/// A snapshot to store; when `restore` the state machine must also load it (it
/// came from the leader), otherwise it is this node's own compaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotToPersist {
    pub snapshot: Snapshot,
    pub restore: bool,
}

/// A linearizable read is safe once the state machine has applied `index`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadState {
    pub context: u64,
    pub index: LogIndex,
}

/// Everything a node needs done, in the documented order.
#[derive(Clone, Debug, Default)]
pub struct Ready {
    pub hard_state: Option<HardState>,
    pub snapshot: Option<SnapshotToPersist>,
    pub entries: Vec<Entry>,
    /// Whether the persisted state must be synced before the messages are sent.
    pub sync: bool,
    pub messages: Vec<Message>,
    pub committed_entries: Vec<Entry>,
    pub read_states: Vec<ReadState>,
}

impl Ready {
    /// Whether there is anything to persist.
    pub fn has_persistence(&self) -> bool {
        self.hard_state.is_some() || self.snapshot.is_some() || !self.entries.is_empty()
    }

    /// Whether there is nothing at all to do.
    pub fn is_empty(&self) -> bool {
        !self.has_persistence()
            && self.messages.is_empty()
            && self.committed_entries.is_empty()
            && self.read_states.is_empty()
    }
}
