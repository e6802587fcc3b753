//! Scenarios of the one-phase commit: one per rule of `state/one_phase.rs`.

use super::*;

fn value_of(text: &str) -> Option<Vec<u8>> {
    Some(format!("{text}-one-phase").into_bytes())
}

fn one_phase(text_keys: &[&str], wall: u64, read_spans: Vec<(Key, KeyEnd)>) -> RangeCommand {
    RangeCommand::CommitOnePhase {
        transaction: TransactionId(100),
        writes: text_keys.iter().map(|text| (key(text), value_of(text))).collect(),
        timestamp: at(wall),
        read_spans,
    }
}

fn span_of(text: &str) -> (Key, KeyEnd) {
    (key(text), KeyEnd::Before(key(text).next()))
}

/// The commit timestamp a one-phase commit answered, or its error.
fn committed_at(answer: Result<RangeResponse, CommandError>) -> Result<Timestamp, CommandError> {
    match answer? {
        RangeResponse::Record(TransactionRecord { status: TransactionStatus::Committed { timestamp }, .. }) => {
            Ok(timestamp)
        }
        other => panic!("a one-phase commit answered {other:?}"),
    }
}

fn value(state: &mut TestRange, text: &str, wall: u64) -> Option<Vec<u8>> {
    match get(state, text, wall) {
        Ok(RangeResponse::Value { value, .. }) => value,
        other => panic!("read failed: {other:?}"),
    }
}

#[test]
fn every_key_commits_at_once_without_intents() {
    let mut state = range();
    assert_eq!(committed_at(apply(&mut state, one_phase(&["a", "b"], 10, Vec::new()))), Ok(at(10)));
    assert_eq!(value(&mut state, "a", 9), None, "nothing below the commit timestamp");
    assert_eq!(value(&mut state, "a", 10), value_of("a"));
    assert_eq!(value(&mut state, "b", 10), value_of("b"));
    // Committed versions, not intents: another transaction writes above them at once.
    assert_eq!(put(&mut state, "b", 2, 5), at(10).next());
    let record = state.record(TransactionId(100)).expect("a record guards against replays");
    assert_eq!((record.status, &record.anchor), (TransactionStatus::Committed { timestamp: at(10) }, &key("a")));
}

#[test]
fn a_foreign_intent_refuses_it_and_nothing_is_written() {
    let mut state = range();
    put(&mut state, "b", 2, 5);
    let refused = apply(&mut state, one_phase(&["a", "b"], 10, Vec::new()));
    assert!(matches!(refused, Err(CommandError::WriteIntent { ref key, .. }) if *key == super::key("b")));
    assert_eq!(value(&mut state, "a", 20), None, "all or nothing");
    assert_eq!(state.record(TransactionId(100)), None, "a refused commit leaves no record");
}

#[test]
fn blind_writes_move_above_the_timestamp_cache_and_newer_versions() {
    let mut state = range();
    get(&mut state, "a", 15).unwrap();
    put(&mut state, "b", 2, 20);
    commit(&mut state, "b", 2, at(20));
    let timestamp = committed_at(apply(&mut state, one_phase(&["a", "b"], 10, Vec::new()))).unwrap();
    assert_eq!(timestamp, at(20).next(), "above the read at 15 and the version at 20");
    assert_eq!(value(&mut state, "a", 15), None, "the read at 15 keeps its answer");
    assert_eq!(value(&mut state, "a", 21), value_of("a"));
    assert_eq!(value(&mut state, "b", 21), value_of("b"));
}

#[test]
fn reads_the_range_can_refresh_let_the_timestamp_move() {
    let mut state = range();
    // The transaction read its own key at 10, which pushes its write above 10.
    get(&mut state, "a", 10).unwrap();
    let timestamp = committed_at(apply(&mut state, one_phase(&["a"], 10, vec![span_of("a")])));
    assert_eq!(timestamp, Ok(at(10).next()));
    // The reads now stand at the commit timestamp: a later write lands above it.
    assert_eq!(put(&mut state, "a", 2, 5), at(10).next().next());
}

#[test]
fn a_push_past_changed_reads_is_refused_and_nothing_is_written() {
    let mut state = range();
    put(&mut state, "c", 2, 12);
    commit(&mut state, "c", 2, at(12));
    get(&mut state, "a", 15).unwrap();
    let refused = apply(&mut state, one_phase(&["a"], 10, vec![span_of("c")]));
    assert_eq!(refused, Err(CommandError::CommitTimestampPushed { minimum: at(15).next() }));
    assert_eq!(value(&mut state, "a", 30), None);
    assert_eq!(state.record(TransactionId(100)), None);
    // Not pushed, the reads at 10 hold at 10 whatever was written later.
    assert_eq!(committed_at(apply(&mut state, one_phase(&["b"], 10, vec![span_of("c")]))), Ok(at(10)));
}

#[test]
fn keys_or_reads_outside_the_range_are_refused() {
    let mut state = range();
    let split = apply(&mut state, RangeCommand::Split { at: key("m"), right_id: RangeId(2) });
    assert!(split.is_ok(), "split failed: {split:?}");
    let refused = apply(&mut state, one_phase(&["a", "x"], 10, Vec::new()));
    assert!(
        matches!(refused, Err(CommandError::Range(RangeError::KeyOutsideRange { ref key, .. })) if *key == super::key("x")),
        "{refused:?}"
    );
    assert_eq!(value(&mut state, "a", 20), None);
    // A read on the other range cannot be refreshed here: no move past it
    // (here, past the read of "a" at 20 just above).
    let refused = apply(&mut state, one_phase(&["a"], 10, vec![span_of("x")]));
    assert_eq!(refused, Err(CommandError::CommitTimestampPushed { minimum: at(20).next() }));
}

#[test]
fn a_replay_changes_nothing_and_answers_the_same() {
    let mut state = range();
    let first = apply(&mut state, one_phase(&["a"], 10, Vec::new()));
    assert_eq!(committed_at(first.clone()), Ok(at(10)));
    put(&mut state, "a", 2, 20);
    commit(&mut state, "a", 2, at(20));
    assert_eq!(apply(&mut state, one_phase(&["a"], 10, Vec::new())), first);
    assert_eq!(value(&mut state, "a", 30), Some(b"a".to_vec()), "the later write is not overwritten");
}

#[test]
fn the_garbage_collection_threshold_refuses_old_commits() {
    let mut state = range();
    apply(&mut state, RangeCommand::GarbageCollect { threshold: at(25) }).unwrap();
    let refused = apply(&mut state, one_phase(&["a"], 25, Vec::new()));
    assert_eq!(refused, Err(CommandError::BelowGarbageCollectionThreshold { threshold: at(25) }));
    assert_eq!(committed_at(apply(&mut state, one_phase(&["a"], 26, Vec::new()))), Ok(at(26)));
}

#[test]
fn a_replay_after_the_two_phase_fallback_writes_nothing() {
    let mut state = range();
    // The transaction fell back to intents: its record is pending, then aborted.
    let heartbeat =
        RangeCommand::Heartbeat { transaction: TransactionId(100), anchor: key("a"), start: at(10), now: at(10) };
    apply(&mut state, heartbeat).unwrap();
    let refused = apply(&mut state, one_phase(&["a"], 10, Vec::new()));
    assert!(matches!(refused, Err(CommandError::Invalid { .. })), "{refused:?}");
    let abort = RangeCommand::EndTransaction {
        transaction: TransactionId(100),
        anchor: key("a"),
        commit: None,
        intent_spans: Vec::new(),
    };
    apply(&mut state, abort).unwrap();
    let refused = apply(&mut state, one_phase(&["a"], 10, Vec::new()));
    assert_eq!(refused, Err(CommandError::TransactionAborted { transaction: TransactionId(100) }));
    assert_eq!(value(&mut state, "a", 30), None);
}

#[test]
fn the_record_moves_with_its_anchor_on_a_split() {
    let mut state = range();
    committed_at(apply(&mut state, one_phase(&["x", "y"], 10, Vec::new()))).unwrap();
    let generation = state.state.descriptor().generation;
    let split = RangeCommand::Split { at: key("m"), right_id: RangeId(2) };
    let (_, right) = state.apply_request(RangeRequest { range: RangeId(1), generation, command: split });
    let mut right = right.expect("the split yields the right half");
    assert_eq!(state.record(TransactionId(100)), None, "the record left with its anchor, x");
    // A replay on the right half still finds it.
    let replay = apply(&mut right, one_phase(&["x", "y"], 10, Vec::new()));
    assert_eq!(committed_at(replay), Ok(at(10)));
}
