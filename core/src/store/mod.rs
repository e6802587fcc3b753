//! A store: every replica one node holds, one Raft group per range, driven as
//! one sans-IO state machine.
//!
//! The store routes inputs by range id, ticks all its replicas from one timer,
//! and gathers their outputs: each `Ready` tagged with its range (the runtime
//! persists it under that group's keys and sends its messages, which it batches
//! per peer node), and the replies to client requests. Two things happen here
//! rather than in a replica:
//! - **Splits.** When a replica applies a split, the right-hand range is born on
//!   this node: a new Raft group with the same voters, starting from a snapshot at
//!   index [`SPLIT_INITIAL_INDEX`] that holds the right half's state. Every replica
//!   of the left range applies the same split at the same log position, so every
//!   right-hand replica starts identical. Its initial state is persisted in the
//!   same output, before anything the new group says is sent.
//! - **Replicas created by messages.** A node that missed the split (its left
//!   replica caught up by snapshot, or is still behind), or that a range moves
//!   to, hears from the range's leader first. It creates an empty replica, which
//!   has no voters and so never campaigns; because every group starts at a
//!   nonzero index (the first range too), the leader finds nothing in common and
//!   sends a snapshot, which initializes it.
//! - **Range moves.** A range's descriptor lists its replicas; a
//!   `ChangeReplicas` command changes the list, and the range's leader then
//!   changes the Raft group's voters to match, one at a time, adding before
//!   removing (`reconcile_voters`).
//! - **Replicas left behind.** Once a replica has applied a configuration
//!   and a descriptor that both leave this node out, the store deletes it and
//!   leaves a tombstone (`remove_replicas_left_behind`); the tombstone refuses
//!   the old group's vote requests (`refuses_vote_request`).
//! - **The overlap rule.** Ranges share the node's data space, so a snapshot
//!   whose span overlaps another initialized replica here is dropped
//!   (`refuses_snapshot`, `range::stored`).
//! - **The meta map.** The leader of the first range records in its meta map
//!   the descriptors this store's replicas hold (`update_meta`).

mod housekeeping;
pub mod local_cluster;
mod machine;
mod requests;
#[cfg(test)]
mod tests;
pub mod turn;

use std::collections::BTreeMap;

pub use machine::RangeMachine;
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
pub use requests::{AdminRequest, StoreRequest, LOOKUP_GROUP};

use crate::clock::HybridClock;
use crate::raft::{persistence, HardState, Message, MessageBody, RaftConfig, Ready, RecoveredState};
use crate::range::{codec, stored, RangeCommand, RangeDescriptor, RangeState};
use crate::replica::{
    ClientId, ClientRequest, Input, Replica, ReplicaConfig, Reply, Request, RequestError, SnapshotLimits,
};
use crate::storage::{Engine, StorageError};
use crate::types::{LogIndex, NodeId, RangeId, Term, Time};

/// The range that keeps the meta map: the first range, which keeps its id and
/// the smallest key through every split.
pub const META_RANGE: RangeId = RangeId(1);

/// Where a range born from a split starts its log: above zero, so that a replica
/// created empty by a message can only be initialized by a snapshot.
pub const SPLIT_INITIAL_INDEX: LogIndex = LogIndex(5);
const SPLIT_INITIAL_TERM: Term = Term(5);

/// Settings of a store.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    pub node: NodeId,
    /// Template for every replica's Raft settings; id and seed are set per replica.
    pub raft: RaftConfig,
    pub tick_interval_nanos: u64,
    pub compaction_threshold_entries: u64,
    /// See `ReplicaConfig::compaction_threshold_bytes`.
    pub compaction_threshold_bytes: u64,
    pub heartbeat_expiry_nanos: u64,
    /// A leader splits its range once it holds more MVCC data than this (None: never).
    pub split_threshold_bytes: Option<usize>,
    /// Ticks between size checks of each led range (the engine's estimate),
    /// and between garbage collections.
    pub split_check_interval_ticks: u64,
    /// Versions older than this (by the leader's clock) that a newer version
    /// hides are removed, and reads below it refused (None: kept forever).
    pub garbage_collection_ttl_nanos: Option<u64>,
    /// The bound on clock differences between nodes that the cluster assumes.
    pub max_offset_nanos: u64,
    /// Entries each range's timestamp cache keeps before folding them into its
    /// low-water mark (production: `range::timestamp_cache::ENTRIES_MAX_DEFAULT`;
    /// the simulator draws tiny limits). The same on every node.
    pub timestamp_cache_entries_max: usize,
    /// How replicas stream snapshots to each other.
    pub snapshot: SnapshotLimits,
    /// Bugs to inject (all off outside the simulator's bug sweeps).
    pub knobs: StoreKnobs,
}

/// Bugs the simulator switches on to show that its checkers catch them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreKnobs {
    /// A replica writes its new applied index in a batch of its own, before
    /// the batch of the effects it covers: a crash between the two leaves a
    /// replica that claims an entry it never applied.
    pub applied_index_ahead: bool,
    /// A range deletes a transaction's record as soon as the transaction
    /// commits: before its intents are resolved (readers then abort it), and
    /// before a replay of a one-phase commit could find it.
    pub early_record_deletion: bool,
}

/// What can happen to a store.
#[derive(Clone, Debug)]
pub enum StoreInput {
    Tick,
    Message {
        range: RangeId,
        message: Message,
    },
    /// A client's request. `sender_clock` is the sender's clock when it sent
    /// the request, if it says (see `Store::accept_sender_clock`).
    Request {
        client: ClientId,
        request_id: u64,
        request: StoreRequest,
        sender_clock: Option<Time>,
    },
}

/// Work for the runtime: persist each `Ready` under its range's keys (in order,
/// syncing once if any asks), then send their messages, then the replies.
#[derive(Debug, Default)]
pub struct StoreOutput {
    pub readies: Vec<(RangeId, Ready)>,
    pub replies: Vec<Reply>,
    pub next_deadline: Time,
    /// Replicas this handling deleted (`remove_replicas_left_behind`), each
    /// with the index of the configuration that removed this node: for logs
    /// and for the simulator's removal check.
    pub removed: Vec<(RangeId, LogIndex)>,
}

impl StoreOutput {
    pub fn needs_sync(&self) -> bool {
        self.readies.iter().any(|(_, ready)| ready.sync)
    }

    /// Every message to send, with its range, in order.
    pub fn messages(&self) -> impl Iterator<Item = (RangeId, &Message)> {
        self.readies.iter().flat_map(|(range, ready)| ready.messages.iter().map(move |message| (*range, message)))
    }
}

/// All replicas of one node.
pub struct Store {
    config: StoreConfig,
    replicas: BTreeMap<RangeId, Replica<RangeMachine>>,
    /// Draws the ids of ranges this store splits off: 63 random bits from the
    /// node's seed make a collision negligible without a cluster-wide counter
    /// (the meta range will allocate ids once it exists).
    random: ChaCha8Rng,
    /// This node's hybrid logical clock, advanced by the timestamps requests carry.
    clock: HybridClock,
    ticks: u64,
    next_request_id: u64,
}

/// Request ids of the store's own proposals (splits) live above the clients'.
const STORE_REQUEST_ID_BASE: u64 = 1 << 62;
/// The client id of the store's own proposals; their replies are dropped.
const STORE_CLIENT: ClientId = ClientId(u64::MAX);

/// Writes the first range of a new cluster into `engine`, synced: the whole key
/// space on `voters`, its state and its Raft group as every initial node
/// stores them. Like a range born from a split, the first range starts above
/// index zero, so that a replica created empty on a node the range moves to
/// can only be initialized by a snapshot (see the module doc).
pub fn bootstrap(engine: &mut (impl Engine + ?Sized), voters: &[NodeId]) -> Result<(), StorageError> {
    let range = RangeId(1);
    let descriptor = RangeDescriptor::whole_key_space(range, voters.iter().copied().collect());
    let state = RangeState::first(descriptor.clone(), 0);
    let mut batch = state.initial_batch(&crate::storage::MemoryEngine::new());
    let recovered = machine::initial_raft_state(&descriptor);
    batch.operations.extend(machine::initial_raft_batch(range, &recovered).operations);
    engine.write(batch)?;
    engine.sync()
}

/// Every range replica `engine` holds, as persisted, once every snapshot
/// install a crash interrupted has been rolled forward (`replica::snapshot`).
pub fn recover(engine: &mut (impl Engine + ?Sized)) -> Result<Vec<(RangeId, RecoveredState)>, StorageError> {
    let mut groups = persistence::groups(engine)?;
    groups.extend(persistence::installed_groups(engine)?);
    groups.sort_unstable();
    groups.dedup();
    let mut recovered = Vec::new();
    for group in groups {
        let keys = persistence::GroupKeys::new(group);
        recovered.push((RangeId(group), persistence::recover_rolling_forward(engine, &keys)?));
    }
    Ok(recovered)
}

/// The first MVCC key `engine` holds outside the span of every initialized
/// replica it holds, if any. Such data belongs to no replica: a move or an
/// install failed to delete it. Nothing reads it, so only this check sees
/// the leak (the simulator runs it on every node at the end of a run).
pub fn data_outside_replicas(engine: &dyn Engine) -> Result<Option<Vec<u8>>, StorageError> {
    let mut spans = Vec::new();
    for group in persistence::groups(engine)? {
        let view = stored::view(engine, RangeId(group));
        if let Some(state) = stored::load(&view, 0, 1) {
            spans.push(stored::data_span(state.descriptor()));
        }
    }
    let data_end = crate::storage::prefix_end(crate::storage::mvcc::space()).expect("a constant prefix");
    for (key, _) in engine.scan(crate::storage::mvcc::space(), &data_end, usize::MAX)? {
        if !spans.iter().any(|(start, end)| key >= *start && key < *end) {
            return Ok(Some(key));
        }
    }
    Ok(None)
}

impl Store {
    /// A store restarting with the replicas `engine` holds (recovery may
    /// write: see [`recover`]).
    pub fn new(config: StoreConfig, engine: &mut dyn Engine) -> Result<Store, StorageError> {
        let random = ChaCha8Rng::seed_from_u64(config.raft.random_seed ^ 0x5eed_5917_u64);
        let clock = HybridClock::new(config.max_offset_nanos);
        let next_request_id = STORE_REQUEST_ID_BASE;
        let mut store = Store { config, replicas: BTreeMap::new(), random, clock, ticks: 0, next_request_id };
        for (range, state) in recover(engine)? {
            store.start_replica(range, state, engine);
        }
        Ok(store)
    }

    pub fn ranges(&self) -> impl Iterator<Item = RangeId> + '_ {
        self.replicas.keys().copied()
    }

    pub fn replica(&self, range: RangeId) -> Option<&Replica<RangeMachine>> {
        self.replicas.get(&range)
    }

    /// The newest descriptor this store's replicas hold for the range of `key`.
    /// A hint for routing, possibly stale: a request sent with it is checked
    /// against the range's replicated descriptor, which answers with the fresh one.
    pub fn descriptor_for(&self, key: &crate::keys::Key) -> Option<RangeDescriptor> {
        self.replicas
            .values()
            .filter_map(|replica| replica.state_machine().state().map(|state| state.descriptor()))
            .filter(|descriptor| descriptor.contains(key))
            .max_by_key(|descriptor| descriptor.generation)
            .cloned()
    }

    fn start_replica(&mut self, range: RangeId, recovered: RecoveredState, engine: &dyn Engine) {
        let mut raft = self.config.raft.clone();
        raft.id = self.config.node;
        // Each group jitters differently, still determined by the node's seed.
        raft.random_seed = self.config.raft.random_seed ^ range.0.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let config = ReplicaConfig {
            group: range.0,
            raft,
            tick_interval_nanos: self.config.tick_interval_nanos,
            compaction_threshold_entries: self.config.compaction_threshold_entries,
            compaction_threshold_bytes: self.config.compaction_threshold_bytes,
            snapshot: self.config.snapshot,
        };
        let mut machine =
            RangeMachine::new(range, self.config.heartbeat_expiry_nanos, self.config.timestamp_cache_entries_max);
        machine.set_knobs(self.config.knobs);
        self.replicas.insert(range, Replica::new(config, recovered, machine, engine));
    }

    /// Handles one input at time `now`, writing to `engine` (see `replica`'s module doc).
    pub fn handle(
        &mut self,
        now: Time,
        input: StoreInput,
        engine: &mut dyn Engine,
    ) -> Result<StoreOutput, StorageError> {
        let mut output = StoreOutput::default();
        match input {
            StoreInput::Tick => {
                let ranges: Vec<RangeId> = self.replicas.keys().copied().collect();
                for range in ranges {
                    self.handle_replica(now, range, Input::Tick, &mut output, engine)?;
                }
                self.ticks += 1;
                if self.ticks.is_multiple_of(self.config.split_check_interval_ticks.max(1)) {
                    self.housekeeping(now, &mut output, engine)?;
                }
            }
            StoreInput::Message { range, message } => {
                if self.refuses_vote_request(range, &message, engine)? {
                    return Ok(self.finish(now, output));
                }
                if !self.replicas.contains_key(&range) && may_create_replica(&message) {
                    // Empty, or the tombstone of a replica this node held before.
                    let recovered = persistence::recover(engine, &persistence::GroupKeys::new(range.0))?;
                    self.start_replica(range, recovered, engine);
                }
                if self.replicas.contains_key(&range) && !self.refuses_snapshot(range, &message) {
                    self.handle_replica(now, range, Input::Message(message), &mut output, engine)?;
                }
            }
            StoreInput::Request { client, request_id, request, sender_clock } => {
                match self.replica_request(now, request, sender_clock) {
                    Ok((range, request)) if self.replicas.contains_key(&range) => {
                        let input = Input::Request(ClientRequest { client, request_id, request });
                        self.handle_replica(now, range, input, &mut output, engine)?;
                    }
                    Ok(_) => {
                        let result = Err(RequestError::NotLeader { leader: None });
                        output.replies.push(Reply { client, request_id, result });
                    }
                    Err(result) => output.replies.push(Reply { client, request_id, result }),
                }
            }
        }
        output.removed = self.remove_replicas_left_behind(engine)?;
        Ok(self.finish(now, output))
    }

    /// What a client's request asks of which replica, or its answer at once:
    /// a lookup's, or a clock refusal (accepted timestamps advance the clock). A range command is encoded here, once,
    /// into the Raft entry it proposes.
    fn replica_request(
        &mut self,
        now: Time,
        request: StoreRequest,
        sender_clock: Option<Time>,
    ) -> Result<(RangeId, Request), Result<Vec<u8>, RequestError>> {
        match request {
            StoreRequest::Lookup(key) => {
                Err(Ok(self.descriptor_for(&key).map(|found| found.encode()).unwrap_or_default()))
            }
            StoreRequest::Range(request) => {
                if !self.accept_sender_clock(now, sender_clock) || !self.accept_timestamps(now, &request.command) {
                    return Err(Err(RequestError::ClockOffset));
                }
                Ok((request.range, Request::Propose(codec::encode_request(&request))))
            }
            StoreRequest::Admin { range, request } => Ok((range, request.into_replica_request())),
        }
    }

    fn finish(&self, now: Time, mut output: StoreOutput) -> StoreOutput {
        output.replies.retain(|reply| reply.client != STORE_CLIENT);
        output.next_deadline = Time(now.0.saturating_add(self.config.tick_interval_nanos));
        output
    }

    /// Whether `message` asks for the vote of a replica this node no longer
    /// holds, or holds empty, on behalf of the group it was removed from: a
    /// candidate whose log ends at or before the configuration that removed
    /// this node (its tombstone) campaigns in a configuration that still lists
    /// it, and the replica, its log deleted, must not vote there. A candidate
    /// of a configuration that added this node back has that entry, past the
    /// removal, and is answered: a new member must be able to vote before its
    /// snapshot comes.
    fn refuses_vote_request(
        &self,
        range: RangeId,
        message: &Message,
        engine: &dyn Engine,
    ) -> Result<bool, StorageError> {
        let (MessageBody::Vote { last_log_index, .. } | MessageBody::PreVote { last_log_index, .. }) = message.body
        else {
            return Ok(false);
        };
        let holds_data = self.replicas.get(&range).is_some_and(|replica| replica.state_machine().state().is_some());
        if holds_data {
            return Ok(false);
        }
        let tombstone = persistence::tombstone(engine, &persistence::GroupKeys::new(range.0))?;
        Ok(tombstone.is_some_and(|removal| last_log_index <= removal))
    }

    /// Whether the sender's clock reading, taken when it sent the request, is
    /// within the maximum offset of this node's clock. A sender whose clock runs
    /// behind by more would read at timestamps so old that uncertainty intervals
    /// could miss writes that finished before it began: refused, as a clock
    /// ahead is by [`Store::accept_timestamps`]. Network delay makes a sender
    /// look further behind, never ahead, so the check errs toward refusing.
    fn accept_sender_clock(&self, now: Time, sender_clock: Option<Time>) -> bool {
        sender_clock.is_none_or(|sent| {
            now.0.saturating_sub(sent.0) <= self.config.max_offset_nanos
                && sent.0.saturating_sub(now.0) <= self.config.max_offset_nanos
        })
    }

    /// Advances this node's clock with the timestamps a command carries; false
    /// when one is beyond the clock plus the maximum offset (see
    /// [`RequestError::ClockOffset`]). `now` is this node's physical clock.
    fn accept_timestamps(&mut self, now: Time, command: &RangeCommand) -> bool {
        let carried = match command {
            RangeCommand::Get { read, .. } | RangeCommand::Scan { read, .. } => Some(read.timestamp),
            RangeCommand::Put { timestamp, .. } | RangeCommand::CommitOnePhase { timestamp, .. } => Some(*timestamp),
            RangeCommand::Refresh { up_to, .. } => Some(*up_to),
            RangeCommand::Heartbeat { now, .. } | RangeCommand::Push { now, .. } => Some(*now),
            RangeCommand::EndTransaction { commit, .. } => *commit,
            RangeCommand::ResolveIntent { .. }
            | RangeCommand::ForgetTransaction { .. }
            | RangeCommand::Split { .. }
            | RangeCommand::GarbageCollect { .. }
            | RangeCommand::UpdateMeta { .. }
            | RangeCommand::LookupMeta { .. }
            | RangeCommand::ChangeReplicas { .. } => None,
        };
        carried.is_none_or(|timestamp| self.clock.update(now, timestamp).is_ok())
    }

    fn handle_replica(
        &mut self,
        now: Time,
        range: RangeId,
        input: Input,
        output: &mut StoreOutput,
        engine: &mut dyn Engine,
    ) -> Result<(), StorageError> {
        let replica = self.replicas.get_mut(&range).expect("checked by the caller");
        let replica_output = replica.handle(now, input, engine)?;
        output.readies.extend(replica_output.readies.into_iter().map(|ready| (range, ready)));
        output.replies.extend(replica_output.replies);
        let splits = replica.state_machine_mut().take_splits();
        for (right, unmeasured_bytes) in splits {
            self.start_split_range(now, right, unmeasured_bytes, output, engine)?;
        }
        Ok(())
    }

    /// Starts the right-hand range of a split applied here, from what the
    /// split's batch wrote (see `machine`); it replaces a replica created
    /// empty by a message that had persisted nothing.
    fn start_split_range(
        &mut self,
        now: Time,
        right: RangeId,
        unmeasured_bytes: u64,
        output: &mut StoreOutput,
        engine: &mut dyn Engine,
    ) -> Result<(), StorageError> {
        let recovered = persistence::recover(engine, &persistence::GroupKeys::new(right.0))?;
        self.start_replica(right, recovered, engine);
        let replica = self.replicas.get_mut(&right).expect("just started");
        replica.state_machine_mut().inherit_unmeasured(unmeasured_bytes);
        self.handle_replica(now, right, Input::Tick, output, engine)
    }

    /// Whether `message` is a snapshot chunk of `range` to drop: one that does
    /// not decode, or whose range's span (its header) overlaps another
    /// initialized replica on this node, by the overlap rule
    /// (`range::stored`). The other replica is one that has not applied the
    /// split that made the snapshot's range (or that left its range, and goes
    /// once it applies its removal); the leader sends the snapshot again later.
    fn refuses_snapshot(&self, range: RangeId, message: &Message) -> bool {
        let MessageBody::InstallSnapshot { snapshot } = &message.body else { return false };
        let Ok(head) = crate::replica::snapshot::frame::decode_head(&snapshot.data) else { return true };
        let incoming = match codec::decode_snapshot_header(head.header) {
            Ok(Some(descriptor)) => descriptor,
            Ok(None) => return false,
            Err(_) => return true, // corrupt on the way: dropped like a lost message
        };
        self.replicas.iter().any(|(other, replica)| {
            *other != range
                && replica.state_machine().state().is_some_and(|state| state.descriptor().overlaps(&incoming))
        })
    }

    /// Deletes every replica that a move left behind: one whose range's
    /// descriptor and whose applied Raft configuration both leave this node
    /// out. Its range data goes, and its Raft state but for a tombstone
    /// (`persistence::destroy`). The configuration is applied, so it is
    /// committed: the group's majorities no longer count this node, and what
    /// it held is not needed. A range moved back here later starts empty from
    /// the tombstone and is initialized by a snapshot, like any new replica.
    fn remove_replicas_left_behind(
        &mut self,
        engine: &mut dyn Engine,
    ) -> Result<Vec<(RangeId, LogIndex)>, StorageError> {
        let node = self.config.node;
        let left_behind: Vec<RangeId> = self
            .replicas
            .iter()
            .filter(|(_, replica)| {
                let Some(state) = replica.state_machine().state() else { return false };
                if state.descriptor().replicas.contains(&node) {
                    return false;
                }
                let status = replica.raft().status();
                !status.configuration.voters.contains(&node) && status.configuration_index <= status.applied_index
            })
            .map(|(range, _)| *range)
            .collect();
        let mut removed = Vec::new();
        for range in left_behind {
            let replica = self.replicas.remove(&range).expect("listed above");
            let status = replica.raft().status();
            let hard_state = HardState { term: status.term, vote: status.vote, commit: status.commit_index };
            let removal = status.configuration_index;
            let mut batch = persistence::destroy(&persistence::GroupKeys::new(range.0), hard_state, removal);
            let mut view = replica.state_machine().view(engine);
            stored::delete_local(&mut view);
            let descriptor = replica.state_machine().state().expect("initialized").descriptor();
            // Its span is its own: the overlap rule (`range::stored`).
            stored::delete_data(&mut view, descriptor);
            batch.operations.extend(view.finish().operations);
            engine.write(batch)?;
            engine.discard(range.0)?; // a snapshot it was being sent
            removed.push((range, removal));
        }
        Ok(removed)
    }
}

/// The messages that may create a replica: a leader's (the replica then waits
/// for a snapshot), and vote requests. A node added to a range's voters must be
/// able to vote before it has any data, or a group whose other voters failed
/// could never elect a leader to send it that data. An empty replica's vote is
/// safe: it never acknowledged an entry, so it is in no majority that
/// committed one, and it never campaigns (it knows no voters).
fn may_create_replica(message: &Message) -> bool {
    matches!(
        message.body,
        MessageBody::Append { .. }
            | MessageBody::Heartbeat { .. }
            | MessageBody::InstallSnapshot { .. }
            | MessageBody::PreVote { .. }
            | MessageBody::Vote { .. }
    )
}
