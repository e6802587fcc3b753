//! Storage: the small [`Engine`] trait the core persists through, an in-memory
//! engine that models what a crash does to unsynced writes, and [`Staged`], the
//! view a replica applies one command through.

mod engine;
pub mod layout;
mod memory;
pub mod mvcc;
#[cfg(test)]
mod mvcc_tests;
mod staged;

pub use engine::{Engine, EngineView, IngestChunk, IngestionId, KeyValue, StorageError, WriteBatch, WriteOperation};
pub use memory::MemoryEngine;
pub use staged::{prefix_end, Staged};
