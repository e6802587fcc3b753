//! Blind writes on a few hot keys, beside the list-append workload: a
//! transaction that writes a key without reading it never meets its own read
//! refresh, so only the write-too-old rule (a write below a newer committed
//! version moves above it) keeps it from landing beneath, or on top of, a
//! version another transaction committed. List-append alone reads every key
//! it writes, and its refreshes hid mistakes in that rule.
//!
//! List-append clients also read these keys now and then, so that the
//! timestamp cache pushes concurrent blind writers to the same timestamp: the
//! case write-too-old must tell apart. Checked ([`check`]): no two committed
//! writes of one key share a commit timestamp (one version would have
//! replaced the other), and the final read of each key returns the committed
//! write with the highest commit timestamp, or a write whose outcome is
//! unknown (it may have committed later still).

use std::collections::BTreeMap;

use madsim::rand::{thread_rng, Rng};
use shardforge_core::keys::Key;
use shardforge_core::txn::coordinator::{RangeSender, Transaction, TransactionError};
use shardforge_core::types::Timestamp;

use super::workloads::{key_of, outcome_of, unblocked_commit_writes, Ending, Recorded, TransactionSettings};
use super::Gateway;
use crate::checker::list_append::TransactionOutcome;

/// The hot keys written blind.
pub const HOT_KEYS: u64 = 2;
/// Key numbers of the hot keys, far from the lists'.
const HOT_KEY_BASE: u64 = 1_000_000;

pub fn hot_key(number: u64) -> Key {
    key_of(HOT_KEY_BASE + number)
}

/// One blind write as its client saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlindWrite {
    pub key: u64,
    pub value: u64,
    pub outcome: TransactionOutcome,
    /// Set when it committed.
    pub commit_timestamp: Option<Timestamp>,
}

fn encode(value: u64) -> Vec<u8> {
    value.to_be_bytes().to_vec()
}

fn decode(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

/// One transaction writing one or two hot keys without reading them.
pub async fn blind_write(gateway: &mut Gateway, settings: TransactionSettings, recorded: &Recorded) {
    let (_, id) = recorded.transaction_id();
    gateway.take_commit_in_doubt();
    let now = gateway.now();
    let mut transaction = Transaction::begin(id, now, settings.max_offset_nanos, settings.knobs);
    let mut writes: BTreeMap<u64, u64> = BTreeMap::new();
    for _ in 0..thread_rng().gen_range(1..=2) {
        let key = thread_rng().gen_range(0..HOT_KEYS);
        writes.insert(key, recorded.next_value());
    }
    let batch: Vec<(Key, Option<Vec<u8>>)> =
        writes.iter().map(|(key, value)| (hot_key(*key), Some(encode(*value)))).collect();
    // Half read a list first (not checked here): the transaction's timestamp
    // then lags while others read and write the hot keys.
    if thread_rng().gen_bool(0.5) {
        let list = key_of(recorded.list_key(settings.keys));
        if transaction.get(gateway, &list).await.is_err() {
            transaction.rollback(gateway).await;
            return;
        }
    }
    // Half write through intents and commit in two phases, half in one.
    let committed = if thread_rng().gen_bool(0.5) {
        write_then_commit(&mut transaction, gateway, &batch).await
    } else {
        unblocked_commit_writes(&mut transaction, gateway, &batch).await
    };
    let Ending { outcome, commit_timestamp } =
        outcome_of(committed, &mut transaction, gateway, recorded.commit_wait).await;
    {
        let mut history = recorded.blind_writes.lock().expect("history lock");
        for (key, value) in writes {
            history.push(BlindWrite { key, value, outcome, commit_timestamp });
        }
    }
    transaction.forget(gateway).await;
}

/// Lays an intent for each write, then commits (two phases); an error ends
/// the transaction.
async fn write_then_commit(
    transaction: &mut Transaction,
    gateway: &mut Gateway,
    writes: &[(Key, Option<Vec<u8>>)],
) -> Result<Timestamp, TransactionError> {
    for (key, value) in writes {
        if let Err(error) = transaction.put(gateway, key, value.clone()).await {
            transaction.rollback(gateway).await;
            return Err(error);
        }
    }
    transaction.commit(gateway).await
}

/// A read-only transaction of one hot key (it leaves its read in the
/// timestamp cache); what it read is not checked.
pub async fn hot_read(gateway: &mut Gateway, settings: TransactionSettings, recorded: &Recorded) {
    let (_, id) = recorded.transaction_id();
    let now = gateway.now();
    let mut transaction = Transaction::begin(id, now, settings.max_offset_nanos, settings.knobs);
    let key = hot_key(thread_rng().gen_range(0..HOT_KEYS));
    if transaction.get(gateway, &key).await.is_ok() {
        let _ = transaction.commit(gateway).await;
    } else {
        transaction.rollback(gateway).await;
    }
}

/// Reads every hot key in one transaction: None until one commits.
pub async fn final_read(gateway: &mut Gateway, settings: TransactionSettings) -> Option<BTreeMap<u64, Option<u64>>> {
    let id = shardforge_core::types::TransactionId(u128::from(thread_rng().gen::<u64>()) | 1 << 127);
    let now = gateway.now();
    let mut transaction = Transaction::begin(id, now, settings.max_offset_nanos, settings.knobs);
    let mut values = BTreeMap::new();
    for key in 0..HOT_KEYS {
        match transaction.get(gateway, &hot_key(key)).await {
            Ok(value) => values.insert(key, value.as_deref().and_then(decode)),
            Err(_) => {
                transaction.rollback(gateway).await;
                return None;
            }
        };
    }
    transaction.commit(gateway).await.ok().map(|_| values)
}

/// The checks of the module doc, over every blind write and the final read.
pub fn check(writes: &[BlindWrite], finals: &BTreeMap<u64, Option<u64>>) -> Option<String> {
    for key in 0..HOT_KEYS {
        let of_key: Vec<&BlindWrite> = writes.iter().filter(|write| write.key == key).collect();
        let mut committed: Vec<(Timestamp, u64)> =
            of_key.iter().filter_map(|write| write.commit_timestamp.map(|at| (at, write.value))).collect();
        committed.sort();
        if let Some(pair) = committed.windows(2).find(|pair| pair[0].0 == pair[1].0) {
            return Some(format!(
                "lost write: blind writes {} and {} of hot key {key} both committed at {:?}",
                pair[0].1, pair[1].1, pair[0].0
            ));
        }
        let last = committed.last().map(|(_, value)| *value);
        let Some(found) = finals.get(&key).copied() else { continue };
        let unknown = |value: Option<u64>| {
            of_key.iter().any(|write| write.outcome == TransactionOutcome::Unknown && Some(write.value) == value)
        };
        if found != last && !unknown(found) {
            return Some(format!(
                "lost write: the final read of hot key {key} found {found:?}, but the committed write with the \
                 highest timestamp wrote {last:?}"
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(key: u64, value: u64, outcome: TransactionOutcome, at: Option<u64>) -> BlindWrite {
        let commit_timestamp = at.map(|wall_nanos| Timestamp { wall_nanos, logical: 0 });
        BlindWrite { key, value, outcome, commit_timestamp }
    }

    #[test]
    fn the_last_committed_write_must_be_read_and_no_two_share_a_timestamp() {
        use TransactionOutcome::{Aborted, Committed, Unknown};
        let writes =
            vec![write(0, 1, Committed, Some(10)), write(0, 2, Committed, Some(20)), write(0, 3, Aborted, None)];
        assert_eq!(check(&writes, &BTreeMap::from([(0, Some(2))])), None);
        assert!(check(&writes, &BTreeMap::from([(0, Some(1))])).is_some(), "an older write read last");
        assert!(check(&writes, &BTreeMap::from([(0, Some(3))])).is_some(), "an aborted write read");
        assert!(check(&writes, &BTreeMap::from([(0, None)])).is_some(), "every write lost");
        let mut with_unknown = writes.clone();
        with_unknown.push(write(0, 4, Unknown, None));
        assert_eq!(check(&with_unknown, &BTreeMap::from([(0, Some(4))])), None, "it may have committed last");
        let same_time = vec![write(1, 5, Committed, Some(30)), write(1, 6, Committed, Some(30))];
        assert!(check(&same_time, &BTreeMap::from([(1, Some(6))])).unwrap().contains("both committed at"));
    }
}
