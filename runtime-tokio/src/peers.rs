//! The other nodes: their addresses, and the outgoing side of the Raft
//! transport.
//!
//! Each peer gets one task that keeps one long-lived gRPC client stream
//! (`Raft.Stream`) open to it and feeds it the batches the driver hands over.
//! A batch is cut into chunks of at most [`CHUNK_BYTES`] (a snapshot can be
//! large; gRPC messages should not be), which the receiver joins again. When
//! the stream fails, the task reconnects with exponential backoff, and batches
//! that pile up meanwhile are dropped: Raft retransmits what matters, and a
//! stale heartbeat is worth nothing.
//!
//! The address book starts from the join list and learns every peer that
//! opens a stream to this node (the stream says who it is and where it
//! listens). Gateways' range calls reuse one gRPC channel per peer.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use shardforge_core::types::NodeId;
use shardforge_proto::node::raft_client::RaftClient;
use shardforge_proto::node::RaftFrame;
use tokio::sync::mpsc;
use tonic::transport::{Channel, Endpoint};

/// The largest piece of a batch sent as one gRPC message.
pub const CHUNK_BYTES: usize = 1 << 20;
/// Batches queued for one peer before new ones are dropped.
const QUEUED_BATCHES_MAX: usize = 1024;
const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(2);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Metadata every Raft stream and range call carries.
pub const CLUSTER_HEADER: &str = "x-shardforge-cluster";
pub const NODE_HEADER: &str = "x-shardforge-node";
pub const ADDRESS_HEADER: &str = "x-shardforge-address";

/// This node's view of its peers.
pub struct Peers {
    node: NodeId,
    address: SocketAddr,
    cluster: String,
    book: Mutex<BTreeMap<NodeId, SocketAddr>>,
    streams: Mutex<BTreeMap<NodeId, mpsc::Sender<Vec<u8>>>>,
    channels: Mutex<BTreeMap<NodeId, Channel>>,
    /// Where stream tasks run: the node's runtime, whichever thread sends.
    runtime: tokio::runtime::Handle,
}

impl Peers {
    pub fn new(node: NodeId, address: SocketAddr, cluster: String, book: BTreeMap<NodeId, SocketAddr>) -> Peers {
        let runtime = tokio::runtime::Handle::current();
        let (streams, channels) = (Mutex::default(), Mutex::default());
        Peers { node, address, cluster, book: Mutex::new(book), streams, channels, runtime }
    }

    pub fn node(&self) -> NodeId {
        self.node
    }

    pub fn cluster(&self) -> &str {
        &self.cluster
    }

    /// Every node this one knows of, itself included, with its RPC address.
    pub fn addresses(&self) -> BTreeMap<NodeId, SocketAddr> {
        let mut book = self.book.lock().expect("peers lock").clone();
        book.insert(self.node, self.address);
        book
    }

    pub fn address_of(&self, node: NodeId) -> Option<SocketAddr> {
        if node == self.node {
            return Some(self.address);
        }
        self.book.lock().expect("peers lock").get(&node).copied()
    }

    /// Records where `node` listens; a changed address drops the old channel.
    pub fn learn(&self, node: NodeId, address: SocketAddr) {
        if node == self.node {
            return;
        }
        let previous = self.book.lock().expect("peers lock").insert(node, address);
        if previous.is_some_and(|previous| previous != address) {
            self.channels.lock().expect("peers lock").remove(&node);
        }
    }

    /// Queues an encoded `GroupMessageBatch` for `to`, starting its stream task
    /// on first use. Dropped when the queue is full (see the module doc).
    pub fn send(self: &Arc<Self>, to: NodeId, batch: Vec<u8>) {
        let mut streams = self.streams.lock().expect("peers lock");
        let sender = streams.entry(to).or_insert_with(|| {
            let (sender, receiver) = mpsc::channel(QUEUED_BATCHES_MAX);
            self.runtime.spawn(Arc::clone(self).stream_to(to, receiver));
            sender
        });
        if sender.try_send(batch).is_err() {
            tracing::debug!(peer = to.0, "raft queue full: batch dropped");
        }
    }

    /// A gRPC channel to `node`, shared by every call to it (None: address unknown).
    pub fn channel(&self, node: NodeId) -> Option<Channel> {
        let address = self.address_of(node)?;
        let mut channels = self.channels.lock().expect("peers lock");
        let channel = channels.entry(node).or_insert_with(|| lazy_channel(address));
        Some(channel.clone())
    }

    /// Adds this node's identity to an outgoing call.
    pub fn stamp<T>(&self, request: &mut tonic::Request<T>) {
        let metadata = request.metadata_mut();
        let text = |value: String| value.parse().expect("ascii metadata");
        metadata.insert(CLUSTER_HEADER, text(self.cluster.clone()));
        metadata.insert(NODE_HEADER, text(self.node.0.to_string()));
        metadata.insert(ADDRESS_HEADER, text(self.address.to_string()));
    }

    /// The stream task of one peer (see the module doc).
    async fn stream_to(self: Arc<Self>, peer: NodeId, mut batches: mpsc::Receiver<Vec<u8>>) {
        let mut backoff = BACKOFF_MIN;
        loop {
            let connected = match self.address_of(peer) {
                Some(address) => connect(address).await.ok(),
                None => None,
            };
            let Some(channel) = connected else {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
                // What queued while the peer was away is stale: drop it.
                while batches.try_recv().is_ok() {}
                if batches.is_closed() {
                    return;
                }
                continue;
            };
            backoff = BACKOFF_MIN;
            let (frames, frame_stream) = mpsc::channel::<RaftFrame>(64);
            let mut request = tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(frame_stream));
            self.stamp(&mut request);
            let mut client = RaftClient::new(channel);
            let call = client.stream(request);
            tokio::pin!(call);
            loop {
                tokio::select! {
                    result = &mut call => {
                        if let Err(status) = result {
                            tracing::warn!(peer = peer.0, "raft stream closed: {}", status.message());
                        }
                        break;
                    }
                    batch = batches.recv() => {
                        let Some(batch) = batch else { return };
                        if send_chunked(&frames, batch).await.is_err() {
                            break;
                        }
                    }
                }
            }
            tokio::time::sleep(backoff).await;
        }
    }
}

async fn send_chunked(frames: &mpsc::Sender<RaftFrame>, batch: Vec<u8>) -> Result<(), ()> {
    let chunks: Vec<&[u8]> = if batch.is_empty() { vec![&[][..]] } else { batch.chunks(CHUNK_BYTES).collect() };
    let count = chunks.len();
    for (position, chunk) in chunks.into_iter().enumerate() {
        let frame = RaftFrame { chunk: chunk.to_vec(), last: position + 1 == count };
        frames.send(frame).await.map_err(|_| ())?;
    }
    Ok(())
}

fn endpoint(address: SocketAddr) -> Endpoint {
    Endpoint::from_shared(format!("http://{address}"))
        .expect("a socket address makes a valid URI")
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true)
}

/// Connects now; fails fast when nothing listens.
pub async fn connect(address: SocketAddr) -> Result<Channel, tonic::transport::Error> {
    endpoint(address).connect().await
}

/// A channel that connects on first use and reconnects by itself.
pub fn lazy_channel(address: SocketAddr) -> Channel {
    endpoint(address).connect_lazy()
}
