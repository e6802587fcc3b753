//! The engine's view of one transaction: reads, writes and bounded scans of
//! the key space, as runtime-agnostic `async` calls. [`CoordinatorKv`] runs
//! them as the coordinator's [`Transaction`] through any [`RangeSender`]
//! (production's gateway, the simulator's, or in-process ranges in tests).
//!
//! Conflicts come back as SQLSTATE 40001 naming the transaction and the key,
//! which the session turns into a restart (an implicit transaction) or an
//! error for the client (an explicit one). An operation blocked behind an
//! older transaction is tried again after a pause until the statement's
//! deadline on the gateway's clock.

use std::collections::BTreeMap;
use std::future::Future;

use super::error::{SqlError, SqlResult, SqlState};
use crate::keys::{Key, KeyEnd};
use crate::kv::KvRuntime;
use crate::storage::KeyValue;
use crate::txn::coordinator::{RangeSender, Transaction, TransactionError};
use crate::types::Timestamp;

use crate::kv::client::{new_transaction_id, restart_backoff_nanos, BLOCKED_PAUSE_NANOS};

/// One transaction's reads and writes.
pub trait KeyValueTransaction {
    fn get(&mut self, key: &Key) -> impl Future<Output = SqlResult<Option<Vec<u8>>>>;
    /// Writes `value` at `key`, or deletes it with None.
    fn put(&mut self, key: &Key, value: Option<Vec<u8>>) -> impl Future<Output = SqlResult<()>>;
    /// Live pairs of `[start, end)` in key order, about `limit` of them, and
    /// where to resume when the span holds more.
    fn scan(&mut self, start: &Key, end: &KeyEnd, limit: usize) -> impl Future<Output = SqlResult<ScanBatch>>;
    /// Replaces the value at `key` with what `change` makes of it, in a
    /// transaction of its own that has committed when this returns: what a
    /// sequence hands out stays handed out whatever becomes of this
    /// transaction. `change` runs again if that transaction restarts.
    fn update_outside(&mut self, key: &Key, change: &mut ValueChange<'_>) -> impl Future<Output = SqlResult<()>>;
}

/// What [`KeyValueTransaction::update_outside`] makes of a value (None: absent).
pub type ValueChange<'c> = dyn FnMut(Option<&[u8]>) -> SqlResult<Vec<u8>> + 'c;

/// How often a transaction of [`KeyValueTransaction::update_outside`] restarts before it gives up.
const OUTSIDE_ATTEMPTS_MAX: u32 = 64;

/// One batch of a bounded scan.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScanBatch {
    pub rows: Vec<KeyValue>,
    /// Where the rest of the span starts; None when the span is exhausted.
    pub resume: Option<Key>,
}

/// The error a client sees for a transaction failure.
pub fn transaction_error(error: TransactionError) -> SqlError {
    match error {
        TransactionError::Retry { transaction, key, reason } => {
            let on = key.map(|key| format!(" on key {key:?}")).unwrap_or_default();
            SqlError::new(SqlState::SERIALIZATION_FAILURE, format!("restart transaction: {reason}"))
                .with_detail(format!("transaction {transaction}{on}"))
                .with_hint("retry the transaction")
        }
        TransactionError::Blocked { key, holder } => {
            SqlError::new(SqlState::SERIALIZATION_FAILURE, "restart transaction: blocked by an older transaction")
                .with_detail(format!("key {key:?} is held by {holder}"))
                .with_hint("retry the transaction")
        }
        TransactionError::Unexpected { reason } => SqlError::internal(reason),
    }
}

/// A [`Transaction`] and the sender its commands go through.
///
/// With a write buffer, writes are kept here instead of being sent, and reads
/// see them: an autocommit statement's writes are then all known at its end,
/// and commit in one command when they fall in one range
/// (`Transaction::commit_writes`) instead of an intent each and a commit.
pub struct CoordinatorKv<'a, S: RangeSender, R: KvRuntime> {
    pub transaction: &'a mut Transaction,
    pub sender: &'a mut S,
    pub runtime: &'a mut R,
    /// When a blocked operation stops trying, on the gateway's clock.
    pub deadline: Timestamp,
    pub buffer: Option<&'a mut BTreeMap<Key, Option<Vec<u8>>>>,
}

/// Runs a coordinator operation until it is not blocked behind an older
/// transaction or the deadline passes, pausing between tries.
macro_rules! unblocked {
    ($kv:expr, $operation:expr) => {
        loop {
            match $operation.await {
                Err(TransactionError::Blocked { .. }) if $kv.sender.now() < $kv.deadline => {
                    $kv.runtime.sleep(BLOCKED_PAUSE_NANOS).await
                }
                other => break other.map_err(transaction_error),
            }
        }
    };
}

impl<S: RangeSender, R: KvRuntime> KeyValueTransaction for CoordinatorKv<'_, S, R> {
    async fn get(&mut self, key: &Key) -> SqlResult<Option<Vec<u8>>> {
        if let Some(buffered) = self.buffer.as_ref().and_then(|buffer| buffer.get(key)) {
            return Ok(buffered.clone());
        }
        unblocked!(self, self.transaction.get(self.sender, key))
    }

    async fn put(&mut self, key: &Key, value: Option<Vec<u8>>) -> SqlResult<()> {
        if let Some(buffer) = self.buffer.as_mut() {
            buffer.insert(key.clone(), value);
            return Ok(());
        }
        unblocked!(self, self.transaction.put(self.sender, key, value.clone()))
    }

    async fn scan(&mut self, start: &Key, end: &KeyEnd, limit: usize) -> SqlResult<ScanBatch> {
        let rows = unblocked!(self, self.transaction.scan_bounded(self.sender, start, end, limit))?;
        let resume = match rows.last() {
            Some((last, _)) if rows.len() >= limit => Some(Key(last.clone()).next()),
            _ => None,
        };
        let rows = match self.buffer.as_ref() {
            Some(buffer) if !buffer.is_empty() => overlay(rows, buffer, start, end, resume.as_ref()),
            _ => rows,
        };
        Ok(ScanBatch { rows, resume })
    }

    async fn update_outside(&mut self, key: &Key, change: &mut ValueChange<'_>) -> SqlResult<()> {
        let mut attempt = 0;
        loop {
            let mut outside = self.transaction.sibling(new_transaction_id(self.runtime), self.sender.now());
            let error = match outside.get(self.sender, key).await {
                Ok(current) => {
                    let changed = match change(current.as_deref()) {
                        Ok(changed) => changed,
                        Err(error) => {
                            outside.rollback(self.sender).await;
                            return Err(error);
                        }
                    };
                    match outside.commit_writes(self.sender, &[(key.clone(), Some(changed))]).await {
                        Ok(_) => return Ok(()),
                        Err(error) => error,
                    }
                }
                Err(error) => error,
            };
            outside.rollback(self.sender).await;
            let pause = match &error {
                TransactionError::Blocked { .. } if self.sender.now() < self.deadline => BLOCKED_PAUSE_NANOS,
                TransactionError::Retry { .. } if attempt < OUTSIDE_ATTEMPTS_MAX => restart_backoff_nanos(attempt),
                _ => return Err(transaction_error(error)),
            };
            attempt += 1;
            self.runtime.sleep(pause).await;
        }
    }
}

/// The rows of a bounded scan with the buffered writes of the span it
/// covered applied: up to `resume` when it came back full (buffered keys
/// beyond are for the next scan), else to `end`.
fn overlay(
    rows: Vec<KeyValue>,
    buffer: &BTreeMap<Key, Option<Vec<u8>>>,
    start: &Key,
    end: &KeyEnd,
    resume: Option<&Key>,
) -> Vec<KeyValue> {
    let covered_end = match resume {
        Some(resume) => KeyEnd::Before(resume.clone()),
        None => end.clone(),
    };
    let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = rows.into_iter().collect();
    for (key, value) in buffer.range(start.clone()..) {
        if !covered_end.is_above(key) {
            break;
        }
        match value {
            Some(value) => merged.insert(key.0.clone(), value.clone()),
            None => merged.remove(&key.0),
        };
    }
    merged.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> Key {
        Key(text.as_bytes().to_vec())
    }

    #[test]
    fn buffered_writes_overlay_only_the_span_a_full_scan_covered() {
        let rows = vec![(b"a".to_vec(), b"1".to_vec()), (b"c".to_vec(), b"3".to_vec())];
        let buffer =
            BTreeMap::from([(key("b"), Some(b"2".to_vec())), (key("c"), None), (key("d"), Some(b"4".to_vec()))]);
        let full = overlay(rows.clone(), &buffer, &key("a"), &KeyEnd::Unbounded, Some(&key("c").next()));
        assert_eq!(
            full,
            [(b"a".to_vec(), b"1".to_vec()), (b"b".to_vec(), b"2".to_vec())],
            "d lies past c, where the scan stopped"
        );
        let short = overlay(rows, &buffer, &key("a"), &KeyEnd::Unbounded, None);
        let keys: Vec<_> = short.iter().map(|(key, _)| key.clone()).collect();
        assert_eq!(keys, [b"a".to_vec(), b"b".to_vec(), b"d".to_vec()], "c is deleted, b and d are new");
    }
}
