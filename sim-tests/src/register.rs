//! The first workload's state machine: a map of independent registers (u64 keys
//! to u64 values) with put, get and compare-and-set, replicated by Raft.

use std::collections::BTreeMap;

use shardforge_core::encoding::{Reader, Writer};
use shardforge_core::node::StateMachine;
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

/// The replicated registers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegisterMachine {
    values: BTreeMap<u64, u64>,
}

impl RegisterMachine {
    pub fn new() -> RegisterMachine {
        RegisterMachine::default()
    }

    pub fn values(&self) -> &BTreeMap<u64, u64> {
        &self.values
    }
}

impl StateMachine for RegisterMachine {
    fn apply(&mut self, _index: LogIndex, command: &[u8]) -> Vec<u8> {
        // Clients of this workload only send well-formed commands; a malformed one
        // is ignored identically on every replica (a deterministic result).
        match RegisterCommand::decode(command) {
            Some(RegisterCommand::Put { key, value }) => {
                self.values.insert(key, value);
                Vec::new()
            }
            Some(RegisterCommand::CompareAndSet { key, expected, new }) => {
                let matches = self.values.get(&key).copied() == expected;
                if matches {
                    self.values.insert(key, new);
                }
                vec![u8::from(matches)]
            }
            None => vec![0xff],
        }
    }

    fn query(&self, query: &[u8]) -> Vec<u8> {
        let key = Reader::new(query).u64().unwrap_or(u64::MAX);
        let value = self.values.get(&key).copied();
        Writer::default().u8(u8::from(value.is_some())).u64(value.unwrap_or(0)).finish()
    }

    fn snapshot(&self) -> Vec<u8> {
        let mut writer = Writer::default();
        writer.u64(self.values.len() as u64);
        for (key, value) in &self.values {
            writer.u64(*key).u64(*value);
        }
        writer.finish()
    }

    fn restore(&mut self, data: &[u8]) {
        self.values.clear();
        if data.is_empty() {
            return;
        }
        let mut reader = Reader::new(data);
        let count = reader.u64().expect("snapshot written by this machine");
        for _ in 0..count {
            let key = reader.u64().expect("snapshot written by this machine");
            let value = reader.u64().expect("snapshot written by this machine");
            self.values.insert(key, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_apply_and_snapshots_round_trip() {
        let mut machine = RegisterMachine::new();
        machine.apply(LogIndex(1), &RegisterCommand::Put { key: 1, value: 10 }.encode());
        let failed =
            machine.apply(LogIndex(2), &RegisterCommand::CompareAndSet { key: 1, expected: None, new: 5 }.encode());
        assert!(!compare_and_set_succeeded(&failed));
        let ok = machine
            .apply(LogIndex(3), &RegisterCommand::CompareAndSet { key: 1, expected: Some(10), new: 11 }.encode());
        assert!(compare_and_set_succeeded(&ok));
        assert_eq!(decode_value(&machine.query(&encode_get(1))), Some(Some(11)));
        assert_eq!(decode_value(&machine.query(&encode_get(2))), Some(None));
        let mut copy = RegisterMachine::new();
        copy.restore(&machine.snapshot());
        assert_eq!(copy, machine);
    }
}
