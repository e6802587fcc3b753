//! The key-value API a node serves to clients (`shardforge kv`, tests,
//! benchmarks): each call is one serializable transaction that this node
//! coordinates with the core's transaction coordinator.
//!
//! A transaction that must restart (a conflict, a pushed timestamp whose reads
//! no longer hold) restarts here, with a new id and a short backoff, up to
//! [`ATTEMPTS_MAX`] times; an operation blocked behind an older transaction is
//! tried again in place for a while first. A commit whose answer never came is
//! reported as such: it may or may not have happened, and retrying could apply
//! it twice.

use std::sync::Mutex;
use std::time::Duration;

use shardforge_core::keys::{Key, KeyEnd};
use shardforge_core::range::{CommandError, RangeCommand, RangeResponse};
use shardforge_core::storage::KeyValue;
use shardforge_core::txn::coordinator::{RangeSender, Transaction, TransactionError, TransactionKnobs};
use shardforge_core::types::TransactionId;

use crate::clock::random_u64;
use crate::gateway::{GrpcGateway, GrpcTransport};

/// Tries of one transaction before giving up with a serialization failure.
const ATTEMPTS_MAX: u32 = 30;
/// How long an operation waits behind an older transaction before restarting.
const BLOCKED_WAIT: Duration = Duration::from_secs(2);
const BLOCKED_PAUSE: Duration = Duration::from_millis(5);
const RESTART_BACKOFF_MAX: Duration = Duration::from_millis(200);
/// The first byte of every key of the system's own records (the node
/// registry): below every key a client may use, and refused to clients.
/// Tuple keys never start with it (their tags start at 0x01).
pub const SYSTEM_PREFIX: u8 = 0x00;
const RESERVED: &str = "keys starting with byte 0x00 are reserved for the cluster's own records";

/// One step of a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Operation {
    Get {
        key: Vec<u8>,
    },
    Put {
        key: Vec<u8>,
        value: Vec<u8>,
    },
    Delete {
        key: Vec<u8>,
    },
    /// Keys in `[start, end)`; no `end` runs to the end of the key space; a
    /// `limit` of 0 means all.
    Scan {
        start: Vec<u8>,
        end: Option<Vec<u8>>,
        limit: usize,
    },
}

/// What one step returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OperationResult {
    Value(Option<Vec<u8>>),
    Written,
    Rows(Vec<KeyValue>),
}

/// Why a transaction did not commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvError {
    /// Bad input from the client.
    Invalid(String),
    /// Conflicts kept it from committing (SQLSTATE 40001); the client may retry.
    Conflict(String),
    /// The commit was sent but its outcome is unknown.
    OutcomeUnknown,
    /// The cluster's state does not allow it (an operator's request refused).
    Refused(String),
    /// Not possible yet (the cluster is still starting); try again later.
    Unavailable(String),
    /// Something the protocol does not expect; a bug.
    Internal(String),
}

impl std::fmt::Display for KvError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KvError::Invalid(reason) => write!(formatter, "invalid request: {reason}"),
            KvError::Conflict(reason) => write!(formatter, "serialization failure (40001): {reason}"),
            KvError::OutcomeUnknown => formatter.write_str("the commit's outcome is unknown"),
            KvError::Refused(reason) | KvError::Unavailable(reason) => formatter.write_str(reason),
            KvError::Internal(reason) => write!(formatter, "internal error: {reason}"),
        }
    }
}

/// Runs transactions for clients of this node.
pub struct Kv {
    transport: GrpcTransport,
    max_offset_nanos: u64,
    /// Whether answers wait out commit wait (see `Tuning::strict_serializable`).
    commit_wait: bool,
    /// Gateways not in use; each keeps its cache of where ranges are.
    idle: Mutex<Vec<GrpcGateway>>,
}

impl Kv {
    pub fn new(transport: GrpcTransport, max_offset_nanos: u64, commit_wait: bool) -> Kv {
        Kv { transport, max_offset_nanos, commit_wait, idle: Mutex::default() }
    }

    fn take_gateway(&self) -> GrpcGateway {
        let idle = self.idle.lock().expect("gateway pool lock").pop();
        let nodes: Vec<_> = self.transport.peers().addresses().into_keys().collect();
        match idle {
            Some(mut gateway) => {
                gateway.set_nodes(nodes);
                gateway
            }
            None => {
                let first = random_u64() as usize;
                GrpcGateway::new(self.transport.clone(), nodes, first)
            }
        }
    }

    fn transaction_id(&self) -> TransactionId {
        TransactionId((u128::from(random_u64()) << 64) | u128::from(random_u64()))
    }

    /// Runs `operations` in order as one transaction and commits it: a
    /// client's call, so keys of the system's own records are refused.
    pub async fn transaction(&self, operations: &[Operation]) -> Result<Vec<OperationResult>, KvError> {
        let operations: Vec<Operation> = operations.iter().map(check).collect::<Result<_, _>>()?;
        // Writes after the last read are known before any is sent, so they can
        // commit in one phase; a write followed by a read must be in place first.
        let last_read = operations.iter().rposition(|operation| !is_write(operation));
        let split = last_read.map_or(0, |index| index + 1);
        let (reads, writes) = operations.split_at(split);
        let (results, ()) = self.read_then_write(reads, |_| Ok((writes.to_vec(), ()))).await?;
        Ok(results)
    }

    /// One transaction that runs `reads`, lets `decide` choose the writes from
    /// what they returned (or refuse), and commits. `decide` runs again on
    /// every restart, with what that attempt read. For the node's own records:
    /// no key is refused.
    pub async fn read_then_write<R>(
        &self,
        reads: &[Operation],
        decide: impl FnMut(&[OperationResult]) -> Result<(Vec<Operation>, R), KvError>,
    ) -> Result<(Vec<OperationResult>, R), KvError> {
        let mut gateway = self.take_gateway();
        let result = self.run(&mut gateway, reads, decide).await;
        self.idle.lock().expect("gateway pool lock").push(gateway);
        result
    }

    /// Sends one command to its range (for operations on ranges themselves,
    /// such as moving replicas).
    pub async fn send(&self, command: RangeCommand) -> Result<RangeResponse, CommandError> {
        let mut gateway = self.take_gateway();
        let result = RangeSender::send(&mut gateway, command).await;
        self.idle.lock().expect("gateway pool lock").push(gateway);
        result
    }

    async fn run<R>(
        &self,
        gateway: &mut GrpcGateway,
        reads: &[Operation],
        mut decide: impl FnMut(&[OperationResult]) -> Result<(Vec<Operation>, R), KvError>,
    ) -> Result<(Vec<OperationResult>, R), KvError> {
        let mut last_conflict = String::new();
        for attempt in 0..ATTEMPTS_MAX {
            if attempt > 0 {
                let backoff = Duration::from_millis(1 << attempt.min(8)).min(RESTART_BACKOFF_MAX);
                tokio::time::sleep(backoff).await;
            }
            gateway.take_commit_in_doubt();
            let now = gateway.now();
            let id = self.transaction_id();
            let mut transaction = Transaction::begin(id, now, self.max_offset_nanos, TransactionKnobs::default());
            let error = match steps(&mut transaction, gateway, reads).await {
                Ok(mut results) => {
                    let (writes, decided) = match decide(&results) {
                        Ok(decision) => decision,
                        Err(refusal) => {
                            transaction.rollback(gateway).await;
                            return Err(refusal);
                        }
                    };
                    match write_and_commit(&mut transaction, gateway, &writes).await {
                        Ok(()) => {
                            if self.commit_wait {
                                wait_for_commit(&transaction, gateway).await;
                            }
                            results.extend(writes.iter().map(|_| OperationResult::Written));
                            return Ok((results, decided));
                        }
                        Err(_) if gateway.take_commit_in_doubt() => return Err(KvError::OutcomeUnknown),
                        Err(error) => error,
                    }
                }
                Err(error) => {
                    transaction.rollback(gateway).await;
                    error
                }
            };
            match error {
                TransactionError::Retry { reason, .. } => last_conflict = reason,
                TransactionError::Blocked { key, holder } => {
                    last_conflict = format!("{key:?} held by {holder}");
                }
                TransactionError::Unexpected { reason } => return Err(KvError::Internal(reason)),
            }
        }
        Err(KvError::Conflict(format!("gave up after {ATTEMPTS_MAX} attempts; last: {last_conflict}")))
    }
}

/// Whether `key` belongs to the system's own records (see [`SYSTEM_PREFIX`]).
pub fn is_system_key(key: &[u8]) -> bool {
    key.first() == Some(&SYSTEM_PREFIX)
}

/// Checks a client's operation; a scan from below the first client key starts there.
fn check(operation: &Operation) -> Result<Operation, KvError> {
    let key = match operation {
        Operation::Get { key } | Operation::Put { key, .. } | Operation::Delete { key } => key,
        Operation::Scan { start, end, limit } => {
            if end.as_ref().is_some_and(|end| end <= start) {
                return Err(KvError::Invalid("a scan's end must be above its start".into()));
            }
            let start = if start.is_empty() { vec![SYSTEM_PREFIX + 1] } else { start.clone() };
            if is_system_key(&start) || end.as_ref().is_some_and(|end| *end <= start) {
                return Err(KvError::Invalid(RESERVED.into()));
            }
            return Ok(Operation::Scan { start, end: end.clone(), limit: *limit });
        }
    };
    if key.is_empty() {
        return Err(KvError::Invalid("keys must not be empty".into()));
    }
    if is_system_key(key) {
        return Err(KvError::Invalid(RESERVED.into()));
    }
    Ok(operation.clone())
}

fn is_write(operation: &Operation) -> bool {
    matches!(operation, Operation::Put { .. } | Operation::Delete { .. })
}

/// Writes `writes` (puts and deletes only) and commits: in one phase when
/// they fall in one range (see `Transaction::commit_writes`). On error the
/// transaction is over, rolled back.
async fn write_and_commit(
    transaction: &mut Transaction,
    gateway: &mut GrpcGateway,
    writes: &[Operation],
) -> Result<(), TransactionError> {
    let writes: Vec<(Key, Option<Vec<u8>>)> = writes
        .iter()
        .map(|operation| match operation {
            Operation::Put { key, value } => (Key(key.clone()), Some(value.clone())),
            Operation::Delete { key } => (Key(key.clone()), None),
            other => unreachable!("only writes come here, not {other:?}"),
        })
        .collect();
    let give_up_at = tokio::time::Instant::now() + BLOCKED_WAIT;
    loop {
        match transaction.commit_writes(gateway, &writes).await {
            Err(TransactionError::Blocked { .. }) if tokio::time::Instant::now() < give_up_at => {
                tokio::time::sleep(BLOCKED_PAUSE).await
            }
            Err(error @ TransactionError::Blocked { .. }) => {
                transaction.rollback(gateway).await;
                return Err(error);
            }
            other => return other.map(|_| ()),
        }
    }
}

async fn steps(
    transaction: &mut Transaction,
    gateway: &mut GrpcGateway,
    operations: &[Operation],
) -> Result<Vec<OperationResult>, TransactionError> {
    let mut results = Vec::with_capacity(operations.len());
    for operation in operations {
        let give_up_at = tokio::time::Instant::now() + BLOCKED_WAIT;
        let result = loop {
            match step(transaction, gateway, operation).await {
                Err(TransactionError::Blocked { .. }) if tokio::time::Instant::now() < give_up_at => {
                    tokio::time::sleep(BLOCKED_PAUSE).await
                }
                other => break other?,
            }
        };
        results.push(result);
    }
    Ok(results)
}

async fn step(
    transaction: &mut Transaction,
    gateway: &mut GrpcGateway,
    operation: &Operation,
) -> Result<OperationResult, TransactionError> {
    Ok(match operation {
        Operation::Get { key } => OperationResult::Value(transaction.get(gateway, &Key(key.clone())).await?),
        Operation::Put { key, value } => {
            transaction.put(gateway, &Key(key.clone()), Some(value.clone())).await?;
            OperationResult::Written
        }
        Operation::Delete { key } => {
            transaction.put(gateway, &Key(key.clone()), None).await?;
            OperationResult::Written
        }
        Operation::Scan { start, end, limit } => {
            let end = end.clone().map_or(KeyEnd::Unbounded, |end| KeyEnd::Before(Key(end)));
            let mut rows = transaction.scan(gateway, &Key(start.clone()), &end).await?;
            if *limit > 0 {
                rows.truncate(*limit);
            }
            OperationResult::Rows(rows)
        }
    })
}

/// Commit wait (see `Transaction::commit_wait_until`): the answer goes out
/// only once this node's clock has passed what the commit requires. Without
/// it the history is still serializable, and each key linearizable (a later
/// reader's uncertainty interval covers the write); what it adds is real-time
/// order between transactions with no key in common.
async fn wait_for_commit(transaction: &Transaction, gateway: &mut GrpcGateway) {
    while let Some(until) = transaction.commit_wait_until() {
        if gateway.now() >= until {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
