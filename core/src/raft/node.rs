//! One member of one Raft group: its state, its public inputs, and the dispatch of
//! incoming messages. Elections live in `election.rs`, the leader's replication in
//! `replication.rs`, follower-side handling in `follower.rs`, linearizable reads in
//! `read_index.rs`.

use std::collections::BTreeMap;

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use super::log::RaftLog;
use super::message::{
    Configuration, ConfigurationChange, Entry, EntryPayload, HardState, Message, MessageBody, Snapshot,
    SnapshotMetadata,
};
use super::progress::Progress;
use super::read_index::ReadIndex;
use super::ready::{ReadState, Ready, SnapshotToPersist};
use crate::types::{LogIndex, NodeId, Term};

/// Bugs that tests switch on to prove the simulator's checkers can catch them
/// (CockroachDB calls these testing knobs). Always off in production.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TestingKnobs {
    /// Release votes and append acknowledgements without syncing the state they promise.
    pub acknowledge_before_sync: bool,
    /// Let a leader commit an entry of an older term by counting replicas.
    pub commit_old_term: bool,
}

/// Settings of one Raft node. Time is counted in ticks; the runtime decides how
/// long a tick is.
#[derive(Clone, Debug)]
pub struct RaftConfig {
    pub id: NodeId,
    /// A follower campaigns after a random timeout in `[min, max)` without a leader.
    pub election_timeout_ticks_min: u32,
    pub election_timeout_ticks_max: u32,
    pub heartbeat_interval_ticks: u32,
    /// Batching limits of one append message.
    pub append_entries_max: usize,
    pub append_bytes_max: usize,
    /// Flow-control window: unanswered appends per follower.
    pub inflight_appends_max: usize,
    /// Seeds the node's own random number generator (election jitter).
    pub random_seed: u64,
    pub testing_knobs: TestingKnobs,
}

impl RaftConfig {
    /// Reasonable defaults for a node with the given id and seed.
    pub fn new(id: NodeId, random_seed: u64) -> RaftConfig {
        RaftConfig {
            id,
            election_timeout_ticks_min: 10,
            election_timeout_ticks_max: 20,
            heartbeat_interval_ticks: 2,
            append_entries_max: 64,
            append_bytes_max: 1 << 20,
            inflight_appends_max: 8,
            random_seed,
            testing_knobs: TestingKnobs::default(),
        }
    }

    fn validate(&self) {
        assert!(self.id != NodeId(0), "node id 0 is reserved");
        assert!(self.heartbeat_interval_ticks > 0);
        assert!(self.election_timeout_ticks_min > self.heartbeat_interval_ticks);
        assert!(self.election_timeout_ticks_max > self.election_timeout_ticks_min);
        assert!(self.append_entries_max > 0 && self.inflight_appends_max > 0);
    }
}

/// What a node currently is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Follower,
    PreCandidate,
    Candidate,
    Leader,
}

/// Why a request to the node was refused. All are safe to retry elsewhere or later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RaftError {
    /// Only the leader takes proposals and reads; this one may know who is.
    NotLeader { leader: Option<NodeId> },
    /// The leader is handing over and takes no proposals meanwhile.
    LeaderTransferInProgress,
    /// A configuration change is still uncommitted, or this leader has not yet
    /// committed an entry of its own term.
    ConfigurationChangePending,
    /// The change would do nothing, leave no voter, or targets an unknown node.
    InvalidConfigurationChange,
}

/// A leadership handover in progress.
#[derive(Clone, Copy, Debug)]
pub(super) struct LeaderTransfer {
    pub target: NodeId,
    pub elapsed_ticks: u32,
}

/// A snapshot of a node's state, for traces and tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub id: NodeId,
    pub role: Role,
    pub term: Term,
    /// Whom this node voted for in `term` (checkers hold it to the votes it sent).
    pub vote: Option<NodeId>,
    pub leader: Option<NodeId>,
    pub last_index: LogIndex,
    pub commit_index: LogIndex,
    pub applied_index: LogIndex,
    pub configuration: Configuration,
    /// The index of the entry (or snapshot) that `configuration` comes from.
    pub configuration_index: LogIndex,
}

/// What storage holds for a node when it starts.
#[derive(Clone, Debug, Default)]
pub struct RecoveredState {
    pub hard_state: HardState,
    pub snapshot: Snapshot,
    pub entries: Vec<Entry>,
    /// The last entry the state machine had applied, as its own durable state
    /// says (0: nothing beyond the snapshot). A state machine that keeps its
    /// state in the engine resumes there rather than at the snapshot.
    pub applied_index: LogIndex,
}

/// One member of a Raft group, as a deterministic state machine.
pub struct RaftNode {
    pub(super) config: RaftConfig,
    pub(super) term: Term,
    pub(super) vote: Option<NodeId>,
    pub(super) role: Role,
    pub(super) leader: Option<NodeId>,
    pub(super) log: RaftLog,
    random: ChaCha8Rng,
    pub(super) election_elapsed_ticks: u32,
    pub(super) election_timeout_ticks: u32,
    pub(super) heartbeat_elapsed_ticks: u32,
    /// Votes received in the current (pre-)campaign.
    pub(super) votes: BTreeMap<NodeId, bool>,
    /// Leader only: every other voter's progress.
    pub(super) progress: BTreeMap<NodeId, Progress>,
    pub(super) leader_transfer: Option<LeaderTransfer>,
    pub(super) read_index: ReadIndex,
    pub(super) messages: Vec<Message>,
    pub(super) read_states: Vec<ReadState>,
    persisted_hard_state: HardState,
    pending_snapshot: Option<SnapshotToPersist>,
}

impl RaftNode {
    /// A node starting from what its storage holds. A brand-new member of a new
    /// cluster starts from a snapshot at index 0 whose configuration lists the
    /// initial voters; a node joining later starts with no voters and waits.
    pub fn new(config: RaftConfig, recovered: RecoveredState) -> RaftNode {
        config.validate();
        let log = RaftLog::recover(
            recovered.snapshot,
            recovered.entries,
            recovered.hard_state.commit,
            recovered.applied_index,
        );
        let random = ChaCha8Rng::seed_from_u64(config.random_seed);
        let mut node = RaftNode {
            config,
            term: recovered.hard_state.term,
            vote: recovered.hard_state.vote,
            role: Role::Follower,
            leader: None,
            log,
            random,
            election_elapsed_ticks: 0,
            election_timeout_ticks: 0,
            heartbeat_elapsed_ticks: 0,
            votes: BTreeMap::new(),
            progress: BTreeMap::new(),
            leader_transfer: None,
            read_index: ReadIndex::default(),
            messages: Vec::new(),
            read_states: Vec::new(),
            persisted_hard_state: recovered.hard_state,
            pending_snapshot: None,
        };
        node.reset_election_timeout();
        node
    }

    // ---- getters ----

    pub fn id(&self) -> NodeId {
        self.config.id
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn term(&self) -> Term {
        self.term
    }

    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }

    pub fn commit_index(&self) -> LogIndex {
        self.log.commit_index()
    }

    pub fn applied_index(&self) -> LogIndex {
        self.log.applied_index()
    }

    pub fn snapshot_index(&self) -> LogIndex {
        self.log.snapshot_index()
    }

    pub fn configuration(&self) -> &Configuration {
        self.log.configuration()
    }

    /// As leader: how far `peer`'s log is known to match this one (None when
    /// not leader, or `peer` is not replicated to).
    pub fn match_index(&self, peer: NodeId) -> Option<LogIndex> {
        self.progress.get(&peer).map(|progress| progress.match_index)
    }

    /// Whether `peer` answered this leader within its last one or two
    /// check-quorum periods (an election timeout each): false for a peer
    /// that is down, and on a node that does not lead.
    pub fn answers(&self, peer: NodeId) -> bool {
        self.progress.get(&peer).is_some_and(|progress| progress.answers())
    }

    pub fn status(&self) -> Status {
        Status {
            id: self.id(),
            role: self.role,
            term: self.term,
            vote: self.vote,
            leader: self.leader,
            last_index: self.log.last_index(),
            commit_index: self.log.commit_index(),
            applied_index: self.log.applied_index(),
            configuration: self.log.configuration().clone(),
            configuration_index: self.log.configuration_index(),
        }
    }

    // ---- inputs ----

    /// Advances logical time by one tick.
    pub fn tick(&mut self) {
        match self.role {
            Role::Leader => self.tick_leader(),
            _ => self.tick_election(),
        }
    }

    /// Proposes a command; returns the index it was appended at. It is committed
    /// only if it later appears in `committed_entries` with the same index and term.
    pub fn propose(&mut self, command: Vec<u8>) -> Result<(LogIndex, Term), RaftError> {
        self.check_accepts_proposals()?;
        let index = self.log.append_new(self.term, EntryPayload::Command(command));
        self.broadcast_append(false);
        Ok((index, self.term))
    }

    /// Proposes adding or removing one voter.
    pub fn propose_configuration_change(&mut self, change: ConfigurationChange) -> Result<(LogIndex, Term), RaftError> {
        self.check_accepts_proposals()?;
        if self.log.configuration_index() > self.log.commit_index() || !self.committed_in_current_term() {
            return Err(RaftError::ConfigurationChangePending);
        }
        let next = self.log.configuration().apply(change).ok_or(RaftError::InvalidConfigurationChange)?;
        let index = self.log.append_new(self.term, EntryPayload::Configuration(next));
        self.update_progress_to_configuration();
        self.broadcast_append(false);
        Ok((index, self.term))
    }

    /// What a snapshot of the state as of the applied index says of the log:
    /// that index, its term, and the configuration in force there.
    pub fn applied_snapshot_metadata(&self) -> SnapshotMetadata {
        let index = self.log.applied_index();
        let term = self.log.term(index).expect("the applied entry is in the log or its snapshot");
        SnapshotMetadata { index, term, configuration: self.log.configuration_at(index).clone() }
    }

    /// Compacts the log up to `index` (already applied) into a snapshot holding `data`.
    pub fn compact(&mut self, index: LogIndex, data: Vec<u8>) {
        let snapshot = self.log.compact(index, data);
        self.pending_snapshot = Some(SnapshotToPersist { snapshot, restore: false });
    }

    /// Handles a message from another member of the group.
    pub fn handle_message(&mut self, message: Message) {
        if message.to != self.id() || message.from == self.id() {
            return;
        }
        if message.term > self.term && !self.adopt_higher_term(&message) {
            return;
        }
        if message.term < self.term {
            self.answer_stale_term(&message);
            return;
        }
        self.dispatch(message);
    }

    /// Handles a message whose term is not lower than ours (pre-vote traffic may
    /// carry the next term).
    fn dispatch(&mut self, message: Message) {
        let from = message.from;
        match message.body {
            MessageBody::PreVote { last_log_index, last_log_term } => {
                self.handle_pre_vote(from, message.term, last_log_index, last_log_term)
            }
            MessageBody::Vote { last_log_index, last_log_term, .. } => {
                self.handle_vote(from, last_log_index, last_log_term)
            }
            MessageBody::PreVoteResponse { granted } => self.handle_pre_vote_response(from, message.term, granted),
            MessageBody::VoteResponse { granted } => self.handle_vote_response(from, granted),
            MessageBody::Append { previous_index, previous_term, entries, commit } => {
                self.follow(from);
                self.handle_append(from, previous_index, previous_term, entries, commit);
            }
            MessageBody::Heartbeat { commit, round } => {
                self.follow(from);
                self.handle_heartbeat(from, commit, round);
            }
            MessageBody::InstallSnapshot { snapshot } => {
                self.follow(from);
                self.handle_install_snapshot(from, snapshot);
            }
            MessageBody::TimeoutNow => self.handle_timeout_now(),
            MessageBody::AppendResponse { result } => self.handle_append_response(from, result),
            MessageBody::HeartbeatResponse { round } => self.handle_heartbeat_response(from, round),
            // The node around Raft handles these before Raft sees them.
            MessageBody::SnapshotChunkAck { .. } => {}
        }
    }

    /// A message from a newer term. Returns false when it must be ignored.
    fn adopt_higher_term(&mut self, message: &Message) -> bool {
        match message.body {
            // Pre-votes are asked and granted for a future term: no state changes.
            MessageBody::PreVote { .. } => true,
            MessageBody::PreVoteResponse { granted: true } => true,
            // A node that hears from a live leader ignores vote requests, so a
            // partitioned node rejoining cannot depose it (unless told to by a transfer).
            MessageBody::Vote { leader_transfer: false, .. } if self.in_leader_lease() => false,
            MessageBody::Append { .. } | MessageBody::Heartbeat { .. } | MessageBody::InstallSnapshot { .. } => {
                self.become_follower(message.term, Some(message.from));
                true
            }
            _ => {
                self.become_follower(message.term, None);
                true
            }
        }
    }

    /// A message from an older term: tell a stale leader or pre-candidate our term.
    fn answer_stale_term(&mut self, message: &Message) {
        let body = match message.body {
            MessageBody::Append { .. } | MessageBody::Heartbeat { .. } | MessageBody::InstallSnapshot { .. } => {
                MessageBody::HeartbeatResponse { round: 0 }
            }
            MessageBody::PreVote { .. } => MessageBody::PreVoteResponse { granted: false },
            _ => return,
        };
        self.send(message.from, body);
    }

    /// Accepts `leader` as this term's leader (for leader-originated messages).
    fn follow(&mut self, leader: NodeId) {
        assert!(
            self.role != Role::Leader || leader == self.id(),
            "two leaders in {}: {} and {}",
            self.term,
            self.id(),
            leader
        );
        if self.role != Role::Follower {
            self.become_follower(self.term, Some(leader));
        }
        self.leader = Some(leader);
        self.election_elapsed_ticks = 0;
    }

    // ---- outputs ----

    /// Whether `ready` would return any work.
    pub fn has_ready(&self) -> bool {
        self.current_hard_state() != self.persisted_hard_state
            || self.pending_snapshot.is_some()
            || !self.log.unstable_entries().is_empty()
            || !self.messages.is_empty()
            || self.log.commit_index() > self.log.applied_index()
            || !self.read_states.is_empty()
    }

    /// Takes the work to do; see `ready.rs` for the order. Must be followed by
    /// `advance` before the next input.
    pub fn ready(&mut self) -> Ready {
        let hard_state = self.current_hard_state();
        let mut ready = Ready {
            hard_state: (hard_state != self.persisted_hard_state).then_some(hard_state),
            snapshot: self.pending_snapshot.take(),
            entries: self.log.unstable_entries().to_vec(),
            sync: false,
            messages: std::mem::take(&mut self.messages),
            committed_entries: self.log.entries_to_apply(),
            read_states: std::mem::take(&mut self.read_states),
        };
        ready.sync = ready.has_persistence() && !self.config.testing_knobs.acknowledge_before_sync;
        ready
    }

    /// Records that the runtime persisted, sent and applied `ready`.
    pub fn advance(&mut self, ready: &Ready) {
        if let Some(hard_state) = ready.hard_state {
            self.persisted_hard_state = hard_state;
        }
        if let Some(last) = ready.entries.last() {
            assert!(self.log.matches(last.index, last.term), "log changed between ready and advance");
            self.log.stable_to(last.index);
        }
        if let Some(last) = ready.committed_entries.last() {
            self.log.applied_to(last.index);
        }
        if self.role == Role::Leader && self.maybe_commit() {
            self.broadcast_append(true);
        }
    }

    fn current_hard_state(&self) -> HardState {
        HardState { term: self.term, vote: self.vote, commit: self.log.commit_index() }
    }

    // ---- helpers shared by the other files ----

    pub(super) fn send(&mut self, to: NodeId, body: MessageBody) {
        self.send_in_term(to, self.term, body);
    }

    /// Sends with an explicit term: pre-vote traffic speaks of a future term.
    pub(super) fn send_in_term(&mut self, to: NodeId, term: Term, body: MessageBody) {
        self.messages.push(Message { from: self.id(), to, term, body });
    }

    /// Whether this node is a voter (only voters campaign).
    pub(super) fn is_voter(&self) -> bool {
        self.log.configuration().voters.contains(&self.id())
    }

    /// The other voters, in id order (broadcasts go out in this order).
    pub(super) fn peers(&self) -> Vec<NodeId> {
        self.log.configuration().voters.iter().copied().filter(|voter| *voter != self.id()).collect()
    }

    pub(super) fn reset_election_timeout(&mut self) {
        let span = u64::from(self.config.election_timeout_ticks_max - self.config.election_timeout_ticks_min);
        let jitter = self.random.next_u64() % span;
        self.election_timeout_ticks = self.config.election_timeout_ticks_min + jitter as u32;
        self.election_elapsed_ticks = 0;
    }

    /// Whether a leader was heard from within the minimum election timeout.
    pub(super) fn in_leader_lease(&self) -> bool {
        self.role == Role::Leader
            || (self.leader.is_some() && self.election_elapsed_ticks < self.config.election_timeout_ticks_min)
    }

    /// Whether an entry of the current term is committed (a new leader's first).
    pub(super) fn committed_in_current_term(&self) -> bool {
        self.log.term(self.log.commit_index()) == Some(self.term)
    }

    fn check_accepts_proposals(&self) -> Result<(), RaftError> {
        if self.role != Role::Leader {
            return Err(RaftError::NotLeader { leader: self.leader });
        }
        if self.leader_transfer.is_some() {
            return Err(RaftError::LeaderTransferInProgress);
        }
        Ok(())
    }

    /// Keeps one progress entry per other voter after the configuration changed.
    pub(super) fn update_progress_to_configuration(&mut self) {
        let peers = self.peers();
        self.progress.retain(|peer, _| peers.contains(peer));
        let next_index = self.log.last_index().next();
        for peer in peers {
            self.progress.entry(peer).or_insert_with(|| Progress::new(next_index));
        }
    }

    /// Installs a snapshot received from the leader.
    pub(super) fn restore_snapshot(&mut self, snapshot: Snapshot) {
        self.log.restore(snapshot.clone());
        self.pending_snapshot = Some(SnapshotToPersist { snapshot, restore: true });
    }
}
