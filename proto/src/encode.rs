//! Core types to wire types. Infallible: every core value has a wire form.
//!
//! Encoding does not validate; the core never builds a message that decoding
//! would reject (such as one from node 0), and decoding checks on the far side.

use shardforge_core::raft as core_raft;
use shardforge_core::raft::{AppendResult, EntryPayload, MessageBody};

use crate::raft as wire;
use crate::raft::append_response::{Accepted, Rejected};
use crate::raft::message::Body;

impl From<&core_raft::Configuration> for wire::Configuration {
    fn from(configuration: &core_raft::Configuration) -> Self {
        // A BTreeSet iterates in ascending order, which the schema promises.
        wire::Configuration { voters: configuration.voters.iter().map(|voter| voter.0).collect() }
    }
}

impl From<&core_raft::Entry> for wire::Entry {
    fn from(entry: &core_raft::Entry) -> Self {
        let payload = match &entry.payload {
            EntryPayload::Empty => wire::entry::Payload::Empty(wire::EmptyPayload {}),
            EntryPayload::Command(command) => wire::entry::Payload::Command(command.clone()),
            EntryPayload::Configuration(configuration) => wire::entry::Payload::Configuration(configuration.into()),
        };
        wire::Entry { index: entry.index.0, term: entry.term.0, payload: Some(payload) }
    }
}

impl From<&core_raft::SnapshotMetadata> for wire::SnapshotMetadata {
    fn from(metadata: &core_raft::SnapshotMetadata) -> Self {
        wire::SnapshotMetadata {
            index: metadata.index.0,
            term: metadata.term.0,
            configuration: Some((&metadata.configuration).into()),
        }
    }
}

impl From<&core_raft::Snapshot> for wire::Snapshot {
    fn from(snapshot: &core_raft::Snapshot) -> Self {
        wire::Snapshot { metadata: Some((&snapshot.metadata).into()), data: snapshot.data.clone() }
    }
}

impl From<&core_raft::HardState> for wire::HardState {
    fn from(state: &core_raft::HardState) -> Self {
        // Node id 0 is never a node, so it stands for "no vote".
        let vote = state.vote.map_or(0, |voter| voter.0);
        wire::HardState { term: state.term.0, vote, commit: state.commit.0 }
    }
}

impl From<&core_raft::Message> for wire::Message {
    fn from(message: &core_raft::Message) -> Self {
        wire::Message {
            from: message.from.0,
            to: message.to.0,
            term: message.term.0,
            body: Some(encode_body(&message.body)),
        }
    }
}

fn encode_body(body: &MessageBody) -> Body {
    match body {
        MessageBody::PreVote { last_log_index, last_log_term } => {
            Body::PreVote(wire::PreVote { last_log_index: last_log_index.0, last_log_term: last_log_term.0 })
        }
        MessageBody::PreVoteResponse { granted } => Body::PreVoteResponse(wire::PreVoteResponse { granted: *granted }),
        MessageBody::Vote { last_log_index, last_log_term, leader_transfer } => Body::Vote(wire::Vote {
            last_log_index: last_log_index.0,
            last_log_term: last_log_term.0,
            leader_transfer: *leader_transfer,
        }),
        MessageBody::VoteResponse { granted } => Body::VoteResponse(wire::VoteResponse { granted: *granted }),
        MessageBody::Append { previous_index, previous_term, entries, commit } => Body::Append(wire::Append {
            previous_index: previous_index.0,
            previous_term: previous_term.0,
            entries: entries.iter().map(wire::Entry::from).collect(),
            commit: commit.0,
        }),
        MessageBody::AppendResponse { result } => Body::AppendResponse(encode_append_result(result)),
        MessageBody::Heartbeat { commit, round } => {
            Body::Heartbeat(wire::Heartbeat { commit: commit.0, round: *round })
        }
        MessageBody::HeartbeatResponse { round } => Body::HeartbeatResponse(wire::HeartbeatResponse { round: *round }),
        MessageBody::InstallSnapshot { snapshot } => {
            Body::InstallSnapshot(wire::InstallSnapshot { snapshot: Some(snapshot.into()) })
        }
        MessageBody::TimeoutNow => Body::TimeoutNow(wire::TimeoutNow {}),
        MessageBody::SnapshotChunkAck { transfer, sequence } => {
            Body::SnapshotChunkAck(wire::SnapshotChunkAck { transfer: *transfer, sequence: *sequence })
        }
    }
}

fn encode_append_result(result: &AppendResult) -> wire::AppendResponse {
    let result = match *result {
        AppendResult::Accepted { match_index } => {
            wire::append_response::Result::Accepted(Accepted { match_index: match_index.0 })
        }
        AppendResult::Rejected { rejected_index, hint_index, hint_term } => {
            wire::append_response::Result::Rejected(Rejected {
                rejected_index: rejected_index.0,
                hint_index: hint_index.0,
                hint_term: hint_term.0,
            })
        }
    };
    wire::AppendResponse { result: Some(result) }
}
