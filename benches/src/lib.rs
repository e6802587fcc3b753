//! What the benchmark runners share: starting ShardForge nodes from the
//! `shardforge` binary in folders of their own, on free ports of 127.0.0.1,
//! talking to them over gRPC, and measuring a node's memory and disk.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use shardforge_proto::node::admin_client::AdminClient;
use shardforge_proto::node::kv_client::KvClient;
use shardforge_proto::node::{StatusRequest, StatusResponse};
use tonic::transport::Channel;

/// Processes of one system; killed when dropped.
pub struct Running {
    pub processes: Vec<Child>,
    pub address: SocketAddr,
    /// Each node's folder (its data directory is `data` inside).
    pub node_folders: Vec<PathBuf>,
    pub _folder: tempfile::TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        for process in &mut self.processes {
            let _ = process.kill();
            let _ = process.wait();
        }
    }
}

/// A port nothing listens on now, never handed out before by this process:
/// the kernel may give the same ephemeral port to two binds in a row once the
/// first is closed, and `init` refuses a node whose ports are equal.
pub fn free_address() -> SocketAddr {
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    loop {
        let address =
            std::net::TcpListener::bind("127.0.0.1:0").and_then(|listener| listener.local_addr()).expect("a free port");
        if HANDED_OUT.lock().expect("the port set").insert(address.port()) {
            return address;
        }
    }
}

/// Starts node `folder`'s `shardforge start` (its config written by `init`).
pub fn start_node(binary: &Path, folder: &Path) -> Child {
    Command::new(binary)
        .current_dir(folder)
        .args(["start", "--config", "shardforge.toml"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start shardforge")
}

/// Starts node `folder` as `start_node` does, logging at info level to
/// `node.log` in its folder (snapshots restored, replicas moved).
pub fn start_logged_node(binary: &Path, folder: &Path) -> Child {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log_path(folder)).expect("node.log");
    Command::new(binary)
        .current_dir(folder)
        .args(["start", "--config", "shardforge.toml"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start shardforge")
}

/// Where `start_logged_node` writes node `folder`'s log.
pub fn log_path(folder: &Path) -> PathBuf {
    folder.join("node.log")
}

/// `shardforge init` in `folder` (created if need be) for a node at `address`:
/// a single node when `join` is empty, else one that joins through `join`
/// (one of the first nodes when `join` names `address`).
pub fn init_node(binary: &Path, folder: &Path, address: SocketAddr, join: &[SocketAddr]) {
    std::fs::create_dir_all(folder).expect("node folder");
    let (sql, http) = (free_address().to_string(), free_address().to_string());
    let mut init = Command::new(binary);
    init.current_dir(folder).args(["init", "--data-dir", "data", "--rpc-addr", &address.to_string()]);
    init.args(["--sql-addr", &sql, "--http-addr", &http]);
    if join.is_empty() {
        init.arg("--single-node");
    } else {
        let join = join.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
        init.args(["--join", &join]);
    }
    let output = init.output().expect("run shardforge init");
    assert!(output.status.success(), "init: {}", String::from_utf8_lossy(&output.stderr));
}

/// The RPC addresses and folders (`n1`, `n2`, ...) of `nodes` first nodes of
/// a new cluster under `root`, initialised but not started.
pub fn init_cluster(binary: &Path, root: &Path, nodes: usize) -> (Vec<SocketAddr>, Vec<PathBuf>) {
    let addresses: Vec<SocketAddr> = (0..nodes).map(|_| free_address()).collect();
    let join = if nodes == 1 { Vec::new() } else { addresses.clone() };
    let folders: Vec<PathBuf> = (0..nodes).map(|index| root.join(format!("n{}", index + 1))).collect();
    for (address, folder) in addresses.iter().zip(&folders) {
        init_node(binary, folder, *address, &join);
    }
    (addresses, folders)
}

/// A fresh ShardForge cluster of `nodes` nodes; clients talk to the first.
pub fn start_shardforge(binary: &Path, nodes: usize) -> Running {
    let folder = tempfile::tempdir().expect("temporary folder");
    let (addresses, node_folders) = init_cluster(binary, folder.path(), nodes);
    let processes = node_folders.iter().map(|node_folder| start_node(binary, node_folder)).collect();
    Running { processes, address: addresses[0], node_folders, _folder: folder }
}

/// The `shardforge` binary: `given`, or the one beside the running benchmark.
pub fn shardforge_binary(given: Option<PathBuf>) -> PathBuf {
    given.unwrap_or_else(|| {
        let me = std::env::current_exe().expect("the benchmark's own path");
        me.with_file_name("shardforge")
    })
}

/// A gRPC channel to `address`, retried until the node accepts or `within` passes.
pub async fn connect(address: SocketAddr, within: Duration) -> Channel {
    let deadline = Instant::now() + within;
    loop {
        let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{address}")).expect("a valid URI");
        if let Ok(channel) = endpoint.tcp_nodelay(true).connect().await {
            return channel;
        }
        assert!(Instant::now() < deadline, "{address} did not accept a connection within {within:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A KV client of the node at `address` (see `connect`).
pub async fn kv_client(address: SocketAddr, within: Duration) -> KvClient<Channel> {
    KvClient::new(connect(address, within).await)
}

/// The cluster as `channel`'s node sees it (`local_only`: its own replicas
/// only); None when it does not answer within two seconds.
pub async fn cluster_status(channel: &Channel, local_only: bool) -> Option<StatusResponse> {
    let mut request = tonic::Request::new(StatusRequest { local_only });
    request.set_timeout(Duration::from_secs(2));
    Some(AdminClient::new(channel.clone()).status(request).await.ok()?.into_inner())
}

/// Process `pid`'s resident memory (VmRSS), 0 once it is gone.
pub fn resident_mebibytes(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kibibytes: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kibibytes / 1024.0
}

/// The bytes of every file under `folder`, in MiB.
pub fn folder_mebibytes(folder: &Path) -> f64 {
    let mut bytes = 0u64;
    let mut pending = vec![folder.to_path_buf()];
    while let Some(path) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&path) else { continue };
        for entry in entries.flatten() {
            match entry.metadata() {
                Ok(metadata) if metadata.is_dir() => pending.push(entry.path()),
                Ok(metadata) => bytes += metadata.len(),
                Err(_) => {}
            }
        }
    }
    bytes as f64 / (1024.0 * 1024.0)
}

/// Sets `tuning.<name>` to `value` in node `folder`'s `shardforge.toml`
/// (which `init` writes with every setting named).
pub fn set_tuning(folder: &Path, name: &str, value: &str) {
    let path = folder.join("shardforge.toml");
    let config = std::fs::read_to_string(&path).expect("read shardforge.toml");
    let prefix = format!("{name} = ");
    assert!(config.lines().any(|line| line.starts_with(&prefix)), "shardforge.toml names no {name}");
    let config: Vec<String> = config
        .lines()
        .map(|line| if line.starts_with(&prefix) { format!("{prefix}{value}") } else { line.to_string() })
        .collect();
    std::fs::write(&path, config.join("\n") + "\n").expect("write shardforge.toml");
}
