//! A simulated cluster: nodes on madsim with their disks, clocks and the shared
//! network faults, and the operations the nemesis performs on them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use madsim::net::NetSim;
use madsim::runtime::{Handle, NodeHandle};
use shardforge_core::types::NodeId;

use crate::clock::SkewedClock;
use crate::disk::SimDisk;
use crate::driver::{run_node, NodeSetup, StatusBoard};
use crate::network::{self, NetworkFaults};
use crate::observer::Observer;
use crate::program::Program;

/// How to build the cluster.
#[derive(Clone, Debug)]
pub struct ClusterConfig<S> {
    pub node_count: u64,
    /// The program's settings for every node; the id and random seed are filled
    /// in per node and start.
    pub program: S,
    pub sync_latency: Duration,
}

struct SimNode<P: Program> {
    handle: NodeHandle,
    setup: Arc<NodeSetup<P>>,
    alive: bool,
    paused: bool,
    /// Killed for good ([`SimCluster::retire`]): never restarted.
    retired: bool,
}

/// The running cluster and its fault controls.
pub struct SimCluster<P: Program> {
    nodes: BTreeMap<NodeId, SimNode<P>>,
    faults: NetworkFaults,
    cut_links: BTreeSet<(NodeId, NodeId)>,
    statuses: StatusBoard,
}

impl<P: Program> SimCluster<P> {
    /// Starts `node_count` nodes with ids 1..=n, all initial voters.
    pub fn start(config: &ClusterConfig<P::Settings>, observer: Arc<dyn Observer>) -> Self {
        let faults = NetworkFaults::default();
        let voters: Vec<NodeId> = (1..=config.node_count).map(NodeId).collect();
        let origin = madsim::time::Instant::now();
        let statuses = StatusBoard::default();
        let mut nodes = BTreeMap::new();
        for id in voters.iter().copied() {
            let disk = SimDisk::new();
            P::bootstrap(&mut disk.lock(), id, &voters);
            let setup = Arc::new(NodeSetup {
                id,
                settings: config.program.clone(),
                disk,
                clock: SkewedClock::new(origin),
                faults: faults.clone(),
                observer: Arc::clone(&observer),
                sync_latency: config.sync_latency,
                statuses: Arc::clone(&statuses),
                snapshot_steps: Default::default(),
                power_switch: Default::default(),
            });
            let init_setup = Arc::clone(&setup);
            let handle = Handle::current()
                .create_node()
                .name(id.to_string())
                .ip(network::node_ip(id))
                .init(move || run_node(Arc::clone(&init_setup)))
                .build();
            nodes.insert(id, SimNode { handle, setup, alive: true, paused: false, retired: false });
        }
        SimCluster { nodes, faults, cut_links: BTreeSet::new(), statuses }
    }

    /// How many snapshot chunks each node staged and snapshots it installed so far.
    pub fn snapshot_steps(&self) -> BTreeMap<NodeId, u64> {
        let steps = |node: &SimNode<P>| node.setup.snapshot_steps.load(std::sync::atomic::Ordering::Relaxed);
        self.nodes.iter().map(|(id, node)| (*id, steps(node))).collect()
    }

    /// The live, unpaused node that last reported itself leader of the highest term.
    pub fn leader(&self) -> Option<(NodeId, shardforge_core::types::Term)> {
        self.highest_term_in(shardforge_core::raft::Role::Leader)
    }

    /// A live, unpaused node campaigning (as a candidate, past pre-vote), with its term.
    pub fn candidate(&self) -> Option<(NodeId, shardforge_core::types::Term)> {
        self.highest_term_in(shardforge_core::raft::Role::Candidate)
    }

    /// The live, unpaused node that last reported `role` in the highest term.
    fn highest_term_in(&self, role: shardforge_core::raft::Role) -> Option<(NodeId, shardforge_core::types::Term)> {
        let statuses = self.statuses.lock().expect("status board lock");
        statuses
            .iter()
            .filter(|(id, status)| status.role == role && self.is_alive(**id) && !self.is_paused(**id))
            .map(|(id, status)| (*id, status.term))
            .max_by_key(|(_, term)| *term)
    }

    /// Whether `node` is a voter in the configuration of the leader of the
    /// highest term (as last reported); false when there is no leader.
    pub fn leader_has_voter(&self, node: NodeId) -> bool {
        let statuses = self.statuses.lock().expect("status board lock");
        let leader = statuses
            .values()
            .filter(|status| status.role == shardforge_core::raft::Role::Leader)
            .max_by_key(|status| status.term);
        leader.is_some_and(|status| status.configuration.voters.contains(&node))
    }

    pub fn node_ids(&self) -> Vec<NodeId> {
        self.nodes.keys().copied().collect()
    }

    /// The switch that cuts `id`'s power after an acknowledgement.
    pub fn power_switch(&self, id: NodeId) -> &crate::driver::PowerSwitch {
        &self.nodes[&id].setup.power_switch
    }

    pub fn faults(&self) -> &NetworkFaults {
        &self.faults
    }

    pub fn clock(&self, id: NodeId) -> &SkewedClock {
        &self.nodes[&id].setup.clock
    }

    pub fn is_alive(&self, id: NodeId) -> bool {
        self.nodes[&id].alive
    }

    pub fn is_paused(&self, id: NodeId) -> bool {
        self.nodes[&id].paused
    }

    /// Kills the node's process and loses power on its disk, keeping the prefix
    /// of unsynced writes `choose_kept` picks. Returns (kept, lost) batches.
    pub fn crash(&mut self, id: NodeId, choose_kept: impl FnOnce(usize) -> usize) -> (usize, usize) {
        let node = self.nodes.get_mut(&id).expect("known node");
        Handle::current().kill(node.handle.id());
        node.alive = false;
        node.paused = false;
        node.setup.disk.crash(choose_kept)
    }

    /// Kills the node for good, as a machine that died: it never restarts.
    pub fn retire(&mut self, id: NodeId) {
        self.resume(id);
        if self.is_alive(id) {
            self.crash(id, |_| 0);
        }
        self.nodes.get_mut(&id).expect("known node").retired = true;
    }

    pub fn is_retired(&self, id: NodeId) -> bool {
        self.nodes[&id].retired
    }

    /// Starts a crashed node again from its disk.
    pub fn restart(&mut self, id: NodeId) {
        let node = self.nodes.get_mut(&id).expect("known node");
        assert!(!node.alive, "restarting a live node");
        assert!(!node.retired, "restarting a retired node");
        Handle::current().restart(node.handle.id());
        node.alive = true;
    }

    pub fn pause(&mut self, id: NodeId) {
        let node = self.nodes.get_mut(&id).expect("known node");
        if node.alive && !node.paused {
            Handle::current().pause(node.handle.id());
            node.paused = true;
        }
    }

    pub fn resume(&mut self, id: NodeId) {
        let node = self.nodes.get_mut(&id).expect("known node");
        if node.paused {
            Handle::current().resume(node.handle.id());
            node.paused = false;
        }
    }

    /// Kills every node for good, at the end of a run: madsim does not drop the
    /// tasks still pending when a runtime ends, so a node left running would
    /// keep its memory (disk included) for the rest of the process.
    /// Every node's disk, by node id (for checks of what the nodes left there).
    pub fn disks(&self) -> impl Iterator<Item = (NodeId, &crate::disk::SimDisk)> {
        self.nodes.iter().map(|(id, node)| (*id, &node.setup.disk))
    }

    pub fn shut_down(&mut self) {
        for node in self.nodes.values_mut() {
            Handle::current().kill(node.handle.id());
            node.alive = false;
            node.paused = false;
        }
    }

    /// Cuts the one-way link `from -> to`.
    pub fn cut_link(&mut self, from: NodeId, to: NodeId) {
        NetSim::current().clog_link(self.nodes[&from].handle.id(), self.nodes[&to].handle.id());
        self.cut_links.insert((from, to));
    }

    /// Cuts every link between the groups (both ways); links within a group stay.
    pub fn partition(&mut self, groups: &[Vec<NodeId>]) {
        for (position, group) in groups.iter().enumerate() {
            for other in groups.iter().skip(position + 1) {
                for a in group {
                    for b in other {
                        self.cut_link(*a, *b);
                        self.cut_link(*b, *a);
                    }
                }
            }
        }
    }

    /// Restores every cut link.
    pub fn heal_network(&mut self) {
        for (from, to) in std::mem::take(&mut self.cut_links) {
            NetSim::current().unclog_link(self.nodes[&from].handle.id(), self.nodes[&to].handle.id());
        }
    }

    pub fn cut_link_count(&self) -> usize {
        self.cut_links.len()
    }
}
