//! The storage engine interface: ordered keys, atomic write batches, and an
//! explicit sync. RocksDB implements it in production; [`super::MemoryEngine`]
//! in tests and the simulator.
//!
//! Contract: a written batch is visible to reads at once and is applied
//! atomically; it is durable only after `sync` returns. A crash keeps every
//! synced batch and may keep any prefix of the unsynced ones.
//!
//! Two more things serve snapshots, which are too large to be one batch:
//! - a **view** ([`Engine::view`]) is the engine as it was when taken, for as
//!   long as it is held (a RocksDB snapshot), so a leader can stream a range's
//!   state as of one index while it goes on applying;
//! - an **ingestion** replaces whole spans at once: chunks are staged outside
//!   the engine's keys as they arrive ([`Engine::stage`]; RocksDB: one table
//!   file each), and [`Engine::ingest`] swaps them all in atomically and
//!   durably. A crash before the swap leaves the old keys and loses the
//!   staging; a crash after it keeps every staged chunk.

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

/// The engine as it was at one moment: later writes do not show in it.
pub trait EngineView: Send {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError>;
    /// The first `limit` key-value pairs with `start <= key < end`, in key order.
    fn scan(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<KeyValue>, StorageError>;
}

/// One part of an ingestion: once ingested, the keys in `[start, end)` are
/// exactly `pairs` (sorted, each inside the span).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IngestChunk {
    pub start: Vec<u8>,
    pub end: Vec<u8>,
    pub pairs: Vec<KeyValue>,
}

impl IngestChunk {
    /// Asserts what every engine relies on: a non-empty span, and sorted
    /// pairs inside it.
    pub fn assert_well_formed(&self) {
        assert!(self.start < self.end, "an ingested span is not empty");
        assert!(self.pairs.windows(2).all(|pair| pair[0].0 < pair[1].0), "ingested pairs are sorted and distinct");
        assert!(
            self.pairs.iter().all(|(key, _)| *key >= self.start && *key < self.end),
            "ingested pairs lie inside their chunk's span"
        );
    }

    /// Asserts that this chunk's span is disjoint from each of `others`
    /// (the spans staged for its ingestion before it).
    pub fn assert_disjoint<'a>(&self, mut others: impl Iterator<Item = (&'a [u8], &'a [u8])>) {
        let disjoint = others.all(|(start, end)| self.end.as_slice() <= start || end <= self.start.as_slice());
        assert!(disjoint, "the chunks of one ingestion cover disjoint spans");
    }
}

/// Names one ingestion being staged (a Raft group stages at most one at a time).
pub type IngestionId = u64;

/// An ordered key-value store with atomic batches and explicit durability.
pub trait Engine {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError>;
    /// The first `limit` key-value pairs with `start <= key < end`, in key order.
    fn scan(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<KeyValue>, StorageError>;
    fn write(&mut self, batch: WriteBatch) -> Result<(), StorageError>;
    /// Makes every written batch durable.
    fn sync(&mut self) -> Result<(), StorageError>;
    /// The engine as it is now, unchanged by later writes, for as long as it is held.
    fn view(&self) -> Result<Box<dyn EngineView>, StorageError>;
    /// Stages `chunk` for `ingestion`, outside the engine's keys. The chunks
    /// of one ingestion cover disjoint spans. Staging does not survive a crash.
    fn stage(&mut self, ingestion: IngestionId, chunk: IngestChunk) -> Result<(), StorageError>;
    /// Makes every written batch durable, then replaces the span of every
    /// chunk staged for `ingestion` with its pairs, all at once and durably,
    /// and forgets the staging.
    fn ingest(&mut self, ingestion: IngestionId) -> Result<(), StorageError>;
    /// Forgets what is staged for `ingestion`, if anything.
    fn discard(&mut self, ingestion: IngestionId) -> Result<(), StorageError>;
    /// About how many bytes the keys in `[start, end)` take, without reading
    /// them: for decisions such as when to split a range, never for
    /// correctness. RocksDB estimates from its table files (compressed, and
    /// blind to writes still in the memtable); the memory engine counts.
    fn approximate_size(&self, start: &[u8], end: &[u8]) -> Result<u64, StorageError>;
}
