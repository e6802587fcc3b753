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
//! each other: what ShardForge assumes (see docs/transactions.md, "Commit
//! wait: strict, not just serializable", for what wider clocks break).
//!
//! It is also the simulator's fast lane: no madsim, a few milliseconds a seed,
//! so the mutation script sweeps it as the `replicated` workload.
//!
//! This is the replicated counterpart of [`crate::local_transactions`]: same
//! coordinator, same workload, but every command goes through Raft and may be
//! lost, retried or answered "outcome unknown".

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use std::collections::{BTreeMap, VecDeque};

use shardforge_core::keys::{Key, KeyEnd, KeyWriter};
use shardforge_core::node::RequestError;
use shardforge_core::range::span::{self, SpanAnswers};
use shardforge_core::range::{
    codec, CommandError, RangeCommand, RangeRequest, RangeResponse, TransactionStatus,
    TIMESTAMP_CACHE_ENTRIES_MAX_DEFAULT,
};
use shardforge_core::store::local_cluster::LocalCluster;
use shardforge_core::txn::coordinator::{RangeSender, Transaction, TransactionError, TransactionKnobs};
use shardforge_core::types::{RangeId, Timestamp, TransactionId};

use crate::checker::list_append::{self, MicroOperation, TransactionOutcome};

/// Polls a sender waits for one answer before asking again.
const ANSWER_POLLS_MAX: u32 = 60;
/// Polls an operation may stay blocked behind an older transaction.
const BLOCKED_POLLS_MAX: u32 = 3000;

/// Returns Pending once, so the scheduler can run others and let time pass.
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            Poll::Pending
        }
    }
}

fn yield_now() -> YieldNow {
    YieldNow(false)
}

/// A gateway: routes commands to range leaders, retrying through leader changes
/// and stale descriptors; reads its own skewed clock.
pub struct ClusterSender {
    cluster: Rc<RefCell<LocalCluster>>,
    skew_nanos: i64,
    /// Every request sent lately, for the scheduler to deliver again later.
    sent: SentRequests,
    /// Whether this gateway gives up on the first commit it sent that went
    /// unanswered (as if its retry were refused for the gateway's clock): the
    /// commit is then in doubt, and the coordinator rolls back, which must
    /// find the record committed when the first attempt applied.
    gives_up_on_unanswered_commit: bool,
    /// A commit sent and not known to be applied.
    commit_in_doubt: bool,
    /// Whether every intent resolution this gateway sends is refused (as a
    /// node refuses a gateway's clock): the coordinator acknowledges its commit
    /// with intents left for others to resolve against its record.
    refuses_resolutions: bool,
}

/// The requests gateways sent lately (at most [`SENT_KEPT_MAX`]): the
/// scheduler delivers some of them a second time, long after, as a network
/// that delays a duplicate, or a gateway retry racing its original, would.
type SentRequests = Rc<RefCell<VecDeque<RangeRequest>>>;
const SENT_KEPT_MAX: usize = 256;

impl ClusterSender {
    /// A scan or a refresh, one piece to each range its span crosses.
    async fn send_span(&mut self, command: RangeCommand) -> Result<RangeResponse, CommandError> {
        let (mut from, end) = span::span_of(&command).expect("only span commands come here");
        let mut answers = SpanAnswers::default();
        loop {
            let Some(descriptor) = self.cluster.borrow().descriptor_for(&from) else {
                yield_now().await;
                continue;
            };
            let piece_end = end.clone().min(descriptor.end.clone());
            let piece = span::piece_of(&command, from.clone(), piece_end.clone());
            // A piece misrouted by a split since the lookup is asked again.
            match self.send_to_range(piece, descriptor.start.clone()).await? {
                None => continue,
                Some(answer) => {
                    if let Some(other) = answers.add(answer) {
                        return Ok(other);
                    }
                }
            }
            match piece_end {
                KeyEnd::Before(next) if end.is_above(&next) => from = next,
                _ => break,
            }
        }
        Ok(answers.finish(&command))
    }

    /// Sends `command` to the range holding `key` until it answers; None when
    /// the range refused it as outside its span (routing again may help).
    async fn send_to_range(&mut self, command: RangeCommand, key: Key) -> Result<Option<RangeResponse>, CommandError> {
        loop {
            let descriptor = self.cluster.borrow().descriptor_for(&key);
            let submitted = descriptor.and_then(|descriptor| {
                let request =
                    RangeRequest { range: descriptor.id, generation: descriptor.generation, command: command.clone() };
                let mut sent = self.sent.borrow_mut();
                if sent.len() == SENT_KEPT_MAX {
                    sent.pop_front();
                }
                sent.push_back(request.clone());
                self.cluster.borrow_mut().submit(request)
            });
            let Some(request_id) = submitted else {
                yield_now().await;
                continue;
            };
            for _ in 0..ANSWER_POLLS_MAX {
                let reply = self.cluster.borrow_mut().take_reply(request_id);
                match reply {
                    // Decoded answers are final, except misrouting: route again.
                    Some(Ok(bytes)) => match codec::decode_outcome(&bytes).expect("replicas encode their answers") {
                        // A one-phase commit across ranges is refused for good: the
                        // coordinator then commits in two phases.
                        Err(CommandError::Range(_)) if !matches!(command, RangeCommand::CommitOnePhase { .. }) => {
                            return Ok(None)
                        }
                        outcome => return outcome.map(Some),
                    },
                    // The node refused our clock: resending would be refused again.
                    Some(Err(RequestError::ClockOffset)) => return Err(CommandError::ClockOffset),
                    // Not applied, or unknown: every command here may be sent again.
                    Some(Err(_)) => break,
                    None => yield_now().await,
                }
            }
            let commits = matches!(
                command,
                RangeCommand::EndTransaction { commit: Some(_), .. } | RangeCommand::CommitOnePhase { .. }
            );
            if commits && self.gives_up_on_unanswered_commit {
                self.gives_up_on_unanswered_commit = false;
                self.commit_in_doubt = true;
                return Err(CommandError::ClockOffset);
            }
        }
    }
}

impl RangeSender for ClusterSender {
    async fn send(&mut self, command: RangeCommand) -> Result<RangeResponse, CommandError> {
        if span::span_of(&command).is_some() {
            return self.send_span(command).await;
        }
        if self.refuses_resolutions && matches!(command, RangeCommand::ResolveIntent { .. }) {
            return Err(CommandError::ClockOffset);
        }
        let key = command.routing_key().clone();
        loop {
            if let Some(answer) = self.send_to_range(command.clone(), key.clone()).await? {
                return Ok(answer);
            }
        }
    }

    fn now(&mut self) -> Timestamp {
        let global = self.cluster.borrow().now().0 as i64;
        Timestamp { wall_nanos: (global + self.skew_nanos).max(0) as u64, logical: 0 }
    }
}

fn key_of(number: u64) -> Key {
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
struct Plan {
    /// (key, Some(value) to append | None to read).
    steps: Vec<(u64, Option<u64>)>,
    /// Scan every list first: span reads enter the timestamp cache, and a
    /// refresh then covers spans that splits cut into pieces.
    scan_first: bool,
    /// Buffer the appends and commit them at once (`commit_writes`, the
    /// one-phase commit when they fit one range).
    one_phase: bool,
    /// Wait out commit wait before acknowledging (the seed draws it).
    commit_wait: bool,
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
async fn list_append_transaction(
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

type Running = (Pin<Box<dyn Future<Output = TransactionEnd>>>, u64, u64);
/// What a transaction observed, how it ended, and its commit timestamp.
type TransactionEnd = (Vec<MicroOperation>, TransactionOutcome, Option<Timestamp>);

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
    // Without commit wait the promise is serializability and single-key
    // real-time order (see `list_append::check_single_key_real_time`).
    let mut violations: Vec<list_append::Violation> = list_append::check(&history)
        .into_iter()
        .filter(|violation| commit_wait || violation.anomaly != list_append::Anomaly::RealTime)
        .collect();
    violations.extend(list_append::check_single_key_real_time(&history));
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
        let state = cluster.store(leader).replica(range)?.state_machine().state()?;
        status = status.or(state.record(id).map(|record| record.status));
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
