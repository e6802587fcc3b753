//! Placement under the nemesis: the node registry and the rebalancer that
//! production runs (`shardforge_core::placement`), driven here through the
//! core's KV client over the simulated network while the clients run and the
//! nemesis injects faults.
//!
//! - **The operator** registers the first nodes (those the first range starts
//!   on), then joins the others one at a time, each with a token of its own,
//!   retrying through every fault: the registry must hand each joining node
//!   the next id, which is the id the simulated node was started with, and
//!   the same id again when the join is repeated with its token (as a node
//!   whose answer was lost asks again). Then it decommissions one
//!   node drawn from the seed; in half the runs that node first dies for
//!   good (the nemesis kills it and never restarts it: a machine lost), so
//!   its ranges are re-replicated around a voter that never answers.
//! - **The rebalancer** runs a round every interval (drawn per seed): it asks
//!   every node for the reports of its replicas ([`STATUS_GROUP`]), reads the
//!   registry, plans and carries out at most one move.
//! - **After healing** ([`settled`]), within a bound: every join and the
//!   decommission are done, every range keeps its replica count on active
//!   nodes only, and the decommissioned node holds nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use madsim::rand::{thread_rng, Rng};
use shardforge_core::kv::{KvClient, KvError};
use shardforge_core::placement::rebalancer::{self, Decision, ReplicaReport};
use shardforge_core::placement::registry::{self, Membership, Records, REPLICATION_FACTOR};
use shardforge_core::replica::Request;
use shardforge_core::types::NodeId;
use shardforge_runtime_sim::client::{SimRuntime, SimTransport};
use shardforge_runtime_sim::nemesis::Retirements;
use shardforge_runtime_sim::network::node_address;
use shardforge_runtime_sim::observer::Observer;
use shardforge_runtime_sim::program::{decode_reports, STATUS_GROUP};

use crate::recorder::Recorder;

/// A KV client of the simulation's.
pub type SimKv = KvClient<SimTransport, SimRuntime>;

/// What the placement tasks of one run did and saw.
pub struct Placement {
    recorder: Arc<Recorder>,
    /// Moves the rebalancer carried out.
    pub moves: AtomicU64,
    /// Whether every join and the decommission were done.
    pub operator_done: AtomicBool,
    /// The node the operator decommissions.
    pub leaving: Mutex<Option<NodeId>>,
    /// What should never happen (a join given a wrong id).
    pub violations: Mutex<Vec<String>>,
    /// The rebalancer's interval between rounds, in milliseconds.
    pub rebalance_interval_millis: AtomicU64,
    /// Where the operator asks for the leaving node to die for good.
    pub retirements: Retirements,
    /// Whether the leaving node dies for good before its decommission.
    leaving_dies: bool,
}

impl Placement {
    pub fn new(recorder: Arc<Recorder>, retirements: Retirements, leaving_dies: bool) -> Placement {
        Placement {
            recorder,
            retirements,
            leaving_dies,
            moves: AtomicU64::new(0),
            operator_done: AtomicBool::new(false),
            rebalance_interval_millis: AtomicU64::new(0),
            leaving: Mutex::new(None),
            violations: Mutex::new(Vec::new()),
        }
    }
}

/// How long the operator waits before asking again after a failure.
const OPERATOR_RETRY: Duration = Duration::from_millis(100);

/// Runs `$call` (a registry operation, awaited) until it succeeds or is
/// refused for good. (A macro: an async closure borrowing the client would
/// not be `Send` for every lifetime.)
macro_rules! until_done {
    ($call:expr) => {
        loop {
            match $call {
                Err(KvError::Conflict(_) | KvError::OutcomeUnknown | KvError::Unavailable(_)) => {
                    madsim::time::sleep(OPERATOR_RETRY).await
                }
                other => break other,
            }
        }
    };
}

/// The operator's script over the cluster's `nodes` (the first
/// [`REPLICATION_FACTOR`] are the first nodes; the others join).
pub async fn operate(mut kv: SimKv, nodes: Vec<NodeId>, placement: &Placement) {
    let initial = REPLICATION_FACTOR.min(nodes.len());
    for node in &nodes[..initial] {
        let registered =
            until_done!(registry::register(&mut kv, *node, &node_address(*node).to_string(), initial as u64).await);
        if let Err(error) = registered {
            violation(placement, format!("registering node {node} failed: {error}"));
        }
    }
    for node in &nodes[initial..] {
        madsim::time::sleep(Duration::from_millis(thread_rng().gen_range(200..=3000))).await;
        let token = thread_rng().gen_range(1..u64::MAX);
        // Twice, as a joining node whose answer was lost asks again: the token
        // must bring back the same id.
        for ask in ["join", "repeated join"] {
            match until_done!(registry::admit(&mut kv, &node_address(*node).to_string(), token).await) {
                Ok((id, _)) if id == *node => {}
                Ok((id, _)) => violation(placement, format!("the registry gave the {ask} of node {node} id {id}")),
                Err(error) => violation(placement, format!("the {ask} of node {node} failed: {error}")),
            }
        }
    }
    madsim::time::sleep(Duration::from_millis(thread_rng().gen_range(500..=4000))).await;
    let leaving = nodes[thread_rng().gen_range(0..nodes.len())];
    *placement.leaving.lock().expect("placement lock") = Some(leaving);
    if placement.leaving_dies {
        placement.retirements.ask(leaving);
        placement.recorder.event(format!("operator: {leaving} dies for good, then is decommissioned"));
        madsim::time::sleep(Duration::from_millis(thread_rng().gen_range(0..=2000))).await;
    }
    match until_done!(registry::decommission(&mut kv, leaving).await) {
        Ok(Membership::Decommissioning | Membership::Decommissioned) => {}
        Ok(Membership::Active) => violation(placement, format!("decommissioning node {leaving} left it active")),
        Err(error) => violation(placement, format!("decommissioning node {leaving} failed: {error}")),
    }
    placement.operator_done.store(true, Ordering::SeqCst);
}

fn violation(placement: &Placement, text: String) {
    placement.violations.lock().expect("placement lock").push(text);
}

/// The rebalancer: a round every `interval` until its host is killed.
pub async fn rebalance(mut kv: SimKv, nodes: Vec<NodeId>, interval: Duration, placement: &Placement) {
    loop {
        madsim::time::sleep(interval).await;
        let Ok(Some(decision)) = round(&mut kv, &nodes).await else { continue };
        placement.recorder.event(format!("rebalancer: {decision:?}"));
        if let Decision::Move { range, replicas, reason, .. } = decision {
            placement.moves.fetch_add(1, Ordering::SeqCst);
            // Every run has at least this many active nodes at all times (the
            // first nodes, then joins, before one is decommissioned).
            if replicas.len() < REPLICATION_FACTOR {
                let text = format!("the rebalancer moved range {range} to {replicas:?} ({reason}): below {REPLICATION_FACTOR} replicas");
                violation(placement, text);
            }
        }
    }
}

/// The reports of every node that answered.
async fn gather(kv: &mut SimKv, nodes: &[NodeId]) -> BTreeMap<NodeId, Vec<ReplicaReport>> {
    let mut reports = BTreeMap::new();
    for node in nodes {
        let answer = kv.gateway().transport().request_group(*node, STATUS_GROUP, Request::Read(Vec::new())).await;
        if let Some(report) = answer.and_then(Result::ok).and_then(|bytes| decode_reports(&bytes)) {
            reports.insert(*node, report);
        }
    }
    reports
}

/// One round: what it decided, once carried out.
async fn round(kv: &mut SimKv, nodes: &[NodeId]) -> Result<Option<Decision>, KvError> {
    let reports = gather(kv, nodes).await;
    let live: BTreeSet<NodeId> = reports.keys().copied().collect();
    let records = registry::read(kv).await?;
    let Some(decision) = rebalancer::plan(&rebalancer::range_views(&reports), &records, &live) else {
        return Ok(None);
    };
    rebalancer::carry_out(kv, decision.clone()).await?;
    Ok(Some(decision))
}

/// Waits, until `deadline` and two rebalancer rounds more per range, for
/// placement to reach what the operator asked for; the reason it has not,
/// when it does not. The rebalancer makes at most one move a round, and the
/// decommission and the balancing around it move each range at most twice:
/// a fixed bound would fail seeds with many ranges and a slow rebalancer.
pub async fn settled(
    kv: &mut SimKv,
    nodes: &[NodeId],
    placement: &Placement,
    deadline: madsim::time::Instant,
) -> Result<(), String> {
    let ranges = rebalancer::range_views(&gather(kv, nodes).await).len() as u32;
    let round = Duration::from_millis(placement.rebalance_interval_millis.load(Ordering::SeqCst));
    let deadline = deadline + round * 2 * ranges;
    loop {
        let reason = match registry::read(kv).await {
            Ok(records) => unsettled(&gather(kv, nodes).await, &records, nodes, placement),
            Err(error) => Some(format!("the registry could not be read: {error}")),
        };
        let Some(reason) = reason else { return Ok(()) };
        if madsim::time::Instant::now() > deadline {
            return Err(format!("placement: {reason}"));
        }
        madsim::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Why placement is not (yet) what the operator asked for, if it is not.
fn unsettled(
    reports: &BTreeMap<NodeId, Vec<ReplicaReport>>,
    records: &Records,
    nodes: &[NodeId],
    placement: &Placement,
) -> Option<String> {
    if !placement.operator_done.load(Ordering::SeqCst) {
        return Some("the operator's joins and decommission are not done".into());
    }
    let retired = placement.retirements.retired();
    let answering = nodes.iter().filter(|node| !retired.contains(node));
    if let Some(silent) = answering.into_iter().find(|node| !reports.contains_key(node)) {
        return Some(format!("node {silent} does not answer"));
    }
    let leaving = placement.leaving.lock().expect("placement lock").expect("set before done");
    for node in nodes {
        let expected = if *node == leaving { Membership::Decommissioned } else { Membership::Active };
        let membership = records.get(node).map(|record| record.membership);
        if membership != Some(expected) {
            return Some(format!("node {node} is {membership:?} in the registry, not {expected}"));
        }
    }
    let wanted = rebalancer::replicas_wanted(records);
    for range in rebalancer::range_views(reports) {
        if !range.settled {
            return Some(format!("range {} has a replica without its newest descriptor", range.id));
        }
        if range.replicas.len() != wanted || range.replicas.contains(&leaving) {
            return Some(format!(
                "range {} keeps replicas {:?}; {wanted} wanted, none on node {leaving}",
                range.id, range.replicas
            ));
        }
    }
    None
}
