//! Ranges in one process, without Raft: every command applies at once to the
//! range holding its key. It is the test bed of the transaction protocol — the
//! coordinator runs against it unchanged — and the reference the replicated
//! version is checked against. Spans crossing ranges are split and the answers
//! merged, as the distributed sender will do.

use std::collections::BTreeMap;

use super::command::{CommandError, RangeCommand, RangeRequest, RangeResponse};
use super::span::{self, SpanAnswers};
use super::{RangeDescriptor, RangeMap, RangeState};
use crate::keys::{Key, KeyEnd};
use crate::txn::coordinator::RangeSender;
use crate::types::{NodeId, RangeId, Timestamp};

/// Every range of a key space, applied in place.
#[derive(Debug)]
pub struct LocalRanges {
    ranges: BTreeMap<RangeId, RangeState>,
    map: RangeMap,
    now: Timestamp,
    next_range_id: u64,
}

impl LocalRanges {
    /// One range over the whole key space.
    pub fn new(heartbeat_expiry_nanos: u64) -> LocalRanges {
        let descriptor = RangeDescriptor::whole_key_space(RangeId(1), [NodeId(1)].into());
        let mut map = RangeMap::default();
        map.learn(descriptor.clone());
        let ranges = BTreeMap::from([(RangeId(1), RangeState::new(descriptor, heartbeat_expiry_nanos))]);
        LocalRanges { ranges, map, now: Timestamp::default(), next_range_id: 2 }
    }

    /// Sets what the gateway's clock reads for the next commands.
    pub fn set_now(&mut self, now: Timestamp) {
        self.now = now;
    }

    pub fn range_count(&self) -> usize {
        self.ranges.len()
    }

    /// Splits the range holding `at` there (a no-op at an existing boundary).
    pub fn split(&mut self, at: &Key) {
        let range = self.route(at);
        let right_id = RangeId(self.next_range_id);
        let command = RangeCommand::Split { at: at.clone(), right_id };
        let state = self.ranges.get_mut(&range).expect("routed to a known range");
        let applied = state.apply(RangeRequest { range, generation: state.descriptor().generation, command });
        if let (Ok(RangeResponse::Split { left, right }), Some(right_state)) = (applied.result, applied.right) {
            self.next_range_id += 1;
            self.map.learn(left);
            self.map.learn(right.clone());
            self.ranges.insert(right.id, right_state);
        }
    }

    fn route(&self, key: &Key) -> RangeId {
        self.map.lookup(key).expect("the ranges cover the key space").id
    }

    fn apply(&mut self, range: RangeId, command: RangeCommand) -> Result<RangeResponse, CommandError> {
        let state = self.ranges.get_mut(&range).expect("routed to a known range");
        let generation = state.descriptor().generation;
        state.apply(RangeRequest { range, generation, command }).result
    }

    /// The pieces of `[start, end)` per range, in key order.
    fn pieces(&self, start: &Key, end: &KeyEnd) -> Vec<(RangeId, Key, KeyEnd)> {
        let mut pieces = Vec::new();
        let mut from = start.clone();
        while end.is_above(&from) {
            let descriptor = self.map.lookup(&from).expect("the ranges cover the key space");
            let piece_end = end.clone().min(descriptor.end.clone());
            pieces.push((descriptor.id, from.clone(), piece_end.clone()));
            match piece_end {
                KeyEnd::Before(next) => from = next,
                KeyEnd::Unbounded => break,
            }
        }
        pieces
    }

    fn send_span(&mut self, command: RangeCommand) -> Result<RangeResponse, CommandError> {
        let (start, end) = span::span_of(&command).expect("only span commands come here");
        let mut answers = SpanAnswers::default();
        for (range, piece_start, piece_end) in self.pieces(&start, &end) {
            let piece = span::piece_of(&command, piece_start, piece_end);
            if let Some(other) = answers.add(self.apply(range, piece)?) {
                return Ok(other);
            }
        }
        Ok(answers.finish(&command))
    }
}

impl RangeSender for LocalRanges {
    async fn send(&mut self, command: RangeCommand) -> Result<RangeResponse, CommandError> {
        if let RangeCommand::Scan { .. } | RangeCommand::Refresh { .. } = command {
            return self.send_span(command);
        }
        let key = command.routing_key().clone();
        let range = self.route(&key);
        self.apply(range, command)
    }

    fn now(&mut self) -> Timestamp {
        self.now
    }
}
