//! What the benchmark runners share: starting ShardForge nodes from the
//! `shardforge` binary in folders of their own, on free ports of 127.0.0.1.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

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

pub fn free_address() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|listener| listener.local_addr()).expect("a free port")
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

/// A fresh ShardForge cluster of `nodes` nodes; clients talk to the first.
pub fn start_shardforge(binary: &Path, nodes: usize) -> Running {
    let folder = tempfile::tempdir().expect("temporary folder");
    let addresses: Vec<SocketAddr> = (0..nodes).map(|_| free_address()).collect();
    let join = addresses.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
    let mut processes = Vec::new();
    let mut node_folders = Vec::new();
    for (index, address) in addresses.iter().enumerate() {
        let node_folder = folder.path().join(format!("n{}", index + 1));
        std::fs::create_dir_all(&node_folder).expect("node folder");
        let (sql, http) = (free_address().to_string(), free_address().to_string());
        let mut init = Command::new(binary);
        init.current_dir(&node_folder).args(["init", "--data-dir", "data", "--rpc-addr", &address.to_string()]);
        init.args(["--sql-addr", &sql, "--http-addr", &http]);
        if nodes == 1 {
            init.arg("--single-node");
        } else {
            init.args(["--join", &join]);
        }
        let output = init.output().expect("run shardforge init");
        assert!(output.status.success(), "init: {}", String::from_utf8_lossy(&output.stderr));
        processes.push(start_node(binary, &node_folder));
        node_folders.push(node_folder);
    }
    Running { processes, address: addresses[0], node_folders, _folder: folder }
}

/// The `shardforge` binary: `given`, or the one beside the running benchmark.
pub fn shardforge_binary(given: Option<PathBuf>) -> PathBuf {
    given.unwrap_or_else(|| {
        let me = std::env::current_exe().expect("the benchmark's own path");
        me.with_file_name("shardforge")
    })
}
