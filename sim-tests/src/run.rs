//! One seeded run, from cluster start to verdict: the register workload here,
//! the transaction workloads in [`crate::transactions`] (same phases and nemesis).
//!
//! Phases: (1) **safety**: clients run while the nemesis injects the faults its
//! seed enabled; (2) **liveness**: every fault is healed, and a write must commit
//! within `liveness_bound`; (3) **convergence**: every replica must apply up to
//! the same index; (4) a final linearizable read of every key; (5) the history
//! must be linearizable, and no node may have reported a safety violation.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant as WallInstant};

use madsim::rand::seq::SliceRandom;
use madsim::rand::{thread_rng, Rng};
use madsim::runtime::{Handle, Runtime};
use shardforge_core::raft::RaftConfig;
use shardforge_core::replica::{ReplicaConfig, SnapshotLimits};
use shardforge_core::types::NodeId;
use shardforge_runtime_sim::client::SimClient;
use shardforge_runtime_sim::cluster::{ClusterConfig, SimCluster};
use shardforge_runtime_sim::nemesis::{FaultKind, FaultPlan, Nemesis};
use shardforge_runtime_sim::network::client_ip;
use shardforge_runtime_sim::observer::Observer;
use shardforge_runtime_sim::program::{SingleGroup, SingleGroupSettings};

use crate::bugs::Bug;
use crate::checker::linearizability::{self, RegisterOperation};
use crate::leadership;
use crate::recorder::Recorder;
use crate::register::RegisterMachine;
use crate::workload::{History, RegisterClient};

/// Which workload a run drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// Linearizable registers on one Raft group.
    Register,
    /// Bank transfers and audits over ranges.
    Bank,
    /// Elle's list-append transactions over ranges.
    ListAppend,
    /// List-append over the core's stores driven by a seeded scheduler, without
    /// madsim (see `replicated_transactions`): hundreds of seeds a second.
    Replicated,
    /// One Raft group of the core's nodes under a seeded scheduler that picks
    /// every input (see `raft_swarm`): thousands of seeds a minute.
    RaftSwarm,
    /// The bank in SQL: the SQL engine's sessions over ranges (see
    /// `transactions::sql_bank`).
    SqlBank,
}

impl Workload {
    pub const ALL: [Workload; 6] = [
        Workload::Register,
        Workload::Bank,
        Workload::ListAppend,
        Workload::Replicated,
        Workload::RaftSwarm,
        Workload::SqlBank,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Workload::Register => "register",
            Workload::Bank => "bank",
            Workload::ListAppend => "list-append",
            Workload::Replicated => "replicated",
            Workload::RaftSwarm => "raft-swarm",
            Workload::SqlBank => "sql-bank",
        }
    }
}

impl std::fmt::Display for Workload {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.name())
    }
}

impl std::str::FromStr for Workload {
    type Err = String;

    fn from_str(name: &str) -> Result<Workload, String> {
        Workload::ALL.into_iter().find(|workload| workload.name() == name).ok_or_else(|| {
            let known: Vec<&str> = Workload::ALL.iter().map(|workload| workload.name()).collect();
            format!("unknown workload {name:?}; known workloads: {}", known.join(", "))
        })
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub workload: Workload,
    /// Cluster size; None draws 3 or 5 from the seed.
    pub nodes: Option<u64>,
    pub clients: u64,
    pub keys: u64,
    pub bug: Option<Bug>,
    pub trace: bool,
    pub safety_phase: Duration,
    pub liveness_bound: Duration,
}

impl Default for RunOptions {
    fn default() -> RunOptions {
        RunOptions {
            workload: Workload::Register,
            nodes: None,
            clients: 4,
            keys: 3,
            bug: None,
            trace: false,
            safety_phase: Duration::from_secs(15),
            liveness_bound: Duration::from_secs(10),
        }
    }
}

/// The verdict and evidence of one seed.
#[derive(Clone, Debug)]
pub struct SeedReport {
    pub seed: u64,
    /// The first violation found, if any.
    pub failure: Option<String>,
    pub plan: String,
    /// The fault kinds this seed's plan enabled.
    pub fault_kinds: Vec<FaultKind>,
    /// Completed register operations, or committed transactions.
    pub operations: usize,
    /// Raft groups (ranges) seen during the run.
    pub ranges: usize,
    /// Ranges moved (a replica traded for another node) during the run.
    pub range_moves: usize,
    /// Transactions committed by a one-phase commit (one command).
    pub one_phase_commits: usize,
    pub simulated: Duration,
    pub wall: Duration,
    pub trace: Vec<String>,
    pub trace_hash: u64,
    pub nemesis_actions: Vec<String>,
}

impl SeedReport {
    /// How to replay this seed.
    pub fn replay_command(&self, options: &RunOptions) -> String {
        let bug = options.bug.map(|bug| format!(" --bug {bug}")).unwrap_or_default();
        let nodes = options.nodes.map(|nodes| format!(" --nodes {nodes}")).unwrap_or_default();
        format!(
            "cargo run -p sim-tests --bin sim -- replay --workload {} --seed {}{bug}{nodes} --trace",
            options.workload, self.seed
        )
    }
}

/// Runs one seed in a fresh simulator. A panic inside the simulation (a broken
/// invariant asserted by the core) is a failure of that seed, not of the caller.
pub fn run_seed(seed: u64, options: &RunOptions) -> SeedReport {
    let wall_start = WallInstant::now();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        match options.workload {
            Workload::Register => {
                let runtime = Runtime::with_seed_and_config(seed, madsim::Config::default());
                runtime.block_on(simulate(seed, options.clone()))
            }
            Workload::Bank | Workload::ListAppend | Workload::SqlBank => {
                // One datacenter: 0.1–2 ms a hop (madsim's default is 1–10 ms),
                // so that transactions are fast next to the clock offsets, where
                // uncertainty matters.
                if options.workload == Workload::SqlBank {
                    crate::transactions::sql_bank::prepare_thread();
                }
                let mut config = madsim::Config::default();
                config.net.send_latency = Duration::from_micros(100)..Duration::from_millis(2);
                let runtime = Runtime::with_seed_and_config(seed, config);
                runtime.block_on(crate::transactions::simulate(seed, options.clone()))
            }
            Workload::Replicated => replicated_seed(seed, options),
            Workload::RaftSwarm => raft_swarm_seed(seed, options),
        }
    }));
    let mut report = outcome.unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|text| text.to_string()))
            .unwrap_or_else(|| "unknown panic".into());
        SeedReport {
            seed,
            failure: Some(format!("panic inside the simulation: {message}")),
            plan: String::new(),
            fault_kinds: Vec::new(),
            operations: 0,
            ranges: 0,
            range_moves: 0,
            one_phase_commits: 0,
            simulated: Duration::ZERO,
            wall: Duration::ZERO,
            trace: Vec::new(),
            trace_hash: 0,
            nemesis_actions: Vec::new(),
        }
    });
    report.wall = wall_start.elapsed();
    report
}

/// One seed of the replicated workload, as a seed report.
fn replicated_seed(seed: u64, options: &RunOptions) -> SeedReport {
    use crate::replicated_transactions::{run_replicated_list_append, ReplicatedOptions};
    let replicated = ReplicatedOptions { knobs: Bug::transaction_knobs(options.bug), ..ReplicatedOptions::default() };
    let report = run_replicated_list_append(seed, &replicated);
    let anomaly = report
        .violations
        .first()
        .map(|violation| format!("list-append {:?}: {}", violation.anomaly, violation.explanation));
    let failure = report.stuck.or(anomaly);
    SeedReport {
        seed,
        failure,
        plan: format!("{replicated:?}"),
        fault_kinds: Vec::new(),
        operations: report.committed,
        ranges: report.ranges,
        range_moves: 0,
        one_phase_commits: 0,
        simulated: report.simulated,
        wall: Duration::ZERO,
        trace: Vec::new(),
        trace_hash: 0,
        nemesis_actions: Vec::new(),
    }
}

/// One seed of the Raft swarm, as a seed report.
fn raft_swarm_seed(seed: u64, options: &RunOptions) -> SeedReport {
    use crate::raft_swarm::{run_raft_swarm, SwarmOptions};
    let swarm = SwarmOptions { knobs: Bug::testing_knobs(options.bug), ..SwarmOptions::default() };
    let report = run_raft_swarm(seed, &swarm);
    let trace = vec![format!(
        "applied up to i{}, {} elections checked, {} membership changes, {} snapshots restored, {} crashes",
        report.applied_index_max.0,
        report.elections,
        report.configuration_changes,
        report.snapshots_restored,
        report.crashes
    )];
    SeedReport {
        seed,
        failure: report.violation,
        plan: report.plan,
        fault_kinds: Vec::new(),
        operations: report.applied_index_max.0 as usize,
        ranges: 1,
        range_moves: 0,
        one_phase_commits: 0,
        simulated: Duration::ZERO,
        wall: Duration::ZERO,
        trace: report.actions.iter().cloned().chain(trace).collect(),
        trace_hash: 0,
        nemesis_actions: report.actions,
    }
}

/// Which fault plan a seed plays: one seed in three plays the leader-churn plan on
/// three nodes with one entry per append, the rest a random swarm.
pub(crate) fn draw_plan() -> (FaultPlan, bool) {
    if thread_rng().gen_bool(1.0 / 3.0) {
        (FaultPlan::leader_churn(), true)
    } else {
        (FaultPlan::draw(), false)
    }
}

/// The Raft settings, cluster size and sync latency drawn from the seed (part
/// of the swarm: batching, pipelining and cluster size vary per seed).
pub(crate) fn draw_raft_config(options: &RunOptions, leader_churn: bool) -> (RaftConfig, u64, Duration) {
    let mut random = thread_rng();
    let sizes: &[u64] = if leader_churn { &[3] } else { &[3, 5] };
    let node_count = options.nodes.unwrap_or_else(|| *sizes.choose(&mut random).expect("non-empty"));
    let mut raft = RaftConfig::new(NodeId(1), 0);
    let batches: &[usize] = if leader_churn { &[1] } else { &[1, 4, 64] };
    raft.append_entries_max = *batches.choose(&mut random).expect("non-empty");
    raft.inflight_appends_max = *[2, 8, 32].choose(&mut random).expect("non-empty");
    raft.testing_knobs = Bug::testing_knobs(options.bug);
    (raft, node_count, Duration::from_micros(random.gen_range(0..=3000)))
}

/// The register cluster drawn from the seed (compaction varies too).
fn draw_cluster_config(
    options: &RunOptions,
    leader_churn: bool,
) -> ClusterConfig<SingleGroupSettings<RegisterMachine>> {
    let (raft, node_count, sync_latency) = draw_raft_config(options, leader_churn);
    let compaction_threshold_entries = *[5, 50, 1000].choose(&mut thread_rng()).expect("non-empty");
    let replica = ReplicaConfig {
        group: shardforge_runtime_sim::program::FIRST_GROUP,
        raft,
        tick_interval_nanos: 10_000_000,
        compaction_threshold_entries,
        compaction_threshold_bytes: *[1 << 10, 1 << 20].choose(&mut thread_rng()).expect("non-empty"),
        // Registers are 25 bytes a pair: 64-byte chunks stream every snapshot in many.
        snapshot: SnapshotLimits {
            chunk_bytes_max: *[64, 1 << 20].choose(&mut thread_rng()).expect("non-empty"),
            chunks_in_flight_max: 2,
        },
    };
    ClusterConfig {
        node_count,
        program: SingleGroupSettings { replica, make_state_machine: RegisterMachine::new },
        sync_latency,
    }
}

/// The whole run, inside a madsim runtime that was seeded with `seed`.
pub async fn simulate(seed: u64, options: RunOptions) -> SeedReport {
    let origin = madsim::time::Instant::now();
    let recorder = Arc::new(Recorder::new(options.trace, true));
    let (plan, leader_churn) = draw_plan();
    let config = draw_cluster_config(&options, leader_churn);
    let fault_kinds: Vec<FaultKind> = plan.enabled.iter().map(|(kind, _)| *kind).collect();
    let plan_text = format!("{:?} every <= {} ms; {:?}", plan.enabled, plan.action_interval_millis_max, config);
    recorder.event(format!("seed {seed}: {plan_text}"));
    let cluster = SimCluster::<SingleGroup<RegisterMachine>>::start(&config, recorder.clone());
    let election_timeout = Duration::from_nanos(
        config.program.replica.raft.election_timeout_ticks_max as u64 * config.program.replica.tick_interval_nanos,
    );
    let faults = cluster.faults().clone();
    let history = Arc::new(History::new(origin));
    let nodes: Vec<NodeId> = cluster.node_ids();
    let stop = Arc::new(AtomicBool::new(false));

    let mut client_tasks = Vec::new();
    for client_id in 1..=options.clients {
        let (faults, history, nodes, stop) = (faults.clone(), history.clone(), nodes.clone(), stop.clone());
        let keys = options.keys;
        let node = Handle::current().create_node().name(format!("client-{client_id}")).ip(client_ip(client_id)).build();
        client_tasks.push(node.spawn(async move {
            let client = SimClient::bind(client_id, faults).await;
            RegisterClient::new(client, nodes, history).run(keys, stop).await;
        }));
    }

    let actions = Arc::new(Mutex::new(Vec::new()));
    let control = Handle::current().create_node().name("control").ip(client_ip(1000)).build();
    let verdict = {
        let (options, recorder, history, actions, faults, stop) =
            (options.clone(), recorder.clone(), history.clone(), actions.clone(), faults.clone(), stop.clone());
        control.spawn(async move {
            let admin = SimClient::bind(1000, faults.clone()).await;
            let mut nemesis = Nemesis::new(cluster, plan, admin, recorder.clone());
            let verdict = async {
                nemesis.run(options.safety_phase).await;
                let healed = madsim::time::timeout(options.liveness_bound, nemesis.heal()).await.is_ok();
                *actions.lock().expect("actions lock") = nemesis.actions.clone();
                if !healed {
                    return Err("liveness: the removed voter could not be added back after healing".to_string());
                }
                let address = std::net::SocketAddr::new(client_ip(1000), 7001);
                let checker_client = SimClient::bind_on(1001, address, faults).await;
                liveness_and_final_reads(checker_client, &options, &recorder, history, nodes).await?;
                // Without writes, a cut-off follower's log stays as up to date as
                // the leader's: only the leader lease then stops its pre-votes.
                stop.store(true, Ordering::SeqCst);
                leadership::probe_leadership(&mut nemesis.cluster, &recorder, election_timeout).await
            }
            .await;
            nemesis.cluster.shut_down();
            verdict
        })
    };
    let verdict = verdict.await.expect("control task");
    stop.store(true, Ordering::SeqCst);
    for task in client_tasks {
        let _ = task.await;
    }
    let operations = history.operations();
    // Safety violations say more than the liveness failures they often cause.
    let failure = recorder
        .violations()
        .first()
        .cloned()
        .or_else(|| linearizability::check(&operations).err().map(|violation| format!("linearizability: {violation}")))
        .or(verdict.err());
    let nemesis_actions = actions.lock().expect("actions lock").clone();
    SeedReport {
        seed,
        failure,
        plan: plan_text,
        fault_kinds,
        operations: operations.len(),
        ranges: 1,
        range_moves: 0,
        one_phase_commits: 0,
        simulated: madsim::time::Instant::now().duration_since(origin),
        wall: Duration::ZERO,
        trace: recorder.trace(),
        trace_hash: recorder.trace_hash(),
        nemesis_actions,
    }
}

/// Liveness: a write commits within the bound; then replicas converge; then
/// every key is read once more (into the history).
async fn liveness_and_final_reads(
    client: SimClient,
    options: &RunOptions,
    recorder: &Recorder,
    history: Arc<History>,
    nodes: Vec<NodeId>,
) -> Result<(), String> {
    let mut client = RegisterClient::new(client, nodes.clone(), history);
    let deadline = madsim::time::Instant::now() + options.liveness_bound;
    let mut sequence = 0;
    loop {
        sequence += 1;
        let write = RegisterOperation::Put { value: 999_000_000 + sequence };
        if client.perform(0, write).await.is_some() {
            break;
        }
        if madsim::time::Instant::now() > deadline {
            return Err(format!("liveness: no write committed within {:?} after healing", options.liveness_bound));
        }
    }
    // Catching up (by log or snapshot) gets its own bound, counted from progress.
    let deadline = madsim::time::Instant::now() + options.liveness_bound;
    wait_for_convergence(recorder, &nodes, deadline).await?;
    for key in 0..options.keys {
        while client.perform(key, RegisterOperation::Get).await.is_none() {
            if madsim::time::Instant::now() > deadline {
                return Err(format!("liveness: final read of key {key} did not complete"));
            }
        }
    }
    Ok(())
}

/// For every Raft group, every voter (as the most advanced replica knows the
/// voters) must report the same applied index, the highest any replica
/// applied, before `deadline`.
pub(crate) async fn wait_for_convergence(
    recorder: &Recorder,
    nodes: &[NodeId],
    deadline: madsim::time::Instant,
) -> Result<(), String> {
    loop {
        let mut behind = Vec::new();
        let voters = recorder.voters();
        for (group, applied) in recorder.applied_indexes() {
            let target = applied.values().copied().max().unwrap_or_default();
            let group_voters = voters.get(&group);
            for node in nodes.iter().filter(|node| group_voters.is_none_or(|voters| voters.contains(node))) {
                let index = applied.get(node).copied();
                if index.is_none_or(|index| index < target) {
                    behind.push(format!("group {group}: {node} at {index:?} of {target}"));
                }
            }
        }
        if behind.is_empty() {
            return Ok(());
        }
        if madsim::time::Instant::now() > deadline {
            return Err(format!("convergence: replicas behind: {}", behind.join(", ")));
        }
        madsim::time::sleep(Duration::from_millis(50)).await;
    }
}
