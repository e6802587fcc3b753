//! The key-value API a node serves to clients (`shardforge kv`, tests,
//! benchmarks) and uses for its own records: each call is one serializable
//! transaction run by the core's [`KvClient`] (its retry loop is the
//! simulator's too), over a gateway of this node's.
//!
//! Clients are pooled: each keeps its gateway's cache of where ranges are, and
//! a call takes one from the pool and gives it back when done.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use shardforge_core::kv::{KvClient, KvRuntime, KvSettings};
use shardforge_core::txn::coordinator::TransactionKnobs;

pub use shardforge_core::kv::{is_system_key, KvError, Operation, OperationResult, SYSTEM_PREFIX};

use crate::clock::random_u64;
use crate::gateway::{GrpcGateway, GrpcTransport};

/// Production's runtime for the KV client: tokio's timer, and randomness
/// drawn from the process's hasher keys and the clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioRuntime;

impl KvRuntime for TokioRuntime {
    async fn sleep(&mut self, nanos: u64) {
        tokio::time::sleep(Duration::from_nanos(nanos)).await;
    }

    fn random_u64(&mut self) -> u64 {
        random_u64()
    }
}

/// A KV client of this node's.
pub type NodeKvClient = KvClient<GrpcTransport, TokioRuntime>;

/// Runs transactions for clients of this node.
pub struct Kv {
    transport: GrpcTransport,
    settings: KvSettings,
    /// Clients not in use.
    idle: Arc<Mutex<Vec<NodeKvClient>>>,
}

/// A client taken from the pool; it goes back when dropped.
pub struct PooledClient {
    client: Option<NodeKvClient>,
    pool: Arc<Mutex<Vec<NodeKvClient>>>,
}

impl std::ops::Deref for PooledClient {
    type Target = NodeKvClient;
    fn deref(&self) -> &NodeKvClient {
        self.client.as_ref().expect("held until dropped")
    }
}

impl std::ops::DerefMut for PooledClient {
    fn deref_mut(&mut self) -> &mut NodeKvClient {
        self.client.as_mut().expect("held until dropped")
    }
}

impl Drop for PooledClient {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            self.pool.lock().expect("client pool lock").push(client);
        }
    }
}

impl Kv {
    /// `commit_wait`: whether answers wait out commit wait (see
    /// `Tuning::strict_serializable`).
    pub fn new(transport: GrpcTransport, max_offset_nanos: u64, commit_wait: bool) -> Kv {
        let settings = KvSettings { max_offset_nanos, commit_wait, knobs: TransactionKnobs::default() };
        Kv { transport, settings, idle: Arc::default() }
    }

    /// A new gateway, told of every node this node knows now (a SQL session's).
    pub fn gateway(&self) -> GrpcGateway {
        let nodes: Vec<_> = self.transport.peers().addresses().into_keys().collect();
        GrpcGateway::new(self.transport.clone(), nodes, random_u64() as usize)
    }

    /// How this node's transactions run.
    pub fn settings(&self) -> KvSettings {
        self.settings
    }

    /// A client, its gateway told of every node this node knows now.
    pub fn client(&self) -> PooledClient {
        let idle = self.idle.lock().expect("client pool lock").pop();
        let nodes: Vec<_> = self.transport.peers().addresses().into_keys().collect();
        let client = match idle {
            Some(mut client) => {
                client.gateway().set_nodes(nodes);
                client
            }
            None => {
                let gateway = GrpcGateway::new(self.transport.clone(), nodes, random_u64() as usize);
                KvClient::new(gateway, TokioRuntime, self.settings)
            }
        };
        PooledClient { client: Some(client), pool: Arc::clone(&self.idle) }
    }

    /// Runs `operations` in order as one transaction and commits it (see
    /// `KvClient::transaction`): keys of the system's own records are refused.
    /// A two-phase commit's record is forgotten after the answer is on its
    /// way: a task of its own does it, holding the client until then.
    pub async fn transaction(&self, operations: &[Operation]) -> Result<Vec<OperationResult>, KvError> {
        let mut client = self.client();
        let results = client.transaction(operations).await;
        // Most commits are one-phase and leave nothing to forget: no task then.
        if client.has_acknowledged_forgets() {
            tokio::spawn(async move { client.forget_acknowledged().await });
        }
        results
    }
}
