//! Crafted register histories: linearizable ones pass, and each kind of violation is found.

use super::*;
use RegisterOperation::{CompareAndSet, Get, Put};

fn answered(client: u64, operation: RegisterOperation, span: (u64, u64), outcome: RegisterOutcome) -> Operation {
    Operation { client, key: 0, operation, invoked_at_nanos: span.0, completed: Some((span.1, outcome)) }
}

fn put(client: u64, value: u64, span: (u64, u64)) -> Operation {
    answered(client, Put { value }, span, RegisterOutcome::PutOk)
}

fn get(client: u64, read: Option<u64>, span: (u64, u64)) -> Operation {
    answered(client, Get, span, RegisterOutcome::GetOk(read))
}

fn compare_and_set(client: u64, expected: Option<u64>, new: u64, succeeded: bool, span: (u64, u64)) -> Operation {
    let outcome = if succeeded { RegisterOutcome::CompareAndSetOk } else { RegisterOutcome::CompareAndSetFailed };
    answered(client, CompareAndSet { expected, new }, span, outcome)
}

fn unanswered(operation: Operation) -> Operation {
    Operation { completed: None, ..operation }
}

fn on_key(key: u64, operation: Operation) -> Operation {
    Operation { key, ..operation }
}

#[test]
fn sequential_history_passes() {
    let history = [
        get(1, None, (0, 1)),
        put(1, 5, (2, 3)),
        get(2, Some(5), (4, 5)),
        compare_and_set(1, Some(5), 6, true, (6, 7)),
        compare_and_set(2, Some(5), 7, false, (8, 9)),
        unanswered(get(3, Some(99), (9, 9))),
        get(1, Some(6), (10, 11)),
    ];
    assert_eq!(check(&history), Ok(()));
}

#[test]
fn concurrent_read_may_see_either_value() {
    for read in [Some(1), Some(2)] {
        let history = [put(1, 1, (0, 1)), put(1, 2, (2, 10)), get(2, read, (5, 15))];
        assert_eq!(check(&history), Ok(()), "read {read:?}");
    }
}

#[test]
fn stale_read_is_rejected() {
    let history = [put(1, 1, (0, 1)), put(1, 2, (2, 3)), get(2, Some(1), (4, 5))];
    let violation = check(&history).unwrap_err();
    assert_eq!(violation.key, 0);
    assert!(violation.explanation.contains("#2 client 2 get -> 1 during 4..5ns"), "{violation}");
}

#[test]
fn lost_write_is_rejected() {
    let history = [get(1, None, (0, 1)), put(2, 7, (2, 3)), get(1, None, (4, 5))];
    assert!(check(&history).is_err());
}

#[test]
fn read_of_a_value_never_written_is_rejected() {
    let history = [put(1, 1, (0, 10)), get(2, Some(9), (5, 15))];
    assert!(check(&history).is_err());
}

#[test]
fn failed_compare_and_set_whose_expectation_held_is_rejected() {
    let on_absent = [compare_and_set(1, None, 1, false, (0, 1))];
    assert!(check(&on_absent).is_err());
    let after_put = [put(1, 1, (0, 1)), compare_and_set(2, Some(1), 2, false, (2, 3))];
    assert!(check(&after_put).is_err());
}

#[test]
fn successful_compare_and_set_racing_a_put_must_precede_it() {
    let race = |final_read| {
        [
            put(1, 1, (0, 1)),
            put(1, 2, (2, 10)),
            compare_and_set(2, Some(1), 3, true, (3, 8)),
            get(3, Some(final_read), (11, 12)),
        ]
    };
    assert_eq!(check(&race(2)), Ok(()));
    assert!(check(&race(3)).is_err(), "the put must overwrite the compare-and-set");
}

#[test]
fn unanswered_put_may_explain_a_later_read_or_never_happen() {
    for read in [1, 2] {
        let history = [put(1, 1, (0, 1)), unanswered(put(2, 2, (2, 2))), get(1, Some(read), (10, 11))];
        assert_eq!(check(&history), Ok(()), "read {read}");
    }
    let flip_back =
        [put(1, 1, (0, 1)), unanswered(put(2, 2, (2, 2))), get(1, Some(2), (10, 11)), get(1, Some(1), (12, 13))];
    assert!(check(&flip_back).is_err());
}

#[test]
fn unanswered_compare_and_set_may_have_succeeded_or_failed() {
    for read in [1, 2] {
        let attempt = unanswered(compare_and_set(2, Some(1), 2, true, (2, 2)));
        let history = [put(1, 1, (0, 1)), attempt, get(1, Some(read), (10, 11))];
        assert_eq!(check(&history), Ok(()), "read {read}");
    }
}

#[test]
fn unanswered_put_read_before_its_invocation_is_rejected() {
    let history = [get(1, Some(7), (0, 1)), unanswered(put(2, 7, (5, 5)))];
    assert!(check(&history).is_err());
}

#[test]
fn keys_are_checked_independently() {
    let valid = [on_key(1, put(1, 1, (0, 1))), on_key(2, get(2, None, (2, 3))), on_key(1, get(2, Some(1), (4, 5)))];
    assert_eq!(check(&valid), Ok(()));
    let mut invalid = valid.to_vec();
    invalid.push(on_key(2, get(2, Some(1), (6, 7))));
    assert_eq!(check(&invalid).unwrap_err().key, 2);
}

#[test]
fn malformed_history_is_rejected() {
    let backwards = [put(1, 1, (5, 4))];
    assert!(check(&backwards).unwrap_err().explanation.contains("malformed"));
}

#[test]
fn exhausted_search_is_inconclusive_not_a_pass() {
    let history = [put(1, 1, (0, 10)), put(2, 2, (0, 10)), get(3, Some(2), (11, 12))];
    let operations = history.iter().enumerate().collect();
    let violation = Search::new(KeyHistory::new(0, operations), 0).run().unwrap_err();
    assert!(violation.explanation.contains("inconclusive"), "{violation}");
}

/// A xorshift64 generator: enough randomness for test histories without a crate.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

/// Simulates a real register: each operation takes effect at an instant inside its
/// interval (an unanswered one possibly never), and outcomes follow from applying the
/// operations in the order of those instants, so the history is linearizable.
fn linearizable_history(seed: u64, operations: u64) -> Vec<Operation> {
    let mut random = XorShift(seed);
    let mut client_free_at = [0; 5];
    let mut planned = Vec::new();
    for index in 1..=operations {
        let client = random.below(5);
        let invoked_at = client_free_at[client as usize] + random.below(20);
        let effect_at = invoked_at + random.below(30);
        let completed_at = effect_at + random.below(30);
        client_free_at[client as usize] = completed_at + 1;
        let operation = match random.below(3) {
            0 => Put { value: index },
            1 => Get,
            _ => CompareAndSet { expected: Some(index.saturating_sub(random.below(4))), new: index },
        };
        let answered = random.below(12) != 0;
        let takes_effect = answered || random.below(2) == 0;
        let draft = Operation { client, key: 0, operation, invoked_at_nanos: invoked_at, completed: None };
        planned.push((effect_at, completed_at, answered, takes_effect, draft));
    }
    planned.sort_by_key(|(effect_at, ..)| *effect_at);
    let mut register = None;
    let mut history = Vec::new();
    for (_, completed_at, answered, takes_effect, mut operation) in planned {
        let outcome = match operation.operation {
            _ if !takes_effect => None,
            Put { value } => Some(RegisterOutcome::PutOk).inspect(|_| register = Some(value)),
            Get => Some(RegisterOutcome::GetOk(register)),
            CompareAndSet { expected, new } if expected == register => {
                register = Some(new);
                Some(RegisterOutcome::CompareAndSetOk)
            }
            CompareAndSet { .. } => Some(RegisterOutcome::CompareAndSetFailed),
        };
        operation.completed = outcome.filter(|_| answered).map(|outcome| (completed_at, outcome));
        history.push(operation);
    }
    history
}

#[test]
fn random_linearizable_histories_pass_and_a_corrupted_read_is_rejected() {
    // The last seed is long enough that a recursive search would risk the stack.
    for (seed, operations) in (1..=20_u64).map(|seed| (seed, 300)).chain([(21, 2_000)]) {
        let mut history = linearizable_history(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15), operations);
        assert_eq!(check(&history), Ok(()), "seed {seed}");
        let last_read = history
            .iter()
            .rposition(|operation| matches!(operation.completed, Some((_, RegisterOutcome::GetOk(_)))))
            .expect("a history of hundreds of operations has an answered read");
        let completed_at = history[last_read].completed.as_ref().unwrap().0;
        history[last_read].completed = Some((completed_at, RegisterOutcome::GetOk(Some(u64::MAX))));
        let violation = check(&history).expect_err("a read of a value never written");
        assert!(violation.explanation.contains(&format!("#{last_read} ")), "seed {seed}: {violation}");
    }
}
