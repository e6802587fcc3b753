//! The transaction coordinator: the gateway's side of the protocol in
//! docs/transactions.md, written as runtime-agnostic `async` code over a
//! [`RangeSender`], so that the simulator, the production runtime and plain tests
//! drive the same logic.
//!
//! A [`Transaction`] reads at its read timestamp with an uncertainty limit,
//! writes intents at its write timestamp (which the ranges may push up), keeps
//! the spans it read, and at commit refreshes those spans if its timestamp moved,
//! then ends its record on the anchor range and resolves its intents. Meeting
//! another transaction's intent, it pushes that transaction: a reader moves the
//! writer's commit timestamp above its own uncertainty limit, a writer tries to
//! abort it (wound-wait: only an older transaction may), and once the push says
//! how the other transaction stands, the intent is resolved and the operation
//! retried. A younger writer cannot push an older live one: the operation
//! returns [`TransactionError::Blocked`] and the caller tries it again later.
//!
//! **One-phase commit.** A caller that knows every write up front hands them to
//! [`Transaction::commit_writes`]. Before any intent is laid, it first tries
//! [`RangeCommand::CommitOnePhase`]: when every key lies in one range, that one
//! command writes them all as committed versions, with no record to create and
//! no intent to resolve — one Raft round instead of four. The range may move
//! the commit timestamp (past its timestamp cache or newer versions) only if
//! the transaction read nothing or the range can refresh every span it read;
//! the command carries the spans. Refused because the keys span ranges, an
//! intent is in the way, or the timestamp would move past reads the range
//! cannot check, nothing was written, and the transaction takes the two-phase
//! path: an intent per key, then [`Transaction::commit`], which pushes and
//! refreshes as usual. The gateway counts the one-phase command as a commit: a
//! lost answer leaves the outcome in doubt. Resending it is safe, because the
//! range recognises a replay by the committed record the command leaves; and a
//! fallback after an answer that was lost finds that record at its first
//! heartbeat and reports the commit instead of writing again.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use crate::keys::{Key, KeyEnd};
use crate::range::{CommandError, PushKind, RangeCommand, RangeResponse, TransactionRecord, TransactionStatus};
use crate::storage::mvcc::{Intent, ReadOptions, Resolution};
use crate::storage::KeyValue;
use crate::types::{Timestamp, TransactionId};

/// Conflicts resolved within one operation before giving up with `Blocked`.
const CONFLICT_ROUNDS_MAX: usize = 8;

/// Delivers commands to the ranges that hold their keys, routing and re-routing
/// (after splits) as needed; a span command is split across ranges and the
/// answers merged. Also reads the gateway's clock.
pub trait RangeSender {
    fn send(&mut self, command: RangeCommand) -> impl Future<Output = Result<RangeResponse, CommandError>>;
    /// The gateway's hybrid logical clock, now.
    fn now(&mut self) -> Timestamp;
}

/// Bugs the chaos suite switches on to show its checkers catch them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TransactionKnobs {
    /// Commit at a pushed timestamp without refreshing the reads: write skew.
    pub skip_read_refresh: bool,
    /// Resolve intents as committed before the commit record is durable.
    pub resolve_before_durable: bool,
    /// Read without an uncertainty interval: stale reads under clock skew.
    pub skip_uncertainty: bool,
    /// Send a one-phase commit without its read spans, so the range moves its
    /// timestamp past the reads unchecked: lost updates.
    pub one_phase_hides_reads: bool,
}

/// Why a transaction operation failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransactionError {
    /// The transaction must restart (SQLSTATE 40001); names it and the key involved.
    Retry { transaction: TransactionId, key: Option<Key>, reason: String },
    /// An older live transaction holds `key`; try the operation again later.
    Blocked { key: Key, holder: TransactionId },
    /// A command failed in a way the protocol does not expect (a bug or bad input).
    Unexpected { reason: String },
}

impl TransactionError {
    /// The PostgreSQL error code a client sees.
    pub fn sqlstate(&self) -> &'static str {
        match self {
            TransactionError::Retry { .. } | TransactionError::Blocked { .. } => "40001",
            TransactionError::Unexpected { .. } => "XX000",
        }
    }
}

/// One transaction as its coordinator tracks it.
#[derive(Clone, Debug)]
pub struct Transaction {
    id: TransactionId,
    start: Timestamp,
    read_timestamp: Timestamp,
    write_timestamp: Timestamp,
    uncertainty_limit: Timestamp,
    anchor: Option<Key>,
    intents: BTreeSet<Key>,
    /// The sequence number of the latest write.
    write_sequence: u32,
    read_spans: Vec<(Key, KeyEnd)>,
    /// The commit timestamp of the newest committed version any read returned
    /// (or found deleted): a read-only transaction's commit wait depends on it.
    newest_version_read: Option<Timestamp>,
    max_offset_nanos: u64,
    /// Set when the gateway's clock has not yet passed what commit wait requires.
    commit_wait_until: Option<Timestamp>,
    /// Whether it committed with one command (see [`Transaction::commit_writes`]).
    committed_in_one_phase: bool,
    /// The record to forget once the commit is acknowledged: a two-phase
    /// commit whose every intent was resolved ([`Transaction::forget_command`]).
    forgettable: Option<Key>,
    knobs: TransactionKnobs,
}

fn unexpected(response: impl std::fmt::Debug) -> TransactionError {
    TransactionError::Unexpected { reason: format!("unexpected answer {response:?}") }
}

impl Transaction {
    /// A new transaction with this one's clock offset and knobs, for work that
    /// must commit on its own (a sequence's next value).
    pub fn sibling(&self, id: TransactionId, now: Timestamp) -> Transaction {
        Transaction::begin(id, now, self.max_offset_nanos, self.knobs)
    }

    /// Starts a transaction at `now` on the gateway's clock.
    pub fn begin(id: TransactionId, now: Timestamp, max_offset_nanos: u64, knobs: TransactionKnobs) -> Transaction {
        let limit = if knobs.skip_uncertainty {
            now
        } else {
            Timestamp { wall_nanos: now.wall_nanos.saturating_add(max_offset_nanos), logical: now.logical }
        };
        Transaction {
            id,
            start: now,
            read_timestamp: now,
            write_timestamp: now,
            uncertainty_limit: limit,
            anchor: None,
            intents: BTreeSet::new(),
            write_sequence: 0,
            read_spans: Vec::new(),
            newest_version_read: None,
            max_offset_nanos,
            commit_wait_until: None,
            committed_in_one_phase: false,
            forgettable: None,
            knobs,
        }
    }

    /// A restart of a transaction whose first attempt began at `first_start`:
    /// a new id and read timestamp, but the first attempt's age, so that under
    /// wound-wait a transaction that keeps restarting grows older than its
    /// rivals and eventually wins instead of starting young every time.
    pub fn begin_restart(
        id: TransactionId,
        now: Timestamp,
        first_start: Timestamp,
        max_offset_nanos: u64,
        knobs: TransactionKnobs,
    ) -> Transaction {
        let mut transaction = Transaction::begin(id, now, max_offset_nanos, knobs);
        transaction.start = first_start.min(now);
        transaction
    }

    pub fn id(&self) -> TransactionId {
        self.id
    }

    pub fn read_timestamp(&self) -> Timestamp {
        self.read_timestamp
    }

    /// When the transaction began (its age under wound-wait).
    pub fn start_timestamp(&self) -> Timestamp {
        self.start
    }

    /// **Commit wait.** The caller must not acknowledge the commit before its
    /// clock reads at least this. A read-write transaction waits until its clock
    /// passes its commit timestamp plus the maximum offset: then every clock in
    /// the cluster has passed the commit timestamp, so any transaction that starts
    /// afterwards reads above it. Without the wait, serializability holds but real
    /// time can be reversed through a chain of transactions (CockroachDB's "causal
    /// reverse"): T3 starts after T1 finished yet is ordered before it, because
    /// T3 misses T2, which missed T1. The replicated list-append test found
    /// exactly that cycle before this wait was added.
    ///
    /// A read-only transaction waits until its clock passes its read timestamp,
    /// which an uncertain value may have moved ahead of the clock, and the newest
    /// version it read plus the offset. Values are visible once their intents
    /// are resolved, before their writer has waited out its own commit wait; a
    /// transaction that starts once this one is acknowledged, on a clock up to
    /// an offset behind, could otherwise commit below a value this one saw, and
    /// a reader between the two would see the later transaction without the
    /// earlier (the causal-reverse probe's read-ahead variant). Versions older
    /// than an offset cost nothing.
    pub fn commit_wait_until(&self) -> Option<Timestamp> {
        self.commit_wait_until
    }

    /// Whether the transaction committed with one command (for metrics and tests).
    pub fn committed_in_one_phase(&self) -> bool {
        self.committed_in_one_phase
    }

    fn read_options(&self) -> ReadOptions {
        let limit = self.uncertainty_limit.max(self.read_timestamp);
        ReadOptions { timestamp: self.read_timestamp, uncertainty_limit: limit, transaction: Some(self.id) }
    }

    fn retry(&self, key: Option<Key>, reason: impl Into<String>) -> TransactionError {
        TransactionError::Retry { transaction: self.id, key, reason: reason.into() }
    }

    /// Reads `key`.
    pub async fn get(&mut self, sender: &mut impl RangeSender, key: &Key) -> Result<Option<Vec<u8>>, TransactionError> {
        let response = self
            .read(sender, || RangeCommand::Get { key: key.clone(), read: ReadOptions::at(Timestamp::default()) })
            .await?;
        self.read_spans.push((key.clone(), KeyEnd::Before(key.next())));
        match response {
            RangeResponse::Value { value, version } => {
                self.newest_version_read = self.newest_version_read.max(version);
                Ok(value)
            }
            other => Err(unexpected(other)),
        }
    }

    /// Reads every live key in `[start, end)`.
    pub async fn scan(
        &mut self,
        sender: &mut impl RangeSender,
        start: &Key,
        end: &KeyEnd,
    ) -> Result<Vec<KeyValue>, TransactionError> {
        self.scan_bounded(sender, start, end, usize::MAX).await
    }

    /// Reads the first `limit` (at least 1) live keys of `[start, end)`. When
    /// it returns `limit` rows the span may hold more: the caller resumes after
    /// the last key returned. Only what was read counts as read: the span up to
    /// and including the last row, or the whole span when fewer came back.
    pub async fn scan_bounded(
        &mut self,
        sender: &mut impl RangeSender,
        start: &Key,
        end: &KeyEnd,
        limit: usize,
    ) -> Result<Vec<KeyValue>, TransactionError> {
        assert!(limit > 0, "a scan reads at least one row");
        let command = || RangeCommand::Scan {
            start: start.clone(),
            end: end.clone(),
            read: ReadOptions::at(Timestamp::default()),
            limit,
        };
        let response = self.read(sender, command).await?;
        match response {
            RangeResponse::Rows { rows, newest_version } => {
                let read_end = match rows.last() {
                    Some((last, _)) if rows.len() >= limit => KeyEnd::Before(Key(last.clone()).next()),
                    _ => end.clone(),
                };
                self.read_spans.push((start.clone(), read_end));
                self.newest_version_read = self.newest_version_read.max(newest_version);
                Ok(rows)
            }
            other => Err(unexpected(other)),
        }
    }

    /// Sends a read (its options filled in here), resolving conflicts on the way.
    async fn read(
        &mut self,
        sender: &mut impl RangeSender,
        command: impl Fn() -> RangeCommand,
    ) -> Result<RangeResponse, TransactionError> {
        for _ in 0..CONFLICT_ROUNDS_MAX {
            let mut request = command();
            match &mut request {
                RangeCommand::Get { read, .. } | RangeCommand::Scan { read, .. } => *read = self.read_options(),
                _ => unreachable!("only reads come here"),
            }
            match sender.send(request).await {
                Ok(response) => return Ok(response),
                Err(CommandError::WriteIntent { key, intent }) => {
                    let push = PushKind::Timestamp(self.read_options().uncertainty_limit.next());
                    self.push_and_resolve(sender, &key, &intent, push).await?;
                }
                Err(CommandError::Uncertain { key, existing }) => self.move_reads_to(sender, key, existing).await?,
                Err(error) => return Err(self.command_error(error)),
            }
        }
        Err(self.retry(None, "too many conflicts in one read"))
    }

    /// A version in the uncertainty interval may precede the read in real time:
    /// read at its timestamp instead, keeping earlier reads only if they still hold.
    async fn move_reads_to(
        &mut self,
        sender: &mut impl RangeSender,
        key: Key,
        existing: Timestamp,
    ) -> Result<(), TransactionError> {
        if !self.refresh(sender, existing).await? {
            return Err(self.retry(Some(key), format!("reads changed before the uncertain version at {existing}")));
        }
        self.read_timestamp = existing;
        self.write_timestamp = self.write_timestamp.max(existing);
        Ok(())
    }

    /// Writes (or deletes, with None) `key`.
    pub async fn put(
        &mut self,
        sender: &mut impl RangeSender,
        key: &Key,
        value: Option<Vec<u8>>,
    ) -> Result<(), TransactionError> {
        let anchor = self.ensure_record(sender, key).await?;
        // Every attempt of this write carries the same sequence, so whichever
        // of them the range applies first wins and the others are replays.
        self.write_sequence += 1;
        let sequence = self.write_sequence;
        for _ in 0..CONFLICT_ROUNDS_MAX {
            let command = RangeCommand::Put {
                key: key.clone(),
                value: value.clone(),
                transaction: self.id,
                anchor: anchor.clone(),
                timestamp: self.write_timestamp,
                sequence,
            };
            match sender.send(command).await {
                Ok(RangeResponse::Written { timestamp }) => {
                    self.write_timestamp = self.write_timestamp.max(timestamp);
                    self.intents.insert(key.clone());
                    return Ok(());
                }
                Ok(other) => return Err(unexpected(other)),
                Err(CommandError::WriteIntent { key, intent }) => {
                    self.push_and_resolve(sender, &key, &intent, PushKind::Abort).await?
                }
                Err(error) => return Err(self.command_error(error)),
            }
        }
        Err(self.retry(Some(key.clone()), "too many conflicts in one write"))
    }

    /// The first write creates the record on the range of its key, the anchor.
    async fn ensure_record(&mut self, sender: &mut impl RangeSender, key: &Key) -> Result<Key, TransactionError> {
        if let Some(anchor) = &self.anchor {
            return Ok(anchor.clone());
        }
        match self.create_record(sender, key).await? {
            None => Ok(key.clone()),
            Some(timestamp) => Err(unexpected(format!("a transaction with no write yet committed at {timestamp}"))),
        }
    }

    /// Creates the record with `key` as its anchor. Returns the commit timestamp
    /// when the record says committed already: a one-phase commit whose answer
    /// was lost applied after all (writing again would write twice).
    async fn create_record(
        &mut self,
        sender: &mut impl RangeSender,
        key: &Key,
    ) -> Result<Option<Timestamp>, TransactionError> {
        let now = sender.now();
        let command = RangeCommand::Heartbeat { transaction: self.id, anchor: key.clone(), start: self.start, now };
        match sender.send(command).await {
            Ok(RangeResponse::Record(TransactionRecord {
                status: TransactionStatus::Committed { timestamp }, ..
            })) => Ok(Some(timestamp)),
            Ok(RangeResponse::Record(_)) => {
                self.anchor = Some(key.clone());
                Ok(None)
            }
            Ok(other) => Err(unexpected(other)),
            Err(error) => Err(self.command_error(error)),
        }
    }

    /// Pushes the holder of `intent` and, if the push settled how it stands,
    /// resolves the intent so the operation can go on.
    async fn push_and_resolve(
        &mut self,
        sender: &mut impl RangeSender,
        key: &Key,
        intent: &Intent,
        kind: PushKind,
    ) -> Result<(), TransactionError> {
        let now = sender.now();
        let command = RangeCommand::Push {
            pushee: intent.transaction,
            anchor: Key(intent.anchor.clone()),
            pusher_start: self.start,
            kind,
            now,
        };
        let (record, succeeded) = match sender.send(command).await {
            Ok(RangeResponse::Pushed { record, succeeded }) => (record, succeeded),
            Ok(other) => return Err(unexpected(other)),
            Err(error) => return Err(self.command_error(error)),
        };
        if !succeeded {
            return Err(TransactionError::Blocked { key: key.clone(), holder: intent.transaction });
        }
        let resolution = resolution_after_push(&record, kind);
        let command = RangeCommand::ResolveIntent { key: key.clone(), transaction: intent.transaction, resolution };
        sender.send(command).await.map_err(|error| self.command_error(error))?;
        Ok(())
    }

    /// Whether nothing this transaction read changed between its read timestamp
    /// and `up_to`.
    async fn refresh(&mut self, sender: &mut impl RangeSender, up_to: Timestamp) -> Result<bool, TransactionError> {
        for (start, end) in self.read_spans.clone() {
            let command = RangeCommand::Refresh { start, end, after: self.read_timestamp, up_to, transaction: self.id };
            match sender.send(command).await {
                Ok(RangeResponse::Refreshed { changed: false }) => {}
                Ok(RangeResponse::Refreshed { changed: true }) => return Ok(false),
                Ok(other) => return Err(unexpected(other)),
                Err(error) => return Err(self.command_error(error)),
            }
        }
        Ok(true)
    }

    /// Commits; returns the commit timestamp. On error the transaction is over
    /// (rolled back) and must restart. See [`Transaction::commit_wait_until`]
    /// before acknowledging.
    pub async fn commit(&mut self, sender: &mut impl RangeSender) -> Result<Timestamp, TransactionError> {
        let Some(anchor) = self.anchor.clone() else {
            // Read-only: see `commit_wait_until` for why it waits at all.
            let newest_version_visible = self.newest_version_read.map(|version| self.after_offset(version));
            let until = self.read_timestamp.max(newest_version_visible.unwrap_or_default());
            self.commit_wait_until = (until > sender.now()).then_some(until);
            return Ok(self.read_timestamp);
        };
        for _ in 0..CONFLICT_ROUNDS_MAX {
            if self.write_timestamp > self.read_timestamp && !self.knobs.skip_read_refresh {
                if !self.refresh(sender, self.write_timestamp).await? {
                    self.rollback(sender).await;
                    return Err(self.retry(None, "a read changed before the pushed commit timestamp"));
                }
                self.read_timestamp = self.write_timestamp;
            }
            if self.knobs.resolve_before_durable {
                self.resolve_intents(sender, Resolution::Committed { timestamp: self.write_timestamp }).await;
            }
            let intent_spans = self.intents.iter().map(|key| (key.clone(), KeyEnd::Before(key.next()))).collect();
            let command = RangeCommand::EndTransaction {
                transaction: self.id,
                anchor: anchor.clone(),
                commit: Some(self.write_timestamp),
                intent_spans,
            };
            match sender.send(command).await {
                Ok(RangeResponse::Record(record)) => match record.status {
                    TransactionStatus::Committed { timestamp } => {
                        if self.resolve_intents(sender, Resolution::Committed { timestamp }).await {
                            self.forgettable = Some(anchor);
                        }
                        return Ok(self.committed_at(sender, timestamp));
                    }
                    _ => return Err(unexpected(record)),
                },
                Ok(other) => return Err(unexpected(other)),
                Err(CommandError::CommitTimestampPushed { minimum }) => self.write_timestamp = minimum,
                Err(error) => {
                    let error = self.command_error(error);
                    self.rollback(sender).await;
                    return Err(error);
                }
            }
        }
        self.rollback(sender).await;
        Err(self.retry(None, "pushed too many times while committing"))
    }

    /// Writes every key of `writes` (None deletes it) and commits; returns the
    /// commit timestamp. For a caller that knows all its writes up front: when
    /// the transaction has laid no intent yet and the keys lie in one range, this
    /// is one command (see the module doc), otherwise the two-phase path of
    /// [`Transaction::put`] for each key, then [`Transaction::commit`]. A key
    /// listed twice keeps its last value. See
    /// [`Transaction::commit_wait_until`] before acknowledging.
    ///
    /// On [`TransactionError::Blocked`] nothing is decided: call it again later.
    /// On any other error the transaction is over (rolled back) and must restart.
    pub async fn commit_writes(
        &mut self,
        sender: &mut impl RangeSender,
        writes: &[(Key, Option<Vec<u8>>)],
    ) -> Result<Timestamp, TransactionError> {
        let writes: BTreeMap<Key, Option<Vec<u8>>> = writes.iter().cloned().collect();
        if let (None, Some(first)) = (&self.anchor, writes.keys().next()) {
            if let Some(timestamp) = self.commit_one_phase(sender, &writes).await? {
                return Ok(timestamp);
            }
            // The record goes where the one-phase commit would have left its own.
            if let Some(timestamp) = self.create_record(sender, first).await? {
                self.committed_in_one_phase = true;
                return Ok(self.committed_at(sender, timestamp));
            }
        }
        for (key, value) in writes {
            match self.put(sender, &key, value).await {
                Ok(()) => {}
                Err(error @ TransactionError::Blocked { .. }) => return Err(error),
                Err(error) => {
                    self.rollback(sender).await;
                    return Err(error);
                }
            }
        }
        self.commit(sender).await
    }

    /// Tries the one-phase commit: the commit timestamp, or None when the range
    /// refused in a way the two-phase path handles (nothing was written).
    async fn commit_one_phase(
        &mut self,
        sender: &mut impl RangeSender,
        writes: &BTreeMap<Key, Option<Vec<u8>>>,
    ) -> Result<Option<Timestamp>, TransactionError> {
        if self.write_timestamp > self.read_timestamp {
            // The reads must be refreshed before committing above them: the
            // two-phase commit does that.
            return Ok(None);
        }
        let read_spans = if self.knobs.one_phase_hides_reads { Vec::new() } else { self.read_spans.clone() };
        let command = RangeCommand::CommitOnePhase {
            transaction: self.id,
            writes: writes.iter().map(|(key, value)| (key.clone(), value.clone())).collect(),
            timestamp: self.write_timestamp,
            read_spans,
        };
        match sender.send(command).await {
            Ok(RangeResponse::Record(TransactionRecord {
                status: TransactionStatus::Committed { timestamp }, ..
            })) => {
                self.committed_in_one_phase = true;
                Ok(Some(self.committed_at(sender, timestamp)))
            }
            Ok(other) => Err(unexpected(other)),
            Err(
                CommandError::Range(_) | CommandError::WriteIntent { .. } | CommandError::CommitTimestampPushed { .. },
            ) => Ok(None),
            Err(error) => Err(self.command_error(error)),
        }
    }

    /// Records the commit wait a commit at `timestamp` requires; returns `timestamp`.
    fn committed_at(&mut self, sender: &mut impl RangeSender, timestamp: Timestamp) -> Timestamp {
        let until = self.after_offset(timestamp);
        self.commit_wait_until = (until > sender.now()).then_some(until);
        timestamp
    }

    /// When every clock in the cluster has passed `timestamp`, read on this
    /// gateway's clock: the maximum offset later.
    fn after_offset(&self, timestamp: Timestamp) -> Timestamp {
        Timestamp { wall_nanos: timestamp.wall_nanos.saturating_add(self.max_offset_nanos), logical: timestamp.logical }
    }

    /// Aborts: ends the record (if any) and removes the intents. Best effort:
    /// intents left behind are cleaned up by whoever meets them.
    ///
    /// The record decides, not this coordinator: after a commit whose answer was
    /// lost, the record may already say committed, and then the intents are
    /// resolved as committed. When the record cannot be reached, the intents are
    /// left for others to resolve against the record.
    pub async fn rollback(&mut self, sender: &mut impl RangeSender) {
        let mut resolution = Resolution::Aborted;
        if let Some(anchor) = self.anchor.clone() {
            let command =
                RangeCommand::EndTransaction { transaction: self.id, anchor, commit: None, intent_spans: Vec::new() };
            match sender.send(command).await {
                Ok(RangeResponse::Record(TransactionRecord {
                    status: TransactionStatus::Committed { timestamp },
                    ..
                })) => resolution = Resolution::Committed { timestamp },
                Ok(_) => {}
                Err(_) => {
                    self.intents.clear();
                    return;
                }
            }
        }
        self.resolve_intents(sender, resolution).await;
    }

    /// Resolves every intent laid; whether every resolution was answered
    /// (an unanswered one may not have happened).
    async fn resolve_intents(&mut self, sender: &mut impl RangeSender, resolution: Resolution) -> bool {
        let mut all_answered = true;
        for key in std::mem::take(&mut self.intents) {
            let command = RangeCommand::ResolveIntent { key, transaction: self.id, resolution };
            all_answered &= sender.send(command).await.is_ok();
        }
        all_answered
    }

    /// After a two-phase commit is acknowledged: the command that lets its
    /// record be collected (`ForgetTransaction`), once every intent it laid
    /// was resolved — a reader meeting an unresolved intent needs the record
    /// to tell it committed. Sent after the acknowledgement, not before: it
    /// is one more Raft round, and nothing the client sees waits for it. Not
    /// sending it (a gateway that crashed) only keeps the record until the
    /// intents' resolution is known some other way; its cost is the record.
    pub fn forget_command(&mut self) -> Option<RangeCommand> {
        let anchor = self.forgettable.take()?;
        Some(RangeCommand::ForgetTransaction { transaction: self.id, anchor })
    }

    /// Sends [`Transaction::forget_command`], if any; best effort.
    pub async fn forget(&mut self, sender: &mut impl RangeSender) {
        if let Some(command) = self.forget_command() {
            let _ = sender.send(command).await;
        }
    }

    fn command_error(&self, error: CommandError) -> TransactionError {
        match error {
            CommandError::TransactionAborted { .. } => self.retry(None, "aborted by a conflicting transaction"),
            CommandError::ClockOffset => {
                self.retry(None, "a node refused the transaction's timestamp: clocks differ beyond the maximum offset")
            }
            CommandError::BelowGarbageCollectionThreshold { threshold } => {
                self.retry(None, format!("timestamp below the garbage collection threshold {threshold}"))
            }
            other => TransactionError::Unexpected { reason: format!("{other:?}") },
        }
    }
}

/// How to resolve a pushee's intent once a push succeeded.
fn resolution_after_push(record: &TransactionRecord, kind: PushKind) -> Resolution {
    match (record.status, kind) {
        (TransactionStatus::Committed { timestamp }, _) => Resolution::Committed { timestamp },
        (TransactionStatus::Aborted, _) => Resolution::Aborted,
        (TransactionStatus::Pending, PushKind::Timestamp(timestamp)) => Resolution::Pushed { timestamp },
        (TransactionStatus::Pending, PushKind::Abort) => unreachable!("a successful abort push leaves it aborted"),
    }
}

#[cfg(test)]
#[path = "coordinator_tests.rs"]
mod tests;
