//! The node's gRPC services (see `proto/node.proto`): the receiving side of
//! the Raft transport, range calls from gateways, the KV API, and status.
//!
//! Every call between nodes carries the cluster id; a node of another cluster
//! (a data directory reused, a join list pointing at the wrong cluster) is
//! refused with `FAILED_PRECONDITION`, never served.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use shardforge_core::replica::{Request, RequestError};
use shardforge_core::store::{StoreRequest, LOOKUP_GROUP};
use shardforge_core::types::{NodeId, Time};
use shardforge_proto::node::admin_client::AdminClient;
use shardforge_proto::node::{
    admin_server, kv_server, operation, operation_result, raft_server, ranges_server, DecommissionRequest,
    DecommissionResponse, GetRequest, GetResponse, JoinRequest, JoinResponse, KeyValue, NodeStatus, OperationResult,
    PutRequest, PutResponse, RaftFrame, RangeAnswer, RangeCall, RangeStatus, ScanRequest, ScanResponse, StatusRequest,
    StatusResponse, StreamClosed, TransactionRequest, TransactionResponse,
};
use tonic::{Request as GrpcRequest, Response, Status, Streaming};

use crate::driver::StoreHandle;
use crate::gateway::encode_answer;
use crate::kv::{Kv, KvError, Operation, OperationResult as KvResult};
use crate::peers::{Peers, ADDRESS_HEADER, CLUSTER_HEADER, NODE_HEADER};
use crate::registry::{self, Registry};

/// The largest Raft batch a peer may send, joined from its chunks. A batch is
/// the messages of one output to one peer, each bounded by its own limit
/// (appends by `append_bytes_max`, snapshots stream in chunks of
/// `SnapshotLimits::chunk_bytes_max`, a few in flight), so a batch this large
/// is a peer gone wrong, not a big range.
const BATCH_BYTES_MAX: usize = 64 << 20;
/// How long a range call waits for the store before answering "outcome unknown".
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a status call waits for each other node.
const STATUS_TIMEOUT: Duration = Duration::from_secs(1);

/// What every service needs.
#[derive(Clone)]
pub struct Services {
    pub store: StoreHandle,
    pub peers: Arc<Peers>,
    pub kv: Arc<Kv>,
    pub registry: Arc<Registry>,
}

impl Services {
    /// Refuses calls from another cluster, and learns where the caller listens.
    fn admit<T>(&self, request: &GrpcRequest<T>) -> Result<(), Status> {
        let metadata = request.metadata();
        let header = |name: &str| metadata.get(name).and_then(|value| value.to_str().ok());
        match header(CLUSTER_HEADER) {
            Some(cluster) if cluster == self.peers.cluster() => {}
            Some(cluster) => {
                let ours = self.peers.cluster();
                return Err(Status::failed_precondition(format!(
                    "this node belongs to cluster {ours}, the caller to cluster {cluster}"
                )));
            }
            None => return Err(Status::failed_precondition("a call between nodes must name its cluster")),
        }
        let node = header(NODE_HEADER).and_then(|node| node.parse::<u64>().ok()).filter(|node| *node != 0);
        let address = header(ADDRESS_HEADER).and_then(|address| address.parse().ok());
        if let (Some(node), Some(address)) = (node, address) {
            self.peers.learn(NodeId(node), address);
        }
        Ok(())
    }
}

#[tonic::async_trait]
impl raft_server::Raft for Services {
    async fn stream(&self, request: GrpcRequest<Streaming<RaftFrame>>) -> Result<Response<StreamClosed>, Status> {
        self.admit(&request)?;
        let mut frames = request.into_inner();
        let mut pending = Vec::new();
        while let Some(frame) = frames.message().await? {
            pending.extend_from_slice(&frame.chunk);
            if pending.len() > BATCH_BYTES_MAX {
                return Err(Status::resource_exhausted("raft batch above 64 MiB"));
            }
            if !frame.last {
                continue;
            }
            let messages = shardforge_proto::decode_group_batch(&pending)
                .map_err(|error| Status::invalid_argument(format!("undecodable raft batch: {error}")))?;
            pending.clear();
            for (group, message) in messages {
                // A message for another node (a peer with a stale address book) is dropped.
                if message.to == self.peers.node() {
                    self.store.deliver(group, message);
                }
            }
        }
        Ok(Response::new(StreamClosed {}))
    }
}

#[tonic::async_trait]
impl ranges_server::Ranges for Services {
    async fn call(&self, request: GrpcRequest<RangeCall>) -> Result<Response<RangeAnswer>, Status> {
        self.admit(&request)?;
        let RangeCall { group, command, sender_clock_nanos } = request.into_inner();
        let request = if group == LOOKUP_GROUP { Request::Read(command) } else { Request::Propose(command) };
        let request = match StoreRequest::from_wire(group, request) {
            Ok(request) => request,
            Err(error) => return Ok(Response::new(encode_answer(Err(error)))),
        };
        let sender_clock = (sender_clock_nanos != 0).then_some(Time(sender_clock_nanos));
        let answer = tokio::time::timeout(CALL_TIMEOUT, self.store.request(request, sender_clock)).await;
        Ok(Response::new(encode_answer(answer.unwrap_or(Err(RequestError::OutcomeUnknown)))))
    }
}

fn kv_status(error: KvError) -> Status {
    match &error {
        KvError::Invalid(_) => Status::invalid_argument(error.to_string()),
        KvError::Conflict(_) => Status::aborted(error.to_string()),
        KvError::OutcomeUnknown => Status::unavailable(error.to_string()),
        KvError::Refused(_) => Status::failed_precondition(error.to_string()),
        KvError::Unavailable(_) => Status::unavailable(error.to_string()),
        KvError::Internal(_) => Status::internal(error.to_string()),
    }
}

fn scan_operation(scan: ScanRequest) -> Operation {
    let end = (!scan.end.is_empty()).then_some(scan.end);
    Operation::Scan { start: scan.start, end, limit: scan.limit as usize }
}

fn pairs(rows: Vec<(Vec<u8>, Vec<u8>)>) -> Vec<KeyValue> {
    rows.into_iter().map(|(key, value)| KeyValue { key, value }).collect()
}

impl Services {
    async fn one(&self, operation: Operation) -> Result<KvResult, Status> {
        let mut results = self.kv.transaction(&[operation]).await.map_err(kv_status)?;
        Ok(results.pop().expect("one result per operation"))
    }
}

#[tonic::async_trait]
impl kv_server::Kv for Services {
    async fn get(&self, request: GrpcRequest<GetRequest>) -> Result<Response<GetResponse>, Status> {
        let key = request.into_inner().key;
        match self.one(Operation::Get { key }).await? {
            KvResult::Value(value) => {
                Ok(Response::new(GetResponse { found: value.is_some(), value: value.unwrap_or_default() }))
            }
            other => Err(Status::internal(format!("a get returned {other:?}"))),
        }
    }

    async fn put(&self, request: GrpcRequest<PutRequest>) -> Result<Response<PutResponse>, Status> {
        let PutRequest { key, value } = request.into_inner();
        self.one(Operation::Put { key, value }).await?;
        Ok(Response::new(PutResponse {}))
    }

    async fn scan(&self, request: GrpcRequest<ScanRequest>) -> Result<Response<ScanResponse>, Status> {
        match self.one(scan_operation(request.into_inner())).await? {
            KvResult::Rows(rows) => Ok(Response::new(ScanResponse { pairs: pairs(rows) })),
            other => Err(Status::internal(format!("a scan returned {other:?}"))),
        }
    }

    async fn transaction(
        &self,
        request: GrpcRequest<TransactionRequest>,
    ) -> Result<Response<TransactionResponse>, Status> {
        let mut operations = Vec::new();
        for step in request.into_inner().operations {
            operations.push(match step.operation {
                Some(operation::Operation::Get(get)) => Operation::Get { key: get.key },
                Some(operation::Operation::Put(put)) => Operation::Put { key: put.key, value: put.value },
                Some(operation::Operation::Delete(delete)) => Operation::Delete { key: delete.key },
                Some(operation::Operation::Scan(scan)) => scan_operation(scan),
                None => return Err(Status::invalid_argument("an operation names none of get, put, scan, delete")),
            });
        }
        let results = self.kv.transaction(&operations).await.map_err(kv_status)?;
        let results = operations
            .iter()
            .zip(results)
            .map(|(operation, result)| {
                let result = match (operation, result) {
                    (_, KvResult::Value(value)) => operation_result::Result::Get(GetResponse {
                        found: value.is_some(),
                        value: value.unwrap_or_default(),
                    }),
                    (_, KvResult::Rows(rows)) => operation_result::Result::Scan(ScanResponse { pairs: pairs(rows) }),
                    (Operation::Delete { .. }, KvResult::Written) => operation_result::Result::Delete(PutResponse {}),
                    (_, KvResult::Written) => operation_result::Result::Put(PutResponse {}),
                };
                OperationResult { result: Some(result) }
            })
            .collect();
        Ok(Response::new(TransactionResponse { results }))
    }
}

#[tonic::async_trait]
impl admin_server::Admin for Services {
    async fn status(&self, request: GrpcRequest<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        let local_only = request.get_ref().local_only;
        let mut response = self.local_status().await?;
        if local_only {
            return Ok(Response::new(response));
        }
        for (node, address, remote) in self.other_statuses().await {
            let live = remote.is_some();
            let membership = self.membership_of(node);
            response.nodes.push(NodeStatus { id: node.0, rpc_address: address.to_string(), live, membership });
            response.ranges.extend(remote.into_iter().flat_map(|remote| remote.ranges));
        }
        response.nodes.sort_by_key(|node| node.id);
        response.ranges = merge_ranges(std::mem::take(&mut response.ranges));
        Ok(Response::new(response))
    }

    async fn join(&self, request: GrpcRequest<JoinRequest>) -> Result<Response<JoinResponse>, Status> {
        let JoinRequest { rpc_address, token } = request.into_inner();
        let address = rpc_address
            .parse()
            .map_err(|_| Status::invalid_argument(format!("rpc_address {rpc_address:?} is not HOST:PORT")))?;
        if token == 0 {
            return Err(Status::invalid_argument("a join token must not be 0"));
        }
        let (node, records) = registry::admit(&self.kv, address, token).await.map_err(kv_status)?;
        self.peers.learn(node, address);
        tracing::info!(%node, %address, "a node joined");
        let nodes = records
            .into_iter()
            .map(|(id, record)| NodeStatus {
                id: id.0,
                rpc_address: record.address.to_string(),
                live: false,
                membership: record.membership.to_string(),
            })
            .collect();
        Ok(Response::new(JoinResponse { cluster_id: self.peers.cluster().to_string(), node: node.0, nodes }))
    }

    async fn decommission(
        &self,
        request: GrpcRequest<DecommissionRequest>,
    ) -> Result<Response<DecommissionResponse>, Status> {
        let node = NodeId(request.into_inner().node);
        let membership = registry::decommission(&self.kv, node).await.map_err(kv_status)?;
        tracing::info!(%node, %membership, "decommission asked for");
        Ok(Response::new(DecommissionResponse { membership: membership.to_string() }))
    }
}

impl Services {
    /// What the registry, as last read, says of `node` (empty if it does not say).
    fn membership_of(&self, node: NodeId) -> String {
        self.registry.records().get(&node).map(|record| record.membership.to_string()).unwrap_or_default()
    }

    pub(crate) async fn local_status(&self) -> Result<StatusResponse, Status> {
        let store = self.store.status().await.ok_or_else(|| Status::unavailable("the node is stopping"))?;
        let node = self.peers.node();
        let address = self.peers.address_of(node).map(|address| address.to_string()).unwrap_or_default();
        let ranges = store
            .replicas
            .into_iter()
            .map(|replica| RangeStatus {
                id: replica.range,
                start: replica.start,
                end: replica.end,
                generation: replica.generation,
                leader: replica.leader.map_or(0, |leader| leader.0),
                replicas: replica.replicas.iter().map(|node| node.0).collect(),
                applied_index: replica.applied_index,
                start_key: replica.start_key,
            })
            .collect();
        let membership = self.membership_of(node);
        Ok(StatusResponse {
            cluster_id: self.peers.cluster().to_string(),
            node: node.0,
            nodes: vec![NodeStatus { id: node.0, rpc_address: address, live: true, membership }],
            ranges,
        })
    }

    /// Every other node this one knows, with its own view (None: it did not answer).
    pub(crate) async fn other_statuses(&self) -> Vec<(NodeId, SocketAddr, Option<StatusResponse>)> {
        let mut statuses = Vec::new();
        for (node, address) in self.peers.addresses() {
            if node != self.peers.node() {
                statuses.push((node, address, self.remote_status(node).await));
            }
        }
        statuses
    }

    async fn remote_status(&self, node: NodeId) -> Option<StatusResponse> {
        let channel = self.peers.channel(node)?;
        let mut request = GrpcRequest::new(StatusRequest { local_only: true });
        request.set_timeout(STATUS_TIMEOUT);
        let answer = AdminClient::new(channel).status(request).await.ok()?.into_inner();
        (answer.cluster_id == self.peers.cluster()).then_some(answer)
    }
}

/// One entry per range: the replica with the newest descriptor, then the
/// furthest applied, whose leader is known if any replica knows it.
fn merge_ranges(ranges: Vec<RangeStatus>) -> Vec<RangeStatus> {
    let mut merged: std::collections::BTreeMap<u64, RangeStatus> = Default::default();
    for range in ranges {
        let entry = merged.entry(range.id).or_insert_with(|| range.clone());
        let leader = if entry.leader != 0 { entry.leader } else { range.leader };
        if (range.generation, range.applied_index) > (entry.generation, entry.applied_index) {
            *entry = range;
        }
        if entry.leader == 0 {
            entry.leader = leader;
        }
    }
    merged.into_values().collect()
}
