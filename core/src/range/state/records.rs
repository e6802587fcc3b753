//! Transaction records and splits: the parts of [`RangeState`] that are not MVCC
//! reads and writes.
//!
//! # Deleting records
//! A record is deleted by garbage collection once it can no longer matter and
//! no command can bring it back:
//! - **committed** with no intent spans left (a one-phase commit's record, or
//!   a two-phase one whose coordinator sent `ForgetTransaction` after resolving
//!   every intent), and started at or below the threshold;
//! - **aborted**, started at or below the threshold (a record a pusher wrote
//!   for a transaction it never heard from has no known start, and stays until
//!   the transaction's own heartbeat tells it);
//! - **pending** with its last heartbeat at or below the threshold (expired
//!   long ago: anyone may abort it, and an absent record reads as aborted).
//!
//! Replays of a deleted record's commands are refused by the same threshold:
//! a one-phase commit at or below it is refused (before, it found its record),
//! and a heartbeat that would create a record for a transaction started at or
//! below it is refused (it would revive a transaction that ended). The
//! threshold moves with the store's garbage collection time to live, so the
//! bound on how long a record outlives its transaction is that time to live.

use super::*;

/// The start of a record a pusher wrote for a transaction it never heard from.
const UNKNOWN_START: Timestamp = Timestamp { wall_nanos: 0, logical: 0 };

impl RangeState {
    /// Creates the record at the transaction's first write, or renews its heartbeat.
    pub(super) fn heartbeat(
        &mut self,
        data: &mut Staged<'_>,
        transaction: TransactionId,
        anchor: Key,
        start: Timestamp,
        now: Timestamp,
    ) -> Result<RangeResponse, CommandError> {
        let existing = stored::read_record(data, transaction);
        let collected = self.garbage_collection_threshold > Timestamp::default();
        if existing.is_none() && collected && start <= self.garbage_collection_threshold {
            // Its record may have been collected: creating one would revive it.
            return Err(CommandError::BelowGarbageCollectionThreshold { threshold: self.garbage_collection_threshold });
        }
        let mut record = existing.unwrap_or(TransactionRecord {
            id: transaction,
            anchor,
            start,
            status: TransactionStatus::Pending,
            heartbeat: now,
            minimum_commit: start,
            intent_spans: Vec::new(),
        });
        if record.status == TransactionStatus::Aborted {
            if record.start == UNKNOWN_START {
                // A pusher aborted it before it heartbeated: now its start is known.
                record.start = start;
                stored::write_record(data, &record);
            }
            return Err(CommandError::TransactionAborted { transaction });
        }
        record.heartbeat = record.heartbeat.max(now);
        stored::write_record(data, &record);
        Ok(RangeResponse::Record(record))
    }

    /// Commits at `commit`, or aborts with None. Idempotent once ended.
    pub(super) fn end_transaction(
        &mut self,
        data: &mut Staged<'_>,
        transaction: TransactionId,
        commit: Option<Timestamp>,
        intent_spans: Vec<(Key, KeyEnd)>,
    ) -> Result<RangeResponse, CommandError> {
        let Some(mut record) = stored::read_record(data, transaction) else {
            // No record: a pusher aborted the transaction and its record is gone,
            // or it never wrote. Either way it cannot commit now.
            return match commit {
                Some(_) => Err(CommandError::TransactionAborted { transaction }),
                None => Ok(RangeResponse::Resolved { found: false }),
            };
        };
        match (record.status, commit) {
            (TransactionStatus::Aborted, Some(_)) => return Err(CommandError::TransactionAborted { transaction }),
            (TransactionStatus::Pending, Some(timestamp)) if timestamp < record.minimum_commit => {
                return Err(CommandError::CommitTimestampPushed { minimum: record.minimum_commit });
            }
            (TransactionStatus::Pending, Some(timestamp)) => record.status = TransactionStatus::Committed { timestamp },
            (TransactionStatus::Pending, None) => record.status = TransactionStatus::Aborted,
            // Ended already (a replay, or a rollback after a lost commit answer):
            // the spans are the first end's, and may have been forgotten since.
            (TransactionStatus::Committed { .. } | TransactionStatus::Aborted, _) => {
                return Ok(RangeResponse::Record(record));
            }
        }
        record.intent_spans = intent_spans;
        if self.early_record_deletion && matches!(record.status, TransactionStatus::Committed { .. }) {
            // The bug knob: forgetting a commit whose intents are unresolved.
            stored::delete_record(data, transaction);
        } else {
            stored::write_record(data, &record);
        }
        Ok(RangeResponse::Record(record))
    }

    /// Every intent of a committed transaction is resolved: its record keeps
    /// no spans, so that garbage collection may delete it (see the module doc).
    pub(super) fn forget_transaction(
        &mut self,
        data: &mut Staged<'_>,
        transaction: TransactionId,
    ) -> Result<RangeResponse, CommandError> {
        let Some(mut record) = stored::read_record(data, transaction) else {
            return Ok(RangeResponse::Resolved { found: false });
        };
        if !matches!(record.status, TransactionStatus::Committed { .. }) {
            return Ok(RangeResponse::Resolved { found: false });
        }
        record.intent_spans.clear();
        stored::write_record(data, &record);
        Ok(RangeResponse::Resolved { found: true })
    }

    /// Deletes the records that can no longer matter (see the module doc).
    pub(super) fn collect_records(&mut self, data: &mut Staged<'_>, threshold: Timestamp) {
        for record in stored::records(data) {
            let deletable = match record.status {
                TransactionStatus::Committed { .. } => record.intent_spans.is_empty() && record.start <= threshold,
                TransactionStatus::Aborted => record.start != UNKNOWN_START && record.start <= threshold,
                TransactionStatus::Pending => record.heartbeat <= threshold,
            };
            if deletable {
                stored::delete_record(data, record.id);
            }
        }
    }

    /// Another transaction met the pushee's intent (see the module doc).
    pub(super) fn push(
        &mut self,
        data: &mut Staged<'_>,
        pushee: TransactionId,
        anchor: Key,
        pusher_start: Timestamp,
        kind: PushKind,
        now: Timestamp,
    ) -> Result<RangeResponse, CommandError> {
        let expiry_nanos = self.heartbeat_expiry_nanos;
        // No record: the pushee has not heartbeated yet, or finished long ago.
        // Writing it aborted stops it from starting one later.
        let mut record = stored::read_record(data, pushee).unwrap_or(TransactionRecord {
            id: pushee,
            anchor,
            start: UNKNOWN_START,
            status: TransactionStatus::Aborted,
            heartbeat: Timestamp::default(),
            minimum_commit: Timestamp::default(),
            intent_spans: Vec::new(),
        });
        let succeeded = match record.status {
            TransactionStatus::Committed { .. } | TransactionStatus::Aborted => true,
            TransactionStatus::Pending => {
                let expired = now.wall_nanos.saturating_sub(record.heartbeat.wall_nanos) > expiry_nanos;
                match kind {
                    _ if expired => {
                        record.status = TransactionStatus::Aborted;
                        true
                    }
                    PushKind::Abort if pusher_start < record.start => {
                        record.status = TransactionStatus::Aborted;
                        true
                    }
                    PushKind::Abort => false,
                    PushKind::Timestamp(timestamp) => {
                        record.minimum_commit = record.minimum_commit.max(timestamp);
                        true
                    }
                }
            }
        };
        stored::write_record(data, &record);
        Ok(RangeResponse::Pushed { record, succeeded })
    }

    /// Splits at `at`: this range keeps the left half; the right half's
    /// records and reads move out, to the returned range (its data stays in
    /// the shared data space, now inside the right range's span).
    pub(super) fn split(&mut self, data: &mut Staged<'_>, at: &Key, right_id: crate::types::RangeId) -> Applied {
        let (left, right) = match self.descriptor.split(at, right_id) {
            Ok(halves) => halves,
            Err(error) => return answer(Err(CommandError::Invalid { reason: format!("{error:?}") })),
        };
        let mut right_state = RangeState::new(right.clone(), self.heartbeat_expiry_nanos);
        let moving: Vec<TransactionRecord> =
            stored::records(data).into_iter().filter(|record| record.anchor >= *at).collect();
        for record in &moving {
            stored::delete_record(data, record.id);
        }
        right_state.reads = self.reads.split_off(at);
        right_state.garbage_collection_threshold = self.garbage_collection_threshold;
        self.descriptor = left.clone();
        // The meta range splitting records its own halves at once; other
        // ranges' splits reach the meta map through its leader (see `store`).
        if self.is_meta() {
            self.meta.learn(left.clone());
            self.meta.learn(right.clone());
        }
        stored::write_head(data, self);
        stored::write_cache(data, &self.reads);
        let right_state = SplitOff { state: right_state, records: moving };
        Applied { result: Ok(RangeResponse::Split { left, right }), right: Some(right_state) }
    }
}
