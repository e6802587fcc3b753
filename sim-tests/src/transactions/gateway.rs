//! A gateway: the transaction coordinator's [`RangeSender`] over the simulated
//! network. It routes each command to its range's leader and retries through
//! everything the network and the cluster do to it.
//!
//! Routing uses a cache of range descriptors. A key with no cached range is
//! looked up in the meta map, which the first range keeps (see
//! [`RangeCommand::LookupMeta`]), or, when the map has no answer yet, on some
//! node (every store answers from its own replicas, see [`LOOKUP_GROUP`]). The
//! answer may be stale, which the range itself detects
//! (its replicated descriptor is checked on every command) and answers with a
//! retryable error carrying its fresh descriptor. A leader hint per range comes
//! from "not leader" answers; without one the gateway tries nodes in turn.
//!
//! Every command the coordinator sends may be sent again (it is idempotent at
//! the range), so lost requests, lost answers and "outcome unknown" are retried.
//! The one exception is reported upward: an `EndTransaction` that commits may
//! have been applied although no answer came, so the gateway remembers whether
//! a commit's outcome was ever in doubt.

use std::time::Duration;

use madsim::time::sleep;
use shardforge_core::keys::{Key, KeyEnd};
use shardforge_core::node::{Request, RequestError};
use shardforge_core::range::{
    codec, CommandError, RangeCommand, RangeDescriptor, RangeError, RangeRequest, RangeResponse,
};
use shardforge_core::store::META_RANGE;
use shardforge_core::txn::coordinator::RangeSender;
use shardforge_core::types::{NodeId, RangeId, Timestamp};
use shardforge_runtime_sim::client::SimClient;
use shardforge_runtime_sim::clock::SkewedClock;
use shardforge_runtime_sim::program::LOOKUP_GROUP;

/// How long to wait for one answer before asking again (elsewhere).
const ANSWER_TIMEOUT: Duration = Duration::from_millis(150);
/// Pause before retrying after a failure that another try soon would repeat.
const RETRY_PAUSE: Duration = Duration::from_millis(20);

/// One client's gateway to the cluster, reading the clock of the node it runs beside.
pub struct Gateway {
    client: SimClient,
    nodes: Vec<NodeId>,
    clock: SkewedClock,
    /// Ranges learned so far, none overlapping another.
    descriptors: Vec<RangeDescriptor>,
    /// The newest generation seen of each range: an older descriptor (from a
    /// lagging meta map or node) is known to be stale.
    generations: std::collections::BTreeMap<RangeId, u64>,
    leaders: std::collections::BTreeMap<RangeId, NodeId>,
    next_node: usize,
    /// Whether a committing `EndTransaction` went unanswered since the last reset.
    commit_in_doubt: bool,
}

impl Gateway {
    pub fn new(client: SimClient, nodes: Vec<NodeId>, clock: SkewedClock) -> Gateway {
        let next_node = client.id() as usize % nodes.len();
        Gateway {
            client,
            nodes,
            clock,
            descriptors: Vec::new(),
            generations: Default::default(),
            leaders: Default::default(),
            next_node,
            commit_in_doubt: false,
        }
    }

    /// Whether a commit was sent without a definite answer since this was last asked.
    pub fn take_commit_in_doubt(&mut self) -> bool {
        std::mem::take(&mut self.commit_in_doubt)
    }

    /// The ranges this gateway has seen (for reports).
    pub fn known_ranges(&self) -> usize {
        self.descriptors.len()
    }

    /// The next of `replicas` to try (any node when the list is empty).
    fn rotate_among(&mut self, replicas: &std::collections::BTreeSet<NodeId>) -> NodeId {
        if replicas.is_empty() {
            return self.rotate();
        }
        self.next_node = (self.next_node + 1) % replicas.len();
        *replicas.iter().nth(self.next_node).expect("in bounds")
    }

    fn rotate(&mut self) -> NodeId {
        self.next_node = (self.next_node + 1) % self.nodes.len();
        self.nodes[self.next_node]
    }

    fn is_stale(&self, descriptor: &RangeDescriptor) -> bool {
        self.generations.get(&descriptor.id).is_some_and(|newest| descriptor.generation < *newest)
    }

    /// Records a descriptor: from a lookup, an error, or elsewhere (the answer to a move).
    pub fn learn(&mut self, descriptor: RangeDescriptor) {
        let newest = self.generations.entry(descriptor.id).or_default();
        *newest = (*newest).max(descriptor.generation);
        self.descriptors.retain(|known| !known.overlaps(&descriptor));
        self.descriptors.push(descriptor);
    }

    fn forget(&mut self, range: RangeId) {
        self.descriptors.retain(|known| known.id != range);
    }

    /// The cached range of `key`, after looking it up if need be: in the meta
    /// map first, and on some node's own replicas when the map has no answer
    /// yet (a split the meta range's leader has not recorded).
    pub async fn descriptor_for(&mut self, key: &Key) -> RangeDescriptor {
        loop {
            if let Some(known) = self.descriptors.iter().find(|known| known.contains(key)) {
                return known.clone();
            }
            // Only the id matters for routing a meta command.
            let meta = RangeDescriptor::whole_key_space(META_RANGE, Default::default());
            let lookup = RangeCommand::LookupMeta { key: key.clone() };
            match self.try_range(&meta, &lookup).await {
                Some(Ok(RangeResponse::Descriptor(Some(descriptor))))
                    if descriptor.contains(key) && !self.is_stale(&descriptor) =>
                {
                    self.learn(descriptor);
                    continue;
                }
                _ => self.lookup_on_a_node(key).await,
            }
        }
    }

    /// Asks the next node which range holds `key`, by its own replicas.
    async fn lookup_on_a_node(&mut self, key: &Key) {
        let node = self.rotate();
        let lookup = Request::Read(key.0.clone());
        match self.client.request(node, LOOKUP_GROUP, lookup, ANSWER_TIMEOUT).await {
            Some(Ok(bytes)) if !bytes.is_empty() => match RangeDescriptor::decode(&bytes) {
                Ok(descriptor) if descriptor.contains(key) && !self.is_stale(&descriptor) => self.learn(descriptor),
                _ => sleep(RETRY_PAUSE).await,
            },
            _ => sleep(RETRY_PAUSE).await,
        }
    }

    /// Sends a single-key command to its range until an answer that is not about routing.
    async fn route(&mut self, command: RangeCommand) -> Result<RangeResponse, CommandError> {
        let key = command.routing_key().clone();
        loop {
            let descriptor = self.descriptor_for(&key).await;
            if let Some(outcome) = self.try_range(&descriptor, &command).await {
                return outcome;
            }
        }
    }

    /// Sends a scan or refresh to every range its span crosses, one piece each,
    /// and gathers the answers.
    async fn route_span(&mut self, command: RangeCommand) -> Result<RangeResponse, CommandError> {
        let (RangeCommand::Scan { start, end, .. } | RangeCommand::Refresh { start, end, .. }) = command.clone() else {
            unreachable!("only span commands come here")
        };
        let (mut from, mut rows, mut changed) = (start, Vec::new(), false);
        loop {
            let descriptor = self.descriptor_for(&from).await;
            let piece_end = end.clone().min(descriptor.end.clone());
            let mut piece = command.clone();
            if let RangeCommand::Scan { start, end, .. } | RangeCommand::Refresh { start, end, .. } = &mut piece {
                (*start, *end) = (from.clone(), piece_end.clone());
            }
            match self.try_range(&descriptor, &piece).await {
                None => continue,
                Some(Ok(RangeResponse::Rows(piece_rows))) => rows.extend(piece_rows),
                Some(Ok(RangeResponse::Refreshed { changed: piece_changed })) => changed |= piece_changed,
                Some(other) => return other,
            }
            match piece_end {
                KeyEnd::Before(next) if piece_end_is_before(&next, &end) => from = next,
                _ => break,
            }
        }
        Ok(match command {
            RangeCommand::Scan { .. } => RangeResponse::Rows(rows),
            _ => RangeResponse::Refreshed { changed },
        })
    }

    /// Sends `command` to the range of `descriptor` until it answers; None when
    /// it was misrouted (the cache now holds what the range said), to route again.
    async fn try_range(
        &mut self,
        descriptor: &RangeDescriptor,
        command: &RangeCommand,
    ) -> Option<Result<RangeResponse, CommandError>> {
        let commits = matches!(command, RangeCommand::EndTransaction { commit: Some(_), .. });
        let range = descriptor.id;
        let request = RangeRequest { range, generation: descriptor.generation, command: command.clone() };
        let bytes = codec::encode_request(&request);
        let mut leaderless_answers = 0;
        loop {
            let node = match self.leaders.get(&range) {
                Some(leader) => *leader,
                None => self.rotate_among(&descriptor.replicas),
            };
            let answer = self.client.request(node, range.0, Request::Write(bytes.clone()), ANSWER_TIMEOUT).await;
            match answer {
                Some(Ok(answer)) => match codec::decode_outcome(&answer) {
                    Ok(Err(CommandError::Range(error))) => {
                        self.forget(range);
                        let (RangeError::KeyOutsideRange { descriptor, .. }
                        | RangeError::StaleDescriptor { descriptor, .. }) = error;
                        self.learn(descriptor);
                        return None;
                    }
                    Ok(outcome) => {
                        self.leaders.insert(range, node);
                        return Some(outcome);
                    }
                    Err(error) => {
                        let reason = format!("undecodable answer from {node}: {error}");
                        return Some(Err(CommandError::Invalid { reason }));
                    }
                },
                // The node refused our clock: resending would be refused again.
                Some(Err(RequestError::ClockOffset)) => return Some(Err(CommandError::ClockOffset)),
                Some(Err(RequestError::NotLeader { leader: Some(leader) })) if leader != node => {
                    self.leaders.insert(range, leader);
                }
                Some(Err(RequestError::NotLeader { .. } | RequestError::Unavailable | RequestError::Invalid)) => {
                    self.leaders.remove(&range);
                    sleep(RETRY_PAUSE).await;
                    // No node knows a leader: the range may be gone (merged, in a
                    // later issue) or our descriptor wrong. Look it up again.
                    leaderless_answers += 1;
                    if leaderless_answers > 4 * self.nodes.len() {
                        self.forget(range);
                        return None;
                    }
                }
                // Proposed but not known to be applied: it may still apply.
                Some(Err(RequestError::OutcomeUnknown)) | None => {
                    self.commit_in_doubt |= commits;
                    self.leaders.remove(&range);
                }
            }
        }
    }
}

/// Whether a piece ending just before `next` stops short of the span's `end`.
fn piece_end_is_before(next: &Key, end: &KeyEnd) -> bool {
    end.is_above(next)
}

impl RangeSender for Gateway {
    async fn send(&mut self, command: RangeCommand) -> Result<RangeResponse, CommandError> {
        let result = match command {
            RangeCommand::Scan { .. } | RangeCommand::Refresh { .. } => self.route_span(command).await,
            _ => self.route(command).await,
        };
        result
    }

    fn now(&mut self) -> Timestamp {
        Timestamp { wall_nanos: self.clock.now().0, logical: 0 }
    }
}
