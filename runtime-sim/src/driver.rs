//! The simulated node's driver loop: the same shape as the production runtime.
//!
//! One task owns the [`Node`]. Each turn it waits for an input or the node's
//! deadline, takes every other input already queued (up to a bound), hands them
//! to the node, and performs the outputs in the core's order: write every `Ready`,
//! sync once if any asked (group commit; the sync takes simulated time, and a
//! crash meanwhile loses the unsynced writes), then send messages, then replies.
//! Receiving runs in separate tasks feeding a channel, because madsim's
//! `recv_from` is not cancel-safe.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use madsim::net::Endpoint;
use madsim::rand::{thread_rng, Rng};
use shardforge_core::node::{ClientId, ClientRequest, Input, Node, NodeConfig, Output, StateMachine};
use shardforge_core::raft::{persistence, Message};
use shardforge_core::types::{NodeId, Time};

use crate::clock::SkewedClock;
use crate::disk::SimDisk;
use crate::network::{self, NetworkFaults, ReplyEnvelope, RequestEnvelope, CLIENT_TAG, RAFT_TAG};
use crate::observer::Observer;

/// Inputs handled in one turn at most, so one sync never waits on an unbounded batch.
const INPUTS_PER_TURN_MAX: usize = 256;
/// The one Raft group a simulated node runs today.
pub const REGISTER_GROUP: u64 = 1;
/// Largest datagram a node accepts.
const DATAGRAM_BYTES_MAX: usize = 4 << 20;

/// Everything a simulated node needs; it outlives restarts.
pub struct NodeSetup<M> {
    pub id: NodeId,
    pub config: NodeConfig,
    pub disk: SimDisk,
    pub clock: SkewedClock,
    pub faults: NetworkFaults,
    pub observer: Arc<dyn Observer>,
    /// Simulated time one sync takes.
    pub sync_latency: Duration,
    pub make_state_machine: fn() -> M,
    /// The latest Raft status of every node, for the nemesis to target leaders.
    pub statuses: StatusBoard,
}

/// Every node's latest Raft status, shared by the cluster's nodes and the nemesis.
pub type StatusBoard = Arc<std::sync::Mutex<BTreeMap<NodeId, shardforge_core::raft::Status>>>;

enum Event {
    Raft(Message),
    Client(SocketAddr, RequestEnvelope),
}

/// Runs one node until it is killed. Restarting re-runs this from the disk.
pub async fn run_node<M: StateMachine + 'static>(setup: Arc<NodeSetup<M>>) {
    let endpoint = Arc::new(Endpoint::bind(network::node_address(setup.id)).await.expect("bind node address"));
    let (sender, inbox) = async_channel::unbounded();
    madsim::task::spawn(receive_raft(Arc::clone(&endpoint), sender.clone(), Arc::clone(&setup.observer)));
    madsim::task::spawn(receive_clients(Arc::clone(&endpoint), sender));

    let recovered = persistence::recover(&*setup.disk.lock(), &persistence::GroupKeys::new(REGISTER_GROUP))
        .expect("the simulated disk is never corrupt");
    let mut config = setup.config.clone();
    config.raft.random_seed = thread_rng().gen();
    let mut node = Node::new(config, recovered, (setup.make_state_machine)());
    let mut driver = Driver { setup: Arc::clone(&setup), endpoint, clients: BTreeMap::new() };
    trace(&setup, || format!("{} starts: {:?}", setup.id, node.raft().status()));
    let mut deadline = Time(0);
    loop {
        let events = next_events(&inbox, &setup.clock, deadline).await;
        let now = setup.clock.now();
        let mut outputs = vec![node.handle(now, Input::Tick)];
        for event in events {
            let input = driver.input(event);
            outputs.push(node.handle(now, input));
        }
        deadline = outputs.last().expect("at least the tick").next_deadline;
        driver.perform(&node, outputs).await;
    }
}

/// Waits for the first event or the deadline, then takes what else is queued.
async fn next_events(inbox: &async_channel::Receiver<Event>, clock: &SkewedClock, deadline: Time) -> Vec<Event> {
    let mut events = Vec::new();
    let wait = Duration::from_nanos(deadline.nanos_since(clock.now()));
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

struct Driver<M> {
    setup: Arc<NodeSetup<M>>,
    endpoint: Arc<Endpoint>,
    /// Where to send each client's replies.
    clients: BTreeMap<u64, SocketAddr>,
}

impl<M: StateMachine + 'static> Driver<M> {
    fn input(&mut self, event: Event) -> Input {
        match event {
            Event::Raft(message) => {
                trace(&self.setup, || format!("{} <- {message:?}", self.setup.id));
                Input::Message(message)
            }
            Event::Client(from, envelope) => {
                self.clients.insert(envelope.client_id, from);
                trace(&self.setup, || format!("{} <- client {envelope:?}", self.setup.id));
                Input::Request(ClientRequest {
                    client: ClientId(envelope.client_id),
                    request_id: envelope.request_id,
                    request: envelope.request,
                })
            }
        }
    }

    /// Persist, sync once, then send, then reply.
    async fn perform(&mut self, node: &Node<M>, outputs: Vec<Output>) {
        let setup = Arc::clone(&self.setup);
        {
            let keys = persistence::GroupKeys::new(REGISTER_GROUP);
            let mut disk = setup.disk.lock();
            for ready in outputs.iter().flat_map(|output| &output.readies) {
                persistence::write(&mut *disk, &keys, ready).expect("the simulated disk never fails");
            }
        }
        if outputs.iter().any(Output::needs_sync) {
            madsim::time::sleep(setup.sync_latency).await;
            shardforge_core::storage::Engine::sync(&mut *setup.disk.lock()).expect("sync");
        }
        self.report(node, &outputs);
        self.send_messages(&outputs).await;
        for reply in outputs.into_iter().flat_map(|output| output.replies) {
            let Some(address) = self.clients.get(&reply.client.0).copied() else { continue };
            let envelope = ReplyEnvelope { request_id: reply.request_id, result: reply.result };
            network::send_value(&self.endpoint, &setup.faults, address, CLIENT_TAG, envelope).await;
        }
    }

    fn report(&self, node: &Node<M>, outputs: &[Output]) {
        let observer = &self.setup.observer;
        for ready in outputs.iter().flat_map(|output| &output.readies) {
            if let Some(snapshot) = ready.snapshot.as_ref().filter(|snapshot| snapshot.restore) {
                observer.restored_snapshot(self.setup.id, snapshot.snapshot.metadata.index);
            }
            if !ready.committed_entries.is_empty() {
                observer.applied(self.setup.id, &ready.committed_entries);
            }
        }
        let applied_something = outputs
            .iter()
            .flat_map(|output| &output.readies)
            .any(|ready| !ready.committed_entries.is_empty() || ready.snapshot.as_ref().is_some_and(|s| s.restore));
        if applied_something {
            let digest = state_digest(&node.state_machine().snapshot());
            observer.state(self.setup.id, node.raft().applied_index(), digest);
        }
        let status = node.raft().status();
        self.setup.statuses.lock().expect("status board lock").insert(self.setup.id, status.clone());
        observer.status(self.setup.id, &status);
    }

    /// One datagram per destination per turn, in node-id order.
    async fn send_messages(&self, outputs: &[Output]) {
        let mut batches: BTreeMap<NodeId, Vec<Message>> = BTreeMap::new();
        for message in outputs.iter().flat_map(Output::messages) {
            batches.entry(message.to).or_default().push(message.clone());
        }
        for (to, messages) in batches {
            trace(&self.setup, || format!("{} -> {to}: {} messages", self.setup.id, messages.len()));
            let bytes = shardforge_proto::encode_batch(&messages);
            network::send_bytes(&self.endpoint, &self.setup.faults, network::node_address(to), RAFT_TAG, bytes).await;
        }
    }
}

/// 64-bit FNV-1a of a state machine's serialized state.
fn state_digest(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3))
}

fn trace<M>(setup: &NodeSetup<M>, line: impl FnOnce() -> String) {
    if setup.observer.tracing() {
        setup.observer.event(line());
    }
}

async fn receive_raft(endpoint: Arc<Endpoint>, sender: async_channel::Sender<Event>, observer: Arc<dyn Observer>) {
    let mut buffer = vec![0; DATAGRAM_BYTES_MAX];
    while let Ok((length, from)) = endpoint.recv_from(RAFT_TAG, &mut buffer).await {
        match shardforge_proto::decode_batch(&buffer[..length]) {
            Ok(messages) => {
                for message in messages {
                    let _ = sender.send(Event::Raft(message)).await;
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
