//! Stores of three nodes exchanging messages in memory: commands through Raft,
//! a split that starts a second group, a replica that missed the split, and a
//! restart from storage.

use super::local_cluster::LocalCluster;
use super::*;
use crate::keys::Key;
use crate::range::{CommandError, RangeCommand, RangeError, RangeRequest, RangeResponse};
use crate::storage::mvcc::{ReadOptions, Resolution};
use crate::storage::MemoryEngine;
use crate::types::{Timestamp, TransactionId};

type Harness = LocalCluster;

fn wait_for_leader(harness: &mut Harness, range: RangeId) -> NodeId {
    for _ in 0..200 {
        if let Some(leader) = harness.leader(range) {
            return leader;
        }
        harness.step();
    }
    panic!("{range:?} elected no leader");
}

/// Sends `command` to `range`'s leader and runs until it answers.
fn send(harness: &mut Harness, range: RangeId, command: RangeCommand) -> Result<RangeResponse, CommandError> {
    let leader = wait_for_leader(harness, range);
    let replica = harness.store(leader).replica(range).expect("the leader holds the range");
    let generation = replica.state_machine().state().expect("initialized").descriptor().generation;
    let request_id = harness.submit(RangeRequest { range, generation, command }).expect("a leader");
    for _ in 0..100 {
        if let Some(reply) = harness.take_reply(request_id) {
            let bytes = reply.expect("the leader accepted the command");
            return codec::decode_outcome(&bytes).expect("replicas encode their answers");
        }
        harness.step();
    }
    panic!("no answer to request {request_id}");
}

fn at(wall: u64) -> Timestamp {
    Timestamp { wall_nanos: wall, logical: 0 }
}

fn key(text: &str) -> Key {
    Key(text.as_bytes().to_vec())
}

/// The range that holds `text` now (splits move keys).
fn range_of(harness: &Harness, text: &str) -> RangeId {
    harness.descriptor_for(&key(text)).expect("the key space is covered").id
}

/// Sends `command` to the range of `text`, routing again when a split raced it,
/// as every client must.
fn send_routed(harness: &mut Harness, text: &str, command: RangeCommand) -> Result<RangeResponse, CommandError> {
    for _ in 0..10 {
        match send(harness, range_of(harness, text), command.clone()) {
            Err(CommandError::Range(_)) => continue,
            outcome => return outcome,
        }
    }
    panic!("{text} kept moving");
}

/// Writes `text` = `text` as a committed value, routing each command by key.
fn write(harness: &mut Harness, text: &str, transaction: u128) {
    let transaction = TransactionId(transaction);
    let put = RangeCommand::Put {
        key: key(text),
        value: Some(text.into()),
        transaction,
        anchor: key(text),
        timestamp: at(10),
        sequence: 1,
    };
    assert!(matches!(send_routed(harness, text, put), Ok(RangeResponse::Written { .. })));
    let resolution = Resolution::Committed { timestamp: at(10) };
    let resolve = RangeCommand::ResolveIntent { key: key(text), transaction, resolution };
    assert_eq!(send_routed(harness, text, resolve), Ok(RangeResponse::Resolved { found: true }));
}

fn read(harness: &mut Harness, range: RangeId, text: &str) -> Result<RangeResponse, CommandError> {
    send(harness, range, RangeCommand::Get { key: key(text), read: ReadOptions::at(at(20)) })
}

#[test]
fn commands_replicate_and_a_split_starts_a_second_group() {
    let mut harness = LocalCluster::new(3, 1);
    let harness = &mut harness;
    write(harness, "a", 1);
    write(harness, "q", 2);
    let split = send(harness, RangeId(1), RangeCommand::Split { at: key("m"), right_id: RangeId(2) });
    assert!(matches!(split, Ok(RangeResponse::Split { .. })));
    assert_eq!(value_of(read(harness, RangeId(2), "q")), Ok(Some(b"q".to_vec())));
    assert_eq!(value_of(read(harness, RangeId(1), "a")), Ok(Some(b"a".to_vec())));
    assert!(matches!(read(harness, RangeId(1), "q"), Err(CommandError::Range(RangeError::KeyOutsideRange { .. }))));
    for node in harness.nodes() {
        assert_eq!(harness.store(node).ranges().collect::<Vec<_>>(), vec![RangeId(1), RangeId(2)]);
    }
}

/// Moves the first range's leadership off `node` (it is to fall behind).
fn lead_elsewhere(harness: &mut Harness, node: NodeId) {
    if wait_for_leader(harness, RangeId(1)) == node {
        harness.set_isolated(node, true);
        wait_for_leader(harness, RangeId(1));
        harness.set_isolated(node, false);
    }
}

#[test]
fn a_replica_that_missed_the_split_is_created_by_the_new_leader() {
    let mut harness = LocalCluster::new(3, 1);
    let harness = &mut harness;
    write(harness, "q", 1);
    let lagging = NodeId(3);
    lead_elsewhere(harness, lagging);
    harness.set_isolated(lagging, true);
    send(harness, RangeId(1), RangeCommand::Split { at: key("m"), right_id: RangeId(2) }).unwrap();
    write(harness, "x", 2);
    assert!(harness.store(lagging).replica(RangeId(2)).is_none());
    harness.set_isolated(lagging, false);
    for _ in 0..300 {
        harness.step();
    }
    let replica = harness.store(lagging).replica(RangeId(2)).expect("the new range reached the lagging node");
    let state = replica.state_machine().state().expect("initialized");
    assert_eq!(state.descriptor().start, key("m"));
    let applied = replica.raft().applied_index();
    let leader = wait_for_leader(harness, RangeId(2));
    assert!(applied >= harness.store(leader).replica(RangeId(2)).unwrap().raft().commit_index());
}

#[test]
fn a_restarted_store_recovers_every_range() {
    let mut harness = LocalCluster::new(3, 1);
    let harness = &mut harness;
    write(harness, "q", 1);
    send(harness, RangeId(1), RangeCommand::Split { at: key("m"), right_id: RangeId(2) }).unwrap();
    write(harness, "x", 2);
    for node in harness.nodes() {
        harness.restart(node, 7);
    }
    assert_eq!(value_of(read(harness, RangeId(2), "x")), Ok(Some(b"x".to_vec())));
    assert_eq!(value_of(read(harness, RangeId(2), "q")), Ok(Some(b"q".to_vec())));
}

#[test]
fn a_range_past_the_size_threshold_splits_by_itself() {
    let mut harness = LocalCluster::with_split_threshold(3, 1, Some(120));
    let harness = &mut harness;
    for (number, text) in ["b", "d", "f", "h", "j", "l", "n", "p", "r", "t"].into_iter().enumerate() {
        write(harness, text, number as u128 + 1);
    }
    for _ in 0..100 {
        harness.step();
    }
    let ranges: Vec<RangeId> = harness.store(NodeId(1)).ranges().collect();
    assert!(ranges.len() >= 2, "the range passed 120 bytes and must have split: {ranges:?}");
    for node in harness.nodes() {
        assert_eq!(harness.store(node).ranges().collect::<Vec<_>>(), ranges, "every replica agrees");
    }
}

/// A split of a range other than the meta range reaches the meta map: the
/// meta range's leader records the new descriptors it finds on its own store.
#[test]
fn the_meta_map_learns_every_split() {
    let mut harness = LocalCluster::new(3, 1);
    let harness = &mut harness;
    write(harness, "q", 1);
    send(harness, RangeId(1), RangeCommand::Split { at: key("m"), right_id: RangeId(2) }).unwrap();
    write(harness, "x", 2);
    send(harness, RangeId(2), RangeCommand::Split { at: key("t"), right_id: RangeId(3) }).unwrap();
    for _ in 0..50 {
        harness.step();
    }
    let lookup = |harness: &mut Harness, text: &str| match send(
        harness,
        META_RANGE,
        RangeCommand::LookupMeta { key: key(text) },
    ) {
        Ok(RangeResponse::Descriptor(Some(descriptor))) => descriptor.id,
        other => panic!("meta lookup of {text} failed: {other:?}"),
    };
    assert_eq!(lookup(harness, "a"), RangeId(1));
    assert_eq!(lookup(harness, "q"), RangeId(2));
    assert_eq!(lookup(harness, "x"), RangeId(3));
    let leader = wait_for_leader(harness, META_RANGE);
    let meta = harness.store(leader).replica(META_RANGE).unwrap().state_machine().state().unwrap().meta().clone();
    assert!(meta.covers_key_space(), "{:?}", meta.ranges().collect::<Vec<_>>());
    // Any other range refuses meta commands as misrouted.
    let misrouted = send(harness, RangeId(3), RangeCommand::LookupMeta { key: key("x") });
    assert!(matches!(misrouted, Err(CommandError::Range(RangeError::KeyOutsideRange { .. }))));
}

/// A one-node store of the first range, tolerating `max_offset_nanos` of clock offset.
fn single_node_store_with_offset_nanos(max_offset_nanos: u64) -> (Store, MemoryEngine) {
    let node = NodeId(1);
    let config = StoreConfig {
        node,
        raft: RaftConfig::new(node, 1),
        tick_interval_nanos: 10_000_000,
        compaction_threshold_entries: 100,
        compaction_threshold_bytes: u64::MAX,
        heartbeat_expiry_nanos: 1_000_000_000,
        split_threshold_bytes: None,
        split_check_interval_ticks: 10,
        garbage_collection_ttl_nanos: None,
        max_offset_nanos,
        timestamp_cache_entries_max: crate::range::TIMESTAMP_CACHE_ENTRIES_MAX_DEFAULT,
        snapshot: crate::replica::SnapshotLimits::default(),
        knobs: StoreKnobs::default(),
    };
    let mut engine = MemoryEngine::new();
    bootstrap(&mut engine, &[node]).unwrap();
    (Store::new(config, &mut engine).unwrap(), engine)
}

/// A request whose sender's clock is beyond the maximum offset of the node's,
/// behind or ahead, is refused before it reaches a replica.
#[test]
fn senders_with_clocks_beyond_the_maximum_offset_are_refused() {
    let (mut store, mut engine) = single_node_store_with_offset_nanos(100);
    let now = Time(10_000);
    let read = RangeCommand::Get { key: key("a"), read: ReadOptions::at(at(10_000)) };
    let request = RangeRequest { range: RangeId(1), generation: 0, command: read };
    for (sent, refused) in [(9_800, true), (9_950, false), (10_050, false), (10_200, true)] {
        let input = StoreInput::Request {
            client: crate::replica::ClientId(1),
            request_id: sent,
            request: StoreRequest::Range(request.clone()),
            sender_clock: Some(Time(sent)),
        };
        let output = store.handle(now, input, &mut engine).unwrap();
        let clock_refusal = output.replies.iter().any(|reply| reply.result == Err(RequestError::ClockOffset));
        assert_eq!(clock_refusal, refused, "a sender at {sent} against a node at {}", now.0);
    }
}

#[test]
fn one_phase_commits_beyond_the_clock_are_refused_like_writes() {
    let (mut store, mut engine) = single_node_store_with_offset_nanos(100);
    let now = Time(10_000);
    for (timestamp, refused) in [(10_050, false), (10_200, true)] {
        let command = RangeCommand::CommitOnePhase {
            transaction: TransactionId(1),
            writes: vec![(key("a"), Some(b"1".to_vec()))],
            timestamp: at(timestamp),
            read_spans: Vec::new(),
        };
        let request = RangeRequest { range: RangeId(1), generation: 0, command };
        let input = StoreInput::Request {
            client: crate::replica::ClientId(1),
            request_id: timestamp,
            request: StoreRequest::Range(request),
            sender_clock: None,
        };
        let output = store.handle(now, input, &mut engine).unwrap();
        let clock_refusal = output.replies.iter().any(|reply| reply.result == Err(RequestError::ClockOffset));
        assert_eq!(clock_refusal, refused, "a one-phase commit at {timestamp} against a node at {}", now.0);
    }
}

/// The value of a point read's answer (errors pass through).
fn value_of(answer: Result<RangeResponse, CommandError>) -> Result<Option<Vec<u8>>, CommandError> {
    answer.map(|response| match response {
        RangeResponse::Value { value, .. } => value,
        other => panic!("a read answered {other:?}"),
    })
}

/// Ticks a one-node store until it leads its first range, syncing as a runtime would.
fn lead(store: &mut Store, engine: &mut MemoryEngine, now: &mut Time) {
    for _ in 0..100 {
        *now = Time(now.0 + 100_000_000);
        store.handle(*now, StoreInput::Tick, engine).unwrap();
        engine.sync().unwrap();
        if store.replica(RangeId(1)).unwrap().raft().role() == crate::raft::Role::Leader {
            return;
        }
    }
    panic!("a lone voter elects itself");
}

/// Handles one command on a one-node store without syncing; its answer.
fn apply_unsynced(
    store: &mut Store,
    engine: &mut MemoryEngine,
    now: Time,
    command: RangeCommand,
) -> Result<RangeResponse, CommandError> {
    let request = RangeRequest { range: RangeId(1), generation: 0, command };
    let request = StoreRequest::Range(request);
    let input = StoreInput::Request { client: crate::replica::ClientId(1), request_id: 1, request, sender_clock: None };
    let output = store.handle(now, input, engine).unwrap();
    let reply = output.replies.into_iter().find(|reply| reply.request_id == 1).expect("a lone voter answers at once");
    codec::decode_outcome(&reply.result.unwrap()).unwrap()
}

fn write_one_phase(transaction: u128, text: &str, wall: u64) -> RangeCommand {
    RangeCommand::CommitOnePhase {
        transaction: TransactionId(transaction),
        writes: vec![(key(text), Some(text.as_bytes().to_vec()))],
        timestamp: at(wall),
        read_spans: Vec::new(),
    }
}

/// The applied index is written with the effects, after the log entry: a crash
/// that keeps the entry but loses its application leaves a replica that
/// restarts at its durable applied index and applies the entry again.
#[test]
fn a_crash_that_loses_an_application_replays_only_the_entries_after_the_applied_index() {
    let (mut store, mut engine) = single_node_store_with_offset_nanos(u64::MAX / 2);
    let mut now = Time(0);
    lead(&mut store, &mut engine, &mut now);
    apply_unsynced(&mut store, &mut engine, now, write_one_phase(1, "a", 10)).unwrap();
    engine.sync().unwrap();
    let applied_before = store.replica(RangeId(1)).unwrap().raft().applied_index();
    apply_unsynced(&mut store, &mut engine, now, write_one_phase(2, "b", 20)).unwrap();
    let unsynced = engine.unsynced_batches();
    assert!(unsynced >= 2, "the entry's Raft batch, then its application");
    engine.crash(unsynced - 1);

    let config = store.config.clone();
    let mut store = Store::new(config, &mut engine).unwrap();
    let raft = store.replica(RangeId(1)).unwrap().raft();
    assert_eq!(raft.applied_index(), applied_before, "the restart resumes at the durable applied index");
    assert!(raft.commit_index() > applied_before, "the lost application's entry is still committed in the log");
    lead(&mut store, &mut engine, &mut now);
    let read = RangeCommand::Get { key: key("b"), read: ReadOptions::at(at(30)) };
    let value = value_of(apply_unsynced(&mut store, &mut engine, now, read));
    assert_eq!(value, Ok(Some(b"b".to_vec())), "the entry was applied again from the log");
}

/// A restart loads each replica's state from the engine and replays nothing
/// that was applied: however many entries the log holds.
#[test]
fn a_restart_replays_no_applied_entry() {
    let (mut store, mut engine) = single_node_store_with_offset_nanos(u64::MAX / 2);
    let mut now = Time(0);
    lead(&mut store, &mut engine, &mut now);
    for number in 0..50u64 {
        let text = format!("k{number}");
        apply_unsynced(&mut store, &mut engine, now, write_one_phase(u128::from(number) + 1, &text, 10 + number))
            .unwrap();
    }
    engine.sync().unwrap();
    let applied = store.replica(RangeId(1)).unwrap().raft().applied_index();
    let snapshot_index = store.replica(RangeId(1)).unwrap().raft().snapshot_index();
    assert!(applied.0 > snapshot_index.0 + 40, "the log holds the entries (no compaction yet)");
    let restarted = Store::new(store.config.clone(), &mut engine).unwrap();
    assert_eq!(restarted.replica(RangeId(1)).unwrap().raft().applied_index(), applied);
}

/// A cluster whose node 3 was cut off while the leader compacted its log past
/// it: it can only catch up from a snapshot. Returns the leader.
fn follower_behind_the_compacted_log(harness: &mut Harness) -> NodeId {
    write(harness, "before", 1);
    harness.set_isolated(NodeId(3), true);
    // Each write is several entries; the local cluster compacts every 200.
    for number in 0..120u128 {
        write(harness, &format!("k{number:03}"), number + 2);
    }
    let leader = wait_for_leader(harness, RangeId(1));
    let stored = persistence::recover(harness.engine(leader), &persistence::GroupKeys::new(1)).unwrap();
    assert!(stored.snapshot.metadata.index.0 > 200, "the leader compacted its log");
    assert!(stored.snapshot.data.is_empty(), "compaction built no snapshot");
    harness.set_isolated(NodeId(3), false);
    leader
}

/// The range's data on `node`, with the replica's applied index.
fn range_data(harness: &Harness, node: NodeId) -> (LogIndex, Vec<crate::storage::KeyValue>) {
    let replica = harness.store(node).replica(RangeId(1)).unwrap();
    let view = replica.state_machine().view(harness.engine(node));
    let descriptor = replica.state_machine().state().unwrap().descriptor();
    (replica.raft().applied_index(), crate::range::stored::data(&view, descriptor))
}

fn is_chunk(message: &Message, last: bool) -> bool {
    let MessageBody::InstallSnapshot { snapshot } = &message.body else { return false };
    crate::replica::snapshot::frame::decode_head(&snapshot.data).is_ok_and(|head| head.last == last)
}

/// Compaction drops the log and builds no snapshot; a follower cut off past
/// the compaction point catches up from a snapshot the leader streams from a
/// view of its engine, in chunks no bigger than the limit (512 bytes here, and
/// one pair).
#[test]
fn a_follower_behind_the_compacted_log_catches_up_from_a_streamed_snapshot() {
    let mut harness = LocalCluster::new(3, 1);
    let harness = &mut harness;
    let leader = follower_behind_the_compacted_log(harness);
    let behind = NodeId(3);
    let applied = harness.store(leader).replica(RangeId(1)).unwrap().raft().applied_index();
    for _ in 0..200 {
        harness.step();
    }
    let caught_up = harness.store(behind).replica(RangeId(1)).unwrap();
    assert!(caught_up.raft().applied_index() >= applied, "the follower caught up");
    let restored = persistence::recover(harness.engine(behind), &persistence::GroupKeys::new(1)).unwrap().snapshot;
    assert!(restored.metadata.index.0 > 200, "by a snapshot: its log starts past the compaction point");
    let (_, data) = range_data(harness, behind);
    assert_eq!(data, range_data(harness, leader).1, "the follower holds the leader's data");
    assert!(data.len() > 120);
    let (chunks, largest_bytes) = harness.snapshot_chunks();
    assert!(chunks >= 10, "the snapshot came in many chunks, not {chunks}");
    assert!(largest_bytes < 1_024, "every chunk is small: the largest held {largest_bytes} bytes");
    assert_eq!(harness.engine(behind).staged_ingestions(), 0, "nothing is left staged");
}

/// A crash after the snapshot's ingestion but before Raft's batch (log
/// deleted, snapshot marker) is durable: the restart finds the `installed`
/// record and rolls the install forward, so Raft's state and the range's
/// applied index agree, at the snapshot.
#[test]
fn a_crash_between_the_ingestion_and_the_raft_batch_rolls_the_install_forward() {
    let mut harness = LocalCluster::new(3, 1);
    let harness = &mut harness;
    let leader = follower_behind_the_compacted_log(harness);
    let behind = NodeId(3);
    let (old_applied, _) = range_data(harness, behind);
    let crashed = (0..200).any(|_| harness.step_crashing(Some((behind, 9)), |message| is_chunk(message, true)));
    assert!(crashed, "the last chunk reached the follower");

    let keys = persistence::GroupKeys::new(1);
    let raft = persistence::recover(harness.engine(behind), &keys).unwrap();
    let (applied, data) = range_data(harness, behind);
    assert!(applied > old_applied, "the range holds the snapshot's state");
    assert_eq!(raft.snapshot.metadata.index, applied, "Raft's snapshot marker was rolled forward to it");
    assert!(raft.hard_state.commit >= applied && raft.entries.is_empty());
    assert_eq!(harness.store(behind).replica(RangeId(1)).unwrap().raft().commit_index(), applied);
    assert!(data.len() > 120, "the snapshot's data is there");

    step_until(harness, "the follower catches up", |harness| {
        range_data(harness, behind).0 == range_data(harness, leader).0
    });
    assert_eq!(range_data(harness, behind).1, range_data(harness, leader).1);
}

/// A crash while chunks are still arriving loses only the staging: the
/// replica restarts with its old state, and a new transfer (the stalled one
/// is restarted) brings it up to date.
#[test]
fn a_crash_before_the_last_chunk_keeps_the_old_state_and_a_new_transfer_completes() {
    let mut harness = LocalCluster::new(3, 1);
    let harness = &mut harness;
    let leader = follower_behind_the_compacted_log(harness);
    let behind = NodeId(3);
    let (old_applied, old_data) = range_data(harness, behind);
    let crashed = (0..200).any(|_| harness.step_crashing(Some((behind, 9)), |message| is_chunk(message, false)));
    assert!(crashed, "a chunk reached the follower");
    assert_eq!(range_data(harness, behind), (old_applied, old_data), "the old state, unchanged");
    assert_eq!(harness.engine(behind).staged_ingestions(), 0, "the staging is lost");
    step_until(harness, "the follower catches up", |harness| {
        range_data(harness, behind).0 >= range_data(harness, leader).0
    });
    assert_eq!(range_data(harness, behind).1, range_data(harness, leader).1);
}

fn change_replicas(harness: &mut Harness, replicas: &[u64]) {
    let replicas = replicas.iter().copied().map(NodeId).collect();
    let command = RangeCommand::ChangeReplicas { key: key("a"), replicas };
    assert!(matches!(send(harness, RangeId(1), command), Ok(RangeResponse::Descriptor(Some(_)))));
}

fn step_until(harness: &mut Harness, what: &str, done: impl Fn(&Harness) -> bool) {
    for _ in 0..500 {
        if done(harness) {
            return;
        }
        harness.step();
    }
    panic!("never: {what}");
}

/// A range moved off a node leaves nothing there but its Raft hard state, as
/// a tombstone; moved back, the replica starts from the tombstone's term and
/// vote and is initialized by a snapshot.
#[test]
fn a_replica_left_behind_is_deleted_with_a_tombstone_and_can_come_back() {
    let mut harness = LocalCluster::new(4, 1);
    let harness = &mut harness;
    write(harness, "a", 1);
    let leader = wait_for_leader(harness, RangeId(1));
    let removed = harness.nodes().into_iter().find(|node| *node != leader).expect("four nodes");
    let staying: Vec<u64> = harness.nodes().into_iter().filter(|node| *node != removed).map(|node| node.0).collect();
    change_replicas(harness, &staying);
    step_until(harness, "the replica left behind is deleted", |harness| {
        harness.store(removed).replica(RangeId(1)).is_none()
    });

    let engine = harness.engine(removed);
    let space = crate::range::stored::space(RangeId(1));
    let end = crate::storage::prefix_end(&space).unwrap();
    assert_eq!(engine.scan(&space, &end, usize::MAX).unwrap(), Vec::new(), "the range's local keys are gone");
    let data_space = crate::storage::mvcc::space();
    let data_end = crate::storage::prefix_end(data_space).unwrap();
    assert_eq!(engine.scan(data_space, &data_end, usize::MAX).unwrap(), Vec::new(), "and its data");
    let keys = persistence::GroupKeys::new(1);
    let tombstone = persistence::recover(engine, &keys).unwrap();
    assert!(tombstone.entries.is_empty() && tombstone.snapshot.metadata.index == LogIndex(0));
    assert!(tombstone.hard_state.term > Term(0), "the hard state stays");
    assert!(persistence::groups(engine).unwrap().is_empty(), "a restart starts no replica of the range");
    let removal = persistence::tombstone(engine, &keys).unwrap().expect("a tombstone");
    harness.restart(removed, 7);
    assert!(harness.store(removed).replica(RangeId(1)).is_none());

    // A candidate of the old configuration (its log ends before the removal)
    // gets no vote: the replica is not even created.
    let candidate = staying[0];
    for last_log_index in [LogIndex(removal.0 - 1), removal] {
        let body = MessageBody::Vote { last_log_index, last_log_term: Term(99), leader_transfer: false };
        let vote_request = Message { from: NodeId(candidate), to: removed, term: Term(99), body };
        harness.deliver(RangeId(1), vote_request);
        assert!(harness.store(removed).replica(RangeId(1)).is_none(), "the old group's candidate is refused");
    }

    let all: Vec<u64> = harness.nodes().into_iter().map(|node| node.0).collect();
    change_replicas(harness, &all);
    step_until(harness, "the range is back on the node", |harness| {
        let replica = harness.store(removed).replica(RangeId(1));
        replica.is_some_and(|replica| replica.state_machine().state().is_some())
    });
    let replica = harness.store(removed).replica(RangeId(1)).unwrap();
    assert!(replica.raft().term() >= tombstone.hard_state.term, "it started from the tombstone");
    let view = replica.state_machine().view(harness.engine(removed));
    let descriptor = replica.state_machine().state().unwrap().descriptor();
    assert!(!crate::range::stored::data(&view, descriptor).is_empty(), "the snapshot brought the data back");
}

/// A replica added while one of the range's voters is down must be kept from
/// its first snapshot on: that snapshot is of state before its addition
/// commits, so its configuration leaves the new node out while the range's
/// descriptor lists it. Deleted there (as a replica left behind), it would be
/// re-created empty, sent the same snapshot, and deleted again, and the
/// group, whose quorum now counts it in the down voter's place, could never
/// commit its addition: re-replicating around a failed node would stall.
#[test]
fn a_replica_added_while_a_voter_is_down_is_kept_and_completes_the_quorum() {
    let mut harness = LocalCluster::new(4, 1);
    let harness = &mut harness;
    write(harness, "a", 1);
    let leader = wait_for_leader(harness, RangeId(1));
    let mut others = harness.nodes().into_iter().filter(|node| *node != leader);
    let (newcomer, down) = (others.next().expect("four nodes"), others.next().expect("four nodes"));
    let without_newcomer: Vec<u64> =
        harness.nodes().into_iter().filter(|node| *node != newcomer).map(|n| n.0).collect();
    change_replicas(harness, &without_newcomer);
    step_until(harness, "the newcomer's old replica is deleted", |harness| {
        harness.store(newcomer).replica(RangeId(1)).is_none()
    });

    harness.set_isolated(down, true);
    let all: Vec<u64> = harness.nodes().into_iter().map(|node| node.0).collect();
    change_replicas(harness, &all);
    step_until(harness, "the newcomer votes in the group, with its data", |harness| {
        harness.store(newcomer).replica(RangeId(1)).is_some_and(|replica| {
            let status = replica.raft().status();
            replica.state_machine().state().is_some() && status.configuration.voters.contains(&newcomer)
        })
    });
    // Four voters, one down: this write commits only with the newcomer.
    write(harness, "b", 2);
    let replica = harness.store(newcomer).replica(RangeId(1)).expect("kept");
    let view = replica.state_machine().view(harness.engine(newcomer));
    let descriptor = replica.state_machine().state().expect("initialized").descriptor();
    assert_eq!(crate::range::stored::data(&view, descriptor).len(), 2, "both writes reached the newcomer");
}

/// Ranges share the node's data space, so a snapshot of a range born from a
/// split waits while the node's replica of the left range has not applied the
/// split (its span still covers the snapshot's): installing it would give two
/// replicas the same keys.
#[test]
fn a_snapshot_overlapping_a_replica_behind_its_split_waits_for_the_split() {
    let mut harness = LocalCluster::new(3, 1);
    let harness = &mut harness;
    write(harness, "q", 1);
    let lagging = NodeId(3);
    lead_elsewhere(harness, lagging);
    harness.set_range_cut_off(RangeId(1), lagging, true);
    send(harness, RangeId(1), RangeCommand::Split { at: key("m"), right_id: RangeId(2) }).unwrap();
    write(harness, "x", 2);
    for _ in 0..300 {
        harness.step();
    }
    let left = harness.store(lagging).replica(RangeId(1)).unwrap().state_machine().state().unwrap();
    assert_eq!(left.descriptor().generation, 0, "the left replica has not applied the split");
    let right = harness.store(lagging).replica(RangeId(2)).expect("the right range's leader created it");
    assert!(right.state_machine().state().is_none(), "its snapshot is refused while it overlaps the left replica");

    harness.set_range_cut_off(RangeId(1), lagging, false);
    step_until(harness, "the right range is installed once the left one split", |harness| {
        let right = harness.store(lagging).replica(RangeId(2)).unwrap();
        right.state_machine().state().is_some()
    });
    let left = harness.store(lagging).replica(RangeId(1)).unwrap().state_machine().state().unwrap();
    assert_eq!(left.descriptor().end, crate::keys::KeyEnd::Before(key("m")));
    assert_eq!(value_of(read(harness, RangeId(2), "x")), Ok(Some(b"x".to_vec())));
}

/// An engine whose size estimate, like RocksDB's, sees only what was flushed
/// (here: what was there at the last `flush`).
struct FlushedOnly {
    engine: MemoryEngine,
    flushed: MemoryEngine,
}

impl FlushedOnly {
    fn flush(&mut self) {
        self.flushed = self.engine.clone();
    }
}

impl Engine for FlushedOnly {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.engine.get(key)
    }
    fn scan(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<crate::storage::KeyValue>, StorageError> {
        self.engine.scan(start, end, limit)
    }
    fn write(&mut self, batch: crate::storage::WriteBatch) -> Result<(), StorageError> {
        self.engine.write(batch)
    }
    fn sync(&mut self) -> Result<(), StorageError> {
        self.engine.sync()
    }
    fn view(&self) -> Result<Box<dyn crate::storage::EngineView>, StorageError> {
        self.engine.view()
    }
    fn stage(&mut self, ingestion: u64, chunk: crate::storage::IngestChunk) -> Result<(), StorageError> {
        self.engine.stage(ingestion, chunk)
    }
    fn ingest(&mut self, ingestion: u64) -> Result<(), StorageError> {
        self.engine.ingest(ingestion)
    }
    fn discard(&mut self, ingestion: u64) -> Result<(), StorageError> {
        self.engine.discard(ingestion)
    }
    fn approximate_size(&self, start: &[u8], end: &[u8]) -> Result<u64, StorageError> {
        self.flushed.approximate_size(start, end)
    }
}

/// A range's size counts what was applied since the engine's estimate last
/// grew: an estimate blind to unflushed writes (RocksDB's) still lets a range
/// that is written to split before a flush.
#[test]
fn a_range_measures_writes_its_engine_has_not_flushed() {
    use crate::replica::StateMachine;
    let mut engine = FlushedOnly { engine: MemoryEngine::new(), flushed: MemoryEngine::new() };
    bootstrap(&mut engine.engine, &[NodeId(1)]).unwrap();
    let mut machine = RangeMachine::new(RangeId(1), 1_000_000_000, 64);
    machine.recover(&engine);
    assert_eq!(machine.size_estimate(&engine), Some(0));
    for number in 0..10u128 {
        let text = format!("key-{number:02}-{}", "v".repeat(100));
        let command = write_one_phase(number + 1, &text, 10 + number as u64);
        let request = RangeRequest { range: RangeId(1), generation: 0, command };
        machine.apply(&mut engine, LogIndex(10 + number as u64), &codec::encode_request(&request)).unwrap();
    }
    let unflushed = machine.size_estimate(&engine).unwrap();
    assert!(unflushed >= 2_000, "ten writes of over 200 bytes each count before a flush: {unflushed}");
    engine.flush();
    let (start, end) = crate::storage::mvcc::engine_bounds(b"", b"");
    let flushed = engine.approximate_size(&start, &end).unwrap();
    assert_eq!(machine.size_estimate(&engine), Some(flushed), "after the flush, the engine's estimate alone");
    assert!(flushed >= 2_000);
}

/// Data no replica's span covers is found; a node's own ranges' data is not.
#[test]
fn data_outside_every_replica_is_found() {
    let (_, mut engine) = single_node_store_with_offset_nanos(250_000_000);
    assert_eq!(data_outside_replicas(&engine).unwrap(), None, "the first range covers the whole key space");
    // Narrow the only replica's span by hand: a key past its new end is no one's.
    let view = stored::view(&engine, RangeId(1));
    let mut descriptor = stored::load(&view, 0, 64).unwrap().descriptor().clone();
    descriptor.end = crate::keys::KeyEnd::Before(key("m"));
    let narrowed = RangeState::new(descriptor, 0);
    let mut view = stored::view(&engine, RangeId(1));
    stored::write_head(&mut view, &narrowed);
    let mut batch = view.finish();
    let (inside, _) = crate::storage::mvcc::engine_bounds(b"a", b"");
    let (outside, _) = crate::storage::mvcc::engine_bounds(b"x", b"");
    batch.put(inside, b"mine".to_vec());
    engine.write(batch).unwrap();
    assert_eq!(data_outside_replicas(&engine).unwrap(), None);
    let mut batch = crate::storage::WriteBatch::default();
    batch.put(outside.clone(), b"no one's".to_vec());
    engine.write(batch).unwrap();
    assert_eq!(data_outside_replicas(&engine).unwrap(), Some(outside));
}
