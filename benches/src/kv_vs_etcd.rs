//! KV puts with fsync: ShardForge beside etcd, each on one node and on three,
//! all started by this same command on 127.0.0.1.
//!
//! Each run starts every system fresh in a temporary folder, warms it up, then
//! lets `--clients` concurrent clients put unique keys for `--seconds`, each
//! waiting for its answer before the next put (closed loop). Both systems sync
//! every acknowledged write to disk: etcd's WAL fsync, ShardForge's RocksDB WAL
//! sync. The report gives, per system, the median over `--runs` runs of
//! throughput and of p50 / p99 latency, and ShardForge's ratios against etcd
//! with as many nodes (a single-node etcd is the yardstick; three etcd
//! members show what replication costs on the same machine).
//! The machine may be shared and noisy: trust the ratios of one invocation
//! more than absolute figures across invocations.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use shardforge_benches::{free_address, shardforge_binary, start_shardforge, Running};
use shardforge_proto::node::kv_client::KvClient as ShardForgeClient;
use shardforge_proto::node::PutRequest as ShardForgePut;
use tonic::transport::Channel;

mod etcd {
    #![allow(clippy::all)]
    include!(concat!(env!("OUT_DIR"), "/etcdserverpb.rs"));
}

#[derive(Parser)]
#[command(about = "KV puts with fsync: ShardForge beside etcd, on 1 and on 3 nodes")]
struct Arguments {
    /// Runs of every system; the report gives medians.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Measured seconds of each run (after a one-second warm-up).
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Concurrent clients, each with one put in flight.
    #[arg(long, default_value_t = 16)]
    clients: usize,
    #[arg(long, default_value_t = 100)]
    value_bytes: usize,
    /// The `shardforge` binary (default: beside this one).
    #[arg(long)]
    shardforge: Option<PathBuf>,
    #[arg(long, default_value = "/usr/bin/etcd")]
    etcd: PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum System {
    Etcd { nodes: usize },
    ShardForge { nodes: usize },
}

impl System {
    fn name(self) -> String {
        let (name, nodes) = match self {
            System::Etcd { nodes } => ("etcd", nodes),
            System::ShardForge { nodes } => ("shardforge", nodes),
        };
        format!("{name} ({nodes} node{})", if nodes == 1 { "" } else { "s" })
    }

    fn nodes(self) -> usize {
        match self {
            System::Etcd { nodes } | System::ShardForge { nodes } => nodes,
        }
    }
}

/// A client of either system.
#[derive(Clone)]
enum Client {
    Etcd(etcd::kv_client::KvClient<Channel>),
    ShardForge(ShardForgeClient<Channel>),
}

impl Client {
    async fn put(&mut self, key: Vec<u8>, value: Vec<u8>) -> Result<(), tonic::Status> {
        match self {
            Client::Etcd(client) => client.put(etcd::PutRequest { key, value }).await.map(|_| ()),
            Client::ShardForge(client) => client.put(ShardForgePut { key, value }).await.map(|_| ()),
        }
    }
}

/// What one run measured.
#[derive(Clone, Copy, Debug)]
struct Measurement {
    puts_per_second: f64,
    p50_micros: f64,
    p99_micros: f64,
}

/// An etcd cluster of `nodes` members; clients talk to the first.
fn start_etcd(binary: &Path, nodes: usize) -> Running {
    let folder = tempfile::tempdir().expect("temporary folder");
    let members: Vec<(String, SocketAddr, SocketAddr)> =
        (1..=nodes).map(|index| (format!("m{index}"), free_address(), free_address())).collect();
    let initial_cluster =
        members.iter().map(|(name, _, peer)| format!("{name}=http://{peer}")).collect::<Vec<_>>().join(",");
    let mut processes = Vec::new();
    for (name, client, peer) in &members {
        let process = Command::new(binary)
            .args(["--name", name, "--data-dir"])
            .arg(folder.path().join(name))
            .args([
                "--listen-client-urls",
                &format!("http://{client}"),
                "--advertise-client-urls",
                &format!("http://{client}"),
            ])
            .args([
                "--listen-peer-urls",
                &format!("http://{peer}"),
                "--initial-advertise-peer-urls",
                &format!("http://{peer}"),
            ])
            .args(["--initial-cluster", &initial_cluster, "--initial-cluster-state", "new"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start etcd (install Debian's etcd-server)");
        processes.push(process);
    }
    Running { processes, address: members[0].1, node_folders: Vec::new(), _folder: folder }
}

async fn connect(system: System, address: SocketAddr) -> Client {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{address}")).expect("a valid URI");
        if let Ok(channel) = endpoint.tcp_nodelay(true).connect().await {
            let mut client = match system {
                System::Etcd { .. } => Client::Etcd(etcd::kv_client::KvClient::new(channel)),
                System::ShardForge { .. } => Client::ShardForge(ShardForgeClient::new(channel)),
            };
            if client.put(b"warm".to_vec(), b"up".to_vec()).await.is_ok() {
                return client;
            }
        }
        assert!(Instant::now() < deadline, "{} did not serve a put within a minute", system.name());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Closed-loop puts from `clients` clients until `until`; latencies of puts that
/// started at or after `from`.
async fn load(client: Client, clients: usize, value_bytes: usize, from: Instant, until: Instant) -> (usize, Vec<u64>) {
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for worker in 0..clients {
        let (mut client, latencies) = (client.clone(), Arc::clone(&latencies));
        tasks.push(tokio::spawn(async move {
            let value = vec![b'v'; value_bytes];
            let mut mine = Vec::new();
            for sequence in 0u64.. {
                let started = Instant::now();
                if started >= until {
                    break;
                }
                let key = format!("bench/{worker:03}/{sequence:010}").into_bytes();
                client.put(key, value.clone()).await.expect("a put failed during the benchmark");
                if started >= from {
                    mine.push(started.elapsed().as_micros() as u64);
                }
            }
            latencies.lock().expect("lock").extend(mine);
        }));
    }
    for task in tasks {
        task.await.expect("load task");
    }
    let mut latencies = std::mem::take(&mut *latencies.lock().expect("lock"));
    latencies.sort_unstable();
    (latencies.len(), latencies)
}

fn percentile(sorted: &[u64], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let position = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[position] as f64
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

async fn measure(arguments: &Arguments, shardforge: &Path, system: System) -> Measurement {
    let running = match system {
        System::Etcd { nodes } => start_etcd(&arguments.etcd, nodes),
        System::ShardForge { nodes } => start_shardforge(shardforge, nodes),
    };
    let client = connect(system, running.address).await;
    let from = Instant::now() + Duration::from_secs(1);
    let until = from + Duration::from_secs(arguments.seconds);
    let (count, latencies) = load(client, arguments.clients, arguments.value_bytes, from, until).await;
    drop(running);
    Measurement {
        puts_per_second: count as f64 / arguments.seconds as f64,
        p50_micros: percentile(&latencies, 0.50),
        p99_micros: percentile(&latencies, 0.99),
    }
}

#[tokio::main]
async fn main() {
    let arguments = Arguments::parse();
    let shardforge = shardforge_binary(arguments.shardforge.clone());
    assert!(shardforge.exists(), "{} not found: build it (cargo build --release -p shardforge)", shardforge.display());
    let systems = [
        System::Etcd { nodes: 1 },
        System::ShardForge { nodes: 1 },
        System::Etcd { nodes: 3 },
        System::ShardForge { nodes: 3 },
    ];
    let mut results: Vec<Vec<Measurement>> = vec![Vec::new(); systems.len()];
    for run in 1..=arguments.runs {
        // Interleaved, so that noise on the machine hits every system alike.
        for (index, system) in systems.iter().enumerate() {
            let measurement = measure(&arguments, &shardforge, *system).await;
            println!(
                "run {run}: {:<22} {:>9.0} puts/s  p50 {:>7.0} µs  p99 {:>7.0} µs",
                system.name(),
                measurement.puts_per_second,
                measurement.p50_micros,
                measurement.p99_micros
            );
            results[index].push(measurement);
        }
    }
    let medians: Vec<Measurement> = results
        .iter()
        .map(|runs| Measurement {
            puts_per_second: median(runs.iter().map(|run| run.puts_per_second).collect()),
            p50_micros: median(runs.iter().map(|run| run.p50_micros).collect()),
            p99_micros: median(runs.iter().map(|run| run.p99_micros).collect()),
        })
        .collect();
    println!(
        "\nmedians of {} runs, {} clients, {}-byte values, {} s each:",
        arguments.runs, arguments.clients, arguments.value_bytes, arguments.seconds
    );
    println!(
        "{:<22} {:>10} {:>10} {:>10} {:>12} {:>10} {:>10}",
        "system", "puts/s", "p50 µs", "p99 µs", "throughput×", "p50×", "p99×"
    );
    for (system, measured) in systems.iter().zip(&medians) {
        // Each system against etcd with as many nodes.
        let etcd = systems
            .iter()
            .zip(&medians)
            .find(|(peer, _)| **peer == System::Etcd { nodes: system.nodes() })
            .map(|(_, measured)| *measured)
            .expect("etcd runs with every node count");
        println!(
            "{:<22} {:>10.0} {:>10.0} {:>10.0} {:>12.2} {:>10.2} {:>10.2}",
            system.name(),
            measured.puts_per_second,
            measured.p50_micros,
            measured.p99_micros,
            measured.puts_per_second / etcd.puts_per_second,
            measured.p50_micros / etcd.p50_micros,
            measured.p99_micros / etcd.p99_micros
        );
    }
    println!("(ratios are against etcd with as many nodes: throughput above 1 and latency below 1 favour ShardForge)");
}
