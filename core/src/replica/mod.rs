//! One replica: a member of one Raft group, the replicated state machine on top
//! of it (kept in the node's engine), and the client requests waiting for
//! either. A node (one process, one `store::Store`) holds one replica per range
//! it serves.
//!
//! Quinn-style: every input carries `now` ([`Replica::handle`]) and the node's
//! engine, and the answer is an [`Output`] of plain data. Handling writes to the
//! engine, in this order, for each `Ready` the Raft group produces: a received
//! snapshot's state, ingested (atomic and synced; [`snapshot`]); the Raft state
//! it asks to persist (`raft::persistence`); then one batch per committed
//! entry, holding the entry's effects and the new applied index. Nothing else
//! is synced. Snapshots travel in chunks, streamed from a view of the engine
//! ([`snapshot`]); their messages come in `Ready`s of their own. The runtime
//! must then perform the output in this order:
//! 1. sync the engine once if any `Ready` in `readies` asks for it — many
//!    proposals share that one sync (group commit);
//! 2. send every message of every `Ready`;
//! 3. deliver `replies` to clients;
//! 4. call `handle(now, Input::Tick)` again no later than `next_deadline`.
//!
//! A crash keeps a prefix of the unsynced batches, so the applied index a
//! restart finds never runs ahead of the log and commit index it covers, and
//! the restarted replica replays only the entries after it. Time is turned into
//! Raft ticks here: one tick per `tick_interval_nanos` of the time the runtime
//! reports.

mod requests;
pub mod snapshot;

use crate::raft::{
    persistence, ConfigurationChange, EntryPayload, Message, MessageBody, RaftConfig, RaftNode, Ready, RecoveredState,
    Role, SnapshotMetadata,
};
use crate::storage::{Engine, IngestChunk, StorageError};
use crate::types::{LogIndex, NodeId, Time};
use requests::PendingRequests;
use snapshot::incoming::{Received, Receiving};
use snapshot::outgoing::{TransferSource, Transfers};
pub use snapshot::{SnapshotLimits, Span};

/// The application replicated by Raft, keeping its state in the node's
/// engine. Commands are opaque bytes.
///
/// The contract: the state in the engine is always the state after some
/// entry, and says which (its applied index). Applying an entry writes the
/// entry's effects and its index as the new applied index in one batch, so a
/// crash that loses unsynced writes leaves the state of an earlier entry, and
/// the node replays from there. In-memory copies are caches of the engine's
/// state, loaded by `recover`.
pub trait StateMachine {
    /// Loads what `engine` holds (a restart, a replica just created, or a
    /// snapshot just installed) and returns the index of the last entry
    /// applied there (0: none).
    fn recover(&mut self, engine: &dyn Engine) -> LogIndex;
    /// Applies the committed command at `index`; the result goes back to the client.
    fn apply(&mut self, engine: &mut dyn Engine, index: LogIndex, command: &[u8]) -> Result<Vec<u8>, StorageError>;
    /// Answers a read against the current state.
    fn query(&self, engine: &dyn Engine, query: &[u8]) -> Vec<u8>;
    /// The engine spans that hold the whole state, applied index included:
    /// sorted, disjoint, not empty. A snapshot is these spans, streamed; an
    /// install replaces them.
    fn spans(&self) -> Vec<Span>;
    /// What a receiver learns of a snapshot before its data arrives (sent
    /// with every chunk; a range: its descriptor, for the store's overlap rule).
    fn snapshot_header(&self) -> Vec<u8>;
}

/// Settings of a replica.
#[derive(Clone, Debug)]
pub struct ReplicaConfig {
    /// The Raft group's id: where its state lives in the engine.
    pub group: u64,
    pub raft: RaftConfig,
    pub tick_interval_nanos: u64,
    /// Compact the log once this many applied entries follow the last snapshot.
    pub compaction_threshold_entries: u64,
    /// ... or once the commands applied since the last compaction hold this
    /// many bytes: Raft keeps the entries after its snapshot in memory, so
    /// this bounds a replica's log in memory when entries are large.
    pub compaction_threshold_bytes: u64,
    /// How snapshots are streamed to followers.
    pub snapshot: SnapshotLimits,
}

/// Identifies where a reply must go; meaningful only to the runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientId(pub u64);

/// What a client asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// A command to propose: replicated, then applied by the state machine.
    Propose(Vec<u8>),
    /// A linearizable read (read index), answered by `StateMachine::query`.
    Read(Vec<u8>),
    ChangeConfiguration(ConfigurationChange),
    TransferLeadership(NodeId),
}

/// Why a request failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestError {
    /// Not applied; this node is not the leader (and may know who is).
    NotLeader { leader: Option<NodeId> },
    /// Not applied; the leader refused it for now (transfer or change in progress).
    Unavailable,
    /// Not applied; the request was invalid (e.g. a change that does nothing).
    Invalid,
    /// Proposed, but this node can no longer tell whether it was applied.
    OutcomeUnknown,
    /// Not applied; the request carried a timestamp beyond this node's clock plus
    /// the maximum offset. One of the two clocks is out of bounds, and serving the
    /// request could break isolation, so the node refuses.
    ClockOffset,
}

/// A client's request with the routing the runtime needs for the reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientRequest {
    pub client: ClientId,
    pub request_id: u64,
    pub request: Request,
}

/// An answer to a client request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub client: ClientId,
    pub request_id: u64,
    pub result: Result<Vec<u8>, RequestError>,
}

/// What can happen to a replica.
#[derive(Clone, Debug)]
pub enum Input {
    /// Time passed (the runtime's timer fired).
    Tick,
    Message(Message),
    Request(ClientRequest),
}

/// Work for the runtime, in the order of the module doc.
#[derive(Debug, Default)]
pub struct Output {
    pub readies: Vec<Ready>,
    pub replies: Vec<Reply>,
    pub next_deadline: Time,
}

impl Output {
    /// Whether any `Ready` asks for a sync.
    pub fn needs_sync(&self) -> bool {
        self.readies.iter().any(|ready| ready.sync)
    }

    /// The messages of every `Ready`, in order.
    pub fn messages(&self) -> impl Iterator<Item = &Message> {
        self.readies.iter().flat_map(|ready| ready.messages.iter())
    }

    /// Messages with nothing to persist first (snapshot chunks and their
    /// acknowledgements), in a `Ready` of their own.
    fn send(&mut self, messages: Vec<Message>) {
        if !messages.is_empty() {
            self.readies.push(Ready { messages, ..Ready::default() });
        }
    }
}

/// A Raft group member with its state machine.
pub struct Replica<M: StateMachine> {
    config: ReplicaConfig,
    keys: persistence::GroupKeys,
    raft: RaftNode,
    state_machine: M,
    requests: PendingRequests,
    last_tick_at: Option<Time>,
    /// Snapshots this replica streams to followers, as leader.
    transfers: Transfers,
    /// The snapshot this replica is being sent, as follower.
    receiving: Receiving,
    /// Command bytes applied since the log was last compacted (from zero at
    /// a restart: the log a restart loads was bounded when it was written).
    applied_bytes_since_compaction: u64,
}

impl<M: StateMachine> Replica<M> {
    /// A replica restarting from `recovered` (its Raft state in `engine`); the
    /// state machine loads its own state from `engine`, and the committed
    /// entries after its applied index are applied again as Raft delivers them.
    pub fn new(
        config: ReplicaConfig,
        mut recovered: RecoveredState,
        mut state_machine: M,
        engine: &dyn Engine,
    ) -> Replica<M> {
        assert!(config.tick_interval_nanos > 0);
        recovered.applied_index = state_machine.recover(engine);
        let raft = RaftNode::new(config.raft.clone(), recovered);
        let keys = persistence::GroupKeys::new(config.group);
        Replica {
            config,
            keys,
            raft,
            state_machine,
            requests: PendingRequests::default(),
            last_tick_at: None,
            transfers: Transfers::default(),
            receiving: Receiving::default(),
            applied_bytes_since_compaction: 0,
        }
    }

    pub fn raft(&self) -> &RaftNode {
        &self.raft
    }

    pub fn state_machine(&self) -> &M {
        &self.state_machine
    }

    /// The state machine, for a host that collects what applying produced aside
    /// from the replies (the store takes split-off ranges this way).
    pub fn state_machine_mut(&mut self) -> &mut M {
        &mut self.state_machine
    }

    /// Handles one input at time `now`, writing to `engine` (see the module doc).
    pub fn handle(&mut self, now: Time, input: Input, engine: &mut dyn Engine) -> Result<Output, StorageError> {
        let mut output = Output::default();
        self.advance_clock(now);
        match input {
            Input::Tick => {}
            Input::Message(message) => self.handle_message(message, &mut output, engine)?,
            Input::Request(request) => self.handle_request(request, &mut output),
        }
        self.drain_ready(&mut output, engine)?;
        // A last chunk Raft did not restore (it held those entries): not needed.
        self.receiving.discard_complete(self.config.group, engine)?;
        self.transfers.keep_if_leading(self.raft.role() == Role::Leader, self.raft.term());
        let last_tick_at = self.last_tick_at.expect("set by advance_clock");
        output.next_deadline = last_tick_at.plus_nanos(self.config.tick_interval_nanos);
        Ok(output)
    }

    /// Turns elapsed time into ticks. A clock that jumps far ahead is capped at a
    /// full election timeout of ticks: more would only repeat the same timeouts. A
    /// clock that steps back re-anchors the ticks at the new reading: waiting for
    /// the old reading to come round again would stall elections and heartbeats for
    /// as long as the step.
    fn advance_clock(&mut self, now: Time) {
        let last_tick_at = *self.last_tick_at.get_or_insert(now);
        if now < last_tick_at {
            self.last_tick_at = Some(now);
            return;
        }
        let interval = self.config.tick_interval_nanos;
        let ticks = now.nanos_since(last_tick_at) / interval;
        if ticks == 0 {
            return;
        }
        self.last_tick_at = Some(last_tick_at.plus_nanos(ticks * interval));
        let ticks_max = u64::from(self.config.raft.election_timeout_ticks_max);
        for _ in 0..ticks.min(ticks_max) {
            self.raft.tick();
            self.transfers.tick(self.transfer_idle_ticks_max());
        }
    }

    /// How long a transfer may go unacknowledged before it is dropped: four
    /// times the wait after which Raft asks for the snapshot again.
    fn transfer_idle_ticks_max(&self) -> u64 {
        4 * u64::from(crate::raft::SNAPSHOT_RESEND_HEARTBEATS) * u64::from(self.config.raft.heartbeat_interval_ticks)
    }

    /// Chunks of streamed snapshots and their acknowledgements are the replica's;
    /// everything else is Raft's. The last chunk reaches Raft once staged.
    /// A chunk from an older term goes to Raft unstaged, which answers it as
    /// it answers any stale leader.
    fn handle_message(
        &mut self,
        message: Message,
        output: &mut Output,
        engine: &mut dyn Engine,
    ) -> Result<(), StorageError> {
        match &message.body {
            MessageBody::SnapshotChunkAck { transfer, sequence } => {
                let limits = self.config.snapshot;
                output.send(self.transfers.acknowledged(message.from, *transfer, *sequence, limits)?);
            }
            MessageBody::InstallSnapshot { .. } if message.term >= self.raft.term() && message.to == self.raft.id() => {
                match self.receiving.receive(&message, self.raft.term(), self.config.group, engine)? {
                    Received::Ignored => {}
                    Received::Staged { ack } => output.send(vec![ack]),
                    Received::Last { ack, for_raft } => {
                        output.send(vec![ack]);
                        self.raft.handle_message(for_raft);
                    }
                }
            }
            _ => self.raft.handle_message(message),
        }
        Ok(())
    }

    fn handle_request(&mut self, request: ClientRequest, output: &mut Output) {
        let ClientRequest { client, request_id, request } = request;
        let result = match request {
            Request::Propose(command) => {
                self.raft.propose(command).map(|(index, term)| self.requests.add_write(index, term, client, request_id))
            }
            Request::ChangeConfiguration(change) => self
                .raft
                .propose_configuration_change(change)
                .map(|(index, term)| self.requests.add_write(index, term, client, request_id)),
            Request::Read(query) => {
                let context = self.requests.add_read(self.raft.term(), client, request_id, query);
                self.raft.read_index(context).inspect_err(|_| {
                    self.requests.remove_read(context);
                })
            }
            Request::TransferLeadership(target) => {
                self.raft.transfer_leadership(target).map(|()| output.replies.push(requests::ok(client, request_id)))
            }
        };
        if let Err(error) = result {
            output.replies.push(Reply { client, request_id, result: Err(requests::request_error(error)) });
        }
    }

    /// Takes every `Ready`: persists it, applies what it commits, answers the
    /// requests it settles, and compacts the log when it has grown long.
    fn drain_ready(&mut self, output: &mut Output, engine: &mut dyn Engine) -> Result<(), StorageError> {
        while self.raft.has_ready() {
            let mut ready = self.raft.ready();
            self.stream_snapshots(&mut ready, engine)?;
            let batch = persistence::batch(&self.keys, &ready, persistence::SnapshotData::Omitted);
            if let Some(snapshot) = ready.snapshot.as_ref().filter(|snapshot| snapshot.restore) {
                let metadata = snapshot.snapshot.metadata.clone();
                self.install(&metadata, engine)?;
                output.replies.extend(self.requests.fail_writes_up_to(metadata.index));
            }
            if !batch.is_empty() {
                engine.write(batch)?;
            }
            for entry in &ready.committed_entries {
                let result = match &entry.payload {
                    EntryPayload::Command(command) => {
                        self.applied_bytes_since_compaction += command.len() as u64;
                        self.state_machine.apply(engine, entry.index, command)?
                    }
                    EntryPayload::Empty | EntryPayload::Configuration(_) => Vec::new(),
                };
                output.replies.extend(self.requests.settle_write(entry.index, entry.term, result));
            }
            self.raft.advance(&ready);
            for read in &ready.read_states {
                self.requests.confirm_read(read.context, read.index);
            }
            let applied = self.raft.applied_index();
            output.replies.extend(self.requests.serve_reads(applied, &self.state_machine, engine));
            output.readies.push(ready);
            self.maybe_compact();
        }
        output.replies.extend(self.requests.fail_reads_if_not_leader(&self.raft));
        Ok(())
    }

    /// Replaces every snapshot Raft sends in `ready` with the chunks of a
    /// transfer (`snapshot::outgoing`). A new transfer's view is taken now:
    /// before the entries `ready` commits are applied, the state in the
    /// engine is exactly that of Raft's applied index, which the chunks name.
    /// (Raft's own snapshot is only a marker of where the log was compacted.)
    fn stream_snapshots(&mut self, ready: &mut Ready, engine: &dyn Engine) -> Result<(), StorageError> {
        let is_snapshot = |message: &Message| matches!(message.body, MessageBody::InstallSnapshot { .. });
        if !ready.messages.iter().any(is_snapshot) {
            return Ok(());
        }
        for message in std::mem::take(&mut ready.messages) {
            if !is_snapshot(&message) {
                ready.messages.push(message);
                continue;
            }
            let source = || {
                Ok(TransferSource {
                    view: engine.view()?,
                    metadata: self.raft.applied_snapshot_metadata(),
                    header: self.state_machine.snapshot_header(),
                    spans: self.state_machine.spans(),
                })
            };
            ready.messages.extend(self.transfers.requested(&message, self.config.snapshot, source)?);
        }
        Ok(())
    }

    /// Swaps in the snapshot Raft restored, before Raft's own batch is
    /// written: the staged chunks, clear-only chunks for what the old state
    /// held outside them, and the `installed` record that lets recovery roll
    /// the install forward should a crash come before Raft's batch is durable
    /// (`raft::persistence`). The ingestion is atomic and durable.
    fn install(&mut self, metadata: &SnapshotMetadata, engine: &mut dyn Engine) -> Result<(), StorageError> {
        let ingestion = self.config.group;
        let spans = self.receiving.take_complete(metadata);
        for (start, end) in snapshot::subtract(&self.state_machine.spans(), &spans) {
            engine.stage(ingestion, IngestChunk { start, end, pairs: Vec::new() })?;
        }
        engine.stage(ingestion, persistence::installed_chunk(&self.keys, metadata))?;
        engine.ingest(ingestion)?;
        // Entries without a command (a new leader's, configurations) change
        // no state, so the state's own applied index may be a little behind.
        let applied = self.state_machine.recover(engine);
        assert!(applied <= metadata.index, "an installed snapshot holds the state as of its index, not {applied}");
        Ok(())
    }

    /// Compaction drops applied entries from the log and builds nothing: the
    /// state machine's state is in the engine, and a snapshot for a follower
    /// is streamed from a view when one is needed (`stream_snapshots`). Its batch follows the
    /// batches of the entries it drops, so a crash never keeps the one without
    /// the others.
    fn maybe_compact(&mut self) {
        let (applied, snapshot) = (self.raft.applied_index(), self.raft.snapshot_index());
        let entries_due = applied.0 >= snapshot.0 + self.config.compaction_threshold_entries;
        let bytes_due = self.applied_bytes_since_compaction >= self.config.compaction_threshold_bytes;
        if applied > snapshot && (entries_due || bytes_due) {
            self.raft.compact(applied, Vec::new());
            self.applied_bytes_since_compaction = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::{Configuration, RaftConfig, Role, Snapshot, SnapshotMetadata};
    use crate::storage::MemoryEngine;

    /// A state machine that remembers nothing.
    struct Nothing;

    impl StateMachine for Nothing {
        fn recover(&mut self, _engine: &dyn Engine) -> LogIndex {
            LogIndex(0)
        }
        fn apply(
            &mut self,
            _engine: &mut dyn Engine,
            _index: LogIndex,
            _command: &[u8],
        ) -> Result<Vec<u8>, StorageError> {
            Ok(Vec::new())
        }
        fn query(&self, _engine: &dyn Engine, _query: &[u8]) -> Vec<u8> {
            Vec::new()
        }
        fn spans(&self) -> Vec<Span> {
            vec![(b"nothing/".to_vec(), b"nothing0".to_vec())]
        }
        fn snapshot_header(&self) -> Vec<u8> {
            Vec::new()
        }
    }

    const MILLISECOND: u64 = 1_000_000;

    fn single_voter() -> Replica<Nothing> {
        single_voter_compacting_at(u64::MAX)
    }

    fn single_voter_compacting_at(compaction_threshold_bytes: u64) -> Replica<Nothing> {
        let config = ReplicaConfig {
            group: 1,
            raft: RaftConfig::new(NodeId(1), 7),
            tick_interval_nanos: 10 * MILLISECOND,
            compaction_threshold_entries: 100,
            compaction_threshold_bytes,
            snapshot: SnapshotLimits::default(),
        };
        let metadata =
            SnapshotMetadata { configuration: Configuration::with_voters([NodeId(1)]), ..Default::default() };
        let recovered = RecoveredState { snapshot: Snapshot { metadata, data: Vec::new() }, ..Default::default() };
        Replica::new(config, recovered, Nothing, &MemoryEngine::new())
    }

    #[test]
    fn time_becomes_ticks_and_a_lone_voter_elects_itself() {
        let mut engine = MemoryEngine::new();
        let mut replica = single_voter();
        let output = replica.handle(Time(0), Input::Tick, &mut engine).unwrap();
        assert_eq!(output.next_deadline, Time(10 * MILLISECOND));
        replica.handle(Time(300 * MILLISECOND), Input::Tick, &mut engine).unwrap();
        assert_eq!(replica.raft().role(), Role::Leader);
    }

    #[test]
    fn a_lone_voter_leads_from_its_first_tick() {
        let mut engine = MemoryEngine::new();
        let mut replica = single_voter();
        replica.handle(Time(0), Input::Tick, &mut engine).unwrap();
        replica.handle(Time(10 * MILLISECOND), Input::Tick, &mut engine).unwrap();
        assert_eq!(replica.raft().role(), Role::Leader, "a restarted single node waits out no election timeout");
    }

    #[test]
    fn a_clock_stepping_back_does_not_stall_the_ticks() {
        let mut engine = MemoryEngine::new();
        let mut replica = single_voter();
        replica.handle(Time(10_000 * MILLISECOND), Input::Tick, &mut engine).unwrap();
        // The clock steps back nine seconds; elections must not wait for it to catch up.
        replica.handle(Time(1_000 * MILLISECOND), Input::Tick, &mut engine).unwrap();
        replica.handle(Time(1_300 * MILLISECOND), Input::Tick, &mut engine).unwrap();
        assert_eq!(replica.raft().role(), Role::Leader);
    }

    #[test]
    fn a_write_is_answered_once_committed_and_a_follower_refuses() {
        let mut engine = MemoryEngine::new();
        let mut replica = single_voter();
        replica.handle(Time(0), Input::Tick, &mut engine).unwrap();
        replica.handle(Time(300 * MILLISECOND), Input::Tick, &mut engine).unwrap();
        let request = ClientRequest { client: ClientId(9), request_id: 1, request: Request::Propose(b"x".to_vec()) };
        let output = replica.handle(Time(300 * MILLISECOND), Input::Request(request), &mut engine).unwrap();
        assert!(output.needs_sync(), "the entry must be synced before the reply leaves");
        assert_eq!(output.replies, vec![Reply { client: ClientId(9), request_id: 1, result: Ok(Vec::new()) }]);

        let mut follower = single_voter();
        let request = ClientRequest { client: ClientId(9), request_id: 2, request: Request::Read(Vec::new()) };
        let output = follower.handle(Time(0), Input::Request(request), &mut engine).unwrap();
        let refused = Err(RequestError::NotLeader { leader: None });
        assert_eq!(output.replies, vec![Reply { client: ClientId(9), request_id: 2, result: refused }]);
    }

    /// Large entries compact the log long before the entry count would: the
    /// log after the snapshot is held in memory.
    #[test]
    fn the_log_compacts_once_its_applied_commands_reach_the_byte_threshold() {
        let mut engine = MemoryEngine::new();
        let mut replica = single_voter_compacting_at(1_000);
        replica.handle(Time(0), Input::Tick, &mut engine).unwrap();
        replica.handle(Time(300 * MILLISECOND), Input::Tick, &mut engine).unwrap();
        let start = replica.raft().snapshot_index();
        for request_id in 0..3 {
            let request = ClientRequest { client: ClientId(9), request_id, request: Request::Propose(vec![7; 400]) };
            let output = replica.handle(Time(300 * MILLISECOND), Input::Request(request), &mut engine).unwrap();
            assert_eq!(output.replies.len(), 1, "a lone leader commits at once");
            let compacted = replica.raft().snapshot_index() > start;
            assert_eq!(compacted, request_id == 2, "compacted after {} bytes", 400 * (request_id + 1));
        }
    }
}
