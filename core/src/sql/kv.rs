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

use std::future::Future;

use super::error::{SqlError, SqlResult, SqlState};
use crate::keys::{Key, KeyEnd};
use crate::kv::KvRuntime;
use crate::storage::KeyValue;
use crate::txn::coordinator::{RangeSender, Transaction, TransactionError};
use crate::types::Timestamp;

/// Pause between two tries of an operation blocked behind another transaction.
pub const BLOCKED_PAUSE_NANOS: u64 = 5_000_000;

/// One transaction's reads and writes.
pub trait KeyValueTransaction {
    fn get(&mut self, key: &Key) -> impl Future<Output = SqlResult<Option<Vec<u8>>>>;
    /// Writes `value` at `key`, or deletes it with None.
    fn put(&mut self, key: &Key, value: Option<Vec<u8>>) -> impl Future<Output = SqlResult<()>>;
    /// At most `limit` live pairs of `[start, end)` in key order; fewer than
    /// `limit` means the span is exhausted.
    fn scan(&mut self, start: &Key, end: &KeyEnd, limit: usize) -> impl Future<Output = SqlResult<Vec<KeyValue>>>;
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
pub struct CoordinatorKv<'a, S: RangeSender, R: KvRuntime> {
    pub transaction: &'a mut Transaction,
    pub sender: &'a mut S,
    pub runtime: &'a mut R,
    /// When a blocked operation stops trying, on the gateway's clock.
    pub deadline: Timestamp,
}

impl<S: RangeSender, R: KvRuntime> KeyValueTransaction for CoordinatorKv<'_, S, R> {
    async fn get(&mut self, key: &Key) -> SqlResult<Option<Vec<u8>>> {
        loop {
            match self.transaction.get(self.sender, key).await {
                Err(TransactionError::Blocked { .. }) if self.sender.now() < self.deadline => {
                    self.runtime.sleep(BLOCKED_PAUSE_NANOS).await
                }
                other => return other.map_err(transaction_error),
            }
        }
    }

    async fn put(&mut self, key: &Key, value: Option<Vec<u8>>) -> SqlResult<()> {
        loop {
            match self.transaction.put(self.sender, key, value.clone()).await {
                Err(TransactionError::Blocked { .. }) if self.sender.now() < self.deadline => {
                    self.runtime.sleep(BLOCKED_PAUSE_NANOS).await
                }
                other => return other.map_err(transaction_error),
            }
        }
    }

    async fn scan(&mut self, start: &Key, end: &KeyEnd, limit: usize) -> SqlResult<Vec<KeyValue>> {
        loop {
            match self.transaction.scan_bounded(self.sender, start, end, limit).await {
                Err(TransactionError::Blocked { .. }) if self.sender.now() < self.deadline => {
                    self.runtime.sleep(BLOCKED_PAUSE_NANOS).await
                }
                other => return other.map_err(transaction_error),
            }
        }
    }
}
