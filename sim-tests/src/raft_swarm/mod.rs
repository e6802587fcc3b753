//! The Raft swarm: one Raft group of the core's own [`RaftNode`]s, persisted
//! with the production persistence code into crash-aware memory engines, driven
//! by a seeded scheduler that picks every next input — a tick of one node, the
//! delivery of any message in flight (so messages reorder), a drop, a
//! duplicate, a proposal, a membership change, a compaction, a crash that loses
//! unsynced batches, a restart, a partition, a leadership transfer — and checks
//! Raft's safety properties after every input (see `invariants.rs`).
//!
//! Why it exists: the madsim lanes run whole nodes on a real-time network, so
//! the rare interleavings that Raft's subtle rules guard against — a follower
//! holding a stale suffix when a probing append reaches it, two membership
//! changes in flight, a restart right after a snapshot install over a divergent
//! log, a compaction while a configuration entry is uncommitted — almost never
//! happen there; six hand-written mutants of those rules survived thousands of
//! seeds. Here every input is the scheduler's choice, a seed runs in a
//! millisecond or two, and the swarm itself is drawn from the seed (cluster and
//! pool size, batch and window sizes, and the weight of every kind of input,
//! zero for some), the way FoundationDB's swarm testing draws its faults.
//!
//! After the chaos every link is healed and every node restarted; a command
//! must then be applied by every voter within a bound (liveness).

mod group;
mod invariants;
mod machine;

use std::collections::BTreeSet;

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use shardforge_core::raft::{ConfigurationChange, RaftConfig, TestingKnobs};
use shardforge_core::types::{LogIndex, NodeId, Term};

use self::group::{Group, Moment};
use self::invariants::Invariants;

/// Rounds (every node ticks once, every message in flight is delivered) after
/// healing within which a command must be applied by every voter.
const SETTLE_ROUNDS_MAX: usize = 400;

/// How a swarm run is shaped.
#[derive(Clone, Copy, Debug)]
pub struct SwarmOptions {
    pub knobs: TestingKnobs,
    /// Inputs of the chaos phase.
    pub steps: usize,
}

impl Default for SwarmOptions {
    fn default() -> SwarmOptions {
        SwarmOptions { knobs: TestingKnobs::default(), steps: 3_000 }
    }
}

/// What one seed showed.
#[derive(Clone, Debug)]
pub struct SwarmReport {
    pub violation: Option<String>,
    /// The highest index applied by any replica.
    pub applied_index_max: LogIndex,
    /// Terms that had a leader, each checked for completeness.
    pub elections: usize,
    pub configuration_changes: usize,
    /// Snapshots loaded: installed from a leader, or read back at a restart.
    pub snapshots_restored: usize,
    pub crashes: usize,
    /// The swarm drawn for the seed.
    pub plan: String,
    /// Faults, membership changes and compactions, in order, with their step.
    pub actions: Vec<String>,
}

/// The kinds of input, in the order of their weights in [`Swarm::weights`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Input {
    Tick,
    Deliver,
    Drop,
    Duplicate,
    Propose,
    ChangeMembership,
    Compact,
    Crash,
    Restart,
    Partition,
    Heal,
    Transfer,
}

const INPUTS: [Input; 12] = [
    Input::Tick,
    Input::Deliver,
    Input::Drop,
    Input::Duplicate,
    Input::Propose,
    Input::ChangeMembership,
    Input::Compact,
    Input::Crash,
    Input::Restart,
    Input::Partition,
    Input::Heal,
    Input::Transfer,
];

/// The shape of one seed's swarm.
#[derive(Clone, Debug)]
struct Swarm {
    pool: u64,
    voters: u64,
    append_entries_max: usize,
    inflight_appends_max: usize,
    weights: [u64; INPUTS.len()],
    /// Percent chances of striking at a moment (see [`Moment`]): a new leader
    /// changing the membership at once; a crash right after a snapshot install;
    /// a crash right after a vote or an append acknowledgement.
    change_at_election_percent: u64,
    crash_after_snapshot_percent: u64,
    crash_after_acknowledgement_percent: u64,
}

impl Swarm {
    fn draw(random: &mut ChaCha8Rng) -> Swarm {
        let pool = 3 + below(random, 4);
        let voters = [1, 2, 3, 3, 4, 4, 5][below(random, 7) as usize].min(pool);
        let mut pick = |choices: &[u64]| choices[below(random, choices.len() as u64) as usize];
        let weights = [
            40,
            40,
            pick(&[0, 2, 8]),
            pick(&[0, 0, 2]),
            pick(&[4, 10]),
            pick(&[0, 2, 6]),
            pick(&[0, 1, 4]),
            pick(&[0, 1, 3]),
            pick(&[2, 4]),
            pick(&[0, 1, 3]),
            pick(&[1, 2]),
            pick(&[0, 1, 2]),
        ];
        let append_entries_max = pick(&[1, 2, 64]) as usize;
        let inflight_appends_max = pick(&[1, 2, 8]) as usize;
        Swarm {
            pool,
            voters,
            append_entries_max,
            inflight_appends_max,
            weights,
            change_at_election_percent: pick(&[0, 30, 80]),
            crash_after_snapshot_percent: pick(&[0, 20, 60]),
            crash_after_acknowledgement_percent: pick(&[0, 0, 1, 3]),
        }
    }

    fn input(&self, random: &mut ChaCha8Rng) -> Input {
        let total: u64 = self.weights.iter().sum();
        let mut ticket = below(random, total);
        for (input, weight) in INPUTS.iter().zip(self.weights) {
            if ticket < weight {
                return *input;
            }
            ticket -= weight;
        }
        unreachable!("the ticket is below the total weight")
    }
}

/// A number in `0..bound` (bound > 0).
fn below(random: &mut ChaCha8Rng, bound: u64) -> u64 {
    assert!(bound > 0, "empty range");
    random.next_u64() % bound
}

fn choose<T: Copy>(random: &mut ChaCha8Rng, items: &[T]) -> Option<T> {
    (!items.is_empty()).then(|| items[below(random, items.len() as u64) as usize])
}

/// Runs one seed.
pub fn run_raft_swarm(seed: u64, options: &SwarmOptions) -> SwarmReport {
    let mut random = ChaCha8Rng::seed_from_u64(seed);
    let swarm = Swarm::draw(&mut random);
    let mut template = RaftConfig::new(NodeId(1), 0);
    template.append_entries_max = swarm.append_entries_max;
    template.inflight_appends_max = swarm.inflight_appends_max;
    template.testing_knobs = options.knobs;
    let mut run = Run {
        group: Group::new(swarm.pool, swarm.voters, &template, seed),
        invariants: Invariants::default(),
        random,
        actions: Vec::new(),
        proposals: 0,
        configuration_changes: 0,
        crashes: 0,
    };
    for step in 0..options.steps {
        let input = swarm.input(&mut run.random);
        run.step(step, input);
        run.strike(step, &swarm);
        if run.invariants.violation.is_some() {
            break;
        }
    }
    if run.invariants.violation.is_none() {
        if let Err(stuck) = run.settle() {
            run.invariants.violation = Some(stuck);
        }
    }
    SwarmReport {
        violation: run.invariants.violation.clone(),
        applied_index_max: run.invariants.applied_index_max(),
        elections: run.invariants.elections(),
        configuration_changes: run.configuration_changes,
        snapshots_restored: run.invariants.snapshots_restored,
        crashes: run.crashes,
        plan: format!("{swarm:?}"),
        actions: run.actions,
    }
}

/// One seed in progress.
struct Run {
    group: Group,
    invariants: Invariants,
    random: ChaCha8Rng,
    actions: Vec<String>,
    proposals: u64,
    configuration_changes: usize,
    crashes: usize,
}

impl Run {
    fn step(&mut self, step: usize, input: Input) {
        let running = self.group.running();
        let leaders = self.group.leaders();
        let in_flight = self.group.in_flight.len() as u64;
        match input {
            Input::Tick => {
                if let Some(id) = choose(&mut self.random, &running) {
                    self.group.act(id, &mut self.invariants, |node| node.tick());
                }
            }
            Input::Deliver | Input::Duplicate if in_flight > 0 => {
                // Half the time the oldest message, so that the group makes progress.
                let position = if below(&mut self.random, 2) == 0 { 0 } else { below(&mut self.random, in_flight) };
                self.group.deliver(position as usize, input == Input::Duplicate, &mut self.invariants);
            }
            Input::Drop if in_flight > 0 => {
                let position = below(&mut self.random, in_flight) as usize;
                self.group.in_flight.remove(position);
            }
            Input::Propose => {
                if let Some(id) = choose(&mut self.random, &leaders) {
                    self.proposals += 1;
                    let command = format!("c{}", self.proposals).into_bytes();
                    let _ = self.group.act(id, &mut self.invariants, |node| node.propose(command));
                }
            }
            Input::ChangeMembership => self.change_membership(step, &leaders),
            Input::Compact => self.compact(step, &running),
            Input::Crash => {
                if let Some(id) = choose(&mut self.random, &running) {
                    self.crash(step, id);
                }
            }
            Input::Restart => {
                if let Some(id) = choose(&mut self.random, &self.group.crashed()) {
                    self.actions.push(format!("step {step}: restart {id}"));
                    self.group.restart(id, &mut self.invariants);
                }
            }
            Input::Partition => {
                // Half the time a leader is cut off alone: leadership churns while
                // the old leader keeps what it appended (uncommitted changes too).
                let isolated = choose(&mut self.random, &leaders).filter(|_| below(&mut self.random, 2) == 0);
                let side: BTreeSet<NodeId> = match isolated {
                    Some(leader) => BTreeSet::from([leader]),
                    None => self.group.ids().into_iter().filter(|_| below(&mut self.random, 2) == 0).collect(),
                };
                self.actions.push(format!("step {step}: partition {side:?} from the rest"));
                self.group.partition(&side);
            }
            Input::Heal => self.group.heal(),
            Input::Transfer => {
                if let Some(id) = choose(&mut self.random, &leaders) {
                    let voters = self.voters_of(id);
                    if let Some(target) = choose(&mut self.random, &voters) {
                        let result = self.group.act(id, &mut self.invariants, |node| node.transfer_leadership(target));
                        if let Some(Ok(())) = result {
                            self.actions.push(format!("step {step}: {id} hands leadership to {target}"));
                        }
                    }
                }
            }
            Input::Deliver | Input::Duplicate | Input::Drop => {}
        }
    }

    /// Takes the moments the last input produced, and strikes at some of them.
    fn strike(&mut self, step: usize, swarm: &Swarm) {
        while !self.group.moments.is_empty() {
            for moment in std::mem::take(&mut self.group.moments) {
                let (id, percent) = match moment {
                    Moment::BecameLeader(id) => (id, swarm.change_at_election_percent),
                    Moment::RestoredSnapshot(id) => (id, swarm.crash_after_snapshot_percent),
                    Moment::Voted(id) | Moment::Acknowledged(id) => (id, swarm.crash_after_acknowledgement_percent),
                };
                if self.group.node(id).is_none() || below(&mut self.random, 100) >= percent {
                    continue;
                }
                match moment {
                    Moment::BecameLeader(_) => self.change_membership(step, &[id]),
                    _ => {
                        self.actions.push(format!("step {step}: {moment:?}, then:"));
                        self.crash(step, id);
                    }
                }
            }
        }
    }

    fn crash(&mut self, step: usize, id: NodeId) {
        let unsynced = self.group.unsynced_batches(id);
        let kept = below(&mut self.random, unsynced as u64 + 1) as usize;
        self.group.crash(id, kept);
        self.crashes += 1;
        self.actions.push(format!("step {step}: crash {id} keeping {kept} of {unsynced} unsynced batches"));
    }

    fn voters_of(&self, id: NodeId) -> Vec<NodeId> {
        let node = self.group.node(id).expect("running");
        node.configuration().voters.iter().copied().collect()
    }

    /// A leader adds a node of the pool that is not a voter, or removes a voter,
    /// itself included (a leader that removed itself and restarted before the
    /// removal committed once left its group leaderless for good: found by
    /// this swarm, see docs/testing.md "Fourth run").
    fn change_membership(&mut self, step: usize, leaders: &[NodeId]) {
        let Some(id) = choose(&mut self.random, leaders) else { return };
        let voters: Vec<NodeId> = self.voters_of(id);
        let others: Vec<NodeId> = self.group.ids().into_iter().filter(|node| !voters.contains(node)).collect();
        let change = match (below(&mut self.random, 2), choose(&mut self.random, &others)) {
            (0, Some(added)) => ConfigurationChange::AddVoter(added),
            _ => match choose(&mut self.random, &voters) {
                Some(removed) => ConfigurationChange::RemoveVoter(removed),
                None => return,
            },
        };
        let result = self.group.act(id, &mut self.invariants, |node| node.propose_configuration_change(change));
        if let Some(Ok((index, term))) = result {
            self.configuration_changes += 1;
            self.actions.push(format!("step {step}: {id} proposes {change:?} at i{}@t{}", index.0, term.0));
        }
    }

    /// A running node compacts its log up to an index it has applied.
    fn compact(&mut self, step: usize, running: &[NodeId]) {
        let Some(id) = choose(&mut self.random, running) else { return };
        let node = self.group.node(id).expect("running");
        let (snapshot, applied) = (node.snapshot_index().0, node.applied_index().0);
        if applied > snapshot {
            let index = LogIndex(snapshot + 1 + below(&mut self.random, applied - snapshot));
            self.actions.push(format!("step {step}: {id} compacts to i{}", index.0));
            self.group.compact(id, index, &mut self.invariants);
        }
    }

    /// Every node's role, term, log and voters, for a liveness failure.
    fn describe_nodes(&self) -> String {
        let describe = |id: NodeId| match self.group.node(id) {
            None => format!("{id} crashed"),
            Some(node) => {
                let status = node.status();
                format!(
                    "{id} {:?} t{} last i{} commit i{} voters {:?}",
                    status.role, status.term.0, status.last_index.0, status.commit_index.0, status.configuration.voters
                )
            }
        };
        self.group.ids().into_iter().map(describe).collect::<Vec<_>>().join("; ")
    }

    /// Whether every running node that its latest configuration removes, and
    /// that does not know the removal committed, has been told so: one whose
    /// configuration names `leader` asks it for pre-votes as it campaigns, and
    /// must learn the commit rather than campaign forever, naming no leader.
    fn removed_nodes_told(&self, leader: NodeId) -> bool {
        self.group.running().into_iter().all(|id| {
            let status = self.group.node(id).expect("running").status();
            let voters = &status.configuration.voters;
            let uncommitted = status.configuration_index > status.commit_index;
            voters.contains(&id) || !voters.contains(&leader) || !uncommitted
        })
    }

    /// Heals every link, restarts every node, then runs fair rounds until one
    /// command is applied by every voter of its leader's configuration, and
    /// removed nodes know of their removal (`removed_nodes_told`).
    fn settle(&mut self) -> Result<(), String> {
        self.group.heal();
        for id in self.group.crashed() {
            self.group.restart(id, &mut self.invariants);
        }
        let mut proposed: Option<(NodeId, LogIndex, Term)> = None;
        for _ in 0..SETTLE_ROUNDS_MAX {
            for id in self.group.running() {
                self.group.act(id, &mut self.invariants, |node| node.tick());
            }
            for _ in 0..self.group.in_flight.len() {
                self.group.deliver(0, false, &mut self.invariants);
            }
            if let Some(violation) = &self.invariants.violation {
                return Err(violation.clone());
            }
            let leaders = self.group.leaders();
            let newest = leaders.iter().copied().max_by_key(|id| self.group.node(*id).expect("running").term());
            let Some(leader) = newest else { continue };
            if proposed.is_none_or(|(by, _, _)| by != leader) {
                let command = b"settled".to_vec();
                proposed = self
                    .group
                    .act(leader, &mut self.invariants, |node| node.propose(command))
                    .and_then(Result::ok)
                    .map(|(index, term)| (leader, index, term));
            }
            if let Some((_, index, term)) = proposed {
                let voters = self.voters_of(leader);
                let applied = |id: &NodeId| self.group.node(*id).is_some_and(|node| node.applied_index() >= index);
                if self.invariants.applied_term(index) == Some(term)
                    && voters.iter().all(applied)
                    && self.removed_nodes_told(leader)
                {
                    return Ok(());
                }
            }
        }
        Err(format!(
            "liveness: no command applied by every voter, and every removed node told of its removal, within \
             {SETTLE_ROUNDS_MAX} rounds after healing \
             ({})",
            self.describe_nodes()
        ))
    }
}
