//! ShardForge's deterministic core.
//!
//! Everything that decides (consensus, and later ranges, transactions and SQL
//! planning) lives here as sans-IO state machines: inputs carry the current time,
//! outputs are data the runtime performs. The core never reads a clock, a global
//! random number generator, an environment variable, a thread or a socket, so the
//! same inputs always produce the same outputs: that is what lets the simulator
//! replay any failure from its seed.
//!
//! Layers, each using only those above it in this list (a module never names
//! one below it; the test `core/tests/layers.rs` holds every file to this):
//! - [`types`], [`encoding`], [`numeric`]: identifiers, the byte codecs of persistent
//!   state, and PostgreSQL's NUMERIC as a value type.
//! - [`keys`]: the ordered key space and the order-preserving tuple encoding of its keys.
//! - [`clock`]: the hybrid logical clock and the uncertainty intervals of reads.
//! - [`storage`]: the [`storage::Engine`] trait, MVCC over it, and the in-memory
//!   engine with an unsynced tail, used by tests and the simulator.
//! - [`raft`]: one Raft group as a state machine.
//! - [`replica`]: one replica — a Raft group and the state machine it replicates,
//!   kept in the node's engine, with snapshots streamed in chunks — driven by
//!   `handle(now, input) -> Output`.
//! - [`range`]: range descriptors, the map that routes keys to ranges, and the
//!   replicated range state with the commands it applies.
//! - [`store`]: the node: every replica it holds, one per range, in one engine,
//!   with splits, lookups and the removal of replicas a move left behind.
//! - [`txn`]: the transaction coordinator and the gateway that sends its
//!   commands to the ranges' leaseholders.
//! - [`kv`]: key-value transactions over the coordinator, restarted through conflicts.
//! - [`placement`]: the node registry and the rebalancer's decisions.
//! - [`sql`]: PostgreSQL's language over key-value transactions: types, rows in
//!   the key space, the catalog, and the engine.
//!
//! "Node" means a ShardForge process (one [`store::Store`]); a replica is one
//! range's member on one node.

pub mod clock;
pub mod encoding;
pub mod keys;
pub mod kv;
pub mod numeric;
pub mod placement;
pub mod raft;
pub mod range;
pub mod replica;
pub mod sql;
pub mod storage;
pub mod store;
pub mod txn;
pub mod types;
