//! The timestamp-order check: ShardForge does not only promise some serial
//! order, it names it. A transaction commits at one timestamp and must behave
//! as if it ran alone at that instant: every list it read holds exactly the
//! values appended by transactions committed at or below its timestamp (MVCC
//! reads see the versions at or below the read timestamp, and a refresh moves
//! the reads up to the commit timestamp or aborts), and every key's list is in
//! the order of its writers' timestamps.
//!
//! The cycle search infers an order from the values alone, so it reports
//! nothing until a cycle closes. This check needs one wrong read: a write that
//! lands below a read already served (a timestamp cache that forgot the read,
//! say across a split) shows here as that read lacking a value committed
//! beneath it, where the cycle search sees a single rw edge with no way back.
//!
//! Only transactions their clients saw commit carry a timestamp; the values of
//! transactions of unknown outcome, and of aborted ones (the cycle search
//! reports those reads), are not placed. The check says nothing of real time,
//! so it holds with commit wait on and off and under any clock fault.

use std::collections::{BTreeMap, BTreeSet};

use shardforge_core::types::Timestamp;

use super::{Anomaly, MicroOperation, Transaction, TransactionOutcome, Violation};

/// An append by a transaction that committed at a known timestamp.
#[derive(Clone, Copy)]
struct Placed {
    transaction: u64,
    timestamp: Timestamp,
}

/// The first read that contradicts its transaction's commit timestamp, or the
/// first list out of its writers' timestamp order.
pub fn check(history: &[Transaction]) -> Option<Violation> {
    let timed: Vec<(&Transaction, Timestamp)> = history
        .iter()
        .filter(|transaction| transaction.outcome == TransactionOutcome::Committed)
        .filter_map(|transaction| Some((transaction, transaction.commit_timestamp?)))
        .collect();
    let mut placed: BTreeMap<u64, Placed> = BTreeMap::new();
    let mut appends_by_key: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for (transaction, timestamp) in &timed {
        for operation in &transaction.operations {
            if let MicroOperation::Append { key, value } = operation {
                placed.insert(*value, Placed { transaction: transaction.id, timestamp: *timestamp });
                appends_by_key.entry(*key).or_default().push(*value);
            }
        }
    }
    let misread = timed.iter().find_map(|(transaction, timestamp)| {
        reads(transaction).into_iter().find_map(|(key, list)| {
            let appended_to_key = appends_by_key.get(&key).map_or(&[][..], Vec::as_slice);
            read_error(transaction, *timestamp, key, list, appended_to_key, &placed)
        })
    });
    let committed = history.iter().filter(|transaction| transaction.outcome == TransactionOutcome::Committed);
    let explanation =
        misread.or_else(|| committed.flat_map(reads).find_map(|(key, list)| order_error(key, list, &placed)));
    explanation.map(|explanation| Violation { anomaly: Anomaly::TimestampOrder, explanation })
}

/// A transaction's reads: (key, list) for each list it observed.
fn reads(transaction: &Transaction) -> Vec<(u64, &[u64])> {
    let reads = transaction.operations.iter().filter_map(|operation| match operation {
        MicroOperation::Read { key, list: Some(list) } => Some((*key, list.as_slice())),
        _ => None,
    });
    reads.collect()
}

/// What is wrong with `reader`'s read of `list` at `key`, committed at `at`:
/// a value from above `at`, or a value from at or below it missing.
fn read_error(
    reader: &Transaction,
    at: Timestamp,
    key: u64,
    list: &[u64],
    appended_to_key: &[u64],
    placed: &BTreeMap<u64, Placed>,
) -> Option<String> {
    let seen: BTreeSet<u64> = list.iter().copied().collect();
    let others = |value: &u64| placed.get(value).filter(|writer| writer.transaction != reader.id).map(|w| (*value, *w));
    if let Some((value, writer)) = list.iter().filter_map(others).find(|(_, writer)| writer.timestamp > at) {
        return Some(format!(
            "T{} committed at {at} read {value} in key {key}, appended by T{} committed later, at {}",
            reader.id, writer.transaction, writer.timestamp
        ));
    }
    let missing = appended_to_key
        .iter()
        .filter_map(others)
        .find(|(value, writer)| writer.timestamp <= at && !seen.contains(value));
    missing.map(|(value, writer)| {
        format!(
            "T{} committed at {at} read key {key} without {value}, appended by T{} committed below it, at {}",
            reader.id, writer.transaction, writer.timestamp
        )
    })
}

/// Two placed values of one list in the wrong order of their commit
/// timestamps (a transaction may append to one key twice, at one timestamp).
fn order_error(key: u64, list: &[u64], placed: &BTreeMap<u64, Placed>) -> Option<String> {
    let timestamps: Vec<(u64, Placed)> = list.iter().filter_map(|value| Some((*value, *placed.get(value)?))).collect();
    let out_of_order = |pair: &&[(u64, Placed)]| {
        pair[0].1.transaction != pair[1].1.transaction && pair[0].1.timestamp >= pair[1].1.timestamp
    };
    timestamps.windows(2).find(out_of_order).map(|pair| {
        let ((first, earlier), (second, later)) = (pair[0], pair[1]);
        format!(
            "key {key} lists {first} (T{}, committed at {}) before {second} (T{}, committed at {})",
            earlier.transaction, earlier.timestamp, later.transaction, later.timestamp
        )
    })
}
