//! Scenarios of the range state machine: one per rule of the transaction protocol.

use super::command::{
    CommandError, PushKind, RangeCommand, RangeRequest, RangeResponse, TransactionRecord, TransactionStatus,
};
use super::{stored, RangeDescriptor, RangeError, RangeState};
use crate::keys::{Key, KeyEnd};
use crate::storage::mvcc::{ReadOptions, Resolution};
use crate::storage::{Engine, KeyValue, MemoryEngine, Staged, WriteBatch};
use crate::types::{NodeId, RangeId, Timestamp, TransactionId};

const EXPIRY_NANOS: u64 = 1_000;

fn at(wall: u64) -> Timestamp {
    Timestamp { wall_nanos: wall, logical: 0 }
}

fn key(text: &str) -> Key {
    Key(text.as_bytes().to_vec())
}

/// A range replica with its own engine, applied as a store applies it: each
/// command's batch written to the engine.
struct TestRange {
    state: RangeState,
    engine: MemoryEngine,
}

fn operation_key(operation: &crate::storage::WriteOperation) -> &[u8] {
    match operation {
        crate::storage::WriteOperation::Put { key, .. } | crate::storage::WriteOperation::Delete { key } => key,
        crate::storage::WriteOperation::DeleteRange { start, .. } => start,
    }
}

impl TestRange {
    fn new(state: RangeState) -> TestRange {
        let mut engine = MemoryEngine::new();
        engine.write(state.initial_batch(&engine)).unwrap();
        TestRange { state, engine }
    }

    fn view(&self) -> Staged<'_> {
        stored::view(&self.engine, self.state.descriptor().id)
    }

    fn apply_request(&mut self, request: RangeRequest) -> (Result<RangeResponse, CommandError>, Option<TestRange>) {
        let (applied, batch) = self.state.apply_staged(&self.engine, request);
        self.engine.write(batch).unwrap();
        // The right range is born on the same node: in a copy of this
        // engine, with the data it shares with its left half.
        let right = applied.right.map(|right| {
            let (batch, state) = right.into_batch(&self.engine);
            let data_space = crate::storage::mvcc::space();
            assert!(batch.operations.iter().all(|operation| !operation_key(operation).starts_with(data_space)));
            let mut engine = self.engine.clone();
            engine.write(batch).unwrap();
            TestRange { state, engine }
        });
        (applied.result, right)
    }

    /// Every key of the replica's spans: what a snapshot streams.
    fn snapshot(&self) -> Vec<KeyValue> {
        let spans = stored::spans(self.state.descriptor().id, Some(self.state.descriptor()));
        spans.iter().flat_map(|(start, end)| self.engine.scan(start, end, usize::MAX).unwrap()).collect()
    }

    fn record(&self, transaction: TransactionId) -> Option<TransactionRecord> {
        RangeState::record(&self.view(), transaction)
    }

    /// A replica installed from this one's snapshot, in an engine of its own:
    /// the snapshot's keys, loaded as an install loads them.
    fn restored(&self) -> TestRange {
        let mut engine = MemoryEngine::new();
        let mut batch = WriteBatch::default();
        for (key, value) in self.snapshot() {
            batch.put(key, value);
        }
        engine.write(batch).unwrap();
        let view = stored::view(&engine, self.state.descriptor().id);
        let state = stored::load(&view, EXPIRY_NANOS, self.state.timestamp_cache().entries_max()).expect("a head");
        TestRange { state, engine }
    }

    /// The replica as a restart finds it: loaded from its engine.
    fn reloaded(&self) -> TestRange {
        let state =
            stored::load(&self.view(), EXPIRY_NANOS, self.state.timestamp_cache().entries_max()).expect("a head");
        TestRange { state, engine: self.engine.clone() }
    }
}

fn range() -> TestRange {
    TestRange::new(RangeState::new(RangeDescriptor::whole_key_space(RangeId(1), [NodeId(1)].into()), EXPIRY_NANOS))
}

fn apply(state: &mut TestRange, command: RangeCommand) -> Result<RangeResponse, CommandError> {
    let range = state.state.descriptor().id;
    let generation = state.state.descriptor().generation;
    state.apply_request(RangeRequest { range, generation, command }).0
}

fn get(state: &mut TestRange, text: &str, wall: u64) -> Result<RangeResponse, CommandError> {
    apply(state, RangeCommand::Get { key: key(text), read: ReadOptions::at(at(wall)) })
}

/// A fresh write sequence for every write of the scenarios (none is a replay).
fn next_sequence() -> u32 {
    static SEQUENCE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    SEQUENCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1
}

fn put(state: &mut TestRange, text: &str, transaction: u128, wall: u64) -> Timestamp {
    let command = RangeCommand::Put {
        key: key(text),
        value: Some(text.as_bytes().to_vec()),
        transaction: TransactionId(transaction),
        anchor: key(text),
        timestamp: at(wall),
        sequence: next_sequence(),
    };
    match apply(state, command) {
        Ok(RangeResponse::Written { timestamp }) => timestamp,
        other => panic!("put failed: {other:?}"),
    }
}

fn commit(state: &mut TestRange, text: &str, transaction: u128, timestamp: Timestamp) {
    let resolution = Resolution::Committed { timestamp };
    let command = RangeCommand::ResolveIntent { key: key(text), transaction: TransactionId(transaction), resolution };
    assert_eq!(apply(state, command), Ok(RangeResponse::Resolved { found: true }));
}

fn heartbeat(state: &mut TestRange, transaction: u128, start: u64, now: u64) -> Result<RangeResponse, CommandError> {
    let command = RangeCommand::Heartbeat {
        transaction: TransactionId(transaction),
        anchor: key("a"),
        start: at(start),
        now: at(now),
    };
    apply(state, command)
}

fn push(state: &mut TestRange, pushee: u128, pusher_start: u64, kind: PushKind, now: u64) -> (TransactionRecord, bool) {
    let command = RangeCommand::Push {
        pushee: TransactionId(pushee),
        anchor: key("a"),
        pusher_start: at(pusher_start),
        kind,
        now: at(now),
    };
    match apply(state, command) {
        Ok(RangeResponse::Pushed { record, succeeded }) => (record, succeeded),
        other => panic!("push failed: {other:?}"),
    }
}

#[test]
fn a_write_lands_above_an_earlier_read_of_its_key() {
    let mut state = range();
    assert_eq!(value_of(get(&mut state, "a", 10)), Ok(None));
    assert_eq!(put(&mut state, "a", 1, 5), at(10).next());
    assert_eq!(put(&mut state, "b", 2, 5), at(5), "other keys are not affected");
}

#[test]
fn a_scan_protects_its_whole_span_against_phantoms() {
    let mut state = range();
    let scan = RangeCommand::Scan {
        start: key("a"),
        end: KeyEnd::Before(key("z")),
        read: ReadOptions::at(at(10)),
        limit: 100,
    };
    assert_eq!(apply(&mut state, scan), Ok(RangeResponse::Rows { rows: Vec::new(), newest_version: None }));
    assert_eq!(put(&mut state, "m", 1, 5), at(10).next(), "a key inserted into a scanned span moves above the scan");
    assert_eq!(put(&mut state, "zz", 2, 5), at(5));
}

#[test]
fn a_write_below_a_committed_version_moves_above_it() {
    let mut state = range();
    put(&mut state, "a", 1, 20);
    commit(&mut state, "a", 1, at(20));
    assert_eq!(put(&mut state, "a", 2, 15), at(20).next());
}

#[test]
fn intents_conflict_and_uncertain_versions_are_reported() {
    let mut state = range();
    put(&mut state, "a", 1, 12);
    match get(&mut state, "a", 15) {
        Err(CommandError::WriteIntent { intent, .. }) => {
            assert_eq!((intent.transaction, intent.anchor), (TransactionId(1), b"a".to_vec()))
        }
        other => panic!("expected an intent conflict, got {other:?}"),
    }
    commit(&mut state, "a", 1, at(12));
    let read = ReadOptions { timestamp: at(10), uncertainty_limit: at(15), transaction: None };
    let uncertain = apply(&mut state, RangeCommand::Get { key: key("a"), read });
    assert_eq!(uncertain, Err(CommandError::Uncertain { key: key("a"), existing: at(12) }));
}

#[test]
fn a_refresh_finds_writes_in_its_interval_and_then_guards_it() {
    let mut state = range();
    put(&mut state, "a", 1, 12);
    commit(&mut state, "a", 1, at(12));
    let refresh = |after, up_to| RangeCommand::Refresh {
        start: key("a"),
        end: KeyEnd::Before(key("b")),
        after: at(after),
        up_to: at(up_to),
        transaction: TransactionId(2),
    };
    assert_eq!(apply(&mut state, refresh(10, 15)), Ok(RangeResponse::Refreshed { changed: true }));
    assert_eq!(apply(&mut state, refresh(12, 30)), Ok(RangeResponse::Refreshed { changed: false }));
    assert_eq!(put(&mut state, "a", 3, 20), at(30).next(), "writes land above a successful refresh");
}

#[test]
fn records_commit_above_pushes_and_stay_aborted() {
    let mut state = range();
    heartbeat(&mut state, 1, 10, 10).unwrap();
    let (_, pushed) = push(&mut state, 1, 50, PushKind::Timestamp(at(40)), 11);
    assert!(pushed, "a reader pushes a live writer's commit timestamp");
    let end = |commit| RangeCommand::EndTransaction {
        transaction: TransactionId(1),
        anchor: key("a"),
        commit,
        intent_spans: Vec::new(),
    };
    assert_eq!(apply(&mut state, end(Some(at(30)))), Err(CommandError::CommitTimestampPushed { minimum: at(40) }));
    let committed = apply(&mut state, end(Some(at(40))));
    assert!(
        matches!(committed, Ok(RangeResponse::Record(record)) if record.status == TransactionStatus::Committed { timestamp: at(40) })
    );

    heartbeat(&mut state, 2, 10, 10).unwrap();
    let abort = RangeCommand::EndTransaction {
        transaction: TransactionId(2),
        anchor: key("a"),
        commit: None,
        intent_spans: Vec::new(),
    };
    apply(&mut state, abort).unwrap();
    assert_eq!(
        heartbeat(&mut state, 2, 10, 12),
        Err(CommandError::TransactionAborted { transaction: TransactionId(2) })
    );
}

#[test]
fn pushes_follow_wound_wait_and_expire_silent_transactions() {
    let mut state = range();
    heartbeat(&mut state, 1, 100, 100).unwrap();
    let (record, succeeded) = push(&mut state, 1, 200, PushKind::Abort, 150);
    assert!(!succeeded && record.status == TransactionStatus::Pending, "a younger pusher waits");
    let (record, succeeded) = push(&mut state, 1, 50, PushKind::Abort, 150);
    assert!(succeeded && record.status == TransactionStatus::Aborted, "an older pusher wounds");

    heartbeat(&mut state, 2, 100, 100).unwrap();
    let (record, succeeded) = push(&mut state, 2, 200, PushKind::Abort, 100 + EXPIRY_NANOS + 1);
    assert!(succeeded && record.status == TransactionStatus::Aborted, "a silent transaction is presumed dead");

    let (record, succeeded) = push(&mut state, 3, 200, PushKind::Abort, 100);
    assert!(succeeded && record.status == TransactionStatus::Aborted, "no record yet: it can never commit");
    assert_eq!(
        heartbeat(&mut state, 3, 90, 100),
        Err(CommandError::TransactionAborted { transaction: TransactionId(3) })
    );
}

#[test]
fn a_split_moves_the_right_half_and_refuses_misrouted_keys() {
    let mut state = range();
    put(&mut state, "a", 1, 10);
    commit(&mut state, "a", 1, at(10));
    put(&mut state, "q", 2, 10);
    commit(&mut state, "q", 2, at(10));
    get(&mut state, "r", 50).unwrap();
    let (_, right) = state.apply_request(RangeRequest {
        range: RangeId(1),
        generation: 0,
        command: RangeCommand::Split { at: key("m"), right_id: RangeId(2) },
    });
    let mut right = right.expect("a split yields the right range");
    assert_eq!(right.state.descriptor().start, key("m"));
    assert_eq!(stored::data(&state.view(), state.state.descriptor()).len(), 1, "the left span holds a's data");
    assert_eq!(stored::data(&right.view(), right.state.descriptor()).len(), 1, "the right span holds q's");
    assert_eq!(value_of(get(&mut state, "a", 20)), Ok(Some(b"a".to_vec())));
    match get(&mut state, "q", 20) {
        Err(CommandError::Range(RangeError::KeyOutsideRange { descriptor, .. })) => {
            assert_eq!(descriptor.generation, 1, "the refusal carries the fresh descriptor")
        }
        other => panic!("expected a misrouting error, got {other:?}"),
    }
    assert_eq!(value_of(get(&mut right, "q", 20)), Ok(Some(b"q".to_vec())));
    assert_eq!(put(&mut right, "r", 3, 5), at(50).next(), "the read timestamps moved with the keys");
}

#[test]
fn a_snapshot_restores_the_same_answers() {
    let mut state = range();
    put(&mut state, "a", 1, 10);
    commit(&mut state, "a", 1, at(10));
    put(&mut state, "b", 2, 10);
    heartbeat(&mut state, 2, 10, 10).unwrap();
    get(&mut state, "c", 30).unwrap();
    let mut restored = state.restored();
    assert_eq!(get(&mut restored, "a", 20), get(&mut state, "a", 20));
    assert_eq!(get(&mut restored, "b", 20), get(&mut state, "b", 20));
    assert_eq!(restored.record(TransactionId(2)), state.record(TransactionId(2)));
    assert_eq!(put(&mut restored, "c", 3, 5), put(&mut state, "c", 3, 5));
}

/// Found by the simulator: a snapshot that folded scanned spans into the
/// low-water mark made the restored replica push writes outside the spans that
/// the other replicas did not, and the replicas diverged.
#[test]
fn a_restored_replica_pushes_writes_exactly_as_the_others() {
    let mut state = range();
    let scan =
        RangeCommand::Scan { start: key("a"), end: KeyEnd::Before(key("c")), read: ReadOptions::at(at(50)), limit: 10 };
    apply(&mut state, scan).unwrap();
    let mut restored = state.restored();
    let (outside, inside) =
        (put_with_sequence(&mut state, "x", "v", 1, 5), put_with_sequence(&mut state, "b", "v", 2, 5));
    assert_eq!(put_with_sequence(&mut restored, "x", "v", 1, 5), outside, "outside the scanned span");
    assert_eq!(put_with_sequence(&mut restored, "b", "v", 2, 5), inside, "inside the scanned span");
    assert_eq!(restored.snapshot(), state.snapshot());
}

fn put_with_sequence(state: &mut TestRange, text: &str, value: &str, sequence: u32, wall: u64) -> Timestamp {
    let command = RangeCommand::Put {
        key: key(text),
        value: Some(value.as_bytes().to_vec()),
        transaction: TransactionId(9),
        anchor: key(text),
        timestamp: at(wall),
        sequence,
    };
    match apply(state, command) {
        Ok(RangeResponse::Written { timestamp }) => timestamp,
        other => panic!("put failed: {other:?}"),
    }
}

/// Found by the simulator: a write delayed in a paused leader applied after its
/// transaction had committed and been resolved, laying a fresh intent above the
/// commit timestamp; resolving it was refused forever and readers were stuck.
#[test]
fn replayed_writes_change_nothing() {
    let mut state = range();
    put_with_sequence(&mut state, "k", "first", 1, 10);
    put_with_sequence(&mut state, "k", "second", 2, 10);
    // A replay of the first write, before resolution: the later write stands.
    assert_eq!(put_with_sequence(&mut state, "k", "first", 1, 10), at(10));
    let committed = Resolution::Committed { timestamp: at(10) };
    let resolve = RangeCommand::ResolveIntent { key: key("k"), transaction: TransactionId(9), resolution: committed };
    assert_eq!(apply(&mut state, resolve.clone()), Ok(RangeResponse::Resolved { found: true }));
    // A replay after resolution lands above the committed version; resolving it
    // again (as a reader that pushes the committed record does) removes it.
    assert!(put_with_sequence(&mut state, "k", "first", 1, 10) > at(10));
    assert_eq!(apply(&mut state, resolve), Ok(RangeResponse::Resolved { found: true }));
    assert_eq!(value_of(get(&mut state, "k", 50)), Ok(Some(b"second".to_vec())));
}

#[test]
fn garbage_collection_keeps_what_reads_above_its_threshold_see() {
    let mut state = range();
    for (transaction, wall) in [(1, 10), (2, 20), (3, 30)] {
        let written = put(&mut state, "k", transaction, wall);
        commit(&mut state, "k", transaction, written);
    }
    let collect = RangeCommand::GarbageCollect { threshold: at(25) };
    assert_eq!(apply(&mut state, collect), Ok(RangeResponse::Collected { versions: 1 }));
    assert_eq!(value_of(get(&mut state, "k", 25)), Ok(Some(b"k".to_vec())));
    assert_eq!(get(&mut state, "k", 24), Err(CommandError::BelowGarbageCollectionThreshold { threshold: at(25) }));
    // The threshold never moves back.
    let older = RangeCommand::GarbageCollect { threshold: at(5) };
    assert_eq!(apply(&mut state, older), Ok(RangeResponse::Collected { versions: 0 }));
    assert_eq!(get(&mut state, "k", 24), Err(CommandError::BelowGarbageCollectionThreshold { threshold: at(25) }));
}

/// The right half of a split shares the data space its parent collected:
/// a read below the parent's threshold would find the older versions gone, so
/// the right range refuses it as the parent would.
#[test]
fn the_right_half_of_a_split_keeps_its_parents_garbage_collection_threshold() {
    let mut state = range();
    for (transaction, wall) in [(1, 10), (2, 20), (3, 30)] {
        let written = put(&mut state, "q", transaction, wall);
        commit(&mut state, "q", transaction, written);
    }
    let collect = RangeCommand::GarbageCollect { threshold: at(25) };
    assert_eq!(apply(&mut state, collect), Ok(RangeResponse::Collected { versions: 1 }));
    let (_, right) = state.apply_request(RangeRequest {
        range: RangeId(1),
        generation: 0,
        command: RangeCommand::Split { at: key("m"), right_id: RangeId(2) },
    });
    let mut right = right.expect("a split yields the right range");
    assert_eq!(right.state.garbage_collection_threshold(), at(25));
    assert_eq!(get(&mut right, "q", 15), Err(CommandError::BelowGarbageCollectionThreshold { threshold: at(25) }));
    assert_eq!(value_of(get(&mut right, "q", 25)), Ok(Some(b"q".to_vec())));
}

#[test]
fn the_first_range_keeps_the_meta_map_through_splits_and_snapshots() {
    let mut state = TestRange::new(RangeState::first(
        RangeDescriptor::whole_key_space(RangeId(1), [NodeId(1)].into()),
        EXPIRY_NANOS,
    ));
    let lookup = |state: &mut TestRange, text: &str| match apply(state, RangeCommand::LookupMeta { key: key(text) }) {
        Ok(RangeResponse::Descriptor(descriptor)) => descriptor.map(|descriptor| descriptor.id),
        other => panic!("lookup failed: {other:?}"),
    };
    assert_eq!(lookup(&mut state, "q"), Some(RangeId(1)));
    let split = apply(&mut state, RangeCommand::Split { at: key("m"), right_id: RangeId(2) });
    let Ok(RangeResponse::Split { right, .. }) = split else { panic!("split failed: {split:?}") };
    assert_eq!(lookup(&mut state, "q"), Some(RangeId(2)), "the meta range records its own split");
    // Another range's split reaches the map through an update; older news is ignored.
    let (middle, high) = right.split(&key("t"), RangeId(3)).unwrap();
    let update = RangeCommand::UpdateMeta { descriptors: vec![middle, high, right] };
    assert_eq!(apply(&mut state, update), Ok(RangeResponse::MetaUpdated { recorded: 2 }));
    assert_eq!(lookup(&mut state, "q"), Some(RangeId(2)));
    assert_eq!(lookup(&mut state, "x"), Some(RangeId(3)));
    let mut restored = state.restored();
    assert_eq!(lookup(&mut restored, "x"), Some(RangeId(3)));
    assert!(restored.state.meta().covers_key_space());
    let mut reloaded = state.reloaded();
    assert_eq!(lookup(&mut reloaded, "x"), Some(RangeId(3)), "the meta map is written through");
}

/// A restart loads the replica from its engine: every answer, and every push
/// a later write gets from the timestamp cache, must be the same as before.
#[test]
fn a_replica_reloaded_from_its_engine_is_the_same_replica() {
    let mut state = range();
    state.state.set_timestamp_cache_entries_max(3);
    put(&mut state, "a", 1, 10);
    commit(&mut state, "a", 1, at(10));
    put(&mut state, "b", 2, 10);
    heartbeat(&mut state, 2, 10, 10).unwrap();
    let scan =
        RangeCommand::Scan { start: key("c"), end: KeyEnd::Before(key("e")), read: ReadOptions::at(at(40)), limit: 10 };
    apply(&mut state, scan).unwrap();
    get(&mut state, "f", 30).unwrap();
    apply(&mut state, RangeCommand::GarbageCollect { threshold: at(3) }).unwrap();
    let mut reloaded = state.reloaded();
    assert_eq!(reloaded.snapshot(), state.snapshot());
    for text in ["d", "f", "g"] {
        assert_eq!(put(&mut reloaded, text, 3, 5), put(&mut state, text, 3, 5), "the push of a write to {text}");
    }
    // Four cache entries passed the bound of three: the cache folded, and the fold was written too.
    get(&mut state, "h", 60).unwrap();
    assert_eq!(state.reloaded().snapshot(), state.snapshot());
    assert_eq!(state.reloaded().state.timestamp_cache().low_water(), state.state.timestamp_cache().low_water());
}

#[path = "state_one_phase_tests.rs"]
mod one_phase;

#[path = "state_record_tests.rs"]
mod records;

/// The value of a point read's answer (errors pass through).
fn value_of(answer: Result<RangeResponse, CommandError>) -> Result<Option<Vec<u8>>, CommandError> {
    answer.map(|response| match response {
        RangeResponse::Value { value, .. } => value,
        other => panic!("a read answered {other:?}"),
    })
}
