//! Malformed wire messages, each of which must decode to the error naming its fault.

use prost::Message as _;
use shardforge_core::raft::HardState;
use shardforge_core::types::{LogIndex, NodeId, Term};
use shardforge_proto::raft::{self, message::Body};
use shardforge_proto::{decode_batch, decode_message, DecodeError};

/// A valid wire message from node 1 to node 2, ready to be broken.
fn valid_message(body: Body) -> raft::Message {
    raft::Message { from: 1, to: 2, term: 3, body: Some(body) }
}

fn append(entries: Vec<raft::Entry>) -> Body {
    Body::Append(raft::Append { previous_index: 4, previous_term: 2, entries, commit: 4 })
}

fn empty_entry(index: u64, term: u64) -> raft::Entry {
    raft::Entry { index, term, payload: Some(raft::entry::Payload::Empty(raft::EmptyPayload {})) }
}

fn decode(message: raft::Message) -> Result<shardforge_core::raft::Message, DecodeError> {
    decode_message(&message.encode_to_vec())
}

#[test]
fn missing_body_is_rejected() {
    let message = raft::Message { body: None, ..valid_message(Body::TimeoutNow(raft::TimeoutNow {})) };
    assert_eq!(decode(message), Err(DecodeError::MissingField("Message.body")));
}

#[test]
fn zero_sender_or_receiver_is_rejected() {
    let message = valid_message(Body::TimeoutNow(raft::TimeoutNow {}));
    assert_eq!(decode(raft::Message { from: 0, ..message.clone() }), Err(DecodeError::ZeroNodeId("Message.from")));
    assert_eq!(decode(raft::Message { to: 0, ..message }), Err(DecodeError::ZeroNodeId("Message.to")));
}

#[test]
fn empty_bytes_are_a_message_without_body() {
    assert_eq!(decode_message(&[]), Err(DecodeError::ZeroNodeId("Message.from")));
}

#[test]
fn invalid_protobuf_is_rejected() {
    // Field 1 as a varint whose continuation bit promises bytes that never come.
    assert!(matches!(decode_message(&[0x08, 0xff]), Err(DecodeError::Protobuf(_))));
}

#[test]
fn missing_nested_messages_are_rejected() {
    let install = valid_message(Body::InstallSnapshot(raft::InstallSnapshot { snapshot: None }));
    assert_eq!(decode(install), Err(DecodeError::MissingField("InstallSnapshot.snapshot")));
    let response = valid_message(Body::AppendResponse(raft::AppendResponse { result: None }));
    assert_eq!(decode(response), Err(DecodeError::MissingField("AppendResponse.result")));
    let snapshot = raft::Snapshot { metadata: None, data: vec![] };
    let install = valid_message(Body::InstallSnapshot(raft::InstallSnapshot { snapshot: Some(snapshot) }));
    assert_eq!(decode(install), Err(DecodeError::MissingField("Snapshot.metadata")));
}

#[test]
fn entry_without_payload_is_rejected() {
    let entry = raft::Entry { payload: None, ..empty_entry(5, 2) };
    assert_eq!(decode(valid_message(append(vec![entry]))), Err(DecodeError::MissingField("Entry.payload")));
}

#[test]
fn zero_or_duplicate_voters_are_rejected() {
    for (voters, error) in [
        (vec![1, 0], DecodeError::ZeroNodeId("Configuration.voters")),
        (vec![1, 2, 1], DecodeError::DuplicateVoter(NodeId(1))),
    ] {
        let payload = raft::entry::Payload::Configuration(raft::Configuration { voters });
        let entry = raft::Entry { payload: Some(payload), ..empty_entry(5, 2) };
        assert_eq!(decode(valid_message(append(vec![entry]))), Err(error));
    }
}

#[test]
fn append_entries_with_a_gap_are_rejected() {
    let gap_after_previous = append(vec![empty_entry(6, 2)]);
    let error = DecodeError::EntryGap { previous: LogIndex(4), found: LogIndex(6) };
    assert_eq!(decode(valid_message(gap_after_previous)), Err(error));
    let gap_between_entries = append(vec![empty_entry(5, 2), empty_entry(5, 2)]);
    let error = DecodeError::EntryGap { previous: LogIndex(5), found: LogIndex(5) };
    assert_eq!(decode(valid_message(gap_between_entries)), Err(error));
}

#[test]
fn append_after_the_last_index_is_rejected_without_overflow() {
    let body = Body::Append(raft::Append {
        previous_index: u64::MAX,
        previous_term: 1,
        entries: vec![empty_entry(u64::MAX, 1)],
        commit: 0,
    });
    let error = DecodeError::EntryGap { previous: LogIndex(u64::MAX), found: LogIndex(u64::MAX) };
    assert_eq!(decode(valid_message(body)), Err(error));
}

#[test]
fn append_entries_with_decreasing_terms_are_rejected() {
    let below_previous_term = append(vec![empty_entry(5, 1)]);
    let error = DecodeError::EntryTermDecreased { index: LogIndex(5), term: Term(1), previous_term: Term(2) };
    assert_eq!(decode(valid_message(below_previous_term)), Err(error));
}

#[test]
fn entry_with_index_zero_is_rejected() {
    let entry = empty_entry(0, 1);
    assert_eq!(shardforge_core::raft::Entry::try_from(entry), Err(DecodeError::ZeroEntryIndex));
}

#[test]
fn batch_error_names_the_malformed_message() {
    let good = valid_message(Body::TimeoutNow(raft::TimeoutNow {}));
    let bad = raft::Message { from: 0, ..good.clone() };
    let bytes = raft::MessageBatch { messages: vec![good.clone(), good, bad] }.encode_to_vec();
    let error = DecodeError::InBatch { position: 2, error: Box::new(DecodeError::ZeroNodeId("Message.from")) };
    assert_eq!(decode_batch(&bytes), Err(error));
}

#[test]
fn hard_state_vote_zero_means_no_vote() {
    for vote in [None, Some(NodeId(7))] {
        let state = HardState { term: Term(3), vote, commit: LogIndex(9) };
        let wire = raft::HardState::from(&state);
        assert_eq!(wire.vote, vote.map_or(0, |voter| voter.0));
        assert_eq!(HardState::from(wire), state);
    }
}

#[test]
fn errors_read_as_sentences() {
    let error = DecodeError::InBatch { position: 1, error: Box::new(DecodeError::MissingField("Message.body")) };
    assert_eq!(error.to_string(), "message 1 of the batch: required field Message.body is missing");
}

#[test]
fn group_message_without_its_message_is_rejected() {
    use prost::Message as _;
    let batch = shardforge_proto::raft::GroupMessageBatch {
        messages: vec![shardforge_proto::raft::GroupMessage { group: 7, message: None }],
    };
    let error = shardforge_proto::decode_group_batch(&batch.encode_to_vec()).expect_err("no message inside");
    assert_eq!(error.to_string(), "message 0 of the batch: required field GroupMessage.message is missing");
}
