//! The transaction protocol over Raft-replicated ranges: coordinators run as
//! futures over a [`LocalCluster`] of three stores, interleaved by a seeded
//! scheduler that also lets time pass, isolates nodes (leaders change mid
//! transaction), restarts them, and splits the key space — by request, early
//! and then every 100 steps at a key drawn from the seed, and by size as the
//! lists grow. Histories are list-append, checked with the Elle checker for
//! strict serializability and with the timestamp-order check.
//!
//! The swarm, per seed and per transaction: timestamp caches of 2, 8 or the
//! default number of entries (tiny ones fold into their low-water mark all the
//! time); a sixth of the transactions scan every list first (span reads in the
//! cache, refreshes over spans that splits cut); half buffer their appends and
//! commit them with `commit_writes` (the one-phase commit); two seeds in three
//! deliver requests sent earlier a second time, long after (a delayed
//! duplicate, or a gateway's retry racing its original); commit wait on
//! (strict serializability checked) or off (serializability and single-key
//! real-time order checked); and some gateways give up on an unanswered
//! commit, or have every intent resolution refused. Gateway clocks stay within
//! half the offset of the nodes', so every two clocks are within the offset of
//! each other: what ShardForge assumes (see docs/transactions.md, "The clock
//! model", for what wider clocks break).
//!
//! It is also the simulator's fast lane: no madsim, a few milliseconds a seed,
//! so the mutation script sweeps it as the `replicated` workload.
//!
//! This is the replicated counterpart of [`crate::local_transactions`]: same
//! coordinator, same workload, but every command goes through Raft and may be
//! lost, retried or answered "outcome unknown".

mod sender;
mod transaction;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use shardforge_core::range::{RangeCommand, RangeRequest, TransactionStatus, TIMESTAMP_CACHE_ENTRIES_MAX_DEFAULT};
use shardforge_core::store::local_cluster::LocalCluster;
use shardforge_core::txn::coordinator::TransactionKnobs;
use shardforge_core::types::{RangeId, TransactionId};

use self::sender::{ClusterSender, SentRequests};
use self::transaction::{key_of, list_append_transaction, Plan, Running};
use crate::checker::list_append::{self, TransactionOutcome};

/// How a replicated run is shaped.
#[derive(Clone, Copy, Debug)]
pub struct ReplicatedOptions {
    pub transactions: usize,
    pub concurrency: usize,
    pub keys: u64,
    pub max_offset_nanos: u64,
    pub knobs: TransactionKnobs,
    /// Ranges also split by themselves past this size (small, so they do).
    pub split_threshold_bytes: Option<usize>,
    /// When set, every fifth transaction runs on a gateway whose clock is this far
    /// ahead (beyond the maximum offset: the nodes must refuse it).
    pub rogue_clock_skew_nanos: Option<i64>,
}

impl Default for ReplicatedOptions {
    fn default() -> ReplicatedOptions {
        ReplicatedOptions {
            transactions: 120,
            concurrency: 4,
            keys: 5,
            max_offset_nanos: 50_000_000,
            knobs: TransactionKnobs::default(),
            split_threshold_bytes: Some(2_000),
            rogue_clock_skew_nanos: None,
        }
    }
}

/// What one replicated seed showed.
#[derive(Clone, Debug)]
pub struct ReplicatedReport {
    /// The history's anomalies (empty when none).
    pub violations: Vec<list_append::Violation>,
    pub committed: usize,
    /// Ranges at the end.
    pub ranges: usize,
    /// How much time the scheduler let pass.
    pub simulated: std::time::Duration,
    /// Set when the run did not finish within [`STEPS_MAX`] steps (a
    /// transaction that never ends is a failure too).
    pub stuck: Option<String>,
}

/// Scheduler steps a run may take: a seed takes a few hundred.
const STEPS_MAX: u64 = 50_000;

/// Runs one seed.
pub fn run_replicated_list_append(seed: u64, options: &ReplicatedOptions) -> ReplicatedReport {
    let mut random = ChaCha8Rng::seed_from_u64(seed);
    // Tiny timestamp caches (most seeds) fold reads into their low-water marks
    // all the time, so splits must carry the mark as well as the entries.
    let cache_entries_max = [2, 8, TIMESTAMP_CACHE_ENTRIES_MAX_DEFAULT][(random.next_u64() % 3) as usize];
    let cluster = LocalCluster::with_limits(3, seed, options.split_threshold_bytes, cache_entries_max);
    let cluster = Rc::new(RefCell::new(cluster));
    // Most seeds deliver old requests again (see `SentRequests`).
    let replays = random.next_u64() % 3 != 0;
    // Commit wait on (strict serializability) in half the seeds, off
    // (serializable, every key linearizable) in the rest.
    let commit_wait = random.next_u64().is_multiple_of(2);
    let sent: SentRequests = Rc::default();
    let mut identities: BTreeMap<u64, TransactionId> = BTreeMap::new();
    let (mut running, mut history): (Vec<Running>, Vec<list_append::Transaction>) = (Vec::new(), Vec::new());
    let (mut started, mut next_value, mut step) = (0u64, 1u64, 0u64);
    let mut isolated = None;
    let mut context = Context::from_waker(Waker::noop());
    let mut stuck = None;
    while started < options.transactions as u64 || !running.is_empty() {
        if step == STEPS_MAX {
            let numbers: Vec<u64> = running.iter().map(|(_, number, _)| *number).collect();
            stuck = Some(format!("liveness: transactions {numbers:?} still running after {STEPS_MAX} steps"));
            break;
        }
        while running.len() < options.concurrency && started < options.transactions as u64 {
            started += 1;
            let steps = (0..1 + random.next_u64() % 3)
                .map(|_| {
                    let key = random.next_u64() % options.keys;
                    let append = random.next_u64().is_multiple_of(2).then(|| {
                        next_value += 1;
                        next_value
                    });
                    (key, append)
                })
                .collect();
            let plan = Plan {
                steps,
                scan_first: random.next_u64().is_multiple_of(6),
                one_phase: random.next_u64() % 2 == 0,
                commit_wait,
            };
            // Gateway clocks within half the offset of the nodes' clock: every
            // two clocks within the offset of each other, as ShardForge assumes.
            let mut skew =
                (random.next_u64() % (options.max_offset_nanos + 1)) as i64 - options.max_offset_nanos as i64 / 2;
            if let Some(rogue) = options.rogue_clock_skew_nanos.filter(|_| started.is_multiple_of(5)) {
                skew = rogue;
            }
            let sender = ClusterSender {
                cluster: Rc::clone(&cluster),
                skew_nanos: skew,
                sent: Rc::clone(&sent),
                gives_up_on_unanswered_commit: random.next_u64().is_multiple_of(4),
                refuses_resolutions: random.next_u64().is_multiple_of(8),
                commit_in_doubt: false,
            };
            let id = TransactionId(u128::from(started) << 64 | u128::from(random.next_u64()));
            let invoked = cluster.borrow().now().0;
            identities.insert(started, id);
            running.push((Box::pin(list_append_transaction(sender, id, plan, *options)), started, invoked));
        }
        let mut position = 0;
        while position < running.len() {
            if let Poll::Ready((operations, outcome, commit_timestamp)) =
                running[position].0.as_mut().poll(&mut context)
            {
                let (_, number, invoked) = running.swap_remove(position);
                let completed = cluster.borrow().now().0;
                history.push(list_append::Transaction {
                    id: number,
                    client: number,
                    operations,
                    outcome,
                    invoked_at_nanos: invoked,
                    completed_at_nanos: Some(completed),
                    commit_timestamp,
                });
            } else {
                position += 1;
            }
        }
        step += 1;
        disturb(&cluster, &mut random, step, options.keys, &mut isolated);
        if replays && step.is_multiple_of(3) && random.next_u64().is_multiple_of(4) {
            replay_one(&cluster, &sent, &mut random);
        }
        cluster.borrow_mut().step();
    }
    settle_unknown_outcomes(&cluster.borrow(), &identities, &mut history);
    let committed = history.iter().filter(|transaction| transaction.outcome == TransactionOutcome::Committed).count();
    let ranges = cluster.borrow().store(cluster.borrow().nodes()[0]).ranges().count();
    let simulated = std::time::Duration::from_nanos(cluster.borrow().now().0);
    let violations = list_append::check_as_promised(&history, commit_wait);
    ReplicatedReport { violations, committed, ranges, simulated, stuck }
}

/// Settles every unknown outcome from the database's own records: what a
/// transaction's record says (on its range's leader) is what happened to it.
/// A record committed makes the transaction committed, at the record's
/// timestamp, and every later read must hold its appends; a record aborted,
/// or none, makes it aborted, and no read may hold them; a pending record, or
/// a range without a leader, leaves it unknown. (A client cannot do
/// this; the simulator can, and so holds a rollback after a commit in doubt to
/// what the record decided.)
fn settle_unknown_outcomes(
    cluster: &LocalCluster,
    identities: &BTreeMap<u64, TransactionId>,
    history: &mut [list_append::Transaction],
) {
    for transaction in history.iter_mut().filter(|transaction| transaction.outcome == TransactionOutcome::Unknown) {
        let id = identities[&transaction.id];
        match record_status(cluster, id) {
            Some(Some(TransactionStatus::Committed { timestamp })) => {
                (transaction.outcome, transaction.commit_timestamp) = (TransactionOutcome::Committed, Some(timestamp));
            }
            Some(Some(TransactionStatus::Aborted) | None) => transaction.outcome = TransactionOutcome::Aborted,
            // Pending, or a range without a leader to ask: it stays unknown.
            Some(Some(TransactionStatus::Pending)) | None => {}
        }
    }
}

/// The status of `id`'s record (None: no record) as the leaders of the ranges
/// have it; None when some range has no leader to ask.
fn record_status(cluster: &LocalCluster, id: TransactionId) -> Option<Option<TransactionStatus>> {
    let some_node = cluster.nodes()[0];
    let mut status = None;
    for range in cluster.store(some_node).ranges() {
        let leader = cluster.leader(range)?;
        let machine = cluster.store(leader).replica(range)?.state_machine();
        status = status.or(machine.record(cluster.engine(leader), id).map(|record| record.status));
    }
    Some(status)
}

/// Delivers one request sent earlier a second time, as it was sent (its range
/// and generation; a range that split since refuses it). Nobody waits for the
/// answer.
fn replay_one(cluster: &Rc<RefCell<LocalCluster>>, sent: &SentRequests, random: &mut ChaCha8Rng) {
    let sent = sent.borrow();
    if sent.is_empty() {
        return;
    }
    let request = sent[(random.next_u64() % sent.len() as u64) as usize].clone();
    let _ = cluster.borrow_mut().submit(request);
}

/// The faults of a replicated run: a split early on and more later, and every
/// 60 steps one node cut off for a while or crashed and restarted from its
/// storage (leaders change under running transactions; in-flight commands are
/// lost).
fn disturb(
    cluster: &Rc<RefCell<LocalCluster>>,
    random: &mut ChaCha8Rng,
    step: u64,
    keys: u64,
    isolated: &mut Option<u64>,
) {
    let mut cluster = cluster.borrow_mut();
    // Split once, early; the request may be lost to a leader change, so repeat it
    // until the split shows.
    if step >= 30 && step.is_multiple_of(5) {
        let descriptor = cluster.descriptor_for(&key_of(2)).expect("the key space is covered");
        if descriptor.id == RangeId(1) {
            let split = RangeCommand::Split { at: key_of(2), right_id: RangeId(2) };
            let _ =
                cluster.submit(RangeRequest { range: RangeId(1), generation: descriptor.generation, command: split });
        }
    }
    // Then, every 100 steps, a split at a key drawn from the seed, so that
    // reads served before a split meet writes after it in most seeds.
    if step >= 100 && step.is_multiple_of(100) {
        let at = key_of(1 + random.next_u64() % (keys - 1));
        let descriptor = cluster.descriptor_for(&at).expect("the key space is covered");
        if descriptor.start != at {
            let split = RangeCommand::Split { at, right_id: RangeId(1_000 + step) };
            let _ = cluster.submit(RangeRequest {
                range: descriptor.id,
                generation: descriptor.generation,
                command: split,
            });
        }
    }
    if step.is_multiple_of(60) {
        let nodes = cluster.nodes();
        if let Some(previous) = isolated.take() {
            cluster.set_isolated(nodes[previous as usize], false);
        }
        let victim = nodes[(random.next_u64() % nodes.len() as u64) as usize];
        match random.next_u64() % 3 {
            0 => {
                cluster.set_isolated(victim, true);
                *isolated = Some(victim.0 - 1);
            }
            1 => cluster.restart(victim, random.next_u64()),
            _ => {}
        }
    }
}
