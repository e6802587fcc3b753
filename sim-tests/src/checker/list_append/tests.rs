//! Crafted histories: each anomaly is found, and valid histories pass.

use super::*;
use TransactionOutcome::{Aborted, Committed, Unknown};

fn append(key: u64, value: u64) -> MicroOperation {
    MicroOperation::Append { key, value }
}

fn read(key: u64, list: &[u64]) -> MicroOperation {
    MicroOperation::Read { key, list: Some(list.to_vec()) }
}

/// A transaction running over [0, 1000] ns, concurrently with every other one built here.
fn transaction(id: u64, outcome: TransactionOutcome, operations: Vec<MicroOperation>) -> Transaction {
    let completed_at_nanos = (outcome != Unknown).then_some(1_000);
    Transaction { id, client: id, operations, outcome, invoked_at_nanos: 0, completed_at_nanos, commit_timestamp: None }
}

fn committed(id: u64, operations: Vec<MicroOperation>) -> Transaction {
    transaction(id, Committed, operations)
}

fn timed(transaction: Transaction, invoked_at_nanos: u64, completed_at_nanos: u64) -> Transaction {
    Transaction { invoked_at_nanos, completed_at_nanos: Some(completed_at_nanos), ..transaction }
}

fn anomalies(history: &[Transaction]) -> Vec<Anomaly> {
    check(history).iter().map(|violation| violation.anomaly).collect()
}

#[test]
fn serial_history_passes() {
    let history = [
        timed(committed(1, vec![append(1, 1), read(2, &[])]), 0, 10),
        timed(committed(2, vec![read(1, &[1]), append(2, 2)]), 20, 30),
        timed(committed(3, vec![read(1, &[1]), read(2, &[2])]), 40, 50),
    ];
    assert_eq!(check(&history), []);
}

#[test]
fn write_cycle_across_two_keys_is_g0() {
    let history = [
        committed(1, vec![append(1, 1), append(2, 2)]),
        committed(2, vec![append(1, 3), append(2, 4)]),
        committed(3, vec![read(1, &[1, 3]), read(2, &[4, 2])]),
    ];
    let cycle = "cycle T1 -[ww key 1: 1 then 3]-> T2 -[ww key 2: 4 then 2]-> T1";
    assert_eq!(check(&history), [Violation { anomaly: Anomaly::G0, explanation: cycle.to_string() }]);
}

#[test]
fn read_of_aborted_append_is_g1a() {
    let history = [transaction(1, Aborted, vec![append(1, 1)]), committed(2, vec![read(1, &[1])])];
    assert_eq!(anomalies(&history), [Anomaly::G1a]);
}

#[test]
fn read_of_intermediate_append_is_g1b() {
    let history = [committed(1, vec![append(1, 1), append(1, 2)]), committed(2, vec![read(1, &[1])])];
    assert_eq!(anomalies(&history), [Anomaly::G1b]);
}

#[test]
fn circular_information_flow_is_g1c() {
    let history = [committed(1, vec![append(1, 1), read(2, &[2])]), committed(2, vec![append(2, 2), read(1, &[1])])];
    assert_eq!(anomalies(&history), [Anomaly::G1c]);
}

#[test]
fn read_skew_is_g_single() {
    let history = [
        committed(1, vec![append(1, 1), append(2, 2)]),
        committed(2, vec![append(1, 3), append(2, 4)]),
        committed(3, vec![read(1, &[1]), read(2, &[2, 4])]),
        committed(4, vec![read(1, &[1, 3])]),
    ];
    assert_eq!(anomalies(&history), [Anomaly::GSingle]);
}

#[test]
fn write_skew_is_g2() {
    let history = [
        committed(1, vec![read(1, &[]), read(2, &[]), append(1, 1)]),
        committed(2, vec![read(1, &[]), read(2, &[]), append(2, 2)]),
        committed(3, vec![read(1, &[1]), read(2, &[2])]),
    ];
    assert_eq!(anomalies(&history), [Anomaly::G2]);
}

#[test]
fn stale_read_after_completion_is_real_time() {
    let history = [
        timed(committed(1, vec![append(1, 1)]), 0, 10),
        timed(committed(2, vec![read(1, &[])]), 20, 30),
        committed(3, vec![read(1, &[1])]),
    ];
    let cycle = "cycle T1 -[rt: completed at 10 ns, next invoked at 20 ns]-> T2 -[rw key 1: read missed 1]-> T1";
    assert_eq!(check(&history), [Violation { anomaly: Anomaly::RealTime, explanation: cycle.to_string() }]);
}

#[test]
fn diverging_reads_are_incompatible() {
    let appends = [committed(1, vec![append(1, 1)]), committed(2, vec![append(1, 2)])];
    let history = [&appends[..], &[committed(3, vec![read(1, &[1, 2])]), committed(4, vec![read(1, &[2])])]].concat();
    assert_eq!(anomalies(&history), [Anomaly::Incompatible]);
}

#[test]
fn repeated_value_in_a_read_is_duplicate_elements() {
    let history = [committed(1, vec![append(1, 1)]), committed(2, vec![read(1, &[1, 1])])];
    assert_eq!(anomalies(&history), [Anomaly::DuplicateElements]);
}

#[test]
fn observed_unknown_transaction_counts_as_committed() {
    let history = [
        transaction(1, Unknown, vec![append(1, 1), append(2, 2)]),
        committed(2, vec![read(2, &[]), append(1, 3)]),
        committed(3, vec![read(1, &[1, 3]), read(2, &[2])]),
    ];
    // No G1a for the observed append, and T1 takes part in T2 -rw-> T1 -ww-> T2.
    assert_eq!(anomalies(&history), [Anomaly::GSingle]);
}

#[test]
fn unobserved_unknown_transaction_is_ignored() {
    let history = [transaction(1, Unknown, vec![append(1, 1)]), timed(committed(2, vec![read(1, &[])]), 10, 20)];
    assert_eq!(anomalies(&history), []);
}

/// xorshift64*: enough randomness for histories, and reproducible from the seed alone.
struct Random(u64);

impl Random {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % bound
    }
}

/// Runs random transactions one at a time against a list store. Transaction `i` takes effect
/// at `1000 + 100 i` ns, inside its random interval, so the history is strictly serializable.
fn serial_history(seed: u64, count: u64, keys: u64) -> Vec<Transaction> {
    let mut random = Random(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut store: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    let mut history = Vec::new();
    for id in 0..count {
        let outcome = [Aborted, Unknown, Committed, Committed, Committed][random.below(5) as usize];
        let (mut appended, mut operations) = (Vec::new(), Vec::new());
        for _ in 0..1 + random.below(4) {
            let key = random.below(keys);
            if random.below(2) == 0 {
                let value = id * 8 + appended.len() as u64 + 1;
                appended.push((key, value));
                operations.push(append(key, value));
                continue;
            }
            let mut list = store.get(&key).cloned().unwrap_or_default();
            list.extend(appended.iter().filter(|(written, _)| *written == key).map(|(_, value)| value));
            operations.push(MicroOperation::Read { key, list: (outcome == Committed).then_some(list) });
        }
        if outcome == Committed || (outcome == Unknown && random.below(2) == 0) {
            appended.into_iter().for_each(|(key, value)| store.entry(key).or_default().push(value));
        }
        let takes_effect_at = 1_000 + 100 * id;
        let invoked_at_nanos = takes_effect_at - random.below(300);
        let completed_at_nanos = (outcome != Unknown).then(|| takes_effect_at + random.below(300));
        let commit_timestamp = (outcome == Committed).then_some(Timestamp { wall_nanos: takes_effect_at, logical: 0 });
        let client = id % 10;
        history.push(Transaction {
            id,
            client,
            operations,
            outcome,
            invoked_at_nanos,
            completed_at_nanos,
            commit_timestamp,
        });
    }
    history
}

#[test]
fn random_serial_histories_pass() {
    for seed in 0..20 {
        assert_eq!(check(&serial_history(seed, 300, 5)), [], "seed {seed}");
    }
}

/// `transaction` as committed at `wall_nanos`.
fn at(transaction: Transaction, wall_nanos: u64) -> Transaction {
    Transaction { commit_timestamp: Some(Timestamp { wall_nanos, logical: 0 }), ..transaction }
}

#[test]
fn a_write_below_a_served_read_breaks_timestamp_order_without_a_cycle() {
    // T2 read key 1 at 20 and missed T1's append, committed at 10: what a
    // timestamp cache that forgot T2's read allows. No cycle: T2 -rw-> T1 only.
    let history = [
        at(committed(1, vec![append(1, 1)]), 10),
        at(committed(2, vec![read(1, &[])]), 20),
        at(committed(3, vec![read(1, &[1])]), 30),
    ];
    let without_timestamps: Vec<Transaction> =
        history.iter().cloned().map(|transaction| Transaction { commit_timestamp: None, ..transaction }).collect();
    assert_eq!(check(&without_timestamps), []);
    let violations = check(&history);
    assert_eq!(anomalies(&history), [Anomaly::TimestampOrder]);
    assert!(violations[0].explanation.contains("T2 committed at 0.000000020,0 read key 1 without 1"), "{violations:?}");
}

#[test]
fn a_read_of_a_later_commit_breaks_timestamp_order() {
    let history = [at(committed(1, vec![append(1, 1)]), 30), at(committed(2, vec![read(1, &[1])]), 20)];
    assert_eq!(anomalies(&history), [Anomaly::TimestampOrder]);
}

#[test]
fn a_list_out_of_commit_order_breaks_timestamp_order() {
    let history = [
        at(committed(1, vec![append(1, 1)]), 30),
        at(committed(2, vec![append(1, 2)]), 20),
        committed(3, vec![read(1, &[1, 2])]),
    ];
    assert_eq!(anomalies(&history), [Anomaly::TimestampOrder]);
}

#[test]
fn own_appends_and_unknown_writers_are_not_placed() {
    // T1 appends twice to key 1 and reads its own values; T2's outcome is
    // unknown, so its value may sit anywhere.
    let history = [
        at(committed(1, vec![append(1, 1), append(1, 2), read(1, &[1, 2])]), 10),
        transaction(2, Unknown, vec![append(1, 3)]),
        at(committed(3, vec![read(1, &[1, 2, 3])]), 20),
        at(committed(4, vec![read(1, &[1, 2, 3])]), 30),
    ];
    assert_eq!(check(&history), []);
}

#[test]
fn a_read_missing_an_append_acknowledged_before_it_began_breaks_single_key_order() {
    // T1 appended 1 to key 1 and was acknowledged at 10 ns; T2 began at 20 ns
    // and read key 1 empty. Serializable (T2 before T1), so only the
    // single-key check objects.
    let history = [timed(committed(1, vec![append(1, 1)]), 0, 10), timed(committed(2, vec![read(1, &[])]), 20, 30)];
    assert!(!anomalies(&history).contains(&Anomaly::KeyRealTime));
    let violation = check_single_key_real_time(&history).expect("T2 began after T1 was acknowledged");
    assert!(violation.explanation.contains("T2 began at 20 ns and read key 1 without 1"), "{violation:?}");
    // Concurrent, the same reads are fine.
    let concurrent = [timed(committed(1, vec![append(1, 1)]), 0, 25), timed(committed(2, vec![read(1, &[])]), 20, 30)];
    assert_eq!(check_single_key_real_time(&concurrent), None);
}
