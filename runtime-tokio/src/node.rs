//! A running node: initialisation of a data directory, start-up, and shutdown.
//!
//! # Initialising
//! - A single node (`shardforge init --single-node`): the data directory gets
//!   a new cluster id, node id 1, and the first range with this node as its
//!   only voter.
//! - The first nodes of a cluster share a join list that names each of them.
//!   A node's id is its position in the list (from 1). The node listed first
//!   bootstraps: once every listed node answers, it draws the cluster id. The
//!   others wait until the first one reports a cluster id and take it. Each
//!   writes the same first range (voters: the first three ids) itself, which is
//!   safe because `store::bootstrap` is deterministic; no node serves
//!   Raft before it holds an identity.
//!
//! - A node joining a running cluster has a join list that does not name it:
//!   it asks the members listed for a node id (`Admin.Join`), and the member
//!   records it in the node registry (see [`crate::registry`]). It starts with
//!   no replicas; the rebalancer ([`crate::rebalancer`]) gives it some.
//!
//! # Starting
//! Open the engine, read the identity, bind the RPC port (a port in use is an
//! error before anything runs), recover the store, then run the driver and the
//! gRPC server until shutdown is asked for.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use shardforge_core::raft::RaftConfig;
use shardforge_core::store::{self, Store, StoreConfig};
use shardforge_core::types::NodeId;
use shardforge_proto::node::admin_client::AdminClient;
use shardforge_proto::node::{
    admin_server, kv_server, raft_server, ranges_server, JoinRequest, JoinResponse, StatusRequest,
};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::address_book;
use crate::config::Config;
use crate::driver::{Driver, StoreHandle};
use crate::engine::RocksEngine;
use crate::gateway::GrpcTransport;
use crate::identity::{self, Identity};
use crate::kv::Kv;
use crate::peers::{self, Peers};
use crate::services::Services;
use crate::{rebalancer, registry};

/// How long a stopping node lets calls in flight finish.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);
/// How often a node joining a new cluster asks the others again.
const BOOTSTRAP_POLL: Duration = Duration::from_millis(200);
/// How long a joining node waits for one member's answer.
const JOIN_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a node cannot be initialised or started: one line for the operator.
#[derive(Debug)]
pub struct NodeError(pub String);

impl fmt::Display for NodeError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl std::error::Error for NodeError {}

fn open_engine(data_dir: &Path) -> Result<RocksEngine, NodeError> {
    std::fs::create_dir_all(data_dir)
        .map_err(|error| NodeError(format!("cannot create data directory {}: {error}", data_dir.display())))?;
    RocksEngine::open(data_dir)
        .map_err(|error| NodeError(format!("cannot open data directory {}: {}", data_dir.display(), error.0)))
}

fn storage_failure(data_dir: &Path) -> impl Fn(shardforge_core::storage::StorageError) -> NodeError + '_ {
    move |error| NodeError(format!("data directory {}: {}", data_dir.display(), error.0))
}

/// Initialises `data_dir` as the only node of a new cluster. Refuses a data
/// directory that already belongs to a cluster.
pub fn initialise_single_node(data_dir: &Path) -> Result<Identity, NodeError> {
    let mut engine = open_engine(data_dir)?;
    if let Some(existing) = identity::read(&engine).map_err(storage_failure(data_dir))? {
        return Err(NodeError(format!(
            "data directory {} already holds {existing}; refusing to overwrite it",
            data_dir.display()
        )));
    }
    let identity = Identity { cluster: identity::new_cluster_id(), node: NodeId(1) };
    write_first_range(&mut engine, &identity, 1).map_err(storage_failure(data_dir))?;
    Ok(identity)
}

/// The first range (synced), then the identity: a crash between the two leaves
/// no identity, and initialising again rewrites the same range.
fn write_first_range(
    engine: &mut RocksEngine,
    identity: &Identity,
    initial_nodes: usize,
) -> Result<(), shardforge_core::storage::StorageError> {
    let voters: Vec<NodeId> = (1..=initial_nodes.min(registry::REPLICATION_FACTOR) as u64).map(NodeId).collect();
    store::bootstrap(engine, &voters)?;
    identity::write(engine, identity)
}

/// A node that is running; dropping it does not stop it, [`RunningNode::stop`] does.
pub struct RunningNode {
    pub identity: Identity,
    pub rpc_address: SocketAddr,
    /// Where PostgreSQL clients connect.
    pub sql_address: SocketAddr,
    shutdown: watch::Sender<bool>,
    driver: tokio::task::JoinHandle<Result<(), String>>,
    server: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
    /// The registry's and the rebalancer's tasks.
    background: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningNode {
    /// Stops serving, lets the driver finish its turn, and closes the engine.
    pub async fn stop(self) -> Result<(), NodeError> {
        let _ = self.shutdown.send(true);
        for task in &self.background {
            task.abort();
        }
        let driver = self.driver.await.map_err(|error| NodeError(format!("driver task failed: {error}")))?;
        driver.map_err(|error| NodeError(format!("storage failure: {error}")))?;
        // Graceful shutdown waits for open streams, and peers keep theirs open:
        // give calls in flight a moment, then close the rest.
        let mut server = self.server;
        if tokio::time::timeout(SHUTDOWN_GRACE, &mut server).await.is_err() {
            server.abort();
        }
        Ok(())
    }

    /// Waits until the node stops by itself (a storage failure), or forever.
    pub async fn wait_for_failure(&mut self) -> NodeError {
        match (&mut self.driver).await {
            Ok(Ok(())) => NodeError("the driver stopped".into()),
            Ok(Err(error)) => NodeError(format!("storage failure: {error}")),
            Err(error) => NodeError(format!("driver task failed: {error}")),
        }
    }
}

/// Starts a node from `config`.
pub async fn start(config: &Config) -> Result<RunningNode, NodeError> {
    config.check().map_err(NodeError)?;
    let opening = std::time::Instant::now();
    let mut engine = open_engine(&config.data_dir)?;
    tracing::info!(elapsed = ?opening.elapsed(), "opened the data directory");
    let listener = TcpListener::bind(config.rpc_addr)
        .await
        .map_err(|error| NodeError(format!("cannot listen on rpc_addr {}: {error}", config.rpc_addr)))?;
    let stored = identity::read(&engine).map_err(storage_failure(&config.data_dir))?;
    let (identity, listener) = match stored {
        Some(identity) => {
            check_join_list(config, &identity).await?;
            (identity, listener)
        }
        None if config.join.is_empty() => {
            return Err(NodeError(format!(
                "data directory {} is not initialised: run `shardforge init --single-node --data-dir {}` first, \
                 or give the node a join list",
                config.data_dir.display(),
                config.data_dir.display()
            )))
        }
        None if config.join.contains(&config.rpc_addr) => join_new_cluster(config, &mut engine, listener).await?,
        None => join_running_cluster(config, &mut engine, listener).await?,
    };
    let recovering = std::time::Instant::now();
    let store =
        Store::new(store_config(config, identity.node), &mut engine).map_err(storage_failure(&config.data_dir))?;
    tracing::info!(replicas = store.ranges().count(), elapsed = ?recovering.elapsed(), "recovered the store");
    let rpc_address = listener.local_addr().map_err(|error| NodeError(format!("rpc listener: {error}")))?;
    let book = initial_book(config, identity.node)?;
    let peers = Arc::new(Peers::new(identity.node, rpc_address, identity.cluster.clone(), book));
    let tick_interval = Duration::from_millis(config.tuning.tick_interval_millis);
    let (driver, handle) = Driver::new(store, engine, Arc::clone(&peers), tick_interval);
    let (shutdown, stopping) = watch::channel(false);
    let driver = run_on_own_thread(driver, stopping.clone())?;
    let services = services(config, handle, Arc::clone(&peers));
    let (kv, registry) = (Arc::clone(&services.kv), Arc::clone(&services.registry));
    let initial_nodes = config.join.len().max(1) as u64;
    let data_dir = config.data_dir.clone();
    let background = vec![
        tokio::spawn(registry::maintain(
            Arc::clone(&registry),
            Arc::clone(&kv),
            peers,
            data_dir,
            rpc_address,
            initial_nodes,
        )),
        tokio::spawn(rebalancer::run(services.clone(), kv, registry, stopping.clone())),
    ];
    let sql_listener = TcpListener::bind(config.sql_addr)
        .await
        .map_err(|error| NodeError(format!("cannot listen on sql_addr {}: {error}", config.sql_addr)))?;
    let sql_address = sql_listener.local_addr().map_err(|error| NodeError(format!("sql listener: {error}")))?;
    let worker = crate::sql::SqlWorker::start(Arc::clone(&services.kv))
        .map_err(|error| NodeError(format!("cannot start the SQL worker: {error}")))?;
    let mut background = background;
    background.push(tokio::spawn(crate::sql::serve(sql_listener, Arc::new(worker), stopping.clone())));
    let server = tokio::spawn(serve(listener, services, stopping));
    tracing::info!(%rpc_address, %sql_address, "{identity} is up");
    Ok(RunningNode { identity, rpc_address, sql_address, shutdown, driver, server, background })
}

/// Runs the driver on a thread of its own: its syncs block that thread only,
/// and the runtime's workers keep serving calls meanwhile.
fn run_on_own_thread(
    driver: Driver,
    stopping: watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<Result<(), String>>, NodeError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| NodeError(format!("cannot start the driver's runtime: {error}")))?;
    let (finished, result) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("shardforge-driver".into())
        .spawn(move || {
            let _ = finished.send(runtime.block_on(driver.run(stopping)));
        })
        .map_err(|error| NodeError(format!("cannot start the driver's thread: {error}")))?;
    Ok(tokio::spawn(async move { result.await.unwrap_or_else(|_| Err("the driver's thread panicked".into())) }))
}

fn services(config: &Config, store: StoreHandle, peers: Arc<Peers>) -> Services {
    let transport = GrpcTransport::new(store.clone(), Arc::clone(&peers));
    let max_offset_nanos = config.tuning.max_offset_millis * 1_000_000;
    let kv = Kv::new(transport, max_offset_nanos, config.tuning.strict_serializable);
    Services { store, peers, kv: Arc::new(kv), registry: Arc::default() }
}

async fn serve(
    listener: TcpListener,
    services: Services,
    mut stopping: watch::Receiver<bool>,
) -> Result<(), tonic::transport::Error> {
    // The builder's `tcp_nodelay` covers only listeners it binds itself: set it
    // on every accepted connection, or Nagle's algorithm holds small answers
    // back until the peer's delayed acknowledgement (40 ms on Linux).
    let incoming = tokio_stream::StreamExt::map(tokio_stream::wrappers::TcpListenerStream::new(listener), |stream| {
        stream.inspect(|stream| {
            let _ = stream.set_nodelay(true);
        })
    });
    tonic::transport::Server::builder()
        .add_service(raft_server::RaftServer::new(services.clone()))
        .add_service(ranges_server::RangesServer::new(services.clone()))
        .add_service(kv_server::KvServer::new(services.clone()))
        .add_service(admin_server::AdminServer::new(services))
        .serve_with_incoming_shutdown(incoming, async move {
            let _ = stopping.wait_for(|stop| *stop).await;
        })
        .await
}

/// Where the other nodes listen, as far as this node knows before it can read
/// the registry: the address book it kept, and for the first nodes of a
/// cluster the join list (a node's id is its position in it).
fn initial_book(config: &Config, node: NodeId) -> Result<BTreeMap<NodeId, SocketAddr>, NodeError> {
    let mut book = address_book::read(&config.data_dir).map_err(NodeError)?;
    if config.join.contains(&config.rpc_addr) {
        let ids = (1..).map(NodeId);
        book.extend(ids.zip(config.join.iter().copied()));
    }
    book.remove(&node);
    Ok(book)
}

fn store_config(config: &Config, node: NodeId) -> StoreConfig {
    let tuning = &config.tuning;
    let mut raft = RaftConfig::new(node, crate::clock::random_u64());
    raft.election_timeout_ticks_min = tuning.election_timeout_ticks_min;
    raft.election_timeout_ticks_max = tuning.election_timeout_ticks_max;
    raft.heartbeat_interval_ticks = tuning.heartbeat_interval_ticks;
    StoreConfig {
        node,
        raft,
        tick_interval_nanos: tuning.tick_interval_millis * 1_000_000,
        compaction_threshold_entries: tuning.compaction_threshold_entries,
        compaction_threshold_bytes: tuning.compaction_threshold_bytes,
        heartbeat_expiry_nanos: 10 * tuning.election_timeout_ticks_max as u64 * tuning.tick_interval_millis * 1_000_000,
        split_threshold_bytes: Some(tuning.split_threshold_bytes),
        split_check_interval_ticks: tuning.split_check_interval_ticks,
        garbage_collection_ttl_nanos: Some(tuning.garbage_collection_ttl_seconds * 1_000_000_000),
        max_offset_nanos: tuning.max_offset_millis * 1_000_000,
        timestamp_cache_entries_max: shardforge_core::range::TIMESTAMP_CACHE_ENTRIES_MAX_DEFAULT,
        snapshot: shardforge_core::replica::SnapshotLimits {
            chunk_bytes_max: tuning.snapshot_chunk_bytes,
            ..Default::default()
        },
        knobs: Default::default(),
    }
}

/// Initialises this node as one of a new cluster's first nodes (module doc).
async fn join_new_cluster(
    config: &Config,
    engine: &mut RocksEngine,
    listener: TcpListener,
) -> Result<(Identity, TcpListener), NodeError> {
    let position = config.join.iter().position(|address| *address == config.rpc_addr).expect("listed");
    let node = NodeId(position as u64 + 1);
    // Until it has an identity, the node answers status calls only, with no cluster.
    let (stop_answering, answering) = watch::channel(false);
    let answering = tokio::spawn(answer_uninitialised(listener, node, answering));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(config.tuning.join_timeout_seconds);
    let cluster = if position == 0 {
        for address in &config.join[1..] {
            tracing::info!(%address, "waiting for the node to answer before bootstrapping");
            let cluster = wait_for_answer(*address, deadline, |_| true).await?;
            if !cluster.is_empty() {
                return Err(NodeError(format!(
                    "{address} already belongs to cluster {cluster}: the join list names a running cluster"
                )));
            }
        }
        identity::new_cluster_id()
    } else {
        let first = config.join[0];
        tracing::info!(%first, "waiting for the first node to bootstrap the cluster");
        wait_for_answer(first, deadline, |cluster| !cluster.is_empty()).await?
    };
    let _ = stop_answering.send(true);
    let _ = answering.await;
    let identity = Identity { cluster, node };
    write_first_range(engine, &identity, config.join.len()).map_err(storage_failure(&config.data_dir))?;
    tracing::info!("initialised as {identity}");
    // The placeholder server closed the socket; take the port again (tokio
    // sets SO_REUSEADDR, so nothing lingers).
    let listener = TcpListener::bind(config.rpc_addr)
        .await
        .map_err(|error| NodeError(format!("cannot listen on rpc_addr {}: {error}", config.rpc_addr)))?;
    Ok((identity, listener))
}

/// Joins a running cluster through the members in the join list (module doc):
/// asks them in turn for a node id until one gives it, then writes the
/// identity and the address book the member sent. The join token is kept in
/// the data directory first, so a join retried after a crash gets the same id.
async fn join_running_cluster(
    config: &Config,
    engine: &mut RocksEngine,
    listener: TcpListener,
) -> Result<(Identity, TcpListener), NodeError> {
    let token = match identity::read_join_token(engine).map_err(storage_failure(&config.data_dir))? {
        Some(token) => token,
        None => {
            let token = crate::clock::random_u64().max(1);
            identity::write_join_token(engine, token).map_err(storage_failure(&config.data_dir))?;
            token
        }
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(config.tuning.join_timeout_seconds);
    let request = JoinRequest { rpc_address: config.rpc_addr.to_string(), token };
    let answer = 'asking: loop {
        for address in &config.join {
            match ask_to_join(*address, request.clone()).await {
                Ok(answer) => break 'asking answer,
                Err(status) if refused(&status) => {
                    return Err(NodeError(format!("{address} refused the join: {}", status.message())))
                }
                Err(status) => tracing::info!(%address, reason = status.message(), "asking to join; trying again"),
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(NodeError(format!(
                "no node of the join list {} let this node join in time (tuning.join_timeout_seconds)",
                config.join.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
            )));
        }
        tokio::time::sleep(BOOTSTRAP_POLL).await;
    };
    let node = NodeId(answer.node);
    let mut book = BTreeMap::new();
    for member in &answer.nodes {
        let address =
            member.rpc_address.parse().map_err(|_| NodeError(format!("bad address {:?}", member.rpc_address)))?;
        book.insert(NodeId(member.id), address);
    }
    book.remove(&node);
    address_book::write(&config.data_dir, &book)
        .map_err(|error| NodeError(format!("cannot write the address book: {error}")))?;
    let identity = Identity { cluster: answer.cluster_id, node };
    identity::write(engine, &identity).map_err(storage_failure(&config.data_dir))?;
    tracing::info!("joined as {identity}");
    Ok((identity, listener))
}

/// Whether a member refused a join for good (rather than "not now").
fn refused(status: &tonic::Status) -> bool {
    matches!(status.code(), tonic::Code::FailedPrecondition | tonic::Code::InvalidArgument)
}

async fn ask_to_join(address: SocketAddr, request: JoinRequest) -> Result<JoinResponse, tonic::Status> {
    let channel = peers::connect(address).await.map_err(|error| tonic::Status::unavailable(error.to_string()))?;
    let mut request = tonic::Request::new(request);
    request.set_timeout(JOIN_CALL_TIMEOUT);
    Ok(AdminClient::new(channel).join(request).await?.into_inner())
}

/// Answers status calls, with no cluster, until `stop`.
async fn answer_uninitialised(listener: TcpListener, node: NodeId, mut stop: watch::Receiver<bool>) {
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    let result = tonic::transport::Server::builder()
        .add_service(admin_server::AdminServer::new(UninitialisedAdmin { node }))
        .serve_with_incoming_shutdown(incoming, async move {
            let _ = stop.wait_for(|stop| *stop).await;
        })
        .await;
    if let Err(error) = result {
        tracing::warn!("status server before bootstrap: {error}");
    }
}

/// The status service of a node that has no cluster yet.
struct UninitialisedAdmin {
    node: NodeId,
}

#[tonic::async_trait]
impl admin_server::Admin for UninitialisedAdmin {
    async fn status(
        &self,
        _request: tonic::Request<StatusRequest>,
    ) -> Result<tonic::Response<shardforge_proto::node::StatusResponse>, tonic::Status> {
        Ok(tonic::Response::new(shardforge_proto::node::StatusResponse {
            cluster_id: String::new(),
            node: self.node.0,
            nodes: Vec::new(),
            ranges: Vec::new(),
        }))
    }

    async fn join(
        &self,
        _request: tonic::Request<JoinRequest>,
    ) -> Result<tonic::Response<JoinResponse>, tonic::Status> {
        Err(tonic::Status::unavailable("this node has no cluster yet"))
    }

    async fn decommission(
        &self,
        _request: tonic::Request<shardforge_proto::node::DecommissionRequest>,
    ) -> Result<tonic::Response<shardforge_proto::node::DecommissionResponse>, tonic::Status> {
        Err(tonic::Status::unavailable("this node has no cluster yet"))
    }
}

/// Asks `address` for its cluster id until the answer satisfies `enough`, or
/// fails once `deadline` passes.
async fn wait_for_answer(
    address: SocketAddr,
    deadline: tokio::time::Instant,
    enough: impl Fn(&str) -> bool,
) -> Result<String, NodeError> {
    loop {
        if let Some(cluster) = cluster_of(address).await.filter(|cluster| enough(cluster)) {
            return Ok(cluster);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(NodeError(format!(
                "join address {address} did not answer in time (tuning.join_timeout_seconds)"
            )));
        }
        tokio::time::sleep(BOOTSTRAP_POLL).await;
    }
}

/// Refuses to start a node whose join list names nodes of another cluster
/// (a data directory reused, or a join list copied from elsewhere). Nodes that
/// do not answer are skipped: a cluster must start with some nodes down.
async fn check_join_list(config: &Config, identity: &Identity) -> Result<(), NodeError> {
    for address in config.join.iter().filter(|address| **address != config.rpc_addr) {
        if let Some(cluster) = cluster_of(*address).await.filter(|cluster| !cluster.is_empty()) {
            if cluster != identity.cluster {
                return Err(NodeError(format!(
                    "data directory {} holds {identity}, but join address {address} belongs to cluster {cluster}",
                    config.data_dir.display()
                )));
            }
        }
    }
    Ok(())
}

/// The cluster id a node reports (empty: not initialised); None when it does not answer.
async fn cluster_of(address: SocketAddr) -> Option<String> {
    let channel = peers::connect(address).await.ok()?;
    let mut request = tonic::Request::new(StatusRequest { local_only: true });
    request.set_timeout(Duration::from_secs(1));
    let answer = AdminClient::new(channel).status(request).await.ok()?;
    Some(answer.into_inner().cluster_id)
}
