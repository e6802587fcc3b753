//! One Raft group in memory, driven input by input: every member is a
//! [`RaftNode`] over its own [`MemoryEngine`], persisted with the production
//! code (`raft::persistence`), so a crash loses exactly the batches that were
//! not synced and a restart recovers through the same decoder as a real node.
//!
//! The network is one bag of messages in flight: the driver delivers any of
//! them next (so messages reorder freely), drops or duplicates them, and cuts
//! links; a message over a cut link, or to a crashed node, is lost on delivery.
//! After every input the member's `Ready` is drained at once in the documented
//! order (persist, sync when asked, send, apply, advance), and the
//! [`Invariants`] see what it applied and what it became.

use std::collections::BTreeSet;

use shardforge_core::raft::persistence::{self, GroupKeys};
use shardforge_core::raft::{AppendResult, Message, MessageBody, RaftConfig, RaftNode, Role};
use shardforge_core::storage::{Engine, MemoryEngine};
use shardforge_core::types::{LogIndex, NodeId, Term};

use super::invariants::Invariants;
use super::machine::Machine;

/// Ready batches drained after one input before the group calls it a livelock.
const READY_BATCHES_MAX: usize = 100;

/// One member: its node while running, its disk, its state machine.
pub struct Member {
    pub config: RaftConfig,
    pub node: Option<RaftNode>,
    engine: MemoryEngine,
    machine: Machine,
}

/// A moment at which the scheduler may strike (crash the node, or have a new
/// leader change the membership at once): the worst moments for a bug to hide in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Moment {
    BecameLeader(NodeId),
    RestoredSnapshot(NodeId),
    Voted(NodeId),
    Acknowledged(NodeId),
}

/// The members, the messages in flight and the cut links.
pub struct Group {
    pub members: Vec<Member>,
    pub in_flight: Vec<Message>,
    /// Moments since the scheduler last took them, in order.
    pub moments: Vec<Moment>,
    cut_links: BTreeSet<(NodeId, NodeId)>,
    keys: GroupKeys,
}

impl Group {
    /// Members `1..=pool`; the first `voters` start as the group's voters, the
    /// others as nodes waiting to be added (no configuration, like a joining node).
    pub fn new(pool: u64, voters: u64, template: &RaftConfig, seed: u64) -> Group {
        let keys = GroupKeys::new(1);
        let initial: Vec<NodeId> = (1..=voters).map(NodeId).collect();
        let members = (1..=pool)
            .map(|id| {
                let mut engine = MemoryEngine::new();
                if id <= voters {
                    persistence::bootstrap(&mut engine, &keys, &initial).expect("memory engine never fails");
                }
                let config = RaftConfig { id: NodeId(id), random_seed: seed.wrapping_add(id), ..template.clone() };
                let recovered = persistence::recover(&engine, &keys).expect("bootstrapped state decodes");
                let machine = Machine::from_snapshot(&recovered.snapshot);
                let node = RaftNode::new(config.clone(), recovered);
                Member { config, node: Some(node), engine, machine }
            })
            .collect();
        Group { members, in_flight: Vec::new(), moments: Vec::new(), cut_links: BTreeSet::new(), keys }
    }

    pub fn ids(&self) -> Vec<NodeId> {
        self.members.iter().map(|member| member.config.id).collect()
    }

    fn member(&mut self, id: NodeId) -> &mut Member {
        &mut self.members[(id.0 - 1) as usize]
    }

    pub fn node(&self, id: NodeId) -> Option<&RaftNode> {
        self.members[(id.0 - 1) as usize].node.as_ref()
    }

    pub fn running(&self) -> Vec<NodeId> {
        self.members.iter().filter(|member| member.node.is_some()).map(|member| member.config.id).collect()
    }

    pub fn crashed(&self) -> Vec<NodeId> {
        self.members.iter().filter(|member| member.node.is_none()).map(|member| member.config.id).collect()
    }

    pub fn leaders(&self) -> Vec<NodeId> {
        let leads = |node: &RaftNode| node.role() == Role::Leader;
        self.members.iter().filter(|member| member.node.as_ref().is_some_and(leads)).map(|m| m.config.id).collect()
    }

    /// Runs `input` on running node `id`, then drains its ready work. None when crashed.
    pub fn act<T>(
        &mut self,
        id: NodeId,
        invariants: &mut Invariants,
        input: impl FnOnce(&mut RaftNode) -> T,
    ) -> Option<T> {
        let node = self.member(id).node.as_mut()?;
        let result = input(node);
        self.process_ready(id, invariants);
        Some(result)
    }

    /// Drains the ready work of node `id` following the runtime contract.
    fn process_ready(&mut self, id: NodeId, invariants: &mut Invariants) {
        let keys = self.keys.clone();
        let index = (id.0 - 1) as usize;
        for _ in 0..READY_BATCHES_MAX {
            let member = &mut self.members[index];
            let node = member.node.as_mut().expect("running");
            if !node.has_ready() {
                let engine = &member.engine;
                if invariants.observe(node, || log_terms(engine, &keys)) {
                    self.moments.push(Moment::BecameLeader(id));
                }
                return;
            }
            let ready = node.ready();
            persistence::write(&mut member.engine, &keys, &ready).expect("memory engine never fails");
            if ready.sync {
                member.engine.sync().expect("memory engine never fails");
            }
            if let Some(persisted) = &ready.snapshot {
                if persisted.restore {
                    member.machine = Machine::from_snapshot(&persisted.snapshot);
                    invariants.restored(id, &persisted.snapshot, &member.machine);
                    self.moments.push(Moment::RestoredSnapshot(id));
                } else {
                    invariants.compacted(id, &persisted.snapshot, &member.machine);
                }
            }
            for entry in &ready.committed_entries {
                member.machine.apply(entry);
                invariants.applied(id, entry.index, entry.term, &member.machine);
            }
            let node = member.node.as_mut().expect("running");
            node.advance(&ready);
            if ready.snapshot.is_some() {
                let recovered = persistence::recover(&member.engine, &keys).expect("raft state decodes");
                invariants.disk_matches(node, recovered);
            }
            for message in &ready.messages {
                match message.body {
                    MessageBody::VoteResponse { granted: true } => self.moments.push(Moment::Voted(id)),
                    MessageBody::AppendResponse { result: AppendResult::Accepted { .. } } => {
                        self.moments.push(Moment::Acknowledged(id))
                    }
                    _ => {}
                }
            }
            self.in_flight.extend(ready.messages);
        }
        panic!("{id} still has ready work after {READY_BATCHES_MAX} batches");
    }

    /// Delivers message `position` of the bag (kept there when `duplicate`).
    pub fn deliver(&mut self, position: usize, duplicate: bool, invariants: &mut Invariants) {
        let message = if duplicate { self.in_flight[position].clone() } else { self.in_flight.swap_remove(position) };
        if self.cut_links.contains(&(message.from, message.to)) {
            return;
        }
        let to = message.to;
        self.act(to, invariants, |node| node.handle_message(message));
    }

    /// Cuts every link between `side` and the rest; replaces any earlier cut.
    pub fn partition(&mut self, side: &BTreeSet<NodeId>) {
        self.cut_links.clear();
        for a in self.ids() {
            for b in self.ids() {
                if side.contains(&a) != side.contains(&b) {
                    self.cut_links.insert((a, b));
                }
            }
        }
    }

    pub fn heal(&mut self) {
        self.cut_links.clear();
    }

    /// Loses power on node `id`: its disk keeps what was synced plus the first
    /// `kept_batches` unsynced batches; everything in memory is gone.
    pub fn crash(&mut self, id: NodeId, kept_batches: usize) {
        let member = self.member(id);
        member.node = None;
        member.machine = Machine::default();
        member.engine.crash(kept_batches);
    }

    pub fn unsynced_batches(&self, id: NodeId) -> usize {
        self.members[(id.0 - 1) as usize].engine.unsynced_batches()
    }

    /// Rebuilds node `id` from its disk with the production recovery code.
    pub fn restart(&mut self, id: NodeId, invariants: &mut Invariants) {
        let keys = self.keys.clone();
        let member = self.member(id);
        assert!(member.node.is_none(), "{id} is running");
        let recovered = persistence::recover(&member.engine, &keys).expect("raft state decodes after a crash");
        member.machine = Machine::from_snapshot(&recovered.snapshot);
        invariants.restored(id, &recovered.snapshot, &member.machine);
        member.node = Some(RaftNode::new(member.config.clone(), recovered));
        self.process_ready(id, invariants);
    }

    /// Compacts node `id`'s log up to `index` (applied) into a snapshot of its machine.
    pub fn compact(&mut self, id: NodeId, index: LogIndex, invariants: &mut Invariants) {
        let member = self.member(id);
        let node = member.node.as_ref().expect("running");
        assert!(index > node.snapshot_index() && index <= node.applied_index(), "compaction beyond what is applied");
        let data = member.machine.encode_at(index);
        self.act(id, invariants, |node| node.compact(index, data));
    }
}

/// The log as a node's disk holds it now (synced or not): the snapshot's
/// index, and the term of every entry after it.
fn log_terms(engine: &MemoryEngine, keys: &GroupKeys) -> (LogIndex, Vec<Term>) {
    let recovered = persistence::recover(engine, keys).expect("raft state decodes");
    (recovered.snapshot.metadata.index, recovered.entries.iter().map(|entry| entry.term).collect())
}
