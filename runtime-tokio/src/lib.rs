//! The production ShardForge node: the deterministic core driven by tokio, with
//! RocksDB for storage and tonic gRPC between nodes and for clients.
//!
//! - [`engine`]: the core's `Engine` on RocksDB (column families, WAL sync).
//! - [`driver`]: the loop that owns the store: persist, sync once, send, answer.
//! - [`peers`] and [`services`]: the gRPC transport (a long-lived stream per
//!   peer, chunked batches, reconnects) and the services a node serves.
//! - [`gateway`] and [`kv`]: the core's gateway and transaction coordinator over
//!   gRPC, behind the KV API.
//! - [`registry`]: the cluster's nodes, recorded in its own key space;
//!   [`rebalancer`]: where ranges keep their replicas (joins, decommissions).
//! - [`node`]: initialising a data directory, joining a cluster, starting and
//!   stopping a node.
//! - [`config`]: the TOML configuration.

pub mod address_book;
pub mod clock;
pub mod config;
pub mod driver;
pub mod engine;
pub mod gateway;
pub mod identity;
pub mod kv;
pub mod node;
pub mod peers;
pub mod rebalancer;
pub mod registry;
pub mod services;
pub mod sql;
pub mod status;
