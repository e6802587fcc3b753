//! An in-memory [`Engine`] that remembers what is durable.
//!
//! It keeps a durable image (everything synced) and the unsynced batches written
//! since, in order. [`MemoryEngine::crash`] models a power loss: the durable image
//! survives with only a prefix of the unsynced batches, chosen by the caller (the
//! simulator draws it from its seed). This is how the simulator loses unsynced
//! writes, which madsim's file system cannot do.
//!
//! A view is a copy of the current map (the simulator's ranges are small);
//! staged chunks are kept aside until ingested, and a crash loses them, as
//! it loses RocksDB's staged table files. An ingestion syncs first, then
//! applies its chunks to the durable image and the current one together.

use std::collections::BTreeMap;

use super::engine::{Engine, EngineView, IngestChunk, IngestionId, KeyValue, StorageError, WriteBatch, WriteOperation};

/// A crash-aware in-memory key-value store.
#[derive(Clone, Debug, Default)]
pub struct MemoryEngine {
    durable: BTreeMap<Vec<u8>, Vec<u8>>,
    unsynced: Vec<WriteBatch>,
    /// `durable` with `unsynced` applied: what reads see.
    current: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Chunks staged for ingestion, in the order they came.
    staged: BTreeMap<IngestionId, Vec<IngestChunk>>,
}

/// A copy of the map as it was.
struct MemoryView {
    map: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl MemoryEngine {
    pub fn new() -> MemoryEngine {
        MemoryEngine::default()
    }

    /// Number of batches written but not yet synced.
    pub fn unsynced_batches(&self) -> usize {
        self.unsynced.len()
    }

    /// Loses power: keeps the durable image plus the first `kept_batches`
    /// unsynced batches, which then count as durable.
    pub fn crash(&mut self, kept_batches: usize) {
        let kept = kept_batches.min(self.unsynced.len());
        for batch in self.unsynced.drain(..kept) {
            apply(&mut self.durable, &batch);
        }
        self.unsynced.clear();
        self.staged.clear();
        self.current = self.durable.clone();
    }

    /// Number of ingestions staged and not yet ingested or discarded.
    pub fn staged_ingestions(&self) -> usize {
        self.staged.len()
    }
}

fn scan_map(map: &BTreeMap<Vec<u8>, Vec<u8>>, start: &[u8], end: &[u8], limit: usize) -> Vec<KeyValue> {
    if start >= end {
        return Vec::new();
    }
    map.range(start.to_vec()..end.to_vec()).take(limit).map(|(k, v)| (k.clone(), v.clone())).collect()
}

impl EngineView for MemoryView {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.map.get(key).cloned())
    }

    fn scan(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<KeyValue>, StorageError> {
        Ok(scan_map(&self.map, start, end, limit))
    }
}

fn apply(map: &mut BTreeMap<Vec<u8>, Vec<u8>>, batch: &WriteBatch) {
    for operation in &batch.operations {
        match operation {
            WriteOperation::Put { key, value } => {
                map.insert(key.clone(), value.clone());
            }
            WriteOperation::Delete { key } => {
                map.remove(key);
            }
            WriteOperation::DeleteRange { start, end } => {
                if start < end {
                    let doomed: Vec<Vec<u8>> = map.range(start.clone()..end.clone()).map(|(k, _)| k.clone()).collect();
                    for key in doomed {
                        map.remove(&key);
                    }
                }
            }
        }
    }
}

impl Engine for MemoryEngine {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.current.get(key).cloned())
    }

    fn scan(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<KeyValue>, StorageError> {
        Ok(scan_map(&self.current, start, end, limit))
    }

    fn write(&mut self, batch: WriteBatch) -> Result<(), StorageError> {
        apply(&mut self.current, &batch);
        self.unsynced.push(batch);
        Ok(())
    }

    fn sync(&mut self) -> Result<(), StorageError> {
        for batch in self.unsynced.drain(..) {
            apply(&mut self.durable, &batch);
        }
        Ok(())
    }

    fn view(&self) -> Result<Box<dyn EngineView>, StorageError> {
        Ok(Box::new(MemoryView { map: self.current.clone() }))
    }

    fn stage(&mut self, ingestion: IngestionId, chunk: IngestChunk) -> Result<(), StorageError> {
        chunk.assert_well_formed();
        let chunks = self.staged.entry(ingestion).or_default();
        chunk.assert_disjoint(chunks.iter().map(|other| (other.start.as_slice(), other.end.as_slice())));
        chunks.push(chunk);
        Ok(())
    }

    fn ingest(&mut self, ingestion: IngestionId) -> Result<(), StorageError> {
        self.sync()?;
        let mut batch = WriteBatch::default();
        for chunk in self.staged.remove(&ingestion).unwrap_or_default() {
            batch.delete_range(chunk.start, chunk.end);
            for (key, value) in chunk.pairs {
                batch.put(key, value);
            }
        }
        apply(&mut self.durable, &batch);
        apply(&mut self.current, &batch);
        Ok(())
    }

    fn discard(&mut self, ingestion: IngestionId) -> Result<(), StorageError> {
        self.staged.remove(&ingestion);
        Ok(())
    }

    /// Exact: the keys' and values' lengths.
    fn approximate_size(&self, start: &[u8], end: &[u8]) -> Result<u64, StorageError> {
        if start >= end {
            return Ok(0);
        }
        let pairs = self.current.range(start.to_vec()..end.to_vec());
        Ok(pairs.map(|(key, value)| (key.len() + value.len()) as u64).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: &str, value: &str) -> WriteBatch {
        let mut batch = WriteBatch::default();
        batch.put(key.as_bytes().to_vec(), value.as_bytes().to_vec());
        batch
    }

    #[test]
    fn crash_keeps_synced_and_a_prefix_of_unsynced() {
        let mut engine = MemoryEngine::new();
        engine.write(put("a", "1")).unwrap();
        engine.sync().unwrap();
        engine.write(put("b", "2")).unwrap();
        engine.write(put("c", "3")).unwrap();
        assert_eq!(engine.get(b"c").unwrap(), Some(b"3".to_vec()));
        engine.crash(1);
        assert_eq!(engine.get(b"a").unwrap(), Some(b"1".to_vec()));
        assert_eq!(engine.get(b"b").unwrap(), Some(b"2".to_vec()));
        assert_eq!(engine.get(b"c").unwrap(), None);
    }

    fn chunk(start: &str, end: &str, pairs: &[(&str, &str)]) -> IngestChunk {
        let pairs = pairs.iter().map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec())).collect();
        IngestChunk { start: start.as_bytes().to_vec(), end: end.as_bytes().to_vec(), pairs }
    }

    fn keys(engine: &MemoryEngine) -> Vec<String> {
        let pairs = engine.scan(b"", b"~", usize::MAX).unwrap();
        pairs
            .into_iter()
            .map(|(k, v)| format!("{}={}", String::from_utf8_lossy(&k), String::from_utf8_lossy(&v)))
            .collect()
    }

    #[test]
    fn a_view_keeps_the_state_it_was_taken_at() {
        let mut engine = MemoryEngine::new();
        engine.write(put("a", "1")).unwrap();
        let view = engine.view().unwrap();
        engine.write(put("a", "2")).unwrap();
        engine.write(put("b", "3")).unwrap();
        assert_eq!(view.get(b"a").unwrap(), Some(b"1".to_vec()));
        assert_eq!(view.scan(b"a", b"z", 10).unwrap().len(), 1);
    }

    #[test]
    fn an_ingestion_replaces_its_spans_at_once_and_a_crash_before_it_loses_only_the_staging() {
        let mut engine = MemoryEngine::new();
        for key in ["a", "c", "e", "g"] {
            engine.write(put(key, "old")).unwrap();
        }
        engine.sync().unwrap();
        engine.stage(7, chunk("b", "d", &[("b", "new")])).unwrap();
        engine.stage(7, chunk("d", "f", &[])).unwrap();
        assert_eq!(keys(&engine), ["a=old", "c=old", "e=old", "g=old"], "staged chunks are not visible");
        let mut crashed = engine.clone();
        crashed.crash(0);
        assert_eq!(crashed.staged_ingestions(), 0);
        assert_eq!(keys(&crashed), ["a=old", "c=old", "e=old", "g=old"]);

        engine.write(put("h", "unsynced")).unwrap();
        engine.ingest(7).unwrap();
        assert_eq!(keys(&engine), ["a=old", "b=new", "g=old", "h=unsynced"]);
        engine.crash(0);
        assert_eq!(
            keys(&engine),
            ["a=old", "b=new", "g=old", "h=unsynced"],
            "an ingestion is durable, and syncs first"
        );
    }

    #[test]
    #[should_panic(expected = "disjoint spans")]
    fn overlapping_chunks_are_refused() {
        let mut engine = MemoryEngine::new();
        engine.stage(1, chunk("a", "c", &[])).unwrap();
        engine.stage(1, chunk("b", "d", &[])).unwrap();
    }

    #[test]
    fn delete_range_is_half_open() {
        let mut engine = MemoryEngine::new();
        for key in ["a", "b", "c"] {
            engine.write(put(key, "x")).unwrap();
        }
        let mut batch = WriteBatch::default();
        batch.delete_range(b"a".to_vec(), b"c".to_vec());
        engine.write(batch).unwrap();
        let keys: Vec<Vec<u8>> = engine.scan(b"a", b"z", usize::MAX).unwrap().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, vec![b"c".to_vec()]);
    }
}
