//! The client commands: `shardforge kv` and `shardforge status`, over gRPC.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Subcommand;
use shardforge_proto::node::admin_client::AdminClient;
use shardforge_proto::node::kv_client::KvClient;
use shardforge_proto::node::{
    DecommissionRequest, DeleteRequest, GetRequest, Operation, PutRequest, ScanRequest, StatusRequest, StatusResponse,
    TransactionRequest,
};
use shardforge_runtime_tokio::peers;
use shardforge_runtime_tokio::status::printable;

use crate::Outcome;

/// How long a command waits for its answer.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Between two attempts to reach a node that is not listening yet.
const CONNECT_RETRY_PAUSE: Duration = Duration::from_millis(200);

#[derive(Subcommand)]
pub enum KvCommand {
    /// Print KEY's value on a line; print nothing and exit 1 when it is missing.
    Get { key: String },
    /// Set KEY to VALUE.
    Put { key: String, value: String },
    /// Remove KEY.
    Delete { key: String },
    /// Print `key<TAB>value` lines for keys in [START, END).
    Scan {
        #[arg(default_value = "")]
        start: String,
        /// Exclusive; the end of the key space when left out.
        end: Option<String>,
        /// At most this many pairs (0: all).
        #[arg(long, default_value_t = 0)]
        limit: u32,
    },
}

#[derive(Subcommand)]
pub enum NodeCommand {
    /// Move every replica off NODE, then mark it decommissioned, so it can be
    /// stopped for good. Waits until it is done, showing progress.
    Decommission {
        /// The node's id (see `shardforge status`).
        node: u64,
        /// Return once the move has started.
        #[arg(long)]
        no_wait: bool,
        /// Give up waiting after this long (the move goes on in the cluster).
        #[arg(long, default_value_t = 600)]
        timeout_seconds: u64,
    },
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| format!("cannot start the runtime: {error}"))
}

async fn channel(addr: SocketAddr) -> Result<tonic::transport::Channel, String> {
    channel_waiting(addr, Duration::ZERO).await
}

/// Connects, waiting up to `wait` for a node that is not listening yet (one
/// just started binds its port a moment later).
async fn channel_waiting(addr: SocketAddr, wait: Duration) -> Result<tonic::transport::Channel, String> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match peers::connect(addr).await {
            Ok(channel) => return Ok(channel),
            Err(_) if tokio::time::Instant::now() < deadline => tokio::time::sleep(CONNECT_RETRY_PAUSE).await,
            Err(_) if wait.is_zero() => return Err(format!("cannot reach a node at {addr}")),
            Err(_) => return Err(format!("cannot reach a node at {addr} (waited {} s)", wait.as_secs())),
        }
    }
}

fn request<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(CALL_TIMEOUT);
    request
}

fn failure(addr: SocketAddr) -> impl Fn(tonic::Status) -> String {
    move |status| format!("{addr}: {}", status.message())
}

pub fn kv(addr: SocketAddr, command: KvCommand) -> Result<Outcome, String> {
    runtime()?.block_on(async {
        let mut client = KvClient::new(channel(addr).await?);
        match command {
            KvCommand::Get { key } => {
                let answer = client.get(request(GetRequest { key: key.into_bytes() })).await.map_err(failure(addr))?;
                let answer = answer.into_inner();
                if !answer.found {
                    return Ok(Outcome::NotFound);
                }
                println!("{}", String::from_utf8_lossy(&answer.value));
            }
            KvCommand::Put { key, value } => {
                let put = PutRequest { key: key.into_bytes(), value: value.into_bytes() };
                client.put(request(put)).await.map_err(failure(addr))?;
            }
            KvCommand::Delete { key } => {
                let delete = Operation {
                    operation: Some(shardforge_proto::node::operation::Operation::Delete(DeleteRequest {
                        key: key.into_bytes(),
                    })),
                };
                let transaction = TransactionRequest { operations: vec![delete] };
                client.transaction(request(transaction)).await.map_err(failure(addr))?;
            }
            KvCommand::Scan { start, end, limit } => {
                let scan = ScanRequest { start: start.into_bytes(), end: end.unwrap_or_default().into_bytes(), limit };
                let answer = client.scan(request(scan)).await.map_err(failure(addr))?.into_inner();
                for pair in answer.pairs {
                    println!("{}\t{}", printable(&pair.key), String::from_utf8_lossy(&pair.value));
                }
            }
        }
        Ok(Outcome::Done)
    })
}

pub fn node(addr: SocketAddr, command: NodeCommand) -> Result<Outcome, String> {
    let NodeCommand::Decommission { node, no_wait, timeout_seconds } = command;
    runtime()?.block_on(async {
        let mut client = AdminClient::new(channel(addr).await?);
        let answer = client.decommission(request(DecommissionRequest { node })).await.map_err(failure(addr))?;
        println!("node {node} is {}", answer.into_inner().membership);
        if no_wait {
            return Ok(Outcome::Done);
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(timeout_seconds);
        let mut last_count = None;
        loop {
            let status = client.status(request(StatusRequest { local_only: false })).await.map_err(failure(addr))?;
            let status = status.into_inner();
            let membership = status.nodes.iter().find(|entry| entry.id == node).map(|entry| entry.membership.clone());
            let count = replica_count(&status, node);
            if membership.as_deref() == Some("decommissioned") {
                println!("node {node} is decommissioned: it holds no replicas and can be stopped");
                return Ok(Outcome::Done);
            }
            if last_count != Some(count) {
                println!("node {node}: {count} replicas left to move");
                last_count = Some(count);
            }
            if std::time::Instant::now() > deadline {
                return Err(format!(
                    "node {node} still holds {count} replicas after {timeout_seconds} s; the moves go on in the cluster"
                ));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
}

/// How many ranges keep a replica on `node`.
fn replica_count(status: &StatusResponse, node: u64) -> usize {
    status.ranges.iter().filter(|range| range.replicas.contains(&node)).count()
}

pub fn status(addr: SocketAddr, json: bool, wait: Duration) -> Result<Outcome, String> {
    let answer = runtime()?.block_on(async {
        let mut client = AdminClient::new(channel_waiting(addr, wait).await?);
        let answer = client.status(request(StatusRequest { local_only: false })).await.map_err(failure(addr))?;
        Ok::<_, String>(answer.into_inner())
    })?;
    if json {
        println!("{}", status_json(&answer));
    } else {
        print!("{}", status_table(&answer));
    }
    Ok(Outcome::Done)
}

fn node_list(nodes: &[u64]) -> String {
    nodes.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
}

fn status_json(answer: &StatusResponse) -> serde_json::Value {
    let nodes: Vec<_> = answer
        .nodes
        .iter()
        .map(|node| {
            serde_json::json!({
                "id": node.id, "rpc_address": node.rpc_address, "live": node.live,
                "membership": node.membership, "replicas": replica_count(answer, node.id),
            })
        })
        .collect();
    let ranges: Vec<_> = answer
        .ranges
        .iter()
        .map(|range| {
            serde_json::json!({
                "id": range.id, "start": range.start, "end": range.end, "generation": range.generation,
                "leader": (range.leader != 0).then_some(range.leader), "replicas": range.replicas,
                "applied_index": range.applied_index,
            })
        })
        .collect();
    serde_json::json!({"cluster_id": answer.cluster_id, "answered_by": answer.node, "nodes": nodes, "ranges": ranges})
}

fn status_table(answer: &StatusResponse) -> String {
    let mut text = format!("cluster {} (answered by node {})\n\n", answer.cluster_id, answer.node);
    text += &format!("{:<6} {:<22} {:<5} {:<16} {}\n", "NODE", "RPC ADDRESS", "LIVE", "MEMBERSHIP", "REPLICAS");
    for node in &answer.nodes {
        let live = if node.live { "yes" } else { "no" };
        let membership = if node.membership.is_empty() { "-" } else { &node.membership };
        let replicas = replica_count(answer, node.id);
        text += &format!("{:<6} {:<22} {:<5} {:<16} {}\n", node.id, node.rpc_address, live, membership, replicas);
    }
    text +=
        &format!("\n{:<6} {:<20} {:<20} {:<7} {:<10} {}\n", "RANGE", "START", "END", "LEADER", "REPLICAS", "APPLIED");
    for range in &answer.ranges {
        let leader = if range.leader == 0 { "-".to_string() } else { range.leader.to_string() };
        let start = if range.start.is_empty() { "<start>" } else { &range.start };
        text += &format!(
            "{:<6} {:<20} {:<20} {:<7} {:<10} {}\n",
            range.id,
            start,
            range.end,
            leader,
            node_list(&range.replicas),
            range.applied_index
        );
    }
    text
}
