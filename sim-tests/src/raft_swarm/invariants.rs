//! Raft's safety properties, checked on every step of the swarm:
//! - **election safety**: at most one leader per term;
//! - **state machine safety**: every replica that applied (or restored a
//!   snapshot at) index `i` holds the same history up to `i`;
//! - **leader completeness**: a node that becomes leader holds, with the same
//!   term, every entry any replica has applied (entries applied are committed,
//!   and a committed entry is in the log of every later leader) — compared
//!   entry by entry, not by length;
//! - **vote durability**: a node never holds two votes in one term, across
//!   restarts; and its term never goes back.
//!
//! The first violation is kept; the run stops there.

use std::collections::BTreeMap;

use shardforge_core::raft::{RaftNode, Role};
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
    /// Leaders whose logs were compared entry by entry (a check that ran).
    pub leaders_checked: usize,
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

    /// Node `id` loaded a snapshot at `index` (from the leader, or its own disk).
    pub fn restored(&mut self, id: NodeId, index: LogIndex, machine: &Machine) {
        if index == LogIndex(0) {
            return;
        }
        self.snapshots_restored += 1;
        if let Some(&(_, digest)) = self.applied.get(&index) {
            if digest != machine.digest_at(index) {
                self.fail(format!("state machine safety: {id} restored a snapshot at i{} holding another history", index.0));
            }
        }
    }

    /// Node `id` finished an input: check its role, term and vote, and its log if
    /// it has just become leader. `log` reads the log from its disk (index of the
    /// snapshot, then the term of each entry after it).
    pub fn observe(&mut self, node: &RaftNode, log: impl FnOnce() -> (LogIndex, Vec<Term>)) {
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
            (Some(&held), None) => self.fail(format!("vote durability: {id} voted for {held} in t{} and forgot", term.0)),
            (None, Some(now)) => {
                self.votes.insert((id, term), now);
            }
            _ => {}
        }
        if node.role() != Role::Leader {
            return;
        }
        match self.leaders.get(&term) {
            Some(&leader) if leader != id => {
                self.fail(format!("election safety: {leader} and {id} both lead t{}", term.0));
            }
            Some(_) => {}
            None => {
                self.leaders.insert(term, id);
                self.check_completeness(id, term, log());
            }
        }
    }

    fn check_completeness(&mut self, id: NodeId, term: Term, (snapshot_index, terms): (LogIndex, Vec<Term>)) {
        self.leaders_checked += 1;
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
