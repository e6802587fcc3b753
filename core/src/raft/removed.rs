//! Removed nodes: how a node that a configuration removed learns that the
//! removal committed.
//!
//! A configuration takes effect on each node as soon as the entry is in its
//! log, so a leader stops replicating to a node the moment it appends that
//! node's removal. A node that holds its own removal but not its commit (a
//! leader that removed itself and restarted, say) must still campaign
//! (`may_campaign`): its log may be the only one besides a leader now gone
//! that holds the removal. Once the removal commits without it, though,
//! nothing would tell it, and it would campaign forever, naming no leader to
//! the clients that ask it.
//!
//! So a leader asked for a pre-vote by a node outside its configuration sends
//! it committed entries, as it would to a follower but without tracking it:
//! one append after the node's last entry (or our commit index, if lower),
//! and after a rejection another, back past the conflict as probing does. A
//! node still short of its removal asks again at its next election timeout,
//! and gets the next batch. Once it holds a committed configuration that
//! removes it, it stops campaigning. Only committed entries: the node is no
//! voter, and what it holds must not count toward anything. Where the entries
//! it lacks were compacted away, our snapshot goes instead. (The swarm found
//! that case at once: its nodes compact often.)
//!
//! A removed node asks only the voters it knows, and the leader may not be
//! one of them: leadership can move to a node added after the removal. So a
//! follower asked for a pre-vote by a node outside its configuration relays
//! the request to the leader it follows, unchanged (still from that node),
//! and the leader answers it as above. (The transaction simulator found it:
//! a stale replica campaigning forever toward followers kept, by the store's
//! overlap rule, another range's snapshot out of its node, and a
//! decommission never finished; list-append, 5 nodes, seed 236.) Leader
//! hints form no cycle — a follower's leader led its current term, and no
//! term has two leaders — so a relay is handled by a leader or dropped.

use super::message::{Message, MessageBody};
use super::node::{RaftNode, Role};
use crate::types::{LogIndex, NodeId, Term};

impl RaftNode {
    /// As leader: sends `node`, when it is outside our configuration, the
    /// committed entries after `previous_index`.
    pub(super) fn replicate_to_removed(&mut self, node: NodeId, previous_index: LogIndex) {
        if self.role != Role::Leader || self.log.configuration().voters.contains(&node) {
            return;
        }
        let commit = self.log.commit_index();
        let previous_index = previous_index.min(commit);
        let Some(previous_term) = self.log.term(previous_index) else {
            // Compacted away: our snapshot holds it, and a configuration
            // committed at its index.
            let snapshot = self.log.snapshot().clone();
            self.send(node, MessageBody::InstallSnapshot { snapshot });
            return;
        };
        let mut entries = if previous_index < commit {
            self.log.slice(previous_index.next(), self.config.append_entries_max, self.config.append_bytes_max)
        } else {
            Vec::new()
        };
        entries.retain(|entry| entry.index <= commit);
        self.send(node, MessageBody::Append { previous_index, previous_term, entries, commit });
    }

    /// As follower: relays a pre-vote that `node`, outside our configuration,
    /// sent us, to the leader we follow (see the module doc).
    pub(super) fn relay_removed_pre_vote(&mut self, node: NodeId, term: Term, body: &MessageBody) {
        if self.role == Role::Leader || self.log.configuration().voters.contains(&node) {
            return;
        }
        let Some(leader) = self.leader.filter(|leader| *leader != self.id() && *leader != node) else { return };
        self.messages.push(Message { from: node, to: leader, term, body: body.clone() });
    }
}
