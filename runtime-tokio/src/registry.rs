//! The node registry as this node keeps it: the records (see
//! `shardforge_core::placement::registry`, which decides joins, ids and
//! decommissions, the simulator's registry too) read every
//! [`REFRESH_INTERVAL`], every address in them learned, so a node that joined
//! is reachable from all, and the address book on disk kept up to date.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use shardforge_core::placement::registry as decisions;
pub use shardforge_core::placement::registry::{Membership, NodeRecord, Records, REPLICATION_FACTOR};
use shardforge_core::types::NodeId;

use crate::kv::{Kv, KvError};
use crate::peers::Peers;

/// How often every node reads the registry.
pub const REFRESH_INTERVAL: Duration = Duration::from_millis(1000);

/// Reads the whole registry.
pub async fn read(kv: &Kv) -> Result<Records, KvError> {
    decisions::read(&mut *kv.client()).await
}

/// Records one of the first nodes (see `placement::registry::register`).
pub async fn register(kv: &Kv, node: NodeId, address: SocketAddr, initial_nodes: u64) -> Result<(), KvError> {
    decisions::register(&mut *kv.client(), node, &address.to_string(), initial_nodes).await
}

/// Gives a joining node its id (see `placement::registry::admit`).
pub async fn admit(kv: &Kv, address: SocketAddr, token: u64) -> Result<(NodeId, Records), KvError> {
    decisions::admit(&mut *kv.client(), &address.to_string(), token).await
}

/// Starts moving `node` out of the cluster (see `placement::registry::decommission`).
pub async fn decommission(kv: &Kv, node: NodeId) -> Result<Membership, KvError> {
    decisions::decommission(&mut *kv.client(), node).await
}

/// The registry as this node last read it, shared by the services and the rebalancer.
#[derive(Default)]
pub struct Registry {
    known: Mutex<Records>,
}

impl Registry {
    pub fn records(&self) -> Records {
        self.known.lock().expect("registry lock").clone()
    }

    /// Reads the registry and learns every address in it.
    pub async fn refresh(&self, kv: &Kv, peers: &Peers) -> Result<(), KvError> {
        let records = read(kv).await?;
        for (node, record) in &records {
            if *node != peers.node() {
                match record.address.parse::<SocketAddr>() {
                    Ok(address) => peers.learn(*node, address),
                    Err(_) => {
                        tracing::warn!(%node, address = %record.address, "the registry holds an address that is not IP:PORT")
                    }
                }
            }
        }
        *self.known.lock().expect("registry lock") = records;
        Ok(())
    }
}

/// Registers this node (retrying until the cluster answers), then keeps the
/// registry fresh, and the address book in `data_dir` with it, until the
/// node stops.
pub async fn maintain(
    registry: Arc<Registry>,
    kv: Arc<Kv>,
    peers: Arc<Peers>,
    data_dir: PathBuf,
    address: SocketAddr,
    initial: u64,
) {
    let node = peers.node();
    while let Err(error) = register(&kv, node, address, initial).await {
        tracing::debug!(%error, "registering this node; trying again");
        tokio::time::sleep(REFRESH_INTERVAL).await;
    }
    tracing::info!(%address, "registered in the node registry");
    let mut stored = crate::address_book::read(&data_dir).unwrap_or_default();
    loop {
        if let Err(error) = registry.refresh(&kv, &peers).await {
            tracing::debug!(%error, "reading the node registry");
        }
        let mut book = peers.addresses();
        book.remove(&node);
        if book != stored {
            match crate::address_book::write(&data_dir, &book) {
                Ok(()) => stored = book,
                Err(error) => tracing::warn!(%error, "cannot write the address book"),
            }
        }
        tokio::time::sleep(REFRESH_INTERVAL).await;
    }
}
