//! The Raft log as one node holds it in memory: a snapshot, the entries after it,
//! and the marks that say which entries are durable, committed and applied.
//!
//! Invariants, asserted where they could break:
//! `snapshot index <= applied <= commit <= last index`, and
//! `stable index <= last index`. Entries at or below the commit index are never
//! truncated: that would be a committed entry lost.

use super::configuration::ConfigurationHistory;
use super::message::{Configuration, Entry, EntryPayload, Snapshot, SnapshotMetadata};
use crate::types::{LogIndex, Term};

/// The in-memory log of one Raft node.
#[derive(Debug)]
pub struct RaftLog {
    snapshot: Snapshot,
    /// Entries `snapshot.index + 1 ..= last_index()`.
    entries: Vec<Entry>,
    /// Entries up to here have been handed to the runtime for persistence.
    stable_index: LogIndex,
    commit_index: LogIndex,
    applied_index: LogIndex,
    configurations: ConfigurationHistory,
}

impl RaftLog {
    /// The log recovered from storage: a snapshot and the entries that follow
    /// it, with entries up to `applied_index` already applied (when above the
    /// snapshot).
    pub fn recover(
        snapshot: Snapshot,
        entries: Vec<Entry>,
        commit_index: LogIndex,
        applied_index: LogIndex,
    ) -> RaftLog {
        let snapshot_index = snapshot.metadata.index;
        let mut configurations = ConfigurationHistory::new(snapshot_index, snapshot.metadata.configuration.clone());
        for (offset, entry) in entries.iter().enumerate() {
            assert_eq!(entry.index.0, snapshot_index.0 + 1 + offset as u64, "recovered log has a gap");
            if let EntryPayload::Configuration(configuration) = &entry.payload {
                configurations.push(entry.index, configuration.clone());
            }
        }
        let last_index = LogIndex(snapshot_index.0 + entries.len() as u64);
        // A commit index beyond the recovered log means its tail was lost: only the
        // entries we still hold can be known committed.
        let commit_index = commit_index.clamp(snapshot_index, last_index);
        // The state machine writes its applied index after the entries and the
        // commit index it covers, into the same engine: a crash cannot keep the
        // one without the others.
        assert!(
            applied_index <= commit_index,
            "the state machine applied {applied_index} but the durable log commits only {commit_index}"
        );
        let applied_index = applied_index.max(snapshot_index);
        RaftLog { snapshot, entries, stable_index: last_index, commit_index, applied_index, configurations }
    }

    pub fn last_index(&self) -> LogIndex {
        LogIndex(self.snapshot.metadata.index.0 + self.entries.len() as u64)
    }

    pub fn last_term(&self) -> Term {
        self.entries.last().map_or(self.snapshot.metadata.term, |entry| entry.term)
    }

    pub fn commit_index(&self) -> LogIndex {
        self.commit_index
    }

    pub fn applied_index(&self) -> LogIndex {
        self.applied_index
    }

    pub fn stable_index(&self) -> LogIndex {
        self.stable_index
    }

    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    pub fn snapshot_index(&self) -> LogIndex {
        self.snapshot.metadata.index
    }

    /// The configuration in force (the newest appended).
    pub fn configuration(&self) -> &Configuration {
        self.configurations.current()
    }

    /// The configuration in force at `index` (at or after the snapshot).
    pub fn configuration_at(&self, index: LogIndex) -> &Configuration {
        self.configurations.at(index)
    }

    /// The index of the newest configuration entry (or of the snapshot holding it).
    pub fn configuration_index(&self) -> LogIndex {
        self.configurations.current_index()
    }

    /// The term of the entry at `index`, if the log still knows it.
    pub fn term(&self, index: LogIndex) -> Option<Term> {
        let snapshot_index = self.snapshot_index();
        if index == snapshot_index {
            return Some(self.snapshot.metadata.term);
        }
        if index < snapshot_index || index > self.last_index() {
            return None;
        }
        Some(self.entries[(index.0 - snapshot_index.0 - 1) as usize].term)
    }

    /// Whether the log holds an entry at `index` with `term`.
    pub fn matches(&self, index: LogIndex, term: Term) -> bool {
        self.term(index) == Some(term)
    }

    /// Whether a candidate whose log ends at `(last_index, last_term)` is at least
    /// as up to date as this log (Raft's election restriction).
    pub fn is_up_to_date(&self, last_index: LogIndex, last_term: Term) -> bool {
        (last_term, last_index) >= (self.last_term(), self.last_index())
    }

    /// Up to `count_max` entries from `from`, stopping before `bytes_max` is passed
    /// (but always at least one entry when any exists).
    pub fn slice(&self, from: LogIndex, count_max: usize, bytes_max: usize) -> Vec<Entry> {
        assert!(from > self.snapshot_index(), "slice starts inside the snapshot");
        let start = (from.0 - self.snapshot_index().0 - 1) as usize;
        let mut bytes = 0;
        let mut slice = Vec::new();
        for entry in self.entries.iter().skip(start).take(count_max) {
            bytes += entry.size_bytes();
            if !slice.is_empty() && bytes > bytes_max {
                break;
            }
            slice.push(entry.clone());
        }
        slice
    }

    /// The first index holding `term`, searching back from `index`.
    pub fn first_index_of_term(&self, index: LogIndex, term: Term) -> LogIndex {
        let mut first = index;
        while first.previous() > self.snapshot_index() && self.term(first.previous()) == Some(term) {
            first = first.previous();
        }
        first
    }

    /// The last index holding `term`, if any entry has it.
    pub fn last_index_of_term(&self, term: Term) -> Option<LogIndex> {
        self.entries.iter().rev().find(|entry| entry.term == term).map(|entry| entry.index)
    }

    /// Appends a new entry as leader; returns its index.
    pub fn append_new(&mut self, term: Term, payload: EntryPayload) -> LogIndex {
        let index = self.last_index().next();
        if let EntryPayload::Configuration(configuration) = &payload {
            self.configurations.push(index, configuration.clone());
        }
        self.entries.push(Entry { index, term, payload });
        index
    }

    /// Merges entries received from the leader after a matching previous entry:
    /// existing entries with the same term are kept, the first conflict truncates
    /// the rest of the log. Returns the index of the last entry received.
    pub fn append_received(&mut self, previous_index: LogIndex, entries: Vec<Entry>) -> LogIndex {
        let last_received = LogIndex(previous_index.0 + entries.len() as u64);
        for entry in entries {
            if entry.index <= self.snapshot_index() || self.matches(entry.index, entry.term) {
                continue;
            }
            if entry.index <= self.last_index() {
                self.truncate_from(entry.index);
            }
            assert_eq!(entry.index, self.last_index().next(), "received entries leave a gap");
            if let EntryPayload::Configuration(configuration) = &entry.payload {
                self.configurations.push(entry.index, configuration.clone());
            }
            self.entries.push(entry);
        }
        last_received
    }

    fn truncate_from(&mut self, index: LogIndex) {
        assert!(index > self.commit_index, "truncating committed entry {index} (commit {})", self.commit_index);
        self.entries.truncate((index.0 - self.snapshot_index().0 - 1) as usize);
        self.configurations.truncate_from(index);
        self.stable_index = self.stable_index.min(index.previous());
    }

    /// Advances the commit index; it never moves back.
    pub fn commit_to(&mut self, index: LogIndex) {
        assert!(index <= self.last_index(), "commit {index} beyond last index {}", self.last_index());
        self.commit_index = self.commit_index.max(index);
    }

    /// Entries not yet handed to the runtime for persistence.
    pub fn unstable_entries(&self) -> &[Entry] {
        let start = (self.stable_index.0.max(self.snapshot_index().0) - self.snapshot_index().0) as usize;
        &self.entries[start..]
    }

    /// Records that entries up to `index` are durable.
    pub fn stable_to(&mut self, index: LogIndex) {
        self.stable_index = self.stable_index.max(index.min(self.last_index()));
    }

    /// Committed entries not yet applied.
    pub fn entries_to_apply(&self) -> Vec<Entry> {
        if self.commit_index <= self.applied_index {
            return Vec::new();
        }
        let count = (self.commit_index.0 - self.applied_index.0) as usize;
        self.slice(self.applied_index.next(), count, usize::MAX)
    }

    /// Records that entries up to `index` were applied.
    pub fn applied_to(&mut self, index: LogIndex) {
        assert!(index <= self.commit_index, "applying {index} beyond commit {}", self.commit_index);
        self.applied_index = self.applied_index.max(index);
    }

    /// Replaces the log prefix up to `index` (which must be applied) with a snapshot.
    pub fn compact(&mut self, index: LogIndex, data: Vec<u8>) -> Snapshot {
        assert!(index <= self.applied_index, "compacting unapplied entries");
        assert!(index > self.snapshot_index(), "compacting to an older snapshot");
        let term = self.term(index).expect("compaction index is in the log");
        let configuration = self.configurations.at(index).clone();
        let dropped = (index.0 - self.snapshot_index().0) as usize;
        self.entries.drain(..dropped);
        self.configurations.compact_to(index);
        self.snapshot = Snapshot { metadata: SnapshotMetadata { index, term, configuration }, data };
        self.snapshot.clone()
    }

    /// Replaces the whole log with a snapshot received from the leader.
    pub fn restore(&mut self, snapshot: Snapshot) {
        assert!(snapshot.metadata.index > self.commit_index, "restoring a snapshot behind the commit index");
        let index = snapshot.metadata.index;
        self.configurations = ConfigurationHistory::new(index, snapshot.metadata.configuration.clone());
        self.entries.clear();
        self.snapshot = snapshot;
        self.stable_index = index;
        self.commit_index = index;
        self.applied_index = index;
    }
}
