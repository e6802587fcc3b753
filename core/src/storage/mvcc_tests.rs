//! Model-based property tests of MVCC visibility: random writes, resolutions,
//! reads, refresh checks and garbage collection, each compared with a plain
//! in-memory model of committed versions and intents.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::mvcc::{self, MvccError, ReadOptions, Resolution};
use super::MemoryEngine;
use crate::types::{Timestamp, TransactionId};

#[derive(Clone, Debug)]
enum Operation {
    Write { key: u8, transaction: u8, wall: u64, value: Option<u8> },
    Resolve { key: u8, transaction: u8, commit_delay: Option<u64> },
    Read { key: u8, wall: u64, uncertainty: u64 },
    Scan { wall: u64 },
    Refresh { key: u8, after: u64, up_to: u64 },
    GarbageCollect { horizon: u64 },
}

fn operation() -> impl Strategy<Value = Operation> {
    prop_oneof![
        (0..4u8, 1..4u8, 1..30u64, proptest::option::of(any::<u8>()))
            .prop_map(|(key, transaction, wall, value)| Operation::Write { key, transaction, wall, value }),
        (0..4u8, 1..4u8, proptest::option::of(0..5u64))
            .prop_map(|(key, transaction, commit_delay)| Operation::Resolve { key, transaction, commit_delay }),
        (0..4u8, 0..40u64, 0..6u64).prop_map(|(key, wall, uncertainty)| Operation::Read { key, wall, uncertainty }),
        (0..40u64).prop_map(|wall| Operation::Scan { wall }),
        (0..4u8, 0..30u64, 0..40u64).prop_map(|(key, after, up_to)| Operation::Refresh { key, after, up_to }),
        (0..30u64).prop_map(|horizon| Operation::GarbageCollect { horizon }),
    ]
}

fn at(wall: u64) -> Timestamp {
    Timestamp { wall_nanos: wall, logical: 0 }
}

fn key(key: u8) -> Vec<u8> {
    // Keys that are prefixes of one another, and one with a zero byte, test the encoding too.
    [&b"k"[..], b"k\0", b"ka", b"l"][key as usize].to_vec()
}

/// What the engine should hold.
#[derive(Default)]
struct Model {
    committed: BTreeMap<Vec<u8>, BTreeMap<Timestamp, Option<u8>>>,
    intents: BTreeMap<Vec<u8>, (TransactionId, Timestamp, Option<u8>)>,
    horizon: Timestamp,
}

impl Model {
    fn newest_at_or_below(&self, key: &[u8], at: Timestamp) -> Option<(Timestamp, Option<u8>)> {
        self.committed.get(key)?.range(..=at).next_back().map(|(timestamp, value)| (*timestamp, *value))
    }

    fn expected_read(&self, key: &[u8], options: &ReadOptions) -> Result<Option<u8>, &'static str> {
        if let Some((_, timestamp, _)) = self.intents.get(key) {
            if *timestamp <= options.uncertainty_limit {
                return Err("intent");
            }
        }
        match self.newest_at_or_below(key, options.uncertainty_limit) {
            Some((timestamp, _)) if timestamp > options.timestamp => Err("uncertain"),
            Some((_, value)) => Ok(value),
            None => Ok(None),
        }
    }
}

fn kind(error: &MvccError) -> &'static str {
    match error {
        MvccError::WriteIntent { .. } => "intent",
        MvccError::Uncertain { .. } => "uncertain",
        MvccError::WriteTooOld { .. } => "too old",
        _ => "other",
    }
}

fn run(operations: Vec<Operation>) -> Result<(), TestCaseError> {
    let mut engine = MemoryEngine::new();
    let mut model = Model::default();
    for (sequence, operation) in (1..).zip(operations) {
        match operation {
            // The range refuses writes at or below the garbage collection horizon.
            Operation::Write { wall, .. } if at(wall) <= model.horizon => {}
            Operation::Write { key: k, transaction, wall, value } => {
                let (user_key, transaction) = (key(k), TransactionId(u128::from(transaction)));
                let value_bytes = value.map(|v| vec![v]);
                let writer = mvcc::Writer { transaction, anchor: b"anchor", sequence };
                let result = mvcc::put(&mut engine, &user_key, value_bytes.as_deref(), writer, at(wall));
                let newest = model.newest_at_or_below(&user_key, at(u64::MAX));
                let expected = match model.intents.get(&user_key) {
                    Some((owner, _, _)) if *owner != transaction => Err("intent"),
                    _ if newest.is_some_and(|(existing, _)| existing >= at(wall)) => Err("too old"),
                    _ => Ok(at(wall)),
                };
                prop_assert_eq!(result.as_ref().map_err(kind).copied(), expected);
                if expected.is_ok() {
                    model.intents.insert(user_key, (transaction, at(wall), value));
                }
            }
            Operation::Resolve { key: k, transaction, commit_delay } => {
                let (user_key, transaction) = (key(k), TransactionId(u128::from(transaction)));
                let owned = model.intents.get(&user_key).filter(|(owner, _, _)| *owner == transaction).copied();
                let resolution = match (commit_delay, owned) {
                    (Some(delay), Some((_, timestamp, _))) => {
                        Resolution::Committed { timestamp: at(timestamp.wall_nanos + delay) }
                    }
                    (Some(_), None) => Resolution::Committed { timestamp: at(1000) },
                    (None, _) => Resolution::Aborted,
                };
                let resolved = mvcc::resolve(&mut engine, &user_key, transaction, resolution).unwrap();
                prop_assert_eq!(resolved, owned.is_some());
                if let Some((_, _, value)) = owned {
                    model.intents.remove(&user_key);
                    if let Resolution::Committed { timestamp } = resolution {
                        model.committed.entry(user_key).or_default().insert(timestamp, value);
                    }
                }
            }
            Operation::Read { key: k, wall, uncertainty } => {
                let user_key = key(k);
                let options =
                    ReadOptions { timestamp: at(wall), uncertainty_limit: at(wall + uncertainty), transaction: None };
                let result = mvcc::get(&engine, &user_key, &options);
                let expected = model.expected_read(&user_key, &options);
                let actual = result.as_ref().map(|value| value.as_ref().map(|bytes| bytes[0])).map_err(kind);
                // Below the garbage collection horizon, only conflicts are still meaningful.
                if at(wall) >= model.horizon {
                    prop_assert_eq!(actual, expected);
                }
            }
            Operation::Scan { wall } => {
                let options = ReadOptions::at(at(wall));
                let rows = mvcc::scan(&engine, b"", b"", &options, usize::MAX).map(|(rows, _)| rows);
                let expected: Result<Vec<(Vec<u8>, u8)>, &str> = (0..4u8)
                    .map(|k| model.expected_read(&key(k), &options).map(|value| (key(k), value)))
                    .filter_map(|row| row.map(|(k, value)| value.map(|v| (k, v))).transpose())
                    .collect();
                let actual = rows.map(|rows| rows.into_iter().map(|(k, v)| (k, v[0])).collect()).map_err(|e| kind(&e));
                if at(wall) >= model.horizon {
                    prop_assert_eq!(actual, expected);
                }
            }
            Operation::Refresh { key: k, after, up_to } => {
                let user_key = key(k);
                let mut end = user_key.clone();
                end.push(0);
                let changed = mvcc::has_write_between(&engine, &user_key, &end, at(after), at(up_to), None).unwrap();
                let intent = model.intents.get(&user_key).is_some_and(|(_, timestamp, _)| *timestamp <= at(up_to));
                let version = model.newest_at_or_below(&user_key, at(up_to)).is_some_and(|(t, _)| t > at(after));
                if at(after) >= model.horizon {
                    prop_assert_eq!(changed, intent || version);
                }
            }
            Operation::GarbageCollect { horizon } => {
                mvcc::garbage_collect(&mut engine, b"", b"", at(horizon)).unwrap();
                model.horizon = model.horizon.max(at(horizon));
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn mvcc_matches_the_model(operations in proptest::collection::vec(operation(), 1..60)) {
        run(operations)?;
    }
}

#[test]
fn a_transaction_reads_its_own_intent_and_others_conflict() {
    let mut engine = MemoryEngine::new();
    let (writer, other) = (TransactionId(1), TransactionId(2));
    let as_writer = mvcc::Writer { transaction: writer, anchor: b"a", sequence: 1 };
    mvcc::put(&mut engine, b"a", Some(b"1"), as_writer, at(10)).unwrap();
    let own = ReadOptions { timestamp: at(5), uncertainty_limit: at(5), transaction: Some(writer) };
    assert_eq!(mvcc::get(&engine, b"a", &own).unwrap(), Some(b"1".to_vec()));
    let as_other = mvcc::Writer { transaction: other, anchor: b"z", sequence: 1 };
    let conflict = mvcc::put(&mut engine, b"a", Some(b"2"), as_other, at(20));
    assert!(matches!(conflict, Err(MvccError::WriteIntent { intent, .. }) if intent.anchor == b"a"));
    // A reader pushes the pending writer above its uncertainty limit and reads past the intent.
    mvcc::resolve(&mut engine, b"a", writer, Resolution::Pushed { timestamp: at(16) }).unwrap();
    let reader = ReadOptions { timestamp: at(14), uncertainty_limit: at(15), transaction: None };
    assert_eq!(mvcc::get(&engine, b"a", &reader).unwrap(), None);
    // A read below the intent and its uncertainty does not see it at all.
    assert_eq!(mvcc::get(&engine, b"a", &ReadOptions::at(at(9))).unwrap(), None);
    mvcc::resolve(&mut engine, b"a", writer, Resolution::Committed { timestamp: at(17) }).unwrap();
    assert_eq!(mvcc::get(&engine, b"a", &ReadOptions::at(at(17))).unwrap(), Some(b"1".to_vec()));
    assert_eq!(mvcc::get(&engine, b"a", &ReadOptions::at(at(16))).unwrap(), None);
    let uncertain = ReadOptions { timestamp: at(16), uncertainty_limit: at(20), transaction: None };
    let read = mvcc::get(&engine, b"a", &uncertain);
    assert!(matches!(read, Err(MvccError::Uncertain { existing, .. }) if existing == at(17)));
}

#[test]
fn a_read_names_the_version_that_decided_it_deletions_too() {
    let mut engine = MemoryEngine::new();
    let writer = |transaction| mvcc::Writer { transaction: TransactionId(transaction), anchor: b"a", sequence: 1 };
    for (transaction, key, value, timestamp) in
        [(1, b"a", Some(&b"1"[..]), 10), (2, b"b", Some(b"2"), 20), (3, b"b", None, 30)]
    {
        mvcc::put(&mut engine, key, value, writer(transaction), at(timestamp)).unwrap();
        let committed = Resolution::Committed { timestamp: at(timestamp) };
        mvcc::resolve(&mut engine, key, TransactionId(transaction), committed).unwrap();
    }
    let read = |wall| ReadOptions::at(at(wall));
    assert_eq!(mvcc::get_with_version(&engine, b"a", &read(15)).unwrap(), (Some(b"1".to_vec()), Some(at(10))));
    assert_eq!(mvcc::get_with_version(&engine, b"a", &read(5)).unwrap(), (None, None));
    assert_eq!(mvcc::get_with_version(&engine, b"b", &read(35)).unwrap(), (None, Some(at(30))), "the deletion decided");
    // A scan names the newest version it consulted, a deleted key's too.
    let (rows, newest) = mvcc::scan(&engine, b"", b"", &read(35), usize::MAX).unwrap();
    assert_eq!((rows, newest), (vec![(b"a".to_vec(), b"1".to_vec())], Some(at(30))));
    let (rows, newest) = mvcc::scan(&engine, b"", b"", &read(25), usize::MAX).unwrap();
    assert_eq!((rows.len(), newest), (2, Some(at(20))));
}
