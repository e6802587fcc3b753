//! The swarm's replicated state machine: a running digest of every entry
//! applied (index, term and payload, configuration entries included), so two
//! replicas agree on their whole history exactly when their digests at an index
//! agree, and the configurations committed along the way. A snapshot carries the
//! digest and the configuration at its index; a restore loads them, and the
//! invariants compare them with what the other replicas applied there and with
//! the configuration the snapshot's metadata claims.

use std::collections::BTreeMap;

use shardforge_core::encoding::{Reader, Writer};
use shardforge_core::raft::{Configuration, Entry, EntryPayload, Snapshot};
use shardforge_core::types::{LogIndex, NodeId};

/// The digest after each applied index, and each configuration committed, since
/// the snapshot it started from.
#[derive(Clone, Debug, Default)]
pub struct Machine {
    start: LogIndex,
    start_digest: u64,
    start_configuration: Configuration,
    digests: BTreeMap<LogIndex, u64>,
    configurations: BTreeMap<LogIndex, Configuration>,
}

impl Machine {
    /// The state a snapshot holds. Empty data is a group's first snapshot (or a
    /// joining node's): nothing applied, the metadata's voters in force.
    pub fn from_snapshot(snapshot: &Snapshot) -> Machine {
        let metadata = &snapshot.metadata;
        if snapshot.data.is_empty() {
            return Machine {
                start: metadata.index,
                start_configuration: metadata.configuration.clone(),
                ..Machine::default()
            };
        }
        let mut reader = Reader::new(&snapshot.data);
        let mut read = || reader.u64().expect("swarm snapshot data decodes");
        let (start, start_digest) = (LogIndex(read()), read());
        let voters: Vec<NodeId> = (0..read()).map(|_| NodeId(read())).collect();
        let start_configuration = Configuration::with_voters(voters);
        Machine { start, start_digest, start_configuration, ..Machine::default() }
    }

    /// The index applied last.
    pub fn applied_index(&self) -> LogIndex {
        self.digests.keys().next_back().copied().unwrap_or(self.start)
    }

    /// The digest of the whole history up to `index` (applied, at or after the start).
    pub fn digest_at(&self, index: LogIndex) -> u64 {
        if index == self.start {
            return self.start_digest;
        }
        *self.digests.get(&index).expect("digest asked for an index this machine applied")
    }

    /// The configuration committed as of `index` (applied, at or after the start).
    pub fn configuration_at(&self, index: LogIndex) -> &Configuration {
        assert!(index >= self.start && index <= self.applied_index(), "configuration asked for {index} not applied");
        self.configurations
            .range(..=index)
            .next_back()
            .map_or(&self.start_configuration, |(_, configuration)| configuration)
    }

    pub fn apply(&mut self, entry: &Entry) {
        let applied = self.applied_index();
        assert!(entry.index == applied.next(), "applied {} right after {applied}", entry.index);
        let mut digest = mix(self.digest_at(applied), entry.index.0);
        digest = mix(digest, entry.term.0);
        match &entry.payload {
            EntryPayload::Empty => digest = mix(digest, 0),
            EntryPayload::Command(command) => {
                digest = mix(digest, 1);
                digest = command.iter().fold(digest, |digest, byte| mix(digest, u64::from(*byte)));
            }
            EntryPayload::Configuration(configuration) => {
                digest = mix(digest, 2);
                digest = configuration.voters.iter().fold(digest, |digest, voter| mix(digest, voter.0));
                self.configurations.insert(entry.index, configuration.clone());
            }
        }
        self.digests.insert(entry.index, digest);
    }

    /// Snapshot data for the state as of `index`: the index, its digest, and the
    /// voters committed as of it.
    pub fn encode_at(&self, index: LogIndex) -> Vec<u8> {
        let configuration = self.configuration_at(index);
        let mut writer = Writer::default();
        writer.u64(index.0).u64(self.digest_at(index)).u64(configuration.voters.len() as u64);
        for voter in &configuration.voters {
            writer.u64(voter.0);
        }
        writer.finish()
    }
}

/// One step of a 64-bit mixing function (splitmix64's finaliser over a sum):
/// deterministic, order-sensitive, and collisions are negligible at swarm sizes.
fn mix(state: u64, value: u64) -> u64 {
    let mut z = state.wrapping_add(value).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use shardforge_core::raft::SnapshotMetadata;
    use shardforge_core::types::Term;

    use super::*;

    fn entry(index: u64, term: u64, command: &[u8]) -> Entry {
        Entry { index: LogIndex(index), term: Term(term), payload: EntryPayload::Command(command.to_vec()) }
    }

    #[test]
    fn digests_differ_when_any_entry_differs_and_survive_a_snapshot() {
        let (mut a, mut b) = (Machine::default(), Machine::default());
        a.apply(&entry(1, 1, b"x"));
        b.apply(&entry(1, 2, b"x"));
        assert_ne!(a.digest_at(LogIndex(1)), b.digest_at(LogIndex(1)), "a different term is a different entry");
        let metadata = SnapshotMetadata { index: LogIndex(1), term: Term(1), configuration: Configuration::default() };
        let mut restored = Machine::from_snapshot(&Snapshot { metadata, data: a.encode_at(LogIndex(1)) });
        a.apply(&entry(2, 1, b"y"));
        restored.apply(&entry(2, 1, b"y"));
        assert_eq!(a.digest_at(LogIndex(2)), restored.digest_at(LogIndex(2)));
    }
}
