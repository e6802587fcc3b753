//! The rebalancer: decides where ranges keep their replicas, and moves them.
//!
//! It runs on every node but acts only on the leader of the meta range, so
//! one node decides at a time. Every [`ROUND_INTERVAL`] it asks every node
//! what replicas it holds, reads the node registry, and makes at most one move,
//! in this order of urgency:
//! 1. a replica on a node that is leaving (decommissioning) goes to the active
//!    node with the fewest replicas;
//! 2. a range with fewer replicas than it should keep (3, or every active node
//!    when fewer are active) gains one, and one with more loses one;
//! 3. when one active node holds at least two replicas more than another, a
//!    range moves from the fuller to the emptier;
//! 4. a leaving node that holds no replica any more is marked decommissioned.
//!
//! A move is a `ChangeReplicas` command on the range: its descriptor names the
//! new replicas, and the range's leader then changes the Raft group to match,
//! adding the new voter (which receives a snapshot) before removing the old
//! one (see `shardforge_core::store`). The command carries the descriptor's
//! generation, so a decision made on a stale view is refused by the range.
//!
//! No move starts while an earlier one is unfinished: every live node a
//! range's newest descriptor names must report the range at that generation
//! (it has the snapshot). Moves therefore go one at a time and never take
//! more than one replica of a range away from a quorum that holds the data.
//! A node that does not answer is not a target; its replicas are not replaced
//! (a dead node's replicas stay until it returns or is decommissioned).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use shardforge_core::keys::Key;
use shardforge_core::range::{RangeCommand, RangeResponse};
use shardforge_core::store::META_RANGE;
use shardforge_core::types::NodeId;
use shardforge_proto::node::RangeStatus;
use tokio::sync::watch;

use crate::kv::Kv;
use crate::registry::{self, Membership, Records, REPLICATION_FACTOR};
use crate::services::Services;

/// Time between two rounds of the rebalancer.
pub const ROUND_INTERVAL: Duration = Duration::from_millis(1000);

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
pub fn range_views(reports: &BTreeMap<NodeId, Vec<RangeStatus>>) -> Vec<RangeView> {
    let mut newest: BTreeMap<u64, &RangeStatus> = BTreeMap::new();
    for range in reports.values().flatten() {
        let entry = newest.entry(range.id).or_insert(range);
        if range.generation > entry.generation {
            *entry = range;
        }
    }
    newest
        .into_values()
        .map(|range| {
            let replicas: BTreeSet<NodeId> = range.replicas.iter().copied().map(NodeId).collect();
            let settled = replicas.iter().all(|node| match reports.get(node) {
                None => true,
                Some(held) => held.iter().any(|held| held.id == range.id && held.generation == range.generation),
            });
            RangeView {
                id: range.id,
                start_key: range.start_key.clone(),
                generation: range.generation,
                replicas,
                settled,
            }
        })
        .collect()
}

/// One round's decision over `ranges`, the registry, and the nodes that answered.
pub fn plan(ranges: &[RangeView], records: &Records, live: &BTreeSet<NodeId>) -> Option<Decision> {
    if ranges.iter().any(|range| !range.settled) {
        return None;
    }
    let active_records = records.values().filter(|record| record.membership == Membership::Active).count();
    let wanted = active_records.clamp(1, REPLICATION_FACTOR);
    let targets: BTreeSet<NodeId> = records
        .iter()
        .filter(|(node, record)| record.membership == Membership::Active && live.contains(node))
        .map(|(node, _)| *node)
        .collect();
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
                return moved(
                    range,
                    None,
                    Some(*add),
                    format!("it keeps {} of {wanted} replicas", range.replicas.len()),
                );
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

/// Runs rounds until the node stops.
pub async fn run(services: Services, kv: Arc<Kv>, registry: Arc<registry::Registry>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(ROUND_INTERVAL) => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
        if let Err(error) = round(&services, &kv, &registry).await {
            tracing::debug!(%error, "rebalancer round");
        }
    }
}

async fn round(services: &Services, kv: &Kv, registry: &registry::Registry) -> Result<(), String> {
    let me = services.peers.node();
    let local = services.local_status().await.map_err(|status| status.message().to_string())?;
    let leads_meta = local.ranges.iter().any(|range| range.id == META_RANGE.0 && range.leader == me.0);
    if !leads_meta {
        return Ok(());
    }
    let mut reports = BTreeMap::from([(me, local.ranges)]);
    for (node, _, remote) in services.other_statuses().await {
        reports.extend(remote.map(|remote| (node, remote.ranges)));
    }
    let live: BTreeSet<NodeId> = reports.keys().copied().collect();
    let records = registry.records();
    match plan(&range_views(&reports), &records, &live) {
        None => Ok(()),
        Some(Decision::Decommissioned(node)) => {
            registry::finish_decommission(kv, node).await.map_err(|error| error.to_string())?;
            tracing::info!(%node, "the node holds no replicas any more: decommissioned");
            Ok(())
        }
        Some(Decision::Move { range, start_key, replicas, reason }) => {
            tracing::info!(range, ?replicas, %reason, "moving replicas");
            let command = RangeCommand::ChangeReplicas { key: Key(start_key), replicas };
            match kv.send(command).await {
                Ok(RangeResponse::Descriptor(_)) => Ok(()),
                Ok(other) => Err(format!("unexpected answer {other:?}")),
                Err(error) => Err(format!("{error:?}")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::NodeRecord;

    fn records(memberships: &[Membership]) -> Records {
        memberships
            .iter()
            .enumerate()
            .map(|(index, membership)| {
                let address = format!("127.0.0.1:{}", 7000 + index).parse().unwrap();
                (NodeId(index as u64 + 1), NodeRecord { address, membership: *membership, token: 0 })
            })
            .collect()
    }

    fn range(id: u64, replicas: &[u64]) -> RangeView {
        RangeView {
            id,
            start_key: vec![id as u8],
            generation: 1,
            replicas: replicas.iter().copied().map(NodeId).collect(),
            settled: true,
        }
    }

    fn nodes(ids: &[u64]) -> BTreeSet<NodeId> {
        ids.iter().copied().map(NodeId).collect()
    }

    fn moved(decision: Option<Decision>) -> (u64, BTreeSet<NodeId>) {
        match decision {
            Some(Decision::Move { range, replicas, .. }) => (range, replicas),
            other => panic!("expected a move, got {other:?}"),
        }
    }

    #[test]
    fn a_new_node_receives_replicas_until_loads_differ_by_at_most_one() {
        let records = records(&[Membership::Active; 4]);
        let live = nodes(&[1, 2, 3, 4]);
        let mut ranges: Vec<RangeView> = (1..=4).map(|id| range(id, &[1, 2, 3])).collect();
        let mut moves = 0;
        while let Some(decision) = plan(&ranges, &records, &live) {
            let (id, replicas) = moved(Some(decision));
            assert_eq!(replicas.len(), 3, "a move keeps three replicas");
            ranges.iter_mut().find(|range| range.id == id).unwrap().replicas = replicas;
            moves += 1;
            assert!(moves <= 10, "the rebalancer does not converge: {ranges:?}");
        }
        let on_four = ranges.iter().filter(|range| range.replicas.contains(&NodeId(4))).count();
        assert_eq!(on_four, 3, "12 replicas over 4 nodes: 3 each ({ranges:?})");
    }

    #[test]
    fn a_leaving_node_is_emptied_then_marked_decommissioned() {
        let mut records = records(&[Membership::Active; 4]);
        records.get_mut(&NodeId(2)).unwrap().membership = Membership::Decommissioning;
        let live = nodes(&[1, 2, 3, 4]);
        let mut ranges = vec![range(1, &[1, 2, 3]), range(2, &[2, 3, 4]), range(3, &[1, 3, 4])];
        loop {
            match plan(&ranges, &records, &live) {
                Some(Decision::Move { range: id, replicas, .. }) => {
                    ranges.iter_mut().find(|range| range.id == id).unwrap().replicas = replicas
                }
                Some(Decision::Decommissioned(node)) => {
                    assert_eq!(node, NodeId(2));
                    break;
                }
                None => panic!("stuck with {ranges:?}"),
            }
        }
        assert!(ranges.iter().all(|range| range.replicas == nodes(&[1, 3, 4])), "{ranges:?}");
    }

    #[test]
    fn no_move_while_one_is_unfinished_and_none_onto_a_silent_node() {
        let records = records(&[Membership::Active; 4]);
        let mut ranges = vec![range(1, &[1, 2, 3]), range(2, &[1, 2, 3])];
        ranges[1].settled = false;
        assert_eq!(plan(&ranges, &records, &nodes(&[1, 2, 3, 4])), None);
        ranges[1].settled = true;
        // Node 4 holds nothing but does not answer: no target.
        assert_eq!(plan(&ranges, &records, &nodes(&[1, 2, 3])), None);
    }

    #[test]
    fn a_range_below_its_replica_count_gains_one_as_nodes_join() {
        let records = records(&[Membership::Active; 2]);
        let (id, replicas) = moved(plan(&[range(1, &[1])], &records, &nodes(&[1, 2])));
        assert_eq!((id, replicas), (1, nodes(&[1, 2])));
    }

    #[test]
    fn views_take_the_newest_descriptor_and_see_a_replica_still_waiting_for_its_snapshot() {
        let status = |node: u64, generation: u64, replicas: &[u64]| RangeStatus {
            id: 7,
            generation,
            replicas: replicas.to_vec(),
            start_key: b"k".to_vec(),
            leader: node,
            ..RangeStatus::default()
        };
        let mut reports = BTreeMap::from([
            (NodeId(1), vec![status(1, 2, &[1, 2, 4])]),
            (NodeId(2), vec![status(2, 2, &[1, 2, 4])]),
            (NodeId(3), vec![status(3, 1, &[1, 2, 3])]),
            (NodeId(4), vec![]),
        ]);
        let views = range_views(&reports);
        assert_eq!(views.len(), 1);
        assert_eq!((views[0].generation, views[0].replicas.clone(), views[0].settled), (2, nodes(&[1, 2, 4]), false));
        reports.insert(NodeId(4), vec![status(4, 2, &[1, 2, 4])]);
        assert!(range_views(&reports)[0].settled);
    }
}
