//! Stores of three nodes exchanging messages in memory: commands through Raft,
//! a split that starts a second group, a replica that missed the split, and a
//! restart from storage.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::*;
use crate::keys::Key;
use crate::raft::{persistence, Role};
use crate::range::{CommandError, RangeCommand, RangeError, RangeResponse};
use crate::storage::mvcc::{ReadOptions, Resolution};
use crate::storage::{Engine, MemoryEngine};
use crate::types::{Timestamp, TransactionId};

const TICK_NANOS: u64 = 10_000_000;

struct Harness {
    stores: BTreeMap<NodeId, Store>,
    engines: BTreeMap<NodeId, MemoryEngine>,
    queue: VecDeque<(NodeId, RangeId, Message)>,
    /// Nodes cut off: their messages, in and out, are dropped.
    isolated: BTreeSet<NodeId>,
    replies: Vec<Reply>,
    now: Time,
    next_request_id: u64,
}

fn config(node: NodeId) -> StoreConfig {
    StoreConfig {
        node,
        raft: RaftConfig::new(node, node.0),
        tick_interval_nanos: TICK_NANOS,
        compaction_threshold_entries: 1000,
        heartbeat_expiry_nanos: u64::MAX,
    }
}

fn recover(engine: &MemoryEngine) -> Vec<(RangeId, RecoveredState)> {
    persistence::groups(engine)
        .unwrap()
        .into_iter()
        .map(|group| (RangeId(group), persistence::recover(engine, &persistence::GroupKeys::new(group)).unwrap()))
        .collect()
}

impl Harness {
    fn new() -> Harness {
        let nodes = [NodeId(1), NodeId(2), NodeId(3)];
        let mut harness = Harness {
            stores: BTreeMap::new(),
            engines: BTreeMap::new(),
            queue: VecDeque::new(),
            isolated: BTreeSet::new(),
            replies: Vec::new(),
            now: Time(0),
            next_request_id: 0,
        };
        for node in nodes {
            let (range, recovered) = bootstrap_range(&nodes);
            let mut engine = MemoryEngine::new();
            let keys = persistence::GroupKeys::new(range.0);
            let ready = Ready {
                snapshot: Some(SnapshotToPersist { snapshot: recovered.snapshot.clone(), restore: false }),
                sync: true,
                ..Ready::default()
            };
            persistence::persist(&mut engine, &keys, &ready).unwrap();
            harness.stores.insert(node, Store::new(config(node), recover(&engine)));
            harness.engines.insert(node, engine);
        }
        harness
    }

    fn perform(&mut self, node: NodeId, output: StoreOutput) {
        let engine = self.engines.get_mut(&node).unwrap();
        for (range, ready) in &output.readies {
            persistence::write(engine, &persistence::GroupKeys::new(range.0), ready).unwrap();
        }
        engine.sync().unwrap();
        for (range, message) in output.messages() {
            self.queue.push_back((node, range, message.clone()));
        }
        self.replies.extend(output.replies);
    }

    /// Delivers what is queued, then lets one tick pass everywhere.
    fn step(&mut self) {
        while let Some((from, range, message)) = self.queue.pop_front() {
            let to = message.to;
            if self.isolated.contains(&from) || self.isolated.contains(&to) || !self.stores.contains_key(&to) {
                continue;
            }
            let output = self.stores.get_mut(&to).unwrap().handle(self.now, StoreInput::Message { range, message });
            self.perform(to, output);
        }
        self.now = Time(self.now.0 + TICK_NANOS);
        let nodes: Vec<NodeId> = self.stores.keys().copied().collect();
        for node in nodes {
            let output = self.stores.get_mut(&node).unwrap().handle(self.now, StoreInput::Tick);
            self.perform(node, output);
        }
    }

    fn leader(&self, range: RangeId) -> Option<NodeId> {
        self.stores.iter().find_map(|(node, store)| {
            let replica = store.replica(range)?;
            (replica.raft().role() == Role::Leader && !self.isolated.contains(node)).then_some(*node)
        })
    }

    fn wait_for_leader(&mut self, range: RangeId) -> NodeId {
        for _ in 0..200 {
            if let Some(leader) = self.leader(range) {
                return leader;
            }
            self.step();
        }
        panic!("{range:?} elected no leader");
    }

    /// Sends `command` to `range`'s leader and runs until it answers.
    fn send(&mut self, range: RangeId, command: RangeCommand) -> Result<RangeResponse, CommandError> {
        let leader = self.wait_for_leader(range);
        self.next_request_id += 1;
        let request_id = self.next_request_id;
        let generation =
            self.stores[&leader].replica(range).unwrap().state_machine().state().unwrap().descriptor().generation;
        let request = RangeRequest { range, generation, command };
        let input = StoreInput::Request { client: ClientId(1), request_id, request };
        let output = self.stores.get_mut(&leader).unwrap().handle(self.now, input);
        self.perform(leader, output);
        for _ in 0..100 {
            if let Some(position) = self.replies.iter().position(|reply| reply.request_id == request_id) {
                let reply = self.replies.remove(position);
                let bytes = reply.result.expect("the leader accepted the command");
                return codec::decode_outcome(&bytes).unwrap();
            }
            self.step();
        }
        panic!("no answer to request {request_id}");
    }
}

fn at(wall: u64) -> Timestamp {
    Timestamp { wall_nanos: wall, logical: 0 }
}

fn key(text: &str) -> Key {
    Key(text.as_bytes().to_vec())
}

/// Writes `text` = `text` as a committed value through `range`.
fn write(harness: &mut Harness, range: RangeId, text: &str, transaction: u128) {
    let transaction = TransactionId(transaction);
    let put = RangeCommand::Put {
        key: key(text),
        value: Some(text.into()),
        transaction,
        anchor: key(text),
        timestamp: at(10),
    };
    assert!(matches!(harness.send(range, put), Ok(RangeResponse::Written { .. })));
    let resolution = Resolution::Committed { timestamp: at(10) };
    let resolve = RangeCommand::ResolveIntent { key: key(text), transaction, resolution };
    assert_eq!(harness.send(range, resolve), Ok(RangeResponse::Resolved { found: true }));
}

fn read(harness: &mut Harness, range: RangeId, text: &str) -> Result<RangeResponse, CommandError> {
    harness.send(range, RangeCommand::Get { key: key(text), read: ReadOptions::at(at(20)) })
}

#[test]
fn commands_replicate_and_a_split_starts_a_second_group() {
    let mut harness = Harness::new();
    write(&mut harness, RangeId(1), "a", 1);
    write(&mut harness, RangeId(1), "q", 2);
    let split = harness.send(RangeId(1), RangeCommand::Split { at: key("m"), right_id: RangeId(2) });
    assert!(matches!(split, Ok(RangeResponse::Split { .. })));
    assert_eq!(read(&mut harness, RangeId(2), "q"), Ok(RangeResponse::Value(Some(b"q".to_vec()))));
    assert_eq!(read(&mut harness, RangeId(1), "a"), Ok(RangeResponse::Value(Some(b"a".to_vec()))));
    assert!(matches!(
        read(&mut harness, RangeId(1), "q"),
        Err(CommandError::Range(RangeError::KeyOutsideRange { .. }))
    ));
    for store in harness.stores.values() {
        assert_eq!(store.ranges().collect::<Vec<_>>(), vec![RangeId(1), RangeId(2)]);
    }
}

#[test]
fn a_replica_that_missed_the_split_is_created_by_the_new_leader() {
    let mut harness = Harness::new();
    write(&mut harness, RangeId(1), "q", 1);
    let lagging = NodeId(3);
    if harness.wait_for_leader(RangeId(1)) == lagging {
        harness.isolated.insert(lagging);
        harness.wait_for_leader(RangeId(1));
        harness.isolated.clear();
    }
    harness.isolated.insert(lagging);
    harness.send(RangeId(1), RangeCommand::Split { at: key("m"), right_id: RangeId(2) }).unwrap();
    write(&mut harness, RangeId(2), "x", 2);
    assert!(harness.stores[&lagging].replica(RangeId(2)).is_none());
    harness.isolated.clear();
    for _ in 0..300 {
        harness.step();
    }
    let replica = harness.stores[&lagging].replica(RangeId(2)).expect("the new range reached the lagging node");
    let state = replica.state_machine().state().expect("initialized");
    assert_eq!(state.descriptor().start, key("m"));
    assert!(
        replica.raft().applied_index() >= harness.stores[&NodeId(1)].replica(RangeId(2)).unwrap().raft().commit_index()
    );
}

#[test]
fn a_restarted_store_recovers_every_range() {
    let mut harness = Harness::new();
    write(&mut harness, RangeId(1), "q", 1);
    harness.send(RangeId(1), RangeCommand::Split { at: key("m"), right_id: RangeId(2) }).unwrap();
    write(&mut harness, RangeId(2), "x", 2);
    for node in [NodeId(1), NodeId(2), NodeId(3)] {
        let recovered = recover(&harness.engines[&node]);
        harness.stores.insert(node, Store::new(config(node), recovered));
    }
    assert_eq!(read(&mut harness, RangeId(2), "x"), Ok(RangeResponse::Value(Some(b"x".to_vec()))));
    assert_eq!(read(&mut harness, RangeId(2), "q"), Ok(RangeResponse::Value(Some(b"q".to_vec()))));
}
