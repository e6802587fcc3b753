//! The transaction protocol checked without Raft: many coordinators interleaved
//! step by step over [`LocalRanges`] (several ranges, commands applied at once),
//! each on a gateway whose clock is skewed within the maximum offset. The order
//! of steps, the skews and the workload come from the seed.
//!
//! Two workloads: **list-append** (Elle; appends are read-modify-writes of a list
//! stored at a key) checked for strict serializability, and **bank** (transfers
//! and audits over accounts on several ranges) checked for a constant total.
//! This isolates the protocol from replication; the simulator runs the same
//! coordinator over Raft-replicated ranges.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use shardforge_core::keys::{Key, KeyEnd, KeyWriter};
use shardforge_core::txn::coordinator::{Transaction, TransactionError, TransactionKnobs};
use shardforge_core::txn::LocalRanges;
use shardforge_core::types::{Timestamp, TransactionId};

use crate::checker::list_append::{self, MicroOperation, TransactionOutcome};

/// Runs a future that never waits: [`LocalRanges`] answers every command at once.
pub fn run_now<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("local ranges never make a command wait"),
    }
}

/// How a local run is shaped.
#[derive(Clone, Copy, Debug)]
pub struct LocalOptions {
    pub transactions: usize,
    pub concurrency: usize,
    pub keys: u64,
    pub max_offset_nanos: u64,
    /// On: acknowledge once the coordinator's commit wait is over (strict
    /// serializability). Off, production's default: once the gateway's clock
    /// reaches the commit timestamp, as the KV client does (serializability and
    /// single-key real-time order; see `list_append::check_single_key_real_time`).
    pub commit_wait: bool,
    pub knobs: TransactionKnobs,
}

impl Default for LocalOptions {
    fn default() -> LocalOptions {
        LocalOptions {
            transactions: 300,
            concurrency: 5,
            keys: 6,
            max_offset_nanos: 500_000_000,
            commit_wait: true,
            knobs: TransactionKnobs::default(),
        }
    }
}

fn key_of(number: u64) -> Key {
    KeyWriter::new().u64(number).finish_key()
}

fn encode_list(list: &[u64]) -> Vec<u8> {
    list.iter().flat_map(|value| value.to_be_bytes()).collect()
}

fn decode_list(bytes: &[u8]) -> Vec<u64> {
    bytes.chunks(8).map(|chunk| u64::from_be_bytes(chunk.try_into().expect("8-byte values"))).collect()
}

/// One step of a list-append transaction.
#[derive(Clone, Copy, Debug)]
enum Step {
    Read(u64),
    Append(u64, u64),
    Commit,
}

/// A transaction in flight: its coordinator, remaining steps and what it saw.
struct Active {
    transaction: Transaction,
    client: u64,
    steps: Vec<Step>,
    observed: Vec<MicroOperation>,
    clock_skew_nanos: i64,
    invoked_at_nanos: u64,
    /// Committed, waiting for its gateway's clock to pass the commit timestamp.
    commit_wait_until: Option<Timestamp>,
    /// For a transaction that buffers its appends and commits them all at once
    /// with `commit_writes` (every other one): the lists it wrote so far.
    buffered: Option<BTreeMap<u64, Vec<u64>>>,
}

/// Everything one seed of the list-append workload produced.
pub struct LocalReport {
    pub history: Vec<list_append::Transaction>,
    pub violations: Vec<list_append::Violation>,
    pub committed: usize,
}

/// The global clock of the run, and each gateway's skewed view of it.
struct Clock {
    global_nanos: u64,
}

impl Clock {
    fn gateway(&self, skew_nanos: i64) -> Timestamp {
        Timestamp { wall_nanos: (self.global_nanos as i64 + skew_nanos).max(0) as u64, logical: 0 }
    }
}

/// Runs the list-append workload for `seed`, and checks its history.
pub fn run_list_append(seed: u64, options: &LocalOptions) -> LocalReport {
    let mut random = ChaCha8Rng::seed_from_u64(seed);
    let mut ranges = LocalRanges::new(u64::MAX);
    for boundary in [2, 4] {
        ranges.split(&key_of(boundary));
    }
    let mut clock = Clock { global_nanos: 1_000_000_000 };
    let (mut started, mut next_value, mut history) = (0usize, 1u64, Vec::new());
    let mut active: Vec<Active> = Vec::new();
    while started < options.transactions || !active.is_empty() {
        while active.len() < options.concurrency && started < options.transactions {
            started += 1;
            active.push(begin(started as u64, &mut random, &clock, options, &mut next_value));
        }
        clock.global_nanos += random.next_u64() % 2_000_000;
        let position = (random.next_u64() % active.len() as u64) as usize;
        let finished = step(&mut active[position], &mut ranges, &clock, options.commit_wait);
        if let Some(outcome) = finished {
            let done = active.swap_remove(position);
            history.push(list_append::Transaction {
                id: done.transaction.id().0 as u64,
                client: done.client,
                operations: done.observed,
                outcome,
                invoked_at_nanos: done.invoked_at_nanos,
                completed_at_nanos: Some(clock.global_nanos),
                commit_timestamp: None,
            });
            clock.global_nanos += 1;
        }
    }
    let violations = list_append::check_as_promised(&history, options.commit_wait);
    let committed = history.iter().filter(|t| t.outcome == TransactionOutcome::Committed).count();
    LocalReport { history, violations, committed }
}

fn begin(number: u64, random: &mut ChaCha8Rng, clock: &Clock, options: &LocalOptions, next_value: &mut u64) -> Active {
    let offset = options.max_offset_nanos as i64;
    let clock_skew_nanos = (random.next_u64() % (offset as u64 + 1)) as i64 - offset / 2;
    let mut steps = Vec::new();
    for _ in 0..1 + random.next_u64() % 4 {
        let key = random.next_u64() % options.keys;
        if random.next_u64().is_multiple_of(2) {
            steps.push(Step::Read(key));
        } else {
            steps.push(Step::Append(key, *next_value));
            *next_value += 1;
        }
    }
    steps.push(Step::Commit);
    steps.reverse();
    let id = TransactionId(u128::from(number) << 64 | u128::from(random.next_u64()));
    let transaction = Transaction::begin(id, clock.gateway(clock_skew_nanos), options.max_offset_nanos, options.knobs);
    Active {
        transaction,
        client: number,
        steps,
        observed: Vec::new(),
        clock_skew_nanos,
        invoked_at_nanos: clock.global_nanos,
        commit_wait_until: None,
        buffered: number.is_multiple_of(2).then(BTreeMap::new),
    }
}

/// Runs the next step of `active`; returns its outcome once it is over.
fn step(active: &mut Active, ranges: &mut LocalRanges, clock: &Clock, commit_wait: bool) -> Option<TransactionOutcome> {
    let now = clock.gateway(active.clock_skew_nanos);
    ranges.set_now(now);
    if let Some(until) = active.commit_wait_until {
        return (now >= until).then_some(TransactionOutcome::Committed);
    }
    let next = *active.steps.last().expect("an active transaction has steps left");
    let mut commit_timestamp = None;
    let result = match (next, &mut active.buffered) {
        (Step::Read(key), Some(lists)) if lists.contains_key(&key) => {
            active.observed.push(MicroOperation::Read { key, list: lists.get(&key).cloned() });
            Ok(())
        }
        (Step::Read(key), _) => run_now(active.transaction.get(ranges, &key_of(key))).map(|value| {
            let list = value.map(|bytes| decode_list(&bytes)).unwrap_or_default();
            active.observed.push(MicroOperation::Read { key, list: Some(list) });
        }),
        (Step::Append(key, value), Some(lists)) => {
            run_now(buffer_append(&mut active.transaction, ranges, lists, key, value)).map(|()| {
                active.observed.push(MicroOperation::Append { key, value });
            })
        }
        (Step::Append(key, value), None) => run_now(append(&mut active.transaction, ranges, key, value)).map(|()| {
            active.observed.push(MicroOperation::Append { key, value });
        }),
        (Step::Commit, Some(lists)) => {
            let writes: Vec<_> = lists.iter().map(|(key, list)| (key_of(*key), Some(encode_list(list)))).collect();
            run_now(active.transaction.commit_writes(ranges, &writes)).map(|at| commit_timestamp = Some(at))
        }
        (Step::Commit, None) => run_now(active.transaction.commit(ranges)).map(|at| commit_timestamp = Some(at)),
    };
    match result {
        Ok(()) => {
            active.steps.pop();
            // Every step but the commit leaves the transaction running.
            let commit_timestamp = commit_timestamp?;
            // Ranges here answer at once: forgetting the record delays nothing.
            run_now(active.transaction.forget(ranges));
            active.commit_wait_until =
                if commit_wait { active.transaction.commit_wait_until() } else { Some(commit_timestamp) };
            active.commit_wait_until.is_none().then_some(TransactionOutcome::Committed)
        }
        // Waiting behind an older transaction: this step runs again later.
        Err(TransactionError::Blocked { .. }) => None,
        Err(_) => {
            run_now(active.transaction.rollback(ranges));
            Some(TransactionOutcome::Aborted)
        }
    }
}

async fn append(
    transaction: &mut Transaction,
    ranges: &mut LocalRanges,
    key: u64,
    value: u64,
) -> Result<(), TransactionError> {
    let current = transaction.get(ranges, &key_of(key)).await?;
    let mut list = current.map(|bytes| decode_list(&bytes)).unwrap_or_default();
    list.push(value);
    transaction.put(ranges, &key_of(key), Some(encode_list(&list))).await
}

/// An append kept in `lists` (read from there, or from the ranges the first
/// time), to be written at commit.
async fn buffer_append(
    transaction: &mut Transaction,
    ranges: &mut LocalRanges,
    lists: &mut BTreeMap<u64, Vec<u64>>,
    key: u64,
    value: u64,
) -> Result<(), TransactionError> {
    let list = match lists.get(&key) {
        Some(list) => list.clone(),
        None => transaction.get(ranges, &key_of(key)).await?.map(|bytes| decode_list(&bytes)).unwrap_or_default(),
    };
    lists.insert(key, list.into_iter().chain([value]).collect());
    Ok(())
}

/// Bank: transfers between accounts and audits of the total, interleaved.
/// Returns the audits' totals that were wrong (empty when correct) and the
/// number of committed transfers.
pub fn run_bank(seed: u64, options: &LocalOptions) -> (Vec<String>, usize) {
    const ACCOUNTS: u64 = 8;
    const INITIAL_BALANCE: i64 = 100;
    let mut random = ChaCha8Rng::seed_from_u64(seed);
    let mut ranges = LocalRanges::new(u64::MAX);
    ranges.split(&key_of(ACCOUNTS / 2));
    let mut clock = Clock { global_nanos: 1_000_000_000 };
    let mut setup = Transaction::begin(TransactionId(1), clock.gateway(0), options.max_offset_nanos, options.knobs);
    ranges.set_now(clock.gateway(0));
    for account in 0..ACCOUNTS {
        run_now(setup.put(&mut ranges, &key_of(account), Some(INITIAL_BALANCE.to_be_bytes().to_vec()))).unwrap();
    }
    run_now(setup.commit(&mut ranges)).unwrap();
    let (mut wrong, mut transfers) = (Vec::new(), 0);
    for number in 0..options.transactions as u64 {
        clock.global_nanos += random.next_u64() % 2_000_000;
        let skew = (random.next_u64() % options.max_offset_nanos.max(1)) as i64 - options.max_offset_nanos as i64 / 2;
        ranges.set_now(clock.gateway(skew));
        let id = TransactionId(u128::from(number + 2) << 64);
        let mut transaction = Transaction::begin(id, clock.gateway(skew), options.max_offset_nanos, options.knobs);
        if number.is_multiple_of(4) {
            let rows = run_now(transaction.scan(&mut ranges, &Key::MIN, &KeyEnd::Unbounded));
            if let (Ok(rows), Ok(_)) = (rows, run_now(transaction.commit(&mut ranges))) {
                let total: i64 = rows.iter().map(|(_, v)| i64::from_be_bytes(v[..8].try_into().unwrap())).sum();
                if total != ACCOUNTS as i64 * INITIAL_BALANCE {
                    wrong.push(format!("audit {number} saw a total of {total}"));
                }
            }
            continue;
        }
        let (from, to) = (random.next_u64() % ACCOUNTS, random.next_u64() % ACCOUNTS);
        let amount = (random.next_u64() % 20) as i64;
        let transfer = async {
            let from_balance = transaction.get(&mut ranges, &key_of(from)).await?.unwrap();
            let from_balance = i64::from_be_bytes(from_balance[..8].try_into().unwrap());
            transaction.put(&mut ranges, &key_of(from), Some((from_balance - amount).to_be_bytes().to_vec())).await?;
            let to_balance = transaction.get(&mut ranges, &key_of(to)).await?.unwrap();
            let to_balance = i64::from_be_bytes(to_balance[..8].try_into().unwrap());
            transaction.put(&mut ranges, &key_of(to), Some((to_balance + amount).to_be_bytes().to_vec())).await?;
            transaction.commit(&mut ranges).await
        };
        match run_now(transfer) {
            Ok(_) => transfers += 1,
            Err(_) => run_now(transaction.rollback(&mut ranges)),
        }
    }
    (wrong, transfers)
}
