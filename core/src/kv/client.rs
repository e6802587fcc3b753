//! The key-value client: runs one serializable transaction of [`Operation`]s
//! through a [`Gateway`], restarting it through conflicts. Production's node
//! serves its KV API and keeps its node registry with it; the simulator's
//! registry and rebalancer run the same code under the nemesis.
//!
//! A transaction that must restart (a conflict, a pushed timestamp whose reads
//! no longer hold) restarts with a new id and a growing backoff, up to
//! [`ATTEMPTS_MAX`] times; an operation blocked behind an older transaction is
//! tried again in place for a while first ([`BLOCKED_WAIT_NANOS`]). A
//! commit whose answer never came is reported as such: it may or may not have
//! happened, and retrying could apply it twice.
//!
//! Time passes only through the runtime ([`KvRuntime::sleep`]) and randomness
//! (transaction ids) comes from it too, so the simulator's seeded runtime
//! replays every retry.

use std::future::Future;

use super::operation::{check_client_operation, KvError, Operation, OperationResult};
use crate::keys::{Key, KeyEnd};
use crate::range::{CommandError, RangeCommand, RangeResponse};
use crate::txn::coordinator::{RangeSender, Transaction, TransactionError, TransactionKnobs};
use crate::txn::gateway::{Gateway, NodeTransport};
use crate::types::{Timestamp, TransactionId};

/// Tries of one transaction before giving up with a serialization failure.
pub const ATTEMPTS_MAX: u32 = 30;
/// Pause between two tries of an operation blocked behind another transaction.
pub const BLOCKED_PAUSE_NANOS: u64 = 5_000_000;
/// How long, on the gateway's clock, an operation blocked behind an older
/// transaction is tried again before the transaction restarts.
pub const BLOCKED_WAIT_NANOS: u64 = 2_000_000_000;
const RESTART_BACKOFF_MAX_NANOS: u64 = 200_000_000;
/// Pause between two looks at the clock while an acknowledgement waits for it.
pub const CLOCK_WAIT_PAUSE_NANOS: u64 = 1_000_000;

/// The pause before restart number `attempt` (from 1): doubling from 2 ms, at most 200 ms.
pub fn restart_backoff_nanos(attempt: u32) -> u64 {
    (1_000_000u64 << attempt.min(8)).min(RESTART_BACKOFF_MAX_NANOS)
}

/// A transaction id of 128 bits drawn from the runtime (seeded in the simulator).
pub fn new_transaction_id(runtime: &mut impl KvRuntime) -> TransactionId {
    TransactionId((u128::from(runtime.random_u64()) << 64) | u128::from(runtime.random_u64()))
}

/// What the client needs from its runtime besides the gateway's transport.
pub trait KvRuntime {
    /// Waits `nanos` of the runtime's time.
    fn sleep(&mut self, nanos: u64) -> impl Future<Output = ()>;
    /// A random number (the node's seeded generator in the simulator).
    fn random_u64(&mut self) -> u64;
}

/// How the client's transactions run.
#[derive(Clone, Copy, Debug)]
pub struct KvSettings {
    pub max_offset_nanos: u64,
    /// Whether answers wait out commit wait (strict serializability), or only
    /// until the clock reaches the commit timestamp (serializability).
    pub commit_wait: bool,
    pub knobs: TransactionKnobs,
}

/// One client: a gateway, with its cache of where ranges are, and a runtime.
pub struct KvClient<T: NodeTransport, R: KvRuntime> {
    gateway: Gateway<T>,
    runtime: R,
    settings: KvSettings,
    /// `ForgetTransaction`s of commits already acknowledged, not yet sent
    /// ([`KvClient::forget_acknowledged`]).
    forgets: Vec<RangeCommand>,
}

impl<T: NodeTransport, R: KvRuntime> KvClient<T, R> {
    pub fn new(gateway: Gateway<T>, runtime: R, settings: KvSettings) -> Self {
        KvClient { gateway, runtime, settings, forgets: Vec::new() }
    }

    /// Whether [`KvClient::forget_acknowledged`] has anything to send.
    pub fn has_acknowledged_forgets(&self) -> bool {
        !self.forgets.is_empty()
    }

    /// Sends the `ForgetTransaction` of every two-phase commit this client
    /// acknowledged since the last call, best effort (see
    /// `Transaction::forget_command`). A server calls it after its reply is
    /// on the way; every transaction calls it first, so that no more than one
    /// transaction's records wait.
    pub async fn forget_acknowledged(&mut self) {
        for command in std::mem::take(&mut self.forgets) {
            let _ = RangeSender::send(&mut self.gateway, command).await;
        }
    }

    pub fn gateway(&mut self) -> &mut Gateway<T> {
        &mut self.gateway
    }

    pub fn runtime(&mut self) -> &mut R {
        &mut self.runtime
    }

    /// Runs `operations` in order as one transaction and commits it: a
    /// client's call, so keys of the system's own records are refused.
    pub async fn transaction(&mut self, operations: &[Operation]) -> Result<Vec<OperationResult>, KvError> {
        let operations: Vec<Operation> = operations.iter().map(check_client_operation).collect::<Result<_, _>>()?;
        // Writes after the last read are known before any is sent, so they can
        // commit in one phase; a write followed by a read must be in place first.
        let last_read = operations.iter().rposition(|operation| !operation.is_write());
        let split = last_read.map_or(0, |index| index + 1);
        let (reads, writes) = operations.split_at(split);
        let (results, ()) = self.read_then_write(reads, |_| Ok((writes.to_vec(), ()))).await?;
        Ok(results)
    }

    /// Sends one command to its range (for operations on ranges themselves,
    /// such as moving replicas).
    pub async fn send(&mut self, command: RangeCommand) -> Result<RangeResponse, CommandError> {
        RangeSender::send(&mut self.gateway, command).await
    }

    /// One transaction that runs `reads`, lets `decide` choose the writes from
    /// what they returned (or refuse), and commits. `decide` runs again on
    /// every restart, with what that attempt read. For the node's own records:
    /// no key is refused.
    pub async fn read_then_write<D>(
        &mut self,
        reads: &[Operation],
        mut decide: impl FnMut(&[OperationResult]) -> Result<(Vec<Operation>, D), KvError>,
    ) -> Result<(Vec<OperationResult>, D), KvError> {
        self.forget_acknowledged().await;
        let mut last_conflict = String::new();
        for attempt in 0..ATTEMPTS_MAX {
            if attempt > 0 {
                self.runtime.sleep(restart_backoff_nanos(attempt)).await;
            }
            let error = match self.attempt(reads, &mut decide).await {
                Ok(Ok(done)) => return Ok(done),
                Ok(Err(refusal)) => return Err(refusal),
                Err(error) => error,
            };
            match error {
                TransactionError::Retry { reason, .. } => last_conflict = reason,
                TransactionError::Blocked { key, holder } => last_conflict = format!("{key:?} held by {holder}"),
                TransactionError::Unexpected { reason } => return Err(KvError::Internal(reason)),
            }
        }
        Err(KvError::Conflict(format!("gave up after {ATTEMPTS_MAX} attempts; last: {last_conflict}")))
    }

    /// One try: `Err` when the transaction must restart, `Ok(Err)` when it is
    /// over without committing (refused by `decide`, or its outcome unknown).
    async fn attempt<D>(
        &mut self,
        reads: &[Operation],
        decide: &mut impl FnMut(&[OperationResult]) -> Result<(Vec<Operation>, D), KvError>,
    ) -> Result<Result<(Vec<OperationResult>, D), KvError>, TransactionError> {
        self.gateway.take_commit_in_doubt();
        let id = new_transaction_id(&mut self.runtime);
        let now = self.gateway.now();
        let mut transaction = Transaction::begin(id, now, self.settings.max_offset_nanos, self.settings.knobs);
        let mut results = match self.steps(&mut transaction, reads).await {
            Ok(results) => results,
            Err(error) => {
                transaction.rollback(&mut self.gateway).await;
                return Err(error);
            }
        };
        let (writes, decided) = match decide(&results) {
            Ok(decision) => decision,
            Err(refusal) => {
                transaction.rollback(&mut self.gateway).await;
                return Ok(Err(refusal));
            }
        };
        match self.write_and_commit(&mut transaction, &writes).await {
            Ok(commit_timestamp) => {
                self.wait_for_clock(&transaction, commit_timestamp).await;
                self.forgets.extend(transaction.forget_command());
                results.extend(writes.iter().map(|_| OperationResult::Written));
                Ok(Ok((results, decided)))
            }
            Err(_) if self.gateway.take_commit_in_doubt() => Ok(Err(KvError::OutcomeUnknown)),
            Err(error) => Err(error),
        }
    }

    /// Writes `writes` (puts and deletes only) and commits: in one phase when
    /// they fall in one range (see `Transaction::commit_writes`). On error the
    /// transaction is over, rolled back.
    async fn write_and_commit(
        &mut self,
        transaction: &mut Transaction,
        writes: &[Operation],
    ) -> Result<Timestamp, TransactionError> {
        let writes: Vec<(Key, Option<Vec<u8>>)> = writes
            .iter()
            .map(|operation| match operation {
                Operation::Put { key, value } => (Key(key.clone()), Some(value.clone())),
                Operation::Delete { key } => (Key(key.clone()), None),
                other => unreachable!("only writes come here, not {other:?}"),
            })
            .collect();
        let give_up_at = self.blocked_deadline();
        loop {
            match transaction.commit_writes(&mut self.gateway, &writes).await {
                Err(TransactionError::Blocked { .. }) if self.gateway.now() < give_up_at => {
                    self.runtime.sleep(BLOCKED_PAUSE_NANOS).await
                }
                Err(error @ TransactionError::Blocked { .. }) => {
                    transaction.rollback(&mut self.gateway).await;
                    return Err(error);
                }
                other => return other,
            }
        }
    }

    /// When an operation blocked from now on stops trying again.
    fn blocked_deadline(&mut self) -> Timestamp {
        let now = self.gateway.now();
        Timestamp { wall_nanos: now.wall_nanos.saturating_add(BLOCKED_WAIT_NANOS), logical: 0 }
    }

    async fn steps(
        &mut self,
        transaction: &mut Transaction,
        operations: &[Operation],
    ) -> Result<Vec<OperationResult>, TransactionError> {
        let mut results = Vec::with_capacity(operations.len());
        for operation in operations {
            let give_up_at = self.blocked_deadline();
            let result = loop {
                match step(transaction, &mut self.gateway, operation).await {
                    Err(TransactionError::Blocked { .. }) if self.gateway.now() < give_up_at => {
                        self.runtime.sleep(BLOCKED_PAUSE_NANOS).await
                    }
                    other => break other?,
                }
            };
            results.push(result);
        }
        Ok(results)
    }

    /// The acknowledgement waits for the clock. With commit wait (see
    /// `Transaction::commit_wait_until`), until it has passed what the commit
    /// requires: real-time order between transactions with no key in common.
    /// Without it, until it reaches the commit timestamp (CockroachDB's wait
    /// for future-time writes): a commit pushed ahead of every clock is not
    /// acknowledged before a later reader on this node could see it.
    async fn wait_for_clock(&mut self, transaction: &Transaction, commit_timestamp: Timestamp) {
        let until = if self.settings.commit_wait { transaction.commit_wait_until() } else { Some(commit_timestamp) };
        let Some(until) = until else { return };
        while self.gateway.now() < until {
            self.runtime.sleep(CLOCK_WAIT_PAUSE_NANOS).await;
        }
    }
}

async fn step(
    transaction: &mut Transaction,
    sender: &mut impl RangeSender,
    operation: &Operation,
) -> Result<OperationResult, TransactionError> {
    Ok(match operation {
        Operation::Get { key } => OperationResult::Value(transaction.get(sender, &Key(key.clone())).await?),
        Operation::Put { key, value } => {
            transaction.put(sender, &Key(key.clone()), Some(value.clone())).await?;
            OperationResult::Written
        }
        Operation::Delete { key } => {
            transaction.put(sender, &Key(key.clone()), None).await?;
            OperationResult::Written
        }
        Operation::Scan { start, end, limit } => {
            let end = end.clone().map_or(KeyEnd::Unbounded, |end| KeyEnd::Before(Key(end)));
            let mut rows = transaction.scan(sender, &Key(start.clone()), &end).await?;
            if *limit > 0 {
                rows.truncate(*limit);
            }
            OperationResult::Rows(rows)
        }
    })
}
