//! A running cluster grows and shrinks, with real binaries on 127.0.0.1: a
//! fourth node joins and the rebalancer gives it replicas; a node is
//! decommissioned, its replicas move away, and it is stopped with every key
//! still readable; a node killed for good is decommissioned the same way,
//! its ranges re-replicated from the replicas that survive.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;
use shardforge_proto::node::kv_client::KvClient;
use shardforge_proto::node::StatusResponse;

const KEYS: usize = 300;

/// Small ranges checked often, so that a few hundred keys make several ranges.
fn small_ranges(node: &Node) {
    let config = std::fs::read_to_string(&node.config).expect("read config");
    let config = config
        .replace("split_threshold_bytes = 67108864", "split_threshold_bytes = 4096")
        .replace("split_check_interval_ticks = 50", "split_check_interval_ticks = 5");
    std::fs::write(&node.config, config).expect("write config");
}

/// Replicas per node, over the newest descriptor of every range.
fn loads(cluster: &StatusResponse) -> BTreeMap<u64, usize> {
    let mut loads: BTreeMap<u64, usize> = cluster.nodes.iter().map(|node| (node.id, 0)).collect();
    for node in cluster.ranges.iter().flat_map(|range| &range.replicas) {
        *loads.entry(*node).or_default() += 1;
    }
    loads
}

fn membership(cluster: &StatusResponse, node: u64) -> Option<&str> {
    cluster.nodes.iter().find(|entry| entry.id == node).map(|entry| entry.membership.as_str())
}

/// Three nodes bootstrapped together, each configured by `configure`, and
/// `KEYS` keys of `value` written through the first.
async fn three_loaded_nodes(
    root: &std::path::Path,
    value: &str,
    configure: impl Fn(&Node),
) -> (Vec<std::net::SocketAddr>, Vec<Node>) {
    let addresses: Vec<_> = (0..3).map(|_| free_address()).collect();
    let mut nodes: Vec<Node> =
        (0..3).map(|index| Node::init(root, &format!("n{}", index + 1), addresses[index], &addresses)).collect();
    for node in &mut nodes {
        configure(node);
        node.start();
    }
    let mut client = wait_until_serving(addresses[0], Duration::from_secs(30)).await;
    for index in 0..KEYS {
        put(&mut client, &format!("key-{index:04}"), value).await.expect("write");
    }
    (addresses, nodes)
}

/// `shardforge node decommission <node>` run from `from`'s folder against
/// `address`, waiting up to `timeout_seconds` for the node to hold nothing.
async fn decommission(
    from: &Node,
    address: std::net::SocketAddr,
    node: u64,
    timeout_seconds: u64,
) -> std::process::Output {
    let folder = from.folder.clone();
    let (address, node, timeout) = (address.to_string(), node.to_string(), timeout_seconds.to_string());
    tokio::task::spawn_blocking(move || {
        shardforge(&["node", "--addr", &address, "decommission", &node, "--timeout-seconds", &timeout], &folder)
    })
    .await
    .expect("decommission command")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fourth_node_joins_and_receives_replicas_and_a_decommissioned_node_hands_its_own_over() {
    let root = tempfile::tempdir().expect("temporary folder");
    let value = "v".repeat(64);
    let (addresses, mut nodes) = three_loaded_nodes(root.path(), &value, small_ranges).await;
    let cluster = eventually(Duration::from_secs(60), "the keys spread over several ranges", || async {
        let cluster = status(addresses[0]).await?;
        (cluster.ranges.len() >= 4).then_some(cluster)
    })
    .await;
    eprintln!("{} ranges on nodes 1-3", cluster.ranges.len());

    // A fourth node joins through the first three and receives replicas.
    let fourth_address = free_address();
    let mut fourth = Node::init(root.path(), "n4", fourth_address, &addresses);
    small_ranges(&fourth);
    fourth.start();
    let joined_at = Instant::now();
    let cluster = eventually(Duration::from_secs(90), "node 4 joins and the replicas even out", || async {
        let cluster = status(addresses[0]).await?;
        let loads = loads(&cluster);
        let node_four = cluster.nodes.iter().find(|node| node.id == 4)?;
        let (most, least) = (*loads.values().max()?, *loads.values().min()?);
        let full = cluster.ranges.iter().all(|range| range.replicas.len() == 3);
        (node_four.live && node_four.membership == "active" && loads.len() == 4 && full && most - least <= 1)
            .then_some(cluster)
    })
    .await;
    let on_four = loads(&cluster)[&4];
    eprintln!(
        "node 4 joined and holds {on_four} of {} replicas after {:?}",
        cluster.ranges.len() * 3,
        joined_at.elapsed()
    );
    assert!(on_four >= 1 && fourth.log_text().contains("joined as node 4"), "{}", fourth.log_text());
    let mut through_fourth = KvClient::new(channel(fourth_address).await.expect("node 4"));
    assert_eq!(get(&mut through_fourth, "key-0000").await.expect("read"), Some(value.clone()));
    put(&mut through_fourth, "written-through-4", "yes").await.expect("write through node 4");

    // Node 2 is decommissioned: the command waits until it holds nothing.
    let decommissioned_at = Instant::now();
    let output = decommission(&nodes[0], addresses[0], 2, 120).await;
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", text(&output.stderr));
    assert!(stdout.contains("node 2 is decommissioned"), "{stdout}");
    eprintln!("node 2 decommissioned after {:?}:\n{stdout}", decommissioned_at.elapsed());
    let cluster = status(addresses[0]).await.expect("status");
    assert_eq!(membership(&cluster, 2), Some("decommissioned"));
    assert!(cluster.ranges.iter().all(|range| !range.replicas.contains(&2) && range.replicas.len() == 3));
    nodes[1].terminate();

    // Three active nodes left: decommissioning another one is refused.
    let output = nodes[0].cli(&["node", "--addr", &addresses[0].to_string(), "decommission", "1"]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("would leave 2 active nodes"), "{stderr}");

    // Every key is still there, read through the node that joined.
    for index in 0..KEYS {
        let key = format!("key-{index:04}");
        assert_eq!(get(&mut through_fourth, &key).await.expect("read"), Some(value.clone()), "{key}");
    }
    put(&mut through_fourth, "after-decommission", "yes").await.expect("write after node 2 left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_node_grows_into_three_replicas_as_nodes_join_and_survives_losing_the_first() {
    let root = tempfile::tempdir().expect("temporary folder");
    let first_address = free_address();
    let mut first = Node::init(root.path(), "n1", first_address, &[]);
    first.start();
    let mut client = wait_until_serving(first_address, Duration::from_secs(20)).await;
    for index in 0..50 {
        put(&mut client, &format!("key-{index:02}"), &index.to_string()).await.expect("write");
    }
    let mut joined = Vec::new();
    for name in ["n2", "n3"] {
        let address = free_address();
        let mut node = Node::init(root.path(), name, address, &[first_address]);
        node.start();
        joined.push(node);
    }
    let started = Instant::now();
    let joined_addresses: Vec<_> = joined.iter().map(|node| node.rpc).collect();
    eventually(Duration::from_secs(60), "every range on three nodes", || {
        let joined_addresses = joined_addresses.clone();
        async move {
            let cluster = status(first_address).await?;
            let live = cluster.nodes.iter().filter(|node| node.live && node.membership == "active").count();
            let replicated = cluster.ranges.iter().all(|range| range.replicas == vec![1, 2, 3]);
            // The new replicas hold the data (their snapshot arrived), not only the descriptor.
            for address in joined_addresses {
                let local = local_status(address).await?;
                let held = cluster.ranges.iter().all(|range| {
                    local.ranges.iter().any(|own| own.id == range.id && own.generation == range.generation)
                });
                if !held {
                    return None;
                }
            }
            (live == 3 && replicated).then_some(())
        }
    })
    .await;
    eprintln!("replicated onto the two new nodes after {:?}", started.elapsed());

    // The first node dies; the two that joined hold a quorum and every key.
    first.kill();
    let mut client = KvClient::new(channel(joined[0].rpc).await.expect("node 2"));
    let deadline = Instant::now() + Duration::from_secs(20);
    while let Err(error) = put(&mut client, "after-first-died", "yes").await {
        if Instant::now() > deadline {
            let cluster = status(joined[0].rpc).await;
            panic!(
                "no write without the first node: {error:?}\nstatus: {cluster:#?}\nnode 2:\n{}\nnode 3:\n{}",
                joined[0].log_text(),
                joined[1].log_text()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for index in 0..50 {
        assert_eq!(get(&mut client, &format!("key-{index:02}")).await.expect("read"), Some(index.to_string()));
    }
}

/// Snapshots stream in chunks of a kilobyte: every range here is several.
fn small_chunks(node: &Node) {
    let config = std::fs::read_to_string(&node.config).expect("read config");
    let config = config.replace("snapshot_chunk_bytes = 1048576", "snapshot_chunk_bytes = 1024");
    assert!(config.contains("snapshot_chunk_bytes = 1024"), "the default config names the chunk size");
    std::fs::write(&node.config, config).expect("write config");
}

/// A node loses its disk: its folder is wiped, and it joins again as a new
/// node. The old one is decommissioned while down, and every range it held
/// moves to the new one, which catches up by snapshots streamed in many
/// chunks (each range holds several kilobytes; chunks are one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wiped_node_rejoins_and_catches_up_by_streamed_snapshots() {
    let root = tempfile::tempdir().expect("temporary folder");
    let value = "v".repeat(64);
    let (addresses, mut nodes) = three_loaded_nodes(root.path(), &value, |node| {
        small_ranges(node);
        small_chunks(node);
    })
    .await;
    let cluster = eventually(Duration::from_secs(60), "several full ranges", || async {
        let cluster = status(addresses[0]).await?;
        let full = cluster.ranges.iter().all(|range| range.replicas.len() == 3 && range.leader != 0);
        (cluster.ranges.len() >= 3 && full).then_some(cluster)
    })
    .await;
    eprintln!("{} ranges on nodes 1-3", cluster.ranges.len());

    nodes[2].kill();
    std::fs::remove_dir_all(&nodes[2].folder).expect("wipe node 3");
    let wiped_address = free_address();
    let mut wiped = Node::init(root.path(), "n3", wiped_address, &addresses[..2]);
    small_ranges(&wiped);
    small_chunks(&wiped);
    wiped.start();
    let rejoined_at = Instant::now();
    eventually(Duration::from_secs(60), "the wiped node joins again, as node 4", || async {
        let cluster = status(addresses[0]).await?;
        cluster.nodes.iter().find(|node| node.id == 4).filter(|node| node.live && node.membership == "active")?;
        Some(())
    })
    .await;
    let output = decommission(&nodes[0], addresses[0], 3, 150).await;
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}{}\nnew node's log:\n{}", text(&output.stderr), wiped.log_text());
    eprintln!("node 3 decommissioned, its replicas on node 4, after {:?}:\n{stdout}", rejoined_at.elapsed());
    let cluster = status(addresses[0]).await.expect("status");
    assert!(wiped.log_text().contains("joined as node 4"), "{}", wiped.log_text());
    for range in &cluster.ranges {
        assert_eq!(range.replicas, vec![1, 2, 4], "range {} keeps the new node instead of the lost one", range.id);
    }
    // Each of its replicas came by a snapshot, or by splitting one that did.
    let restored = wiped.log_text().matches("restored a snapshot").count();
    eprintln!("node 4 restored {restored} snapshots for {} ranges", cluster.ranges.len());
    assert!(restored >= 1, "node 4 caught up without a snapshot:\n{}", wiped.log_text());

    // Every key, read through the node that lost its disk.
    let mut through_wiped = KvClient::new(channel(wiped_address).await.expect("node 4"));
    for index in 0..KEYS {
        let key = format!("key-{index:04}");
        assert_eq!(get(&mut through_wiped, &key).await.expect("read"), Some(value.clone()), "{key}");
    }
}

/// A node dies for good (`kill -9`, never restarted) and is decommissioned:
/// each of its ranges gains a replica elsewhere while that node, still a
/// voter, never answers, so the new replica must join the quorum from its
/// first snapshot on. Every key stays readable and writable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_node_is_decommissioned_and_its_ranges_re_replicate_around_it() {
    let root = tempfile::tempdir().expect("temporary folder");
    let value = "d".repeat(64);
    let (addresses, mut nodes) = three_loaded_nodes(root.path(), &value, small_ranges).await;
    let fourth_address = free_address();
    let mut fourth = Node::init(root.path(), "n4", fourth_address, &addresses);
    small_ranges(&fourth);
    fourth.start();
    eventually(Duration::from_secs(90), "node 4 joins and holds replicas", || async {
        let cluster = status(addresses[0]).await?;
        let full = cluster.ranges.iter().all(|range| range.replicas.len() == 3);
        (full && loads(&cluster).get(&4).copied().unwrap_or(0) >= 1).then_some(())
    })
    .await;

    nodes[1].kill();
    let on_two = loads(&status(addresses[0]).await.expect("status"))[&2];
    eprintln!("node 2 killed for good, holding {on_two} replicas");
    let decommissioned_at = Instant::now();
    let output = decommission(&nodes[0], addresses[0], 2, 180).await;
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", text(&output.stderr));
    eprintln!("dead node 2 decommissioned after {:?}:\n{stdout}", decommissioned_at.elapsed());
    let cluster = status(addresses[0]).await.expect("status");
    assert_eq!(membership(&cluster, 2), Some("decommissioned"));
    assert!(cluster.ranges.iter().all(|range| !range.replicas.contains(&2) && range.replicas.len() == 3));

    let mut client = KvClient::new(channel(addresses[0]).await.expect("node 1"));
    for index in 0..KEYS {
        let key = format!("key-{index:04}");
        assert_eq!(get(&mut client, &key).await.expect("read"), Some(value.clone()), "{key}");
    }
    put(&mut client, "after-the-dead-node-left", "yes").await.expect("write");
}
