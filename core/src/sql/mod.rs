//! SQL: PostgreSQL's language over the transactional key space.
//!
//! Layers, each a module: [`types`] (values with PostgreSQL's types and output
//! formats), [`error`] (errors with SQLSTATEs), [`row`] (how rows and index
//! entries are keys and values), [`catalog`] (descriptors and names as rows of
//! system tables, so DDL is transactional), [`kv`] (the engine's view of one
//! transaction, over the coordinator).
//!
//! Everything here is runtime-agnostic: reads and writes are `async` calls on
//! a [`kv::KeyValueTransaction`], which production runs over its gateway and
//! the simulator over its simulated cluster, so the same engine code runs in
//! both and every simulated failure replays from its seed.

pub mod binder;
pub mod bytea;
pub mod cast;
pub mod catalog;
pub mod character;
pub mod datetime;
pub mod error;
pub mod execute;
pub mod expression;
pub mod jsonb;
pub mod kv;
pub mod optimizer;
pub mod parser;
pub mod plan;
pub mod row;
pub mod sequences;
pub mod session;
pub mod settings;
pub mod types;
pub mod uuid;

#[cfg(test)]
mod tests;

pub use error::{Notice, SqlError, SqlResult, SqlState};
