//! Snapshot catch-up (issue 11): a node that lost its disk catches up
//! `--bytes` of data by Raft snapshots, with its memory bounded.
//!
//! Three nodes of the real binary start on 127.0.0.1 and `--clients`
//! closed-loop clients load them through the KV API with `--value-bytes`
//! values (pseudo-random, so that RocksDB's LZ4 cannot shrink them and the
//! disk holds what was loaded). The ranges split as they grow. Then node 3 is
//! killed with SIGKILL and its folder wiped; it is initialised again at a new
//! address and joins as a new node (the cluster never reuses an id), and node
//! 3 is decommissioned, so the rebalancer moves every replica it held onto the
//! new node: each move adds the new node to a range, and the range's leader
//! streams it a snapshot. This is what `cli/tests/membership.rs` does with a
//! few kilobytes; here it is a gibibyte.
//!
//! While it catches up, a thread samples the new node's resident memory
//! (VmRSS) and data directory every `SAMPLE_INTERVAL`; once a second a line
//! shows them with the replicas it holds. It has caught up when node 3 is
//! decommissioned, every range names the new node among its replicas, and
//! the new node's own replica of every range has the range's newest
//! descriptor and applied index. The report gives the load rate, the catch-up
//! time, the new node's peak RSS beside the loaded nodes' RSS, every data
//! directory's size, the snapshots the new node's log says it restored, and
//! whether a sample of keys read through the new node came back intact.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use shardforge_benches::{
    cluster_status, connect, folder_mebibytes, init_cluster, init_node, log_path, resident_mebibytes, set_tuning,
    shardforge_binary, start_logged_node,
};
use shardforge_proto::node::admin_client::AdminClient;
use shardforge_proto::node::kv_client::KvClient;
use shardforge_proto::node::{DecommissionRequest, GetRequest, PutRequest, StatusResponse};
use tonic::transport::Channel;

const SAMPLE_INTERVAL: Duration = Duration::from_millis(200);
const REPORT_INTERVAL: Duration = Duration::from_secs(1);
const MEBIBYTE: f64 = 1024.0 * 1024.0;

#[derive(Parser)]
#[command(about = "A wiped node catches up a gibibyte by Raft snapshots: catch-up time, peak RSS, disk")]
struct Arguments {
    /// Value bytes to load (suffixes KiB, MiB, GiB allowed).
    #[arg(long, default_value = "1GiB", value_parser = parse_bytes)]
    bytes: u64,
    /// Bytes of each value. A MiB loaded fastest here (20 MiB/s, against 16 for
    /// 256 KiB and 14 for 64 KiB); a call to the KV API takes at most 4 MiB.
    #[arg(long, default_value = "1MiB", value_parser = parse_bytes)]
    value_bytes: u64,
    /// Concurrent clients, each with one put in flight.
    #[arg(long, default_value_t = 16)]
    clients: u64,
    /// Keys read back through the caught-up node, spread over the whole load.
    #[arg(long, default_value_t = 1000)]
    sample_keys: u64,
    /// The nodes' `tuning.compaction_threshold_entries` (default: the node's own).
    /// A range keeps this many applied entries of its Raft log, in memory too.
    #[arg(long)]
    compaction_threshold_entries: Option<u64>,
    /// Give up if the node has not caught up within this long.
    #[arg(long, default_value_t = 1800)]
    timeout_seconds: u64,
    /// The `shardforge` binary (default: beside this one).
    #[arg(long)]
    shardforge: Option<PathBuf>,
}

/// `1073741824`, `64KiB`, `64MiB`, `1GiB`.
fn parse_bytes(text: &str) -> Result<u64, String> {
    let units = [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10), ("", 1)];
    let (number, unit) = units
        .iter()
        .find_map(|(suffix, unit)| text.strip_suffix(suffix).map(|number| (number, *unit)))
        .expect("the empty suffix matches");
    let number: u64 = number.trim().parse().map_err(|_| format!("{text:?} is not a size such as 65536 or 64KiB"))?;
    number.checked_mul(unit).filter(|bytes| *bytes > 0).ok_or_else(|| format!("{text:?} is out of range"))
}

fn key_of(number: u64) -> Vec<u8> {
    format!("catch-up/{number:010}").into_bytes()
}

/// Key `number`'s value: `value_bytes` pseudo-random bytes (xorshift64 seeded
/// by the number), incompressible and checkable.
fn value_of(number: u64, value_bytes: u64) -> Vec<u8> {
    let mut state = number.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut value = Vec::with_capacity(value_bytes as usize + 8);
    while (value.len() as u64) < value_bytes {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        value.extend_from_slice(&state.to_le_bytes());
    }
    value.truncate(value_bytes as usize);
    value
}

fn mebibytes(bytes: u64) -> f64 {
    bytes as f64 / MEBIBYTE
}

/// One node's process and folder.
struct Node {
    process: Child,
    folder: PathBuf,
    address: SocketAddr,
}

impl Node {
    fn start(binary: &Path, folder: PathBuf, address: SocketAddr) -> Node {
        Node { process: start_logged_node(binary, &folder), folder, address }
    }

    fn data(&self) -> PathBuf {
        self.folder.join("data")
    }

    fn resident_mebibytes(&self) -> f64 {
        resident_mebibytes(self.process.id())
    }

    fn disk_mebibytes(&self) -> f64 {
        folder_mebibytes(&self.data())
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(log_path(&self.folder)).unwrap_or_default()
    }

    /// The log's warnings and errors: how many, and the first few.
    fn complaints(&self) -> (usize, Vec<String>) {
        let text = self.log_text();
        let lines: Vec<&str> =
            text.lines().filter(|line| line.contains(" WARN ") || line.contains(" ERROR ")).collect();
        (lines.len(), lines.iter().take(3).map(|line| line.to_string()).collect())
    }

    /// SIGKILL: nothing flushed, nothing synced.
    fn kill(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Puts one value until it is acknowledged (a put is idempotent: the same
/// key, the same value); the failed attempts it took.
async fn put_until_acknowledged(client: &mut KvClient<Channel>, number: u64, value: Vec<u8>) -> u64 {
    let mut failures = 0;
    loop {
        let mut request = tonic::Request::new(PutRequest { key: key_of(number), value: value.clone() });
        request.set_timeout(Duration::from_secs(30));
        match client.put(request).await {
            Ok(_) => return failures,
            Err(status) => {
                failures += 1;
                if failures <= 3 {
                    println!("put {number} failed ({failures}): {}: {}", status.code(), status.message());
                }
                assert!(failures < 100, "put {number} failed 100 times");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// What the load measured.
struct Load {
    value_bytes_loaded: u64,
    elapsed: Duration,
    failed_puts: u64,
}

/// Puts `puts` keys from `clients` closed-loop clients over `channel`, one
/// line of progress a second.
async fn load(channel: &Channel, nodes: &[Node], arguments: &Arguments, puts: u64) -> Load {
    let next = Arc::new(AtomicU64::new(0));
    let acknowledged = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..arguments.clients {
        let mut client = KvClient::new(channel.clone());
        let (next, acknowledged, failed, value_bytes) =
            (next.clone(), acknowledged.clone(), failed.clone(), arguments.value_bytes);
        tasks.push(tokio::spawn(async move {
            loop {
                let number = next.fetch_add(1, Ordering::Relaxed);
                if number >= puts {
                    break;
                }
                let failures = put_until_acknowledged(&mut client, number, value_of(number, value_bytes)).await;
                failed.fetch_add(failures, Ordering::Relaxed);
                acknowledged.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    println!("{:>7} {:>10} {:>9} {:>27}", "load s", "MiB", "MiB/s", "RSS MiB of nodes 1, 2, 3");
    let mut last = (0, Instant::now());
    while !tasks.iter().all(|task| task.is_finished()) {
        tokio::time::sleep(REPORT_INTERVAL).await;
        let bytes = acknowledged.load(Ordering::Relaxed) * arguments.value_bytes;
        let rate = mebibytes(bytes - last.0) / last.1.elapsed().as_secs_f64();
        last = (bytes, Instant::now());
        let rss: Vec<String> = nodes.iter().map(|node| format!("{:.0}", node.resident_mebibytes())).collect();
        println!(
            "{:>7.1} {:>10.1} {rate:>9.1} {:>27}",
            started.elapsed().as_secs_f64(),
            mebibytes(bytes),
            rss.join(", ")
        );
    }
    for task in tasks {
        task.await.expect("load task");
    }
    Load {
        value_bytes_loaded: puts * arguments.value_bytes,
        elapsed: started.elapsed(),
        failed_puts: failed.load(Ordering::Relaxed),
    }
}

/// Polls the cluster status through `channel` until `done` holds, or panics
/// with `what` after `within`.
async fn cluster_until(
    channel: &Channel,
    within: Duration,
    what: &str,
    done: impl Fn(&StatusResponse) -> bool,
) -> StatusResponse {
    let deadline = Instant::now() + within;
    loop {
        if let Some(cluster) = cluster_status(channel, false).await.filter(|cluster| done(cluster)) {
            return cluster;
        }
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every range has a leader and exactly `replicas` as its replicas.
fn settled_on(cluster: &StatusResponse, replicas: &[u64]) -> bool {
    !cluster.ranges.is_empty()
        && cluster.ranges.iter().all(|range| range.leader != 0 && range.replicas.as_slice() == replicas)
}

fn membership(cluster: &StatusResponse, node: u64) -> &str {
    cluster.nodes.iter().find(|entry| entry.id == node).map_or("", |entry| entry.membership.as_str())
}

/// How many ranges name `node` among their replicas.
fn replicas_on(cluster: &StatusResponse, node: u64) -> usize {
    cluster.ranges.iter().filter(|range| range.replicas.contains(&node)).count()
}

/// How many of the cluster's ranges `local` (one node's own view) holds at
/// their newest descriptor and applied index.
fn ranges_caught_up(cluster: &StatusResponse, local: &StatusResponse) -> usize {
    cluster
        .ranges
        .iter()
        .filter(|range| {
            local.ranges.iter().any(|own| {
                own.id == range.id && own.generation == range.generation && own.applied_index >= range.applied_index
            })
        })
        .count()
}

/// The highest and last of the memory and disk samples of one node.
#[derive(Clone, Copy, Default)]
struct Samples {
    taken: u64,
    resident_mebibytes: f64,
    peak_resident_mebibytes: f64,
    disk_mebibytes: f64,
    peak_disk_mebibytes: f64,
}

/// A thread that samples process `pid` and folder `data` every
/// `SAMPLE_INTERVAL` until dropped.
struct Sampler {
    samples: Arc<Mutex<Samples>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    fn start(pid: u32, data: PathBuf) -> Sampler {
        let samples = Arc::new(Mutex::new(Samples::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (shared, stopped) = (samples.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                let (resident, disk) = (resident_mebibytes(pid), folder_mebibytes(&data));
                let mut samples = shared.lock().expect("samples");
                samples.taken += 1;
                samples.resident_mebibytes = resident;
                samples.peak_resident_mebibytes = samples.peak_resident_mebibytes.max(resident);
                samples.disk_mebibytes = disk;
                samples.peak_disk_mebibytes = samples.peak_disk_mebibytes.max(disk);
                drop(samples);
                std::thread::sleep(SAMPLE_INTERVAL);
            }
        });
        Sampler { samples, stop, thread: Some(thread) }
    }

    fn samples(&self) -> Samples {
        *self.samples.lock().expect("samples")
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What the catch-up measured.
struct CatchUp {
    node: u64,
    joined_after: Duration,
    caught_up_after: Duration,
    ranges: usize,
    new_node: Samples,
    loaded_peak_resident_mebibytes: Vec<f64>,
}

/// Waits for the node at `address` to join and become active; its id.
async fn joined_node(channel: &Channel, address: SocketAddr) -> u64 {
    let cluster = cluster_until(channel, Duration::from_secs(120), "the wiped node joins again", |cluster| {
        cluster
            .nodes
            .iter()
            .any(|node| node.rpc_address == address.to_string() && node.live && node.membership == "active")
    })
    .await;
    cluster.nodes.iter().find(|node| node.rpc_address == address.to_string()).expect("the joined node").id
}

/// Decommissions `old` through `channel` and waits, one line a second, until
/// `new` holds every range it held, caught up.
async fn catch_up(
    channel: &Channel,
    new: &Node,
    old: u64,
    loaded: &[&Node],
    started: Instant,
    within: Duration,
) -> CatchUp {
    let sampler = Sampler::start(new.process.id(), new.data());
    let node = joined_node(channel, new.address).await;
    let joined_after = started.elapsed();
    println!(
        "the wiped node joined as node {node} after {:.1} s; decommissioning node {old}",
        joined_after.as_secs_f64()
    );
    let mut admin = AdminClient::new(channel.clone());
    let answer = admin.decommission(DecommissionRequest { node: old }).await.expect("decommission");
    println!("node {old} is {}", answer.into_inner().membership);
    let new_channel = connect(new.address, Duration::from_secs(10)).await;
    let mut loaded_peaks = vec![0.0f64; loaded.len()];
    println!(
        "{:>6} {:>8} {:>9} {:>9} {:>14} {:>8} {:>20}",
        "t s", "RSS MiB", "peak MiB", "disk MiB", "caught/ranges", "on old", "RSS MiB of loaded"
    );
    loop {
        tokio::time::sleep(REPORT_INTERVAL).await;
        for (peak, node) in loaded_peaks.iter_mut().zip(loaded) {
            *peak = peak.max(node.resident_mebibytes());
        }
        let (Some(cluster), Some(local)) =
            (cluster_status(channel, false).await, cluster_status(&new_channel, true).await)
        else {
            println!("{:>6.1} a status call did not answer", started.elapsed().as_secs_f64());
            continue;
        };
        let samples = sampler.samples();
        let caught = ranges_caught_up(&cluster, &local);
        let on_old = replicas_on(&cluster, old);
        let loaded_rss: Vec<String> = loaded.iter().map(|node| format!("{:.0}", node.resident_mebibytes())).collect();
        println!(
            "{:>6.1} {:>8.0} {:>9.0} {:>9.0} {:>14} {on_old:>8} {:>20}",
            started.elapsed().as_secs_f64(),
            samples.resident_mebibytes,
            samples.peak_resident_mebibytes,
            samples.disk_mebibytes,
            format!("{caught}/{}", cluster.ranges.len()),
            loaded_rss.join(", ")
        );
        let everywhere = cluster.ranges.iter().all(|range| range.replicas.contains(&node));
        if membership(&cluster, old) == "decommissioned" && everywhere && caught == cluster.ranges.len() {
            return CatchUp {
                node,
                joined_after,
                caught_up_after: started.elapsed(),
                ranges: cluster.ranges.len(),
                new_node: sampler.samples(),
                loaded_peak_resident_mebibytes: loaded_peaks,
            };
        }
        assert!(started.elapsed() < within, "node {node} did not catch up within {within:?}");
    }
}

/// Reads `sample_keys` keys spread over `0..puts` through `channel`; how
/// many came back with their value.
async fn read_back(channel: &Channel, puts: u64, sample_keys: u64, value_bytes: u64) -> (u64, u64) {
    let mut client = KvClient::new(channel.clone());
    let count = sample_keys.min(puts);
    let mut intact = 0;
    for index in 0..count {
        let number = index * puts / count;
        let mut request = tonic::Request::new(GetRequest { key: key_of(number) });
        request.set_timeout(Duration::from_secs(10));
        match client.get(request).await {
            Ok(answer) => {
                let answer = answer.into_inner();
                if answer.found && answer.value == value_of(number, value_bytes) {
                    intact += 1;
                } else {
                    println!("key {number}: found {}, {} bytes, not its value", answer.found, answer.value.len());
                }
            }
            Err(status) => println!("key {number}: {}: {}", status.code(), status.message()),
        }
    }
    (intact, count)
}

/// Node `folder`'s configuration with the tuning `arguments` ask for.
fn tune(folder: &Path, arguments: &Arguments) {
    if let Some(entries) = arguments.compaction_threshold_entries {
        set_tuning(folder, "compaction_threshold_entries", &entries.to_string());
    }
}

#[tokio::main]
async fn main() {
    let arguments = Arguments::parse();
    let binary = shardforge_binary(arguments.shardforge.clone());
    assert!(binary.exists(), "{} not found: build it (cargo build --release -p shardforge)", binary.display());
    let puts = arguments.bytes.div_ceil(arguments.value_bytes);
    let root = tempfile::tempdir().expect("temporary folder");
    let (addresses, folders) = init_cluster(&binary, root.path(), 3);
    folders.iter().for_each(|folder| tune(folder, &arguments));
    let mut nodes: Vec<Node> =
        folders.into_iter().zip(&addresses).map(|(folder, address)| Node::start(&binary, folder, *address)).collect();
    let channel = connect(addresses[0], Duration::from_secs(60)).await;
    cluster_until(&channel, Duration::from_secs(120), "three nodes serve the first range", |cluster| {
        settled_on(cluster, &[1, 2, 3])
    })
    .await;
    println!(
        "loading {:.0} MiB: {puts} values of {} bytes from {} clients through node 1",
        mebibytes(arguments.bytes),
        arguments.value_bytes,
        arguments.clients
    );

    let load = load(&channel, &nodes, &arguments, puts).await;
    let load_rate = mebibytes(load.value_bytes_loaded) / load.elapsed.as_secs_f64();
    println!(
        "loaded {:.1} MiB in {:.1} s: {load_rate:.1} MiB/s ({} failed put attempts, retried)",
        mebibytes(load.value_bytes_loaded),
        load.elapsed.as_secs_f64(),
        load.failed_puts
    );
    let loaded = cluster_until(&channel, Duration::from_secs(300), "every range on nodes 1-3 with a leader", |c| {
        settled_on(c, &[1, 2, 3])
    })
    .await;
    let loaded_resident: Vec<f64> = nodes.iter().map(Node::resident_mebibytes).collect();
    let loaded_disk: Vec<f64> = nodes.iter().map(Node::disk_mebibytes).collect();
    println!(
        "{} ranges; RSS of nodes 1, 2, 3: {:.0}, {:.0}, {:.0} MiB; data directories {:.0}, {:.0}, {:.0} MiB",
        loaded.ranges.len(),
        loaded_resident[0],
        loaded_resident[1],
        loaded_resident[2],
        loaded_disk[0],
        loaded_disk[1],
        loaded_disk[2]
    );

    let mut lost = nodes.pop().expect("node 3");
    lost.kill();
    std::fs::remove_dir_all(&lost.folder).expect("wipe node 3's folder");
    let new_address = shardforge_benches::free_address();
    init_node(&binary, &lost.folder, new_address, &addresses[..2]);
    tune(&lost.folder, &arguments);
    println!("node 3 killed (SIGKILL) and wiped; starting it again at {new_address}, joining through nodes 1 and 2");
    let started = Instant::now();
    let new = Node::start(&binary, lost.folder.clone(), new_address);
    drop(lost);
    let loaded_nodes: Vec<&Node> = nodes.iter().collect();
    let within = Duration::from_secs(arguments.timeout_seconds);
    let catch_up = catch_up(&channel, &new, 3, &loaded_nodes, started, within).await;

    let restored = new.log_text().matches("restored a snapshot").count();
    let moves: usize = nodes.iter().map(|node| node.log_text().matches("moving replicas").count()).sum();
    let final_disk: Vec<f64> = nodes.iter().map(Node::disk_mebibytes).chain([new.disk_mebibytes()]).collect();
    let final_resident: Vec<f64> =
        nodes.iter().map(Node::resident_mebibytes).chain([new.resident_mebibytes()]).collect();
    let new_channel = connect(new.address, Duration::from_secs(10)).await;
    let (intact, sampled) = read_back(&new_channel, puts, arguments.sample_keys, arguments.value_bytes).await;

    let node = catch_up.node;
    let caught_up = catch_up.caught_up_after.as_secs_f64();
    println!();
    println!(
        "loaded:        {:.1} MiB of values ({puts} keys) in {:.1} s, {load_rate:.1} MiB/s",
        mebibytes(load.value_bytes_loaded),
        load.elapsed.as_secs_f64()
    );
    println!(
        "catch-up:      node {node} joined {:.1} s after its start, held every range caught up after {caught_up:.1} s \
         ({:.1} MiB/s of values)",
        catch_up.joined_after.as_secs_f64(),
        mebibytes(load.value_bytes_loaded) / caught_up
    );
    println!(
        "ranges:        {}, each with a replica on node {node}; snapshots restored by node {node}: {restored}; \
         moves logged: {moves}",
        catch_up.ranges
    );
    println!(
        "RSS node {node}:    peak {:.0} MiB over {} samples, {:.0} MiB at the end",
        catch_up.new_node.peak_resident_mebibytes, catch_up.new_node.taken, final_resident[2]
    );
    println!(
        "RSS nodes 1, 2: {:.0}, {:.0} MiB after the load; peaks {:.0}, {:.0} MiB while sending snapshots; {:.0}, {:.0} \
         MiB at the end",
        loaded_resident[0],
        loaded_resident[1],
        catch_up.loaded_peak_resident_mebibytes[0],
        catch_up.loaded_peak_resident_mebibytes[1],
        final_resident[0],
        final_resident[1]
    );
    println!(
        "data dirs:     nodes 1, 2, {node}: {:.0}, {:.0}, {:.0} MiB (node {node} peaked at {:.0} MiB; node 3 held {:.0} \
         MiB)",
        final_disk[0],
        final_disk[1],
        final_disk[2],
        catch_up.new_node.peak_disk_mebibytes,
        loaded_disk[2]
    );
    println!("read back:     {intact} of {sampled} sampled keys intact through node {node}");
    for (name, node) in [("1", &nodes[0]), ("2", &nodes[1]), (&*node.to_string(), &new)] {
        let (count, first) = node.complaints();
        println!("log node {name}:    {count} warnings or errors");
        first.iter().for_each(|line| println!("    {line}"));
    }
}
