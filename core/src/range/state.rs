//! The replicated state of one range, and how each command changes it.
//!
//! A replica applies committed Raft entries to a [`RangeState`]: the range's
//! descriptor, its MVCC data, the records of transactions anchored in it, its
//! timestamp cache and its garbage collection threshold. Application is
//! deterministic — same state, same command, same answer on every replica — so
//! conflicts are answers ([`CommandError`]), never faults. The state lives in
//! the node's engine, in the replica's own key space (`state/stored.rs`): a
//! command reads and writes it through a [`Staged`] view, whose batch the
//! replica writes with its new applied index (`store::machine`). A
//! [`RangeState`] holds in memory only the bounded part that every command
//! consults: descriptor, GC threshold, timestamp cache and meta map.
//!
//! Transaction rules applied here (see docs/transactions.md): reads record the
//! timestamp cache; writes land above it and above committed versions; records
//! are created by heartbeats, ended by the coordinator, and pushed by others under
//! wound-wait (an older pusher aborts a younger transaction, an expired heartbeat
//! is aborted by anyone, a reader pushes a writer's commit timestamp above it).
//!
//! # One-phase commits
//! A transaction whose writes all lie in one range can commit with one command,
//! [`RangeCommand::CommitOnePhase`] (see `state/one_phase.rs`): every write
//! becomes a committed version at one timestamp, in one batch, with no intent to
//! resolve later. It follows the rules of a write: any intent on a key refuses
//! it (nothing is written, the sender falls back to intents and pushes), and the
//! commit timestamp lands above the timestamp cache and every committed version
//! of the keys. Moving the timestamp up is allowed when the transaction read
//! nothing, or when the range can refresh every span it read (all in the range,
//! nothing written there in between): otherwise `CommitTimestampPushed` and
//! nothing is written.
//!
//! **Replays.** The same command can apply twice: the gateway sends it again
//! when an answer is lost, and a duplicated or delayed request is proposed
//! again. Applying it again is *not* harmless in general: the first application
//! left versions at the commit timestamp, so a second one would be pushed above
//! them and write the values again, later — over any write that came in between
//! (a lost update). So the command leaves a record, `Committed` at its
//! timestamp and anchored at its first key (it moves with that key on a split).
//! A replay finds it and answers it without writing; a record that is pending or
//! aborted means the transaction went the two-phase way (or was aborted), and
//! the replay is refused. Because the record is written by the same command, it
//! costs no extra Raft round. And because the anchor lies in this range, a
//! transaction that falls back to intents after a one-phase attempt whose answer
//! was lost finds that record from its first heartbeat, and learns it committed.

use super::command::{
    CommandError, PushKind, RangeCommand, RangeRequest, RangeResponse, TransactionRecord, TransactionStatus,
};
use super::timestamp_cache::TimestampCache;
use super::{RangeDescriptor, RangeError, RangeMap};
use crate::keys::{Key, KeyEnd};
use crate::storage::mvcc::{self, MvccError, ReadOptions, Resolution, Writer};
use crate::storage::{Engine, Staged, WriteBatch};
use crate::types::{Timestamp, TransactionId};

/// The in-memory part of one range's replicated state (see the module doc).
#[derive(Clone, Debug)]
pub struct RangeState {
    descriptor: RangeDescriptor,
    reads: TimestampCache,
    garbage_collection_threshold: Timestamp,
    /// A pending transaction silent for longer than this may be aborted by anyone.
    heartbeat_expiry_nanos: u64,
    /// The meta map of the whole key space: kept by the first range only (the
    /// one starting at the smallest key), empty elsewhere.
    meta: RangeMap,
    /// The bug knob `early-record-deletion`: records of commits are deleted at
    /// once, before their intents are resolved (see `state/records.rs`).
    early_record_deletion: bool,
}

/// The outcome of applying one command; a split also yields the new right range.
#[derive(Debug)]
pub struct Applied {
    pub result: Result<RangeResponse, CommandError>,
    pub right: Option<SplitOff>,
}

/// The right half of a split: its state, and the records that moved out of
/// the left range's space (see `state/stored.rs`), which the caller writes
/// into the right range's space in the same batch. Its data stays where it
/// is, in the shared data space.
#[derive(Debug)]
pub struct SplitOff {
    pub state: RangeState,
    pub records: Vec<TransactionRecord>,
}

impl SplitOff {
    /// The right range's whole state as a batch for its space in `engine`
    /// (the caller writes it in the split's batch), and the state.
    pub fn into_batch(self, engine: &dyn Engine) -> (WriteBatch, RangeState) {
        let mut view = stored::view(engine, self.state.descriptor.id);
        stored::write_all(&mut view, &self.state, Vec::new(), &self.records);
        (view.finish(), self.state)
    }
}

fn answer(result: Result<RangeResponse, CommandError>) -> Applied {
    Applied { result, right: None }
}

fn conflict(error: MvccError) -> CommandError {
    match error {
        MvccError::WriteIntent { key, intent } => CommandError::WriteIntent { key: Key(key), intent },
        MvccError::Uncertain { key, existing } => CommandError::Uncertain { key: Key(key), existing },
        // Storage and decoding faults in the in-memory engine are bugs.
        other => panic!("range state is corrupt: {other}"),
    }
}

/// The end of a span as MVCC takes it: empty for the end of the key space.
fn end_bytes(end: &KeyEnd) -> &[u8] {
    match end {
        KeyEnd::Before(key) => &key.0,
        KeyEnd::Unbounded => &[],
    }
}

impl RangeState {
    /// An empty range serving `descriptor`.
    pub fn new(descriptor: RangeDescriptor, heartbeat_expiry_nanos: u64) -> RangeState {
        RangeState {
            descriptor,
            reads: TimestampCache::default(),
            garbage_collection_threshold: Timestamp::default(),
            heartbeat_expiry_nanos,
            meta: RangeMap::default(),
            early_record_deletion: false,
        }
    }

    /// The first range of a new cluster: the whole key space, and a meta map
    /// that knows only it.
    pub fn first(descriptor: RangeDescriptor, heartbeat_expiry_nanos: u64) -> RangeState {
        assert_eq!(descriptor.start, Key::MIN, "the first range starts at the smallest key");
        let mut state = RangeState::new(descriptor.clone(), heartbeat_expiry_nanos);
        state.meta.learn(descriptor);
        state
    }

    /// Bounds this range's timestamp cache (see [`TimestampCache::set_entries_max`]).
    pub fn set_timestamp_cache_entries_max(&mut self, entries_max: usize) {
        self.reads.set_entries_max(entries_max);
    }

    /// Switches the bug knob `early-record-deletion` (never outside the simulator's bug sweeps).
    pub fn set_early_record_deletion(&mut self, enabled: bool) {
        self.early_record_deletion = enabled;
    }

    pub fn timestamp_cache(&self) -> &TimestampCache {
        &self.reads
    }

    /// Whether this range keeps the meta map.
    pub fn is_meta(&self) -> bool {
        self.descriptor.start == Key::MIN
    }

    /// The meta map (empty unless [`RangeState::is_meta`]).
    pub fn meta(&self) -> &RangeMap {
        &self.meta
    }

    pub fn descriptor(&self) -> &RangeDescriptor {
        &self.descriptor
    }

    /// Reads below this timestamp are refused; versions below it may be gone.
    pub fn garbage_collection_threshold(&self) -> Timestamp {
        self.garbage_collection_threshold
    }

    /// About how many bytes of MVCC data (keys and values, all versions) the
    /// range holds in `view` (its space), by the engine's estimate
    /// (`Engine::approximate_size`): measuring reads no data.
    pub fn size_bytes(&self, view: &(impl Engine + ?Sized)) -> u64 {
        let (start, end) = stored::data_span(&self.descriptor);
        view.approximate_size(&start, &end).expect("a range's data reads")
    }

    /// Where to split to halve the range by keys: its median user key, if that
    /// lies strictly inside the span (a range of one key cannot split). Two
    /// walks over the keys (count, then stop halfway), holding one key at a
    /// time: a split reads its range but never copies it.
    pub fn median_key(&self, view: &(impl Engine + ?Sized)) -> Option<Key> {
        let (start, end) = (&self.descriptor.start.0, end_bytes(&self.descriptor.end));
        let keys = || mvcc::user_keys(view, start, end).map(|key| key.expect("a range's data reads"));
        let median = Key(keys().nth(keys().count() / 2)?);
        (median > self.descriptor.start).then_some(median)
    }

    /// The record of `transaction`, if the range in `view` holds one.
    pub fn record(view: &(impl Engine + ?Sized), transaction: TransactionId) -> Option<TransactionRecord> {
        stored::read_record(view, transaction)
    }

    /// The batch that writes a new range's whole state (head and cache) into
    /// its empty space in `engine`.
    pub fn initial_batch(&self, engine: &dyn Engine) -> WriteBatch {
        let mut view = stored::view(engine, self.descriptor.id);
        stored::write_all(&mut view, self, Vec::new(), &[]);
        view.finish()
    }

    /// Applies `request` against the range's space in `engine` (a command never
    /// writes outside it); returns the outcome and the batch of its effects.
    pub fn apply_staged(&mut self, engine: &dyn Engine, request: RangeRequest) -> (Applied, WriteBatch) {
        let mut data = stored::view(engine, self.descriptor.id);
        let applied = self.apply(&mut data, request);
        (applied, data.finish())
    }

    /// Applies one committed command, reading and writing the range's space
    /// through `data`.
    pub fn apply(&mut self, data: &mut Staged<'_>, request: RangeRequest) -> Applied {
        assert_eq!(request.range, self.descriptor.id, "a store routes commands by range id");
        if let RangeCommand::UpdateMeta { .. } | RangeCommand::LookupMeta { .. } = &request.command {
            return answer(self.meta_command(data, request.command));
        }
        if let Err(error) = self.check_span(&request.command) {
            return answer(Err(CommandError::Range(error)));
        }
        match request.command {
            RangeCommand::Get { key, read } => answer(self.get(data, &key, &read)),
            RangeCommand::Scan { start, end, read, limit } => answer(self.scan(data, &start, &end, &read, limit)),
            RangeCommand::Put { key, value, transaction, anchor, timestamp, sequence } => {
                let writer = Writer { transaction, anchor: &anchor.0, sequence };
                answer(self.put(data, &key, value.as_deref(), writer, timestamp))
            }
            RangeCommand::ResolveIntent { key, transaction, resolution } => {
                answer(self.resolve_intent(data, &key, transaction, resolution))
            }
            RangeCommand::Refresh { start, end, after, up_to, transaction } => {
                answer(self.refresh(data, &start, &end, after, up_to, transaction))
            }
            RangeCommand::Heartbeat { transaction, anchor, start, now } => {
                answer(self.heartbeat(data, transaction, anchor, start, now))
            }
            RangeCommand::EndTransaction { transaction, commit, intent_spans, .. } => {
                answer(self.end_transaction(data, transaction, commit, intent_spans))
            }
            RangeCommand::ForgetTransaction { transaction, .. } => answer(self.forget_transaction(data, transaction)),
            RangeCommand::Push { pushee, anchor, pusher_start, kind, now } => {
                answer(self.push(data, pushee, anchor, pusher_start, kind, now))
            }
            RangeCommand::CommitOnePhase { transaction, writes, timestamp, read_spans } => {
                answer(self.commit_one_phase(data, transaction, &writes, timestamp, &read_spans))
            }
            RangeCommand::Split { at, right_id } => self.split(data, &at, right_id),
            RangeCommand::GarbageCollect { threshold } => answer(self.garbage_collect(data, threshold)),
            RangeCommand::UpdateMeta { .. } | RangeCommand::LookupMeta { .. } => unreachable!("answered above"),
            RangeCommand::ChangeReplicas { replicas, .. } => {
                answer(self.change_replicas(data, request.generation, replicas))
            }
        }
    }

    /// Records the range's new replicas. Refused when routed by an older
    /// descriptor (two moves planned from the same state must not both apply)
    /// or when it would leave the range without replicas or with node id 0.
    fn change_replicas(
        &mut self,
        data: &mut Staged<'_>,
        generation: u64,
        replicas: std::collections::BTreeSet<crate::types::NodeId>,
    ) -> Result<RangeResponse, CommandError> {
        if generation != self.descriptor.generation {
            let stale = RangeError::StaleDescriptor { generation, descriptor: self.descriptor.clone() };
            return Err(CommandError::Range(stale));
        }
        if replicas.is_empty() || replicas.contains(&crate::types::NodeId(0)) {
            return Err(CommandError::Invalid { reason: format!("a range cannot live on {replicas:?}") });
        }
        self.descriptor.replicas = replicas;
        self.descriptor.generation += 1;
        if self.is_meta() {
            self.meta.learn(self.descriptor.clone());
        }
        stored::write_head(data, self);
        Ok(RangeResponse::Descriptor(Some(self.descriptor.clone())))
    }

    /// Meta commands go to the first range, whatever their generation; another
    /// range refuses them as misrouted (the key space's first key is not its).
    fn meta_command(&mut self, data: &mut Staged<'_>, command: RangeCommand) -> Result<RangeResponse, CommandError> {
        if !self.is_meta() {
            let misrouted = RangeError::KeyOutsideRange { key: Key::MIN, descriptor: self.descriptor.clone() };
            return Err(CommandError::Range(misrouted));
        }
        Ok(match command {
            RangeCommand::UpdateMeta { descriptors } => {
                let recorded = descriptors.into_iter().filter(|descriptor| self.meta.learn(descriptor.clone())).count();
                if recorded > 0 {
                    stored::write_head(data, self);
                }
                RangeResponse::MetaUpdated { recorded: recorded as u64 }
            }
            RangeCommand::LookupMeta { key } => RangeResponse::Descriptor(self.meta.lookup(&key).cloned()),
            _ => unreachable!("only meta commands come here"),
        })
    }

    /// The key or span a command touches must lie in this range.
    fn check_span(&self, command: &RangeCommand) -> Result<(), RangeError> {
        if let RangeCommand::CommitOnePhase { writes, .. } = command {
            return match writes.iter().find(|(key, _)| !self.descriptor.contains(key)) {
                Some((key, _)) => {
                    Err(RangeError::KeyOutsideRange { key: key.clone(), descriptor: self.descriptor.clone() })
                }
                None => Ok(()),
            };
        }
        let (key, end) = match command {
            RangeCommand::Get { key, .. } | RangeCommand::Put { key, .. } | RangeCommand::ResolveIntent { key, .. } => {
                (key, None)
            }
            RangeCommand::Scan { start, end, .. } | RangeCommand::Refresh { start, end, .. } => (start, Some(end)),
            RangeCommand::Heartbeat { anchor, .. } | RangeCommand::Push { anchor, .. } => (anchor, None),
            RangeCommand::EndTransaction { anchor, .. } | RangeCommand::ForgetTransaction { anchor, .. } => {
                (anchor, None)
            }
            RangeCommand::ChangeReplicas { key, .. } => (key, None),
            RangeCommand::CommitOnePhase { .. } => unreachable!("checked above"),
            RangeCommand::Split { .. }
            | RangeCommand::GarbageCollect { .. }
            | RangeCommand::UpdateMeta { .. }
            | RangeCommand::LookupMeta { .. } => return Ok(()),
        };
        let misrouted = || RangeError::KeyOutsideRange { key: key.clone(), descriptor: self.descriptor.clone() };
        if !self.descriptor.contains(key) || end.is_some_and(|end| *end > self.descriptor.end) {
            return Err(misrouted());
        }
        Ok(())
    }

    fn check_readable(&self, read: &ReadOptions) -> Result<(), CommandError> {
        if read.timestamp < self.garbage_collection_threshold {
            return Err(CommandError::BelowGarbageCollectionThreshold { threshold: self.garbage_collection_threshold });
        }
        Ok(())
    }

    /// Records a read of `key` in the timestamp cache, and persists the change.
    fn record_read_key(&mut self, data: &mut Staged<'_>, key: &Key, timestamp: Timestamp) {
        let change = self.reads.record_key(key, timestamp);
        stored::write_cache_change(data, &self.reads, change);
    }

    /// Records a read of a span in the timestamp cache, and persists the change.
    fn record_read_span(&mut self, data: &mut Staged<'_>, start: &Key, end: &KeyEnd, timestamp: Timestamp) {
        let change = self.reads.record_span(start, end, timestamp);
        stored::write_cache_change(data, &self.reads, change);
    }

    fn get(&mut self, data: &mut Staged<'_>, key: &Key, read: &ReadOptions) -> Result<RangeResponse, CommandError> {
        self.check_readable(read)?;
        let (value, version) = mvcc::get_with_version(data, &key.0, read).map_err(conflict)?;
        self.record_read_key(data, key, read.timestamp);
        Ok(RangeResponse::Value { value, version })
    }

    fn scan(
        &mut self,
        data: &mut Staged<'_>,
        start: &Key,
        end: &KeyEnd,
        read: &ReadOptions,
        limit: usize,
    ) -> Result<RangeResponse, CommandError> {
        self.check_readable(read)?;
        let (rows, newest_version) = mvcc::scan(data, &start.0, end_bytes(end), read, limit).map_err(conflict)?;
        // The whole span counts as read (a later insert into it would be a phantom),
        // up to the last row when the limit cut the scan short.
        let read_end = match rows.last() {
            Some((last, _)) if rows.len() == limit => KeyEnd::Before(Key(last.clone()).next()),
            _ => end.clone(),
        };
        self.record_read_span(data, start, &read_end, read.timestamp);
        Ok(RangeResponse::Rows { rows, newest_version })
    }

    /// Lays an intent above every read and committed write of the key.
    fn put(
        &mut self,
        data: &mut Staged<'_>,
        key: &Key,
        value: Option<&[u8]>,
        writer: Writer<'_>,
        timestamp: Timestamp,
    ) -> Result<RangeResponse, CommandError> {
        if timestamp <= self.garbage_collection_threshold {
            return Err(CommandError::BelowGarbageCollectionThreshold { threshold: self.garbage_collection_threshold });
        }
        let record = stored::read_record(data, writer.transaction);
        let aborted = record.is_some_and(|r| r.status == TransactionStatus::Aborted);
        if aborted {
            return Err(CommandError::TransactionAborted { transaction: writer.transaction });
        }
        let mut timestamp = timestamp.max(self.reads.read_timestamp(key).next());
        loop {
            match mvcc::put(data, &key.0, value, writer, timestamp) {
                Ok(written) => return Ok(RangeResponse::Written { timestamp: written }),
                Err(MvccError::WriteTooOld { existing, .. }) => timestamp = existing.next(),
                Err(error) => return Err(conflict(error)),
            }
        }
    }

    /// Resolves an intent. An intent above the commit timestamp is a replayed
    /// write applied after the real one was resolved, and is removed (see
    /// [`mvcc::resolve`]): every write the transaction was told of lies at or
    /// below its commit timestamp.
    fn resolve_intent(
        &mut self,
        data: &mut Staged<'_>,
        key: &Key,
        transaction: TransactionId,
        resolution: Resolution,
    ) -> Result<RangeResponse, CommandError> {
        let found = mvcc::resolve(data, &key.0, transaction, resolution).map_err(conflict)?;
        Ok(RangeResponse::Resolved { found })
    }

    /// Raises the garbage collection threshold (never lowers it) and removes the
    /// versions below it that no read at or above it can see.
    fn garbage_collect(&mut self, data: &mut Staged<'_>, threshold: Timestamp) -> Result<RangeResponse, CommandError> {
        if threshold <= self.garbage_collection_threshold {
            return Ok(RangeResponse::Collected { versions: 0 });
        }
        self.garbage_collection_threshold = threshold;
        stored::write_head(data, self);
        self.collect_records(data, threshold);
        let (start, end) = (&self.descriptor.start.0, end_bytes(&self.descriptor.end));
        let removed = mvcc::garbage_collect(data, start, end, threshold).map_err(conflict)?;
        Ok(RangeResponse::Collected { versions: removed as u64 })
    }

    fn refresh(
        &mut self,
        data: &mut Staged<'_>,
        start: &Key,
        end: &KeyEnd,
        after: Timestamp,
        up_to: Timestamp,
        transaction: TransactionId,
    ) -> Result<RangeResponse, CommandError> {
        if after < self.garbage_collection_threshold {
            return Err(CommandError::BelowGarbageCollectionThreshold { threshold: self.garbage_collection_threshold });
        }
        let changed = mvcc::has_write_between(data, &start.0, end_bytes(end), after, up_to, Some(transaction))
            .map_err(conflict)?;
        if !changed {
            // The reads now stand at `up_to`: later writes must land above it.
            self.record_read_span(data, start, end, up_to);
        }
        Ok(RangeResponse::Refreshed { changed })
    }
}

mod one_phase;
mod records;
pub mod stored;
