//! The Raft swarm: a sweep with no violation in which the swarm really did
//! churn (elections, membership changes, snapshot installs, crashes), both Raft
//! knobs caught within a bound, and a seed that replays exactly.

use shardforge_core::raft::TestingKnobs;
use sim_tests::raft_swarm::{run_raft_swarm, SwarmOptions};

/// About 6 s of the test profile on this machine.
const SWEEP_SEEDS: u64 = 5_000;

#[test]
fn the_raft_swarm_holds_every_invariant_while_it_churns() {
    let options = SwarmOptions::default();
    let (mut elections, mut changes, mut snapshots, mut crashes, mut applied) = (0, 0, 0, 0, 0);
    for seed in 1..=SWEEP_SEEDS {
        let report = run_raft_swarm(seed, &options);
        if let Some(violation) = &report.violation {
            panic!("raft swarm seed {seed}: {violation}\nplan: {}\nactions: {:#?}", report.plan, report.actions);
        }
        elections += report.elections;
        changes += report.configuration_changes;
        snapshots += report.snapshots_restored;
        crashes += report.crashes;
        applied += report.applied_index_max.0;
    }
    println!(
        "raft swarm: {SWEEP_SEEDS} seeds, {elections} elections, {changes} membership changes, \
         {snapshots} snapshots restored, {crashes} crashes, {applied} entries applied"
    );
    // The sweep must exercise what it claims to check, not pass by standing still.
    assert!(elections > SWEEP_SEEDS as usize * 3, "only {elections} elections");
    assert!(changes > SWEEP_SEEDS as usize, "only {changes} membership changes");
    assert!(snapshots > SWEEP_SEEDS as usize, "only {snapshots} snapshots restored");
    assert!(crashes > SWEEP_SEEDS as usize * 5, "only {crashes} crashes");
}

fn first_failure(knobs: TestingKnobs, seeds_max: u64) -> (u64, String) {
    let options = SwarmOptions { knobs, ..SwarmOptions::default() };
    for seed in 1..=seeds_max {
        if let Some(violation) = run_raft_swarm(seed, &options).violation {
            return (seed, violation);
        }
    }
    panic!("{knobs:?} was not caught within {seeds_max} raft swarm seeds");
}

#[test]
fn the_raft_swarm_catches_both_raft_knobs_and_replays_them() {
    let knobs = [
        TestingKnobs { acknowledge_before_sync: true, ..TestingKnobs::default() },
        TestingKnobs { commit_old_term: true, ..TestingKnobs::default() },
    ];
    for knobs in knobs {
        let (seed, violation) = first_failure(knobs, 5_000);
        println!("{knobs:?}: caught at seed {seed}: {violation}");
        let again = run_raft_swarm(seed, &SwarmOptions { knobs, ..SwarmOptions::default() });
        assert_eq!(again.violation.as_deref(), Some(violation.as_str()), "seed {seed} must fail the same way again");
    }
}
