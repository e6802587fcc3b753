//! Ranges in one process, without Raft: every command applies at once to the
//! range holding its key. It is the test bed of the transaction protocol — the
//! coordinator runs against it unchanged — and the reference the replicated
//! version is checked against. Spans crossing ranges are split and the answers
//! merged, as the distributed sender will do.

use std::collections::BTreeMap;

use super::coordinator::RangeSender;
use crate::keys::{Key, KeyEnd};
use crate::range::span::{self, SpanAnswers};
use crate::range::{CommandError, RangeCommand, RangeDescriptor, RangeMap, RangeRequest, RangeResponse, RangeState};
use crate::storage::{Engine, MemoryEngine};
use crate::types::{NodeId, RangeId, Timestamp};

/// Every range of a key space, applied in place to one engine.
#[derive(Debug)]
pub struct LocalRanges {
    ranges: BTreeMap<RangeId, RangeState>,
    engine: MemoryEngine,
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
        let first = RangeState::new(descriptor, heartbeat_expiry_nanos);
        let mut engine = MemoryEngine::new();
        engine.write(first.initial_batch(&engine)).expect("the in-memory engine does not fail");
        let ranges = BTreeMap::from([(RangeId(1), first)]);
        LocalRanges { ranges, engine, map, now: Timestamp::default(), next_range_id: 2 }
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
        let generation = self.ranges[&range].descriptor().generation;
        let (result, right_state) = self.apply_request(RangeRequest { range, generation, command });
        if let (Ok(RangeResponse::Split { left, right }), Some(right_state)) = (result, right_state) {
            self.next_range_id += 1;
            self.map.learn(left);
            self.map.learn(right.clone());
            self.ranges.insert(right.id, right_state);
        }
    }

    /// Applies one request and writes its batch (a split's new range included).
    fn apply_request(&mut self, request: RangeRequest) -> (Result<RangeResponse, CommandError>, Option<RangeState>) {
        let state = self.ranges.get_mut(&request.range).expect("routed to a known range");
        let (applied, mut batch) = state.apply_staged(&self.engine, request);
        let right = applied.right.map(|right| {
            let (right_batch, right_state) = right.into_batch(&self.engine);
            batch.operations.extend(right_batch.operations);
            right_state
        });
        self.engine.write(batch).expect("the in-memory engine does not fail");
        // Nothing here crashes: syncing keeps the engine from holding every batch twice.
        self.engine.sync().expect("the in-memory engine does not fail");
        (applied.result, right)
    }

    fn route(&self, key: &Key) -> RangeId {
        self.map.lookup(key).expect("the ranges cover the key space").id
    }

    fn apply(&mut self, range: RangeId, command: RangeCommand) -> Result<RangeResponse, CommandError> {
        let generation = self.ranges[&range].descriptor().generation;
        self.apply_request(RangeRequest { range, generation, command }).0
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
        let mut answers = SpanAnswers::new(&command);
        for (range, piece_start, piece_end) in self.pieces(&start, &end) {
            let piece = answers.narrowed(span::piece_of(&command, piece_start, piece_end));
            if let Some(other) = answers.add(self.apply(range, piece)?) {
                return Ok(other);
            }
            if answers.is_full() {
                break;
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
