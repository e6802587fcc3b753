//! The transaction protocol over Raft-replicated ranges: coordinators run as
//! futures over a [`LocalCluster`] of three stores, interleaved by a seeded
//! scheduler that also lets time pass, isolates nodes (leaders change mid
//! transaction), restarts them, and splits the key space — once by request, then
//! by size as the lists grow. Histories are list-append, checked
//! with the Elle checker for strict serializability.
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
use shardforge_core::keys::{Key, KeyWriter};
use shardforge_core::node::RequestError;
use shardforge_core::range::{codec, CommandError, RangeCommand, RangeRequest, RangeResponse};
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
}

impl RangeSender for ClusterSender {
    async fn send(&mut self, command: RangeCommand) -> Result<RangeResponse, CommandError> {
        let key = command.routing_key().clone();
        loop {
            let descriptor = self.cluster.borrow().descriptor_for(&key);
            let submitted = descriptor.and_then(|descriptor| {
                let request =
                    RangeRequest { range: descriptor.id, generation: descriptor.generation, command: command.clone() };
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
                        Err(CommandError::Range(_)) if !matches!(command, RangeCommand::CommitOnePhase { .. }) => break,
                        outcome => return outcome,
                    },
                    // The node refused our clock: resending would be refused again.
                    Some(Err(RequestError::ClockOffset)) => return Err(CommandError::ClockOffset),
                    // Not applied, or unknown: every command here may be sent again.
                    Some(Err(_)) => break,
                    None => yield_now().await,
                }
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

/// One list-append transaction: `steps` of (key, Some(value) to append | None to read).
async fn list_append_transaction(
    mut sender: ClusterSender,
    id: TransactionId,
    steps: Vec<(u64, Option<u64>)>,
    options: ReplicatedOptions,
) -> (Vec<MicroOperation>, TransactionOutcome) {
    let mut transaction = Transaction::begin(id, sender.now(), options.max_offset_nanos, options.knobs);
    let mut observed = Vec::new();
    for (key, append) in steps {
        let read = unblocked!(transaction.get(&mut sender, &key_of(key)));
        let mut list = match read {
            Ok(value) => value.map(|bytes| decode_list(&bytes)).unwrap_or_default(),
            Err(_) => {
                transaction.rollback(&mut sender).await;
                return (observed, TransactionOutcome::Aborted);
            }
        };
        match append {
            None => observed.push(MicroOperation::Read { key, list: Some(list) }),
            Some(value) => {
                list.push(value);
                let bytes: Vec<u8> = list.iter().flat_map(|value| value.to_be_bytes()).collect();
                if unblocked!(transaction.put(&mut sender, &key_of(key), Some(bytes.clone()))).is_err() {
                    transaction.rollback(&mut sender).await;
                    return (observed, TransactionOutcome::Aborted);
                }
                observed.push(MicroOperation::Append { key, value });
            }
        }
    }
    if transaction.commit(&mut sender).await.is_err() {
        return (observed, TransactionOutcome::Aborted);
    }
    while transaction.commit_wait_until().is_some_and(|until| sender.now() < until) {
        yield_now().await;
    }
    (observed, TransactionOutcome::Committed)
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

type Running = (Pin<Box<dyn Future<Output = (Vec<MicroOperation>, TransactionOutcome)>>>, u64, u64);

/// Runs one seed; returns the history's anomalies (empty when none), the
/// number of committed transactions, and the number of ranges at the end.
pub fn run_replicated_list_append(
    seed: u64,
    options: &ReplicatedOptions,
) -> (Vec<list_append::Violation>, usize, usize) {
    let mut random = ChaCha8Rng::seed_from_u64(seed);
    let cluster = Rc::new(RefCell::new(LocalCluster::with_split_threshold(3, seed, options.split_threshold_bytes)));
    let (mut running, mut history): (Vec<Running>, Vec<list_append::Transaction>) = (Vec::new(), Vec::new());
    let (mut started, mut next_value, mut step) = (0u64, 1u64, 0u64);
    let mut isolated = None;
    let mut context = Context::from_waker(Waker::noop());
    while started < options.transactions as u64 || !running.is_empty() {
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
            let mut skew =
                (random.next_u64() % (options.max_offset_nanos + 1)) as i64 - options.max_offset_nanos as i64 / 2;
            if let Some(rogue) = options.rogue_clock_skew_nanos.filter(|_| started.is_multiple_of(5)) {
                skew = rogue;
            }
            let sender = ClusterSender { cluster: Rc::clone(&cluster), skew_nanos: skew };
            let id = TransactionId(u128::from(started) << 64 | u128::from(random.next_u64()));
            let invoked = cluster.borrow().now().0;
            running.push((Box::pin(list_append_transaction(sender, id, steps, *options)), started, invoked));
        }
        let mut position = 0;
        while position < running.len() {
            if let Poll::Ready((operations, outcome)) = running[position].0.as_mut().poll(&mut context) {
                let (_, number, invoked) = running.swap_remove(position);
                let completed = cluster.borrow().now().0;
                history.push(list_append::Transaction {
                    id: number,
                    client: number,
                    operations,
                    outcome,
                    invoked_at_nanos: invoked,
                    completed_at_nanos: Some(completed),
                });
            } else {
                position += 1;
            }
        }
        step += 1;
        disturb(&cluster, &mut random, step, &mut isolated);
        cluster.borrow_mut().step();
    }
    let committed = history.iter().filter(|transaction| transaction.outcome == TransactionOutcome::Committed).count();
    let ranges = cluster.borrow().store(cluster.borrow().nodes()[0]).ranges().count();
    (list_append::check(&history), committed, ranges)
}

/// The faults of a replicated run: a split early on, and every 60 steps one node
/// cut off for a while or crashed and restarted from its storage (leaders change
/// under running transactions; in-flight commands are lost).
fn disturb(cluster: &Rc<RefCell<LocalCluster>>, random: &mut ChaCha8Rng, step: u64, isolated: &mut Option<u64>) {
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
