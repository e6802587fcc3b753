//! One driver turn, the same in every runtime: when to tick, and how to
//! perform what the store's handling produced.
//!
//! A driver (the production one on tokio, the simulated one on madsim, the
//! in-process [`super::local_cluster`]) hands a batch of inputs to its store
//! and gathers the outputs. [`Turn::of`] puts them in the order the core
//! requires (`replica`'s module doc), and the runtime performs its fields in
//! order, with nothing but its own I/O:
//! 1. `sync`: sync the engine once, if any output asked — every proposal of
//!    the turn shares that one sync (group commit);
//! 2. `batches`: send each peer its messages, one batch per destination, in
//!    node-id order;
//! 3. `replies`: answer the clients.
//!
//! Nothing is sent or answered before the state it promises is durable.
//!
//! [`TickSchedule`] is the tick policy: a driver hands the store a tick only
//! once the deadline of the previous tick has passed, however many other
//! inputs arrive, so a busy node ticks (and runs housekeeping) no more often
//! than an idle one.

use std::collections::BTreeMap;

use super::StoreOutput;
use crate::raft::{Message, Ready};
use crate::replica::Reply;
use crate::types::{LogIndex, NodeId, RangeId, Time};

/// A turn's outputs, ready to perform in field order.
#[derive(Debug, Default)]
pub struct Turn {
    pub sync: bool,
    /// The `Ready`s, their messages taken out into `batches` (what remains is
    /// for observers: committed entries, snapshots).
    pub readies: Vec<(RangeId, Ready)>,
    /// Each destination's messages, tagged with their Raft group, in node-id
    /// order; within a batch, in the order the store produced them.
    pub batches: Vec<(NodeId, Vec<(u64, Message)>)>,
    pub replies: Vec<Reply>,
    /// Replicas the turn deleted, with the configuration index that removed
    /// them (for logs and observers; nothing to perform).
    pub removed: Vec<(RangeId, LogIndex)>,
}

impl Turn {
    pub fn of(outputs: Vec<StoreOutput>) -> Turn {
        let sync = outputs.iter().any(StoreOutput::needs_sync);
        let mut batches: BTreeMap<NodeId, Vec<(u64, Message)>> = BTreeMap::new();
        let mut turn = Turn { sync, ..Turn::default() };
        for output in outputs {
            for (range, mut ready) in output.readies {
                for message in std::mem::take(&mut ready.messages) {
                    batches.entry(message.to).or_default().push((range.0, message));
                }
                turn.readies.push((range, ready));
            }
            turn.replies.extend(output.replies);
            turn.removed.extend(output.removed);
        }
        turn.batches = batches.into_iter().collect();
        turn
    }
}

/// When a driver hands its store a tick (see the module doc). A clock that
/// steps back makes a tick due at once: waiting for it to reach the old
/// deadline again would stall elections and check-quorum for as long as the
/// step (found by the register workload's clock steps, seed 21).
#[derive(Clone, Copy, Debug, Default)]
pub struct TickSchedule {
    last_tick: Time,
    deadline: Time,
}

impl TickSchedule {
    /// Whether a tick is due at `now`.
    pub fn due(&self, now: Time) -> bool {
        now >= self.deadline || now < self.last_tick
    }

    /// How long the driver may wait for an input before the next tick is due.
    pub fn wait_nanos(&self, now: Time) -> u64 {
        if self.due(now) {
            0
        } else {
            self.deadline.nanos_since(now)
        }
    }

    /// Records the tick just handled at `now`: the next is due at its output's deadline.
    pub fn ticked(&mut self, now: Time, output: &StoreOutput) {
        self.last_tick = now;
        self.deadline = output.next_deadline;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::MessageBody;
    use crate::types::Term;

    fn message(to: u64) -> Message {
        Message { from: NodeId(1), to: NodeId(to), term: Term(1), body: MessageBody::TimeoutNow }
    }

    fn output(range: u64, sync: bool, to: &[u64], reply: Option<u64>) -> StoreOutput {
        let ready = Ready { sync, messages: to.iter().map(|to| message(*to)).collect(), ..Ready::default() };
        let replies =
            reply.map(|request_id| Reply { client: crate::replica::ClientId(1), request_id, result: Ok(vec![]) });
        StoreOutput {
            readies: vec![(RangeId(range), ready)],
            replies: replies.into_iter().collect(),
            ..StoreOutput::default()
        }
    }

    #[test]
    fn one_sync_one_batch_per_destination_in_node_order_then_every_reply() {
        let turn = Turn::of(vec![output(1, false, &[3, 2], Some(1)), output(2, true, &[3], Some(2))]);
        assert!(turn.sync, "one output asked for a sync");
        let destinations: Vec<_> = turn.batches.iter().map(|(to, messages)| (to.0, messages.len())).collect();
        assert_eq!(destinations, vec![(2, 1), (3, 2)]);
        let groups: Vec<_> = turn.batches[1].1.iter().map(|(group, _)| *group).collect();
        assert_eq!(groups, vec![1, 2], "a batch keeps the store's order");
        assert_eq!(turn.replies.iter().map(|reply| reply.request_id).collect::<Vec<_>>(), vec![1, 2]);
        assert!(turn.readies.iter().all(|(_, ready)| ready.messages.is_empty()));
        assert!(!Turn::of(vec![output(1, false, &[2], None)]).sync);
    }

    #[test]
    fn a_tick_is_due_only_once_the_last_ones_deadline_passed() {
        let mut schedule = TickSchedule::default();
        assert!(schedule.due(Time(0)));
        schedule.ticked(Time(20), &StoreOutput { next_deadline: Time(100), ..StoreOutput::default() });
        assert!(!schedule.due(Time(99)));
        assert_eq!(schedule.wait_nanos(Time(40)), 60);
        assert!(schedule.due(Time(100)));
        assert_eq!(schedule.wait_nanos(Time(150)), 0);
        assert!(schedule.due(Time(10)), "a clock stepped back behind the last tick");
        assert_eq!(schedule.wait_nanos(Time(10)), 0);
    }
}
