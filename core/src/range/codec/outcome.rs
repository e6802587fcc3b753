//! The codec of a command's outcome, `Result<RangeResponse, CommandError>`, as a
//! replica hands it back to the client that proposed the command.
//!
//! | value | tags |
//! |---|---|
//! | outcome | 0 `Ok` + response, 1 `Err` + error |
//! | `RangeResponse` | 0 `Value`, 1 `Rows`, 2 `Written`, 3 `Resolved`, 4 `Refreshed`, 5 `Record`, 6 `Pushed`, 7 `Split` |
//! | `CommandError` | 0 `Range`, 1 `WriteIntent`, 2 `Uncertain`, 3 `TransactionAborted`, 4 `CommitTimestampPushed`, 5 `BelowGarbageCollectionThreshold`, 6 `Invalid`, 7 `ClockOffset` |
//! | `RangeError` | 0 `KeyOutsideRange`, 1 `StaleDescriptor` |

use super::*;
use crate::range::{CommandError, RangeError, RangeResponse};
use crate::storage::mvcc::Intent;

/// Encodes a command's outcome.
pub fn encode_outcome(outcome: &Result<RangeResponse, CommandError>) -> Vec<u8> {
    let mut writer = Writer::default();
    match outcome {
        Ok(response) => write_response(writer.u8(0), response),
        Err(error) => write_error(writer.u8(1), error),
    };
    writer.finish()
}

/// Decodes what [`encode_outcome`] wrote.
pub fn decode_outcome(bytes: &[u8]) -> Result<Result<RangeResponse, CommandError>, DecodeError> {
    decode_whole(bytes, |reader| match reader.u8()? {
        0 => Ok(Ok(read_response(reader)?)),
        1 => Ok(Err(read_error(reader)?)),
        tag => Err(unknown_tag("outcome", tag)),
    })
}

fn write_descriptor<'w>(writer: &'w mut Writer, descriptor: &RangeDescriptor) -> &'w mut Writer {
    writer.bytes(&descriptor.encode())
}

fn write_response<'w>(writer: &'w mut Writer, response: &RangeResponse) -> &'w mut Writer {
    match response {
        RangeResponse::Value { value, version } => writer
            .u8(0)
            .option(value.as_ref(), |writer, value| writer.bytes(value))
            .option(version.as_ref(), |writer, version| writer.timestamp(*version)),
        RangeResponse::Rows { rows, newest_version } => writer
            .u8(1)
            .vector(rows, |writer, (key, value)| writer.bytes(key).bytes(value))
            .option(newest_version.as_ref(), |writer, version| writer.timestamp(*version)),
        RangeResponse::Written { timestamp } => writer.u8(2).timestamp(*timestamp),
        RangeResponse::Resolved { found } => writer.u8(3).u8(u8::from(*found)),
        RangeResponse::Refreshed { changed } => writer.u8(4).u8(u8::from(*changed)),
        RangeResponse::Record(record) => writer.u8(5).record(record),
        RangeResponse::Pushed { record, succeeded } => writer.u8(6).record(record).u8(u8::from(*succeeded)),
        RangeResponse::Split { left, right } => write_descriptor(write_descriptor(writer.u8(7), left), right),
        RangeResponse::Collected { versions } => writer.u8(8).u64(*versions),
        RangeResponse::MetaUpdated { recorded } => writer.u8(9).u64(*recorded),
        RangeResponse::Descriptor(descriptor) => {
            writer.u8(10).option(descriptor.as_ref(), |writer, descriptor| writer.bytes(&descriptor.encode()))
        }
    }
}

fn write_error<'w>(writer: &'w mut Writer, error: &CommandError) -> &'w mut Writer {
    match error {
        CommandError::Range(RangeError::KeyOutsideRange { key, descriptor }) => {
            write_descriptor(writer.u8(0).u8(0).key(key), descriptor)
        }
        CommandError::Range(RangeError::StaleDescriptor { generation, descriptor }) => {
            write_descriptor(writer.u8(0).u8(1).u64(*generation), descriptor)
        }
        CommandError::WriteIntent { key, intent } => {
            writer.u8(1).key(key).u128(intent.transaction.0).bytes(&intent.anchor).timestamp(intent.timestamp);
            writer.u64(u64::from(intent.sequence));
            writer.option(intent.value.as_ref(), |writer, value| writer.bytes(value))
        }
        CommandError::Uncertain { key, existing } => writer.u8(2).key(key).timestamp(*existing),
        CommandError::TransactionAborted { transaction } => writer.u8(3).u128(transaction.0),
        CommandError::CommitTimestampPushed { minimum } => writer.u8(4).timestamp(*minimum),
        CommandError::BelowGarbageCollectionThreshold { threshold } => writer.u8(5).timestamp(*threshold),
        CommandError::Invalid { reason } => writer.u8(6).bytes(reason.as_bytes()),
        CommandError::ClockOffset => writer.u8(7),
    }
}

fn read_bool(reader: &mut BoundedReader<'_>) -> Result<bool, DecodeError> {
    match reader.u8()? {
        0 => Ok(false),
        1 => Ok(true),
        tag => Err(unknown_tag("boolean", tag)),
    }
}

fn read_descriptor(reader: &mut BoundedReader<'_>) -> Result<RangeDescriptor, DecodeError> {
    RangeDescriptor::decode(reader.bytes()?)
}

fn read_response(reader: &mut BoundedReader<'_>) -> Result<RangeResponse, DecodeError> {
    Ok(match reader.u8()? {
        0 => RangeResponse::Value {
            value: reader.option(|reader| Ok(reader.bytes()?.to_vec()))?,
            version: reader.option(BoundedReader::timestamp)?,
        },
        1 => RangeResponse::Rows {
            rows: reader.vector(KEY_VALUE_BYTES_MIN, BoundedReader::key_value)?,
            newest_version: reader.option(BoundedReader::timestamp)?,
        },
        2 => RangeResponse::Written { timestamp: reader.timestamp()? },
        3 => RangeResponse::Resolved { found: read_bool(reader)? },
        4 => RangeResponse::Refreshed { changed: read_bool(reader)? },
        5 => RangeResponse::Record(reader.record()?),
        6 => RangeResponse::Pushed { record: reader.record()?, succeeded: read_bool(reader)? },
        7 => RangeResponse::Split { left: read_descriptor(reader)?, right: read_descriptor(reader)? },
        8 => RangeResponse::Collected { versions: reader.u64()? },
        9 => RangeResponse::MetaUpdated { recorded: reader.u64()? },
        10 => RangeResponse::Descriptor(reader.option(read_descriptor)?),
        tag => return Err(unknown_tag("response", tag)),
    })
}

fn read_error(reader: &mut BoundedReader<'_>) -> Result<CommandError, DecodeError> {
    Ok(match reader.u8()? {
        0 => CommandError::Range(match reader.u8()? {
            0 => RangeError::KeyOutsideRange { key: reader.key()?, descriptor: read_descriptor(reader)? },
            1 => RangeError::StaleDescriptor { generation: reader.u64()?, descriptor: read_descriptor(reader)? },
            tag => return Err(unknown_tag("range error", tag)),
        }),
        1 => {
            let key = reader.key()?;
            let transaction = reader.transaction()?;
            let anchor = reader.bytes()?.to_vec();
            let timestamp = reader.timestamp()?;
            let sequence = reader.sequence()?;
            let value = reader.option(|reader| Ok(reader.bytes()?.to_vec()))?;
            CommandError::WriteIntent { key, intent: Intent { transaction, anchor, timestamp, value, sequence } }
        }
        2 => CommandError::Uncertain { key: reader.key()?, existing: reader.timestamp()? },
        3 => CommandError::TransactionAborted { transaction: reader.transaction()? },
        4 => CommandError::CommitTimestampPushed { minimum: reader.timestamp()? },
        5 => CommandError::BelowGarbageCollectionThreshold { threshold: reader.timestamp()? },
        6 => {
            let reason =
                String::from_utf8(reader.bytes()?.to_vec()).map_err(|_| DecodeError("reason is not UTF-8".into()))?;
            CommandError::Invalid { reason }
        }
        7 => CommandError::ClockOffset,
        tag => return Err(unknown_tag("command error", tag)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::NodeId;

    #[test]
    fn outcomes_round_trip_and_garbage_is_an_error() {
        let descriptor = RangeDescriptor::whole_key_space(RangeId(1), [NodeId(1)].into());
        let (left, right) = descriptor.split(&Key(b"m".to_vec()), RangeId(2)).unwrap();
        let intent = Intent {
            transaction: TransactionId(7 << 70 | 3),
            anchor: b"a".to_vec(),
            timestamp: Timestamp { wall_nanos: 5, logical: 1 },
            value: Some(b"v".to_vec()),
            sequence: 3,
        };
        let outcomes: Vec<Result<RangeResponse, CommandError>> = vec![
            Ok(RangeResponse::Value { value: None, version: None }),
            Ok(RangeResponse::Value {
                value: Some(b"x".to_vec()),
                version: Some(Timestamp { wall_nanos: 7, logical: 1 }),
            }),
            Ok(RangeResponse::Rows {
                rows: vec![(b"k".to_vec(), b"v".to_vec())],
                newest_version: Some(Timestamp { wall_nanos: 9, logical: 0 }),
            }),
            Ok(RangeResponse::Written { timestamp: Timestamp { wall_nanos: 9, logical: 2 } }),
            Ok(RangeResponse::Resolved { found: true }),
            Ok(RangeResponse::Refreshed { changed: false }),
            Ok(RangeResponse::Split { left: left.clone(), right: right.clone() }),
            Ok(RangeResponse::Collected { versions: 7 }),
            Ok(RangeResponse::MetaUpdated { recorded: 2 }),
            Ok(RangeResponse::Descriptor(None)),
            Ok(RangeResponse::Descriptor(Some(right))),
            Err(CommandError::Range(RangeError::KeyOutsideRange { key: Key(b"q".to_vec()), descriptor: left.clone() })),
            Err(CommandError::Range(RangeError::StaleDescriptor { generation: 0, descriptor: left })),
            Err(CommandError::WriteIntent { key: Key(b"k".to_vec()), intent }),
            Err(CommandError::Uncertain { key: Key(b"k".to_vec()), existing: Timestamp::default() }),
            Err(CommandError::TransactionAborted { transaction: TransactionId(1) }),
            Err(CommandError::CommitTimestampPushed { minimum: Timestamp::default() }),
            Err(CommandError::BelowGarbageCollectionThreshold { threshold: Timestamp::default() }),
            Err(CommandError::Invalid { reason: "no".into() }),
            Err(CommandError::ClockOffset),
        ];
        for outcome in outcomes {
            let bytes = encode_outcome(&outcome);
            assert_eq!(decode_outcome(&bytes), Ok(outcome));
            for length in 0..bytes.len() {
                assert!(decode_outcome(&bytes[..length]).is_err(), "a truncated outcome must not decode");
            }
        }
        assert!(decode_outcome(&[9]).is_err());
    }
}
