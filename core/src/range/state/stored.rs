//! Where a range replica's state lives in the node's engine.
//!
//! MVCC versions and intents live in the node's one data space, `mvcc/<user
//! key>...` (`storage::mvcc`), shared by every range: a range reads and writes
//! only inside its descriptor's span, and a split moves no data. Everything
//! else is range-local, under `range/<id as 8 bytes big-endian>/`:
//!
//! | key                          | value                                               |
//! |------------------------------|-----------------------------------------------------|
//! | `applied`                    | the index of the last entry applied, 8 bytes        |
//! | `head`                       | descriptor, GC threshold, meta map (`encode_head`)  |
//! | `cache/low`                  | the timestamp cache's low-water mark                |
//! | `cache/key/<user key>`       | the timestamp a key was read at                     |
//! | `cache/span/<position, 8 B>` | a span read and its timestamp (`encode_read_span`)  |
//! | `txn/<id, 16 B>`             | a transaction record (`encode_record`)              |
//!
//! A replica reads both through one view ([`view`]: the local keys relative to
//! the range's prefix, the data space passed through as it is).
//!
//! Data and records are read from the engine as commands need them. The head
//! and the timestamp cache are also held in memory by [`RangeState`]: both are
//! bounded (the cache by its entry limit, the meta map by the number of
//! ranges), and every change to them is written through in the command's batch,
//! so a restart loads exactly what every other replica holds at that index.
//!
//! **The overlap rule.** Because ranges share the data space, two replicas on
//! one node must never both own a key: the initialized replicas of a node hold
//! disjoint spans. A split keeps that (the left range shrinks as the right one
//! starts), and a store refuses a snapshot whose span overlaps another
//! initialized replica's (`store`): a replica that has not yet applied the
//! split that made the snapshot's range must catch up first. So deleting a
//! replica's span, when it is removed or replaced by a snapshot, deletes no
//! one else's data.

use std::collections::BTreeMap;

use super::{end_bytes, RangeState, TimestampCache};
use crate::keys::Key;
use crate::range::codec;
use crate::range::timestamp_cache::CacheWrite;
use crate::range::{RangeDescriptor, RangeMap, TransactionRecord};
use crate::storage::{layout, mvcc, prefix_end, Engine, KeyValue, Staged, StorageError, WriteBatch};
use crate::types::{LogIndex, RangeId, TransactionId};

const APPLIED: &[u8] = b"applied";
const HEAD: &[u8] = b"head";
const CACHE: &[u8] = b"cache/";
const CACHE_LOW_WATER: &[u8] = b"cache/low";
const CACHE_KEYS: &[u8] = b"cache/key/";
const CACHE_SPANS: &[u8] = b"cache/span/";
const RECORDS: &[u8] = b"txn/";

/// The prefix of range `range`'s key space.
pub fn space(range: RangeId) -> Vec<u8> {
    [layout::RANGE_LOCAL.start, &range.0.to_be_bytes(), b"/"].concat()
}

/// Range `range`'s view of `engine`: its local keys, and the shared data space.
pub fn view(engine: &dyn Engine, range: RangeId) -> Staged<'_> {
    Staged::sharing(engine, space(range), mvcc::space())
}

/// Deletes every local key of the range in `view`.
pub fn delete_local(view: &mut (impl Engine + ?Sized)) {
    let data_end = prefix_end(mvcc::space()).expect("a constant prefix");
    write_one(view, |batch| {
        batch.delete_range(Vec::new(), mvcc::space().to_vec());
        batch.delete_range(data_end, Vec::new());
    });
}

/// The engine keys of the MVCC data in `descriptor`'s span.
pub fn data_span(descriptor: &RangeDescriptor) -> (Vec<u8>, Vec<u8>) {
    mvcc::engine_bounds(&descriptor.start.0, end_bytes(&descriptor.end))
}

/// Deletes the MVCC data of `descriptor`'s span.
pub fn delete_data(view: &mut (impl Engine + ?Sized), descriptor: &RangeDescriptor) {
    let (start, end) = data_span(descriptor);
    write_one(view, |batch| batch.delete_range(start, end));
}

/// The engine spans holding a replica's whole state: its descriptor's data
/// (when initialized) and its local keys, in key order. A snapshot streams
/// them; the overlap rule makes them the replica's own.
pub fn spans(range: RangeId, descriptor: Option<&RangeDescriptor>) -> Vec<(Vec<u8>, Vec<u8>)> {
    let local = space(range);
    let local_end = prefix_end(&local).expect("a range's space has an end");
    let mut spans: Vec<_> = descriptor.map(data_span).into_iter().collect();
    spans.push((local, local_end));
    spans
}

/// The end of every range's key space.
pub fn spaces_end() -> Vec<u8> {
    layout::RANGE_LOCAL.end.to_vec()
}

/// A storage failure while applying: the replica cannot tell what it holds.
fn failed(error: StorageError) -> ! {
    panic!("a range replica cannot continue past a storage failure: {error}")
}

/// The index of the last entry the replica applied (0: none).
pub fn read_applied(view: &(impl Engine + ?Sized)) -> LogIndex {
    match view.get(APPLIED).unwrap_or_else(|error| failed(error)) {
        Some(bytes) => LogIndex(u64::from_be_bytes(bytes.try_into().expect("an applied index is 8 bytes"))),
        None => LogIndex(0),
    }
}

/// Adds range `range`'s new applied index to `batch`, a batch of full keys.
pub fn write_applied(batch: &mut WriteBatch, range: RangeId, index: LogIndex) {
    batch.put([&space(range)[..], APPLIED].concat(), index.0.to_be_bytes().to_vec());
}

fn write_one(view: &mut (impl Engine + ?Sized), build: impl FnOnce(&mut WriteBatch)) {
    let mut batch = WriteBatch::default();
    build(&mut batch);
    view.write(batch).unwrap_or_else(|error| failed(error));
}

fn record_key(transaction: TransactionId) -> Vec<u8> {
    [RECORDS, &transaction.0.to_be_bytes()].concat()
}

fn span_key(position: usize) -> Vec<u8> {
    [CACHE_SPANS, &(position as u64).to_be_bytes()].concat()
}

fn scan_prefix(view: &(impl Engine + ?Sized), prefix: &[u8]) -> Vec<KeyValue> {
    let end = prefix_end(prefix).expect("a constant prefix");
    view.scan(prefix, &end, usize::MAX).unwrap_or_else(|error| failed(error))
}

pub fn read_record(view: &(impl Engine + ?Sized), transaction: TransactionId) -> Option<TransactionRecord> {
    let bytes = view.get(&record_key(transaction)).unwrap_or_else(|error| failed(error))?;
    Some(codec::decode_record(&bytes).expect("stored records decode"))
}

pub fn write_record(view: &mut (impl Engine + ?Sized), record: &TransactionRecord) {
    write_one(view, |batch| batch.put(record_key(record.id), codec::encode_record(record)));
}

/// Every record the range holds, by transaction id.
pub fn records(view: &(impl Engine + ?Sized)) -> Vec<TransactionRecord> {
    let entries = scan_prefix(view, RECORDS);
    entries.iter().map(|(_, bytes)| codec::decode_record(bytes).expect("stored records decode")).collect()
}

pub fn delete_record(view: &mut (impl Engine + ?Sized), transaction: TransactionId) {
    write_one(view, |batch| batch.delete(record_key(transaction)));
}

/// Every MVCC key and value in `descriptor`'s span.
pub fn data(view: &(impl Engine + ?Sized), descriptor: &RangeDescriptor) -> Vec<KeyValue> {
    let (start, end) = data_span(descriptor);
    view.scan(&start, &end, usize::MAX).unwrap_or_else(|error| failed(error))
}

/// The head: descriptor, GC threshold and meta map.
pub fn write_head(view: &mut (impl Engine + ?Sized), state: &RangeState) {
    let meta: Vec<_> = state.meta.ranges().cloned().collect();
    let head = codec::encode_head(&state.descriptor, state.garbage_collection_threshold, &meta);
    write_one(view, |batch| batch.put(HEAD.to_vec(), head));
}

/// Persists what one recorded read changed in `cache`.
pub fn write_cache_change(view: &mut (impl Engine + ?Sized), cache: &TimestampCache, change: CacheWrite) {
    match change {
        CacheWrite::Key(key, timestamp) => write_one(view, |batch| {
            batch.put([CACHE_KEYS, &key.0].concat(), codec::encode_timestamp(timestamp));
        }),
        CacheWrite::Span(position) => {
            let (start, end, timestamp) = &cache.spans()[position];
            let span = codec::encode_read_span(start, end, *timestamp);
            write_one(view, |batch| batch.put(span_key(position), span));
        }
        CacheWrite::Folded => write_cache(view, cache),
    }
}

/// Replaces the persisted timestamp cache with `cache`.
pub fn write_cache(view: &mut (impl Engine + ?Sized), cache: &TimestampCache) {
    write_one(view, |batch| {
        batch.delete_range(CACHE.to_vec(), prefix_end(CACHE).expect("a constant prefix"));
        batch.put(CACHE_LOW_WATER.to_vec(), codec::encode_timestamp(cache.low_water()));
        for (key, timestamp) in cache.keys() {
            batch.put([CACHE_KEYS, &key.0].concat(), codec::encode_timestamp(*timestamp));
        }
        for (position, (start, end, timestamp)) in cache.spans().iter().enumerate() {
            batch.put(span_key(position), codec::encode_read_span(start, end, *timestamp));
        }
    });
}

fn read_cache(view: &(impl Engine + ?Sized), entries_max: usize) -> TimestampCache {
    let low_water = match view.get(CACHE_LOW_WATER).unwrap_or_else(|error| failed(error)) {
        Some(bytes) => codec::decode_timestamp(&bytes).expect("stored timestamps decode"),
        None => Default::default(),
    };
    let keys: BTreeMap<Key, _> = scan_prefix(view, CACHE_KEYS)
        .into_iter()
        .map(|(key, bytes)| {
            let timestamp = codec::decode_timestamp(&bytes).expect("stored timestamps decode");
            (Key(key[CACHE_KEYS.len()..].to_vec()), timestamp)
        })
        .collect();
    let spans = scan_prefix(view, CACHE_SPANS)
        .into_iter()
        .map(|(_, bytes)| codec::decode_read_span(&bytes).expect("stored spans decode"))
        .collect();
    TimestampCache::from_parts(keys, spans, low_water, entries_max)
}

/// The replica's state as its space holds it; None when it holds no head (a
/// replica created empty, waiting for a snapshot).
pub fn load(view: &(impl Engine + ?Sized), heartbeat_expiry_nanos: u64, entries_max: usize) -> Option<RangeState> {
    let head = view.get(HEAD).unwrap_or_else(|error| failed(error))?;
    let (descriptor, threshold, meta_descriptors) = codec::decode_head(&head).expect("a stored head decodes");
    let mut meta = RangeMap::default();
    for descriptor in meta_descriptors {
        meta.learn(descriptor);
    }
    Some(RangeState {
        descriptor,
        reads: read_cache(view, entries_max),
        garbage_collection_threshold: threshold,
        heartbeat_expiry_nanos,
        meta,
        early_record_deletion: false,
    })
}

/// Writes the whole of `state` (head and cache) and the given data and records
/// into an empty space: a range born from a split, or installed from a snapshot.
pub fn write_all(
    view: &mut (impl Engine + ?Sized),
    state: &RangeState,
    data: Vec<KeyValue>,
    records: &[TransactionRecord],
) {
    write_head(view, state);
    write_cache(view, &state.reads);
    write_one(view, |batch| {
        for (key, value) in data {
            batch.put(key, value);
        }
        for record in records {
            batch.put(record_key(record.id), codec::encode_record(record));
        }
    });
}
