//! A simulated client: sends one request at a time to a node and waits a bounded
//! time for the answer. No answer in time means the outcome is unknown.

use std::sync::Arc;
use std::time::Duration;

use madsim::net::Endpoint;
use shardforge_core::replica::{Request, RequestError};
use shardforge_core::store::StoreRequest;
use shardforge_core::txn::gateway::NodeTransport;
use shardforge_core::types::{NodeId, Time};

use crate::network::{self, NetworkFaults, ReplyEnvelope, RequestEnvelope, CLIENT_TAG};

/// One client's connection to the cluster. Must run on a madsim node whose
/// address is `network::client_ip(id)`.
pub struct SimClient {
    id: u64,
    /// The clock whose reading stamps every request, if any.
    clock: Option<crate::clock::SkewedClock>,
    endpoint: Arc<Endpoint>,
    faults: NetworkFaults,
    next_request_id: u64,
}

impl SimClient {
    pub async fn bind(id: u64, faults: NetworkFaults) -> SimClient {
        SimClient::bind_on(id, std::net::SocketAddr::new(network::client_ip(id), 7000), faults).await
    }

    /// A client on an explicit address (several clients can share one simulated host).
    pub async fn bind_on(id: u64, address: std::net::SocketAddr, faults: NetworkFaults) -> SimClient {
        let endpoint = Arc::new(Endpoint::bind(address).await.expect("bind client address"));
        SimClient { id, endpoint, faults, next_request_id: 0, clock: None }
    }

    /// Stamps every request with `clock`'s reading when sent (the gateway's
    /// clock, which nodes check against their own).
    pub fn with_clock(mut self, clock: crate::clock::SkewedClock) -> SimClient {
        self.clock = Some(clock);
        self
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    /// Sends `request` for `group` to `node`; None when no answer came within `timeout`.
    pub async fn request(
        &mut self,
        node: NodeId,
        group: u64,
        request: Request,
        timeout: Duration,
    ) -> Option<Result<Vec<u8>, RequestError>> {
        self.next_request_id += 1;
        let request_id = self.next_request_id;
        let envelope = RequestEnvelope {
            client_id: self.id,
            request_id,
            group,
            request,
            sender_clock: self.clock.as_ref().map(|clock| clock.now()),
        };
        network::send_value(&self.endpoint, &self.faults, network::node_address(node), CLIENT_TAG, envelope).await;
        let endpoint = Arc::clone(&self.endpoint);
        let wait_for_reply = async move {
            loop {
                let Ok((payload, _)) = endpoint.recv_from_raw(CLIENT_TAG).await else { continue };
                match payload.downcast::<ReplyEnvelope>() {
                    Ok(reply) if reply.request_id == request_id => return reply.result,
                    // A late answer to an earlier request: its outcome was already recorded as unknown.
                    _ => continue,
                }
            }
        };
        madsim::time::timeout(timeout, wait_for_reply).await.ok()
    }
}

/// How long a gateway waits for one answer before asking again (elsewhere).
const GATEWAY_ANSWER_TIMEOUT: Duration = Duration::from_millis(150);
/// A gateway's pause before retrying after a failure that another try soon would repeat.
const GATEWAY_RETRY_PAUSE: Duration = Duration::from_millis(20);

/// A gateway's transport in the simulator: a [`SimClient`] stamping requests
/// with the skewed clock of the node the gateway runs beside.
pub struct SimTransport {
    client: SimClient,
    clock: crate::clock::SkewedClock,
}

impl SimTransport {
    pub fn new(client: SimClient, clock: crate::clock::SkewedClock) -> SimTransport {
        SimTransport { client: client.with_clock(clock.clone()), clock }
    }

    pub fn client_id(&self) -> u64 {
        self.client.id()
    }

    /// Sends a request that is not the store's (the status group) to `node`.
    pub async fn request_group(
        &mut self,
        node: NodeId,
        group: u64,
        request: Request,
    ) -> Option<Result<Vec<u8>, RequestError>> {
        self.client.request(node, group, request, GATEWAY_ANSWER_TIMEOUT).await
    }
}

impl NodeTransport for SimTransport {
    async fn request(&mut self, node: NodeId, request: StoreRequest) -> Option<Result<Vec<u8>, RequestError>> {
        let (group, request) = request.into_wire();
        self.client.request(node, group, request, GATEWAY_ANSWER_TIMEOUT).await
    }

    async fn pause(&mut self) {
        madsim::time::sleep(GATEWAY_RETRY_PAUSE).await;
    }

    fn clock(&mut self) -> Time {
        self.clock.now()
    }
}

/// The KV client's runtime in the simulator: madsim's clock, and the seeded
/// generator of the simulation, so every retry and transaction id replays.
#[derive(Clone, Copy, Debug, Default)]
pub struct SimRuntime;

impl shardforge_core::kv::KvRuntime for SimRuntime {
    async fn sleep(&mut self, nanos: u64) {
        madsim::time::sleep(Duration::from_nanos(nanos)).await;
    }

    fn random_u64(&mut self) -> u64 {
        madsim::rand::random()
    }
}
