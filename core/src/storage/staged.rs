//! A key space of an engine, seen through writes staged for one batch.
//!
//! A replica applies a committed command as one atomic write: its effects and
//! its new applied index together (see `store::machine`). The code that
//! computes the effects (MVCC, transaction records, the timestamp cache) reads
//! and writes through the [`Engine`] trait as it goes, and a later step of the
//! same command may read what an earlier step wrote. [`Staged`] gives it that:
//! writes are collected into one [`WriteBatch`] that is not yet in the engine,
//! and reads see the engine with the staged writes laid over it.
//!
//! Every key is relative to a prefix (the replica's key space): callers never
//! see the prefix, and [`Staged::finish`] returns the batch with full keys. An
//! empty scan end means the end of the space.
//!
//! A view may also pass one subspace through unprefixed ([`Staged::sharing`]):
//! a range's MVCC data lives in the node's one data space, shared by every
//! range, each reading and writing only inside its span, while its local keys
//! (applied index, head, cache, records) stay under its own prefix. A scan or
//! a deleted span lies wholly inside the shared subspace or wholly outside it.

use std::collections::BTreeMap;

use super::engine::{Engine, EngineView, IngestChunk, IngestionId, KeyValue, StorageError, WriteBatch};

/// Writes staged over a read-only engine, under a key prefix.
pub struct Staged<'a> {
    engine: &'a dyn Engine,
    prefix: Vec<u8>,
    /// Relative keys under this prefix are engine keys as they are.
    shared: Option<Vec<u8>>,
    /// The batch so far, full keys.
    batch: WriteBatch,
    /// What the staged writes say of each key they touched (None: deleted);
    /// relative keys.
    overlay: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// Spans (relative) deleted by the staged writes: engine keys in them are
    /// hidden unless the overlay holds them again.
    cleared: Vec<(Vec<u8>, Vec<u8>)>,
}

/// The smallest key above every key that starts with `prefix`; None when there is none.
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

impl<'a> Staged<'a> {
    /// Stages writes to the keys under `prefix` of `engine`.
    pub fn new(engine: &'a dyn Engine, prefix: Vec<u8>) -> Staged<'a> {
        assert!(prefix_end(&prefix).is_some(), "a key space has an end");
        let (batch, overlay, cleared) = (WriteBatch::default(), BTreeMap::new(), Vec::new());
        Staged { engine, prefix, shared: None, batch, overlay, cleared }
    }

    /// Like [`Staged::new`], with the keys under `shared` left unprefixed: the
    /// same relative and engine keys, seen by every view that shares them.
    pub fn sharing(engine: &'a dyn Engine, prefix: Vec<u8>, shared: &[u8]) -> Staged<'a> {
        assert!(prefix_end(shared).is_some(), "a shared space has an end");
        Staged { shared: Some(shared.to_vec()), ..Staged::new(engine, prefix) }
    }

    /// The staged writes, with full keys, to write as one batch.
    pub fn finish(self) -> WriteBatch {
        self.batch
    }

    /// Whether nothing has been staged.
    pub fn is_empty(&self) -> bool {
        self.batch.is_empty()
    }

    fn is_shared(&self, key: &[u8]) -> bool {
        self.shared.as_ref().is_some_and(|shared| key.starts_with(shared))
    }

    fn full(&self, key: &[u8]) -> Vec<u8> {
        match self.is_shared(key) {
            true => key.to_vec(),
            false => [&self.prefix[..], key].concat(),
        }
    }

    fn relative(&self, full: &[u8]) -> Vec<u8> {
        match self.is_shared(full) {
            true => full.to_vec(),
            false => full[self.prefix.len()..].to_vec(),
        }
    }

    /// The engine span of the relative span `[start, end)`, which must not
    /// straddle the shared subspace.
    fn full_span(&self, start: &[u8], end: &[u8]) -> (Vec<u8>, Vec<u8>) {
        if let Some(shared) = &self.shared {
            let shared_end = prefix_end(shared).expect("checked at creation");
            let inside = start.starts_with(shared);
            let below = start < shared.as_slice() && !end.is_empty() && end <= shared.as_slice();
            let above = start >= shared_end.as_slice();
            let within = inside && !end.is_empty() && end <= shared_end.as_slice();
            assert!(within || below || above, "a span straddles the shared space: {start:?}..{end:?}");
            if within {
                return (start.to_vec(), end.to_vec());
            }
        }
        let full_end = match end.is_empty() {
            true => prefix_end(&self.prefix).expect("checked at creation"),
            false => [&self.prefix[..], end].concat(),
        };
        ([&self.prefix[..], start].concat(), full_end)
    }

    fn is_cleared(&self, key: &[u8]) -> bool {
        self.cleared.iter().any(|(start, end)| start.as_slice() <= key && (end.is_empty() || key < end.as_slice()))
    }

    /// The first `limit` engine entries in the span (relative keys) that the
    /// staged writes neither replace nor delete.
    fn engine_entries(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<KeyValue>, StorageError> {
        let mut found = Vec::new();
        let (mut from, full_end) = self.full_span(start, end);
        while found.len() < limit {
            let page = self.engine.scan(&from, &full_end, limit - found.len())?;
            let exhausted = page.len() < limit - found.len();
            for (key, value) in page {
                from = [&key[..], &[0]].concat();
                let relative = self.relative(&key);
                if !self.overlay.contains_key(&relative) && !self.is_cleared(&relative) {
                    found.push((relative, value));
                }
            }
            if exhausted {
                break;
            }
        }
        Ok(found)
    }
}

impl Engine for Staged<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        if let Some(staged) = self.overlay.get(key) {
            return Ok(staged.clone());
        }
        if self.is_cleared(key) {
            return Ok(None);
        }
        self.engine.get(&self.full(key))
    }

    fn scan(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<KeyValue>, StorageError> {
        if !end.is_empty() && start >= end {
            return Ok(Vec::new());
        }
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = self.engine_entries(start, end, limit)?.into_iter().collect();
        let staged = match end.is_empty() {
            true => self.overlay.range(start.to_vec()..),
            false => self.overlay.range(start.to_vec()..end.to_vec()),
        };
        let puts = staged.filter_map(|(key, value)| value.as_ref().map(|value| (key.clone(), value.clone())));
        merged.extend(puts.take(limit));
        Ok(merged.into_iter().take(limit).collect())
    }

    fn write(&mut self, batch: WriteBatch) -> Result<(), StorageError> {
        use super::engine::WriteOperation;
        for operation in batch.operations {
            match operation {
                WriteOperation::Put { key, value } => {
                    self.batch.put(self.full(&key), value.clone());
                    self.overlay.insert(key, Some(value));
                }
                WriteOperation::Delete { key } => {
                    self.batch.delete(self.full(&key));
                    self.overlay.insert(key, None);
                }
                WriteOperation::DeleteRange { start, end } => {
                    let (full_start, full_end) = self.full_span(&start, &end);
                    self.batch.delete_range(full_start, full_end);
                    let doomed: Vec<Vec<u8>> = self
                        .overlay
                        .keys()
                        .filter(|key| {
                            start.as_slice() <= key.as_slice() && (end.is_empty() || key.as_slice() < end.as_slice())
                        })
                        .cloned()
                        .collect();
                    for key in doomed {
                        self.overlay.remove(&key);
                    }
                    self.cleared.push((start, end));
                }
            }
        }
        Ok(())
    }

    /// Staged writes reach the engine only through [`Staged::finish`].
    fn sync(&mut self) -> Result<(), StorageError> {
        panic!("a staged view is written by its owner, not synced")
    }

    // Views and ingestions belong to the engine underneath, which the node
    // holds; a command's staged writes never take part in them.
    fn view(&self) -> Result<Box<dyn EngineView>, StorageError> {
        panic!("a staged view is not viewed again; the node views its engine")
    }

    fn stage(&mut self, _ingestion: IngestionId, _chunk: IngestChunk) -> Result<(), StorageError> {
        panic!("a staged view does not ingest; the node's engine does")
    }

    fn ingest(&mut self, _ingestion: IngestionId) -> Result<(), StorageError> {
        panic!("a staged view does not ingest; the node's engine does")
    }

    fn discard(&mut self, _ingestion: IngestionId) -> Result<(), StorageError> {
        panic!("a staged view does not ingest; the node's engine does")
    }

    /// The engine's estimate for the span: the staged writes are left out,
    /// which an estimate may do.
    fn approximate_size(&self, start: &[u8], end: &[u8]) -> Result<u64, StorageError> {
        let (start, end) = self.full_span(start, end);
        self.engine.approximate_size(&start, &end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryEngine;

    fn engine_with(keys: &[(&str, &str)]) -> MemoryEngine {
        let mut engine = MemoryEngine::new();
        let mut batch = WriteBatch::default();
        for (key, value) in keys {
            batch.put(key.as_bytes().to_vec(), value.as_bytes().to_vec());
        }
        engine.write(batch).unwrap();
        engine
    }

    fn keys(entries: Vec<KeyValue>) -> Vec<String> {
        entries.into_iter().map(|(key, _)| String::from_utf8(key).unwrap()).collect()
    }

    #[test]
    fn reads_see_staged_writes_over_the_engine_and_only_the_prefix() {
        let engine = engine_with(&[("p/a", "1"), ("p/b", "2"), ("p/c", "3"), ("q/a", "other")]);
        let mut staged = Staged::new(&engine, b"p/".to_vec());
        let mut batch = WriteBatch::default();
        batch.delete(b"b".to_vec());
        batch.put(b"bb".to_vec(), b"4".to_vec());
        staged.write(batch).unwrap();
        assert_eq!(staged.get(b"b").unwrap(), None);
        assert_eq!(staged.get(b"a").unwrap(), Some(b"1".to_vec()));
        assert_eq!(keys(staged.scan(b"", b"", usize::MAX).unwrap()), ["a", "bb", "c"]);
        assert_eq!(keys(staged.scan(b"a", b"", 2).unwrap()), ["a", "bb"]);
        assert_eq!(engine.get(b"p/bb").unwrap(), None, "nothing reaches the engine before finish");
        let batch = staged.finish();
        assert_eq!(batch.operations.len(), 2);
    }

    #[test]
    fn a_deleted_span_hides_engine_keys_until_written_again() {
        let engine = engine_with(&[("p/a", "1"), ("p/b", "2"), ("p/c", "3"), ("p/d", "4")]);
        let mut staged = Staged::new(&engine, b"p/".to_vec());
        let mut batch = WriteBatch::default();
        batch.delete_range(b"b".to_vec(), b"d".to_vec());
        batch.put(b"c".to_vec(), b"new".to_vec());
        staged.write(batch).unwrap();
        assert_eq!(keys(staged.scan(b"", b"", usize::MAX).unwrap()), ["a", "c", "d"]);
        assert_eq!(staged.get(b"c").unwrap(), Some(b"new".to_vec()));
        // A limit met by hidden keys still finds the visible ones after them.
        assert_eq!(keys(staged.scan(b"b", b"", 1).unwrap()), ["c"]);
        let mut applied = engine.clone();
        applied.write(staged.finish()).unwrap();
        assert_eq!(keys(applied.scan(b"p/", b"p0", usize::MAX).unwrap()), ["p/a", "p/c", "p/d"]);
    }

    #[test]
    fn a_shared_subspace_is_read_and_written_without_the_prefix() {
        let engine = engine_with(&[("p/a", "1"), ("s/x", "shared"), ("q/s/y", "other's local")]);
        let mut staged = Staged::sharing(&engine, b"p/".to_vec(), b"s/");
        assert_eq!(staged.get(b"s/x").unwrap(), Some(b"shared".to_vec()));
        assert_eq!(keys(staged.scan(b"s/", b"s0", usize::MAX).unwrap()), ["s/x"]);
        assert_eq!(keys(staged.scan(b"a", b"b", usize::MAX).unwrap()), ["a"]);
        let mut batch = WriteBatch::default();
        batch.put(b"s/z".to_vec(), b"new".to_vec());
        batch.put(b"b".to_vec(), b"local".to_vec());
        batch.delete_range(b"s/".to_vec(), b"s/y".to_vec());
        staged.write(batch).unwrap();
        assert_eq!(keys(staged.scan(b"s/", b"s0", usize::MAX).unwrap()), ["s/z"]);
        let mut applied = engine.clone();
        applied.write(staged.finish()).unwrap();
        assert_eq!(keys(applied.scan(b"", b"z", usize::MAX).unwrap()), ["p/a", "p/b", "q/s/y", "s/z"]);
    }

    #[test]
    #[should_panic(expected = "straddles")]
    fn a_span_across_the_shared_subspace_is_refused() {
        let engine = engine_with(&[]);
        let staged = Staged::sharing(&engine, b"p/".to_vec(), b"s/");
        let _ = staged.scan(b"a", b"", usize::MAX);
    }

    #[test]
    fn prefix_end_carries() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xff]), None);
    }
}
