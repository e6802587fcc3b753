//! Properties of the range codec: every value round-trips, the documented tags hold,
//! and no input, however forged or cut short, panics a decoder or escapes as a value.

use std::collections::BTreeSet;

use proptest::collection::{btree_set, vec};
use proptest::prelude::*;

use super::*;
use crate::types::NodeId;

fn key() -> impl Strategy<Value = Key> {
    vec(any::<u8>(), 0..6).prop_map(Key)
}

fn key_end() -> impl Strategy<Value = KeyEnd> {
    prop_oneof![Just(KeyEnd::Unbounded), key().prop_map(KeyEnd::Before)]
}

fn spans() -> impl Strategy<Value = Vec<(Key, KeyEnd)>> {
    vec((key(), key_end()), 0..4)
}

fn timestamp() -> impl Strategy<Value = Timestamp> {
    (any::<u64>(), any::<u32>()).prop_map(|(wall_nanos, logical)| Timestamp { wall_nanos, logical })
}

fn transaction() -> impl Strategy<Value = TransactionId> {
    any::<u128>().prop_map(TransactionId)
}

fn read_options() -> impl Strategy<Value = ReadOptions> {
    (timestamp(), timestamp(), proptest::option::of(transaction())).prop_map(
        |(timestamp, uncertainty_limit, transaction)| ReadOptions { timestamp, uncertainty_limit, transaction },
    )
}

fn resolution() -> impl Strategy<Value = Resolution> {
    prop_oneof![
        timestamp().prop_map(|timestamp| Resolution::Committed { timestamp }),
        Just(Resolution::Aborted),
        timestamp().prop_map(|timestamp| Resolution::Pushed { timestamp }),
    ]
}

fn status() -> impl Strategy<Value = TransactionStatus> {
    prop_oneof![
        Just(TransactionStatus::Pending),
        timestamp().prop_map(|timestamp| TransactionStatus::Committed { timestamp }),
        Just(TransactionStatus::Aborted),
    ]
}

fn push_kind() -> impl Strategy<Value = PushKind> {
    prop_oneof![Just(PushKind::Abort), timestamp().prop_map(PushKind::Timestamp)]
}

fn command() -> impl Strategy<Value = RangeCommand> {
    let value = proptest::option::of(vec(any::<u8>(), 0..6));
    prop_oneof![
        (key(), read_options()).prop_map(|(key, read)| RangeCommand::Get { key, read }),
        (key(), key_end(), read_options(), any::<usize>()).prop_map(|(start, end, read, limit)| RangeCommand::Scan {
            start,
            end,
            read,
            limit
        }),
        (key(), value, transaction(), key(), timestamp(), any::<u32>()).prop_map(
            |(key, value, transaction, anchor, timestamp, sequence)| {
                RangeCommand::Put { key, value, transaction, anchor, timestamp, sequence }
            }
        ),
        (key(), transaction(), resolution()).prop_map(|(key, transaction, resolution)| RangeCommand::ResolveIntent {
            key,
            transaction,
            resolution
        }),
        (key(), key_end(), timestamp(), timestamp(), transaction()).prop_map(
            |(start, end, after, up_to, transaction)| RangeCommand::Refresh { start, end, after, up_to, transaction }
        ),
        (transaction(), key(), timestamp(), timestamp())
            .prop_map(|(transaction, anchor, start, now)| RangeCommand::Heartbeat { transaction, anchor, start, now }),
        (transaction(), key(), proptest::option::of(timestamp()), spans()).prop_map(
            |(transaction, anchor, commit, intent_spans)| RangeCommand::EndTransaction {
                transaction,
                anchor,
                commit,
                intent_spans
            }
        ),
        (transaction(), key(), timestamp(), push_kind(), timestamp()).prop_map(
            |(pushee, anchor, pusher_start, kind, now)| RangeCommand::Push { pushee, anchor, pusher_start, kind, now }
        ),
        (key(), any::<u64>()).prop_map(|(at, right_id)| RangeCommand::Split { at, right_id: RangeId(right_id) }),
        (transaction(), vec((key(), proptest::option::of(vec(any::<u8>(), 0..6))), 0..4), timestamp(), spans())
            .prop_map(|(transaction, writes, timestamp, read_spans)| RangeCommand::CommitOnePhase {
                transaction,
                writes,
                timestamp,
                read_spans
            }),
        timestamp().prop_map(|threshold| RangeCommand::GarbageCollect { threshold }),
        vec(descriptor(), 0..3).prop_map(|descriptors| RangeCommand::UpdateMeta { descriptors }),
        key().prop_map(|key| RangeCommand::LookupMeta { key }),
        (key(), btree_set(any::<u64>().prop_map(NodeId), 0..4))
            .prop_map(|(key, replicas)| RangeCommand::ChangeReplicas { key, replicas }),
        (transaction(), key())
            .prop_map(|(transaction, anchor)| RangeCommand::ForgetTransaction { transaction, anchor }),
    ]
}

fn request() -> impl Strategy<Value = RangeRequest> {
    (any::<u64>(), any::<u64>(), command()).prop_map(|(range, generation, command)| RangeRequest {
        range: RangeId(range),
        generation,
        command,
    })
}

fn record() -> impl Strategy<Value = TransactionRecord> {
    (transaction(), key(), timestamp(), status(), timestamp(), timestamp(), spans()).prop_map(
        |(id, anchor, start, status, heartbeat, minimum_commit, intent_spans)| TransactionRecord {
            id,
            anchor,
            start,
            status,
            heartbeat,
            minimum_commit,
            intent_spans,
        },
    )
}

fn descriptor() -> impl Strategy<Value = RangeDescriptor> {
    let replicas = btree_set(any::<u64>().prop_map(NodeId), 0..4);
    (any::<u64>(), key(), key_end(), replicas, any::<u64>()).prop_map(|(id, start, end, replicas, generation)| {
        RangeDescriptor { id: RangeId(id), start, end, replicas, generation }
    })
}

fn header() -> impl Strategy<Value = Option<RangeDescriptor>> {
    proptest::option::of(descriptor())
}

/// Asserts that every proper prefix, and the encoding with a byte appended, fails.
fn assert_only_whole<T: std::fmt::Debug>(bytes: &[u8], decode: fn(&[u8]) -> Result<T, DecodeError>) {
    for length in 0..bytes.len() {
        assert!(decode(&bytes[..length]).is_err(), "a prefix of {length} bytes decoded");
    }
    let mut longer = bytes.to_vec();
    longer.push(0);
    assert!(decode(&longer).is_err(), "a trailing byte was accepted");
}

proptest! {
    #[test]
    fn requests_round_trip(request in request()) {
        let bytes = encode_request(&request);
        prop_assert_eq!(decode_request(&bytes), Ok(request));
        assert_only_whole(&bytes, decode_request);
    }

    #[test]
    fn records_round_trip(record in record()) {
        let bytes = encode_record(&record);
        prop_assert_eq!(decode_record(&bytes), Ok(record));
        assert_only_whole(&bytes, decode_record);
    }

    #[test]
    fn snapshot_headers_round_trip(header in header()) {
        let bytes = encode_snapshot_header(header.as_ref());
        prop_assert_eq!(decode_snapshot_header(&bytes), Ok(header));
        assert_only_whole(&bytes, decode_snapshot_header);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..256)) {
        let _ = decode_request(&bytes);
        let _ = decode_record(&bytes);
        let _ = decode_snapshot_header(&bytes);
    }

    /// Random bytes rarely get past the first field; a corrupted valid encoding
    /// reaches every decoder deep inside.
    #[test]
    fn corrupted_encodings_never_panic(header in header(), request in request(), position: usize, byte: u8) {
        for mut bytes in [encode_snapshot_header(header.as_ref()), encode_request(&request)] {
            let position = position % bytes.len();
            bytes[position] = byte;
            let _ = decode_snapshot_header(&bytes);
            let _ = decode_request(&bytes);
            let _ = decode_record(&bytes);
        }
    }
}

fn at(wall_nanos: u64) -> Timestamp {
    Timestamp { wall_nanos, logical: 0 }
}

fn empty_record() -> TransactionRecord {
    TransactionRecord {
        id: TransactionId(0),
        anchor: Key::MIN,
        start: at(0),
        status: TransactionStatus::Pending,
        heartbeat: at(0),
        minimum_commit: at(0),
        intent_spans: Vec::new(),
    }
}

#[test]
fn a_split_request_has_the_documented_bytes() {
    let request = RangeRequest {
        range: RangeId(1),
        generation: 3,
        command: RangeCommand::Split { at: Key(b"m".to_vec()), right_id: RangeId(2) },
    };
    let mut expected = vec![0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 3, COMMAND_SPLIT];
    expected.extend([0, 0, 0, 0, 0, 0, 0, 1, b'm', 0, 0, 0, 0, 0, 0, 0, 2]);
    assert_eq!(encode_request(&request), expected);
}

#[test]
fn command_tags_are_the_documented_ones() {
    let read = ReadOptions::at(at(1));
    let transaction = TransactionId(7);
    let commands = [
        RangeCommand::Get { key: Key::MIN, read },
        RangeCommand::Scan { start: Key::MIN, end: KeyEnd::Unbounded, read, limit: 1 },
        RangeCommand::Put { key: Key::MIN, value: None, transaction, anchor: Key::MIN, timestamp: at(1), sequence: 1 },
        RangeCommand::ResolveIntent { key: Key::MIN, transaction, resolution: Resolution::Aborted },
        RangeCommand::Refresh { start: Key::MIN, end: KeyEnd::Unbounded, after: at(1), up_to: at(2), transaction },
        RangeCommand::Heartbeat { transaction, anchor: Key::MIN, start: at(1), now: at(2) },
        RangeCommand::EndTransaction { transaction, anchor: Key::MIN, commit: None, intent_spans: Vec::new() },
        RangeCommand::Push {
            pushee: transaction,
            anchor: Key::MIN,
            pusher_start: at(1),
            kind: PushKind::Abort,
            now: at(2),
        },
        RangeCommand::Split { at: Key::MIN, right_id: RangeId(2) },
        RangeCommand::GarbageCollect { threshold: at(1) },
        RangeCommand::UpdateMeta { descriptors: Vec::new() },
        RangeCommand::LookupMeta { key: Key::MIN },
        RangeCommand::ChangeReplicas { key: Key::MIN, replicas: [NodeId(1)].into() },
        RangeCommand::CommitOnePhase {
            transaction,
            writes: vec![(Key::MIN, None)],
            timestamp: at(1),
            read_spans: Vec::new(),
        },
        RangeCommand::ForgetTransaction { transaction, anchor: Key::MIN },
    ];
    for (tag, command) in commands.into_iter().enumerate() {
        let bytes = encode_request(&RangeRequest { range: RangeId(1), generation: 0, command });
        assert_eq!(usize::from(bytes[16]), tag);
    }
}

#[test]
fn unknown_tags_and_overflowing_numbers_are_refused() {
    let split = RangeCommand::Split { at: Key::MIN, right_id: RangeId(2) };
    let mut bytes = encode_request(&RangeRequest { range: RangeId(1), generation: 0, command: split });
    bytes[16] = 15;
    assert!(decode_request(&bytes).is_err(), "command tag 15 is unassigned");
    let mut bytes = encode_record(&empty_record());
    bytes[16 + 8 + 16] = 3;
    assert!(decode_record(&bytes).is_err(), "status tag 3 is unassigned");
    let mut bytes = encode_snapshot_header(None);
    bytes[0] = 2;
    assert!(decode_snapshot_header(&bytes).is_err(), "option tag 2 is unassigned");
    let mut bytes = encode_record(&empty_record());
    bytes[16 + 8 + 8 + 3] = 1;
    assert!(decode_record(&bytes).is_err(), "a logical clock of 2^32 overflows");
}

#[test]
fn a_forged_count_is_refused_before_reserving() {
    let mut bytes = encode_record(&empty_record());
    let count_position = bytes.len() - 8;
    bytes[count_position..].copy_from_slice(&(1u64 << 60).to_be_bytes());
    assert!(decode_record(&bytes).is_err());
}

/// The bound on counts must never refuse a valid encoding: each minimum is exactly
/// what the smallest element takes, and a count that fills the input to its last byte
/// still decodes.
#[test]
fn element_minimums_are_exact() {
    let empty = encode_record(&empty_record()).len();
    let spans = vec![(Key::MIN, KeyEnd::Unbounded); 3];
    let record = TransactionRecord { intent_spans: spans, ..empty_record() };
    assert_eq!(encode_record(&record).len(), empty + 3 * SPAN_BYTES_MIN);
    assert_eq!(decode_record(&encode_record(&record)), Ok(record));
}

#[test]
fn a_snapshot_header_carries_its_descriptor() {
    let descriptor = RangeDescriptor::whole_key_space(RangeId(4), BTreeSet::from([NodeId(1), NodeId(2)]));
    let bytes = encode_snapshot_header(Some(&descriptor));
    assert_eq!(decode_snapshot_header(&bytes), Ok(Some(descriptor)));
}
