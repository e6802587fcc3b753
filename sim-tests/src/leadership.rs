//! Liveness probes of leadership, run at the end of a register seed with every
//! fault healed and the clients stopped. Safety checkers cannot see these two properties, because losing
//! them loses no data, only availability:
//!
//! - **check-quorum**: a leader cut off from every other node steps down within a
//!   few election timeouts (otherwise it keeps telling clients it leads, and
//!   lease-based reads would be stale);
//! - **pre-vote**: a follower cut off for as long cannot, on its return, depose
//!   the leader that kept its quorum (otherwise every flaky node costs the
//!   cluster an election).

use std::time::Duration;

use shardforge_core::raft::Role;
use shardforge_core::types::{NodeId, Term};
use shardforge_runtime_sim::cluster::SimCluster;
use shardforge_runtime_sim::program::Program;

use crate::recorder::Recorder;

/// Election timeouts a cut-off node is given to notice (or to campaign).
const CUT_OFF_ELECTION_TIMEOUTS: u32 = 4;
/// Election timeouts the healed cluster is given to settle.
const SETTLE_ELECTION_TIMEOUTS: u32 = 3;

/// Runs both probes; `election_timeout` is the longest a follower waits.
pub async fn probe_leadership<P: Program>(
    cluster: &mut SimCluster<P>,
    recorder: &Recorder,
    election_timeout: Duration,
) -> Result<(), String> {
    let nodes = cluster.node_ids();
    let settle = election_timeout * SETTLE_ELECTION_TIMEOUTS;
    let cut_off = election_timeout * CUT_OFF_ELECTION_TIMEOUTS;

    let (leader, term) = settled_leader(recorder, settle).await?;
    cluster.partition(&[vec![leader], others(&nodes, leader)]);
    madsim::time::sleep(cut_off).await;
    let still_leads = recorder.statuses().get(&leader).is_some_and(|status| status.role == Role::Leader);
    cluster.heal_network();
    if still_leads {
        return Err(format!(
            "check-quorum: {leader}, cut off from every other node for {cut_off:?}, still leads (it led term {term})"
        ));
    }

    let (leader, term) = settled_leader(recorder, settle).await?;
    let follower = others(&nodes, leader)[0];
    cluster.partition(&[vec![follower], others(&nodes, follower)]);
    madsim::time::sleep(cut_off).await;
    cluster.heal_network();
    madsim::time::sleep(settle).await;
    let newest_term = recorder.statuses().values().map(|status| status.term).max().unwrap_or_default();
    let leads = recorder.statuses().get(&leader).is_some_and(|status| status.role == Role::Leader);
    if newest_term != term || !leads {
        return Err(format!(
            "pre-vote: {follower}, back after {cut_off:?} cut off, disrupted {leader}'s leadership of term {term} \
             (newest term now {newest_term})"
        ));
    }
    Ok(())
}

fn others(nodes: &[NodeId], excluded: NodeId) -> Vec<NodeId> {
    nodes.iter().copied().filter(|node| *node != excluded).collect()
}

/// Waits `settle`, then for a leader whose term every node has reached.
async fn settled_leader(recorder: &Recorder, settle: Duration) -> Result<(NodeId, Term), String> {
    madsim::time::sleep(settle).await;
    let deadline = madsim::time::Instant::now() + settle * 3;
    loop {
        let statuses = recorder.statuses();
        let newest_term = statuses.values().map(|status| status.term).max().unwrap_or_default();
        let leader = statuses.values().find(|status| status.role == Role::Leader && status.term == newest_term);
        if let Some(leader) = leader {
            if statuses.values().all(|status| status.term == newest_term) {
                return Ok((leader.id, newest_term));
            }
        }
        if madsim::time::Instant::now() > deadline {
            return Err(format!("liveness: no settled leader {:?} after healing", settle * 4));
        }
        madsim::time::sleep(Duration::from_millis(10)).await;
    }
}
