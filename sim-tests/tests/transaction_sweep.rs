//! The default seed sweep of the transaction workloads on stores of many
//! ranges: bank and list-append, 300 seeds each, and the SQL bank, 100 (more
//! with `SIM_SEEDS=N`, every workload), under every fault kind.
//! `MADSIM_TEST_SEED=S` runs just seed S (every workload) with its trace on
//! failure, to replay a failure exactly.

use std::collections::BTreeSet;

use shardforge_runtime_sim::nemesis::FaultKind;
use sim_tests::run::{run_seed, RunOptions, Workload};

const DEFAULT_SEEDS: u64 = 300;
/// The SQL bank's share: its seeds run the SQL engine's sessions (parsing,
/// binding and planning every statement), slower than the KV bank's.
const SQL_BANK_SEEDS: u64 = 100;

#[allow(clippy::disallowed_methods)] // A test's configuration comes from its environment.
fn environment_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|text| text.parse().unwrap_or_else(|_| panic!("{name} must be a number")))
}

fn sweep(workload: Workload, default_seeds: u64) {
    let (seeds, trace) = match environment_number("MADSIM_TEST_SEED") {
        Some(seed) => (seed..seed + 1, true),
        None => (1..1 + environment_number("SIM_SEEDS").unwrap_or(default_seeds), false),
    };
    let options = RunOptions { workload, trace, ..RunOptions::default() };
    let (mut simulated, mut wall, mut committed, mut ranges_max) = (0.0, 0.0, 0, 0);
    let mut fault_kinds_seen = BTreeSet::new();
    let (mut split_seeds, mut moves, mut one_phase_commits) = (0, 0, 0);
    for seed in seeds.clone() {
        let report = run_seed(seed, &options);
        fault_kinds_seen.extend(report.fault_kinds.iter().copied());
        simulated += report.simulated.as_secs_f64();
        wall += report.wall.as_secs_f64();
        committed += report.operations;
        ranges_max = ranges_max.max(report.ranges);
        split_seeds += usize::from(report.ranges > 1);
        moves += report.range_moves;
        one_phase_commits += report.one_phase_commits;
        if let Some(failure) = &report.failure {
            for line in report.trace.iter().chain(&report.nemesis_actions) {
                eprintln!("{line}");
            }
            panic!(
                "{workload} seed {seed} failed: {failure}\nplan: {}\nreplay with: MADSIM_TEST_SEED={seed} cargo test \
                 -p sim-tests --test transaction_sweep, or {}",
                report.plan,
                report.replay_command(&options)
            );
        }
    }
    let seed_count = (seeds.end - seeds.start) as usize;
    if seed_count as u64 >= default_seeds {
        let missing: Vec<FaultKind> =
            FaultKind::ALL.into_iter().filter(|kind| !fault_kinds_seen.contains(kind)).collect();
        assert!(missing.is_empty(), "the {workload} sweep never exercised {missing:?}");
        // Guard against a vacuous pass: transactions commit, and ranges split.
        assert!(committed >= 5 * seed_count, "{workload}: only {committed} transactions committed");
        assert!(split_seeds > 0, "{workload}: no seed split a range");
        assert!(moves > 0, "{workload}: no range moved");
        // (SQL sessions do not say how they committed: the SQL bank's count is 0.)
        assert!(
            one_phase_commits > 0 || workload == Workload::SqlBank,
            "{workload}: no transaction committed in one phase"
        );
    }
    println!(
        "{workload}: {seed_count} seeds passed, {committed} committed transactions, ranges split in {split_seeds} \
         seeds (up to {ranges_max} ranges), {moves} range moves, {one_phase_commits} one-phase commits; simulated {simulated:.0} s in {wall:.1} s wall ({:.0}x)",
        simulated / wall.max(1e-9)
    );
}

#[test]
fn list_append_is_strictly_serializable_under_every_fault_kind() {
    sweep(Workload::ListAppend, DEFAULT_SEEDS);
}

#[test]
fn bank_totals_hold_under_every_fault_kind() {
    sweep(Workload::Bank, DEFAULT_SEEDS);
}

#[test]
fn sql_bank_totals_hold_under_every_fault_kind() {
    sweep(Workload::SqlBank, SQL_BANK_SEEDS);
}
