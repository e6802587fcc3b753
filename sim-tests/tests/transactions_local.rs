//! The transaction protocol over in-process ranges (no Raft yet): interleaved
//! coordinators on skewed gateway clocks must produce strictly serializable
//! list-append histories and constant bank totals; each injected protocol bug
//! must be caught within a bounded number of seeds.

use shardforge_core::txn::coordinator::TransactionKnobs;
use sim_tests::checker::list_append::Anomaly;
use sim_tests::local_transactions::{run_bank, run_list_append, LocalOptions};

const SEEDS: u64 = 40;
/// The replicated lane is fast (a few milliseconds a seed): sweep it widely.
const REPLICATED_SEEDS: u64 = 300;

/// Runs `SEEDS` seeds shaped by `options`; each must keep its promise, and
/// most transactions must commit (guard against a vacuous pass).
fn assert_promise_kept(options: &LocalOptions) -> usize {
    let mut committed = 0;
    for seed in 1..=SEEDS {
        let report = run_list_append(seed, options);
        assert!(report.violations.is_empty(), "seed {seed}: {:?}", report.violations);
        committed += report.committed;
    }
    assert!(committed > SEEDS as usize * options.transactions / 2, "only {committed} transactions committed");
    committed
}

#[test]
fn list_append_histories_are_strictly_serializable() {
    let committed = assert_promise_kept(&LocalOptions::default());
    println!("{SEEDS} seeds, {committed} committed transactions, no anomaly");
}

/// Production's default: acknowledged once the clock reaches the commit
/// timestamp. Serializable, and real-time ordered on each key.
#[test]
fn list_append_histories_without_commit_wait_are_serializable_and_ordered_per_key() {
    assert_promise_kept(&LocalOptions { commit_wait: false, ..LocalOptions::default() });
}

#[test]
fn bank_totals_never_change() {
    let options = LocalOptions::default();
    for seed in 1..=SEEDS {
        let (wrong, transfers) = run_bank(seed, &options);
        assert!(wrong.is_empty(), "seed {seed}: {wrong:?}");
        assert!(transfers > 100, "seed {seed}: only {transfers} transfers committed");
    }
}

/// The first seed at which `knobs` produce one of `anomalies`.
fn first_seed_with(knobs: TransactionKnobs, anomalies: &[Anomaly]) -> Option<(u64, String)> {
    first_seed_of(LocalOptions { knobs, ..LocalOptions::default() }, anomalies)
}

/// The first seed at which a run shaped by `options` produces one of `anomalies`.
fn first_seed_of(options: LocalOptions, anomalies: &[Anomaly]) -> Option<(u64, String)> {
    (1..=200).find_map(|seed| {
        let report = run_list_append(seed, &options);
        let found = report.violations.iter().find(|violation| anomalies.contains(&violation.anomaly))?;
        Some((seed, format!("{:?}: {}", found.anomaly, found.explanation)))
    })
}

#[test]
fn skipping_the_read_refresh_is_caught() {
    let knobs = TransactionKnobs { skip_read_refresh: true, ..TransactionKnobs::default() };
    let (seed, found) = first_seed_with(knobs, &[Anomaly::GSingle, Anomaly::G2]).expect("write skew must appear");
    println!("skip-read-refresh caught at seed {seed}: {found}");
}

/// Without commit wait, since with it the interval is redundant here: a
/// transaction that begins after a write was acknowledged starts on a clock at
/// or above the write's commit (its writer waited one offset past it), and a
/// read-only transaction that saw a value in its writer's commit wait waits as
/// long. Without commit wait, a later reader's clock may be up to one offset
/// below an acknowledged commit, and only the interval makes it see the write.
#[test]
fn skipping_the_uncertainty_interval_is_caught() {
    let knobs = TransactionKnobs { skip_uncertainty: true, ..TransactionKnobs::default() };
    let options = LocalOptions { knobs, commit_wait: false, ..LocalOptions::default() };
    let (seed, found) = first_seed_of(options, &[Anomaly::KeyRealTime]).expect("stale reads must appear");
    println!("skip-uncertainty caught at seed {seed}: {found}");
}

#[test]
fn resolving_before_the_record_is_durable_is_caught() {
    let knobs = TransactionKnobs { resolve_before_durable: true, ..TransactionKnobs::default() };
    let (seed, found) =
        first_seed_with(knobs, &[Anomaly::G1a, Anomaly::G1b, Anomaly::G1c, Anomaly::GSingle, Anomaly::G2])
            .expect("reads of uncommitted data must appear");
    println!("resolve-before-durable caught at seed {seed}: {found}");
}

#[test]
fn a_one_phase_commit_moving_past_unchecked_reads_is_caught() {
    let knobs = TransactionKnobs { one_phase_hides_reads: true, ..TransactionKnobs::default() };
    let (seed, found) = first_seed_with(knobs, &[Anomaly::GSingle, Anomaly::G2]).expect("lost appends must appear");
    println!("one-phase-hides-reads caught at seed {seed}: {found}");
}

#[test]
fn replicated_list_append_histories_are_strictly_serializable() {
    use sim_tests::replicated_transactions::{run_replicated_list_append, ReplicatedOptions};
    let options = ReplicatedOptions::default();
    let (mut committed, mut split_ranges) = (0, 0);
    for seed in 1..=REPLICATED_SEEDS {
        let report = run_replicated_list_append(seed, &options);
        assert_eq!(report.stuck, None, "seed {seed}");
        let (violations, seed_committed, ranges) = (report.violations, report.committed, report.ranges);
        assert!(violations.is_empty(), "seed {seed}: {violations:?}");
        assert!(ranges >= 2, "seed {seed}: the ranges must have split");
        split_ranges = split_ranges.max(ranges);
        committed += seed_committed;
    }
    assert!(committed > REPLICATED_SEEDS as usize * options.transactions / 2, "only {committed} committed");
    assert!(split_ranges > 2, "ranges must also split by size");
    println!("replicated: {REPLICATED_SEEDS} seeds, {committed} committed transactions, up to {split_ranges} ranges, no anomaly");
}

#[test]
fn replicated_runs_catch_a_skipped_read_refresh() {
    use sim_tests::replicated_transactions::{run_replicated_list_append, ReplicatedOptions};
    let knobs = TransactionKnobs { skip_read_refresh: true, ..TransactionKnobs::default() };
    let options = ReplicatedOptions { knobs, ..ReplicatedOptions::default() };
    let seed = (1..=50).find(|seed| {
        let violations = run_replicated_list_append(*seed, &options).violations;
        violations.iter().any(|violation| matches!(violation.anomaly, Anomaly::GSingle | Anomaly::G2))
    });
    println!("replicated skip-read-refresh caught at seed {seed:?}");
    assert!(seed.is_some(), "write skew must appear within 50 seeds");
}

/// A longer sweep for investigation: `REPLICATED_SWEEP=N cargo test -p sim-tests --test transactions_local sweep`.
#[test]
fn replicated_sweep_from_the_environment() {
    use sim_tests::replicated_transactions::{run_replicated_list_append, ReplicatedOptions};
    #[allow(clippy::disallowed_methods)] // A test's configuration comes from its environment.
    let seeds: u64 = std::env::var("REPLICATED_SWEEP").ok().and_then(|text| text.parse().ok()).unwrap_or(0);
    for seed in 1..=seeds {
        let violations = run_replicated_list_append(seed, &ReplicatedOptions::default()).violations;
        assert!(violations.is_empty(), "seed {seed}: {violations:?}");
    }
}

#[test]
fn nodes_refuse_a_gateway_whose_clock_is_beyond_the_maximum_offset() {
    use sim_tests::replicated_transactions::{run_replicated_list_append, ReplicatedOptions};
    let plain = ReplicatedOptions::default();
    let rogue = ReplicatedOptions { rogue_clock_skew_nanos: Some(4 * plain.max_offset_nanos as i64), ..plain };
    for seed in 1..=10 {
        let report = run_replicated_list_append(seed, &rogue);
        let (violations, committed) = (report.violations, report.committed);
        assert!(violations.is_empty(), "seed {seed}: {violations:?}");
        // Every fifth transaction ran on the rogue clock and was refused, so fewer commit.
        let committed_without_rogue = run_replicated_list_append(seed, &plain).committed;
        assert!(committed < committed_without_rogue, "seed {seed}: the rogue gateway was not refused");
    }
}

/// Every transaction knob is caught by the replicated lane within a few seeds
/// (each at seed 1 when measured; docs/testing.md).
#[test]
fn the_replicated_lane_catches_every_transaction_knob() {
    use sim_tests::replicated_transactions::{run_replicated_list_append, ReplicatedOptions};
    let knobs = [
        TransactionKnobs { skip_read_refresh: true, ..TransactionKnobs::default() },
        TransactionKnobs { skip_uncertainty: true, ..TransactionKnobs::default() },
        TransactionKnobs { resolve_before_durable: true, ..TransactionKnobs::default() },
        TransactionKnobs { one_phase_hides_reads: true, ..TransactionKnobs::default() },
    ];
    for knobs in knobs {
        let options = ReplicatedOptions { knobs, ..ReplicatedOptions::default() };
        let caught = (1..=20).find(|seed| !run_replicated_list_append(*seed, &options).violations.is_empty());
        println!("replicated lane, {knobs:?}: caught at seed {caught:?}");
        assert!(caught.is_some(), "{knobs:?} not caught within 20 seeds");
    }
}
