//! The commands a range replicates through Raft, and their answers.
//!
//! Every command, reads included, is a Raft log entry (see docs/transactions.md:
//! reads through Raft keep the timestamp cache replicated, so no lease is needed
//! and clock skew cannot produce a stale read). Each names the descriptor
//! generation it was routed by; the range refuses a stale or misrouted one.

use crate::keys::{Key, KeyEnd};
use crate::storage::mvcc::{Intent, ReadOptions, Resolution};
use crate::storage::KeyValue;
use crate::types::{RangeId, Timestamp, TransactionId};

use super::RangeDescriptor;

/// Where a transaction stands, as its record says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransactionStatus {
    Pending,
    Committed { timestamp: Timestamp },
    Aborted,
}

/// A transaction record, kept by the range holding the transaction's anchor key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransactionRecord {
    pub id: TransactionId,
    pub anchor: Key,
    /// The timestamp the transaction started at: its age, for wound-wait.
    pub start: Timestamp,
    pub status: TransactionStatus,
    /// The last time (on the coordinator's clock) the coordinator said it is alive.
    pub heartbeat: Timestamp,
    /// Readers pushed it: it may not commit below this timestamp.
    pub minimum_commit: Timestamp,
    /// Spans holding its intents, recorded at commit or abort for resolution.
    pub intent_spans: Vec<(Key, KeyEnd)>,
}

/// What a pusher wants from a conflicting transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushKind {
    /// Abort it, unless it already committed (a writer meeting an intent).
    Abort,
    /// Move its write timestamp above this one (a reader meeting an intent).
    Timestamp(Timestamp),
}

/// One command to a range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RangeCommand {
    Get {
        key: Key,
        read: ReadOptions,
    },
    Scan {
        start: Key,
        end: KeyEnd,
        read: ReadOptions,
        limit: usize,
    },
    /// Lays `transaction`'s intent at `timestamp`, or higher when the key was
    /// read or written at or above it; the answer says where it landed.
    Put {
        key: Key,
        value: Option<Vec<u8>>,
        transaction: TransactionId,
        anchor: Key,
        timestamp: Timestamp,
        /// Numbers the transaction's writes: a replayed write changes nothing.
        sequence: u32,
    },
    ResolveIntent {
        key: Key,
        transaction: TransactionId,
        resolution: Resolution,
    },
    /// Whether anything in the span changed in `(after, up_to]` (a read refresh).
    Refresh {
        start: Key,
        end: KeyEnd,
        after: Timestamp,
        up_to: Timestamp,
        transaction: TransactionId,
    },
    /// Creates the record (at the first write) or renews its heartbeat.
    Heartbeat {
        transaction: TransactionId,
        anchor: Key,
        start: Timestamp,
        now: Timestamp,
    },
    /// Commits at `timestamp` (or aborts, with None), recording the intent spans.
    /// Sent to the range of `anchor`, where the record lives.
    EndTransaction {
        transaction: TransactionId,
        anchor: Key,
        commit: Option<Timestamp>,
        intent_spans: Vec<(Key, KeyEnd)>,
    },
    /// The one-phase commit of a transaction whose writes all lie in this range:
    /// every write becomes a committed version at one commit timestamp, with no
    /// intent, all or nothing. A committed record is left behind, so that a
    /// replay of the command is recognised and changes nothing (see
    /// `RangeState`'s module doc). Sent to the range of the first write's key,
    /// the record's anchor; a key outside the range refuses the whole command.
    CommitOnePhase {
        transaction: TransactionId,
        /// Keys and their values (None deletes the key); the first is the anchor.
        writes: Vec<(Key, Option<Vec<u8>>)>,
        /// The transaction's read timestamp, where it commits unless pushed.
        timestamp: Timestamp,
        /// The spans the transaction read at `timestamp`. Pushed by the timestamp
        /// cache or a newer version, the range commits higher only if it can
        /// refresh each span itself (all lie in it, and none changed); otherwise
        /// it refuses with `CommitTimestampPushed`. Blind writes (no span) may
        /// always move.
        read_spans: Vec<(Key, KeyEnd)>,
    },
    /// Says that every intent of a committed transaction is resolved: its
    /// record keeps no intent spans from then on, and garbage collection may
    /// delete it once its start falls below the threshold. Sent by the
    /// coordinator after resolving every intent, to the range of `anchor`.
    ForgetTransaction {
        transaction: TransactionId,
        anchor: Key,
    },
    /// Looks at, and maybe aborts or pushes, another transaction's record.
    /// Sent to the range of `anchor`, the pushee's anchor key (from its intent).
    Push {
        pushee: TransactionId,
        anchor: Key,
        pusher_start: Timestamp,
        kind: PushKind,
        now: Timestamp,
    },
    Split {
        at: Key,
        right_id: RangeId,
    },
    /// Removes the versions no read at or above `threshold` can see, and from
    /// then on refuses reads below it and writes at or below it. Proposed by the
    /// range's leader on a schedule (the store's garbage collection horizon).
    GarbageCollect {
        threshold: Timestamp,
    },
    /// Records range descriptors in the meta map, which the first range (the one
    /// starting at the smallest key) keeps for the whole key space. A descriptor
    /// older than one it overlaps is ignored. Sent by that range's leader.
    UpdateMeta {
        descriptors: Vec<RangeDescriptor>,
    },
    /// Which range holds `key`, by the meta map. Only the first range answers;
    /// the answer may be older than the range itself knows (the range then
    /// refuses misrouted commands with its fresh descriptor).
    LookupMeta {
        key: Key,
    },
    /// Moves the range: its descriptor's replicas become `replicas` (one
    /// generation on). The leader then changes the Raft group's voters to match,
    /// one at a time (see `store`). `key` is any key of the range, for routing.
    ChangeReplicas {
        key: Key,
        replicas: std::collections::BTreeSet<crate::types::NodeId>,
    },
}

impl RangeCommand {
    /// The key that decides which range a command goes to: the key it reads or
    /// writes, the start of its span, or its transaction's anchor. Commands for
    /// the meta map and garbage collection route by the smallest key (the first
    /// range answers meta commands; garbage collection is proposed per range by
    /// its leader and never routed).
    pub fn routing_key(&self) -> &Key {
        match self {
            RangeCommand::Get { key, .. }
            | RangeCommand::Put { key, .. }
            | RangeCommand::ResolveIntent { key, .. }
            | RangeCommand::ChangeReplicas { key, .. } => key,
            RangeCommand::Scan { start, .. } | RangeCommand::Refresh { start, .. } => start,
            RangeCommand::Heartbeat { anchor, .. }
            | RangeCommand::Push { anchor, .. }
            | RangeCommand::EndTransaction { anchor, .. }
            | RangeCommand::ForgetTransaction { anchor, .. } => anchor,
            RangeCommand::Split { at, .. } => at,
            RangeCommand::CommitOnePhase { writes, .. } => writes.first().map_or(&SMALLEST_KEY, |(key, _)| key),
            RangeCommand::GarbageCollect { .. } | RangeCommand::UpdateMeta { .. } | RangeCommand::LookupMeta { .. } => {
                &SMALLEST_KEY
            }
        }
    }
}

/// `Key::MIN` as a static, to lend out.
static SMALLEST_KEY: Key = Key::MIN;

/// A command with the routing it was sent by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeRequest {
    pub range: RangeId,
    pub generation: u64,
    pub command: RangeCommand,
}

/// Why a command failed. Conflicts are answers, not faults: the sender resolves
/// them (push, refresh, retry) and tries again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandError {
    /// Misrouted or stale: retry with the fresh descriptor.
    Range(super::RangeError),
    /// Another transaction's intent is in the way: push it.
    WriteIntent { key: Key, intent: Intent },
    /// A version within the read's uncertainty interval: read again above it.
    Uncertain { key: Key, existing: Timestamp },
    /// The transaction was aborted (by a pusher, or by itself).
    TransactionAborted { transaction: TransactionId },
    /// A reader pushed the transaction: it must refresh to `minimum` and commit there.
    CommitTimestampPushed { minimum: Timestamp },
    /// Reads below, or writes at or below, the garbage collection threshold.
    BelowGarbageCollectionThreshold { threshold: Timestamp },
    /// The node refused the command: a timestamp in it is beyond the node's clock
    /// plus the maximum offset.
    ClockOffset,
    /// The command cannot apply as asked (for example a split outside the span).
    Invalid { reason: String },
}

/// The answer to a command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RangeResponse {
    /// A point read's value (None: absent or deleted), and the commit
    /// timestamp of the version that decided it (see `mvcc::get_with_version`):
    /// a read-only transaction's commit wait depends on it.
    Value {
        value: Option<Vec<u8>>,
        version: Option<Timestamp>,
    },
    /// A scan's live rows, and the newest version that decided any key's answer.
    Rows {
        rows: Vec<KeyValue>,
        newest_version: Option<Timestamp>,
    },
    /// The intent was laid at this timestamp.
    Written {
        timestamp: Timestamp,
    },
    Resolved {
        found: bool,
    },
    Refreshed {
        changed: bool,
    },
    /// The record after the command.
    Record(TransactionRecord),
    /// After a push: the pushee's record, and whether the push achieved its aim.
    Pushed {
        record: TransactionRecord,
        succeeded: bool,
    },
    /// The two halves after a split.
    Split {
        left: RangeDescriptor,
        right: RangeDescriptor,
    },
    /// Garbage collection removed this many versions.
    Collected {
        versions: u64,
    },
    /// The meta map recorded this many of the descriptors it was sent.
    MetaUpdated {
        recorded: u64,
    },
    /// The meta map's range for a key, if it knows one.
    Descriptor(Option<RangeDescriptor>),
}
