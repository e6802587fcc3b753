//! The first workload's state machine: a map of independent registers (u64 keys
//! to u64 values) with put, get and compare-and-set, replicated by Raft.

use std::collections::BTreeMap;

use shardforge_core::encoding::{Reader, Writer};
use shardforge_core::replica::{Span, StateMachine};
use shardforge_core::storage::{Engine, StorageError, WriteBatch};
use shardforge_core::types::LogIndex;

const PUT: u8 = 1;
const COMPARE_AND_SET: u8 = 2;

/// A command to replicate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegisterCommand {
    Put { key: u64, value: u64 },
    CompareAndSet { key: u64, expected: Option<u64>, new: u64 },
}

impl RegisterCommand {
    pub fn encode(&self) -> Vec<u8> {
        let mut writer = Writer::default();
        match *self {
            RegisterCommand::Put { key, value } => writer.u8(PUT).u64(key).u64(value),
            RegisterCommand::CompareAndSet { key, expected, new } => {
                writer.u8(COMPARE_AND_SET).u64(key).u8(u8::from(expected.is_some())).u64(expected.unwrap_or(0)).u64(new)
            }
        };
        writer.finish()
    }

    fn decode(bytes: &[u8]) -> Option<RegisterCommand> {
        let mut reader = Reader::new(bytes);
        let command = match reader.u8().ok()? {
            PUT => RegisterCommand::Put { key: reader.u64().ok()?, value: reader.u64().ok()? },
            COMPARE_AND_SET => {
                let key = reader.u64().ok()?;
                let present = reader.u8().ok()? == 1;
                let expected = reader.u64().ok()?;
                RegisterCommand::CompareAndSet { key, expected: present.then_some(expected), new: reader.u64().ok()? }
            }
            _ => return None,
        };
        reader.finish().ok()?;
        Some(command)
    }
}

/// Encodes a read of `key`.
pub fn encode_get(key: u64) -> Vec<u8> {
    Writer::default().u64(key).finish()
}

/// Decodes the answer to a read: the value, if any.
pub fn decode_value(bytes: &[u8]) -> Option<Option<u64>> {
    let mut reader = Reader::new(bytes);
    let present = reader.u8().ok()?;
    let value = reader.u64().ok()?;
    Some((present == 1).then_some(value))
}

/// Whether a compare-and-set answer says it succeeded.
pub fn compare_and_set_succeeded(bytes: &[u8]) -> bool {
    bytes == [1]
}

/// The replicated registers, held in the node's engine under `register/`
/// (one key per register and `register/applied`) and mirrored in memory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegisterMachine {
    values: BTreeMap<u64, u64>,
}

const PREFIX: &[u8] = b"register/";
const APPLIED: &[u8] = b"register/applied";
const VALUES: &[u8] = b"register/value/";
const PREFIX_END: &[u8] = b"register0";

fn value_key(key: u64) -> Vec<u8> {
    [VALUES, &key.to_be_bytes()].concat()
}

impl RegisterMachine {
    pub fn new() -> RegisterMachine {
        RegisterMachine::default()
    }

    pub fn values(&self) -> &BTreeMap<u64, u64> {
        &self.values
    }

    /// The result of `command`, and the register it sets, if any.
    fn execute(&self, command: &[u8]) -> (Vec<u8>, Option<(u64, u64)>) {
        // Clients of this workload only send well-formed commands; a malformed one
        // is ignored identically on every replica (a deterministic result).
        match RegisterCommand::decode(command) {
            Some(RegisterCommand::Put { key, value }) => (Vec::new(), Some((key, value))),
            Some(RegisterCommand::CompareAndSet { key, expected, new }) => {
                let matches = self.values.get(&key).copied() == expected;
                (vec![u8::from(matches)], matches.then_some((key, new)))
            }
            None => (vec![0xff], None),
        }
    }
}

impl StateMachine for RegisterMachine {
    fn recover(&mut self, engine: &dyn Engine) -> LogIndex {
        let entries = engine.scan(VALUES, PREFIX_END, usize::MAX).expect("the simulated disk reads");
        self.values = entries
            .into_iter()
            .map(|(key, value)| {
                let key = u64::from_be_bytes(key[VALUES.len()..].try_into().expect("8-byte register keys"));
                (key, u64::from_be_bytes(value.try_into().expect("8-byte register values")))
            })
            .collect();
        match engine.get(APPLIED).expect("the simulated disk reads") {
            Some(bytes) => LogIndex(u64::from_be_bytes(bytes.try_into().expect("an 8-byte index"))),
            None => LogIndex(0),
        }
    }

    fn apply(&mut self, engine: &mut dyn Engine, index: LogIndex, command: &[u8]) -> Result<Vec<u8>, StorageError> {
        let (result, set) = self.execute(command);
        let mut batch = WriteBatch::default();
        if let Some((key, value)) = set {
            self.values.insert(key, value);
            batch.put(value_key(key), value.to_be_bytes().to_vec());
        }
        batch.put(APPLIED.to_vec(), index.0.to_be_bytes().to_vec());
        engine.write(batch)?;
        Ok(result)
    }

    fn query(&self, _engine: &dyn Engine, query: &[u8]) -> Vec<u8> {
        let key = Reader::new(query).u64().unwrap_or(u64::MAX);
        let value = self.values.get(&key).copied();
        Writer::default().u8(u8::from(value.is_some())).u64(value.unwrap_or(0)).finish()
    }

    fn spans(&self) -> Vec<Span> {
        vec![(PREFIX.to_vec(), PREFIX_END.to_vec())]
    }

    fn snapshot_header(&self) -> Vec<u8> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shardforge_core::storage::{IngestChunk, MemoryEngine};

    #[test]
    fn commands_apply_and_snapshots_and_restarts_round_trip() {
        let mut engine = MemoryEngine::new();
        let mut machine = RegisterMachine::new();
        machine.apply(&mut engine, LogIndex(1), &RegisterCommand::Put { key: 1, value: 10 }.encode()).unwrap();
        let cas = RegisterCommand::CompareAndSet { key: 1, expected: None, new: 5 };
        let failed = machine.apply(&mut engine, LogIndex(2), &cas.encode()).unwrap();
        assert!(!compare_and_set_succeeded(&failed));
        let cas = RegisterCommand::CompareAndSet { key: 1, expected: Some(10), new: 11 };
        let ok = machine.apply(&mut engine, LogIndex(3), &cas.encode()).unwrap();
        assert!(compare_and_set_succeeded(&ok));
        assert_eq!(decode_value(&machine.query(&engine, &encode_get(1))), Some(Some(11)));
        assert_eq!(decode_value(&machine.query(&engine, &encode_get(2))), Some(None));

        let mut restarted = RegisterMachine::new();
        assert_eq!(restarted.recover(&engine), LogIndex(3));
        assert_eq!(restarted, machine);

        // A snapshot is the machine's spans: ingested elsewhere, they are the same machine.
        let mut other = MemoryEngine::new();
        let mut stale = WriteBatch::default();
        stale.put(value_key(9), 9u64.to_be_bytes().to_vec());
        other.write(stale).unwrap();
        let view = engine.view().unwrap();
        for (start, end) in machine.spans() {
            let pairs = view.scan(&start, &end, usize::MAX).unwrap();
            other.stage(1, IngestChunk { start, end, pairs }).unwrap();
        }
        other.ingest(1).unwrap();
        let mut copy = RegisterMachine::new();
        assert_eq!(copy.recover(&other), LogIndex(3));
        assert_eq!(copy, machine, "the register the copy held before is gone");
    }
}
