//! Raft's safety properties, checked on every step of the swarm:
//! - **election safety**: at most one leader per term;
//! - **state machine safety**: every replica that applied (or restored a
//!   snapshot at) index `i` holds the same history up to `i`;
//! - **leader completeness**: a node that becomes leader holds, with the same
//!   term, every entry any replica has applied (entries applied are committed,
//!   and a committed entry is in the log of every later leader) — compared
//!   entry by entry, not by length;
//! - **snapshots**: a snapshot lists the configuration committed at its index,
//!   and right after persisting one the disk holds the node's log (last index
//!   and configuration in force) — recovery through the production decoder;
//! - **vote durability**: a node never holds two votes in one term, across
//!   restarts; and its term never goes back.
//!
//! The first violation is kept; the run stops there.

use std::collections::BTreeMap;

use shardforge_core::raft::{EntryPayload, RaftNode, RecoveredState, Role, Snapshot};
use shardforge_core::types::{LogIndex, NodeId, Term};

use super::machine::Machine;

/// What the swarm has seen so far, and the first violation.
#[derive(Debug, Default)]
pub struct Invariants {
    leaders: BTreeMap<Term, NodeId>,
    /// For each index applied anywhere: its term and the history digest there.
    applied: BTreeMap<LogIndex, (Term, u64)>,
    votes: BTreeMap<(NodeId, Term), NodeId>,
    terms: BTreeMap<NodeId, Term>,
    pub violation: Option<String>,
    /// Snapshots loaded (installed from a leader, or read back at a restart).
    pub snapshots_restored: usize,
}

impl Invariants {
    fn fail(&mut self, violation: String) {
        self.violation.get_or_insert(violation);
    }

    pub fn applied_index_max(&self) -> LogIndex {
        self.applied.keys().next_back().copied().unwrap_or(LogIndex(0))
    }

    /// The term of the entry applied at `index`, if any replica applied it.
    pub fn applied_term(&self, index: LogIndex) -> Option<Term> {
        self.applied.get(&index).map(|(term, _)| *term)
    }

    pub fn elections(&self) -> usize {
        self.leaders.len()
    }

    /// Node `id` applied the entry at `index` of `term`.
    pub fn applied(&mut self, id: NodeId, index: LogIndex, term: Term, machine: &Machine) {
        let digest = machine.digest_at(index);
        match self.applied.get(&index) {
            None => {
                self.applied.insert(index, (term, digest));
            }
            Some(&(first_term, first_digest)) if (first_term, first_digest) != (term, digest) => self.fail(format!(
                "state machine safety: {id} applied i{}@t{} but another replica applied i{}@t{} \
                 (or a different history before it)",
                index.0, term.0, index.0, first_term.0
            )),
            Some(_) => {}
        }
    }

    /// Node `id` loaded a snapshot (from the leader, or its own disk at a restart).
    pub fn restored(&mut self, id: NodeId, snapshot: &Snapshot, machine: &Machine) {
        let index = snapshot.metadata.index;
        if index == LogIndex(0) {
            return;
        }
        self.snapshots_restored += 1;
        if let Some(&(_, digest)) = self.applied.get(&index) {
            if digest != machine.digest_at(index) {
                self.fail(format!(
                    "state machine safety: {id} restored a snapshot at i{} holding another history",
                    index.0
                ));
            }
        }
        self.check_snapshot_configuration(id, snapshot, machine);
    }

    /// Node `id` compacted its log into `snapshot`.
    pub fn compacted(&mut self, id: NodeId, snapshot: &Snapshot, machine: &Machine) {
        self.check_snapshot_configuration(id, snapshot, machine);
    }

    /// A snapshot's metadata must list the configuration committed at its index:
    /// the one its data's history ends with.
    fn check_snapshot_configuration(&mut self, id: NodeId, snapshot: &Snapshot, machine: &Machine) {
        let index = snapshot.metadata.index;
        let committed = machine.configuration_at(index);
        if snapshot.metadata.configuration != *committed {
            self.fail(format!(
                "snapshot configuration: {id}'s snapshot at i{} lists voters {:?}, but {:?} was committed there",
                index.0, snapshot.metadata.configuration.voters, committed.voters
            ));
        }
    }

    /// Right after persisting a snapshot, what the disk holds must be what the node
    /// holds: the same last index and the same configuration in force.
    pub fn disk_matches(&mut self, node: &RaftNode, recovered: RecoveredState) {
        let status = node.status();
        let last_index = LogIndex(recovered.snapshot.metadata.index.0 + recovered.entries.len() as u64);
        let newest = recovered.entries.iter().rev().find_map(|entry| match &entry.payload {
            EntryPayload::Configuration(configuration) => Some(configuration),
            _ => None,
        });
        let configuration = newest.unwrap_or(&recovered.snapshot.metadata.configuration);
        if last_index != status.last_index || *configuration != status.configuration {
            self.fail(format!(
                "persistence: {}'s disk holds a log to i{} with voters {:?}, but the node's log ends at i{} with voters {:?}",
                status.id,
                last_index.0,
                configuration.voters,
                status.last_index.0,
                status.configuration.voters
            ));
        }
    }

    /// Node `id` finished an input: check its role, term and vote, and its log if
    /// it has just become leader. `log` reads the log from its disk (index of the
    /// snapshot, then the term of each entry after it). Returns whether the node
    /// has just become the leader of its term.
    pub fn observe(&mut self, node: &RaftNode, log: impl FnOnce() -> (LogIndex, Vec<Term>)) -> bool {
        let (id, term) = (node.id(), node.term());
        let newest = self.terms.get(&id).copied().unwrap_or(term);
        if term < newest {
            self.fail(format!("vote durability: {id} is back in t{} after reaching t{}", term.0, newest.0));
        }
        self.terms.insert(id, newest.max(term));
        let vote = node.status().vote;
        match (self.votes.get(&(id, term)), vote) {
            (Some(&held), Some(now)) if held != now => {
                self.fail(format!("vote durability: {id} voted for {held} and then {now} in t{}", term.0))
            }
            (Some(&held), None) => {
                self.fail(format!("vote durability: {id} voted for {held} in t{} and forgot", term.0))
            }
            (None, Some(now)) => {
                self.votes.insert((id, term), now);
            }
            _ => {}
        }
        if node.role() != Role::Leader {
            return false;
        }
        match self.leaders.get(&term) {
            Some(&leader) if leader != id => {
                self.fail(format!("election safety: {leader} and {id} both lead t{}", term.0));
                false
            }
            Some(_) => false,
            None => {
                self.leaders.insert(term, id);
                self.check_completeness(id, term, log());
                true
            }
        }
    }

    fn check_completeness(&mut self, id: NodeId, term: Term, (snapshot_index, terms): (LogIndex, Vec<Term>)) {
        let missing = self.applied.range(snapshot_index.next()..).find(|(index, (applied_term, _))| {
            let held = terms.get((index.0 - snapshot_index.0 - 1) as usize);
            held != Some(applied_term)
        });
        if let Some((index, (applied_term, _))) = missing {
            let held = terms.get((index.0 - snapshot_index.0 - 1) as usize);
            let held = held.map_or("nothing".to_string(), |held| format!("t{}", held.0));
            self.fail(format!(
                "leader completeness: {id} leads t{} holding {held} at i{}, where i{}@t{} was applied (committed)",
                term.0, index.0, index.0, applied_term.0
            ));
        }
    }
}
