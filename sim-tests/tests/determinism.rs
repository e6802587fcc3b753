//! One seed, one behaviour: the trace of a seed hashes the same in two separate
//! processes, and madsim's own determinism check (which runs a seed twice and
//! compares every random draw) passes.

use std::process::Command;
use std::time::Duration;

use sim_tests::run::{simulate, RunOptions, SeedReport, Workload};

fn trace_hash_from_a_new_process(seed: u64) -> String {
    trace_hash_of("register", seed)
}

fn trace_hash_of(workload: &str, seed: u64) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(["replay", "--workload", workload, "--seed", &seed.to_string()])
        .output()
        .expect("run the sim binary");
    let stdout = String::from_utf8(output.stdout).expect("utf-8 output");
    let line = stdout.lines().find(|line| line.contains("trace hash")).expect("a trace hash line");
    line.rsplit("trace hash ").next().expect("hash after the label").to_string()
}

#[test]
fn a_seed_gives_the_same_trace_in_two_processes() {
    for seed in [3, 42] {
        let first = trace_hash_from_a_new_process(seed);
        let second = trace_hash_from_a_new_process(seed);
        assert_eq!(first, second, "seed {seed} traced differently in two processes");
        assert_ne!(first, "0000000000000000", "the trace must not be empty");
    }
    assert_ne!(trace_hash_from_a_new_process(3), trace_hash_from_a_new_process(4), "different seeds, same trace?");
}

fn short_run() -> impl std::future::Future<Output = SeedReport> {
    let options = RunOptions { safety_phase: Duration::from_secs(3), trace: true, ..RunOptions::default() };
    simulate(11, options)
}

#[test]
fn madsim_determinism_check_passes() {
    let report = madsim::runtime::Runtime::check_determinism(11, madsim::Config::default(), short_run);
    assert!(report.failure.is_none(), "seed 11 failed: {:?}", report.failure);
}

#[test]
fn a_sql_bank_seed_gives_the_same_trace_in_two_processes() {
    let first = trace_hash_of("sql-bank", 5);
    assert_eq!(first, trace_hash_of("sql-bank", 5), "sql-bank seed 5 traced differently in two processes");
    assert_ne!(first, trace_hash_of("sql-bank", 6), "different seeds, same trace?");
}

fn short_sql_bank_run() -> impl std::future::Future<Output = SeedReport> {
    // Outside the simulation: the SQL parser's stack guard reads the thread's bounds.
    sim_tests::transactions::sql_bank::prepare_thread();
    let options = RunOptions {
        workload: Workload::SqlBank,
        safety_phase: Duration::from_secs(3),
        trace: true,
        ..RunOptions::default()
    };
    sim_tests::transactions::simulate(7, options)
}

#[test]
fn madsim_determinism_check_passes_for_sql_sessions() {
    let mut config = madsim::Config::default();
    config.net.send_latency = Duration::from_micros(100)..Duration::from_millis(2);
    let report = madsim::runtime::Runtime::check_determinism(7, config, short_sql_bank_run);
    assert!(report.failure.is_none(), "sql-bank seed 7 failed: {:?}", report.failure);
}
