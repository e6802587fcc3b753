//! The leader's side of log replication: appends with batching and pipelining,
//! fast backtracking on rejection, snapshots for followers that fell behind the
//! compacted log, commit by majority, and leader transfer.
//!
//! Commit rule (Raft §5.4.2): the leader advances its commit index to the highest
//! index a majority has stored **only if that entry is of the leader's own term**;
//! older entries become committed indirectly. The leader counts itself only up to
//! the index its runtime has made durable (`stable_index`).

use std::collections::BTreeMap;

use super::message::{AppendResult, MessageBody};
use super::node::{RaftNode, Role};
use super::progress::ReplicationState;
use crate::types::{LogIndex, NodeId, Term};

impl RaftNode {
    /// Sends appends to every follower; `allow_empty` also sends appends that carry
    /// no entries (to spread a new commit index).
    pub(super) fn broadcast_append(&mut self, allow_empty: bool) {
        let peers: Vec<NodeId> = self.progress.keys().copied().collect();
        for peer in peers {
            self.send_append(peer, allow_empty);
        }
    }

    /// Sends the next append (or snapshot) to `peer` unless flow control holds it
    /// back. Returns whether an append carrying entries was sent.
    pub(super) fn send_append(&mut self, peer: NodeId, allow_empty: bool) -> bool {
        let Some(progress) = self.progress.get(&peer) else { return false };
        if progress.is_paused(self.config.inflight_appends_max) {
            return false;
        }
        let next_index = progress.next_index;
        let replicating = progress.state == ReplicationState::Replicate;
        let Some(previous_term) = self.log.term(next_index.previous()) else {
            self.send_snapshot(peer);
            return false;
        };
        let entries = if next_index <= self.log.last_index() {
            self.log.slice(next_index, self.config.append_entries_max, self.config.append_bytes_max)
        } else {
            Vec::new()
        };
        if entries.is_empty() && replicating && !allow_empty {
            return false;
        }
        let last = entries.last().map(|entry| entry.index);
        self.progress.get_mut(&peer).expect("checked above").sent_append(last);
        let body = MessageBody::Append {
            previous_index: next_index.previous(),
            previous_term,
            entries,
            commit: self.log.commit_index(),
        };
        self.send(peer, body);
        last.is_some()
    }

    fn send_snapshot(&mut self, peer: NodeId) {
        let snapshot = self.log.snapshot().clone();
        let progress = self.progress.get_mut(&peer).expect("peer has progress");
        progress.become_snapshot(snapshot.metadata.index);
        self.send(peer, MessageBody::InstallSnapshot { snapshot });
    }

    /// Sends as many appends to `peer` as the window allows.
    fn send_appends_until_paused(&mut self, peer: NodeId) {
        while self.send_append(peer, false) {}
    }

    pub(super) fn broadcast_heartbeat(&mut self) {
        let round = self.read_index.round();
        let commit_index = self.log.commit_index();
        let heartbeats: Vec<(NodeId, LogIndex)> =
            self.progress.iter().map(|(peer, progress)| (*peer, progress.match_index.min(commit_index))).collect();
        for (peer, commit) in heartbeats {
            self.send(peer, MessageBody::Heartbeat { commit, round });
        }
    }

    pub(super) fn handle_append_response(&mut self, from: NodeId, result: AppendResult) {
        if self.role != Role::Leader {
            return;
        }
        let Some(progress) = self.progress.get_mut(&from) else {
            self.removed_node_answered(from, result);
            return;
        };
        progress.recently_active = true;
        match result {
            AppendResult::Accepted { match_index } => {
                if progress.accept(match_index) && self.maybe_commit() {
                    self.broadcast_append(true);
                }
                self.send_appends_until_paused(from);
                self.maybe_send_timeout_now(from);
            }
            AppendResult::Rejected { rejected_index, hint_index, hint_term } => {
                let retry_index = self.retry_index(rejected_index, hint_index, hint_term);
                let progress = self.progress.get_mut(&from).expect("checked above");
                if hint_term == Term(0) && hint_index <= progress.match_index {
                    // Its log ends below what it acknowledged: a replica that a
                    // move left behind was deleted (`store`) and, added back,
                    // starts empty. Probing must go below the old match, down
                    // to a snapshot if need be.
                    progress.forget_match(rejected_index);
                }
                if progress.reject(rejected_index, retry_index) {
                    self.send_append(from, true);
                }
            }
        }
    }

    /// An answer from a node we do not replicate to: one that was removed,
    /// which we may be telling of its removal (`removed.rs`).
    fn removed_node_answered(&mut self, from: NodeId, result: AppendResult) {
        if let AppendResult::Rejected { rejected_index, hint_index, hint_term } = result {
            let retry_index = self.retry_index(rejected_index, hint_index, hint_term);
            if retry_index.previous() < rejected_index {
                self.replicate_to_removed(from, retry_index.previous());
            }
        }
    }

    /// Fast backtracking: skip a whole conflicting term per round trip. If the
    /// leader holds the follower's conflicting term, retry after its last entry of
    /// that term; otherwise skip the follower's entries of that term entirely.
    fn retry_index(&self, rejected_index: LogIndex, hint_index: LogIndex, hint_term: Term) -> LogIndex {
        let retry = if hint_term == Term(0) {
            hint_index
        } else {
            match self.log.last_index_of_term(hint_term) {
                Some(last_of_term) => last_of_term.next(),
                None => hint_index,
            }
        };
        retry.min(rejected_index).max(LogIndex(1))
    }

    pub(super) fn handle_heartbeat_response(&mut self, from: NodeId, round: u64) {
        if self.role != Role::Leader {
            return;
        }
        let last_index = self.log.last_index();
        let inflight_appends_max = self.config.inflight_appends_max;
        let Some(progress) = self.progress.get_mut(&from) else { return };
        progress.recently_active = true;
        let waiting_for_snapshot = match progress.state {
            ReplicationState::Probe => {
                progress.resume_probe();
                false
            }
            // The snapshot may have been lost: after a while, start over from what is known.
            ReplicationState::Snapshot { .. } => {
                let overdue = progress.snapshot_overdue();
                if overdue {
                    progress.become_probe();
                }
                !overdue
            }
            ReplicationState::Replicate => {
                if progress.is_paused(inflight_appends_max) {
                    progress.free_first_inflight();
                }
                false
            }
        };
        // Appends or their answers may have been lost: an append at the follower's
        // next index (empty when the leader thinks it sent everything) makes the
        // follower either confirm its match or reject, which restarts probing.
        if !waiting_for_snapshot && progress.match_index < last_index {
            self.send_append(from, true);
        }
        self.read_index.acknowledge(from, round);
        self.resolve_reads();
    }

    /// Advances the commit index to what a majority holds (see the module doc).
    /// Returns whether it moved.
    pub(super) fn maybe_commit(&mut self) -> bool {
        let mut match_indexes: BTreeMap<NodeId, LogIndex> =
            self.progress.iter().map(|(peer, progress)| (*peer, progress.match_index)).collect();
        match_indexes.insert(self.id(), self.log.stable_index());
        let index = self.log.configuration().quorum_index(&match_indexes);
        let own_term = self.log.term(index) == Some(self.term);
        if index <= self.log.commit_index() || !(own_term || self.config.testing_knobs.commit_old_term) {
            return false;
        }
        self.log.commit_to(index);
        self.resolve_reads();
        self.step_down_if_removed();
        true
    }

    /// A leader removed from the configuration leads until the removal commits.
    fn step_down_if_removed(&mut self) {
        if !self.is_voter() && self.log.configuration_index() <= self.log.commit_index() {
            self.become_follower(self.term, None);
        }
    }

    /// Hands leadership to `target` once its log is caught up.
    pub fn transfer_leadership(&mut self, target: NodeId) -> Result<(), super::node::RaftError> {
        use super::node::{LeaderTransfer, RaftError};
        if self.role != Role::Leader {
            return Err(RaftError::NotLeader { leader: self.leader });
        }
        if target == self.id() || !self.progress.contains_key(&target) {
            return Err(RaftError::InvalidConfigurationChange);
        }
        self.leader_transfer = Some(LeaderTransfer { target, elapsed_ticks: 0 });
        if !self.maybe_send_timeout_now(target) {
            self.send_append(target, true);
        }
        Ok(())
    }

    fn maybe_send_timeout_now(&mut self, peer: NodeId) -> bool {
        let Some(transfer) = self.leader_transfer else { return false };
        let caught_up = self.progress.get(&peer).is_some_and(|p| p.match_index == self.log.last_index());
        if transfer.target != peer || !caught_up {
            return false;
        }
        self.send(peer, MessageBody::TimeoutNow);
        true
    }
}
