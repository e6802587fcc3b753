//! What a leader knows about each follower's log, and how fast it may send.
//!
//! A follower is in one of three states. **Probe**: the leader does not know where
//! the logs match; it sends one append and waits for the answer (or the next
//! heartbeat) before sending another. **Replicate**: the logs match up to
//! `match_index`; the leader pipelines appends optimistically, advancing
//! `next_index` as it sends, with at most `inflight_appends_max` unanswered (the
//! flow-control window). **Snapshot**: the follower needs entries that were
//! compacted away; the leader sent a snapshot and waits for it to be installed,
//! sending it again only after [`SNAPSHOT_RESEND_HEARTBEATS`] heartbeat answers
//! without news of it (it may have been lost, but it is large and installing it
//! takes time: resending on every heartbeat would flood the follower).

use std::collections::VecDeque;

use crate::types::LogIndex;

/// Heartbeat answers a leader waits, in the Snapshot state, before sending the
/// snapshot again.
pub const SNAPSHOT_RESEND_HEARTBEATS: u32 = 8;

/// How the leader is currently replicating to one follower.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplicationState {
    Probe,
    Replicate,
    Snapshot { snapshot_index: LogIndex, heartbeats_waited: u32 },
}

/// The leader's view of one follower.
#[derive(Clone, Debug)]
pub struct Progress {
    pub match_index: LogIndex,
    pub next_index: LogIndex,
    pub state: ReplicationState,
    /// Last index of each unanswered append, oldest first (Replicate state only).
    inflight: VecDeque<LogIndex>,
    /// In Probe state: an append was sent and not yet answered.
    probe_sent: bool,
    /// The follower answered something since the last quorum check.
    pub recently_active: bool,
    /// It had answered in the period before (`recently_active` at the last
    /// check): one period alone misses a follower checked right after a reset.
    pub active_last_period: bool,
}

impl Progress {
    /// A follower whose log the leader knows nothing about.
    pub fn new(next_index: LogIndex) -> Progress {
        Progress {
            match_index: LogIndex(0),
            next_index,
            state: ReplicationState::Probe,
            inflight: VecDeque::new(),
            probe_sent: false,
            recently_active: true,
            active_last_period: true,
        }
    }

    /// Whether the follower answered in this quorum-check period or the last.
    pub fn answers(&self) -> bool {
        self.recently_active || self.active_last_period
    }

    /// Whether the leader must hold further appends back.
    pub fn is_paused(&self, inflight_appends_max: usize) -> bool {
        match self.state {
            ReplicationState::Probe => self.probe_sent,
            ReplicationState::Replicate => self.inflight.len() >= inflight_appends_max,
            ReplicationState::Snapshot { .. } => true,
        }
    }

    /// Records an append ending at `last_index` as sent.
    pub fn sent_append(&mut self, last_index: Option<LogIndex>) {
        match self.state {
            ReplicationState::Probe => self.probe_sent = true,
            ReplicationState::Replicate => {
                if let Some(last_index) = last_index {
                    self.next_index = last_index.next();
                    self.inflight.push_back(last_index);
                }
            }
            ReplicationState::Snapshot { .. } => unreachable!("no appends while a snapshot is pending"),
        }
    }

    /// A heartbeat answer lets a probing leader try again.
    pub fn resume_probe(&mut self) {
        self.probe_sent = false;
    }

    /// The follower's log matches up to `index`. Returns whether that is news.
    pub fn accept(&mut self, index: LogIndex) -> bool {
        let advanced = index > self.match_index;
        if advanced {
            self.match_index = index;
        }
        self.next_index = self.next_index.max(index.next());
        while self.inflight.front().is_some_and(|sent| *sent <= index) {
            self.inflight.pop_front();
        }
        match self.state {
            ReplicationState::Probe => self.become_replicate(),
            ReplicationState::Snapshot { snapshot_index, .. } if self.match_index >= snapshot_index => {
                self.become_replicate()
            }
            _ => {}
        }
        advanced
    }

    /// The follower refused an append after `rejected_index`; retry from
    /// `retry_index`. Returns false when the refusal is stale and was ignored.
    pub fn reject(&mut self, rejected_index: LogIndex, retry_index: LogIndex) -> bool {
        match self.state {
            ReplicationState::Replicate if rejected_index <= self.match_index => false,
            ReplicationState::Probe if rejected_index != self.next_index.previous() => false,
            ReplicationState::Snapshot { .. } => false,
            _ => {
                self.next_index = retry_index.max(self.match_index.next());
                self.become_probe();
                true
            }
        }
    }

    /// The follower answered the probe after `rejected_index` with a log that
    /// ends below its match index: it lost what it had acknowledged (its
    /// replica was deleted and created again). Only the answer to the current
    /// probe counts; a stale one, from before the follower caught up, must
    /// not undo what it acknowledged since.
    pub fn forget_match(&mut self, rejected_index: LogIndex) {
        if self.state == ReplicationState::Probe && rejected_index == self.next_index.previous() {
            self.match_index = LogIndex(0);
        }
    }

    /// The follower is being sent a snapshot up to `snapshot_index`.
    pub fn become_snapshot(&mut self, snapshot_index: LogIndex) {
        self.state = ReplicationState::Snapshot { snapshot_index, heartbeats_waited: 0 };
        self.inflight.clear();
    }

    /// A heartbeat answer while a snapshot is pending: whether it is time to
    /// give up waiting for it (and probe, which sends it again).
    pub fn snapshot_overdue(&mut self) -> bool {
        match &mut self.state {
            ReplicationState::Snapshot { heartbeats_waited, .. } => {
                *heartbeats_waited += 1;
                *heartbeats_waited >= SNAPSHOT_RESEND_HEARTBEATS
            }
            _ => false,
        }
    }

    /// Back to probing: after a rejection, an unreachable follower or a lost snapshot.
    pub fn become_probe(&mut self) {
        self.state = ReplicationState::Probe;
        self.next_index = self.next_index.max(self.match_index.next());
        self.inflight.clear();
        self.probe_sent = false;
    }

    fn become_replicate(&mut self) {
        self.state = ReplicationState::Replicate;
        self.next_index = self.match_index.next();
        self.inflight.clear();
        self.probe_sent = false;
    }
}

impl Progress {
    /// A heartbeat answer from a follower whose window is full: some appends may
    /// have been lost, so let one more through. If the follower has a gap it will
    /// reject that append, and the rejection moves it back to probing.
    pub fn free_first_inflight(&mut self) {
        self.inflight.pop_front();
    }
}
