//! The default seed sweep of the register workload: every fault kind, 200 seeds
//! (more with `SIM_SEEDS=N`). `MADSIM_TEST_SEED=S` runs just seed S, with its trace
//! on failure, to replay a failure exactly.

use std::collections::BTreeSet;

use shardforge_runtime_sim::nemesis::FaultKind;
use sim_tests::run::{run_seed, RunOptions};

const DEFAULT_SEEDS: u64 = 200;

#[allow(clippy::disallowed_methods)] // A test's configuration comes from its environment.
fn environment_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|text| text.parse().unwrap_or_else(|_| panic!("{name} must be a number")))
}

#[test]
fn register_workload_survives_every_fault_kind() {
    let (seeds, trace) = match environment_number("MADSIM_TEST_SEED") {
        Some(seed) => (seed..seed + 1, true),
        None => (1..1 + environment_number("SIM_SEEDS").unwrap_or(DEFAULT_SEEDS), false),
    };
    let options = RunOptions { trace, ..RunOptions::default() };
    let (mut simulated, mut wall) = (0.0, 0.0);
    let mut fault_kinds_seen = BTreeSet::new();
    for seed in seeds.clone() {
        let report = run_seed(seed, &options);
        fault_kinds_seen.extend(report.fault_kinds.iter().copied());
        simulated += report.simulated.as_secs_f64();
        wall += report.wall.as_secs_f64();
        if let Some(failure) = &report.failure {
            for line in &report.trace {
                eprintln!("{line}");
            }
            for action in &report.nemesis_actions {
                eprintln!("nemesis {action}");
            }
            panic!(
                "seed {seed} failed: {failure}\nplan: {}\nreplay with: MADSIM_TEST_SEED={seed} cargo test -p sim-tests \
                 --test register_sweep, or {}",
                report.plan,
                report.replay_command(&options)
            );
        }
    }
    if seeds.end - seeds.start >= DEFAULT_SEEDS {
        let missing: Vec<FaultKind> =
            FaultKind::ALL.into_iter().filter(|kind| !fault_kinds_seen.contains(kind)).collect();
        assert!(missing.is_empty(), "the sweep never exercised {missing:?}");
    }
    println!(
        "{} seeds passed; simulated {simulated:.0} s in {wall:.1} s wall ({:.0}x)",
        seeds.end - seeds.start,
        simulated / wall.max(1e-9)
    );
}
