//! Linearizable reads without writing to the log (Raft thesis §6.4, "read index").
//!
//! A read arriving at the leader records the current commit index — or, before the
//! leader has committed an entry of its own term, the index of its first entry,
//! since only then does its commit index cover everything committed before it.
//! The leader then needs proof that it was still leader when the read arrived:
//! it starts a new heartbeat **round**, and once a majority (itself included) has
//! answered a heartbeat of that round or later, the read is released as a
//! [`ReadState`]. The runtime serves it after applying up to its index. No clock
//! is involved, so clock skew cannot break it.

use std::collections::{BTreeMap, VecDeque};

use super::node::{RaftError, RaftNode, Role};
use super::ready::ReadState;
use crate::types::{LogIndex, NodeId};

/// A read waiting for its heartbeat round to be confirmed.
#[derive(Clone, Copy, Debug)]
struct PendingRead {
    context: u64,
    index: LogIndex,
    round: u64,
}

/// The leader's read-index bookkeeping for its current term.
#[derive(Clone, Debug, Default)]
pub struct ReadIndex {
    round: u64,
    term_start_index: LogIndex,
    acknowledged: BTreeMap<NodeId, u64>,
    pending: VecDeque<PendingRead>,
}

impl ReadIndex {
    /// Forgets everything (a new term or a lost leadership drops waiting reads;
    /// the runtime answers them as failed).
    pub fn clear(&mut self) {
        *self = ReadIndex::default();
    }

    pub fn set_term_start(&mut self, index: LogIndex) {
        self.term_start_index = index;
    }

    pub fn round(&self) -> u64 {
        self.round
    }

    pub fn acknowledge(&mut self, from: NodeId, round: u64) {
        let acknowledged = self.acknowledged.entry(from).or_default();
        *acknowledged = (*acknowledged).max(round);
    }
}

impl RaftNode {
    /// Asks for a linearizable read; `context` comes back in a [`ReadState`].
    pub fn read_index(&mut self, context: u64) -> Result<(), RaftError> {
        if self.role != Role::Leader {
            return Err(RaftError::NotLeader { leader: self.leader });
        }
        let index = self.log.commit_index().max(self.read_index.term_start_index);
        self.read_index.round += 1;
        let round = self.read_index.round;
        self.read_index.pending.push_back(PendingRead { context, index, round });
        self.resolve_reads();
        if !self.read_index.pending.is_empty() {
            self.broadcast_heartbeat();
        }
        Ok(())
    }

    /// Releases the reads whose round a majority confirmed and whose index is
    /// committed.
    pub(super) fn resolve_reads(&mut self) {
        while let Some(read) = self.read_index.pending.front().copied() {
            let mut confirmed = vec![self.id()];
            confirmed.extend(
                self.read_index.acknowledged.iter().filter(|(_, round)| **round >= read.round).map(|(peer, _)| *peer),
            );
            if !self.log.configuration().is_quorum(confirmed) || read.index > self.log.commit_index() {
                return;
            }
            self.read_index.pending.pop_front();
            self.read_states.push(ReadState { context: read.context, index: read.index });
        }
    }
}
