//! The leader's side of streamed snapshots: one transfer per follower, read
//! from a point-in-time view of the engine (see the module doc of `snapshot`).

use std::collections::BTreeMap;

use super::frame::ChunkFrame;
use super::{SnapshotLimits, Span};
use crate::raft::{Message, MessageBody, Snapshot, SnapshotMetadata};
use crate::storage::{EngineView, StorageError};
use crate::types::{NodeId, Term};

/// Pairs read from the view at a time while a chunk is built.
const SCAN_PAIRS: usize = 64;

/// What a new transfer streams: the state as of `metadata.index`.
pub struct TransferSource {
    pub view: Box<dyn EngineView>,
    pub metadata: SnapshotMetadata,
    pub header: Vec<u8>,
    pub spans: Vec<Span>,
}

/// One snapshot on its way to one follower.
struct Outgoing {
    transfer: u64,
    /// The leader, the follower and the leader's term: every chunk's envelope.
    from: NodeId,
    to: NodeId,
    term: Term,
    source: TransferSource,
    /// Where the next chunk starts: a span's index and a key in it (None: all sent).
    cursor: Option<(usize, Vec<u8>)>,
    next_sequence: u64,
    /// Chunks below this sequence were acknowledged.
    acknowledged: u64,
    /// Acknowledged since Raft last asked for this follower's snapshot.
    progressed: bool,
    /// Ticks since the last acknowledgement (or the start).
    idle_ticks: u64,
}

/// Every transfer a leader has under way, by follower.
#[derive(Default)]
pub struct Transfers {
    outgoing: BTreeMap<NodeId, Outgoing>,
    next_transfer: u64,
}

impl Transfers {
    /// Raft sent `request` (an `InstallSnapshot` without data) to a follower:
    /// the messages to send in its place. A transfer acknowledged since Raft
    /// last asked goes on (nothing to send now); otherwise a new one starts
    /// from `source()`, unless the transfer under way is older than Raft's
    /// snapshot (the log was compacted past it: it would not be enough).
    pub fn requested(
        &mut self,
        request: &Message,
        limits: SnapshotLimits,
        source: impl FnOnce() -> Result<TransferSource, StorageError>,
    ) -> Result<Vec<Message>, StorageError> {
        let MessageBody::InstallSnapshot { snapshot } = &request.body else {
            panic!("only InstallSnapshot messages start transfers")
        };
        if let Some(outgoing) = self.outgoing.get_mut(&request.to) {
            let recent = outgoing.source.metadata.index >= snapshot.metadata.index && outgoing.term == request.term;
            if outgoing.progressed && recent {
                outgoing.progressed = false;
                return Ok(Vec::new());
            }
        }
        let source = source()?;
        assert!(source.metadata.index >= snapshot.metadata.index, "the applied index is at or past the log's snapshot");
        assert!(!source.spans.is_empty(), "a state machine keeps its state in at least one span");
        self.next_transfer += 1;
        let cursor = Some((0, source.spans[0].0.clone()));
        let outgoing = Outgoing {
            transfer: self.next_transfer,
            from: request.from,
            to: request.to,
            term: request.term,
            source,
            cursor,
            next_sequence: 0,
            acknowledged: 0,
            progressed: false,
            idle_ticks: 0,
        };
        let outgoing = self.outgoing.entry(request.to).insert_entry(outgoing).into_mut();
        outgoing.fill_window(limits)
    }

    /// `from` staged chunk `sequence` of `transfer`: the chunks that now fit
    /// in the window. A transfer whose last chunk is acknowledged is done.
    pub fn acknowledged(
        &mut self,
        from: NodeId,
        transfer: u64,
        sequence: u64,
        limits: SnapshotLimits,
    ) -> Result<Vec<Message>, StorageError> {
        let Some(outgoing) = self.outgoing.get_mut(&from).filter(|outgoing| outgoing.transfer == transfer) else {
            return Ok(Vec::new());
        };
        if sequence < outgoing.acknowledged || sequence >= outgoing.next_sequence {
            return Ok(Vec::new()); // a duplicate, or not a chunk we sent
        }
        outgoing.acknowledged = sequence + 1;
        outgoing.progressed = true;
        outgoing.idle_ticks = 0;
        if outgoing.cursor.is_none() && outgoing.acknowledged == outgoing.next_sequence {
            self.outgoing.remove(&from);
            return Ok(Vec::new());
        }
        outgoing.fill_window(limits)
    }

    /// Time passed. A transfer without an acknowledgement for `idle_ticks_max`
    /// ticks is dropped, and its view released: its follower went away (Raft
    /// asks again if it still needs a snapshot).
    pub fn tick(&mut self, idle_ticks_max: u64) {
        for outgoing in self.outgoing.values_mut() {
            outgoing.idle_ticks += 1;
        }
        self.outgoing.retain(|_, outgoing| outgoing.idle_ticks <= idle_ticks_max);
    }

    /// Drops every transfer unless this node leads in `term`.
    pub fn keep_if_leading(&mut self, leading: bool, term: Term) {
        self.outgoing.retain(|_, outgoing| leading && outgoing.term == term);
    }

    /// How many transfers are under way.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.outgoing.len()
    }
}

impl Outgoing {
    /// Builds chunks until the window is full or everything was sent.
    fn fill_window(&mut self, limits: SnapshotLimits) -> Result<Vec<Message>, StorageError> {
        let mut messages = Vec::new();
        while self.next_sequence - self.acknowledged < limits.chunks_in_flight_max as u64 {
            let Some(frame) = self.next_frame(limits.chunk_bytes_max)? else { break };
            let snapshot = Snapshot { metadata: self.source.metadata.clone(), data: frame.encode() };
            let body = MessageBody::InstallSnapshot { snapshot };
            messages.push(Message { from: self.from, to: self.to, term: self.term, body });
        }
        Ok(messages)
    }

    /// The next chunk: pairs from the cursor on, in its span, until they reach
    /// `bytes_max` or the span ends.
    fn next_frame(&mut self, bytes_max: usize) -> Result<Option<ChunkFrame>, StorageError> {
        let Some((span_index, start)) = self.cursor.take() else { return Ok(None) };
        let span_end = self.source.spans[span_index].1.clone();
        let mut pairs = Vec::new();
        let mut bytes = 0;
        let mut position = start.clone();
        let exhausted = 'scan: loop {
            let scanned = self.source.view.scan(&position, &span_end, SCAN_PAIRS)?;
            let complete = scanned.len() < SCAN_PAIRS;
            for (key, value) in scanned {
                bytes += key.len() + value.len();
                position = successor(&key);
                pairs.push((key, value));
                if bytes >= bytes_max {
                    break 'scan position >= span_end;
                }
            }
            if complete {
                break true;
            }
        };
        let end = if exhausted { span_end } else { position.clone() };
        self.cursor = if !exhausted {
            Some((span_index, position))
        } else {
            self.source.spans.get(span_index + 1).map(|(next, _)| (span_index + 1, next.clone()))
        };
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        let last = self.cursor.is_none();
        let header = self.source.header.clone();
        Ok(Some(ChunkFrame { transfer: self.transfer, sequence, last, header, start, end, pairs }))
    }
}

/// The smallest key after `key`.
fn successor(key: &[u8]) -> Vec<u8> {
    [key, &[0]].concat()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::Configuration;
    use crate::storage::{Engine, MemoryEngine, WriteBatch};
    use crate::types::LogIndex;

    fn engine_with(count: u8) -> MemoryEngine {
        let mut engine = MemoryEngine::new();
        let mut batch = WriteBatch::default();
        for key in 0..count {
            batch.put(vec![b'k', key], vec![key; 10]);
        }
        batch.put(b"z".to_vec(), b"outside".to_vec());
        engine.write(batch).unwrap();
        engine
    }

    fn request(index: u64) -> Message {
        let metadata =
            SnapshotMetadata { index: LogIndex(index), term: Term(1), configuration: Configuration::default() };
        let body = MessageBody::InstallSnapshot { snapshot: Snapshot { metadata, data: Vec::new() } };
        Message { from: NodeId(1), to: NodeId(2), term: Term(3), body }
    }

    fn source(engine: &MemoryEngine) -> Result<TransferSource, StorageError> {
        let metadata = SnapshotMetadata { index: LogIndex(9), term: Term(2), configuration: Configuration::default() };
        let spans = vec![(b"a".to_vec(), b"b".to_vec()), (b"k".to_vec(), b"l".to_vec())];
        Ok(TransferSource { view: engine.view()?, metadata, header: b"h".to_vec(), spans })
    }

    fn frames(messages: &[Message]) -> Vec<ChunkFrame> {
        messages
            .iter()
            .map(|message| match &message.body {
                MessageBody::InstallSnapshot { snapshot } => {
                    assert_eq!(snapshot.metadata.index, LogIndex(9));
                    ChunkFrame::decode(&snapshot.data).unwrap()
                }
                other => panic!("unexpected {other:?}"),
            })
            .collect()
    }

    const LIMITS: SnapshotLimits = SnapshotLimits { chunk_bytes_max: 100, chunks_in_flight_max: 2 };

    #[test]
    fn a_transfer_streams_every_span_in_bounded_chunks_within_its_window() {
        let mut engine = engine_with(20); // 20 pairs of 12 bytes: 240 bytes in span "k"
        let mut transfers = Transfers::default();
        let first = frames(&transfers.requested(&request(5), LIMITS, || source(&engine)).unwrap());
        assert_eq!(first.len(), 2, "the window holds two chunks");
        // Writes after the view do not reach the transfer.
        let mut batch = WriteBatch::default();
        batch.put(b"k\x05x".to_vec(), b"late".to_vec());
        engine.write(batch).unwrap();
        let mut all = first;
        while !all.last().unwrap().last {
            let acked = all.last().unwrap().sequence;
            let more = frames(&transfers.acknowledged(NodeId(2), 1, acked, LIMITS).unwrap());
            assert!(!more.is_empty() && more.len() <= 2);
            all.extend(more);
        }
        assert_eq!(
            all.iter().map(|frame| frame.sequence).collect::<Vec<_>>(),
            (0..all.len() as u64).collect::<Vec<_>>()
        );
        assert_eq!((all[0].start.as_slice(), all[0].end.as_slice(), all[0].pairs.len()), (&b"a"[..], &b"b"[..], 0));
        // The chunks of span "k" tile it without gaps and hold every pair once.
        let data = &all[1..];
        assert_eq!(data[0].start, b"k".to_vec());
        assert_eq!(data.last().unwrap().end, b"l".to_vec());
        assert!(data.windows(2).all(|pair| pair[0].end == pair[1].start));
        assert!(data.iter().all(|frame| frame.pairs.len() <= 9), "a chunk stops at 100 bytes: 9 pairs of 12");
        let keys: Vec<Vec<u8>> = data.iter().flat_map(|frame| frame.pairs.iter().map(|(key, _)| key.clone())).collect();
        assert_eq!(keys, (0..20u8).map(|key| vec![b'k', key]).collect::<Vec<_>>());
        // The last acknowledgement ends the transfer.
        transfers.acknowledged(NodeId(2), 1, all.last().unwrap().sequence, LIMITS).unwrap();
        assert_eq!(transfers.len(), 0);
    }

    #[test]
    fn raft_asking_again_restarts_only_a_stalled_transfer() {
        let engine = engine_with(20);
        let mut transfers = Transfers::default();
        transfers.requested(&request(5), LIMITS, || source(&engine)).unwrap();
        transfers.acknowledged(NodeId(2), 1, 0, LIMITS).unwrap();
        // Acknowledged since: it goes on, and nothing new is sent.
        assert!(transfers.requested(&request(5), LIMITS, || panic!("no new view")).unwrap().is_empty());
        // No acknowledgement since the last request: a new transfer, from chunk 0.
        let restarted = frames(&transfers.requested(&request(5), LIMITS, || source(&engine)).unwrap());
        assert_eq!((restarted[0].transfer, restarted[0].sequence), (2, 0));
        // The old transfer's acknowledgements no longer count.
        assert!(transfers.acknowledged(NodeId(2), 1, 1, LIMITS).unwrap().is_empty());
    }

    #[test]
    fn an_idle_transfer_or_a_lost_leadership_drops_it() {
        let engine = engine_with(3);
        let mut transfers = Transfers::default();
        transfers.requested(&request(5), LIMITS, || source(&engine)).unwrap();
        transfers.tick(2);
        transfers.tick(2);
        assert_eq!(transfers.len(), 1);
        transfers.tick(2);
        assert_eq!(transfers.len(), 0);
        transfers.requested(&request(5), LIMITS, || source(&engine)).unwrap();
        transfers.keep_if_leading(true, Term(3));
        assert_eq!(transfers.len(), 1);
        transfers.keep_if_leading(true, Term(4));
        assert_eq!(transfers.len(), 0);
    }
}
