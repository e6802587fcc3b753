//! The durable key layout of a node's engine: every kind of key, its prefix,
//! and the one parser of the keys a runtime must tell apart. The core builds
//! its keys from these (`raft::persistence`, `range::stored`, [`super::mvcc`]);
//! runtime-tokio's RocksDB engine sorts keys into column families with
//! [`DurableKey::parse`] instead of re-parsing bytes of its own.
//!
//! | prefix | what | written by |
//! |---|---|---|
//! | `installed/<group>` | the last snapshot ingested into a group | `raft::persistence` |
//! | `mvcc/<user key><tag>…` | MVCC versions and intents, one space for all ranges | [`super::mvcc`] |
//! | `node/…` | the node's identity | the runtime |
//! | `raft/<group>/log/<index>` | one Raft log entry | `raft::persistence` |
//! | `raft/<group>/<name>` | hard state, snapshot metadata, tombstone | `raft::persistence` |
//! | `range/<range>/…` | a range's local keys: head, applied index, records, cache | `range::stored` |
//!
//! Numbers are 8 big-endian bytes, so keys sort by them; `<group>` is followed
//! by `/`. Ranges of snapshots hold only `mvcc/`, `range/` and `installed/`
//! keys, never `raft/` ones.

use crate::types::LogIndex;

/// A prefix and the first key past every key that starts with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prefix {
    pub start: &'static [u8],
    pub end: &'static [u8],
}

impl Prefix {
    /// Whether `start..end` holds any key with this prefix.
    pub fn overlaps(&self, start: &[u8], end: &[u8]) -> bool {
        start < self.end && end > self.start
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        key.starts_with(self.start)
    }
}

pub const INSTALLED: Prefix = Prefix { start: b"installed/", end: b"installed0" };
pub const MVCC: Prefix = Prefix { start: b"mvcc/", end: b"mvcc0" };
pub const RAFT: Prefix = Prefix { start: b"raft/", end: b"raft0" };
pub const RANGE_LOCAL: Prefix = Prefix { start: b"range/", end: b"range0" };

/// The name of a group's log within its prefix: `raft/<group>/log/<index>`.
const LOG: &[u8] = b"log/";
const GROUP_BYTES: usize = 8;

/// A key, as the layout classifies it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DurableKey<'a> {
    /// `raft/<group>/log/<index>`.
    RaftLog { group: u64, index: LogIndex },
    /// Any other `raft/<group>/<name>` key (hard state, snapshot, tombstone).
    RaftState { group: u64, name: &'a [u8] },
    /// A `raft/` key of no group (a malformed key or a bound like `raft/` itself).
    RaftOther,
    /// Everything else: range state and the node's own keys.
    Data,
}

impl DurableKey<'_> {
    pub fn parse(key: &[u8]) -> DurableKey<'_> {
        let Some(rest) = key.strip_prefix(RAFT.start) else { return DurableKey::Data };
        let (Some(group), Some(b'/')) = (rest.get(..GROUP_BYTES), rest.get(GROUP_BYTES)) else {
            return DurableKey::RaftOther;
        };
        let group = u64::from_be_bytes(group.try_into().expect("eight bytes"));
        let name = &rest[GROUP_BYTES + 1..];
        match name.strip_prefix(LOG).map(<[u8; 8]>::try_from) {
            Some(Ok(index)) => DurableKey::RaftLog { group, index: LogIndex(u64::from_be_bytes(index)) },
            _ => DurableKey::RaftState { group, name },
        }
    }
}

/// `raft/<group>/`: the prefix of every Raft key of `group`.
pub fn raft_group(group: u64) -> Vec<u8> {
    [RAFT.start, &group.to_be_bytes(), b"/"].concat()
}

/// `raft/<group>/<name>`.
pub fn raft_state(group: u64, name: &[u8]) -> Vec<u8> {
    [&raft_group(group)[..], name].concat()
}

/// `raft/<group>/log/<index>`.
pub fn raft_log(group: u64, index: LogIndex) -> Vec<u8> {
    [&raft_group(group)[..], LOG, &index.0.to_be_bytes()].concat()
}

/// The bounds of every log key of `group`.
pub fn raft_log_span(group: u64) -> (Vec<u8>, Vec<u8>) {
    (raft_state(group, LOG), raft_state(group, b"log0"))
}

/// `installed/<group>`.
pub fn installed(group: u64) -> Vec<u8> {
    [INSTALLED.start, &group.to_be_bytes()].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_back_to_what_built_them() {
        assert_eq!(DurableKey::parse(&raft_log(7, LogIndex(3))), DurableKey::RaftLog { group: 7, index: LogIndex(3) });
        assert_eq!(
            DurableKey::parse(&raft_state(7, b"hard_state")),
            DurableKey::RaftState { group: 7, name: b"hard_state" }
        );
        assert_eq!(DurableKey::parse(b"raft/"), DurableKey::RaftOther);
        assert_eq!(DurableKey::parse(b"node/identity"), DurableKey::Data);
        assert_eq!(DurableKey::parse(&installed(7)), DurableKey::Data);
        // A log key with a short index is not an entry.
        let short = [&raft_group(7)[..], b"log/", &[1, 2]].concat();
        assert!(matches!(DurableKey::parse(&short), DurableKey::RaftState { group: 7, .. }));
    }

    #[test]
    fn log_keys_sort_by_index_inside_their_span() {
        let (start, end) = raft_log_span(2);
        let keys: Vec<_> = [0, 1, 255, 256, u64::MAX].map(|index| raft_log(2, LogIndex(index))).into();
        assert!(keys.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(keys.iter().all(|key| start <= *key && *key < end));
        assert!(raft_state(2, b"hard_state") < start || raft_state(2, b"hard_state") >= end);
    }

    #[test]
    fn prefixes_overlap_only_spans_reaching_them() {
        assert!(RAFT.overlaps(b"a", b"z"));
        assert!(!RAFT.overlaps(b"mvcc/", b"mvcc0"));
        assert!(!RAFT.overlaps(b"raft0", b"s"));
        assert!(RAFT.overlaps(b"raft/\x00", b"raft/\x01"));
    }
}
