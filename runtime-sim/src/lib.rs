//! The simulated ShardForge node: the core's [`Node`](shardforge_core::replica::Replica)
//! (one Raft group) or [`Store`](shardforge_core::store::Store) (a replica per
//! range, see [`program`]) driven on madsim, with a simulated disk, a faulty network and skewed clocks.
//!
//! The driver ([`driver`]) has the shape the production runtime will have: one
//! task owns the node, takes every queued input, handles them, persists all
//! resulting state in one batch with one sync (group commit), and only then sends
//! messages and replies. What madsim does not simulate, this crate does:
//! - **disk loss**: the disk is a [`MemoryEngine`](shardforge_core::storage::MemoryEngine)
//!   that outlives the node's tasks; a crash keeps only a seed-drawn prefix of the
//!   unsynced writes ([`disk`]);
//! - **clock skew**: madsim has one global clock; each node reads it through its
//!   own offset, drift and jumps ([`clock`]);
//! - **message faults** beyond partitions: loss, duplication, delay and so
//!   reordering, applied at send time ([`network`]).
//!
//! The [`nemesis`] draws a fault plan from the seed and plays it against a
//! [`cluster::SimCluster`]. Every random choice comes from madsim's seeded
//! generator, so a seed replays exactly.

pub mod client;
pub mod clock;
pub mod cluster;
pub mod disk;
pub mod driver;
pub mod nemesis;
pub mod network;
pub mod observer;
pub mod program;

// Without `--cfg madsim` the madsim crate is a thin layer over tokio and none of
// the simulation APIs exist. Say why, instead of a page of unresolved imports.
#[cfg(not(madsim))]
compile_error!(
    "shardforge-runtime-sim needs `--cfg madsim`, which .cargo/config.toml sets; an environment RUSTFLAGS \
     replaces those flags silently: unset RUSTFLAGS, or add `--cfg madsim` to it"
);
