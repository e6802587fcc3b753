//! Who a data directory belongs to: a cluster id and this node's id, written
//! once when the node is initialised (beside the first range's Raft state, in
//! the same engine) and checked on every start.
//!
//! The cluster id is 128 random bits. Nodes compare it on every call between
//! them, so a data directory of another cluster can never join this one.

use std::fmt;

use shardforge_core::storage::{Engine, StorageError, WriteBatch};
use shardforge_core::types::NodeId;

const IDENTITY_KEY: &[u8] = b"node/identity";
const JOIN_TOKEN_KEY: &[u8] = b"node/join-token";

/// A node's place in its cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub cluster: String,
    pub node: NodeId,
}

impl fmt::Display for Identity {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "node {} of cluster {}", self.node.0, self.cluster)
    }
}

/// A new cluster id: 128 random bits.
pub fn new_cluster_id() -> String {
    format!("{:016x}{:016x}", crate::clock::random_u64(), crate::clock::random_u64())
}

/// The identity stored in `engine`, if it was initialised.
pub fn read(engine: &impl Engine) -> Result<Option<Identity>, StorageError> {
    let Some(bytes) = engine.get(IDENTITY_KEY)? else { return Ok(None) };
    let corrupt = || StorageError(format!("the stored identity {:?} is corrupt", String::from_utf8_lossy(&bytes)));
    let text = std::str::from_utf8(&bytes).map_err(|_| corrupt())?;
    let (cluster, node) = text.split_once(' ').ok_or_else(corrupt)?;
    let node = node.parse::<u64>().ok().filter(|node| *node != 0).ok_or_else(corrupt)?;
    Ok(Some(Identity { cluster: cluster.to_string(), node: NodeId(node) }))
}

/// Writes `identity` and syncs.
pub fn write(engine: &mut impl Engine, identity: &Identity) -> Result<(), StorageError> {
    let mut batch = WriteBatch::default();
    batch.put(IDENTITY_KEY.to_vec(), format!("{} {}", identity.cluster, identity.node.0).into_bytes());
    engine.write(batch)?;
    engine.sync()
}

/// The token a joining node drew (see `registry::admit`), if it drew one.
pub fn read_join_token(engine: &impl Engine) -> Result<Option<u64>, StorageError> {
    let Some(bytes) = engine.get(JOIN_TOKEN_KEY)? else { return Ok(None) };
    let token =
        <[u8; 8]>::try_from(bytes.as_slice()).map_err(|_| StorageError("the stored join token is corrupt".into()))?;
    Ok(Some(u64::from_be_bytes(token)))
}

/// Writes the join token and syncs.
pub fn write_join_token(engine: &mut impl Engine, token: u64) -> Result<(), StorageError> {
    let mut batch = WriteBatch::default();
    batch.put(JOIN_TOKEN_KEY.to_vec(), token.to_be_bytes().to_vec());
    engine.write(batch)?;
    engine.sync()
}

#[cfg(test)]
mod tests {
    use super::*;
    use shardforge_core::storage::MemoryEngine;

    #[test]
    fn identities_round_trip_and_cluster_ids_differ() {
        let mut engine = MemoryEngine::default();
        assert_eq!(read(&engine).expect("read"), None);
        let identity = Identity { cluster: new_cluster_id(), node: NodeId(3) };
        write(&mut engine, &identity).expect("write");
        assert_eq!(read(&engine).expect("read"), Some(identity.clone()));
        assert_ne!(identity.cluster, new_cluster_id());
        assert_eq!(identity.cluster.len(), 32);
        assert_eq!(read_join_token(&engine).expect("read"), None);
        write_join_token(&mut engine, 0xfeed).expect("write");
        assert_eq!(read_join_token(&engine).expect("read"), Some(0xfeed));
    }
}
