//! Scenarios of deleting transaction records (see `state/records.rs`): each
//! kind of record goes once it cannot matter, and no replay brings it back or
//! applies twice.

use super::*;

fn collect(state: &mut TestRange, wall: u64) {
    assert!(apply(state, RangeCommand::GarbageCollect { threshold: at(wall) }).is_ok());
}

fn one_phase_write(text: &str, wall: u64) -> RangeCommand {
    RangeCommand::CommitOnePhase {
        transaction: TransactionId(7),
        writes: vec![(key(text), Some(text.as_bytes().to_vec()))],
        timestamp: at(wall),
        read_spans: Vec::new(),
    }
}

#[test]
fn a_one_phase_record_is_collected_and_a_later_replay_is_refused() {
    let mut state = range();
    let commit = one_phase_write("a", 10);
    assert!(apply(&mut state, commit.clone()).is_ok());
    assert!(state.record(TransactionId(7)).is_some());
    collect(&mut state, 9);
    assert!(state.record(TransactionId(7)).is_some(), "kept while it started above the threshold");
    assert!(matches!(apply(&mut state, commit.clone()), Ok(RangeResponse::Record(_))), "a replay finds it");
    collect(&mut state, 10);
    assert_eq!(state.record(TransactionId(7)), None, "collected once it started at or below the threshold");
    let refused = apply(&mut state, commit);
    assert_eq!(refused, Err(CommandError::BelowGarbageCollectionThreshold { threshold: at(10) }));
    assert!(stored::data(&state.view(), state.state.descriptor()).len() == 1, "the replay wrote nothing");
}

#[test]
fn a_two_phase_record_is_kept_until_its_intents_are_forgotten() {
    let mut state = range();
    heartbeat(&mut state, 3, 10, 10).unwrap();
    let spans = vec![(key("a"), KeyEnd::Before(key("a").next()))];
    let end = RangeCommand::EndTransaction {
        transaction: TransactionId(3),
        anchor: key("a"),
        commit: Some(at(20)),
        intent_spans: spans,
    };
    apply(&mut state, end.clone()).unwrap();
    collect(&mut state, 50);
    assert!(state.record(TransactionId(3)).is_some(), "its intents may be unresolved: readers need it");
    let forget = RangeCommand::ForgetTransaction { transaction: TransactionId(3), anchor: key("a") };
    assert_eq!(apply(&mut state, forget), Ok(RangeResponse::Resolved { found: true }));
    assert!(matches!(apply(&mut state, end), Ok(RangeResponse::Record(_))), "a replayed end changes nothing");
    collect(&mut state, 60);
    assert_eq!(state.record(TransactionId(3)), None);
    let revived = heartbeat(&mut state, 3, 10, 70);
    assert_eq!(revived, Err(CommandError::BelowGarbageCollectionThreshold { threshold: at(60) }));
    assert_eq!(state.record(TransactionId(3)), None, "a replayed heartbeat does not bring it back");
}

#[test]
fn an_aborted_record_of_unknown_start_waits_for_its_transaction() {
    let mut state = range();
    let (record, succeeded) = push(&mut state, 4, 5, PushKind::Abort, 100);
    assert!(succeeded && record.status == TransactionStatus::Aborted);
    collect(&mut state, 200);
    assert!(state.record(TransactionId(4)).is_some(), "its start is unknown: a later heartbeat must find it");
    let live = heartbeat(&mut state, 4, 300, 300);
    assert_eq!(live, Err(CommandError::TransactionAborted { transaction: TransactionId(4) }));
    collect(&mut state, 299);
    assert!(state.record(TransactionId(4)).is_some(), "started above the threshold");
    collect(&mut state, 300);
    assert_eq!(state.record(TransactionId(4)), None);
}

#[test]
fn an_expired_pending_record_is_collected() {
    let mut state = range();
    heartbeat(&mut state, 5, 10, 20).unwrap();
    collect(&mut state, 19);
    assert!(state.record(TransactionId(5)).is_some());
    collect(&mut state, 20);
    assert_eq!(state.record(TransactionId(5)), None, "its last heartbeat is at the threshold");
}

/// Found by the replicated lane: with no collection yet the threshold is the
/// zero timestamp, and a transaction that began at time zero had its first
/// heartbeat refused as if its record had been collected.
#[test]
fn a_range_that_never_collected_refuses_no_heartbeat() {
    let mut state = range();
    assert!(heartbeat(&mut state, 8, 0, 0).is_ok());
}
