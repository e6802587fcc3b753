//! Elections: timeouts, pre-vote, votes, and role changes.
//!
//! A follower that hears no leader for its randomized election timeout first runs
//! a **pre-vote**: it asks the voters whether they would vote for it in the next
//! term, without anyone changing term. Only with a majority of yeses does it
//! campaign for real. A node that is partitioned away therefore cannot inflate its
//! term and depose a healthy leader when it returns. With **check-quorum**, a
//! leader that has not heard from a majority within an election timeout steps
//! down, and a follower that heard from its leader within the minimum election
//! timeout refuses (pre-)votes: the leader lease in the name.

use super::message::{EntryPayload, MessageBody};
use super::node::{RaftNode, Role};
use super::progress::Progress;
use crate::types::{LogIndex, NodeId, Term};

impl RaftNode {
    /// A lone voter campaigns at its first tick: no other node can lead its
    /// group, so waiting out an election timeout would only delay a restarted
    /// single node's first answer (by one to two seconds at the default ticks).
    pub(super) fn tick_election(&mut self) {
        self.election_elapsed_ticks += 1;
        let lone_voter = self.is_voter() && self.log.configuration().voters.len() == 1;
        if self.may_campaign() && (lone_voter || self.election_elapsed_ticks >= self.election_timeout_ticks) {
            self.campaign(false);
        }
    }

    pub(super) fn tick_leader(&mut self) {
        self.heartbeat_elapsed_ticks += 1;
        self.election_elapsed_ticks += 1;
        if self.election_elapsed_ticks >= self.config.election_timeout_ticks_min {
            self.election_elapsed_ticks = 0;
            if !self.quorum_recently_active() {
                self.become_follower(self.term, None);
                return;
            }
        }
        if let Some(transfer) = &mut self.leader_transfer {
            transfer.elapsed_ticks += 1;
            if transfer.elapsed_ticks >= self.config.election_timeout_ticks_min {
                self.leader_transfer = None;
            }
        }
        if self.heartbeat_elapsed_ticks >= self.config.heartbeat_interval_ticks {
            self.heartbeat_elapsed_ticks = 0;
            self.broadcast_heartbeat();
        }
    }

    /// Check-quorum: whether a majority (this leader included) answered since the
    /// last check. Resets the marks for the next period.
    fn quorum_recently_active(&mut self) -> bool {
        let mut active = vec![self.id()];
        for (peer, progress) in &mut self.progress {
            if progress.recently_active {
                active.push(*peer);
            }
            progress.active_last_period = progress.recently_active;
            progress.recently_active = false;
        }
        self.log.configuration().is_quorum(active)
    }

    /// Starts an election: a pre-vote first, unless a leader transfer asked for a
    /// real one at once.
    pub(super) fn campaign(&mut self, leader_transfer: bool) {
        if leader_transfer {
            self.become_candidate(true);
        } else {
            self.become_pre_candidate();
        }
    }

    fn become_pre_candidate(&mut self) {
        self.request_votes(Role::PreCandidate, false);
    }

    fn become_candidate(&mut self, leader_transfer: bool) {
        self.term = self.term.next();
        self.vote = Some(self.id());
        self.request_votes(Role::Candidate, leader_transfer);
    }

    /// Starts a (pre-)campaign in `role`: votes for itself, and asks the other
    /// voters unless its own vote already decides.
    fn request_votes(&mut self, role: Role, leader_transfer: bool) {
        self.role = role;
        self.leader = None;
        self.reset_election_timeout();
        self.votes.clear();
        self.votes.insert(self.id(), true);
        if self.tally_votes() {
            return;
        }
        let (last_log_index, last_log_term) = (self.log.last_index(), self.log.last_term());
        for peer in self.peers() {
            match role {
                // A pre-vote asks about the next term without moving to it.
                Role::PreCandidate => {
                    self.send_in_term(peer, self.term.next(), MessageBody::PreVote { last_log_index, last_log_term })
                }
                _ => self.send(peer, MessageBody::Vote { last_log_index, last_log_term, leader_transfer }),
            }
        }
    }

    /// Counts the votes of the current (pre-)campaign and acts on a decision.
    /// Returns whether the campaign ended.
    fn tally_votes(&mut self) -> bool {
        let configuration = self.log.configuration();
        let granted = self.votes.iter().filter(|(_, granted)| **granted).map(|(voter, _)| *voter);
        let rejected = self.votes.iter().filter(|(_, granted)| !**granted).map(|(voter, _)| *voter);
        if configuration.is_quorum(granted) {
            match self.role {
                Role::PreCandidate => self.become_candidate(false),
                Role::Candidate => self.become_leader(),
                _ => unreachable!("tallying votes as {:?}", self.role),
            }
            true
        } else if configuration.is_quorum(rejected) {
            self.become_follower(self.term, None);
            true
        } else {
            false
        }
    }

    pub(super) fn become_follower(&mut self, term: Term, leader: Option<NodeId>) {
        assert!(term >= self.term, "terms never go back");
        if term > self.term {
            self.term = term;
            self.vote = None;
        }
        self.role = Role::Follower;
        self.leader = leader;
        self.votes.clear();
        self.progress.clear();
        self.leader_transfer = None;
        self.read_index.clear();
        self.reset_election_timeout();
    }

    fn become_leader(&mut self) {
        self.role = Role::Leader;
        self.leader = Some(self.id());
        self.votes.clear();
        self.heartbeat_elapsed_ticks = 0;
        self.election_elapsed_ticks = 0;
        self.read_index.clear();
        let next_index = self.log.last_index().next();
        self.progress = self.peers().into_iter().map(|peer| (peer, Progress::new(next_index))).collect();
        // An entry of the new term: committing it commits everything before it.
        let index = self.log.append_new(self.term, EntryPayload::Empty);
        self.read_index.set_term_start(index);
        self.broadcast_append(true);
    }

    /// Whether this node starts elections: a voter does, and so does a node
    /// that its latest configuration removes while that configuration is not
    /// known to be committed (Ongaro's thesis, 4.2.2). Its log may be the only
    /// one besides a leader now gone that holds the removal, so that the other
    /// voters cannot win without its vote and it must win for them: it counts
    /// their votes, not its own, and steps down once the removal commits.
    /// (Found by the Raft swarm: without it, a leader that removed itself and
    /// restarted left its group leaderless for good.)
    pub(super) fn may_campaign(&self) -> bool {
        self.is_voter() || self.log.configuration_index() > self.log.commit_index()
    }

    pub(super) fn handle_pre_vote(&mut self, from: NodeId, term: Term, last_log_index: LogIndex, last_log_term: Term) {
        let granted =
            term > self.term && !self.in_leader_lease() && self.log.is_up_to_date(last_log_index, last_log_term);
        let answer_term = if granted { term } else { self.term };
        self.send_in_term(from, answer_term, MessageBody::PreVoteResponse { granted });
        if term <= self.term.next() {
            self.replicate_to_removed(from, last_log_index);
            let body = MessageBody::PreVote { last_log_index, last_log_term };
            self.relay_removed_pre_vote(from, term, &body);
        }
    }

    pub(super) fn handle_vote(&mut self, from: NodeId, last_log_index: LogIndex, last_log_term: Term) {
        let free_to_vote = self.vote == Some(from) || (self.vote.is_none() && self.leader.is_none());
        let granted = free_to_vote && self.log.is_up_to_date(last_log_index, last_log_term);
        if granted {
            self.vote = Some(from);
            self.election_elapsed_ticks = 0;
        }
        self.send(from, MessageBody::VoteResponse { granted });
    }

    pub(super) fn handle_pre_vote_response(&mut self, from: NodeId, term: Term, granted: bool) {
        let for_this_campaign = if granted { term == self.term.next() } else { term == self.term };
        if self.role == Role::PreCandidate && for_this_campaign {
            self.votes.insert(from, granted);
            self.tally_votes();
        }
    }

    pub(super) fn handle_vote_response(&mut self, from: NodeId, granted: bool) {
        if self.role == Role::Candidate {
            self.votes.insert(from, granted);
            self.tally_votes();
        }
    }

    pub(super) fn handle_timeout_now(&mut self) {
        if self.may_campaign() && self.role != Role::Leader {
            self.campaign(true);
        }
    }
}
