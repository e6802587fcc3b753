//! The swarm's replicated state machine: a running digest of every entry
//! applied (index, term and payload, configuration entries included), so two
//! replicas agree on their whole history exactly when their digests at an index
//! agree. A snapshot carries the digest at its index; a restore loads it, and
//! the invariants compare it with what the other replicas applied there.

use std::collections::BTreeMap;

use shardforge_core::raft::{Entry, EntryPayload};
use shardforge_core::types::LogIndex;

/// The digest after each applied index since the snapshot it started from.
#[derive(Clone, Debug, Default)]
pub struct Machine {
    start: LogIndex,
    start_digest: u64,
    digests: BTreeMap<LogIndex, u64>,
}

impl Machine {
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
            }
        }
        self.digests.insert(entry.index, digest);
    }

    /// Snapshot data for the state as of `index`: the index and its digest.
    pub fn encode_at(&self, index: LogIndex) -> Vec<u8> {
        [index.0.to_be_bytes(), self.digest_at(index).to_be_bytes()].concat()
    }

    /// The state a snapshot holds; empty data is the state before any entry.
    pub fn decode(data: &[u8]) -> Machine {
        if data.is_empty() {
            return Machine::default();
        }
        assert!(data.len() == 16, "swarm snapshot data is an index and a digest");
        let index = LogIndex(u64::from_be_bytes(data[..8].try_into().expect("eight bytes")));
        let digest = u64::from_be_bytes(data[8..].try_into().expect("eight bytes"));
        Machine { start: index, start_digest: digest, digests: BTreeMap::new() }
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
        let mut restored = Machine::decode(&a.encode_at(LogIndex(1)));
        a.apply(&entry(2, 1, b"y"));
        restored.apply(&entry(2, 1, b"y"));
        assert_eq!(a.digest_at(LogIndex(2)), restored.digest_at(LogIndex(2)));
    }
}
