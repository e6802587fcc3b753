//! Placement: which nodes belong to the cluster ([`registry`]) and where each
//! range keeps its replicas ([`rebalancer`]). Decisions only, over the KV
//! client and what nodes report: production's node and the simulator gather
//! the reports and drive the same code, so every decision meets the nemesis.

pub mod rebalancer;
pub mod registry;
