//! An in-memory [`Engine`] that remembers what is durable.
//!
//! It keeps a durable image (everything synced) and the unsynced batches written
//! since, in order. [`MemoryEngine::crash`] models a power loss: the durable image
//! survives with only a prefix of the unsynced batches, chosen by the caller (the
//! simulator draws it from its seed). This is how the simulator loses unsynced
//! writes, which madsim's file system cannot do.

use std::collections::BTreeMap;

use super::engine::{Engine, KeyValue, StorageError, WriteBatch, WriteOperation};

/// A crash-aware in-memory key-value store.
#[derive(Clone, Debug, Default)]
pub struct MemoryEngine {
    durable: BTreeMap<Vec<u8>, Vec<u8>>,
    unsynced: Vec<WriteBatch>,
    /// `durable` with `unsynced` applied: what reads see.
    current: BTreeMap<Vec<u8>, Vec<u8>>,
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
        self.current = self.durable.clone();
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
        if start >= end {
            return Ok(Vec::new());
        }
        Ok(self.current.range(start.to_vec()..end.to_vec()).take(limit).map(|(k, v)| (k.clone(), v.clone())).collect())
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
