//! Transactions: the layer that gives reads and writes spanning many ranges one
//! serializable order, above the ranges that store their records and intents.
//! - [`coordinator`]: one transaction's client side — its timestamp (from the
//!   node's hybrid logical clock, `crate::clock`), its intents and read spans,
//!   read refreshes, one-phase and two-phase commit, intent resolution and the
//!   forgetting of the record once every intent is resolved.
//! - [`gateway`]: the coordinator's [`coordinator::RangeSender`] over any node
//!   transport: routes each command to its range's leader through a cache of
//!   descriptors, and retries through whatever the network does.
//! - [`LocalRanges`]: ranges in one process without Raft, the coordinator's test
//!   bed and the reference the replicated version is checked against.

pub mod coordinator;
pub mod gateway;
mod local_ranges;

pub use local_ranges::LocalRanges;
