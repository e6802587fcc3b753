//! The driver loop: the one task that owns a node's [`Store`] and its engine.
//!
//! Each turn it waits for an input or the next tick, takes every other input
//! already queued (up to a bound), hands them all to the store (which writes
//! to the engine as it handles them), and performs the outputs as the core's
//! [`Turn`] orders them: **sync once** if any asked, then send the messages,
//! then answer the clients. That is group commit: proposals that arrive while
//! a sync runs queue up and share the next one. Nothing is sent or answered
//! before the state it promises is durable.
//!
//! Ticks follow the core's [`TickSchedule`], as in the simulator: only when the
//! tick deadline has passed, so a busy node does not tick (and run
//! housekeeping) more often than an idle one.
//!
//! Everything else talks to the driver through a [`StoreHandle`]: peers'
//! messages, client requests (answered through a oneshot channel), and status.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use shardforge_core::raft::Message;
use shardforge_core::replica::{ClientId, Reply, RequestError};
use shardforge_core::storage::{Engine, StorageError};
use shardforge_core::store::turn::{TickSchedule, Turn};
use shardforge_core::store::{Store, StoreInput, StoreOutput, StoreRequest};
use shardforge_core::types::{RangeId, Time};
use tokio::sync::{mpsc, oneshot, watch};

use crate::clock::wall_clock;
use crate::engine::RocksEngine;
use crate::peers::Peers;
use crate::status::{store_status, StoreStatus};

/// Inputs handled in one turn at most, so one sync never waits on an unbounded batch.
const INPUTS_PER_TURN_MAX: usize = 1024;
/// Every client request goes in under this client id; request ids tell them apart.
const CLIENT: ClientId = ClientId(1);

/// What the driver takes in.
enum Event {
    Raft { group: u64, message: Message },
    Request { request: StoreRequest, sender_clock: Option<Time>, answer: Answer },
    Status { answer: oneshot::Sender<StoreStatus> },
}

type Answer = oneshot::Sender<Result<Vec<u8>, RequestError>>;

/// A cheap, cloneable way to reach the driver.
#[derive(Clone)]
pub struct StoreHandle {
    events: mpsc::UnboundedSender<Event>,
}

impl StoreHandle {
    /// Hands a peer's Raft message to the store.
    pub fn deliver(&self, group: u64, message: Message) {
        // A stopped driver drops it, as a lost message.
        let _ = self.events.send(Event::Raft { group, message });
    }

    /// A client request to the store; waits for the answer. A driver that
    /// stops first leaves the outcome unknown.
    pub async fn request(&self, request: StoreRequest, sender_clock: Option<Time>) -> Result<Vec<u8>, RequestError> {
        let (answer, answered) = oneshot::channel();
        if self.events.send(Event::Request { request, sender_clock, answer }).is_err() {
            return Err(RequestError::Unavailable);
        }
        answered.await.unwrap_or(Err(RequestError::OutcomeUnknown))
    }

    /// The store's ranges as this node sees them; None once the driver stopped.
    pub async fn status(&self) -> Option<StoreStatus> {
        let (answer, answered) = oneshot::channel();
        self.events.send(Event::Status { answer }).ok()?;
        answered.await.ok()
    }
}

/// The driver, before it runs.
pub struct Driver {
    store: Store,
    engine: RocksEngine,
    peers: Arc<Peers>,
    events: mpsc::UnboundedReceiver<Event>,
    /// Clients waiting for their answers, by request id.
    waiting: BTreeMap<u64, Answer>,
    next_request_id: u64,
    tick_interval: Duration,
    statistics: TurnStatistics,
}

/// What the driver did since it last reported (at debug level, every
/// [`STATISTICS_INTERVAL`]): how well group commit shares its syncs.
#[derive(Default)]
struct TurnStatistics {
    since: Option<std::time::Instant>,
    turns: u64,
    requests: u64,
    syncs: u64,
    sync_time: Duration,
}

const STATISTICS_INTERVAL: Duration = Duration::from_secs(10);

impl TurnStatistics {
    fn report_if_due(&mut self) {
        let since = *self.since.get_or_insert_with(std::time::Instant::now);
        if since.elapsed() < STATISTICS_INTERVAL {
            return;
        }
        let per_sync = |total: u64| total as f64 / self.syncs.max(1) as f64;
        tracing::debug!(
            turns = self.turns,
            requests = self.requests,
            syncs = self.syncs,
            requests_per_sync = format!("{:.1}", per_sync(self.requests)),
            sync_micros_mean = format!("{:.0}", self.sync_time.as_micros() as f64 / self.syncs.max(1) as f64),
            "driver turns"
        );
        *self = TurnStatistics::default();
    }
}

impl Driver {
    pub fn new(store: Store, engine: RocksEngine, peers: Arc<Peers>, tick_interval: Duration) -> (Driver, StoreHandle) {
        let (sender, events) = mpsc::unbounded_channel();
        let driver = Driver {
            store,
            engine,
            peers,
            events,
            waiting: BTreeMap::new(),
            next_request_id: 0,
            tick_interval,
            statistics: TurnStatistics::default(),
        };
        (driver, StoreHandle { events: sender })
    }

    /// Runs until `shutdown` turns true; then every waiting client is told its
    /// outcome is unknown. A storage failure stops the node: the core cannot
    /// guess what was persisted.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) -> Result<(), String> {
        let mut ticks = TickSchedule::default();
        loop {
            let wait = Duration::from_nanos(ticks.wait_nanos(wall_clock())).min(self.tick_interval);
            let first = tokio::select! {
                biased;
                _ = shutdown.wait_for(|stop| *stop) => break,
                event = self.events.recv() => match event {
                    Some(event) => Some(event),
                    None => break,
                },
                () = tokio::time::sleep(wait) => None,
            };
            let mut events: Vec<Event> = first.into_iter().collect();
            while events.len() < INPUTS_PER_TURN_MAX {
                match self.events.try_recv() {
                    Ok(event) => events.push(event),
                    Err(_) => break,
                }
            }
            let now = wall_clock();
            let mut outputs = Vec::new();
            if ticks.due(now) {
                let output =
                    self.store.handle(now, StoreInput::Tick, &mut self.engine).map_err(|error| error.to_string())?;
                ticks.ticked(now, &output);
                outputs.push(output);
                self.waiting.retain(|_, answer| !answer.is_closed());
            }
            for event in events {
                if let Some(output) = self.handle(now, event).map_err(|error| error.to_string())? {
                    outputs.push(output);
                }
            }
            self.perform(outputs)?;
            self.statistics.turns += 1;
            self.statistics.report_if_due();
        }
        for (_, answer) in std::mem::take(&mut self.waiting) {
            let _ = answer.send(Err(RequestError::OutcomeUnknown));
        }
        Ok(())
    }

    fn handle(&mut self, now: Time, event: Event) -> Result<Option<StoreOutput>, StorageError> {
        Ok(match event {
            Event::Raft { group, message } => {
                let input = StoreInput::Message { range: RangeId(group), message };
                Some(self.store.handle(now, input, &mut self.engine)?)
            }
            Event::Request { request, sender_clock, answer } => {
                self.next_request_id += 1;
                self.statistics.requests += 1;
                let request_id = self.next_request_id;
                self.waiting.insert(request_id, answer);
                let input = StoreInput::Request { client: CLIENT, request_id, request, sender_clock };
                Some(self.store.handle(now, input, &mut self.engine)?)
            }
            Event::Status { answer } => {
                let _ = answer.send(store_status(&self.store));
                None
            }
        })
    }

    /// Sync once (the store wrote to the engine as it handled), then send, then answer.
    fn perform(&mut self, outputs: Vec<StoreOutput>) -> Result<(), String> {
        for (range, ready) in outputs.iter().flat_map(|output| &output.readies) {
            if let Some(snapshot) = ready.snapshot.as_ref().filter(|snapshot| snapshot.restore) {
                let index = snapshot.snapshot.metadata.index.0;
                tracing::info!(range = range.0, index, "restored a snapshot from the range's leader");
            }
        }
        let turn = Turn::of(outputs);
        for (range, removal) in &turn.removed {
            tracing::info!(
                range = range.0,
                removal = removal.0,
                "removed this node's replica, which a range move left behind"
            );
        }
        if turn.sync {
            let engine = &mut self.engine;
            let started = std::time::Instant::now();
            sync_blocking(|| engine.sync()).map_err(|error| error.to_string())?;
            self.statistics.syncs += 1;
            self.statistics.sync_time += started.elapsed();
        }
        for (to, messages) in turn.batches {
            self.peers.send(to, shardforge_proto::encode_group_batch(&messages));
        }
        for Reply { request_id, result, .. } in turn.replies {
            if let Some(answer) = self.waiting.remove(&request_id) {
                let _ = answer.send(result);
            }
        }
        Ok(())
    }
}

/// Runs a blocking fsync without stalling the runtime's other tasks, where the
/// runtime allows it (a multi-threaded one moves them to another worker).
fn sync_blocking<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|handle| handle.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}
