//! Stores of several nodes in one process, exchanging messages through an
//! in-memory queue under a script's control: a deterministic test bed for
//! everything above Raft (ranges, splits, transactions) that runs far faster
//! than the madsim simulator. The caller decides when time passes
//! ([`LocalCluster::step`]) and which nodes are cut off.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::turn::Turn;
use super::{bootstrap, Store, StoreConfig, StoreInput, StoreOutput, StoreRequest};
use crate::keys::Key;
use crate::raft::{Message, RaftConfig, Role};
use crate::range::{RangeDescriptor, RangeRequest};
use crate::replica::{ClientId, RequestError, SnapshotLimits};
use crate::storage::{Engine, MemoryEngine};
use crate::types::{NodeId, RangeId, Time};

/// Simulated time per step.
pub const STEP_NANOS: u64 = 10_000_000;
/// The maximum clock offset the stores assume; the nodes' own clocks agree.
pub const MAX_OFFSET_NANOS: u64 = 50_000_000;

/// A cluster of stores in memory.
pub struct LocalCluster {
    stores: BTreeMap<NodeId, Store>,
    engines: BTreeMap<NodeId, MemoryEngine>,
    queue: VecDeque<(NodeId, RangeId, Message)>,
    isolated: BTreeSet<NodeId>,
    /// One range's messages to one node, dropped (`set_range_cut_off`).
    cut_off: BTreeSet<(RangeId, NodeId)>,
    replies: BTreeMap<u64, Result<Vec<u8>, RequestError>>,
    now: Time,
    next_request_id: u64,
    split_threshold_bytes: Option<usize>,
    timestamp_cache_entries_max: usize,
    /// Snapshot chunks delivered so far, and the largest one's data in bytes.
    snapshot_chunks: (usize, usize),
}

fn store_config(node: NodeId, seed: u64, cluster: &LocalCluster) -> StoreConfig {
    StoreConfig {
        node,
        raft: RaftConfig::new(node, seed ^ node.0),
        tick_interval_nanos: STEP_NANOS,
        compaction_threshold_entries: 200,
        compaction_threshold_bytes: 64 << 10,
        heartbeat_expiry_nanos: 2_000_000_000,
        split_threshold_bytes: cluster.split_threshold_bytes,
        split_check_interval_ticks: 5,
        garbage_collection_ttl_nanos: None,
        max_offset_nanos: MAX_OFFSET_NANOS,
        timestamp_cache_entries_max: cluster.timestamp_cache_entries_max,
        // Small chunks, so that every snapshot here streams in several.
        snapshot: SnapshotLimits { chunk_bytes_max: 512, chunks_in_flight_max: 2 },
        knobs: Default::default(),
    }
}

impl LocalCluster {
    /// `node_count` nodes sharing the first range, their randomness from `seed`.
    pub fn new(node_count: u64, seed: u64) -> LocalCluster {
        LocalCluster::with_split_threshold(node_count, seed, None)
    }

    /// Like `new`, with ranges splitting once they hold more than `bytes`.
    pub fn with_split_threshold(node_count: u64, seed: u64, bytes: Option<usize>) -> LocalCluster {
        LocalCluster::with_limits(node_count, seed, bytes, crate::range::TIMESTAMP_CACHE_ENTRIES_MAX_DEFAULT)
    }

    /// Like `with_split_threshold`, with each range's timestamp cache bounded
    /// to `timestamp_cache_entries_max` entries (tiny bounds make it fold into
    /// its low-water mark all the time).
    pub fn with_limits(
        node_count: u64,
        seed: u64,
        bytes: Option<usize>,
        timestamp_cache_entries_max: usize,
    ) -> LocalCluster {
        let nodes: Vec<NodeId> = (1..=node_count).map(NodeId).collect();
        let mut cluster = LocalCluster {
            stores: BTreeMap::new(),
            engines: BTreeMap::new(),
            queue: VecDeque::new(),
            isolated: BTreeSet::new(),
            cut_off: BTreeSet::new(),
            replies: BTreeMap::new(),
            now: Time(0),
            next_request_id: 0,
            split_threshold_bytes: bytes,
            timestamp_cache_entries_max,
            snapshot_chunks: (0, 0),
        };
        for node in nodes.iter().copied() {
            let mut engine = MemoryEngine::new();
            bootstrap(&mut engine, &nodes).expect("the in-memory engine does not fail");
            let config = store_config(node, seed, &cluster);
            let store = Store::new(config, &mut engine).expect("the in-memory engine does not fail");
            cluster.stores.insert(node, store);
            cluster.engines.insert(node, engine);
        }
        cluster
    }

    pub fn now(&self) -> Time {
        self.now
    }

    pub fn nodes(&self) -> Vec<NodeId> {
        self.stores.keys().copied().collect()
    }

    pub fn store(&self, node: NodeId) -> &Store {
        &self.stores[&node]
    }

    /// The engine of `node`, where its replicas keep their state.
    pub fn engine(&self, node: NodeId) -> &MemoryEngine {
        &self.engines[&node]
    }

    /// Cuts `node` off (its messages in and out are dropped) or heals it.
    pub fn set_isolated(&mut self, node: NodeId, isolated: bool) {
        if isolated {
            self.isolated.insert(node);
        } else {
            self.isolated.remove(&node);
        }
    }

    /// Drops (or delivers again) the messages of `range` to `node`: that one
    /// replica falls behind while the node's others keep up.
    pub fn set_range_cut_off(&mut self, range: RangeId, node: NodeId, cut_off: bool) {
        if cut_off {
            self.cut_off.insert((range, node));
        } else {
            self.cut_off.remove(&(range, node));
        }
    }

    /// Hands `message` for `range` to its addressee now, as if it came from
    /// the network (a test's forged or replayed message).
    pub fn deliver(&mut self, range: RangeId, message: Message) {
        self.handle(message.to, StoreInput::Message { range, message });
    }

    /// Hands `input` to `node`'s store and performs the output.
    fn handle(&mut self, node: NodeId, input: StoreInput) {
        let engine = self.engines.get_mut(&node).expect("known node");
        let store = self.stores.get_mut(&node).expect("known node");
        let output = store.handle(self.now, input, engine).expect("the in-memory engine does not fail");
        self.perform(node, output);
    }

    /// Performs `output` as the drivers do ([`Turn`]): a sync if it asks,
    /// then its messages (queued), then its replies.
    fn perform(&mut self, node: NodeId, output: StoreOutput) {
        let turn = Turn::of(vec![output]);
        if turn.sync {
            let engine = self.engines.get_mut(&node).expect("known node");
            engine.sync().expect("the in-memory engine does not fail");
        }
        for (_, messages) in turn.batches {
            for (group, message) in messages {
                self.queue.push_back((node, RangeId(group), message));
            }
        }
        for reply in turn.replies {
            self.replies.insert(reply.request_id, reply.result);
        }
    }

    /// Crashes `node` and starts it again from its storage: its in-memory state,
    /// the requests it was serving and the messages queued to it are lost.
    pub fn restart(&mut self, node: NodeId, seed: u64) {
        let config = store_config(node, seed, self);
        let engine = self.engines.get_mut(&node).expect("known node");
        // What was not synced is lost, as the drivers' turns leave it: the
        // store replays the log after its durable applied index.
        engine.crash(0);
        let store = Store::new(config, engine).expect("the in-memory engine does not fail");
        self.stores.insert(node, store);
        self.queue.retain(|(_, _, message)| message.to != node);
    }

    /// Delivers every queued message, then lets one tick pass on every node.
    pub fn step(&mut self) {
        self.step_crashing(None, |_| false);
    }

    /// Like `step`, but `crashing` (a node and a seed) crashes and restarts
    /// right after it handles the first message `crash_after` matches, before
    /// anything it wrote is synced (or sent): it loses every unsynced write.
    /// Returns whether that happened.
    pub fn step_crashing(&mut self, crashing: Option<(NodeId, u64)>, crash_after: impl Fn(&Message) -> bool) -> bool {
        let mut crashed = false;
        while let Some((from, range, message)) = self.queue.pop_front() {
            let to = message.to;
            if self.isolated.contains(&from) || self.isolated.contains(&to) || self.cut_off.contains(&(range, to)) {
                continue;
            }
            if let crate::raft::MessageBody::InstallSnapshot { snapshot } = &message.body {
                self.snapshot_chunks = (self.snapshot_chunks.0 + 1, self.snapshot_chunks.1.max(snapshot.data.len()));
            }
            match crashing {
                Some((node, seed)) if !crashed && node == to && crash_after(&message) => {
                    let engine = self.engines.get_mut(&node).expect("known node");
                    let store = self.stores.get_mut(&node).expect("known node");
                    let input = StoreInput::Message { range, message };
                    store.handle(self.now, input, engine).expect("the in-memory engine does not fail");
                    self.restart(node, seed);
                    crashed = true;
                }
                _ => self.handle(to, StoreInput::Message { range, message }),
            }
        }
        self.now = Time(self.now.0 + STEP_NANOS);
        for node in self.nodes() {
            self.handle(node, StoreInput::Tick);
        }
        crashed
    }

    /// How many snapshot chunks were delivered, and the largest one's data in bytes.
    pub fn snapshot_chunks(&self) -> (usize, usize) {
        self.snapshot_chunks
    }

    /// The reachable leader of `range`, if any.
    pub fn leader(&self, range: RangeId) -> Option<NodeId> {
        self.stores.iter().find_map(|(node, store)| {
            let leads = store.replica(range).is_some_and(|replica| replica.raft().role() == Role::Leader);
            (leads && !self.isolated.contains(node)).then_some(*node)
        })
    }

    /// The newest descriptor any reachable replica holds for the range of `key`.
    pub fn descriptor_for(&self, key: &Key) -> Option<RangeDescriptor> {
        let reachable = self.stores.iter().filter(|(node, _)| !self.isolated.contains(node));
        reachable.filter_map(|(_, store)| store.descriptor_for(key)).max_by_key(|descriptor| descriptor.generation)
    }

    /// Hands `request` to its range's leader; returns the id to wait for, or None
    /// when the range has no reachable leader now.
    pub fn submit(&mut self, request: RangeRequest) -> Option<u64> {
        let leader = self.leader(request.range)?;
        self.next_request_id += 1;
        let request_id = self.next_request_id;
        let request = StoreRequest::Range(request);
        let input = StoreInput::Request { client: ClientId(0), request_id, request, sender_clock: None };
        self.handle(leader, input);
        Some(request_id)
    }

    /// The answer to request `request_id`, once it came.
    pub fn take_reply(&mut self, request_id: u64) -> Option<Result<Vec<u8>, RequestError>> {
        self.replies.remove(&request_id)
    }
}
