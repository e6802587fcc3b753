//! Client requests waiting on Raft: writes until their entry is applied, reads
//! until their read index is confirmed and applied.
//!
//! A write is known by the `(index, term)` it was appended at. When a different
//! entry is applied at that index, the write was overwritten by a newer leader and
//! never applied: but this node cannot always tell that apart from the entry
//! reaching the log through another path, so it answers `OutcomeUnknown`, the
//! honest answer. Reads have no effect, so a read that loses its leader simply
//! fails with `NotLeader` and the client retries.

use std::collections::BTreeMap;

use super::{ClientId, Reply, RequestError, StateMachine};
use crate::raft::{RaftError, RaftNode, Role};
use crate::storage::Engine;
use crate::types::{LogIndex, Term};

#[derive(Debug)]
struct PendingWrite {
    term: Term,
    client: ClientId,
    request_id: u64,
}

#[derive(Debug)]
struct PendingRead {
    term: Term,
    client: ClientId,
    request_id: u64,
    query: Vec<u8>,
    /// Set once the leader confirmed it: serve after applying up to here.
    index: Option<LogIndex>,
}

/// Requests this node accepted and has not answered yet.
#[derive(Debug, Default)]
pub(super) struct PendingRequests {
    writes: BTreeMap<LogIndex, PendingWrite>,
    reads: BTreeMap<u64, PendingRead>,
    next_read_context: u64,
}

pub(super) fn ok(client: ClientId, request_id: u64) -> Reply {
    Reply { client, request_id, result: Ok(Vec::new()) }
}

pub(super) fn request_error(error: RaftError) -> RequestError {
    match error {
        RaftError::NotLeader { leader } => RequestError::NotLeader { leader },
        RaftError::LeaderTransferInProgress | RaftError::ConfigurationChangePending => RequestError::Unavailable,
        RaftError::InvalidConfigurationChange => RequestError::Invalid,
    }
}

impl PendingRequests {
    pub fn add_write(&mut self, index: LogIndex, term: Term, client: ClientId, request_id: u64) {
        // A previous proposal at this index (an older term) can no longer apply.
        self.writes.insert(index, PendingWrite { term, client, request_id });
    }

    pub fn add_read(&mut self, term: Term, client: ClientId, request_id: u64, query: Vec<u8>) -> u64 {
        self.next_read_context += 1;
        let context = self.next_read_context;
        self.reads.insert(context, PendingRead { term, client, request_id, query, index: None });
        context
    }

    pub fn remove_read(&mut self, context: u64) {
        self.reads.remove(&context);
    }

    /// The entry at `index` was applied with `result`.
    pub fn settle_write(&mut self, index: LogIndex, term: Term, result: Vec<u8>) -> Option<Reply> {
        let write = self.writes.remove(&index)?;
        let result = if write.term == term { Ok(result) } else { Err(RequestError::OutcomeUnknown) };
        Some(Reply { client: write.client, request_id: write.request_id, result })
    }

    /// A snapshot replaced the log up to `index`: the writes there cannot be told.
    pub fn fail_writes_up_to(&mut self, index: LogIndex) -> Vec<Reply> {
        let rest = self.writes.split_off(&index.next());
        let failed = std::mem::replace(&mut self.writes, rest);
        failed
            .into_values()
            .map(|write| Reply {
                client: write.client,
                request_id: write.request_id,
                result: Err(RequestError::OutcomeUnknown),
            })
            .collect()
    }

    pub fn confirm_read(&mut self, context: u64, index: LogIndex) {
        if let Some(read) = self.reads.get_mut(&context) {
            read.index = Some(index);
        }
    }

    /// Answers every confirmed read whose index has been applied.
    pub fn serve_reads(
        &mut self,
        applied: LogIndex,
        state_machine: &impl StateMachine,
        engine: &dyn Engine,
    ) -> Vec<Reply> {
        let ready: Vec<u64> = self
            .reads
            .iter()
            .filter(|(_, read)| read.index.is_some_and(|index| index <= applied))
            .map(|(context, _)| *context)
            .collect();
        ready
            .into_iter()
            .map(|context| {
                let read = self.reads.remove(&context).expect("listed above");
                Reply {
                    client: read.client,
                    request_id: read.request_id,
                    result: Ok(state_machine.query(engine, &read.query)),
                }
            })
            .collect()
    }

    /// Unconfirmed reads of a leadership that ended will never be confirmed.
    pub fn fail_reads_if_not_leader(&mut self, raft: &RaftNode) -> Vec<Reply> {
        let still_leader = raft.role() == Role::Leader;
        let lost: Vec<u64> = self
            .reads
            .iter()
            .filter(|(_, read)| read.index.is_none() && (!still_leader || read.term != raft.term()))
            .map(|(context, _)| *context)
            .collect();
        lost.into_iter()
            .map(|context| {
                let read = self.reads.remove(&context).expect("listed above");
                let error = RequestError::NotLeader { leader: raft.leader() };
                Reply { client: read.client, request_id: read.request_id, result: Err(error) }
            })
            .collect()
    }
}
