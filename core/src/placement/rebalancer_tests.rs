//! The rebalancer's plan on hand-made cluster states.

use super::*;
use crate::placement::registry::NodeRecord;

fn records(memberships: &[Membership]) -> Records {
    memberships
        .iter()
        .enumerate()
        .map(|(index, membership)| {
            let address = format!("127.0.0.1:{}", 7000 + index);
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
    let status = |generation: u64, replicas: &[u64]| ReplicaReport {
        range: 7,
        start_key: b"k".to_vec(),
        generation,
        replicas: nodes(replicas),
    };
    let mut reports = BTreeMap::from([
        (NodeId(1), vec![status(2, &[1, 2, 4])]),
        (NodeId(2), vec![status(2, &[1, 2, 4])]),
        (NodeId(3), vec![status(1, &[1, 2, 3])]),
        (NodeId(4), vec![]),
    ]);
    let views = range_views(&reports);
    assert_eq!(views.len(), 1);
    assert_eq!((views[0].generation, views[0].replicas.clone(), views[0].settled), (2, nodes(&[1, 2, 4]), false));
    reports.insert(NodeId(4), vec![status(2, &[1, 2, 4])]);
    assert!(range_views(&reports)[0].settled);
}

#[test]
fn no_move_while_the_registry_does_not_know_a_node_holding_a_replica() {
    // Only node 1 has registered yet: one active node would mean one replica.
    let ranges = vec![range(1, &[1, 2, 3])];
    assert_eq!(plan(&ranges, &records(&[Membership::Active]), &nodes(&[1, 2, 3])), None);
    assert_eq!(plan(&ranges, &Records::new(), &nodes(&[1, 2, 3])), None);
    assert_eq!(plan(&ranges, &records(&[Membership::Active; 3]), &nodes(&[1, 2, 3])), None);
}
