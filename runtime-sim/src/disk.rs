//! A node's simulated disk: a memory engine that survives the node's tasks being
//! killed, and loses unsynced writes when the nemesis says the power went out.

use std::sync::{Arc, Mutex, MutexGuard};

use shardforge_core::storage::MemoryEngine;

/// Shared handle to one node's disk.
#[derive(Clone, Debug, Default)]
pub struct SimDisk {
    engine: Arc<Mutex<MemoryEngine>>,
}

impl SimDisk {
    pub fn new() -> SimDisk {
        SimDisk::default()
    }

    /// Exclusive access for the node's driver.
    pub fn lock(&self) -> MutexGuard<'_, MemoryEngine> {
        self.engine.lock().expect("disk lock")
    }

    /// A power loss: keep a prefix of the unsynced batches, its length drawn by
    /// `choose_kept` from the count. Returns (kept, lost).
    pub fn crash(&self, choose_kept: impl FnOnce(usize) -> usize) -> (usize, usize) {
        let mut engine = self.lock();
        let unsynced = engine.unsynced_batches();
        let kept = choose_kept(unsynced).min(unsynced);
        engine.crash(kept);
        (kept, unsynced - kept)
    }
}
