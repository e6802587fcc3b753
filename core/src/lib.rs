//! ShardForge's deterministic core.
//!
//! Everything that decides (consensus, and later ranges, transactions and SQL
//! planning) lives here as sans-IO state machines: inputs carry the current time,
//! outputs are data the runtime performs. The core never reads a clock, a global
//! random number generator, an environment variable, a thread or a socket, so the
//! same inputs always produce the same outputs: that is what lets the simulator
//! replay any failure from its seed.
//!
//! Layers, each using only those above it in this list:
//! - [`types`], [`encoding`]: identifiers and the byte codecs of persistent state.
//! - [`keys`]: the ordered key space and the order-preserving tuple encoding of its keys.
//! - [`storage`]: the [`storage::Engine`] trait and the in-memory engine with an
//!   unsynced tail, used by tests and the simulator.
//! - [`raft`]: one Raft group as a state machine.
//! - [`range`]: range descriptors and the map that routes keys to ranges.
//! - [`txn`]: the hybrid logical clock and the uncertainty intervals of reads.
//! - [`store`]: all replicas of one node, one Raft group per range, with splits.
//! - [`kv`]: key-value transactions over the coordinator, restarted through conflicts.
//! - [`placement`]: the node registry and the rebalancer's decisions.
//! - [`node`]: the façade a runtime drives: `handle(now, input) -> Output`, a Raft
//!   group plus a replicated state machine and the client requests waiting on it.

pub mod encoding;
pub mod keys;
pub mod kv;
pub mod node;
pub mod placement;
pub mod raft;
pub mod range;
pub mod storage;
pub mod store;
pub mod txn;
pub mod types;
