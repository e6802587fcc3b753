//! The seed runner: sweep many seeds, or replay one with its full trace.
//!
//! ```text
//! cargo run -p sim-tests --bin sim -- run --workload register|bank|list-append|sql-bank --seeds 1..200 [--bug NAME]
//! cargo run -p sim-tests --bin sim -- replay --workload list-append --seed 17 [--bug NAME] --trace
//! ```
//! `run` exits 0 when every seed passes, and otherwise stops at the first failing
//! seed, printing it and its violation last. `replay` exits non-zero when the seed
//! fails.

use std::ops::Range;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use sim_tests::bugs::Bug;
use sim_tests::run::{run_seed, RunOptions, SeedReport, Workload};

#[derive(Parser)]
#[command(name = "sim", about = "Run ShardForge's seeded chaos simulations")]
struct Arguments {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a range of seeds; stop at the first failure.
    Run {
        /// register (one Raft group), bank, list-append or sql-bank (transactions over
        /// ranges), replicated or raft-swarm (seeded schedulers without madsim).
        #[arg(long)]
        workload: Workload,
        /// Seeds as START..END (end exclusive), e.g. 1..200.
        #[arg(long, value_parser = parse_seeds)]
        seeds: Range<u64>,
        /// Inject a known bug: ack-before-sync, commit-old-term, skip-read-refresh,
        /// resolve-before-durable or skip-uncertainty.
        #[arg(long)]
        bug: Option<Bug>,
        /// Keep going after a failure and count the failing seeds.
        #[arg(long)]
        keep_going: bool,
        /// Cluster size; by default each seed draws 3 or 5.
        #[arg(long)]
        nodes: Option<u64>,
    },
    /// Run one seed again, exactly.
    Replay {
        #[arg(long)]
        workload: Workload,
        #[arg(long)]
        seed: u64,
        #[arg(long)]
        bug: Option<Bug>,
        /// Print the full event trace.
        #[arg(long)]
        trace: bool,
        /// Cluster size; by default the seed draws 3 or 5.
        #[arg(long)]
        nodes: Option<u64>,
    },
}

fn parse_seeds(text: &str) -> Result<Range<u64>, String> {
    let (start, end) = text.split_once("..").ok_or("expected START..END, e.g. 1..200")?;
    let start: u64 = start.parse().map_err(|_| format!("bad start seed {start:?}"))?;
    let end: u64 = end.parse().map_err(|_| format!("bad end seed {end:?}"))?;
    if start >= end {
        return Err(format!("empty seed range {text}"));
    }
    Ok(start..end)
}

fn main() -> ExitCode {
    // Panics inside the simulation are reported as failures with their seed.
    std::panic::set_hook(Box::new(|_| {}));
    match Arguments::parse().command {
        Command::Run { workload, seeds, bug, keep_going, nodes } => {
            sweep(seeds, RunOptions { workload, bug, nodes, ..RunOptions::default() }, keep_going)
        }
        Command::Replay { workload, seed, bug, trace, nodes } => {
            replay(seed, RunOptions { workload, bug, nodes, trace: true, ..RunOptions::default() }, trace)
        }
    }
}

fn sweep(seeds: Range<u64>, options: RunOptions, keep_going: bool) -> ExitCode {
    let (mut simulated, mut wall, mut failures) = (Duration::ZERO, Duration::ZERO, Vec::new());
    for seed in seeds.clone() {
        let report = run_seed(seed, &options);
        simulated += report.simulated;
        wall += report.wall;
        if report.failure.is_some() {
            failures.push(report.seed);
            if !keep_going {
                print_summary(seed - seeds.start + 1, simulated, wall, &failures);
                print_failure(&report, &options);
                return ExitCode::FAILURE;
            }
        }
    }
    print_summary(seeds.end - seeds.start, simulated, wall, &failures);
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn print_summary(seeds: u64, simulated: Duration, wall: Duration, failures: &[u64]) {
    let ratio = simulated.as_secs_f64() / wall.as_secs_f64().max(1e-9);
    println!(
        "{seeds} seeds: {} failed; simulated {:.1} s in {:.1} s wall ({ratio:.1}x)",
        failures.len(),
        simulated.as_secs_f64(),
        wall.as_secs_f64()
    );
    if !failures.is_empty() {
        println!("failing seeds: {failures:?}");
    }
}

fn print_failure(report: &SeedReport, options: &RunOptions) {
    println!("plan: {}", report.plan);
    for action in report.nemesis_actions.iter().rev().take(15).rev() {
        println!("  nemesis {action}");
    }
    println!("replay: {}", report.replay_command(options));
    println!("FAILED seed {}: {}", report.seed, report.failure.as_deref().unwrap_or("?"));
}

fn replay(seed: u64, options: RunOptions, trace: bool) -> ExitCode {
    let report = run_seed(seed, &options);
    if trace {
        for line in &report.trace {
            println!("{line}");
        }
    }
    println!("plan: {}", report.plan);
    println!(
        "seed {seed}: {} operations (committed transactions, {} in one phase), {} ranges, {} range moves, simulated {:.1} s in {:.2} s wall, trace hash {:016x}",
        report.operations,
        report.one_phase_commits,
        report.ranges,
        report.range_moves,
        report.simulated.as_secs_f64(),
        report.wall.as_secs_f64(),
        report.trace_hash
    );
    match &report.failure {
        None => {
            println!("seed {seed} passed");
            ExitCode::SUCCESS
        }
        Some(failure) => {
            println!("FAILED seed {seed}: {failure}");
            ExitCode::FAILURE
        }
    }
}
