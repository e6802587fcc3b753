//! A range as the replicated state machine of its Raft group: committed entries
//! are encoded [`RangeRequest`]s applied to a [`RangeState`] in the range's key
//! space of the node's engine (`range::stored`); answers go back encoded.
//!
//! Each entry is one batch: the command's effects and the range's new applied
//! index. A split's batch also holds the whole new right-hand range — its
//! local keys, its applied index and its Raft group's initial state; its data
//! is already in place in the shared data space — so a crash keeps both halves
//! or neither; the store then starts the new group from what the batch wrote.

use crate::raft::{
    persistence, Configuration, HardState, Ready, RecoveredState, Snapshot, SnapshotMetadata, SnapshotToPersist,
};
use crate::range::{codec, stored, RangeDescriptor, RangeState, SplitOff, TransactionRecord};
use crate::replica::{Span, StateMachine};
use crate::storage::{Engine, Staged, StorageError, WriteBatch};
use crate::types::{LogIndex, RangeId, TransactionId};

use super::{StoreKnobs, SPLIT_INITIAL_INDEX, SPLIT_INITIAL_TERM};

/// One replica's range state; None until a snapshot initializes it.
#[derive(Debug)]
pub struct RangeMachine {
    range: RangeId,
    state: Option<RangeState>,
    heartbeat_expiry_nanos: u64,
    /// The bound of the range's timestamp cache (splits inherit it).
    timestamp_cache_entries_max: usize,
    /// Right-hand ranges whose state a split applied since the store last
    /// looked wrote into the engine.
    splits: Vec<(RangeId, u64)>,
    knobs: StoreKnobs,
    /// The size of the range's data the engine last estimated, and the bytes
    /// of data applied since it last grew ([`RangeMachine::size_estimate`]).
    /// A split at the median key hands half of the latter to the new range.
    measured_bytes: u64,
    written_since_measured_bytes: u64,
}

/// The Raft state a range born from a split (or the first range) starts with:
/// a snapshot marker at [`SPLIT_INITIAL_INDEX`], voters as the descriptor says.
/// The state itself is in the range's key space.
pub fn initial_raft_state(descriptor: &RangeDescriptor) -> RecoveredState {
    let hard_state = HardState { term: SPLIT_INITIAL_TERM, vote: None, commit: SPLIT_INITIAL_INDEX };
    let snapshot = Snapshot {
        metadata: SnapshotMetadata {
            index: SPLIT_INITIAL_INDEX,
            term: SPLIT_INITIAL_TERM,
            configuration: Configuration::with_voters(descriptor.replicas.iter().copied()),
        },
        data: Vec::new(),
    };
    RecoveredState { hard_state, snapshot, entries: Vec::new(), applied_index: SPLIT_INITIAL_INDEX }
}

/// The batch that writes a new range's Raft group as `recovered` describes it.
pub fn initial_raft_batch(range: RangeId, recovered: &RecoveredState) -> WriteBatch {
    let ready = Ready {
        hard_state: Some(recovered.hard_state),
        snapshot: Some(SnapshotToPersist { snapshot: recovered.snapshot.clone(), restore: false }),
        ..Ready::default()
    };
    let keys = persistence::GroupKeys::new(range.0);
    let mut batch = persistence::batch(&keys, &ready, persistence::SnapshotData::Omitted);
    stored::write_applied(&mut batch, range, recovered.applied_index);
    batch
}

impl RangeMachine {
    pub fn new(range: RangeId, heartbeat_expiry_nanos: u64, timestamp_cache_entries_max: usize) -> RangeMachine {
        let splits = Vec::new();
        let knobs = StoreKnobs::default();
        RangeMachine {
            range,
            state: None,
            heartbeat_expiry_nanos,
            timestamp_cache_entries_max,
            splits,
            knobs,
            measured_bytes: 0,
            written_since_measured_bytes: 0,
        }
    }

    pub fn set_knobs(&mut self, knobs: StoreKnobs) {
        self.knobs = knobs;
    }

    pub fn state(&self) -> Option<&RangeState> {
        self.state.as_ref()
    }

    /// The range's key space in `engine`, for reading.
    pub fn view<'a>(&self, engine: &'a dyn Engine) -> Staged<'a> {
        stored::view(engine, self.range)
    }

    /// The record of `transaction` this replica holds, if any.
    pub fn record(&self, engine: &dyn Engine, transaction: TransactionId) -> Option<TransactionRecord> {
        RangeState::record(&self.view(engine), transaction)
    }

    /// About how many bytes of MVCC data the range holds: the engine's
    /// estimate (`Engine::approximate_size`), plus what was applied since that
    /// estimate last grew. RocksDB's estimate counts only flushed table files,
    /// so the second term stands for what is still in the memtable; when a
    /// flush makes the estimate grow, it starts again from zero. A split at
    /// the median key gives each half half of it; a restart forgets it (the
    /// estimate is then low until the next flush). No range data is read.
    pub fn size_estimate(&mut self, engine: &dyn Engine) -> Option<u64> {
        let state = self.state.as_ref()?;
        let estimate = state.size_bytes(&self.view(engine));
        if estimate > self.measured_bytes {
            self.written_since_measured_bytes = 0;
        }
        self.measured_bytes = estimate;
        Some(estimate + self.written_since_measured_bytes)
    }

    /// The ranges split off since the last call, their state in the engine,
    /// each with its share of the data bytes applied and not yet measured
    /// (for [`RangeMachine::inherit_unmeasured`]).
    pub fn take_splits(&mut self) -> Vec<(RangeId, u64)> {
        std::mem::take(&mut self.splits)
    }

    /// A range split off this one's parent takes its share of the bytes the
    /// parent applied since its last measure.
    pub fn inherit_unmeasured(&mut self, bytes: u64) {
        self.written_since_measured_bytes += bytes;
    }

    /// Adds the split-off range to the split's batch, unless this node holds
    /// that range already (created by a message, or from an earlier life):
    /// its own Raft state wins over the split's. Such a replica holds no state
    /// machine yet (the overlap rule keeps its snapshot off while this range
    /// covers its span), and waits for a snapshot that brings its data, so
    /// the right half's data goes: left in the shared data space it would be
    /// nobody's, for good if the range moved off this node before the
    /// snapshot came (found by the simulator's leak check, list-append seed
    /// 518 at 5 nodes).
    fn add_split(&mut self, engine: &dyn Engine, batch: &mut WriteBatch, right: SplitOff) {
        let id = right.state.descriptor().id;
        let keys = persistence::GroupKeys::new(id.0);
        if persistence::exists(engine, &keys).expect("the engine reads") {
            let initialized = persistence::initialized(engine, &keys).expect("the engine reads");
            assert!(!initialized, "the overlap rule keeps a split-off range uninitialized until its split");
            let (start, end) = stored::data_span(right.state.descriptor());
            batch.delete_range(start, end);
            return;
        }
        let descriptor = right.state.descriptor().clone();
        let (right_batch, _) = right.into_batch(engine);
        batch.operations.extend(right_batch.operations);
        batch.operations.extend(initial_raft_batch(id, &initial_raft_state(&descriptor)).operations);
        let right_share = self.written_since_measured_bytes / 2;
        self.written_since_measured_bytes -= right_share;
        self.splits.push((id, right_share));
    }
}

/// The bytes of MVCC data `batch` puts (deletions are not subtracted: an
/// estimate that errs high splits a range early, never late).
fn data_bytes(batch: &WriteBatch) -> u64 {
    let data = crate::storage::mvcc::space();
    let puts = batch.operations.iter().filter_map(|operation| match operation {
        crate::storage::WriteOperation::Put { key, value } if key.starts_with(data) => Some(key.len() + value.len()),
        _ => None,
    });
    puts.sum::<usize>() as u64
}

impl StateMachine for RangeMachine {
    fn recover(&mut self, engine: &dyn Engine) -> LogIndex {
        let view = self.view(engine);
        self.state = stored::load(&view, self.heartbeat_expiry_nanos, self.timestamp_cache_entries_max);
        stored::read_applied(&view)
    }

    fn apply(&mut self, engine: &mut dyn Engine, index: LogIndex, command: &[u8]) -> Result<Vec<u8>, StorageError> {
        // Entries are proposed only after decoding succeeded at the leader, so a
        // bad entry here means corruption: every replica must stop the same way.
        let request = codec::decode_request(command).expect("committed range commands decode");
        let state = self.state.as_mut().expect("a replica applies entries only once initialized");
        state.set_early_record_deletion(self.knobs.early_record_deletion);
        let (applied, mut batch) = state.apply_staged(engine, request);
        self.written_since_measured_bytes += data_bytes(&batch);
        if let Some(right) = applied.right {
            self.add_split(engine, &mut batch, right);
        }
        if self.knobs.applied_index_ahead {
            let mut ahead = WriteBatch::default();
            stored::write_applied(&mut ahead, self.range, index);
            engine.write(ahead)?;
        } else {
            stored::write_applied(&mut batch, self.range, index);
        }
        engine.write(batch)?;
        Ok(codec::encode_outcome(&applied.result))
    }

    fn query(&self, _engine: &dyn Engine, _query: &[u8]) -> Vec<u8> {
        // Range reads go through the log (they update the timestamp cache).
        Vec::new()
    }

    fn spans(&self) -> Vec<Span> {
        stored::spans(self.range, self.state.as_ref().map(|state| state.descriptor()))
    }

    fn snapshot_header(&self) -> Vec<u8> {
        codec::encode_snapshot_header(self.state.as_ref().map(|state| state.descriptor()))
    }
}
