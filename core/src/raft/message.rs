//! What Raft nodes say to each other, and what they keep in their logs.

use std::collections::BTreeSet;

use crate::types::{LogIndex, NodeId, Term};

/// The voters of a Raft group. Changed one voter at a time (see `configuration.rs`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Configuration {
    pub voters: BTreeSet<NodeId>,
}

/// One change to the voters, proposed through the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigurationChange {
    AddVoter(NodeId),
    RemoveVoter(NodeId),
}

/// What a log entry carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryPayload {
    /// Appended by every new leader so that it can commit entries of its term.
    Empty,
    /// An opaque command for the replicated state machine.
    Command(Vec<u8>),
    /// The whole new configuration; it takes effect as soon as it is appended.
    Configuration(Configuration),
}

/// One entry of the replicated log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub index: LogIndex,
    pub term: Term,
    pub payload: EntryPayload,
}

/// Where a snapshot stands in the log, and the configuration in force there.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapshotMetadata {
    pub index: LogIndex,
    pub term: Term,
    pub configuration: Configuration,
}

/// The state machine's state as of `metadata.index`, which replaces the log up to there.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub metadata: SnapshotMetadata,
    pub data: Vec<u8>,
}

/// What must survive a crash besides the log: the term, the vote cast in it, and
/// the commit index (which only speeds up recovery; losing it is safe).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HardState {
    pub term: Term,
    pub vote: Option<NodeId>,
    pub commit: LogIndex,
}

/// A message between two members of one Raft group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub from: NodeId,
    pub to: NodeId,
    /// The sender's term; for a pre-vote, the term the sender would campaign in.
    pub term: Term,
    pub body: MessageBody,
}

/// How a follower answered an append or a snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppendResult {
    /// The follower's log now matches the leader's up to `match_index`.
    Accepted { match_index: LogIndex },
    /// The follower's log did not contain `(rejected_index, term)`. The hint says
    /// where to retry: the conflicting term in the follower's log and the first
    /// index it holds of that term, or the follower's last index plus one with
    /// term zero when its log is simply shorter.
    Rejected { rejected_index: LogIndex, hint_index: LogIndex, hint_term: Term },
}

/// The kinds of Raft messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MessageBody {
    /// "Would you vote for me in `term`?" Changes no state at the receiver.
    PreVote {
        last_log_index: LogIndex,
        last_log_term: Term,
    },
    PreVoteResponse {
        granted: bool,
    },
    /// A real vote request. `leader_transfer` overrides the receiver's leader lease.
    Vote {
        last_log_index: LogIndex,
        last_log_term: Term,
        leader_transfer: bool,
    },
    VoteResponse {
        granted: bool,
    },
    /// Entries following `(previous_index, previous_term)`, and the leader's commit index.
    Append {
        previous_index: LogIndex,
        previous_term: Term,
        entries: Vec<Entry>,
        commit: LogIndex,
    },
    AppendResponse {
        result: AppendResult,
    },
    /// Leader liveness, commit propagation and read-index confirmation (`round`).
    Heartbeat {
        commit: LogIndex,
        round: u64,
    },
    HeartbeatResponse {
        round: u64,
    },
    /// The leader's snapshot, for a follower whose next entry was compacted away.
    InstallSnapshot {
        snapshot: Snapshot,
    },
    /// Leader transfer: "campaign now, without pre-vote".
    TimeoutNow,
    /// A follower staged chunk `sequence` of snapshot transfer `transfer`
    /// (`replica::snapshot`). Meant for the node around Raft, which streams the
    /// chunks; Raft itself ignores it.
    SnapshotChunkAck {
        transfer: u64,
        sequence: u64,
    },
}

impl Entry {
    /// Approximate size in bytes, for batching limits.
    pub fn size_bytes(&self) -> usize {
        let payload = match &self.payload {
            EntryPayload::Empty => 0,
            EntryPayload::Command(command) => command.len(),
            EntryPayload::Configuration(configuration) => configuration.voters.len() * 8,
        };
        payload + 16
    }
}

impl MessageBody {
    /// A short name for traces.
    pub fn kind(&self) -> &'static str {
        match self {
            MessageBody::PreVote { .. } => "PreVote",
            MessageBody::PreVoteResponse { .. } => "PreVoteResponse",
            MessageBody::Vote { .. } => "Vote",
            MessageBody::VoteResponse { .. } => "VoteResponse",
            MessageBody::Append { .. } => "Append",
            MessageBody::AppendResponse { .. } => "AppendResponse",
            MessageBody::Heartbeat { .. } => "Heartbeat",
            MessageBody::HeartbeatResponse { .. } => "HeartbeatResponse",
            MessageBody::InstallSnapshot { .. } => "InstallSnapshot",
            MessageBody::TimeoutNow => "TimeoutNow",
            MessageBody::SnapshotChunkAck { .. } => "SnapshotChunkAck",
        }
    }
}
