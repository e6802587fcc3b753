//! The follower's side of streamed snapshots: chunks staged in order, the last
//! one handed to Raft (see the module doc of `snapshot`).

use super::frame::ChunkFrame;
use super::Span;
use crate::raft::{Message, MessageBody, Snapshot, SnapshotMetadata};
use crate::storage::{Engine, IngestionId, StorageError};
use crate::types::{LogIndex, NodeId, Term};

/// The transfer being staged.
#[derive(Debug)]
struct Incoming {
    from: NodeId,
    transfer: u64,
    index: LogIndex,
    term: Term,
    next_sequence: u64,
    /// The span of every chunk staged, in order (each starts at or after the
    /// end of the one before, so they are disjoint).
    spans: Vec<Span>,
    /// The last chunk was staged and handed to Raft.
    complete: bool,
}

/// What became of one chunk.
#[derive(Debug)]
pub enum Received {
    /// Not the chunk expected (lost one before it, a duplicate, corrupt): dropped.
    Ignored,
    /// Staged: send `ack`.
    Staged { ack: Message },
    /// The last chunk, staged: send `ack`, and hand `for_raft` to Raft.
    Last { ack: Message, for_raft: Message },
}

/// What a follower has staged of one snapshot, at most one at a time.
#[derive(Debug, Default)]
pub struct Receiving {
    incoming: Option<Incoming>,
}

impl Receiving {
    /// Stages the chunk `message` carries, if it is the next one expected, as
    /// ingestion `ingestion` of `engine`. Chunk 0 of a transfer not seen
    /// before starts over: what was staged of any other is discarded.
    /// `term` is this node's term, for the acknowledgement.
    pub fn receive(
        &mut self,
        message: &Message,
        term: Term,
        ingestion: IngestionId,
        engine: &mut dyn Engine,
    ) -> Result<Received, StorageError> {
        let MessageBody::InstallSnapshot { snapshot } = &message.body else {
            panic!("only InstallSnapshot messages carry chunks")
        };
        let Ok(frame) = ChunkFrame::decode(&snapshot.data) else { return Ok(Received::Ignored) };
        let metadata = &snapshot.metadata;
        let same = self.incoming.as_ref().is_some_and(|incoming| {
            incoming.from == message.from
                && incoming.transfer == frame.transfer
                && (incoming.index, incoming.term) == (metadata.index, metadata.term)
        });
        if frame.sequence == 0 && !same {
            engine.discard(ingestion)?;
            self.incoming = Some(Incoming {
                from: message.from,
                transfer: frame.transfer,
                index: metadata.index,
                term: metadata.term,
                next_sequence: 0,
                spans: Vec::new(),
                complete: false,
            });
        } else if !same {
            return Ok(Received::Ignored);
        }
        let incoming = self.incoming.as_mut().expect("just started, or the transfer staged");
        let follows = incoming.spans.last().is_none_or(|(_, end)| frame.start >= *end);
        if incoming.complete || frame.sequence != incoming.next_sequence || !follows {
            return Ok(Received::Ignored);
        }
        incoming.next_sequence += 1;
        incoming.spans.push((frame.start.clone(), frame.end.clone()));
        let (transfer, sequence, last) = (frame.transfer, frame.sequence, frame.last);
        engine.stage(ingestion, frame.into_chunk())?;
        let body = MessageBody::SnapshotChunkAck { transfer, sequence };
        let ack = Message { from: message.to, to: message.from, term, body };
        if !last {
            return Ok(Received::Staged { ack });
        }
        incoming.complete = true;
        let snapshot = Snapshot { metadata: metadata.clone(), data: Vec::new() };
        let for_raft = Message { body: MessageBody::InstallSnapshot { snapshot }, ..message.clone() };
        Ok(Received::Last { ack, for_raft })
    }

    /// The spans staged for the snapshot Raft just restored, which must be
    /// the one whose last chunk it was handed.
    pub fn take_complete(&mut self, metadata: &SnapshotMetadata) -> Vec<Span> {
        let incoming = self.incoming.take().expect("Raft restores only a snapshot whose chunks were all staged");
        assert!(incoming.complete, "Raft restores a snapshot only from its last chunk");
        assert_eq!(
            (incoming.index, incoming.term),
            (metadata.index, metadata.term),
            "Raft restored the snapshot staged"
        );
        incoming.spans
    }

    /// Forgets a complete staging Raft did not restore (it held those entries already).
    pub fn discard_complete(&mut self, ingestion: IngestionId, engine: &mut dyn Engine) -> Result<(), StorageError> {
        if self.incoming.as_ref().is_some_and(|incoming| incoming.complete) {
            self.incoming = None;
            engine.discard(ingestion)?;
        }
        Ok(())
    }
}
