//! How a Raft node's durable state is laid out in an [`Engine`], shared by every
//! runtime: `persist` writes one [`Ready`] as one atomic batch, `recover` reads
//! the state back after a restart.
//!
//! Keys, under a prefix per Raft group ([`GroupKeys`]) so that many groups can
//! share one engine: `<group>hard_state`, `<group>snapshot`, and
//! `<group>log/<index as 8 big-endian bytes>` so entries sort by index. A whole
//! `Ready` is one batch, so a crash that keeps a prefix of unsynced batches always
//! leaves a log without holes. One more key per group lives outside `raft/`:
//! `installed/<group>`, the metadata of the last snapshot ingested, written
//! inside the ingestion itself so that recovery can finish an install a crash
//! interrupted before its Raft batch ([`roll_forward_install`]).

use super::message::{Configuration, Entry, EntryPayload, HardState, Snapshot, SnapshotMetadata};
use super::node::RecoveredState;
use super::ready::{Ready, SnapshotToPersist};
use crate::encoding::{DecodeError, Reader, Writer};
use crate::storage::layout::{self, DurableKey};
use crate::storage::{Engine, IngestChunk, StorageError, WriteBatch};
use crate::types::{LogIndex, NodeId, Term};

/// Where one Raft group's state lives in an engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupKeys {
    group: u64,
    /// `installed/<group>`: outside `raft/`, because it is ingested with the
    /// state machine's data (see [`installed_chunk`]).
    installed: Vec<u8>,
}

/// The name of a group's snapshot marker (`raft/<group>/snapshot`).
const SNAPSHOT: &[u8] = b"snapshot";

impl GroupKeys {
    /// The keys of group `group`; groups never share a prefix.
    pub fn new(group: u64) -> GroupKeys {
        GroupKeys { group, installed: layout::installed(group) }
    }

    fn key(&self, name: &[u8]) -> Vec<u8> {
        layout::raft_state(self.group, name)
    }

    fn hard_state(&self) -> Vec<u8> {
        self.key(b"hard_state")
    }

    fn snapshot(&self) -> Vec<u8> {
        self.key(SNAPSHOT)
    }

    fn tombstone(&self) -> Vec<u8> {
        self.key(b"tombstone")
    }

    fn log_start(&self) -> Vec<u8> {
        layout::raft_log_span(self.group).0
    }

    fn log_end(&self) -> Vec<u8> {
        layout::raft_log_span(self.group).1
    }

    fn log(&self, index: LogIndex) -> Vec<u8> {
        layout::raft_log(self.group, index)
    }
}

/// The groups that have state in `engine`: those with a stored snapshot (every
/// group has one from its start). Scans every Raft key: fine while stores hold
/// few ranges; a registry key per group comes when that changes.
pub fn groups(engine: &(impl Engine + ?Sized)) -> Result<Vec<u64>, StorageError> {
    let mut groups = Vec::new();
    for (key, _) in engine.scan(layout::RAFT.start, layout::RAFT.end, usize::MAX)? {
        if let DurableKey::RaftState { group, name: SNAPSHOT } = DurableKey::parse(&key) {
            groups.push(group);
        }
    }
    Ok(groups)
}

/// Whether `engine` holds any state of the group (a hard state or a snapshot).
pub fn exists(engine: &(impl Engine + ?Sized), keys: &GroupKeys) -> Result<bool, StorageError> {
    Ok(engine.get(&keys.hard_state())?.is_some() || engine.get(&keys.snapshot())?.is_some())
}

/// Whether the group's replica holds a snapshot marker: it was initialized
/// (by a split, a bootstrap or an install), not merely created by a message
/// or left as a tombstone.
pub fn initialized(engine: &(impl Engine + ?Sized), keys: &GroupKeys) -> Result<bool, StorageError> {
    Ok(engine.get(&keys.snapshot())?.is_some())
}

/// Writes the persistent part of `ready` as one batch, and syncs when it asks.
pub fn persist(engine: &mut (impl Engine + ?Sized), keys: &GroupKeys, ready: &Ready) -> Result<(), StorageError> {
    write(engine, keys, ready)?;
    if ready.sync {
        engine.sync()?;
    }
    Ok(())
}

/// Writes the persistent part of `ready` as one batch without syncing: runtimes
/// that group-commit write several readies, then sync once.
pub fn write(engine: &mut (impl Engine + ?Sized), keys: &GroupKeys, ready: &Ready) -> Result<(), StorageError> {
    if !ready.has_persistence() {
        return Ok(());
    }
    engine.write(batch(keys, ready, SnapshotData::Stored))
}

/// Whether a snapshot's data is stored with the Raft state, or left out
/// because the state machine keeps its state in the engine itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnapshotData {
    Stored,
    Omitted,
}

/// The persistent part of `ready` as one batch (empty when there is none).
pub fn batch(keys: &GroupKeys, ready: &Ready, data: SnapshotData) -> WriteBatch {
    let mut batch = WriteBatch::default();
    if let Some(to_persist) = &ready.snapshot {
        let snapshot = &to_persist.snapshot;
        let stored = match data {
            SnapshotData::Stored => encode_snapshot(snapshot),
            SnapshotData::Omitted => {
                encode_snapshot(&Snapshot { metadata: snapshot.metadata.clone(), data: Vec::new() })
            }
        };
        batch.put(keys.snapshot(), stored);
        // A received snapshot replaces the whole log; a local one only its prefix.
        let end = if to_persist.restore { keys.log_end() } else { keys.log(snapshot.metadata.index.next()) };
        batch.delete_range(keys.log_start(), end);
    }
    if let Some(last) = ready.entries.last() {
        for entry in &ready.entries {
            batch.put(keys.log(entry.index), encode_entry(entry));
        }
        // Entries after the new last one belonged to a truncated suffix.
        batch.delete_range(keys.log(last.index.next()), keys.log_end());
    }
    if let Some(hard_state) = &ready.hard_state {
        batch.put(keys.hard_state(), encode_hard_state(hard_state));
    }
    batch
}

/// The batch that deletes a group's log and snapshot once this node has been
/// removed from it by the configuration at `removal` (applied here), leaving
/// a tombstone: the hard state, its commit index reset, and the removal's
/// index. A replica created again for the group (the range moved back) starts
/// from the term and vote its former self persisted, so it never votes twice
/// in one term; [`tombstone`] lets the store refuse the votes of its old
/// group; and the group is no longer listed by [`groups`], so a restart does
/// not start it.
pub fn destroy(keys: &GroupKeys, hard_state: HardState, removal: LogIndex) -> WriteBatch {
    let mut batch = WriteBatch::default();
    batch.delete(keys.snapshot());
    batch.delete_range(keys.log_start(), keys.log_end());
    let tombstone = HardState { commit: LogIndex(0), ..hard_state };
    batch.put(keys.hard_state(), encode_hard_state(&tombstone));
    batch.put(keys.tombstone(), removal.0.to_be_bytes().to_vec());
    // An old install must not be rolled forward into a replica created again.
    batch.delete(keys.installed.clone());
    batch
}

/// The chunk that records, inside a snapshot's ingestion, which snapshot it
/// installs: `metadata`, under the group's `installed` key. The ingestion is
/// atomic and durable, and Raft's own batch (its log deleted, its snapshot
/// marker at `metadata.index`) is written after it: if a crash loses that
/// batch, [`roll_forward_install`] writes it at recovery.
pub fn installed_chunk(keys: &GroupKeys, metadata: &SnapshotMetadata) -> IngestChunk {
    let record = encode_snapshot(&Snapshot { metadata: metadata.clone(), data: Vec::new() });
    let end = [&keys.installed[..], &[0]].concat();
    IngestChunk { start: keys.installed.clone(), end, pairs: vec![(keys.installed.clone(), record)] }
}

/// The groups with an `installed` record (a replica may have one and no
/// snapshot marker yet, when a crash came between its first install's
/// ingestion and its Raft batch).
pub fn installed_groups(engine: &(impl Engine + ?Sized)) -> Result<Vec<u64>, StorageError> {
    let mut groups = Vec::new();
    let installed = layout::INSTALLED;
    for (key, _) in engine.scan(installed.start, installed.end, usize::MAX)? {
        let group: [u8; 8] = key[installed.start.len()..]
            .try_into()
            .map_err(|_| StorageError("corrupt installed-snapshot key".to_string()))?;
        groups.push(u64::from_be_bytes(group));
    }
    Ok(groups)
}

/// Finishes an install that a crash interrupted after its ingestion: when the
/// group's `installed` record is past both its durable snapshot marker and its
/// commit index, writes (and syncs) the Raft state the install's batch would
/// have written — the log deleted, the marker at the record, commit there, the
/// term raised to the record's if it is behind (the vote then cleared: it was
/// cast in an older term). Returns whether it did.
pub fn roll_forward_install(engine: &mut (impl Engine + ?Sized), keys: &GroupKeys) -> Result<bool, StorageError> {
    let recovered = recover(engine, keys)?;
    roll_forward_over(engine, keys, &recovered)
}

/// [`roll_forward_install`], over the Raft state `recovered` just read.
fn roll_forward_over(
    engine: &mut (impl Engine + ?Sized),
    keys: &GroupKeys,
    recovered: &RecoveredState,
) -> Result<bool, StorageError> {
    let Some(bytes) = engine.get(&keys.installed)? else { return Ok(false) };
    let corrupt = |error: DecodeError| StorageError(format!("corrupt installed-snapshot record: {error}"));
    let installed = decode_snapshot(&bytes).map_err(corrupt)?.metadata;
    let durable = recovered.snapshot.metadata.index.max(recovered.hard_state.commit);
    if installed.index <= durable {
        return Ok(false);
    }
    let old = recovered.hard_state;
    let term = old.term.max(installed.term);
    let vote = if term > old.term { None } else { old.vote };
    let ready = Ready {
        hard_state: Some(HardState { term, vote, commit: installed.index }),
        snapshot: Some(SnapshotToPersist {
            snapshot: Snapshot { metadata: installed, data: Vec::new() },
            restore: true,
        }),
        ..Ready::default()
    };
    engine.write(batch(keys, &ready, SnapshotData::Omitted))?;
    engine.sync()?;
    Ok(true)
}

/// The index of the configuration that removed this node from the group, if
/// it was removed (see [`destroy`]).
pub fn tombstone(engine: &(impl Engine + ?Sized), keys: &GroupKeys) -> Result<Option<LogIndex>, StorageError> {
    let Some(bytes) = engine.get(&keys.tombstone())? else { return Ok(None) };
    let bytes: [u8; 8] = bytes.try_into().map_err(|_| StorageError("corrupt raft tombstone".to_string()))?;
    Ok(Some(LogIndex(u64::from_be_bytes(bytes))))
}

/// Stores the first snapshot of a brand-new cluster member: index 0, listing the
/// initial voters. Synced, since the node's identity depends on it.
pub fn bootstrap(engine: &mut (impl Engine + ?Sized), keys: &GroupKeys, voters: &[NodeId]) -> Result<(), StorageError> {
    let snapshot = Snapshot {
        metadata: SnapshotMetadata {
            index: LogIndex(0),
            term: Term(0),
            configuration: Configuration::with_voters(voters.iter().copied()),
        },
        data: Vec::new(),
    };
    let mut batch = WriteBatch::default();
    batch.put(keys.snapshot(), encode_snapshot(&snapshot));
    engine.write(batch)?;
    engine.sync()
}

/// What a group restarts from, once an install a crash interrupted is
/// finished ([`roll_forward_install`]): what every runtime calls at startup.
pub fn recover_rolling_forward(
    engine: &mut (impl Engine + ?Sized),
    keys: &GroupKeys,
) -> Result<RecoveredState, StorageError> {
    let recovered = recover(engine, keys)?;
    if roll_forward_over(engine, keys, &recovered)? {
        return recover(engine, keys);
    }
    Ok(recovered)
}

/// Reads the state a node restarts from. Corrupt bytes are a storage error.
pub fn recover(engine: &(impl Engine + ?Sized), keys: &GroupKeys) -> Result<RecoveredState, StorageError> {
    let corrupt = |error: DecodeError| StorageError(format!("corrupt raft state: {error}"));
    let hard_state = match engine.get(&keys.hard_state())? {
        Some(bytes) => decode_hard_state(&bytes).map_err(corrupt)?,
        None => HardState::default(),
    };
    let snapshot = match engine.get(&keys.snapshot())? {
        Some(bytes) => decode_snapshot(&bytes).map_err(corrupt)?,
        None => Snapshot::default(),
    };
    let mut entries: Vec<Entry> = Vec::new();
    for (_, bytes) in engine.scan(&keys.log(snapshot.metadata.index.next()), &keys.log_end(), usize::MAX)? {
        let entry = decode_entry(&bytes).map_err(corrupt)?;
        let expected = entries.last().map_or(snapshot.metadata.index.next(), |last| last.index.next());
        if entry.index != expected {
            return Err(StorageError(format!("raft log gap: expected {expected}, found {}", entry.index)));
        }
        entries.push(entry);
    }
    Ok(RecoveredState { hard_state, snapshot, entries, applied_index: LogIndex(0) })
}

fn encode_configuration(writer: &mut Writer, configuration: &Configuration) {
    writer.u64(configuration.voters.len() as u64);
    for voter in &configuration.voters {
        writer.u64(voter.0);
    }
}

fn decode_configuration(reader: &mut Reader<'_>) -> Result<Configuration, DecodeError> {
    let count = reader.u64()?;
    let mut voters = Vec::new();
    for _ in 0..count {
        voters.push(NodeId(reader.u64()?));
    }
    Ok(Configuration::with_voters(voters))
}

pub fn encode_entry(entry: &Entry) -> Vec<u8> {
    let mut writer = Writer::default();
    writer.u64(entry.index.0).u64(entry.term.0);
    match &entry.payload {
        EntryPayload::Empty => {
            writer.u8(0);
        }
        EntryPayload::Command(command) => {
            writer.u8(1).bytes(command);
        }
        EntryPayload::Configuration(configuration) => {
            writer.u8(2);
            encode_configuration(&mut writer, configuration);
        }
    }
    writer.finish()
}

pub fn decode_entry(bytes: &[u8]) -> Result<Entry, DecodeError> {
    let mut reader = Reader::new(bytes);
    let index = LogIndex(reader.u64()?);
    let term = Term(reader.u64()?);
    let payload = match reader.u8()? {
        0 => EntryPayload::Empty,
        1 => EntryPayload::Command(reader.bytes()?.to_vec()),
        2 => EntryPayload::Configuration(decode_configuration(&mut reader)?),
        tag => return Err(DecodeError(format!("unknown entry payload tag {tag}"))),
    };
    reader.finish()?;
    Ok(Entry { index, term, payload })
}

fn encode_hard_state(hard_state: &HardState) -> Vec<u8> {
    Writer::default()
        .u64(hard_state.term.0)
        .u64(hard_state.vote.map_or(0, |vote| vote.0))
        .u64(hard_state.commit.0)
        .finish()
}

fn decode_hard_state(bytes: &[u8]) -> Result<HardState, DecodeError> {
    let mut reader = Reader::new(bytes);
    let term = Term(reader.u64()?);
    let vote = Some(NodeId(reader.u64()?)).filter(|vote| vote.0 != 0);
    let commit = LogIndex(reader.u64()?);
    reader.finish()?;
    Ok(HardState { term, vote, commit })
}

fn encode_snapshot(snapshot: &Snapshot) -> Vec<u8> {
    let mut writer = Writer::default();
    writer.u64(snapshot.metadata.index.0).u64(snapshot.metadata.term.0);
    encode_configuration(&mut writer, &snapshot.metadata.configuration);
    writer.bytes(&snapshot.data);
    writer.finish()
}

fn decode_snapshot(bytes: &[u8]) -> Result<Snapshot, DecodeError> {
    let mut reader = Reader::new(bytes);
    let index = LogIndex(reader.u64()?);
    let term = Term(reader.u64()?);
    let configuration = decode_configuration(&mut reader)?;
    let data = reader.bytes()?.to_vec();
    reader.finish()?;
    Ok(Snapshot { metadata: SnapshotMetadata { index, term, configuration }, data })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::ready::SnapshotToPersist;
    use crate::storage::MemoryEngine;

    fn entry(index: u64, term: u64) -> Entry {
        Entry { index: LogIndex(index), term: Term(term), payload: EntryPayload::Command(vec![index as u8]) }
    }

    #[test]
    fn an_install_past_the_durable_raft_state_is_rolled_forward_once() {
        let mut engine = MemoryEngine::new();
        let keys = GroupKeys::new(7);
        let configuration = Configuration::with_voters([NodeId(1), NodeId(2)]);
        let hard_state = HardState { term: Term(3), vote: Some(NodeId(2)), commit: LogIndex(4) };
        let ready =
            Ready { hard_state: Some(hard_state), entries: (1..=6).map(|i| entry(i, 1)).collect(), ..Ready::default() };
        persist(&mut engine, &keys, &ready).unwrap();
        let metadata = SnapshotMetadata { index: LogIndex(9), term: Term(5), configuration: configuration.clone() };
        engine.stage(7, installed_chunk(&keys, &metadata)).unwrap();
        engine.ingest(7).unwrap();
        assert_eq!(installed_groups(&engine).unwrap(), vec![7]);

        assert!(roll_forward_install(&mut engine, &keys).unwrap());
        let recovered = recover(&engine, &keys).unwrap();
        assert_eq!(recovered.snapshot.metadata, metadata, "the marker is the installed snapshot's");
        assert!(recovered.entries.is_empty(), "the log it replaces is gone");
        assert_eq!(recovered.hard_state, HardState { term: Term(5), vote: None, commit: LogIndex(9) });
        assert!(!roll_forward_install(&mut engine, &keys).unwrap(), "done once: the marker is at the record");

        // A record at or behind the durable commit is an install already finished.
        let mut engine = MemoryEngine::new();
        let hard_state = HardState { term: Term(6), vote: Some(NodeId(1)), commit: LogIndex(9) };
        persist(&mut engine, &keys, &Ready { hard_state: Some(hard_state), ..Ready::default() }).unwrap();
        engine.stage(7, installed_chunk(&keys, &metadata)).unwrap();
        engine.ingest(7).unwrap();
        assert!(!roll_forward_install(&mut engine, &keys).unwrap());
        // A replica removed from the group forgets its installs.
        engine.write(destroy(&keys, hard_state, LogIndex(12))).unwrap();
        assert!(installed_groups(&engine).unwrap().is_empty());
    }

    #[test]
    fn truncation_and_compaction_survive_recovery() {
        let mut engine = MemoryEngine::new();
        let keys = GroupKeys::new(7);
        bootstrap(&mut engine, &keys, &[NodeId(1), NodeId(2)]).unwrap();
        let first = Ready { entries: (1..=5).map(|i| entry(i, 1)).collect(), sync: true, ..Ready::default() };
        persist(&mut engine, &keys, &first).unwrap();
        let conflicting = Ready { entries: vec![entry(3, 2)], sync: true, ..Ready::default() };
        persist(&mut engine, &keys, &conflicting).unwrap();
        let recovered = recover(&engine, &keys).unwrap();
        assert_eq!(
            recovered.entries.iter().map(|e| (e.index.0, e.term.0)).collect::<Vec<_>>(),
            [(1, 1), (2, 1), (3, 2)]
        );

        let snapshot = Snapshot {
            metadata: SnapshotMetadata { index: LogIndex(2), term: Term(1), configuration: Configuration::default() },
            data: b"state".to_vec(),
        };
        let compaction = Ready {
            snapshot: Some(SnapshotToPersist { snapshot: snapshot.clone(), restore: false }),
            sync: true,
            ..Ready::default()
        };
        persist(&mut engine, &keys, &compaction).unwrap();
        let recovered = recover(&engine, &keys).unwrap();
        assert_eq!(recovered.snapshot, snapshot);
        assert_eq!(recovered.entries, vec![entry(3, 2)]);
    }

    #[test]
    fn unsynced_ready_is_lost_in_a_crash() {
        let mut engine = MemoryEngine::new();
        let keys = GroupKeys::new(7);
        bootstrap(&mut engine, &keys, &[NodeId(1)]).unwrap();
        let hard_state = HardState { term: Term(3), vote: Some(NodeId(1)), commit: LogIndex(0) };
        let ready = Ready { hard_state: Some(hard_state), entries: vec![entry(1, 3)], sync: false, ..Ready::default() };
        persist(&mut engine, &keys, &ready).unwrap();
        engine.crash(0);
        let recovered = recover(&engine, &keys).unwrap();
        assert_eq!(recovered.hard_state, HardState::default());
        assert!(recovered.entries.is_empty());
    }

    #[test]
    fn groups_sharing_an_engine_keep_their_logs_apart() {
        let mut engine = MemoryEngine::new();
        let (first, second) = (GroupKeys::new(1), GroupKeys::new(2));
        persist(&mut engine, &first, &Ready { entries: vec![entry(1, 1), entry(2, 1)], ..Ready::default() }).unwrap();
        persist(&mut engine, &second, &Ready { entries: vec![entry(1, 5)], ..Ready::default() }).unwrap();
        assert_eq!(recover(&engine, &first).unwrap().entries.len(), 2);
        assert_eq!(recover(&engine, &second).unwrap().entries, vec![entry(1, 5)]);
    }

    #[test]
    fn groups_are_found_by_their_snapshots() {
        let mut engine = MemoryEngine::new();
        bootstrap(&mut engine, &GroupKeys::new(3), &[NodeId(1)]).unwrap();
        bootstrap(&mut engine, &GroupKeys::new(1), &[NodeId(1)]).unwrap();
        persist(&mut engine, &GroupKeys::new(3), &Ready { entries: vec![entry(1, 1)], ..Ready::default() }).unwrap();
        assert_eq!(groups(&engine).unwrap(), vec![1, 3]);
    }

    #[test]
    fn corrupt_bytes_are_an_error_not_a_panic() {
        assert!(decode_entry(&[1, 2, 3]).is_err());
        assert!(decode_snapshot(&[0; 40]).is_err());
        let mut engine = MemoryEngine::new();
        let mut batch = WriteBatch::default();
        let keys = GroupKeys::new(7);
        batch.put(keys.hard_state(), vec![9]);
        engine.write(batch).unwrap();
        assert!(recover(&engine, &keys).is_err());
    }
}
