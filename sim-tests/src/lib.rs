//! Seeded chaos runs of ShardForge clusters in the madsim simulator.
//!
//! A run ([`run::run_seed`]) builds a whole cluster inside a fresh madsim runtime
//! seeded with the seed, lets clients drive a workload while the nemesis injects
//! faults (the safety phase), heals every fault and demands progress within a
//! bounded simulated time (the liveness phase), then checks the history. Every
//! random choice comes from the seed, so `MADSIM_TEST_SEED=<seed>` or
//! `cargo run -p sim-tests --bin sim -- replay --workload register --seed <seed>`
//! replays a failure exactly.
//!
//! Checkers: linearizability of the register history ([`checker`]), state machine
//! safety and election safety as nodes report ([`recorder`]), convergence of all
//! replicas after healing, and progress in the liveness phase.

pub mod bugs;
pub mod checker;
pub mod leadership;
pub mod local_transactions;
pub mod raft_swarm;
pub mod recorder;
pub mod register;
pub mod replicated_transactions;
pub mod run;
pub mod transactions;
pub mod workload;
