//! An in-memory Raft cluster that a script drives step by step.
//!
//! Each member is a [`RaftNode`], a durable [`Store`] and a [`StateMachine`]. After
//! every input the harness drains the node's `Ready` at once, in the documented
//! order: persist (durably: unsynced writes are not modelled), queue the messages,
//! apply, advance. Messages then wait in per-link queues until the script delivers
//! them, so the network is slow only when the script says so. A message sent over
//! a cut link, or to a crashed node, is dropped when sent; one delivered to a
//! crashed node is lost. A crash keeps only the store; a restart rebuilds the node
//! and its state machine from it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::format;
use crate::raft::{
    Configuration, Entry, EntryPayload, HardState, Message, MessageBody, RaftConfig, RaftNode, Ready, RecoveredState,
    Role, Snapshot, SnapshotMetadata,
};
use crate::types::{LogIndex, NodeId, Term};

/// Rounds of delivery after which `stabilize` gives up: a livelock is a bug too.
const STABILIZE_ROUNDS_MAX: usize = 200;
/// Ready batches drained after one input before the harness calls it a livelock.
const READY_BATCHES_MAX: usize = 100;

/// Settings shared by every node of the cluster.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    pub election_timeout_ticks_min: u32,
    pub election_timeout_ticks_max: u32,
    pub heartbeat_interval_ticks: u32,
    pub inflight_appends_max: usize,
    pub append_entries_max: usize,
    /// Node `n` seeds its election jitter with `seed + n`.
    pub seed: u64,
}

impl Default for ClusterOptions {
    fn default() -> ClusterOptions {
        let defaults = RaftConfig::new(NodeId(1), 0);
        ClusterOptions {
            election_timeout_ticks_min: defaults.election_timeout_ticks_min,
            election_timeout_ticks_max: defaults.election_timeout_ticks_max,
            heartbeat_interval_ticks: defaults.heartbeat_interval_ticks,
            inflight_appends_max: defaults.inflight_appends_max,
            append_entries_max: defaults.append_entries_max,
            seed: 0,
        }
    }
}

/// Which queued messages a `deliver`, `drop` or `queued` command is about.
#[derive(Clone, Copy, Debug, Default)]
pub struct LinkFilter {
    pub from: Option<NodeId>,
    pub to: Option<NodeId>,
}

impl LinkFilter {
    fn matches(&self, from: NodeId, to: NodeId) -> bool {
        self.from.is_none_or(|id| id == from) && self.to.is_none_or(|id| id == to)
    }
}

/// What survives a crash: exactly what the node was told to persist.
#[derive(Clone, Debug, Default)]
struct Store {
    hard_state: HardState,
    snapshot: Snapshot,
    entries: Vec<Entry>,
}

impl Store {
    fn persist(&mut self, ready: &Ready) {
        if let Some(hard_state) = ready.hard_state {
            self.hard_state = hard_state;
        }
        if let Some(persisted) = &ready.snapshot {
            let index = persisted.snapshot.metadata.index;
            if persisted.restore {
                self.entries.clear();
            } else {
                self.entries.retain(|entry| entry.index > index);
            }
            self.snapshot = persisted.snapshot.clone();
        }
        for entry in &ready.entries {
            let kept = entry.index.0 - self.snapshot.metadata.index.0 - 1;
            assert!(kept as usize <= self.entries.len(), "persisting {} leaves a gap", entry.index);
            self.entries.truncate(kept as usize);
            self.entries.push(entry.clone());
        }
    }

    fn recovered(&self) -> RecoveredState {
        RecoveredState {
            hard_state: self.hard_state,
            snapshot: self.snapshot.clone(),
            entries: self.entries.clone(),
            applied_index: LogIndex(0),
        }
    }
}

/// The replicated state machine: the commands applied so far, with their indexes.
#[derive(Clone, Debug, Default)]
struct StateMachine {
    applied: Vec<(LogIndex, String)>,
}

impl StateMachine {
    /// The snapshot data for the state as of `index`: `index:command` words.
    fn encode_up_to(&self, index: LogIndex) -> Vec<u8> {
        let words: Vec<String> = self
            .applied
            .iter()
            .filter(|(at, _)| *at <= index)
            .map(|(at, command)| format!("{}:{command}", at.0))
            .collect();
        words.join(" ").into_bytes()
    }

    fn decode(data: &[u8]) -> StateMachine {
        let text = String::from_utf8(data.to_vec()).expect("snapshot data is text");
        let applied = text
            .split_whitespace()
            .map(|word| {
                let (index, command) = word.split_once(':').expect("snapshot word is index:command");
                (LogIndex(index.parse().expect("snapshot index is a number")), command.to_string())
            })
            .collect();
        StateMachine { applied }
    }

    /// `[x y]`: the commands applied, oldest first.
    fn describe(&self) -> String {
        let commands: Vec<&str> = self.applied.iter().map(|(_, command)| command.as_str()).collect();
        format!("[{}]", commands.join(" "))
    }
}

/// One member: its node (None while crashed), its store and its state machine.
struct Member {
    config: RaftConfig,
    node: Option<RaftNode>,
    store: Store,
    machine: StateMachine,
    /// The role and term last printed, to report changes.
    shown: (Role, Term),
    /// Ready batches that asked for (pre-)votes: how `campaign` sees a timeout fire.
    elections_started: u64,
}

/// The in-memory cluster.
pub struct Cluster {
    options: ClusterOptions,
    members: BTreeMap<NodeId, Member>,
    queues: BTreeMap<(NodeId, NodeId), VecDeque<Message>>,
    cut_links: BTreeSet<(NodeId, NodeId)>,
}

impl Cluster {
    /// A new cluster of voters `1..=size`, each starting from the initial configuration.
    pub fn new(size: u64, options: ClusterOptions) -> Cluster {
        let mut cluster =
            Cluster { options, members: BTreeMap::new(), queues: BTreeMap::new(), cut_links: BTreeSet::new() };
        let configuration = Configuration::with_voters((1..=size).map(NodeId));
        for id in (1..=size).map(NodeId) {
            let metadata = SnapshotMetadata { index: LogIndex(0), term: Term(0), configuration: configuration.clone() };
            cluster.add_member(id, Snapshot { metadata, data: Vec::new() });
        }
        cluster
    }

    /// Adds a node that joins later, with no configuration; does nothing if it exists.
    pub fn add_joining_node(&mut self, id: NodeId) {
        if !self.members.contains_key(&id) {
            self.add_member(id, Snapshot::default());
        }
    }

    fn add_member(&mut self, id: NodeId, snapshot: Snapshot) {
        let options = &self.options;
        let mut config = RaftConfig::new(id, options.seed + id.0);
        config.election_timeout_ticks_min = options.election_timeout_ticks_min;
        config.election_timeout_ticks_max = options.election_timeout_ticks_max;
        config.heartbeat_interval_ticks = options.heartbeat_interval_ticks;
        config.inflight_appends_max = options.inflight_appends_max;
        config.append_entries_max = options.append_entries_max;
        let store = Store { snapshot, ..Store::default() };
        let node = RaftNode::new(config.clone(), store.recovered());
        let member = Member {
            config,
            node: Some(node),
            store,
            machine: StateMachine::default(),
            shown: (Role::Follower, Term(0)),
            elections_started: 0,
        };
        self.members.insert(id, member);
    }

    pub fn node_ids(&self) -> Vec<NodeId> {
        self.members.keys().copied().collect()
    }

    /// How many times node `id` has asked for (pre-)votes; a single-node cluster
    /// elects itself without asking and is not counted.
    pub fn elections_started(&self, id: NodeId) -> u64 {
        self.members.get(&id).map_or(0, |member| member.elections_started)
    }

    pub fn election_timeout_ticks_max(&self) -> u32 {
        self.options.election_timeout_ticks_max
    }

    /// The running node `id`, or why there is none.
    pub fn node(&self, id: NodeId) -> Result<&RaftNode, String> {
        let member = self.members.get(&id).ok_or(format!("{id} does not exist"))?;
        member.node.as_ref().ok_or(format!("{id} is crashed"))
    }

    /// Runs `input` on node `id`, then drains its ready work. Returns the input's
    /// result and the effects to print (role changes, applied entries, reads).
    pub fn act<T>(&mut self, id: NodeId, input: impl FnOnce(&mut RaftNode) -> T) -> Result<(T, Vec<String>), String> {
        self.node(id)?;
        let member = self.members.get_mut(&id).expect("checked above");
        let result = input(member.node.as_mut().expect("checked above"));
        Ok((result, self.process_ready(id)))
    }

    /// Drains the ready work of node `id` following the runtime contract.
    fn process_ready(&mut self, id: NodeId) -> Vec<String> {
        let mut effects = Vec::new();
        for _ in 0..READY_BATCHES_MAX {
            let member = self.members.get_mut(&id).expect("node exists");
            let Some(node) = member.node.as_mut() else { return effects };
            if !node.has_ready() {
                effects.extend(self.role_change(id));
                return effects;
            }
            let ready = node.ready();
            member.store.persist(&ready);
            let (role, term) = (node.role(), node.term());
            let votes_asked = ready
                .messages
                .iter()
                .find(|message| matches!(message.body, MessageBody::PreVote { .. } | MessageBody::Vote { .. }));
            if let Some(asked) = votes_asked {
                member.elections_started += 1;
                if member.shown == (role, term) && role == Role::PreCandidate {
                    effects.push(format!("{id} pre-votes again for {}", asked.term));
                }
            }
            for message in ready.messages.iter().cloned() {
                self.send(message);
            }
            let member = self.members.get_mut(&id).expect("node exists");
            if let Some(persisted) = ready.snapshot.as_ref().filter(|persisted| persisted.restore) {
                member.machine = StateMachine::decode(&persisted.snapshot.data);
                effects.push(format!("{id} restore snapshot {}", format::snapshot(&persisted.snapshot)));
            }
            for entry in &ready.committed_entries {
                if let EntryPayload::Command(command) = &entry.payload {
                    member.machine.applied.push((entry.index, String::from_utf8_lossy(command).into_owned()));
                }
                effects.push(format!("{id} apply {}", format::entry(entry)));
            }
            for read in &ready.read_states {
                let state = member.machine.describe();
                effects.push(format!("{id} read {} confirmed at {} state={state}", read.context, read.index));
            }
            member.node.as_mut().expect("running").advance(&ready);
        }
        panic!("{id} still has ready work after {READY_BATCHES_MAX} batches");
    }

    fn role_change(&mut self, id: NodeId) -> Option<String> {
        let member = self.members.get_mut(&id).expect("node exists");
        let node = member.node.as_ref()?;
        let now = (node.role(), node.term());
        (now != member.shown).then(|| {
            member.shown = now;
            format!("{id} becomes {:?} {}", now.0, now.1)
        })
    }

    fn send(&mut self, message: Message) {
        let receiver_running = self.members.get(&message.to).is_some_and(|member| member.node.is_some());
        if receiver_running && !self.cut_links.contains(&(message.from, message.to)) {
            self.queues.entry((message.from, message.to)).or_default().push_back(message);
        }
    }

    /// Removes and returns the queued messages that match `filter`, link by link.
    fn take_queued(&mut self, filter: LinkFilter) -> Vec<Message> {
        let mut taken = Vec::new();
        for ((from, to), queue) in &mut self.queues {
            if filter.matches(*from, *to) {
                taken.extend(queue.drain(..));
            }
        }
        self.queues.retain(|_, queue| !queue.is_empty());
        taken
    }

    /// Describes the queued messages that match `filter`, without delivering them.
    pub fn queued(&self, filter: LinkFilter) -> Vec<String> {
        let matching = self.queues.iter().filter(|((from, to), _)| filter.matches(*from, *to));
        matching.flat_map(|(_, queue)| queue.iter().map(format::message)).collect()
    }

    /// Drops the queued messages that match `filter`.
    pub fn drop_queued(&mut self, filter: LinkFilter) -> Vec<String> {
        self.take_queued(filter).iter().map(|message| format!("dropped {}", format::message(message))).collect()
    }

    /// Delivers once every message queued now that matches `filter`; answers they
    /// cause stay queued. With `quiet`, only the effects are shown.
    pub fn deliver(&mut self, filter: LinkFilter, quiet: bool) -> Vec<String> {
        let mut lines = Vec::new();
        for message in self.take_queued(filter) {
            let to = message.to;
            if !quiet {
                lines.push(format::message(&message));
            }
            let indent = if quiet { "" } else { "  " };
            match self.act(to, |node| node.handle_message(message)) {
                Ok(((), effects)) => lines.extend(effects.into_iter().map(|effect| format!("{indent}{effect}"))),
                Err(error) => lines.push(format!("{indent}lost: {error}")),
            }
        }
        lines
    }

    /// Delivers messages until none is left.
    pub fn stabilize(&mut self, quiet: bool) -> Result<Vec<String>, String> {
        let mut lines = Vec::new();
        for _ in 0..STABILIZE_ROUNDS_MAX {
            if self.queues.is_empty() {
                return Ok(lines);
            }
            lines.extend(self.deliver(LinkFilter::default(), quiet));
        }
        Err(format!("messages still flowing after {STABILIZE_ROUNDS_MAX} rounds"))
    }

    /// Cuts every link between nodes of different groups; unlisted nodes form one
    /// more group. Replaces any earlier partition.
    pub fn partition(&mut self, mut groups: Vec<Vec<NodeId>>) {
        let listed: BTreeSet<NodeId> = groups.iter().flatten().copied().collect();
        groups.push(self.node_ids().into_iter().filter(|id| !listed.contains(id)).collect());
        self.cut_links.clear();
        for (position, group) in groups.iter().enumerate() {
            for other in groups.iter().skip(position + 1) {
                for (a, b) in group.iter().flat_map(|a| other.iter().map(move |b| (*a, *b))) {
                    self.cut_links.insert((a, b));
                    self.cut_links.insert((b, a));
                }
            }
        }
        let cut_links = &self.cut_links;
        self.queues.retain(|link, _| !cut_links.contains(link));
    }

    pub fn heal(&mut self) {
        self.cut_links.clear();
    }

    /// Loses everything of node `id` but its store. Messages already queued for it
    /// stay in the network: delivered after a restart they arrive late, delivered
    /// while it is down they are lost.
    pub fn crash(&mut self, id: NodeId) -> Result<(), String> {
        self.node(id)?;
        let member = self.members.get_mut(&id).expect("checked above");
        member.node = None;
        member.machine = StateMachine::default();
        Ok(())
    }

    /// Crashes node `id` and deletes its log, snapshot and state machine, keeping
    /// only its term and vote: a replica deleted with a tombstone (`store`).
    pub fn wipe(&mut self, id: NodeId) -> Result<(), String> {
        self.crash(id)?;
        let store = &mut self.members.get_mut(&id).expect("checked by crash").store;
        store.hard_state.commit = LogIndex(0);
        store.snapshot = Snapshot::default();
        store.entries.clear();
        Ok(())
    }

    /// Rebuilds node `id` from its store; returns the effects of its first ready.
    pub fn restart(&mut self, id: NodeId) -> Result<Vec<String>, String> {
        let member = self.members.get_mut(&id).ok_or(format!("{id} does not exist"))?;
        if member.node.is_some() {
            return Err(format!("{id} is running"));
        }
        member.node = Some(RaftNode::new(member.config.clone(), member.store.recovered()));
        member.machine = StateMachine::decode(&member.store.snapshot.data);
        Ok(self.process_ready(id))
    }

    /// Compacts node `id`'s log up to `index` into a snapshot of its state machine.
    pub fn compact(&mut self, id: NodeId, index: LogIndex) -> Result<Vec<String>, String> {
        let node = self.node(id)?;
        if index <= node.snapshot_index() || index > node.applied_index() {
            return Err(format!(
                "cannot compact {id} to {index}: snapshot {} applied {}",
                node.snapshot_index(),
                node.applied_index()
            ));
        }
        let data = self.members[&id].machine.encode_up_to(index);
        let ((), mut effects) = self.act(id, |node| node.compact(index, data))?;
        let snapshot = &self.members[&id].store.snapshot;
        effects.insert(0, format!("{id} snapshot {}", format::snapshot(snapshot)));
        Ok(effects)
    }

    /// One status line per node; crashed nodes say so.
    pub fn status(&self, id: NodeId) -> String {
        match self.node(id) {
            Ok(node) => format::status(&node.status()),
            Err(error) => error,
        }
    }

    /// The durable store of node `id` and its state machine.
    pub fn log(&self, id: NodeId) -> Result<Vec<String>, String> {
        let member = self.members.get(&id).ok_or(format!("{id} does not exist"))?;
        let store = &member.store;
        let mut lines = vec![
            format!("{id} hard state {}", format::hard_state(&store.hard_state)),
            format!("{id} snapshot {}", format::snapshot(&store.snapshot)),
        ];
        lines.extend(store.entries.iter().map(|entry| format!("{id} entry {}", format::entry(entry))));
        if member.node.is_some() {
            lines.push(format!("{id} state machine {}", member.machine.describe()));
        }
        Ok(lines)
    }
}
