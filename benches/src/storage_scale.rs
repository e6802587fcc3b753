//! Storage at scale: one ShardForge node loaded to `--keys` keys of
//! `--value-bytes`-byte values through the KV API, then killed with SIGKILL and
//! started again.
//!
//! Every `--step` keys it prints the put rate over that step, the node's
//! resident memory (VmRSS) and the size of its data directory; at the end, the
//! time from the restart to the first answered read, and whether that read
//! found its value. The goals (issue 11): memory flat within RocksDB's caches
//! plus a small bound, the put rate at the end at least 0.8 times the rate of
//! the first step, and a restart under two seconds.

use std::time::{Duration, Instant};

use clap::Parser;
use shardforge_benches::{
    folder_mebibytes, kv_client, resident_mebibytes, shardforge_binary, start_node, start_shardforge,
};
use shardforge_proto::node::kv_client::KvClient;
use shardforge_proto::node::{GetRequest, PutRequest};
use tonic::transport::Channel;

#[derive(Parser)]
#[command(about = "One node loaded to a million keys: put rate, memory and disk per step, then the restart time")]
struct Arguments {
    #[arg(long, default_value_t = 1_000_000)]
    keys: u64,
    /// Keys between two reports.
    #[arg(long, default_value_t = 100_000)]
    step: u64,
    #[arg(long, default_value_t = 100)]
    value_bytes: usize,
    /// Concurrent clients, each with one put in flight.
    #[arg(long, default_value_t = 32)]
    clients: u64,
    /// The `shardforge` binary (default: beside this one).
    #[arg(long)]
    shardforge: Option<std::path::PathBuf>,
}

fn key_of(number: u64) -> Vec<u8> {
    format!("scale/{number:012}").into_bytes()
}

/// Puts keys `from..to` from `clients` closed-loop clients, each taking every
/// `clients`-th key.
async fn put_range(client: &KvClient<Channel>, clients: u64, value_bytes: usize, from: u64, to: u64) {
    let mut tasks = Vec::new();
    for worker in 0..clients {
        let mut client = client.clone();
        tasks.push(tokio::spawn(async move {
            let value = vec![b'v'; value_bytes];
            let mut number = from + worker;
            while number < to {
                let request = PutRequest { key: key_of(number), value: value.clone() };
                client.put(request).await.expect("a put failed during the benchmark");
                number += clients;
            }
        }));
    }
    for task in tasks {
        task.await.expect("load task");
    }
}

/// Reads `key` until the node answers; the time it took and what it found.
async fn first_answer(address: std::net::SocketAddr, key: Vec<u8>) -> (Duration, bool) {
    let started = Instant::now();
    let mut client = kv_client(address, Duration::from_secs(120)).await;
    loop {
        if let Ok(answer) = client.get(GetRequest { key: key.clone() }).await {
            return (started.elapsed(), answer.into_inner().found);
        }
        assert!(started.elapsed() < Duration::from_secs(120), "no answer within two minutes of the restart");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::main]
async fn main() {
    let arguments = Arguments::parse();
    let binary = shardforge_binary(arguments.shardforge.clone());
    assert!(binary.exists(), "{} not found: build it (cargo build --release -p shardforge)", binary.display());
    let mut running = start_shardforge(&binary, 1);
    let client = kv_client(running.address, Duration::from_secs(60)).await;
    let data = running.node_folders[0].join("data");
    println!("{:>10} {:>10} {:>10} {:>10}", "keys", "puts/s", "RSS MiB", "disk MiB");
    let mut rates = Vec::new();
    let mut loaded = 0;
    while loaded < arguments.keys {
        let to = (loaded + arguments.step).min(arguments.keys);
        let started = Instant::now();
        put_range(&client, arguments.clients, arguments.value_bytes, loaded, to).await;
        let rate = (to - loaded) as f64 / started.elapsed().as_secs_f64();
        rates.push(rate);
        loaded = to;
        let rss = resident_mebibytes(running.processes[0].id());
        println!("{loaded:>10} {rate:>10.0} {rss:>10.1} {:>10.1}", folder_mebibytes(&data));
    }
    let process = &mut running.processes[0];
    process.kill().expect("kill -9 the node");
    process.wait().expect("reap the node");
    running.processes[0] = start_node(&binary, &running.node_folders[0]);
    let (restart, found) = first_answer(running.address, key_of(arguments.keys - 1)).await;
    let first = rates.first().copied().unwrap_or_default();
    let last = rates.last().copied().unwrap_or_default();
    println!("put rate at the end / first step: {:.2} (goal ≥ 0.8)", last / first.max(1.0));
    println!(
        "restart after kill -9 to the first answer: {:.2} s (goal < 2 s); last key found: {found}",
        restart.as_secs_f64()
    );
    let rss = resident_mebibytes(running.processes[0].id());
    println!("RSS after the restart: {rss:.1} MiB");
}
