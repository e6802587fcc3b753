//! The façade a runtime drives: one Raft group, the replicated state machine on
//! top of it, and the client requests waiting for either.
//!
//! Quinn-style: every input carries `now` ([`Node::handle`]), and the answer is an
//! [`Output`] of plain data. The runtime must perform an output in this order:
//! 1. persist each `Ready` in `readies` in order (`raft::persistence::write`),
//!    syncing once at the end if any asked for it — many proposals share that one
//!    sync (group commit);
//! 2. send every message of every `Ready`;
//! 3. deliver `replies` to clients;
//! 4. call `handle(now, Input::Tick)` again no later than `next_deadline`.
//!
//! The state machine is applied here, in memory, before the runtime persists: it is
//! volatile (rebuilt from snapshot and log on restart), and nothing that depends on
//! it — replies, messages — leaves before the persist. Time is turned into Raft
//! ticks here: one tick per `tick_interval_nanos` of the time the runtime reports.

mod requests;

use crate::raft::{ConfigurationChange, EntryPayload, Message, RaftConfig, RaftNode, Ready, RecoveredState};
use crate::types::{LogIndex, NodeId, Time};
use requests::PendingRequests;

/// The application replicated by Raft. Commands are opaque bytes.
pub trait StateMachine {
    /// Applies a committed command; the result goes back to the client.
    fn apply(&mut self, index: LogIndex, command: &[u8]) -> Vec<u8>;
    /// Answers a read against the current state.
    fn query(&self, query: &[u8]) -> Vec<u8>;
    /// The whole state, for a snapshot.
    fn snapshot(&self) -> Vec<u8>;
    /// Replaces the whole state with a snapshot's.
    fn restore(&mut self, data: &[u8]);
}

/// Settings of a node.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub raft: RaftConfig,
    pub tick_interval_nanos: u64,
    /// Compact the log once this many applied entries follow the last snapshot.
    pub compaction_threshold_entries: u64,
}

/// Identifies where a reply must go; meaningful only to the runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientId(pub u64);

/// What a client asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// A command to replicate and apply.
    Write(Vec<u8>),
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

/// What can happen to a node.
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
}

/// A Raft group member with its state machine.
pub struct Node<M: StateMachine> {
    config: NodeConfig,
    raft: RaftNode,
    state_machine: M,
    requests: PendingRequests,
    last_tick_at: Option<Time>,
}

impl<M: StateMachine> Node<M> {
    /// A node restarting from `recovered`; the state machine is rebuilt from the
    /// snapshot, and committed entries after it are re-applied as Raft delivers them.
    pub fn new(config: NodeConfig, recovered: RecoveredState, mut state_machine: M) -> Node<M> {
        assert!(config.tick_interval_nanos > 0);
        state_machine.restore(&recovered.snapshot.data);
        let raft = RaftNode::new(config.raft.clone(), recovered);
        Node { config, raft, state_machine, requests: PendingRequests::default(), last_tick_at: None }
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

    /// Handles one input at time `now`.
    pub fn handle(&mut self, now: Time, input: Input) -> Output {
        let mut output = Output::default();
        self.advance_clock(now);
        match input {
            Input::Tick => {}
            Input::Message(message) => self.raft.handle_message(message),
            Input::Request(request) => self.handle_request(request, &mut output),
        }
        self.drain_ready(&mut output);
        let last_tick_at = self.last_tick_at.expect("set by advance_clock");
        output.next_deadline = last_tick_at.plus_nanos(self.config.tick_interval_nanos);
        output
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
        }
    }

    fn handle_request(&mut self, request: ClientRequest, output: &mut Output) {
        let ClientRequest { client, request_id, request } = request;
        let result = match request {
            Request::Write(command) => {
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

    /// Takes every `Ready`, applies what it commits, answers the requests it
    /// settles, and compacts the log when it has grown long.
    fn drain_ready(&mut self, output: &mut Output) {
        while self.raft.has_ready() {
            let ready = self.raft.ready();
            if let Some(snapshot) = ready.snapshot.as_ref().filter(|snapshot| snapshot.restore) {
                self.state_machine.restore(&snapshot.snapshot.data);
                let index = snapshot.snapshot.metadata.index;
                output.replies.extend(self.requests.fail_writes_up_to(index));
            }
            for entry in &ready.committed_entries {
                let result = match &entry.payload {
                    EntryPayload::Command(command) => self.state_machine.apply(entry.index, command),
                    EntryPayload::Empty | EntryPayload::Configuration(_) => Vec::new(),
                };
                output.replies.extend(self.requests.settle_write(entry.index, entry.term, result));
            }
            self.raft.advance(&ready);
            for read in &ready.read_states {
                self.requests.confirm_read(read.context, read.index);
            }
            output.replies.extend(self.requests.serve_reads(self.raft.applied_index(), &self.state_machine));
            output.readies.push(ready);
            self.maybe_compact();
        }
        output.replies.extend(self.requests.fail_reads_if_not_leader(&self.raft));
    }

    fn maybe_compact(&mut self) {
        let applied = self.raft.applied_index();
        if applied.0 >= self.raft.snapshot_index().0 + self.config.compaction_threshold_entries {
            self.raft.compact(applied, self.state_machine.snapshot());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::{Configuration, RaftConfig, Role, Snapshot, SnapshotMetadata};

    /// A state machine that remembers nothing.
    struct Nothing;

    impl StateMachine for Nothing {
        fn apply(&mut self, _index: LogIndex, _command: &[u8]) -> Vec<u8> {
            Vec::new()
        }
        fn query(&self, _query: &[u8]) -> Vec<u8> {
            Vec::new()
        }
        fn snapshot(&self) -> Vec<u8> {
            Vec::new()
        }
        fn restore(&mut self, _data: &[u8]) {}
    }

    const MILLISECOND: u64 = 1_000_000;

    fn single_voter() -> Node<Nothing> {
        let config = NodeConfig {
            raft: RaftConfig::new(NodeId(1), 7),
            tick_interval_nanos: 10 * MILLISECOND,
            compaction_threshold_entries: 100,
        };
        let metadata =
            SnapshotMetadata { configuration: Configuration::with_voters([NodeId(1)]), ..Default::default() };
        let recovered = RecoveredState { snapshot: Snapshot { metadata, data: Vec::new() }, ..Default::default() };
        Node::new(config, recovered, Nothing)
    }

    #[test]
    fn time_becomes_ticks_and_a_lone_voter_elects_itself() {
        let mut node = single_voter();
        let output = node.handle(Time(0), Input::Tick);
        assert_eq!(output.next_deadline, Time(10 * MILLISECOND));
        node.handle(Time(300 * MILLISECOND), Input::Tick);
        assert_eq!(node.raft().role(), Role::Leader);
    }

    #[test]
    fn a_clock_stepping_back_does_not_stall_the_ticks() {
        let mut node = single_voter();
        node.handle(Time(10_000 * MILLISECOND), Input::Tick);
        // The clock steps back nine seconds; elections must not wait for it to catch up.
        node.handle(Time(1_000 * MILLISECOND), Input::Tick);
        node.handle(Time(1_300 * MILLISECOND), Input::Tick);
        assert_eq!(node.raft().role(), Role::Leader);
    }

    #[test]
    fn a_write_is_answered_once_committed_and_a_follower_refuses() {
        let mut node = single_voter();
        node.handle(Time(0), Input::Tick);
        node.handle(Time(300 * MILLISECOND), Input::Tick);
        let request = ClientRequest { client: ClientId(9), request_id: 1, request: Request::Write(b"x".to_vec()) };
        let output = node.handle(Time(300 * MILLISECOND), Input::Request(request));
        assert!(output.needs_sync(), "the entry must be synced before the reply leaves");
        assert_eq!(output.replies, vec![Reply { client: ClientId(9), request_id: 1, result: Ok(Vec::new()) }]);

        let mut follower = single_voter();
        let request = ClientRequest { client: ClientId(9), request_id: 2, request: Request::Read(Vec::new()) };
        let output = follower.handle(Time(0), Input::Request(request));
        let refused = Err(RequestError::NotLeader { leader: None });
        assert_eq!(output.replies, vec![Reply { client: ClientId(9), request_id: 2, result: refused }]);
    }
}
