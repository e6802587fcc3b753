//! Storage: the small [`Engine`] trait the core persists through, and an
//! in-memory engine that models what a crash does to unsynced writes.

mod engine;
mod memory;
pub mod mvcc;
#[cfg(test)]
mod mvcc_tests;

pub use engine::{Engine, KeyValue, StorageError, WriteBatch, WriteOperation};
pub use memory::MemoryEngine;
