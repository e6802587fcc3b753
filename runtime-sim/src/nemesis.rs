//! The nemesis: a fault plan drawn from the seed, played against a cluster.
//!
//! Swarm testing (as in TigerBeetle's VOPR and FoundationDB): each seed enables a
//! random subset of fault kinds with random intensities, so that some seeds
//! hammer one mechanism hard while others mix many. During the safety phase the
//! nemesis acts every few hundred simulated milliseconds; [`Nemesis::heal`] ends
//! all faults for the liveness phase.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use madsim::rand::seq::SliceRandom;
use madsim::rand::{thread_rng, Rng};
use shardforge_core::raft::ConfigurationChange;
use shardforge_core::replica::{Request, RequestError};
use shardforge_core::types::NodeId;

use crate::client::SimClient;
use crate::cluster::SimCluster;
use crate::network::FaultSettings;
use crate::observer::Observer;
use crate::program::{Program, FIRST_GROUP};

/// The kinds of faults the nemesis can inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultKind {
    IsolateNode,
    /// Waits for a newly elected leader and isolates it within a few milliseconds,
    /// before its first entries reach everyone (Jepsen's targeted nemesis).
    IsolateNewLeader,
    MajorityMinoritySplit,
    AsymmetricLinks,
    Bridge,
    MessageDelay,
    MessageLoss,
    MessageDuplication,
    KillRestart,
    /// Waits for a campaign and crashes another voter moments later (when it may
    /// just have voted, or acknowledged an append), restarting it at once with
    /// part of its unsynced tail lost: a vote or an acknowledgement that was not
    /// durable would be given twice.
    RestartDuringElection,
    /// Waits for a node to stage a snapshot chunk or install a snapshot and
    /// crashes it moments later, restarting it at once with part of its
    /// unsynced tail lost: between two chunks, or between an install's
    /// ingestion and the sync of its Raft batch.
    RestartDuringSnapshot,
    /// Loses the next one to three middle chunks of snapshot transfers, one
    /// message each (random loss drops a turn's whole datagram, so it
    /// takes neighbouring chunks together): the follower must refuse the
    /// chunks after a hole, and the leader restart the stalled transfer.
    LoseSnapshotChunk,
    /// Cuts a follower's power right after a turn that sent acknowledgements
    /// (a granted vote, an accepted append, a staged chunk), losing every
    /// unsynced write, and restarts it: a promise sent before its write was
    /// durable is then broken, which the durability checks see. Random
    /// crashes rarely land in that instant (`driver::PowerSwitch`).
    PowerLossAfterAcknowledgement,
    Pause,
    ClockSkew,
    MembershipChange,
    LeaderTransfer,
}

impl FaultKind {
    pub const ALL: [FaultKind; 17] = [
        FaultKind::IsolateNode,
        FaultKind::IsolateNewLeader,
        FaultKind::MajorityMinoritySplit,
        FaultKind::AsymmetricLinks,
        FaultKind::Bridge,
        FaultKind::MessageDelay,
        FaultKind::MessageLoss,
        FaultKind::MessageDuplication,
        FaultKind::KillRestart,
        FaultKind::RestartDuringElection,
        FaultKind::Pause,
        FaultKind::ClockSkew,
        FaultKind::MembershipChange,
        FaultKind::LeaderTransfer,
        FaultKind::RestartDuringSnapshot,
        FaultKind::LoseSnapshotChunk,
        FaultKind::PowerLossAfterAcknowledgement,
    ];
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Which faults a seed uses, and how often the nemesis acts.
#[derive(Clone, Debug)]
pub struct FaultPlan {
    /// Enabled kinds with their weights: a kind of weight 8 is chosen eight times
    /// as often as one of weight 1, so some seeds concentrate on a single fault.
    pub enabled: Vec<(FaultKind, u32)>,
    pub action_interval_millis_max: u64,
}

impl FaultPlan {
    /// Draws a non-empty subset of fault kinds from the seed.
    pub fn draw() -> FaultPlan {
        let mut random = thread_rng();
        let mut kinds: Vec<FaultKind> = FaultKind::ALL.into_iter().filter(|_| random.gen_bool(0.5)).collect();
        if kinds.is_empty() {
            kinds.push(*FaultKind::ALL.choose(&mut random).expect("non-empty"));
        }
        let enabled =
            kinds.into_iter().map(|kind| (kind, *[1, 2, 4, 8].choose(&mut random).expect("non-empty"))).collect();
        // Intensity is part of the swarm too: some seeds act every few tens of
        // milliseconds (constant leader churn), others leave time to recover.
        let action_interval_millis_max = *[60, 150, 400, 1000].choose(&mut random).expect("non-empty");
        FaultPlan { enabled, action_interval_millis_max }
    }

    /// Constant leader churn: new leaders isolated moments after they win, with
    /// some crashes and loss. Random swarms rarely line up the interleavings of the
    /// Raft paper's figure 8 (an old-term entry replicated to a majority, then
    /// overwritten); this plan produces them often, so it is what finds bugs in
    /// the commit rule.
    pub fn leader_churn() -> FaultPlan {
        let enabled = vec![
            (FaultKind::IsolateNewLeader, 8),
            (FaultKind::MessageDelay, 2),
            (FaultKind::MessageLoss, 2),
            (FaultKind::KillRestart, 1),
            (FaultKind::RestartDuringElection, 2),
        ];
        FaultPlan { enabled, action_interval_millis_max: 150 }
    }
}

/// The clock faults a nemesis may inject: each step sets a node's offset from
/// the true time within `[offset_min_nanos, offset_max_nanos]`; drift stays
/// within `drift_max_ppm` either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockFaults {
    pub offset_min_nanos: i64,
    pub offset_max_nanos: i64,
    pub drift_max_ppm: i64,
}

impl Default for ClockFaults {
    /// Offsets of a few seconds, as NTP-disciplined clocks that misbehave show,
    /// and drift up to 10%: what Raft, which only measures intervals, must survive.
    fn default() -> ClockFaults {
        ClockFaults { offset_min_nanos: -1_000_000_000, offset_max_nanos: 2_000_000_000, drift_max_ppm: 100_000 }
    }
}

/// Nodes a test's operator asks to be killed for good (a machine that died),
/// while the nemesis runs: it retires them at its next action, or when
/// healing, and never restarts them.
#[derive(Clone, Debug, Default)]
pub struct Retirements(Arc<std::sync::Mutex<RetirementState>>);

#[derive(Debug, Default)]
struct RetirementState {
    asked: BTreeSet<NodeId>,
    retired: BTreeSet<NodeId>,
}

impl Retirements {
    /// Asks for `node` to be killed for good.
    pub fn ask(&self, node: NodeId) {
        self.0.lock().expect("retirements lock").asked.insert(node);
    }

    /// The nodes killed for good so far.
    pub fn retired(&self) -> BTreeSet<NodeId> {
        self.0.lock().expect("retirements lock").retired.clone()
    }

    /// The nodes asked for and not retired yet, now counted as retired.
    fn take_asked(&self) -> Vec<NodeId> {
        let mut state = self.0.lock().expect("retirements lock");
        let asked: Vec<NodeId> = std::mem::take(&mut state.asked).into_iter().collect();
        state.retired.extend(asked.iter().copied());
        asked
    }
}

/// Plays a fault plan against a cluster.
pub struct Nemesis<P: Program> {
    pub cluster: SimCluster<P>,
    plan: FaultPlan,
    clock_faults: ClockFaults,
    admin: SimClient,
    /// Voters the nemesis removed, or tried to (an unknown outcome counts): they
    /// are added back when healing.
    removed_voters: BTreeSet<NodeId>,
    observer: Arc<dyn Observer>,
    /// The newest leader term already targeted by `IsolateNewLeader`.
    isolated_leader_term: shardforge_core::types::Term,
    /// Every action taken, for the failure report.
    pub actions: Vec<String>,
    /// How many nodes may be down or paused at once (see [`Nemesis::with_down_nodes_max`]).
    down_nodes_max: usize,
    retirements: Retirements,
}

impl<P: Program> Nemesis<P> {
    /// `admin` must be bound on the task's own client address.
    pub fn new(cluster: SimCluster<P>, plan: FaultPlan, admin: SimClient, observer: Arc<dyn Observer>) -> Nemesis<P> {
        Nemesis {
            cluster,
            plan,
            clock_faults: ClockFaults::default(),
            admin,
            removed_voters: BTreeSet::new(),
            observer,
            isolated_leader_term: Default::default(),
            actions: Vec::new(),
            down_nodes_max: usize::MAX,
            retirements: Retirements::default(),
        }
    }

    /// Takes requests to kill nodes for good from `retirements`.
    pub fn with_retirements(mut self, retirements: Retirements) -> Nemesis<P> {
        self.retirements = retirements;
        self
    }

    /// Kills for good the nodes asked for since the last call.
    fn retire_asked(&mut self) {
        for node in self.retirements.take_asked() {
            self.cluster.retire(node);
            self.record(format!("retired {node}: killed for good"));
        }
    }

    /// Keeps at most `down_nodes_max` nodes crashed or paused at once: a crash
    /// or pause beyond it brings a down node back instead. Without a bound, a
    /// seed can keep a majority down for most of its safety phase, and the
    /// workload then commits a few dozen transactions; with a minority bound it
    /// commits hundreds, and the interleavings that break reads, writes and
    /// splits happen in many more seeds. (Crashes that restart at once, as
    /// `RestartDuringElection`'s, are not counted: they still lose a majority's
    /// unsynced writes.)
    pub fn with_down_nodes_max(mut self, down_nodes_max: usize) -> Nemesis<P> {
        self.down_nodes_max = down_nodes_max;
        self
    }

    fn down_nodes(&self) -> Vec<NodeId> {
        let nodes = self.cluster.node_ids();
        nodes.into_iter().filter(|node| !self.cluster.is_alive(*node) || self.cluster.is_paused(*node)).collect()
    }

    /// Brings one down node back (a crashed one restarts, a paused one
    /// resumes) when the budget of down nodes is spent; what it did, if anything.
    fn keep_down_budget(&mut self) -> Option<String> {
        let down = self.down_nodes();
        if down.len() < self.down_nodes_max {
            return None;
        }
        // A retired node counts against the budget but never comes back.
        let back: Vec<NodeId> = down.into_iter().filter(|node| !self.cluster.is_retired(*node)).collect();
        let Some(node) = back.choose(&mut thread_rng()).copied() else {
            return Some(format!(
                "nothing more goes down (at most {} down, retired nodes included)",
                self.down_nodes_max
            ));
        };
        if self.cluster.is_alive(node) {
            self.cluster.resume(node);
            Some(format!("resumed {node} (at most {} down)", self.down_nodes_max))
        } else {
            self.cluster.restart(node);
            Some(format!("restarted {node} (at most {} down)", self.down_nodes_max))
        }
    }

    /// Bounds the clock faults (the default suits consensus alone).
    pub fn with_clock_faults(mut self, clock_faults: ClockFaults) -> Nemesis<P> {
        self.clock_faults = clock_faults;
        self
    }

    pub fn plan(&self) -> &FaultPlan {
        &self.plan
    }

    /// Injects faults until `duration` of simulated time has passed.
    pub async fn run(&mut self, duration: Duration) {
        let end = madsim::time::Instant::now() + duration;
        while madsim::time::Instant::now() < end {
            let pause = Duration::from_millis(thread_rng().gen_range(20..=self.plan.action_interval_millis_max));
            madsim::time::sleep(pause).await;
            self.retire_asked();
            let kind = self
                .plan
                .enabled
                .choose_weighted(&mut thread_rng(), |(_, weight)| *weight)
                .expect("plan is non-empty")
                .0;
            let action = self.act(kind).await;
            self.record(format!("{kind}: {action}"));
        }
    }

    fn record(&mut self, action: String) {
        let elapsed = madsim::time::TimeHandle::current().elapsed();
        self.observer.event(format!("nemesis {action}"));
        self.actions.push(format!("{:.3}s {action}", elapsed.as_secs_f64()));
    }

    fn random_node(&self) -> NodeId {
        *self.cluster.node_ids().choose(&mut thread_rng()).expect("cluster has nodes")
    }

    async fn act(&mut self, kind: FaultKind) -> String {
        let mut random = thread_rng();
        let mut nodes = self.cluster.node_ids();
        match kind {
            FaultKind::IsolateNode
            | FaultKind::MajorityMinoritySplit
            | FaultKind::Bridge
            | FaultKind::IsolateNewLeader
                if random.gen_bool(0.3) && self.cluster.cut_link_count() > 0 =>
            {
                self.cluster.heal_network();
                "healed the network".into()
            }
            FaultKind::IsolateNode => {
                let victim = self.random_node();
                self.cluster.heal_network();
                let rest: Vec<NodeId> = nodes.iter().copied().filter(|node| *node != victim).collect();
                self.cluster.partition(&[vec![victim], rest]);
                format!("isolated {victim}")
            }
            FaultKind::MajorityMinoritySplit => {
                nodes.shuffle(&mut random);
                let minority = random.gen_range(1..=nodes.len().saturating_sub(1) / 2).max(1);
                let (small, large) = nodes.split_at(minority);
                self.cluster.heal_network();
                self.cluster.partition(&[small.to_vec(), large.to_vec()]);
                format!("split {small:?} from {large:?}")
            }
            FaultKind::Bridge => self.bridge(nodes),
            FaultKind::IsolateNewLeader => self.isolate_new_leader().await,
            FaultKind::AsymmetricLinks => {
                let from = self.random_node();
                let to = self.random_node();
                if from == to {
                    return "no link cut".into();
                }
                self.cluster.cut_link(from, to);
                format!("cut one-way link {from} -> {to}")
            }
            FaultKind::MessageDelay | FaultKind::MessageLoss | FaultKind::MessageDuplication => {
                self.change_message_faults(kind)
            }
            FaultKind::KillRestart => self.kill_or_restart(),
            FaultKind::RestartDuringElection => self.restart_during_election().await,
            FaultKind::RestartDuringSnapshot => self.restart_during_snapshot().await,
            FaultKind::LoseSnapshotChunk => self.lose_snapshot_chunks(),
            FaultKind::PowerLossAfterAcknowledgement => self.power_loss_after_acknowledgement().await,
            FaultKind::Pause => self.pause_or_resume(),
            FaultKind::ClockSkew => self.skew_clock(),
            FaultKind::MembershipChange => self.change_membership().await,
            FaultKind::LeaderTransfer => self.transfer_leadership().await,
        }
    }

    /// Isolates the next newly elected leader a few milliseconds after it wins, or,
    /// when leadership is stable, the current leader (which forces an election).
    async fn isolate_new_leader(&mut self) -> String {
        let stop_waiting_at = madsim::time::Instant::now() + Duration::from_millis(500);
        let (leader, term) = loop {
            match self.cluster.leader() {
                Some((leader, term)) if term > self.isolated_leader_term => break (leader, term),
                Some(current) if madsim::time::Instant::now() > stop_waiting_at => break current,
                None if madsim::time::Instant::now() > stop_waiting_at => return "no leader to isolate".into(),
                _ => madsim::time::sleep(Duration::from_millis(1)).await,
            }
        };
        self.isolated_leader_term = term;
        let delay = Duration::from_micros(thread_rng().gen_range(0..=50_000));
        madsim::time::sleep(delay).await;
        self.cluster.heal_network();
        let rest: Vec<NodeId> = self.cluster.node_ids().into_iter().filter(|node| *node != leader).collect();
        self.cluster.partition(&[vec![leader], rest]);
        format!("isolated {leader}, leader of {term}, {} ms after noticing it", delay.as_millis())
    }

    /// Two halves joined through one bridge node that sees both.
    fn bridge(&mut self, mut nodes: Vec<NodeId>) -> String {
        if nodes.len() < 3 {
            return "no bridge: too few nodes".into();
        }
        nodes.shuffle(&mut thread_rng());
        let bridge = nodes.pop().expect("at least three");
        let (left, right) = nodes.split_at(nodes.len() / 2);
        self.cluster.heal_network();
        self.cluster.partition(&[left.to_vec(), right.to_vec()]);
        format!("bridge {bridge} between {left:?} and {right:?}")
    }

    fn change_message_faults(&mut self, kind: FaultKind) -> String {
        let mut random = thread_rng();
        let mut settings = self.cluster.faults().settings();
        let strong = random.gen_bool(0.5);
        match kind {
            FaultKind::MessageDelay => {
                settings.delay_max_micros = if strong { random.gen_range(0..=50_000) } else { 0 }
            }
            FaultKind::MessageLoss => {
                settings.loss_per_million = if strong { random.gen_range(0..=200_000) } else { 0 }
            }
            _ => settings.duplicate_per_million = if strong { random.gen_range(0..=200_000) } else { 0 },
        }
        self.cluster.faults().set(settings);
        format!("message faults now {settings:?}")
    }

    fn kill_or_restart(&mut self) -> String {
        let mut random = thread_rng();
        let dead: Vec<NodeId> = self
            .cluster
            .node_ids()
            .into_iter()
            .filter(|node| !self.cluster.is_alive(*node) && !self.cluster.is_retired(*node))
            .collect();
        if let Some(node) = dead.choose(&mut random).copied().filter(|_| random.gen_bool(0.5)) {
            self.cluster.restart(node);
            return format!("restarted {node}");
        }
        let victim = self.random_node();
        if !self.cluster.is_alive(victim) {
            return format!("{victim} already down");
        }
        if !self.cluster.is_paused(victim) {
            if let Some(action) = self.keep_down_budget() {
                return action;
            }
        }
        self.cluster.resume(victim);
        let (kept, lost) = self.cluster.crash(victim, |unsynced| random.gen_range(0..=unsynced));
        format!("crashed {victim}: kept {kept} unsynced write batches, lost {lost}")
    }

    async fn restart_during_election(&mut self) -> String {
        let stop_waiting_at = madsim::time::Instant::now() + Duration::from_millis(500);
        let (candidate, term) = loop {
            match self.cluster.candidate() {
                Some(campaign) => break campaign,
                None if madsim::time::Instant::now() > stop_waiting_at => return "no campaign to disturb".into(),
                None => madsim::time::sleep(Duration::from_millis(1)).await,
            }
        };
        let mut random = thread_rng();
        // Vote requests travel a hop or two: land before, during or after the vote.
        madsim::time::sleep(Duration::from_micros(random.gen_range(0..=5_000))).await;
        let voters: Vec<NodeId> = self
            .cluster
            .node_ids()
            .into_iter()
            .filter(|node| *node != candidate && self.cluster.is_alive(*node))
            .collect();
        let Some(victim) = voters.choose(&mut random).copied() else { return "no voter to restart".into() };
        self.cluster.resume(victim);
        let (kept, lost) = self.cluster.crash(victim, |unsynced| random.gen_range(0..=unsynced));
        self.cluster.restart(victim);
        format!(
            "{candidate} campaigns in term {term}: restarted {victim}, kept {kept} unsynced write batches, lost {lost}"
        )
    }

    async fn restart_during_snapshot(&mut self) -> String {
        let before = self.cluster.snapshot_steps();
        let stop_waiting_at = madsim::time::Instant::now() + Duration::from_millis(1_000);
        let victim = loop {
            let now = self.cluster.snapshot_steps();
            let moved =
                now.iter().find(|(node, steps)| before.get(node) != Some(steps) && self.cluster.is_alive(**node));
            match moved {
                Some((node, _)) => break *node,
                None if madsim::time::Instant::now() > stop_waiting_at => return "no snapshot to disturb".into(),
                None => madsim::time::sleep(Duration::from_micros(200)).await,
            }
        };
        let mut random = thread_rng();
        // Within a sync's latency: before or after the step's writes are durable.
        madsim::time::sleep(Duration::from_micros(random.gen_range(0..=2_000))).await;
        if !self.cluster.is_alive(victim) {
            return format!("{victim} went down during its snapshot");
        }
        self.cluster.resume(victim);
        let (kept, lost) = self.cluster.crash(victim, |unsynced| random.gen_range(0..=unsynced));
        self.cluster.restart(victim);
        format!("{victim} was receiving a snapshot: restarted it, kept {kept} unsynced write batches, lost {lost}")
    }

    /// Arms the power switch of one running node that does not lead the first
    /// group (leaders acknowledge nothing there) and waits, up to a second, for
    /// it to trip; then restarts the node.
    async fn power_loss_after_acknowledgement(&mut self) -> String {
        let running: Vec<NodeId> = self
            .cluster
            .node_ids()
            .into_iter()
            .filter(|node| self.cluster.is_alive(*node) && !self.cluster.is_paused(*node))
            .filter(|node| self.cluster.leader().is_none_or(|(leader, _)| leader != *node))
            .collect();
        let Some(victim) = running.choose(&mut thread_rng()).copied() else { return "no follower running".into() };
        self.cluster.power_switch(victim).arm();
        let stop_waiting_at = madsim::time::Instant::now() + Duration::from_millis(1_000);
        while !self.cluster.power_switch(victim).tripped() && madsim::time::Instant::now() <= stop_waiting_at {
            madsim::time::sleep(Duration::from_micros(200)).await;
        }
        if !self.cluster.power_switch(victim).disarm() {
            return format!("{victim} acknowledged nothing: its power stays on");
        }
        // The disk lost its unsynced writes when the switch tripped; nothing was written since.
        let (kept, lost) = self.cluster.crash(victim, |_| 0);
        assert_eq!((kept, lost), (0, 0), "a node whose power is out writes nothing");
        self.cluster.restart(victim);
        format!("{victim} lost power right after acknowledging, and restarted")
    }

    /// Arms the network to lose the next one to three middle chunks, whenever
    /// transfers send them (a transfer may start long after).
    fn lose_snapshot_chunks(&mut self) -> String {
        let count = thread_rng().gen_range(1..=3);
        let faults = self.cluster.faults();
        let still_armed = faults.snapshot_chunks_to_lose();
        faults.lose_snapshot_chunks(count);
        format!("the next {count} middle snapshot chunks will be lost ({still_armed} were still to lose)")
    }

    fn pause_or_resume(&mut self) -> String {
        let node = self.random_node();
        if self.cluster.is_paused(node) {
            self.cluster.resume(node);
            format!("resumed {node}")
        } else if self.cluster.is_alive(node) {
            if let Some(action) = self.keep_down_budget() {
                return action;
            }
            self.cluster.pause(node);
            format!("paused {node}")
        } else {
            format!("{node} is down, not paused")
        }
    }

    fn skew_clock(&mut self) -> String {
        let mut random = thread_rng();
        let node = self.random_node();
        let clock = self.cluster.clock(node);
        if random.gen_bool(0.5) {
            // Each change is a step, forwards or backwards.
            let faults = self.clock_faults;
            let offset_nanos = random.gen_range(faults.offset_min_nanos..=faults.offset_max_nanos);
            let step_nanos = clock.jump_to_offset(offset_nanos);
            format!("{node} clock stepped {} ms to offset {} ms", step_nanos / 1_000_000, offset_nanos / 1_000_000)
        } else {
            let drift = random.gen_range(-self.clock_faults.drift_max_ppm..=self.clock_faults.drift_max_ppm);
            clock.set_drift(drift);
            format!("{node} clock drifts {drift} ppm")
        }
    }

    /// Sends `request` for the first group to each node until one answers other
    /// than "not leader".
    async fn ask_leader(&mut self, request: Request) -> Option<Result<Vec<u8>, RequestError>> {
        for node in self.cluster.node_ids() {
            match self.admin.request(node, FIRST_GROUP, request.clone(), Duration::from_millis(300)).await {
                Some(Err(RequestError::NotLeader { .. })) | None => continue,
                answer => return answer,
            }
        }
        None
    }

    /// Removes one voter at a time, and adds it back before removing another.
    async fn change_membership(&mut self) -> String {
        let change = match self.removed_voters.first() {
            Some(node) => ConfigurationChange::AddVoter(*node),
            None => ConfigurationChange::RemoveVoter(self.random_node()),
        };
        let answer = self.ask_leader(Request::ChangeConfiguration(change)).await;
        match change {
            // Whatever the answer, the voter may be gone: remember to add it back.
            ConfigurationChange::RemoveVoter(node) => {
                self.removed_voters.insert(node);
            }
            ConfigurationChange::AddVoter(node) => {
                if self.voter_is_back(node, &answer) {
                    self.removed_voters.remove(&node);
                }
            }
        }
        format!("{change:?}: {answer:?}")
    }

    /// Whether adding `node` back is done: applied, or refused as a no-op by the
    /// leader of the highest term (a deposed leader that has not heard of the
    /// removal also calls it a no-op, and must not be believed).
    fn voter_is_back(&self, node: NodeId, answer: &Option<Result<Vec<u8>, RequestError>>) -> bool {
        match answer {
            Some(Ok(_)) => true,
            Some(Err(RequestError::Invalid)) => self.cluster.leader_has_voter(node),
            _ => false,
        }
    }

    async fn transfer_leadership(&mut self) -> String {
        let target = self.random_node();
        let answer = self.ask_leader(Request::TransferLeadership(target)).await;
        format!("transfer leadership to {target}: {answer:?}")
    }

    /// Ends every fault: network healed, clocks reset, every node running (but
    /// the retired), and the removed voter (if any) added back.
    pub async fn heal(&mut self) {
        self.retire_asked();
        self.cluster.heal_network();
        self.cluster.faults().set(FaultSettings::default());
        for node in self.cluster.node_ids() {
            self.cluster.clock(node).reset();
            self.cluster.resume(node);
            if !self.cluster.is_alive(node) && !self.cluster.is_retired(node) {
                self.cluster.restart(node);
            }
        }
        self.record("healed everything".into());
        while let Some(node) = self.removed_voters.first().copied() {
            madsim::time::sleep(Duration::from_millis(100)).await;
            let answer = self.ask_leader(Request::ChangeConfiguration(ConfigurationChange::AddVoter(node))).await;
            if self.voter_is_back(node, &answer) {
                self.removed_voters.remove(&node);
            }
            self.record(format!("re-adding {node}: {answer:?}"));
        }
    }
}
