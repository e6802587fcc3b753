//! Wire types to core types, checking everything the core assumes of its inputs.
//!
//! The consensus core asserts its invariants and crashes when one breaks, which is
//! right for its own mistakes but wrong for a peer's: bytes from the network are
//! checked here, and whatever passes is a message the core can take safely. Beyond
//! the protobuf encoding itself, that means every oneof and nested message is
//! present, node ids are non-zero where a node is required, configurations list
//! each voter once, and the entries of an append are contiguous from its previous
//! index with terms that never decrease.

use std::collections::BTreeSet;

use shardforge_core::raft as core_raft;
use shardforge_core::raft::{AppendResult, EntryPayload, MessageBody};
use shardforge_core::types::{LogIndex, NodeId, Term};

use crate::error::DecodeError;
use crate::raft as wire;
use crate::raft::message::Body;

impl TryFrom<wire::Configuration> for core_raft::Configuration {
    type Error = DecodeError;

    fn try_from(configuration: wire::Configuration) -> Result<Self, DecodeError> {
        let mut voters = BTreeSet::new();
        for voter in configuration.voters {
            let voter = required_node(voter, "Configuration.voters")?;
            if !voters.insert(voter) {
                return Err(DecodeError::DuplicateVoter(voter));
            }
        }
        Ok(core_raft::Configuration { voters })
    }
}

impl TryFrom<wire::Entry> for core_raft::Entry {
    type Error = DecodeError;

    fn try_from(entry: wire::Entry) -> Result<Self, DecodeError> {
        if entry.index == 0 {
            return Err(DecodeError::ZeroEntryIndex);
        }
        let payload = match required(entry.payload, "Entry.payload")? {
            wire::entry::Payload::Empty(wire::EmptyPayload {}) => EntryPayload::Empty,
            wire::entry::Payload::Command(command) => EntryPayload::Command(command),
            wire::entry::Payload::Configuration(configuration) => {
                EntryPayload::Configuration(configuration.try_into()?)
            }
        };
        Ok(core_raft::Entry { index: LogIndex(entry.index), term: Term(entry.term), payload })
    }
}

impl TryFrom<wire::SnapshotMetadata> for core_raft::SnapshotMetadata {
    type Error = DecodeError;

    fn try_from(metadata: wire::SnapshotMetadata) -> Result<Self, DecodeError> {
        let configuration = required(metadata.configuration, "SnapshotMetadata.configuration")?;
        Ok(core_raft::SnapshotMetadata {
            index: LogIndex(metadata.index),
            term: Term(metadata.term),
            configuration: configuration.try_into()?,
        })
    }
}

impl TryFrom<wire::Snapshot> for core_raft::Snapshot {
    type Error = DecodeError;

    fn try_from(snapshot: wire::Snapshot) -> Result<Self, DecodeError> {
        let metadata = required(snapshot.metadata, "Snapshot.metadata")?;
        Ok(core_raft::Snapshot { metadata: metadata.try_into()?, data: snapshot.data })
    }
}

/// Infallible: every wire hard state is valid, a zero vote meaning "no vote".
impl From<wire::HardState> for core_raft::HardState {
    fn from(state: wire::HardState) -> Self {
        let vote = (state.vote != 0).then_some(NodeId(state.vote));
        core_raft::HardState { term: Term(state.term), vote, commit: LogIndex(state.commit) }
    }
}

impl TryFrom<wire::Message> for core_raft::Message {
    type Error = DecodeError;

    fn try_from(message: wire::Message) -> Result<Self, DecodeError> {
        Ok(core_raft::Message {
            from: required_node(message.from, "Message.from")?,
            to: required_node(message.to, "Message.to")?,
            term: Term(message.term),
            body: decode_body(required(message.body, "Message.body")?)?,
        })
    }
}

fn decode_body(body: Body) -> Result<MessageBody, DecodeError> {
    let body = match body {
        Body::PreVote(wire::PreVote { last_log_index, last_log_term }) => {
            MessageBody::PreVote { last_log_index: LogIndex(last_log_index), last_log_term: Term(last_log_term) }
        }
        Body::PreVoteResponse(wire::PreVoteResponse { granted }) => MessageBody::PreVoteResponse { granted },
        Body::Vote(wire::Vote { last_log_index, last_log_term, leader_transfer }) => MessageBody::Vote {
            last_log_index: LogIndex(last_log_index),
            last_log_term: Term(last_log_term),
            leader_transfer,
        },
        Body::VoteResponse(wire::VoteResponse { granted }) => MessageBody::VoteResponse { granted },
        Body::Append(append) => decode_append(append)?,
        Body::AppendResponse(response) => MessageBody::AppendResponse { result: decode_append_result(response)? },
        Body::Heartbeat(wire::Heartbeat { commit, round }) => {
            MessageBody::Heartbeat { commit: LogIndex(commit), round }
        }
        Body::HeartbeatResponse(wire::HeartbeatResponse { round }) => MessageBody::HeartbeatResponse { round },
        Body::InstallSnapshot(install) => {
            let snapshot = required(install.snapshot, "InstallSnapshot.snapshot")?;
            MessageBody::InstallSnapshot { snapshot: snapshot.try_into()? }
        }
        Body::TimeoutNow(wire::TimeoutNow {}) => MessageBody::TimeoutNow,
        Body::SnapshotChunkAck(wire::SnapshotChunkAck { transfer, sequence }) => {
            MessageBody::SnapshotChunkAck { transfer, sequence }
        }
    };
    Ok(body)
}

fn decode_append(append: wire::Append) -> Result<MessageBody, DecodeError> {
    let previous_index = LogIndex(append.previous_index);
    let previous_term = Term(append.previous_term);
    let mut entries = Vec::with_capacity(append.entries.len());
    let (mut last_index, mut last_term) = (previous_index, previous_term);
    for entry in append.entries {
        let entry = core_raft::Entry::try_from(entry)?;
        // The follower's log asserts that received entries leave no gap.
        if last_index.0.checked_add(1) != Some(entry.index.0) {
            return Err(DecodeError::EntryGap { previous: last_index, found: entry.index });
        }
        if entry.term < last_term {
            return Err(DecodeError::EntryTermDecreased {
                index: entry.index,
                term: entry.term,
                previous_term: last_term,
            });
        }
        (last_index, last_term) = (entry.index, entry.term);
        entries.push(entry);
    }
    Ok(MessageBody::Append { previous_index, previous_term, entries, commit: LogIndex(append.commit) })
}

fn decode_append_result(response: wire::AppendResponse) -> Result<AppendResult, DecodeError> {
    let result = match required(response.result, "AppendResponse.result")? {
        wire::append_response::Result::Accepted(accepted) => {
            AppendResult::Accepted { match_index: LogIndex(accepted.match_index) }
        }
        wire::append_response::Result::Rejected(rejected) => AppendResult::Rejected {
            rejected_index: LogIndex(rejected.rejected_index),
            hint_index: LogIndex(rejected.hint_index),
            hint_term: Term(rejected.hint_term),
        },
    };
    Ok(result)
}

/// The value of a field the schema requires, or an error naming it.
fn required<T>(value: Option<T>, field: &'static str) -> Result<T, DecodeError> {
    value.ok_or(DecodeError::MissingField(field))
}

/// A node id from a field where a node is required; zero is no node.
fn required_node(id: u64, field: &'static str) -> Result<NodeId, DecodeError> {
    if id == 0 {
        return Err(DecodeError::ZeroNodeId(field));
    }
    Ok(NodeId(id))
}
