//! The rebalancer as this node runs it: the decisions are the core's
//! (`shardforge_core::placement::rebalancer`, which the simulator drives
//! too); this is where they meet gRPC. It runs on every node but acts only on
//! the leader of the meta range, so one node decides at a time: every round
//! it asks every node what replicas it holds, reads the node registry, and
//! carries out what the plan decides.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use shardforge_core::placement::rebalancer::{self, Decision, ReplicaReport, ROUND_INTERVAL_NANOS};
use shardforge_core::store::META_RANGE;
use shardforge_core::types::NodeId;
use shardforge_proto::node::RangeStatus;
use tokio::sync::watch;

use crate::kv::Kv;
use crate::registry;
use crate::services::Services;

/// Runs rounds until the node stops.
pub async fn run(services: Services, kv: Arc<Kv>, registry: Arc<registry::Registry>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_nanos(ROUND_INTERVAL_NANOS)) => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
        if let Err(error) = round(&services, &kv, &registry).await {
            tracing::debug!(%error, "rebalancer round");
        }
    }
}

fn report(range: RangeStatus) -> ReplicaReport {
    ReplicaReport {
        range: range.id,
        start_key: range.start_key,
        generation: range.generation,
        replicas: range.replicas.into_iter().map(NodeId).collect(),
    }
}

async fn round(services: &Services, kv: &Kv, registry: &registry::Registry) -> Result<(), String> {
    let me = services.peers.node();
    let local = services.local_status().await.map_err(|status| status.message().to_string())?;
    let leads_meta = local.ranges.iter().any(|range| range.id == META_RANGE.0 && range.leader == me.0);
    if !leads_meta {
        return Ok(());
    }
    let mut reports = BTreeMap::from([(me, local.ranges.into_iter().map(report).collect())]);
    for (node, _, remote) in services.other_statuses().await {
        reports.extend(remote.map(|remote| (node, remote.ranges.into_iter().map(report).collect())));
    }
    let live: BTreeSet<NodeId> = reports.keys().copied().collect();
    let records = registry.records();
    let Some(decision) = rebalancer::plan(&rebalancer::range_views(&reports), &records, &live) else {
        return Ok(());
    };
    match &decision {
        Decision::Decommissioned(node) => tracing::info!(%node, "the node holds no replicas any more: decommissioned"),
        Decision::Move { range, replicas, reason, .. } => tracing::info!(range, ?replicas, %reason, "moving replicas"),
    }
    rebalancer::carry_out(&mut *kv.client(), decision).await.map_err(|error| error.to_string())
}
