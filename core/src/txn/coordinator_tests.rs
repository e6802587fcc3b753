//! The coordinator's one-phase commit over in-process ranges: which commands it
//! sends, and how it falls back.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use super::*;
use crate::range::RangeError;
use crate::txn::LocalRanges;

const MAX_OFFSET_NANOS: u64 = 100;

/// Runs a future that never waits: local ranges answer every command at once.
fn run_now<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("local ranges never make a command wait"),
    }
}

/// Local ranges that log the name of every command sent, and can hide the
/// answer of the first one-phase commit (applied, answered as refused).
struct Recording {
    ranges: LocalRanges,
    sent: Vec<&'static str>,
    hide_one_phase_answer: bool,
    /// Intent resolutions are applied but their answers lost.
    lose_resolve_answers: bool,
}

impl Recording {
    fn new() -> Recording {
        let mut ranges = LocalRanges::new(1_000_000);
        ranges.set_now(at(1_000));
        Recording { ranges, sent: Vec::new(), hide_one_phase_answer: false, lose_resolve_answers: false }
    }
}

fn name(command: &RangeCommand) -> &'static str {
    match command {
        RangeCommand::Get { .. } => "get",
        RangeCommand::Put { .. } => "put",
        RangeCommand::Heartbeat { .. } => "heartbeat",
        RangeCommand::EndTransaction { .. } => "end",
        RangeCommand::ResolveIntent { .. } => "resolve",
        RangeCommand::CommitOnePhase { .. } => "one-phase",
        RangeCommand::Push { .. } => "push",
        RangeCommand::Refresh { .. } => "refresh",
        RangeCommand::ForgetTransaction { .. } => "forget",
        RangeCommand::Scan { .. } => "scan",
        _ => "other",
    }
}

impl RangeSender for Recording {
    async fn send(&mut self, command: RangeCommand) -> Result<RangeResponse, CommandError> {
        self.sent.push(name(&command));
        let hide = self.hide_one_phase_answer && matches!(command, RangeCommand::CommitOnePhase { .. });
        let resolve = matches!(command, RangeCommand::ResolveIntent { .. });
        let answer = self.ranges.send(command.clone()).await;
        if resolve && self.lose_resolve_answers {
            return Err(CommandError::Invalid { reason: "the answer was lost".into() });
        }
        if hide {
            self.hide_one_phase_answer = false;
            let RangeCommand::CommitOnePhase { writes, .. } = command else { unreachable!() };
            let descriptor = crate::range::RangeDescriptor::whole_key_space(crate::types::RangeId(1), [].into());
            return Err(CommandError::Range(RangeError::KeyOutsideRange { key: writes[0].0.clone(), descriptor }));
        }
        answer
    }

    fn now(&mut self) -> Timestamp {
        self.ranges.now()
    }
}

fn at(wall: u64) -> Timestamp {
    Timestamp { wall_nanos: wall, logical: 0 }
}

fn key(text: &str) -> Key {
    Key(text.as_bytes().to_vec())
}

fn begin(id: u128, wall: u64) -> Transaction {
    Transaction::begin(TransactionId(id), at(wall), MAX_OFFSET_NANOS, TransactionKnobs::default())
}

fn writes(texts: &[&str]) -> Vec<(Key, Option<Vec<u8>>)> {
    texts.iter().map(|text| (key(text), Some(text.as_bytes().to_vec()))).collect()
}

/// What a fresh transaction reads at `wall`.
fn read(sender: &mut Recording, text: &str, wall: u64) -> Option<Vec<u8>> {
    let mut reader = begin(999, wall);
    run_now(reader.get(sender, &key(text))).expect("a read with nothing in the way")
}

#[test]
fn a_bounded_scan_stops_at_its_limit_across_ranges_and_counts_only_what_it_read() {
    let mut sender = Recording::new();
    run_now(begin(1, 100).commit_writes(&mut sender, &writes(&["a", "b", "n", "x"]))).unwrap();
    sender.ranges.split(&key("m"));
    sender.ranges.split(&key("w"));
    sender.sent.clear();
    let mut transaction = begin(2, 200);
    let (start, end) = (key("a"), KeyEnd::Unbounded);
    let rows = run_now(transaction.scan_bounded(&mut sender, &start, &end, 3)).unwrap();
    let keys: Vec<_> = rows.iter().map(|(key, _)| key.clone()).collect();
    assert_eq!(keys, [b"a".to_vec(), b"b".to_vec(), b"n".to_vec()]);
    assert_eq!(transaction.read_spans, [(start.clone(), KeyEnd::Before(key("n").next()))]);
    // The ranges recorded the read only as far as it went: an older writer
    // after "n" is not pushed above it, one inside is.
    for (text, pushed) in [("c", true), ("y", false)] {
        let mut writer = begin(3, 150);
        run_now(writer.put(&mut sender, &key(text), Some(b"w".to_vec()))).unwrap();
        assert_eq!(writer.write_timestamp > at(200), pushed, "a write at {text}");
        run_now(writer.rollback(&mut sender));
    }

    let rows = run_now(transaction.scan_bounded(&mut sender, &key("a"), &KeyEnd::Before(key("c")), 3)).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(transaction.read_spans[1], (key("a"), KeyEnd::Before(key("c"))), "a short answer read the whole span");
}

#[test]
fn blind_writes_in_one_range_commit_with_one_command() {
    let mut sender = Recording::new();
    let mut transaction = begin(1, 100);
    let timestamp = run_now(transaction.commit_writes(&mut sender, &writes(&["a", "b"]))).unwrap();
    assert_eq!(timestamp, at(100));
    assert_eq!(sender.sent, ["one-phase"]);
    assert!(transaction.committed_in_one_phase());
    assert_eq!(transaction.commit_wait_until(), None, "the clock (1000) passed 100 + the offset");
    assert_eq!(read(&mut sender, "b", 200), Some(b"b".to_vec()));
}

#[test]
fn commit_wait_is_set_as_for_a_two_phase_commit() {
    let mut sender = Recording::new();
    let mut transaction = begin(1, 950);
    let timestamp = run_now(transaction.commit_writes(&mut sender, &writes(&["a"]))).unwrap();
    assert_eq!(transaction.commit_wait_until(), Some(at(timestamp.wall_nanos + MAX_OFFSET_NANOS)));
}

#[test]
fn a_transaction_that_read_its_keys_commits_above_its_reads_in_one_command() {
    let mut sender = Recording::new();
    let mut transaction = begin(1, 100);
    assert_eq!(run_now(transaction.get(&mut sender, &key("a"))).unwrap(), None);
    let timestamp = run_now(transaction.commit_writes(&mut sender, &writes(&["a"]))).unwrap();
    assert_eq!(timestamp, at(100).next(), "its own read pushed it; the range refreshed the read");
    assert_eq!(sender.sent, ["get", "one-phase"]);
}

#[test]
fn writes_across_ranges_commit_in_two_phases() {
    let mut sender = Recording::new();
    sender.ranges.split(&key("m"));
    let mut transaction = begin(1, 100);
    run_now(transaction.commit_writes(&mut sender, &writes(&["a", "x"]))).unwrap();
    assert_eq!(sender.sent, ["one-phase", "heartbeat", "put", "put", "end", "resolve", "resolve"]);
    assert!(!transaction.committed_in_one_phase());
    assert_eq!(read(&mut sender, "x", 200), Some(b"x".to_vec()));
}

/// A two-phase commit's record can be forgotten once every intent is
/// resolved, and only then: the command comes after the commit, for the
/// caller to send once it acknowledged.
#[test]
fn a_two_phase_commit_forgets_its_record_only_when_every_intent_was_resolved() {
    let mut sender = Recording::new();
    sender.ranges.split(&key("m"));
    let mut transaction = begin(1, 100);
    run_now(transaction.commit_writes(&mut sender, &writes(&["a", "x"]))).unwrap();
    let forget = transaction.forget_command().expect("every intent resolved");
    assert!(matches!(forget, RangeCommand::ForgetTransaction { transaction: TransactionId(1), .. }));
    assert_eq!(run_now(sender.send(forget)), Ok(RangeResponse::Resolved { found: true }));
    assert!(transaction.forget_command().is_none(), "given once");

    let mut sender = Recording::new();
    sender.ranges.split(&key("m"));
    sender.lose_resolve_answers = true;
    let mut transaction = begin(2, 100);
    run_now(transaction.commit_writes(&mut sender, &writes(&["a", "x"]))).unwrap();
    assert!(transaction.forget_command().is_none(), "an unanswered resolution may not have happened");
    let mut one_phase = begin(3, 100);
    run_now(one_phase.commit_writes(&mut Recording::new(), &writes(&["a"]))).unwrap();
    assert!(one_phase.forget_command().is_none(), "a one-phase record has no intents to wait for");
}

#[test]
fn a_foreign_intent_sends_it_the_two_phase_way_which_pushes() {
    let mut sender = Recording::new();
    let mut younger = begin(2, 150);
    run_now(younger.put(&mut sender, &key("b"), Some(b"younger".to_vec()))).unwrap();
    sender.sent.clear();
    let mut transaction = begin(1, 100);
    run_now(transaction.commit_writes(&mut sender, &writes(&["a", "b"]))).unwrap();
    assert_eq!(sender.sent[..3], ["one-phase", "heartbeat", "put"]);
    assert!(sender.sent.contains(&"push"), "the older transaction aborts the younger: {:?}", sender.sent);
    assert_eq!(read(&mut sender, "b", 1_000), Some(b"b".to_vec()));
}

#[test]
fn a_one_phase_commit_that_applied_unseen_is_found_and_not_written_again() {
    let mut sender = Recording::new();
    sender.hide_one_phase_answer = true;
    let mut transaction = begin(1, 100);
    let timestamp = run_now(transaction.commit_writes(&mut sender, &writes(&["a"]))).unwrap();
    assert_eq!(timestamp, at(100));
    assert_eq!(sender.sent, ["one-phase", "heartbeat"], "the record answers: no intent is laid");
    assert!(transaction.committed_in_one_phase());
}

/// A read-only transaction at `wall` that reads `texts` (one a scan of
/// everything, when `texts` is empty) and commits: its commit wait.
fn read_only_wait(sender: &mut Recording, texts: &[&str], wall: u64) -> Option<Timestamp> {
    let mut reader = begin(998, wall);
    if texts.is_empty() {
        run_now(reader.scan(sender, &key(""), &KeyEnd::Unbounded)).expect("a scan with nothing in the way");
    }
    for text in texts {
        run_now(reader.get(sender, &key(text))).expect("a read with nothing in the way");
    }
    assert_eq!(run_now(reader.commit(sender)).unwrap(), at(wall), "read-only: commits at its read timestamp");
    reader.commit_wait_until()
}

#[test]
fn a_read_only_transaction_waits_an_offset_past_the_newest_version_it_read() {
    let mut sender = Recording::new();
    run_now(begin(1, 950).commit_writes(&mut sender, &writes(&["a"]))).unwrap();
    run_now(begin(2, 500).commit_writes(&mut sender, &writes(&["b", "d"]))).unwrap();
    run_now(begin(3, 960).commit_writes(&mut sender, &[(key("d"), None)])).unwrap();
    // The clock reads 1000: a's writer (950) may still be in commit wait until 1050.
    assert_eq!(read_only_wait(&mut sender, &["b", "a"], 990), Some(at(950 + MAX_OFFSET_NANOS)));
    assert_eq!(read_only_wait(&mut sender, &["b"], 990), None, "b is older than an offset");
    assert_eq!(read_only_wait(&mut sender, &["c"], 990), None, "nothing read, nothing to wait for");
    // A deletion is a version like any other, and a scan counts every key it passed.
    assert_eq!(read_only_wait(&mut sender, &["d"], 990), Some(at(960 + MAX_OFFSET_NANOS)));
    assert_eq!(read_only_wait(&mut sender, &[], 990), Some(at(960 + MAX_OFFSET_NANOS)), "a scan");
}

#[test]
fn a_restart_keeps_its_first_attempts_age_and_so_wins_wound_wait() {
    let mut sender = Recording::new();
    let mut younger = begin(2, 150);
    run_now(younger.put(&mut sender, &key("k"), Some(b"younger".to_vec()))).unwrap();
    // A restart at 200 of a transaction first begun at 100 is older than the
    // holder of the intent: it may abort it rather than wait behind it.
    let mut restarted =
        Transaction::begin_restart(TransactionId(1), at(200), at(100), MAX_OFFSET_NANOS, TransactionKnobs::default());
    assert_eq!((restarted.start_timestamp(), restarted.read_timestamp()), (at(100), at(200)));
    run_now(restarted.put(&mut sender, &key("k"), Some(b"restarted".to_vec()))).expect("the older one wins");
    run_now(restarted.commit(&mut sender)).unwrap();
    assert_eq!(read(&mut sender, "k", 1_000), Some(b"restarted".to_vec()));
    // A fresh transaction begun at 200 is younger, and is blocked instead.
    let mut holder = begin(3, 300);
    run_now(holder.put(&mut sender, &key("j"), Some(b"holder".to_vec()))).unwrap();
    let mut fresh = begin(4, 400);
    assert!(matches!(run_now(fresh.put(&mut sender, &key("j"), None)), Err(TransactionError::Blocked { .. })));
}
