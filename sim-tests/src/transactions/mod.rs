//! One seeded run of a transaction workload (bank or list-append) on stores of
//! many ranges, under the same nemesis as the register workload.
//!
//! Every node runs a [`StoreProgram`]: one Raft replica per range, ranges
//! splitting by size as the data grows (the threshold is drawn per seed and
//! small). Clients run transaction coordinators through [`Gateway`]s,
//! each reading the skewed clock of one node, so the nemesis's clock faults
//! reach transaction timestamps: offsets within the maximum offset must be
//! tolerated, offsets beyond it must be refused by the nodes.
//!
//! Phases: (1) safety: clients run while the nemesis injects faults; (2) heal,
//! stop the clients, and let each finish its transaction within the liveness
//! bound; (3) a final transaction (a read of every list, or an audit) must
//! commit within the bound; (4) every replica of every range converges; (5) the
//! checkers: list-append anomalies or wrong bank totals, plus the Raft-level
//! checks of the recorder, per range.

pub mod blind_writes;
pub mod causal;
pub mod placement;
pub mod sql_bank;
pub mod workloads;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use madsim::rand::seq::SliceRandom;
use madsim::rand::{thread_rng, Rng};
use madsim::runtime::Handle;
use shardforge_core::kv::{KvClient, KvSettings};
use shardforge_core::range::TIMESTAMP_CACHE_ENTRIES_MAX_DEFAULT;
use shardforge_core::replica::SnapshotLimits;
use shardforge_core::store::StoreConfig;
use shardforge_core::txn::coordinator::TransactionKnobs;
use shardforge_core::types::NodeId;
use shardforge_runtime_sim::client::SimClient;
use shardforge_runtime_sim::clock::SkewedClock;
use shardforge_runtime_sim::cluster::{ClusterConfig, SimCluster};
use shardforge_runtime_sim::nemesis::{ClockFaults, FaultKind, Nemesis, Retirements};
use shardforge_runtime_sim::network::{client_ip, NetworkFaults};
use shardforge_runtime_sim::observer::Observer;
use shardforge_runtime_sim::program::{StoreProgram, REPLICATION_FACTOR};

use shardforge_runtime_sim::client::{SimRuntime, SimTransport};

/// A workload client's gateway: the core's, over the simulated network.
pub type Gateway = shardforge_core::txn::gateway::Gateway<SimTransport>;
use self::workloads::{Recorded, TransactionSettings};
use crate::bugs::Bug;
use crate::checker::list_append::{self, MicroOperation, TransactionOutcome};
use crate::recorder::Recorder;
use crate::run::{draw_plan, draw_raft_config, wait_for_convergence, RunOptions, SeedReport, Workload};

/// The clock offset the stores assume: small, because every read-write
/// transaction waits it out before acknowledging (commit wait).
pub const MAX_OFFSET_NANOS: u64 = 250_000_000;

/// Clock steps either way from true time. With commit wait on, within a third
/// of the maximum offset: with drift, every two clocks stay within the offset
/// of each other, which is what strict serializability assumes (with clocks
/// each within the offset of true time, two may differ by twice it, and a
/// commit acknowledged after one offset of commit wait can still be followed
/// by a transaction on a clock so far behind that it commits below it; see
/// docs/transactions.md). With commit wait off, up to the full offset, so that
/// runs see offsets within and beyond it; serializability must hold whatever
/// the clocks, and nodes refuse a request whose sender's clock, or any
/// timestamp in it, is beyond their own clock plus or minus the offset.
///
/// A third of the commit-wait-off seeds keep their clocks within half the
/// offset of true time, so within the offset of each other: then every key
/// must also be linearizable (the future-time wait and the reader's
/// uncertainty interval promise it), which is what shows a missing
/// uncertainty interval; without commit wait nothing else can.
fn clock_faults(clocks: ClockModel) -> ClockFaults {
    let max_offset = MAX_OFFSET_NANOS as i64
        / match clocks {
            ClockModel::Tight => 3,
            ClockModel::Paired => 2,
            ClockModel::Loose => 1,
        };
    ClockFaults { offset_min_nanos: -max_offset, offset_max_nanos: max_offset, drift_max_ppm: 2_000 }
}
/// How far apart a seed's clocks may drift, which decides what its history
/// must satisfy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClockModel {
    /// Commit wait on: within a third of the offset of true time.
    Tight,
    /// Commit wait off, every two clocks within the offset of each other:
    /// serializable, and every key linearizable.
    Paired,
    /// Commit wait off, clocks anywhere within the offset of true time:
    /// serializable.
    Loose,
}

/// Client host ids (the register workload's clients use 1..).
const SETUP_CLIENT: u64 = 900;
const CHECKER_CLIENT: u64 = 901;
const OPERATOR_CLIENT: u64 = 902;
const REBALANCER_CLIENT: u64 = 903;

fn store_config(options: &RunOptions, leader_churn: bool) -> (StoreConfig, u64, Duration) {
    let (raft, node_count, sync_latency) = draw_raft_config(options, leader_churn);
    let mut random = thread_rng();
    let config = StoreConfig {
        node: NodeId(1),
        raft,
        tick_interval_nanos: 10_000_000,
        compaction_threshold_entries: *[20, 200, 1000].choose(&mut random).expect("non-empty"),
        compaction_threshold_bytes: *[4 << 10, 64 << 10, 4 << 20].choose(&mut random).expect("non-empty"),
        heartbeat_expiry_nanos: 2_000_000_000,
        split_threshold_bytes: Some(*[1_500, 4_000, 16_000].choose(&mut random).expect("non-empty")),
        split_check_interval_ticks: 10,
        garbage_collection_ttl_nanos: Some(*[1_000_000_000, 5_000_000_000].choose(&mut random).expect("non-empty")),
        max_offset_nanos: MAX_OFFSET_NANOS,
        // Tiny caches fold into their low-water marks in every seed, so that the
        // low-water mark's passage through splits and snapshots is exercised.
        timestamp_cache_entries_max: *[2, 8, 64, TIMESTAMP_CACHE_ENTRIES_MAX_DEFAULT]
            .choose(&mut random)
            .expect("non-empty"),
        // Chunks of a few pairs up to the production size: most snapshots
        // stream in many chunks, which a crash or a lost message interrupts.
        snapshot: SnapshotLimits {
            chunk_bytes_max: *[256, 2_048, 1 << 20].choose(&mut random).expect("non-empty"),
            // Several in flight, so that a lost chunk is followed by others.
            chunks_in_flight_max: *[2, 4, 8].choose(&mut random).expect("non-empty"),
        },
        knobs: Bug::store_knobs(options.bug),
    };
    (config, node_count, sync_latency)
}

/// A clock storm (drawn per seed): every other client's gateway reads a clock
/// of its own, ahead of or behind its node's by two and a half times the
/// maximum offset (so that gateways and leaders disagree by more than the
/// offset, and the nodes' refusals are what keeps those transactions from
/// reading stale data or writing into the future) or, in commit-wait-off
/// seeds, by four fifths of it (served, so that uncertainty intervals are
/// tested at the edge of what they must cover). (Without storms, every clock refusal could be
/// disabled at once and 100 seeds still passed; with them, the first seeds
/// find real-time cycles.) Only gateways: a node whose own clock leaves the
/// offset is beyond what refusals can handle (see docs/transactions.md,
/// "Clocks beyond the offset").
fn storm_clock(
    origin: madsim::time::Instant,
    node_clock: &SkewedClock,
    recorder: &Recorder,
    client: u64,
    clocks: ClockModel,
) -> SkewedClock {
    // Beyond the offset (refused), or most of it (served, and then only the
    // uncertainty interval and commit wait keep the order of real time; not
    // with commit wait on, whose promise assumes clocks within the offset of
    // each other).
    let max_offset = MAX_OFFSET_NANOS as i64;
    let choices: &[i64] = match clocks {
        ClockModel::Loose => &[max_offset * 5 / 2, max_offset * 4 / 5],
        ClockModel::Tight | ClockModel::Paired => &[max_offset * 5 / 2],
    };
    let away = *choices.choose(&mut thread_rng()).expect("non-empty");
    let offset = node_clock.offset_nanos() + if thread_rng().gen_bool(0.5) { away } else { -away };
    let clock = SkewedClock::new(origin);
    clock.jump_to_offset(offset);
    recorder.event(format!("clock storm: client {client}'s gateway clock at {} ms", offset / 1_000_000));
    clock
}

fn settings(options: &RunOptions) -> TransactionSettings {
    let knobs = Bug::transaction_knobs(options.bug);
    TransactionSettings { max_offset_nanos: MAX_OFFSET_NANOS, knobs, keys: options.keys + 2 }
}

async fn gateway_on(host: u64, faults: NetworkFaults, nodes: Vec<NodeId>, clock: SkewedClock) -> Gateway {
    let transport = SimTransport::new(SimClient::bind(host, faults).await, clock);
    let first_node = transport.client_id() as usize;
    Gateway::new(transport, nodes, first_node)
}

/// The whole run, inside a madsim runtime seeded with `seed`.
pub async fn simulate(seed: u64, options: RunOptions) -> SeedReport {
    let origin = madsim::time::Instant::now();
    let recorder = Arc::new(Recorder::new(options.trace, true));
    let (mut plan, leader_churn) = draw_plan();
    let (store, node_count, sync_latency) = store_config(&options, leader_churn);
    // Half the runs with placement lose the node they decommission for good
    // (`placement`). The nemesis's raw Raft membership changes, which bypass
    // the range's descriptor, stay out of those: a raw AddVoter of a node the
    // descriptor leaves out can never commit once a voter is dead for good
    // (the added node's replica is deleted as left behind), and the range
    // would be wedged by the test, not by the product.
    let leaving_dies = node_count > REPLICATION_FACTOR as u64 && thread_rng().gen_bool(0.5);
    if leaving_dies {
        plan.enabled.retain(|(kind, _)| *kind != FaultKind::MembershipChange);
        if plan.enabled.is_empty() {
            plan.enabled.push((FaultKind::KillRestart, 1));
        }
    }
    // Production's default (commit wait off: serializable, not strict) and the
    // strict setting are both simulated; the checker holds each to its promise.
    let commit_wait = thread_rng().gen_bool(0.5);
    let clock_model = match commit_wait {
        true => ClockModel::Tight,
        false if thread_rng().gen_bool(1.0 / 3.0) => ClockModel::Paired,
        false => ClockModel::Loose,
    };
    let clock_storm = thread_rng().gen_bool(0.3);
    // Most seeds keep every range available (at most one node of its three
    // replicas down at once), so that transactions keep running under the
    // other faults; the rest let the nemesis take down as many as it likes.
    let down_nodes_max = thread_rng().gen_bool(0.7).then_some((REPLICATION_FACTOR - 1) / 2);
    // Key rotation (half the list-append seeds): lists stay short and the
    // key space keeps growing, so ranges split under the transactions.
    let key_rotation = (options.workload == Workload::ListAppend && thread_rng().gen_bool(0.5))
        .then(|| Duration::from_millis(*[300, 1000].choose(&mut thread_rng()).expect("non-empty")));
    let fault_kinds: Vec<FaultKind> = plan.enabled.iter().map(|(kind, _)| *kind).collect();
    let plan_text = format!(
        "{:?} every <= {} ms; {node_count} nodes{}; {}; commit wait {}; clocks {clock_model:?}{}{}; {store:?}",
        plan.enabled,
        plan.action_interval_millis_max,
        if leaving_dies { " (the decommissioned one dies for good first)" } else { "" },
        down_nodes_max.map_or("any nodes down".to_string(), |most| format!("at most {most} down")),
        if commit_wait { "on" } else { "off" },
        if clock_storm { "; clock storm" } else { "" },
        key_rotation.map_or(String::new(), |every| format!("; keys rotate every {} ms", every.as_millis()))
    );
    recorder.event(format!("seed {seed}: {plan_text}"));
    let config = ClusterConfig { node_count, program: store, sync_latency };
    let cluster = SimCluster::<StoreProgram>::start(&config, recorder.clone());
    let faults = cluster.faults().clone();
    let nodes = cluster.node_ids();
    let clocks: Vec<SkewedClock> = nodes.iter().map(|node| cluster.clock(*node).clone()).collect();
    // Clocks never agree exactly: each starts somewhere within a quarter of the
    // maximum offset (within half of it pairwise, leaving room for network delay
    // in the nodes' check of a sender's clock); the nemesis's clock faults go
    // further.
    let quarter_offset = MAX_OFFSET_NANOS as i64 / 4;
    for clock in &clocks {
        clock.jump_to_offset(thread_rng().gen_range(-quarter_offset..=quarter_offset));
    }
    let settings = settings(&options);
    let recorded = Arc::new(Recorded::new(origin, commit_wait, key_rotation));
    let stop = Arc::new(AtomicBool::new(false));

    let mut setup_failure = None;
    if options.workload == Workload::Bank {
        let host = Handle::current().create_node().name("setup").ip(client_ip(SETUP_CLIENT)).build();
        let (faults, nodes, clock, recorded) = (faults.clone(), nodes.clone(), clocks[0].clone(), recorded.clone());
        let setup = host.spawn(async move {
            let mut gateway = gateway_on(SETUP_CLIENT, faults, nodes, clock).await;
            workloads::open_accounts(&mut gateway, settings, &recorded).await;
        });
        // No faults yet: opening the accounts must not take long.
        if madsim::time::timeout(options.liveness_bound, setup).await.is_err() {
            setup_failure = Some(format!("liveness: the accounts were not opened within {:?}", options.liveness_bound));
            stop.store(true, Ordering::SeqCst);
        }
        Handle::current().kill(host.id());
    }
    if options.workload == Workload::SqlBank {
        let host = Handle::current().create_node().name("setup").ip(client_ip(SETUP_CLIENT)).build();
        let (faults, nodes, clock, recorder) = (faults.clone(), nodes.clone(), clocks[0].clone(), recorder.clone());
        let commit_wait = recorded.commit_wait;
        // SQL sessions' futures are not `Send`: they run as local tasks of their host.
        let setup = host.spawn(async move {
            let gateway = gateway_on(SETUP_CLIENT, faults, nodes, clock).await;
            let session = sql_bank::session(gateway, settings, commit_wait);
            let _ = madsim::task::spawn_local(sql_bank::open_accounts(session, recorder)).await;
        });
        if madsim::time::timeout(options.liveness_bound, setup).await.is_err() {
            setup_failure =
                Some(format!("liveness: the SQL accounts were not opened within {:?}", options.liveness_bound));
            stop.store(true, Ordering::SeqCst);
        }
        Handle::current().kill(host.id());
    }

    // Client hosts, killed at the end (madsim keeps pending tasks alive otherwise).
    let mut hosts = Vec::new();
    for client in 1..=options.clients + 2 {
        let (faults, nodes, recorded, stop) = (faults.clone(), nodes.clone(), recorded.clone(), stop.clone());
        let mut clock = clocks[(client as usize - 1) % clocks.len()].clone();
        if clock_storm && client % 2 == 0 {
            clock = storm_clock(origin, &clock, &recorder, client, clock_model);
        }
        let (workload, recorder) = (options.workload, recorder.clone());
        let host = Handle::current().create_node().name(format!("client-{client}")).ip(client_ip(client)).build();
        hosts.push(host.clone());
        host.spawn(async move {
            let gateway = gateway_on(client, faults, nodes, clock).await;
            match workload {
                Workload::Bank => workloads::bank_client(gateway, settings, recorded, stop).await,
                Workload::SqlBank => {
                    let session = sql_bank::session(gateway, settings, recorded.commit_wait);
                    let client = sql_bank::client(session, client, recorded, recorder, stop);
                    let _ = madsim::task::spawn_local(client).await;
                }
                _ => workloads::list_append_client(gateway, client, settings, recorded, stop).await,
            }
        });
    }

    // List-append seeds also run the causal-reverse probe (see `causal`).
    if options.workload == Workload::ListAppend {
        let host = Handle::current().create_node().name("probe").ip(client_ip(causal::PROBE_CLIENT)).build();
        hosts.push(host.clone());
        let (faults, nodes, recorded, stop) = (faults.clone(), nodes.clone(), recorded.clone(), stop.clone());
        host.spawn(async move {
            let gateways = causal::ProbeGateways::bind(origin, faults, nodes).await;
            causal::probe(gateways, settings, recorded, stop).await;
        });
    }

    // With more nodes than a range keeps replicas, the registry and the
    // rebalancer run as in production: nodes join, one is decommissioned, and
    // ranges move under the nemesis (see `placement`).
    let retirements = Retirements::default();
    let placement = (nodes.len() > REPLICATION_FACTOR)
        .then(|| Arc::new(placement::Placement::new(recorder.clone(), retirements.clone(), leaving_dies)));
    if let Some(placement) = &placement {
        let kv_settings =
            KvSettings { max_offset_nanos: MAX_OFFSET_NANOS, commit_wait, knobs: TransactionKnobs::default() };
        let interval = Duration::from_millis(*[100, 300, 1000].choose(&mut thread_rng()).expect("non-empty"));
        placement.rebalance_interval_millis.store(interval.as_millis() as u64, Ordering::SeqCst);
        for (client, name) in [(OPERATOR_CLIENT, "operator"), (REBALANCER_CLIENT, "rebalancer")] {
            let host = Handle::current().create_node().name(name).ip(client_ip(client)).build();
            hosts.push(host.clone());
            let (faults, nodes, clock, placement) =
                (faults.clone(), nodes.clone(), clocks[0].clone(), placement.clone());
            host.spawn(async move {
                let gateway = gateway_on(client, faults, nodes.clone(), clock).await;
                let kv = KvClient::new(gateway, SimRuntime, kv_settings);
                match client {
                    OPERATOR_CLIENT => placement::operate(kv, nodes, &placement).await,
                    _ => placement::rebalance(kv, nodes, interval, &placement).await,
                }
            });
        }
    }

    let actions = Arc::new(Mutex::new(Vec::new()));
    let control = Handle::current().create_node().name("control").ip(client_ip(1000)).build();
    let verdict = {
        let (options, recorder, actions) = (options.clone(), recorder.clone(), actions.clone());
        let (recorded, stop, nodes, placement) = (recorded.clone(), stop.clone(), nodes.clone(), placement.clone());
        control.spawn(async move {
            let admin = SimClient::bind(1000, faults.clone()).await;
            let mut nemesis = Nemesis::new(cluster, plan, admin, recorder.clone())
                .with_clock_faults(clock_faults(clock_model))
                .with_down_nodes_max(down_nodes_max.unwrap_or(usize::MAX))
                .with_retirements(retirements.clone());
            let verdict = async {
                nemesis.run(options.safety_phase).await;
                let healed = madsim::time::timeout(options.liveness_bound, nemesis.heal()).await.is_ok();
                *actions.lock().expect("actions lock") = nemesis.actions.clone();
                stop.store(true, Ordering::SeqCst);
                if !healed {
                    return Err("liveness: the removed voter could not be added back after healing".to_string());
                }
                let checker = Handle::current().create_node().name("checker").ip(client_ip(CHECKER_CLIENT)).build();
                let clock = clocks[0].clone();
                // Each step of the final phase has its own bound; this one catches
                // a command retried forever by a cluster that never recovered.
                let bound = options.liveness_bound * 6;
                let (options, recorder) = (options.clone(), recorder.clone());
                // The SQL bank's final audit: a session of its own, on a second
                // gateway of the checker's host.
                let sql = (options.workload == Workload::SqlBank).then(|| sql_bank::FinalAudit {
                    faults: faults.clone(),
                    nodes: nodes.clone(),
                    clock: clock.clone(),
                    address: std::net::SocketAddr::new(client_ip(CHECKER_CLIENT), 7001),
                    settings: TransactionSettings { knobs: TransactionKnobs::default(), ..settings },
                    commit_wait,
                    recorded: recorded.clone(),
                    recorder: recorder.clone(),
                });
                let final_phase = checker.spawn(async move {
                    let gateway = gateway_on(CHECKER_CLIENT, faults, nodes.clone(), clock).await;
                    let kv_settings = KvSettings {
                        max_offset_nanos: MAX_OFFSET_NANOS,
                        commit_wait,
                        knobs: TransactionKnobs::default(),
                    };
                    let mut kv = KvClient::new(gateway, SimRuntime, kv_settings);
                    let placement = placement.as_deref();
                    // A node dead for good holds replicas of nothing any more.
                    let retired = retirements.retired();
                    let nodes: Vec<NodeId> = nodes.into_iter().filter(|node| !retired.contains(node)).collect();
                    let checks = FinalChecks {
                        settings,
                        recorded: &recorded,
                        recorder: &recorder,
                        nodes: &nodes,
                        placement,
                        sql,
                    };
                    liveness_and_final_check(&mut kv, &options, checks).await
                });
                let finished = madsim::time::timeout(bound, final_phase).await;
                Handle::current().kill(checker.id());
                match finished {
                    Ok(verdict) => verdict.expect("final phase task"),
                    Err(_) => Err(format!("liveness: the final phase did not end within {bound:?}")),
                }
            }
            .await;
            let verdict = verdict.and_then(|()| leaked_data(&nemesis.cluster));
            nemesis.cluster.shut_down();
            verdict
        })
    };
    let verdict = verdict.await.expect("control task");
    for host in &hosts {
        Handle::current().kill(host.id());
    }
    let history = recorded.transactions.lock().expect("history lock").clone();
    let wrong_totals = recorded.wrong_totals.lock().expect("audit lock").clone();
    // Without commit wait the promise is serializability: a transaction may miss
    // one that finished before it began. (Not even on one key is it safe to ask
    // more: a commit timestamp pushed ahead of every clock is acknowledged at
    // once; see docs/transactions.md, "Commit wait off".)
    let anomaly = match clock_model {
        ClockModel::Loose => list_append::check(&history)
            .into_iter()
            .find(|violation| violation.anomaly != list_append::Anomaly::RealTime),
        ClockModel::Tight | ClockModel::Paired => {
            list_append::check_as_promised(&history, commit_wait).into_iter().next()
        }
    };
    let lost = (options.workload == Workload::ListAppend).then(|| lost_append(&history)).flatten();
    let lost_blind_write = recorded
        .final_hot_values
        .lock()
        .expect("history lock")
        .as_ref()
        .and_then(|finals| blind_writes::check(&recorded.blind_writes.lock().expect("history lock"), finals));
    let failure = recorder
        .violations()
        .first()
        .cloned()
        .or(setup_failure)
        .or_else(|| {
            placement
                .as_ref()
                .and_then(|placement| placement.violations.lock().expect("placement lock").first().cloned())
        })
        .or_else(|| anomaly.map(|violation| format!("list-append {:?}: {}", violation.anomaly, violation.explanation)))
        .or(lost)
        .or(lost_blind_write)
        .or_else(|| wrong_totals.first().map(|wrong| format!("bank: {wrong}")))
        .or_else(|| recorded.sql.first_violation())
        .or(verdict.err());
    let nemesis_actions = actions.lock().expect("actions lock").clone();
    SeedReport {
        seed,
        failure,
        plan: plan_text,
        fault_kinds,
        operations: recorded.committed.load(Ordering::SeqCst) as usize,
        range_moves: placement.as_ref().map_or(0, |placement| placement.moves.load(Ordering::SeqCst) as usize),
        one_phase_commits: recorded.one_phase_commits.load(Ordering::SeqCst) as usize,
        ranges: recorder.applied_indexes().len(),
        simulated: madsim::time::Instant::now().duration_since(origin),
        wall: Duration::ZERO,
        trace: recorder.trace(),
        trace_hash: recorder.trace_hash(),
        nemesis_actions,
    }
}

/// After healing: every client finishes, a final transaction commits,
/// placement reaches what the operator asked for, and every range's replicas
/// converge, each within the liveness bound (placement within twice that: it
/// moves one replica at a time).
async fn liveness_and_final_check(
    kv: &mut placement::SimKv,
    options: &RunOptions,
    checks: FinalChecks<'_>,
) -> Result<(), String> {
    let FinalChecks { settings, recorded, recorder, nodes, placement, sql } = checks;
    let deadline = madsim::time::Instant::now() + options.liveness_bound;
    let probes = u64::from(options.workload == Workload::ListAppend);
    while recorded.finished_clients.load(Ordering::SeqCst) < options.clients + 2 + probes {
        if madsim::time::Instant::now() > deadline {
            return Err(format!("liveness: clients still in a transaction {:?} after healing", options.liveness_bound));
        }
        madsim::time::sleep(Duration::from_millis(10)).await;
    }
    let deadline = madsim::time::Instant::now() + options.liveness_bound;
    let final_settings = TransactionSettings { knobs: TransactionKnobs::default(), ..settings };
    match sql {
        // A local task of the checker's host: a SQL session's futures are not `Send`.
        Some(sql) => madsim::task::spawn_local(sql.run(deadline)).await.expect("final SQL audit task")?,
        None => loop {
            let gateway = kv.gateway();
            let committed = match options.workload {
                Workload::Bank => workloads::bank_transaction(gateway, final_settings, recorded, true).await,
                _ => final_reads(gateway, final_settings, recorded).await,
            };
            if committed {
                break;
            }
            if madsim::time::Instant::now() > deadline {
                return Err(format!("liveness: no final transaction committed within {:?}", options.liveness_bound));
            }
        },
    }
    if options.workload == Workload::ListAppend {
        loop {
            if let Some(values) = blind_writes::final_read(kv.gateway(), final_settings).await {
                *recorded.final_hot_values.lock().expect("history lock") = Some(values);
                break;
            }
            if madsim::time::Instant::now() > deadline {
                return Err(format!(
                    "liveness: the final read of the hot keys did not commit within {:?}",
                    options.liveness_bound
                ));
            }
        }
    }
    if let Some(placement) = placement {
        let deadline = madsim::time::Instant::now() + options.liveness_bound * 2;
        placement::settled(kv, nodes, placement, deadline).await?;
    }
    let deadline = madsim::time::Instant::now() + options.liveness_bound;
    wait_for_convergence(recorder, nodes, deadline).await
}

/// What the final phase checks against.
struct FinalChecks<'a> {
    settings: TransactionSettings,
    recorded: &'a Recorded,
    recorder: &'a Recorder,
    nodes: &'a [NodeId],
    placement: Option<&'a placement::Placement>,
    /// The SQL bank's final audit, which replaces the final transaction.
    sql: Option<sql_bank::FinalAudit>,
}

/// Data a node holds outside every replica it holds: a leak no client sees
/// (`store::data_outside_replicas`). Checked once the run converged.
fn leaked_data(cluster: &SimCluster<StoreProgram>) -> Result<(), String> {
    // A retired node's disk is as it died (an install half done, say): it
    // never recovers, so it is not held to a converged run's state.
    for (node, disk) in cluster.disks().filter(|(node, _)| !cluster.is_retired(*node)) {
        let engine = disk.lock();
        let leaked = shardforge_core::store::data_outside_replicas(&*engine).expect("the simulated disk reads");
        if let Some(key) = leaked {
            return Err(format!("storage: {node} holds data outside every replica it holds, at key {key:?}"));
        }
    }
    Ok(())
}

/// The client id of the final reads.
const FINAL_READS_CLIENT: u64 = u64::MAX;

/// Lost updates, checked directly: every append a client saw commit must be in
/// the final read of its list (which runs after every client has finished).
/// The cycle search finds this too, but only through real-time edges, which
/// the serializable mode (commit wait off) no longer follows across keys.
fn lost_append(history: &[list_append::Transaction]) -> Option<String> {
    let final_read = history.iter().rev().find(|transaction| {
        transaction.client == FINAL_READS_CLIENT && transaction.outcome == TransactionOutcome::Committed
    })?;
    let lists: BTreeMap<u64, &Vec<u64>> = final_read
        .operations
        .iter()
        .filter_map(|operation| match operation {
            MicroOperation::Read { key, list: Some(list) } => Some((*key, list)),
            _ => None,
        })
        .collect();
    let committed = history.iter().filter(|transaction| transaction.outcome == TransactionOutcome::Committed);
    for transaction in committed {
        for operation in &transaction.operations {
            let MicroOperation::Append { key, value } = operation else { continue };
            if lists.get(key).is_some_and(|list| !list.contains(value)) {
                return Some(format!(
                    "lost update: T{} committed appending {value} to key {key}, but the final read T{} of that key lacks it",
                    transaction.id, final_read.id
                ));
            }
        }
    }
    None
}

/// One transaction reading every list, recorded in the history; whether it committed.
async fn final_reads(gateway: &mut Gateway, settings: TransactionSettings, recorded: &Recorded) -> bool {
    let keys = recorded.keys_touched(settings.keys);
    let (number, mut transaction, invoked_at_nanos) = recorded.begin(gateway, settings);
    let (operations, ending) = match workloads::read_every_list(&mut transaction, gateway, keys).await {
        Ok(operations) => (operations, workloads::finish(&mut transaction, gateway, recorded).await),
        Err(_) => (Vec::new(), workloads::abort(&mut transaction, gateway).await),
    };
    let committed = ending.committed();
    recorded.record(number, FINAL_READS_CLIENT, operations, ending, invoked_at_nanos);
    committed
}
