//! What a simulated node runs, behind one interface for the driver: either a
//! single Raft group with any state machine (the register workload), or a
//! [`Store`] of many range replicas (the transaction workloads).
//!
//! Both take the same inputs (ticks, group-tagged messages, client requests
//! tagged with the group they are for) and produce the store's output shape:
//! each `Ready` tagged with its group, then the replies. The single group is the
//! degenerate store of one range with id [`FIRST_GROUP`].

use std::collections::BTreeSet;

use shardforge_core::encoding::{DecodeError, Reader, Writer};
use shardforge_core::placement::rebalancer::{self, ReplicaReport};
use shardforge_core::raft::{persistence, Message, Status};
use shardforge_core::replica::{ClientId, ClientRequest, Input, Replica, ReplicaConfig, Reply, Request};
use shardforge_core::replica::{Span, StateMachine};
use shardforge_core::storage::{Engine, MemoryEngine};
use shardforge_core::store::{self, Store, StoreConfig, StoreInput, StoreOutput, StoreRequest};
use shardforge_core::types::{LogIndex, NodeId, RangeId, Time};

/// The register's one group, and a store's first range (its id survives splits:
/// the left-hand side keeps it). The nemesis's leader-directed faults target it.
pub const FIRST_GROUP: u64 = 1;
pub use shardforge_core::store::LOOKUP_GROUP;
/// The group a store answers with the reports of its replicas (see
/// [`encode_reports`]), as production's node answers its status RPC: the
/// rebalancer asks every node over the simulated network.
pub const STATUS_GROUP: u64 = u64::MAX - 1;
/// Replicas of each range a store cluster starts with.
pub const REPLICATION_FACTOR: usize = 3;

/// One input to a program.
#[derive(Clone, Debug)]
pub enum ProgramInput {
    Tick,
    Message {
        group: u64,
        message: Message,
    },
    /// `sender_clock`: the sender's clock when it sent the request, if it said.
    Request {
        client: ClientId,
        request_id: u64,
        group: u64,
        request: Request,
        sender_clock: Option<Time>,
    },
}

/// A sans-IO node program the simulated driver can run.
pub trait Program: Sized + 'static {
    /// What every start of the program needs besides its disk.
    type Settings: Clone + Send + Sync + 'static;

    /// Writes the state of node `id` of a new cluster of `nodes`.
    fn bootstrap(disk: &mut MemoryEngine, id: NodeId, nodes: &[NodeId]);
    /// The program as it restarts from `disk`; `random_seed` is drawn per start.
    fn recover(settings: &Self::Settings, id: NodeId, random_seed: u64, disk: &mut MemoryEngine) -> Self;
    /// Handles one input, writing to `disk` (the driver syncs it after).
    fn handle(&mut self, now: Time, input: ProgramInput, disk: &mut MemoryEngine) -> StoreOutput;
    /// The Raft status of [`FIRST_GROUP`], if this node has a replica of it.
    fn status(&self) -> Option<Status>;
    /// The applied index of `group`, a digest of its state machine there, and
    /// the group's voters as this replica knows them.
    fn replica_state(&self, group: u64, disk: &MemoryEngine) -> Option<ReplicaState>;
}

/// What a replica reports after applying.
#[derive(Clone, Debug)]
pub struct ReplicaState {
    pub applied_index: LogIndex,
    pub digest: u64,
    pub voters: BTreeSet<NodeId>,
}

/// 64-bit FNV-1a of a state machine's serialized state.
pub fn state_digest(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3))
}

/// The digest of every key and value a state machine keeps in `spans`: the
/// whole state, applied index included.
pub fn spans_digest(disk: &MemoryEngine, spans: &[Span]) -> u64 {
    let mut bytes = Vec::new();
    for (start, end) in spans {
        for (key, value) in disk.scan(start, end, usize::MAX).expect("the simulated disk reads") {
            for part in [key, value] {
                bytes.extend_from_slice(&(part.len() as u64).to_be_bytes());
                bytes.extend_from_slice(&part);
            }
        }
    }
    state_digest(&bytes)
}

/// The output of an input handled without the core: no deadline of its own (the
/// driver waits for the earliest deadline of a turn's outputs).
fn answered_at_once(replies: Vec<Reply>) -> StoreOutput {
    StoreOutput { replies, next_deadline: Time(u64::MAX), ..StoreOutput::default() }
}

/// Settings of a single-group program.
pub struct SingleGroupSettings<M> {
    pub replica: ReplicaConfig,
    pub make_state_machine: fn() -> M,
}

impl<M> std::fmt::Debug for SingleGroupSettings<M> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.replica.fmt(formatter)
    }
}

impl<M> Clone for SingleGroupSettings<M> {
    fn clone(&self) -> Self {
        SingleGroupSettings { replica: self.replica.clone(), make_state_machine: self.make_state_machine }
    }
}

/// One Raft group ([`FIRST_GROUP`]) with the state machine `M`.
pub struct SingleGroup<M: StateMachine> {
    replica: Replica<M>,
}

impl<M: StateMachine + Send + 'static> Program for SingleGroup<M> {
    type Settings = SingleGroupSettings<M>;

    fn bootstrap(disk: &mut MemoryEngine, _id: NodeId, nodes: &[NodeId]) {
        persistence::bootstrap(disk, &persistence::GroupKeys::new(FIRST_GROUP), nodes)
            .expect("bootstrap the simulated disk");
    }

    fn recover(settings: &Self::Settings, id: NodeId, random_seed: u64, disk: &mut MemoryEngine) -> Self {
        let recovered = persistence::recover_rolling_forward(disk, &persistence::GroupKeys::new(FIRST_GROUP))
            .expect("the simulated disk is never corrupt");
        let mut config = settings.replica.clone();
        config.group = FIRST_GROUP;
        config.raft.id = id;
        config.raft.random_seed = random_seed;
        SingleGroup { replica: Replica::new(config, recovered, (settings.make_state_machine)(), disk) }
    }

    fn handle(&mut self, now: Time, input: ProgramInput, disk: &mut MemoryEngine) -> StoreOutput {
        let input = match input {
            ProgramInput::Tick => Input::Tick,
            ProgramInput::Message { group, message } if group == FIRST_GROUP => Input::Message(message),
            // A message for a group this node does not run: dropped, as a lost one.
            ProgramInput::Message { .. } => return answered_at_once(Vec::new()),
            ProgramInput::Request { client, request_id, request, .. } => {
                Input::Request(ClientRequest { client, request_id, request })
            }
        };
        let output = self.replica.handle(now, input, disk).expect("the simulated disk never fails");
        StoreOutput {
            readies: output.readies.into_iter().map(|ready| (RangeId(FIRST_GROUP), ready)).collect(),
            replies: output.replies,
            next_deadline: output.next_deadline,
            removed: Vec::new(),
        }
    }

    fn status(&self) -> Option<Status> {
        Some(self.replica.raft().status())
    }

    fn replica_state(&self, group: u64, disk: &MemoryEngine) -> Option<ReplicaState> {
        (group == FIRST_GROUP).then(|| ReplicaState {
            applied_index: self.replica.raft().applied_index(),
            digest: spans_digest(disk, &self.replica.state_machine().spans()),
            voters: self.replica.raft().status().configuration.voters,
        })
    }
}

/// A store: one replica per range this node holds.
pub struct StoreProgram {
    store: Store,
}

impl StoreProgram {
    pub fn store(&self) -> &Store {
        &self.store
    }
}

impl Program for StoreProgram {
    type Settings = StoreConfig;

    /// The first range starts on the first [`REPLICATION_FACTOR`] nodes; the
    /// others start empty and receive replicas as ranges move.
    fn bootstrap(disk: &mut MemoryEngine, id: NodeId, nodes: &[NodeId]) {
        let replicas = &nodes[..nodes.len().min(REPLICATION_FACTOR)];
        if replicas.contains(&id) {
            store::bootstrap(disk, replicas).expect("bootstrap the simulated disk");
        }
    }

    fn recover(settings: &Self::Settings, id: NodeId, random_seed: u64, disk: &mut MemoryEngine) -> Self {
        let mut config = settings.clone();
        config.node = id;
        config.raft.id = id;
        config.raft.random_seed = random_seed;
        StoreProgram { store: Store::new(config, disk).expect("the simulated disk is never corrupt") }
    }

    fn handle(&mut self, now: Time, input: ProgramInput, disk: &mut MemoryEngine) -> StoreOutput {
        let input = match input {
            ProgramInput::Tick => StoreInput::Tick,
            ProgramInput::Message { group, message } => StoreInput::Message { range: RangeId(group), message },
            ProgramInput::Request { client, request_id, group: STATUS_GROUP, .. } => {
                let reports = encode_reports(&rebalancer::replica_reports(&self.store));
                return answered_at_once(vec![Reply { client, request_id, result: Ok(reports) }]);
            }
            ProgramInput::Request { client, request_id, group, request, sender_clock } => {
                // The simulated network is this request's wire: type it again.
                match StoreRequest::from_wire(group, request) {
                    Ok(request) => StoreInput::Request { client, request_id, request, sender_clock },
                    Err(error) => return answered_at_once(vec![Reply { client, request_id, result: Err(error) }]),
                }
            }
        };
        self.store.handle(now, input, disk).expect("the simulated disk never fails")
    }

    fn status(&self) -> Option<Status> {
        self.store.replica(RangeId(FIRST_GROUP)).map(|replica| replica.raft().status())
    }

    fn replica_state(&self, group: u64, disk: &MemoryEngine) -> Option<ReplicaState> {
        let replica = self.store.replica(RangeId(group))?;
        Some(ReplicaState {
            applied_index: replica.raft().applied_index(),
            digest: spans_digest(disk, &replica.state_machine().spans()),
            voters: replica.raft().status().configuration.voters,
        })
    }
}

/// The answer to a [`STATUS_GROUP`] request: per replica, its range id,
/// generation, start key and replicas, in the core's byte codec.
pub fn encode_reports(reports: &[ReplicaReport]) -> Vec<u8> {
    let mut writer = Writer::default();
    writer.u64(reports.len() as u64);
    for report in reports {
        writer.u64(report.range).u64(report.generation).bytes(&report.start_key);
        writer.u64(report.replicas.len() as u64);
        for node in &report.replicas {
            writer.u64(node.0);
        }
    }
    writer.finish()
}

/// Reads [`encode_reports`]' bytes; None when they are not such.
pub fn decode_reports(bytes: &[u8]) -> Option<Vec<ReplicaReport>> {
    let decode = || -> Result<Vec<ReplicaReport>, DecodeError> {
        let mut reader = Reader::new(bytes);
        let mut reports = Vec::new();
        for _ in 0..reader.u64()? {
            let (range, generation) = (reader.u64()?, reader.u64()?);
            let start_key = reader.bytes()?.to_vec();
            let replicas = (0..reader.u64()?).map(|_| reader.u64().map(NodeId)).collect::<Result<_, _>>()?;
            reports.push(ReplicaReport { range, start_key, generation, replicas });
        }
        reader.finish()?;
        Ok(reports)
    };
    decode().ok()
}
