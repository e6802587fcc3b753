//! The transaction workloads' clients, as they run on simulated client hosts:
//! each runs one transaction at a time through its [`Gateway`] until told to
//! stop, and records what it saw.
//!
//! - **List-append** (Elle): each transaction reads and appends to lists stored
//!   at a few keys; the history goes to the list-append checker.
//! - **Bank**: transfers between accounts, and audits that read every account in
//!   one transaction; an audit that commits must see the initial total.
//!
//! Outcomes are what a client can know: committed (after commit wait), aborted,
//! or unknown when a commit was sent and its answer lost.
//!
//! A share of the transactions ([`ONE_PHASE_SHARE`], drawn per transaction from
//! the client's seeded generator) know their writes before committing: they
//! read first, keep their writes (reading them back from that buffer), and
//! commit them all at once with `Transaction::commit_writes`, so the one-phase
//! commit and its fallbacks face the same faults and checkers as the rest.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use madsim::rand::{thread_rng, Rng};
use madsim::time::{sleep, Instant};
use shardforge_core::keys::{Key, KeyEnd, KeyWriter};
use shardforge_core::txn::coordinator::{Transaction, TransactionError, TransactionKnobs};
use shardforge_core::types::{Timestamp, TransactionId};

use super::blind_writes::{self, BlindWrite};
use super::Gateway;
use crate::checker::list_append::{self, MicroOperation, TransactionOutcome};

/// How long an operation may wait behind an older transaction before giving up.
const BLOCKED_WAIT_MAX: Duration = Duration::from_secs(2);
const BLOCKED_PAUSE: Duration = Duration::from_millis(5);
pub const ACCOUNTS: u64 = 8;
/// The share of transactions that commit their buffered writes with `commit_writes`.
const ONE_PHASE_SHARE: f64 = 0.5;
pub const INITIAL_BALANCE: i64 = 100;

/// The transaction settings every client shares.
#[derive(Clone, Copy, Debug)]
pub struct TransactionSettings {
    pub max_offset_nanos: u64,
    pub knobs: TransactionKnobs,
    pub keys: u64,
}

/// What the clients of one run recorded.
pub struct Recorded {
    origin: Instant,
    next_transaction: AtomicU64,
    next_value: AtomicU64,
    pub transactions: Mutex<Vec<list_append::Transaction>>,
    /// Blind writes of the hot keys (list-append runs, see `blind_writes`).
    pub blind_writes: Mutex<Vec<BlindWrite>>,
    /// The final read of the hot keys, once it committed.
    pub final_hot_values: Mutex<Option<BTreeMap<u64, Option<u64>>>>,
    /// Bank audits that committed with a wrong total.
    pub wrong_totals: Mutex<Vec<String>>,
    pub committed: AtomicU64,
    /// Transactions committed by a one-phase commit (one command).
    pub one_phase_commits: AtomicU64,
    /// Clients that finished their last transaction after the stop.
    pub finished_clients: AtomicU64,
    /// Whether clients wait out commit wait before reporting a commit (the
    /// simulator draws it per seed; production's default is off).
    pub commit_wait: bool,
    /// How often the window of list keys slides by one key, if it does (see
    /// [`Recorded::list_key`]).
    key_rotation: Option<Duration>,
    /// One more than the highest list key drawn so far.
    keys_touched: AtomicU64,
    /// The last time [`Recorded::nanos`] gave.
    last_recorded_nanos: AtomicU64,
    /// What the SQL bank's sessions did (see `sql_bank`).
    pub sql: super::sql_bank::Ledger,
}

impl Recorded {
    pub fn new(origin: Instant, commit_wait: bool, key_rotation: Option<Duration>) -> Recorded {
        Recorded {
            origin,
            next_transaction: AtomicU64::new(1),
            next_value: AtomicU64::new(1),
            transactions: Mutex::new(Vec::new()),
            blind_writes: Mutex::new(Vec::new()),
            final_hot_values: Mutex::new(None),
            wrong_totals: Mutex::new(Vec::new()),
            committed: AtomicU64::new(0),
            one_phase_commits: AtomicU64::new(0),
            finished_clients: AtomicU64::new(0),
            commit_wait,
            key_rotation,
            keys_touched: AtomicU64::new(0),
            last_recorded_nanos: AtomicU64::new(0),
            sql: Default::default(),
        }
    }

    /// A list key for a transaction to touch: one of `keys` keys in a window
    /// that slides by one key every `key_rotation` (Elle's key rotation). New
    /// keys keep arriving at the top of the key space, so ranges keep growing
    /// and splitting where the transactions are, and a split's right half
    /// holds the keys just read and about to be written; lists stay short.
    pub fn list_key(&self, keys: u64) -> u64 {
        let elapsed = Instant::now().duration_since(self.origin);
        let window_start = self.key_rotation.map_or(0, |every| (elapsed.as_nanos() / every.as_nanos()) as u64);
        let key = window_start + thread_rng().gen_range(0..keys);
        self.keys_touched.fetch_max(key + 1, Ordering::SeqCst);
        key
    }

    /// A list key no client has drawn, and none will for a while: above every
    /// key drawn so far, and `FRESH_KEY_MARGIN` keys above the window, which
    /// slides up by one key per rotation. The causal-reverse probe's second key:
    /// no other client's write pushes the probe's timestamps there.
    pub fn fresh_list_key(&self, keys: u64) -> u64 {
        let elapsed = Instant::now().duration_since(self.origin);
        let window_start = self.key_rotation.map_or(0, |every| (elapsed.as_nanos() / every.as_nanos()) as u64);
        let key = self.keys_touched.load(Ordering::SeqCst).max(window_start + keys + FRESH_KEY_MARGIN);
        self.keys_touched.fetch_max(key + 1, Ordering::SeqCst);
        key
    }

    /// How many list keys a final read must cover: every key drawn so far,
    /// and at least the first window.
    pub fn keys_touched(&self, keys: u64) -> u64 {
        self.keys_touched.load(Ordering::SeqCst).max(keys)
    }

    /// The time of an invocation or a completion, strictly after every one
    /// recorded before. Simulated time stands still between awaits, so a
    /// transaction a task begins right after another ended would otherwise
    /// share its instant, and the checker, which orders a completion before an
    /// invocation only when strictly earlier, would miss that real-time order
    /// (the causal-reverse probe's read-only transaction and the write after it).
    /// The simulator runs one task at a time: what is recorded first happened first.
    pub(super) fn nanos(&self) -> u64 {
        let now = Instant::now().duration_since(self.origin).as_nanos() as u64;
        let previous = self.last_recorded_nanos.fetch_max(now, Ordering::SeqCst);
        if previous >= now {
            self.last_recorded_nanos.fetch_add(1, Ordering::SeqCst) + 1
        } else {
            now
        }
    }

    /// A value never written before.
    pub fn next_value(&self) -> u64 {
        self.next_value.fetch_add(1, Ordering::SeqCst)
    }

    /// Adds a finished list-append transaction to the history.
    pub fn record(
        &self,
        number: u64,
        client: u64,
        operations: Vec<MicroOperation>,
        ending: Ending,
        invoked_at_nanos: u64,
    ) {
        let Ending { outcome, commit_timestamp } = ending;
        let completed_at_nanos = (outcome != TransactionOutcome::Unknown).then(|| self.nanos());
        if outcome == TransactionOutcome::Committed {
            self.committed.fetch_add(1, Ordering::SeqCst);
        }
        let record = list_append::Transaction {
            id: number,
            client,
            operations,
            outcome,
            invoked_at_nanos,
            completed_at_nanos,
            commit_timestamp,
        };
        self.transactions.lock().expect("history lock").push(record);
    }

    /// Begins a recorded transaction on `gateway`: its number in the history,
    /// the transaction, and when it was invoked.
    pub(super) fn begin(&self, gateway: &mut Gateway, settings: TransactionSettings) -> (u64, Transaction, u64) {
        let (number, id) = self.transaction_id();
        gateway.take_commit_in_doubt();
        let invoked_at_nanos = self.nanos();
        let now = shardforge_core::txn::coordinator::RangeSender::now(gateway);
        (number, Transaction::begin(id, now, settings.max_offset_nanos, settings.knobs), invoked_at_nanos)
    }

    /// A fresh transaction id: a global sequence number above 64 random bits.
    pub(super) fn transaction_id(&self) -> (u64, TransactionId) {
        let number = self.next_transaction.fetch_add(1, Ordering::SeqCst);
        (number, TransactionId(u128::from(number) << 64 | u128::from(thread_rng().gen::<u64>())))
    }
}

/// How far above the window of drawn keys a fresh key lies (see
/// [`Recorded::fresh_list_key`]): at the fastest rotation (one key per 300 ms),
/// 2.4 s before the window reaches it, longer than a probe round takes.
const FRESH_KEY_MARGIN: u64 = 8;

pub fn key_of(number: u64) -> Key {
    KeyWriter::new().u64(number).finish_key()
}

fn decode_list(bytes: &[u8]) -> Vec<u64> {
    bytes.chunks(8).map(|chunk| u64::from_be_bytes(chunk.try_into().expect("8-byte values"))).collect()
}

fn decode_balance(bytes: &[u8]) -> i64 {
    i64::from_be_bytes(bytes[..8].try_into().expect("8-byte balances"))
}

/// Runs an operation again while it waits behind an older transaction.
macro_rules! unblocked {
    ($operation:expr) => {{
        let give_up_at = Instant::now() + BLOCKED_WAIT_MAX;
        loop {
            match $operation.await {
                Err(TransactionError::Blocked { .. }) if Instant::now() < give_up_at => sleep(BLOCKED_PAUSE).await,
                other => break other,
            }
        }
    }};
}

/// How a transaction ended, as its client can tell: the outcome, and the
/// commit timestamp when it committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ending {
    pub outcome: TransactionOutcome,
    pub commit_timestamp: Option<Timestamp>,
}

impl Ending {
    fn without_commit(outcome: TransactionOutcome) -> Ending {
        Ending { outcome, commit_timestamp: None }
    }

    pub fn committed(&self) -> bool {
        self.outcome == TransactionOutcome::Committed
    }
}

/// A list read, tried again while blocked behind an older transaction.
pub(super) async fn read_list(
    transaction: &mut Transaction,
    gateway: &mut Gateway,
    key: u64,
) -> Result<Vec<u64>, TransactionError> {
    let value = unblocked!(transaction.get(gateway, &key_of(key)))?;
    Ok(value.map(|bytes| decode_list(&bytes)).unwrap_or_default())
}

/// Every list of keys `0..keys`, read with one scan (one command a range,
/// where a read a key would take longer than the shortest garbage-collection
/// TTL the seeds draw once the keys number a hundred); absent lists are empty.
pub(super) async fn read_every_list(
    transaction: &mut Transaction,
    gateway: &mut Gateway,
    keys: u64,
) -> Result<Vec<MicroOperation>, TransactionError> {
    let rows = unblocked!(transaction.scan(gateway, &key_of(0), &KeyEnd::Before(key_of(keys))))?;
    let mut lists: BTreeMap<Vec<u8>, Vec<u64>> =
        rows.into_iter().map(|(key, bytes)| (key, decode_list(&bytes))).collect();
    let read = |key| MicroOperation::Read { key, list: Some(lists.remove(&key_of(key).0).unwrap_or_default()) };
    let operations = (0..keys).map(read).collect();
    assert!(lists.is_empty(), "a scan of the list keys returned other keys: {lists:?}");
    Ok(operations)
}

/// Commits and waits out commit wait; the outcome the client can tell.
pub(super) async fn finish(transaction: &mut Transaction, gateway: &mut Gateway, recorded: &Recorded) -> Ending {
    let committed = transaction.commit(gateway).await;
    outcome_of(committed, transaction, gateway, recorded.commit_wait).await
}

/// Commits `writes` all at once (see the module doc); the outcome the client can tell.
async fn finish_writes(
    transaction: &mut Transaction,
    gateway: &mut Gateway,
    writes: BTreeMap<Key, Option<Vec<u8>>>,
    recorded: &Recorded,
) -> Ending {
    let writes: Vec<(Key, Option<Vec<u8>>)> = writes.into_iter().collect();
    let ending = match unblocked_commit_writes(transaction, gateway, &writes).await {
        // Blocked leaves the transaction open: roll it back.
        Err(TransactionError::Blocked { .. }) => abort(transaction, gateway).await,
        committed => outcome_of(committed, transaction, gateway, recorded.commit_wait).await,
    };
    if ending.committed() && transaction.committed_in_one_phase() {
        recorded.one_phase_commits.fetch_add(1, Ordering::SeqCst);
    }
    ending
}

/// `commit_writes`, tried again while blocked behind an older transaction.
pub(super) async fn unblocked_commit_writes(
    transaction: &mut Transaction,
    gateway: &mut Gateway,
    writes: &[(Key, Option<Vec<u8>>)],
) -> Result<Timestamp, TransactionError> {
    unblocked!(transaction.commit_writes(gateway, writes))
}

/// After a commit that succeeded, the client waits for its clock as
/// production's KV client does (`KvClient::wait_for_clock`): with commit wait,
/// until it passes what commit wait requires; without, until it reaches the
/// commit timestamp.
pub(super) async fn outcome_of(
    committed: Result<Timestamp, TransactionError>,
    transaction: &mut Transaction,
    gateway: &mut Gateway,
    commit_wait: bool,
) -> Ending {
    match committed {
        Ok(commit_timestamp) => {
            let until = if commit_wait { transaction.commit_wait_until() } else { Some(commit_timestamp) };
            while until.is_some_and(|until| shardforge_core::txn::coordinator::RangeSender::now(gateway) < until) {
                sleep(Duration::from_millis(1)).await;
            }
            Ending { outcome: TransactionOutcome::Committed, commit_timestamp: Some(commit_timestamp) }
        }
        Err(_) if gateway.take_commit_in_doubt() => Ending::without_commit(TransactionOutcome::Unknown),
        Err(_) => Ending::without_commit(TransactionOutcome::Aborted),
    }
}

/// Whether this transaction buffers its writes and commits them all at once.
fn draw_one_phase() -> bool {
    thread_rng().gen_bool(ONE_PHASE_SHARE)
}

pub(super) async fn abort(transaction: &mut Transaction, gateway: &mut Gateway) -> Ending {
    transaction.rollback(gateway).await;
    Ending::without_commit(if gateway.take_commit_in_doubt() {
        TransactionOutcome::Unknown
    } else {
        TransactionOutcome::Aborted
    })
}

/// List-append transactions until `stop`.
pub async fn list_append_client(
    mut gateway: Gateway,
    client: u64,
    settings: TransactionSettings,
    recorded: Arc<Recorded>,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::SeqCst) {
        let kind = thread_rng().gen_range(0..10);
        if kind < 2 {
            blind_writes::blind_write(&mut gateway, settings, &recorded).await;
            continue;
        }
        if kind < 3 {
            blind_writes::hot_read(&mut gateway, settings, &recorded).await;
            continue;
        }
        let steps: Vec<(u64, bool)> = (0..thread_rng().gen_range(1..=4))
            .map(|_| (recorded.list_key(settings.keys), thread_rng().gen_bool(0.5)))
            .collect();
        run_list_append_transaction(&mut gateway, client, settings, &recorded, &steps).await;
    }
    recorded.finished_clients.fetch_add(1, Ordering::SeqCst);
}

/// Runs one list-append transaction of `steps` (key, whether to append) and
/// records it in the history.
pub async fn run_list_append_transaction(
    gateway: &mut Gateway,
    client: u64,
    settings: TransactionSettings,
    recorded: &Recorded,
    steps: &[(u64, bool)],
) {
    let (number, mut transaction, invoked_at_nanos) = recorded.begin(gateway, settings);
    let (operations, ending) = if draw_one_phase() {
        list_append_buffered(&mut transaction, gateway, steps, recorded).await
    } else {
        list_append_steps(&mut transaction, gateway, steps, recorded).await
    };
    recorded.record(number, client, operations, ending, invoked_at_nanos);
    // After the acknowledgement, as a gateway does (`Transaction::forget_command`).
    transaction.forget(gateway).await;
}

async fn list_append_steps(
    transaction: &mut Transaction,
    gateway: &mut Gateway,
    steps: &[(u64, bool)],
    recorded: &Recorded,
) -> (Vec<MicroOperation>, Ending) {
    let mut observed = Vec::new();
    for (key, appends) in steps.iter().copied() {
        let list = match unblocked!(transaction.get(gateway, &key_of(key))) {
            Ok(value) => value.map(|bytes| decode_list(&bytes)).unwrap_or_default(),
            Err(_) => return (observed, abort(transaction, gateway).await),
        };
        if !appends {
            observed.push(MicroOperation::Read { key, list: Some(list) });
            continue;
        }
        let value = recorded.next_value.fetch_add(1, Ordering::SeqCst);
        let mut appended = list;
        appended.push(value);
        if unblocked!(transaction.put(gateway, &key_of(key), Some(encode_list(&appended)))).is_err() {
            return (observed, abort(transaction, gateway).await);
        }
        observed.push(MicroOperation::Append { key, value });
    }
    (observed, finish(transaction, gateway, recorded).await)
}

/// The steps with their writes buffered, read back from the buffer, and
/// committed at the end with `commit_writes`.
async fn list_append_buffered(
    transaction: &mut Transaction,
    gateway: &mut Gateway,
    steps: &[(u64, bool)],
    recorded: &Recorded,
) -> (Vec<MicroOperation>, Ending) {
    let mut observed = Vec::new();
    let mut lists: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for (key, appends) in steps.iter().copied() {
        let list = match lists.get(&key) {
            Some(list) => list.clone(),
            None => match unblocked!(transaction.get(gateway, &key_of(key))) {
                Ok(value) => value.map(|bytes| decode_list(&bytes)).unwrap_or_default(),
                Err(_) => return (observed, abort(transaction, gateway).await),
            },
        };
        if !appends {
            observed.push(MicroOperation::Read { key, list: Some(list) });
            continue;
        }
        let value = recorded.next_value.fetch_add(1, Ordering::SeqCst);
        let mut appended = list;
        appended.push(value);
        lists.insert(key, appended);
        observed.push(MicroOperation::Append { key, value });
    }
    let writes = lists.into_iter().map(|(key, list)| (key_of(key), Some(encode_list(&list)))).collect();
    (observed, finish_writes(transaction, gateway, writes, recorded).await)
}

pub(super) fn encode_list(list: &[u64]) -> Vec<u8> {
    list.iter().flat_map(|value| value.to_be_bytes()).collect()
}

/// Writes every account's initial balance in one transaction; retries until it commits.
pub async fn open_accounts(gateway: &mut Gateway, settings: TransactionSettings, recorded: &Recorded) {
    loop {
        let (_, id) = recorded.transaction_id();
        let now = shardforge_core::txn::coordinator::RangeSender::now(gateway);
        let mut transaction = Transaction::begin(id, now, settings.max_offset_nanos, settings.knobs);
        let balance = Some(INITIAL_BALANCE.to_be_bytes().to_vec());
        let outcome = if draw_one_phase() {
            // Blind writes: the one-phase commit may move their timestamp.
            let writes = (0..ACCOUNTS).map(|account| (key_of(account), balance.clone())).collect();
            finish_writes(&mut transaction, gateway, writes, recorded).await
        } else {
            let mut written = true;
            for account in 0..ACCOUNTS {
                written &= unblocked!(transaction.put(gateway, &key_of(account), balance.clone())).is_ok();
            }
            match written {
                true => finish(&mut transaction, gateway, recorded).await,
                false => abort(&mut transaction, gateway).await,
            }
        };
        if outcome.committed() {
            return;
        }
        sleep(Duration::from_millis(50)).await;
    }
}

/// Bank transfers and audits until `stop`.
pub async fn bank_client(
    mut gateway: Gateway,
    settings: TransactionSettings,
    recorded: Arc<Recorded>,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::SeqCst) {
        let audit = thread_rng().gen_bool(0.3);
        bank_transaction(&mut gateway, settings, &recorded, audit).await;
    }
    recorded.finished_clients.fetch_add(1, Ordering::SeqCst);
}

/// One audit (read every account) or transfer; returns whether it committed.
pub async fn bank_transaction(
    gateway: &mut Gateway,
    settings: TransactionSettings,
    recorded: &Recorded,
    audit: bool,
) -> bool {
    let (number, id) = recorded.transaction_id();
    gateway.take_commit_in_doubt();
    let now = shardforge_core::txn::coordinator::RangeSender::now(gateway);
    let mut transaction = Transaction::begin(id, now, settings.max_offset_nanos, settings.knobs);
    let outcome = if audit {
        let rows = unblocked!(transaction.scan(gateway, &key_of(0), &KeyEnd::Before(key_of(ACCOUNTS))));
        match rows {
            Ok(rows) => {
                let outcome = finish(&mut transaction, gateway, recorded).await;
                let total: i64 = rows.iter().map(|(_, value)| decode_balance(value)).sum();
                if outcome.committed() && total != ACCOUNTS as i64 * INITIAL_BALANCE {
                    let wrong = format!("audit {number} ({} accounts) saw a total of {total}", rows.len());
                    recorded.wrong_totals.lock().expect("audit lock").push(wrong);
                }
                outcome
            }
            Err(_) => abort(&mut transaction, gateway).await,
        }
    } else {
        let (from, to, amount) = {
            let mut random = thread_rng();
            (random.gen_range(0..ACCOUNTS), random.gen_range(0..ACCOUNTS), random.gen_range(1..=20i64))
        };
        if draw_one_phase() {
            match transfer_writes(&mut transaction, gateway, from, to, amount).await {
                Ok(writes) => finish_writes(&mut transaction, gateway, writes, recorded).await,
                Err(_) => abort(&mut transaction, gateway).await,
            }
        } else {
            match transfer(&mut transaction, gateway, from, to, amount).await {
                Ok(()) => finish(&mut transaction, gateway, recorded).await,
                Err(_) => abort(&mut transaction, gateway).await,
            }
        }
    };
    let committed = outcome.committed();
    if committed {
        recorded.committed.fetch_add(1, Ordering::SeqCst);
    }
    transaction.forget(gateway).await;
    committed
}

async fn transfer(
    transaction: &mut Transaction,
    gateway: &mut Gateway,
    from: u64,
    to: u64,
    amount: i64,
) -> Result<(), TransactionError> {
    for (account, change) in [(from, -amount), (to, amount)] {
        let balance = unblocked!(transaction.get(gateway, &key_of(account)))?;
        let balance = balance.map(|bytes| decode_balance(&bytes)).unwrap_or_default();
        let updated = Some((balance + change).to_be_bytes().to_vec());
        unblocked!(transaction.put(gateway, &key_of(account), updated.clone()))?;
    }
    Ok(())
}

/// A transfer's reads, and the writes it would make (for `commit_writes`).
async fn transfer_writes(
    transaction: &mut Transaction,
    gateway: &mut Gateway,
    from: u64,
    to: u64,
    amount: i64,
) -> Result<BTreeMap<Key, Option<Vec<u8>>>, TransactionError> {
    let mut balances: BTreeMap<u64, i64> = BTreeMap::new();
    for (account, change) in [(from, -amount), (to, amount)] {
        let balance = match balances.get(&account) {
            Some(balance) => *balance,
            None => {
                let balance = unblocked!(transaction.get(gateway, &key_of(account)))?;
                balance.map(|bytes| decode_balance(&bytes)).unwrap_or_default()
            }
        };
        balances.insert(account, balance + change);
    }
    Ok(balances.into_iter().map(|(account, balance)| (key_of(account), Some(balance.to_be_bytes().to_vec()))).collect())
}
