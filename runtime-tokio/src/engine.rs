//! The production [`Engine`]: RocksDB, with one column family per kind of data.
//!
//! # Column families
//! The core lays its state out as keys (`core::storage::layout`); this engine
//! sorts them into three column families by their parsed kind, so that each gets
//! options that suit how it is used:
//! - `raft_log`: `raft/<group>/log/<index>`. Appended once, read back soon by
//!   followers that lag, deleted in prefixes by log compaction. Not compressed
//!   (short-lived, and compression costs the write path).
//! - `raft_state`: every other `raft/` key (hard states, snapshots). Small
//!   values overwritten often, and snapshots: compressed with LZ4.
//! - `data`: everything else: MVCC versions and intents, ranges' local keys,
//!   installed-snapshot records, the node's identity. LZ4.
//!
//! A key belongs to exactly one family, so a scan reads each family over the
//! same bounds and merges the results in key order. One write batch spans the
//! families and stays atomic: RocksDB logs it as one WAL record. A span delete
//! becomes point deletes of the keys it finds when they are few (the common
//! case: the Raft log's "drop any suffix after these entries"), and a range
//! tombstone only when they are many (log compaction), because thousands of
//! range tombstones made WAL replay after `kill -9` take seconds.
//!
//! # Durability
//! Writes go to the WAL without a sync (and with `manual_wal_flush`, into its
//! in-memory buffer); [`Engine::sync`] flushes the buffer and syncs the WAL once
//! for every batch written since. That is group commit: the driver writes all
//! of a turn's batches and then syncs once. After a crash RocksDB recovers the
//! WAL to the last intact record (`PointInTime`), which keeps every synced batch
//! and a prefix of the unsynced ones: the engine contract.
//!
//! # Views and ingestions
//! A view is a RocksDB snapshot, held with the database it reads (the
//! database is shared through an `Arc`, so the view can outlive the call
//! that took it). A staged chunk is one table file, written with
//! `SstFileWriter` under `staging/` in the database's directory: a range
//! tombstone over the chunk's span and its pairs. Within one ingested file a
//! range tombstone covers only older keys, so the file's own pairs survive
//! it. An ingestion syncs the WAL, then hands every file of the ingestion to
//! `IngestExternalFile` in one call, which RocksDB applies atomically and
//! durably (the files are moved, and the MANIFEST that names them synced).
//! Ingested spans are in the `data` family only: snapshots carry range state,
//! never Raft state. Opening the engine deletes what a crash left staged.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rocksdb::{
    ColumnFamilyDescriptor, DBCompressionType, DBRecoveryMode, IngestExternalFileOptions, Options, ReadOptions,
    SnapshotWithThreadMode, SstFileWriter, DB,
};
use shardforge_core::storage::layout::{self, DurableKey};
use shardforge_core::storage::{
    Engine, EngineView, IngestChunk, IngestionId, KeyValue, StorageError, WriteBatch, WriteOperation,
};

const RAFT_LOG: &str = "raft_log";
const RAFT_STATE: &str = "raft_state";
const DATA: &str = "data";
const FAMILIES: [&str; 3] = [RAFT_LOG, RAFT_STATE, DATA];

/// A span delete that finds at most this many keys deletes them one by one.
/// Range tombstones are costly in RocksDB (every read and WAL replay must
/// consider them), and the Raft log asks for a span delete on every append
/// (to drop a possibly truncated suffix) which almost always finds nothing.
const POINT_DELETES_MAX: usize = 64;

/// Memory each column family may fill before it is flushed to a table file.
const WRITE_BUFFER_BYTES: usize = 32 << 20;

/// A RocksDB database in one directory.
pub struct RocksEngine {
    db: Arc<DB>,
    /// Where staged table files go.
    staging: PathBuf,
    /// The files staged for each ingestion, in the order they came.
    staged: BTreeMap<IngestionId, Vec<StagedFile>>,
    /// Names staged files uniquely within this process's life.
    files_staged: u64,
}

/// One staged table file and the span it replaces.
struct StagedFile {
    path: PathBuf,
    start: Vec<u8>,
    end: Vec<u8>,
}

type Snapshot<'a> = SnapshotWithThreadMode<'a, DB>;

self_cell::self_cell!(
    /// A RocksDB snapshot and the database it reads, held together: the
    /// snapshot borrows the database, which the view keeps alive.
    struct RocksView {
        owner: Arc<DB>,
        #[covariant]
        dependent: Snapshot,
    }
);

impl RocksEngine {
    /// Opens the database in `path`, creating it (and its column families) if need be.
    pub fn open(path: &Path) -> Result<RocksEngine, StorageError> {
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        // Flush and compaction run beside the driver; two jobs suit a small node.
        options.increase_parallelism(2);
        options.set_max_background_jobs(2);
        options.set_manual_wal_flush(true);
        options.set_wal_recovery_mode(DBRecoveryMode::PointInTime);
        // fdatasync is enough: the WAL's size is part of what it syncs.
        options.set_use_fsync(false);
        let families = FAMILIES.iter().map(|name| ColumnFamilyDescriptor::new(*name, family_options(name)));
        let db = Arc::new(DB::open_cf_descriptors(&options, path, families).map_err(storage_error)?);
        let staging = path.join("staging");
        if staging.exists() {
            std::fs::remove_dir_all(&staging).map_err(io_error)?;
        }
        std::fs::create_dir_all(&staging).map_err(io_error)?;
        Ok(RocksEngine { db, staging, staged: BTreeMap::new(), files_staged: 0 })
    }

    fn family(&self, name: &str) -> &rocksdb::ColumnFamily {
        self.db.cf_handle(name).expect("every family is created on open")
    }

    /// Up to `limit` keys in `[start, end)`, over every family, without their values.
    fn keys_in_span(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<Vec<u8>>, StorageError> {
        let mut keys = Vec::new();
        for name in FAMILIES {
            let mut iterator = self.db.raw_iterator_cf_opt(self.family(name), bounded(end, None));
            iterator.seek(start);
            while iterator.valid() && keys.len() < limit {
                let Some(key) = iterator.key() else { break };
                keys.push(key.to_vec());
                iterator.next();
            }
            iterator.status().map_err(storage_error)?;
        }
        Ok(keys)
    }
}

/// Read options whose iterators stop before `end`, reading `snapshot` if given.
fn bounded(end: &[u8], snapshot: Option<&SnapshotWithThreadMode<'_, DB>>) -> ReadOptions {
    let mut options = ReadOptions::default();
    options.set_iterate_upper_bound(end.to_vec());
    if let Some(snapshot) = snapshot {
        options.set_snapshot(snapshot);
    }
    options
}

/// Pairs of one family in `[start, end)`. The iterator is bounded above, so
/// RocksDB never reads (nor copies) the value of a key past the span.
fn scan_family(
    db: &DB,
    snapshot: Option<&SnapshotWithThreadMode<'_, DB>>,
    name: &str,
    span: (&[u8], &[u8]),
    limit: usize,
) -> Result<Vec<KeyValue>, StorageError> {
    let (start, end) = span;
    let family = db.cf_handle(name).expect("every family is created on open");
    let mut pairs = Vec::new();
    let mut iterator = db.raw_iterator_cf_opt(family, bounded(end, snapshot));
    iterator.seek(start);
    while iterator.valid() && pairs.len() < limit {
        let (Some(key), Some(value)) = (iterator.key(), iterator.value()) else { break };
        pairs.push((key.to_vec(), value.to_vec()));
        iterator.next();
    }
    iterator.status().map_err(storage_error)?;
    Ok(pairs)
}

/// The first `limit` pairs of `[start, end)` over every family, in key order.
fn scan_families(
    db: &DB,
    snapshot: Option<&SnapshotWithThreadMode<'_, DB>>,
    start: &[u8],
    end: &[u8],
    limit: usize,
) -> Result<Vec<KeyValue>, StorageError> {
    let mut pairs = Vec::new();
    for name in FAMILIES {
        pairs.extend(scan_family(db, snapshot, name, (start, end), limit)?);
    }
    pairs.sort_unstable_by(|left, right| left.0.cmp(&right.0));
    pairs.truncate(limit);
    Ok(pairs)
}

fn io_error(error: std::io::Error) -> StorageError {
    StorageError(format!("staging files: {error}"))
}

impl EngineView for RocksView {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        let family = self.borrow_owner().cf_handle(family_of(key)).expect("every family is created on open");
        self.borrow_dependent().get_cf(family, key).map_err(storage_error)
    }

    fn scan(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<KeyValue>, StorageError> {
        scan_families(self.borrow_owner(), Some(self.borrow_dependent()), start, end, limit)
    }
}

fn family_options(name: &str) -> Options {
    let mut options = Options::default();
    options.set_write_buffer_size(WRITE_BUFFER_BYTES);
    let compression = if name == RAFT_LOG { DBCompressionType::None } else { DBCompressionType::Lz4 };
    options.set_compression_type(compression);
    options
}

/// The column family of `key` (see the module doc), by the core's layout.
fn family_of(key: &[u8]) -> &'static str {
    match DurableKey::parse(key) {
        DurableKey::RaftLog { .. } => RAFT_LOG,
        DurableKey::RaftState { .. } | DurableKey::RaftOther => RAFT_STATE,
        DurableKey::Data => DATA,
    }
}

fn storage_error(error: rocksdb::Error) -> StorageError {
    StorageError(format!("rocksdb: {error}"))
}

impl Engine for RocksEngine {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.db.get_cf(self.family(family_of(key)), key).map_err(storage_error)
    }

    fn scan(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<KeyValue>, StorageError> {
        scan_families(&self.db, None, start, end, limit)
    }

    fn write(&mut self, batch: WriteBatch) -> Result<(), StorageError> {
        let mut rocks_batch = rocksdb::WriteBatch::default();
        let mut written: Vec<&[u8]> = Vec::new();
        for operation in &batch.operations {
            match operation {
                WriteOperation::Put { key, value } => {
                    rocks_batch.put_cf(self.family(family_of(key)), key, value);
                    written.push(key);
                }
                WriteOperation::Delete { key } => rocks_batch.delete_cf(self.family(family_of(key)), key),
                WriteOperation::DeleteRange { start, end } => {
                    let in_batch = written.iter().filter(|key| **key >= &start[..] && **key < &end[..]);
                    let mut doomed: Vec<Vec<u8>> = in_batch.map(|key| key.to_vec()).collect();
                    let stored = self.keys_in_span(start, end, POINT_DELETES_MAX + 1)?;
                    if stored.len() > POINT_DELETES_MAX {
                        // A span may cross families: delete it from each.
                        for name in FAMILIES {
                            rocks_batch.delete_range_cf(self.family(name), start, end);
                        }
                        continue;
                    }
                    doomed.extend(stored);
                    for key in doomed {
                        rocks_batch.delete_cf(self.family(family_of(&key)), key);
                    }
                }
            }
        }
        self.db.write(rocks_batch).map_err(storage_error)
    }

    fn sync(&mut self) -> Result<(), StorageError> {
        self.db.flush_wal(true).map_err(storage_error)
    }

    fn view(&self) -> Result<Box<dyn EngineView>, StorageError> {
        Ok(Box::new(RocksView::new(Arc::clone(&self.db), |db| db.snapshot())))
    }

    fn stage(&mut self, ingestion: IngestionId, chunk: IngestChunk) -> Result<(), StorageError> {
        chunk.assert_well_formed();
        assert!(!layout::RAFT.overlaps(&chunk.start, &chunk.end), "ingested spans hold range state, never Raft state");
        let staged = self.staged.entry(ingestion).or_default();
        chunk.assert_disjoint(staged.iter().map(|file| (file.start.as_slice(), file.end.as_slice())));
        self.files_staged += 1;
        let path = self.staging.join(format!("{ingestion:016x}-{:08}.sst", self.files_staged));
        let options = family_options(DATA);
        let mut writer = SstFileWriter::create(&options);
        writer.open(&path).map_err(storage_error)?;
        writer.delete_range(&chunk.start, &chunk.end).map_err(storage_error)?;
        for (key, value) in &chunk.pairs {
            writer.put(key, value).map_err(storage_error)?;
        }
        writer.finish().map_err(storage_error)?;
        staged.push(StagedFile { path, start: chunk.start, end: chunk.end });
        Ok(())
    }

    fn ingest(&mut self, ingestion: IngestionId) -> Result<(), StorageError> {
        self.sync()?;
        let Some(staged) = self.staged.remove(&ingestion) else { return Ok(()) };
        let mut options = IngestExternalFileOptions::default();
        options.set_move_files(true);
        let paths: Vec<&PathBuf> = staged.iter().map(|file| &file.path).collect();
        self.db.ingest_external_file_cf_opts(self.family(DATA), &options, paths).map_err(storage_error)?;
        for file in &staged {
            // Moved files are gone already; a copied one is left to delete.
            let _ = std::fs::remove_file(&file.path);
        }
        Ok(())
    }

    fn discard(&mut self, ingestion: IngestionId) -> Result<(), StorageError> {
        for file in self.staged.remove(&ingestion).unwrap_or_default() {
            std::fs::remove_file(&file.path).map_err(io_error)?;
        }
        Ok(())
    }

    /// RocksDB's estimate from the table files of the span's family: bytes
    /// on disk, compressed; what is still in the memtable does not count
    /// until it is flushed (a write buffer at most).
    fn approximate_size(&self, start: &[u8], end: &[u8]) -> Result<u64, StorageError> {
        if start >= end {
            return Ok(0);
        }
        let family = self.family(family_of(start));
        let sizes = self.db.get_approximate_sizes_cf(family, &[rocksdb::Range::new(start, end)]);
        Ok(sizes.first().copied().unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shardforge_core::types::LogIndex;

    fn engine(directory: &tempfile::TempDir) -> RocksEngine {
        RocksEngine::open(directory.path()).expect("open")
    }

    #[test]
    fn keys_go_to_their_families() {
        assert_eq!(family_of(&layout::raft_log(7, LogIndex(3))), RAFT_LOG);
        assert_eq!(family_of(&layout::raft_state(7, b"hard_state")), RAFT_STATE);
        assert_eq!(family_of(b"node/identity"), DATA);
        assert_eq!(family_of(&layout::installed(7)), DATA);
        assert_eq!(family_of(b"mvcc/a"), DATA);
        assert_eq!(family_of(b"raft/"), RAFT_STATE);
    }

    #[test]
    fn scans_merge_families_in_key_order_and_honour_the_limit() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let mut engine = engine(&directory);
        let group = |suffix: &[u8]| [&b"raft/"[..], &1u64.to_be_bytes(), b"/", suffix].concat();
        let mut batch = WriteBatch::default();
        for key in [group(b"log/a"), group(b"hard_state"), group(b"snapshot"), b"a".to_vec(), b"zz".to_vec()] {
            batch.put(key.clone(), key);
        }
        engine.write(batch).expect("write");
        let keys = |pairs: Vec<KeyValue>| pairs.into_iter().map(|(key, _)| key).collect::<Vec<_>>();
        let all = keys(engine.scan(b"", b"\xff", usize::MAX).expect("scan"));
        let mut sorted = all.clone();
        sorted.sort();
        assert_eq!(all, sorted);
        assert_eq!(all.len(), 5);
        assert_eq!(
            keys(engine.scan(b"raft/", b"raft0", 2).expect("scan")),
            vec![group(b"hard_state"), group(b"log/a")]
        );
    }

    #[test]
    fn delete_range_spans_families_and_synced_writes_survive_reopening() {
        let directory = tempfile::tempdir().expect("temporary directory");
        {
            let mut engine = engine(&directory);
            let mut batch = WriteBatch::default();
            for index in 0..10u64 {
                let key = [&b"raft/"[..], &2u64.to_be_bytes(), b"/log/", &index.to_be_bytes()].concat();
                batch.put(key, index.to_be_bytes().to_vec());
            }
            batch.put(b"node/identity".to_vec(), b"me".to_vec());
            engine.write(batch).expect("write");
            let mut deletion = WriteBatch::default();
            let start = [&b"raft/"[..], &2u64.to_be_bytes(), b"/log/", &0u64.to_be_bytes()].concat();
            let end = [&b"raft/"[..], &2u64.to_be_bytes(), b"/log/", &4u64.to_be_bytes()].concat();
            deletion.delete_range(start, end);
            engine.write(deletion).expect("delete");
            engine.sync().expect("sync");
        }
        let engine = engine(&directory);
        assert_eq!(engine.scan(b"raft/", b"raft0", usize::MAX).expect("scan").len(), 6);
        assert_eq!(engine.get(b"node/identity").expect("get"), Some(b"me".to_vec()));
    }

    fn chunk(start: &[u8], end: &[u8], pairs: &[(&[u8], &[u8])]) -> IngestChunk {
        let pairs = pairs.iter().map(|(key, value)| (key.to_vec(), value.to_vec())).collect();
        IngestChunk { start: start.to_vec(), end: end.to_vec(), pairs }
    }

    fn all(engine: &RocksEngine) -> Vec<(String, String)> {
        let pairs = engine.scan(b"", b"\xff", usize::MAX).expect("scan");
        let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
        pairs.into_iter().map(|(key, value)| (text(key), text(value))).collect()
    }

    #[test]
    fn a_view_reads_the_engine_as_it_was_when_taken() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let mut engine = engine(&directory);
        let mut batch = WriteBatch::default();
        batch.put(b"mvcc/a".to_vec(), b"1".to_vec());
        engine.write(batch).expect("write");
        let view = engine.view().expect("view");
        let mut batch = WriteBatch::default();
        batch.put(b"mvcc/a".to_vec(), b"2".to_vec());
        batch.put(b"mvcc/b".to_vec(), b"3".to_vec());
        engine.write(batch).expect("write");
        assert_eq!(view.get(b"mvcc/a").expect("get"), Some(b"1".to_vec()));
        assert_eq!(view.scan(b"mvcc/", b"mvcc0", 10).expect("scan").len(), 1);
        drop(engine);
        // The view keeps the database open until it goes.
        assert_eq!(view.scan(b"mvcc/", b"mvcc0", 10).expect("scan").len(), 1);
    }

    #[test]
    fn an_ingestion_replaces_its_spans_at_once_and_a_restart_forgets_the_staging() {
        let directory = tempfile::tempdir().expect("temporary directory");
        {
            let mut engine = engine(&directory);
            let mut batch = WriteBatch::default();
            for key in [&b"mvcc/a"[..], b"mvcc/c", b"mvcc/e", b"range/x"] {
                batch.put(key.to_vec(), b"old".to_vec());
            }
            engine.write(batch).expect("write");
            engine.stage(1, chunk(b"mvcc/b", b"mvcc/d", &[(b"mvcc/b", b"new"), (b"mvcc/c", b"new")])).expect("stage");
            engine.stage(1, chunk(b"mvcc/d", b"mvcc/z", &[])).expect("stage");
            engine.stage(2, chunk(b"range/", b"range0", &[])).expect("stage");
            assert_eq!(all(&engine).len(), 4, "staged chunks are not visible");
            engine.ingest(1).expect("ingest");
            let expected = [("mvcc/a", "old"), ("mvcc/b", "new"), ("mvcc/c", "new"), ("range/x", "old")];
            let expected: Vec<(String, String)> =
                expected.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            assert_eq!(all(&engine), expected);
            // Ingestion 2 is staged and never ingested: a restart drops it.
        }
        let engine = engine(&directory);
        assert_eq!(all(&engine).len(), 4);
        assert_eq!(std::fs::read_dir(directory.path().join("staging")).expect("staging").count(), 0);
    }

    #[test]
    fn a_span_is_measured_from_the_table_files_without_reading_it() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let mut engine = engine(&directory);
        let mut batch = WriteBatch::default();
        // 2,000 pairs of a kilobyte that does not compress: about 2 MB.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for index in 0..2_000u32 {
            let value: Vec<u8> = (0..1_024)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            batch.put([&b"mvcc/k"[..], &index.to_be_bytes()].concat(), value);
        }
        engine.write(batch).expect("write");
        engine.db.flush_cf(engine.family(DATA)).expect("flush");
        let size = engine.approximate_size(b"mvcc/", b"mvcc0").expect("size");
        assert!((1_500_000..4_000_000).contains(&size), "about 2 MB, not {size}");
        let half = engine.approximate_size(b"mvcc/k", &[&b"mvcc/k"[..], &1_000u32.to_be_bytes()].concat());
        assert!(half.expect("size") < size, "a part of the span measures less");
        assert!(engine.approximate_size(b"range/", b"range0").expect("size") < 10_000, "an empty span is about 0");
    }

    #[test]
    fn span_deletes_remove_few_and_many_keys_and_keys_put_in_the_same_batch() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let mut engine = engine(&directory);
        let key = |index: u64| [&b"raft/"[..], &3u64.to_be_bytes(), b"/log/", &index.to_be_bytes()].concat();
        let mut batch = WriteBatch::default();
        for index in 0..200 {
            batch.put(key(index), vec![1]);
        }
        engine.write(batch).expect("write");
        let count = |engine: &RocksEngine| engine.scan(&key(0), &key(1000), usize::MAX).expect("scan").len();
        // Few keys: point deletes; a key put earlier in the same batch goes too.
        let mut few = WriteBatch::default();
        few.put(key(500), vec![2]);
        few.delete_range(key(190), key(1000));
        engine.write(few).expect("write");
        assert_eq!(count(&engine), 190);
        // Many keys: a range tombstone.
        let mut many = WriteBatch::default();
        many.delete_range(key(0), key(150));
        engine.write(many).expect("write");
        assert_eq!(count(&engine), 40);
        assert_eq!(engine.get(&key(150)).expect("get"), Some(vec![1]));
    }
}
