//! Property tests: every core message survives encoding and decoding unchanged,
//! alone and in batches, and no input bytes make decoding panic.

use proptest::collection::{btree_set, vec};
use proptest::prelude::*;
use shardforge_core::raft::{
    AppendResult, Configuration, Entry, EntryPayload, Message, MessageBody, Snapshot, SnapshotMetadata,
};
use shardforge_core::types::{LogIndex, NodeId, Term};
use shardforge_proto::{
    decode_batch, decode_group_batch, decode_message, encode_batch, encode_group_batch, encode_message,
};

/// The highest previous index and term of a generated append: low enough that its
/// entries can count up without overflow.
const APPEND_START_MAX: u64 = u64::MAX / 2;

fn node_id() -> impl Strategy<Value = NodeId> {
    prop_oneof![1..=7u64, 1..=u64::MAX].prop_map(NodeId)
}

fn term() -> impl Strategy<Value = Term> {
    any::<u64>().prop_map(Term)
}

fn log_index() -> impl Strategy<Value = LogIndex> {
    any::<u64>().prop_map(LogIndex)
}

fn configuration() -> impl Strategy<Value = Configuration> {
    btree_set(node_id(), 0..6).prop_map(|voters| Configuration { voters })
}

fn payload() -> impl Strategy<Value = EntryPayload> {
    prop_oneof![
        Just(EntryPayload::Empty),
        // Includes the empty command, which must not turn into an empty payload.
        vec(any::<u8>(), 0..32).prop_map(EntryPayload::Command),
        configuration().prop_map(EntryPayload::Configuration),
    ]
}

/// An append as a leader sends it: contiguous entries, terms never decreasing.
fn append() -> impl Strategy<Value = MessageBody> {
    let term_steps_and_payloads = vec((prop_oneof![Just(0u64), 0..3u64], payload()), 0..6);
    (0..APPEND_START_MAX, 0..APPEND_START_MAX, term_steps_and_payloads, log_index()).prop_map(
        |(previous_index, previous_term, steps, commit)| {
            let mut term = previous_term;
            let entries = (previous_index + 1..)
                .zip(steps)
                .map(|(index, (step, payload))| {
                    term += step;
                    Entry { index: LogIndex(index), term: Term(term), payload }
                })
                .collect();
            MessageBody::Append {
                previous_index: LogIndex(previous_index),
                previous_term: Term(previous_term),
                entries,
                commit,
            }
        },
    )
}

fn append_result() -> impl Strategy<Value = AppendResult> {
    prop_oneof![
        log_index().prop_map(|match_index| AppendResult::Accepted { match_index }),
        (log_index(), log_index(), term()).prop_map(|(rejected_index, hint_index, hint_term)| {
            AppendResult::Rejected { rejected_index, hint_index, hint_term }
        }),
    ]
}

fn snapshot() -> impl Strategy<Value = Snapshot> {
    (log_index(), term(), configuration(), vec(any::<u8>(), 0..64)).prop_map(|(index, term, configuration, data)| {
        Snapshot { metadata: SnapshotMetadata { index, term, configuration }, data }
    })
}

fn body() -> impl Strategy<Value = MessageBody> {
    prop_oneof![
        (log_index(), term())
            .prop_map(|(last_log_index, last_log_term)| MessageBody::PreVote { last_log_index, last_log_term }),
        any::<bool>().prop_map(|granted| MessageBody::PreVoteResponse { granted }),
        (log_index(), term(), any::<bool>()).prop_map(|(last_log_index, last_log_term, leader_transfer)| {
            MessageBody::Vote { last_log_index, last_log_term, leader_transfer }
        }),
        any::<bool>().prop_map(|granted| MessageBody::VoteResponse { granted }),
        append(),
        append_result().prop_map(|result| MessageBody::AppendResponse { result }),
        (log_index(), any::<u64>()).prop_map(|(commit, round)| MessageBody::Heartbeat { commit, round }),
        any::<u64>().prop_map(|round| MessageBody::HeartbeatResponse { round }),
        snapshot().prop_map(|snapshot| MessageBody::InstallSnapshot { snapshot }),
        Just(MessageBody::TimeoutNow),
        (any::<u64>(), any::<u64>())
            .prop_map(|(transfer, sequence)| MessageBody::SnapshotChunkAck { transfer, sequence }),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    (node_id(), node_id(), term(), body()).prop_map(|(from, to, term, body)| Message { from, to, term, body })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn message_round_trips(message in message()) {
        prop_assert_eq!(decode_message(&encode_message(&message)), Ok(message));
    }

    #[test]
    fn batch_round_trips(messages in vec(message(), 0..8)) {
        prop_assert_eq!(decode_batch(&encode_batch(&messages)), Ok(messages));
    }

    #[test]
    fn group_batch_round_trips(messages in vec((any::<u64>(), message()), 0..8)) {
        prop_assert_eq!(decode_group_batch(&encode_group_batch(&messages)), Ok(messages));
    }

    #[test]
    fn random_bytes_never_panic(bytes in vec(any::<u8>(), 0..256)) {
        let _ = decode_message(&bytes);
        let _ = decode_batch(&bytes);
        let _ = decode_group_batch(&bytes);
    }

    /// Random bytes rarely get past the first tag; corrupting a valid encoding
    /// reaches the checks deeper inside.
    #[test]
    fn corrupted_encodings_never_panic(
        messages in vec(message(), 1..4),
        corruptions in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        truncation in any::<prop::sample::Index>(),
    ) {
        let mut bytes = encode_batch(&messages);
        for (position, value) in corruptions {
            let position = position.index(bytes.len());
            bytes[position] = value;
        }
        let _ = decode_batch(&bytes);
        let _ = decode_message(&bytes);
        let truncated = &bytes[..truncation.index(bytes.len() + 1)];
        let _ = decode_batch(truncated);
        let _ = decode_message(truncated);
        let _ = decode_group_batch(&bytes);
        let _ = decode_group_batch(truncated);
    }
}
