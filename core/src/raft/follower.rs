//! The follower's side of replication: appending what the leader sends, telling it
//! where the logs diverge, installing snapshots, and learning the commit index.
//!
//! Every answer is queued as a message that the runtime sends only after it has
//! persisted the entries the answer acknowledges (see `ready.rs`).

use super::message::{AppendResult, Entry, MessageBody, Snapshot};
use super::node::RaftNode;
use crate::types::{LogIndex, NodeId, Term};

impl RaftNode {
    pub(super) fn handle_append(
        &mut self,
        from: NodeId,
        previous_index: LogIndex,
        previous_term: Term,
        entries: Vec<Entry>,
        commit: LogIndex,
    ) {
        let commit_index = self.log.commit_index();
        if previous_index < commit_index {
            // Everything up to our commit index already matches the leader's log.
            let result = AppendResult::Accepted { match_index: commit_index };
            self.send(from, MessageBody::AppendResponse { result });
            return;
        }
        if !self.log.matches(previous_index, previous_term) {
            let result = self.rejection(previous_index);
            self.send(from, MessageBody::AppendResponse { result });
            return;
        }
        let last_received = self.log.append_received(previous_index, entries);
        self.log.commit_to(commit.min(last_received).max(commit_index));
        // Only what this append carried is known to match the leader's log. With
        // today's leader, acknowledging the whole log would be harmless (any
        // stale suffix conflicts with the first append a leader's probing gets
        // accepted, so it is truncated before the answer; docs/testing.md,
        // "Fourth run"), but safety must not rest on how the leader probes.
        let result = AppendResult::Accepted { match_index: last_received };
        self.send(from, MessageBody::AppendResponse { result });
    }

    /// Where the leader should retry after `(rejected_index, term)` did not match.
    fn rejection(&self, rejected_index: LogIndex) -> AppendResult {
        let last_index = self.log.last_index();
        if rejected_index > last_index {
            return AppendResult::Rejected { rejected_index, hint_index: last_index.next(), hint_term: Term(0) };
        }
        let conflict_term = self.log.term(rejected_index).expect("index above the commit index is in the log");
        let hint_index = self.log.first_index_of_term(rejected_index, conflict_term);
        AppendResult::Rejected { rejected_index, hint_index, hint_term: conflict_term }
    }

    pub(super) fn handle_heartbeat(&mut self, from: NodeId, commit: LogIndex, round: u64) {
        // The leader sends min(our match, its commit): our log matches up to there.
        if commit > self.log.commit_index() && commit <= self.log.last_index() {
            self.log.commit_to(commit);
        }
        self.send(from, MessageBody::HeartbeatResponse { round });
    }

    pub(super) fn handle_install_snapshot(&mut self, from: NodeId, snapshot: Snapshot) {
        let index = snapshot.metadata.index;
        let match_index = if index <= self.log.commit_index() {
            self.log.commit_index()
        } else if self.log.matches(index, snapshot.metadata.term) {
            // We hold that entry already: the snapshot only tells us it is committed.
            self.log.commit_to(index);
            index
        } else {
            self.restore_snapshot(snapshot);
            index
        };
        let result = AppendResult::Accepted { match_index };
        self.send(from, MessageBody::AppendResponse { result });
    }
}
