//! The rebalancer: decides where ranges keep their replicas, and moves them.
//!
//! One node decides at a time (production's node acts only while it leads
//! the meta range; the simulator runs one). Every [`ROUND_INTERVAL_NANOS`] it
//! gathers what replicas every node holds ([`ReplicaReport`]s), reads the node
//! registry, and makes at most one move ([`plan`]), in this order of urgency:
//! 1. a replica on a node that is leaving (decommissioning) goes to the active
//!    node with the fewest replicas;
//! 2. a range with fewer replicas than it should keep (3, or every active node
//!    when fewer are active) gains one, and one with more loses one;
//! 3. when one active node holds at least two replicas more than another, a
//!    range moves from the fuller to the emptier;
//! 4. a leaving node that holds no replica any more is marked decommissioned.
//!
//! A move is a `ChangeReplicas` command on the range ([`carry_out`]): its
//! descriptor names the new replicas, and the range's leader then changes the
//! Raft group to match, adding the new voter (which receives a snapshot) before
//! removing the old one (see `crate::store`). The command carries the
//! descriptor's generation, so a decision made on a stale view is refused by
//! the range.
//!
//! No move is planned while a range has a replica on a node the registry
//! does not know: the registry is still incomplete, and the replica count it
//! implies would be too low.
//!
//! No move starts while an earlier one is unfinished: every live node a
//! range's newest descriptor names must report the range at that generation
//! (it has the snapshot). Moves therefore go one at a time and never take
//! more than one replica of a range away from a quorum that holds the data.
//! A node that does not answer is not a target; its replicas are not replaced
//! (a dead node's replicas stay until it returns or is decommissioned).

use std::collections::{BTreeMap, BTreeSet};

use super::registry::{self, Membership, Records, REPLICATION_FACTOR};
use crate::keys::Key;
use crate::kv::{KvClient, KvError, KvRuntime};
use crate::range::{RangeCommand, RangeResponse};
use crate::store::Store;
use crate::txn::gateway::NodeTransport;
use crate::types::NodeId;

/// Time between two rounds of the rebalancer.
pub const ROUND_INTERVAL_NANOS: u64 = 1_000_000_000;

/// One replica as the node holding it reports it: its range's descriptor there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaReport {
    pub range: u64,
    pub start_key: Vec<u8>,
    pub generation: u64,
    pub replicas: BTreeSet<NodeId>,
}

/// What a store reports of its initialized replicas (a replica still waiting
/// for its first snapshot has no descriptor and is left out), by range id.
pub fn replica_reports(store: &Store) -> Vec<ReplicaReport> {
    let mut reports = Vec::new();
    for range in store.ranges() {
        let Some(state) = store.replica(range).and_then(|replica| replica.state_machine().state()) else { continue };
        let descriptor = state.descriptor();
        reports.push(ReplicaReport {
            range: range.0,
            start_key: descriptor.start.0.clone(),
            generation: descriptor.generation,
            replicas: descriptor.replicas.clone(),
        });
    }
    reports
}

/// A range as its newest descriptor describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeView {
    pub id: u64,
    pub start_key: Vec<u8>,
    pub generation: u64,
    pub replicas: BTreeSet<NodeId>,
    /// Whether every live replica the descriptor names reports this generation.
    pub settled: bool,
}

/// What one round decides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Give the range starting at `start_key` these replicas.
    Move { range: u64, start_key: Vec<u8>, replicas: BTreeSet<NodeId>, reason: String },
    /// The node holds no replica any more.
    Decommissioned(NodeId),
}

/// The newest descriptor of each range, from what every live node reports.
pub fn range_views(reports: &BTreeMap<NodeId, Vec<ReplicaReport>>) -> Vec<RangeView> {
    let mut newest: BTreeMap<u64, &ReplicaReport> = BTreeMap::new();
    for report in reports.values().flatten() {
        let entry = newest.entry(report.range).or_insert(report);
        if report.generation > entry.generation {
            *entry = report;
        }
    }
    newest
        .into_values()
        .map(|report| {
            let settled = report.replicas.iter().all(|node| match reports.get(node) {
                None => true,
                Some(held) => {
                    held.iter().any(|held| held.range == report.range && held.generation == report.generation)
                }
            });
            RangeView {
                id: report.range,
                start_key: report.start_key.clone(),
                generation: report.generation,
                replicas: report.replicas.clone(),
                settled,
            }
        })
        .collect()
}

/// How many replicas each range should keep with these records.
pub fn replicas_wanted(records: &Records) -> usize {
    registry::active_nodes(records).count().clamp(1, REPLICATION_FACTOR)
}

/// One round's decision over `ranges`, the registry, and the nodes that answered.
pub fn plan(ranges: &[RangeView], records: &Records, live: &BTreeSet<NodeId>) -> Option<Decision> {
    if ranges.iter().any(|range| !range.settled) {
        return None;
    }
    // A replica on a node the registry does not know means the registry is not
    // complete yet (the first nodes still registering, or not read yet): the
    // replica count it implies would be too low, and ranges would shrink to
    // one replica. (The simulator found this: the rebalancer's first rounds
    // ran before the first nodes had all registered.)
    if ranges.iter().flat_map(|range| &range.replicas).any(|node| !records.contains_key(node)) {
        return None;
    }
    let wanted = replicas_wanted(records);
    let targets: BTreeSet<NodeId> = registry::active_nodes(records).filter(|node| live.contains(node)).collect();
    let mut load: BTreeMap<NodeId, usize> = targets.iter().map(|node| (*node, 0)).collect();
    for node in ranges.iter().flat_map(|range| &range.replicas) {
        if let Some(count) = load.get_mut(node) {
            *count += 1;
        }
    }
    // The emptiest target outside `replicas` (ties: the lowest id).
    let emptiest = |replicas: &BTreeSet<NodeId>| {
        load.iter().filter(|(node, _)| !replicas.contains(node)).min_by_key(|(node, count)| (**count, **node))
    };
    let leaving = |node: &NodeId| records.get(node).is_some_and(|record| record.membership != Membership::Active);
    let moved = |range: &RangeView, remove: Option<NodeId>, add: Option<NodeId>, reason: String| {
        let mut replicas = range.replicas.clone();
        replicas.extend(add);
        if let Some(remove) = remove {
            replicas.remove(&remove);
        }
        Some(Decision::Move { range: range.id, start_key: range.start_key.clone(), replicas, reason })
    };
    for range in ranges {
        if let Some(gone) = range.replicas.iter().copied().find(leaving) {
            let add = emptiest(&range.replicas).map(|(node, _)| *node);
            if add.is_some() || range.replicas.len() > wanted {
                return moved(range, Some(gone), add, format!("node {gone} is leaving"));
            }
        }
    }
    for range in ranges {
        if range.replicas.len() < wanted {
            if let Some((add, _)) = emptiest(&range.replicas) {
                let reason = format!("it keeps {} of {wanted} replicas", range.replicas.len());
                return moved(range, None, Some(*add), reason);
            }
        }
        if range.replicas.len() > wanted {
            let fullest = range.replicas.iter().max_by_key(|node| (load.get(node).copied().unwrap_or(0), **node));
            return moved(range, fullest.copied(), None, format!("it keeps more than {wanted} replicas"));
        }
    }
    let fullest = load.iter().max_by_key(|(node, count)| (**count, std::cmp::Reverse(**node)));
    let least = load.iter().min_by_key(|(node, count)| (**count, **node));
    if let (Some((full, full_count)), Some((empty, empty_count))) = (fullest, least) {
        if *full_count >= empty_count + 2 {
            let candidate =
                ranges.iter().find(|range| range.replicas.contains(full) && !range.replicas.contains(empty));
            if let Some(range) = candidate {
                let reason = format!("node {full} holds {full_count} replicas and node {empty} {empty_count}");
                return moved(range, Some(*full), Some(*empty), reason);
            }
        }
    }
    let holding: BTreeSet<NodeId> = ranges.iter().flat_map(|range| range.replicas.iter().copied()).collect();
    records
        .iter()
        .find(|(node, record)| record.membership == Membership::Decommissioning && !holding.contains(node))
        .map(|(node, _)| Decision::Decommissioned(*node))
}

/// Carries out one decision.
pub async fn carry_out<T: NodeTransport, R: KvRuntime>(
    kv: &mut KvClient<T, R>,
    decision: Decision,
) -> Result<(), KvError> {
    match decision {
        Decision::Decommissioned(node) => registry::finish_decommission(kv, node).await,
        Decision::Move { start_key, replicas, .. } => {
            let command = RangeCommand::ChangeReplicas { key: Key(start_key), replicas };
            match kv.send(command).await {
                Ok(RangeResponse::Descriptor(_)) => Ok(()),
                Ok(other) => Err(KvError::Internal(format!("unexpected answer {other:?}"))),
                Err(error) => Err(KvError::Unavailable(format!("{error:?}"))),
            }
        }
    }
}

#[cfg(test)]
#[path = "rebalancer_tests.rs"]
mod tests;
