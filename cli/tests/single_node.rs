//! One real node: init, start, the KV commands, clean restarts, `kill -9`
//! during a write load, and the errors an operator can cause.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use shardforge_proto::node::kv_client::KvClient;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_node_serves_keys_and_keeps_them_across_a_clean_restart() {
    let root = tempfile::tempdir().expect("temporary folder");
    let rpc = free_address();
    let mut node = Node::init(root.path(), "one", rpc, &[]);
    let config = std::fs::read_to_string(&node.config).expect("config written");
    assert!(config.contains("# ShardForge node configuration") && config.contains(&format!("rpc_addr = \"{rpc}\"")));

    let again = node.cli(&["init", "--single-node", "--data-dir", "data", "--config", "other.toml"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(text(&again.stderr).contains("already holds node 1 of cluster"), "{}", text(&again.stderr));

    // `status` run before the node starts waits for it to listen.
    let early_status = {
        let folder = node.folder.clone();
        let address = rpc.to_string();
        std::thread::spawn(move || shardforge(&["status", "--addr", &address, "--wait-seconds", "30"], &folder))
    };
    std::thread::sleep(Duration::from_millis(500));
    node.start();
    let early_status = early_status.join().expect("status thread");
    assert!(early_status.status.success(), "status before start: {}", text(&early_status.stderr));
    assert!(text(&early_status.stdout).contains("RANGE"), "{}", text(&early_status.stdout));
    wait_until_serving(rpc, Duration::from_secs(20)).await;
    let address = rpc.to_string();
    let put = node.cli(&["kv", "--addr", &address, "put", "greeting", "hello world"]);
    assert!(put.status.success(), "{}", text(&put.stderr));
    let get = node.cli(&["kv", "--addr", &address, "get", "greeting"]);
    assert_eq!((get.status.code(), text(&get.stdout)), (Some(0), "hello world\n".to_string()));
    let missing = node.cli(&["kv", "--addr", &address, "get", "nothing-here"]);
    assert_eq!((missing.status.code(), text(&missing.stdout)), (Some(1), String::new()));
    for (key, value) in [("b", "2"), ("c", "3"), ("a", "1")] {
        assert!(node.cli(&["kv", "--addr", &address, "put", key, value]).status.success());
    }
    let scan = node.cli(&["kv", "--addr", &address, "scan", "a", "c"]);
    assert_eq!(text(&scan.stdout), "a\t1\nb\t2\n");
    let deleted = node.cli(&["kv", "--addr", &address, "delete", "b"]);
    assert!(deleted.status.success());
    assert_eq!(node.cli(&["kv", "--addr", &address, "get", "b"]).status.code(), Some(1));

    let status = node.cli(&["status", "--addr", &address, "--format", "json"]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).expect("status is JSON");
    assert_eq!(status["nodes"][0]["live"], true);
    assert_eq!(status["ranges"][0]["leader"], 1);
    let table = text(&node.cli(&["status", "--addr", &address]).stdout);
    assert!(table.contains("RANGE") && table.contains("LEADER"), "{table}");

    let exit = node.terminate();
    assert!(exit.success(), "a clean stop exits 0: {exit:?}\n{}", node.log_text());
    assert!(node.log_text().contains("SIGTERM"));
    // Standard error is a file here, not a terminal: no colour codes in it.
    assert!(!node.log_text().contains('\u{1b}'), "the log holds escape codes:\n{}", node.log_text());
    node.start();
    wait_until_serving(rpc, Duration::from_secs(20)).await;
    let get = node.cli(&["kv", "--addr", &address, "get", "greeting"]);
    assert_eq!(text(&get.stdout), "hello world\n");
    assert_eq!(node.cli(&["kv", "--addr", &address, "get", "b"]).status.code(), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_write_load_loses_no_acknowledged_write() {
    let root = tempfile::tempdir().expect("temporary folder");
    let rpc = free_address();
    let mut node = Node::init(root.path(), "one", rpc, &[]);
    node.start();
    wait_until_serving(rpc, Duration::from_secs(20)).await;

    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let mut writers = Vec::new();
    for writer in 0..8 {
        let acknowledged = Arc::clone(&acknowledged);
        writers.push(tokio::spawn(async move {
            let Some(channel) = channel(rpc).await else { return };
            let mut client = KvClient::new(channel);
            for sequence in 0.. {
                let key = format!("w{writer}-{sequence:05}");
                match put(&mut client, &key, &format!("value-{sequence}")).await {
                    Ok(()) => acknowledged.lock().expect("lock").push((key, format!("value-{sequence}"))),
                    Err(_) => return,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    node.kill();
    for writer in writers {
        let _ = writer.await;
    }
    let acknowledged = acknowledged.lock().expect("lock").clone();
    assert!(acknowledged.len() >= 20, "the load wrote too little to mean anything: {}", acknowledged.len());

    let restarted_at = Instant::now();
    node.start();
    let mut client = node.wait_until_serving(Duration::from_secs(30)).await;
    eprintln!("{} acknowledged writes; serving again {:?} after restart", acknowledged.len(), restarted_at.elapsed());
    for (key, value) in &acknowledged {
        assert_eq!(get(&mut client, key).await.expect("read"), Some(value.clone()), "acknowledged {key} lost");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_mistakes_get_one_clear_line_and_a_nonzero_exit() {
    let root = tempfile::tempdir().expect("temporary folder");
    let rpc = free_address();
    let mut node = Node::init(root.path(), "one", rpc, &[]);
    node.start();
    wait_until_serving(rpc, Duration::from_secs(20)).await;

    let check = |output: std::process::Output, expected: &str| {
        // The error is the last line; log lines may come before it.
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        let last = stderr.lines().last().unwrap_or_default();
        assert!(last.starts_with("error: ") && last.contains(expected), "{stderr}");
        assert_eq!(stderr.lines().filter(|line| line.contains("error")).count(), 1, "one error line: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    };
    // A second node configured on the same RPC port.
    let other = Node::init(root.path(), "two", rpc, &[]);
    check(other.cli(&["start", "--config", other.config.to_str().expect("utf-8")]), "cannot listen on rpc_addr");
    // A configuration that is not TOML, and one with a misspelt field.
    std::fs::write(root.path().join("bad.toml"), "this is = = not toml").expect("write");
    check(node.cli(&["start", "--config", root.path().join("bad.toml").to_str().expect("utf-8")]), "bad.toml");
    let misspelt = std::fs::read_to_string(&node.config).expect("read").replace("data_dir", "data_folder");
    std::fs::write(root.path().join("misspelt.toml"), misspelt).expect("write");
    check(node.cli(&["start", "--config", root.path().join("misspelt.toml").to_str().expect("utf-8")]), "data_folder");
    // A missing configuration file.
    check(node.cli(&["start", "--config", "/nonexistent/shardforge.toml"]), "cannot read");
    // A data directory that was never initialised.
    let empty = root.path().join("empty");
    std::fs::create_dir_all(&empty).expect("folder");
    let fresh =
        std::fs::read_to_string(&other.config).expect("read").replace(&rpc.to_string(), &free_address().to_string());
    std::fs::write(empty.join("shardforge.toml"), fresh.replace("data_dir = \"data\"", "data_dir = \"nothing\""))
        .expect("write");
    check(node.cli(&["start", "--config", empty.join("shardforge.toml").to_str().expect("utf-8")]), "not initialised");
    // Nothing listens here.
    check(node.cli(&["kv", "--addr", &free_address().to_string(), "get", "a"]), "cannot reach a node");
    let nobody = free_address().to_string();
    check(node.cli(&["status", "--addr", &nobody, "--wait-seconds", "1"]), "cannot reach a node");
    // An empty key.
    check(node.cli(&["kv", "--addr", &rpc.to_string(), "put", "", "x"]), "keys must not be empty");
    // Overwriting a configuration file.
    check(node.cli(&["init", "--single-node", "--data-dir", "elsewhere"]), "already exists");
}
