//! Multi-version concurrency control over an [`Engine`]: every write is a new
//! version at a timestamp, reads see the newest version at or below theirs, and a
//! transaction's uncommitted writes are **write intents** that others must not
//! ignore.
//!
//! # Layout
//! For a user key `k` (encoded with the order-preserving tuple encoding of
//! [`crate::keys`], so user-key order is engine-key order):
//! - `mvcc/ k ∅` holds the key's intent, if any: the transaction, its provisional
//!   timestamp and the value (or deletion);
//! - `mvcc/ k (wall↓, logical↓)` holds a committed version; timestamps are
//!   encoded descending, so a key's versions run newest first, right after its
//!   intent, and one seek finds the newest version at or below a timestamp.
//!
//! # Rules
//! - **Reads** at timestamp `read` with uncertainty limit `limit` (see
//!   `clock`): another transaction's intent at or below `limit` is a conflict
//!   ([`MvccError::WriteIntent`]): the reader cannot know whether it will commit.
//!   A committed version in `(read, limit]` is [`MvccError::Uncertain`]: it may
//!   have been written before the read in real time, so the reader must move its
//!   timestamp above it. Otherwise the newest version at or below `read` is the
//!   answer; a transaction always reads its own intent.
//! - **Writes** create or replace the writer's own intent. Another transaction's
//!   intent is a conflict; a committed version at or above the write's timestamp
//!   is [`MvccError::WriteTooOld`]: the writer must move above it.
//! - **One-phase commits** ([`commit_versions`]) write committed versions
//!   directly, all keys in one batch, under the rules of a write: any intent is
//!   a conflict, and a version at or above the timestamp is too new.
//! - **Resolution** turns an intent into a committed version at the transaction's
//!   final commit timestamp (which may be above the intent's), removes it, or —
//!   when a reader pushed a pending transaction — moves it to a later timestamp.
//! - **Refresh**: [`has_write_between`] tells whether anything was written in a
//!   span in a timestamp interval: a transaction whose timestamp moved from `a` to
//!   `b` may keep its reads only if nothing it read changed in `(a, b]`.
//! - **Garbage collection** keeps, per key, every version above the horizon and
//!   the newest one at or below it (unless that one is a deletion), so reads at or
//!   above the horizon are unaffected. Its caller (the range) must then refuse
//!   reads below the horizon and writes at or below it: the deletions that would
//!   have made such a write "too old" are gone.

use std::fmt;

use super::engine::{Engine, KeyValue, StorageError, WriteBatch};
use crate::encoding::{DecodeError, Reader, Writer as ByteWriter};
use crate::keys::{KeyReader, KeyWriter};
use crate::types::{Timestamp, TransactionId};

const MVCC_PREFIX: &[u8] = super::layout::MVCC.start;
const MVCC_END: &[u8] = super::layout::MVCC.end;
/// Tags after the user key: the intent sorts before every version.
const INTENT_TAG: u8 = 0;
const VERSION_TAG: u8 = 1;

/// A transaction's provisional write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Intent {
    pub transaction: TransactionId,
    /// The key whose range holds the transaction's record: where to push it.
    pub anchor: Vec<u8>,
    pub timestamp: Timestamp,
    /// None: the transaction deletes the key.
    pub value: Option<Vec<u8>>,
    /// The transaction's write sequence number of this write: a write with a
    /// sequence at or below it is a replay (a retried or delayed command) and
    /// changes nothing.
    pub sequence: u32,
}

/// Why an MVCC operation could not proceed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MvccError {
    /// Another transaction's intent is in the way.
    WriteIntent {
        key: Vec<u8>,
        intent: Intent,
    },
    /// A committed version at or above the write's timestamp exists.
    WriteTooOld {
        key: Vec<u8>,
        existing: Timestamp,
    },
    /// A committed version lies within the read's uncertainty interval.
    Uncertain {
        key: Vec<u8>,
        existing: Timestamp,
    },
    Storage(StorageError),
    Corrupt(DecodeError),
}

impl fmt::Display for MvccError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MvccError::WriteIntent { key, intent } => {
                write!(f, "key {key:?} has an intent of {} at {}", intent.transaction, intent.timestamp)
            }
            MvccError::WriteTooOld { key, existing } => write!(f, "key {key:?} was written at {existing} already"),
            MvccError::Uncertain { key, existing } => {
                write!(f, "key {key:?} was written at {existing}, within the read's uncertainty interval")
            }
            MvccError::Storage(error) => write!(f, "{error}"),
            MvccError::Corrupt(error) => write!(f, "corrupt MVCC data: {error}"),
        }
    }
}

impl std::error::Error for MvccError {}

impl From<StorageError> for MvccError {
    fn from(error: StorageError) -> MvccError {
        MvccError::Storage(error)
    }
}

impl From<DecodeError> for MvccError {
    fn from(error: DecodeError) -> MvccError {
        MvccError::Corrupt(error)
    }
}

/// Who reads, and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadOptions {
    pub timestamp: Timestamp,
    /// At or above `timestamp`; equal to it when the reader has no uncertainty.
    pub uncertainty_limit: Timestamp,
    pub transaction: Option<TransactionId>,
}

impl ReadOptions {
    /// A read outside any transaction, without uncertainty.
    pub fn at(timestamp: Timestamp) -> ReadOptions {
        ReadOptions { timestamp, uncertainty_limit: timestamp, transaction: None }
    }
}

/// How an intent is resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolution {
    Committed {
        timestamp: Timestamp,
    },
    Aborted,
    /// The transaction is still pending but may not commit below `timestamp`
    /// (a reader pushed it): the intent moves up, out of the reader's way.
    Pushed {
        timestamp: Timestamp,
    },
}

fn key_prefix(user_key: &[u8]) -> KeyWriter {
    let mut writer = KeyWriter::new();
    writer.raw(MVCC_PREFIX).bytes(user_key);
    writer
}

fn intent_key(user_key: &[u8]) -> Vec<u8> {
    let mut writer = key_prefix(user_key);
    writer.raw(&[INTENT_TAG]);
    writer.finish()
}

fn version_key(user_key: &[u8], timestamp: Timestamp) -> Vec<u8> {
    let mut writer = key_prefix(user_key);
    writer.raw(&[VERSION_TAG]).u64_descending(timestamp.wall_nanos).u64_descending(u64::from(timestamp.logical));
    writer.finish()
}

/// The end of every engine key of `user_key`.
fn key_end(user_key: &[u8]) -> Vec<u8> {
    let mut writer = key_prefix(user_key);
    writer.raw(&[VERSION_TAG + 1]);
    writer.finish()
}

/// Splits an engine key into its user key and, for a version, its timestamp.
fn parse_engine_key(engine_key: &[u8]) -> Result<(Vec<u8>, Option<Timestamp>), DecodeError> {
    let rest = engine_key.strip_prefix(MVCC_PREFIX).ok_or_else(|| DecodeError("not an MVCC key".into()))?;
    let mut reader = KeyReader::new(rest);
    let user_key = reader.bytes().map_err(|error| DecodeError(error.to_string()))?;
    match reader.raw_byte().map_err(|error| DecodeError(error.to_string()))? {
        INTENT_TAG => Ok((user_key, None)),
        VERSION_TAG => {
            let wall_nanos = reader.u64_descending().map_err(|error| DecodeError(error.to_string()))?;
            let logical = reader.u64_descending().map_err(|error| DecodeError(error.to_string()))?;
            let logical = u32::try_from(logical).map_err(|_| DecodeError("logical clock overflows".into()))?;
            Ok((user_key, Some(Timestamp { wall_nanos, logical })))
        }
        tag => Err(DecodeError(format!("unknown MVCC tag {tag}"))),
    }
}

fn encode_value(value: Option<&[u8]>) -> Vec<u8> {
    let mut writer = ByteWriter::default();
    match value {
        Some(value) => writer.u8(1).bytes(value),
        None => writer.u8(0),
    };
    writer.finish()
}

fn decode_value(reader: &mut Reader<'_>) -> Result<Option<Vec<u8>>, DecodeError> {
    match reader.u8()? {
        0 => Ok(None),
        1 => Ok(Some(reader.bytes()?.to_vec())),
        tag => Err(DecodeError(format!("unknown value tag {tag}"))),
    }
}

fn encode_intent(intent: &Intent) -> Vec<u8> {
    let mut writer = ByteWriter::default();
    writer.u64((intent.transaction.0 >> 64) as u64).u64(intent.transaction.0 as u64).bytes(&intent.anchor);
    writer.u64(intent.timestamp.wall_nanos).u64(u64::from(intent.timestamp.logical));
    writer.u64(u64::from(intent.sequence));
    let mut bytes = writer.finish();
    bytes.extend(encode_value(intent.value.as_deref()));
    bytes
}

fn decode_intent(bytes: &[u8]) -> Result<Intent, DecodeError> {
    let mut reader = Reader::new(bytes);
    let transaction = TransactionId(u128::from(reader.u64()?) << 64 | u128::from(reader.u64()?));
    let anchor = reader.bytes()?.to_vec();
    let wall_nanos = reader.u64()?;
    let logical = u32::try_from(reader.u64()?).map_err(|_| DecodeError("logical clock overflows".into()))?;
    let sequence = u32::try_from(reader.u64()?).map_err(|_| DecodeError("write sequence overflows".into()))?;
    let value = decode_value(&mut reader)?;
    reader.finish()?;
    Ok(Intent { transaction, anchor, timestamp: Timestamp { wall_nanos, logical }, value, sequence })
}

fn decode_version_value(bytes: &[u8]) -> Result<Option<Vec<u8>>, DecodeError> {
    let mut reader = Reader::new(bytes);
    let value = decode_value(&mut reader)?;
    reader.finish()?;
    Ok(value)
}

/// The intent on `user_key`, if any.
pub fn intent(engine: &(impl Engine + ?Sized), user_key: &[u8]) -> Result<Option<Intent>, MvccError> {
    match engine.get(&intent_key(user_key))? {
        Some(bytes) => Ok(Some(decode_intent(&bytes)?)),
        None => Ok(None),
    }
}

/// A committed version: its timestamp and value (None for a deletion).
type Version = (Timestamp, Option<Vec<u8>>);

/// The newest committed version of `user_key` at or below `at`, if any.
fn version_at_or_below(
    engine: &(impl Engine + ?Sized),
    user_key: &[u8],
    at: Timestamp,
) -> Result<Option<Version>, MvccError> {
    let found = engine.scan(&version_key(user_key, at), &key_end(user_key), 1)?;
    let Some((engine_key, bytes)) = found.into_iter().next() else { return Ok(None) };
    let (_, timestamp) = parse_engine_key(&engine_key)?;
    let timestamp = timestamp.ok_or_else(|| DecodeError("intent found among versions".into()))?;
    Ok(Some((timestamp, decode_version_value(&bytes)?)))
}

/// Reads `user_key` (see the module doc for the rules). None: absent or deleted.
pub fn get(
    engine: &(impl Engine + ?Sized),
    user_key: &[u8],
    options: &ReadOptions,
) -> Result<Option<Vec<u8>>, MvccError> {
    Ok(get_with_version(engine, user_key, options)?.0)
}

/// Reads `user_key` as [`get`] does, and says which committed version decided
/// the answer: its timestamp (a deletion too), None when no version lies at or
/// below the read or the reader's own intent answered. A reader that waits for
/// commit wait needs it: the version's writer may still be waiting (see
/// `Transaction::commit_wait_until`).
pub fn get_with_version(
    engine: &(impl Engine + ?Sized),
    user_key: &[u8],
    options: &ReadOptions,
) -> Result<(Option<Vec<u8>>, Option<Timestamp>), MvccError> {
    assert!(options.uncertainty_limit >= options.timestamp, "uncertainty limit below the read timestamp");
    if let Some(intent) = intent(engine, user_key)? {
        if Some(intent.transaction) == options.transaction {
            return Ok((intent.value, None));
        }
        if intent.timestamp <= options.uncertainty_limit {
            return Err(MvccError::WriteIntent { key: user_key.to_vec(), intent });
        }
    }
    match version_at_or_below(engine, user_key, options.uncertainty_limit)? {
        Some((existing, _)) if existing > options.timestamp => {
            Err(MvccError::Uncertain { key: user_key.to_vec(), existing })
        }
        Some((existing, value)) => Ok((value, Some(existing))),
        None => Ok((None, None)),
    }
}

/// The distinct user keys with any MVCC data in `[start, end)` (an empty `end`:
/// to the end), in order, read one at a time: each costs one seek past its
/// versions, and nothing but the current key is held, so a walk over a whole
/// range (a refresh, a garbage collection, a split's median) needs bounded
/// memory whatever the range holds.
pub fn user_keys<'a, E: Engine + ?Sized>(
    engine: &'a E,
    start: &[u8],
    end: &[u8],
) -> impl Iterator<Item = Result<Vec<u8>, MvccError>> + 'a {
    let end_bound = if end.is_empty() { MVCC_END.to_vec() } else { key_prefix(end).finish() };
    let mut from = Some(key_prefix(start).finish());
    std::iter::from_fn(move || {
        let seek = from.take()?;
        let next = match engine.scan(&seek, &end_bound, 1) {
            Ok(found) => found.into_iter().next()?,
            Err(error) => return Some(Err(MvccError::from(error))),
        };
        let parsed = parse_engine_key(&next.0).map_err(MvccError::from);
        Some(parsed.map(|(user_key, _)| {
            from = Some(key_end(&user_key));
            user_key
        }))
    })
}

/// Reads every live key in `[start, end)` (an empty `end` means the end of the
/// key space), in key order, at most `limit` of them; with the timestamp of
/// the newest committed version that decided any key's answer, deletions too
/// (see [`get_with_version`]).
pub fn scan(
    engine: &(impl Engine + ?Sized),
    start: &[u8],
    end: &[u8],
    options: &ReadOptions,
    limit: usize,
) -> Result<(Vec<KeyValue>, Option<Timestamp>), MvccError> {
    let mut rows = Vec::new();
    let mut newest_version = None;
    for user_key in user_keys(engine, start, end) {
        if rows.len() >= limit {
            break;
        }
        let user_key = user_key?;
        let (value, version) = get_with_version(engine, &user_key, options)?;
        newest_version = newest_version.max(version);
        if let Some(value) = value {
            rows.push((user_key, value));
        }
    }
    Ok((rows, newest_version))
}

/// The writer of an intent: its transaction, the anchor key of its record, and
/// the sequence number of this write within the transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Writer<'a> {
    pub transaction: TransactionId,
    pub anchor: &'a [u8],
    pub sequence: u32,
}

/// Writes (or deletes, with `None`) `user_key` as the writer's intent at
/// `timestamp`; returns the timestamp of the writer's intent now on the key.
/// A replay (the writer's intent already holds this write or a later one)
/// changes nothing and returns that intent's timestamp.
pub fn put(
    engine: &mut (impl Engine + ?Sized),
    user_key: &[u8],
    value: Option<&[u8]>,
    writer: Writer<'_>,
    timestamp: Timestamp,
) -> Result<Timestamp, MvccError> {
    let transaction = writer.transaction;
    if let Some(intent) = intent(engine, user_key)? {
        if intent.transaction != transaction {
            return Err(MvccError::WriteIntent { key: user_key.to_vec(), intent });
        }
        if intent.sequence >= writer.sequence {
            return Ok(intent.timestamp);
        }
    }
    let newest = Timestamp { wall_nanos: u64::MAX, logical: u32::MAX };
    if let Some((existing, _)) = version_at_or_below(engine, user_key, newest)? {
        if existing >= timestamp {
            return Err(MvccError::WriteTooOld { key: user_key.to_vec(), existing });
        }
    }
    let value = value.map(<[u8]>::to_vec);
    let intent = Intent { transaction, anchor: writer.anchor.to_vec(), timestamp, value, sequence: writer.sequence };
    let mut batch = WriteBatch::default();
    batch.put(intent_key(user_key), encode_intent(&intent));
    engine.write(batch)?;
    Ok(timestamp)
}

/// Writes every key of `writes` (None deletes it) as a committed version at
/// `timestamp`, in one batch and without intents: a one-phase commit. Nothing is
/// written when a key holds an intent (of any transaction) or a version at or
/// above `timestamp`; the error names the first such key. A key written twice
/// keeps its last value.
pub fn commit_versions(
    engine: &mut (impl Engine + ?Sized),
    writes: &[(&[u8], Option<&[u8]>)],
    timestamp: Timestamp,
) -> Result<(), MvccError> {
    let newest = Timestamp { wall_nanos: u64::MAX, logical: u32::MAX };
    let mut batch = WriteBatch::default();
    for (user_key, value) in writes {
        if let Some(intent) = intent(engine, user_key)? {
            return Err(MvccError::WriteIntent { key: user_key.to_vec(), intent });
        }
        if let Some((existing, _)) = version_at_or_below(engine, user_key, newest)? {
            if existing >= timestamp {
                return Err(MvccError::WriteTooOld { key: user_key.to_vec(), existing });
            }
        }
        batch.put(version_key(user_key, timestamp), encode_value(*value));
    }
    engine.write(batch)?;
    Ok(())
}

/// Resolves `transaction`'s intent on `user_key`. Returns false when there was
/// none (already resolved, or never written): resolution is idempotent.
pub fn resolve(
    engine: &mut (impl Engine + ?Sized),
    user_key: &[u8],
    transaction: TransactionId,
    resolution: Resolution,
) -> Result<bool, MvccError> {
    let Some(intent) = intent(engine, user_key)?.filter(|intent| intent.transaction == transaction) else {
        return Ok(false);
    };
    let mut batch = WriteBatch::default();
    match resolution {
        // A transaction commits at or above every intent it was told of. An
        // intent above its commit timestamp was laid by a replayed write after
        // the real one had been resolved (a delayed command applied late): the
        // committed version already holds the write, so the replay goes.
        Resolution::Committed { timestamp } if intent.timestamp > timestamp => batch.delete(intent_key(user_key)),
        Resolution::Committed { timestamp } => {
            batch.delete(intent_key(user_key));
            batch.put(version_key(user_key, timestamp), encode_value(intent.value.as_deref()));
        }
        Resolution::Aborted => batch.delete(intent_key(user_key)),
        Resolution::Pushed { timestamp } => {
            let moved = Intent { timestamp: intent.timestamp.max(timestamp), ..intent };
            batch.put(intent_key(user_key), encode_intent(&moved));
        }
    }
    engine.write(batch)?;
    Ok(true)
}

/// Whether anything in `[start, end)` was written in `(after, up_to]` by anyone
/// but `transaction`: committed versions in that interval, or other transactions'
/// intents at or below `up_to`. A read refresh fails when this is true.
pub fn has_write_between(
    engine: &(impl Engine + ?Sized),
    start: &[u8],
    end: &[u8],
    after: Timestamp,
    up_to: Timestamp,
    transaction: Option<TransactionId>,
) -> Result<bool, MvccError> {
    for user_key in user_keys(engine, start, end) {
        let user_key = user_key?;
        if let Some(intent) = intent(engine, &user_key)? {
            if Some(intent.transaction) != transaction && intent.timestamp <= up_to {
                return Ok(true);
            }
        }
        if let Some((existing, _)) = version_at_or_below(engine, &user_key, up_to)? {
            if existing > after {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// Every engine key and value (intents and versions) of the user keys in
/// `[start, end)` (an empty `end`: to the end), in order: what a split moves and
/// a snapshot carries.
pub fn engine_span(engine: &(impl Engine + ?Sized), start: &[u8], end: &[u8]) -> Result<Vec<KeyValue>, MvccError> {
    let (start_bound, end_bound) = engine_bounds(start, end);
    Ok(engine.scan(&start_bound, &end_bound, usize::MAX)?)
}

/// The engine span that holds exactly the MVCC data of the user keys in
/// `[start, end)` (an empty `end`: to the end).
pub fn engine_bounds(start: &[u8], end: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let end_bound = if end.is_empty() { MVCC_END.to_vec() } else { key_prefix(end).finish() };
    (key_prefix(start).finish(), end_bound)
}

/// The prefix of every MVCC key: one data space for all the ranges of a node.
pub fn space() -> &'static [u8] {
    MVCC_PREFIX
}

/// Removes versions in `[start, end)` no read at or above `horizon` can see.
/// Returns how many versions were removed.
pub fn garbage_collect(
    engine: &mut (impl Engine + ?Sized),
    start: &[u8],
    end: &[u8],
    horizon: Timestamp,
) -> Result<usize, MvccError> {
    let mut batch = WriteBatch::default();
    for user_key in user_keys(&*engine, start, end) {
        let user_key = user_key?;
        let versions = engine.scan(&version_key(&user_key, horizon), &key_end(&user_key), usize::MAX)?;
        for (position, (engine_key, bytes)) in versions.into_iter().enumerate() {
            // The newest version at or below the horizon stays unless it is a deletion.
            let keep = position == 0 && decode_version_value(&bytes)?.is_some();
            if !keep {
                batch.delete(engine_key);
            }
        }
    }
    let removed = batch.operations.len();
    if removed > 0 {
        engine.write(batch)?;
    }
    Ok(removed)
}
