//! The byte codec of what a range replicates: [`RangeRequest`]s (Raft log entries),
//! snapshot headers (a streamed Raft snapshot's descriptor) and [`TransactionRecord`]s (stored under the
//! anchor key). Replicas of different versions read each other's logs and snapshots,
//! so the format is fixed: tags below never change meaning, and a new variant takes a
//! new tag.
//!
//! # Format
//! Built on [`crate::encoding`]: a `u8` is one byte, a `u64` eight bytes big-endian,
//! and bytes are a `u64` length then the bytes. On top of those:
//!
//! | value                 | encoding                                                  |
//! |-----------------------|-----------------------------------------------------------|
//! | `u128` (transactions) | high `u64`, then low `u64`                                |
//! | `Timestamp`           | `wall_nanos` as `u64`, then `logical` as `u64`            |
//! | `usize` (scan limit)  | `u64`, refused when it does not fit the decoder's `usize` |
//! | `Key`, value bytes    | bytes                                                     |
//! | `Option<T>`           | tag 0 none; tag 1 then `T`                                |
//! | `Vec<T>`              | count as `u64`, then each `T`                             |
//! | pair `(A, B)`         | `A` then `B`                                              |
//! | `RangeDescriptor`     | bytes holding [`RangeDescriptor::encode`]                 |
//!
//! A struct is its fields in declaration order; an enum is a one-byte tag, then the
//! variant's fields in declaration order. The tags:
//!
//! | enum                | tags                                                        |
//! |---------------------|-------------------------------------------------------------|
//! | `KeyEnd`            | 0 `Unbounded`, 1 `Before`                                   |
//! | `Resolution`        | 0 `Committed`, 1 `Aborted`, 2 `Pushed`                      |
//! | `TransactionStatus` | 0 `Pending`, 1 `Committed`, 2 `Aborted`                     |
//! | `PushKind`          | 0 `Abort`, 1 `Timestamp`                                    |
//! | `RangeCommand`      | 0 `Get`, 1 `Scan`, 2 `Put`, 3 `ResolveIntent`, 4 `Refresh`, |
//! |                     | 5 `Heartbeat`, 6 `EndTransaction`, 7 `Push`, 8 `Split`,     |
//! |                     | 9 `GarbageCollect`, 10 `UpdateMeta`, 11 `LookupMeta`,       |
//! |                     | 12 `ChangeReplicas`, 13 `CommitOnePhase`,                   |
//! |                     | 14 `ForgetTransaction`                                      |
//!
//! `KeyEnd` uses the tags [`RangeDescriptor::encode`] already uses for it.
//!
//! # Decoding untrusted bytes
//! Decoding never panics: bad bytes are a [`DecodeError`], which callers treat as
//! corruption. Unknown tags, option tags other than 0 and 1, logical clocks above
//! `u32::MAX` and trailing bytes are all refused. Allocation is bounded by the input:
//! a count is checked against the bytes left before any vector is reserved, using the
//! fewest bytes one element can take, so a forged count of 2^60 fails at once instead
//! of reserving memory.
//!
//! Left out until needed: a format version (a new field in an existing struct would
//! need one, or a new command tag), and checks of meaning rather than form (sorted
//! snapshot data, an uncertainty limit at or above its timestamp) — the range state
//! machine owns those.

use crate::encoding::{DecodeError, Reader, Writer};
use crate::keys::{Key, KeyEnd};
use crate::storage::mvcc::{ReadOptions, Resolution};
use crate::storage::KeyValue;
use crate::types::{RangeId, Timestamp, TransactionId};

use super::{PushKind, RangeCommand, RangeDescriptor, RangeRequest, TransactionRecord, TransactionStatus};

mod outcome;
pub use outcome::{decode_outcome, encode_outcome};

const COMMAND_GET: u8 = 0;
const COMMAND_SCAN: u8 = 1;
const COMMAND_PUT: u8 = 2;
const COMMAND_RESOLVE_INTENT: u8 = 3;
const COMMAND_REFRESH: u8 = 4;
const COMMAND_HEARTBEAT: u8 = 5;
const COMMAND_END_TRANSACTION: u8 = 6;
const COMMAND_PUSH: u8 = 7;
const COMMAND_SPLIT: u8 = 8;
const COMMAND_GARBAGE_COLLECT: u8 = 9;
const COMMAND_UPDATE_META: u8 = 10;
const COMMAND_LOOKUP_META: u8 = 11;
const COMMAND_CHANGE_REPLICAS: u8 = 12;
const COMMAND_COMMIT_ONE_PHASE: u8 = 13;
const COMMAND_FORGET_TRANSACTION: u8 = 14;
const DESCRIPTOR_BYTES_MIN: usize = 8;

/// The fewest bytes each element of a vector takes, to bound a count by the input.
const KEY_BYTES_MIN: usize = 8;
const SPAN_BYTES_MIN: usize = KEY_BYTES_MIN + 1;
const KEY_VALUE_BYTES_MIN: usize = 2 * KEY_BYTES_MIN;
/// A key, then an option tag (a deletion).
const WRITE_BYTES_MIN: usize = KEY_BYTES_MIN + 1;

/// Encodes a command and its routing, as a Raft log entry carries it.
pub fn encode_request(request: &RangeRequest) -> Vec<u8> {
    let mut writer = Writer::default();
    writer.u64(request.range.0).u64(request.generation).command(&request.command);
    writer.finish()
}

/// Decodes what [`encode_request`] wrote.
pub fn decode_request(bytes: &[u8]) -> Result<RangeRequest, DecodeError> {
    decode_whole(bytes, |reader| {
        Ok(RangeRequest { range: RangeId(reader.u64()?), generation: reader.u64()?, command: reader.command()? })
    })
}

/// What a streamed snapshot of a range says before its data: the range's
/// descriptor (None: the sender holds no state).
pub fn encode_snapshot_header(descriptor: Option<&RangeDescriptor>) -> Vec<u8> {
    let mut writer = Writer::default();
    writer.option(descriptor, |writer, descriptor| writer.bytes(&descriptor.encode()));
    writer.finish()
}

/// Decodes what [`encode_snapshot_header`] wrote.
pub fn decode_snapshot_header(bytes: &[u8]) -> Result<Option<RangeDescriptor>, DecodeError> {
    decode_whole(bytes, |reader| reader.option(|reader| RangeDescriptor::decode(reader.bytes()?)))
}

/// Encodes a transaction record, as the range of its anchor key stores it.
pub fn encode_record(record: &TransactionRecord) -> Vec<u8> {
    Writer::default().record(record).finish()
}

/// Decodes what [`encode_record`] wrote.
pub fn decode_record(bytes: &[u8]) -> Result<TransactionRecord, DecodeError> {
    decode_whole(bytes, BoundedReader::record)
}

/// The small part of a range's replicated state, kept under one key of its
/// key space and rewritten when any of it changes (see `range::stored`).
pub fn encode_head(descriptor: &RangeDescriptor, threshold: Timestamp, meta: &[RangeDescriptor]) -> Vec<u8> {
    let mut writer = Writer::default();
    writer.bytes(&descriptor.encode()).timestamp(threshold);
    writer.vector(meta, |writer, descriptor| writer.bytes(&descriptor.encode()));
    writer.finish()
}

/// Decodes what [`encode_head`] wrote: descriptor, threshold, meta map.
pub fn decode_head(bytes: &[u8]) -> Result<(RangeDescriptor, Timestamp, Vec<RangeDescriptor>), DecodeError> {
    decode_whole(bytes, |reader| {
        let descriptor = RangeDescriptor::decode(reader.bytes()?)?;
        let threshold = reader.timestamp()?;
        let meta = reader.vector(DESCRIPTOR_BYTES_MIN, |reader| RangeDescriptor::decode(reader.bytes()?))?;
        Ok((descriptor, threshold, meta))
    })
}

pub fn encode_timestamp(timestamp: Timestamp) -> Vec<u8> {
    Writer::default().timestamp(timestamp).finish()
}

pub fn decode_timestamp(bytes: &[u8]) -> Result<Timestamp, DecodeError> {
    decode_whole(bytes, BoundedReader::timestamp)
}

/// A span of the timestamp cache and the timestamp it was read at.
pub fn encode_read_span(start: &Key, end: &KeyEnd, timestamp: Timestamp) -> Vec<u8> {
    Writer::default().key(start).key_end(end).timestamp(timestamp).finish()
}

pub fn decode_read_span(bytes: &[u8]) -> Result<(Key, KeyEnd, Timestamp), DecodeError> {
    decode_whole(bytes, |reader| Ok((reader.key()?, reader.key_end()?, reader.timestamp()?)))
}

/// Decodes one value that must take every byte.
fn decode_whole<'a, T>(
    bytes: &'a [u8],
    decode: impl FnOnce(&mut BoundedReader<'a>) -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
    let mut reader = BoundedReader { reader: Reader::new(bytes), remaining: bytes.len() };
    let value = decode(&mut reader)?;
    reader.reader.finish()?;
    Ok(value)
}

fn unknown_tag(what: &str, tag: u8) -> DecodeError {
    DecodeError(format!("unknown {what} tag {tag}"))
}

/// The range layer's values, written in the format of the module doc.
trait WriteRangeValues {
    fn u128(&mut self, value: u128) -> &mut Self;
    fn timestamp(&mut self, timestamp: Timestamp) -> &mut Self;
    fn key(&mut self, key: &Key) -> &mut Self;
    fn key_end(&mut self, end: &KeyEnd) -> &mut Self;
    fn option<T>(
        &mut self,
        value: Option<&T>,
        write: impl for<'w> FnOnce(&'w mut Self, &T) -> &'w mut Self,
    ) -> &mut Self;
    fn vector<T>(&mut self, values: &[T], write: impl for<'w> FnMut(&'w mut Self, &T) -> &'w mut Self) -> &mut Self;
    fn read_options(&mut self, read: &ReadOptions) -> &mut Self;
    fn resolution(&mut self, resolution: Resolution) -> &mut Self;
    fn status(&mut self, status: TransactionStatus) -> &mut Self;
    fn push_kind(&mut self, kind: PushKind) -> &mut Self;
    fn record(&mut self, record: &TransactionRecord) -> &mut Self;
    fn command(&mut self, command: &RangeCommand) -> &mut Self;
}

impl WriteRangeValues for Writer {
    fn u128(&mut self, value: u128) -> &mut Self {
        self.u64((value >> 64) as u64).u64(value as u64)
    }

    fn timestamp(&mut self, timestamp: Timestamp) -> &mut Self {
        self.u64(timestamp.wall_nanos).u64(u64::from(timestamp.logical))
    }

    fn key(&mut self, key: &Key) -> &mut Self {
        self.bytes(&key.0)
    }

    fn key_end(&mut self, end: &KeyEnd) -> &mut Self {
        match end {
            KeyEnd::Unbounded => self.u8(0),
            KeyEnd::Before(key) => self.u8(1).key(key),
        }
    }

    fn option<T>(
        &mut self,
        value: Option<&T>,
        write: impl for<'w> FnOnce(&'w mut Self, &T) -> &'w mut Self,
    ) -> &mut Self {
        match value {
            None => self.u8(0),
            Some(value) => write(self.u8(1), value),
        }
    }

    fn vector<T>(
        &mut self,
        values: &[T],
        mut write: impl for<'w> FnMut(&'w mut Self, &T) -> &'w mut Self,
    ) -> &mut Self {
        self.u64(values.len() as u64);
        for value in values {
            write(self, value);
        }
        self
    }

    fn read_options(&mut self, read: &ReadOptions) -> &mut Self {
        self.timestamp(read.timestamp).timestamp(read.uncertainty_limit);
        self.option(read.transaction.as_ref(), |writer, transaction| writer.u128(transaction.0))
    }

    fn resolution(&mut self, resolution: Resolution) -> &mut Self {
        match resolution {
            Resolution::Committed { timestamp } => self.u8(0).timestamp(timestamp),
            Resolution::Aborted => self.u8(1),
            Resolution::Pushed { timestamp } => self.u8(2).timestamp(timestamp),
        }
    }

    fn status(&mut self, status: TransactionStatus) -> &mut Self {
        match status {
            TransactionStatus::Pending => self.u8(0),
            TransactionStatus::Committed { timestamp } => self.u8(1).timestamp(timestamp),
            TransactionStatus::Aborted => self.u8(2),
        }
    }

    fn push_kind(&mut self, kind: PushKind) -> &mut Self {
        match kind {
            PushKind::Abort => self.u8(0),
            PushKind::Timestamp(timestamp) => self.u8(1).timestamp(timestamp),
        }
    }

    fn record(&mut self, record: &TransactionRecord) -> &mut Self {
        self.u128(record.id.0).key(&record.anchor).timestamp(record.start).status(record.status);
        self.timestamp(record.heartbeat).timestamp(record.minimum_commit);
        self.vector(&record.intent_spans, |writer, (start, end)| writer.key(start).key_end(end))
    }

    fn command(&mut self, command: &RangeCommand) -> &mut Self {
        match command {
            RangeCommand::Get { key, read } => self.u8(COMMAND_GET).key(key).read_options(read),
            RangeCommand::Scan { start, end, read, limit } => {
                self.u8(COMMAND_SCAN).key(start).key_end(end).read_options(read).u64(*limit as u64)
            }
            RangeCommand::Put { key, value, transaction, anchor, timestamp, sequence } => {
                self.u8(COMMAND_PUT).key(key).option(value.as_ref(), |writer, value| writer.bytes(value));
                self.u128(transaction.0).key(anchor).timestamp(*timestamp).u64(u64::from(*sequence))
            }
            RangeCommand::ResolveIntent { key, transaction, resolution } => {
                self.u8(COMMAND_RESOLVE_INTENT).key(key).u128(transaction.0).resolution(*resolution)
            }
            RangeCommand::Refresh { start, end, after, up_to, transaction } => {
                self.u8(COMMAND_REFRESH).key(start).key_end(end);
                self.timestamp(*after).timestamp(*up_to).u128(transaction.0)
            }
            RangeCommand::Heartbeat { transaction, anchor, start, now } => {
                self.u8(COMMAND_HEARTBEAT).u128(transaction.0).key(anchor).timestamp(*start).timestamp(*now)
            }
            RangeCommand::EndTransaction { transaction, anchor, commit, intent_spans } => {
                self.u8(COMMAND_END_TRANSACTION).u128(transaction.0).key(anchor);
                self.option(commit.as_ref(), |writer, timestamp| writer.timestamp(*timestamp));
                self.vector(intent_spans, |writer, (start, end)| writer.key(start).key_end(end))
            }
            RangeCommand::ForgetTransaction { transaction, anchor } => {
                self.u8(COMMAND_FORGET_TRANSACTION).u128(transaction.0).key(anchor)
            }
            RangeCommand::Push { pushee, anchor, pusher_start, kind, now } => {
                self.u8(COMMAND_PUSH).u128(pushee.0).key(anchor).timestamp(*pusher_start);
                self.push_kind(*kind).timestamp(*now)
            }
            RangeCommand::Split { at, right_id } => self.u8(COMMAND_SPLIT).key(at).u64(right_id.0),
            RangeCommand::CommitOnePhase { transaction, writes, timestamp, read_spans } => {
                self.u8(COMMAND_COMMIT_ONE_PHASE).u128(transaction.0);
                self.vector(writes, |writer, (key, value)| {
                    writer.key(key).option(value.as_ref(), |writer, value| writer.bytes(value))
                });
                self.timestamp(*timestamp).vector(read_spans, |writer, (start, end)| writer.key(start).key_end(end))
            }
            RangeCommand::GarbageCollect { threshold } => self.u8(COMMAND_GARBAGE_COLLECT).timestamp(*threshold),
            RangeCommand::UpdateMeta { descriptors } => self
                .u8(COMMAND_UPDATE_META)
                .vector(descriptors, |writer, descriptor| writer.bytes(&descriptor.encode())),
            RangeCommand::LookupMeta { key } => self.u8(COMMAND_LOOKUP_META).key(key),
            RangeCommand::ChangeReplicas { key, replicas } => {
                let replicas: Vec<u64> = replicas.iter().map(|node| node.0).collect();
                self.u8(COMMAND_CHANGE_REPLICAS).key(key).vector(&replicas, |writer, node| writer.u64(*node))
            }
        }
    }
}

/// A [`Reader`] that also counts the bytes left, so that a count read from the input
/// is checked against them before anything is reserved.
struct BoundedReader<'a> {
    reader: Reader<'a>,
    remaining: usize,
}

impl<'a> BoundedReader<'a> {
    fn u8(&mut self) -> Result<u8, DecodeError> {
        let value = self.reader.u8()?;
        self.remaining -= 1;
        Ok(value)
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        let value = self.reader.u64()?;
        self.remaining -= 8;
        Ok(value)
    }

    fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let value = self.reader.bytes()?;
        self.remaining -= 8 + value.len();
        Ok(value)
    }

    fn u128(&mut self) -> Result<u128, DecodeError> {
        let high = self.u64()?;
        let low = self.u64()?;
        Ok((u128::from(high) << 64) | u128::from(low))
    }

    fn usize(&mut self) -> Result<usize, DecodeError> {
        let value = self.u64()?;
        usize::try_from(value).map_err(|_| DecodeError(format!("{value} does not fit a usize")))
    }

    pub(super) fn sequence(&mut self) -> Result<u32, DecodeError> {
        let sequence = self.u64()?;
        u32::try_from(sequence).map_err(|_| DecodeError(format!("write sequence {sequence} overflows")))
    }

    fn transaction(&mut self) -> Result<TransactionId, DecodeError> {
        Ok(TransactionId(self.u128()?))
    }

    fn timestamp(&mut self) -> Result<Timestamp, DecodeError> {
        let wall_nanos = self.u64()?;
        let logical = self.u64()?;
        let logical = u32::try_from(logical).map_err(|_| DecodeError(format!("logical clock {logical} overflows")))?;
        Ok(Timestamp { wall_nanos, logical })
    }

    fn key(&mut self) -> Result<Key, DecodeError> {
        Ok(Key(self.bytes()?.to_vec()))
    }

    fn key_end(&mut self) -> Result<KeyEnd, DecodeError> {
        match self.u8()? {
            0 => Ok(KeyEnd::Unbounded),
            1 => Ok(KeyEnd::Before(self.key()?)),
            tag => Err(unknown_tag("key end", tag)),
        }
    }

    fn span(&mut self) -> Result<(Key, KeyEnd), DecodeError> {
        Ok((self.key()?, self.key_end()?))
    }

    fn key_value(&mut self) -> Result<KeyValue, DecodeError> {
        Ok((self.bytes()?.to_vec(), self.bytes()?.to_vec()))
    }

    fn option<T>(
        &mut self,
        decode: impl FnOnce(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Option<T>, DecodeError> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(decode(self)?)),
            tag => Err(unknown_tag("option", tag)),
        }
    }

    /// Reads a count, refusing it unless that many elements of at least
    /// `element_bytes_min` bytes each fit in what is left, then the elements.
    fn vector<T>(
        &mut self,
        element_bytes_min: usize,
        mut decode: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        let count = self.u64()?;
        let fitting = self.remaining / element_bytes_min;
        if count > fitting as u64 {
            let remaining = self.remaining;
            return Err(DecodeError(format!("{count} elements of {element_bytes_min}+ bytes in {remaining} bytes")));
        }
        let mut values = Vec::with_capacity(count as usize);
        for _ in 0..count {
            values.push(decode(self)?);
        }
        Ok(values)
    }

    fn read_options(&mut self) -> Result<ReadOptions, DecodeError> {
        Ok(ReadOptions {
            timestamp: self.timestamp()?,
            uncertainty_limit: self.timestamp()?,
            transaction: self.option(Self::transaction)?,
        })
    }

    fn resolution(&mut self) -> Result<Resolution, DecodeError> {
        match self.u8()? {
            0 => Ok(Resolution::Committed { timestamp: self.timestamp()? }),
            1 => Ok(Resolution::Aborted),
            2 => Ok(Resolution::Pushed { timestamp: self.timestamp()? }),
            tag => Err(unknown_tag("resolution", tag)),
        }
    }

    fn status(&mut self) -> Result<TransactionStatus, DecodeError> {
        match self.u8()? {
            0 => Ok(TransactionStatus::Pending),
            1 => Ok(TransactionStatus::Committed { timestamp: self.timestamp()? }),
            2 => Ok(TransactionStatus::Aborted),
            tag => Err(unknown_tag("transaction status", tag)),
        }
    }

    fn push_kind(&mut self) -> Result<PushKind, DecodeError> {
        match self.u8()? {
            0 => Ok(PushKind::Abort),
            1 => Ok(PushKind::Timestamp(self.timestamp()?)),
            tag => Err(unknown_tag("push kind", tag)),
        }
    }

    fn record(&mut self) -> Result<TransactionRecord, DecodeError> {
        Ok(TransactionRecord {
            id: self.transaction()?,
            anchor: self.key()?,
            start: self.timestamp()?,
            status: self.status()?,
            heartbeat: self.timestamp()?,
            minimum_commit: self.timestamp()?,
            intent_spans: self.vector(SPAN_BYTES_MIN, Self::span)?,
        })
    }

    fn command(&mut self) -> Result<RangeCommand, DecodeError> {
        match self.u8()? {
            COMMAND_GET => Ok(RangeCommand::Get { key: self.key()?, read: self.read_options()? }),
            COMMAND_SCAN => Ok(RangeCommand::Scan {
                start: self.key()?,
                end: self.key_end()?,
                read: self.read_options()?,
                limit: self.usize()?,
            }),
            COMMAND_PUT => Ok(RangeCommand::Put {
                key: self.key()?,
                value: self.option(|reader| Ok(reader.bytes()?.to_vec()))?,
                transaction: self.transaction()?,
                anchor: self.key()?,
                timestamp: self.timestamp()?,
                sequence: self.sequence()?,
            }),
            COMMAND_RESOLVE_INTENT => Ok(RangeCommand::ResolveIntent {
                key: self.key()?,
                transaction: self.transaction()?,
                resolution: self.resolution()?,
            }),
            COMMAND_REFRESH => Ok(RangeCommand::Refresh {
                start: self.key()?,
                end: self.key_end()?,
                after: self.timestamp()?,
                up_to: self.timestamp()?,
                transaction: self.transaction()?,
            }),
            tag => self.transaction_command(tag),
        }
    }

    /// The commands about transaction records and the range itself; split from
    /// [`Self::command`] only to keep each match on one screen.
    fn transaction_command(&mut self, tag: u8) -> Result<RangeCommand, DecodeError> {
        match tag {
            COMMAND_HEARTBEAT => Ok(RangeCommand::Heartbeat {
                transaction: self.transaction()?,
                anchor: self.key()?,
                start: self.timestamp()?,
                now: self.timestamp()?,
            }),
            COMMAND_END_TRANSACTION => Ok(RangeCommand::EndTransaction {
                transaction: self.transaction()?,
                anchor: self.key()?,
                commit: self.option(Self::timestamp)?,
                intent_spans: self.vector(SPAN_BYTES_MIN, Self::span)?,
            }),
            COMMAND_PUSH => Ok(RangeCommand::Push {
                pushee: self.transaction()?,
                anchor: self.key()?,
                pusher_start: self.timestamp()?,
                kind: self.push_kind()?,
                now: self.timestamp()?,
            }),
            COMMAND_SPLIT => Ok(RangeCommand::Split { at: self.key()?, right_id: RangeId(self.u64()?) }),
            COMMAND_COMMIT_ONE_PHASE => Ok(RangeCommand::CommitOnePhase {
                transaction: self.transaction()?,
                writes: self.vector(WRITE_BYTES_MIN, |reader| {
                    Ok((reader.key()?, reader.option(|reader| Ok(reader.bytes()?.to_vec()))?))
                })?,
                timestamp: self.timestamp()?,
                read_spans: self.vector(SPAN_BYTES_MIN, Self::span)?,
            }),
            COMMAND_GARBAGE_COLLECT => Ok(RangeCommand::GarbageCollect { threshold: self.timestamp()? }),
            COMMAND_UPDATE_META => Ok(RangeCommand::UpdateMeta {
                descriptors: self.vector(DESCRIPTOR_BYTES_MIN, |reader| RangeDescriptor::decode(reader.bytes()?))?,
            }),
            COMMAND_LOOKUP_META => Ok(RangeCommand::LookupMeta { key: self.key()? }),
            COMMAND_FORGET_TRANSACTION => {
                Ok(RangeCommand::ForgetTransaction { transaction: self.transaction()?, anchor: self.key()? })
            }
            COMMAND_CHANGE_REPLICAS => Ok(RangeCommand::ChangeReplicas {
                key: self.key()?,
                replicas: self.vector(8, |reader| Ok(crate::types::NodeId(reader.u64()?)))?.into_iter().collect(),
            }),
            tag => Err(unknown_tag("range command", tag)),
        }
    }
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
