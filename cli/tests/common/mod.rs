//! Runs the real `shardforge` binary: nodes on 127.0.0.1 ports in temporary
//! folders, killed (and their folders removed) when the test drops them.

#![allow(dead_code)] // Each test file uses a part of this.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use shardforge_proto::node::admin_client::AdminClient;
use shardforge_proto::node::kv_client::KvClient;
use shardforge_proto::node::{GetRequest, PutRequest, StatusRequest, StatusResponse};
use tonic::transport::Channel;

pub const BINARY: &str = env!("CARGO_BIN_EXE_shardforge");

/// A port nothing listens on right now, and never handed out before in this
/// test process: the kernel may give the same ephemeral port to two binds in
/// a row once the first is closed (seen in CI: a node's rpc and http ports
/// came out equal and `init` refused them).
pub fn free_address() -> SocketAddr {
    static HANDED_OUT: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    loop {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
        let address = listener.local_addr().expect("local address");
        if HANDED_OUT.lock().expect("the port set").insert(address.port()) {
            return address;
        }
    }
}

/// Runs `shardforge` with `arguments` to completion.
pub fn shardforge(arguments: &[&str], folder: &Path) -> Output {
    Command::new(BINARY).args(arguments).current_dir(folder).output().expect("run shardforge")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// One node's folder, configuration and process.
pub struct Node {
    pub folder: PathBuf,
    pub config: PathBuf,
    pub rpc: SocketAddr,
    /// Where PostgreSQL clients connect.
    pub sql: SocketAddr,
    pub process: Option<Child>,
    pub log: PathBuf,
}

impl Node {
    /// Writes the configuration of a node (initialising it when `join` is empty).
    pub fn init(root: &Path, name: &str, rpc: SocketAddr, join: &[SocketAddr]) -> Node {
        let folder = root.join(name);
        std::fs::create_dir_all(&folder).expect("node folder");
        let sql_address = free_address();
        let (sql, http) = (sql_address.to_string(), free_address().to_string());
        let rpc_text = rpc.to_string();
        let join_text = join.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
        let mut arguments =
            vec!["init", "--data-dir", "data", "--rpc-addr", &rpc_text, "--sql-addr", &sql, "--http-addr", &http];
        if join.is_empty() {
            arguments.push("--single-node");
        } else {
            arguments.extend(["--join", &join_text]);
        }
        let output = shardforge(&arguments, &folder);
        assert!(output.status.success(), "init failed: {}", text(&output.stderr));
        Node {
            config: folder.join("shardforge.toml"),
            log: folder.join("node.log"),
            folder,
            rpc,
            sql: sql_address,
            process: None,
        }
    }

    pub fn start(&mut self) {
        assert!(self.process.is_none(), "already running");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).expect("log file");
        let child = Command::new(BINARY)
            .args(["start", "--config"])
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn shardforge start");
        self.process = Some(child);
    }

    /// SIGKILL: no chance to flush or sync anything.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.process.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.process.take().expect("running");
        let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill -TERM");
        assert!(status.success());
        wait_for_exit(&mut child, Duration::from_secs(20))
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until this node serves a write; on failure, shows its log.
    pub async fn wait_until_serving(&self, limit: Duration) -> KvClient<Channel> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(channel) = channel(self.rpc).await {
                let mut client = KvClient::new(channel);
                match put(&mut client, "probe", "ok").await {
                    Ok(()) => return client,
                    Err(status) if Instant::now() > deadline => {
                        panic!("not serving within {limit:?}: {status:?}\nlog:\n{}", self.log_text())
                    }
                    Err(_) => {}
                }
            }
            assert!(Instant::now() < deadline, "not serving within {limit:?}; log:\n{}", self.log_text());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn cli(&self, arguments: &[&str]) -> Output {
        shardforge(arguments, &self.folder)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn wait_for_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the node did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub async fn channel(address: SocketAddr) -> Option<Channel> {
    shardforge_runtime_tokio::peers::connect(address).await.ok()
}

pub async fn status(address: SocketAddr) -> Option<StatusResponse> {
    let mut client = AdminClient::new(channel(address).await?);
    let mut request = tonic::Request::new(StatusRequest { local_only: false });
    request.set_timeout(Duration::from_secs(2));
    Some(client.status(request).await.ok()?.into_inner())
}

/// The node's own view: only the replicas it holds.
pub async fn local_status(address: SocketAddr) -> Option<StatusResponse> {
    let mut client = AdminClient::new(channel(address).await?);
    Some(client.status(StatusRequest { local_only: true }).await.ok()?.into_inner())
}

/// Writes `key`; Ok when acknowledged.
pub async fn put(client: &mut KvClient<Channel>, key: &str, value: &str) -> Result<(), tonic::Status> {
    let mut request = tonic::Request::new(PutRequest { key: key.into(), value: value.into() });
    request.set_timeout(Duration::from_secs(5));
    client.put(request).await.map(|_| ())
}

pub async fn get(client: &mut KvClient<Channel>, key: &str) -> Result<Option<String>, tonic::Status> {
    let mut request = tonic::Request::new(GetRequest { key: key.into() });
    request.set_timeout(Duration::from_secs(5));
    let answer = client.get(request).await?.into_inner();
    Ok(answer.found.then(|| text(&answer.value)))
}

/// Polls `check` until it returns Some, or panics after `limit`.
pub async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    limit: Duration,
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the node at `address` serves a write.
pub async fn wait_until_serving(address: SocketAddr, limit: Duration) -> KvClient<Channel> {
    eventually(limit, "the node serves writes", || async move {
        let mut client = KvClient::new(channel(address).await?);
        put(&mut client, "probe", "ok").await.ok()?;
        Some(client)
    })
    .await
}
