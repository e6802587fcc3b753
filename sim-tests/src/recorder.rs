//! The chaos suite's observer: receives what every simulated node reports and
//! checks, as it happens, the invariants that need no history:
//! - **state machine safety**: every replica applies the same entry at each index
//!   (so applied logs are prefixes of one another, and a committed entry is never
//!   replaced — an acknowledged write lost shows up here first);
//! - **replica state agreement**: every replica's state machine is identical after
//!   applying the same index, including states installed from snapshots, which
//!   the entry check cannot see into;
//! - **election safety**: at most one leader per term;
//! - **durability of promises** (where replicas live as long as their node):
//!   a node never votes twice in a term, never holds another vote in a term it
//!   voted in, never falls back to an earlier term than one it voted or
//!   acknowledged in, and never holds a shorter log in a term than it
//!   acknowledged to that term's leader (within a term, a follower's log only
//!   grows: the leader's entries never conflict with what it sent before, and
//!   a snapshot at or below a matching entry keeps the log);
//! - **replica removal**: a node deletes its replica of a group only on a
//!   configuration that leaves it out and that some replica has applied (so
//!   committed): a replica deleted on an uncommitted one forgets entries it
//!   acknowledged while its vote may still count.
//!
//! It also keeps the trace (when asked) and a hash of it, to show determinism.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use madsim::time::Instant;
use shardforge_core::raft::{Entry, EntryPayload, Role, Status};
use shardforge_core::store::SPLIT_INITIAL_INDEX;
use shardforge_core::types::{LogIndex, NodeId, Term};
use shardforge_runtime_sim::observer::Observer;
use shardforge_runtime_sim::program::{ReplicaState, FIRST_GROUP};

#[derive(Default)]
struct Records {
    /// Per group and index: the term and payload digest applied, and the first node to apply it.
    applied: BTreeMap<(u64, LogIndex), (Term, u64, NodeId)>,
    /// Leaders of the first group, by term.
    leaders: BTreeMap<Term, NodeId>,
    /// Per group and index: the voters of each configuration entry applied.
    configurations: BTreeMap<(u64, LogIndex), BTreeSet<NodeId>>,
    /// Per group and applied index: the digest of the state machine there, and who reported it first.
    states: BTreeMap<(u64, LogIndex), (u64, NodeId)>,
    /// Per group, each node's latest applied index.
    applied_indexes: BTreeMap<u64, BTreeMap<NodeId, LogIndex>>,
    /// Per group, the voters reported by the most advanced replica, and its index.
    voters: BTreeMap<u64, (LogIndex, BTreeSet<NodeId>)>,
    statuses: BTreeMap<NodeId, Status>,
    /// Per group, node and term: the candidate the node sent its vote to.
    votes: BTreeMap<(u64, NodeId, Term), NodeId>,
    /// Per group, node and term: the highest index the node told that term's
    /// leader its log matches.
    acknowledgements: BTreeMap<(u64, NodeId, Term), LogIndex>,
    /// Per group and node: the highest term it voted or acknowledged in.
    promised_terms: BTreeMap<(u64, NodeId), Term>,
    /// The first group's highest commit index reported by a node in each term.
    commits: BTreeMap<Term, LogIndex>,
    violations: Vec<String>,
    trace: Vec<String>,
    trace_hash: u64,
}

impl Records {
    /// `node` voted or acknowledged in `term` of `group`.
    fn promise_in(&mut self, group: u64, node: NodeId, term: Term) {
        let promised = self.promised_terms.entry((group, node)).or_default();
        *promised = (*promised).max(term);
    }
}

/// Shared by every node of one simulated run.
pub struct Recorder {
    origin: Instant,
    tracing: bool,
    /// Whether votes and acknowledgements are checked (see [`Recorder::new`]).
    durability_checks: bool,
    records: Mutex<Records>,
}

/// 64-bit FNV-1a: stable across processes and Rust versions, unlike `DefaultHasher`.
pub fn fnv1a(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3))
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn digest(entry: &Entry) -> u64 {
    match &entry.payload {
        EntryPayload::Empty => 0,
        EntryPayload::Command(command) => fnv1a(FNV_OFFSET, command),
        EntryPayload::Configuration(configuration) => {
            configuration.voters.iter().fold(FNV_OFFSET, |hash, voter| fnv1a(hash, &voter.0.to_be_bytes()))
        }
    }
}

impl Recorder {
    /// `durability_checks`: hold every node to one vote per term across
    /// restarts, and to the terms and log entries it promised. Only
    /// where replicas live as long as their node: a replica that a range move
    /// destroyed and later re-created starts over, votes included (a new
    /// incarnation, which the transaction workloads' mover makes).
    pub fn new(tracing: bool, durability_checks: bool) -> Recorder {
        Recorder {
            origin: Instant::now(),
            tracing,
            durability_checks,
            records: Mutex::new(Records { trace_hash: FNV_OFFSET, ..Records::default() }),
        }
    }

    fn records(&self) -> std::sync::MutexGuard<'_, Records> {
        self.records.lock().expect("recorder lock")
    }

    /// Violations found so far.
    pub fn violations(&self) -> Vec<String> {
        self.records().violations.clone()
    }

    pub fn violate(&self, violation: String) {
        self.event(format!("VIOLATION: {violation}"));
        self.records().violations.push(violation);
    }

    /// The latest status each node reported.
    pub fn statuses(&self) -> BTreeMap<NodeId, Status> {
        self.records().statuses.clone()
    }

    pub fn trace(&self) -> Vec<String> {
        self.records().trace.clone()
    }

    pub fn trace_hash(&self) -> u64 {
        self.records().trace_hash
    }

    /// Per group, each node's latest applied index (as of its last state report).
    pub fn applied_indexes(&self) -> BTreeMap<u64, BTreeMap<NodeId, LogIndex>> {
        self.records().applied_indexes.clone()
    }

    /// A promise of the first group that `node`'s status breaks: a term it
    /// voted or acknowledged in, fallen back from, or a log shorter than it
    /// acknowledged in its current term (the vote itself is checked in
    /// [`Observer::status`]).
    fn broken_promise(&self, node: NodeId, status: &Status) -> Option<String> {
        let records = self.records();
        if let Some(promised) = records.promised_terms.get(&(FIRST_GROUP, node)).filter(|term| **term > status.term) {
            return Some(format!(
                "term durability: {node} voted or acknowledged in {promised} but is now in {}",
                status.term
            ));
        }
        let acknowledged = records.acknowledgements.get(&(FIRST_GROUP, node, status.term))?;
        (status.last_index < *acknowledged).then(|| {
            format!(
                "acknowledgement durability: {node} told the leader of {} its log matches up to {acknowledged}, \
                 but its log now ends at {}",
                status.term, status.last_index
            )
        })
    }

    /// Drops what `node`'s replica of `group` acknowledged: the replica is gone.
    fn forget_acknowledgements(&self, group: u64, node: NodeId) {
        self.records()
            .acknowledgements
            .retain(|(acknowledged_group, acknowledger, _), _| (*acknowledged_group, *acknowledger) != (group, node));
    }

    /// Per group, its voters as the most advanced replica reported them.
    pub fn voters(&self) -> BTreeMap<u64, BTreeSet<NodeId>> {
        self.records().voters.iter().map(|(group, (_, voters))| (*group, voters.clone())).collect()
    }
}

impl Observer for Recorder {
    fn applied(&self, node: NodeId, group: u64, entries: &[Entry]) {
        let mut records = self.records();
        for entry in entries {
            let digest = digest(entry);
            match records.applied.get(&(group, entry.index)).copied() {
                None => {
                    records.applied.insert((group, entry.index), (entry.term, digest, node));
                    if let EntryPayload::Configuration(configuration) = &entry.payload {
                        records.configurations.insert((group, entry.index), configuration.voters.clone());
                    }
                }
                Some((term, known, first)) if term != entry.term || known != digest => {
                    let violation = format!(
                        "state machine safety: in group {group}, {node} applied {}@{} but {first} applied {}@{term} \
                         (different entries)",
                        entry.index, entry.term, entry.index
                    );
                    drop(records);
                    self.violate(violation);
                    records = self.records();
                }
                Some(_) => {}
            }
        }
    }

    fn state(&self, node: NodeId, group: u64, replica: &ReplicaState) {
        let (applied_index, state_digest) = (replica.applied_index, replica.digest);
        let mut records = self.records();
        records.applied_indexes.entry(group).or_default().insert(node, applied_index);
        let voters = records.voters.entry(group).or_default();
        if applied_index >= voters.0 {
            *voters = (applied_index, replica.voters.clone());
        }
        let (known, first) = *records.states.entry((group, applied_index)).or_insert((state_digest, node));
        drop(records);
        if known != state_digest {
            self.violate(format!(
                "replica state agreement: in group {group}, {node} and {first} hold different state machines after \
                 applying {applied_index}"
            ));
        }
    }

    fn replica_removed(&self, node: NodeId, group: u64, removal: LogIndex) {
        // Its log goes with it (its term and vote stay, in the tombstone).
        self.forget_acknowledgements(group, node);
        let records = self.records();
        let voters = records.configurations.get(&(group, removal)).cloned();
        // Some replica's state is the state after an entry at or beyond
        // `removal` (applied, or restored from a snapshot there).
        let committed =
            records.applied_indexes.get(&group).is_some_and(|nodes| nodes.values().any(|index| *index >= removal));
        drop(records);
        self.event(format!("{node} removed its replica of group {group} (left out at {removal})"));
        match voters {
            Some(voters) if !voters.contains(&node) => {}
            // A snapshot's configuration, or a group's initial one (the first
            // range's, or the right half's of a split, born from the left's
            // committed split with the left's voters) is committed state.
            None if committed || removal <= SPLIT_INITIAL_INDEX => {}
            Some(_) => self.violate(format!(
                "replica removal: {node} deleted its replica of group {group} on the configuration at {removal}, \
                 which keeps it"
            )),
            None => self.violate(format!(
                "replica removal: {node} deleted its replica of group {group} on the configuration at {removal}, \
                 which no replica has applied (it may never commit)"
            )),
        }
    }

    fn restored_snapshot(&self, node: NodeId, group: u64, index: LogIndex) {
        self.event(format!("{node} restored a snapshot of group {group} at {index}"));
    }

    /// One vote per node per term, across restarts: a second candidate in the
    /// same term means the first vote was forgotten (or never made durable).
    fn vote_sent(&self, node: NodeId, group: u64, term: Term, candidate: NodeId) {
        if !self.durability_checks {
            return;
        }
        let mut records = self.records();
        records.promise_in(group, node, term);
        let first = *records.votes.entry((group, node, term)).or_insert(candidate);
        if first != candidate {
            drop(records);
            self.violate(format!(
                "vote safety: {node} voted for {first} and then for {candidate} in {term} of group {group}"
            ));
        }
    }

    fn acknowledged(&self, node: NodeId, group: u64, term: Term, match_index: LogIndex) {
        if !self.durability_checks {
            return;
        }
        let mut records = self.records();
        records.promise_in(group, node, term);
        let acknowledged = records.acknowledgements.entry((group, node, term)).or_default();
        *acknowledged = (*acknowledged).max(match_index);
    }

    fn started(&self, node: NodeId, status: Option<&Status>) {
        match status {
            Some(status) => self.status(node, status),
            // No replica of the first group: what it acknowledged went with it.
            None => self.forget_acknowledgements(FIRST_GROUP, node),
        }
    }

    fn status(&self, node: NodeId, status: &Status) {
        if let Some(violation) = self.broken_promise(node, status) {
            self.violate(violation);
        }
        let mut records = self.records();
        // A vote sent was durable first: the node may never be in that term
        // again without it (as after a restart that lost it).
        if let Some(sent) = records.votes.get(&(FIRST_GROUP, node, status.term)).copied() {
            if status.vote != Some(sent) {
                drop(records);
                self.violate(format!(
                    "vote durability: {node} sent its vote in {} to {sent} but now holds {:?}",
                    status.term, status.vote
                ));
                records = self.records();
            }
        }
        let committed = records.commits.entry(status.term).or_default();
        *committed = (*committed).max(status.commit_index);
        if status.role == Role::Leader {
            // Leader completeness: what any node saw committed by term t is in
            // the log of every leader of a later term.
            let earlier = records.commits.range(..status.term).max_by_key(|(_, index)| **index);
            if let Some((term, index)) = earlier.filter(|(_, index)| **index > status.last_index) {
                let violation = format!(
                    "leader completeness: {node} leads {} with its log ending at {}, but {index} was committed by {term}",
                    status.term, status.last_index
                );
                drop(records);
                self.violate(violation);
                records = self.records();
            }
            let previous = *records.leaders.entry(status.term).or_insert(node);
            if previous != node {
                drop(records);
                self.violate(format!("election safety: {previous} and {node} both led {}", status.term));
                records = self.records();
            }
        }
        records.statuses.insert(node, status.clone());
    }

    fn tracing(&self) -> bool {
        self.tracing
    }

    fn event(&self, line: String) {
        if !self.tracing {
            return;
        }
        let elapsed = Instant::now().duration_since(self.origin);
        let line = format!("{:>10.3}ms {line}", elapsed.as_secs_f64() * 1000.0);
        let mut records = self.records();
        records.trace_hash = fnv1a(fnv1a(records.trace_hash, line.as_bytes()), b"\n");
        records.trace.push(line);
    }
}

#[cfg(test)]
mod tests {
    use shardforge_core::raft::Configuration;

    use super::*;

    fn follower(term: u64, last_index: u64) -> Status {
        Status {
            id: NodeId(2),
            role: Role::Follower,
            term: Term(term),
            vote: None,
            leader: None,
            last_index: LogIndex(last_index),
            commit_index: LogIndex(0),
            applied_index: LogIndex(0),
            configuration: Configuration::default(),
            configuration_index: LogIndex(0),
        }
    }

    /// The violations a node's statuses after acknowledging i10 in t3 produce.
    fn violations_after_acknowledging(statuses: &[Status]) -> Vec<String> {
        madsim::runtime::Runtime::new().block_on(async {
            let recorder = Recorder::new(false, true);
            recorder.acknowledged(NodeId(2), FIRST_GROUP, Term(3), LogIndex(10));
            for status in statuses {
                recorder.status(NodeId(2), status);
            }
            recorder.violations()
        })
    }

    #[test]
    fn a_log_shorter_than_acknowledged_in_the_same_term_is_a_broken_promise() {
        assert!(violations_after_acknowledging(&[follower(3, 10), follower(3, 12), follower(4, 2)]).is_empty());
        let violations = violations_after_acknowledging(&[follower(3, 9)]);
        assert_eq!(violations.len(), 1);
        assert!(violations[0].starts_with("acknowledgement durability: n2"), "{violations:?}");
    }

    #[test]
    fn a_term_behind_one_acknowledged_in_is_a_broken_promise() {
        let violations = violations_after_acknowledging(&[follower(2, 12)]);
        assert!(violations[0].starts_with("term durability: n2 voted or acknowledged in t3"), "{violations:?}");
    }

    #[test]
    fn a_removed_replica_takes_its_acknowledgements_with_it() {
        madsim::runtime::Runtime::new().block_on(async {
            let recorder = Recorder::new(false, true);
            recorder.acknowledged(NodeId(2), FIRST_GROUP, Term(3), LogIndex(10));
            recorder.started(NodeId(2), None);
            recorder.status(NodeId(2), &follower(3, 0));
            recorder.acknowledged(NodeId(2), FIRST_GROUP, Term(3), LogIndex(10));
            recorder.replica_removed(NodeId(2), FIRST_GROUP, LogIndex(1));
            recorder.status(NodeId(2), &follower(3, 0));
            assert!(recorder.violations().is_empty(), "{:?}", recorder.violations());
        });
    }
}
