//! Transaction records and splits: the parts of [`RangeState`] that are not MVCC
//! reads and writes.

use super::*;

impl RangeState {
    /// Creates the record at the transaction's first write, or renews its heartbeat.
    pub(super) fn heartbeat(
        &mut self,
        transaction: TransactionId,
        anchor: Key,
        start: Timestamp,
        now: Timestamp,
    ) -> Result<RangeResponse, CommandError> {
        let record = self.records.entry(transaction).or_insert_with(|| TransactionRecord {
            id: transaction,
            anchor,
            start,
            status: TransactionStatus::Pending,
            heartbeat: now,
            minimum_commit: start,
            intent_spans: Vec::new(),
        });
        if record.status == TransactionStatus::Aborted {
            return Err(CommandError::TransactionAborted { transaction });
        }
        record.heartbeat = record.heartbeat.max(now);
        Ok(RangeResponse::Record(record.clone()))
    }

    /// Commits at `commit`, or aborts with None. Idempotent once ended.
    pub(super) fn end_transaction(
        &mut self,
        transaction: TransactionId,
        commit: Option<Timestamp>,
        intent_spans: Vec<(Key, KeyEnd)>,
    ) -> Result<RangeResponse, CommandError> {
        let Some(record) = self.records.get_mut(&transaction) else {
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
            (TransactionStatus::Committed { .. } | TransactionStatus::Aborted, _) => {}
        }
        if record.intent_spans.is_empty() {
            record.intent_spans = intent_spans;
        }
        Ok(RangeResponse::Record(record.clone()))
    }

    /// Another transaction met the pushee's intent (see the module doc).
    pub(super) fn push(
        &mut self,
        pushee: TransactionId,
        anchor: Key,
        pusher_start: Timestamp,
        kind: PushKind,
        now: Timestamp,
    ) -> Result<RangeResponse, CommandError> {
        let expiry_nanos = self.heartbeat_expiry_nanos;
        // No record: the pushee has not heartbeated yet, or finished long ago.
        // Writing it aborted stops it from starting one later.
        let record = self.records.entry(pushee).or_insert_with(|| TransactionRecord {
            id: pushee,
            anchor,
            start: Timestamp::default(),
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
        Ok(RangeResponse::Pushed { record: record.clone(), succeeded })
    }

    /// Splits at `at`: this range keeps the left half; the right half's data,
    /// records and reads move to the returned range.
    pub(super) fn split(&mut self, at: &Key, right_id: crate::types::RangeId) -> Applied {
        let (left, right) = match self.descriptor.split(at, right_id) {
            Ok(halves) => halves,
            Err(error) => return answer(Err(CommandError::Invalid { reason: format!("{error:?}") })),
        };
        let mut right_state = RangeState::new(right.clone(), self.heartbeat_expiry_nanos);
        let moved = mvcc::engine_span(&self.data, &at.0, &[]).expect("the in-memory engine does not fail");
        let mut removal = WriteBatch::default();
        let mut insertion = WriteBatch::default();
        for (engine_key, value) in moved {
            removal.delete(engine_key.clone());
            insertion.put(engine_key, value);
        }
        self.data.write(removal).expect("the in-memory engine does not fail");
        right_state.data.write(insertion).expect("the in-memory engine does not fail");
        let moving: Vec<TransactionId> =
            self.records.iter().filter(|(_, record)| record.anchor >= *at).map(|(id, _)| *id).collect();
        for id in moving {
            let record = self.records.remove(&id).expect("listed above");
            right_state.records.insert(id, record);
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
        Applied { result: Ok(RangeResponse::Split { left, right }), right: Some(right_state) }
    }

    /// Everything this replica holds, for a Raft snapshot.
    pub fn snapshot(&self) -> RangeSnapshot {
        let reads = &self.reads;
        RangeSnapshot {
            descriptor: Some(self.descriptor.clone()),
            data: mvcc::engine_span(&self.data, &[], &[]).expect("the in-memory engine does not fail"),
            records: self.records.values().cloned().collect(),
            read_timestamps: reads.keys().map(|(key, timestamp)| (key.clone(), *timestamp)).collect(),
            read_spans: reads.spans().to_vec(),
            read_low_water: reads.low_water(),
            meta: self.meta.ranges().cloned().collect(),
            garbage_collection_threshold: self.garbage_collection_threshold,
        }
    }

    /// The state a snapshot describes; None when it carries no descriptor.
    pub fn restore(snapshot: RangeSnapshot, heartbeat_expiry_nanos: u64) -> Option<RangeState> {
        let mut state = RangeState::new(snapshot.descriptor?, heartbeat_expiry_nanos);
        let mut batch = WriteBatch::default();
        for (engine_key, value) in snapshot.data {
            batch.put(engine_key, value);
        }
        state.data.write(batch).expect("the in-memory engine does not fail");
        state.records = snapshot.records.into_iter().map(|record| (record.id, record)).collect();
        state.reads = TimestampCache::new(snapshot.read_timestamps, snapshot.read_low_water);
        for (start, end, timestamp) in &snapshot.read_spans {
            state.reads.record_span(start, end, *timestamp);
        }
        state.garbage_collection_threshold = snapshot.garbage_collection_threshold;
        for descriptor in snapshot.meta {
            state.meta.learn(descriptor);
        }
        Some(state)
    }
}
