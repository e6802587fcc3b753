//! The simulated node's driver loop: the same shape as the production runtime.
//!
//! One task owns the node's [`Program`] (one Raft group, or a store of many). Each turn it waits for an input or the node's
//! deadline, takes every other input already queued (up to a bound), hands them
//! to the node, which writes to the node's disk as it handles them, and performs
//! the outputs as the core's [`Turn`] orders them: sync once if any asked (group
//! commit; the sync takes simulated time, and a crash meanwhile loses the
//! unsynced writes), then send messages, then replies. Ticks follow the core's
//! [`TickSchedule`], the production driver's policy.
//! Receiving runs in separate tasks feeding a channel, because madsim's
//! `recv_from` is not cancel-safe.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use madsim::net::Endpoint;
use madsim::rand::{thread_rng, Rng};
use shardforge_core::raft::{AppendResult, Message, MessageBody};
use shardforge_core::replica::snapshot::frame;
use shardforge_core::replica::ClientId;
use shardforge_core::store::turn::{TickSchedule, Turn};
use shardforge_core::store::StoreOutput;
use shardforge_core::types::{NodeId, RangeId};

use crate::clock::SkewedClock;
use crate::disk::SimDisk;
use crate::network::{self, NetworkFaults, ReplyEnvelope, RequestEnvelope, CLIENT_TAG, RAFT_TAG};
use crate::observer::Observer;
use crate::program::{Program, ProgramInput};

/// Inputs handled in one turn at most, so one sync never waits on an unbounded batch.
const INPUTS_PER_TURN_MAX: usize = 256;
/// Largest datagram a node accepts.
const DATAGRAM_BYTES_MAX: usize = 4 << 20;

/// Everything a simulated node needs; it outlives restarts.
pub struct NodeSetup<P: Program> {
    pub id: NodeId,
    pub settings: P::Settings,
    pub disk: SimDisk,
    pub clock: SkewedClock,
    pub faults: NetworkFaults,
    pub observer: Arc<dyn Observer>,
    /// Simulated time one sync takes.
    pub sync_latency: Duration,
    /// The latest Raft status of every node, for the nemesis to target leaders.
    pub statuses: StatusBoard,
    /// Snapshot chunks this node staged and snapshots it installed, counted
    /// as soon as handled (before the sync): the nemesis crashes a node
    /// moments after one (`FaultKind::RestartDuringSnapshot`).
    pub snapshot_steps: std::sync::atomic::AtomicU64,
    /// Cuts the node's power right after a turn that acknowledged something
    /// (`FaultKind::PowerLossAfterAcknowledgement`).
    pub power_switch: PowerSwitch,
}

/// A power cut timed to a dangerous instant: armed by the nemesis, it trips
/// right after the next turn that sent an acknowledgement (a granted vote, an
/// accepted append, a staged chunk), and loses every write the disk had not
/// synced. A random crash rarely lands between one turn's sends and the next
/// turn's sync, so a turn that sends a promise before its write is durable
/// (ack before fsync, inside group commit) goes unseen by it; this cut lands
/// there. In a correct node the turn synced before it sent, so the cut is a
/// restart right after a promise, which the durability checks then hold to it.
#[derive(Debug, Default)]
pub struct PowerSwitch {
    armed: AtomicBool,
    tripped: AtomicBool,
}

impl PowerSwitch {
    pub fn arm(&self) {
        self.tripped.store(false, Ordering::Relaxed);
        self.armed.store(true, Ordering::Relaxed);
    }

    /// Disarms the switch; whether it tripped.
    pub fn disarm(&self) -> bool {
        self.armed.store(false, Ordering::Relaxed);
        self.tripped.load(Ordering::Relaxed)
    }

    pub fn tripped(&self) -> bool {
        self.tripped.load(Ordering::Relaxed)
    }

    /// Called after every turn: cuts the power if armed and the turn
    /// acknowledged something. Returns how many unsynced write batches the
    /// cut lost (`None`: it did not trip).
    fn trip(&self, acknowledged: bool, disk: &SimDisk) -> Option<usize> {
        if !acknowledged || !self.armed.load(Ordering::Relaxed) {
            return None;
        }
        self.armed.store(false, Ordering::Relaxed);
        self.tripped.store(true, Ordering::Relaxed);
        Some(disk.crash(|_| 0).1)
    }
}

/// Every node's latest Raft status, shared by the cluster's nodes and the nemesis.
pub type StatusBoard = Arc<std::sync::Mutex<BTreeMap<NodeId, shardforge_core::raft::Status>>>;

enum Event {
    Raft(u64, Message),
    Client(SocketAddr, RequestEnvelope),
}

/// Runs one node until it is killed. Restarting re-runs this from the disk.
pub async fn run_node<P: Program>(setup: Arc<NodeSetup<P>>) {
    let endpoint = Arc::new(Endpoint::bind(network::node_address(setup.id)).await.expect("bind node address"));
    let (sender, inbox) = async_channel::unbounded();
    madsim::task::spawn(receive_raft(Arc::clone(&endpoint), sender.clone(), Arc::clone(&setup.observer)));
    madsim::task::spawn(receive_clients(Arc::clone(&endpoint), sender));

    let mut program = P::recover(&setup.settings, setup.id, thread_rng().gen(), &mut setup.disk.lock());
    let mut driver = Driver { setup: Arc::clone(&setup), endpoint, clients: BTreeMap::new() };
    trace(&setup, || format!("{} starts: {:?}", setup.id, program.status()));
    setup.observer.started(setup.id, program.status().as_ref());
    let mut ticks = TickSchedule::default();
    loop {
        let events = next_events(&inbox, &setup.clock, ticks).await;
        let now = setup.clock.now();
        let mut outputs = Vec::new();
        {
            let mut disk = setup.disk.lock();
            if ticks.due(now) {
                let output = program.handle(now, ProgramInput::Tick, &mut disk);
                ticks.ticked(now, &output);
                outputs.push(output);
            }
            for event in events {
                let input = driver.input(event);
                outputs.push(program.handle(now, input, &mut disk));
            }
        }
        let steps = outputs.iter().map(snapshot_steps).sum::<u64>();
        setup.snapshot_steps.fetch_add(steps, std::sync::atomic::Ordering::Relaxed);
        let acknowledged = driver.perform(&program, outputs).await;
        if let Some(lost) = setup.power_switch.trip(acknowledged, &setup.disk) {
            // The power is out: the process is as good as dead until the
            // nemesis restarts it.
            trace(&setup, || {
                format!("{} lost power after acknowledging: {lost} unsynced write batches lost", setup.id)
            });
            std::future::pending::<()>().await;
        }
    }
}

/// How many snapshot chunks `output` staged (it acknowledges each) and how
/// many snapshots it installed.
fn snapshot_steps(output: &StoreOutput) -> u64 {
    let staged = output
        .messages()
        .filter(|(_, message)| matches!(message.body, shardforge_core::raft::MessageBody::SnapshotChunkAck { .. }))
        .count();
    let installed =
        output.readies.iter().filter(|(_, ready)| ready.snapshot.as_ref().is_some_and(|s| s.restore)).count();
    (staged + installed) as u64
}

/// Waits for the first event or the deadline, then takes what else is queued.
async fn next_events(inbox: &async_channel::Receiver<Event>, clock: &SkewedClock, ticks: TickSchedule) -> Vec<Event> {
    let mut events = Vec::new();
    let wait = Duration::from_nanos(ticks.wait_nanos(clock.now()));
    if !wait.is_zero() {
        if let Ok(Ok(event)) = madsim::time::timeout(wait, inbox.recv()).await {
            events.push(event);
        }
    }
    while events.len() < INPUTS_PER_TURN_MAX {
        match inbox.try_recv() {
            Ok(event) => events.push(event),
            Err(_) => break,
        }
    }
    events
}

struct Driver<P: Program> {
    setup: Arc<NodeSetup<P>>,
    endpoint: Arc<Endpoint>,
    /// Where to send each client's replies.
    clients: BTreeMap<u64, SocketAddr>,
}

impl<P: Program> Driver<P> {
    fn input(&mut self, event: Event) -> ProgramInput {
        match event {
            Event::Raft(group, message) => {
                trace(&self.setup, || format!("{} <- g{group} {message:?}", self.setup.id));
                ProgramInput::Message { group, message }
            }
            Event::Client(from, envelope) => {
                self.clients.insert(envelope.client_id, from);
                trace(&self.setup, || format!("{} <- client {envelope:?}", self.setup.id));
                ProgramInput::Request {
                    client: ClientId(envelope.client_id),
                    request_id: envelope.request_id,
                    group: envelope.group,
                    request: envelope.request,
                    sender_clock: envelope.sender_clock,
                }
            }
        }
    }

    /// Sync once (the program wrote to the disk as it handled), then send, then reply.
    /// Performs a turn ([`Turn`]): the sync takes simulated time, and a crash
    /// meanwhile loses the unsynced writes.
    /// Returns whether the turn sent an acknowledgement.
    async fn perform(&mut self, program: &P, outputs: Vec<StoreOutput>) -> bool {
        let setup = Arc::clone(&self.setup);
        let turn = Turn::of(outputs);
        let acknowledged =
            turn.batches.iter().flat_map(|(_, messages)| messages).any(|(_, message)| acknowledges(message));
        if turn.sync {
            madsim::time::sleep(setup.sync_latency).await;
            shardforge_core::storage::Engine::sync(&mut *setup.disk.lock()).expect("sync");
        }
        self.report_promises(&turn.batches);
        self.report(program, &turn);
        self.send_messages(turn.batches).await;
        for reply in turn.replies {
            let Some(address) = self.clients.get(&reply.client.0).copied() else { continue };
            let envelope = ReplyEnvelope { request_id: reply.request_id, result: reply.result };
            network::send_value(&self.endpoint, &setup.faults, address, CLIENT_TAG, envelope).await;
        }
        acknowledged
    }

    /// Tells the observer the votes and acknowledgements the turn is about
    /// to send: before its removals, since a replica that acknowledged and was
    /// removed in one turn acknowledged before it was removed.
    fn report_promises(&self, batches: &[(NodeId, Vec<(u64, Message)>)]) {
        let (observer, id) = (&self.setup.observer, self.setup.id);
        for (group, message) in batches.iter().flat_map(|(_, messages)| messages) {
            match message.body {
                MessageBody::VoteResponse { granted: true } => observer.vote_sent(id, *group, message.term, message.to),
                MessageBody::AppendResponse { result: AppendResult::Accepted { match_index } } => {
                    observer.acknowledged(id, *group, message.term, match_index)
                }
                _ => {}
            }
        }
    }

    /// Tells the observer what the turn applied, then what it removed (a
    /// removal is judged by the configurations applied), then the states and
    /// status it left (a replica removed and re-created empty in the same turn
    /// is a new one).
    fn report(&self, program: &P, turn: &Turn) {
        let (observer, id) = (&self.setup.observer, self.setup.id);
        let mut changed_groups = std::collections::BTreeSet::new();
        for (group, ready) in &turn.readies {
            if let Some(snapshot) = ready.snapshot.as_ref().filter(|snapshot| snapshot.restore) {
                let index = snapshot.snapshot.metadata.index;
                trace(&self.setup, || format!("{id} installed a snapshot of group {} at {index}", group.0));
                observer.restored_snapshot(id, group.0, snapshot.snapshot.metadata.index);
                changed_groups.insert(*group);
            }
            if !ready.committed_entries.is_empty() {
                observer.applied(id, group.0, &ready.committed_entries);
                changed_groups.insert(*group);
            }
        }
        for (range, removal) in &turn.removed {
            observer.replica_removed(id, range.0, *removal);
        }
        let disk = self.setup.disk.lock();
        for RangeId(group) in changed_groups {
            if let Some(replica) = program.replica_state(group, &disk) {
                observer.state(id, group, &replica);
            }
        }
        if let Some(status) = program.status() {
            self.setup.statuses.lock().expect("status board lock").insert(id, status.clone());
            observer.status(id, &status);
        }
    }

    /// Whether `message` is a middle chunk of a snapshot transfer that the
    /// `LoseSnapshotChunk` fault takes (the follower must not install a hole).
    fn loses_snapshot_chunk(&self, group: u64, message: &Message) -> bool {
        let MessageBody::InstallSnapshot { snapshot } = &message.body else { return false };
        let Ok(head) = frame::decode_head(&snapshot.data) else { return false };
        if head.sequence == 0 || head.last || !self.setup.faults.take_snapshot_chunk_loss() {
            return false;
        }
        let (from, to, sequence) = (message.from, message.to, head.sequence);
        trace(&self.setup, || format!("lost chunk {sequence} of a snapshot of group {group} from {from} to {to}"));
        true
    }

    /// One datagram per destination per turn, in node-id order.
    async fn send_messages(&self, batches: Vec<(NodeId, Vec<(u64, Message)>)>) {
        for (to, mut messages) in batches {
            messages.retain(|(group, message)| !self.loses_snapshot_chunk(*group, message));
            trace(&self.setup, || format!("{} -> {to}: {} messages", self.setup.id, messages.len()));
            let bytes = shardforge_proto::encode_group_batch(&messages);
            network::send_bytes(&self.endpoint, &self.setup.faults, network::node_address(to), RAFT_TAG, bytes).await;
        }
    }
}

/// Whether `message` promises durable state: a granted vote, an accepted
/// append, a staged snapshot chunk.
fn acknowledges(message: &Message) -> bool {
    matches!(
        message.body,
        MessageBody::VoteResponse { granted: true }
            | MessageBody::AppendResponse { result: AppendResult::Accepted { .. } }
            | MessageBody::SnapshotChunkAck { .. }
    )
}

fn trace<P: Program>(setup: &NodeSetup<P>, line: impl FnOnce() -> String) {
    if setup.observer.tracing() {
        setup.observer.event(line());
    }
}

async fn receive_raft(endpoint: Arc<Endpoint>, sender: async_channel::Sender<Event>, observer: Arc<dyn Observer>) {
    let mut buffer = vec![0; DATAGRAM_BYTES_MAX];
    while let Ok((length, from)) = endpoint.recv_from(RAFT_TAG, &mut buffer).await {
        match shardforge_proto::decode_group_batch(&buffer[..length]) {
            Ok(messages) => {
                for (group, message) in messages {
                    let _ = sender.send(Event::Raft(group, message)).await;
                }
            }
            // A bad datagram is dropped, never trusted: the sender will retry.
            Err(error) => observer.event(format!("dropped undecodable datagram from {from}: {error}")),
        }
    }
}

async fn receive_clients(endpoint: Arc<Endpoint>, sender: async_channel::Sender<Event>) {
    while let Ok((payload, from)) = endpoint.recv_from_raw(CLIENT_TAG).await {
        if let Ok(envelope) = payload.downcast::<RequestEnvelope>() {
            let _ = sender.send(Event::Client(from, *envelope)).await;
        }
    }
}
