//! The storage engine interface: ordered keys, atomic write batches, and an
//! explicit sync. RocksDB implements it in production; [`super::MemoryEngine`]
//! in tests and the simulator.
//!
//! Contract: a written batch is visible to reads at once and is applied
//! atomically; it is durable only after `sync` returns. A crash keeps every
//! synced batch and may keep any prefix of the unsynced ones.

use std::fmt;

/// A storage failure. The core cannot continue safely past one: callers crash
/// the node rather than guess what was persisted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageError(pub String);

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "storage error: {}", self.0)
    }
}

impl std::error::Error for StorageError {}

/// One change in a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteOperation {
    Put {
        key: Vec<u8>,
        value: Vec<u8>,
    },
    Delete {
        key: Vec<u8>,
    },
    /// Deletes every key in `[start, end)`.
    DeleteRange {
        start: Vec<u8>,
        end: Vec<u8>,
    },
}

/// Changes applied together or not at all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteBatch {
    pub operations: Vec<WriteOperation>,
}

impl WriteBatch {
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.operations.push(WriteOperation::Put { key, value });
    }

    pub fn delete(&mut self, key: Vec<u8>) {
        self.operations.push(WriteOperation::Delete { key });
    }

    pub fn delete_range(&mut self, start: Vec<u8>, end: Vec<u8>) {
        self.operations.push(WriteOperation::DeleteRange { start, end });
    }

    pub fn is_empty(&self) -> bool {
        self.operations.is_empty()
    }
}

/// A key and its value, as scans return them.
pub type KeyValue = (Vec<u8>, Vec<u8>);

/// An ordered key-value store with atomic batches and explicit durability.
pub trait Engine {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError>;
    /// The first `limit` key-value pairs with `start <= key < end`, in key order.
    fn scan(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<KeyValue>, StorageError>;
    fn write(&mut self, batch: WriteBatch) -> Result<(), StorageError>;
    /// Makes every written batch durable.
    fn sync(&mut self) -> Result<(), StorageError>;
}
