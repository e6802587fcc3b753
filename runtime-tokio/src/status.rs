//! What a store reports about its replicas, for `shardforge status`.

use shardforge_core::keys::KeyEnd;
use shardforge_core::store::Store;
use shardforge_core::types::NodeId;

/// One replica as this node sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaStatus {
    pub range: u64,
    pub start_key: Vec<u8>,
    pub start: String,
    pub end: String,
    pub generation: u64,
    pub leader: Option<NodeId>,
    pub replicas: Vec<NodeId>,
    pub applied_index: u64,
}

/// Every replica a store holds, by range id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreStatus {
    pub replicas: Vec<ReplicaStatus>,
}

/// Reads the status of every initialized replica (empty ones, waiting for a
/// snapshot, have no descriptor yet and are left out).
pub fn store_status(store: &Store) -> StoreStatus {
    let mut replicas = Vec::new();
    for range in store.ranges() {
        let Some(replica) = store.replica(range) else { continue };
        let Some(state) = replica.state_machine().state() else { continue };
        let descriptor = state.descriptor();
        let raft = replica.raft().status();
        replicas.push(ReplicaStatus {
            range: range.0,
            start_key: descriptor.start.0.clone(),
            start: printable(&descriptor.start.0),
            end: match &descriptor.end {
                KeyEnd::Before(key) => printable(&key.0),
                KeyEnd::Unbounded => "<end>".to_string(),
            },
            generation: descriptor.generation,
            leader: raft.leader,
            replicas: descriptor.replicas.iter().copied().collect(),
            applied_index: raft.applied_index.0,
        });
    }
    StoreStatus { replicas }
}

/// A key as text: printable ASCII as it is, other bytes escaped (`\xff`).
pub fn printable(key: &[u8]) -> String {
    key.iter().flat_map(|byte| std::ascii::escape_default(*byte)).map(char::from).collect()
}
