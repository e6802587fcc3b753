//! The one-phase commit: a transaction whose writes all lie in this range
//! commits with one command (see the parent module's doc for the rules and why
//! a replay must be recognised).

use super::*;

impl RangeState {
    /// Writes every key as a committed version at one timestamp, all or
    /// nothing, and leaves a committed record for replays to find.
    pub(super) fn commit_one_phase(
        &mut self,
        data: &mut Staged<'_>,
        transaction: TransactionId,
        writes: &[(Key, Option<Vec<u8>>)],
        timestamp: Timestamp,
        read_spans: &[(Key, KeyEnd)],
    ) -> Result<RangeResponse, CommandError> {
        let Some((anchor, _)) = writes.first() else {
            return Err(CommandError::Invalid { reason: "a one-phase commit writes at least one key".into() });
        };
        if let Some(record) = stored::read_record(data, transaction) {
            return match record.status {
                TransactionStatus::Committed { .. } => Ok(RangeResponse::Record(record)),
                TransactionStatus::Aborted => Err(CommandError::TransactionAborted { transaction }),
                TransactionStatus::Pending => {
                    Err(CommandError::Invalid { reason: "the transaction commits in two phases already".into() })
                }
            };
        }
        if timestamp <= self.garbage_collection_threshold {
            return Err(CommandError::BelowGarbageCollectionThreshold { threshold: self.garbage_collection_threshold });
        }
        let reads = writes.iter().map(|(key, _)| self.reads.read_timestamp(key).next());
        let mut commit = reads.fold(timestamp, Timestamp::max);
        let versions: Vec<(&[u8], Option<&[u8]>)> =
            writes.iter().map(|(key, value)| (key.0.as_slice(), value.as_deref())).collect();
        loop {
            if commit > timestamp && !self.may_move_reads(data, transaction, read_spans, timestamp, commit)? {
                return Err(CommandError::CommitTimestampPushed { minimum: commit });
            }
            match mvcc::commit_versions(data, &versions, commit) {
                Ok(()) => break,
                Err(MvccError::WriteTooOld { existing, .. }) => commit = existing.next(),
                Err(error) => return Err(conflict(error)),
            }
        }
        // The reads now stand at the commit timestamp: later writes land above.
        for (start, end) in read_spans {
            self.record_read_span(data, start, end, commit);
        }
        let record = TransactionRecord {
            id: transaction,
            anchor: anchor.clone(),
            start: timestamp,
            status: TransactionStatus::Committed { timestamp: commit },
            heartbeat: timestamp,
            minimum_commit: commit,
            intent_spans: Vec::new(),
        };
        if !self.early_record_deletion {
            stored::write_record(data, &record);
        }
        Ok(RangeResponse::Record(record))
    }

    /// Whether reads made at `read` still hold at `commit`: every span lies in
    /// this range and nothing in it was written in `(read, commit]` by another
    /// transaction (a refresh, done here rather than by the coordinator).
    fn may_move_reads(
        &self,
        data: &Staged<'_>,
        transaction: TransactionId,
        read_spans: &[(Key, KeyEnd)],
        read: Timestamp,
        commit: Timestamp,
    ) -> Result<bool, CommandError> {
        if read < self.garbage_collection_threshold {
            return Ok(false);
        }
        for (start, end) in read_spans {
            if !self.descriptor.contains(start) || *end > self.descriptor.end {
                return Ok(false);
            }
            let changed = mvcc::has_write_between(data, &start.0, end_bytes(end), read, commit, Some(transaction))
                .map_err(conflict)?;
            if changed {
                return Ok(false);
            }
        }
        Ok(true)
    }
}
