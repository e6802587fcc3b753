//! Addresses, the client protocol, and message faults at send time.
//!
//! Partitions are madsim's (`NetSim::clog_link`); this module adds what madsim's
//! network does not vary per seed and per moment: loss, duplication and random
//! delay (which reorders). Raft messages travel as protobuf bytes (the `proto`
//! crate), so the codec is exercised on every delivery; client requests travel as
//! in-memory values since their codec belongs to a later client protocol.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use madsim::net::Endpoint;
use madsim::rand::{thread_rng, Rng};
use shardforge_core::replica::{Request, RequestError};
use shardforge_core::types::NodeId;

/// Tag of Raft traffic between nodes.
pub const RAFT_TAG: u64 = 1;
/// Tag of client requests and replies.
pub const CLIENT_TAG: u64 = 2;
const PORT: u16 = 7000;

/// Where node `id` listens.
pub fn node_ip(id: NodeId) -> IpAddr {
    assert!(id.0 > 0 && id.0 < 65_536, "node ids fit the simulated address plan");
    IpAddr::V4(Ipv4Addr::new(10, 0, (id.0 >> 8) as u8, id.0 as u8))
}

pub fn node_address(id: NodeId) -> SocketAddr {
    SocketAddr::new(node_ip(id), PORT)
}

/// Where client `id` listens.
pub fn client_ip(id: u64) -> IpAddr {
    assert!(id < 65_536, "client ids fit the simulated address plan");
    IpAddr::V4(Ipv4Addr::new(10, 1, (id >> 8) as u8, id as u8))
}

/// The node an address belongs to, if it is a node's.
pub fn node_of(address: SocketAddr) -> Option<NodeId> {
    match address.ip() {
        IpAddr::V4(ip) if ip.octets()[..2] == [10, 0] => {
            Some(NodeId(u64::from(ip.octets()[2]) << 8 | u64::from(ip.octets()[3])))
        }
        _ => None,
    }
}

/// A client's request as it travels to a node.
#[derive(Clone, Debug)]
pub struct RequestEnvelope {
    pub client_id: u64,
    pub request_id: u64,
    /// The Raft group (range) the request is for; see [`crate::program`].
    pub group: u64,
    /// The sender's clock when it sent the request, if it has one to show.
    pub sender_clock: Option<shardforge_core::types::Time>,
    pub request: Request,
}

/// A node's answer as it travels back.
#[derive(Clone, Debug)]
pub struct ReplyEnvelope {
    pub request_id: u64,
    pub result: Result<Vec<u8>, RequestError>,
}

/// How unreliable the network currently is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultSettings {
    pub loss_per_million: u32,
    pub duplicate_per_million: u32,
    /// Each message is delayed uniformly in `[0, delay_max_micros]`.
    pub delay_max_micros: u64,
}

/// Shared, changeable fault settings (the nemesis turns them up and down).
#[derive(Clone, Debug, Default)]
pub struct NetworkFaults {
    settings: Arc<Mutex<FaultSettings>>,
    /// Snapshot chunks still to lose, one message each (see
    /// `FaultKind::LoseSnapshotChunk`): a datagram carries a whole batch, so
    /// random loss takes a transfer's chunks together far more often than one.
    snapshot_chunks_to_lose: Arc<AtomicU32>,
}

impl NetworkFaults {
    /// Loses the next `count` snapshot chunks that have a chunk before and
    /// after them in their transfer.
    pub fn lose_snapshot_chunks(&self, count: u32) {
        self.snapshot_chunks_to_lose.store(count, Ordering::Relaxed);
    }

    pub fn snapshot_chunks_to_lose(&self) -> u32 {
        self.snapshot_chunks_to_lose.load(Ordering::Relaxed)
    }

    /// Whether to lose this middle chunk (and count it lost).
    pub fn take_snapshot_chunk_loss(&self) -> bool {
        let lose = |left: u32| left.checked_sub(1);
        self.snapshot_chunks_to_lose.fetch_update(Ordering::Relaxed, Ordering::Relaxed, lose).is_ok()
    }

    pub fn settings(&self) -> FaultSettings {
        *self.settings.lock().expect("faults lock")
    }

    pub fn set(&self, settings: FaultSettings) {
        *self.settings.lock().expect("faults lock") = settings;
    }

    /// How many copies of a message to deliver, each with its delay.
    fn deliveries(&self, may_duplicate: bool) -> Vec<Duration> {
        let settings = self.settings();
        let mut random = thread_rng();
        if random.gen_range(0..1_000_000) < settings.loss_per_million {
            return Vec::new();
        }
        let duplicate = may_duplicate && random.gen_range(0..1_000_000) < settings.duplicate_per_million;
        let copies = if duplicate { 2 } else { 1 };
        (0..copies).map(|_| Duration::from_micros(random.gen_range(0..=settings.delay_max_micros))).collect()
    }
}

/// Sends bytes under the current faults. Each copy is sent by its own task:
/// a send takes simulated time in madsim, and a node sends to all its peers
/// at once rather than one after another. Delayed copies may be overtaken.
pub async fn send_bytes(endpoint: &Arc<Endpoint>, faults: &NetworkFaults, to: SocketAddr, tag: u64, bytes: Vec<u8>) {
    for delay in faults.deliveries(true) {
        let endpoint = Arc::clone(endpoint);
        let bytes = bytes.clone();
        madsim::task::spawn(async move {
            if !delay.is_zero() {
                madsim::time::sleep(delay).await;
            }
            let _ = endpoint.send_to(to, tag, &bytes).await;
        });
    }
}

/// Sends a client request or reply under the current faults, except duplication:
/// clients talk over connections that never deliver a request twice (TCP), while
/// Raft must and does tolerate duplicates. Exactly-once client writes across
/// retries need client sessions, which belong to the SQL layer's issue.
pub async fn send_value<T: Clone + Send + Sync + 'static>(
    endpoint: &Arc<Endpoint>,
    faults: &NetworkFaults,
    to: SocketAddr,
    tag: u64,
    value: T,
) {
    for delay in faults.deliveries(false) {
        let endpoint = Arc::clone(endpoint);
        let value = value.clone();
        // Its own task, as in `send_bytes`.
        madsim::task::spawn(async move {
            if !delay.is_zero() {
                madsim::time::sleep(delay).await;
            }
            let _ = endpoint.send_to_raw(to, tag, Box::new(value)).await;
        });
    }
}
