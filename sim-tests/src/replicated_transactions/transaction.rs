//! One list-append transaction of the lane, as its plan shapes it.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use shardforge_core::keys::{Key, KeyEnd, KeyWriter};
use shardforge_core::txn::coordinator::{RangeSender, Transaction, TransactionError};
use shardforge_core::types::{Timestamp, TransactionId};

use super::sender::{yield_now, ClusterSender};
use super::ReplicatedOptions;
use crate::checker::list_append::{MicroOperation, TransactionOutcome};

/// Polls an operation may stay blocked behind an older transaction.
const BLOCKED_POLLS_MAX: u32 = 3000;

pub(super) fn key_of(number: u64) -> Key {
    KeyWriter::new().u64(number).finish_key()
}

fn decode_list(bytes: &[u8]) -> Vec<u64> {
    bytes.chunks(8).map(|chunk| u64::from_be_bytes(chunk.try_into().expect("8-byte values"))).collect()
}

/// Retries an operation while it is blocked behind an older transaction.
macro_rules! unblocked {
    ($operation:expr) => {{
        let mut polls = 0;
        loop {
            match $operation.await {
                Err(TransactionError::Blocked { .. }) if polls < BLOCKED_POLLS_MAX => {
                    polls += 1;
                    yield_now().await;
                }
                other => break other,
            }
        }
    }};
}

/// The shape of one list-append transaction.
#[derive(Clone, Debug)]
pub(super) struct Plan {
    /// (key, Some(value) to append | None to read).
    pub(super) steps: Vec<(u64, Option<u64>)>,
    /// Scan every list first: span reads enter the timestamp cache, and a
    /// refresh then covers spans that splits cut into pieces.
    pub(super) scan_first: bool,
    /// Buffer the appends and commit them at once (`commit_writes`, the
    /// one-phase commit when they fit one range).
    pub(super) one_phase: bool,
    /// Wait out commit wait before acknowledging (the seed draws it).
    pub(super) commit_wait: bool,
}

/// Reads every list in one scan; the lists found, by key (absent keys read empty).
async fn scan_lists(
    transaction: &mut Transaction,
    sender: &mut ClusterSender,
    keys: u64,
) -> Result<Vec<MicroOperation>, TransactionError> {
    let rows = unblocked!(transaction.scan(sender, &key_of(0), &KeyEnd::Before(key_of(keys))))?;
    let numbers: BTreeMap<Vec<u8>, u64> = (0..keys).map(|key| (key_of(key).0, key)).collect();
    let mut lists: BTreeMap<u64, Vec<u64>> = (0..keys).map(|key| (key, Vec::new())).collect();
    for (key, value) in rows {
        lists.insert(numbers[&key], decode_list(&value));
    }
    Ok(lists.into_iter().map(|(key, list)| MicroOperation::Read { key, list: Some(list) }).collect())
}

/// One list-append transaction as `plan` shapes it.
pub(super) async fn list_append_transaction(
    mut sender: ClusterSender,
    id: TransactionId,
    plan: Plan,
    options: ReplicatedOptions,
) -> TransactionEnd {
    let mut transaction = Transaction::begin(id, sender.now(), options.max_offset_nanos, options.knobs);
    let mut observed = Vec::new();
    if plan.scan_first {
        match scan_lists(&mut transaction, &mut sender, options.keys).await {
            Ok(reads) => observed.extend(reads),
            Err(_) => return abort(transaction, sender, observed).await,
        }
    }
    let mut buffered: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for (key, append) in plan.steps {
        let list = match buffered.get(&key) {
            Some(list) => Ok(Some(list.clone())),
            None => unblocked!(transaction.get(&mut sender, &key_of(key)))
                .map(|value| value.map(|bytes| decode_list(&bytes))),
        };
        let Ok(list) = list else { return abort(transaction, sender, observed).await };
        let mut list = list.unwrap_or_default();
        let Some(value) = append else {
            observed.push(MicroOperation::Read { key, list: Some(list) });
            continue;
        };
        list.push(value);
        if plan.one_phase {
            buffered.insert(key, list);
        } else if unblocked!(transaction.put(&mut sender, &key_of(key), Some(encode_list(&list)))).is_err() {
            return abort(transaction, sender, observed).await;
        }
        observed.push(MicroOperation::Append { key, value });
    }
    let committed = if buffered.is_empty() {
        transaction.commit(&mut sender).await
    } else {
        let writes: Vec<(Key, Option<Vec<u8>>)> =
            buffered.iter().map(|(key, list)| (key_of(*key), Some(encode_list(list)))).collect();
        unblocked!(transaction.commit_writes(&mut sender, &writes))
    };
    let Ok(commit_timestamp) = committed else { return abort(transaction, sender, observed).await };
    // Acknowledged as production's KV client does: with commit wait, once the
    // clock passes what it requires; without, once it reaches the commit.
    let until = if plan.commit_wait { transaction.commit_wait_until() } else { Some(commit_timestamp) };
    while until.is_some_and(|until| sender.now() < until) {
        yield_now().await;
    }
    (observed, TransactionOutcome::Committed, Some(commit_timestamp))
}

/// Rolls back; the outcome is "aborted", or unknown after a commit in doubt.
async fn abort(
    mut transaction: Transaction,
    mut sender: ClusterSender,
    observed: Vec<MicroOperation>,
) -> TransactionEnd {
    transaction.rollback(&mut sender).await;
    let outcome = if sender.commit_in_doubt { TransactionOutcome::Unknown } else { TransactionOutcome::Aborted };
    (observed, outcome, None)
}

fn encode_list(list: &[u64]) -> Vec<u8> {
    list.iter().flat_map(|value| value.to_be_bytes()).collect()
}

/// A running transaction, its number and when it was invoked.
pub(super) type Running = (Pin<Box<dyn Future<Output = TransactionEnd>>>, u64, u64);
/// What a transaction observed, how it ended, and its commit timestamp.
pub(super) type TransactionEnd = (Vec<MicroOperation>, TransactionOutcome, Option<Timestamp>);
